// LocalStorageChatMessageStore (browsers): one item per record,
// `${keyPrefix}:${threadId}:${seq}` holding the core's record bytes in
// base64, and one head item per thread, `${keyPrefix}:${threadId}`, holding
// {"first":seq,"last":seq,"n":commits}. A turn writes its records, then the
// head: the head is the commit, so a turn cut short is never seen, and one that
// fails (a full quota) removes what it wrote. A turn costs its own records,
// never the thread. A deleted thread keeps an empty head (its commit count).
//
// Tabs: appends to a thread take a Web Lock. That alone is not enough, since
// each tab reads its own copy of localStorage, which learns of another tab's
// writes a little later. So a writer also holds, for a while after each
// commit, a lock named after the commit count it wrote; the next lock holder
// sees the highest such count (navigator.locks.query() is as up to date as
// the locks themselves) and waits until its copy of the head has caught up.

import { ThreadmemError, storageError } from './errors.js';
import { ChatMessageStore } from './store.js';
import { RecordCodec } from './record-codec.js';
import { messageValues } from './message.js';
import { checkThreadId, isThreadId } from './thread-id.js';
import { newId } from './thread.js';
import { fromBase64, toBase64 } from './base64.js';

// No ':' in a prefix, so a key splits one way only.
const KEY_PREFIX = /^[A-Za-z0-9._-]{1,64}$/;
const SEQ = /^[1-9][0-9]{0,15}$/;
const ANNOUNCE_MS = 5000; // how long a commit's lock stays held
const CATCH_UP_MS = 5000; // how long a writer waits for another tab's commit to arrive

