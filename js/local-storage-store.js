// LocalStorageChatMessageStore (browsers): the shared persistent store
// (js/persistent-store.js) over localStorage. The store and the core decide
// everything; this backend only reads and writes items: one item per record,
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

import { ThreadmemError } from './errors.js';
import { PersistentChatMessageStore, readStart } from './persistent-store.js';
import { isThreadId } from './thread-id.js';
import { fromBase64, toBase64 } from './base64.js';
import { optionsOf } from './options.js';

// No ':' in a prefix, so a key splits one way only.
const KEY_PREFIX = /^[A-Za-z0-9._-]{1,64}$/;
const SEQ = /^[1-9][0-9]{0,15}$/;
const ANNOUNCE_MS = 5000; // how long a commit's lock stays held
const CATCH_UP_MS = 5000; // how long a writer waits for another tab's commit to arrive
// The newest commit count each thread's commit lock announced from this tab
// (every store of the tab shares its copy of localStorage).
const committedHere = new Map();

export class LocalStorageChatMessageStore extends PersistentChatMessageStore {
  /**
   * @param {{keyPrefix?: string, threadId?: string, maxMessages?: number, maxTokens?: number, encoding?: string,
   *          storage?: Storage, encryption?: {key: CryptoKey|string}}} [options] `storage` defaults to localStorage
   *   (sessionStorage, or any object with getItem, setItem, removeItem, key
   *   and length, also works).
   */
  constructor(options) {
    const { keyPrefix = 'threadmem', threadId, maxMessages, maxTokens, encoding, storage, encryption } =
      optionsOf(options, 'LocalStorageChatMessageStore');
    super(new LocalStorageBackend(keyPrefix, storage), { threadId, maxMessages, maxTokens, encoding, encryption });
  }

  get keyPrefix() {
    return this._backend.keyPrefix;
  }

  get storage() {
    return this._backend.storage;
  }
}

