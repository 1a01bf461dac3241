// threadmem: conversation memory for LLM agents, in the browser and in Node.
// Importing this module loads the WASM core (top-level await); init() exists
// for custom hosting of the .wasm file.

import { initDefault } from './core.js';

export { init } from './core.js';
export { ThreadmemError } from './errors.js';
export { ChatMessage } from './message.js';
export { ChatMessageStore } from './store.js';
export { PersistentChatMessageStore } from './persistent-store.js';
export { IndexedDBChatMessageStore } from './indexeddb-store.js';
export { LocalStorageChatMessageStore } from './local-storage-store.js';
export { AgentThread } from './thread.js';
export { ContextProvider, Context, AggregateContextProvider } from './providers.js';
export { SummaryProvider } from './summary.js';
export { OpenAIChatClient } from './openai.js';
export { ChatAgent } from './agent.js';
export { countTokens, fitWindow } from './window.js';
export { Tokenizer } from './tokenizer.js';
export { MemoryProvider } from './memory.js';
export { Mem0Provider } from './mem0.js';

await initDefault();
