// Values of the wrong kind wherever the user hands one over (options,
// arguments, what a custom store, provider, tool, counter or embed function
// returns or throws), and a module that fails to load: each is a
// ThreadmemError with its code, never a raw TypeError or RangeError, and
// nothing is changed by the failed call.

import { expect, test } from '@jest/globals';
import {
  AgentThread,
  ChatAgent,
  ChatMessage,
  ChatMessageStore,
  LocalStorageChatMessageStore,
  Mem0Provider,
  MemoryProvider,
  OpenAIChatClient,
  SummaryProvider,
  ThreadmemError,
  Tokenizer,
  countTokens,
  init,
} from '../../js/index.js';
import { caught } from './helpers/llm-server.js';

const reply = (message, finish = 'stop') => JSON.stringify({ choices: [{ message, finish_reason: finish }] });
const echo = { getResponse: async () => reply({ role: 'assistant', content: 'hi' }) };
const thrown = () => Object.create(null); // has no string form

async function expectCode(promiseOrFn, code) {
  const err = await caught(typeof promiseOrFn === 'function' ? (async () => promiseOrFn())() : promiseOrFn);
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe(code);
  return err;
}

test('messages and threads: an invalid Date, a store without the methods a thread needs', async () => {
  await expectCode(() => new ChatMessage('user', 'hi', { createdAt: new Date(NaN) }), 'INVALID_ARGUMENT');
  await expectCode(() => new AgentThread({ messageStore: {} }), 'INVALID_ARGUMENT');
  const partial = { addMessages: async () => {}, listMessages: async () => [] };
  await expectCode(() => new AgentThread({ messageStore: partial }), 'INVALID_ARGUMENT');
  const agent = new ChatAgent({ chatClient: echo, chatMessageStoreFactory: () => partial });
  await expectCode(agent.run('hi'), 'INVALID_ARGUMENT');
  agent.close();
});

test('the OpenAI client: options of the wrong kind fail at construction; a signal that is not one fails the call', async () => {
  for (const options of [
    { apiKey: Symbol('k') },
    { apiKey: 42 },
    { model: {} },
    { apiVersion: '\uD800' },
    { headers: { 'x-n': {} } },
    { headers: 'x-n: 1' },
    { maxRetries: 1.5 },
    { fetch: 'fetch' },
    { timeoutMs: 2 ** 31 },
    { maxRetryDelayMs: Infinity },
    { retryBaseDelayMs: -1 },
    { timeoutMs: 0 },
  ]) {
    await expectCode(() => new OpenAIChatClient(options), 'INVALID_ARGUMENT');
  }
  const client = new OpenAIChatClient({ fetch: async () => new Response('{}') });
  await expectCode(client.getResponse('{}', { signal: {} }), 'INVALID_ARGUMENT');
  await expectCode(client.getStreamingResponse('{}', { signal: {} }), 'INVALID_ARGUMENT');
});

test('the tokenizer and token counters: special tokens that are not strings, a counter answering an odd object', async () => {
  const tok = new Tokenizer('o200k_base');
  await expectCode(() => tok.encode('x', { allowedSpecial: [1n] }), 'INVALID_ARGUMENT');
  const cyclic = [];
  cyclic.push(cyclic);
  await expectCode(() => tok.encode('x', { allowedSpecial: cyclic }), 'INVALID_ARGUMENT');
  await expectCode(countTokens('hi', { encoding: () => Object.create(null) }), 'INVALID_COUNTER');
  await expectCode(countTokens(['hi'], { encoding: () => Object.create(null) }), 'INVALID_COUNTER');
});

