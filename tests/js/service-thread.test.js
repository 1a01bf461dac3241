// A thread whose history the service keeps: it holds only a service thread
// id, serializes to just that id, and the request names the conversation
// instead of carrying the history.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { AgentThread, ChatAgent, ChatMessageStore, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let agent;

beforeAll(async () => {
  llm = await startLLMServer();
  agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 }),
    instructions: 'Be short.',
  });
});
afterAll(async () => {
  agent.close();
  await llm.close();
});
beforeEach(() => llm.reset());

// The conversation field names the service thread, as a string or { id }.
function conversationId(body) {
  const c = body.conversation;
  return typeof c === 'string' ? c : c?.id;
}

test('a service thread serializes to its id and deserializes back', async () => {
  const thread = agent.getNewThread({ serviceThreadId: 'conv_abc123' });
  expect(thread).toBeInstanceOf(AgentThread);
  expect(thread.serviceThreadId).toBe('conv_abc123');
  expect(thread.messageStore).toBeUndefined();
  expect(await thread.serialize()).toEqual({ type: 'agent_thread_state', service_thread_id: 'conv_abc123' });

  const resumed = await agent.deserializeThread({ type: 'agent_thread_state', service_thread_id: 'conv_abc123' });
  expect(resumed.serviceThreadId).toBe('conv_abc123');
  expect(resumed.messageStore).toBeUndefined();
  expect(await resumed.serialize()).toEqual({ type: 'agent_thread_state', service_thread_id: 'conv_abc123' });
});

test('the request carries the conversation and no stored history', async () => {
  const thread = agent.getNewThread({ serviceThreadId: 'conv_xyz' });
  await agent.run('my name is Jo', { thread });
  await agent.run("what's my name", { thread });
  expect(llm.requests).toHaveLength(2);
  for (const r of llm.requests) expect(conversationId(r.body)).toBe('conv_xyz');
  // The service holds the history: the second request has only the new input.
  expect(llm.requests[1].body.messages.map((m) => [m.role, textOf(m)])).toEqual([
    ['system', 'Be short.'],
    ['user', "what's my name"],
  ]);
  expect(thread.messageStore).toBeUndefined();
  expect(await thread.serialize()).toEqual({ type: 'agent_thread_state', service_thread_id: 'conv_xyz' });
});

test('a deserialized service thread continues the same conversation', async () => {
  const resumed = await agent.deserializeThread(JSON.parse(JSON.stringify({ type: 'agent_thread_state', service_thread_id: 'conv_77' })));
  await agent.run('hello again', { thread: resumed });
  expect(conversationId(llm.last().body)).toBe('conv_77');
});

test("Agent Framework's every-null form of a service thread is read", async () => {
  const resumed = await agent.deserializeThread({
    type: 'agent_thread_state',
    service_thread_id: 'conv_af',
    chat_message_store_state: null,
  });
  expect(resumed.serviceThreadId).toBe('conv_af');
  expect(resumed.messageStore).toBeUndefined();
});

test('a thread with a store sends no conversation field', async () => {
  await agent.run('plain', { thread: agent.getNewThread() });
  expect(llm.last().body.conversation).toBeUndefined();
});

test('new AgentThread with a service id; both an id and a store is INVALID_STATE', async () => {
  const t = new AgentThread({ serviceThreadId: 'conv_1' });
  expect(t.serviceThreadId).toBe('conv_1');
  expect(t.messageStore).toBeUndefined();
  expect(typeof t.id).toBe('string');

  const store = new ChatMessageStore();
  let err = await caught(() => new AgentThread({ messageStore: store, serviceThreadId: 'conv_1' }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('INVALID_STATE');
  err = await caught(() => agent.getNewThread({ messageStore: store, serviceThreadId: 'conv_1' }));
  expect(err.code).toBe('INVALID_STATE');
});
