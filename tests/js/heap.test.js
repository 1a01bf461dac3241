// 100,000 turns through the WASM module (in-memory store with maxMessages,
// the local model server): once the store is full, the module's heap stops
// growing. A leak of even a few bytes per turn would show as growth here.

import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { ChatAgent, ChatMessageStore, OpenAIChatClient } from '../../js/index.js';
import { mod } from '../../js/core.js';
import { startLLMServer } from './helpers/llm-server.js';

const TURNS = 100_000;
const WARM_UP = 5_000;

let llm;
beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());

test('the WASM heap stops growing once the store holds maxMessages', async () => {
  const agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm', retryBaseDelayMs: 5 }),
    instructions: 'sys',
    chatMessageStoreFactory: () => new ChatMessageStore({ maxMessages: 50 }),
  });
  const thread = agent.getNewThread();
  let warmHeap = 0;
  for (let i = 0; i < TURNS; i++) {
    const r = await agent.run(`turn ${i} with some words in it`, { thread });
    if (i % 1000 === 0) {
      expect(r.text).toMatch(/^Echo: turn/);
      llm.reset(); // the server's own record of requests
    }
    if (i === WARM_UP) warmHeap = mod().HEAPU8.length;
  }
  expect(await thread.messageStore.count()).toBe(50);
  expect(mod().HEAPU8.length).toBe(warmHeap);
  thread.messageStore.close();
  agent.close();
}, 900_000);
