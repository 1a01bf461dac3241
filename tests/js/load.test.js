// 1,000 threads run concurrently in one process against the local server:
// every turn is stored exactly once, in order, in its own thread.

import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { ChatAgent, OpenAIChatClient } from '../../js/index.js';
import { startLLMServer } from './helpers/llm-server.js';

const THREADS = 1000;
const TURNS = 3;

let llm;
beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());

test('1,000 concurrent threads each keep exactly their own turns, in order', async () => {
  const agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm', retryBaseDelayMs: 5 }),
    instructions: 'sys',
  });
  const threads = Array.from({ length: THREADS }, () => agent.getNewThread());
  await Promise.all(
    threads.map(async (thread, t) => {
      for (let turn = 0; turn < TURNS; turn++) await agent.run(`thread ${t} turn ${turn}`, { thread });
    }),
  );
  expect(llm.requests.length).toBe(THREADS * TURNS);
  for (let t = 0; t < THREADS; t++) {
    const stored = await threads[t].messageStore.listMessages();
    const want = [];
    for (let turn = 0; turn < TURNS; turn++) {
      want.push(['user', `thread ${t} turn ${turn}`]);
      want.push(['assistant', expect.stringMatching(new RegExp(`^Echo: thread ${t} turn ${turn} `))]);
    }
    expect(stored.map((m) => [m.role, m.text])).toEqual(want);
    threads[t].messageStore.close();
  }
  agent.close();
}, 120_000);
