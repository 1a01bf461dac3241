// Appending one turn (user + assistant) to a 10-message and to a
// 10,000-message thread, for each Node backend, plain and encrypted (AES-GCM
// with a CryptoKey); loading the large one; and a whole agent turn on it
// (an in-process model, a context window of 8,000 tokens), beside the same
// turn on an in-memory store.
// node bench/persist-append.js  -> prints JSON, writes bench/results/persist-append.json
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatMessageStore, FileChatMessageStore, RedisChatMessageStore } from '../js/node.js';
import { medianAgentTurnMs } from './agent-turn.js';
import { startRedis } from '../tests/js/helpers/redis-server.js';
import { machine } from './util.js';

const TURNS = 50;
const turn = (i) => [
  { role: 'user', text: `question ${i}: ${'lorem ipsum '.repeat(8)}` },
  { role: 'assistant', text: `answer ${i}: ${'dolor sit amet '.repeat(12)}` },
];

async function fill(store, n) {
  for (let i = 0; i < n; i += 1000) {
    await store.addMessages(Array.from({ length: Math.min(1000, n - i) }, (_, k) => turn(i + k)[k % 2]));
  }
}

const median = (times) => +times.sort((a, b) => a - b)[times.length >> 1].toFixed(3);

async function measure(make, size) {
  const store = make(`t${size}`);
  await fill(store, size);
  const times = [];
  let bytes = 0;
  for (let i = 0; i < TURNS; i++) {
    const t0 = process.hrtime.bigint();
    await store.addMessages(turn(i));
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    bytes = store.lastAppendBytes;
  }
  const reopened = make(`t${size}`);
  const t0 = process.hrtime.bigint();
  const count = await reopened.count();
  const loadMs = Number(process.hrtime.bigint() - t0) / 1e6;
  const agentTurnMs = await medianAgentTurnMs(store, TURNS);
  await store.close();
  await reopened.close();
  const load = { loadMs: +loadMs.toFixed(1), loaded: count };
  return { messages: size, medianAppendMs: median(times), bytesPerTurn: bytes, ...load, medianAgentTurnMs: agentTurnMs };
}

const dir = await mkdtemp(join(tmpdir(), 'threadmem-bench-'));
const redis = await startRedis();
const results = {};
try {
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  const encryption = { key };
  const backends = {
    file: (id) => new FileChatMessageStore({ directory: dir, threadId: id }),
    redis: (id) => new RedisChatMessageStore({ redisUrl: redis.url, keyPrefix: 'bench', threadId: id }),
    fileEncrypted: (id) => new FileChatMessageStore({ directory: join(dir, 'sealed'), threadId: id, encryption }),
    redisEncrypted: (id) => new RedisChatMessageStore({ redisUrl: redis.url, keyPrefix: 'bench-sealed', threadId: id, encryption }),
  };
  const inMemory = new ChatMessageStore();
  await fill(inMemory, 10000);
  results.inMemory = { large: { messages: 10000, medianAgentTurnMs: await medianAgentTurnMs(inMemory, TURNS) } };
  inMemory.close();
  for (const [name, make] of Object.entries(backends)) {
    const small = await measure(make, 10);
    const large = await measure(make, 10000);
    results[name] = { small, large, ratio: +(large.medianAppendMs / small.medianAppendMs).toFixed(2) };
  }
} finally {
  await redis.stop();
  await rm(dir, { recursive: true, force: true });
}
const out = { date: new Date().toISOString(), machine: machine(), node: process.version, turnsTimed: TURNS, results };
console.log(JSON.stringify(out, null, 2));
await writeFile(new URL('./results/persist-append.json', import.meta.url), JSON.stringify(out, null, 2) + '\n');
