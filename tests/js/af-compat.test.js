// Agent Framework compatibility: thread states written by Agent Framework
// (the every-null form, plain-string roles, missing type tags, unknown keys,
// tool calls and results) read into threadmem, and the conversation goes on
// with that history; threadmem's own states read back identically.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import fs from 'node:fs';
import { ChatAgent, ChatMessage, ChatMessageStore, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

const fixture = (name) => JSON.parse(fs.readFileSync(new URL(`../fixtures/af-js/${name}`, import.meta.url), 'utf8'));

let llm;
let agent;

beforeAll(async () => {
  llm = await startLLMServer();
  agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 }),
    instructions: 'Be helpful.',
    tools: [{ name: 'get_weather', description: 'w', parameters: { type: 'object', properties: {} }, execute: async () => 'sunny' }],
  });
});
afterAll(async () => {
  agent.close();
  await llm.close();
});
beforeEach(() => llm.reset());

// Deep equality with every null dropped (Agent Framework writes them, the
// canonical form omits them).
function dropNulls(v) {
  if (Array.isArray(v)) return v.map(dropNulls);
  if (v && typeof v === 'object') {
    return Object.fromEntries(Object.entries(v).filter(([, x]) => x !== null).map(([k, x]) => [k, dropNulls(x)]));
  }
  return v;
}

test('the every-null form is read and the conversation continues with its history', async () => {
  const thread = await agent.deserializeThread(fixture('thread-every-null.json'));
  expect(thread.serviceThreadId).toBeUndefined();
  const list = await thread.messageStore.listMessages();
  expect(list.map((m) => [m.role, m.text])).toEqual([
    ['system', 'You talk like a pirate.'],
    ['user', 'Ahoy, my name is Morgan'],
    ['assistant', 'Ahoy Morgan!'],
    ['user', 'What is the weather in Paris?'],
    ['assistant', ''],
    ['tool', ''],
    ['assistant', 'It is 18C and cloudy in Paris.'],
  ]);
  expect(list[2]).toMatchObject({ authorName: 'Assistant', messageId: 'msg_2' });
  expect(list[4].contents).toEqual([{ type: 'function_call', call_id: 'call_w1', name: 'get_weather', arguments: '{"city": "Paris"}' }]);
  expect(list[5].contents).toEqual([{ type: 'function_result', call_id: 'call_w1', result: 'Paris: 18C, cloudy' }]);
  expect(list[1].metadata).toBeUndefined();

  const r = await agent.run("what's my name", { thread });
  expect(r.text).toBe('Your name is Morgan.');
  const sent = llm.last().body.messages;
  expect(sent.map((m) => m.role)).toEqual(['system', 'system', 'user', 'assistant', 'user', 'assistant', 'tool', 'assistant', 'user']);
  expect(sent.map(textOf).slice(0, 2).sort()).toEqual(['Be helpful.', 'You talk like a pirate.']);
  expect(sent[5].tool_calls).toEqual([{ id: 'call_w1', type: 'function', function: { name: 'get_weather', arguments: '{"city": "Paris"}' } }]);
  expect(sent[6]).toMatchObject({ role: 'tool', tool_call_id: 'call_w1', content: 'Paris: 18C, cloudy' });
  expect(sent[7]).toMatchObject({ role: 'assistant', content: 'It is 18C and cloudy in Paris.' });

  // Written back with the nulls omitted and the Agent Framework content kept.
  const state = await thread.serialize();
  expect(JSON.stringify(state)).not.toMatch(/:null/);
  const original = dropNulls(fixture('thread-every-null.json')).chat_message_store_state.messages;
  const written = state.chat_message_store_state.messages;
  expect(written).toHaveLength(9);
  for (let i = 0; i < original.length; i++) {
    expect(written[i]).toMatchObject(original[i]);
  }
});