// The mark of a thread is its head and its last record's text: a thread
// deleted and refilled elsewhere differs there.
class LocalStorageBackend {
  constructor(keyPrefix, storage) {
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'keyPrefix must be 1-64 characters of A-Z a-z 0-9 . _ -');
    }
    // Reading localStorage itself throws where the page may not use it (a
    // sandboxed frame, site data blocked).
    let origin = null;
    try {
      origin = globalThis.localStorage ?? null;
    } catch (err) {
      if (!storage) {
        throw new ThreadmemError('STORAGE_ERROR', 'this page may not use localStorage: pass a storage object', { cause: err });
      }
    }
    const store = storage ?? origin;
    if (!store) throw new ThreadmemError('INVALID_ARGUMENT', 'no localStorage here: pass a storage object');
    const missing = ['getItem', 'setItem', 'removeItem', 'key'].find((name) => typeof store[name] !== 'function');
    if (missing || typeof store.length !== 'number') {
      throw new ThreadmemError('INVALID_ARGUMENT', `storage must be a Storage: it has no ${missing ?? 'length'}`);
    }
    this.kind = 'localstorage';
    this.inPlace = true;
    this.keyPrefix = keyPrefix;
    this.storage = store;
    // Only the origin's localStorage is seen by other tabs, each through its
    // own copy that lags: commits are announced and awaited for it alone.
    this._shared = store === origin;
    this._announced = new Map(); // threadId -> { release, timer } of its newest commit lock
  }

  _headKey(threadId) {
    return `${this.keyPrefix}:${threadId}`;
  }

  _key(threadId, seq) {
    return `${this.keyPrefix}:${threadId}:${seq}`;
  }

  where(threadId) {
    return `localStorage ${this._headKey(threadId)}`;
  }

  reference() {
    return { key_prefix: this.keyPrefix };
  }

  adopt(ref) {
    const keyPrefix = ref.key_prefix ?? this.keyPrefix;
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
      throw new ThreadmemError('INVALID_FORMAT', 'the reference has a key_prefix no store can have');
    }
    this.keyPrefix = keyPrefix;
  }

  // Every operation on a thread takes its Web Lock (localStorage has no
  // transactions, so two tabs must not write one thread at once), reads too,
  // so that they wait for a turn another tab has committed but whose items
  // have not reached this tab yet. Without Web Locks (a page that is not a
  // secure context) tabs could overwrite each other's turns: the origin's
  // localStorage is then read, never written.
  lock(threadId, fn, { write }) {
    const locks = globalThis.navigator?.locks;
    if (!locks && this._shared && write) {
      throw new ThreadmemError(
        'STORAGE_ERROR',
        `${this.where(threadId)}: writing needs Web Locks, which this page lacks (serve it over https or from localhost, or use IndexedDBChatMessageStore)`,
      );
    }
    if (!locks) return fn();
    return locks.request(`threadmem-ls:${this.keyPrefix}:${threadId}`, async () => {
      if (this._shared) await this._catchUp(locks, threadId);
      return fn();
    });
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
    // The newest commit is this tab's: its copy has it already (or lost it
    // since to clear(), and waiting could not bring it back).
    if (want === committedHere.get(name)) return;
    const start = Date.now();
    while (this._commitsOf(threadId) < want) {
      if (Date.now() - start > CATCH_UP_MS) {
        throw new ThreadmemError('LOCK_TIMEOUT', `${this.where(threadId)}: another tab's turn has not reached this tab`);
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
  // lock must outlive this grant). The announcement outlives close(): another
  // tab may not have seen the commit yet, and must still wait for it.
  async _announce(threadId, n) {
    const locks = globalThis.navigator?.locks;
    if (!this._shared || !locks) return;
    committedHere.set(this._commitLock(threadId), n);
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

  _head(threadId) {
    const text = this.storage.getItem(this._headKey(threadId));
    if (text === null) return { first: 0, last: 0, n: 0 };
    let head;
    try {
      head = JSON.parse(text);
    } catch {
      head = null;
    }
    const ok = (n) => Number.isSafeInteger(n) && n >= 0;
    if (!head || !ok(head.first) || !ok(head.last) || head.first > head.last || (head.first === 0) !== (head.last === 0) || !ok(head.n ?? 0)) {
      throw new ThreadmemError('CORRUPT_RECORD', `${this.where(threadId)}: the thread's head item is damaged`);
    }
    return { first: head.first, last: head.last, n: head.n ?? 0 };
  }

  async read(threadId, since) {
    const head = this._head(threadId); // re-read before every operation
    const mark = { ...head, lastRecord: head.last ? this.storage.getItem(this._key(threadId, head.last)) : null };
    const seen = since?.mark;
    if (seen && seen.first === mark.first && seen.last === mark.last && seen.lastRecord === mark.lastRecord) {
      return { unchanged: true, mark };
    }
    const lastUnchanged = () => this.storage.getItem(this._key(threadId, seen.last)) === seen.lastRecord;
    const from = await readStart(head, seen, lastUnchanged);
    const records = [];
    for (let seq = from; head.last && seq <= head.last; seq++) {
      const text = seq === head.last ? mark.lastRecord : this.storage.getItem(this._key(threadId, seq));
      let bytes = null;
      try {
        if (text !== null) bytes = fromBase64(text);
      } catch {
        bytes = null;
      }
      if (!bytes) throw new ThreadmemError('CORRUPT_RECORD', `${this.where(threadId)}: record ${seq} is missing or not base64`);
      records.push(bytes);
    }
    return { records, firstSeq: from, full: from === head.first, mark };
  }

  // The turn's items first, then the head, which is the commit: a turn cut
  // short is never seen, and one that fails (a full quota) removes what it
  // wrote. Items the core evicted go once the commit is announced.
  async append(threadId, records, { firstSeq, dropBefore, heldFirst, firstAfter, since }) {
    const head = this._head(threadId);
    if (head.n !== since.mark.n || head.last !== since.mark.last) return false; // changed under the lock
    const texts = records.map(toBase64);
    const last = firstSeq + records.length - 1;
    const written = [];
    try {
      for (let i = 0; i < texts.length; i++) {
        // Written before the head names it, so none is visible yet; an item
        // left here by a turn cut short was never acknowledged and is replaced.
        written.push(this._key(threadId, firstSeq + i));
        this.storage.setItem(this._key(threadId, firstSeq + i), texts[i]);
      }
      this.storage.setItem(this._headKey(threadId), JSON.stringify({ first: firstAfter, last, n: head.n + 1 }));
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
    await this._announce(threadId, head.n + 1);
    try {
      for (let seq = heldFirst; dropBefore && seq < dropBefore; seq++) this.storage.removeItem(this._key(threadId, seq));
    } catch {
      // The turn is committed; an item the head no longer names is never read.
    }
    return { first: firstAfter, last, n: head.n + 1, lastRecord: texts[texts.length - 1] };
  }

  async remove(threadId) {
    const prefix = this._headKey(threadId) + ':';
    const records = this._keys().filter((key) => key.startsWith(prefix) && SEQ.test(key.slice(prefix.length)));
    const commits = this._commitsOf(threadId);
    const n = Number.isFinite(commits) ? commits + 1 : 1;
    try {
      // An empty head, not none: the commit count goes on for other tabs.
      this.storage.setItem(this._headKey(threadId), JSON.stringify({ first: 0, last: 0, n }));
    } catch (err) {
      try {
        this.storage.removeItem(this._headKey(threadId));
      } catch {
        throw err;
      }
    }
    await this._announce(threadId, n);
    try {
      for (const key of records) this.storage.removeItem(key);
    } catch {
      // The thread is deleted: an item the empty head no longer names is never read.
    }
  }

  /** The ids of the threads under this key prefix that hold messages. */
  list() {
    const ids = [];
    for (const key of this._keys()) {
      const id = key.slice(this.keyPrefix.length + 1);
      if (key.startsWith(this.keyPrefix + ':') && isThreadId(id) && !this._empty(id)) ids.push(id);
    }
    return ids;
  }

  _empty(threadId) {
    try {
      return this._head(threadId).last === 0;
    } catch {
      return false; // a damaged thread is listed, so that it can be deleted
    }
  }

  _keys() {
    const keys = [];
    for (let i = 0; i < this.storage.length; i++) {
      const key = this.storage.key(i);
      if (key !== null) keys.push(key);
    }
    return keys;
  }
}
