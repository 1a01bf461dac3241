// The README's quick start, end to end against a real HTTP server: a thread
// remembers, no thread forgets, and a thread written to a file and read back
// continues with its whole history.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { AgentThread, ChatAgent, ChatMessage, ChatMessageStore, OpenAIChatClient } from '../../js/index.js';
import { startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let agent;
const INSTRUCTIONS = 'You are a helpful assistant.';

beforeAll(async () => {
  llm = await startLLMServer();
  agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'test-key', model: 'test-model', retryBaseDelayMs: 5 }),
    instructions: INSTRUCTIONS,
    name: 'Assistant',
  });
});
afterAll(async () => {
  agent.close();
  await llm.close();
});
beforeEach(() => llm.reset());

// The (role, text) pairs of the OpenAI messages of a recorded request.
function sent(request) {
  return request.body.messages.map((m) => [m.role, textOf(m)]);
}

test('a thread remembers the name; a run without a thread forgets it', async () => {
  const thread = agent.getNewThread();
  expect(thread).toBeInstanceOf(AgentThread);
  expect(typeof thread.id).toBe('string');
  expect(thread.id.length).toBeGreaterThan(0);
  expect(thread.messageStore).toBeInstanceOf(ChatMessageStore);
  expect(thread.serviceThreadId).toBeUndefined();

  const r1 = await agent.run('Hello, my name is Alice', { thread });
  expect(r1.text).toMatch(/^Echo: Hello, my name is Alice/);
  expect(r1.messages).toHaveLength(1);
  expect(r1.messages[0]).toBeInstanceOf(ChatMessage);
  expect(r1.messages[0].role).toBe('assistant');
  expect(r1.messages[0].text).toBe(r1.text);
  expect(r1.finishReason).toBe('stop');
  expect(r1.responseId).toBe('chatcmpl-test-1');
  expect(r1.usage.totalTokens).toBe(r1.usage.promptTokens + r1.usage.completionTokens);
  expect(r1.usage.completionTokens).toBe(r1.text.split(/\s+/).length);

  const r2 = await agent.run("What's my name?", { thread });
  expect(r2.text).toBe('Your name is Alice.');

  const r3 = await agent.run("What's my name?");
  expect(r3.text).toBe("I don't know your name.");

  // What the model saw: the instructions, then the history, then the input.
  expect(llm.requests).toHaveLength(3);
  expect(llm.requests[0].body.model).toBe('test-model');
  expect(sent(llm.requests[0])).toEqual([
    ['system', INSTRUCTIONS],
    ['user', 'Hello, my name is Alice'],
  ]);
  expect(sent(llm.requests[1])).toEqual([
    ['system', INSTRUCTIONS],
    ['user', 'Hello, my name is Alice'],
    ['assistant', r1.text],
    ['user', "What's my name?"],
  ]);
  expect(sent(llm.requests[2])).toEqual([
    ['system', INSTRUCTIONS],
    ['user', "What's my name?"],
  ]);

  // The thread holds exactly its two turns; the threadless run left nothing.
  const stored = await thread.messageStore.listMessages();
  expect(stored.map((m) => [m.role, m.text])).toEqual([
    ['user', 'Hello, my name is Alice'],
    ['assistant', r1.text],
    ['user', "What's my name?"],
    ['assistant', 'Your name is Alice.'],
  ]);
  for (const m of stored) {
    expect(typeof m.messageId).toBe('string');
    expect(new Date(m.createdAt).toISOString()).toBe(m.createdAt);
  }
});

test('input as a ChatMessage, a plain { role, content } object or an array of messages', async () => {
  const thread = agent.getNewThread();
  await agent.run(new ChatMessage('user', 'my name is Bob'), { thread });
  await agent.run({ role: 'user', content: 'first of two' }, { thread });
  await agent.run([{ role: 'user', text: 'two at once' }, "What's my name?"], { thread });
  expect(sent(llm.last()).slice(-2)).toEqual([
    ['user', 'two at once'],
    ['user', "What's my name?"],
  ]);
  const stored = await thread.messageStore.listMessages();
  expect(stored.map((m) => m.text)).toEqual([
    'my name is Bob',
    expect.stringMatching(/^Echo: my name is Bob/),
    'first of two',
    expect.stringMatching(/^Echo: first of two/),
    'two at once',
    "What's my name?",
    'Your name is Bob.',
  ]);
});

test('a thread serialized to a file and read back continues with its full context', async () => {
  const thread = agent.getNewThread();
  const r1 = await agent.run('Hi, my name is Carmen', { thread });
  const r2 = await agent.run('I like tea', { thread });

  const state = await thread.serialize();
  expect(state.type).toBe('agent_thread_state');
  expect(state.service_thread_id).toBeUndefined();
  expect(state.chat_message_store_state.type).toBe('chat_message_store_state');
  const saved = state.chat_message_store_state.messages;
  expect(saved).toHaveLength(4);
  expect(saved[0]).toMatchObject({
    type: 'chat_message',
    role: { type: 'role', value: 'user' },
    contents: [{ type: 'text', text: 'Hi, my name is Carmen' }],
  });
  expect(saved[1].role.value).toBe('assistant');
  // Nulls are omitted, not written.
  expect(JSON.stringify(state)).not.toMatch(/:null/);

  const file = path.join(await fs.mkdtemp(path.join(os.tmpdir(), 'threadmem-')), 'thread.json');
  try {
    await fs.writeFile(file, JSON.stringify(state));
    const loaded = JSON.parse(await fs.readFile(file, 'utf8'));
    const resumed = await agent.deserializeThread(loaded);
    expect(resumed).toBeInstanceOf(AgentThread);
    expect(resumed.messageStore).toBeDefined();

    llm.reset();
    const r3 = await agent.run('Please remind me of my name', { thread: resumed });
    expect(r3.text).toBe('Your name is Carmen.');
    expect(sent(llm.requests[0])).toEqual([
      ['system', INSTRUCTIONS],
      ['user', 'Hi, my name is Carmen'],
      ['assistant', r1.text],
      ['user', 'I like tea'],
      ['assistant', r2.text],
      ['user', 'Please remind me of my name'],
    ]);

    // The resumed thread kept the saved messages as they were (ids, times)
    // and added the new turn; the original thread is untouched.
    const after = await resumed.serialize();
    expect(after.chat_message_store_state.messages.slice(0, 4)).toEqual(saved);
    expect(after.chat_message_store_state.messages).toHaveLength(6);
    expect(await thread.serialize()).toEqual(state);
  } finally {
    await fs.rm(path.dirname(file), { recursive: true, force: true });
  }
});

test('deserializeThread accepts the JSON text of a state too', async () => {
  const thread = agent.getNewThread();
  await agent.run('my name is Dana', { thread });
  const text = JSON.stringify(await thread.serialize());
  const resumed = await agent.deserializeThread(text);
  expect((await agent.run("what's my name", { thread: resumed })).text).toBe('Your name is Dana.');
});

test('an empty new thread serializes and reads back as an empty thread', async () => {
  const thread = agent.getNewThread();
  const state = await thread.serialize();
  expect(state.type).toBe('agent_thread_state');
  const resumed = await agent.deserializeThread(JSON.parse(JSON.stringify(state)));
  expect(resumed.serviceThreadId).toBeUndefined();
  const r = await agent.run("what's my name", { thread: resumed });
  expect(r.text).toBe("I don't know your name.");
  expect(await resumed.messageStore.count()).toBe(2);
});
