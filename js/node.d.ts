// Types of the Node entry point 'threadmem/node'.
export * from './index.js';
import type { ChatMessage, HistoryQuery, MessageInput } from './index.js';

export interface FileChatMessageStoreOptions {
  /** The directory holding one `<threadId>.tmlog` file per thread. */
  directory: string;
  /** 1-128 characters of A-Z a-z 0-9 . _ - ; a UUID when absent. */
  threadId?: string;
  /** Keep only the newest n messages (the file is compacted past 2n). */
  maxMessages?: number;
}

/** A reference to a persistent thread: what thread.serialize() stores. */
export interface FileStoreReference {
  type: 'store_reference';
  kind: 'file';
  directory: string;
  thread_id: string;
}

/** One append-only file of records per thread; each turn is written and
 *  fsynced before it is acknowledged. */
export class FileChatMessageStore {
  constructor(options: FileChatMessageStoreOptions);
  readonly directory: string;
  readonly threadId: string;
  readonly maxMessages: number | undefined;
  /** The file of this thread. */
  readonly path: string;
  /** What the last load repaired (a torn last record), or null. */
  readonly lastRecovery: { tail: 'torn'; bytes: number } | null;
  /** Bytes written by the last addMessages. */
  readonly lastAppendBytes?: number;
  addMessages(messages: MessageInput | MessageInput[]): Promise<void>;
  listMessages(): Promise<ChatMessage[]>;
  getHistory(query?: HistoryQuery): Promise<ChatMessage[]>;
  count(): Promise<number>;
  clear(): Promise<void>;
  serialize(): Promise<FileStoreReference>;
  updateFromState(state: FileStoreReference | string): Promise<void>;
  listThreads(): Promise<string[]>;
  deleteThread(threadId: string): Promise<void>;
  close(): void;
  readonly closed: boolean;
}
