// MemoryProvider: the direct API, the provider in an agent against the local
// model (which answers extraction requests from what it receives), recall
// across threads of one user and never across users, aggregation with
// another provider, storage backends, and bad input.

import { afterAll, beforeAll, beforeEach, expect, jest, test } from '@jest/globals';
import {
  ChatAgent,
  ChatMessageStore,
  Context,
  ContextProvider,
  MemoryProvider,
  OpenAIChatClient,
  ThreadmemError,
} from '../../js/index.js';
import { caught, isExtractionRequest, startLLMServer, textOf } from './helpers/llm-server.js';

let llm;
let client;

beforeAll(async () => {
  llm = await startLLMServer();
  client = new OpenAIChatClient({ baseURL: llm.url, apiKey: 'k', model: 'test-model', maxRetries: 0 });
});
afterAll(() => llm.close());
beforeEach(() => llm.reset());

const systemText = (body) => body.messages.filter((m) => m.role === 'system').map(textOf).join('\n');
const chatBodies = () => llm.bodies().filter((b) => !isExtractionRequest(b));
const extractionBodies = () => llm.bodies().filter((b) => isExtractionRequest(b));

// A deterministic embedding: each word adds to one of 16 dimensions.
function bagOfWords(dim = 16) {
  return async (texts) =>
    texts.map((t) => {
      const v = new Float32Array(dim);
      for (const w of t.toLowerCase().match(/\p{L}+/gu) ?? []) {
        let h = 0;
        for (const ch of w) h = (h * 31 + ch.codePointAt(0)) >>> 0;
        v[h % dim] += 1;
      }
      return v;
    });
}

// A key-value storage in a Map, counting its writes.
function mapStorage() {
  const map = new Map();
  return { map, puts: 0, get: async (k) => map.get(k), async put(k, v) { this.puts++; map.set(k, v); } };
}

test('direct API: add, addMany, search, list, update, delete, history, close', async () => {
  const mem = new MemoryProvider({ userId: 'alice', agentId: 'helper' });
  const a = await mem.add('I live in Oslo', { metadata: { source: 'chat' } });
  expect(a).toEqual({
    id: expect.stringMatching(/^[0-9a-f-]{36}$/),
    text: 'I live in Oslo',
    metadata: { source: 'chat' },
    scope: { userId: 'alice', agentId: 'helper' },
    createdAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/),
    updatedAt: a.createdAt,
  });
  const [jazz, dog] = await mem.addMany(['I like jazz', 'My dog is called Rex']);
  expect((await mem.list()).map((r) => r.text)).toEqual(['I live in Oslo', 'I like jazz', 'My dog is called Rex']);
  expect((await mem.list({ metadata: { source: 'chat' } })).map((r) => r.id)).toEqual([a.id]);
  expect(await mem.list({ createdFrom: new Date(Date.now() + 60_000) })).toEqual([]);

  const hits = await mem.search("What's my dog called?");
  expect(hits[0].text).toBe('My dog is called Rex');
  expect(hits[0].score).toBeGreaterThan(0);
  expect((await mem.search('jazz oslo', { topK: 1 })).map((r) => r.id)).toHaveLength(1);
  expect(await mem.search('jazz', { minScore: 1000 })).toEqual([]);

  const moved = await mem.update(a.id, 'I live in Bergen');
  expect(moved.text).toBe('I live in Bergen');
  expect((await mem.search('Bergen')).map((r) => r.id)).toEqual([a.id]);
  expect(await mem.search('Oslo')).toEqual([]);
  await mem.delete(jazz.id);
  expect((await mem.list()).map((r) => r.id)).toEqual([a.id, dog.id]);
  expect((await mem.history(a.id)).map((e) => [e.event, e.oldText, e.newText])).toEqual([
    ['ADD', undefined, 'I live in Oslo'],
    ['UPDATE', 'I live in Oslo', 'I live in Bergen'],
  ]);
  expect((await mem.history(jazz.id)).map((e) => e.event)).toEqual(['ADD', 'DELETE']);
  expect((await caught(mem.delete(jazz.id))).code).toBe('NOT_FOUND');
  expect((await caught(mem.update('nope', 'x'))).code).toBe('NOT_FOUND');

  mem.close();
  mem.close();
  expect((await caught(mem.search('Bergen'))).code).toBe('CLOSED');
});

