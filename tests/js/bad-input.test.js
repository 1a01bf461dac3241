// Bad input of every kind: each fails with a ThreadmemError of the stated
// code, leaves the thread and store exactly as they were (serialize() before
// and after), and the module keeps working afterwards.

import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import {
  AgentThread,
  ChatAgent,
  ChatMessage,
  ChatMessageStore,
  ContextProvider,
  OpenAIChatClient,
  ThreadmemError,
} from '../../js/index.js';
import { caught, deepObject, startLLMServer } from './helpers/llm-server.js';

const MiB = 1024 * 1024;

let llm;
let client;
let agent;
let thread;
let before;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5, maxRetries: 1 });
  agent = new ChatAgent({
    chatClient: client,
    instructions: 'Test.',
    tools: [
      { name: 'get_weather', description: 'w', parameters: { type: 'object', properties: { city: { type: 'string' } } }, execute: async ({ city }) => `${city}: sunny` },
      {
        name: 'explode',
        description: 'throws',
        parameters: { type: 'object', properties: {} },
        execute: async () => {
          throw new RangeError('the tool blew up');
        },
      },
      { name: 'deep_result', description: 'nested', parameters: { type: 'object', properties: {} }, execute: async () => deepObject(80) },
    ],
  });
});
afterAll(async () => {
  agent.close();
  await llm.close();
});

// A thread with two good turns, and its state, before each test.
beforeEach(async () => {
  llm.reset();
  thread = agent.getNewThread();
  await agent.run('my name is Kim', { thread });
  await agent.run('second turn', { thread });
  before = await thread.serialize();
  llm.reset();
});

// The thread is exactly as before, and a run on it still works and sees the
// history.
async function expectThreadIntactAndUsable() {
  expect(await thread.serialize()).toEqual(before);
  llm.reset();
  const r = await agent.run("what's my name", { thread });
  expect(r.text).toBe('Your name is Kim.');
  expect(await thread.messageStore.count()).toBe(before.chat_message_store_state.messages.length + 2);
}

function expectCode(err, code) {
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err).toBeInstanceOf(Error);
  expect(err.name).toBe('ThreadmemError');
  expect(err.code).toBe(code);
  expect(typeof err.message).toBe('string');
  expect(err.message.length).toBeGreaterThan(0);
}

// A valid thread state whose second message is replaced by `second`.
function stateWith(second) {
  return {
    type: 'agent_thread_state',
    chat_message_store_state: {
      type: 'chat_message_store_state',
      messages: [{ type: 'chat_message', role: { type: 'role', value: 'user' }, contents: [{ type: 'text', text: 'hi' }] }, second],
    },
  };
}

// ---- thread and store states ----

test('malformed JSON text of a state: INVALID_JSON', async () => {
  expectCode(await caught(agent.deserializeThread('{"type":"agent_thread_state", "chat_message_store_state": {')), 'INVALID_JSON');
  expectCode(await caught(agent.deserializeThread('not json at all')), 'INVALID_JSON');
  expectCode(await caught(ChatMessageStore.deserialize('{"type":"chat_message_store_state","messages":[}')), 'INVALID_JSON');
  const err = await caught(thread.messageStore.updateFromState('{"messages": [1,2'));
  expectCode(err, 'INVALID_JSON');
  await expectThreadIntactAndUsable();
});

test('a wrong type tag: INVALID_FORMAT', async () => {
  expectCode(await caught(agent.deserializeThread({ type: 'agent_thread_statez', service_thread_id: 'x' })), 'INVALID_FORMAT');
  expectCode(await caught(agent.deserializeThread({ type: 'chat_message_store_state', messages: [] })), 'INVALID_FORMAT');
  expectCode(await caught(thread.messageStore.updateFromState({ type: 'agent_thread_state', messages: [] })), 'INVALID_FORMAT');
  expectCode(
    await caught(agent.deserializeThread(stateWith({ type: 'not_a_message', role: 'user', contents: [] }))),
    'INVALID_FORMAT',
  );
  await expectThreadIntactAndUsable();
});

