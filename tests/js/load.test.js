// 1,000 threads run concurrently in one process against the local server:
// every turn is stored exactly once, in order, in its own thread; in memory,
// and on a real redis-server (one shared client), read back from Redis.

import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { ChatAgent, OpenAIChatClient } from '../../js/index.js';
import { RedisChatMessageStore } from '../../js/node.js';
import { startLLMServer } from './helpers/llm-server.js';
import { startRedis } from './helpers/redis-server.js';

const THREADS = 1000;
const TURNS = 3;

let llm;
let redis;
beforeAll(async () => {
  llm = await startLLMServer();
  redis = await startRedis();
});
afterAll(async () => {
  await llm.close();
  await redis?.stop();
});

function expectedTurns(t) {
  const want = [];
  for (let turn = 0; turn < TURNS; turn++) {
    want.push(['user', `thread ${t} turn ${turn}`]);
    want.push(['assistant', expect.stringMatching(new RegExp(`^Echo: thread ${t} turn ${turn} `))]);
  }
  return want;
}

async function runAll(agent, threads) {
  await Promise.all(
    threads.map(async (thread, t) => {
      for (let turn = 0; turn < TURNS; turn++) await agent.run(`thread ${t} turn ${turn}`, { thread });
    }),
  );
}

test('1,000 concurrent threads each keep exactly their own turns, in order', async () => {
  const agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm', retryBaseDelayMs: 5 }),
    instructions: 'sys',
  });
  const threads = Array.from({ length: THREADS }, () => agent.getNewThread());
  llm.reset();
  await runAll(agent, threads);
  expect(llm.requests.length).toBe(THREADS * TURNS);
  for (let t = 0; t < THREADS; t++) {
    const stored = await threads[t].messageStore.listMessages();
    expect(stored.map((m) => [m.role, m.text])).toEqual(expectedTurns(t));
    threads[t].messageStore.close();
  }
  agent.close();
}, 120_000);

test('1,000 concurrent threads on Redis: each list holds exactly its own turns, in order', async () => {
  const client = createClient({ url: redis.url });
  await client.connect();
  const agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm', retryBaseDelayMs: 5 }),
    instructions: 'sys',
    chatMessageStoreFactory: () => new RedisChatMessageStore({ client, keyPrefix: 'load' }),
  });
  const threads = Array.from({ length: THREADS }, () => agent.getNewThread());
  llm.reset();
  await runAll(agent, threads);
  expect(llm.requests.length).toBe(THREADS * TURNS);
  // Read back through new stores: what Redis holds, not what was mirrored.
  for (let t = 0; t < THREADS; t++) {
    const fresh = new RedisChatMessageStore({ client, keyPrefix: 'load', threadId: threads[t].messageStore.threadId });
    const stored = await fresh.listMessages();
    expect(stored.map((m) => [m.role, m.text])).toEqual(expectedTurns(t));
    await fresh.close();
  }
  expect((await new RedisChatMessageStore({ client, keyPrefix: 'load' }).listThreads()).length).toBe(THREADS);
  agent.close();
  await client.quit();
}, 120_000);
