// agent.runStream against the local server's event streams: deltas in
// order and as they arrive, tool calls and results, the same response and
// the same stored turn as run(), the one-call-at-a-time queue while a reply
// streams, and every way a stream can end early leaving the thread as it was.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import http from 'node:http';
import { ChatAgent, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

let llm;

beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const weather = {
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } } },
  execute: async ({ city }) => ({ city, sky: 'rainy' }),
};

function agentWith(client = {}, agent = {}) {
  const chatClient = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'sk-stream', model: 'm', retryBaseDelayMs: 5, ...client });
  return new ChatAgent({ chatClient, instructions: 'Test.', tools: [weather], ...agent });
}

// Every update of a stream, and the time each arrived.
async function collect(stream) {
  const updates = [];
  for await (const u of stream) updates.push({ ...u, at: Date.now() });
  return updates;
}

// A thread's messages without what differs from run to run.
async function stable(thread) {
  const state = await thread.serialize();
  return state.chat_message_store_state.messages.map(({ message_id, created_at, ...m }) => m);
}

test('text arrives as deltas, then the response run() would give; the turn is stored', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  const updates = await collect(agent.runStream('hello there streaming world', { thread }));
  const deltas = updates.filter((u) => u.type === 'text_delta');
  const last = updates[updates.length - 1];
  expect(deltas.length).toBeGreaterThan(3);
  expect(last.type).toBe('response');
  expect(updates.filter((u) => u.type === 'response')).toHaveLength(1);
  expect(deltas.map((d) => d.text).join('')).toBe(last.response.text);
  expect(last.response.text).toBe('Echo: hello there streaming world [system=1 user=1 assistant=0 tool=0]');
  expect(last.response.usage.promptTokens).toBeGreaterThan(0);
  expect(last.response.usage.totalTokens).toBe(last.response.usage.promptTokens + last.response.usage.completionTokens);
  expect(last.response.finishReason).toBe('stop');
  expect(last.response.responseId).toBe('chatcmpl-test-1');
  expect(last.response.messages.map((m) => m.role)).toEqual(['assistant']);
  expect(await thread.messageStore.count()).toBe(2);

  const body = llm.last().body;
  expect(body.stream).toBe(true);
  expect(body.stream_options).toEqual({ include_usage: true });
  expect(llm.last().headers.accept).toBe('text/event-stream');
  agent.close();
});

test('a streamed turn stores exactly what run() stores, tool rounds included', async () => {
  const agent = agentWith();
  const a = agent.getNewThread();
  const b = agent.getNewThread();
  const input = 'call get_weather {"city":"Oslo"}';
  const plain = await agent.run(input, { thread: a });
  llm.reset();
  const updates = await collect(agent.runStream(input, { thread: b }));
  const streamed = updates[updates.length - 1].response;
  expect(await stable(b)).toEqual(await stable(a));
  expect(streamed.text).toBe(plain.text);
  expect(streamed.usage).toEqual(plain.usage);
  expect(streamed.messages.map((m) => m.contents.map((c) => c.type))).toEqual(
    plain.messages.map((m) => m.contents.map((c) => c.type)),
  );

  // Call, then result, then the text of the second round, then the response.
  const kinds = updates.map((u) => u.type);
  expect(kinds.slice(0, 2)).toEqual(['tool_call', 'tool_result']);
  expect(kinds.slice(2, -1).every((k) => k === 'text_delta')).toBe(true);
  const [call, result] = updates;
  expect(call).toMatchObject({ type: 'tool_call', name: 'get_weather', arguments: '{"city":"Oslo"}' });
  expect(call.call_id).toMatch(/^call_/);
  expect(result).toMatchObject({ type: 'tool_result', call_id: call.call_id, name: 'get_weather', result: { city: 'Oslo', sky: 'rainy' } });
  // Both requests of the turn streamed.
  expect(llm.bodies().map((x) => x.stream)).toEqual([true, true]);
  agent.close();
});

test('deltas reach the reader while the reply is still arriving', async () => {
  const agent = agentWith();
  llm.script({ chunkDelayMs: 60 });
  const updates = await collect(agent.runStream('one two three four five six'));
  const first = updates.find((u) => u.type === 'text_delta');
  const end = updates[updates.length - 1];
  // Eleven chunks 60 ms apart: the first word is read long before the end.
  expect(end.at - first.at).toBeGreaterThan(300);
  agent.close();
});

