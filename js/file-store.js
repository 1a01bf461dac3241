// FileChatMessageStore (Node): one append-only file of records per thread.
// The shared persistent store (js/persistent-store.js) and the core decide
// everything; this backend only moves bytes: append + fsync before
// acknowledging (cut back when it fails), a lock file between processes,
// truncation of a torn tail, compaction by write + rename.

import * as nodeFs from 'node:fs/promises';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';

import { ThreadmemError } from './errors.js';
import { PersistentChatMessageStore } from './persistent-store.js';
import { isThreadId } from './thread-id.js';
import { concatBytes } from './log.js';
import { optionsOf } from './options.js';

const SUFFIX = '.tmlog';
const WINDOWS_DEVICE = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\.|$)/;
// The longest name a thread's file may have: its lock's private twin
// ("<name>.tmlog.lock.<pid>.<uuid>", a pid of up to 10 digits) must fit in
// the 255 characters file systems allow.
const MAX_NAME = 255 - `${SUFFIX}.lock.${'9'.repeat(10)}.${randomUUID()}`.length;
const LOCK_WAIT_MS = 10_000; // give up on a lock after this long
const LOCK_STALE_MS = 30_000; // a lock file older than this is from a dead writer
// The bytes of a mark's end that are compared: more than a record's message
// id and time (or its cipher tag), so that no other record ends the same way.
const TAIL_BYTES = 64;

// What the store uses of node:fs/promises.
const FS_FUNCTIONS = ['open', 'readdir', 'rename', 'stat', 'unlink', 'mkdir', 'readFile', 'writeFile', 'link'];

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const isDirectory = (d) => typeof d === 'string' && d !== '' && !d.includes('\0');

export class FileChatMessageStore extends PersistentChatMessageStore {
  /**
   * @param {{directory: string, threadId?: string, maxMessages?: number, maxTokens?: number,
   *          encoding?: string, fs?: object,
   *          encryption?: {key: CryptoKey|string}}} options `fs` is the file system
   *   the store works through: node:fs/promises by default, or an object with
   *   the same functions (an instrumented or in-memory file system).
   */
  constructor(options) {
    const { directory, threadId, maxMessages, maxTokens, encoding, fs = nodeFs, encryption } =
      optionsOf(options, 'FileChatMessageStore');
    const backend = new FileBackend(directory, fs);
    const id = threadId ?? randomUUID();
    if (isThreadId(id)) backend.path(id); // too long a file name fails before anything is made
    super(backend, { threadId: id, maxMessages, maxTokens, encoding, encryption });
  }

  get directory() {
    return this._backend.directory;
  }

  get path() {
    return this._backend.path(this.threadId);
  }
}