test('one user never reads, changes or deletes another user\'s memories', async () => {
  const storage = mapStorage();
  const alice = new MemoryProvider({ userId: 'alice', storage });
  const bob = new MemoryProvider({ userId: 'bob', storage });
  const secret = await alice.add('my password hint is purple');
  await bob.add('my favourite colour is purple');
  expect((await bob.search('purple')).map((r) => r.text)).toEqual(['my favourite colour is purple']);
  expect((await alice.search('purple')).map((r) => r.text)).toEqual(['my password hint is purple']);
  expect((await caught(bob.update(secret.id, 'hacked'))).code).toBe('NOT_FOUND');
  expect((await caught(bob.delete(secret.id))).code).toBe('NOT_FOUND');
  expect((await caught(bob.history(secret.id))).code).toBe('NOT_FOUND');
  expect((await alice.list()).map((r) => r.text)).toEqual(['my password hint is purple']);
  // Deleted, the record is still Alice's: its history (which holds its
  // text) is hers alone, here and from storage.
  await alice.delete(secret.id);
  expect((await alice.history(secret.id)).map((e) => e.event)).toEqual(['ADD', 'DELETE']);
  expect((await caught(bob.history(secret.id))).code).toBe('NOT_FOUND');
  const bobAgain = new MemoryProvider({ userId: 'bob', storage });
  expect((await caught(bobAgain.history(secret.id))).code).toBe('NOT_FOUND');
  expect((await caught(bobAgain.forget(secret.id))).code).toBe('NOT_FOUND');
  // Forgotten, nothing of its text is left: not in the index, not in storage.
  expect(storage.map.get('threadmem-memory')).toContain('purple');
  await alice.forget(secret.id);
  expect((await alice.history(secret.id)).map((e) => [e.event, e.oldText, e.newText])).toEqual([
    ['ADD', undefined, undefined],
    ['DELETE', undefined, undefined],
  ]);
  expect(storage.map.get('threadmem-memory')).not.toContain('password hint');
  expect((await bob.list()).map((r) => r.text)).toEqual(['my favourite colour is purple']);
  bobAgain.close();
  alice.close();
  bob.close();
});

test('in an agent: facts of one thread are recalled in a new thread of the same user, never in another user\'s', async () => {
  const storage = mapStorage();
  const warn = jest.fn();
  const aliceMemory = new MemoryProvider({ userId: 'alice', storage, onWarning: warn });
  const alice = new ChatAgent({ chatClient: client, instructions: 'You are helpful.', contextProviders: aliceMemory });

  const r1 = await alice.run('Hello, my name is Alice. I live in Oslo.', { thread: alice.getNewThread() });
  expect(r1.text).toContain('Echo:');
  // One extraction request, structured, with the turn in it.
  const [ex] = extractionBodies();
  expect(ex.response_format).toEqual({ type: 'json_object' });
  expect(ex.model).toBe('test-model');
  expect(textOf(ex.messages.at(-1))).toContain('Hello, my name is Alice. I live in Oslo.');
  expect((await aliceMemory.list()).map((r) => r.text)).toEqual(['my name is Alice', 'I live in Oslo']);

  // A new thread of the same user: the memory reaches the model.
  llm.reset();
  const fresh = alice.getNewThread();
  expect((await alice.run("What's my name?", { thread: fresh })).text).toBe('Your name is Alice.');
  const sys = systemText(chatBodies()[0]);
  expect(sys).toContain('You are helpful.');
  expect(sys).toContain('## Memories');
  expect(sys).toContain('- my name is Alice');
  // The memory is context for the call, not history of the thread.
  expect((await fresh.messageStore.listMessages()).map((m) => m.text)).toEqual(["What's my name?", 'Your name is Alice.']);

  // Another user, the same storage: nothing of Alice's.
  const bobMemory = new MemoryProvider({ userId: 'bob', storage, onWarning: warn });
  const bob = new ChatAgent({ chatClient: client, contextProviders: [bobMemory] });
  llm.reset();
  expect((await bob.run("What's my name?", { thread: bob.getNewThread() })).text).toBe("I don't know your name.");
  expect(systemText(chatBodies()[0])).not.toContain('Alice');

  // An update in conversation replaces the fact, with its history.
  await alice.run('Actually, my name is Alicia.', { thread: alice.getNewThread() });
  const names = (await aliceMemory.list()).filter((r) => r.text.startsWith('my name'));
  expect(names.map((r) => r.text)).toEqual(['my name is Alicia']);
  expect((await aliceMemory.history(names[0].id)).map((e) => e.event)).toEqual(['ADD', 'UPDATE']);
  expect((await alice.run("What's my name?", { thread: alice.getNewThread() })).text).toBe('Your name is Alicia.');

  // And a request to forget deletes it.
  await alice.run('Forget that I live in Oslo.', { thread: alice.getNewThread() });
  expect((await aliceMemory.list()).map((r) => r.text)).toEqual(['my name is Alicia']);
  expect(warn).not.toHaveBeenCalled();
  for (const x of [alice, bob, aliceMemory, bobMemory]) x.close();
});

