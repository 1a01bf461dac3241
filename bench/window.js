// The cost of a turn's context window on long threads: threadmem against
// LangChain's trimMessages, in one process, interleaved.
//
//   node bench/window.js            writes bench/results/window.md
//   BENCH_QUICK=1 node bench/window.js   fewer repetitions (a smoke run)
//
// Threads of 100 to 100,000 messages, 15% of the turns with a tool call and
// its result, ending on a new user message. Timed: choosing the window for
// the next request (maxTokens 8,000, reserveTokens 1,000, strategy last, the
// system message kept). Both sides count each message once, beforehand:
// threadmem caches counts on its messages; LangChain gets a counter that
// sums cached per-message counts (the fairest setting for it). Rows:
//   - threadmem window: the selection the agent makes every request (the
//     core's tm_store_window_bounds, called as the run loop calls it);
//   - threadmem agent turn: a whole ChatAgent.run with an in-process model
//     (the turn appended, the window chosen, the request built and the
//     response parsed), to show the cost stays flat;
//   - LangChain trimMessages on the same messages.

import { writeFileSync, mkdirSync } from 'node:fs';
import { AIMessage, HumanMessage, SystemMessage, ToolMessage, trimMessages } from '@langchain/core/messages';
import { ChatAgent, ChatMessage, ChatMessageStore, countTokens } from '../js/index.js';
import { mod } from '../js/core.js';
import { machine, median, rng, table } from './util.js';

const QUICK = !!process.env.BENCH_QUICK;
const ENCODING = process.env.BENCH_ENCODING ?? 'o200k_base';
const SIZES = [100, 1_000, 10_000, 100_000];
const WINDOW = { maxTokens: 8000, reserveTokens: 1000, encoding: ENCODING };
const REPS = QUICK ? 3 : 7;
const words = 'the of and to in is that for it as was with be by on not he this are or his from at which but have'.split(' ');

// A deterministic thread of about `n` messages: plain turns, and 15% tool turns.
function makeThread(n, seed) {
  const next = rng(seed);
  const text = (min, max) => {
    const len = min + Math.floor(next() * (max - min));
    return Array.from({ length: len }, () => words[Math.floor(next() * words.length)]).join(' ');
  };
  const msgs = [{ role: 'system', text: 'You are a helpful assistant. ' + text(20, 40) }];
  for (let t = 0; msgs.length < n - 1; t++) {
    msgs.push({ role: 'user', text: text(5, 40) });
    if (next() < 0.15) {
      const id = `call_${t}`;
      msgs.push(new ChatMessage('assistant', [{ type: 'function_call', call_id: id, name: 'search', arguments: JSON.stringify({ q: text(2, 6) }) }]));
      msgs.push(new ChatMessage('tool', [{ type: 'function_result', call_id: id, result: text(20, 80) }]));
    }
    msgs.push({ role: 'assistant', text: text(10, 60) });
  }
  msgs.length = Math.min(msgs.length, n - 1);
  // A tool group cut by the length would leave a call without its result.
  while (msgs.at(-1).role !== 'assistant' || msgs.at(-1).contents?.[0]?.type === 'function_call') msgs.pop();
  msgs.push({ role: 'user', text: 'and what next?' });
  return msgs;
}

// LangChain copies messages inside trimMessages; an id survives the copies,
// so the cached counts are keyed by it.
function toLangChain(m, i) {
  const id = `m${i}`;
  const role = m.role;
  if (role === 'system') return new SystemMessage({ content: m.text, id });
  if (role === 'user') return new HumanMessage({ content: m.text, id });
  if (role === 'tool') {
    const c = m.contents[0];
    return new ToolMessage({ content: c.result, tool_call_id: c.call_id, id });
  }
  const calls = (m.contents ?? []).filter((c) => c.type === 'function_call');
  if (calls.length) {
    const toolCalls = calls.map((c) => ({ id: c.call_id, name: c.name, args: JSON.parse(c.arguments) }));
    return new AIMessage({ content: '', tool_calls: toolCalls, id });
  }
  return new AIMessage({ content: m.text, id });
}

// The core's window selection on a store, as the run loop makes it.
function windowSelector(store) {
  const m = mod();
  const spec = new TextEncoder().encode(JSON.stringify({ max_tokens: WINDOW.maxTokens, reserve_tokens: WINDOW.reserveTokens, encoding: ENCODING }) + '\0');
  const specPtr = m._tm_malloc(spec.length);
  const bounds = m._tm_malloc(16);
  m.HEAPU8.set(spec, specPtr);
  return {
    select() {
      const rc = m._tm_store_window_bounds(store._ptr, specPtr, bounds);
      if (rc !== 0) throw new Error(`window failed: ${rc}`);
      const b = bounds >> 2; // lead, start, end, tokens
      return m.HEAPU32[b] + m.HEAPU32[b + 2] - m.HEAPU32[b + 1];
    },
    free() {
      m._tm_free(specPtr);
      m._tm_free(bounds);
    },
  };
}

