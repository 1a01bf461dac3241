// RedisChatMessageStore (Node): one Redis list per thread, one record per
// entry (the core's record layout, base64 so any client reads it back).
// Append, trim and expire go in one MULTI, guarded by WATCH: when another
// writer appended first, the store catches up and retries with new sequence
// numbers. Keys are hash-tagged by thread ({threadId}) for Redis Cluster.

import { randomUUID } from 'node:crypto';
import { createClient, WatchError } from 'redis';

import { ThreadmemError, wrapError } from './errors.js';
import { ChatMessageStore } from './store.js';
import { RecordCodec } from './record-codec.js';
import { checkThreadId } from './thread-id.js';

const MAX_CONFLICT_RETRIES = 20;
const READY_WAIT_MS = 3000; // how long a call waits for a reconnecting client
const KEY_PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;

export class RedisChatMessageStore {
  /**
   * @param {{redisUrl?: string, client?: object, threadId?: string, keyPrefix?: string,
   *          maxMessages?: number, maxTokens?: number, encoding?: string, ttlSeconds?: number,
   *          encryption?: {key: CryptoKey|string}}} options
   * `client` is a connected node-redis client shared by stores (closed by its
   * owner); else `redisUrl` opens one that close() ends.
   */
  constructor({ redisUrl, client, threadId, keyPrefix = 'chat_messages', maxMessages, maxTokens, encoding, ttlSeconds, encryption } = {}) {
    if (!client && (typeof redisUrl !== 'string' || redisUrl === '')) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'redisUrl (or client) is required');
    }
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'keyPrefix must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    }
    if (ttlSeconds !== undefined && (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'ttlSeconds must be a positive integer');
    }
    this.threadId = checkThreadId(threadId ?? randomUUID());
    this.keyPrefix = keyPrefix;
    this.ttlSeconds = ttlSeconds;
    // The core decides what the limits evict; storage follows its choice.
    this._mirror = new ChatMessageStore({ maxMessages, maxTokens, encoding });
    this.maxMessages = this._mirror.maxMessages;
    this.maxTokens = this._mirror.maxTokens;
    this._codec = new RecordCodec(encryption);
    this._url = redisUrl;
    this._client = client ?? null;
    this._ownsClient = !client;
    this._connecting = null;
    this._queue = Promise.resolve();
    this._reset();
  }

  _reset() {
    this._loaded = false;
    this._lastSeq = 0; // seq of the newest record mirrored (0: none)
  }

  _key(threadId = this.threadId) {
    return `${this.keyPrefix}:{${threadId}}`;
  }

  async _redis() {
    if (this._client?.isReady) return this._client;
    if (this._client?.isOpen) {
      // Reconnecting (the server restarted): wait a little, then fail.
      const ready = await new Promise((resolve) => {
        const timer = setTimeout(() => resolve(false), READY_WAIT_MS);
        this._client.once('ready', () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      if (!ready) throw new ThreadmemError('STORAGE_ERROR', 'Redis is not reachable');
      return this._client;
    }
    if (!this._client) {
      // Commands fail at once while disconnected (never queue a turn that
      // may never be written); the client reconnects in the background.
      this._client = createClient({
        url: this._url,
        disableOfflineQueue: true,
        socket: { reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, 1000) },
      });
      // Errors reach the caller through the failing command; a client
      // without a listener would crash the process instead.
      this._client.on('error', () => {});
    }
    if (!this._connecting) {
      this._connecting = this._client.connect().finally(() => {
        this._connecting = null;
      });
    }
    try {
      await this._connecting;
    } catch (err) {
      throw wrapError('STORAGE_ERROR', 'cannot connect to Redis', err);
    }
    return this._client;
  }

  // Catches up with the list when its newest record is not ours.
  async _sync(redis) {
    const key = this._key();
    const last = await redis.lIndex(key, -1);
    const lastSeq = last === null ? 0 : this._codec.lastSeq(Buffer.from(last, 'base64'));
    if (this._loaded && lastSeq === this._lastSeq) return;
    const entries = await redis.lRange(key, 0, -1);
    const log = await this._codec.read(Buffer.concat(entries.map((e) => Buffer.from(e, 'base64'))), this.threadId);
    if (log.tail !== 'clean') {
      throw new ThreadmemError('CORRUPT_RECORD', `${key}: a record fails its integrity check`);
    }
    await this._mirror.updateFromState({ type: 'chat_message_store_state', messages: log.messages });
    this._lastSeq = log.count ? log.last_seq : 0;
    this._loaded = true;
  }

  // One operation of this store at a time: WATCH belongs to the connection.
  _run(what, fn) {
    const result = this._queue.then(async () => {
      const redis = await this._redis();
      try {
        return await fn(redis);
      } catch (err) {
        throw wrapError('STORAGE_ERROR', `Redis ${what} failed`, err);
      }
    });
    this._queue = result.catch(() => {});
    return result;
  }

  /** Appends messages, all or nothing, acknowledged once Redis has them. */
  async addMessages(messages) {
    const list = (Array.isArray(messages) ? messages : [messages]).map(toPlain);
    await this._run('append', async (redis) => {
      const key = this._key();
      for (let attempt = 0; ; attempt++) {
        await redis.watch(key);
        let records;
        let canonical;
        let keep; // the records the list holds after this turn
        try {
          await this._sync(redis);
          // What the core keeps now, plus this turn (the core evicts what it
          // must from that next): never less than the store holds, never
          // more than maxMessages or one turn beyond what it keeps.
          keep = Math.min(this.maxMessages ?? Infinity, (await this._mirror.count()) + list.length);
          const encoded = await this._codec.encode(list, this._lastSeq + 1, this.threadId);
          records = encoded.records.map((bytes) => Buffer.from(bytes).toString('base64'));
          canonical = encoded.messages;
        } catch (err) {
          await redis.unwatch();
          throw err;
        }
        const tx = redis.multi().rPush(key, records);
        if (this.maxMessages || this.maxTokens) tx.lTrim(key, -keep, -1);
        if (this.ttlSeconds) tx.expire(key, this.ttlSeconds);
        try {
          await tx.exec();
        } catch (err) {
          if (err instanceof WatchError && attempt < MAX_CONFLICT_RETRIES) continue; // another writer won
          throw err;
        }
        this._mirror._add(canonical);
        this._lastSeq += canonical.length;
        this.lastAppendBytes = records.reduce((n, r) => n + r.length, 0);
        return;
      }
    });
  }

  async listMessages() {
    await this._run('read', (redis) => this._sync(redis));
    return this._mirror.listMessages();
  }

  async getHistory(query) {
    await this._run('read', (redis) => this._sync(redis));
    return this._mirror.getHistory(query);
  }

  async count() {
    await this._run('read', (redis) => this._sync(redis));
    return this._mirror.count();
  }

  async clear() {
    await this.deleteThread(this.threadId);
  }

  /** A reference (no URL, no password): the agent's chatMessageStoreFactory
   *  supplies the connection when the thread is deserialized. */
  async serialize() {
    return { type: 'store_reference', kind: 'redis', key_prefix: this.keyPrefix, thread_id: this.threadId };
  }

  async updateFromState(state) {
    const ref = typeof state === 'string' ? JSON.parse(state) : state;
    if (!ref || ref.type !== 'store_reference' || ref.kind !== 'redis') {
      throw new ThreadmemError('INVALID_FORMAT', 'not a Redis store reference');
    }
    this.threadId = checkThreadId(ref.thread_id);
    if (typeof ref.key_prefix === 'string' && KEY_PREFIX.test(ref.key_prefix)) this.keyPrefix = ref.key_prefix;
    await this._mirror.clear();
    this._reset();
  }

  /** Thread ids with a list under this key prefix. */
  async listThreads() {
    return this._run('scan', async (redis) => {
      const ids = new Set();
      for await (const keys of redis.scanIterator({ MATCH: `${this.keyPrefix}:{*}`, COUNT: 500 })) {
        for (const k of Array.isArray(keys) ? keys : [keys]) {
          const m = /^.*:\{(.+)\}$/.exec(k);
          if (m && k === this._key(m[1])) ids.add(m[1]);
        }
      }
      return [...ids].sort();
    });
  }

  async deleteThread(threadId) {
    checkThreadId(threadId);
    await this._run('delete', (redis) => redis.del(this._key(threadId)));
    if (threadId === this.threadId) {
      await this._mirror.clear();
      this._reset();
    }
  }

  /** Ends the connection this store opened (a shared client stays open). */
  async close() {
    this._mirror.close();
    if (this._ownsClient && this._client?.isOpen) {
      if (this._client.isReady) await this._client.quit().catch(() => {});
      else this._client.destroy();
    }
  }

  get closed() {
    return this._mirror.closed;
  }
}

function toPlain(m) {
  return typeof m?.toJSON === 'function' ? m.toJSON() : m;
}
