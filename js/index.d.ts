// Types of the universal entry point 'threadmem'.

export type Role = 'system' | 'user' | 'assistant' | 'tool';

/** The type of a global the environment's own types declare (`indexedDB`
 *  with the DOM library), else `object`: a Node program needs no DOM types. */
type GlobalType<Name extends string> = typeof globalThis extends { [K in Name]: infer T } ? T : object;
type GlobalInstance<Name extends string> = typeof globalThis extends { [K in Name]: { prototype: infer T } } ? T : object;

/** An annotation of a content, as Agent Framework's (a citation, say); kept as given. */
export interface Annotation {
  type?: string;
  [key: string]: unknown;
}

/** What every kind of content may carry besides its own fields. */
interface ContentCommon {
  annotations?: Annotation[];
  additional_properties?: Record<string, unknown>;
}

export type Content = ContentCommon &
  (
    | { type: 'text'; text: string }
    | { type: 'function_call'; call_id: string; name: string; arguments?: string | Record<string, unknown> }
    | { type: 'function_result'; call_id: string; result?: unknown }
    | { type: 'data'; uri: string; media_type?: string }
    | { type: 'uri'; uri: string; media_type?: string }
    | { type: 'text_reasoning'; text?: string }
  );

/** Agent Framework's serialized chat_message. */
export interface ChatMessageJSON {
  type?: 'chat_message';
  role: { type?: 'role'; value: Role } | Role;
  contents: Content[];
  author_name?: string;
  message_id?: string;
  created_at?: string;
  additional_properties?: Record<string, unknown>;
}

/** Anything accepted where a message is. */
export type MessageInput =
  | ChatMessage
  | string
  | { role: Role; text: string }
  | { role: Role; content: string | Content[] }
  | ChatMessageJSON;

export type ThreadmemErrorCode =
  | 'INVALID_ARGUMENT' | 'INVALID_JSON' | 'INVALID_FORMAT' | 'INVALID_STATE' | 'LIMIT_EXCEEDED'
  | 'OUT_OF_MEMORY' | 'INVALID_RESPONSE' | 'MAX_TOOL_ROUNDS' | 'LLM_ERROR' | 'LLM_HTTP_ERROR'
  | 'LLM_NETWORK_ERROR' | 'LLM_TIMEOUT' | 'LLM_STREAM_ERROR' | 'ABORTED' | 'TOOL_ERROR' | 'STORE_ERROR'
  | 'PROVIDER_ERROR' | 'CLOSED' | 'NOT_FOUND' | 'NOT_INITIALIZED' | 'HOST_ERROR'
  | 'INTERNAL_ERROR' | 'UNKNOWN_ENCODING' | 'ENCODING_NOT_LOADED'
  | 'CONTEXT_WINDOW_EXCEEDED' | 'INVALID_COUNTER' | 'COUNTER_ERROR'
  | 'STORAGE_ERROR' | 'CORRUPT_RECORD' | 'LOCK_TIMEOUT' | 'QUOTA_EXCEEDED'
  | 'EMPTY_QUERY' | 'DIMENSION_MISMATCH' | 'EMBEDDING_ERROR' | 'MEM0_HTTP_ERROR' | 'MEM0_NETWORK_ERROR'
  | 'DECRYPTION_FAILED' | 'ENCRYPTION_REQUIRED' | 'NOT_ENCRYPTED';

export class ThreadmemError extends Error {
  constructor(code: ThreadmemErrorCode, message: string, options?: { cause?: unknown; status?: number });
  readonly name: 'ThreadmemError';
  readonly code: ThreadmemErrorCode;
  /** The HTTP status, for LLM_HTTP_ERROR and MEM0_HTTP_ERROR. */
  readonly status?: number;
}

export interface ChatMessageOptions {
  authorName?: string;
  messageId?: string;
  createdAt?: string | Date;
  metadata?: Record<string, unknown>;
}

export class ChatMessage {
  constructor(role: Role, textOrContents?: string | Content[], options?: ChatMessageOptions);
  role: Role;
  contents: Content[];
  authorName?: string;
  messageId?: string;
  /** ISO 8601, UTC. */
  createdAt?: string;
  metadata?: Record<string, unknown>;
  /** The text contents joined. */
  readonly text: string;
  toJSON(): ChatMessageJSON;
  /** A message from its JSON (Agent Framework's, or { role, text|content }), not from a bare string. */
  static fromJSON(value: Exclude<MessageInput, string>): ChatMessage;
}

