// Function tools: offered to the model in OpenAI's format, executed with
// parsed arguments (several calls of one response in parallel), results fed
// back until the model answers, every call and result stored in the thread,
// and a bounded number of rounds.

import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import { ChatAgent, ChatMessage, ChatMessageStore, OpenAIChatClient, ThreadmemError } from '../../js/index.js';
import { barrier, caught, startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const WEATHER_PARAMS = {
  type: 'object',
  properties: { city: { type: 'string', description: 'City name' } },
  required: ['city'],
};

function weatherTool(execute = async ({ city }) => ({ city, temp: 21 })) {
  return { name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER_PARAMS, execute: jest.fn(execute) };
}

// Arguments as stored may be JSON text or an object; compare them parsed.
const parsedArgs = (a) => (typeof a === 'string' ? JSON.parse(a) : a);
const resultText = (r) => (typeof r === 'string' ? r : JSON.stringify(r));

test('tools reach the model in OpenAI format with tool_choice; a call is executed and its result fed back', async () => {
  const weather = weatherTool();
  const agent = new ChatAgent({ chatClient: client, instructions: 'Use tools.', tools: [weather] });
  const thread = agent.getNewThread();
  const r = await agent.run('call get_weather {"city":"Paris"}', { thread });

  expect(llm.requests).toHaveLength(2);
  const first = llm.requests[0].body;
  expect(first.tools).toEqual([
    { type: 'function', function: { name: 'get_weather', description: 'Current weather in a city', parameters: WEATHER_PARAMS } },
  ]);
  expect(first.tool_choice).toBe('auto');

  expect(weather.execute).toHaveBeenCalledTimes(1);
  const [args, options] = weather.execute.mock.calls[0];
  expect(args).toEqual({ city: 'Paris' });
  expect(options.thread).toBe(thread);

  // The second request carries the call and its result.
  const second = llm.requests[1].body.messages;
  const call = second.find((m) => m.role === 'assistant' && m.tool_calls);
  expect(call.tool_calls).toEqual([
    { id: 'call_1_0', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } },
  ]);
  const result = second[second.length - 1];
  expect(result).toMatchObject({ role: 'tool', tool_call_id: 'call_1_0' });
  expect(JSON.parse(textOf(result))).toEqual({ city: 'Paris', temp: 21 });

  expect(r.text).toBe('get_weather returned: {"city":"Paris","temp":21}');
  expect(r.finishReason).toBe('stop');
  expect(r.responseId).toBe('chatcmpl-test-2');
  expect(r.messages.map((m) => m.role)).toEqual(['assistant', 'tool', 'assistant']);
  for (const m of r.messages) expect(m).toBeInstanceOf(ChatMessage);
  agent.close();
});

test('every call and result is stored in the thread as function_call / function_result contents', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [weatherTool()] });
  const thread = agent.getNewThread();
  await agent.run('call get_weather {"city":"Oslo"}', { thread });

  const list = await thread.messageStore.listMessages();
  expect(list.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  const [fc] = list[1].contents;
  expect(fc).toMatchObject({ type: 'function_call', call_id: 'call_1_0', name: 'get_weather' });
  expect(parsedArgs(fc.arguments)).toEqual({ city: 'Oslo' });
  const [fr] = list[2].contents;
  expect(fr).toMatchObject({ type: 'function_result', call_id: 'call_1_0' });
  expect(JSON.parse(resultText(fr.result))).toEqual({ city: 'Oslo', temp: 21 });
  expect(list[3].text).toBe('get_weather returned: {"city":"Oslo","temp":21}');

  const state = await thread.serialize();
  const msgs = state.chat_message_store_state.messages;
  expect(msgs[1].contents[0]).toMatchObject({ type: 'function_call', call_id: 'call_1_0', name: 'get_weather' });
  expect(msgs[2].contents[0]).toMatchObject({ type: 'function_result', call_id: 'call_1_0' });
  expect(msgs[2].role).toEqual({ type: 'role', value: 'tool' });

  // A later turn sends the stored call and result back to the model.
  llm.reset();
  await agent.run('and now?', { thread });
  const sent = llm.last().body.messages;
  expect(sent.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'user']);
  expect(sent[1].tool_calls[0]).toMatchObject({ id: 'call_1_0', function: { name: 'get_weather' } });
  expect(sent[2].tool_call_id).toBe('call_1_0');
  agent.close();
});

test('a string result is passed to the model as is', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [weatherTool(async () => 'sunny and 25C')] });
  const r = await agent.run('call get_weather {"city":"Rome"}', { thread: agent.getNewThread() });
  const toolMsg = llm.last().body.messages.at(-1);
  expect(textOf(toolMsg)).toBe('sunny and 25C');
  expect(r.text).toBe('get_weather returned: sunny and 25C');
  agent.close();
});