export class LocalStorageChatMessageStore {
  /**
   * @param {{keyPrefix?: string, threadId?: string, maxMessages?: number, maxTokens?: number, encoding?: string,
   *          storage?: Storage, encryption?: {key: CryptoKey|string}}} [options] `storage` defaults to localStorage
   *   (sessionStorage, or any object with getItem, setItem, removeItem, key
   *   and length, also works).
   */
  constructor({ keyPrefix = 'threadmem', threadId, maxMessages, maxTokens, encoding, storage, encryption } = {}) {
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'keyPrefix must be 1-64 characters of A-Z a-z 0-9 . _ -');
    }
    const store = storage ?? globalThis.localStorage;
    if (!store || typeof store.getItem !== 'function' || typeof store.setItem !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'no localStorage here: pass a storage object');
    }
    this.keyPrefix = keyPrefix;
    this.storage = store;
    // Only the origin's localStorage is seen by other tabs, each through its
    // own copy that lags: commits are announced and awaited for it alone.
    this._shared = store === globalThis.localStorage;
    this.threadId = checkThreadId(threadId ?? newId());
    // The core decides what the limits evict; storage follows its choice.
    this._mirror = new ChatMessageStore({ maxMessages, maxTokens, encoding });
    this.maxMessages = this._mirror.maxMessages;
    this.maxTokens = this._mirror.maxTokens;
    this._codec = new RecordCodec(encryption);
    this._queue = Promise.resolve();
    this._announced = new Map(); // threadId -> { release, timer } of its newest commit lock
    this._reset();
  }

  _reset() {
    this._loaded = false;
    this._commits = 0; // the head's commit count, as last read
    this._firstSeq = 0; // seq of the thread's oldest record (0: none)
    this._lastSeq = 0; // seq of the newest record mirrored (0: none)
    this._lastRecord = null; // its text: a thread deleted and refilled elsewhere differs here
  }

  _headKey(threadId = this.threadId) {
    return `${this.keyPrefix}:${threadId}`;
  }

  _key(seq, threadId = this.threadId) {
    return `${this.keyPrefix}:${threadId}:${seq}`;
  }

  _where() {
    return `localStorage ${this._headKey()}`;
  }

  // One operation of this store at a time; with `lock`, also across tabs
  // through the Web Locks API where it exists (localStorage has no
  // transactions, so two tabs must not write one thread at once).
  _queued(fn, lock) {
    const locks = lock && globalThis.navigator?.locks;
    const locked = async () => {
      if (this._shared) await this._catchUp(locks, lock);
      return fn();
    };
    const run = locks ? () => locks.request(`threadmem-ls:${this.keyPrefix}:${lock}`, locked) : fn;
    const result = this._queue.then(() => {
      this._mirror._live();
      return run();
    });
    this._queue = result.catch(() => {});
    return result;
  }

  _commitLock(threadId) {
    return `threadmem-ls-commit:${this.keyPrefix}:${threadId}:`;
  }

  // Under the thread's lock: waits until this tab's copy of the head shows the
  // newest commit another tab announced.
  async _catchUp(locks, threadId) {
    const name = this._commitLock(threadId);
    const { held = [] } = await locks.query();
    let want = 0;
    for (const l of held) if (l.name?.startsWith(name)) want = Math.max(want, Number(l.name.slice(name.length)) || 0);
    const start = Date.now();
    while (this._commitsOf(threadId) < want) {
      if (Date.now() - start > CATCH_UP_MS) {
        throw new ThreadmemError('LOCK_TIMEOUT', `${this._where()}: another tab's turn has not reached this tab`);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
  }

  _commitsOf(threadId) {
    try {
      return this._head(threadId).n;
    } catch {
      return Infinity; // a damaged head: the operation itself reports it
    }
  }

  // After a commit, while the thread's lock is still held: takes the lock
  // that tells the next writer which commit to wait for, and resolves once it
  // is granted (a release travels apart from new requests, so the thread's
  // lock must outlive this grant).
  async _announce(threadId, n) {
    const locks = globalThis.navigator?.locks;
    if (!locks) return;
    this._unannounce(threadId);
    let release;
    const held = new Promise((resolve) => {
      release = resolve;
    });
    this._announced.set(threadId, { release, timer: setTimeout(() => this._unannounce(threadId), ANNOUNCE_MS) });
    await new Promise((granted) => {
      locks.request(this._commitLock(threadId) + n, () => {
        granted();
        return held;
      }).catch(granted);
    });
  }

  _unannounce(threadId) {
    const held = this._announced.get(threadId);
    if (!held) return;
    clearTimeout(held.timer);
    held.release();
    this._announced.delete(threadId);
  }

  _get(key) {
    try {
      return this.storage.getItem(key);
    } catch (err) {
      throw storageError(err, 'cannot read localStorage');
    }
  }

  _head(threadId = this.threadId) {
    const text = this._get(this._headKey(threadId));
    if (text === null) return { first: 0, last: 0, n: 0 };
    let head;
    try {
      head = JSON.parse(text);
    } catch {
      head = null;
    }
    const ok = (n) => Number.isSafeInteger(n) && n >= 0;
    if (!head || !ok(head.first) || !ok(head.last) || head.first > head.last || (head.first === 0) !== (head.last === 0) || !ok(head.n ?? 0)) {
      throw new ThreadmemError('CORRUPT_RECORD', `${this._where()}: the thread's head item is damaged`);
    }
    return { first: head.first, last: head.last, n: head.n ?? 0 };
  }

  // ---- catching up with the storage (another tab may have appended) ----

  async _sync() {
    const { first, last, n } = this._head(); // re-read before every operation
    this._commits = n;
    const lastRecord = last ? this._get(this._key(last)) : null;
    if (this._loaded && first === this._firstSeq && last === this._lastSeq && lastRecord === this._lastRecord) return;
    // Only the newer records are read when ours are still there unchanged.
    let from = first;
    let full = true;
    if (this._loaded && this._lastSeq && last > this._lastSeq && (first === this._firstSeq || this.maxMessages || this.maxTokens) &&
        this._get(this._key(this._lastSeq)) === this._lastRecord) {
      from = this._lastSeq + 1;
      full = false;
    }
    const records = [];
    for (let seq = from; last && seq <= last; seq++) {
      const text = seq === last ? lastRecord : this._get(this._key(seq));
      let bytes = null;
      try {
        if (text !== null) bytes = fromBase64(text);
      } catch {
        bytes = null;
      }
      if (!bytes) throw new ThreadmemError('CORRUPT_RECORD', `${this._where()}: record ${seq} is missing or not base64`);
      records.push(bytes);
    }
    const log = await this._codec.readRecords(records, from, this._where(), this.threadId);
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

  // Reads take the thread's lock too, so that they wait for a turn another
  // tab has committed but whose items have not reached this tab yet.
  _read(fn) {
    return this._queued(async () => {
      try {
        await this._sync();
      } catch (err) {
        this._loaded = false;
        throw err;
      }
      return fn();
    }, this.threadId);
  }

  // ---- ChatMessageStore ----

  /** Appends messages, all or nothing. When the quota is full it throws
   *  QUOTA_EXCEEDED and removes what it wrote: the thread stays as it was. */
  async addMessages(messages) {
    const list = messageValues(messages);
    await this._queued(async () => {
      try {
        await this._append(list);
      } catch (err) {
        this._loaded = false; // the mirror may hold what was not written: reload it
        throw storageError(err, 'cannot write to localStorage');
      }
    }, this.threadId);
  }

  async _append(list) {
    await this._sync();
    const seq0 = this._lastSeq + 1;
    const { records, messages: canonical } = await this._codec.encode(list, seq0, this.threadId);
    const texts = records.map(toBase64);
    if (!list.length) return;
    const last = seq0 + list.length - 1;
    const first = this._firstSeq || seq0;
    const written = [];
    let keepFrom;
    try {
      for (let i = 0; i < texts.length; i++) {
        // Written before the head names it, so none is visible yet; an item
        // left here by a turn cut short was never acknowledged and is replaced.
        written.push(this._key(seq0 + i));
        this.storage.setItem(this._key(seq0 + i), texts[i]);
      }
      // The core decides what maxMessages evicts.
      this._mirror._add(canonical);
      keepFrom = Math.max(first, last + 1 - (await this._mirror.count()));
      this.storage.setItem(this._headKey(), JSON.stringify({ first: keepFrom, last, n: this._commits + 1 })); // the commit
    } catch (err) {
      for (const key of written) {
        try {
          this.storage.removeItem(key);
        } catch {
          // nothing more can be done; the head never named it
        }
      }
      throw err;
    }
    this._commits += 1;
    if (this._shared) await this._announce(this.threadId, this._commits);
    for (let seq = first; seq < keepFrom; seq++) this.storage.removeItem(this._key(seq));
    this._firstSeq = keepFrom;
    this._lastSeq = last;
    this._lastRecord = texts[texts.length - 1];
    this.lastAppendBytes = texts.reduce((n, t) => n + t.length, 0);
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

  /** Deletes this thread's items and messages. */
  async clear() {
    await this.deleteThread(this.threadId);
  }

  /** A reference to this thread (no messages): thread.serialize() stores it
   *  and updateFromState() reconnects to the same items. */
  async serialize() {
    return { type: 'store_reference', kind: 'localstorage', key_prefix: this.keyPrefix, thread_id: this.threadId };
  }

  /** Reconnects to the thread a reference names. */
  async updateFromState(state) {
    const ref = typeof state === 'string' ? JSON.parse(state) : state;
    if (!ref || ref.type !== 'store_reference' || ref.kind !== 'localstorage') {
      throw new ThreadmemError('INVALID_FORMAT', 'not a localStorage store reference');
    }
    const threadId = checkThreadId(ref.thread_id);
    await this._queued(async () => {
      if (typeof ref.key_prefix === 'string' && KEY_PREFIX.test(ref.key_prefix)) this.keyPrefix = ref.key_prefix;
      this.threadId = threadId;
      await this._mirror.clear();
      this._reset();
    });
  }

  /** The ids of the threads under this key prefix that hold messages. */
  async listThreads() {
    return this._queued(() => {
      const ids = [];
      for (const key of this._keys()) {
        const id = key.slice(this.keyPrefix.length + 1);
        if (key.startsWith(this.keyPrefix + ':') && isThreadId(id) && !this._empty(id)) ids.push(id);
      }
      return ids.sort();
    });
  }

  _empty(threadId) {
    try {
      return this._head(threadId).last === 0;
    } catch {
      return false; // a damaged thread is listed, so that it can be deleted
    }
  }

  /** Deletes a thread's items (this store's own thread is then empty). */
  async deleteThread(threadId) {
    checkThreadId(threadId);
    await this._queued(async () => {
      const records = this._keys().filter((key) => {
        const rest = key.startsWith(this._headKey(threadId) + ':') ? key.slice(this._headKey(threadId).length + 1) : '';
        return SEQ.test(rest);
      });
      const commits = this._commitsOf(threadId);
      const n = Number.isFinite(commits) ? commits + 1 : 1;
      try {
        // An empty head, not none: the commit count goes on for other tabs.
        this.storage.setItem(this._headKey(threadId), JSON.stringify({ first: 0, last: 0, n }));
      } catch (err) {
        try {
          this.storage.removeItem(this._headKey(threadId));
        } catch {
          throw storageError(err, 'cannot delete from localStorage');
        }
      }
      if (this._shared) await this._announce(threadId, n);
      try {
        for (const key of records) this.storage.removeItem(key);
      } catch (err) {
        throw storageError(err, 'cannot delete from localStorage');
      }
      if (threadId === this.threadId) {
        await this._mirror.clear();
        this._reset();
      }
    }, threadId);
  }

  _keys() {
    const keys = [];
    try {
      for (let i = 0; i < this.storage.length; i++) {
        const key = this.storage.key(i);
        if (key !== null) keys.push(key);
      }
    } catch (err) {
      throw storageError(err, 'cannot list localStorage');
    }
    return keys;
  }

  /** Frees the mirror; later calls throw CLOSED. */
  // A commit's announcement outlives close(): another tab may not have seen
  // the commit yet, and must still wait for it. It expires by itself.
  close() {
    this._mirror.close();
  }

  get closed() {
    return this._mirror.closed;
  }
}
