// Exact BPE token counting (OpenAI's o200k_base and cl100k_base) by the C
// core, plus the 'estimate' that needs no vocabulary.
//
// Vocabularies are assets (dist/vocab/<name>.tmv), loaded only when an
// encoding is first used: fetched in browsers (Tokenizer.load or
// ensureEncoding first), read from disk in Node (where the first use may
// load synchronously). The bytes are kept, so a re-init() of the module
// reloads them without another fetch.
//
// Memory rules (see STYLE.md): every pointer malloc'd here is freed in a
// `finally` or handed to the core; results are copied out of module memory
// before the call returns.

import { mod, ctx, errorOf, vocabUrl } from './core.js';
import { ThreadmemError, TM_OK } from './errors.js';
import { optionsOf } from './options.js';

/** Encoding names to the TM_ENC_* numbers of src/threadmem.h. */
const ENCODINGS = Object.freeze({ o200k_base: 0, cl100k_base: 1, estimate: 2 });
const ESTIMATE = 2;

const isNode =
  typeof process === 'object' && process !== null && !!(process.versions && process.versions.node);
// A dynamic import, so bundlers and browsers never see node: modules.
const nodeFs = isNode ? await import('node:fs') : null;

const encoder = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, so decode(encode(text)) === text.
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

const assets = new Map(); // asset URL -> Uint8Array (the .tmv bytes)
const pending = new Map(); // asset URL -> Promise<Uint8Array>

function encodingNumber(name) {
  if (typeof name === 'string' && Object.hasOwn(ENCODINGS, name)) return ENCODINGS[name];
  throw new ThreadmemError(
    'UNKNOWN_ENCODING',
    `unknown encoding ${typeof name === 'string' ? JSON.stringify(name) : `of type ${typeof name}`}; ` +
      `use ${Object.keys(ENCODINGS).join(', ')}`,
  );
}

/** `ids` as a Uint32Array, each checked to be a whole number that fits one:
 *  Uint32Array.from alone would wrap -1 and turn 'a' or 1.5 into other ids. */
function tokenIds(ids) {
  if (ids instanceof Uint32Array) return ids;
  if (typeof ids?.[Symbol.iterator] !== 'function' || typeof ids === 'string') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'decode() takes an array of token ids');
  }
  return Uint32Array.from(ids, (id) => {
    if (Number.isInteger(id) && id >= 0 && id <= 0xffffffff) return id;
    const what = typeof id === 'number' ? id : `a ${typeof id}`;
    throw new ThreadmemError('INVALID_ARGUMENT', `a token id is a whole number from 0 to 2^32 - 1, not ${what}`);
  });
}

function assetUrl(name) {
  const base = vocabUrl();
  if (!base) return new URL(`../dist/vocab/${name}.tmv`, import.meta.url);
  const dir = base.endsWith('/') ? base : `${base}/`;
  return new URL(`${name}.tmv`, new URL(dir, globalThis.location?.href ?? import.meta.url));
}

async function fetchAsset(url) {
  const key = url.href;
  if (assets.has(key)) return assets.get(key);
  if (!pending.has(key)) {
    const p = (async () => {
      let bytes;
      try {
        if (nodeFs && url.protocol === 'file:') {
          bytes = new Uint8Array(await nodeFs.promises.readFile(url));
        } else {
          const res = await fetch(url);
          if (!res.ok) throw new Error(`HTTP ${res.status}`);
          bytes = new Uint8Array(await res.arrayBuffer());
        }
      } catch (err) {
        throw new ThreadmemError('NOT_FOUND', `cannot load the vocabulary ${key}`, { cause: err });
      }
      assets.set(key, bytes);
      return bytes;
    })();
    pending.set(key, p);
    p.finally(() => pending.delete(key)).catch(() => {});
  }
  return pending.get(key);
}

function readAssetSync(url) {
  const key = url.href;
  if (assets.has(key)) return assets.get(key);
  if (!nodeFs || url.protocol !== 'file:') return null;
  let bytes;
  try {
    bytes = new Uint8Array(nodeFs.readFileSync(url));
  } catch (err) {
    throw new ThreadmemError('NOT_FOUND', `cannot load the vocabulary ${key}`, { cause: err });
  }
  assets.set(key, bytes);
  return bytes;
}