test('scopeToPerOperationThreadId keeps memories to the thread they were told in', async () => {
  const mem = new MemoryProvider({ userId: 'alice', scopeToPerOperationThreadId: true });
  const agent = new ChatAgent({ chatClient: client, contextProviders: mem });
  const t1 = agent.getNewThread();
  await agent.run('my name is Ann.', { thread: t1 });
  expect((await agent.run("what's my name?", { thread: t1 })).text).toBe('Your name is Ann.');
  expect((await agent.run("what's my name?", { thread: agent.getNewThread() })).text).toBe("I don't know your name.");
  // A thread is known by its store's id, which a resumed thread keeps (here
  // without its history, so that only memory can recall the name).
  const ann = () => agent.getNewThread({ messageStore: new ChatMessageStore({ threadId: 'ann' }) });
  await agent.run('my name is Ann.', { thread: ann() });
  expect((await agent.run("what's my name?", { thread: ann() })).text).toBe('Your name is Ann.');
  agent.close();
  mem.close();
});

test('aggregation: memory and a custom provider on one agent, in order', async () => {
  const log = [];
  class Custom extends ContextProvider {
    async invoking() {
      log.push('custom:invoking');
      return new Context({ instructions: 'Custom rule.' });
    }
    async invoked() {
      log.push('custom:invoked');
    }
  }
  const mem = new MemoryProvider({ userId: 'u', extract: 'none' });
  await mem.add('my name is Carla');
  const origInvoking = mem.invoking.bind(mem);
  const origInvoked = mem.invoked.bind(mem);
  mem.invoking = async (...a) => (log.push('memory:invoking'), origInvoking(...a));
  mem.invoked = async (...a) => (log.push('memory:invoked'), origInvoked(...a));
  const agent = new ChatAgent({ chatClient: client, instructions: 'Base.', contextProviders: [mem, new Custom()] });
  expect((await agent.run("what's my name?")).text).toBe('Your name is Carla.');
  expect(log).toEqual(['memory:invoking', 'custom:invoking', 'memory:invoked', 'custom:invoked']);
  const sys = systemText(llm.last().body);
  expect(sys.indexOf('- my name is Carla')).toBeLessThan(sys.indexOf('Custom rule.'));
  expect(sys.indexOf('Base.')).toBeLessThan(sys.indexOf('## Memories'));
  // extract: 'none' sends no extraction request.
  expect(extractionBodies()).toHaveLength(0);
  agent.close();
  mem.close();
});

