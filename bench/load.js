// Many threads in one process against the local model server: throughput,
// and the latency threadmem adds over the raw HTTP call.
//
//   node bench/load.js        writes bench/results/load.md
//
// 1,000 threads run 3 turns each, all started at once, with the in-memory
// store and with the Redis store (a real redis-server on loopback, one
// shared client). The raw baseline posts the same kind of request body with
// fetch, 1,000 at a time.

import { writeFileSync, mkdirSync } from 'node:fs';
import { createClient } from 'redis';
import { ChatAgent, OpenAIChatClient } from '../js/index.js';
import { RedisChatMessageStore } from '../js/node.js';
import { startLLMServer } from '../tests/js/helpers/llm-server.js';
import { startRedis } from '../tests/js/helpers/redis-server.js';
import { machine, table } from './util.js';

const THREADS = 1000;
const TURNS = 3;

const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const ms = (v) => `${v.toFixed(2)} ms`;

const llm = await startLLMServer();
const body = (t, turn) =>
  JSON.stringify({ model: 'm', messages: [{ role: 'system', content: 'sys' }, { role: 'user', content: `thread ${t} turn ${turn}` }] });

// Raw: fetch alone, the same concurrency.
const raw = [];
let t0 = performance.now();
await Promise.all(
  Array.from({ length: THREADS }, async (_, t) => {
    for (let turn = 0; turn < TURNS; turn++) {
      const s = performance.now();
      const res = await fetch(`${llm.url}/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body(t, turn) });
      await res.text();
      raw.push(performance.now() - s);
    }
  }),
);
const rawSeconds = (performance.now() - t0) / 1000;
llm.reset();

// threadmem: the agent, one thread each.
async function agentLoad(chatMessageStoreFactory) {
  const agent = new ChatAgent({
    chatClient: new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'm' }),
    instructions: 'sys',
    chatMessageStoreFactory,
  });
  const threads = Array.from({ length: THREADS }, () => agent.getNewThread());
  const latencies = [];
  const start = performance.now();
  await Promise.all(
    threads.map(async (thread, t) => {
      for (let turn = 0; turn < TURNS; turn++) {
        const s = performance.now();
        await agent.run(`thread ${t} turn ${turn}`, { thread });
        latencies.push(performance.now() - s);
      }
    }),
  );
  const seconds = (performance.now() - start) / 1000;
  agent.close();
  return { latencies, seconds };
}

const memory = await agentLoad(undefined);
const redis = await startRedis();
const client = createClient({ url: redis.url });
await client.connect();
const onRedis = await agentLoad(() => new RedisChatMessageStore({ client, keyPrefix: 'bench' }));
await client.quit();
await redis.stop();
await llm.close();

const turns = THREADS * TURNS;
const rows = [
  ['raw fetch', (turns / rawSeconds).toFixed(0), ms(pct(raw, 50)), ms(pct(raw, 99))],
  ...[['threadmem agent.run, in-memory store', memory], ['threadmem agent.run, Redis store', onRedis]].map(
    ([name, r]) => [name, (turns / r.seconds).toFixed(0), ms(pct(r.latencies, 50)), ms(pct(r.latencies, 99))],
  ),
];
const out = `# Load: ${THREADS.toLocaleString('en-US')} threads in one process

${machine()}

${THREADS} threads, ${TURNS} turns each, all started at once, against the local model server (tests/js/helpers/llm-server.js)
on loopback. Latency is per turn, from the call to its result, so it includes waiting for the turns
queued before it. Produced by \`node bench/load.js\`.

${table(['client', 'turns/s', 'p50 latency', 'p99 latency'], rows)}

Runs in one module instance do not overlap: the run loop waits on the model inside the module
(Asyncify), so concurrent runs queue behind each other for the whole turn, model wait included.
Throughput is therefore bounded by one turn at a time; with a real model (hundreds of ms per
answer) it would be that latency's inverse.
`;
mkdirSync(new URL('./results/', import.meta.url), { recursive: true });
writeFileSync(new URL('./results/load.md', import.meta.url), out);
console.log(out);
