// FileChatMessageStore: records on disk through the core's log layout;
// reopening, recovery, eviction, references, failures and two writers.

import { afterAll, afterEach, beforeAll, beforeEach, expect, test } from '@jest/globals';
import { mkdtemp, rm, appendFile, readFile, writeFile, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ChatAgent, ChatMessage, OpenAIChatClient, ThreadmemError, FileChatMessageStore } from '../../js/node.js';
import { caught, startLLMServer } from './helpers/llm-server.js';

let dir;
let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', retryBaseDelayMs: 5 });
});
afterAll(() => llm.close());
beforeEach(async () => {
  llm.reset();
  dir = await mkdtemp(join(tmpdir(), 'threadmem-file-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const texts = (msgs) => msgs.map((m) => m.text);
const user = (text) => new ChatMessage('user', text);

test('messages survive reopening, with their stamped ids', async () => {
  const a = new FileChatMessageStore({ directory: dir, threadId: 't1' });
  await a.addMessages([user('one'), user('two')]);
  await a.addMessages([new ChatMessage('assistant', 'three')]);
  const before = await a.listMessages();
  expect(texts(before)).toEqual(['one', 'two', 'three']);
  expect(before[0].messageId).toEqual(expect.any(String));
  a.close();

  const b = new FileChatMessageStore({ directory: dir, threadId: 't1' });
  const after = await b.listMessages();
  expect(after.map((m) => m.toJSON())).toEqual(before.map((m) => m.toJSON()));
  expect(await b.count()).toBe(3);
  expect(texts(await b.getHistory({ limit: 1 }))).toEqual(['three']);
  b.close();
});

test('a turn writes only its own records: the cost does not grow with the thread', async () => {
  const s = new FileChatMessageStore({ directory: dir, threadId: 'grow' });
  await s.addMessages([user('x'.repeat(50))]);
  const small = s.lastAppendBytes;
  for (let i = 0; i < 200; i++) await s.addMessages([user(`m${i}`)]);
  const before = (await stat(s.path)).size;
  await s.addMessages([user('x'.repeat(50))]);
  expect(s.lastAppendBytes).toBe(small);
  expect((await stat(s.path)).size - before).toBe(small);
  s.close();
});

test('thread ids differing only in case never share a file, even where file names ignore case', async () => {
  const ids = ['Alice', 'alice', 'ALICE', 'a-B.c_D'];
  for (const threadId of ids) {
    const s = new FileChatMessageStore({ directory: dir, threadId });
    await s.addMessages([user(`I am ${threadId}`)]);
    s.close();
  }
  const names = await readdir(dir);
  expect(names.filter((n) => n.endsWith('.tmlog')).sort()).toEqual(
    ['a-~b.c_~d.tmlog', 'alice.tmlog', '~a~l~i~c~e.tmlog', '~alice.tmlog'].sort(),
  );
  expect(names.join()).toBe(names.join().toLowerCase()); // no two names a case-blind system would confuse
  const store = new FileChatMessageStore({ directory: dir, threadId: 'Alice' });
  expect(await store.listThreads()).toEqual([...ids].sort());
  for (const threadId of ids) {
    const s = new FileChatMessageStore({ directory: dir, threadId });
    expect(texts(await s.listMessages())).toEqual([`I am ${threadId}`]);
    s.close();
  }
  // A file whose name no thread id gives is not listed.
  await writeFile(join(dir, 'Bob.tmlog'), '');
  await writeFile(join(dir, '~.tmlog'), '');
  expect(await store.listThreads()).toEqual([...ids].sort());
  store.close();
});

test("names Windows keeps for devices get a file of their own; an id too long for a file name is refused", async () => {
  const ids = ['con', 'nul.backup', 'com1', 'lpt9', 'aux', 'CON', 'console', 'x'.repeat(128)];
  for (const threadId of ids) {
    const s = new FileChatMessageStore({ directory: dir, threadId });
    await s.addMessages([user(`I am ${threadId}`)]);
    s.close();
  }
  const names = (await readdir(dir)).filter((n) => n.endsWith('.tmlog')).sort();
  expect(names).toEqual(
    ['~_con', '~_nul.backup', '~_com1', '~_lpt9', '~_aux', '~c~o~n', 'console', 'x'.repeat(128)].map((n) => `${n}.tmlog`).sort(),
  );
  const store = new FileChatMessageStore({ directory: dir });
  expect(await store.listThreads()).toEqual([...ids].sort());
  const device = new FileChatMessageStore({ directory: dir, threadId: 'nul.backup' });
  expect(texts(await device.listMessages())).toEqual(['I am nul.backup']);
  device.close();
  // 128 capitals would make a name of 256 characters.
  const capitals = 'A'.repeat(128);
  expect(() => new FileChatMessageStore({ directory: dir, threadId: capitals })).toThrow(
    expect.objectContaining({ code: 'INVALID_ARGUMENT' }),
  );
  expect(await caught(store.deleteThread(capitals))).toMatchObject({ code: 'INVALID_ARGUMENT' });
  expect(await store.listThreads()).toEqual([...ids].sort());
  store.close();
});

test('a reference to a directory or thread no store can have is refused, and the store stays where it was', async () => {
  const store = new FileChatMessageStore({ directory: dir, threadId: 'home' });
  await store.addMessages([user('at home')]);
  const ref = await store.serialize();
  for (const [bad, code] of [
    [{ thread_id: 'A'.repeat(128) }, 'INVALID_ARGUMENT'],
    [{ directory: 'a\0b' }, 'INVALID_FORMAT'],
    [{ directory: 42 }, 'INVALID_FORMAT'],
    [{ directory: '' }, 'INVALID_FORMAT'],
  ]) {
    expect(await caught(store.updateFromState({ ...ref, ...bad }))).toMatchObject({ code });
    expect(store.threadId).toBe('home');
    expect(texts(await store.listMessages())).toEqual(['at home']);
  }
  expect(() => new FileChatMessageStore({ directory: 'a\0b' })).toThrow(expect.objectContaining({ code: 'INVALID_ARGUMENT' }));
  store.close();
});

test('a torn last record is cut off on reopen and appending continues', async () => {
  const a = new FileChatMessageStore({ directory: dir, threadId: 'torn' });
  await a.addMessages([user('kept 1'), user('kept 2')]);
  const good = (await stat(a.path)).size;
  a.close();
  // Half of a record, as a killed process leaves it.
  const c = new FileChatMessageStore({ directory: dir, threadId: 'other' });
  await c.addMessages([user('never acknowledged')]);
  const bytes = await readFile(c.path);
  await appendFile(join(dir, 'torn.tmlog'), bytes.subarray(0, bytes.length - 7));
  c.close();

  const b = new FileChatMessageStore({ directory: dir, threadId: 'torn' });
  expect(texts(await b.listMessages())).toEqual(['kept 1', 'kept 2']);
  expect(b.lastRecovery).toEqual({ tail: 'torn', bytes: bytes.length - 7 });
  expect((await stat(b.path)).size).toBe(good);
  await b.addMessages([user('kept 3')]);
  await b.updateFromState(await b.serialize()); // reconnects: the next read loads the whole thread
  expect(await b.count()).toBe(3);
  expect(b.lastRecovery).toBe(null); // that load repaired nothing
  b.close();
  const d = new FileChatMessageStore({ directory: dir, threadId: 'torn' });
  expect(texts(await d.listMessages())).toEqual(['kept 1', 'kept 2', 'kept 3']);
  d.close();
});

test('a tampered record is reported, never dropped', async () => {
  const a = new FileChatMessageStore({ directory: dir, threadId: 'tamper' });
  await a.addMessages([user('first'), user('second')]);
  a.close();
  const bytes = await readFile(a.path);
  bytes[30] ^= 1; // inside the first record's payload
  await writeFile(a.path, bytes);
  const b = new FileChatMessageStore({ directory: dir, threadId: 'tamper' });
  const err = await caught(b.listMessages());
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('CORRUPT_RECORD');
  // The last record tampered: also reported (not cut like a torn write).
  bytes[30] ^= 1;
  bytes[bytes.length - 3] ^= 1;
  await writeFile(a.path, bytes);
  const c = new FileChatMessageStore({ directory: dir, threadId: 'tamper' });
  expect((await caught(c.listMessages())).code).toBe('CORRUPT_RECORD');
  b.close();
  c.close();
});

test('maxMessages evicts the oldest and compaction keeps the file bounded', async () => {
  const s = new FileChatMessageStore({ directory: dir, threadId: 'max', maxMessages: 3 });
  for (let i = 1; i <= 20; i++) await s.addMessages([user(`m${i}`)]);
  expect(texts(await s.listMessages())).toEqual(['m18', 'm19', 'm20']);
  const size = (await stat(s.path)).size;
  expect(size).toBeLessThan(7 * s.lastAppendBytes);
  s.close();
  const r = new FileChatMessageStore({ directory: dir, threadId: 'max', maxMessages: 3 });
  expect(texts(await r.listMessages())).toEqual(['m18', 'm19', 'm20']);
  await r.addMessages([user('m21')]);
  expect(texts(await r.listMessages())).toEqual(['m19', 'm20', 'm21']);
  expect((await readdir(dir)).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  r.close();
});

test('listThreads, deleteThread, and thread ids that cannot escape', async () => {
  const a = new FileChatMessageStore({ directory: dir, threadId: 'alpha' });
  const b = new FileChatMessageStore({ directory: dir, threadId: 'beta' });
  await a.addMessages([user('a')]);
  await b.addMessages([user('b')]);
  expect(await a.listThreads()).toEqual(['alpha', 'beta']);
  await a.deleteThread('beta');
  expect(await a.listThreads()).toEqual(['alpha']);
  expect(await b.count()).toBe(0);
  for (const bad of ['../alpha', 'a/b', '', '..', 'x'.repeat(129), 'a\0b', 7]) {
    const err = await caught(() => new FileChatMessageStore({ directory: dir, threadId: bad }));
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect((await caught(a.deleteThread(bad))).code).toBe('INVALID_ARGUMENT');
  }
  expect((await caught(() => new FileChatMessageStore({ threadId: 'x' }))).code).toBe('INVALID_ARGUMENT');
  const gen = new FileChatMessageStore({ directory: dir });
  expect(gen.threadId).toMatch(/^[0-9a-f-]{36}$/);
  a.close();
  b.close();
  gen.close();
});

test('an agent writes each turn to the file; a serialized thread reconnects by reference', async () => {
  const factory = () => new FileChatMessageStore({ directory: dir });
  const agent = new ChatAgent({ chatClient: client, chatMessageStoreFactory: factory });
  const thread = agent.getNewThread();
  await agent.run('my name is Frida', { thread });
  const state = await thread.serialize();
  const text = JSON.stringify(state);
  expect(text).toContain('"store_reference"');
  expect(text).not.toContain('Frida');
  expect(state.chat_message_store_state ?? state.store_reference).toMatchObject({
    kind: 'file',
    directory: dir,
    thread_id: thread.messageStore.threadId,
  });

  const agent2 = new ChatAgent({ chatClient: client, chatMessageStoreFactory: factory });
  const resumed = await agent2.deserializeThread(JSON.parse(text));
  const r = await agent2.run("what's my name", { thread: resumed });
  expect(r.text).toBe('Your name is Frida.');
  const reread = new FileChatMessageStore({ directory: dir, threadId: thread.messageStore.threadId });
  expect(await reread.count()).toBe(4);
  // A reference that is not JSON, or not this kind's, changes nothing.
  const refused = [
    ['{"type":', 'INVALID_JSON'],
    ['"x"', 'INVALID_FORMAT'],
    [{ type: 'store_reference', kind: 'redis' }, 'INVALID_FORMAT'],
  ];
  for (const [bad, code] of refused) {
    const err = await reread.updateFromState(bad).catch((e) => e);
    expect(err).toBeInstanceOf(ThreadmemError);
    expect(err.code).toBe(code);
  }
  expect(await reread.count()).toBe(4);
  reread.close();
  agent.close();
  agent2.close();
});

test('a failing write fails the run with a ThreadmemError and leaves the thread as it was', async () => {
  const store = new FileChatMessageStore({ directory: dir, threadId: 'faulty' });
  await store.addMessages([user('before')]);
  const sizeBefore = (await stat(store.path)).size;
  const agent = new ChatAgent({ chatClient: client });
  const thread = agent.getNewThread({ messageStore: store });
  // The backend's one write of a turn, made to fail half way.
  const backend = store._backend;
  const real = backend.appendBytes.bind(backend);
  const boom = new Error('disk on fire');
  backend.appendBytes = async (threadId, bytes) => {
    await appendFile(store.path, bytes.subarray(0, 10)); // half written, then the failure
    throw boom;
  };
  const err = await caught(agent.run('hello', { thread }));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.cause?.cause ?? err.cause).toBe(boom);
  expect((await stat(store.path)).size).toBe(sizeBefore);
  expect(texts(await store.listMessages())).toEqual(['before']);

  backend.appendBytes = real;
  await agent.run('hello', { thread });
  const fresh = new FileChatMessageStore({ directory: dir, threadId: 'faulty' });
  expect(texts(await fresh.listMessages())).toEqual(['before', 'hello', expect.stringMatching(/^Echo: hello/)]);
  fresh.close();
  agent.close();
});

test('two writers on one thread lose nothing and agree on one order', async () => {
  const a = new FileChatMessageStore({ directory: dir, threadId: 'shared' });
  const b = new FileChatMessageStore({ directory: dir, threadId: 'shared' });
  const jobs = [];
  for (let i = 0; i < 15; i++) {
    jobs.push(a.addMessages([user(`a${i}`)]));
    jobs.push(b.addMessages([user(`b${i}`)]));
  }
  await Promise.all(jobs);
  const seenA = texts(await a.listMessages());
  const seenB = texts(await b.listMessages());
  expect(seenA).toHaveLength(30);
  expect(seenB).toEqual(seenA);
  expect(new Set(seenA).size).toBe(30);
  a.close();
  b.close();
});