test('two calls in one response run in parallel and both results are fed back', async () => {
  const meet = barrier(2);
  const spans = {};
  const tool = (name) => ({
    name,
    description: name,
    parameters: { type: 'object', properties: { n: { type: 'number' } } },
    execute: async ({ n }) => {
      const start = Date.now();
      const together = await meet();
      await new Promise((r) => setTimeout(r, 20));
      spans[name] = { start, end: Date.now(), together };
      return `${name}:${n}`;
    },
  });
  const agent = new ChatAgent({ chatClient: client, tools: [tool('slow_a'), tool('slow_b')] });
  const thread = agent.getNewThread();
  const r = await agent.run('call slow_a {"n":1} and call slow_b {"n":2}', { thread });

  expect(spans.slow_a.together).toBe(true);
  expect(spans.slow_b.together).toBe(true);
  expect(spans.slow_a.start).toBeLessThan(spans.slow_b.end);
  expect(spans.slow_b.start).toBeLessThan(spans.slow_a.end);
  expect(r.text).toBe('slow_a returned: slow_a:1; slow_b returned: slow_b:2');

  const list = await thread.messageStore.listMessages();
  expect(list.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant']);
  expect(list[1].contents.map((c) => [c.type, c.call_id, c.name])).toEqual([
    ['function_call', 'call_1_0', 'slow_a'],
    ['function_call', 'call_1_1', 'slow_b'],
  ]);
  expect(list[2].contents.map((c) => [c.type, c.call_id, resultText(c.result)])).toEqual([
    ['function_result', 'call_1_0', 'slow_a:1'],
    ['function_result', 'call_1_1', 'slow_b:2'],
  ]);
  agent.close();
});

test('the loop continues through several tool rounds until the model answers', async () => {
  const weather = weatherTool();
  const agent = new ChatAgent({ chatClient: client, tools: [weather] });
  // After the first result, the model asks for a second city.
  llm.script({ when: (b) => b.messages.at(-1)?.role === 'tool', toolCalls: [{ name: 'get_weather', arguments: { city: 'Lima' }, id: 'second' }] });
  const thread = agent.getNewThread();
  const r = await agent.run('call get_weather {"city":"Quito"}', { thread });

  expect(llm.requests).toHaveLength(3);
  expect(weather.execute.mock.calls.map((c) => c[0])).toEqual([{ city: 'Quito' }, { city: 'Lima' }]);
  expect(r.text).toBe('get_weather returned: {"city":"Lima","temp":21}');
  expect(r.messages.map((m) => m.role)).toEqual(['assistant', 'tool', 'assistant', 'tool', 'assistant']);
  const list = await thread.messageStore.listMessages();
  expect(list.map((m) => m.role)).toEqual(['user', 'assistant', 'tool', 'assistant', 'tool', 'assistant']);
  expect(list[3].contents[0]).toMatchObject({ type: 'function_call', call_id: 'second' });
  expect(list[4].contents[0]).toMatchObject({ type: 'function_result', call_id: 'second' });
  agent.close();
});

test('a model that keeps calling tools stops at maxToolRounds with MAX_TOOL_ROUNDS and nothing stored', async () => {
  const weather = weatherTool();
  const agent = new ChatAgent({ chatClient: client, tools: [weather], maxToolRounds: 2 });
  const thread = agent.getNewThread();
  await agent.run('hello', { thread });
  const before = await thread.serialize();

  llm.reset();
  llm.script({ times: Infinity, toolCalls: [{ name: 'get_weather', arguments: { city: 'Loop' } }] });
  const err = await caught(agent.run('go', { thread }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('MAX_TOOL_ROUNDS');
  expect(llm.requests.length).toBeGreaterThanOrEqual(2);
  expect(llm.requests.length).toBeLessThanOrEqual(3);
  expect(await thread.serialize()).toEqual(before);

  llm.reset();
  expect((await agent.run('still fine', { thread })).text).toMatch(/^Echo: still fine/);
  agent.close();
});

test('the default round limit is bounded too', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [weatherTool()] });
  llm.script({ times: Infinity, toolCalls: [{ name: 'get_weather', arguments: { city: 'Loop' } }] });
  const err = await caught(agent.run('go', { thread: agent.getNewThread() }));
  expect(err.code).toBe('MAX_TOOL_ROUNDS');
  expect(llm.requests.length).toBeGreaterThanOrEqual(8);
  expect(llm.requests.length).toBeLessThanOrEqual(10);
  agent.close();
});

test('an unknown tool name from the model is answered with an error message, not a throw', async () => {
  const agent = new ChatAgent({ chatClient: client, tools: [weatherTool()] });
  const r = await agent.run('call no_such_tool {"a":1}', { thread: agent.getNewThread() });
  expect(textOf(llm.last().body.messages.at(-1))).toContain('Error: no tool named');
  expect(r.text).toContain('no_such_tool returned: Error: no tool named');
  agent.close();
});

