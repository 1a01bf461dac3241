// Edge cases at the C/JS boundary and in the model's answers: characters C
// strings mishandle, numbers, limits on tools and results, values JSON
// cannot carry, user code returning nonsense, and aborts mid-tool.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { ChatAgent, ChatMessage, ChatMessageStore, Context, ContextProvider, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

const MiB = 1024 * 1024;

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5, maxRetries: 0 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const tool = (name, execute) => ({ name, description: name, parameters: { type: 'object', properties: {} }, execute });

function expectCode(err, code) {
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe(code);
}

// C strings end at NUL: a "\u0000" must never silently cut a text short.
// Keeping it or refusing it (INVALID_FORMAT) are both fine; truncating is not.
test('regression: a NUL character is never silently cut (kept or INVALID_FORMAT, nothing stored)', async () => {
  const store = new ChatMessageStore(['before']);
  let kept = true;
  try {
    await store.addMessages([{ role: 'user', text: 'before\u0000after' }]);
  } catch (err) {
    expectCode(err, 'INVALID_FORMAT');
    kept = false;
  }
  const texts = (await store.listMessages()).map((m) => m.text);
  expect(texts).toEqual(kept ? ['before', 'before\u0000after'] : ['before']);
  if (kept) {
    const again = await ChatMessageStore.deserialize(await store.serialize());
    expect((await again.listMessages())[1].text).toBe('before\u0000after');
  }
});

test('a NUL character in the input reaches the model intact or fails the run before any request', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread();
  try {
    await agent.run('x\u0000y', { thread });
    expect(textOf(llm.last().body.messages.at(-1))).toBe('x\u0000y');
    expect((await thread.messageStore.listMessages())[0].text).toBe('x\u0000y');
  } catch (err) {
    expectCode(err, 'INVALID_FORMAT');
    expect(llm.requests).toHaveLength(0);
    expect(await thread.messageStore.count()).toBe(0);
  }
  agent.close();
});

test('a lone surrogate becomes U+FFFD instead of failing', async () => {
  const store = new ChatMessageStore();
  await store.addMessages(['a\uD800b']);
  expect((await store.listMessages())[0].text).toBe('a\uFFFDb');
});

test('text with every kind of escape round-trips through store, run and model', async () => {
  const text = 'tab\there "q" \\ / \u2028\u2029 \u0001\u001f é 日本 🙂 \r\n end';
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread();
  await agent.run(text, { thread });
  expect(textOf(llm.last().body.messages.at(-1))).toBe(text);
  const [m] = await thread.messageStore.listMessages();
  expect(m.text).toBe(text);
  agent.close();
});

// cJSON prints 15 significant digits whenever the result is "close enough"
// (a relative epsilon), which changes values: 0.30000000000000004 -> 0.3,
// 2^53-1 -> 9007199254740990, and DBL_MAX -> 1.79769313486232e308 -> Infinity -> null.
test('regression: numbers in metadata and tool results keep full precision', async () => {
  const numbers = [0, -1, 0.1, 0.30000000000000004, 1e21, 1e-7, 123456789012, 2 ** 53 - 1, 5e-324, 1.7976931348623157e308, -2.5e-10];
  const store = new ChatMessageStore();
  await store.addMessages([
    new ChatMessage('user', 'n', { metadata: { numbers } }),
    new ChatMessage('tool', [{ type: 'function_result', call_id: 'c', result: { numbers } }]),
  ]);
  const [a, b] = await store.listMessages();
  expect(a.metadata.numbers).toEqual(numbers);
  expect(b.contents[0].result.numbers).toEqual(numbers);
  const again = await ChatMessageStore.deserialize(JSON.parse(JSON.stringify(await store.serialize())));
  expect((await again.listMessages())[0].metadata.numbers).toEqual(numbers);
});

test('a message value JSON cannot carry (BigInt, cycle): INVALID_ARGUMENT, nothing stored', async () => {
  const cyclic = {};
  cyclic.self = cyclic;
  const store = new ChatMessageStore(['before']);
  for (const metadata of [{ n: 10n }, cyclic]) {
    const err = await caught(() => store.addMessages([new ChatMessage('user', 'x', { metadata })]));
    expectCode(err, 'INVALID_ARGUMENT');
    expect(err.cause).toBeInstanceOf(TypeError);
    const state = { messages: [{ role: 'user', text: 'x', metadata }] };
    expectCode(await caught(() => ChatMessageStore.deserialize(state)), 'INVALID_ARGUMENT');
  }
  expect((await store.listMessages()).map((m) => m.text)).toEqual(['before']);
  await store.addMessages([{ role: 'user', text: 'after' }]);
  expect(await store.count()).toBe(2);
});

