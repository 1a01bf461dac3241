// Context providers: what invoking adds reaches the model (instructions in the
// system message, messages, tools), invoked sees the turn, threadCreated sees
// the thread id, and several providers aggregate in order.

import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import {
  AggregateContextProvider,
  ChatAgent,
  ChatMessage,
  Context,
  ContextProvider,
  Mem0Provider,
  MemoryProvider,
  OpenAIChatClient,
  SummaryProvider,
  ThreadmemError,
} from '../../js/index.js';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5, maxRetries: 0 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const systemText = (body) => body.messages.filter((m) => m.role === 'system').map(textOf).join('\n');

class Recorder extends ContextProvider {
  constructor(context, log = []) {
    super();
    this.context = context;
    this.log = log;
    this.created = [];
    this.invokingCalls = [];
    this.invokedCalls = [];
  }

  async threadCreated(threadId) {
    this.created.push(threadId);
    this.log.push(`created:${this.context?.instructions}`);
  }

  async invoking(messages, options) {
    this.invokingCalls.push({ messages, options });
    this.log.push(`invoking:${this.context?.instructions}`);
    return this.context ? new Context(this.context) : undefined;
  }

  async invoked(requestMessages, responseMessages, options) {
    this.invokedCalls.push({ requestMessages, responseMessages, options });
    this.log.push(`invoked:${this.context?.instructions}`);
  }
}

test('invoking adds instructions, messages and tools that the model receives', async () => {
  const lookup = jest.fn(async ({ q }) => `found ${q}`);
  const provider = new Recorder({
    instructions: 'Always answer in French.',
    messages: [new ChatMessage('user', 'my name is Zed')],
    tools: [{ name: 'lookup', description: 'Looks things up', parameters: { type: 'object', properties: { q: { type: 'string' } } }, execute: lookup }],
  });
  const agent = new ChatAgent({ chatClient: client, instructions: 'You are helpful.', contextProviders: provider });
  const thread = agent.getNewThread();

  const r = await agent.run('what are your instructions', { thread });
  expect(r.text).toContain('You are helpful.');
  expect(r.text).toContain('Always answer in French.');
  const body = llm.last().body;
  expect(systemText(body)).toContain('You are helpful.');
  expect(systemText(body)).toContain('Always answer in French.');
  // The provider's message is in the request, before the new input.
  const texts = body.messages.map(textOf);
  expect(texts).toContain('my name is Zed');
  expect(texts.indexOf('my name is Zed')).toBeLessThan(texts.indexOf('what are your instructions'));
  expect(body.tools).toEqual([
    { type: 'function', function: { name: 'lookup', description: 'Looks things up', parameters: { type: 'object', properties: { q: { type: 'string' } } } } },
  ]);

  expect((await agent.run("what's my name", { thread })).text).toBe('Your name is Zed.');

  // Provider context is per call: it is not stored in the thread.
  const stored = (await thread.messageStore.listMessages()).map((m) => m.text);
  expect(stored).not.toContain('my name is Zed');
  expect(stored).toHaveLength(4);
  agent.close();
});

test('a tool given by a provider is executed when the model calls it', async () => {
  const lookup = jest.fn(async ({ q }) => `found ${q}`);
  const provider = new Recorder({ tools: [{ name: 'lookup', description: 'Looks', parameters: { type: 'object', properties: {} }, execute: lookup }] });
  const agent = new ChatAgent({ chatClient: client, contextProviders: [provider] });
  const r = await agent.run('call lookup {"q":"otters"}', { thread: agent.getNewThread() });
  expect(lookup).toHaveBeenCalledTimes(1);
  expect(lookup.mock.calls[0][0]).toEqual({ q: 'otters' });
  expect(r.text).toBe('lookup returned: found otters');
  agent.close();
});

test('invoking sees the new input; invoked sees the request and the response; threadCreated sees the id once', async () => {
  const provider = new Recorder(undefined);
  const agent = new ChatAgent({ chatClient: client, contextProviders: [provider] });
  const thread = agent.getNewThread();
  const r1 = await agent.run('first question', { thread });
  const r2 = await agent.run('second question', { thread });

  expect(provider.created).toEqual([thread.id]);

  expect(provider.invokingCalls).toHaveLength(2);
  const inv = provider.invokingCalls[1];
  expect(inv.messages.map((m) => [m.role, m.text])).toEqual([['user', 'second question']]);
  for (const m of inv.messages) expect(m).toBeInstanceOf(ChatMessage);
  expect(inv.options.thread).toBe(thread);

  expect(provider.invokedCalls).toHaveLength(2);
  const done = provider.invokedCalls[0];
  expect(done.requestMessages.map((m) => m.text)).toContain('first question');
  expect(done.responseMessages.map((m) => [m.role, m.text])).toEqual([['assistant', r1.text]]);
  expect(done.options.thread).toBe(thread);
  expect(done.options.error).toBeUndefined();
  expect(provider.invokedCalls[1].responseMessages.map((m) => m.text)).toEqual([r2.text]);
  agent.close();
});

