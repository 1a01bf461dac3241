// The binding over the core's journal (tm_journal_plan, tm_journal_verdict):
// the decisions of a persistent thread, taken in C, for js/persistent-store.js
// to carry out. The structs of src/threadmem.h are all doubles, laid out
// here field by field in their order.

import { errorOf, ctx, mod } from './core.js';
import { ThreadmemError, TM_OK } from './errors.js';

const TURN_IN = ['firstSeq', 'nextSeq', 'turn', 'kept', 'limited', 'inPlace', 'ttlSeconds'];
const TURN_OUT = ['dropBefore', 'rewriteFrom', 'expire', 'firstAfter', 'nextAfter'];
const READ_IN = ['expectSeq', 'keySeq', 'entries', 'offset', 'count', 'firstSeq', 'lastSeq', 'validBytes', 'tail'];
const READ_OUT = ['skip', 'cutAt', 'firstAfter', 'nextAfter'];
const TAILS = { clean: 0, torn: 1, corrupt: 2 };

function run(fn, inputs, outputs, values) {
  const m = mod();
  const c = ctx();
  const fields = inputs.length + outputs.length;
  const p = m._tm_malloc(8 * fields);
  if (!p) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
  try {
    inputs.forEach((name, i) => m.setValue(p + 8 * i, Number(values[name] ?? 0), 'double'));
    for (let i = inputs.length; i < fields; i++) m.setValue(p + 8 * i, 0, 'double');
    const rc = fn(c, p);
    if (rc !== TM_OK) throw errorOf(c, rc);
    const out = {};
    outputs.forEach((name, i) => {
      out[name] = m.getValue(p + 8 * (inputs.length + i), 'double');
    });
    return out;
  } finally {
    m._tm_free(p);
  }
}

/** The plan of a turn: { dropBefore, rewriteFrom, expire, firstAfter,
 *  nextAfter } from { firstSeq, nextSeq, turn, kept, limited, inPlace,
 *  ttlSeconds } (booleans as they are). */
export function planTurn(turn) {
  const values = { ...turn, limited: turn.limited ? 1 : 0, inPlace: turn.inPlace ? 1 : 0 };
  return run(mod()._tm_journal_plan, TURN_IN, TURN_OUT, values);
}

/** The verdict of a read: { skip, cutAt, firstAfter, nextAfter }, or a
 *  CORRUPT_RECORD error prefixed with `where`. `read` is { expectSeq, keySeq,
 *  entries (-1 for a stream), offset } and the scan `log` (scanLog's fields). */
export function judgeRead(read, log, where) {
  const values = {
    ...read,
    count: log.count,
    firstSeq: log.count ? log.first_seq : 0,
    lastSeq: log.count ? log.last_seq : 0,
    validBytes: log.valid_bytes,
    tail: TAILS[log.tail],
  };
  try {
    return run(mod()._tm_journal_verdict, READ_IN, READ_OUT, values);
  } catch (err) {
    if (err.code !== 'INVALID_FORMAT') throw err;
    throw new ThreadmemError('CORRUPT_RECORD', `${where}: ${err.message}`, { cause: err });
  }
}