test('a tool result that JSON cannot carry (BigInt, cycle) fails the run with a ThreadmemError', async () => {
  const cyclic = {};
  cyclic.self = cyclic;
  const agent = new ChatAgent({ chatClient: client, tools: [tool('big', async () => 10n), tool('cycle', async () => cyclic)] });
  const thread = agent.getNewThread();
  for (const name of ['big', 'cycle']) {
    const err = await caught(agent.run(`call ${name} {}`, { thread }));
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(err.code).toBe('TOOL_ERROR');
  }
  expect(await thread.messageStore.count()).toBe(0);
  expect((await agent.run('still ok', { thread })).text).toMatch(/^Echo: still ok/);
  agent.close();
});

test('a tool result over 16 MiB: LIMIT_EXCEEDED, nothing stored', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [tool('huge', async () => 'z'.repeat(16 * MiB + 10))] });
  const thread = agent.getNewThread();
  expectCode(await caught(agent.run('call huge {}', { thread })), 'LIMIT_EXCEEDED');
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
});

test('a model answer over 16 MiB: LIMIT_EXCEEDED, nothing stored', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread();
  llm.script({ text: 'w'.repeat(16 * MiB + 10) });
  expectCode(await caught(agent.run('talk a lot', { thread })), 'LIMIT_EXCEEDED');
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
});

test('more than 512 tools: LIMIT_EXCEEDED', async () => {
  const tools = Array.from({ length: 513 }, (_, i) => tool(`t${i}`, async () => i));
  const err = await caught(async () => {
    const agent = new ChatAgent({ chatClient: client, tools });
    try {
      await agent.run('hi');
    } finally {
      agent.close();
    }
  });
  expectCode(err, 'LIMIT_EXCEEDED');
  expect(llm.requests).toHaveLength(0);
});

test('512 tools are accepted and all offered', async () => {
  const tools = Array.from({ length: 512 }, (_, i) => tool(`t${i}`, async () => i));
  const agent = new ChatAgent({ chatClient: client, tools });
  await agent.run('hi');
  expect(llm.last().body.tools).toHaveLength(512);
  agent.close();
});

test('an answer with text and tool calls keeps both in the stored assistant message', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [tool('get_time', async () => 'noon')] });
  const thread = agent.getNewThread();
  llm.script({
    json: {
      id: 'chatcmpl-mixed',
      choices: [{
        index: 0,
        finish_reason: 'tool_calls',
        message: { role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'tc1', type: 'function', function: { name: 'get_time', arguments: '{}' } }] },
      }],
    },
  });
  const r = await agent.run('time?', { thread });
  expect(r.text).toBe('get_time returned: noon');
  const list = await thread.messageStore.listMessages();
  expect(list[1].role).toBe('assistant');
  expect(list[1].contents).toEqual([
    { type: 'text', text: 'Let me check.' },
    { type: 'function_call', call_id: 'tc1', name: 'get_time', arguments: '{}' },
  ]);
  // Sent back as one assistant message with content and tool_calls.
  const sent = llm.last().body.messages[1];
  expect(sent).toMatchObject({ role: 'assistant', content: 'Let me check.', tool_calls: [{ id: 'tc1' }] });
  agent.close();
});

test('finish_reason and missing usage are reported as given', async () => {
  const agent = new ChatAgent({ chatClient: client });
  llm.script({ json: { id: 'r-len', choices: [{ index: 0, finish_reason: 'length', message: { role: 'assistant', content: 'cut' } }] } });
  const r = await agent.run('long');
  expect(r.text).toBe('cut');
  expect(r.finishReason).toBe('length');
  expect(r.responseId).toBe('r-len');
  expect(r.usage).toEqual({ promptTokens: 0, completionTokens: 0, totalTokens: 0 });
  agent.close();
});

