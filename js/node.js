// threadmem/node: the Node-only entry point. It offers everything of the
// universal entry; the Node persistence backends are added here.

export * from './index.js';
export { FileChatMessageStore } from './file-store.js';
export { RedisChatMessageStore } from './redis-store.js';
