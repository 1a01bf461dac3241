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
  // A page without Web Locks (not a secure context): writing to the origin's
  // localStorage is refused, reading still works; a storage object of one's
  // own is written as before.
  async withoutWebLocks() {
    const keyPrefix = `nolocks-${unique()}`;
    const before = new lib.LocalStorageChatMessageStore({ keyPrefix, threadId: 't' });
    await before.addMessages([{ role: 'user', text: 'written with locks' }]);
    before.close();
    const locks = Object.getOwnPropertyDescriptor(Navigator.prototype, 'locks');
    Object.defineProperty(Navigator.prototype, 'locks', { configurable: true, get: () => undefined });
    try {
      const s = new lib.LocalStorageChatMessageStore({ keyPrefix, threadId: 't' });
      const read = (await s.listMessages()).map((m) => m.text);
      let refused = null;
      try {
        await s.addMessages([{ role: 'user', text: 'unguarded' }]);
      } catch (err) {
        refused = err.code;
      }
      const after = (await s.listMessages()).map((m) => m.text);
      s.close();
      const items = new Map();
      const own = { getItem: (k) => items.get(k) ?? null, setItem: (k, v) => items.set(k, String(v)), removeItem: (k) => items.delete(k),
        key: (i) => [...items.keys()][i] ?? null, get length() { return items.size; } };
      const mine = new lib.LocalStorageChatMessageStore({ keyPrefix, threadId: 't', storage: own });
      await mine.addMessages([{ role: 'user', text: 'in my own storage' }]);
      const ownTexts = (await mine.listMessages()).map((m) => m.text);
      mine.close();
      return { read, refused, after, ownTexts };
    } finally {
      Object.defineProperty(Navigator.prototype, 'locks', locks);
    }
  },

  // The app clearing localStorage right after a turn: the next call sees an
  // empty thread, at once.
  async clearedAfterTurn() {
    const s = new lib.LocalStorageChatMessageStore({ keyPrefix: `cleared-${unique()}`, threadId: 't' });
    await s.addMessages([{ role: 'user', text: 'soon cleared' }]);
    for (const k of Object.keys(localStorage)) if (k.startsWith(s.keyPrefix)) localStorage.removeItem(k);
    const t0 = performance.now();
    const count = await s.count();
    const ms = performance.now() - t0;
    await s.addMessages([{ role: 'user', text: 'again' }]);
    const texts = (await s.listMessages()).map((m) => m.text);
    s.close();
    return { count, fast: ms < 1000, texts };
  },

  // A call waiting for the thread's lock when the store is closed: CLOSED,
  // and the database is not opened again behind close().
  async closedWhileWaiting() {
    const dbName = `closing-${unique()}`;
    const s = new lib.IndexedDBChatMessageStore({ dbName, threadId: 't' });
    await s.addMessages([{ role: 'user', text: 'kept' }]);
    let release;
    const held = new Promise((resolve) => (release = resolve));
    await new Promise((granted) => navigator.locks.request(`threadmem-idb:${dbName}:t`, () => (granted(), held)));
    const pending = s.addMessages([{ role: 'user', text: 'never' }]).then(() => 'stored', (err) => err.code);
    await new Promise((resolve) => setTimeout(resolve, 50));
    s.close();
    release();
    const outcome = await pending;
    const again = new lib.IndexedDBChatMessageStore({ dbName, threadId: 't' });
    const texts = (await again.listMessages()).map((m) => m.text);
    again.close();
    // The backend's connection (internal): none was opened behind close().
    return { outcome, texts, connection: s._backend._conn };
  },

  // A page that may not use localStorage (reading it throws, as in a
  // sandboxed frame): a ThreadmemError, and a storage object of one's own
  // still works.
  async forbiddenLocalStorage() {
    const descriptor = Object.getOwnPropertyDescriptor(window, 'localStorage');
    Object.defineProperty(window, 'localStorage', { configurable: true, get() { throw new DOMException('denied', 'SecurityError'); } });
    try {
      let error = null;
      try {
        new lib.LocalStorageChatMessageStore({ threadId: 't' });
      } catch (err) {
        error = { name: err.name, code: err.code, cause: err.cause?.name };
      }
      const own = new lib.LocalStorageChatMessageStore({ threadId: 't', storage: sessionStorage });
      own.close();
      return { error, own: true };
    } finally {
      Object.defineProperty(window, 'localStorage', descriptor);
    }
  },

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