test('usage is summed over the rounds of a run', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [tool('get_time', async () => 'noon')] });
  const r = await agent.run('call get_time {}');
  expect(llm.requests).toHaveLength(2);
  expect(r.usage.totalTokens).toBe(r.usage.promptTokens + r.usage.completionTokens);
  // Round one: 10 completion tokens for the call; round two: the answer's words.
  expect(r.usage.completionTokens).toBe(10 + 'get_time returned: noon'.split(' ').length);
  agent.close();
});

test('an abort while a tool runs: ABORTED, nothing stored, the tool sees the signal', async () => {
  let seenSignal;
  const controller = new AbortController();
  const slow = tool('slow', async (_args, { signal }) => {
    seenSignal = signal;
    controller.abort();
    await new Promise((r) => setTimeout(r, 20));
    return 'late';
  });
  const agent = new ChatAgent({ chatClient: client, tools: [slow] });
  const thread = agent.getNewThread();
  const err = await caught(agent.run('call slow {}', { thread, signal: controller.signal }));
  expectCode(err, 'ABORTED');
  expect(seenSignal).toBeInstanceOf(AbortSignal); // the round's, which aborts with the run's
  expect(seenSignal.aborted).toBe(true);
  expect(await thread.messageStore.count()).toBe(0);
  expect(llm.requests).toHaveLength(1);
  agent.close();
});

test('a custom store whose listMessages returns nonsense fails the run with a ThreadmemError, store untouched', async () => {
  const bad = [undefined, [{ role: 'wizard', text: 'x' }], [42], 'not an array'];
  for (const answer of bad) {
    const store = {
      added: 0,
      async addMessages() {
        this.added += 1;
      },
      async listMessages() {
        return answer;
      },
      async serialize() {
        return {};
      },
      async updateFromState() {},
    };
    const agent = new ChatAgent({ chatClient: client });
    const err = await caught(agent.run('hi', { thread: agent.getNewThread({ messageStore: store }) }));
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(['STORE_ERROR', 'INVALID_FORMAT', 'INVALID_ARGUMENT']).toContain(err.code);
    expect(store.added).toBe(0);
    agent.close();
  }
});

test('a provider returning a Context with a bad message fails the run with a ThreadmemError', async () => {
  class BadContext extends ContextProvider {
    async invoking() {
      return new Context({ messages: [{ role: 'wizard', text: 'x' }] });
    }
  }
  const agent = new ChatAgent({ chatClient: client, contextProviders: new BadContext() });
  const thread = agent.getNewThread();
  const err = await caught(agent.run('hi', { thread }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(['PROVIDER_ERROR', 'INVALID_FORMAT']).toContain(err.code);
  expect(await thread.messageStore.count()).toBe(0);
  expect(llm.requests).toHaveLength(0);
  agent.close();
});

test('a service that answers with a new conversation id moves the thread to it', async () => {
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread({ serviceThreadId: 'conv_old' });
  llm.script({ json: { id: 'r1', conversation: 'conv_new', choices: [{ index: 0, finish_reason: 'stop', message: { role: 'assistant', content: 'ok' } }] } });
  await agent.run('hi', { thread });
  expect(thread.serviceThreadId).toBe('conv_new');
  await agent.run('again', { thread });
  expect(llm.last().body.conversation).toBe('conv_new');
  agent.close();
});

test('a thread of 5,000 messages runs and sends its whole history', async () => {
  const messages = [];
  for (let i = 0; i < 2500; i++) messages.push(new ChatMessage('user', `q${i}`), new ChatMessage('assistant', `a${i}`));
  const store = new ChatMessageStore(messages);
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread({ messageStore: store });
  const r = await agent.run('last');
  expect(r.text).toMatch(/^Echo: last/);
  await agent.run('last', { thread });
  expect(llm.last().body.messages).toHaveLength(5001);
  expect(await store.count()).toBe(5002);
  agent.close();
});

test('getHistory with bad arguments fails with a ThreadmemError, not a crash', async () => {
  const store = new ChatMessageStore(['a', 'b']);
  for (const q of [{ limit: -1 }, { offset: 'x' }, { roles: ['wizard'] }, { roles: 'user' }]) {
    const err = await caught(store.getHistory(q));
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(['INVALID_ARGUMENT', 'INVALID_FORMAT']).toContain(err.code);
  }
  expect(await store.count()).toBe(2);
});
