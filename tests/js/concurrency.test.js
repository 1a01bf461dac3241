// Concurrent runs: runs on different threads overlap while they wait on the
// model, the tools or a store (the core holds the module only for each step
// of a run); runs on one thread take turns, in call order. Every thread ends
// with exactly its own turns, in order.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { ChatAgent, ChatMessageStore, OpenAIChatClient } from '../../js/index.js';
import { barrier, caught, startLLMServer, textOf } from './helpers/llm-server.js';

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

test('runs on different threads wait on the model together, not one after the other', async () => {
  const N = 8;
  const DELAY = 200;
  const agent = new ChatAgent({ chatClient: client });
  const threads = Array.from({ length: N }, () => agent.getNewThread());
  llm.script({ times: N, delayMs: DELAY });
  const start = Date.now();
  const results = await Promise.all(threads.map((thread, i) => agent.run(`thread ${i}`, { thread })));
  const elapsed = Date.now() - start;
  results.forEach((r, i) => expect(r.text).toMatch(new RegExp(`^Echo: thread ${i} `)));
  // Every request reached the server before the first answer came back...
  const firstAnswer = Math.min(...llm.requests.map((r) => r.at)) + DELAY;
  expect(Math.max(...llm.requests.map((r) => r.at))).toBeLessThan(firstAnswer);
  // ...so the runs took about one delay, far from the N delays of runs queued
  // for their whole duration.
  expect(elapsed).toBeLessThan((N * DELAY) / 2);
  agent.close();
});

test('runs on different threads are all inside their tools at once', async () => {
  const N = 5;
  const meet = barrier(N, 1000);
  const tool = { name: 'meet', parameters: { type: 'object' }, execute: async () => ((await meet()) ? 'all here' : 'alone') };
  const agent = new ChatAgent({ chatClient: client, tools: [tool] });
  const threads = Array.from({ length: N }, () => agent.getNewThread());
  const results = await Promise.all(threads.map((thread) => agent.run('call meet {}', { thread })));
  for (const r of results) expect(r.text).toBe('meet returned: all here');
  agent.close();
});

test('on one thread a failed run lets the next one go; the next sees only the good turns', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread();
  llm.script({ when: (b) => b.messages.some((m) => textOf(m) === 'fail me'), status: 400, error: 'rejected' });
  const first = agent.run('my name is Ida', { thread });
  const second = agent.run('fail me', { thread });
  const third = agent.run("what's my name", { thread });
  expect((await first).text).toMatch(/^Echo: my name is Ida/);
  expect((await caught(second)).code).toBe('LLM_HTTP_ERROR');
  expect((await third).text).toBe('Your name is Ida.');
  expect(await thread.messageStore.count()).toBe(4);
  agent.close();
});

test('closing the agent while runs wait lets them finish; later runs are refused', async () => {
  const agent = new ChatAgent({ chatClient: client });
  llm.script({ times: 2, delayMs: 50 });
  const running = [agent.run('one'), agent.run('two')];
  await new Promise((r) => setTimeout(r, 10));
  agent.close();
  const [a, b] = await Promise.all(running);
  expect(a.text).toMatch(/^Echo: one/);
  expect(b.text).toMatch(/^Echo: two/);
  expect((await caught(agent.run('three'))).code).toBe('CLOSED');
  agent.close();
});
