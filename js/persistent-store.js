// PersistentChatMessageStore: the ChatMessageStore API, once, for every
// persistent backend (file, Redis, IndexedDB, localStorage, or your own).
//
// A thread is kept as records numbered by seq (the core's record layout,
// js/record-codec.js, sealed with `encryption`). The messages the store
// keeps are mirrored in an in-memory ChatMessageStore, whose limits
// (maxMessages, maxTokens) decide eviction in the core. The core's journal
// (js/journal.js) decides what each turn appends, drops, rewrites and
// expires, and whether what a read returns may be believed (in sequence,
// torn tail cut, else CORRUPT_RECORD). This class carries those decisions out
// through a backend, which only moves records:
//
// The backend interface (every method may be async; seqs are integers >= 1):
//
//   kind                 the `kind` of serialize()'s reference ('file', ...)
//   inPlace              true: append() drops the records below `dropBefore`
//                        with the turn (a list, keyed records); false: storage
//                        can only append and rewrite (a file), and the store
//                        calls rewrite() now and then to compact it
//   reference()          the fields of serialize()'s reference besides type,
//                        kind and thread_id, naming where threads live (never a
//                        secret); adopt(ref) takes them back from a reference
//   where(threadId)      a short text naming the thread's storage, for errors
//   lock(threadId, fn, { write })
//                        runs fn() with the thread guarded against other
//                        writers (processes, tabs) and returns its result;
//                        `write` says whether fn writes. A backend whose
//                        append() detects conflicts may just call fn()
//   read(threadId, since)
//                        what storage holds. `since` is null (read it all) or
//                        { mark, nextSeq }: the mark the last read, append or
//                        rewrite returned and the seq the store expects next.
//                        Resolves to { unchanged: true } when nothing changed
//                        since; else to { records, firstSeq, mark } (records
//                        kept one per entry: the Uint8Arrays in seq order, the
//                        seq of the first by its key, or 0 when entries have
//                        no key, as in a list) or { bytes, offset, mark }
//                        (a byte stream, such as a file, read from byte
//                        `offset`), either with `full: true` when it is the
//                        whole thread (since was null, or storage no longer
//                        continues what `since` saw) and else from seq
//                        `since.nextSeq` on (earlier records may come first;
//                        they are skipped).
//   append(threadId, records, { firstSeq, dropBefore, heldFirst, firstAfter, ttlSeconds, since })
//                        one atomic write: the records (Uint8Arrays numbered
//                        from firstSeq), the drop of seqs heldFirst..dropBefore-1
//                        (dropBefore 0: none; firstAfter is then the oldest seq
//                        held) and the thread's time to live (0: none). It
//                        writes all of it or nothing, and resolves to the new
//                        mark; or to false, writing nothing, when storage
//                        changed since `since.mark` (another writer was first:
//                        the store reads again and retries with new seqs).
//   rewrite(threadId, records, firstSeq)    (when !inPlace) replaces the thread
//                        atomically with these records; resolves to the mark
//   truncate(threadId, length)    (streams) cuts the bytes from `length` on (a
//                        torn write that was never acknowledged); the mark
//   remove(threadId)     deletes a thread (none stored is no error)
//   list()               the ids of the threads stored
//   close()              optional: releases connections
//
// Errors a backend throws reach the caller as ThreadmemError STORAGE_ERROR
// (QUOTA_EXCEEDED for a full browser quota) with the original as `cause`; a
// ThreadmemError it throws (LOCK_TIMEOUT) passes as is.

import { ThreadmemError, storageError } from './errors.js';
import { ChatMessageStore } from './store.js';
import { RecordCodec } from './record-codec.js';
import { concatBytes } from './log.js';
import { judgeRead, planTurn } from './journal.js';
import { messageValues } from './message.js';
import { checkThreadId } from './thread-id.js';
import { newId } from './thread.js';
import { optionsOf } from './options.js';

const MAX_CONFLICT_RETRIES = 20;