test('invoked is told about a failed run (error set)', async () => {
  const provider = new Recorder(undefined);
  const agent = new ChatAgent({ chatClient: client, contextProviders: [provider] });
  llm.script({ status: 400, error: 'bad request for the test' });
  const err = await caught(agent.run('will fail', { thread: agent.getNewThread() }));
  expect(err.code).toBe('LLM_HTTP_ERROR');
  expect(provider.invokedCalls).toHaveLength(1);
  expect(provider.invokedCalls[0].options.error).toBeInstanceOf(Error);
  agent.close();
});

test('several providers: hooks in order, instructions joined with a newline, messages and tools concatenated', async () => {
  const log = [];
  const tool = (name) => ({ name, description: name, parameters: { type: 'object', properties: {} }, execute: async () => name });
  const p1 = new Recorder({ instructions: 'Rule A.', messages: [new ChatMessage('user', 'context one')], tools: [tool('t1')] }, log);
  const p2 = new Recorder({ instructions: 'Rule B.', messages: [{ role: 'user', text: 'context two' }], tools: [tool('t2')] }, log);
  const agent = new ChatAgent({ chatClient: client, instructions: 'Base.', contextProviders: [p1, p2] });
  const thread = agent.getNewThread();
  await agent.run('hello', { thread });

  const body = llm.last().body;
  expect(systemText(body)).toContain('Rule A.\nRule B.');
  const texts = body.messages.map(textOf);
  expect(texts.indexOf('context one')).toBeGreaterThanOrEqual(0);
  expect(texts.indexOf('context one')).toBeLessThan(texts.indexOf('context two'));
  expect(texts.indexOf('context two')).toBeLessThan(texts.indexOf('hello'));
  expect(body.tools.map((t) => t.function.name)).toEqual(['t1', 't2']);
  expect(log).toEqual(['created:Rule A.', 'created:Rule B.', 'invoking:Rule A.', 'invoking:Rule B.', 'invoked:Rule A.', 'invoked:Rule B.']);
  expect(p1.created).toEqual([thread.id]);
  expect(p2.created).toEqual([thread.id]);
  agent.close();
});

test('AggregateContextProvider on its own and as the agent provider', async () => {
  const p1 = new Recorder({ instructions: 'One.', messages: [new ChatMessage('user', 'm1')], tools: [{ name: 'x', execute: async () => 1 }] });
  const p2 = new Recorder(undefined); // returns nothing
  const p3 = new Recorder({ instructions: 'Three.', messages: [new ChatMessage('user', 'm3')], tools: [{ name: 'y', execute: async () => 2 }] });
  const aggregate = new AggregateContextProvider([p1, p2, p3]);
  expect(aggregate).toBeInstanceOf(ContextProvider);

  const context = await aggregate.invoking([new ChatMessage('user', 'q')], {});
  expect(context).toBeInstanceOf(Context);
  expect(context.instructions).toBe('One.\nThree.');
  expect(context.messages.map((m) => m.text)).toEqual(['m1', 'm3']);
  expect(context.tools.map((t) => t.name)).toEqual(['x', 'y']);

  const agent = new ChatAgent({ chatClient: client, contextProviders: aggregate });
  const thread = agent.getNewThread();
  await agent.run('what are your instructions', { thread });
  expect(systemText(llm.last().body)).toContain('One.\nThree.');
  expect(p1.created).toEqual([thread.id]);
  expect(p3.invokedCalls).toHaveLength(1);
  agent.close();
});

test('a provider that throws fails the run with PROVIDER_ERROR and its cause', async () => {
  const boom = new Error('provider exploded');
  class Bad extends ContextProvider {
    async invoking() {
      throw boom;
    }
  }
  const agent = new ChatAgent({ chatClient: client, contextProviders: [new Bad()] });
  const thread = agent.getNewThread();
  const err = await caught(agent.run('hi', { thread }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('PROVIDER_ERROR');
  expect(err.cause).toBe(boom);
  expect(await thread.messageStore.count()).toBe(0);
  expect(llm.requests).toHaveLength(0);
  agent.close();
});

test('the built-in providers take arrays of messages (or none): anything else is INVALID_ARGUMENT', async () => {
  const warn = jest.fn();
  const memory = new MemoryProvider({ userId: 'u', onWarning: warn });
  const providers = [
    memory,
    new SummaryProvider({ summaryMaxTokens: 150 }),
    new Mem0Provider({ apiKey: 'k', userId: 'u', host: 'http://127.0.0.1:1' }),
  ];
  for (const p of providers) {
    for (const bad of ['not messages', 5, { role: 'user', text: 'hi' }]) {
      expect((await caught(p.invoking(bad, {}))).code).toBe('INVALID_ARGUMENT');
    }
    expect(await p.invoking(undefined, {})).toBeUndefined();
    expect(await p.invoking(null, {})).toBeUndefined();
  }
  for (const p of [memory, providers[2]]) {
    expect((await caught(p.invoked('hi', [], {}))).code).toBe('INVALID_ARGUMENT');
    expect((await caught(p.invoked([], { role: 'assistant' }, {}))).code).toBe('INVALID_ARGUMENT');
    await expect(p.invoked(null, undefined, {})).resolves.toBeUndefined();
  }
  // No chat client to extract with: a warning, only for the valid call.
  expect(warn).toHaveBeenCalledTimes(1);
  memory.close();
});