test('a wrong JSON type: INVALID_FORMAT naming the path', async () => {
  let err = await caught(agent.deserializeThread({ type: 'agent_thread_state', chat_message_store_state: { type: 'chat_message_store_state', messages: {} } }));
  expectCode(err, 'INVALID_FORMAT');
  expect(err.message).toContain('messages');
  err = await caught(agent.deserializeThread(stateWith({ role: 42, contents: [] })));
  expectCode(err, 'INVALID_FORMAT');
  expect(err.message).toContain('messages[1]');
  expectCode(await caught(agent.deserializeThread({ type: 'agent_thread_state', service_thread_id: 17 })), 'INVALID_FORMAT');
  expectCode(await caught(agent.deserializeThread([1, 2])), 'INVALID_FORMAT');
  await expectThreadIntactAndUsable();
});

test('an unknown role: INVALID_FORMAT (state, store, and the ChatMessage constructor synchronously)', async () => {
  let err = await caught(agent.deserializeThread(stateWith({ type: 'chat_message', role: { type: 'role', value: 'wizard' }, contents: [] })));
  expectCode(err, 'INVALID_FORMAT');
  expect(err.message).toContain('messages[1]');
  err = await caught(thread.messageStore.addMessages([{ role: 'wizard', text: 'abracadabra' }]));
  expectCode(err, 'INVALID_FORMAT');
  expect(() => new ChatMessage('wizard', 'x')).toThrow(ThreadmemError);
  try {
    new ChatMessage('wizard', 'x');
  } catch (e) {
    expectCode(e, 'INVALID_FORMAT');
  }
  expectCode(await caught(agent.run({ role: 'wizard', text: 'hi' }, { thread })), 'INVALID_FORMAT');
  await expectThreadIntactAndUsable();
});

test('an unknown content type: INVALID_FORMAT whose message names messages[1].contents[0].type', async () => {
  const second = { type: 'chat_message', role: { type: 'role', value: 'assistant' }, contents: [{ type: 'hologram', data: 'x' }] };
  let err = await caught(agent.deserializeThread(stateWith(second)));
  expectCode(err, 'INVALID_FORMAT');
  expect(err.message).toContain('messages[1].contents[0].type');
  err = await caught(thread.messageStore.updateFromState(stateWith(second).chat_message_store_state));
  expectCode(err, 'INVALID_FORMAT');
  expect(err.message).toContain('messages[1].contents[0].type');
  err = await caught(ChatMessageStore.deserialize(stateWith(second).chat_message_store_state));
  expectCode(err, 'INVALID_FORMAT');
  await expectThreadIntactAndUsable();
});

test('both a service thread id and messages: INVALID_STATE', async () => {
  const err = await caught(
    agent.deserializeThread({ ...stateWith({ role: 'assistant', contents: [{ type: 'text', text: 'x' }] }), service_thread_id: 'conv_1' }),
  );
  expectCode(err, 'INVALID_STATE');
  expectCode(await caught(() => new AgentThread({ messageStore: new ChatMessageStore(), serviceThreadId: 'conv_1' })), 'INVALID_STATE');
  await expectThreadIntactAndUsable();
});

// ---- limits ----

test('a message over 16 MiB: LIMIT_EXCEEDED (store, state, run), nothing added', async () => {
  const huge = 'x'.repeat(16 * MiB + 16);
  const store = thread.messageStore;
  expectCode(await caught(store.addMessages([{ role: 'user', text: huge }])), 'LIMIT_EXCEEDED');
  expectCode(await caught(agent.deserializeThread(stateWith({ role: 'user', contents: [{ type: 'text', text: huge }] }))), 'LIMIT_EXCEEDED');
  expectCode(await caught(agent.run(huge, { thread })), 'LIMIT_EXCEEDED');
  await expectThreadIntactAndUsable();
});

test('a message just under 16 MiB is accepted', async () => {
  const store = new ChatMessageStore();
  await store.addMessages([{ role: 'user', text: 'y'.repeat(16 * MiB - 4096) }]);
  expect(await store.count()).toBe(1);
  store.close();
});

test('nesting deeper than 64 in metadata: LIMIT_EXCEEDED', async () => {
  const store = thread.messageStore;
  let err = await caught(store.addMessages([{ role: 'user', text: 'deep', additional_properties: deepObject(70) }]));
  expectCode(err, 'LIMIT_EXCEEDED');
  err = await caught(agent.deserializeThread(stateWith({ role: 'user', contents: [{ type: 'text', text: 'x' }], additional_properties: deepObject(70) })));
  expectCode(err, 'LIMIT_EXCEEDED');
  err = await caught(agent.deserializeThread(JSON.stringify(stateWith({ role: 'user', contents: [], additional_properties: deepObject(200) }))));
  expectCode(err, 'LIMIT_EXCEEDED');
  await expectThreadIntactAndUsable();
});