test('a run started by the reader overlaps the stream; runs on one thread keep their order', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  const other = agent.getNewThread();
  llm.script({ chunkDelayMs: 30, when: (body) => body.stream });
  const concurrent = agent.run('meanwhile', { thread: other });
  let fromInside;
  const updates = [];
  for await (const u of agent.runStream('stream me please', { thread })) {
    updates.push(u);
    if (updates.length === 1) {
      // Sync calls work at once; the streamed turn is not stored yet.
      expect(await thread.messageStore.count()).toBe(0);
      fromInside = agent.run('from the reader', { thread: other });
    }
  }
  const lastDeltaAt = Date.now();
  expect(updates[updates.length - 1].response.text).toMatch(/^Echo: stream me please/);
  expect((await concurrent).text).toMatch(/^Echo: meanwhile/);
  expect((await fromInside).text).toMatch(/^Echo: from the reader/);
  const asked = llm.requests.map((r) => r.body.messages.at(-1).content);
  expect([...asked].sort()).toEqual(['from the reader', 'meanwhile', 'stream me please']);
  // The run on the other thread did not wait for the stream (another
  // thread) but did wait for the run before it on its own thread, whose
  // turn it saw.
  const fromReader = llm.requests[asked.indexOf('from the reader')];
  expect(fromReader.at).toBeLessThan(lastDeltaAt);
  expect(asked.indexOf('meanwhile')).toBeLessThan(asked.indexOf('from the reader'));
  expect(fromReader.body.messages.map((m) => m.content)).toContain('meanwhile');
  expect(await thread.messageStore.count()).toBe(2);
  expect((await other.messageStore.listMessages()).map((m) => m.role)).toEqual(['user', 'assistant', 'user', 'assistant']);
  agent.close();
});

test('leaving the loop early cancels the run: nothing stored, no error, the agent still works', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  await agent.run('first turn', { thread });
  const before = await thread.serialize();
  llm.script({ chunkDelayMs: 200 });
  const t0 = Date.now();
  for await (const u of agent.runStream('a long answer of many words here', { thread })) {
    if (u.type === 'text_delta') break;
  }
  expect(Date.now() - t0).toBeLessThan(1500); // the rest (~2 s) was never waited for
  expect(await thread.serialize()).toEqual(before);
  expect((await agent.run('after the break', { thread })).text).toMatch(/^Echo: after the break/);
  agent.close();
});

test('an AbortSignal mid-stream ends the iteration with ABORTED; the thread is unchanged', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  const before = await thread.serialize();
  const controller = new AbortController();
  llm.script({ chunkDelayMs: 100 });
  const seen = [];
  const err = await caught(async () => {
    for await (const u of agent.runStream('abort me midway please', { thread, signal: controller.signal })) {
      seen.push(u);
      if (seen.length === 2) controller.abort();
    }
  });
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('ABORTED');
  expect(seen.every((u) => u.type === 'text_delta')).toBe(true);
  expect(await thread.serialize()).toEqual(before);
  agent.close();
});

test('a connection reset mid-reply: LLM_STREAM_ERROR with its cause, after the deltas sent; nothing stored', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  await agent.run('first', { thread });
  const before = await thread.serialize();
  llm.script({ breakAfter: 3 });
  const seen = [];
  const err = await caught(async () => {
    for await (const u of agent.runStream('reset in the middle of this', { thread })) seen.push(u);
  });
  expect(err.code).toBe('LLM_STREAM_ERROR');
  expect(err.cause).toBeDefined();
  expect(seen.map((u) => u.text).join('')).toBe('Echo: reset ');
  expect(await thread.serialize()).toEqual(before);
  expect(llm.requests).toHaveLength(2); // not retried: part of the reply was shown
  agent.close();
});

test('a malformed chunk, an error chunk, a reply cut before it finished: INVALID_RESPONSE', async () => {
  const agent = agentWith();
  const thread = agent.getNewThread();
  const before = await thread.serialize();
  const chunk = (delta, finish = null) => JSON.stringify({ id: 'x', choices: [{ index: 0, delta, finish_reason: finish }] });
  for (const entry of [
    { corruptAt: 2 },
    { events: [chunk({ content: 'Hi' }), JSON.stringify({ error: { message: 'overloaded mid-reply' } })] },
    { events: [chunk({ content: 'Hi' }), chunk({ content: ' there' })] },
    { events: [chunk({ tool_calls: [{ index: 5000, id: 'c' }] })] },
    { json: { choices: [{ message: { content: 'not streamed' } }] } },
  ]) {
    llm.script(entry);
    const err = await caught(collect(agent.runStream('x', { thread })));
    expect([entry, err.code]).toEqual([entry, 'INVALID_RESPONSE']);
    expect(await thread.serialize()).toEqual(before);
  }
  agent.close();
});