test('what user code throws or returns: wrapped with its own code, whatever it is', async () => {
  const throwing = new ChatAgent({ chatClient: { getResponse: async () => { throw thrown(); } } });
  const err = await expectCode(throwing.run('hi'), 'LLM_ERROR');
  expect(Object.getPrototypeOf(err.cause)).toBe(null); // the thrown value itself is kept
  throwing.close();

  let round = 0;
  const calling = {
    getResponse: async () =>
      round++ % 2 === 0
        ? reply({ role: 'assistant', content: null, tool_calls: [{ id: 'c1', type: 'function', function: { name: 't', arguments: '{}' } }] }, 'tool_calls')
        : reply({ role: 'assistant', content: 'done' }),
  };
  for (const [execute, code] of [
    [() => Symbol('s'), 'TOOL_ERROR'], // a result JSON has no text for
    [() => () => 1, 'TOOL_ERROR'],
    [() => { throw thrown(); }, 'TOOL_ERROR'],
  ]) {
    const agent = new ChatAgent({ chatClient: calling, tools: [{ name: 't', execute }] });
    const thread = agent.getNewThread();
    round = 0;
    await expectCode(agent.run('hi', { thread }), code);
    expect(await thread.messageStore.count()).toBe(0);
    agent.close();
  }

  for (const context of [{ tools: [null] }, { tools: 5 }, { instructions: {} }, 7]) {
    const agent = new ChatAgent({ chatClient: echo, contextProviders: [{ invoking: async () => context }] });
    const thread = agent.getNewThread();
    await expectCode(agent.run('hi', { thread }), 'INVALID_ARGUMENT');
    expect(await thread.messageStore.count()).toBe(0);
    agent.close();
  }
});

test('memory: embed answers of the wrong kind, an update without a text, a thrown Symbol', async () => {
  for (const embed of [(t) => t.map(() => [Symbol('x')]), (t) => t.map(() => ({ length: 1e12 })), (t) => t.map(() => 'abc')]) {
    const mp = new MemoryProvider({ userId: 'u', extract: 'none', embed });
    await expectCode(mp.add('hello'), 'EMBEDDING_ERROR');
    expect(await mp.list()).toEqual([]);
    mp.close();
  }
  const symbolic = new MemoryProvider({ userId: 'u', extract: 'none', embed: () => { throw Symbol('x'); } });
  await expectCode(symbolic.add('hello'), 'EMBEDDING_ERROR');
  symbolic.close();

  let embedded = 0;
  const mp = new MemoryProvider({ userId: 'u', extract: 'none', embed: async (t) => { embedded += 1; return t.map(() => [1, 0]); } });
  const rec = await mp.add('likes tea');
  for (const text of [undefined, Symbol('s'), () => 'x', 5]) await expectCode(mp.update(rec.id, text), 'INVALID_ARGUMENT');
  await expectCode(mp.add(7), 'INVALID_ARGUMENT');
  expect(embedded).toBe(1); // nothing sent to embed for a text that is none
  expect(await mp.list()).toEqual([rec]); // not even its updatedAt moved
  mp.close();
});

test('providers: options of the wrong kind fail at construction, not midway through a run', async () => {
  for (const options of [{ contextPrompt: Symbol('p') }, { topK: 'five' }, { minScore: NaN }, { storageKey: 1 }, { chatClient: {} }]) {
    await expectCode(() => new MemoryProvider({ userId: 'u', ...options }), 'INVALID_ARGUMENT');
  }
  for (const options of [{ onWarning: 5 }, { contextPrompt: 1 }, { topK: -1 }, { host: {} }, { fetch: 1 }, { timeoutMs: 2 ** 31 }]) {
    await expectCode(() => new Mem0Provider({ apiKey: 'k', userId: 'u', ...options }), 'INVALID_ARGUMENT');
  }
  for (const options of [{ maxTokens: 100n }, { reserveTokens: -1 }, { onWarning: 5 }, { prompt: [] }, { chatClient: 'gpt' }]) {
    await expectCode(() => new SummaryProvider(options), 'INVALID_ARGUMENT');
  }
  const mem0 = new Mem0Provider({ apiKey: 'k', userId: 'u', fetch: async () => new Response('[]') });
  await expectCode(mem0.invoking([new ChatMessage('user', 'hi')], { signal: {} }), 'INVALID_ARGUMENT');
  const summary = new SummaryProvider({ chatClient: echo, maxTokens: 100, summaryMaxTokens: 90 });
  expect(await summary.invoking([], { thread: new AgentThread({ messageStore: new ChatMessageStore(['a']) }) })).toBeUndefined();
});

