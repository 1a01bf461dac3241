// RedisChatMessageStore (Node): one Redis list per thread, one record per
// entry (the core's record layout, base64 so any client reads it back). The
// shared persistent store (js/persistent-store.js) and the core decide
// everything; this backend only talks to Redis: a turn's append, trim and
// expire are one transaction, a script that first checks that the list still
// ends where this store last read it, so that another writer's turn makes it
// write nothing (the store then catches up and retries with new sequence
// numbers). A script holds no state on the connection, unlike WATCH, so
// stores can share one client. Keys are hash-tagged by thread ({threadId})
// for Redis Cluster.

import { randomUUID } from 'node:crypto';
import { createClient } from 'redis';

import { ThreadmemError, wrapError } from './errors.js';
import { PersistentChatMessageStore } from './persistent-store.js';
import { durationOf, optionsOf } from './options.js';

// How long a call waits for Redis: for a reconnecting client to be ready
// again, or for the first connection, which then gives up (a wrong URL or
// password, a server that is down or silent) instead of keeping the call
// waiting.
const READY_WAIT_MS = 3000;
const COMMAND_TIMEOUT_MS = 10000; // the default limit of one command's answer
const PUSH_CHUNK = 1000; // records per RPUSH inside the script (Lua's unpack has a limit)

// KEYS[1] the list; ARGV: the entry the writer last saw at its end ('' for
// none), how many entries to keep after the push (0: all), the TTL in
// seconds (0: none), then the records. Returns 0, writing nothing, when the
// list no longer ends with that entry; else 1.
const APPEND_SCRIPT = `
local last = redis.call('LINDEX', KEYS[1], -1)
if (last or '') ~= ARGV[1] then return 0 end
for i = 4, #ARGV, ${PUSH_CHUNK} do
  redis.call('RPUSH', KEYS[1], unpack(ARGV, i, math.min(i + ${PUSH_CHUNK - 1}, #ARGV)))
end
local keep = tonumber(ARGV[2])
if keep > 0 then redis.call('LTRIM', KEYS[1], -keep, -1) end
local ttl = tonumber(ARGV[3])
if ttl > 0 then redis.call('EXPIRE', KEYS[1], ttl) end
return 1
`;
const KEY_PREFIX = /^[A-Za-z0-9._:-]{1,64}$/;

export class RedisChatMessageStore extends PersistentChatMessageStore {
  /**
   * @param {{redisUrl?: string, client?: object, threadId?: string, keyPrefix?: string,
   *          maxMessages?: number, maxTokens?: number, encoding?: string, ttlSeconds?: number,
   *          timeoutMs?: number, encryption?: {key: CryptoKey|string}}} options
   * `client` is a connected node-redis client shared by stores (closed by its
   * owner); else `redisUrl` opens one that close() ends.
   */
  constructor(options) {
    const {
      redisUrl,
      client,
      threadId,
      keyPrefix = 'chat_messages',
      maxMessages,
      maxTokens,
      encoding,
      ttlSeconds,
      timeoutMs = COMMAND_TIMEOUT_MS,
      encryption,
    } = optionsOf(options, 'RedisChatMessageStore');
    super(new RedisBackend({ redisUrl, client, keyPrefix, timeoutMs }), {
      threadId: threadId ?? randomUUID(),
      maxMessages,
      maxTokens,
      encoding,
      ttlSeconds,
      encryption,
    });
  }

  get keyPrefix() {
    return this._backend.keyPrefix;
  }
}

// The mark of a list is its last entry: a thread that changed ends otherwise
// (each record holds its seq and a unique message id).
class RedisBackend {
  // The URL may hold a password: private, so that printing the store, or an
  // error about the URL, never shows it.
  #url;