// Hands the asset's bytes to the core (which owns them from then on).
function install(id, bytes) {
  const m = mod();
  if (m._tm_encoding_loaded(id)) return;
  const p = m._tm_malloc(bytes.length);
  if (!p) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory loading a vocabulary');
  try {
    m.HEAPU8.set(bytes, p);
  } catch (err) {
    m._tm_free(p);
    throw err;
  }
  const rc = m._tm_encoding_load(ctx(), id, p, bytes.length);
  if (rc !== TM_OK) throw errorOf(ctx(), rc);
}

/**
 * Makes encoding `name` usable (fetching or reading its vocabulary when it
 * is not loaded) and returns its number.
 */
export async function ensureEncoding(name) {
  const id = encodingNumber(name);
  if (id === ESTIMATE || mod()._tm_encoding_loaded(id)) return id;
  const bytes = await fetchAsset(assetUrl(name));
  install(id, bytes); // the module may have changed during the await: mod() again
  return id;
}

/**
 * The number of encoding `name` when it is usable now; in Node an unloaded
 * vocabulary is read synchronously. Otherwise throws ThreadmemError
 * ENCODING_NOT_LOADED (call ensureEncoding or Tokenizer.load first).
 */
export function encodingIdSync(name) {
  const id = encodingNumber(name);
  if (id === ESTIMATE || mod()._tm_encoding_loaded(id)) return id;
  const bytes = readAssetSync(assetUrl(name));
  if (!bytes) {
    throw new ThreadmemError(
      'ENCODING_NOT_LOADED',
      `the vocabulary of ${name} is not loaded: await Tokenizer.load('${name}') first`,
    );
  }
  install(id, bytes);
  return id;
}

// Short texts go through one buffer kept per module (8 bytes of result
// slots, then the text), so counting many small messages costs no malloc
// per call; longer ones get their own allocation, freed after the call.
const KEEP_BYTES = 1 << 20;
let kept = { module: null, p: 0, size: 0 };

// Copies `text` into module memory as UTF-8 after 8 bytes for the result
// slots (lone surrogates become U+FFFD, as TextEncoder does). Returns
// { p, len, owned }: free p when owned.
function putText(m, text) {
  if (typeof text !== 'string') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'text must be a string');
  }
  const need = 8 + text.length * 3;
  let p;
  let owned = false;
  if (need <= KEEP_BYTES) {
    // The buffer of a replaced module went away with its memory.
    if (kept.module !== m) kept = { module: m, p: 0, size: 0 };
    if (kept.size < need) {
      if (kept.p) m._tm_free(kept.p);
      kept.p = 0;
      kept.size = 0;
      const size = Math.min(KEEP_BYTES, Math.max(need, 4096));
      const q = m._tm_malloc(size);
      if (!q) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
      kept.p = q;
      kept.size = size;
    }
    p = kept.p;
  } else {
    p = m._tm_malloc(need);
    if (!p) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
    owned = true;
  }
  const { written } = encoder.encodeInto(text, m.HEAPU8.subarray(p + 8, p + need));
  return { p, len: written, owned };
}

// Encodes with all special tokens recognised (1) or none (0).
function encodeRaw(id, text, special) {
  const m = mod();
  const c = ctx();
  let buf = null;
  let ids = 0;
  try {
    buf = putText(m, text);
    const slot = buf.p;
    const rc = m._tm_encode(c, id, slot + 8, buf.len, special, slot, slot + 4);
    if (rc !== TM_OK) throw errorOf(c, rc);
    ids = m.HEAPU32[slot >> 2];
    const n = m.HEAPU32[(slot + 4) >> 2];
    return m.HEAPU32.slice(ids >> 2, (ids >> 2) + n);
  } finally {
    if (ids) m._tm_free(ids);
    if (buf?.owned) m._tm_free(buf.p);
  }
}

// Whether `s` is one of the encoding's special tokens: one id when they are
// allowed, and not the same one id as plain text (an ordinary word).
function isSpecial(id, s) {
  if (typeof s !== 'string' || !s) return false;
  const special = encodeRaw(id, s, 1);
  if (special.length !== 1) return false;
  const plain = encodeRaw(id, s, 0);
  return plain.length !== 1 || plain[0] !== special[0];
}

