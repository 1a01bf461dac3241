// Type check of what the persistent stores share, a backend of one's own,
// and content items as the core gives them (compiled, never run). Also
// compiled without the DOM library (tsconfig.node.json).
import {
  ChatAgent, ChatMessage, FileChatMessageStore, PersistentChatMessageStore, RedisChatMessageStore,
  type PersistentBackend,
} from 'threadmem/node';

async function sharedApi(): Promise<number> {
  const stores: PersistentChatMessageStore[] = [
    new FileChatMessageStore({ directory: '/tmp/threads' }),
    new RedisChatMessageStore({ redisUrl: 'redis://127.0.0.1:6379', ttlSeconds: 60 }),
  ];
  let bytes = 0;
  for (const store of stores) {
    await store.addMessages('hi');
    bytes += (store.lastAppendBytes ?? 0) + (store.lastRecovery?.bytes ?? 0) + (store.ttlSeconds ?? 0);
    await store.close();
  }
  return bytes;
}
void sharedApi;

// A backend as loose as the store allows: reference() may be async, remove()
// may return nothing, a read of records may leave firstSeq out (0).
const rows = new Map<string, Uint8Array[]>();
const backend: PersistentBackend = {
  kind: 'rows',
  inPlace: true,
  reference: async () => ({ table: 'threads' }),
  adopt() {},
  lock: (_threadId, fn) => fn(),
  read: (threadId) => ({ records: rows.get(threadId) ?? [], full: true, mark: rows.get(threadId)?.length ?? 0 }),
  async append(threadId, records) {
    rows.set(threadId, [...(rows.get(threadId) ?? []), ...records]);
    return rows.get(threadId)?.length;
  },
  remove: (threadId) => rows.delete(threadId),
  list: () => [...rows.keys()],
};

async function customBackend(agent: ChatAgent): Promise<string> {
  const store = new PersistentChatMessageStore(backend, { threadId: 'rows-1' });
  const ref = await store.serialize();
  const reasoning = new ChatMessage('assistant', [{ type: 'text_reasoning' }]).contents[0];
  const said = reasoning.type === 'text_reasoning' ? reasoning.text ?? '' : '';
  return [ref.kind, ref.thread_id, String(ref.table), agent.description ?? '', said].join(' ');
}
void customBackend;

async function webCryptoKey(): Promise<void> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  new FileChatMessageStore({ directory: '/tmp/threads', encryption: { key } }).close();
}
void webCryptoKey;
