// The browser side of the storage tests: imports the package as a page on a
// static host would, builds the IndexedDB and localStorage harnesses of the
// shared spec (tests/storage/spec.js), and offers the driver
// (tests/e2e/storage.e2e.js) a few calls on window.storageSuite.

import * as lib from '../../../js/index.js';
import { fromBase64, toBase64 } from '../../../js/base64.js';
import { cases, runCase, tracked } from '../../storage/spec.js';
import { instrument } from '../../storage/faults.js';

let n = 0;
const unique = () => `${Date.now().toString(36)}-${++n}`;

// One byte inside the first record's payload (its header is 24 bytes), or
// three bytes before the end of the last record.
function flip(bytes, which) {
  const copy = new Uint8Array(bytes);
  copy[which === 'first' ? 30 : copy.length - 3] ^= 1;
  return copy;
}

// ---- IndexedDB, read and altered behind the store's back ----

const request = (req) =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

async function rawDB(dbName, mode, fn) {
  const req = indexedDB.open(dbName, 1);
  req.onupgradeneeded = () => req.result.createObjectStore('records');
  const db = await request(req);
  try {
    const tx = db.transaction('records', mode);
    const result = await fn(tx.objectStore('records'));
    await new Promise((resolve, reject) => {
      tx.oncomplete = resolve;
      tx.onabort = () => reject(tx.error);
    });
    return result;
  } finally {
    db.close();
  }
}

const threadRange = (id) => IDBKeyRange.bound([id, 0], [id, Infinity]);

const IDB_OPS = new Set(['open', 'deleteDatabase', 'databases', 'transaction', 'add', 'put', 'get', 'getAll',
  'getAllKeys', 'getKey', 'delete', 'clear', 'count', 'openCursor', 'openKeyCursor', 'continue', 'update']);
const isIDBObject = (v) => /^IDB(?!KeyRange)/.test(v.constructor?.name ?? '');

function indexedDBBackend(dbName = `spec-${unique()}`) {
  const { open, track, closeAll } = tracked((o) => new lib.IndexedDBChatMessageStore({ dbName, ...o }));
  return {
    kind: 'indexeddb',
    lib,
    open,
    // Every request the store makes of IndexedDB, and every transaction.
    openFaulty: async (o, plan) =>
      track(new lib.IndexedDBChatMessageStore({
        dbName,
        ...o,
        indexedDB: instrument(indexedDB, plan, { ops: (name) => IDB_OPS.has(name), deep: isIDBObject }),
      })),
    tamper: (id, which) =>
      rawDB(dbName, 'readwrite', async (os) => {
        const cursor = await request(os.openCursor(threadRange(id), which === 'first' ? 'next' : 'prev'));
        await request(cursor.update(flip(cursor.value, which)));
      }),
    seqRange: (id) =>
      rawDB(dbName, 'readonly', async (os) => {
        const keys = await request(os.getAllKeys(threadRange(id)));
        return { first: keys[0][1], last: keys.at(-1)[1] };
      }),
    snapshot: (id) =>
      rawDB(dbName, 'readonly', async (os) => {
        const [keys, values] = await Promise.all([request(os.getAllKeys(threadRange(id))), request(os.getAll(threadRange(id)))]);
        return keys.map((k, i) => [k, toBase64(values[i])]);
      }),
    rawBytes: (id) => rawDB(dbName, 'readonly', (os) => request(os.getAll(threadRange(id)))),
    copyThread: (from, to) =>
      rawDB(dbName, 'readwrite', async (os) => {
        const [keys, values] = await Promise.all([request(os.getAllKeys(threadRange(from))), request(os.getAll(threadRange(from)))]);
        await Promise.all(keys.map((k, i) => request(os.put(values[i], [to, k[1]]))));
      }),
    async dispose() {
      await closeAll();
      await request(indexedDB.deleteDatabase(dbName));
    },
  };
}

// ---- localStorage (or any storage object) ----

