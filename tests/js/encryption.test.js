// Encryption at rest below the stores: the sealed envelope, the additional
// data that binds a record to its thread and place, and the key kept out of
// everything a store shows. The storage spec (tests/storage/spec.js) runs the
// stores' side of it against every backend.

import { describe, expect, test } from '@jest/globals';
import { inspect } from 'node:util';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FileChatMessageStore } from '../../js/node.js';
import { RecordCodec } from '../../js/record-codec.js';
import { SEAL_BYTES } from '../../js/encryption.js';
import { concatBytes, frameSealed, scanLog } from '../../js/log.js';

const PASSPHRASE = 'correct horse battery staple';
const newKey = () => crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);

async function failure(promise) {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  throw new Error('expected a failure');
}

describe('sealed records', () => {
  test('a record is its canonical JSON sealed: 44 bytes more, a fresh nonce each time', async () => {
    const codec = new RecordCodec({ key: await newKey() });
    const plain = new RecordCodec();
    const msg = { role: 'user', text: 'same text', message_id: 'm1', created_at: '2026-01-01T00:00:00.000Z' };
    const a = await codec.encode([msg], 1, 't');
    const b = await codec.encode([msg], 1, 't');
    const p = await plain.encode([msg], 1, 't');
    expect(a.bytes.length).toBe(p.bytes.length + SEAL_BYTES);
    expect(Buffer.from(a.bytes).equals(Buffer.from(b.bytes))).toBe(false);
    expect(a.messages).toEqual(p.messages);
    expect(scanLog(a.bytes, { sealed: true }).payloads[0].length).toBe(p.bytes.length - 24 + SEAL_BYTES);
  });

  test('a record framed again at another seq, or with its tag altered, is DECRYPTION_FAILED', async () => {
    const codec = new RecordCodec({ key: await newKey() });
    const { records } = await codec.encode([{ role: 'user', text: 'one' }, { role: 'user', text: 'two' }], 1, 't');
    const payload = (r) => new Uint8Array(scanLog(r, { sealed: true }).payloads[0]);
    // Checksums and sequence are intact in both forgeries: only the seal refuses them.
    const swapped = concatBytes([frameSealed(1, payload(records[1])), frameSealed(2, payload(records[0]))]);
    expect((await failure(codec.read(swapped, 't'))).code).toBe('DECRYPTION_FAILED');
    const altered = payload(records[1]);
    altered[altered.length - 1] ^= 1;
    const forged = concatBytes([records[0], frameSealed(2, altered)]);
    const err = await failure(codec.read(forged, 't'));
    expect(err.code).toBe('DECRYPTION_FAILED');
    expect(err.message).toMatch(/record 2/);
    expect((await codec.read(concatBytes(records), 't')).messages.map((m) => m.contents[0].text)).toEqual(['one', 'two']);
    expect((await failure(codec.read(concatBytes(records), 'u'))).code).toBe('DECRYPTION_FAILED');
  });

  test('a thread keeps one salt: a passphrase is derived once per thread, not per writer', async () => {
    const first = new RecordCodec({ key: PASSPHRASE });
    const log = (await first.encode([{ role: 'user', text: 'a' }], 1, 't')).bytes;
    const second = new RecordCodec({ key: PASSPHRASE });
    await second.read(log, 't');
    const more = (await second.encode([{ role: 'user', text: 'b' }], 2, 't')).bytes;
    const salts = scanLog(concatBytes([log, more]), { sealed: true }).payloads.map((p) => Buffer.from(p.subarray(0, 16)).toString('hex'));
    expect(salts[0]).toBe(salts[1]);
    const fresh = new RecordCodec({ key: PASSPHRASE });
    const other = (await fresh.encode([{ role: 'user', text: 'c' }], 1, 'another')).bytes;
    expect(Buffer.from(scanLog(other, { sealed: true }).payloads[0].subarray(0, 16)).toString('hex')).not.toBe(salts[0]);
  });
});

describe('the key stays out of sight', () => {
  test('not in the store as logged or as JSON, its reference, or an error', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'threadmem-enc-'));
    try {
      const store = new FileChatMessageStore({ directory: dir, threadId: 'kept', encryption: { key: PASSPHRASE } });
      await store.addMessages([{ role: 'user', text: 'hello' }]);
      expect(inspect(store, { depth: 10, showHidden: true })).not.toContain(PASSPHRASE);
      expect(JSON.stringify(store)).not.toContain(PASSPHRASE);
      expect(JSON.stringify(await store.serialize())).not.toContain(PASSPHRASE);
      const wrong = new FileChatMessageStore({ directory: dir, threadId: 'kept', encryption: { key: 'wrong horse' } });
      const err = await failure(wrong.listMessages());
      expect(err.code).toBe('DECRYPTION_FAILED');
      expect(inspect(err, { depth: 10 })).not.toMatch(/horse/);
      store.close();
      wrong.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
