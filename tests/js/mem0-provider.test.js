// Mem0Provider against a local server with Mem0's endpoints and real
// filtering: search before a run, add after it, the scope on both, the key
// kept out of errors and serialized state.

import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import http from 'node:http';
import { inspect } from 'node:util';
import { ChatAgent, Mem0Provider, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer } from './helpers/llm-server.js';
import { startMem0Server } from './helpers/mem0-server.js';

const KEY = 'm0-secret-key-123';
let llm;
let mem0;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  mem0 = await startMem0Server({ apiKey: KEY });
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', maxRetries: 0 });
});
afterAll(async () => {
  await llm.close();
  await mem0.close();
});
beforeEach(() => {
  llm.reset();
  mem0.requests.length = 0;
});

const provider = (opts) => new Mem0Provider({ apiKey: KEY, host: mem0.url, ...opts });

test('a turn is added after a run and recalled before a run in a new thread', async () => {
  const mem = provider({ userId: 'u-recall' });
  const agent = new ChatAgent({ chatClient: client, contextProviders: mem });
  await agent.run('Hello, my name is Rosa.', { thread: agent.getNewThread() });
  const add = mem0.requests.find((r) => r.path === '/v1/memories/');
  expect(add.headers.authorization).toBe(`Token ${KEY}`);
  expect(add.body).toMatchObject({ user_id: 'u-recall', messages: [{ role: 'user', content: 'Hello, my name is Rosa.' }, { role: 'assistant' }] });
  expect((await agent.run("What's my name?", { thread: agent.getNewThread() })).text).toBe('Your name is Rosa.');
  const search = mem0.requests.findLast((r) => r.path === '/v2/memories/search/');
  expect(search.body).toEqual({ query: "What's my name?", filters: { AND: [{ user_id: 'u-recall' }] }, top_k: 5 });
  agent.close();
});

// Agent Framework #6237: with a user and an agent in the scope, the search
// found nothing, because what was added did not carry both ids.
test('regression #6237: a search scoped by user and agent returns that scope\'s memories, not nothing', async () => {
  const mem = provider({ userId: 'u-6237', agentId: 'travel-agent', applicationId: 'app' });
  const agent = new ChatAgent({ chatClient: client, contextProviders: mem });
  await agent.run('my name is Ines.', { thread: agent.getNewThread() });
  const added = mem0.memories.filter((m) => m.user_id === 'u-6237');
  expect(added).toEqual([expect.objectContaining({ memory: 'my name is Ines.', user_id: 'u-6237', agent_id: 'travel-agent', app_id: 'app' })]);
  const ctx = await mem.invoking([{ role: 'user', text: 'what is my name', get text() { return 'what is my name'; } }], {});
  expect(ctx.instructions).toContain('- my name is Ines.');
  expect(mem0.requests.at(-1).body.filters).toEqual({ AND: [{ user_id: 'u-6237' }, { agent_id: 'travel-agent' }, { app_id: 'app' }] });
  // The same user with another agent, and another user with this agent, see nothing.
  const otherAgent = provider({ userId: 'u-6237', agentId: 'cooking-agent', applicationId: 'app' });
  const otherUser = provider({ userId: 'someone-else', agentId: 'travel-agent', applicationId: 'app' });
  const q = [{ role: 'user', text: 'what is my name' }];
  expect(await otherAgent.invoking(q, {})).toBeUndefined();
  expect(await otherUser.invoking(q, {})).toBeUndefined();
  agent.close();
});

test('scopeToPerOperationThreadId sends the thread as run_id', async () => {
  const mem = provider({ userId: 'u-thread', scopeToPerOperationThreadId: true });
  const agent = new ChatAgent({ chatClient: client, contextProviders: mem });
  const t = agent.getNewThread();
  await agent.run('my name is Omar.', { thread: t });
  expect(mem0.memories.at(-1)).toMatchObject({ user_id: 'u-thread', run_id: t.id });
  expect((await agent.run("what's my name?", { thread: t })).text).toBe('Your name is Omar.');
  expect((await agent.run("what's my name?", { thread: agent.getNewThread() })).text).toBe("I don't know your name.");
  agent.close();
});