// The mark of a file is where the last read or write left it: its size, its
// inode and the bytes that end there. A file that still has them and grew
// holds new records after them; any other (compacted, or deleted and written
// again, even to the same size) is read whole.
class FileBackend {
  constructor(directory, fs) {
    if (!isDirectory(directory)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'directory must be a non-empty string without NUL');
    }
    const missing = FS_FUNCTIONS.find((name) => typeof fs?.[name] !== 'function');
    if (missing) throw new ThreadmemError('INVALID_ARGUMENT', `fs must have the node:fs/promises function ${missing}`);
    this.fs = fs;
    this.directory = directory;
    this.kind = 'file';
    this.inPlace = false;
    this._queue = Promise.resolve();
  }

  path(threadId) {
    const name = fileName(threadId);
    if (name.length > MAX_NAME) {
      throw new ThreadmemError(
        'INVALID_ARGUMENT',
        `threadId is too long for a file name: each capital takes two characters, and ${MAX_NAME} is the most`,
      );
    }
    return join(this.directory, name + SUFFIX);
  }

  where(threadId) {
    return this.path(threadId);
  }

  reference() {
    return { directory: this.directory };
  }

  adopt(ref) {
    const directory = ref.directory ?? this.directory;
    if (!isDirectory(directory)) {
      throw new ThreadmemError('INVALID_FORMAT', 'the reference has a directory no store can have');
    }
    this.path(ref.thread_id); // an id too long for a file name fails before the switch
    this.directory = directory;
  }

  // ---- the lock between processes: a file created exclusively ----
  //
  // It holds the writer's pid from the moment it exists. A writer killed
  // while holding it (SIGKILL mid-append) leaves it behind: a waiter that finds its pid dead (or the
  // file older than LOCK_STALE_MS) breaks it, under a second exclusive
  // ".break" file so that two waiters never both break, and never break a
  // lock that was taken again meanwhile. Reads take it too: a read may cut a
  // torn tail.
  async lock(threadId, fn) {
    const lock = this.path(threadId) + '.lock';
    await this.fs.mkdir(this.directory, { recursive: true });
    const start = Date.now();
    for (let wait = 2; ; wait = Math.min(wait * 2, 50)) {
      try {
        await takeLock(this.fs, lock);
        break;
      } catch (err) {
        if (err.code !== 'EEXIST') throw err;
        await breakIfStale(this.fs, lock);
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
      await this.fs.unlink(lock).catch(() => this.fs.unlink(lock)).catch(() => {});
    }
  }

  async read(threadId, since) {
    const path = this.path(threadId);
    const now = await this._stat(path);
    const seen = since?.mark;
    if (seen && (await this._continues(path, now, seen))) {
      if (now.size === seen.size) return { unchanged: true };
      const bytes = await readRange(this.fs, path, seen.size, now.size);
      return { bytes, offset: seen.size, mark: markAfter(seen, now.ino, bytes) };
    }
    const bytes = await this.fs.readFile(path).catch((e) => (e.code === 'ENOENT' ? new Uint8Array(0) : Promise.reject(e)));
    return { bytes, offset: 0, full: true, mark: markAfter(EMPTY_MARK, now.ino, bytes) };
  }

  // { size, ino } of the thread's file; size 0 and no inode when there is none.
  async _stat(path) {
    try {
      const s = await this.fs.stat(path);
      return { size: s.size, ino: s.ino };
    } catch (err) {
      if (err.code !== 'ENOENT') throw err;
      return { size: 0, ino: null };
    }
  }

  // Whether the file is the one `seen` marked, grown or not.
  async _continues(path, now, seen) {
    if (now.ino !== seen.ino || now.size < seen.size) return false;
    if (!seen.size) return true;
    const tail = await readRange(this.fs, path, seen.size - seen.tail.length, seen.size);
    return sameBytes(tail, seen.tail);
  }

  // The only write of a turn: append, then fsync before acknowledging; a
  // failure cuts the file back, so no half turn stays behind.
  async append(threadId, records, { since }) {
    const bytes = records.length === 1 ? records[0] : concatBytes(records);
    let ino;
    try {
      ino = await this.appendBytes(threadId, bytes);
    } catch (err) {
      await truncateTo(this.fs, this.path(threadId), since.mark.size).catch(() => {});
      throw err;
    }
    return markAfter(since.mark, ino, bytes);
  }

  // Appends and syncs; resolves to the file's inode, taken before writing
  // so that nothing can fail once the bytes are stored.
  async appendBytes(threadId, bytes) {
    const handle = await this.fs.open(this.path(threadId), 'a');
    try {
      const { ino } = await handle.stat();
      await handle.write(bytes, 0, bytes.length, null);
      await handle.sync();
      return ino;
    } finally {
      await handle.close();
    }
  }

  // Compaction: a new file written and synced beside the old one, then
  // renamed over it (atomic), then the directory synced.
  async rewrite(threadId, records) {
    const bytes = concatBytes(records);
    const path = this.path(threadId);
    const tmp = `${path}.${process.pid}.tmp`;
    let ino; // the new file's, which the rename keeps
    try {
      const handle = await this.fs.open(tmp, 'w');
      try {
        ({ ino } = await handle.stat());
        await handle.write(bytes, 0, bytes.length, 0);
        await handle.sync();
      } finally {
        await handle.close();
      }
      await this.fs.rename(tmp, path);
    } catch (err) {
      await this.fs.unlink(tmp).catch(() => {});
      throw err;
    }
    await syncDir(this.fs, this.directory);
    return markAfter(EMPTY_MARK, ino, bytes);
  }

  async truncate(threadId, length) {
    const path = this.path(threadId);
    await truncateTo(this.fs, path, length);
    const tail = await readRange(this.fs, path, Math.max(0, length - TAIL_BYTES), length);
    return { size: length, ino: (await this._stat(path)).ino, tail };
  }

  async remove(threadId) {
    await this.fs.unlink(this.path(threadId)).catch((err) => {
      if (err.code !== 'ENOENT') throw err;
    });
  }

  async list() {
    let names;
    try {
      names = await this.fs.readdir(this.directory);
    } catch (err) {
      if (err.code === 'ENOENT') return [];
      throw err;
    }
    return names
      .filter((n) => n.endsWith(SUFFIX))
      .map((n) => threadIdOf(n.slice(0, -SUFFIX.length)))
      .filter((id) => id !== null);
  }
}

// A thread's file name: its id with each capital written as "~" and the
// small letter, so that ids differing only in case ("Alice", "alice") never
// share a file where names ignore case (macOS and Windows by default); and
// "~_" before a name Windows keeps for a device whatever follows its first
// dot ("con", "nul.x", "com1"), which would open the device, not a file.
function fileName(threadId) {
  const name = threadId.replace(/[A-Z]/g, (c) => `~${c.toLowerCase()}`);
  return WINDOWS_DEVICE.test(name) ? `~_${name}` : name;
}

// The thread id a file name stands for, or null for a name no id gives.
function threadIdOf(name) {
  const id = name.replace(/^~_/, '').replace(/~([a-z])/g, (_, c) => c.toUpperCase());
  return isThreadId(id) && fileName(id) === name ? id : null;
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

const EMPTY_MARK = { size: 0, ino: null, tail: new Uint8Array(0) };

// The mark once `bytes` follow what `mark` marked, in the file of inode `ino`.
function markAfter(mark, ino, bytes) {
  const tail =
    bytes.length >= TAIL_BYTES ? bytes.slice(-TAIL_BYTES) : concatBytes([mark.tail, bytes]).slice(-TAIL_BYTES);
  return { size: mark.size + bytes.length, ino, tail };
}

function sameBytes(a, b) {
  return a.length === b.length && a.every((v, i) => v === b[i]);
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