test('a stream that stalls longer than timeoutMs: LLM_TIMEOUT', async () => {
  const agent = agentWith({ timeoutMs: 300, maxRetries: 0 });
  const thread = agent.getNewThread();
  llm.script({ stallAfter: 2 });
  const t0 = Date.now();
  const err = await caught(collect(agent.runStream('stall', { thread })));
  expect(err.code).toBe('LLM_TIMEOUT');
  expect(Date.now() - t0).toBeLessThan(3000);
  expect(await thread.messageStore.count()).toBe(0);
  // A slow but steady stream is not a stall: the limit is per gap.
  llm.script({ chunkDelayMs: 100 });
  const updates = await collect(agent.runStream('slow but steady stream of words', { thread }));
  expect(updates[updates.length - 1].response.text).toMatch(/^Echo: slow but steady/);
  agent.close();
});

test('a streamed reply closed before its first read closes its connection at once', async () => {
  let closed;
  const gone = new Promise((resolve) => (closed = resolve));
  const server = http.createServer((req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.write(': the model is thinking\n\n'); // and says nothing more
    res.on('close', closed);
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const client = new OpenAIChatClient({
    baseURL: `http://127.0.0.1:${server.address().port}/v1`,
    apiKey: 'k',
    model: 'm',
    timeoutMs: 3_600_000, // the connection must not wait for this
  });
  const replyChunks = await client.getStreamingResponse('{"stream":true,"messages":[]}');
  await replyChunks[Symbol.asyncIterator]().return();
  await gone;
  await new Promise((resolve) => server.close(resolve));
});

test('429 and 503 before the stream starts are retried; a body without [DONE] still ends', async () => {
  const agent = agentWith();
  llm.script({ status: 429, headers: { 'retry-after': '0' } });
  llm.script({ status: 503 });
  llm.script({ noDone: true });
  const updates = await collect(agent.runStream('after retries'));
  expect(updates[updates.length - 1].response.text).toMatch(/^Echo: after retries/);
  expect(llm.requests).toHaveLength(3);
  agent.close();
});

test('a model that keeps calling tools stops at maxToolRounds with nothing stored', async () => {
  const agent = agentWith({}, { maxToolRounds: 2 });
  const thread = agent.getNewThread();
  llm.script({ times: Infinity, toolCalls: [{ name: 'get_weather', arguments: { city: 'Oslo' } }] });
  const seen = [];
  const err = await caught(async () => {
    for await (const u of agent.runStream('loop', { thread })) seen.push(u.type);
  });
  expect(err.code).toBe('MAX_TOOL_ROUNDS');
  expect(seen).toEqual(['tool_call', 'tool_result', 'tool_call', 'tool_result']);
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
});

test("a chat client's stream iterator that breaks the protocol is INVALID_ARGUMENT", async () => {
  const chatClient = {
    getResponse: async () => '{}',
    getStreamingResponse: async () => ({
      [Symbol.asyncIterator]() {
        return { next: async () => undefined };
      },
    }),
  };
  const agent = new ChatAgent({ chatClient });
  const thread = agent.getNewThread();
  const err = await caught(collect(agent.runStream('hi', { thread })));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('INVALID_ARGUMENT');
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
});

test('any chat client with getStreamingResponse can stream; one without cannot', async () => {
  const chunk = (delta, finish = null) => JSON.stringify({ choices: [{ index: 0, delta, finish_reason: finish }] });
  const client = {
    getResponse: async () => {
      throw new Error('not used');
    },
    async *getStreamingResponse() {
      yield chunk({ content: 'Hello' });
      yield chunk({ content: ' you' }, 'stop');
    },
  };
  const agent = new ChatAgent({ chatClient: client });
  const updates = await collect(agent.runStream('hi'));
  expect(updates.map((u) => u.text ?? u.response.text)).toEqual(['Hello', ' you', 'Hello you']);

  const plain = new ChatAgent({ chatClient: { getResponse: async () => '{}' } });
  const err = await caught(collect(plain.runStream('hi')));
  expect(err.code).toBe('INVALID_ARGUMENT');
  agent.close();
  plain.close();
});