test('the API key never appears in errors, warnings or serialized state', async () => {
  const wrong = new Mem0Provider({ apiKey: 'm0-wrong-key', host: mem0.url, userId: 'u' });
  const err = await caught(wrong.invoking([{ role: 'user', text: 'hello' }], {}));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('MEM0_HTTP_ERROR');
  expect(err.status).toBe(401);
  expect(err.message).not.toContain('m0-wrong-key');
  expect(err.message).toContain('[redacted]');
  // A key the server quotes across the cut of its message: no part of it kept.
  const long = `m0-${'k'.repeat(200)}-${'q'.repeat(100)}`;
  const cut = await caught(new Mem0Provider({ apiKey: long, host: mem0.url, userId: 'u' }).invoking([{ role: 'user', text: 'hi' }], {}));
  expect(cut.code).toBe('MEM0_HTTP_ERROR');
  expect(cut.message).not.toContain('m0-kkkk');
  expect(inspect(provider({ userId: 'u' }), { depth: 8, showHidden: true })).not.toContain(KEY);

  const warn = jest.fn();
  const mem = provider({ userId: 'u-key', onWarning: warn });
  expect(JSON.stringify(mem)).not.toContain(KEY);
  expect(JSON.stringify(Object.entries(mem))).not.toContain(KEY);
  // A failed search fails the run, with a clean message.
  const agent = new ChatAgent({ chatClient: client, contextProviders: mem });
  const thread = agent.getNewThread();
  mem0.fail(503, '/v2/memories/search/');
  const runErr = await caught(agent.run('my name is Kai.', { thread }));
  expect(runErr.code).toBe('MEM0_HTTP_ERROR');
  expect(runErr.status).toBe(503);
  expect(await thread.messageStore.count()).toBe(0);
  // A failed add is a warning; the run and its turn stand.
  mem0.fail(503, '/v1/memories/');
  const r = await agent.run('my name is Kai.', { thread });
  expect(r.text).toContain('Echo:');
  expect(await thread.messageStore.count()).toBe(2);
  expect(warn).toHaveBeenCalledTimes(1);
  expect(warn.mock.calls[0][0]).toContain('HTTP 503');
  expect(warn.mock.calls[0][0]).not.toContain(KEY);
  const unreachable = new Mem0Provider({ apiKey: KEY, host: 'http://127.0.0.1:1', userId: 'u' });
  const netErr = await caught(unreachable.invoking([{ role: 'user', text: 'hello' }], {}));
  expect(netErr.code).toBe('MEM0_NETWORK_ERROR');
  expect(netErr.message).not.toContain(KEY);
  agent.close();
});

test('bad options', () => {
  expect(() => new Mem0Provider({ userId: 'u' })).toThrow(/apiKey/);
  expect(() => new Mem0Provider({ apiKey: KEY })).toThrow(/scope/);
  for (const timeoutMs of [0, -1, NaN, '5']) {
    expect(() => new Mem0Provider({ apiKey: KEY, userId: 'u', timeoutMs })).toThrow(ThreadmemError);
  }
});

test('a Mem0 that never answers: MEM0_NETWORK_ERROR after timeoutMs, or ABORTED with the run, the request closed', async () => {
  const arrived = [];
  const closed = [];
  let onRequest = () => {};
  const silent = http.createServer((req, res) => {
    arrived.push(req.url);
    res.on('close', () => closed.push(req.url));
    onRequest();
  });
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const host = `http://127.0.0.1:${silent.address().port}`;
  const next = () => new Promise((resolve) => (onRequest = resolve));

  const timed = new Mem0Provider({ apiKey: KEY, userId: 'u-silent', host, timeoutMs: 100 });
  expect((await caught(timed.invoking([{ role: 'user', text: 'hello' }], {}))).code).toBe('MEM0_NETWORK_ERROR');

  const patient = new Mem0Provider({ apiKey: KEY, userId: 'u-silent', host, timeoutMs: 3_600_000 });
  const agent = new ChatAgent({ chatClient: client, contextProviders: patient });
  const thread = agent.getNewThread();
  const controller = new AbortController();
  const searching = next();
  const run = agent.run('hello', { thread, signal: controller.signal });
  await searching;
  controller.abort();
  expect((await caught(run)).code).toBe('ABORTED');
  while (closed.length < arrived.length) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(arrived).toHaveLength(2);
  expect(llm.requests).toEqual([]);
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
  silent.closeAllConnections();
  await new Promise((resolve) => silent.close(resolve));
});
