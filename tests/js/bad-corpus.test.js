// The bad-input corpus (tests/fixtures/bad/manifest.json): every malformed
// state, message, model response and window request is a ThreadmemError with
// its stable code, leaves the thread or store exactly as it was, and the
// module keeps working afterwards.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { readFileSync } from 'node:fs';
import {
  ChatAgent,
  ChatMessageStore,
  OpenAIChatClient,
  ThreadmemError,
  fitWindow,
} from '../../js/index.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

const DIR = new URL('../fixtures/bad/', import.meta.url);
const { entries } = JSON.parse(readFileSync(new URL('manifest.json', DIR), 'utf8'));
const HUNDRED_MB = 100 * 1024 * 1024;

function input(entry) {
  if (entry.file) return readFileSync(new URL(entry.file, DIR), 'utf8');
  const text = 'a'.repeat(HUNDRED_MB);
  if (entry.generate === 'state-100mb-text') {
    return `{"chat_message_store_state":{"messages":[{"role":"user","text":"${text}"}]}}`;
  }
  if (entry.generate === 'message-100mb-text') return [{ role: 'user', text }];
  throw new Error(`unknown generated input ${entry.generate}`);
}

let llm;
let agent;
let thread;
const echo = { name: 'echo', description: 'echoes', parameters: { type: 'object', properties: {} }, execute: (a) => a };

beforeAll(async () => {
  llm = await startLLMServer();
  agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm', retryBaseDelayMs: 5 }),
    instructions: 'sys',
    tools: [echo],
  });
  thread = agent.getNewThread();
  await agent.run('the history before', { thread });
});
afterAll(async () => {
  agent.close();
  await llm.close();
});
beforeEach(() => llm.reset());

test('the corpus holds at least 50 inputs', () => {
  expect(entries.length).toBeGreaterThanOrEqual(50);
});

// Runs the input through the API and returns what it threw, with a check
// that nothing changed.
async function attempt(entry) {
  const data = input(entry);
  const before = await thread.serialize();
  let err;
  switch (entry.via) {
    case 'state':
      err = await caught(agent.deserializeThread(data));
      break;
    case 'message': {
      const store = new ChatMessageStore();
      await store.addMessages([{ role: 'user', text: 'kept' }]);
      err = await caught(store.addMessages(typeof data === 'string' ? JSON.parse(data) : data));
      expect((await store.listMessages()).map((m) => m.text)).toEqual(['kept']);
      store.close();
      break;
    }
    case 'response':
      llm.script({ raw: data });
      err = await caught(agent.run('answer badly', { thread }));
      break;
    case 'window': {
      const { messages, options } = JSON.parse(data);
      err = await caught(fitWindow(messages, options));
      break;
    }
    default:
      throw new Error(`unknown via ${entry.via}`);
  }
  expect(await thread.serialize()).toEqual(before);
  return err;
}

for (const entry of entries) {
  const name = entry.file ?? `${entry.generate} (generated)`;
  test(`${name}: ${entry.code}`, async () => {
    const err = await attempt(entry);
    expect(err).toBeInstanceOf(ThreadmemError);
    expect({ file: name, code: err.code }).toEqual({ file: name, code: entry.code });
    expect(err.message.length).toBeGreaterThan(0);
    // Still usable: a normal turn goes through.
    const r = await agent.run('still there?', { thread: agent.getNewThread() });
    expect(r.text).toMatch(/still there/);
  }, 60000);
}
