// SummaryProvider: the turns a thread's window drops are summarized into one
// message that stands in for them; the originals stay in the store; each
// summary extends the last with the newly dropped turns only; a summarized
// turn is never sent again; tool-call groups are never split; a useless
// summary response costs nothing but a warning.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import {
  ChatAgent,
  ChatMessage,
  ChatMessageStore,
  Context,
  ContextProvider,
  OpenAIChatClient,
  SummaryProvider,
} from '../../js/index.js';
import { caught, startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', maxRetries: 0 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const isSummaryRequest = (r) => textOf(r.body.messages[0]).startsWith('You maintain the running summary');
const summaryRequests = () => llm.requests.filter(isSummaryRequest);
const chatRequests = () => llm.requests.filter((r) => !isSummaryRequest(r));
const CONTEXT_WINDOW = { maxTokens: 420, reserveTokens: 20 };

function agentWith(provider) {
  return new ChatAgent({ chatClient: client, instructions: 'Be brief.', contextWindow: CONTEXT_WINDOW, contextProviders: provider });
}

async function chat(agent, thread, n) {
  for (let i = 0; i < n; i++) await agent.run(`filler turn ${i}: the weather is mild and nothing else happens`, { thread });
}

test('a fact that fell out of the window is recalled through the summary; without it, forgotten', async () => {
  const warnings = [];
  const summary = new SummaryProvider({ summaryMaxTokens: 150, onWarning: (m) => warnings.push(m) });
  const agent = agentWith(summary);
  const thread = agent.getNewThread();
  await agent.run('Hello, my name is Alice', { thread });
  await chat(agent, thread, 8);
  const r = await agent.run("What's my name?", { thread });
  expect(r.text).toBe('Your name is Alice.');
  expect(r.window.historyDropped).toBeGreaterThan(0);

  // The request held the summary, not the original turn.
  const last = chatRequests().at(-1).body.messages;
  const system = last.filter((m) => m.role === 'system').map(textOf);
  expect(system.some((t) => t.startsWith('Summary of the earlier conversation:'))).toBe(true);
  expect(last.some((m) => m.role === 'user' && textOf(m) === 'Hello, my name is Alice')).toBe(false);
  // The originals are all still stored.
  expect(await thread.messageStore.count()).toBe(20);
  const s = await summary.getSummary(thread);
  const stored = await thread.messageStore.listMessages();
  expect(s.first_message_id).toBe(stored[0].messageId);
  expect(s.message_count).toBe(stored.findIndex((m) => m.messageId === s.last_message_id) + 1);
  expect(warnings).toEqual([]);
  agent.close();

  llm.reset();
  const plain = new ChatAgent({ chatClient: client, instructions: 'Be brief.', contextWindow: CONTEXT_WINDOW });
  const t2 = plain.getNewThread();
  await plain.run('Hello, my name is Alice', { thread: t2 });
  await chat(plain, t2, 8);
  expect((await plain.run("What's my name?", { thread: t2 })).text).toBe("I don't know your name.");
  plain.close();
});

// A summarizer that answers from what it receives: the numbers of the
// filler turns in the previous summary and the new messages, and any tool
// result. (The default test model would take "call lookup" for a request.)
function scriptSummarizer() {
  llm.script({
    when: (body) => isSummaryRequest({ body }),
    times: Infinity,
    json: (body) => {
      const user = textOf(body.messages[1]);
      const turns = [...new Set([...user.matchAll(/(?:filler turn |covered: |,)(\d+)/g)].map((m) => Number(m[1])))];
      const tool = /the answer is 42|lookup=42/.test(user) ? ' lookup=42' : '';
      const content = `covered: ${turns.sort((a, b) => a - b).join(',')}${tool}`;
      return { id: 's', choices: [{ message: { role: 'assistant', content }, finish_reason: 'stop' }] };
    },
  });
}

const numbers = (text) => [...text.matchAll(/filler turn (\d+)/g)].map((m) => Number(m[1]));

// Checks each chat request with a summary: the summary covers the turns
// from the first on, and the history sent starts right after them (nothing
// sent twice, nothing left out). Returns how many requests had one.
function expectHistoryAfterSummary() {
  let withSummary = 0;
  for (const r of chatRequests()) {
    const s = r.body.messages.find((m) => m.role === 'system' && textOf(m).startsWith('Summary of'));
    if (!s) continue;
    withSummary += 1;
    const covered = textOf(s).match(/covered: ([\d,]+)/)[1].split(',').map(Number);
    const history = r.body.messages.slice(0, -1).filter((m) => m.role === 'user').flatMap((m) => numbers(textOf(m)));
    expect(covered).toEqual([...Array(covered.length).keys()]);
    expect(history[0]).toBe(covered.length);
  }
  return withSummary;
}

test('summaries are incremental, and a summarized turn is never sent again nor skipped', async () => {
  scriptSummarizer();
  const summary = new SummaryProvider({ summaryMaxTokens: 150 });
  const agent = agentWith(summary);
  const thread = agent.getNewThread();
  await chat(agent, thread, 14);
  const requests = summaryRequests();
  expect(requests.length).toBeGreaterThan(2);
  const seen = new Set();
  requests.forEach((r, i) => {
    const user = textOf(r.body.messages[1]);
    expect(user.startsWith('Previous summary:')).toBe(i > 0);
    const lines = user.slice(user.indexOf('New messages:\n') + 'New messages:\n'.length).split('\n');
    for (const line of lines) {
      expect(seen.has(line)).toBe(false); // never summarized twice
      seen.add(line);
    }
    // Whole turns: a user message first, its reply last.
    expect(lines[0]).toMatch(/^user: /);
    expect(lines.at(-1)).toMatch(/^assistant: /);
  });
  expect(expectHistoryAfterSummary()).toBeGreaterThan(2);
  // The summary's reach, by message: every stored message up to the window.
  const stored = await thread.messageStore.listMessages();
  const state = await summary.getSummary(thread);
  expect(state.text).toBe(`covered: ${[...Array(state.message_count / 2).keys()].join(',')}`);
  expect(stored[state.message_count - 1].messageId).toBe(state.last_message_id);
  agent.close();
});

test('a summary goes on once the store has evicted the messages it covers', async () => {
  scriptSummarizer();
  // The window drops one turn at a time, and the store keeps three: each
  // turn stored evicts the one the summary just took in.
  const summary = new SummaryProvider({ summaryMaxTokens: 50 });
  const agent = new ChatAgent({ chatClient: client, contextWindow: { maxTokens: 180 }, contextProviders: summary });
  const store = new ChatMessageStore({ maxMessages: 6 });
  const thread = agent.getNewThread({ messageStore: store });
  await chat(agent, thread, 12);
  const held = numbers((await store.listMessages()).map((m) => m.text).join(' '));
  const state = await summary.getSummary(thread);
  // Every turn that left the store is in the summary, from the first on.
  const covered = state.text.match(/covered: ([\d,]+)/)[1].split(',').map(Number);
  expect(covered).toEqual([...Array(covered.length).keys()]);
  expect(covered.length).toBeGreaterThanOrEqual(held[0]);
  expect(covered.length).toBeGreaterThan(5);
  agent.close();
});

test("the summary's room counts what the providers before it add: no turn falls between it and the window", async () => {
  scriptSummarizer();
  class Memories extends ContextProvider {
    async invoking() {
      return new Context({
        instructions: `## Memories\n- ${'The user prefers short answers and metric units. '.repeat(8)}`,
        messages: [new ChatMessage('system', 'Today is a holiday in the user\'s country.')],
      });
    }
  }
  const summary = new SummaryProvider({ summaryMaxTokens: 60 });
  const agent = new ChatAgent({ chatClient: client, contextWindow: { maxTokens: 320 }, contextProviders: [new Memories(), summary] });
  const thread = agent.getNewThread();
  await chat(agent, thread, 10);
  expect(expectHistoryAfterSummary()).toBeGreaterThan(2);
  agent.close();
});

test('a tool-call group is summarized whole, never split', async () => {
  scriptSummarizer();
  const summary = new SummaryProvider({ summaryMaxTokens: 150 });
  const agent = new ChatAgent({
    chatClient: client,
    contextWindow: CONTEXT_WINDOW,
    contextProviders: summary,
    tools: [{ name: 'lookup', description: 'looks up', parameters: { type: 'object', properties: {} }, execute: () => 'the answer is 42' }],
  });
  const thread = agent.getNewThread();
  await agent.run('call lookup {}', { thread });
  await chat(agent, thread, 10);
  const first = textOf(summaryRequests()[0].body.messages[1]);
  expect(first).toContain('user: call lookup {}\nassistant: [called lookup({})]\ntool: [result: "the answer is 42"]\nassistant: lookup returned: the answer is 42');
  const s = await summary.getSummary(thread);
  expect(s.text).toContain('lookup=42');
  const stored = await thread.messageStore.listMessages();
  const i = stored.findIndex((m) => m.messageId === s.last_message_id);
  expect(stored[i].role).toBe('assistant');
  expect(stored[i].contents.some((c) => c.type === 'function_call')).toBe(false);
  expect(stored[i + 1].role).toBe('user');
  agent.close();
});

test('an unusable summary response is a warning: the turn goes on and is stored', async () => {
  const warnings = [];
  const summary = new SummaryProvider({ summaryMaxTokens: 150, onWarning: (m) => warnings.push(m) });
  const agent = agentWith(summary);
  const thread = agent.getNewThread();
  llm.script({ when: (body) => isSummaryRequest({ body }), raw: 'not json', times: Infinity });
  await chat(agent, thread, 8);
  expect(warnings.length).toBeGreaterThan(0);
  expect(warnings[0]).toMatch(/not a chat completion/);
  expect(await thread.messageStore.count()).toBe(16);
  expect(await summary.getSummary(thread)).toBeUndefined();
  agent.close();
});

test('a window with no room for the summary beside the newest turn is a warning, not a silent loss', async () => {
  scriptSummarizer();
  const warnings = [];
  const summary = new SummaryProvider({ summaryMaxTokens: 100, onWarning: (m) => warnings.push(m) });
  const agent = new ChatAgent({ chatClient: client, contextWindow: { maxTokens: 160 }, contextProviders: summary });
  const thread = agent.getNewThread();
  const long = 'filler turn 0: the weather is mild and nothing else happens '.repeat(3);
  for (let i = 0; i < 3; i++) await agent.run(long, { thread });
  expect(summaryRequests()).toHaveLength(0);
  expect(warnings.length).toBeGreaterThan(0);
  expect(warnings[0]).toMatch(/no room for a summary of 100 tokens/);
  agent.close();
});

test('a summary is kept per thread in the given storage and used after the thread is resumed', async () => {
  const storage = new Map();
  const agent = agentWith(new SummaryProvider({ summaryMaxTokens: 150, storage }));
  const store = new ChatMessageStore({ threadId: 'alice-thread' });
  const thread = agent.getNewThread({ messageStore: store });
  await agent.run('Hello, my name is Alice', { thread });
  await chat(agent, thread, 8);
  expect([...storage.keys()]).toEqual(['summary:alice-thread']);
  const before = summaryRequests().length;
  // The same stored thread under a new agent and provider with that storage.
  const provider = new SummaryProvider({ summaryMaxTokens: 150, storage });
  const again = agentWith(provider);
  const resumed = again.getNewThread({ messageStore: store });
  expect((await again.run("What's my name?", { thread: resumed })).text).toBe('Your name is Alice.');
  expect(summaryRequests().length - before).toBeLessThanOrEqual(1);
  // Deleted with the thread: it holds what the thread said.
  await provider.deleteSummary(resumed);
  expect([...storage.keys()]).toEqual([]);
  const noDelete = new SummaryProvider({ storage: { get: () => undefined, set: () => {} } });
  expect((await caught(noDelete.deleteSummary(resumed))).code).toBe('INVALID_ARGUMENT');
  agent.close();
  again.close();
});

test('a summary deleted while it is being extended is not written back; a thread is named by itself or its id', async () => {
  const storage = new Map();
  let hold = null; // while set, summary requests wait for it
  let asked;
  const summarizer = {
    async getResponse(body, options) {
      if (hold) {
        asked();
        await hold;
      }
      return client.getResponse(body, options);
    },
  };
  const provider = new SummaryProvider({ summaryMaxTokens: 150, storage, chatClient: summarizer });
  const agent = agentWith(provider);
  const thread = agent.getNewThread({ messageStore: new ChatMessageStore({ threadId: 'going' }) });
  await chat(agent, thread, 8);
  expect(await provider.getSummary('going')).toEqual(await provider.getSummary(thread));
  expect(storage.has('summary:going')).toBe(true);

  let release;
  hold = new Promise((resolve) => (release = resolve));
  const summarizing = new Promise((resolve) => (asked = resolve));
  const run = agent.run('one more filler turn about the mild weather', { thread });
  await summarizing;
  await provider.deleteSummary('going'); // the thread is being deleted
  release();
  await run;
  expect(storage.has('summary:going')).toBe(false);

  for (const bad of [undefined, null, 42, '', {}]) {
    expect((await caught(provider.getSummary(bad))).code).toBe('INVALID_ARGUMENT');
    expect((await caught(provider.deleteSummary(bad))).code).toBe('INVALID_ARGUMENT');
  }
  agent.close();
});
