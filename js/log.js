// The binding over the core's record log (tm_log_encode, tm_log_scan): the
// persistent stores hand it messages and bytes; the layout, the stamping and
// the recovery rules stay in the core.

import { ctx, errorOf, mod, toJSONText } from './core.js';
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
 *  ThreadmemError 'CORRUPT_RECORD' (the core's reason as its message). */
export function scanLog(bytes) {
  const m = mod();
  const c = ctx();
  let buf = 0;
  let slot = 0;
  try {
    buf = m._tm_malloc(bytes.length || 1);
    slot = m._tm_malloc(4);
    if (!buf || !slot) throw oom();
    m.HEAPU8.set(bytes, buf);
    m.setValue(slot, 0, 'i32');
    const rc = m._tm_log_scan(c, buf, bytes.length, slot);
    if (rc !== TM_OK) {
      const err = errorOf(c, rc);
      if (err.code === 'INVALID_FORMAT') {
        throw new ThreadmemError('CORRUPT_RECORD', err.message, { cause: err });
      }
      throw err;
    }
    const p = m.getValue(slot, 'i32') >>> 0;
    try {
      return JSON.parse(m.UTF8ToString(p));
    } finally {
      m._tm_free(p);
    }
  } finally {
    if (buf) m._tm_free(buf);
    if (slot) m._tm_free(slot);
  }
}

/** Reads records kept one per entry (an IndexedDB value, a localStorage
 *  item), in key order, whose keys say they are seqs firstSeq, firstSeq+1, ...
 *  In such stores every record was written whole, so any damage (a torn or
 *  failing record, a lost or repeated one) is CORRUPT_RECORD, never dropped. */
export function scanRecords(records, firstSeq, where) {
  let total = 0;
  for (const r of records) total += r.length;
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const r of records) {
    bytes.set(r, off);
    off += r.length;
  }
  const log = scanLog(bytes);
  if (log.tail !== 'clean') {
    throw new ThreadmemError('CORRUPT_RECORD', `${where}: a record fails its integrity check`);
  }
  if (log.count !== records.length || (log.count && log.first_seq !== firstSeq)) {
    throw new ThreadmemError('CORRUPT_RECORD', `${where}: records out of sequence`);
  }
  return log;
}
