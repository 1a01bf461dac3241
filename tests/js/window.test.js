// Token counts of chat messages and context windows through the package:
// countTokens, fitWindow, a store's getContextWindow and maxTokens, and the
// agent's contextWindow against the local model server (which rejects a
// tool result without its call, as OpenAI does).
//
// A counter function that gives every string one token makes the numbers
// plain: a text message costs 3 + role + content = 5, an assistant message
// with one call 3 + role + id + type + name + arguments = 8, a tool result
// 3 + role + tool_call_id + content = 6, and a request 3 more.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import {
  ChatAgent,
  ChatMessage,
  ChatMessageStore,
  OpenAIChatClient,
  ThreadmemError,
  countTokens,
  fitWindow,
} from '../../js/index.js';
import { getEncoding } from 'js-tiktoken';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

const one = () => 1;
const user = (text) => ({ role: 'user', text });
const reply = (text) => ({ role: 'assistant', text });
const call = (id) =>
  new ChatMessage('assistant', [{ type: 'function_call', call_id: id, name: 'lookup', arguments: '{}' }]);
const result = (id) => new ChatMessage('tool', [{ type: 'function_result', call_id: id, result: 'found' }]);
const label = (m) => m.text || m.contents[0].type;

let llm;
beforeAll(async () => {
  llm = await startLLMServer();
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

test('countTokens applies the per-message rule to messages, and counts plain text', async () => {
  expect(await countTokens([user('a'), reply('b')], { encoding: one })).toBe(5 + 5 + 3);
  expect(await countTokens([new ChatMessage('user', 'a', { authorName: 'Al' })], { encoding: one })).toBe(5 + 2 + 3);
  expect(await countTokens([call('c1'), result('c1')], { encoding: one })).toBe(8 + 6 + 3);
  expect(await countTokens([], { encoding: one })).toBe(3);
  // One message is a list of one; a string is a text, not a message.
  expect(await countTokens(user('a'), { encoding: one })).toBe(5 + 3);
  expect(await countTokens(call('c1'), { encoding: one })).toBe(8 + 3);
  expect(await countTokens('some text', { encoding: (t) => t.length })).toBe(9);
  const estimate = await countTokens([user('hello there, how are you?')], { encoding: 'estimate' });
  expect(Number.isInteger(estimate) && estimate > 3).toBe(true);
});

test("countTokens equals OpenAI's published rule computed with js-tiktoken, for both encodings", async () => {
  const messages = [
    { role: 'system', text: 'You are a helpful, pattern-following assistant.' },
    new ChatMessage('user', 'New synergies will help drive top-line growth.', { authorName: 'example_user' }),
    { role: 'assistant', text: "Things working well together will increase revenue — ça va? 你好 👋🏽" },
    { role: 'user', text: "Let's circle back when we have more bandwidth to touch base on opportunities.\n\n  " },
  ];
  for (const name of ['o200k_base', 'cl100k_base']) {
    const enc = getEncoding(name);
    let want = 3; // the reply priming
    for (const m of messages) {
      const role = m.role;
      want += 3 + enc.encode(role).length + enc.encode(m.text).length;
      if (m.authorName) want += 1 + enc.encode(m.authorName).length;
    }
    expect(await countTokens(messages, { encoding: name })).toBe(want);
    expect(await countTokens(messages[2].text, { encoding: name })).toBe(enc.encode(messages[2].text).length);
  }
});

test('a counter that throws or returns a non-integer, and an unknown encoding, are clear errors', async () => {
  let err = await caught(countTokens([user('a')], { encoding: () => 1.5 }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('INVALID_COUNTER');
  err = await caught(countTokens([user('a')], { encoding: async () => 1 }));
  expect(err.code).toBe('INVALID_COUNTER');
  const boom = new Error('boom');
  err = await caught(
    countTokens([user('a')], {
      encoding: () => {
        throw boom;
      },
    }),
  );
  expect(err.code).toBe('COUNTER_ERROR');
  expect(err.cause).toBe(boom);
  err = await caught(fitWindow([user('a')], { maxTokens: 10, encoding: () => -1 }));
  expect(err.code).toBe('INVALID_COUNTER');
  expect((await caught(countTokens('x', { encoding: 'p50k_base' }))).code).toBe('UNKNOWN_ENCODING');
  expect((await caught(countTokens('x', { encoding: 42 }))).code).toBe('INVALID_ARGUMENT');
  // The module is still usable.
  expect(await countTokens([user('a')], { encoding: one })).toBe(8);
});

test('fitWindow keeps the system message and the newest whole turns', async () => {
  const thread = [{ role: 'system', text: 'sys' }, user('u1'), reply('a1'), user('u2'), reply('a2'), user('u3')];
  let w = await fitWindow(thread, { maxTokens: 33, encoding: one });
  expect(w.messages.map(label)).toEqual(['sys', 'u1', 'a1', 'u2', 'a2', 'u3']);
  expect(w.dropped).toEqual([]);
  expect(w.tokens).toBe(33);
  w = await fitWindow(thread, { maxTokens: 32, encoding: one });
  expect(w.messages.map(label)).toEqual(['sys', 'u2', 'a2', 'u3']);
  expect(w.dropped.map(label)).toEqual(['u1', 'a1']);
  expect(w.tokens).toBe(23);
  expect(w.messages[0]).toBeInstanceOf(ChatMessage);
  // a2 alone would fit, but a window never starts mid-turn.
  w = await fitWindow(thread, { maxTokens: 22, encoding: one });
  expect(w.messages.map(label)).toEqual(['sys', 'u3']);
  // reserveTokens comes off the budget.
  w = await fitWindow(thread, { maxTokens: 42, reserveTokens: 10, encoding: one });
  expect(w.messages.map(label)).toEqual(['sys', 'u2', 'a2', 'u3']);
  // strategy 'first': the oldest that fits.
  w = await fitWindow(thread, { maxTokens: 23, encoding: one, strategy: 'first' });
  expect(w.messages.map(label)).toEqual(['sys', 'u1', 'a1', 'u2']);
  // One message, or a bare string as one user message.
  w = await fitWindow(user('u'), { maxTokens: 8, encoding: one });
  expect([w.messages.map(label), w.tokens]).toEqual([['u'], 8]);
  w = await fitWindow('u', { maxTokens: 8, encoding: one });
  expect([w.messages.map((m) => [m.role, m.text]), w.tokens]).toEqual([[['user', 'u']], 8]);
});

test('regression: a tool result is never orphaned, a tool group is kept or dropped whole', async () => {
  const thread = [user('u1'), reply('a1'), user('u2'), call('c1'), result('c1'), reply('a2'), user('u3')];
  for (let maxTokens = 8; maxTokens <= 45; maxTokens++) {
    const { messages } = await fitWindow(thread, { maxTokens, encoding: one });
    const labels = messages.map(label);
    expect(['u1', 'u2', 'u3']).toContain(labels[0]);
    expect(labels.includes('function_call')).toBe(labels.includes('function_result'));
  }
  const w = await fitWindow(thread, { maxTokens: 31, encoding: one });
  expect(w.messages.map(label)).toEqual(['u3']);
  expect(w.dropped.map(label)).toEqual(['u1', 'a1', 'u2', 'function_call', 'function_result', 'a2']);
});

test('regression: a system message larger than the budget is an error, never an empty window', async () => {
  const err = await caught(fitWindow([{ role: 'system', text: 'sys' }, user('hi')], { maxTokens: 7, encoding: one }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('CONTEXT_WINDOW_EXCEEDED');
  // The newest user turn must fit too.
  const turn = await caught(fitWindow([user('u1'), user('u2'), call('c'), result('c')], { maxTokens: 20, encoding: one }));
  expect(turn.code).toBe('CONTEXT_WINDOW_EXCEEDED');
  expect(turn.message).toMatch(/newest user turn/);
  for (const bad of [{}, { maxTokens: 0 }, { maxTokens: 1.5 }, { maxTokens: 10, strategy: 'middle' }]) {
    expect((await caught(fitWindow([user('a')], { ...bad, encoding: one }))).code).toBe('INVALID_FORMAT');
  }
  expect((await caught(fitWindow([user('a')], { maxTokens: 10, reserveTokens: 10, encoding: one }))).code).toBe(
    'CONTEXT_WINDOW_EXCEEDED',
  );
});

test("a store's window comes from cached counts and never deletes history", async () => {
  const store = new ChatMessageStore();
  try {
    for (let i = 0; i < 500; i++) await store.addMessages([user(`q${i}`), reply(`a${i}`)]);
    const calls = [];
    const counting = (t) => (calls.push(t), 1);
    const w = await store.getContextWindow({ maxTokens: 53, encoding: counting });
    expect(w.messages.map(label)).toEqual(['q495', 'a495', 'q496', 'a496', 'q497', 'a497', 'q498', 'a498', 'q499', 'a499']);
    expect(w.dropped.length).toBe(990);
    expect(w.tokens).toBe(53);
    // Only the window (and the unit beyond it) was looked at, not 1,000 messages.
    expect(calls.length).toBeLessThan(30);
    expect(await store.count()).toBe(1000);
    const est = await store.getContextWindow({ maxTokens: 100, encoding: 'estimate' });
    expect(est.messages.length).toBeGreaterThan(2);
  } finally {
    store.close();
  }
});

test('maxTokens on a store evicts whole groups, oldest first', async () => {
  const store = new ChatMessageStore({ maxTokens: 30, encoding: 'estimate' });
  try {
    await store.addMessages([user('u1'), call('c1'), result('c1'), reply('a1')]);
    await store.addMessages([user('u2'), reply('a2')]);
    const kept = (await store.listMessages()).map(label);
    expect(kept[0]).not.toBe('function_result');
    expect(kept.at(-1)).toBe('a2');
    expect(await countTokens(await store.listMessages(), { encoding: 'estimate' })).toBeLessThanOrEqual(30 + 3);
  } finally {
    store.close();
  }
  expect(() => new ChatMessageStore({ maxTokens: -1 })).toThrow(ThreadmemError);
  expect(() => new ChatMessageStore({ maxTokens: 10, encoding: one })).toThrow(
    expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
  );
  expect(() => new ChatMessageStore({ maxTokens: 10, encoding: 'nope' })).toThrow(
    expect.objectContaining({ code: 'UNKNOWN_ENCODING' }),
  );
});

function agentWith(contextWindow, extra = {}) {
  return new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm', retryBaseDelayMs: 5 }),
    instructions: 'sys',
    contextWindow,
    ...extra,
  });
}

test("the agent's contextWindow sends the newest history that fits, and reports it", async () => {
  const agent = agentWith({ maxTokens: 60, encoding: one });
  const thread = agent.getNewThread();
  try {
    for (let i = 1; i <= 6; i++) await agent.run(`turn ${i}`, { thread });
    const r = await agent.run('now', { thread });
    const seen = llm.requests.at(-1).body.messages.map(textOf);
    expect(seen[0]).toBe('sys');
    expect(seen.at(-1)).toBe('now');
    // instructions 5 + input 5 + priming 3 = 13; 4 turns of 10 fit in 60.
    expect(seen.length).toBe(1 + 8 + 1);
    expect(seen[1]).toBe('turn 3');
    expect(r.window).toEqual({ tokens: 53, historySent: 8, historyDropped: 4 });
    // Nothing stored was trimmed.
    expect(await thread.messageStore.count()).toBe(14);
  } finally {
    agent.close();
  }
});

test('regression: with tools and a tight window the model never gets an orphan tool result', async () => {
  const lookup = { name: 'lookup', description: 'looks up', parameters: { type: 'object', properties: {} }, execute: () => 'found' };
  const agent = agentWith({ maxTokens: 45, encoding: one }, { tools: [lookup] });
  const thread = agent.getNewThread();
  try {
    for (let i = 0; i < 12; i++) {
      await agent.run(i % 3 === 0 ? 'call lookup {}' : `plain ${i}`, { thread });
    }
    // The server answers 400 to an orphan result; every request succeeded.
    expect(llm.requests.every((r) => !r.rejected)).toBe(true);
    expect(llm.requests.length).toBeGreaterThan(12);
  } finally {
    agent.close();
  }
});

test('a run whose input cannot fit fails before any request and changes nothing', async () => {
  const agent = agentWith({ maxTokens: 14, encoding: one });
  const thread = agent.getNewThread();
  try {
    const err = await caught(agent.run([user('a'), user('b')], { thread }));
    expect(err.code).toBe('CONTEXT_WINDOW_EXCEEDED');
    expect(llm.requests.length).toBe(0);
    expect(await thread.messageStore.count()).toBe(0);
    const failing = agentWith({
      maxTokens: 100,
      encoding: () => {
        throw new Error('nope');
      },
    });
    const err2 = await caught(failing.run('hi', { thread: failing.getNewThread() }));
    expect(err2.code).toBe('COUNTER_ERROR');
    failing.close();
    expect(() => agentWith({ maxTokens: 'big', encoding: one })).toThrow(expect.objectContaining({ code: 'INVALID_FORMAT' }));
  } finally {
    agent.close();
  }
});

test("a custom counter may not change the store it is counting; its close() waits; it sees each text as stored", async () => {
  const store = new ChatMessageStore();
  await store.addMessages(['one', 'two', 'three', 'four'].map((t) => new ChatMessage('user', `old ${t}`)));
  const seen = [];
  for (const change of [
    () => store.addMessages([new ChatMessage('user', 'new')]),
    () => store.clear(),
    () => store.updateFromState({ messages: [] }),
    () => store.count(),
  ]) {
    seen.length = 0;
    const win = await store.getContextWindow({
      maxTokens: 1000,
      encoding: (text) => {
        seen.push(change().then(() => 'changed', (e) => e.code));
        return text.length;
      },
    });
    expect(win.messages).toHaveLength(4);
    expect(new Set(await Promise.all(seen))).toEqual(new Set(['INVALID_STATE']));
  }
  expect(await store.count()).toBe(4);
  const win = await store.getContextWindow({
    maxTokens: 1000,
    encoding: (text) => {
      store.close(); // frees the store only once the window is made
      return text.length;
    },
  });
  expect(win.messages.map((m) => m.text)).toEqual(['old one', 'old two', 'old three', 'old four']);
  expect((await caught(store.count())).code).toBe('CLOSED');

  // A leading U+FEFF reaches the counter, whatever the text's length.
  const bom = new ChatMessageStore();
  const texts = ['\uFEFFshort', '\uFEFFa text longer than sixteen bytes'];
  await bom.addMessages(texts.map((t) => new ChatMessage('user', t)));
  const counted = [];
  await bom.getContextWindow({ maxTokens: 1000, encoding: (text) => (counted.push(text), 1) });
  for (const t of texts) expect(counted).toContain(t);
  bom.close();
});
