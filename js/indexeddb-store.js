// IndexedDBChatMessageStore (browsers): one object store of records keyed by
// [threadId, seq], one record per message in the core's layout. The shared
// persistent store (js/persistent-store.js) and the core decide everything;
// this backend only talks to IndexedDB: a turn is one readwrite transaction
// (committed with strict durability before it resolves) that checks no other
// tab wrote the thread since it was read, adds the turn's records and
// deletes what the core evicted; appends take a Web Lock per thread.

import { ThreadmemError } from './errors.js';
import { PersistentChatMessageStore, readStart } from './persistent-store.js';
import { isThreadId } from './thread-id.js';
import { optionsOf } from './options.js';

const RECORDS = 'records';
const DB_VERSION = 1;
// Acknowledged means on disk (IndexedDB's default lets the browser delay the flush).
const WRITE = { durability: 'strict' };

export class IndexedDBChatMessageStore extends PersistentChatMessageStore {
  /**
   * @param {{dbName?: string, threadId?: string, maxMessages?: number, maxTokens?: number,
   *          encoding?: string, indexedDB?: IDBFactory,
   *          encryption?: {key: CryptoKey|string}}} [options] `indexedDB`
   *   defaults to globalThis.indexedDB (another IDBFactory, such as an
   *   instrumented one or an implementation for Node, also works).
   */
  constructor(options) {
    const { dbName = 'threadmem', threadId, maxMessages, maxTokens, encoding, indexedDB, encryption } =
      optionsOf(options, 'IndexedDBChatMessageStore');
    super(new IndexedDBBackend(dbName, indexedDB), { threadId, maxMessages, maxTokens, encoding, encryption });
  }

  get dbName() {
    return this._backend.dbName;
  }
}

const isDbName = (name) => typeof name === 'string' && name !== '' && name.length <= 256;