const canned = JSON.stringify({ id: 'r', choices: [{ message: { role: 'assistant', content: 'ok' }, finish_reason: 'stop' }] });

async function benchSize(n) {
  const thread = makeThread(n, n);
  // Setup (not timed): counts for LangChain's counter, the store, the agent.
  const lc = thread.map(toLangChain);
  const counts = new Map();
  for (let i = 0; i < thread.length; i++) counts.set(lc[i].id, (await countTokens([thread[i]], { encoding: ENCODING })) - 3);
  const tokenCounter = (msgs) => msgs.reduce((s, m) => s + counts.get(m.id), 3);

  const store = new ChatMessageStore();
  for (let i = 0; i < thread.length; i += 10_000) await store.addMessages(thread.slice(i, i + 10_000));
  const selector = windowSelector(store);
  selector.select(); // counts the window's messages once, as the first turn would

  const agentStore = new ChatMessageStore();
  for (let i = 0; i < thread.length; i += 10_000) await agentStore.addMessages(thread.slice(i, i + 10_000));
  const agent = new ChatAgent({
    chatClient: { getResponse: async () => canned },
    contextWindow: WINDOW,
  });
  const agentThread = agent.getNewThread({ messageStore: agentStore });
  await agent.run('warm up', { thread: agentThread });

  const lcTurns = n >= 10_000 ? 1 : 20;
  const tmTurns = 500;
  const samples = { window: [], agent: [], lc: [] };
  let lcKept = 0, tmKept = 0;
  for (let rep = 0; rep < REPS; rep++) {
    let t0 = performance.now();
    for (let i = 0; i < tmTurns; i++) tmKept = selector.select();
    samples.window.push(((performance.now() - t0) / tmTurns) * 1000);

    t0 = performance.now();
    for (let i = 0; i < 50; i++) await agent.run('and what next?', { thread: agentThread });
    samples.agent.push(((performance.now() - t0) / 50) * 1000);

    // At 100,000 messages one trimMessages call takes more than a minute:
    // it runs once.
    if (n < 100_000 || rep === 0) {
      t0 = performance.now();
      for (let i = 0; i < lcTurns; i++) {
        const kept = await trimMessages(lc, {
          maxTokens: WINDOW.maxTokens - WINDOW.reserveTokens,
          tokenCounter,
          strategy: 'last',
          includeSystem: true,
          startOn: 'human',
        });
        lcKept = kept.length;
      }
      samples.lc.push(((performance.now() - t0) / lcTurns) * 1000);
    }
  }
  selector.free();
  store.close();
  agent.close();
  agentStore.close();
  return { n, samples, tmKept, lcKept };
}

const fmt = (xs) => {
  if (!xs.length) return 'not run';
  const f = (v) => (v >= 1000 ? `${(v / 1000).toFixed(1)} ms` : `${v.toFixed(1)} µs`);
  return `${f(median(xs))} (${f(Math.min(...xs))}–${f(Math.max(...xs))})`;
};

const rows = [];
for (const n of SIZES) {
  const r = await benchSize(n);
  rows.push([n.toLocaleString('en-US'), fmt(r.samples.window), fmt(r.samples.agent), fmt(r.samples.lc), `${r.tmKept} / ${r.lcKept}`]);
  console.log(rows.at(-1).join(' | '));
}

const out = `# Context window per turn

${machine()}

Encoding ${ENCODING}; window maxTokens ${WINDOW.maxTokens}, reserveTokens ${WINDOW.reserveTokens}; ${REPS} repetitions,
interleaved; median per turn (min–max over repetitions; LangChain at 100,000 messages: one call).
Timed: choosing the window of a thread that ends on a new user message. Message counts are cached
on both sides. Produced by \`node bench/window.js\`.

${table(['messages', 'threadmem window', 'threadmem agent turn (in-process model)', 'LangChain trimMessages', 'messages sent (threadmem / LangChain)'], rows)}

The "threadmem window" column is the selection the run loop makes before every request; the agent
turn adds appending the turn, building the request JSON of the window and parsing the response.
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/window.md', import.meta.url), out);
console.log(out);
