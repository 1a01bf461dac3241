// The default in-memory ChatMessageStore: on its own (add, list, queries,
// eviction, serialization) and as the agent's default and factory-made store.

import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import { ChatAgent, ChatMessage, ChatMessageStore, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const texts = (messages) => messages.map((m) => m.text);

// u1 a1 u2 a2 u3 a3
async function sixMessages() {
  const store = new ChatMessageStore();
  for (let i = 1; i <= 3; i++) {
    await store.addMessages([new ChatMessage('user', `u${i}`), new ChatMessage('assistant', `a${i}`)]);
  }
  return store;
}

test('addMessages accepts every message form and fills in ids and times', async () => {
  const store = new ChatMessageStore();
  const before = Date.now();
  await store.addMessages([
    new ChatMessage('system', 'be brief'),
    'a plain string is a user message',
    { role: 'user', text: 'plain text form' },
    { role: 'assistant', content: 'OpenAI content form' },
    new ChatMessage('user', 'with id', { messageId: 'm-fixed', authorName: 'Ann', createdAt: '2024-05-01T10:00:00.000Z', metadata: { k: 'v' } }),
  ]);
  const list = await store.listMessages();
  expect(list.map((m) => [m.role, m.text])).toEqual([
    ['system', 'be brief'],
    ['user', 'a plain string is a user message'],
    ['user', 'plain text form'],
    ['assistant', 'OpenAI content form'],
    ['user', 'with id'],
  ]);
  for (const m of list) {
    expect(m).toBeInstanceOf(ChatMessage);
    expect(typeof m.messageId).toBe('string');
    expect(m.messageId.length).toBeGreaterThan(0);
  }
  // Filled-in times are now; a given one is kept (checked below).
  for (const m of list.slice(0, 4)) {
    expect(new Date(m.createdAt).toISOString()).toBe(m.createdAt);
    expect(Date.parse(m.createdAt)).toBeGreaterThanOrEqual(before - 1000);
    expect(Date.parse(m.createdAt)).toBeLessThanOrEqual(Date.now() + 1000);
  }
  expect(new Set(list.map((m) => m.messageId)).size).toBe(5);
  expect(list[4]).toMatchObject({
    messageId: 'm-fixed',
    authorName: 'Ann',
    createdAt: '2024-05-01T10:00:00.000Z',
    metadata: { k: 'v' },
  });
  expect(await store.count()).toBe(5);
});

test('the constructor takes initial messages and options', async () => {
  const store = new ChatMessageStore([new ChatMessage('user', 'one'), 'two'], { maxMessages: 10 });
  expect(texts(await store.listMessages())).toEqual(['one', 'two']);
  const withOptions = new ChatMessageStore({ maxMessages: 1 });
  await withOptions.addMessages(['x', 'y']);
  expect(texts(await withOptions.listMessages())).toEqual(['y']);
});

test('serialize gives the Agent Framework store state; deserialize restores it exactly', async () => {
  const store = await sixMessages();
  await store.addMessages([
    new ChatMessage('assistant', [{ type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"x":1}' }]),
    new ChatMessage('tool', [{ type: 'function_result', call_id: 'c1', result: { ok: true, list: [1, 2] } }]),
  ]);
  const state = await store.serialize();
  expect(state.type).toBe('chat_message_store_state');
  expect(state.messages).toHaveLength(8);
  expect(state.messages[0]).toEqual({
    type: 'chat_message',
    role: { type: 'role', value: 'user' },
    contents: [{ type: 'text', text: 'u1' }],
    message_id: expect.any(String),
    created_at: expect.any(String),
  });
  expect(state.messages[6].contents).toEqual([{ type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"x":1}' }]);
  expect(state.messages[7].contents).toEqual([{ type: 'function_result', call_id: 'c1', result: { ok: true, list: [1, 2] } }]);

  const again = await ChatMessageStore.deserialize(JSON.parse(JSON.stringify(state)));
  expect(again).toBeInstanceOf(ChatMessageStore);
  expect(await again.serialize()).toEqual(state);
  expect((await again.listMessages()).map((m) => m.toJSON())).toEqual(state.messages);

  // ChatMessage.toJSON is the same canonical form.
  expect((await store.listMessages()).map((m) => JSON.parse(JSON.stringify(m)))).toEqual(state.messages);
});

test('updateFromState replaces the content', async () => {
  const store = await sixMessages();
  const other = new ChatMessageStore(['only me']);
  await store.updateFromState(await other.serialize());
  expect(texts(await store.listMessages())).toEqual(['only me']);
  await store.updateFromState({ type: 'chat_message_store_state', messages: [] });
  expect(await store.count()).toBe(0);
});

test('getHistory: newest `limit` after skipping newest `offset`, oldest first, filtered by role', async () => {
  const store = await sixMessages();
  expect(texts(await store.getHistory())).toEqual(['u1', 'a1', 'u2', 'a2', 'u3', 'a3']);
  expect(texts(await store.getHistory({ limit: 2 }))).toEqual(['u3', 'a3']);
  expect(texts(await store.getHistory({ limit: 2, offset: 2 }))).toEqual(['u2', 'a2']);
  expect(texts(await store.getHistory({ offset: 4 }))).toEqual(['u1', 'a1']);
  expect(texts(await store.getHistory({ offset: 10 }))).toEqual([]);
  expect(texts(await store.getHistory({ limit: 100 }))).toEqual(['u1', 'a1', 'u2', 'a2', 'u3', 'a3']);
  expect(texts(await store.getHistory({ roles: ['user'] }))).toEqual(['u1', 'u2', 'u3']);
  expect(texts(await store.getHistory({ roles: ['user'], limit: 2 }))).toEqual(['u2', 'u3']);
  expect(texts(await store.getHistory({ roles: ['assistant'], limit: 1, offset: 1 }))).toEqual(['a2']);
  expect(texts(await store.getHistory({ roles: ['tool'] }))).toEqual([]);
});

test('count and clear', async () => {
  const store = await sixMessages();
  expect(await store.count()).toBe(6);
  await store.clear();
  expect(await store.count()).toBe(0);
  expect(await store.listMessages()).toEqual([]);
  await store.addMessages(['after clear']);
  expect(texts(await store.listMessages())).toEqual(['after clear']);
});

test('maxMessages evicts the oldest first (FIFO), across calls and within one call', async () => {
  const store = new ChatMessageStore({ maxMessages: 3 });
  await store.addMessages(['m1', 'm2']);
  await store.addMessages(['m3', 'm4']);
  expect(texts(await store.listMessages())).toEqual(['m2', 'm3', 'm4']);
  await store.addMessages(['m5', 'm6', 'm7', 'm8', 'm9']);
  expect(texts(await store.listMessages())).toEqual(['m7', 'm8', 'm9']);
  expect(await store.count()).toBe(3);
  expect((await store.serialize()).messages).toHaveLength(3);
});

test('a failed addMessages adds nothing (all or nothing)', async () => {
  const store = await sixMessages();
  const before = await store.serialize();
  const err = await caught(store.addMessages(['fine', { role: 'wizard', text: 'bad role' }]));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('INVALID_FORMAT');
  expect(await store.serialize()).toEqual(before);
});

test('close frees the store; later calls fail with CLOSED; close twice is harmless', async () => {
  const store = await sixMessages();
  store.close();
  store.close();
  for (const call of [
    () => store.listMessages(),
    () => store.addMessages(['x']),
    () => store.count(),
    () => store.serialize(),
    () => store.getHistory({ limit: 1 }),
  ]) {
    const err = await caught(call);
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(err.code).toBe('CLOSED');
  }
});

test('the agent uses an in-memory ChatMessageStore by default', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread();
  expect(thread.messageStore).toBeInstanceOf(ChatMessageStore);
  await agent.run('hello', { thread });
  expect(await thread.messageStore.count()).toBe(2);
  agent.close();
});

test('chatMessageStoreFactory is called once per new thread and its store is used', async () => {
  const made = [];
  const factory = jest.fn(() => {
    const s = new ChatMessageStore({ maxMessages: 4 });
    made.push(s);
    return s;
  });
  const agent = new ChatAgent({ chatClient: client, chatMessageStoreFactory: factory });
  const t1 = agent.getNewThread();
  expect(factory).toHaveBeenCalledTimes(1);
  const t2 = agent.getNewThread();
  expect(factory).toHaveBeenCalledTimes(2);
  expect(t1.messageStore).toBe(made[0]);
  expect(t2.messageStore).toBe(made[1]);

  for (let i = 1; i <= 3; i++) await agent.run(`turn ${i}`, { thread: t1 });
  // maxMessages 4 from the factory's store: the oldest turn was evicted.
  expect(texts(await t1.messageStore.listMessages())).toEqual([
    'turn 2',
    expect.stringMatching(/^Echo: turn 2/),
    'turn 3',
    expect.stringMatching(/^Echo: turn 3/),
  ]);
  expect(await t2.messageStore.count()).toBe(0);

  // A thread given its own store does not call the factory.
  const own = new ChatMessageStore();
  const t3 = agent.getNewThread({ messageStore: own });
  expect(t3.messageStore).toBe(own);
  expect(factory).toHaveBeenCalledTimes(2);

  // Deserializing rebuilds the thread's history in a store.
  const resumed = await agent.deserializeThread(await t1.serialize());
  expect(texts(await resumed.messageStore.listMessages())).toEqual(texts(await t1.messageStore.listMessages()));
  agent.close();
});

test('history from a store given up front reaches the model', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const store = new ChatMessageStore([new ChatMessage('user', 'my name is Eve'), new ChatMessage('assistant', 'Hi Eve')]);
  const thread = agent.getNewThread({ messageStore: store });
  const r = await agent.run("what's my name", { thread });
  expect(r.text).toBe('Your name is Eve.');
  expect(llm.last().body.messages.map(textOf)).toEqual(['my name is Eve', 'Hi Eve', "what's my name"]);
  agent.close();
});