test('tools given to one run, toolChoice and request options', async () => {
  const agent = new ChatAgent({
    chatClient: client,
    tools: [weatherTool()],
    toolChoice: 'required',
    options: { temperature: 0.25 },
  });
  const extra = { name: 'get_time', description: 'Time', parameters: { type: 'object', properties: {} }, execute: jest.fn(async () => '12:00') };
  const r = await agent.run('call get_time {}', { thread: agent.getNewThread(), tools: [extra], options: { max_tokens: 77 } });
  const body = llm.requests[0].body;
  expect(body.tools.map((t) => t.function.name).sort()).toEqual(['get_time', 'get_weather']);
  expect(body.tool_choice).toBe('required');
  expect(body.temperature).toBe(0.25);
  expect(body.max_tokens).toBe(77);
  expect(extra.execute).toHaveBeenCalledTimes(1);
  expect(r.text).toBe('get_time returned: 12:00');

  // The per-run tool is not kept for the next run.
  llm.reset();
  await agent.run('hi', { thread: agent.getNewThread() });
  expect(llm.last().body.tools.map((t) => t.function.name)).toEqual(['get_weather']);
  agent.close();
});

test('regression: no tools means no tools and no tool_choice in the request (OpenAI rejects both)', async () => {
  const agent = new ChatAgent({ chatClient: client });
  await agent.run('hi');
  const body = llm.last().body;
  expect(body.tools).toBeUndefined();
  expect(body.tool_choice).toBeUndefined();
  agent.close();
});

// OpenAI answers 400 to a tool message whose assistant tool_calls message is
// not right before it. A store's maxMessages eviction evicts a call with its
// results, and never keeps a result whose call is gone.
test('regression: eviction that cuts a tool turn does not send an orphan tool result', async () => {
  const agent = new ChatAgent({
    chatClient: client,
    tools: [weatherTool()],
    chatMessageStoreFactory: () => new ChatMessageStore({ maxMessages: 2 }),
  });
  const thread = agent.getNewThread();
  await agent.run('call get_weather {"city":"Bern"}', { thread });
  expect((await thread.messageStore.listMessages()).map((m) => m.role)).toEqual(['assistant']);
  llm.reset();
  const r = await agent.run('next question', { thread });
  expect(llm.last().rejected).toBeUndefined();
  expect(r.text).toMatch(/^Echo: next question/);
  agent.close();
});

test("a call's extra_content (Gemini's thought signature) is stored with it and sent back, whole or streamed", async () => {
  const signature = { google: { thought_signature: 'c2lnbmF0dXJl' } };
  const call = { id: 'c1', type: 'function', extra_content: signature, function: { name: 'get_weather', arguments: '{"city":"Oslo"}' } };
  const bodies = [];
  const reply = (message, finish) => JSON.stringify({ id: 'r', choices: [{ index: 0, message, finish_reason: finish }] });
  const chunk = (delta, finish = null) => JSON.stringify({ id: 's', choices: [{ index: 0, delta, finish_reason: finish }] });
  const chatClient = {
    async getResponse(body) {
      bodies.push(JSON.parse(body));
      return bodies.length % 2 ? reply({ role: 'assistant', content: null, tool_calls: [call] }, 'tool_calls') : reply({ role: 'assistant', content: 'Mild.' }, 'stop');
    },
    async getStreamingResponse(body) {
      bodies.push(JSON.parse(body));
      const first = bodies.length % 2;
      return (async function* () {
        if (first) yield chunk({ role: 'assistant', tool_calls: [{ index: 0, ...call }] }, 'tool_calls');
        else yield chunk({ role: 'assistant', content: 'Mild.' }, 'stop');
      })();
    },
  };
  const agent = new ChatAgent({ chatClient, tools: [weatherTool()] });
  const thread = agent.getNewThread();
  await agent.run('Weather in Oslo?', { thread });
  for await (const u of agent.runStream('And now?', { thread })) void u;
  for (const sent of [bodies[1], bodies[3]]) {
    const assistant = sent.messages.find((m) => m.role === 'assistant' && m.tool_calls);
    expect(assistant.tool_calls[0].extra_content).toEqual(signature);
  }
  const stored = (await thread.messageStore.listMessages()).flatMap((m) => m.contents).filter((c) => c.type === 'function_call');
  expect(stored.map((c) => c.additionalProperties?.extra_content ?? c.additional_properties?.extra_content)).toEqual([signature, signature]);
  agent.close();
});

test('a failed call aborts the other calls of its round, and the run fails only once they have all stopped', async () => {
  const events = [];
  const slow = {
    name: 'slow_task',
    parameters: { type: 'object', properties: {} },
    execute: (args, { signal }) =>
      new Promise((resolve) => {
        const done = () => {
          events.push(`slow stopped (aborted: ${signal.aborted})`);
          resolve('done');
        };
        const timer = setTimeout(done, 5000);
        signal.addEventListener('abort', () => {
          clearTimeout(timer);
          done();
        });
      }),
  };
  const failing = {
    name: 'failing_task',
    parameters: { type: 'object', properties: {} },
    execute: async () => {
      events.push('failing throws');
      throw new Error('boom');
    },
  };
  const agent = new ChatAgent({ chatClient: client, tools: [slow, failing] });
  const thread = agent.getNewThread();
  const err = await caught(agent.run('call slow_task {} call failing_task {}', { thread }));
  events.push(`run rejected ${err.code}`);
  expect(events).toEqual(['failing throws', 'slow stopped (aborted: true)', 'run rejected TOOL_ERROR']);
  expect(err.cause.message).toBe('boom');
  expect(await thread.messageStore.count()).toBe(0);
  agent.close();
});