function localStorageBackend(keyPrefix = `spec-${unique()}`, storage = localStorage) {
  const { open, track, closeAll } = tracked((o) => new lib.LocalStorageChatMessageStore({ keyPrefix, storage, ...o }));
  const head = (id) => JSON.parse(storage.getItem(`${keyPrefix}:${id}`));
  const keys = () => Array.from({ length: storage.length }, (_, i) => storage.key(i));
  return {
    kind: 'localstorage',
    lib,
    open,
    // Every read, write, removal and key lookup.
    openFaulty: async (o, plan) =>
      track(new lib.LocalStorageChatMessageStore({ keyPrefix, ...o, storage: instrument(storage, plan) })),
    async tamper(id, which) {
      const { first, last } = head(id);
      const key = `${keyPrefix}:${id}:${which === 'first' ? first : last}`;
      storage.setItem(key, toBase64(flip(fromBase64(storage.getItem(key)), which)));
    },
    seqRange: async (id) => {
      const { first, last } = head(id);
      return { first, last };
    },
    snapshot: async (id) =>
      keys()
        .filter((k) => k === `${keyPrefix}:${id}` || k.startsWith(`${keyPrefix}:${id}:`))
        .sort()
        .map((k) => [k, storage.getItem(k)]),
    rawBytes: async (id) =>
      keys()
        .filter((k) => k.startsWith(`${keyPrefix}:${id}:`))
        .map((k) => fromBase64(storage.getItem(k))),
    async copyThread(from, to) {
      for (const k of keys()) {
        if (k === `${keyPrefix}:${from}`) storage.setItem(`${keyPrefix}:${to}`, storage.getItem(k));
        else if (k.startsWith(`${keyPrefix}:${from}:`)) storage.setItem(`${keyPrefix}:${to}:${k.slice(keyPrefix.length + from.length + 2)}`, storage.getItem(k));
      }
    },
    async dispose() {
      await closeAll();
      for (const k of keys()) if (k.startsWith(`${keyPrefix}:`)) storage.removeItem(k);
    },
  };
}

// A storage with a small quota counted in characters of keys and values, as
// browsers count theirs; a write past it throws the browser's exception.
class SmallStorage {
  constructor(quota) {
    this.quota = quota;
    this.items = new Map();
  }
  get length() {
    return this.items.size;
  }
  key(i) {
    return [...this.items.keys()][i] ?? null;
  }
  getItem(k) {
    return this.items.has(k) ? this.items.get(k) : null;
  }
  setItem(k, v) {
    let used = 0;
    for (const [key, value] of this.items) if (key !== k) used += key.length + value.length;
    if (used + k.length + String(v).length > this.quota) {
      throw new DOMException(`the quota of ${this.quota} characters is exceeded`, 'QuotaExceededError');
    }
    this.items.set(k, String(v));
  }
  removeItem(k) {
    this.items.delete(k);
  }
  snapshot() {
    return JSON.stringify([...this.items].sort());
  }
}

const makers = { indexeddb: () => indexedDBBackend(), localstorage: () => localStorageBackend() };
const texts = (msgs) => msgs.map((m) => m.text);

