// Many threads in one process against the local model server: throughput,
// and the latency threadmem adds over the raw HTTP call.
//
//   node bench/load.js        writes bench/results/load.md
//
// 1,000 threads run 3 turns each, all started at once, with the in-memory
// store and with the Redis store (a real redis-server on loopback, one
// shared client). The raw baseline posts the same kind of request body with
// fetch, 1,000 at a time. Then the same with a model server that waits
// DELAY_MS before each reply, as a real model does: runs that overlap while
// they wait finish in about one delay per turn.

import { writeFileSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { createClient } from 'redis';
import { ChatAgent, OpenAIChatClient } from '../js/index.js';
import { RedisChatMessageStore } from '../js/node.js';
import { startLLMServer } from '../tests/js/helpers/llm-server.js';
import { startRedis } from '../tests/js/helpers/redis-server.js';
import { machine, table } from './util.js';

const THREADS = 1000;
const TURNS = 3;
const DELAY_MS = 100;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (v) => `${v.toFixed(2)} ms`;

const loadBefore = os.loadavg()[0];
const llm = await startLLMServer();
const body = (t, turn) =>
  JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: `thread ${t} turn ${turn}` }] });

// Raw: fetch alone, the same concurrency.
async function rawLoad() {
  const latencies = [];
  const start = performance.now();
  await Promise.all(
    Array.from({ length: THREADS }, async (_, t) => {
      for (let turn = 0; turn < TURNS; turn++) {
        const s = performance.now();
        const res = await fetch(`${llm.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(t, turn) });
        await res.text();
        latencies.push(performance.now() - s);
      }
    }),
  );
  llm.reset();
  return { latencies, seconds: (performance.now() - start) / 1000 };
}

// The chat client, timing each HTTP call by the turn it belongs to (its
// message names it: "thread t turn n"), so that a turn's overhead is its
// run's latency minus its model call's.
class TimedClient extends OpenAIChatClient {
  httpMs = new Map();

  async getResponse(body, options) {
    const s = performance.now();
    try {
      return await super.getResponse(body, options);
    } finally {
      // The turn's own message is the request's last.
      this.httpMs.set(body.match(/thread \d+ turn \d+/g).at(-1), performance.now() - s);
    }
  }
}

// threadmem: the agent, one thread each (threadCount of them at once, turns each).
async function agentLoad(chatMessageStoreFactory, threadCount = THREADS, turns = TURNS) {
  const chatClient = new TimedClient({ baseURL: llm.url, apiKey: 'k', model: 'm' });
  const agent = new ChatAgent({ chatClient, instructions: 'sys', chatMessageStoreFactory });
  const threads = Array.from({ length: threadCount }, () => agent.getNewThread());
  const latencies = [];
  const overheads = [];
  const start = performance.now();
  await Promise.all(
    threads.map(async (thread, t) => {
      for (let turn = 0; turn < turns; turn++) {
        const text = `thread ${t} turn ${turn}`;
        const s = performance.now();
        await agent.run(text, { thread });
        const latency = performance.now() - s;
        latencies.push(latency);
        overheads.push(latency - chatClient.httpMs.get(text));
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.close();
  llm.reset();
  return { latencies, overheads, seconds };
}

const raw = await rawLoad();
const memory = await agentLoad(undefined);
// One thread at a time: what a turn costs threadmem with nothing else running.
const alone = await agentLoad(undefined, 1, 1000);
const redis = await startRedis();
const client = createClient({ url: redis.url });
await client.connect();
const onRedis = await agentLoad(() => new RedisChatMessageStore({ client, keyPrefix: 'bench' }));

// The same with a model that takes DELAY_MS to answer each request.
llm.script({ times: Infinity, delayMs: DELAY_MS });
const rawSlow = await rawLoad();
llm.script({ times: Infinity, delayMs: DELAY_MS });
const memorySlow = await agentLoad(undefined);
llm.script({ times: Infinity, delayMs: DELAY_MS });
const onRedisSlow = await agentLoad(() => new RedisChatMessageStore({ client, keyPrefix: 'bench-slow' }));
await client.quit();
await redis.stop();
await llm.close();

const turns = THREADS * TURNS;
const overhead = (r) => (r.overheads ? [ms(pct(r.overheads, 50)), ms(pct(r.overheads, 99))] : ['–', '–']);
const rowsOf = (results) =>
  results.map(([name, r]) => [name, (turns / r.seconds).toFixed(0), ms(pct(r.latencies, 50)), ms(pct(r.latencies, 99)), ...overhead(r)]);
const head = ['client', 'turns/s', 'p50 latency', 'p99 latency', 'p50 overhead', 'p99 overhead'];
const out = `# Load: ${THREADS.toLocaleString('en-US')} threads in one process

${machine()} Load average (1 min) when it started: ${loadBefore.toFixed(2)}: the machine is
shared, so compare rows of one run, not runs.

${THREADS} threads, ${TURNS} turns each, all started at once, against the local model server (tests/js/helpers/llm-server.js)
on loopback. Latency is per turn, from the call to its result, so it includes waiting for the turns
that hold the process before it. Overhead is what threadmem adds to a turn over its HTTP call: the
run's latency minus the latency of its call to the model (both measured in the run's own turn, so
under load it includes waiting for the CPU that other turns hold). Produced by \`node bench/load.js\`.

One thread alone, ${alone.overheads.length} turns one after another (nothing else running): overhead
p50 ${ms(pct(alone.overheads, 50))}, p99 ${ms(pct(alone.overheads, 99))} per turn.

## An instant model

${table(head, rowsOf([['raw fetch', raw], ['threadmem agent.run, in-memory store', memory], ['threadmem agent.run, Redis store', onRedis]]))}

## A model that takes ${DELAY_MS} ms per reply

${table(head, rowsOf([['raw fetch', rawSlow], ['threadmem agent.run, in-memory store', memorySlow], ['threadmem agent.run, Redis store', onRedisSlow]]))}

The run loop is a step machine in the core (\`tm_run_step\`): a run holds the WASM module only for
each step, microseconds, and waits on the model, the tools and the store outside it. Runs on
different threads therefore overlap while they wait: with a ${DELAY_MS} ms model, ${THREADS.toLocaleString('en-US')}
concurrent threads take about one delay per turn plus the CPU time of all the turns, as raw fetch
does, rather than one delay per turn of every thread queued before: runs queued for their whole duration,
as they were while the loop waited inside the module (Asyncify), could not exceed 1000 / ${DELAY_MS} =
${1000 / DELAY_MS} turns/s here. Runs on one thread still take turns (each sees the one before).
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/load.md', import.meta.url), out);
console.log(out);
