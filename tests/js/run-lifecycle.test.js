// A run from the call to its end: close() lets the runs already called
// finish, whatever they are waiting on; a chat client of one's own fails
// with ThreadmemErrors; an abort wins over a client that ignores the signal
// (and a reply it opens late is closed), wherever the run is: waiting its
// turn, or with the providers; a streamed run goes on only while its reader
// asks, so a reader that leaves early stores nothing; a run without a
// thread, a thread that fails to resume and a store that fails to be made
// free what they took.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mod } from '../../js/core.js';
import {
  ChatAgent,
  ChatMessageStore,
  ContextProvider,
  FileChatMessageStore,
  MemoryProvider,
  OpenAIChatClient,
  ThreadmemError,
} from '../../js/node.js';
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

// A promise and the function that resolves it.
function gate() {
  let open;
  const opened = new Promise((resolve) => (open = resolve));
  return { opened, open };
}

// Runs `text` on a new thread of `agent`, aborts it once `reached`
// resolves, checks that it failed with ABORTED, and returns the thread.
async function abortedOnce(agent, text, reached) {
  const thread = agent.getNewThread();
  const controller = new AbortController();
  const run = agent.run(text, { thread, signal: controller.signal });
  await reached;
  controller.abort();
  expect((await caught(run)).code).toBe('ABORTED');
  return thread;
}

test('an abort ends a run waiting its turn on the thread at once; the runs after it still wait', async () => {
  const first = gate();
  const asked = [];
  const chatClient = {
    async getResponse(body) {
      const text = JSON.parse(body).messages.at(-1).content;
      asked.push(text);
      if (text === 'A') await first.opened;
      return reply(`re ${text}`);
    },
  };
  const agent = new ChatAgent({ chatClient });
  const thread = agent.getNewThread();
  const a = agent.run('A', { thread });
  const controller = new AbortController();
  const b = agent.run('B', { thread, signal: controller.signal });
  const c = agent.run('C', { thread });
  controller.abort();
  expect((await caught(b)).code).toBe('ABORTED'); // while A still waits for its model
  expect(asked).toEqual(['A']);
  first.open();
  await Promise.all([a, c]);
  expect(asked).toEqual(['A', 'C']);
  expect(await texts(thread)).toEqual(['user:A', 'assistant:re A', 'user:C', 'assistant:re C']);
  // A stream left while it waits its turn lets go at once too.
  const second = gate();
  asked.length = 0;
  chatClient.getResponse = async () => {
    await second.opened;
    return reply('late');
  };
  chatClient.getStreamingResponse = async () => {
    throw new Error('a run that is never started never asks');
  };
  const d = agent.run('D', { thread });
  const stop = new AbortController();
  const streamed = caught(async () => {
    for await (const u of agent.runStream('E', { thread, signal: stop.signal })) void u;
  });
  stop.abort();
  expect((await streamed).code).toBe('ABORTED');
  second.open();
  await d;
  agent.close();
});

test("an abort while the providers hear of the turn takes the turn back: ABORTED, nothing stored", async () => {
  const heard = gate();
  const held = gate();
  class Slow extends ContextProvider {
    async invoked() {
      heard.open();
      await held.opened; // a provider that ignores the signal
    }
  }
  const agent = new ChatAgent({ chatClient: slowClient(0), contextProviders: new Slow() });
  const thread = await abortedOnce(agent, 'hi', heard.opened);
  held.open();
  await sleep(10);
  expect(await texts(thread)).toEqual([]);
  agent.close();
});

test('an aborted run teaches MemoryProvider nothing, even from an extraction that answers late', async () => {
  const extracting = gate();
  const answer = gate();
  const chatClient = {
    async getResponse(body) {
      if (!JSON.parse(body).response_format) return reply('Nice to meet you, Alice.');
      extracting.open();
      await answer.opened; // whatever the signal says
      return reply(JSON.stringify({ memories: [{ event: 'ADD', text: 'The user is called Alice' }] }));
    },
  };
  const warnings = [];
  const memory = new MemoryProvider({ userId: 'alice', onWarning: (m) => warnings.push(m) });
  const agent = new ChatAgent({ chatClient, contextProviders: memory });
  const thread = await abortedOnce(agent, 'My name is Alice.', extracting.opened);
  answer.open();
  await memory.list(); // after the extraction, in the provider's order
  expect(await memory.list()).toEqual([]);
  expect(warnings).toEqual([]);
  expect(await texts(thread)).toEqual([]);
  memory.close();
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

test('a thread that fails to resume closes the store it was given, whatever its kind', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'threadmem-resume-'));
  const custom = () => ({
    closed: false,
    addMessages() {},
    listMessages: () => [],
    serialize: () => ({}),
    updateFromState() {
      throw new Error('not my state');
    },
    close() {
      this.closed = true;
    },
  });
  // A reference to a Redis thread: no file store or custom store can load it.
  const state = {
    type: 'agent_thread_state',
    chat_message_store_state: { type: 'store_reference', kind: 'redis', key_prefix: 'p', thread_id: 'x' },
  };
  try {
    for (const factory of [() => new ChatMessageStore(), () => new FileChatMessageStore({ directory: dir }), custom]) {
      let made;
      const agent = new ChatAgent({ chatClient: slowClient(0), chatMessageStoreFactory: () => (made = factory()) });
      expect((await caught(agent.deserializeThread(state))).code).toMatch(/INVALID_FORMAT|INVALID_ARGUMENT|STORE_ERROR/);
      expect(made.closed).toBe(true);
      agent.close();
    }
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});

test("a store whose making fails frees the core's memory it took", () => {
  const module = mod();
  const free = module._tm_store_free;
  let freed = 0;
  module._tm_store_free = (ptr) => {
    freed += 1;
    return free(ptr);
  };
  try {
    expect(() => new ChatMessageStore([{ role: 'wizard', text: 'x' }])).toThrow(ThreadmemError);
    expect(freed).toBe(1);
    expect(() => new FileChatMessageStore({ directory: tmpdir(), encryption: { key: 42 } })).toThrow(ThreadmemError);
    expect(freed).toBe(2); // its in-memory copy
  } finally {
    module._tm_store_free = free;
  }
});
