// A run from the call to its end: close() lets the runs already called
// finish, whatever they are waiting on; a chat client of one's own fails
// with ThreadmemErrors; an abort wins over a client that ignores the signal
// (and a reply it opens late is closed);
// a streamed run goes on only while its reader asks, so a reader that leaves
// early stores nothing; a run without a thread frees the store it made.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { ChatAgent, ChatMessageStore, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

let llm;

beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const reply = (text) =>
  JSON.stringify({ id: 'r', choices: [{ index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }] });
// A chat client of one's own, answering after `ms`, whatever the signal says.
const slowClient = (ms, text = 'ok') => ({
  async getResponse() {
    await sleep(ms);
    return reply(text);
  },
});
const texts = async (thread) => (await thread.messageStore.listMessages()).map((m) => `${m.role}:${m.text}`);

test('close() lets every run already called finish: started, queued on its thread, or still setting up', async () => {
  const agent = new ChatAgent({ chatClient: slowClient(20) });
  const alone = agent.run('hello');
  agent.close();
  expect((await alone).text).toBe('ok');

  const queued = new ChatAgent({ chatClient: slowClient(20), contextWindow: { maxTokens: 1000 } });
  const thread = queued.getNewThread();
  const runs = [queued.run('one', { thread }), queued.run('two', { thread })];
  await sleep(5);
  queued.close();
  expect((await Promise.all(runs)).map((r) => r.text)).toEqual(['ok', 'ok']);
  expect(await texts(thread)).toEqual(['user:one', 'assistant:ok', 'user:two', 'assistant:ok']);
  expect((await caught(queued.run('three', { thread }))).code).toBe('CLOSED');
});

test("a chat client's failures are ThreadmemErrors, its cause kept", async () => {
  const boom = new Error('socket hang up');
  const cases = [
    [{ getResponse: async () => { throw boom; } }, 'LLM_ERROR', boom],
    [{ getResponse: async () => ({ choices: [] }) }, 'INVALID_RESPONSE', undefined],
  ];
  for (const [chatClient, code, cause] of cases) {
    const agent = new ChatAgent({ chatClient });
    const thread = agent.getNewThread();
    const err = await caught(agent.run('hi', { thread }));
    expect([err instanceof ThreadmemError, err.code, err.cause]).toEqual([true, code, cause]);
    expect(await texts(thread)).toEqual([]);
    agent.close();
  }
  const streaming = new ChatAgent({
    chatClient: { getResponse: async () => reply('x'), getStreamingResponse: async () => { throw boom; } },
  });
  const err = await caught(async () => {
    for await (const u of streaming.runStream('hi')) void u;
  });
  expect([err.code, err.cause]).toEqual(['LLM_ERROR', boom]);
  expect((await caught(async () => {
    for await (const u of streaming.runStream('hi', { signal: {} })) void u;
  })).code).toBe('INVALID_ARGUMENT');
  expect((await caught(streaming.run('hi', { signal: 'stop' }))).code).toBe('INVALID_ARGUMENT');
  streaming.close();
});

test('an abort wins over a chat client that ignores the signal: ABORTED, nothing stored', async () => {
  const agent = new ChatAgent({ chatClient: slowClient(200, 'late answer') });
  const thread = agent.getNewThread();
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const err = await caught(agent.run('hi', { thread, signal: controller.signal }));
  expect(err.code).toBe('ABORTED');
  await sleep(250); // the client's late answer changes nothing
  expect(await texts(thread)).toEqual([]);
  agent.close();
});

test('a streamed reply that a client opens after the abort is closed unread', async () => {
  let closed;
  const gone = new Promise((resolve) => (closed = resolve));
  const chatClient = {
    getResponse: async () => reply('unused'),
    async getStreamingResponse() {
      await sleep(100); // whatever the signal says
      // An iterator that has not been read yet: a generator would not run
      // its finally here, so the reply is closed through return() itself.
      return {
        [Symbol.asyncIterator]() {
          return this;
        },
        next: async () => ({ done: true }),
        return: async () => {
          closed();
          return { done: true };
        },
      };
    },
  };
  const agent = new ChatAgent({ chatClient });
  const thread = agent.getNewThread();
  const controller = new AbortController();
  setTimeout(() => controller.abort(), 20);
  const err = await caught(async () => {
    for await (const u of agent.runStream('hi', { thread, signal: controller.signal })) void u;
  });
  expect(err.code).toBe('ABORTED');
  await gone;
  expect(await texts(thread)).toEqual([]);
  agent.close();
});

test('a streamed run goes on only while its reader asks: a slow reader that leaves early stores nothing', async () => {
  const chatClient = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm' });
  const agent = new ChatAgent({ chatClient });
  const thread = agent.getNewThread();
  for await (const u of agent.runStream('tell me a short story please', { thread })) {
    expect(u.type).toBe('text_delta');
    await sleep(100); // the whole reply has arrived meanwhile
    break;
  }
  expect(await texts(thread)).toEqual([]);
  // A reader that takes every update gets the turn stored.
  const seen = [];
  for await (const u of agent.runStream('tell me a short story please', { thread })) {
    seen.push(u.type);
    await sleep(1);
  }
  expect(seen.at(-1)).toBe('response');
  expect(await thread.messageStore.count()).toBe(2);
  agent.close();
});

test('a run without a thread frees the store it made for the turn', async () => {
  const made = [];
  const agent = new ChatAgent({
    chatClient: slowClient(0),
    chatMessageStoreFactory: () => {
      const store = new ChatMessageStore();
      made.push(store);
      return store;
    },
  });
  await agent.run('one');
  await caught(agent.run('two', { signal: AbortSignal.abort() }));
  expect(made.map((s) => s.closed)).toEqual([true, true]);
  const thread = agent.getNewThread();
  await agent.run('kept', { thread });
  expect(thread.messageStore.closed).toBe(false); // a caller's thread keeps its store
  agent.close();
});
