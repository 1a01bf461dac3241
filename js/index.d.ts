// Types of the universal entry point 'threadmem'.

export type Role = 'system' | 'user' | 'assistant' | 'tool';

export type Content =
  | { type: 'text'; text: string; additional_properties?: Record<string, unknown> }
  | { type: 'function_call'; call_id: string; name: string; arguments?: string | Record<string, unknown>; additional_properties?: Record<string, unknown> }
  | { type: 'function_result'; call_id: string; result?: unknown; additional_properties?: Record<string, unknown> }
  | { type: 'data'; uri: string; media_type?: string; additional_properties?: Record<string, unknown> }
  | { type: 'uri'; uri: string; media_type?: string; additional_properties?: Record<string, unknown> }
  | { type: 'text_reasoning'; text: string; additional_properties?: Record<string, unknown> };

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
  | 'OUT_OF_MEMORY' | 'INVALID_RESPONSE' | 'MAX_TOOL_ROUNDS' | 'LLM_HTTP_ERROR'
  | 'LLM_NETWORK_ERROR' | 'LLM_TIMEOUT' | 'LLM_STREAM_ERROR' | 'ABORTED' | 'TOOL_ERROR' | 'STORE_ERROR'
  | 'PROVIDER_ERROR' | 'CLOSED' | 'NOT_FOUND' | 'NOT_INITIALIZED' | 'HOST_ERROR'
  | 'RUN_FAILED' | 'INTERNAL_ERROR' | 'UNKNOWN_ENCODING' | 'ENCODING_NOT_LOADED'
  | 'CONTEXT_WINDOW_EXCEEDED' | 'INVALID_COUNTER' | 'COUNTER_ERROR'
  | 'STORAGE_ERROR' | 'CORRUPT_RECORD' | 'LOCK_TIMEOUT';

export class ThreadmemError extends Error {
  constructor(code: ThreadmemErrorCode, message: string, options?: { cause?: unknown; status?: number });
  readonly name: 'ThreadmemError';
  readonly code: ThreadmemErrorCode;
  /** The HTTP status, for LLM_HTTP_ERROR. */
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
  static fromJSON(value: MessageInput): ChatMessage;
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
  execute(args: any, options: { thread: AgentThread; signal?: AbortSignal }): unknown | Promise<unknown>;
}

export class Context {
  constructor(options?: { instructions?: string; messages?: MessageInput[]; tools?: Tool[] });
  instructions?: string;
  messages: MessageInput[];
  tools: Tool[];
}

export class ContextProvider {
  threadCreated(threadId: string): Promise<void>;
  invoking(messages: ChatMessage[], options: { thread: AgentThread }): Promise<Context | undefined>;
  invoked(
    requestMessages: ChatMessage[],
    responseMessages: ChatMessage[],
    options: { thread: AgentThread; error?: Error },
  ): Promise<void>;
}

export class AggregateContextProvider extends ContextProvider {
  constructor(providers?: ContextProvider | ContextProvider[]);
  providers: ContextProvider[];
  add(provider: ContextProvider): void;
  invoking(messages: ChatMessage[], options: { thread: AgentThread }): Promise<Context>;
}

export interface ChatClient {
  model?: string;
  /** Posts a chat-completions request body (JSON text); resolves with the response body text. */
  getResponse(body: string, options?: { signal?: AbortSignal }): Promise<string>;
  /** For agent.runStream: posts a request body that asks for a streamed reply and resolves,
   *  once the reply has begun, with the JSON text of each server-sent "data:" event (without
   *  "[DONE]"). */
  getStreamingResponse?(body: string, options?: { signal?: AbortSignal }): Promise<AsyncIterable<string>> | AsyncIterable<string>;
  /** Takes secrets out of the text of an error before it is thrown. */
  redact?(text: string): string;
}

export interface OpenAIChatClientOptions {
  baseURL?: string;
  apiKey?: string;
  model?: string;
  headers?: Record<string, string>;
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
  /** The text with the API key replaced by "[redacted]". */
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
  readonly instructions?: string;
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
  /** The tokens of the request: the messages by OpenAI's rule plus the reply priming. */
  tokens: number;
}

/**
 * Tokens of a text, or of chat messages as a chat-completions request costs them
 * (per message, per name, tool calls and results, plus the reply priming).
 */
export function countTokens(
  textOrMessages: string | MessageInput[],
  options?: { encoding?: Encoding },
): Promise<number>;

/**
 * The messages that fit a context window: system messages first and always kept, tool calls with
 * their results kept or dropped together, never starting mid-turn. Throws CONTEXT_WINDOW_EXCEEDED
 * when the system messages or the newest user turn cannot fit.
 */
export function fitWindow(messages: MessageInput[], options: WindowOptions): Promise<WindowResult>;

/**
 * Loads (or reloads) the WASM module. `vocabUrl` is the base URL of the
 * tokenizer's vocabulary assets (`<name>.tmv`; default: the package's
 * dist/vocab/). A reloaded module loads vocabularies again when used.
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