export class PersistentChatMessageStore {
  /**
   * @param {object} backend an object implementing the interface above
   * @param {{threadId?: string, maxMessages?: number, maxTokens?: number, encoding?: string,
   *          ttlSeconds?: number, encryption?: {key: CryptoKey|string}}} [options]
   */
  constructor(backend, options) {
    const { threadId, maxMessages, maxTokens, encoding, ttlSeconds, encryption } =
      optionsOf(options, 'PersistentChatMessageStore');
    const missing = ['lock', 'read', 'append', 'remove', 'list', 'reference', 'adopt'].find(
      (name) => typeof backend?.[name] !== 'function',
    );
    if (missing || typeof backend.kind !== 'string') {
      throw new ThreadmemError('INVALID_ARGUMENT', `a persistent backend needs kind and ${missing ?? 'kind'}()`);
    }
    if (!backend.inPlace && typeof backend.rewrite !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'a backend that does not drop in place needs rewrite()');
    }
    if (ttlSeconds !== undefined && (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'ttlSeconds must be a positive integer');
    }
    this._backend = backend;
    this.threadId = checkThreadId(threadId ?? newId());
    this.ttlSeconds = ttlSeconds;
    // The core decides what the limits evict; storage follows its choice.
    this._mirror = new ChatMessageStore({ maxMessages, maxTokens, encoding });
    this.maxMessages = this._mirror.maxMessages;
    this.maxTokens = this._mirror.maxTokens;
    try {
      this._codec = new RecordCodec(encryption);
    } catch (err) {
      this._mirror.close();
      throw err;
    }
    this._queue = Promise.resolve();
    this._reset();
    /** What the last load of the whole thread repaired: { tail: 'torn', bytes } or null. */
    this.lastRecovery = null;
    /** Bytes the last turn wrote (its records). */
    this.lastAppendBytes = undefined;
  }

  _reset() {
    this._loaded = false; // the mirror holds what storage held at _mark
    this._mark = null;
    this._firstSeq = 0; // the oldest seq storage holds (0: none)
    this._nextSeq = 1; // the seq the next record gets
  }

  // Names the thread in an error: what the backend's where() says, unless
  // it says nothing usable (an error must not fail for its own message).
  _where(threadId = this.threadId) {
    try {
      const where = this._backend.where?.(threadId);
      if (typeof where === 'string') return where;
    } catch {
      // the plain name below
    }
    return `${this._backend.kind} thread ${threadId}`;
  }

  // One operation of this store at a time (the mirror follows one order);
  // what a backend throws becomes a ThreadmemError with it as the cause.
  _queued(what, fn) {
    const result = this._queue.then(async () => {
      this._mirror._live();
      try {
        return await fn();
      } catch (err) {
        throw storageError(err, `${this._where()}: cannot ${what}`);
      }
    });
    this._queue = result.catch(() => {});
    return result;
  }

  _locked(what, write, fn) {
    return this._queued(what, () => this._withLock(this.threadId, write, fn));
  }

  // fn() under the backend's lock on a thread. The store may have been
  // closed while the lock was awaited: then storage is not touched. What
  // it gives is fn's own outcome, awaited here, whatever lock() does with
  // it: a lock that forgets to return or await it, swallows its error, or
  // calls it twice or after it returned never makes an operation run twice
  // or end unseen.
  async _withLock(threadId, write, fn) {
    let running = null;
    let settled = false; // lock() is done: too late to start the operation
    let lockError;
    try {
      await this._backend.lock(
        threadId,
        () => {
          if (running || settled) {
            throw new ThreadmemError('STORAGE_ERROR', `${this._where(threadId)}: lock() ran an operation twice, or late`);
          }
          running = (async () => {
            this._mirror._live();
            return fn();
          })();
          running.catch(() => {}); // awaited below, once lock() is done
          return running;
        },
        { write },
      );
    } catch (err) {
      lockError = err;
    }
    settled = true;
    if (!running) {
      lockError ??= new ThreadmemError('STORAGE_ERROR', `${this._where(threadId)}: lock() did not run the operation`);
      throw lockError;
    }
    return running; // a lock that failed after the operation did not undo it
  }

  // ---- catching up with storage (another process or tab may have written) ----

  async _sync() {
    const id = this.threadId;
    let got;
    try {
      got = await this._backend.read(id, this._loaded ? { mark: this._mark, nextSeq: this._nextSeq } : null);
    } catch (err) {
      this._loaded = false;
      throw err;
    }
    if (got.unchanged) return;
    const full = !this._loaded || !!got.full;
    const stream = got.bytes !== undefined;
    this._loaded = false; // until the mirror follows this read
    const log = await this._codec.read(stream ? got.bytes : concatBytes(got.records), id);
    const verdict = judgeRead(
      {
        expectSeq: full ? 0 : this._nextSeq,
        keySeq: stream ? 0 : (got.firstSeq ?? 0),
        entries: stream ? -1 : got.records.length,
        offset: stream ? (got.offset ?? 0) : 0,
      },
      log,
      this._where(),
    );
    let mark = got.mark;
    if (full) this.lastRecovery = null;
    if (verdict.cutAt >= 0) {
      // An append that never finished was never acknowledged: cut it off.
      mark = await this._backend.truncate(id, verdict.cutAt);
      this.lastRecovery = { tail: 'torn', bytes: log.tail_bytes };
    }
    const messages = verdict.skip ? log.messages.slice(verdict.skip) : log.messages;
    if (full) {
      await this._mirror.updateFromState({ type: 'chat_message_store_state', messages });
      this._firstSeq = verdict.firstAfter;
    } else if (messages.length) {
      this._mirror._add(messages);
    }
    this._nextSeq = verdict.nextAfter;
    this._mark = mark;
    this._loaded = true;
  }

  // ---- ChatMessageStore ----

  /** Appends messages, all or nothing, acknowledged once storage has them;
   *  on failure neither storage nor this store changes. */
  async addMessages(messages) {
    const list = messageValues(messages);
    // Retries stay in this call's turn of the queue: a later call of this
    // store never overtakes it.
    await this._queued('append', async () => {
      for (let attempt = 0; ; attempt++) {
        if (await this._withLock(this.threadId, true, () => this._turn(list))) return;
        if (attempt >= MAX_CONFLICT_RETRIES) {
          throw new ThreadmemError('STORAGE_ERROR', `${this._where()}: other writers kept appending first`);
        }
      }
    });
  }

  // One attempt at a turn: false when another writer appended first.
  async _turn(list) {
    await this._sync();
    if (!list.length) return true;
    const id = this.threadId;
    const firstSeq = this._nextSeq;
    const { records, messages: canonical } = await this._codec.encode(list, firstSeq, id);
    const since = { mark: this._mark, nextSeq: firstSeq };
    // The core evicts what it must from the mirror; the plan drops the same.
    this._mirror._add(canonical);
    this._loaded = false; // the mirror is ahead of storage until the write lands
    const plan = planTurn({
      firstSeq: this._firstSeq,
      nextSeq: firstSeq,
      turn: records.length,
      kept: await this._mirror.count(),
      limited: !!(this.maxMessages || this.maxTokens),
      inPlace: !!this._backend.inPlace,
      ttlSeconds: this.ttlSeconds ?? 0,
    });
    const mark = await this._backend.append(id, records, {
      firstSeq,
      dropBefore: plan.dropBefore,
      heldFirst: this._firstSeq || firstSeq,
      firstAfter: plan.firstAfter,
      ttlSeconds: plan.expire,
      since,
    });
    if (mark === false) return false;
    this._mark = mark;
    this._firstSeq = plan.firstAfter;
    this._nextSeq = plan.nextAfter;
    this._loaded = true;
    this.lastAppendBytes = records.reduce((n, r) => n + r.length, 0);
    if (plan.rewriteFrom) {
      // The turn is stored and acknowledged; a compaction that fails leaves
      // the longer storage, and the next turn tries again.
      await this._rewrite(plan.rewriteFrom).catch(() => {
        this._loaded = false;
      });
    }
    return true;
  }

  async _rewrite(firstSeq) {
    const kept = (await this._mirror.listMessages()).map((m) => m.toJSON());
    const { records } = await this._codec.encode(kept, firstSeq, this.threadId);
    this._mark = await this._backend.rewrite(this.threadId, records, firstSeq);
    this._firstSeq = firstSeq;
  }

  async listMessages() {
    return this._read((mirror) => mirror.listMessages());
  }

  async getHistory(query) {
    return this._read((mirror) => mirror.getHistory(query));
  }

  /** The context window over the thread, from the counts cached in the
   *  mirror: ChatMessageStore.getContextWindow on what storage holds now. */
  async getContextWindow(options) {
    return this._read((mirror) => mirror.getContextWindow(options));
  }

  async count() {
    return this._read((mirror) => mirror.count());
  }

  /** The mirror, caught up with storage, for a run to read the history from
   *  in place (no copy of it per turn); the run's turn still comes through
   *  addMessages, so storage has it before the mirror does. */
  async _runHistory() {
    return this._read((mirror) => mirror);
  }

  // fn(mirror) once the mirror holds what storage holds now.
  _read(fn) {
    return this._locked('read', false, async () => {
      await this._sync();
      return fn(this._mirror);
    });
  }

  /** Deletes this thread's stored records and messages. */
  async clear() {
    await this.deleteThread(this.threadId);
  }

  /** A reference to this thread (no messages, no secret): thread.serialize()
   *  stores it and updateFromState() reconnects to the same stored thread. */
  async serialize() {
    this._mirror._live();
    let where;
    try {
      where = await this._backend.reference();
    } catch (err) {
      throw storageError(err, `${this._where()}: cannot name where it is stored`);
    }
    if (typeof where !== 'object' || where === null) {
      throw new ThreadmemError('STORAGE_ERROR', `${this._where()}: the backend's reference() must return an object`);
    }
    return { ...where, type: 'store_reference', kind: this._backend.kind, thread_id: this.threadId };
  }

  /** Reconnects to the thread a reference names. */
  async updateFromState(state) {
    let ref = state;
    if (typeof state === 'string') {
      try {
        ref = JSON.parse(state);
      } catch (err) {
        throw new ThreadmemError('INVALID_JSON', `a store reference must be JSON: ${err.message}`, { cause: err });
      }
    }
    if (!ref || ref.type !== 'store_reference' || ref.kind !== this._backend.kind) {
      throw new ThreadmemError('INVALID_FORMAT', `not a ${this._backend.kind} store reference`);
    }
    const threadId = checkThreadId(ref.thread_id);
    await this._queued('reconnect', async () => {
      await this._backend.adopt(ref);
      this.threadId = threadId;
      await this._mirror.clear();
      this._reset();
    });
  }

  /** The ids of the stored threads, sorted. */
  async listThreads() {
    return this._queued('list threads', async () => [...(await this._backend.list())].sort());
  }

  /** Deletes a thread's records (this store's own thread is then empty). */
  async deleteThread(threadId) {
    checkThreadId(threadId);
    await this._queued('delete', () =>
      this._withLock(threadId, true, async () => {
        await this._backend.remove(threadId);
        if (threadId === this.threadId) {
          await this._mirror.clear();
          this._reset();
        }
      }),
    );
  }

  /** Frees the mirror and lets the backend release what it holds; later
   *  calls throw CLOSED. */
  close() {
    this._mirror.close();
    const failed = (err) => {
      throw storageError(err, `${this._where()}: cannot close`);
    };
    try {
      const closing = this._backend.close?.();
      return typeof closing?.then === 'function' ? closing.then(undefined, failed) : closing;
    } catch (err) {
      return failed(err);
    }
  }

  get closed() {
    return this._mirror.closed;
  }
}

/**
 * Where a backend of keyed records starts a read: past the records of the
 * last read (`seen`, its mark) when they are all still there (the first seq
 * the same, the last one grown, and the record at seen.last unchanged, as
 * `lastUnchanged()` tells), else at the thread's first record.
 */
export async function readStart(now, seen, lastUnchanged) {
  const grown = seen?.last && now.first === seen.first && now.last > seen.last;
  return grown && (await lastUnchanged()) ? seen.last + 1 : now.first;
}
