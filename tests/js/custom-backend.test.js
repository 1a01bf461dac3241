// A persistent backend of one's own: the shared storage spec
// (tests/storage/spec.js) against PersistentChatMessageStore over a small
// in-memory backend written only from the interface documented in
// js/persistent-store.js and the README. It keeps each thread as records
// keyed by seq, detects conflicts with a version number instead of a lock,
// and drops evicted records in place.

import { describe, test } from '@jest/globals';
import * as lib from '../../js/node.js';
import { cases, runCase } from '../storage/spec.js';
import { instrument } from '../storage/faults.js';

class MemoryBackend {
  /** @param {{threads: Map, version: number}} space shared by the stores of one "database" */
  constructor(space) {
    this.space = space;
    this.kind = 'memory';
    this.inPlace = true;
  }

  reference() {
    return {};
  }

  adopt() {}

  where(threadId) {
    return `memory thread ${threadId}`;
  }

  // No lock: append() refuses a write when the thread changed since it was read.
  async lock(threadId, fn) {
    return fn();
  }

  async read(threadId, since) {
    const t = this.space.threads.get(threadId);
    const mark = t?.version ?? 0;
    if (since && since.mark === mark) return { unchanged: true };
    const seqs = t ? [...t.records.keys()].sort((a, b) => a - b) : [];
    return { records: seqs.map((s) => t.records.get(s)), firstSeq: seqs[0] ?? 0, full: true, mark };
  }

  async append(threadId, records, { firstSeq, dropBefore, heldFirst, since }) {
    const t = this.space.threads.get(threadId) ?? { records: new Map(), version: 0 };
    if (t.version !== since.mark) return false;
    records.forEach((r, i) => t.records.set(firstSeq + i, new Uint8Array(r)));
    for (let seq = heldFirst; dropBefore && seq < dropBefore; seq++) t.records.delete(seq);
    t.version = ++this.space.version; // never reused, even after a delete
    this.space.threads.set(threadId, t);
    return t.version;
  }

  async remove(threadId) {
    this.space.threads.delete(threadId);
  }

  async list() {
    return [...this.space.threads.keys()];
  }
}

const b64 = (bytes) => Buffer.from(bytes).toString('base64');

function memoryHarness() {
  const space = { threads: new Map(), version: 0 };
  const stores = [];
  const open = (options, backend = new MemoryBackend(space)) => {
    const s = new lib.PersistentChatMessageStore(backend, options);
    stores.push(s);
    return s;
  };
  const records = (id) => {
    const t = space.threads.get(id);
    return [...t.records.entries()].sort((a, b) => a[0] - b[0]);
  };
  return {
    kind: 'memory',
    lib,
    open: (options) => open(options),
    // Every storage operation of the backend fails in its turn.
    openFaulty: async (options, plan) =>
      open(options, instrument(new MemoryBackend(space), plan, {
        rejects: true,
        ops: (name) => ['read', 'append', 'remove', 'list'].includes(name),
      })),
    async tamper(id, which) {
      const list = records(id);
      const [seq, bytes] = which === 'first' ? list[0] : list[list.length - 1];
      const copy = new Uint8Array(bytes);
      copy[which === 'first' ? 30 : copy.length - 3] ^= 1;
      space.threads.get(id).records.set(seq, copy);
    },
    async seqRange(id) {
      const list = records(id);
      return { first: list[0][0], last: list[list.length - 1][0] };
    },
    snapshot: async (id) => (space.threads.has(id) ? records(id).map(([seq, r]) => [seq, b64(r)]) : null),
    rawBytes: async (id) => records(id).map(([, r]) => r),
    async copyThread(from, to) {
      space.threads.set(to, { records: new Map(records(from)), version: ++space.version });
    },
    async dispose() {
      for (const s of stores) await s.close();
    },
  };
}

describe('storage spec: a custom in-memory backend', () => {
  for (const c of cases) test(c.name, () => runCase(memoryHarness, c));
});

test('a backend without its record interface is INVALID_ARGUMENT', () => {
  for (const bad of [null, {}, { kind: 'x', lock() {}, read() {}, append() {}, remove() {}, list() {}, reference() {}, adopt() {} }]) {
    let err;
    try {
      new lib.PersistentChatMessageStore(bad);
    } catch (e) {
      err = e;
    }
    if (err?.code !== 'INVALID_ARGUMENT') throw new Error(`accepted ${JSON.stringify(bad)}: ${err}`);
  }
});
