// LocalStorageChatMessageStore (browsers): one item per record,
// `${keyPrefix}:${threadId}:${seq}` holding the core's record bytes in
// base64, and one head item per thread, `${keyPrefix}:${threadId}`, holding
// {"first":seq,"last":seq}. A turn writes its records, then the head: the head
// is the commit, so a turn cut short is never seen, and one that fails (a full
// quota) removes what it wrote. A turn costs its own records, never the thread.

import { ThreadmemError, storageError } from './errors.js';
import { ChatMessageStore } from './store.js';
import { encodeLog, scanRecords } from './log.js';
import { messageValues } from './message.js';
import { checkThreadId, isThreadId } from './thread-id.js';
import { newId } from './thread.js';
import { fromBase64, toBase64 } from './base64.js';

// No ':' in a prefix, so a key splits one way only.
const KEY_PREFIX = /^[A-Za-z0-9._-]{1,64}$/;
const SEQ = /^[1-9][0-9]{0,15}$/;

export class LocalStorageChatMessageStore {
  /**
   * @param {{keyPrefix?: string, threadId?: string, maxMessages?: number,
   *          storage?: Storage}} [options] `storage` defaults to localStorage
   *   (sessionStorage, or any object with getItem, setItem, removeItem, key
   *   and length, also works).
   */
  constructor({ keyPrefix = 'threadmem', threadId, maxMessages, storage } = {}) {
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'keyPrefix must be 1-64 characters of A-Z a-z 0-9 . _ -');
    }
    const store = storage ?? globalThis.localStorage;
    if (!store || typeof store.getItem !== 'function' || typeof store.setItem !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'no localStorage here: pass a storage object');
    }
    this.keyPrefix = keyPrefix;
    this.storage = store;
    this.threadId = checkThreadId(threadId ?? newId());
    this._mirror = new ChatMessageStore({ maxMessages });
    this.maxMessages = this._mirror.maxMessages;
    this._queue = Promise.resolve();
    this._reset();
  }

  _reset() {
    this._loaded = false;
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
    const run = locks ? () => locks.request(`threadmem-ls:${this.keyPrefix}:${lock}`, fn) : fn;
    const result = this._queue.then(() => {
      this._mirror._live();
      return run();
    });
    this._queue = result.catch(() => {});
    return result;
  }

  _get(key) {
    try {
      return this.storage.getItem(key);
    } catch (err) {
      throw storageError(err, 'cannot read localStorage');
    }
  }

  _head() {
    const text = this._get(this._headKey());
    if (text === null) return { first: 0, last: 0 };
    let head;
    try {
      head = JSON.parse(text);
    } catch {
      head = null;
    }
    const ok = (n) => Number.isSafeInteger(n) && n >= 0;
    if (!head || !ok(head.first) || !ok(head.last) || head.first > head.last || (head.first === 0) !== (head.last === 0)) {
      throw new ThreadmemError('CORRUPT_RECORD', `${this._where()}: the thread's head item is damaged`);
    }
    return head;
  }

  // ---- catching up with the storage (another tab may have appended) ----

  async _sync() {
    const { first, last } = this._head(); // re-read before every operation
    const lastRecord = last ? this._get(this._key(last)) : null;
    if (this._loaded && first === this._firstSeq && last === this._lastSeq && lastRecord === this._lastRecord) return;
    // Only the newer records are read when ours are still there unchanged.
    let from = first;
    let full = true;
    if (this._loaded && this._lastSeq && last > this._lastSeq && (first === this._firstSeq || this.maxMessages) &&
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
    const log = scanRecords(records, from, this._where());
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

  _read(fn) {
    return this._queued(async () => {
      try {
        await this._sync();
      } catch (err) {
        this._loaded = false;
        throw err;
      }
      return fn();
    });
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
    const texts = [];
    const canonical = [];
    list.forEach((m, i) => {
      const { bytes, messages: [c] } = encodeLog([m], seq0 + i);
      texts.push(toBase64(bytes));
      canonical.push(c);
    });
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
      this.storage.setItem(this._headKey(), JSON.stringify({ first: keepFrom, last })); // the commit
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

  /** The ids of the threads under this key prefix (those with a head item). */
  async listThreads() {
    return this._queued(() => {
      const ids = [];
      for (const key of this._keys()) {
        const id = key.slice(this.keyPrefix.length + 1);
        if (key.startsWith(this.keyPrefix + ':') && isThreadId(id)) ids.push(id);
      }
      return ids.sort();
    });
  }

  /** Deletes a thread's items (this store's own thread is then empty). */
  async deleteThread(threadId) {
    checkThreadId(threadId);
    await this._queued(async () => {
      const records = this._keys().filter((key) => {
        const rest = key.startsWith(this._headKey(threadId) + ':') ? key.slice(this._headKey(threadId).length + 1) : '';
        return SEQ.test(rest);
      });
      try {
        this.storage.removeItem(this._headKey(threadId)); // the thread is gone from here on
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
  close() {
    this._mirror.close();
  }

  get closed() {
    return this._mirror.closed;
  }
}
