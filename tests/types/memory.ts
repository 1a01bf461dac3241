import { ChatAgent, MemoryProvider, OpenAIChatClient, ThreadmemError, type MemoryRecord } from 'threadmem';

const chatClient = new OpenAIChatClient({ baseURL: 'http://127.0.0.1:1/v1', model: 'm' });
const memory = new MemoryProvider({
  userId: 'alice',
  agentId: 'helper',
  storage: { get: async (k: string) => localStore.get(k), put: async (k: string, v: string) => void localStore.set(k, v) },
  embed: async (texts) => texts.map(() => new Float32Array(384)),
  topK: 3,
  onWarning: (message) => console.log(message),
});
const localStore = new Map<string, string>();
const agent = new ChatAgent({ chatClient, contextProviders: [memory] });

async function main(): Promise<void> {
  const rec: MemoryRecord = await memory.add('I live in Oslo', { metadata: { source: 'chat' } });
  const hits: MemoryRecord[] = await memory.search('where do I live', { topK: 1 });
  const score: number | undefined = hits[0]?.score;
  await memory.update(rec.id, 'I live in Bergen');
  const events = await memory.history(rec.id);
  const first: 'ADD' | 'UPDATE' | 'DELETE' = events[0].event;
  await memory.list({ createdFrom: new Date(0), metadata: { source: 'chat' } });
  await memory.delete(rec.id);
  try {
    await memory.search('');
  } catch (err) {
    if (err instanceof ThreadmemError && err.code === 'EMPTY_QUERY') console.log(score, first);
  }
  await agent.run('hello', { thread: agent.getNewThread() });
  memory.close();
}
void main;

import { Mem0Provider } from 'threadmem';
const mem0 = new Mem0Provider({ apiKey: 'k', userId: 'u', agentId: 'a', host: 'http://127.0.0.1:1', timeoutMs: 10_000 });
const shown: { host: string } = mem0.toJSON();
void shown;