test('hybrid search with an embed function: vectors for the records and the query, scores in [0, 1]', async () => {
  const embed = jest.fn(bagOfWords());
  const mem = new MemoryProvider({ userId: 'u', embed, topK: 2 });
  await mem.addMany(['Rex is a golden retriever', 'I drink green tea every morning']);
  expect(embed).toHaveBeenCalledWith(['Rex is a golden retriever', 'I drink green tea every morning']);
  const [best] = await mem.search('golden retriever');
  expect(best.text).toBe('Rex is a golden retriever');
  const tea = await mem.search('tea');
  expect(tea[0].text).toBe('I drink green tea every morning');
  expect(tea[0].score).toBeLessThanOrEqual(1);
  mem.close();

  // In an agent, a run embeds its query once: its extraction searches with
  // the vector its invoking made.
  embed.mockClear();
  const inAgent = new MemoryProvider({ userId: 'u', embed });
  const agent = new ChatAgent({ chatClient: client, contextProviders: inAgent });
  await agent.run('Hello, my name is Alice.');
  const queries = embed.mock.calls.filter(([texts]) => texts.includes('Hello, my name is Alice.'));
  expect(queries).toHaveLength(1);
  agent.close();
  inAgent.close();
});

test('storage: a key-value backend and a message store keep the index across providers', async () => {
  const kv = mapStorage();
  const one = new MemoryProvider({ userId: 'u', storage: kv, storageKey: 'mem' });
  const rec = await one.add('I work at Contoso');
  expect(JSON.parse(kv.map.get('mem'))).toMatchObject({ type: 'memory_index', version: 1 });
  const two = new MemoryProvider({ userId: 'u', storage: kv, storageKey: 'mem' });
  expect((await two.search('Contoso')).map((r) => r.id)).toEqual([rec.id]);
  await two.update(rec.id, 'I work at Fabrikam');
  expect((await one.search('Fabrikam')).map((r) => r.id)).toEqual([rec.id]);
  // Reads write nothing.
  const puts = kv.puts;
  await one.search('work');
  await one.list();
  expect(kv.puts).toBe(puts);

  const store = new ChatMessageStore({ maxMessages: 2 });
  const viaStore = new MemoryProvider({ userId: 'u', storage: store });
  await viaStore.add('I have two cats');
  await viaStore.add('I play the cello');
  const reader = new MemoryProvider({ userId: 'u', storage: store });
  expect((await reader.list()).map((r) => r.text)).toEqual(['I have two cats', 'I play the cello']);
  for (const p of [one, two, viaStore, reader]) p.close();
  store.close();
});

test('several snapshot keys in one message store: each provider reads its own', async () => {
  const store = new ChatMessageStore();
  const alice = new MemoryProvider({ userId: 'alice', storage: store, storageKey: 'mem-alice' });
  const bob = new MemoryProvider({ userId: 'bob', storage: store, storageKey: 'mem-bob' });
  await alice.add('Alice likes tea');
  await bob.add('Bob likes coffee'); // now the newest message is Bob's snapshot
  await store.addMessages([{ role: 'user', text: 'not a snapshot' }]);
  const restarted = new MemoryProvider({ userId: 'alice', storage: store, storageKey: 'mem-alice' });
  expect((await restarted.list()).map((r) => r.text)).toEqual(['Alice likes tea']);
  await restarted.add('Alice has a cat');
  expect((await alice.list()).map((r) => r.text)).toEqual(['Alice likes tea', 'Alice has a cat']);
  expect((await bob.list()).map((r) => r.text)).toEqual(['Bob likes coffee']);
  for (const p of [alice, bob, restarted]) p.close();
  store.close();
});

test("a message store of one's own gets ChatMessages, and may give back what it kept or its JSON", async () => {
  for (const keep of [(m) => m, (m) => m.toJSON(), (m) => JSON.parse(JSON.stringify(m))]) {
    const kept = [];
    const store = {
      addMessages: async (messages) => kept.push(...messages.map((m) => keep(m))), // m.toJSON(): a ChatMessage
      listMessages: async () => kept,
    };
    const writer = new MemoryProvider({ userId: 'u', storage: store });
    await writer.add('I grow tomatoes');
    const reader = new MemoryProvider({ userId: 'u', storage: store });
    expect((await reader.list()).map((r) => r.text)).toEqual(['I grow tomatoes']);
    for (const p of [writer, reader]) p.close();
  }
});

