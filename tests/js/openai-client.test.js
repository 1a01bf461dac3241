// OpenAIChatClient against a real HTTP server: headers, Azure mode, retries
// with Retry-After, errors after retries, abort, timeout, and the API key
// kept out of every error.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import http from 'node:http';
import { inspect } from 'node:util';
import { ChatAgent, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

const KEY = 'sk-test-SECRET-0123456789abcdef';

let llm;

beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

function clientWith(options = {}) {
  return new OpenAIChatClient({ baseURL: llm.url, apiKey: KEY, model: 'test-model', retryBaseDelayMs: 5, ...options });
}

function agentWith(options = {}) {
  return new ChatAgent({ chatClient: clientWith(options), instructions: 'Test.' });
}

// Nothing a user might log from the error shows the key.
function expectNoKey(err) {
  for (const text of [err.message, String(err), err.stack ?? '', inspect(err, { depth: 5 }), JSON.stringify(err)]) {
    expect(text).not.toContain(KEY);
    expect(text).not.toContain('SECRET-0123456789');
  }
}

test('posts JSON to /chat/completions with Authorization: Bearer and extra headers', async () => {
  const agent = agentWith({ headers: { 'x-trace-id': 'trace-42', 'OpenAI-Organization': 'org-1' } });
  const r = await agent.run('hello');
  expect(r.text).toMatch(/^Echo: hello/);
  const req = llm.last();
  expect(req.method).toBe('POST');
  expect(req.path).toBe('/v1/chat/completions');
  expect(req.query).toEqual({});
  expect(req.headers.authorization).toBe(`Bearer ${KEY}`);
  expect(req.headers['api-key']).toBeUndefined();
  expect(req.headers['content-type']).toMatch(/^application\/json/);
  expect(req.headers['x-trace-id']).toBe('trace-42');
  expect(req.headers['openai-organization']).toBe('org-1');
  expect(req.body.model).toBe('test-model');
  agent.close();
});

test('a baseURL with a trailing slash gives the same path', async () => {
  const client = new OpenAIChatClient({ baseURL: `${llm.url}/`, apiKey: KEY, model: 'm' });
  const agent = new ChatAgent({ chatClient: client });
  await agent.run('x');
  expect(llm.last().path).toBe('/v1/chat/completions');
  agent.close();
});

test('azure mode: api-key header instead of Authorization, and the api-version query', async () => {
  const client = new OpenAIChatClient({
    baseURL: `${llm.url}/openai/deployments/gpt-4o`,
    apiKey: KEY,
    azure: true,
    apiVersion: '2024-10-21',
    retryBaseDelayMs: 5,
  });
  const agent = new ChatAgent({ chatClient: client });
  await agent.run('hello azure');
  const req = llm.last();
  expect(req.path).toBe('/v1/openai/deployments/gpt-4o/chat/completions');
  expect(req.query).toEqual({ 'api-version': '2024-10-21' });
  expect(req.headers['api-key']).toBe(KEY);
  expect(req.headers.authorization).toBeUndefined();
  agent.close();
});

test('getResponse on its own posts the body and resolves with the response text', async () => {
  const client = clientWith();
  const text = await client.getResponse(JSON.stringify({ model: 'm', messages: [{ role: 'user', content: 'direct' }] }));
  expect(JSON.parse(text).choices[0].message.content).toMatch(/^Echo: direct/);
  expect(client.model).toBe('test-model');
});

test('429 twice (Retry-After: 0), then success', async () => {
  const agent = agentWith();
  llm.script({ times: 2, status: 429, headers: { 'retry-after': '0' }, error: { message: 'Rate limit reached', type: 'requests', code: 'rate_limit_exceeded' } });
  const thread = agent.getNewThread();
  const r = await agent.run('after the rate limit', { thread });
  expect(r.text).toMatch(/^Echo: after the rate limit/);
  expect(llm.requests).toHaveLength(3);
  // The same body is sent each time.
  expect(llm.requests[2].rawBody).toBe(llm.requests[0].rawBody);
  expect(await thread.messageStore.count()).toBe(2);
  agent.close();
});

test('Retry-After in seconds is honoured', async () => {
  const agent = agentWith();
  llm.script({ status: 429, headers: { 'retry-after': '1' } });
  const t0 = Date.now();
  await agent.run('wait a second');
  expect(Date.now() - t0).toBeGreaterThanOrEqual(900);
  expect(llm.requests).toHaveLength(2);
  agent.close();
});

test('Retry-After is capped by maxRetryDelayMs; an HTTP date is understood', async () => {
  const agent = agentWith({ maxRetryDelayMs: 30 });
  llm.script({ status: 503, headers: { 'retry-after': '3600' } });
  llm.script({ status: 429, headers: { 'retry-after': new Date(Date.now() + 3600_000).toUTCString() } });
  const t0 = Date.now();
  await agent.run('capped');
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(llm.requests).toHaveLength(3);
  agent.close();
});

test('500 on every attempt: LLM_HTTP_ERROR with status 500 after maxRetries, thread unchanged', async () => {
  const agent = agentWith({ maxRetries: 2 });
  const thread = agent.getNewThread();
  await agent.run('a first good turn', { thread });
  const before = await thread.serialize();
  llm.reset();
  llm.script({ times: Infinity, status: 500, error: { message: 'upstream exploded', type: 'server_error' } });
  const err = await caught(agent.run('this one fails', { thread }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.name).toBe('ThreadmemError');
  expect(err.code).toBe('LLM_HTTP_ERROR');
  expect(err.status).toBe(500);
  expect(err.message).toContain('upstream exploded');
  expect(llm.requests).toHaveLength(3); // the first try and 2 retries
  expect(await thread.serialize()).toEqual(before);
  expectNoKey(err);

  llm.reset();
  expect((await agent.run('recovered', { thread })).text).toMatch(/^Echo: recovered/);
  agent.close();
});

test('every 5xx is retried, as 408 and 429 are; other 4xx are not', async () => {
  const agent = agentWith({ maxRetries: 1 });
  for (const status of [408, 429, 500, 507, 520, 529]) {
    llm.reset();
    llm.script({ times: Infinity, status });
    const err = await caught(agent.run('retried'));
    expect([status, err.code, err.status, llm.requests.length]).toEqual([status, 'LLM_HTTP_ERROR', status, 2]);
  }
  for (const status of [401, 404, 409, 422]) {
    llm.reset();
    llm.script({ times: Infinity, status });
    const err = await caught(agent.run('not retried'));
    expect([status, err.code, err.status, llm.requests.length]).toEqual([status, 'LLM_HTTP_ERROR', status, 1]);
  }
  llm.reset();
  agent.close();
});

test("a refusal is the reply's text, streamed or not", async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  llm.script({ json: { id: 'r', choices: [{ message: { role: 'assistant', content: null, refusal: "I can't help with that." }, finish_reason: 'stop' }] } });
  expect((await agent.run('something forbidden', { thread })).text).toBe("I can't help with that.");
  const chunk = (delta, finish = null) => JSON.stringify({ id: 's', choices: [{ index: 0, delta, finish_reason: finish }] });
  llm.script({ events: [chunk({ role: 'assistant', content: null, refusal: 'No' }), chunk({ refusal: ', sorry.' }, 'stop')] });
  const deltas = [];
  for await (const u of agent.runStream('again', { thread })) if (u.type === 'text_delta') deltas.push(u.text);
  expect(deltas.join('')).toBe('No, sorry.');
  expect((await thread.messageStore.listMessages()).map((m) => m.text)).toEqual([
    'something forbidden', "I can't help with that.", 'again', 'No, sorry.',
  ]);
  agent.close();
});

test('400 fails at once with the server message, no retry', async () => {
  const agent = agentWith({ maxRetries: 5 });
  llm.script({ status: 400, error: { message: "Invalid value for 'model'", type: 'invalid_request_error', param: 'model', code: 'model_not_found' } });
  const err = await caught(agent.run('bad'));
  expect(err.code).toBe('LLM_HTTP_ERROR');
  expect(err.status).toBe(400);
  expect(err.message).toContain("Invalid value for 'model'");
  expect(llm.requests).toHaveLength(1);
  agent.close();
});

test('an AbortSignal stops a run waiting on the model: ABORTED, thread unchanged', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  const before = await thread.serialize();
  llm.script({ delayMs: 10_000 });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 50);
  const t0 = Date.now();
  const err = await caught(agent.run('slow', { thread, signal: controller.signal }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('ABORTED');
  expect(Date.now() - t0).toBeLessThan(5000);
  expect(await thread.serialize()).toEqual(before);
  llm.reset();
  expect((await agent.run('after abort', { thread })).text).toMatch(/^Echo: after abort/);
  agent.close();
});

test('an already aborted signal fails the run with ABORTED', async () => {
  const agent = agentWith();
  const err = await caught(agent.run('never', { signal: AbortSignal.abort() }));
  expect(err.code).toBe('ABORTED');
  agent.close();
});

test('abort during the retry wait is ABORTED too', async () => {
  const agent = agentWith({ maxRetries: 3 });
  llm.script({ times: Infinity, status: 503, headers: { 'retry-after': '10' } });
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 100);
  const t0 = Date.now();
  const err = await caught(agent.run('x', { signal: controller.signal }));
  expect(err.code).toBe('ABORTED');
  expect(Date.now() - t0).toBeLessThan(5000);
  agent.close();
});