test('nesting deeper than 64 in a function_result (state and tool result): LIMIT_EXCEEDED', async () => {
  const result = { type: 'function_result', call_id: 'c1', result: deepObject(70) };
  const err = await caught(
    agent.deserializeThread({
      type: 'agent_thread_state',
      chat_message_store_state: {
        type: 'chat_message_store_state',
        messages: [
          { role: 'assistant', contents: [{ type: 'function_call', call_id: 'c1', name: 'f', arguments: '{}' }] },
          { role: 'tool', contents: [result] },
        ],
      },
    }),
  );
  expectCode(err, 'LIMIT_EXCEEDED');
  // A tool that returns a value nested too deeply fails the run.
  expectCode(await caught(agent.run('call deep_result {}', { thread })), 'LIMIT_EXCEEDED');
  await expectThreadIntactAndUsable();
});

test('moderate nesting (20 levels) is kept exactly', async () => {
  const store = new ChatMessageStore();
  await store.addMessages([new ChatMessage('user', 'ok', { metadata: { tree: deepObject(20) } })]);
  const [m] = await store.listMessages();
  expect(m.metadata).toEqual({ tree: deepObject(20) });
  store.close();
});

// ---- the model's responses ----

test('tool-call arguments that are not JSON: INVALID_RESPONSE, the tool is not run', async () => {
  const spy = jest.fn(async () => 'never');
  const a = new ChatAgent({ chatClient: client, tools: [{ name: 'spy', parameters: { type: 'object', properties: {} }, execute: spy }] });
  const t = a.getNewThread();
  llm.script({ toolCalls: [{ name: 'spy', arguments: '{"city": "Par' }] });
  expectCode(await caught(a.run('go', { thread: t })), 'INVALID_RESPONSE');
  expect(spy).not.toHaveBeenCalled();
  expect(await t.messageStore.count()).toBe(0);
  a.close();

  llm.script({ toolCalls: [{ name: 'get_weather', arguments: 'not json' }] });
  expectCode(await caught(agent.run('go', { thread })), 'INVALID_RESPONSE');
  await expectThreadIntactAndUsable();
});

test('a response without choices, with empty choices, or with an error object: INVALID_RESPONSE', async () => {
  llm.script({ json: { id: 'chatcmpl-x', object: 'chat.completion', usage: { prompt_tokens: 1, completion_tokens: 1, total_tokens: 2 } } });
  expectCode(await caught(agent.run('q', { thread })), 'INVALID_RESPONSE');
  llm.script({ json: { id: 'chatcmpl-y', object: 'chat.completion', choices: [] } });
  expectCode(await caught(agent.run('q', { thread })), 'INVALID_RESPONSE');
  llm.script({ json: { error: { message: 'The model is overloaded', type: 'server_error' } } });
  const err = await caught(agent.run('q', { thread }));
  expectCode(err, 'INVALID_RESPONSE');
  expect(err.message).toContain('The model is overloaded');
  await expectThreadIntactAndUsable();
});

test('a response body that is not JSON: INVALID_RESPONSE', async () => {
  llm.script({ raw: '<html>Bad gateway</html>' });
  expectCode(await caught(agent.run('q', { thread })), 'INVALID_RESPONSE');
  await expectThreadIntactAndUsable();
});

test('an HTTP error after retries: LLM_HTTP_ERROR, nothing added', async () => {
  llm.script({ times: 2, status: 502, error: 'bad gateway' });
  const err = await caught(agent.run('q', { thread }));
  expectCode(err, 'LLM_HTTP_ERROR');
  expect(err.status).toBe(502);
  await expectThreadIntactAndUsable();
});

// ---- user code that throws ----

test('a tool that throws: TOOL_ERROR with the thrown error as cause', async () => {
  const err = await caught(agent.run('call explode {}', { thread }));
  expectCode(err, 'TOOL_ERROR');
  expect(err.cause).toBeInstanceOf(RangeError);
  expect(err.cause.message).toBe('the tool blew up');
  expect(err.message).toContain('explode');
  await expectThreadIntactAndUsable();
});

