// The binding over the core's record log (tm_log_encode, tm_log_scan, and
// for encrypted records tm_log_stamp, tm_log_frame_sealed,
// tm_log_read_unsealed): the persistent stores hand it messages and bytes
// (through js/record-codec.js); the layout, the stamping and the recovery
// rules stay in the core.

import { call, ctx, errorOf, mod, toJSONText } from './core.js';
import { ThreadmemError, TM_OK } from './errors.js';

function oom() {
  return new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
}

/** Encodes canonical-or-lenient messages as records numbered from firstSeq.
 *  Returns { bytes: Uint8Array, messages: canonical objects as written }. */
export function encodeLog(messages, firstSeq) {
  const m = mod();
  const c = ctx();
  const text = new TextEncoder().encode(toJSONText(messages));
  let input = 0;
  let slots = 0;
  try {
    input = m._tm_malloc(text.length + 1);
    slots = m._tm_malloc(12);
    if (!input || !slots) throw oom();
    m.HEAPU8.set(text, input);
    m.HEAPU8[input + text.length] = 0;
    for (let i = 0; i < 3; i++) m.setValue(slots + 4 * i, 0, 'i32');
    const rc = m._tm_log_encode(c, input, firstSeq, slots, slots + 4, slots + 8);
    if (rc !== TM_OK) throw errorOf(c, rc);
    const out = m.getValue(slots, 'i32') >>> 0;
    const len = m.getValue(slots + 4, 'i32') >>> 0;
    const canon = m.getValue(slots + 8, 'i32') >>> 0;
    try {
      const bytes = m.HEAPU8.slice(out, out + len);
      return { bytes, messages: JSON.parse(m.UTF8ToString(canon)) };
    } finally {
      m._tm_free(out);
      m._tm_free(canon);
    }
  } finally {
    if (input) m._tm_free(input);
    if (slots) m._tm_free(slots);
  }
}

/** Reads a log. Returns { messages, count, first_seq, last_seq, valid_bytes,
 *  tail: 'clean'|'torn'|'corrupt', tail_bytes }. Damage inside the log is a
 *  ThreadmemError 'CORRUPT_RECORD' (the core's reason as its message).
 *  With `sealed` (the reader holds a key) every record must be encrypted:
 *  `messages` is then empty and `payloads` holds each record's sealed bytes
 *  (views into `bytes`) for the host to decrypt and read with readUnsealed.
 *  An encrypted record read without `sealed` is ENCRYPTION_REQUIRED, a
 *  plaintext one read with it NOT_ENCRYPTED. */
export function scanLog(bytes, { sealed = false } = {}) {
  const m = mod();
  const c = ctx();
  let buf = 0;
  let slot = 0;
  let log;
  try {
    buf = m._tm_malloc(bytes.length || 1);
    slot = m._tm_malloc(4);
    if (!buf || !slot) throw oom();
    m.HEAPU8.set(bytes, buf);
    m.setValue(slot, 0, 'i32');
    const rc = m._tm_log_scan(c, buf, bytes.length, sealed ? 1 : 0, slot);
    if (rc !== TM_OK) throw recordError(errorOf(c, rc));
    const p = m.getValue(slot, 'i32') >>> 0;
    try {
      log = JSON.parse(m.UTF8ToString(p));
    } finally {
      m._tm_free(p);
    }
  } finally {
    if (buf) m._tm_free(buf);
    if (slot) m._tm_free(slot);
  }
  if (sealed) {
    log.payloads = log.sealed.map(([off, len]) => bytes.subarray(off, off + len));
    delete log.sealed;
  }
  return log;
}

// A well-formed log whose records fail the core's checks is damage.
function recordError(err) {
  return err.code === 'INVALID_FORMAT' ? new ThreadmemError('CORRUPT_RECORD', err.message, { cause: err }) : err;
}

/** Normalizes and stamps messages as encodeLog does, without framing them:
 *  the canonical JSON text each record will hold, to be sealed. */
export function stampLog(messages) {
  const c = ctx();
  return JSON.parse(call(c, mod()._tm_log_stamp, [toJSONText(messages)], { extra: [c] }));
}

/** One encrypted record numbered `seq` around the sealed bytes `payload`. */
export function frameSealed(seq, payload) {
  const m = mod();
  const c = ctx();
  let input = 0;
  let slots = 0;
  try {
    input = m._tm_malloc(payload.length || 1);
    slots = m._tm_malloc(8);
    if (!input || !slots) throw oom();
    m.HEAPU8.set(payload, input);
    m.setValue(slots, 0, 'i32');
    m.setValue(slots + 4, 0, 'i32');
    const rc = m._tm_log_frame_sealed(c, seq, input, payload.length, slots, slots + 4);
    if (rc !== TM_OK) throw errorOf(c, rc);
    const out = m.getValue(slots, 'i32') >>> 0;
    const len = m.getValue(slots + 4, 'i32') >>> 0;
    try {
      return m.HEAPU8.slice(out, out + len);
    } finally {
      m._tm_free(out);
    }
  } finally {
    if (input) m._tm_free(input);
    if (slots) m._tm_free(slots);
  }
}

/** Reads the decrypted payloads (Uint8Arrays) of records numbered from
 *  firstSeq as messages, under the core's rules for a plaintext record: one
 *  that is not a message is CORRUPT_RECORD. */
export function readUnsealed(plaintexts, firstSeq) {
  const m = mod();
  const c = ctx();
  const bytes = concatBytes(plaintexts);
  let buf = 0;
  let lens = 0;
  let slot = 0;
  try {
    buf = m._tm_malloc(bytes.length || 1);
    lens = m._tm_malloc(4 * plaintexts.length || 4);
    slot = m._tm_malloc(4);
    if (!buf || !lens || !slot) throw oom();
    m.HEAPU8.set(bytes, buf);
    plaintexts.forEach((p, i) => m.setValue(lens + 4 * i, p.length, 'i32'));
    m.setValue(slot, 0, 'i32');
    const rc = m._tm_log_read_unsealed(c, buf, bytes.length, lens, plaintexts.length, firstSeq, slot);
    if (rc !== TM_OK) throw recordError(errorOf(c, rc));
    const p = m.getValue(slot, 'i32') >>> 0;
    try {
      return JSON.parse(m.UTF8ToString(p));
    } finally {
      m._tm_free(p);
    }
  } finally {
    if (buf) m._tm_free(buf);
    if (lens) m._tm_free(lens);
    if (slot) m._tm_free(slot);
  }
}

export function concatBytes(parts) {
  let total = 0;
  for (const r of parts) total += r.length;
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const r of parts) {
    bytes.set(r, off);
    off += r.length;
  }
  return bytes;
}
