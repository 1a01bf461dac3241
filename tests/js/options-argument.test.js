// The options argument of every public call: left out and null mean the
// same; a string, a number or an array is INVALID_ARGUMENT, never a value
// silently ignored (countTokens(text, 'cl100k_base') once counted with the
// default encoding).

import { afterAll, beforeAll, expect, test } from '@jest/globals';
import {
  AgentThread,
  ChatAgent,
  ChatMessage,
  ChatMessageStore,
  Context,
  FileChatMessageStore,
  IndexedDBChatMessageStore,
  LocalStorageChatMessageStore,
  Mem0Provider,
  MemoryProvider,
  OpenAIChatClient,
  PersistentChatMessageStore,
  RedisChatMessageStore,
  SummaryProvider,
  ThreadmemError,
  Tokenizer,
  countTokens,
  fitWindow,
  init,
} from '../../js/node.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

let llm;
let client;
let agent;
let thread;
let memory;
let tokenizer;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', maxRetries: 0 });
  agent = new ChatAgent({ chatClient: client });
  thread = agent.getNewThread();
  await agent.run('my name is Kim', { thread });
  memory = new MemoryProvider({ userId: 'u', extract: 'none' });
  tokenizer = await Tokenizer.load('cl100k_base');
});
afterAll(async () => {
  memory.close();
  agent.close();
  await llm.close();
});

const messages = () => [new ChatMessage('user', 'hello there')];

// Each public call that takes options, as a function of its options.
const calls = {
  'new ChatAgent': (o) => new ChatAgent(o),
  'ChatAgent.getNewThread': (o) => agent.getNewThread(o),
  'ChatAgent.run': (o) => agent.run('hi', o),
  'ChatAgent.runStream': (o) => agent.runStream('hi', o).next(),
  'new AgentThread': (o) => new AgentThread(o),
  'new ChatMessage': (o) => new ChatMessage('user', 'hi', o),
  'new ChatMessageStore': (o) => new ChatMessageStore(o),
  'new ChatMessageStore(messages, …)': (o) => new ChatMessageStore(messages(), o),
  'ChatMessageStore.getHistory': (o) => thread.messageStore.getHistory(o),
  'ChatMessageStore.getContextWindow': (o) => thread.messageStore.getContextWindow(o),
  countTokens: (o) => countTokens('hello there', o),
  fitWindow: (o) => fitWindow(messages(), o),
  'Tokenizer.encode': (o) => tokenizer.encode('hello', o),
  'new OpenAIChatClient': (o) => new OpenAIChatClient(o),
  'OpenAIChatClient.getResponse': (o) => client.getResponse({ messages: [{ role: 'user', content: 'hi' }] }, o),
  'new Context': (o) => new Context(o),
  'new MemoryProvider': (o) => new MemoryProvider(o),
  'MemoryProvider.add': (o) => memory.add('Kim likes tea', o),
  'MemoryProvider.search': (o) => memory.search('tea', o),
  'MemoryProvider.list': (o) => memory.list(o),
  'MemoryProvider.invoking': (o) => memory.invoking(messages(), o),
  'new SummaryProvider': (o) => new SummaryProvider(o),
  'SummaryProvider.invoking': (o) => new SummaryProvider().invoking(messages(), o),
  'new Mem0Provider': (o) => new Mem0Provider(o),
  'new PersistentChatMessageStore': (o) => new PersistentChatMessageStore({}, o),
  'new FileChatMessageStore': (o) => new FileChatMessageStore(o),
  'new RedisChatMessageStore': (o) => new RedisChatMessageStore(o),
  'new IndexedDBChatMessageStore': (o) => new IndexedDBChatMessageStore(o),
  'new LocalStorageChatMessageStore': (o) => new LocalStorageChatMessageStore(o),
};

// 'ok', or the code of the ThreadmemError the call failed with.
async function outcome(call) {
  try {
    const value = await call();
    if (typeof value?.close === 'function') value.close();
    return 'ok';
  } catch (err) {
    return err instanceof ThreadmemError ? err.code : `not a ThreadmemError: ${err}`;
  }
}

test.each(Object.keys(calls))('%s: null is the same as no options', async (name) => {
  expect(await outcome(() => calls[name](null))).toBe(await outcome(() => calls[name](undefined)));
});

test.each(Object.keys(calls))('%s: options that are not an object are INVALID_ARGUMENT', async (name) => {
  // (An array as the store's first argument is its initial messages.)
  const bads = name === 'new ChatMessageStore' ? ['cl100k_base', 5, true] : ['cl100k_base', 5, true, ['x']];
  for (const bad of bads) {
    const err = await caught(() => calls[name](bad));
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(err.code).toBe('INVALID_ARGUMENT');
    // The text tells this check from a later one with the same code (a
    // string has no chatClient either).
    expect(err.message).toContain('options must be an object');
  }
});

test('init with options that are not an object is INVALID_ARGUMENT, and the module stays loaded', async () => {
  expect((await caught(init('fast'))).code).toBe('INVALID_ARGUMENT');
  expect(await countTokens('hello there', { encoding: 'cl100k_base' })).toBeGreaterThan(0);
  expect((await agent.run("what's my name", { thread })).text).toBe('Your name is Kim.');
});

test('the options inside run and agent options (options.options, contextWindow) must be objects too', async () => {
  for (const bad of ['xy', 5, true, ['x']]) {
    for (const call of [
      () => agent.run('hi', { thread, options: bad }),
      () => new ChatAgent({ chatClient: client, options: bad }),
      () => new ChatAgent({ chatClient: client, contextWindow: bad }),
    ]) {
      const err = await caught(call);
      expect(err).toBeInstanceOf(ThreadmemError);
      expect(err.code).toBe('INVALID_ARGUMENT');
    }
  }
  expect(llm.requests.filter((r) => r.body?.['0'] !== undefined)).toEqual([]);
  expect((await agent.run("what's my name", { thread, options: null })).text).toBe('Your name is Kim.');
});

test('run() fails through its promise, never by throwing at the call', async () => {
  let promise;
  expect(() => (promise = agent.run('hi', 'x'))).not.toThrow();
  expect((await caught(promise)).code).toBe('INVALID_ARGUMENT');
});
