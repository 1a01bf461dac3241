// FileChatMessageStore (Node): one append-only file of records per thread.
// The core encodes, stamps and reads the records (js/log.js); this adapter
// only moves bytes: append + fsync before acknowledging, a lock file between
// processes, truncation of a torn tail, compaction by write + rename.

import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

import { ThreadmemError, wrapError } from './errors.js';
import { ChatMessageStore } from './store.js';
import { RecordCodec } from './record-codec.js';
import { checkThreadId, isThreadId } from './thread-id.js';

const SUFFIX = '.tmlog';
const LOCK_WAIT_MS = 10_000; // give up on a lock after this long
const LOCK_STALE_MS = 30_000; // a lock file older than this is from a dead writer

// What the store uses of node:fs/promises.
const FS_FUNCTIONS = ['open', 'readdir', 'rename', 'stat', 'unlink', 'mkdir', 'readFile', 'writeFile', 'link'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

export class FileChatMessageStore {
  /**
   * @param {{directory: string, threadId?: string, maxMessages?: number, maxTokens?: number,
   *          encoding?: string, fs?: object,
   *          encryption?: {key: CryptoKey|string}}} options `fs` is the file system
   *   the store works through: node:fs/promises by default, or an object with
   *   the same functions (an instrumented or in-memory file system).
   */
  constructor({ directory, threadId, maxMessages, maxTokens, encoding, fs = nodeFs, encryption } = {}) {
    if (typeof directory !== 'string' || directory === '') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'directory must be a non-empty string');
    }
    const missing = FS_FUNCTIONS.find((name) => typeof fs?.[name] !== 'function');
    if (missing) throw new ThreadmemError('INVALID_ARGUMENT', `fs must have the node:fs/promises function ${missing}`);
    this._fs = fs;
    this.directory = directory;
    this.threadId = checkThreadId(threadId ?? randomUUID());
    // The core decides what the limits evict; storage follows its choice.
    this._mirror = new ChatMessageStore({ maxMessages, maxTokens, encoding });
    this.maxMessages = this._mirror.maxMessages;
    this.maxTokens = this._mirror.maxTokens;
    this._codec = new RecordCodec(encryption);
    this._queue = Promise.resolve();
    this._reset();
    /** What the last load repaired: { tail: 'torn', bytes } or null. */
    this.lastRecovery = null;
  }

  _reset() {
    this._loaded = false;
    this._size = 0; // bytes of the file already mirrored
    this._firstSeq = 1; // seq of the file's first record
    this._nextSeq = 1; // seq the next record gets
  }

  get path() {
    return join(this.directory, this.threadId + SUFFIX);
  }

  // ---- the lock between processes: a file created exclusively ----
  //
  // It holds the writer's pid from the moment it exists. A writer killed
  // while holding it (SIGKILL mid-append) leaves it behind: a waiter that finds its pid dead (or the
  // file older than LOCK_STALE_MS) breaks it, under a second exclusive
  // ".break" file so that two waiters never both break, and never break a
  // lock that was taken again meanwhile.

  // Calls on one instance take the lock in the order they were made (a
  // waiter's backoff alone would let a later turn overtake an earlier one).
  _locked(fn) {
    const result = this._queue.then(() => this._lockedNow(fn));
    this._queue = result.catch(() => {});
    return result;
  }

  async _lockedNow(fn) {
    const lock = this.path + '.lock';
    try {
      await this._fs.mkdir(this.directory, { recursive: true });
    } catch (err) {
      throw wrapError('STORAGE_ERROR', 'cannot create the directory', err);
    }
    const start = Date.now();
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        await takeLock(this._fs, lock);
        break;
      } catch (err) {
        if (err.code !== 'EEXIST') throw wrapError('STORAGE_ERROR', 'cannot lock the thread file', err);
        await breakIfStale(this._fs, lock);
        if (Date.now() - start > LOCK_WAIT_MS) {
          throw new ThreadmemError('LOCK_TIMEOUT', `the thread file ${lock} stayed locked`);
        }
        await sleep(wait);
      }
    }
    try {
      return await fn();
    } finally {
      // Once more if it fails: a lock left behind stalls every writer until
      // it turns stale.
      await this._fs.unlink(lock).catch(() => this._fs.unlink(lock)).catch(() => {});
    }
  }

  // ---- catching up with the file (another process may have appended) ----

  async _sync() {
    let size;
    try {
      size = (await this._fs.stat(this.path)).size;
    } catch (err) {
      if (err.code !== 'ENOENT') throw wrapError('STORAGE_ERROR', 'cannot read the thread file', err);
      size = 0;
    }
    if (this._loaded && size === this._size) return;
    const full = !this._loaded || size < this._size; // new, compacted or cleared elsewhere
    const from = full ? 0 : this._size;
    let bytes;
    try {
      bytes = full ? await this._fs.readFile(this.path).catch((e) => (e.code === 'ENOENT' ? new Uint8Array(0) : Promise.reject(e)))
        : await readRange(this._fs, this.path, from, size);
    } catch (err) {
      throw wrapError('STORAGE_ERROR', 'cannot read the thread file', err);
    }
    const log = await this._codec.read(bytes, this.threadId);
    if (log.tail === 'corrupt') {
      throw new ThreadmemError(
        'CORRUPT_RECORD',
        `${this.path}: the record at byte ${from + log.valid_bytes} fails its integrity check`,
      );
    }
    if (!full && log.count && log.first_seq !== this._nextSeq) {
      throw new ThreadmemError('CORRUPT_RECORD', `${this.path}: records out of sequence`);
    }
    if (full) {
      await this._mirror.updateFromState({ type: 'chat_message_store_state', messages: log.messages });
      this._firstSeq = log.count ? log.first_seq : 1;
      this._nextSeq = log.count ? log.last_seq + 1 : 1;
    } else if (log.count) {
      this._mirror._add(log.messages);
      this._nextSeq = log.last_seq + 1;
    }
    this._size = from + log.valid_bytes;
    this._loaded = true;
    if (log.tail === 'torn') {
      // An append that never finished was never acknowledged: cut it off.
      await truncateTo(this._fs, this.path, this._size);
      this.lastRecovery = { tail: 'torn', bytes: log.tail_bytes };
    }
  }

  // ---- ChatMessageStore ----

  /** Appends messages, all or nothing: written and synced to disk before it
   *  resolves; on failure neither the file nor this store changes. */
  async addMessages(messages) {
    const list = Array.isArray(messages) ? messages : [messages];
    await this._locked(async () => {
      await this._sync();
      const { bytes, messages: canonical } = await this._codec.encode(list.map(toPlain), this._nextSeq, this.threadId);
      const before = this._size;
      try {
        await this._appendBytes(bytes);
      } catch (err) {
        await truncateTo(this._fs, this.path, before).catch(() => {});
        throw wrapError('STORAGE_ERROR', 'cannot append to the thread file', err);
      }
      this._mirror._add(canonical);
      this._size = before + bytes.length;
      this._nextSeq += canonical.length;
      this.lastAppendBytes = bytes.length;
      // The turn is on disk and acknowledged; a compaction that fails leaves
      // the longer file, and the next append tries again.
      await this._maybeCompact().catch(() => {});
    });
  }

  // The only write of a turn: append, then fsync before acknowledging.
  async _appendBytes(bytes) {
    const handle = await this._fs.open(this.path, 'a');
    try {
      await handle.write(bytes, 0, bytes.length, null);
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  // With a limit, the file is rewritten (atomically) once it holds twice
  // what the core keeps: appends stay O(turn), the file stays bounded.
  async _maybeCompact() {
    if (!this.maxMessages && !this.maxTokens) return;
    if (this._nextSeq - this._firstSeq <= 2 * (await this._mirror.count())) return;
    const kept = await this._mirror.listMessages();
    const first = this._nextSeq - kept.length;
    const { bytes } = await this._codec.encode(kept.map(toPlain), first, this.threadId);
    const tmp = `${this.path}.${process.pid}.tmp`;
    try {
      const handle = await this._fs.open(tmp, 'w');
      try {
        await handle.write(bytes, 0, bytes.length, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this._fs.rename(tmp, this.path);
    } catch (err) {
      await this._fs.unlink(tmp).catch(() => {});
      throw err;
    }
    await syncDir(this._fs, this.directory);
    this._firstSeq = first;
    this._size = bytes.length;
  }

  async listMessages() {
    await this._locked(() => this._sync());
    return this._mirror.listMessages();
  }

  async getHistory(query) {
    await this._locked(() => this._sync());
    return this._mirror.getHistory(query);
  }

  async count() {
    await this._locked(() => this._sync());
    return this._mirror.count();
  }

  /** Deletes this thread's file and messages. */
  async clear() {
    await this.deleteThread(this.threadId);
  }

  /** A reference to this thread (no messages): thread.serialize() stores it
   *  and updateFromState() reconnects to the same file. */
  async serialize() {
    return { type: 'store_reference', kind: 'file', directory: this.directory, thread_id: this.threadId };
  }

  /** Reconnects to the thread a reference names. */
  async updateFromState(state) {
    const ref = typeof state === 'string' ? JSON.parse(state) : state;
    if (!ref || ref.type !== 'store_reference' || ref.kind !== 'file') {
      throw new ThreadmemError('INVALID_FORMAT', 'not a file store reference');
    }
    this.threadId = checkThreadId(ref.thread_id);
    if (typeof ref.directory === 'string' && ref.directory) this.directory = ref.directory;
    await this._mirror.clear();
    this._reset();
  }

  /** The ids of the threads stored in the directory. */
  async listThreads() {
    let names;
    try {
      names = await this._fs.readdir(this.directory);
    } catch (err) {
      if (err.code === 'ENOENT') return [];
      throw wrapError('STORAGE_ERROR', 'cannot list the directory', err);
    }
    return names
      .filter((n) => n.endsWith(SUFFIX))
      .map((n) => n.slice(0, -SUFFIX.length))
      .filter(isThreadId)
      .sort();
  }

  /** Deletes a thread's file (this store's own thread is then empty). */
  async deleteThread(threadId) {
    checkThreadId(threadId);
    const target = join(this.directory, threadId + SUFFIX);
    const run = async () => {
      await this._fs.unlink(target).catch((err) => {
        if (err.code !== 'ENOENT') throw wrapError('STORAGE_ERROR', 'cannot delete the thread file', err);
      });
      if (threadId === this.threadId) {
        await this._mirror.clear();
        this._reset();
        this._loaded = true;
      }
    };
    if (threadId === this.threadId) await this._locked(run);
    else await run();
  }

  close() {
    this._mirror.close();
  }

  get closed() {
    return this._mirror.closed;
  }
}

// Takes the lock or fails with EEXIST. The lock appears with its owner's pid
// already in it (written to a private file, then hard-linked into place), so
// a writer killed at any moment never leaves a lock nobody can attribute.
async function takeLock(fs, lock) {
  const mine = `${lock}.${process.pid}.${randomUUID()}`;
  try {
    await fs.writeFile(mine, String(process.pid), { flag: 'wx' });
    await fs.link(mine, lock);
  } finally {
    await fs.unlink(mine).catch(() => {});
  }
}

// The lock's owner, or null when it cannot be told (being written, gone).
async function lockOwner(fs, lock) {
  try {
    const [text, s] = await Promise.all([fs.readFile(lock, 'utf8'), fs.stat(lock)]);
    const pid = /^[0-9]+$/.test(text) ? Number(text) : null;
    return { pid, ino: s.ino, age: Date.now() - s.mtimeMs };
  } catch {
    return null;
  }
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

async function breakIfStale(fs, lock) {
  const owner = await lockOwner(fs, lock);
  if (!owner) return;
  const stale = (owner.pid !== null && !alive(owner.pid)) || owner.age > LOCK_STALE_MS;
  if (!stale) return;
  const breaker = lock + '.break';
  let handle;
  try {
    handle = await fs.open(breaker, 'wx');
  } catch (err) {
    if (err.code === 'EEXIST') {
      const s = await fs.stat(breaker).catch(() => null);
      if (s && Date.now() - s.mtimeMs > LOCK_STALE_MS) await fs.unlink(breaker).catch(() => {});
    }
    return;
  }
  try {
    await handle.close();
    const again = await lockOwner(fs, lock);
    // Only the very lock found stale (same file, same owner) is removed.
    if (again && again.ino === owner.ino && again.pid === owner.pid) await fs.unlink(lock).catch(() => {});
  } finally {
    await fs.unlink(breaker).catch(() => {});
  }
}

function toPlain(m) {
  return typeof m?.toJSON === 'function' ? m.toJSON() : m;
}

async function readRange(fs, path, from, to) {
  const handle = await fs.open(path, 'r');
  try {
    const buf = new Uint8Array(to - from);
    let off = 0;
    while (off < buf.length) {
      const { bytesRead } = await handle.read(buf, off, buf.length - off, from + off);
      if (bytesRead === 0) break;
      off += bytesRead;
    }
    return buf.subarray(0, off);
  } finally {
    await handle.close();
  }
}

async function truncateTo(fs, path, size) {
  const handle = await fs.open(path, 'r+');
  try {
    await handle.truncate(size);
    await handle.sync();
  } finally {
    await handle.close();
  }
}

async function syncDir(fs, dir) {
  try {
    const handle = await fs.open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // Some platforms cannot fsync a directory; the rename is still atomic.
  }
}