// The mark of a thread is its first and last seq and its last record's
// bytes: a thread deleted and refilled elsewhere differs there.
class IndexedDBBackend {
  constructor(dbName, factory) {
    if (!isDbName(dbName)) throw new ThreadmemError('INVALID_ARGUMENT', 'dbName must be a string of 1-256 characters');
    if (factory !== undefined && typeof factory?.open !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'indexedDB must be an IDBFactory');
    }
    this.kind = 'indexeddb';
    this.inPlace = true;
    this.dbName = dbName;
    this._factory = factory; // globalThis.indexedDB when absent
    this._conn = null;
    this._opening = null;
    this._closed = false; // close() was called: nothing opens the database again
  }

  where(threadId) {
    return `IndexedDB ${this.dbName}, thread ${threadId}`;
  }

  reference() {
    return { db_name: this.dbName };
  }

  adopt(ref) {
    const dbName = ref.db_name ?? this.dbName;
    if (!isDbName(dbName)) throw new ThreadmemError('INVALID_FORMAT', 'the reference has a db_name no store can have');
    if (dbName !== this.dbName) {
      this._disconnect();
      this.dbName = dbName;
    }
  }

  async _db() {
    if (this._closed) throw new ThreadmemError('CLOSED', 'the store is closed');
    if (this._conn) return this._conn;
    const factory = this._factory ?? globalThis.indexedDB;
    if (!factory) throw new ThreadmemError('STORAGE_ERROR', 'IndexedDB is not available here');
    this._opening ??= new Promise((resolve, reject) => {
      const req = factory.open(this.dbName, DB_VERSION);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(RECORDS)) req.result.createObjectStore(RECORDS);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }).then(
      (db) => {
        this._opening = null;
        if (this._closed) {
          db.close(); // opened for a call that close() overtook
          throw new ThreadmemError('CLOSED', 'the store is closed');
        }
        // Another page upgrading or deleting the database must not wait on us.
        db.onversionchange = () => {
          db.close();
          if (this._conn === db) this._conn = null;
        };
        this._conn = db;
        return db;
      },
      (err) => {
        this._opening = null;
        throw err;
      },
    );
    return this._opening;
  }

  // Writers of a thread take a Web Lock (where the browser has the API), so
  // that two tabs rarely collide; the transaction's check catches the rest.
  lock(threadId, fn, { write }) {
    const locks = write && globalThis.navigator?.locks;
    return locks ? locks.request(`threadmem-idb:${this.dbName}:${threadId}`, fn) : fn();
  }

  async _ends(os, threadId) {
    const [head, tail] = await Promise.all([
      request(os.openKeyCursor(threadRange(threadId))),
      request(os.openCursor(threadRange(threadId), 'prev')),
    ]);
    return { first: head ? head.key[1] : 0, last: tail ? tail.key[1] : 0, lastRecord: tail ? asBytes(tail.value) : null };
  }

  async read(threadId, since) {
    const tx = (await this._db()).transaction(RECORDS, 'readonly');
    done(tx).catch(() => {});
    const os = tx.objectStore(RECORDS);
    const mark = await this._ends(os, threadId);
    const seen = since?.mark;
    if (seen && sameMark(mark, seen)) return { unchanged: true };
    const from = await readStart(mark, seen, async () => {
      const record = await request(os.get([threadId, seen.last]));
      return record !== undefined && sameBytes(asBytes(record), seen.lastRecord);
    });
    const values = mark.last ? await request(os.getAll(IDBKeyRange.bound([threadId, from], [threadId, Infinity]))) : [];
    return { records: values.map(asBytes), firstSeq: from, full: from === mark.first, mark };
  }

  async append(threadId, records, { firstSeq, dropBefore, heldFirst, firstAfter, since }) {
    const tx = (await this._db()).transaction(RECORDS, 'readwrite', WRITE);
    const finished = done(tx);
    finished.catch(() => {});
    try {
      const os = tx.objectStore(RECORDS);
      if (!sameMark(await this._ends(os, threadId), since.mark)) {
        tx.abort();
        return false; // another tab wrote first
      }
      // add, not put: a taken key fails the transaction
      records.forEach((record, i) => os.add(record, [threadId, firstSeq + i]));
      if (dropBefore) os.delete(IDBKeyRange.bound([threadId, heldFirst], [threadId, dropBefore], false, true));
      await finished;
    } catch (err) {
      try {
        tx.abort();
      } catch {
        // already aborted (the failure came from the transaction itself)
      }
      await finished.catch(() => {});
      if (err?.name === 'ConstraintError') return false; // a seq another writer took
      throw err;
    }
    return { first: firstAfter, last: firstSeq + records.length - 1, lastRecord: records[records.length - 1] };
  }

  async remove(threadId) {
    const tx = (await this._db()).transaction(RECORDS, 'readwrite', WRITE);
    const finished = done(tx);
    tx.objectStore(RECORDS).delete(threadRange(threadId));
    await finished;
  }

  async list() {
    const tx = (await this._db()).transaction(RECORDS, 'readonly');
    const ids = [];
    await new Promise((resolve, reject) => {
      const req = tx.objectStore(RECORDS).openKeyCursor();
      req.onerror = () => reject(req.error);
      req.onsuccess = () => {
        const cursor = req.result;
        if (!cursor) return resolve();
        const [id] = cursor.key;
        if (isThreadId(id)) ids.push(id);
        cursor.continue([id, Infinity]); // the next thread's first key
      };
    });
    return ids;
  }

  close() {
    this._closed = true;
    this._disconnect();
  }

  _disconnect() {
    this._conn?.close();
    this._conn = null;
  }
}

function threadRange(threadId) {
  return IDBKeyRange.bound([threadId, 0], [threadId, Infinity]);
}

function request(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(tx) {
  return new Promise((resolve, reject) => {
    tx.oncomplete = () => resolve();
    tx.onabort = () => reject(tx.error ?? new DOMException('the transaction was aborted', 'AbortError'));
  });
}

function asBytes(value) {
  if (value instanceof Uint8Array) return value;
  if (value instanceof ArrayBuffer) return new Uint8Array(value);
  throw new ThreadmemError('CORRUPT_RECORD', 'an IndexedDB record is not bytes');
}

function sameMark(a, b) {
  return a.first === b.first && a.last === b.last && sameBytes(a.lastRecord, b.lastRecord);
}

function sameBytes(a, b) {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
