// RedisChatMessageStore against a real redis-server (Debian's), started on a
// free loopback port for this file and stopped after it.

import { afterAll, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { createClient } from 'redis';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatAgent, ChatMessage, OpenAIChatClient, ThreadmemError, RedisChatMessageStore } from '../../js/node.js';
import { caught, startLLMServer } from './helpers/llm-server.js';
import { freePort, startRedis } from './helpers/redis-server.js';

let redis;
let admin;
let llm;
let client;
let prefix;
let n = 0;

beforeAll(async () => {
  redis = await startRedis();
  admin = createClient({ url: redis.url });
  admin.on('error', () => {});
  await admin.connect();
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 });
}, 30_000);
afterAll(async () => {
  await admin?.quit().catch(() => {});
  await redis?.stop();
  llm?.close();
});
beforeEach(() => {
  llm.reset();
  prefix = `t${++n}`;
});

const texts = (msgs) => msgs.map((m) => m.text);
const user = (text) => new ChatMessage('user', text);
const open = (opts = {}) => new RedisChatMessageStore({ redisUrl: redis.url, keyPrefix: prefix, ...opts });

test('messages survive a new connection; keys are hash-tagged by thread', async () => {
  const a = open({ threadId: 'r1' });
  await a.addMessages([user('one'), user('two')]);
  await a.addMessages(new ChatMessage('assistant', 'three'));
  await a.close();
  expect(await admin.lLen(`${prefix}:{r1}`)).toBe(3);
  const b = open({ threadId: 'r1' });
  expect(texts(await b.listMessages())).toEqual(['one', 'two', 'three']);
  expect(await b.count()).toBe(3);
  expect(texts(await b.getHistory({ limit: 2 }))).toEqual(['two', 'three']);
  await b.close();
});

test('maxMessages trims in the same transaction; ttlSeconds expires the thread', async () => {
  const s = open({ threadId: 'trim', maxMessages: 3, ttlSeconds: 100 });
  for (let i = 1; i <= 6; i++) await s.addMessages([user(`m${i}`)]);
  expect(await admin.lLen(`${prefix}:{trim}`)).toBe(3);
  expect(await admin.ttl(`${prefix}:{trim}`)).toBeGreaterThan(90);
  const r = open({ threadId: 'trim', maxMessages: 3 });
  expect(texts(await r.listMessages())).toEqual(['m4', 'm5', 'm6']);
  await r.addMessages([user('m7')]);
  expect(texts(await s.listMessages())).toEqual(['m5', 'm6', 'm7']);
  await s.close();
  await r.close();

  const short = open({ threadId: 'ttl', ttlSeconds: 1 });
  await short.addMessages([user('soon gone')]);
  await new Promise((res) => setTimeout(res, 1600));
  expect(await short.count()).toBe(0);
  await short.close();
});

test('listThreads, deleteThread, and bad options', async () => {
  const a = open({ threadId: 'alpha' });
  const b = open({ threadId: 'beta' });
  await a.addMessages([user('a')]);
  await b.addMessages([user('b')]);
  expect(await a.listThreads()).toEqual(['alpha', 'beta']);
  await a.deleteThread('beta');
  expect(await a.listThreads()).toEqual(['alpha']);
  expect(await b.count()).toBe(0);
  expect((await caught(a.deleteThread('x}{y'))).code).toBe('INVALID_ARGUMENT');
  expect((await caught(() => open({ threadId: 'a}b' }))).code).toBe('INVALID_ARGUMENT');
  expect((await caught(() => new RedisChatMessageStore({}))).code).toBe('INVALID_ARGUMENT');
  expect((await caught(() => open({ ttlSeconds: 0 }))).code).toBe('INVALID_ARGUMENT');
  for (const timeoutMs of [0, -5, NaN, '100']) expect((await caught(() => open({ timeoutMs }))).code).toBe('INVALID_ARGUMENT');
  await a.close();
  await b.close();
});