window.storageSuite = {
  names: cases.map((c) => c.name),

  /** Runs one case of the shared spec; rejects with its failure. */
  async run(kind, name) {
    await runCase(makers[kind], cases.find((c) => c.name === name));
  },

  /** A store of `kind` in the namespace `ns` (a database or a key prefix). */
  open(kind, ns, options = {}) {
    return kind === 'indexeddb'
      ? new lib.IndexedDBChatMessageStore({ dbName: ns, ...options })
      : new lib.LocalStorageChatMessageStore({ keyPrefix: ns, ...options });
  },

  // `passphrase`: the thread is encrypted with it.
  async append(kind, ns, threadId, turns, passphrase) {
    const s = this.open(kind, ns, { threadId, encryption: passphrase ? { key: passphrase } : undefined });
    try {
      for (const t of turns) await s.addMessages(t);
    } finally {
      s.close();
    }
  },

  async list(kind, ns, threadId, passphrase) {
    const s = this.open(kind, ns, { threadId, encryption: passphrase ? { key: passphrase } : undefined });
    try {
      return { texts: texts(await s.listMessages()), threads: await s.listThreads() };
    } finally {
      s.close();
    }
  },

  /** Fills the real localStorage, leaving room for one small record, then
   *  appends a turn whose second record cannot fit. */
  // The lock that tells other tabs to wait for a commit is still held once
  // the writing store is closed (another tab may not have the commit yet).
  async announcedAfterClose() {
    const s = new lib.LocalStorageChatMessageStore({ keyPrefix: `announce-${unique()}`, threadId: 'closing' });
    await s.addMessages([{ role: 'user', text: 'the last turn before closing' }]);
    s.close();
    const { held = [] } = await navigator.locks.query();
    return held.some((l) => l.name === `threadmem-ls-commit:${s.keyPrefix}:closing:1`);
  },

  async quotaInLocalStorage() {
    const ns = `quota-${unique()}`;
    const s = this.open('localstorage', ns, { threadId: 'q' });
    const mine = () => JSON.stringify(Object.keys(localStorage).filter((k) => k.startsWith(ns)).sort().map((k) => [k, localStorage.getItem(k)]));
    const fillers = [];
    try {
      await s.addMessages(['before 1', 'before 2']);
      localStorage.setItem('filler:room', 'r'.repeat(8192));
      fillers.push('filler:room');
      for (let chunk = 'x'.repeat(1 << 20); chunk.length >= 8; ) {
        try {
          localStorage.setItem(`filler:${fillers.length}`, chunk);
          fillers.push(`filler:${fillers.length}`);
        } catch {
          chunk = chunk.slice(0, chunk.length >> 1);
        }
      }
      localStorage.removeItem('filler:room'); // room for a small record, not for a big one
      const before = mine();
      let error = null;
      try {
        await s.addMessages(['small', 'big '.repeat(50_000)]);
      } catch (err) {
        error = { name: err.name, code: err.code, cause: err.cause?.name };
      }
      const after = mine();
      const seen = texts(await s.listMessages());
      const fresh = await this.list('localstorage', ns, 'q');
      for (const k of fillers) localStorage.removeItem(k);
      fillers.length = 0;
      await s.addMessages(['after']);
      return { error, unchanged: before === after, seen, fresh: fresh.texts, final: texts(await s.listMessages()) };
    } finally {
      for (const k of fillers) localStorage.removeItem(k);
      await s.clear().catch(() => {});
      s.close();
    }
  },

  /** A 3-message turn into storages whose quota runs out at every point of
   *  the turn: each either keeps the whole turn or fails with
   *  QUOTA_EXCEEDED and leaves the storage as it was. */
  async quotaAtEveryWrite() {
    const outcomes = { kept: 0, refused: 0, wrong: [] };
    const turn = ['first of the turn', 'second '.repeat(40), 'third '.repeat(80)];
    for (let room = 0; room <= 2400; room += 40) {
      const storage = new SmallStorage(0);
      const s = new lib.LocalStorageChatMessageStore({ keyPrefix: 'small', threadId: 't', storage });
      storage.quota = Infinity;
      await s.addMessages(['already there']);
      storage.quota = [...storage.items].reduce((sum, [k, v]) => sum + k.length + v.length, 0) + room;
      const before = storage.snapshot();
      try {
        await s.addMessages(turn);
        const seen = texts(await s.listMessages());
        if (seen.length === 4) outcomes.kept++;
        else outcomes.wrong.push(`room ${room}: kept ${seen.length}`);
      } catch (err) {
        const unchanged = storage.snapshot() === before;
        const seen = texts(await s.listMessages());
        if (err.code === 'QUOTA_EXCEEDED' && unchanged && seen.length === 1) outcomes.refused++;
        else outcomes.wrong.push(`room ${room}: ${err.code}, unchanged ${unchanged}, ${seen.length} seen`);
      }
      s.close();
    }
    return outcomes;
  },
};

document.body.dataset.ready = 'true';