// A chat client whose extraction answer is these decisions.
const deciding = (memories) => ({
  getResponse: async () => JSON.stringify({ choices: [{ message: { content: JSON.stringify({ memories }) } }] }),
});
const turn = (text) => [[{ role: 'user', text }], [{ role: 'assistant', text: 'noted' }]];

test('an extraction is applied whole or not at all; a second decision on one memory is skipped', async () => {
  const warn = jest.fn();
  const kv = mapStorage();
  const mem = new MemoryProvider({ userId: 'u', storage: kv, onWarning: warn });
  await mem.add('I like tea');
  await mem.add('I live in Paris');
  const texts = async (provider) => (await provider.list()).map((r) => r.text).sort();
  const ids = async () => new Map((await mem.search('tea Paris', { topK: 10 })).map((r, i) => [r.text, String(i + 1)]));

  // The second decision fails in the core (a text over the limit) after the
  // first was applied: neither stays, in memory or in storage.
  let id = await ids();
  await mem.invoked(...turn('I no longer like tea, and I moved'), {
    chatClient: deciding([
      { event: 'DELETE', id: id.get('I like tea') },
      { event: 'UPDATE', id: id.get('I live in Paris'), text: 'x'.repeat(16 * 1024 + 1) },
    ]),
  });
  expect(warn.mock.calls.map((c) => c[0]).join('\n')).toMatch(/extraction failed/);
  expect(await texts(mem)).toEqual(['I like tea', 'I live in Paris']);
  expect(await texts(new MemoryProvider({ userId: 'u', storage: kv }))).toEqual(['I like tea', 'I live in Paris']);

  // A memory deleted twice, or deleted then updated: the repeat is skipped,
  // the rest of the extraction applied.
  warn.mockClear();
  id = await ids();
  await mem.invoked(...turn('I no longer like tea, I moved to Rome'), {
    chatClient: deciding([
      { event: 'DELETE', id: id.get('I like tea') },
      { event: 'DELETE', id: id.get('I like tea') },
      { event: 'UPDATE', id: id.get('I like tea'), text: 'I like coffee' },
      { event: 'ADD', text: 'I live in Rome' },
    ]),
  });
  expect(warn.mock.calls.map((c) => c[0])).toEqual([
    expect.stringMatching(/second DELETE/),
    expect.stringMatching(/second UPDATE/),
  ]);
  expect(await texts(mem)).toEqual(['I live in Paris', 'I live in Rome']);
  expect(await texts(new MemoryProvider({ userId: 'u', storage: kv }))).toEqual(['I live in Paris', 'I live in Rome']);
  mem.close();
});

// A chat client whose extraction answer waits for `open()`.
function heldDecision(memories) {
  let open;
  let asked;
  const opened = new Promise((resolve) => (open = resolve));
  const askedP = new Promise((resolve) => (asked = resolve));
  const chatClient = {
    async getResponse() {
      asked();
      await opened;
      return JSON.stringify({ choices: [{ message: { content: JSON.stringify({ memories }) } }] });
    },
  };
  return { chatClient, asked: askedP, open };
}

test('an extraction holds the provider only to read and to apply: searches and changes go on while the model decides', async () => {
  const warn = jest.fn();
  const mem = new MemoryProvider({ userId: 'u', storage: mapStorage(), onWarning: warn });
  await mem.add('I like tea');
  await mem.add('I live in Paris');
  const said = 'I like green tea, I left Paris, and I have a cat';
  // The facts as the extraction will show them to the model: "1", "2".
  const [first, second] = await mem.search(said, { topK: 10 });
  const held = heldDecision([
    { event: 'UPDATE', id: '1', text: 'I like green tea' },
    { event: 'DELETE', id: '2' },
    { event: 'ADD', text: 'I have a cat' },
  ]);
  const extraction = mem.invoked(...turn(said), held);
  await held.asked;
  // Meanwhile (the model is deciding), the provider answers and changes.
  expect((await mem.search('Paris')).map((r) => r.text)).toEqual(['I live in Paris']);
  await mem.update(first.id, 'I like coffee');
  held.open();
  await extraction;
  // The decision about the fact changed meanwhile is skipped; the rest applies.
  expect(warn.mock.calls.map((c) => c[0])).toEqual([expect.stringMatching(/UPDATE of a memory changed meanwhile/)]);
  expect((await mem.list()).map((r) => [r.id, r.text])).toEqual([
    [first.id, 'I like coffee'],
    [expect.any(String), 'I have a cat'],
  ]);
  expect((await mem.list()).map((r) => r.id)).not.toContain(second.id);
  mem.close();
});