export interface ChatMessageStoreState {
  type: 'chat_message_store_state';
  messages: ChatMessageJSON[];
}

/** What the agent needs of a message store; any object with these works. */
export interface MessageStore {
  addMessages(messages: ChatMessage[]): Promise<void>;
  listMessages(): Promise<Array<ChatMessage | MessageInput>>;
  serialize(): Promise<unknown>;
  updateFromState(state: unknown): Promise<void>;
}

export interface HistoryQuery {
  /** At most this many of the newest messages (after offset). */
  limit?: number;
  /** Skip this many of the newest messages. */
  offset?: number;
  roles?: Role[];
}

export interface StoreOptions {
  maxMessages?: number;
  /** Keeps the newest messages whose tokens fit; whole tool-call groups are evicted. */
  maxTokens?: number;
  /** The encoding of maxTokens (default 'o200k_base'; its vocabulary must be loaded). */
  encoding?: 'o200k_base' | 'cl100k_base' | 'estimate';
  threadId?: string;
}

export class ChatMessageStore implements MessageStore {
  constructor(messagesOrOptions?: MessageInput[] | StoreOptions, options?: StoreOptions);
  readonly maxMessages?: number;
  readonly maxTokens?: number;
  readonly threadId?: string;
  readonly closed: boolean;
  /** The context window of the stored messages, from counts cached on them; deletes nothing. */
  getContextWindow(options: WindowOptions): Promise<WindowResult>;
  addMessages(messages: MessageInput | MessageInput[]): Promise<void>;
  listMessages(): Promise<ChatMessage[]>;
  getHistory(query?: HistoryQuery): Promise<ChatMessage[]>;
  count(): Promise<number>;
  clear(): Promise<void>;
  serialize(): Promise<ChatMessageStoreState>;
  updateFromState(state: unknown): Promise<void>;
  static deserialize(state: unknown, options?: StoreOptions): Promise<ChatMessageStore>;
  close(): void;
}

/** The limits of a persistent store. The core decides what they evict, as in
 *  ChatMessageStore (whole tool-call groups, oldest first); the backend then
 *  deletes those records (IndexedDB in the turn's transaction, localStorage
 *  after its commit, Redis by LTRIM in the append's script, a file by
 *  compaction once it holds twice what is kept). */
export interface StoreLimits {
  maxMessages?: number;
  /** Keep the newest messages whose tokens, counted with `encoding`, fit. */
  maxTokens?: number;
  /** The encoding of maxTokens (default 'o200k_base'; its vocabulary must be loaded). */
  encoding?: 'o200k_base' | 'cl100k_base' | 'estimate';
}

export interface IndexedDBChatMessageStoreOptions extends StoreLimits {
  /** The database (one object store of records keyed by [threadId, seq]). Default 'threadmem'. */
  dbName?: string;
  /** 1-128 characters of A-Z a-z 0-9 . _ - ; a UUID when absent. */
  threadId?: string;
  /** Default: globalThis.indexedDB. */
  indexedDB?: GlobalType<'indexedDB'>;
  /** Encrypt every record at rest (AES-GCM); the key is never serialized. */
  encryption?: EncryptionOptions;
}

/**
 * Encryption at rest, the `encryption` option of every persistent store: each
 * record's payload is sealed with AES-GCM (a fresh 96-bit nonce per record, the
 * thread id and sequence number as additional data). Reading with a wrong key,
 * or a record altered or moved, is DECRYPTION_FAILED; encrypted records read
 * without a key are ENCRYPTION_REQUIRED, plaintext ones read with a key
 * NOT_ENCRYPTED.
 */
export interface EncryptionOptions {
  /** An AES-GCM CryptoKey usable to encrypt and decrypt, or a passphrase,
   *  stretched with PBKDF2-SHA-256 (600,000 iterations, a random salt per
   *  thread kept in its records). Keys derived from a passphrase are cached
   *  per options object: share one object between stores. */
  key: GlobalInstance<'CryptoKey'> | string;
}

/** A reference to an IndexedDB thread: what thread.serialize() stores. */
export interface IndexedDBStoreReference extends PersistentStoreReference {
  type: 'store_reference';
  kind: 'indexeddb';
  db_name: string;
  thread_id: string;
}