test('a model slower than timeoutMs fails with LLM_TIMEOUT', async () => {
  const agent = agentWith({ timeoutMs: 100, maxRetries: 0 });
  const thread = agent.getNewThread();
  llm.script({ delayMs: 5000 });
  const t0 = Date.now();
  const err = await caught(agent.run('too slow', { thread }));
  expect(err.code).toBe('LLM_TIMEOUT');
  expect(Date.now() - t0).toBeLessThan(4000);
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
});

test('an endpoint that cannot be reached fails with LLM_NETWORK_ERROR after retries', async () => {
  const closed = http.createServer();
  await new Promise((r) => closed.listen(0, '127.0.0.1', r));
  const { port } = closed.address();
  await new Promise((r) => closed.close(r));
  const client = new OpenAIChatClient({ baseURL: `http://127.0.0.1:${port}/v1`, apiKey: KEY, maxRetries: 2, retryBaseDelayMs: 5 });
  const agent = new ChatAgent({ chatClient: client });
  const err = await caught(agent.run('anyone there?'));
  expect(err.code).toBe('LLM_NETWORK_ERROR');
  expectNoKey(err);
  agent.close();
});

test('a connection dropped mid-request is retried', async () => {
  const agent = agentWith();
  llm.script({ destroy: true });
  const r = await agent.run('flaky network');
  expect(r.text).toMatch(/^Echo: flaky network/);
  expect(llm.requests).toHaveLength(2);
  agent.close();
});

test('the API key never appears in an error, even when the server echoes it', async () => {
  const agent = agentWith({ maxRetries: 0 });
  llm.script({ status: 401, error: { message: 'Invalid authentication', type: 'invalid_request_error', code: 'invalid_api_key' } });
  let err = await caught(agent.run('x'));
  expect(err.code).toBe('LLM_HTTP_ERROR');
  expect(err.status).toBe(401);
  expectNoKey(err);

  // Servers do quote the key they got ("Incorrect API key provided: sk-...").
  llm.script({ status: 401, error: { message: `Incorrect API key provided: ${KEY}.`, type: 'invalid_request_error', code: 'invalid_api_key' } });
  err = await caught(agent.run('x'));
  expect(err.code).toBe('LLM_HTTP_ERROR');
  expectNoKey(err);

  // Nor does logging the client.
  expect(inspect(clientWith(), { depth: 5 })).not.toContain(KEY);
  expect(JSON.stringify(clientWith())).not.toContain(KEY);
  agent.close();
});
