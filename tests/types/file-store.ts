// Type check of the Node entry's persistent store (compiled, never run).
import { ChatAgent, FileChatMessageStore, RedisChatMessageStore } from 'threadmem/node';

async function fileStoreExample(agent: ChatAgent): Promise<string[]> {
  const store = new FileChatMessageStore({ directory: '/tmp/threads', maxMessages: 100 });
  await store.addMessages([{ role: 'user', text: 'hi' }]);
  const history = await store.getHistory({ limit: 10, roles: ['user'] });
  const ref = await store.serialize();
  await store.updateFromState(ref);
  const thread = agent.getNewThread({ messageStore: store });
  void thread;
  store.close();
  return [ref.thread_id, ...history.map((m) => m.text), ...(await store.listThreads())];
}
void fileStoreExample;

async function redisStoreExample(): Promise<number> {
  const store = new RedisChatMessageStore({ redisUrl: 'redis://127.0.0.1:6379', maxMessages: 50, ttlSeconds: 3600, timeoutMs: 5000 });
  await store.addMessages({ role: 'user', text: 'hi' });
  const n = await store.count();
  const window = await store.getContextWindow({ maxTokens: 8000, encoding: 'estimate' });
  await store.close();
  const byTokens = new RedisChatMessageStore({ redisUrl: 'redis://127.0.0.1:6379', maxTokens: 8000, encoding: 'cl100k_base' });
  const limit: number | undefined = byTokens.maxTokens;
  await byTokens.close();
  return n + window.tokens + (limit ?? 0);
}
void redisStoreExample;

async function encryptedStoresExample(agent: ChatAgent, state: string): Promise<number> {
  const encryption = { key: 'a passphrase from the environment' };
  const file = new FileChatMessageStore({ directory: '/tmp/threads', encryption });
  const redis = new RedisChatMessageStore({ redisUrl: 'redis://127.0.0.1:6379', encryption });
  await file.addMessages({ role: 'user', text: 'hi' });
  const resumed = await agent.deserializeThread(state);
  void resumed;
  await redis.close();
  return file.count();
}
void encryptedStoresExample;