function escapeRegExp(s) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * A tokenizer for one encoding: 'o200k_base', 'cl100k_base' (exact, equal
 * to OpenAI's tiktoken) or 'estimate' (counts only, approximate).
 */
export class Tokenizer {
  /** Loads the encoding's vocabulary when needed, then returns a Tokenizer. */
  static async load(name) {
    await ensureEncoding(name);
    return new Tokenizer(name);
  }

  /** Synchronous once the vocabulary is loaded (in Node it may load it). */
  constructor(name) {
    encodingIdSync(name); // checks the name; loads in Node when it can
    /** The encoding's name. */
    this.name = name;
  }

  /**
   * The token ids of `text`. Special tokens (<|endoftext|> and the others)
   * are plain text unless `allowedSpecial` is 'all' or lists them.
   * @param {string} text
   * @param {{ allowedSpecial?: 'all' | string[] }} [options]
   * @returns {Uint32Array}
   */
  encode(text, options) {
    const { allowedSpecial = [] } = optionsOf(options, 'Tokenizer.encode');
    if (typeof text !== 'string') throw new ThreadmemError('INVALID_ARGUMENT', 'Tokenizer.encode needs a string');
    const id = encodingIdSync(this.name);
    if (allowedSpecial === 'all') return encodeRaw(id, text, 1);
    if (!Array.isArray(allowedSpecial)) {
      throw new ThreadmemError('INVALID_ARGUMENT', "allowedSpecial must be 'all' or an array");
    }
    for (const s of allowedSpecial) {
      if (!isSpecial(id, s)) {
        const what = typeof s === 'string' ? JSON.stringify(s) : `a ${typeof s}`;
        throw new ThreadmemError('INVALID_ARGUMENT', `${what} is not a special token of ${this.name}`);
      }
    }
    if (allowedSpecial.length === 0) return encodeRaw(id, text, 0);
    // Some special tokens: split the text at them, as tiktoken does.
    const re = new RegExp(allowedSpecial.map(escapeRegExp).join('|'), 'g');
    const parts = [];
    let start = 0;
    let total = 0;
    for (const match of text.matchAll(re)) {
      parts.push(encodeRaw(id, text.slice(start, match.index), 0), encodeRaw(id, match[0], 1));
      start = match.index + match[0].length;
    }
    parts.push(encodeRaw(id, text.slice(start), 0));
    for (const part of parts) total += part.length;
    const out = new Uint32Array(total);
    let at = 0;
    for (const part of parts) {
      out.set(part, at);
      at += part.length;
    }
    return out;
  }

  /**
   * The text of token ids (invalid UTF-8, where the ids cut a character,
   * reads as U+FFFD, as TextDecoder does).
   * @param {Uint32Array | number[]} ids
   * @returns {string}
   */
  decode(ids) {
    const id = encodingIdSync(this.name);
    const m = mod();
    const c = ctx();
    const arr = tokenIds(ids);
    let p = 0;
    let slot = 0;
    let out = 0;
    try {
      p = m._tm_malloc(arr.length * 4 || 4);
      slot = m._tm_malloc(8);
      if (!p || !slot) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
      m.HEAPU32.set(arr, p >> 2);
      const rc = m._tm_decode(c, id, p, arr.length, slot, slot + 4);
      if (rc !== TM_OK) throw errorOf(c, rc);
      out = m.HEAPU32[slot >> 2];
      const len = m.HEAPU32[(slot + 4) >> 2];
      return decoder.decode(m.HEAPU8.subarray(out, out + len));
    } finally {
      if (out) m._tm_free(out);
      if (slot) m._tm_free(slot);
      if (p) m._tm_free(p);
    }
  }

  /** The number of tokens of `text` (no special tokens), as encode(text).length. */
  count(text) {
    const id = encodingIdSync(this.name);
    const m = mod();
    const c = ctx();
    let buf = null;
    try {
      buf = putText(m, text);
      const rc = m._tm_count(c, id, buf.p + 8, buf.len, buf.p);
      if (rc !== TM_OK) throw errorOf(c, rc);
      return m.HEAPU32[buf.p >> 2];
    } finally {
      if (buf?.owned) m._tm_free(buf.p);
    }
  }
}