test('a tool that throws while another succeeds in the same round: TOOL_ERROR, nothing added', async () => {
  const err = await caught(agent.run('call get_weather {"city":"Nice"} call explode {}', { thread }));
  expectCode(err, 'TOOL_ERROR');
  await expectThreadIntactAndUsable();
});

class FlakyStore {
  constructor() {
    this.items = [];
    this.failAdd = false;
    this.failList = false;
  }

  async addMessages(messages) {
    if (this.failAdd) throw new Error('disk full');
    this.items.push(...messages.map((m) => m.toJSON()));
  }

  async listMessages() {
    if (this.failList) throw new Error('cannot read');
    return this.items.map((m) => ChatMessage.fromJSON(m));
  }

  async serialize() {
    return { type: 'chat_message_store_state', messages: this.items };
  }

  async updateFromState(state) {
    this.items = [...state.messages];
  }
}

test('a custom store that throws in addMessages or listMessages: STORE_ERROR with cause', async () => {
  const store = new FlakyStore();
  const t = agent.getNewThread({ messageStore: store });
  await agent.run('my name is Lou', { thread: t });
  const saved = await t.serialize();

  store.failAdd = true;
  let err = await caught(agent.run('not kept', { thread: t }));
  expectCode(err, 'STORE_ERROR');
  expect(err.cause.message).toBe('disk full');
  store.failAdd = false;
  expect(await t.serialize()).toEqual(saved);

  store.failList = true;
  err = await caught(agent.run('not kept either', { thread: t }));
  expectCode(err, 'STORE_ERROR');
  expect(err.cause.message).toBe('cannot read');
  store.failList = false;
  expect(await t.serialize()).toEqual(saved);

  expect((await agent.run("what's my name", { thread: t })).text).toBe('Your name is Lou.');
});

test('a provider that throws in invoking or invoked: PROVIDER_ERROR with cause, nothing added', async () => {
  class Thrower extends ContextProvider {
    constructor(where) {
      super();
      this.where = where;
    }

    async invoking() {
      if (this.where === 'invoking') throw new TypeError('invoking broke');
    }

    async invoked() {
      if (this.where === 'invoked') throw new TypeError('invoked broke');
    }
  }
  for (const where of ['invoking', 'invoked']) {
    const a = new ChatAgent({ chatClient: client, contextProviders: [new Thrower(where)] });
    const t = a.getNewThread();
    const err = await caught(a.run('hello', { thread: t }));
    expectCode(err, 'PROVIDER_ERROR');
    expect(err.cause).toBeInstanceOf(TypeError);
    expect(err.cause.message).toBe(`${where} broke`);
    expect(await t.messageStore.count()).toBe(0);
    a.close();
  }
  await expectThreadIntactAndUsable();
});

// ---- JS arguments ----

test('bad arguments to the JS API: INVALID_ARGUMENT', async () => {
  expectCode(await caught(() => new ChatAgent({})), 'INVALID_ARGUMENT');
  expectCode(await caught(() => new ChatAgent({ chatClient: client, tools: [{ name: 'no_execute' }] })), 'INVALID_ARGUMENT');
  expectCode(await caught(() => new ChatMessage('user', 42)), 'INVALID_ARGUMENT');
  expectCode(await caught(agent.run(42, { thread })), 'INVALID_ARGUMENT');
  expectCode(await caught(agent.run('x', { thread: { id: 'fake' } })), 'INVALID_ARGUMENT');
  expectCode(await caught(() => new ChatMessageStore({ maxMessages: -1 })), 'INVALID_ARGUMENT');
  // Beyond the core's 32 bits, a limit is refused rather than wrapped around.
  expectCode(await caught(() => new ChatMessageStore({ maxMessages: 2 ** 32 + 1 })), 'INVALID_ARGUMENT');
  expectCode(await caught(() => new ChatMessageStore({ maxTokens: 2 ** 32 })), 'INVALID_ARGUMENT');
  await expectThreadIntactAndUsable();
});

test('a closed agent fails with CLOSED; a thread whose store was closed fails with CLOSED', async () => {
  const a = new ChatAgent({ chatClient: client });
  const t = a.getNewThread();
  t.messageStore.close();
  expectCode(await caught(a.run('x', { thread: t })), 'CLOSED');
  a.close();
  expectCode(await caught(a.run('x')), 'CLOSED');
  await expectThreadIntactAndUsable();
});
