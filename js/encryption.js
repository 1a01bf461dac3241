// Encryption at rest for the persistent stores: each record's payload is
// sealed with AES-GCM through WebCrypto (globalThis.crypto.subtle, in Node 20
// and browsers). The core frames and checks the sealed bytes as it does any
// record (src/record.h, TM_RECORD_F_ENCRYPTED); this module does the crypto.
//
// The sealed envelope (TM_RECORD_SEAL_BYTES = 44 bytes more than the plaintext):
//
//   salt   16  PBKDF2 salt the key was derived with (unused with a CryptoKey)
//   nonce  12  fresh random per record
//   ciphertext of the record's canonical JSON, then the 16-byte GCM tag
//
// The additional authenticated data is the thread id and the record's
// sequence number, so a record copied into another thread or another place
// in its thread fails like a wrong key: DECRYPTION_FAILED, never garbage.
//
// A passphrase is stretched with PBKDF2-SHA-256 (PBKDF2_ITERATIONS) into a
// 256-bit AES-GCM key. A thread keeps one salt: its first writer picks it at
// random, later writers reuse the salt of the records they read, so opening a
// thread derives the key once. Derived keys are cached per `encryption`
// object (share one object between stores to derive once per thread).

import { ThreadmemError } from './errors.js';

export const SALT_BYTES = 16;
export const NONCE_BYTES = 12;
export const TAG_BYTES = 16;
export const SEAL_BYTES = SALT_BYTES + NONCE_BYTES + TAG_BYTES;
/** OWASP's 2023 figure for PBKDF2-HMAC-SHA-256. */
export const PBKDF2_ITERATIONS = 600_000;

const utf8 = new TextEncoder();
// encryption object -> Map(salt as hex -> { passphrase, key: Promise<CryptoKey> })
const derived = new WeakMap();

function subtle() {
  const s = globalThis.crypto?.subtle;
  if (!s) throw new ThreadmemError('INVALID_STATE', 'encryption needs WebCrypto (crypto.subtle), absent here');
  return s;
}

// By its tag, not instanceof: a key made in another realm (a worker, a VM
// context) is a CryptoKey too.
function isCryptoKey(key) {
  return Object.prototype.toString.call(key) === '[object CryptoKey]';
}

/** The seals of one store: holds the key (never shown, never serialized). */
export class Sealer {
  #key; // a CryptoKey, or null with a passphrase
  #passphrase;
  #options;
  #ownSalt = globalThis.crypto.getRandomValues(new Uint8Array(SALT_BYTES));
  #threadSalts = new Map(); // threadId -> the salt its records were sealed with

  /** @param {{key: CryptoKey|string}} encryption */
  constructor(encryption) {
    const key = encryption?.key;
    if (typeof key === 'string') {
      // A lone surrogate has no UTF-8: it would derive the key of U+FFFD.
      if (key === '' || !key.isWellFormed()) {
        throw new ThreadmemError('INVALID_ARGUMENT', 'encryption.key: a passphrase must be a non-empty, well-formed string');
      }
      this.#passphrase = key;
      this.#key = null;
    } else if (isCryptoKey(key)) {
      const { algorithm, usages } = key;
      const usable = Array.isArray(usages) && usages.includes('encrypt') && usages.includes('decrypt');
      if (algorithm?.name !== 'AES-GCM' || !usable) {
        throw new ThreadmemError('INVALID_ARGUMENT', 'encryption.key: the CryptoKey must be an AES-GCM key usable to encrypt and decrypt');
      }
      this.#key = key;
    } else {
      throw new ThreadmemError('INVALID_ARGUMENT', 'encryption.key must be a CryptoKey (AES-GCM) or a passphrase string');
    }
    this.#options = encryption;
  }

  #keyFor(salt) {
    if (this.#key) return Promise.resolve(this.#key);
    let cache = derived.get(this.#options);
    if (!cache) derived.set(this.#options, (cache = new Map()));
    const id = hex(salt);
    const hit = cache.get(id);
    if (hit && hit.passphrase === this.#passphrase) return hit.key;
    const key = deriveKey(this.#passphrase, salt);
    cache.set(id, { passphrase: this.#passphrase, key });
    key.catch(() => cache.delete(id));
    return key;
  }

  /** Seals plaintext bytes as record `seq` of thread `threadId`. */
  async seal(plaintext, threadId, seq) {
    const salt = this.#threadSalts.get(threadId) ?? this.#ownSalt;
    const nonce = globalThis.crypto.getRandomValues(new Uint8Array(NONCE_BYTES));
    const key = await this.#keyFor(salt);
    const sealed = await subtle().encrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad(threadId, seq), tagLength: 128 }, key, plaintext);
    const out = new Uint8Array(SALT_BYTES + NONCE_BYTES + sealed.byteLength);
    out.set(salt, 0);
    out.set(nonce, SALT_BYTES);
    out.set(new Uint8Array(sealed), SALT_BYTES + NONCE_BYTES);
    return out;
  }

  /** The plaintext of record `seq` of thread `threadId`, or DECRYPTION_FAILED
   *  (a wrong key, or a record altered or moved). */
  async open(envelope, threadId, seq) {
    const salt = envelope.slice(0, SALT_BYTES);
    const nonce = envelope.subarray(SALT_BYTES, SALT_BYTES + NONCE_BYTES);
    const body = envelope.subarray(SALT_BYTES + NONCE_BYTES);
    let plain;
    try {
      const key = await this.#keyFor(salt);
      plain = await subtle().decrypt({ name: 'AES-GCM', iv: nonce, additionalData: aad(threadId, seq), tagLength: 128 }, key, body);
    } catch (err) {
      throw new ThreadmemError(
        'DECRYPTION_FAILED',
        `thread ${threadId}, record ${seq} cannot be decrypted: a wrong key, or the record was altered or moved`,
        { cause: err },
      );
    }
    // Only a salt that proved authentic is reused for the thread's next records.
    if (!this.#key) this.#threadSalts.set(threadId, salt);
    return new Uint8Array(plain);
  }

  toJSON() {
    return { encrypted: true };
  }
}

async function deriveKey(passphrase, salt) {
  const s = subtle();
  const base = await s.importKey('raw', utf8.encode(passphrase), 'PBKDF2', false, ['deriveKey']);
  return s.deriveKey(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations: PBKDF2_ITERATIONS },
    base,
    { name: 'AES-GCM', length: 256 },
    false,
    ['encrypt', 'decrypt'],
  );
}

function aad(threadId, seq) {
  return utf8.encode(`threadmem-record:${threadId}:${seq}`);
}

function hex(bytes) {
  let s = '';
  for (const b of bytes) s += b.toString(16).padStart(2, '0');
  return s;
}