test('providers of one process sharing a storage object never write over each other', async () => {
  const kv = mapStorage();
  const a = new MemoryProvider({ userId: 'u', storage: kv });
  const b = new MemoryProvider({ userId: 'u', storage: kv });
  await Promise.all([a.add('my name is Alice'), b.add('I live in Paris'), a.add('I like tea')]);
  const held = heldDecision([{ event: 'ADD', text: 'I work at ACME' }]);
  const extraction = a.invoked(...turn('I work at ACME'), held);
  await held.asked;
  await b.add('I have a cat'); // while a's extraction waits for the model
  held.open();
  await extraction;
  const all = ['I have a cat', 'I like tea', 'I live in Paris', 'I work at ACME', 'my name is Alice'];
  for (const p of [a, b, new MemoryProvider({ userId: 'u', storage: kv })]) {
    expect((await p.list()).map((r) => r.text).sort()).toEqual(all);
  }
  a.close();
  b.close();
});

test('an abort while the new facts are embedded takes the lesson back', async () => {
  const controller = new AbortController();
  const embed = bagOfWords();
  const mem = new MemoryProvider({
    userId: 'u',
    embed: async (texts) => {
      if (texts.includes('I have a cat')) controller.abort(); // the run is aborted meanwhile
      return embed(texts);
    },
  });
  await mem.invoked(...turn('I adopted a cat'), {
    chatClient: deciding([{ event: 'ADD', text: 'I have a cat' }]),
    signal: controller.signal,
  });
  expect(await mem.list()).toEqual([]);
  mem.close();
});

test('a storage write that fails changes nothing and is a STORAGE_ERROR with its cause', async () => {
  const kv = mapStorage();
  const mem = new MemoryProvider({ userId: 'u', storage: kv });
  await mem.add('first fact');
  const boom = new Error('disk full');
  kv.put = async () => {
    throw boom;
  };
  const err = await caught(mem.add('second fact'));
  expect(err).toBeInstanceOf(ThreadmemError);
  expect(err.code).toBe('STORAGE_ERROR');
  expect(err.cause).toBe(boom);
  expect((await mem.list()).map((r) => r.text)).toEqual(['first fact']);
  mem.close();
});