test('two writers on one thread lose nothing and agree on one order', async () => {
  const a = open({ threadId: 'shared' });
  const b = open({ threadId: 'shared' });
  const jobs = [];
  for (let i = 0; i < 20; i++) {
    jobs.push(a.addMessages([user(`a${i}`)]));
    jobs.push(b.addMessages([user(`b${i}`)]));
  }
  await Promise.all(jobs);
  const seenA = texts(await a.listMessages());
  expect(seenA).toHaveLength(40);
  expect(texts(await b.listMessages())).toEqual(seenA);
  expect(seenA.filter((t) => t[0] === 'a')).toEqual([...Array(20).keys()].map((i) => `a${i}`));
  await a.close();
  await b.close();
});

test('stores sharing one client still see writers elsewhere: nothing is lost, one order', async () => {
  // A guard kept on the connection (WATCH) would be ended by another
  // store's EXEC on the shared client, leaving a turn unguarded.
  const shared = createClient({ url: redis.url });
  await shared.connect();
  const threads = ['w1', 'w2', 'w3'];
  const onShared = threads.map((threadId) => new RedisChatMessageStore({ client: shared, keyPrefix: prefix, threadId }));
  const elsewhere = threads.map((threadId) => open({ threadId }));
  const jobs = [];
  for (let i = 0; i < 15; i++) {
    threads.forEach((_, t) => {
      jobs.push(onShared[t].addMessages([user(`s${i}`)]));
      jobs.push(elsewhere[t].addMessages([user(`e${i}`)]));
    });
  }
  await Promise.all(jobs);
  for (let t = 0; t < threads.length; t++) {
    const fresh = open({ threadId: threads[t] });
    const seen = texts(await fresh.listMessages());
    expect(seen).toHaveLength(30);
    expect(seen.filter((x) => x[0] === 's')).toEqual([...Array(15).keys()].map((i) => `s${i}`));
    expect(seen.filter((x) => x[0] === 'e')).toEqual([...Array(15).keys()].map((i) => `e${i}`));
    await fresh.close();
    await elsewhere[t].close();
    await onShared[t].close();
  }
  await shared.quit();
});

test('a thread serialized with a Redis store resumes through the factory, with no secret in the state', async () => {
  const url = redis.url.replace('redis://', 'redis://user:s3cret@');
  const factory = () => new RedisChatMessageStore({ redisUrl: url.replace('user:s3cret@', ''), keyPrefix: prefix });
  const agent = new ChatAgent({ chatClient: client, chatMessageStoreFactory: factory });
  const thread = agent.getNewThread();
  await agent.run('my name is Frida', { thread });
  const text = JSON.stringify(await thread.serialize());
  expect(text).toContain('"redis"');
  expect(text).not.toContain('s3cret');
  expect(text).not.toContain('127.0.0.1');
  const agent2 = new ChatAgent({ chatClient: client, chatMessageStoreFactory: factory });
  const resumed = await agent2.deserializeThread(JSON.parse(text));
  expect((await agent2.run("what's my name", { thread: resumed })).text).toBe('Your name is Frida.');
  expect(await resumed.messageStore.count()).toBe(4);
  await thread.messageStore.close();
  await resumed.messageStore.close();
  agent.close();
  agent2.close();
});

test('Redis restarted between two turns: the next turn reconnects and nothing acknowledged is lost', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'threadmem-redis-'));
  let server = await startRedis({ dir });
  const store = new RedisChatMessageStore({ redisUrl: server.url, threadId: 'restart' });
  try {
    await store.addMessages([user('before')]);
    const redisClient = store._backend._client;
    const listening = redisClient.listenerCount('ready');
    await server.stop();
    for (const text of ['while down', 'still down']) {
      const err = await caught(store.addMessages([user(text)]));
      expect(err).toBeInstanceOf(ThreadmemError);
      expect(err.code).toBe('STORAGE_ERROR');
    }
    expect(redisClient.listenerCount('ready')).toBe(listening); // a call that gave up left no listener
    server = await startRedis({ port: server.port, dir });
    await store.addMessages([user('after')]);
    expect(texts(await store.listMessages())).toEqual(['before', 'after']);
  } finally {
    await store.close();
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}, 30_000);