test('the lenient form (plain roles, missing type tags, unknown keys, object arguments) is read', async () => {
  const thread = await agent.deserializeThread(fixture('thread-lenient.json'));
  const list = await thread.messageStore.listMessages();
  expect(list.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  expect(list.map((m) => m.messageId)).toEqual(['u1', 'a1', 't1', 'a2']);
  // Unknown message-level keys are kept in additional_properties (metadata).
  expect(list[0].metadata).toEqual({ foo_custom: 1, x_trace: { id: 't-9', spans: [1, 2] } });
  expect(list[3].metadata).toEqual({ source: 'af' });
  expect(list[3].authorName).toBe('Bot');
  expect(list[2].contents[0]).toMatchObject({ type: 'function_result', call_id: 'c_1', result: { hits: 2 } });

  const r = await agent.run("remind me of my name", { thread });
  expect(r.text).toBe('Your name is Noor.');
  const sent = llm.last().body.messages;
  expect(sent.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool', 'assistant', 'user']);
  // OpenAI wants the arguments as JSON text, whatever form they were stored in.
  const args = sent[2].tool_calls[0].function.arguments;
  expect(typeof args).toBe('string');
  expect(JSON.parse(args)).toEqual({ q: 'tea' });
  expect(sent[2].tool_calls[0].id).toBe('c_1');
  expect(sent[3].tool_call_id).toBe('c_1');
  expect(JSON.parse(textOf(sent[3]))).toEqual({ hits: 2 });

  const state = await thread.serialize();
  const m0 = state.chat_message_store_state.messages[0];
  expect(m0).toMatchObject({
    type: 'chat_message',
    role: { type: 'role', value: 'user' },
    message_id: 'u1',
    additional_properties: { foo_custom: 1, x_trace: { id: 't-9', spans: [1, 2] } },
  });
  expect(m0.foo_custom).toBeUndefined();
});

test('a service thread state with chat_message_store_state: null', async () => {
  const thread = await agent.deserializeThread(fixture('thread-service.json'));
  expect(thread.serviceThreadId).toBe('thread_abc123');
  expect(thread.messageStore).toBeUndefined();
  expect(await thread.serialize()).toEqual({ type: 'agent_thread_state', service_thread_id: 'thread_abc123' });
});

test('a state with both a service thread id and messages is INVALID_STATE', async () => {
  const err = await caught(agent.deserializeThread(fixture('thread-both.json')));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('INVALID_STATE');
});

test('the Agent Framework store state alone loads into a ChatMessageStore', async () => {
  const store = await ChatMessageStore.deserialize(fixture('thread-every-null.json').chat_message_store_state);
  expect(await store.count()).toBe(7);
  const again = await ChatMessageStore.deserialize(await store.serialize());
  expect(await again.serialize()).toEqual(await store.serialize());
});

test('ChatMessage.fromJSON reads every accepted form; toJSON writes the canonical one', () => {
  const canonical = { type: 'chat_message', role: { type: 'role', value: 'user' }, contents: [{ type: 'text', text: 'hi' }] };
  for (const form of [
    canonical,
    { role: 'user', contents: [{ type: 'text', text: 'hi' }] },
    { role: 'user', text: 'hi' },
    { role: 'user', content: 'hi' },
    { type: 'chat_message', role: { type: 'role', value: 'user' }, contents: [{ type: 'text', text: 'hi', annotations: null }], author_name: null, message_id: null, additional_properties: null, raw_representation: null },
  ]) {
    const m = ChatMessage.fromJSON(form);
    expect(m).toBeInstanceOf(ChatMessage);
    expect(m.toJSON()).toEqual(canonical);
  }
});

test('a threadmem thread with every content kind reads back identically', async () => {
  const store = new ChatMessageStore();
  await store.addMessages([
    new ChatMessage('system', 'sys', { authorName: 'ops' }),
    new ChatMessage('user', [
      { type: 'text', text: 'look: ' },
      { type: 'uri', uri: 'https://example.com/cat.png', media_type: 'image/png' },
      { type: 'data', uri: 'data:image/png;base64,iVBORw0KGgo=', media_type: 'image/png' },
    ], { metadata: { lang: 'en', tags: ['a', 'b'], n: 1.5, ok: true } }),
    new ChatMessage('assistant', [
      { type: 'text_reasoning', text: 'thinking' },
      { type: 'function_call', call_id: 'c1', name: 'f', arguments: '{"a":[1,{"b":null}]}' },
      { type: 'function_call', call_id: 'c2', name: 'g', arguments: '{}' },
    ]),
    new ChatMessage('tool', [
      { type: 'function_result', call_id: 'c1', result: { nested: { list: [1, 'two', null, false] } } },
      { type: 'function_result', call_id: 'c2', result: 'plain text' },
    ]),
    new ChatMessage('assistant', 'Unicode: héllo ✓ 日本 🙂 "quotes" \\ back\nslash'),
  ]);
  const thread = agent.getNewThread({ messageStore: store });
  const state = await thread.serialize();
  const text = JSON.stringify(state);
  const resumed = await agent.deserializeThread(JSON.parse(text));
  expect(await resumed.serialize()).toEqual(state);
  expect(JSON.stringify(await resumed.serialize())).toBe(text);
  const list = await resumed.messageStore.listMessages();
  expect(list[4].text).toBe('Unicode: héllo ✓ 日本 🙂 "quotes" \\ back\nslash');
  expect(list[1].metadata).toEqual({ lang: 'en', tags: ['a', 'b'], n: 1.5, ok: true });
  expect(list[3].contents[0].result).toEqual({ nested: { list: [1, 'two', null, false] } });
});
