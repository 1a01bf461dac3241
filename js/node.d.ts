// Types of the Node entry point 'threadmem/node'.
export * from './index.js';
import { PersistentChatMessageStore } from './index.js';
import type { EncryptionOptions, PersistentStoreReference, StoreLimits } from './index.js';

export interface FileChatMessageStoreOptions extends StoreLimits {
  /** The directory holding one `<threadId>.tmlog` file per thread. */
  directory: string;
  /** 1-128 characters of A-Z a-z 0-9 . _ - ; a UUID when absent. */
  threadId?: string;
  /** The file system it works through: an object with node:fs/promises' functions. Default: node:fs/promises. */
  fs?: object;
  /** Encrypt every record at rest (AES-GCM); the key is never serialized. */
  encryption?: EncryptionOptions;
}

/** A reference to a persistent thread: what thread.serialize() stores. */
export interface FileStoreReference extends PersistentStoreReference {
  type: 'store_reference';
  kind: 'file';
  directory: string;
  thread_id: string;
}

/** One append-only file of records per thread; each turn is written and
 *  fsynced before it is acknowledged. */
export class FileChatMessageStore extends PersistentChatMessageStore {
  constructor(options: FileChatMessageStoreOptions);
  readonly directory: string;
  /** The file of this thread. */
  readonly path: string;
  serialize(): Promise<FileStoreReference>;
  updateFromState(state: FileStoreReference | string): Promise<void>;
  close(): void;
}

export interface RedisChatMessageStoreOptions extends StoreLimits {
  /** e.g. 'redis://127.0.0.1:6379'; required unless `client` is given. */
  redisUrl?: string;
  /** A connected node-redis client owned by the caller (close() leaves it open). */
  client?: unknown;
  threadId?: string;
  /** Keys are `${keyPrefix}:{${threadId}}` (hash-tagged for Cluster). Default 'chat_messages'. */
  keyPrefix?: string;
  /** Expire the thread this long after its last append (EXPIRE in the same atomic script). */
  ttlSeconds?: number;
  /** How long each command's answer is awaited, in ms (default 10000); then STORAGE_ERROR. */
  timeoutMs?: number;
  /** Encrypt every record at rest (AES-GCM); the key is never serialized. */
  encryption?: EncryptionOptions;
}

/** A reference to a Redis thread: no URL, no password. */
export interface RedisStoreReference extends PersistentStoreReference {
  type: 'store_reference';
  kind: 'redis';
  key_prefix: string;
  thread_id: string;
}

/** One Redis list per thread, one record per entry; append, trim and expire
 *  in one atomic script that first checks the list still ends where the
 *  store read it (a concurrent append is merged and retried). */
export class RedisChatMessageStore extends PersistentChatMessageStore {
  constructor(options: RedisChatMessageStoreOptions);
  readonly keyPrefix: string;
  serialize(): Promise<RedisStoreReference>;
  updateFromState(state: RedisStoreReference | string): Promise<void>;
  close(): Promise<void>;
}