  constructor({ redisUrl, client, keyPrefix, timeoutMs }) {
    if (!client) checkRedisUrl(redisUrl);
    if (typeof keyPrefix !== 'string' || !KEY_PREFIX.test(keyPrefix)) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'keyPrefix must be 1-64 characters of A-Z a-z 0-9 . _ : -');
    }
    this.timeoutMs = durationOf(timeoutMs, 'RedisChatMessageStore: timeoutMs');
    this._closed = new AbortController(); // ends the waits of calls under way
    this.kind = 'redis';
    this.inPlace = true;
    this.keyPrefix = keyPrefix;
    this.#url = redisUrl;
    this._client = client ?? null;
    this._ownsClient = !client;
    this._connecting = null;
    this._everReady = false; // whether the client this store opened has been connected
    this._connectStart = 0;
  }

  key(threadId) {
    return `${this.keyPrefix}:{${threadId}}`;
  }

  where(threadId) {
    return `Redis ${this.key(threadId)}`;
  }

  /** A reference holds no URL and no password: the agent's
   *  chatMessageStoreFactory supplies the connection on resume. */
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

  // The answer to a command, within timeoutMs (the client's own command
  // timeout ends once the command is sent, so a hung server would keep the
  // call waiting). A command that times out may still be applied by a
  // server that was only slow; the store then finds it on its next read, as
  // after a connection lost mid-write.
  _answer(command) {
    return this._within(command, this.timeoutMs, `Redis did not answer in ${this.timeoutMs} ms`);
  }

  // The client, connected.
  async _redis() {
    if (this._closed.signal.aborted) throw closedError();
    await this._ready();
    return this._client;
  }

  async _ready() {
    if (this._client?.isReady) return;
    if (this._client?.isOpen && !this._connecting) {
      // Reconnecting (the server restarted): wait a little, then fail.
      const client = this._client;
      let onReady;
      const ready = new Promise((resolve) => client.once('ready', (onReady = resolve)));
      try {
        await this._within(ready, READY_WAIT_MS, 'Redis is not reachable');
      } finally {
        client.off('ready', onReady);
      }
      return;
    }
    if (!this._client) {
      // Commands fail at once while disconnected (never queue a turn that
      // may never be written); once connected, the client reconnects in the
      // background.
      this._client = createClient({
        url: this.#url,
        disableOfflineQueue: true,
        socket: {
          connectTimeout: READY_WAIT_MS,
          reconnectStrategy: (retries, cause) =>
            !this._everReady && Date.now() - this._connectStart >= READY_WAIT_MS
              ? new Error(`no connection in ${READY_WAIT_MS} ms: ${cause?.message ?? 'no answer'}`, { cause })
              : Math.min(50 * 2 ** retries, 1000),
        },
      });
      // Errors reach the caller through the failing command; a client
      // without a listener would crash the process instead.
      this._client.on('error', () => {});
      this._client.on('ready', () => {
        this._everReady = true;
      });
    }
    if (!this._connecting) {
      this._connectStart = Date.now();
      const connecting = this._client.connect().finally(() => {
        if (this._connecting === connecting) this._connecting = null;
      });
      this._connecting = connecting;
    }
    try {
      // The client gives up on its own after READY_WAIT_MS, with the
      // reason (refused, a wrong password); this bound is for a server
      // that accepts the connection and then says nothing.
      await this._within(this._connecting, READY_WAIT_MS + 1000, `Redis did not answer in ${READY_WAIT_MS} ms`);
    } catch (err) {
      if (!this._client?.isReady && !this._everReady) {
        // A server that accepts but never answers: start afresh next time.
        if (this._client?.isOpen) this._client.destroy();
        this._client = null;
        this._connecting = null;
      }
      throw err.code === 'CLOSED' ? err : wrapError('STORAGE_ERROR', 'cannot connect to Redis', err);
    }
  }

  // `promise`, or STORAGE_ERROR (`late`) after `ms`, or CLOSED as soon as
  // the store is closed.
  _within(promise, ms, late) {
    const closed = this._closed.signal;
    let timer;
    let onClose;
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new ThreadmemError('STORAGE_ERROR', late)), ms);
      closed.addEventListener('abort', (onClose = () => reject(closedError())), { once: true });
    });
    return Promise.race([promise, limit]).finally(() => {
      clearTimeout(timer);
      closed.removeEventListener('abort', onClose);
    });
  }

  // The append script detects another writer's turn: no lock needed.
  lock(threadId, fn) {
    return fn();
  }

  async read(threadId, since) {
    const redis = await this._redis();
    const key = this.key(threadId);
    const last = await this._answer(redis.lIndex(key, -1));
    if (since && last === since.mark) return { unchanged: true };
    const entries = last === null ? [] : await this._answer(redis.lRange(key, 0, -1));
    const records = entries.map((e) => new Uint8Array(Buffer.from(e, 'base64')));
    return { records, firstSeq: 0, full: true, mark: entries.length ? entries[entries.length - 1] : null };
  }

  async append(threadId, records, { firstSeq, dropBefore, ttlSeconds, since }) {
    const redis = await this._redis();
    const texts = records.map((r) => Buffer.from(r).toString('base64'));
    const keep = dropBefore ? firstSeq + records.length - dropBefore : 0;
    const written = await this._answer(
      redis.eval(APPEND_SCRIPT, {
        keys: [this.key(threadId)],
        arguments: [since?.mark ?? '', String(keep), String(ttlSeconds ?? 0), ...texts],
      }),
    );
    return written === 1 ? texts[texts.length - 1] : false; // false: another writer was first
  }

  async remove(threadId) {
    const redis = await this._redis();
    await this._answer(redis.del(this.key(threadId)));
  }

  /** Thread ids with a list under this key prefix. */
  async list() {
    const redis = await this._redis();
    const ids = new Set();
    let cursor = '0';
    do {
      const reply = await this._answer(redis.scan(cursor, { MATCH: `${this.keyPrefix}:{*}`, COUNT: 500 }));
      cursor = String(reply.cursor);
      for (const k of reply.keys) {
        const m = /^.*:\{(.+)\}$/.exec(k);
        if (m && k === this.key(m[1])) ids.add(m[1]);
      }
    } while (cursor !== '0');
    return [...ids];
  }

  /** Ends the connection this store opened (a shared client stays open);
   *  calls still waiting for Redis end with CLOSED. The connection is
   *  dropped, not ended with QUIT, which a hung server would never answer. */
  async close() {
    this._closed.abort();
    if (this._ownsClient && this._client?.isOpen) this._client.destroy();
  }
}

function closedError() {
  return new ThreadmemError('CLOSED', 'the store is closed');
}

// A redis:// or rediss:// URL, or INVALID_ARGUMENT saying so without quoting
// it (it may hold a password).
function checkRedisUrl(url) {
  if (typeof url !== 'string' || url === '') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'redisUrl (or client) is required');
  }
  let protocol;
  try {
    ({ protocol } = new URL(url));
  } catch {
    protocol = null;
  }
  if (protocol !== 'redis:' && protocol !== 'rediss:') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'redisUrl must be a URL of the form redis[s]://[[user]:password@]host[:port][/db]');
  }
}
