// IndexedDBChatMessageStore (browsers): one object store of records keyed by
// [threadId, seq], one record per message in the core's layout (js/log.js
// encodes and reads them; this adapter only moves bytes). A turn is one
// readwrite transaction: catch up with what other tabs appended, add the
// turn's records, delete what maxMessages evicts.

import { ThreadmemError, storageError } from './errors.js';
import { ChatMessageStore } from './store.js';
import { RecordCodec } from './record-codec.js';
import { messageValues } from './message.js';
import { checkThreadId, isThreadId } from './thread-id.js';
import { newId } from './thread.js';

const RECORDS = 'records';
const DB_VERSION = 1;
const MAX_CONFLICT_RETRIES = 20;
// Acknowledged means on disk (IndexedDB's default lets the browser delay the flush).
const WRITE = { durability: 'strict' };

// With encryption, a turn is sealed before its transaction opens (WebCrypto's
// promises would let the transaction commit under us); the transaction only
// checks that no other tab appended meanwhile, else the turn is sealed again.
class ChangedMeanwhile extends Error {}

export class IndexedDBChatMessageStore {
  /**
   * @param {{dbName?: string, threadId?: string, maxMessages?: number, maxTokens?: number,
   *          encoding?: string, indexedDB?: IDBFactory,
   *          encryption?: {key: CryptoKey|string}}} [options] `indexedDB`
   *   defaults to globalThis.indexedDB (another IDBFactory, such as an
   *   instrumented one or an implementation for Node, also works).
   */
  constructor({ dbName = 'threadmem', threadId, maxMessages, maxTokens, encoding, indexedDB, encryption } = {}) {
    if (typeof dbName !== 'string' || dbName === '' || dbName.length > 256) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'dbName must be a string of 1-256 characters');
    }
    if (indexedDB !== undefined && typeof indexedDB?.open !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'indexedDB must be an IDBFactory');
    }
    this._factory = indexedDB; // globalThis.indexedDB when absent
    this.dbName = dbName;
    this.threadId = checkThreadId(threadId ?? newId());
    // The core decides what the limits evict; storage follows its choice.
    this._mirror = new ChatMessageStore({ maxMessages, maxTokens, encoding });
    this.maxMessages = this._mirror.maxMessages;
    this.maxTokens = this._mirror.maxTokens;
    this._codec = new RecordCodec(encryption);
    this._conn = null;
    this._opening = null;
    this._queue = Promise.resolve();
    this._reset();
  }

  _reset() {
    this._loaded = false;
    this._firstSeq = 0; // seq of the thread's oldest record (0: none)
    this._lastSeq = 0; // seq of the newest record mirrored (0: none)
    this._lastRecord = null; // its bytes: a thread deleted and refilled elsewhere differs here
  }

  async _db() {
    if (this._conn) return this._conn;
    const factory = this._factory ?? globalThis.indexedDB;
    if (!factory) {
      throw new ThreadmemError('STORAGE_ERROR', 'IndexedDB is not available here');
    }
    this._opening ??= new Promise((resolve, reject) => {
      const req = factory.open(this.dbName, DB_VERSION);
      req.onupgradeneeded = () => {
        if (!req.result.objectStoreNames.contains(RECORDS)) req.result.createObjectStore(RECORDS);
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    }).then(
      (db) => {
        // Another page upgrading or deleting the database must not wait on us.
        db.onversionchange = () => {
          db.close();
          if (this._conn === db) this._conn = null;
        };
        this._conn = db;
        this._opening = null;
        return db;
      },
      (err) => {
        this._opening = null;
        throw storageError(err, 'cannot open IndexedDB');
      },
    );
    return this._opening;
  }

  // One operation of this store at a time (the mirror follows one order);
  // with `lock`, also across tabs through the Web Locks API where it exists.
  _queued(fn, lock) {
    const locks = lock && globalThis.navigator?.locks;
    const run = locks ? () => locks.request(`threadmem-idb:${this.dbName}:${lock}`, fn) : fn;
    const result = this._queue.then(() => {
      this._mirror._live();
      return run();
    });
    this._queue = result.catch(() => {});
    return result;
  }

  _where() {
    return `IndexedDB ${this.dbName}, thread ${this.threadId}`;
  }

  // ---- catching up with the database (another tab may have appended) ----

  async _sync(tx, mustBeCurrent = false) {
    const os = tx.objectStore(RECORDS);
    const id = this.threadId;
    const [head, tail] = await Promise.all([
      request(os.openKeyCursor(threadRange(id))),
      request(os.openCursor(threadRange(id), 'prev')),
    ]);
    const first = head ? head.key[1] : 0;
    const last = tail ? tail.key[1] : 0;
    const lastRecord = tail ? tail.value : null;
    if (this._loaded && last === this._lastSeq && first === this._firstSeq && sameBytes(lastRecord, this._lastRecord)) {
      return;
    }
    if (mustBeCurrent) throw new ChangedMeanwhile();
    // Only the newer records are read when ours are still there unchanged.
    let from = first;
    let full = true;
    if (this._loaded && this._lastSeq && last > this._lastSeq && (first === this._firstSeq || this.maxMessages || this.maxTokens)) {
      const mine = await request(os.get([id, this._lastSeq]));
      if (mine && sameBytes(mine, this._lastRecord)) {
        from = this._lastSeq + 1;
        full = false;
      }
    }
    const records = last ? await request(os.getAll(IDBKeyRange.bound([id, from], [id, Infinity]))) : [];
    const log = await this._codec.readRecords(records.map(asBytes), from, this._where(), id);
    if (full) {
      await this._mirror.updateFromState({ type: 'chat_message_store_state', messages: log.messages });
      this._firstSeq = first;
    } else {
      this._mirror._add(log.messages);
    }
    this._lastSeq = last;
    this._lastRecord = lastRecord;
    this._loaded = true;
  }

  async _read(fn) {
    return this._queued(async () => {
      await this._syncReadOnly();
      return fn();
    });
  }

  async _syncReadOnly() {
    const db = await this._db();
    try {
      const tx = db.transaction(RECORDS, 'readonly');
      done(tx).catch(() => {});
      await this._sync(tx);
    } catch (err) {
      this._loaded = false;
      throw storageError(err, 'cannot read IndexedDB');
    }
  }

  // ---- ChatMessageStore ----

  /** Appends messages, all or nothing, in one transaction, resolved once it
   *  has committed; on failure neither the database nor this store changes. */
  async addMessages(messages) {
    const list = messageValues(messages);
    await this._queued(async () => {
      for (let attempt = 0; ; attempt++) {
        try {
          return await this._append(list);
        } catch (err) {
          const changed = err instanceof ChangedMeanwhile; // nothing was mirrored
          if (!changed) this._loaded = false; // the mirror may hold what was not written: reload it
          // A key already taken: another writer appended first; catch up, new seqs.
          if ((err?.name === 'ConstraintError' || changed) && attempt < MAX_CONFLICT_RETRIES) continue;
          throw storageError(err, 'cannot append to IndexedDB');
        }
      }
    }, this.threadId);
  }

  async _append(list) {
    let sealed = null;
    if (this._codec.encrypted) {
      await this._syncReadOnly();
      sealed = await this._codec.encode(list, this._lastSeq + 1, this.threadId);
    }
    const db = await this._db();
    const tx = db.transaction(RECORDS, 'readwrite', WRITE);
    const finished = done(tx);
    finished.catch(() => {});
    try {
      await this._sync(tx, sealed !== null);
      const os = tx.objectStore(RECORDS);
      const id = this.threadId;
      const seq0 = this._lastSeq + 1;
      const { records, messages: canonical } = sealed ?? (await this._codec.encode(list, seq0, id));
      let lastRecord = this._lastRecord;
      let bytes = 0;
      records.forEach((record, i) => {
        os.add(record, [id, seq0 + i]); // add, not put: a taken key fails the transaction
        lastRecord = record;
        bytes += record.length;
      });
      // The core decides what maxMessages evicts; its records go in this transaction.
      this._mirror._add(canonical);
      const last = seq0 + list.length - 1;
      const first = this._firstSeq || seq0;
      const keepFrom = last + 1 - (await this._mirror.count());
      if (keepFrom > first) os.delete(IDBKeyRange.bound([id, first], [id, keepFrom], false, true));
      await finished;
      this._firstSeq = list.length ? Math.max(first, keepFrom) : this._firstSeq;
      this._lastSeq = last;
      this._lastRecord = lastRecord;
      this.lastAppendBytes = bytes;
    } catch (err) {
      try {
        tx.abort();
      } catch {
        // already aborted (the failure came from the transaction itself)
      }
      await finished.catch(() => {});
      throw err;
    }
  }

  async listMessages() {
    return this._read(() => this._mirror.listMessages());
  }

  async getHistory(query) {
    return this._read(() => this._mirror.getHistory(query));
  }

  async count() {
    return this._read(() => this._mirror.count());
  }

  /** Deletes this thread's records and messages. */
  async clear() {
    await this.deleteThread(this.threadId);
  }

  /** A reference to this thread (no messages): thread.serialize() stores it
   *  and updateFromState() reconnects to the same database and thread. */
  async serialize() {
    return { type: 'store_reference', kind: 'indexeddb', db_name: this.dbName, thread_id: this.threadId };
  }

  /** Reconnects to the thread a reference names. */
  async updateFromState(state) {
    const ref = typeof state === 'string' ? JSON.parse(state) : state;
    if (!ref || ref.type !== 'store_reference' || ref.kind !== 'indexeddb') {
      throw new ThreadmemError('INVALID_FORMAT', 'not an IndexedDB store reference');
    }
    const threadId = checkThreadId(ref.thread_id);
    await this._queued(async () => {
      if (typeof ref.db_name === 'string' && ref.db_name && ref.db_name !== this.dbName) {
        this._conn?.close();
        this._conn = null;
        this.dbName = ref.db_name;
      }
      this.threadId = threadId;
      await this._mirror.clear();
      this._reset();
    });
  }

  /** The ids of the threads in this database. */
  async listThreads() {
    return this._queued(async () => {
      const db = await this._db();
      const tx = db.transaction(RECORDS, 'readonly');
      const ids = [];
      try {
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
      } catch (err) {
        throw storageError(err, 'cannot list IndexedDB');
      }
      return ids.sort();
    });
  }

  /** Deletes a thread's records (this store's own thread is then empty). */
  async deleteThread(threadId) {
    checkThreadId(threadId);
    await this._queued(async () => {
      const db = await this._db();
      const tx = db.transaction(RECORDS, 'readwrite', WRITE);
      const finished = done(tx);
      tx.objectStore(RECORDS).delete(threadRange(threadId));
      try {
        await finished;
      } catch (err) {
        throw storageError(err, 'cannot delete from IndexedDB');
      }
      if (threadId === this.threadId) {
        await this._mirror.clear();
        this._reset();
      }
    }, threadId);
  }

  /** Frees the mirror and closes the connection; later calls throw CLOSED. */
  close() {
    this._mirror.close();
    this._conn?.close();
    this._conn = null;
  }

  get closed() {
    return this._mirror.closed;
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

function sameBytes(a, b) {
  if (a === b) return true;
  if (!a || !b || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