test('a module that cannot load is NOT_INITIALIZED, and the one loaded before goes on', async () => {
  const before = await countTokens('hello world');
  await expectCode(init({ wasmBinary: new Uint8Array(8) }), 'NOT_INITIALIZED');
  await expectCode(init({ wasmUrl: 'file:///nonexistent/threadmem-core.wasm' }), 'NOT_INITIALIZED');
  expect(await countTokens('hello world')).toBe(before);
});

test('null is an option left out; numbers in headers are sent as text; array-likes of numbers are vectors', async () => {
  const sent = [];
  const fetch = async (url, init) => {
    sent.push(init.headers);
    return new Response(reply({ role: 'assistant', content: 'ok' }));
  };
  const client = new OpenAIChatClient({ apiKey: null, model: null, apiVersion: null, headers: { 'x-n': 1 }, fetch });
  await client.getResponse('{}', { signal: null });
  expect(sent[0]['x-n']).toBe('1');
  expect(sent[0].authorization).toBeUndefined();
  expect(new OpenAIChatClient({ baseURL: null, headers: null, fetch: null }).url).toBe('https://api.openai.com/v1/chat/completions');
  expect(new Mem0Provider({ apiKey: 'k', userId: 'u', agentId: null }).scope).toEqual({ userId: 'u' });
  await expectCode(() => new Mem0Provider({ apiKey: 'k', userId: 5 }), 'INVALID_ARGUMENT');

  const summary = new SummaryProvider({ chatClient: null, onWarning: null, prompt: null });
  expect(typeof summary.onWarning).toBe('function');
  expect(summary.prompt).toEqual(expect.any(String));
  const memory = new MemoryProvider({ userId: 'u', agentId: null, storage: null, extract: 'none', contextPrompt: null, storageKey: null, onWarning: null });
  expect(memory.scope).toEqual({ userId: 'u' });
  expect([typeof memory.contextPrompt, typeof memory.storageKey]).toEqual(['string', 'string']);
  memory.close();
  expect(new Mem0Provider({ apiKey: 'k', userId: 'u', host: new URL('http://127.0.0.1:9/') }).host).toBe('http://127.0.0.1:9');

  const arrayLike = new MemoryProvider({ userId: 'u', extract: 'none', embed: (t) => t.map(() => ({ 0: 1, 1: 0, length: 2 })) });
  expect((await arrayLike.add('tea')).text).toBe('tea');
  arrayLike.close();
  // eslint-disable-next-line no-sparse-arrays
  const holes = new MemoryProvider({ userId: 'u', extract: 'none', embed: (t) => t.map(() => [1, , 3]) });
  await expectCode(holes.add('tea'), 'EMBEDDING_ERROR');
  holes.close();
});

test('a context whose messages are not an array, a store that keeps no state', async () => {
  const agent = new ChatAgent({ chatClient: echo, contextProviders: [{ invoking: async () => ({ messages: {} }) }] });
  await expectCode(agent.run('hi'), 'INVALID_ARGUMENT');
  agent.close();
  const stateless = { addMessages: async () => {}, listMessages: async () => [], serialize: async () => {}, updateFromState: async () => {} };
  expect(await new AgentThread({ messageStore: stateless }).serialize()).toEqual({ type: 'agent_thread_state' });
});

test('a storage for LocalStorageChatMessageStore must have all of Storage', async () => {
  const full = { getItem: () => null, setItem() {}, removeItem() {}, key: () => null, length: 0 };
  for (const missing of ['getItem', 'setItem', 'removeItem', 'key', 'length']) {
    const { [missing]: _gone, ...storage } = full;
    await expectCode(() => new LocalStorageChatMessageStore({ storage }), 'INVALID_ARGUMENT');
  }
  new LocalStorageChatMessageStore({ storage: full }).close();
});

test("a run's own store that fails to close: the run stands, and the agent still closes", async () => {
  const closing = () => ({
    items: [],
    async addMessages(m) {
      this.items.push(...m);
    },
    async listMessages() {
      return this.items;
    },
    async serialize() {},
    async updateFromState() {},
    close() {
      throw new Error('cannot close');
    },
  });
  const agent = new ChatAgent({ chatClient: echo, chatMessageStoreFactory: closing });
  expect((await agent.run('hi')).text).toBe('hi'); // no thread given: the run's store is closed after it
  agent.close();
  await expectCode(agent.run('again'), 'CLOSED');
});