test('bad input: embed that throws or returns the wrong dimension, over-long text, empty query, bad options', async () => {
  const boom = new Error('embedding service down');
  const failing = new MemoryProvider({ userId: 'u', embed: async () => { throw boom; } });
  let err = await caught(failing.add('x'));
  expect(err.code).toBe('EMBEDDING_ERROR');
  expect(err.cause).toBe(boom);
  expect(await failing.list()).toEqual([]);
  failing.close();

  let dim = 8;
  const shifting = new MemoryProvider({ userId: 'u', embed: async (texts) => texts.map(() => new Float32Array(dim).fill(1)) });
  await shifting.add('first');
  dim = 4;
  err = await caught(shifting.add('second'));
  expect(err.code).toBe('DIMENSION_MISMATCH');
  expect(err.cause).toBeInstanceOf(ThreadmemError);
  expect(err.cause.code).toBe('DIMENSION_MISMATCH');
  err = await caught(shifting.search('first'));
  expect(err.code).toBe('DIMENSION_MISMATCH');
  expect((await shifting.list()).map((r) => r.text)).toEqual(['first']);
  shifting.close();

  const wrongCount = new MemoryProvider({ userId: 'u', embed: async () => [] });
  expect((await caught(wrongCount.add('x'))).code).toBe('EMBEDDING_ERROR');
  wrongCount.close();

  const mem = new MemoryProvider({ userId: 'u' });
  err = await caught(mem.add('x'.repeat(16 * 1024 + 1)));
  expect(err.code).toBe('LIMIT_EXCEEDED');
  expect(err.message).toContain('TM_MAX_MEMORY_TEXT_BYTES');
  await mem.add('y'.repeat(16 * 1024));
  for (const q of ['', '   ', '?!…']) expect((await caught(mem.search(q))).code).toBe('EMPTY_QUERY');
  expect((await caught(mem.add('   '))).code).toBe('INVALID_ARGUMENT');
  expect((await caught(mem.search('y', { topK: 0 }))).code).toBe('INVALID_ARGUMENT');
  expect((await caught(mem.list({ createdFrom: 'yesterday' }))).code).toBe('INVALID_FORMAT');
  expect((await caught(mem.invoking('not messages'))).code).toBe('INVALID_ARGUMENT');
  mem.close();

  expect(() => new MemoryProvider()).toThrow(ThreadmemError);
  expect(() => new MemoryProvider({ userId: 'u', extract: 'maybe' })).toThrow(/extract/);
  expect(() => new MemoryProvider({ userId: 'u', storage: {} })).toThrow(/storage/);
  expect(() => new MemoryProvider({ userId: 5 })).toThrow(/userId/);
});

test('a malformed extraction response is ignored with a warning; the run and its turn stand', async () => {
  const warn = jest.fn();
  const mem = new MemoryProvider({ userId: 'u', onWarning: warn });
  const agent = new ChatAgent({ chatClient: client, contextProviders: mem });
  const thread = agent.getNewThread();
  const bad = [
    { raw: 'not json at all' },
    { text: 'Sure! Here are the memories: none' },
    { text: JSON.stringify({ facts: ['x'] }) },
    { text: JSON.stringify({ memories: [{ event: 'EXPLODE' }] }) },
    { text: JSON.stringify({ memories: [{ event: 'UPDATE', id: '99', text: 'my name is Eve' }] }) },
    { status: 500, error: 'extraction backend down' },
  ];
  for (const entry of bad) {
    llm.script({ ...entry, when: (body) => isExtractionRequest(body) });
    const r = await agent.run('my name is Dora.', { thread });
    expect(r.text).toContain('Echo: my name is Dora.');
  }
  expect(warn).toHaveBeenCalledTimes(bad.length);
  expect(warn.mock.calls.map((c) => c[0]).join('\n')).toMatch(/not JSON[\s\S]*not JSON[\s\S]*memories[\s\S]*entry[\s\S]*unknown memory id[\s\S]*HTTP 500/);
  expect(await mem.list()).toEqual([]);
  // Every turn is in the thread.
  expect(await thread.messageStore.count()).toBe(2 * bad.length);
  // Console is the default warning sink.
  const spy = jest.spyOn(console, 'warn').mockImplementation(() => {});
  const quiet = new MemoryProvider({ userId: 'u' });
  llm.script({ raw: '{', when: (body) => isExtractionRequest(body) });
  await new ChatAgent({ chatClient: client, contextProviders: quiet }).run('my name is Dora.');
  expect(spy).toHaveBeenCalledTimes(1);
  spy.mockRestore();
  agent.close();
  mem.close();
  quiet.close();
});

test('an id with a NUL in it names no memory: INVALID_ARGUMENT, never the memory before the NUL', async () => {
  const mem = new MemoryProvider({ userId: 'u' });
  const { id } = await mem.add('I like tea');
  const cut = `${id}\0x`;
  for (const call of [() => mem.update(cut, 'I like coffee'), () => mem.delete(cut), () => mem.forget(cut), () => mem.history(cut)]) {
    expect((await caught(call)).code).toBe('INVALID_ARGUMENT');
  }
  expect((await mem.list()).map((r) => r.text)).toEqual(['I like tea']);
  expect((await mem.history(id)).map((e) => e.event)).toEqual(['ADD']);
  mem.close();
});