/** What every persistent store does; `Ref` is the reference it serializes to. */
export interface PersistentStore<Ref> extends MessageStore {
  addMessages(messages: MessageInput | MessageInput[]): Promise<void>;
  listMessages(): Promise<ChatMessage[]>;
  getHistory(query?: HistoryQuery): Promise<ChatMessage[]>;
  getContextWindow(options: WindowOptions): Promise<WindowResult>;
  count(): Promise<number>;
  clear(): Promise<void>;
  serialize(): Promise<Ref>;
  updateFromState(state: Ref | string): Promise<void>;
  listThreads(): Promise<string[]>;
  deleteThread(threadId: string): Promise<void>;
  close(): void | Promise<void>;
  readonly closed: boolean;
  readonly maxMessages: number | undefined;
  readonly maxTokens: number | undefined;
}

/** A reference to a thread of a custom persistent backend. */
export interface PersistentStoreReference {
  type: 'store_reference';
  kind: string;
  thread_id: string;
  [field: string]: unknown;
}

/** What storage returned to read(): nothing new, records kept one per entry,
 *  or a byte stream (records back to back) from byte `offset`. */
export type PersistentRead =
  | { unchanged: true }
  | { records: Uint8Array[]; firstSeq?: number; full?: boolean; mark: unknown }
  | { bytes: Uint8Array; offset: number; full?: boolean; mark: unknown };

/** What append() is asked to write, in one atomic step. */
export interface PersistentAppend {
  /** The seq of records[0]; the others follow. */
  firstSeq: number;
  /** Drop the records heldFirst..dropBefore-1 with the append (0: none). */
  dropBefore: number;
  heldFirst: number;
  /** The oldest seq held after the append. */
  firstAfter: number;
  /** The thread's time to live to set (0: none). */
  ttlSeconds: number;
  /** What the store last saw: append() writes nothing and resolves to false
   *  when storage changed since `mark`. */
  since: { mark: unknown; nextSeq: number };
}

/** The record interface a persistent backend implements (see
 *  js/persistent-store.js): it only moves records; the core decides. */
export interface PersistentBackend {
  readonly kind: string;
  /** true: append() drops records; false: the store calls rewrite() to compact. */
  readonly inPlace: boolean;
  reference(): Record<string, unknown> | Promise<Record<string, unknown>>;
  adopt(ref: PersistentStoreReference): void | Promise<void>;
  where?(threadId: string): string;
  lock<T>(threadId: string, fn: () => Promise<T>, options: { write: boolean }): Promise<T>;
  read(threadId: string, since: { mark: unknown; nextSeq: number } | null): PersistentRead | Promise<PersistentRead>;
  append(threadId: string, records: Uint8Array[], options: PersistentAppend): Promise<unknown>;
  rewrite?(threadId: string, records: Uint8Array[], firstSeq: number): Promise<unknown>;
  truncate?(threadId: string, length: number): Promise<unknown>;
  remove(threadId: string): unknown;
  list(): string[] | Promise<string[]>;
  close?(): void | Promise<void>;
}

export interface PersistentChatMessageStoreOptions extends StoreLimits {
  threadId?: string;
  /** Time to live of a thread, refreshed by each turn (backends that keep one). */
  ttlSeconds?: number;
  encryption?: EncryptionOptions;
}

/** The ChatMessageStore API over any backend implementing PersistentBackend;
 *  the built-in persistent stores are this class over their own backends. */
export class PersistentChatMessageStore {
  constructor(backend: PersistentBackend, options?: PersistentChatMessageStoreOptions);
  readonly threadId: string;
  readonly ttlSeconds?: number;
  /** Bytes written by the last addMessages. */
  readonly lastAppendBytes?: number;
  /** What the last load of the whole thread repaired (a torn tail of a stream cut off), or null. */
  readonly lastRecovery: { tail: 'torn'; bytes: number } | null;
}
export interface PersistentChatMessageStore extends PersistentStore<PersistentStoreReference> {}

/** Browsers: one IndexedDB record per message; each turn is one transaction,
 *  committed before it is acknowledged; tabs appending to one thread merge. */
