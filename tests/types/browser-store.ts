// Type check of the browser stores (compiled, never run).
import {
  ChatAgent, IndexedDBChatMessageStore, LocalStorageChatMessageStore, ThreadmemError,
  type PersistentChatMessageStore,
} from 'threadmem';

async function indexedDBExample(agent: ChatAgent): Promise<string[]> {
  const store = new IndexedDBChatMessageStore({ dbName: 'chat', maxMessages: 200 });
  await store.addMessages([{ role: 'user', text: 'hi' }]);
  const recent = await store.getHistory({ limit: 5 });
  const ref = await store.serialize();
  const thread = agent.getNewThread({ messageStore: store });
  void thread;
  await store.deleteThread('old-thread');
  store.close();
  return [ref.db_name, ref.thread_id, ...recent.map((m) => m.text), ...(await store.listThreads())];
}
void indexedDBExample;

async function localStorageExample(storage: Storage): Promise<number> {
  const store = new LocalStorageChatMessageStore({ keyPrefix: 'app', threadId: 'support-1', storage });
  try {
    await store.addMessages('hello');
  } catch (err) {
    if (err instanceof ThreadmemError && err.code === 'QUOTA_EXCEEDED') await store.clear();
  }
  const ref = await store.serialize();
  await store.updateFromState(ref);
  return store.count();
}
void localStorageExample;

async function encryptedExample(): Promise<string[]> {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const idb = new IndexedDBChatMessageStore({ threadId: 'secret', encryption: { key } });
  const ls = new LocalStorageChatMessageStore({ encryption: { key: 'a passphrase' } });
  const both: PersistentChatMessageStore[] = [idb, ls];
  void both;
  try {
    return (await idb.listMessages()).map((m) => m.text);
  } catch (err) {
    if (err instanceof ThreadmemError && (err.code === 'DECRYPTION_FAILED' || err.code === 'ENCRYPTION_REQUIRED' || err.code === 'NOT_ENCRYPTED')) return [];
    throw err;
  } finally {
    idb.close();
    ls.close();
  }
}
void encryptedExample;