test('no server, or a wrong password: the call fails with STORAGE_ERROR, and a later one connects', async () => {
  const port = await freePort();
  const password = 'pw-0f9e8d';
  const down = new RedisChatMessageStore({ redisUrl: `redis://:${password}@127.0.0.1:${port}`, threadId: 'later' });
  const wrong = new RedisChatMessageStore({ redisUrl: `redis://:not-${password}@127.0.0.1:${port}`, threadId: 'later' });
  let server;
  try {
    let err = await caught(down.count());
    expect([err.constructor, err.code]).toEqual([ThreadmemError, 'STORAGE_ERROR']);
    server = await startRedis({ port, password });
    expect(await down.count()).toBe(0);
    await down.addMessages([user('connected')]);
    err = await caught(wrong.count());
    expect([err.constructor, err.code]).toEqual([ThreadmemError, 'STORAGE_ERROR']);
    expect(err.message).toMatch(/WRONGPASS|password|auth/i);
    for (const e of [err, err.cause, err.cause?.cause]) expect(String(e?.message ?? '')).not.toContain(password);
  } finally {
    await down.close();
    await wrong.close();
    await server?.stop();
  }
}, 30_000);

test('a server that hangs: each call fails with STORAGE_ERROR after timeoutMs, and close() does not wait for it', async () => {
  const server = await startRedis();
  const store = new RedisChatMessageStore({ redisUrl: server.url, threadId: 'hung', timeoutMs: 300 });
  try {
    await store.addMessages([user('before')]);
    server.pause();
    const err = await caught(store.addMessages([user('while hung')]));
    expect([err.constructor, err.code]).toEqual([ThreadmemError, 'STORAGE_ERROR']);
    expect((await caught(store.count())).code).toBe('STORAGE_ERROR');
    await store.close(); // QUIT is never answered
    expect(store._backend._client.isOpen).toBe(false);
  } finally {
    await server.stop();
  }
}, 30_000);

test('a server that accepts the connection and says nothing: STORAGE_ERROR, not a call that never ends', async () => {
  const net = await import('node:net');
  const sockets = new Set();
  const silent = net.createServer((s) => sockets.add(s));
  await new Promise((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const store = new RedisChatMessageStore({ redisUrl: `redis://127.0.0.1:${silent.address().port}`, threadId: 'silent' });
  const err = await caught(store.count());
  expect([err.constructor, err.code]).toEqual([ThreadmemError, 'STORAGE_ERROR']);
  await store.close();
  for (const s of sockets) s.destroy();
  await new Promise((resolve) => silent.close(resolve));
}, 30_000);

test('close() ends a call that waits for Redis to come back with CLOSED', async () => {
  const server = await startRedis();
  const store = new RedisChatMessageStore({ redisUrl: server.url, threadId: 'closing' });
  await store.addMessages([user('before')]);
  const client = store._backend._client;
  const listening = client.listenerCount('ready');
  await server.stop();
  const until = async (done) => {
    while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
  };
  await until(() => !client.isReady); // the client knows the server is gone
  const waiting = caught(store.count());
  await until(() => client.listenerCount('ready') > listening); // the call waits for the reconnect
  await store.close();
  const err = await waiting;
  expect([err.constructor, err.code]).toEqual([ThreadmemError, 'CLOSED']);
}, 30_000);

test("the URL's password is never shown: not by printing the store, nor by an error about the URL", async () => {
  const { inspect } = await import('node:util');
  const password = 'pw-7a6b5c';
  const store = new RedisChatMessageStore({ redisUrl: redis.url.replace('redis://', `redis://:${password}@`), keyPrefix: prefix });
  expect(inspect(store, { depth: 5, showHidden: false })).not.toContain(password);
  for (const url of [`redis://:${password}@127.0.0.1:6379x`, `http://:${password}@127.0.0.1`, `:${password}@`]) {
    const err = await caught(() => new RedisChatMessageStore({ redisUrl: url }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(inspect(err, { depth: 5 })).not.toContain(password);
  }
  await store.close();
});
