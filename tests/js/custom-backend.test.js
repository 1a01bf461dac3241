// A persistent backend of one's own: the shared storage spec
// (tests/storage/spec.js) against PersistentChatMessageStore over a small
// in-memory backend written only from the interface documented in
// js/persistent-store.js and the README. It keeps each thread as records
// keyed by seq, detects conflicts with a version number instead of a lock,
// and drops evicted records in place.

import { describe, expect, test } from '@jest/globals';
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

test('a backend that breaks its contract fails as STORAGE_ERROR, and never writes twice', async () => {
  const space = { threads: new Map(), version: 0 };
  const backend = (patch) => Object.assign(new MemoryBackend(space), patch);
  const code = async (promise) => (await promise.then(() => 'resolved', (e) => (e instanceof lib.ThreadmemError ? e.code : `raw ${String(e)}`)));

  // A lock() that runs fn but forgets to return its result: one turn, one record.
  const forgetful = new lib.PersistentChatMessageStore(backend({ async lock(id, fn) { await fn(); } }), { threadId: 't1' });
  await forgetful.addMessages('hi');
  expect(space.threads.get('t1').records.size).toBe(1);
  expect(await forgetful.count()).toBe(1);
  // One that runs it twice, one that does not await it (and it fails), one
  // that swallows its error: the operation runs once and its outcome is told.
  const twice = new lib.PersistentChatMessageStore(backend({ async lock(id, fn) { await fn(); return fn(); } }), { threadId: 't4' });
  expect(await code(twice.addMessages('once'))).toBe('resolved');
  expect(space.threads.get('t4').records.size).toBe(1);
  const failingAppend = { async append() { throw new Error('disk gone'); } };
  const hasty = new lib.PersistentChatMessageStore(backend({ lock(id, fn) { fn(); }, ...failingAppend }), { threadId: 't5' });
  expect(await code(hasty.addMessages('x'))).toBe('STORAGE_ERROR');
  const swallowing = new lib.PersistentChatMessageStore(
    backend({ async lock(id, fn) { await fn().catch(() => {}); }, ...failingAppend }),
    { threadId: 't6' },
  );
  expect(await code(swallowing.addMessages('x'))).toBe('STORAGE_ERROR');
  // One that runs it only after it returned: too late, refused, never written behind the caller's back.
  let late;
  const later = (fn) => new Promise((resolve) => setTimeout(() => resolve(Promise.resolve().then(fn).catch((e) => e)), 5));
  const tardy = new lib.PersistentChatMessageStore(backend({ lock(id, fn) { late = later(fn); } }), { threadId: 't7' });
  expect(await code(tardy.addMessages('x'))).toBe('STORAGE_ERROR');
  expect(await late).toMatchObject({ code: 'STORAGE_ERROR' });
  expect(space.threads.has('t5') || space.threads.has('t6') || space.threads.has('t7')).toBe(false);
  // One that never runs it: said, not taken for success.
  const idle = new lib.PersistentChatMessageStore(backend({ async lock() {} }), { threadId: 't2' });
  expect(await code(idle.addMessages('hi'))).toBe('STORAGE_ERROR');
  expect(space.threads.has('t2')).toBe(false);

  // where() that throws or names nothing usable: the error still comes, with its own code.
  for (const where of [() => { throw Symbol('w'); }, () => Symbol('w')]) {
    const failing = backend({ where, async read() { throw Object.create(null); } });
    expect(await code(new lib.PersistentChatMessageStore(failing).count())).toBe('STORAGE_ERROR');
  }
  // reference() that throws, or tries to pass for another kind; close() that throws.
  const thrower = new lib.PersistentChatMessageStore(backend({ reference() { throw Symbol('r'); } }));
  expect(await code(thrower.serialize())).toBe('STORAGE_ERROR');
  const impostor = new lib.PersistentChatMessageStore(backend({ reference: () => ({ type: 'x', kind: 'y', region: 'eu' }) }), { threadId: 't3' });
  expect(await impostor.serialize()).toEqual({ type: 'store_reference', kind: 'memory', region: 'eu', thread_id: 't3' });
  const closer = new lib.PersistentChatMessageStore(backend({ close() { throw Object.create(null); } }));
  expect(() => closer.close()).toThrow(expect.objectContaining({ code: 'STORAGE_ERROR' }));
  const asyncCloser = new lib.PersistentChatMessageStore(backend({ close: async () => { throw Symbol('c'); } }));
  expect(await code(asyncCloser.close())).toBe('STORAGE_ERROR');
  // After close(), serialize() is CLOSED like every other call.
  expect(await code(impostor.serialize().then(() => impostor.close()).then(() => impostor.serialize()))).toBe('CLOSED');
  for (const store of [forgetful, twice, hasty, swallowing, tardy, idle, thrower]) store.close();
});
