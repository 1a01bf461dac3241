// Concurrent runs: many runs started at once (on different threads, or on the
// same thread) are queued so they never interleave inside the core; every
// thread ends with exactly its own turns, in order.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { ChatAgent, ChatMessageStore, OpenAIChatClient } from '../../js/index.js';
import { startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5, maxRetries: 0 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

test('runs on different threads started at once all complete, each thread with its own turns in order', async () => {
  const agent = new ChatAgent({ chatClient: client, instructions: 'Answer.' });
  const names = ['Ada', 'Ben', 'Cyd', 'Dov', 'Eli'];
  const threads = names.map(() => agent.getNewThread());
  // Slow answers give the runs every chance to overlap.
  llm.script({ times: 10, delayMs: 15 });

  const results = await Promise.all(
    names.map(async (name, i) => {
      const thread = threads[i];
      const a = await agent.run(`my name is ${name}`, { thread });
      const b = await agent.run(`${name} turn two`, { thread });
      const c = await agent.run("what's my name", { thread });
      return [a, b, c];
    }),
  );

  for (let i = 0; i < names.length; i++) {
    const name = names[i];
    const [a, b, c] = results[i];
    expect(a.text).toMatch(new RegExp(`^Echo: my name is ${name}`));
    expect(b.text).toMatch(new RegExp(`^Echo: ${name} turn two`));
    expect(c.text).toBe(`Your name is ${name}.`);
    const stored = await threads[i].messageStore.listMessages();
    expect(stored.map((m) => [m.role, m.text])).toEqual([
      ['user', `my name is ${name}`],
      ['assistant', a.text],
      ['user', `${name} turn two`],
      ['assistant', b.text],
      ['user', "what's my name"],
      ['assistant', `Your name is ${name}.`],
    ]);
  }
  // Every request carried one thread's history only.
  for (const r of llm.requests) {
    const mentioned = names.filter((n) => r.body.messages.some((m) => textOf(m).includes(n)));
    expect(mentioned.length).toBeLessThanOrEqual(1);
  }
  expect(llm.requests).toHaveLength(15);
  agent.close();
});

test('two runs on the same thread started together are queued in call order', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread();
  llm.script({ delayMs: 50 });
  const first = agent.run('my name is Fay', { thread });
  const second = agent.run("what's my name", { thread });
  const [r1, r2] = await Promise.all([first, second]);
  expect(r1.text).toMatch(/^Echo: my name is Fay/);
  expect(r2.text).toBe('Your name is Fay.');
  expect((await thread.messageStore.listMessages()).map((m) => m.text)).toEqual([
    'my name is Fay',
    r1.text,
    "what's my name",
    'Your name is Fay.',
  ]);
  agent.close();
});

test('a failing run among concurrent ones fails alone; the others complete', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const threads = [0, 1, 2].map(() => agent.getNewThread());
  llm.script({ when: (b) => b.messages.some((m) => textOf(m) === 'fail me'), status: 400, error: 'rejected' });
  const outcomes = await Promise.allSettled([
    agent.run('ok one', { thread: threads[0] }),
    agent.run('fail me', { thread: threads[1] }),
    agent.run('ok three', { thread: threads[2] }),
  ]);
  expect(outcomes.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
  expect(outcomes[1].reason.code).toBe('LLM_HTTP_ERROR');
  expect(await threads[0].messageStore.count()).toBe(2);
  expect(await threads[1].messageStore.count()).toBe(0);
  expect(await threads[2].messageStore.count()).toBe(2);
  agent.close();
});

test('two agents share the module safely', async () => {
  const a1 = new ChatAgent({ chatClient: client, instructions: 'First agent.' });
  const a2 = new ChatAgent({ chatClient: client, instructions: 'Second agent.' });
  const [r1, r2] = await Promise.all([a1.run('what are your instructions'), a2.run('what are your instructions')]);
  expect(r1.text).toBe('My instructions are: First agent.');
  expect(r2.text).toBe('My instructions are: Second agent.');
  a1.close();
  a2.close();
});

test('store operations during a run wait for nothing and see consistent data', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const store = new ChatMessageStore(['my name is Gil']);
  const thread = agent.getNewThread({ messageStore: store });
  llm.script({ delayMs: 50 });
  const running = agent.run("what's my name", { thread });
  // While the run waits on the model, the store still answers.
  expect(await store.count()).toBe(1);
  const other = new ChatMessageStore();
  await other.addMessages(['independent']);
  expect(await other.count()).toBe(1);
  expect((await running).text).toBe('Your name is Gil.');
  expect(await store.count()).toBe(3);
  agent.close();
});

test('adding to a store while a run on it waits on the model keeps every message', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const store = new ChatMessageStore(['my name is Hal']);
  const thread = agent.getNewThread({ messageStore: store });
  llm.script({ delayMs: 50 });
  const running = agent.run("what's my name", { thread });
  await new Promise((r) => setTimeout(r, 10));
  await store.addMessages(Array.from({ length: 50 }, (_, i) => `added ${i}`));
  expect((await running).text).toBe('Your name is Hal.');
  const texts = (await store.listMessages()).map((m) => m.text);
  expect(texts).toHaveLength(53);
  expect(texts[0]).toBe('my name is Hal');
  expect(texts.filter((t) => t.startsWith('added '))).toHaveLength(50);
  expect(texts.indexOf("what's my name")).toBe(texts.indexOf('Your name is Hal.') - 1);
  // The store is still sound afterwards.
  expect(await ChatMessageStore.deserialize(await store.serialize())).toBeInstanceOf(ChatMessageStore);
  agent.close();
});