export class IndexedDBChatMessageStore extends PersistentChatMessageStore {
  constructor(options?: IndexedDBChatMessageStoreOptions);
  readonly dbName: string;
  serialize(): Promise<IndexedDBStoreReference>;
  updateFromState(state: IndexedDBStoreReference | string): Promise<void>;
}

/** What LocalStorageChatMessageStore needs of a storage (localStorage and sessionStorage have it). */
export interface StorageLike {
  readonly length: number;
  key(index: number): string | null;
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

export interface LocalStorageChatMessageStoreOptions extends StoreLimits {
  /** Items are `${keyPrefix}:${threadId}` (the head) and `${keyPrefix}:${threadId}:${seq}`. Default 'threadmem'. */
  keyPrefix?: string;
  threadId?: string;
  /** Default: globalThis.localStorage. */
  storage?: StorageLike;
  /** Encrypt every record at rest (AES-GCM); the key is never serialized. */
  encryption?: EncryptionOptions;
}

/** A reference to a localStorage thread. */
export interface LocalStorageStoreReference extends PersistentStoreReference {
  type: 'store_reference';
  kind: 'localstorage';
  key_prefix: string;
  thread_id: string;
}

/** Browsers: one localStorage item per message plus a head item per thread;
 *  a turn that meets a full quota is QUOTA_EXCEEDED and leaves nothing behind. */
export class LocalStorageChatMessageStore extends PersistentChatMessageStore {
  constructor(options?: LocalStorageChatMessageStoreOptions);
  readonly keyPrefix: string;
  readonly storage: StorageLike;
  serialize(): Promise<LocalStorageStoreReference>;
  updateFromState(state: LocalStorageStoreReference | string): Promise<void>;
}

export interface AgentThreadState {
  type: 'agent_thread_state';
  service_thread_id?: string;
  chat_message_store_state?: unknown;
}

export class AgentThread {
  constructor(options?: { messageStore?: MessageStore; serviceThreadId?: string; id?: string });
  readonly id: string;
  messageStore?: MessageStore;
  serviceThreadId?: string;
  serialize(): Promise<AgentThreadState>;
}

export interface Tool {
  name: string;
  description?: string;
  /** JSON schema of the arguments. */
  parameters?: Record<string, unknown>;
  /** `signal` aborts with the run, or when another call of the same round fails. */
  execute(args: any, options: { thread: AgentThread; signal: AbortSignal }): unknown | Promise<unknown>;
}

export class Context {
  constructor(options?: { instructions?: string; messages?: MessageInput[]; tools?: Tool[] });
  instructions?: string;
  messages: MessageInput[];
  tools: Tool[];
}

/** What the agent passes to a provider's hooks: the run's thread, the agent
 *  (its instructions, contextWindow) and its chat client (for providers that
 *  ask the model themselves). */
export interface InvokingOptions {
  thread: AgentThread;
  agent?: ChatAgent;
  chatClient?: ChatClient;
  signal?: AbortSignal;
  /** In invoking, with several providers: what the providers before this one gave. */
  context?: Context;
}
export interface InvokedOptions extends InvokingOptions {
  error?: Error;
}

export class ContextProvider {
  threadCreated(threadId: string): Promise<void>;
  invoking(messages: ChatMessage[], options: InvokingOptions): Promise<Context | undefined>;
  /** After the reply, before the turn is stored (a failure here fails the run, nothing stored);
   *  with `error` when the run failed, storing the turn included (then after a first call). */
  invoked(requestMessages: ChatMessage[], responseMessages: ChatMessage[], options: InvokedOptions): Promise<void>;
}

/** The scope of a memory: a search sees only records whose scope has every
 *  field it gives equal. */
export interface MemoryScope {
  userId?: string;
  agentId?: string;
  applicationId?: string;
  threadId?: string;
}

export interface MemoryRecord {
  id: string;
  text: string;
  /** Present in search results: BM25, or with vectors 0.5 * BM25 / best + 0.5 * max(0, cosine). */
  score?: number;
  metadata: Record<string, unknown>;
  scope: MemoryScope;
  /** ISO 8601 UTC. */
  createdAt: string;
  updatedAt: string;
}

export interface MemoryEvent {
  event: 'ADD' | 'UPDATE' | 'DELETE';
  oldText?: string;
  newText?: string;
  at: string;
}

export interface MemoryFilter {
  metadata?: Record<string, unknown>;
  createdFrom?: Date | string | number;
  createdTo?: Date | string | number;
}

/** A key-value backend for the memory index (one JSON text per key). */
export interface KeyValueStorage {
  get(key: string): Promise<string | null | undefined> | string | null | undefined;
  put(key: string, value: string): Promise<unknown> | unknown;
}

/** A vector: an array (or array-like) of numbers, or a typed array (Float32Array is read fastest). */
export type Embedding = ArrayLike<number>;

export interface MemoryProviderOptions extends MemoryScope {
  scopeToPerOperationThreadId?: boolean;
  /** Where the index is kept: a key-value backend or a message store. Default: in memory. */
  storage?: KeyValueStorage | MessageStore;
  storageKey?: string;
  /** Texts to vectors; with it search is hybrid. */
  embed?: (texts: string[]) => Promise<Embedding[]> | Embedding[];
  topK?: number;
  minScore?: number;
  contextPrompt?: string;
  extract?: 'llm' | 'none';
  chatClient?: ChatClient;
  onWarning?: (message: string, cause?: unknown) => void;
}

export interface Mem0ProviderOptions extends MemoryScope {
  /** Sent as "Authorization: Token <apiKey>"; never in errors or serialized state. */
  apiKey: string;
  scopeToPerOperationThreadId?: boolean;
  /** Default https://api.mem0.ai */
  host?: string | URL;
  topK?: number;
  contextPrompt?: string;
  fetch?: typeof fetch;
  /** The limit of each request, answer included (default 30000): then MEM0_NETWORK_ERROR. */
  timeoutMs?: number;
  onWarning?: (message: string, cause?: unknown) => void;
}

/** The provider contract over Mem0's REST API: search before a run, add after it. */
export class Mem0Provider extends ContextProvider {
  constructor(options: Mem0ProviderOptions);
  readonly host: string;
  readonly scope: MemoryScope;
  toJSON(): { host: string; scope: MemoryScope; topK: number };
}

export class MemoryProvider extends ContextProvider {
  constructor(options: MemoryProviderOptions);
  readonly scope: MemoryScope;
  add(text: string, options?: { metadata?: Record<string, unknown> }): Promise<MemoryRecord>;
  addMany(texts: string[], options?: { metadata?: Record<string, unknown> }): Promise<MemoryRecord[]>;
  /** EMPTY_QUERY when the query holds no word. */
  search(query: string, options?: { topK?: number; minScore?: number }): Promise<MemoryRecord[]>;
  list(filter?: MemoryFilter): Promise<MemoryRecord[]>;
  update(id: string, text: string): Promise<MemoryRecord>;
  delete(id: string): Promise<void>;
  /** Deletes a memory (deleted already or not) and erases every text its history holds. */
  forget(id: string): Promise<void>;
  /** The ADD / UPDATE / DELETE events of a memory of this scope, deleted or not; NOT_FOUND for another scope's. */
  history(id: string): Promise<MemoryEvent[]>;
  /** Frees the index's memory in the core. */
  close(): void;
}

export class AggregateContextProvider extends ContextProvider {
  constructor(providers?: ContextProvider | ContextProvider[]);
  providers: ContextProvider[];
  add(provider: ContextProvider): void;
  invoking(messages: ChatMessage[], options: InvokingOptions): Promise<Context>;
}

export interface SummaryProviderOptions {
  /** Default: the agent's chat client. */
  chatClient?: ChatClient;
  /** The window the summary makes room in; default: the agent's contextWindow. */
  maxTokens?: number;
  reserveTokens?: number;
  encoding?: Encoding;
  /** Tokens of the window kept for the summary message (default 1000). */
  summaryMaxTokens?: number;
  /** The system prompt of the summary request. */
  prompt?: string;
  /** Where each thread's summary is kept (default: a Map); delete() for deleteSummary. */
  storage?: { get(key: string): unknown; set(key: string, value: unknown): unknown; delete?(key: string): unknown };
  /** Called when a summary response is unusable (the previous summary is kept). */
  onWarning?: (message: string, cause?: unknown) => void;
}

export interface ThreadSummary {
  text: string;
  first_message_id: string;
  last_message_id: string;
  /** When the last summarized message was created: once the store has evicted it, the summary goes on. */
  last_created_at?: string;
  message_count: number;
}

/**
 * Summarizes the turns a thread's context window drops into one system message
 * that stands in for them (metadata `summary_of`); the originals stay in the store.
 */
export class SummaryProvider extends ContextProvider {
  constructor(options?: SummaryProviderOptions);
  /** `thread`: the thread, or the id its summary is kept under (its store's threadId, else its id). */
  getSummary(thread: AgentThread | string): Promise<ThreadSummary | undefined>;
  /** Deletes the thread's summary (it holds what the thread said); a summary being made
   *  meanwhile is not written back. */
  deleteSummary(thread: AgentThread | string): Promise<void>;
}

export interface ChatClient {
  model?: string;
  /** Posts a chat-completions request body (JSON text); resolves with the response body text. */
  getResponse(body: string, options?: { signal?: AbortSignal }): Promise<string>;
  /** For agent.runStream: posts a request body that asks for a streamed reply and resolves,
   *  once the reply has begun, with the JSON text of each server-sent "data:" event (without
   *  "[DONE]"). A run that stops early calls the iterator's `return()`, even before the first
   *  read: that is where the reply's connection should close. */
  getStreamingResponse?(body: string, options?: { signal?: AbortSignal }): Promise<AsyncIterable<string>> | AsyncIterable<string>;
  /** Takes secrets out of the text of an error before it is thrown. */
  redact?(text: string): string;
}

export interface OpenAIChatClientOptions {
  baseURL?: string;
  apiKey?: string;
  model?: string;
  headers?: Record<string, string | number>;
  /** Azure OpenAI's api-version query parameter. */
  apiVersion?: string;
  /** Send the key in an 'api-key' header (Azure OpenAI) instead of Authorization. */
  azure?: boolean;
  /** Retries of 408, 429, 5xx and network errors before a reply begins (default 3). */
  maxRetries?: number;
  retryBaseDelayMs?: number;
  /** Cap of every wait between retries, Retry-After included (default 20000). */
  maxRetryDelayMs?: number;
  /** Limit of each attempt (default 60000); for a streamed reply, of the wait for it to
   *  begin and then of each gap between chunks. LLM_TIMEOUT past it. */
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class OpenAIChatClient implements ChatClient {
  constructor(options?: OpenAIChatClientOptions);
  readonly baseURL: string;
  readonly model?: string;
  readonly url: string;
  getResponse(body: string, options?: { signal?: AbortSignal }): Promise<string>;
  getStreamingResponse(body: string, options?: { signal?: AbortSignal }): Promise<AsyncIterable<string>>;
  /** The text with the API key and the values of credential headers (a name with a word ending
   *  as auth, key, token, secret, password, cookie or jwt does) replaced by "[redacted]". */
  redact(text: string): string;
}

export interface ChatAgentOptions {
  chatClient: ChatClient;
  instructions?: string;
  name?: string;
  description?: string;
  tools?: Tool[];
  chatMessageStoreFactory?: () => MessageStore;
  contextProviders?: ContextProvider | ContextProvider[];
  /** Tool rounds allowed in one run (default 8, at most 64). */
  maxToolRounds?: number;
  toolChoice?: 'auto' | 'none' | 'required' | Record<string, unknown>;
  /** Extra request fields, such as temperature. */
  options?: Record<string, unknown>;
  /** Fits every request's history into a token budget (see fitWindow). */
  contextWindow?: WindowOptions;
}

export interface RunOptions {
  thread?: AgentThread;
  tools?: Tool[];
  signal?: AbortSignal;
  options?: Record<string, unknown>;
}

export interface RunResult {
  text: string;
  /** The new assistant and tool messages of the turn. */
  messages: ChatMessage[];
  usage: { promptTokens: number; completionTokens: number; totalTokens: number };
  responseId?: string;
  finishReason?: string;
  /** With contextWindow: what the last request sent of the history. */
  window?: { tokens: number; historySent: number; historyDropped: number };
}

/** An update of agent.runStream, in the order they happen. */
export type RunUpdate =
  | { type: 'text_delta'; text: string }
  | { type: 'tool_call'; call_id: string; name: string; /** JSON text, as the model sent it */ arguments: string }
  | { type: 'tool_result'; call_id: string; name: string; result: unknown }
  | { type: 'response'; response: RunResult };

export class ChatAgent {
  constructor(options: ChatAgentOptions);
  readonly name?: string;
  readonly description?: string;
  readonly instructions?: string;
  readonly chatClient: ChatClient;
  readonly contextWindow?: WindowOptions;
  getNewThread(options?: { messageStore?: MessageStore; serviceThreadId?: string }): AgentThread;
  deserializeThread(state: AgentThreadState | Record<string, unknown> | string): Promise<AgentThread>;
  run(input: MessageInput | MessageInput[], options?: RunOptions): Promise<RunResult>;
  /** run() with the reply streamed: text deltas, tool calls and results as they happen, then
   *  the response. The thread receives the turn only when the stream completes; any failure
   *  (ABORTED, LLM_STREAM_ERROR, INVALID_RESPONSE, ...) ends the iteration with a
   *  ThreadmemError and adds nothing; leaving the loop early cancels the run. */
  runStream(input: MessageInput | MessageInput[], options?: RunOptions): AsyncGenerator<RunUpdate, void, undefined>;
  close(): void;
}


/** A built-in encoding, or a counter function (text) => non-negative integer (synchronous). */
export type Encoding = EncodingName | ((text: string) => number);

export interface WindowOptions {
  /** The model's context length, in tokens. */
  maxTokens: number;
  /** Kept free for the reply and the tool definitions (default 0). */
  reserveTokens?: number;
  /** Default 'o200k_base'. */
  encoding?: Encoding;
  /** 'last' (default): the newest history that fits; 'first': the oldest. */
  strategy?: 'last' | 'first';
}

export interface WindowResult {
  /** What is sent, oldest first: system messages, then whole turns. */
  messages: ChatMessage[];
  /** What is not sent, oldest first. */
  dropped: ChatMessage[];
  /** How many of `dropped` (its first ones) are older than the history sent. */
  droppedBefore: number;
  /** The tokens of the request: the messages by OpenAI's rule plus the reply priming. */
  tokens: number;
}

/**
 * Tokens of a text, or of chat messages (one, or a list) as a chat-completions request costs
 * them (per message, per name, tool calls and results, plus the reply priming).
 */
export function countTokens(
  textOrMessages: string | Exclude<MessageInput, string> | MessageInput[],
  options?: { encoding?: Encoding },
): Promise<number>;

/**
 * The messages that fit a context window: system messages first and always kept, tool calls with
 * their results kept or dropped together, never starting mid-turn. Throws CONTEXT_WINDOW_EXCEEDED
 * when the system messages or the newest user turn cannot fit.
 */
export function fitWindow(messages: MessageInput | MessageInput[], options: WindowOptions): Promise<WindowResult>;

/**
 * Loads (or reloads) the WASM module. `vocabUrl` is the base URL of the
 * tokenizer's vocabulary assets (`<name>.tmv`; default: the package's
 * dist/vocab/). A reloaded module loads vocabularies again when used; the
 * agents, stores and memory indexes made before it are closed (CLOSED).
 */
export function init(options?: {
  wasmBinary?: ArrayBuffer | Uint8Array;
  wasmUrl?: string | URL;
  vocabUrl?: string | URL;
}): Promise<void>;

/** The exact encodings (OpenAI's tiktoken vocabularies), and the estimate. */
export type EncodingName = 'o200k_base' | 'cl100k_base' | 'estimate';

export interface EncodeOptions {
  /** Special tokens to recognise: 'all', or a list; by default none (they are plain text). */
  allowedSpecial?: 'all' | string[];
}

/**
 * Exact BPE tokens, equal to OpenAI's tiktoken, by the C core. Vocabularies
 * load lazily: `await Tokenizer.load(name)` in browsers; in Node the
 * constructor may load one synchronously. 'estimate' counts only.
 */
export class Tokenizer {
  /** Loads the encoding's vocabulary when needed (fetches it in browsers). */
  static load(name: EncodingName): Promise<Tokenizer>;
  /** Throws ThreadmemError ENCODING_NOT_LOADED when the vocabulary is not loaded and cannot be read synchronously; UNKNOWN_ENCODING for an unknown name. */
  constructor(name: EncodingName);
  readonly name: EncodingName;
  encode(text: string, options?: EncodeOptions): Uint32Array;
  /** Invalid UTF-8 (ids that cut a character) decodes to U+FFFD. */
  decode(ids: Uint32Array | readonly number[]): string;
  /** As encode(text).length, without building the ids. */
  count(text: string): number;
}
