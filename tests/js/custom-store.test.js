// A chat message store written in JavaScript by the user: the agent uses it
// exactly like the built-in one (history in, turn out, serialize, deserialize).

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { AgentThread, ChatAgent, ChatMessage, OpenAIChatClient } from '../../js/index.js';
import { startLLMServer, textOf } from './helpers/llm-server.js';

// Keeps Agent Framework's JSON of each message in an array.
class ArrayStore {
  constructor(messages = []) {
    this.items = [...messages];
    this.addCalls = [];
    this.listCalls = 0;
  }

  async addMessages(messages) {
    this.addCalls.push(messages);
    this.items.push(...messages.map((m) => JSON.parse(JSON.stringify(m))));
  }

  async listMessages() {
    this.listCalls += 1;
    return this.items.map((m) => ChatMessage.fromJSON(m));
  }

  async serialize() {
    return { type: 'chat_message_store_state', messages: this.items };
  }

  async updateFromState(state) {
    this.items = [...(state?.messages ?? [])];
  }

  static async deserialize(state) {
    const store = new ArrayStore();
    await store.updateFromState(state);
    return store;
  }
}

// A store with a state of its own shape (not Agent Framework's), whose
// listMessages returns plain objects.
class LinesStore {
  constructor() {
    this.lines = [];
  }

  async addMessages(messages) {
    for (const m of messages) this.lines.push(`${m.role}\t${m.text}`);
  }

  async listMessages() {
    return this.lines.map((l) => {
      const [role, text] = l.split('\t');
      return { role, text };
    });
  }

  async serialize() {
    return { kind: 'lines-store', version: 1, lines: this.lines };
  }

  async updateFromState(state) {
    this.lines = [...state.lines];
  }

  static async deserialize(state) {
    const s = new LinesStore();
    await s.updateFromState(state);
    return s;
  }
}

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

test('a custom store from the factory holds the thread: history in, one add per turn', async () => {
  const agent = new ChatAgent({ chatClient: client, instructions: 'Be kind.', chatMessageStoreFactory: () => new ArrayStore() });
  const thread = agent.getNewThread();
  const store = thread.messageStore;
  expect(store).toBeInstanceOf(ArrayStore);

  await agent.run('my name is Frida', { thread });
  const r = await agent.run("what's my name", { thread });
  expect(r.text).toBe('Your name is Frida.');
  expect(llm.last().body.messages.map((m) => [m.role, textOf(m)])).toEqual([
    ['system', 'Be kind.'],
    ['user', 'my name is Frida'],
    ['assistant', expect.stringMatching(/^Echo: my name is Frida/)],
    ['user', "what's my name"],
  ]);

  // One addMessages call per run, with the whole turn, as ChatMessages.
  expect(store.addCalls).toHaveLength(2);
  for (const call of store.addCalls) {
    expect(call.map((m) => m.role)).toEqual(['user', 'assistant']);
    for (const m of call) expect(m).toBeInstanceOf(ChatMessage);
  }
  expect(store.listCalls).toBeGreaterThanOrEqual(2);
  expect(store.items.map((m) => m.contents[0].text)).toEqual([
    'my name is Frida',
    expect.stringMatching(/^Echo/),
    "what's my name",
    'Your name is Frida.',
  ]);
  agent.close();
});

test('a custom store passed to getNewThread works without a factory', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const store = new ArrayStore([{ role: 'user', contents: [{ type: 'text', text: 'my name is Gus' }] }]);
  const thread = agent.getNewThread({ messageStore: store });
  expect(thread.messageStore).toBe(store);
  expect((await agent.run("what's my name", { thread })).text).toBe('Your name is Gus.');
  expect(store.items).toHaveLength(3);
  agent.close();
});

test('a thread with a custom store serializes its state and deserializes into the same kind of store', async () => {
  const agent = new ChatAgent({ chatClient: client, chatMessageStoreFactory: () => new ArrayStore() });
  const thread = agent.getNewThread();
  await agent.run('my name is Hana', { thread });
  const state = await thread.serialize();
  expect(state).toEqual({ type: 'agent_thread_state', chat_message_store_state: await thread.messageStore.serialize() });

  const resumed = await agent.deserializeThread(JSON.parse(JSON.stringify(state)));
  expect(resumed).toBeInstanceOf(AgentThread);
  expect(resumed.messageStore).toBeInstanceOf(ArrayStore);
  expect(resumed.messageStore).not.toBe(thread.messageStore);
  expect(resumed.messageStore.items).toEqual(thread.messageStore.items);
  expect((await agent.run("what's my name", { thread: resumed })).text).toBe('Your name is Hana.');
  expect(await resumed.serialize()).toEqual({
    type: 'agent_thread_state',
    chat_message_store_state: { type: 'chat_message_store_state', messages: resumed.messageStore.items },
  });
  agent.close();
});

test('a custom store with a state of its own shape round-trips through the thread', async () => {
  const agent = new ChatAgent({ chatClient: client, chatMessageStoreFactory: () => new LinesStore() });
  const thread = agent.getNewThread();
  await agent.run('my name is Ines', { thread });
  expect(thread.messageStore.lines).toEqual(['user\tmy name is Ines', expect.stringMatching(/^assistant\tEcho/)]);
  const state = await thread.serialize();
  expect(state.chat_message_store_state).toEqual({ kind: 'lines-store', version: 1, lines: thread.messageStore.lines });

  const resumed = await agent.deserializeThread(JSON.parse(JSON.stringify(state)));
  expect(resumed.messageStore).toBeInstanceOf(LinesStore);
  expect(resumed.messageStore.lines).toEqual(thread.messageStore.lines);
  // Plain { role, text } objects from listMessages are history like any other.
  expect((await agent.run("what's my name", { thread: resumed })).text).toBe('Your name is Ines.');
  agent.close();
});
