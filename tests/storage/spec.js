// One storage spec for every persistent backend: the same cases run against
// the file and Redis stores in Node (tests/js/storage-spec.test.js) and
// against IndexedDB and localStorage in Chromium (tests/e2e/storage.e2e.js).
//
// A case gets a backend harness made fresh for it (its own directory, key
// prefix or database):
//   kind                  the `kind` of the store's serialized reference
//   lib                   the package's exports, as a user imports them
//   open(options)         a new store of this backend ({ threadId, maxMessages })
//   tamper(id, which)     flips one byte inside the 'first' or 'last' record of
//                         a thread, where the backend keeps it
//   seqRange(id)          { first, last }: the sequence numbers of the records
//                         the backend holds for the thread, read from storage
//   snapshot(id)          the thread's raw stored form, as JSON-safe data
//   rawBytes(id)          the bytes the backend keeps for the thread (a file, the
//                         list entries, the values, the items), base64 undone
//   copyThread(from, to)  copies a thread's stored form, as is, to another id
//   openFaulty(options, plan)  a store like open()'s whose storage operations
//                         go through instrument() (faults.js) with `plan`
//   dispose()             closes the stores open() made, removes what the case left

import { equal, ok, rejects } from './assert.js';
import { causedBy, faultPlan } from './faults.js';

const texts = (msgs) => msgs.map((m) => m.text);

/** Wraps a harness's open(options): what it opens, and what track(store)
 *  is given, closeAll() closes. */
export function tracked(open) {
  const stores = [];
  return {
    open(options) {
      const s = open(options);
      stores.push(s);
      return s;
    },
    track(s) {
      stores.push(s);
      return s;
    },
    closeAll: async () => {
      for (const s of stores) await s.close();
    },
  };
}

async function closeAll(...stores) {
  for (const s of stores) await s.close();
}

export const cases = [
  {
    name: 'messages come back in order, with their stamped ids, from a new instance',
    async run(b) {
      const { ChatMessage } = b.lib;
      const a = b.open({ threadId: 'order' });
      await a.addMessages([new ChatMessage('user', 'one'), { role: 'assistant', text: 'two' }]);
      await a.addMessages(new ChatMessage('user', 'three', { metadata: { k: 1 } }));
      const before = await a.listMessages();
      equal(texts(before), ['one', 'two', 'three'], 'listed');
      ok(typeof before[0].messageId === 'string' && before[0].messageId.length > 0, 'ids are stamped');
      const r = b.open({ threadId: 'order' });
      equal((await r.listMessages()).map((m) => m.toJSON()), before.map((m) => m.toJSON()), 'reopened');
      equal(await r.count(), 3, 'count');
      equal(texts(await r.getHistory({ limit: 2 })), ['two', 'three'], 'getHistory limit');
      equal(texts(await r.getHistory({ roles: ['user'] })), ['one', 'three'], 'getHistory roles');
      await closeAll(a, r);
    },
  },
  {
    name: 'sequence numbers continue across instances and stay contiguous',
    async run(b) {
      const a = b.open({ threadId: 'seq' });
      for (const t of ['s1', 's2', 's3']) await a.addMessages([{ role: 'user', text: t }]);
      const c = b.open({ threadId: 'seq' });
      await c.addMessages([{ role: 'user', text: 's4' }, { role: 'assistant', text: 's5' }]);
      await a.addMessages([{ role: 'user', text: 's6' }]); // a catches up with c's turn first
      equal(await b.seqRange('seq'), { first: 1, last: 6 }, 'stored sequence numbers');
      const r = b.open({ threadId: 'seq' });
      equal(texts(await r.listMessages()), ['s1', 's2', 's3', 's4', 's5', 's6'], 'reopened');
      equal(texts(await c.listMessages()), ['s1', 's2', 's3', 's4', 's5', 's6'], 'the other writer');
      await closeAll(a, c, r);
    },
  },
  {
    name: 'maxMessages evicts the oldest messages, in storage too',
    async run(b) {
      const s = b.open({ threadId: 'max', maxMessages: 3 });
      for (let i = 1; i <= 9; i++) await s.addMessages([{ role: 'user', text: `m${i}` }]);
      equal(texts(await s.listMessages()), ['m7', 'm8', 'm9'], 'kept');
      const range = await b.seqRange('max');
      equal(range.last, 9, 'newest stored seq');
      ok(range.last - range.first + 1 <= 6, `storage holds at most twice maxMessages (${JSON.stringify(range)})`);
      const r = b.open({ threadId: 'max', maxMessages: 3 });
      equal(texts(await r.listMessages()), ['m7', 'm8', 'm9'], 'reopened');
      await r.addMessages([{ role: 'user', text: 'm10' }]);
      equal(texts(await s.listMessages()), ['m8', 'm9', 'm10'], 'the first instance catches up');
      equal((await b.seqRange('max')).last, 10, 'seq after reopening');
      await closeAll(s, r);
    },
  },
  {
    name: 'maxTokens evicts the oldest messages by their tokens, as the in-memory store does, in storage too',
    async run(b) {
      const { ChatMessageStore, Tokenizer } = b.lib;
      await Tokenizer.load('o200k_base');
      const limits = { maxTokens: 40, encoding: 'o200k_base' };
      const s = b.open({ threadId: 'maxtok', ...limits });
      const memory = new ChatMessageStore(limits);
      for (let i = 1; i <= 12; i++) {
        const turn = [{ role: 'user', text: `message number ${i} of this thread` }];
        await s.addMessages(turn);
        await memory.addMessages(turn);
      }
      const kept = texts(await s.listMessages());
      equal(kept, texts(await memory.listMessages()), 'kept, as in memory');
      ok(kept.length > 0 && kept.length < 12, `some evicted (${kept.length} kept)`);
      equal(s.maxTokens, 40, 'maxTokens');
      const range = await b.seqRange('maxtok');
      equal(range.last, 12, 'newest stored seq');
      ok(range.last - range.first + 1 <= 2 * kept.length + 1, `storage stays bounded (${JSON.stringify(range)})`);
      const r = b.open({ threadId: 'maxtok', ...limits });
      equal(texts(await r.listMessages()), kept, 'reopened');
      memory.close();
      await closeAll(s, r);
    },
  },
  {
    name: 'getContextWindow is fitWindow over what storage holds, the turns of another instance included',
    async run(b) {
      const { ChatMessage, fitWindow } = b.lib;
      const s = b.open({ threadId: 'window' });
      const other = b.open({ threadId: 'window' });
      for (let i = 1; i <= 6; i++) {
        const turn = [new ChatMessage('user', `question ${i} about the weather`), new ChatMessage('assistant', `answer ${i}: sunny`)];
        await (i % 2 ? s : other).addMessages(turn);
      }
      const options = { maxTokens: 60, encoding: 'estimate' };
      const win = await s.getContextWindow(options);
      const expected = await fitWindow(await s.listMessages(), options);
      equal(texts(win.messages), texts(expected.messages), 'the messages fitWindow keeps');
      equal(texts(win.dropped), texts(expected.dropped), 'the messages fitWindow drops');
      equal(win.tokens, expected.tokens, 'their tokens');
      ok(win.messages.length > 0 && win.dropped.length > 0, `some kept, some dropped (${win.messages.length} kept)`);
      equal(texts(win.messages).at(-1), 'answer 6: sunny', "the other instance's last turn");
      await closeAll(s, other);
    },
  },
  {
    name: "a run sends the history storage holds (another instance's turns included) without listing it, and stores its turn",
    async run(b) {
      const { ChatAgent, ChatMessage } = b.lib;
      const requests = [];
      const getResponse = async (body) => {
        requests.push(typeof body === 'string' ? JSON.parse(body) : body);
        const message = { role: 'assistant', content: `answer ${requests.length}` };
        return JSON.stringify({ id: 'r', object: 'chat.completion', choices: [{ index: 0, message, finish_reason: 'stop' }] });
      };
      const agent = new ChatAgent({ chatClient: { getResponse } });
      const s = b.open({ threadId: 'agent' });
      const other = b.open({ threadId: 'agent' });
      const thread = agent.getNewThread({ messageStore: s });
      await agent.run('question 1', { thread });
      await other.addMessages([new ChatMessage('user', 'from elsewhere'), new ChatMessage('assistant', 'noted')]);
      let listed = 0;
      const list = s.listMessages;
      s.listMessages = function () {
        listed += 1;
        return list.call(this);
      };
      await agent.run('question 2', { thread });
      equal(listed, 0, 'the history was read in place');
      const sent = requests[1].messages.map((m) => m.content);
      equal(sent, ['question 1', 'answer 1', 'from elsewhere', 'noted', 'question 2'], 'the history sent');
      const all = ['question 1', 'answer 1', 'from elsewhere', 'noted', 'question 2', 'answer 2'];
      equal(texts(await other.listMessages()), all, 'the turn stored once, after the other one');
      agent.close();
      await closeAll(s, other);
    },
  },
  {
    name: 'tool-call groups are evicted whole, as the in-memory store evicts them',
    async run(b) {
      const { ChatMessage, ChatMessageStore } = b.lib;
      const turn = (i) => [
        new ChatMessage('user', `q${i}`),
        new ChatMessage('assistant', [{ type: 'function_call', call_id: `c${i}`, name: 'lookup', arguments: '{}' }]),
        new ChatMessage('tool', [{ type: 'function_result', call_id: `c${i}`, result: `r${i}` }]),
        new ChatMessage('assistant', `a${i}`),
      ];
      const s = b.open({ threadId: 'tools', maxMessages: 5 });
      const reference = new ChatMessageStore({ maxMessages: 5 });
      const shape = (msgs) => msgs.map((m) => `${m.role}:${m.text || m.contents[0].call_id}`);
      for (let i = 1; i <= 4; i++) {
        await s.addMessages(turn(i));
        await reference.addMessages(turn(i));
        equal(shape(await s.listMessages()), shape(await reference.listMessages()), `after turn ${i}`);
      }
      ok((await s.listMessages())[0].role !== 'tool', 'never starts with a tool result');
      const r = b.open({ threadId: 'tools', maxMessages: 5 });
      equal(shape(await r.listMessages()), shape(await reference.listMessages()), 'reopened');
      reference.close();
      await closeAll(s, r);
    },
  },
  {
    name: 'clear empties the thread, leaves the others, and the thread can start again',
    async run(b) {
      const a = b.open({ threadId: 'clear-me' });
      const other = b.open({ threadId: 'keep-me' });
      await a.addMessages([{ role: 'user', text: 'gone' }]);
      await other.addMessages([{ role: 'user', text: 'kept' }]);
      await a.clear();
      equal(await a.count(), 0, 'count after clear');
      equal(await b.open({ threadId: 'clear-me' }).count(), 0, 'a new instance sees it empty');
      equal(await a.listThreads(), ['keep-me'], 'listThreads');
      await a.addMessages([{ role: 'user', text: 'again' }]);
      equal(texts(await b.open({ threadId: 'clear-me' }).listMessages()), ['again'], 'after starting again');
      equal(texts(await other.listMessages()), ['kept'], 'the other thread');
      await closeAll(a, other);
    },
  },
  {
    name: 'listThreads and deleteThread keep threads apart, even with similar ids',
    async run(b) {
      const ids = ['a', 'a-b', 'a.b', 'a_b', 'ab', 'b'];
      const stores = ids.map((threadId) => b.open({ threadId }));
      for (const [i, s] of stores.entries()) await s.addMessages([{ role: 'user', text: `in ${ids[i]}` }]);
      equal(await stores[0].listThreads(), [...ids].sort(), 'listThreads');
      await stores[5].deleteThread('a');
      equal(await stores[5].listThreads(), ids.slice(1).sort(), 'after deleteThread');
      equal(await stores[0].count(), 0, 'the deleted thread');
      for (const [i, s] of stores.entries()) {
        if (i) equal(texts(await b.open({ threadId: ids[i] }).listMessages()), [`in ${ids[i]}`], ids[i]);
        else equal(await s.count(), 0, 'deleted');
      }
      await stores[0].deleteThread('never-was'); // deleting nothing is not an error
      await closeAll(...stores);
    },
  },
  {
    name: 'serialize() is a reference and deserializeThread reconnects to the thread',
    async run(b) {
      const { ChatAgent, OpenAIChatClient } = b.lib;
      // The agent never calls the model here; the client only makes it valid.
      const chatClient = new OpenAIChatClient({ baseURL: 'http://127.0.0.1:9/v1', apiKey: 'unused', model: 'unused' });
      const factory = () => b.open({});
      const agent = new ChatAgent({ chatClient, chatMessageStoreFactory: factory });
      const thread = agent.getNewThread();
      await thread.messageStore.addMessages([{ role: 'user', text: 'my name is Frida' }, { role: 'assistant', text: 'hi Frida' }]);
      const state = await thread.serialize();
      const text = JSON.stringify(state);
      ok(!text.includes('Frida'), 'the state holds no message');
      const ref = state.chat_message_store_state;
      equal([ref.type, ref.kind, ref.thread_id], ['store_reference', b.kind, thread.messageStore.threadId], 'reference');
      const agent2 = new ChatAgent({ chatClient, chatMessageStoreFactory: factory });
      const resumed = await agent2.deserializeThread(JSON.parse(text));
      equal(resumed.messageStore.threadId, thread.messageStore.threadId, 'same thread');
      equal(texts(await resumed.messageStore.listMessages()), ['my name is Frida', 'hi Frida'], 'resumed');
      await resumed.messageStore.addMessages([{ role: 'user', text: 'and again' }]);
      equal(await b.open({ threadId: thread.messageStore.threadId }).count(), 3, 'stored after resuming');
      equal(texts(await thread.messageStore.listMessages()).at(-1), 'and again', 'the first store catches up');
      await closeAll(thread.messageStore, resumed.messageStore);
      agent.close();
      agent2.close();
    },
  },
  {
    name: 'two instances appending to one thread at once lose nothing and agree on one order',
    async run(b) {
      const a = b.open({ threadId: 'shared' });
      const c = b.open({ threadId: 'shared' });
      const jobs = [];
      for (let i = 0; i < 12; i++) {
        jobs.push(a.addMessages([{ role: 'user', text: `a${i}` }]));
        jobs.push(c.addMessages([{ role: 'user', text: `c${i}` }, { role: 'assistant', text: `c${i}'` }]));
      }
      await Promise.all(jobs);
      const seenA = texts(await a.listMessages());
      equal(seenA.length, 36, 'count');
      equal(new Set(seenA).size, 36, 'no duplicates');
      equal(texts(await c.listMessages()), seenA, 'both instances agree');
      equal(texts(await b.open({ threadId: 'shared' }).listMessages()), seenA, 'a new instance agrees');
      const mine = (p) => seenA.filter((t) => t.startsWith(p) && !t.endsWith("'"));
      equal(mine('a'), Array.from({ length: 12 }, (_, i) => `a${i}`), "a's turns in order");
      equal(mine('c'), Array.from({ length: 12 }, (_, i) => `c${i}`), "c's turns in order");
      ok(seenA.every((t, i) => !t.endsWith("'") || seenA[i - 1] === t.slice(0, -1)), 'a turn stays together');
      equal(await b.seqRange('shared'), { first: 1, last: 36 }, 'stored sequence numbers');
      await closeAll(a, c);
    },
  },
  {
    name: 'another instance deleting the thread and writing it again, even to the same size, or evicting, is seen whole',
    async run(b) {
      const a = b.open({ threadId: 'again' });
      const c = b.open({ threadId: 'again' });
      await a.addMessages([{ role: 'user', text: 'hi' }]);
      equal(texts(await c.listMessages()), ['hi'], 'c has read it');
      await a.deleteThread('again');
      await a.addMessages([{ role: 'user', text: 'yo' }]); // stored in as many bytes as 'hi'
      equal(texts(await c.listMessages()), ['yo'], 'written again to the same size');
      await a.deleteThread('again');
      await a.addMessages([{ role: 'user', text: 'a longer first message' }, { role: 'user', text: 'and a second' }]);
      equal(texts(await c.listMessages()), ['a longer first message', 'and a second'], 'written again, longer');
      await c.addMessages([{ role: 'user', text: 'from c' }]);
      const all = ['a longer first message', 'and a second', 'from c'];
      equal(texts(await a.listMessages()), all, 'a catches up');
      equal(texts(await b.open({ threadId: 'again' }).listMessages()), all, 'a new instance agrees');

      // One instance evicts (and may compact storage) while the other waits.
      const x = b.open({ threadId: 'evicted', maxMessages: 3 });
      const y = b.open({ threadId: 'evicted', maxMessages: 3 });
      await x.addMessages([{ role: 'user', text: 'x1' }, { role: 'user', text: 'x2' }]);
      for (let i = 0; i < 12; i++) await y.addMessages([{ role: 'user', text: `y${i} ${'z'.repeat(i * 7)}` }]);
      const kept = texts(await y.listMessages());
      equal(texts(await x.listMessages()), kept, 'the waiting instance reads what is kept');
      await x.addMessages([{ role: 'user', text: 'x3' }]);
      equal(texts(await y.listMessages()), [...kept.slice(1), 'x3'], 'and appends after it');
      await closeAll(a, c, x, y);
    },
  },
  {
    name: 'a tampered record is CORRUPT_RECORD, never silently dropped',
    async run(b) {
      for (const which of ['first', 'last']) {
        const id = `tamper-${which}`;
        const a = b.open({ threadId: id });
        await a.addMessages([{ role: 'user', text: 'first' }, { role: 'assistant', text: 'second' }]);
        await a.addMessages([{ role: 'user', text: 'third' }]);
        await a.close();
        await b.tamper(id, which);
        const damaged = await b.snapshot(id);
        const r = b.open({ threadId: id });
        await rejects(r.listMessages(), 'CORRUPT_RECORD', `${which}: listMessages`);
        await rejects(r.count(), 'CORRUPT_RECORD', `${which}: count`);
        await rejects(r.addMessages([{ role: 'user', text: 'over it' }]), 'CORRUPT_RECORD', `${which}: addMessages`);
        equal(await b.snapshot(id), damaged, `${which}: nothing written over it`);
        await r.close();
      }
    },
  },
  {
    name: 'every storage operation failing in turn: the run rejects with the cause, the thread stays as it was, a retry stores the turn once (plain and encrypted)',
    async run(b) {
      const key = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
      for (const options of [{}, { encryption: { key } }]) await runWithFaults(b, options);
    },
  },
  {
    name: 'bad thread ids are rejected: no thread reaches another one\'s storage',
    async run(b) {
      const s = b.open({ threadId: 'good' });
      await s.addMessages([{ role: 'user', text: 'x' }]);
      const bad = ['../good', 'a/b', 'a\\b', '', '..', '.hidden', 'x'.repeat(129), 'a\0b', 'a:b', '{good}', 'a b', 'é', 7, {}];
      for (const id of bad) {
        await rejects(() => b.open({ threadId: id }), 'INVALID_ARGUMENT', `open ${JSON.stringify(id)}`);
        await rejects(s.deleteThread(id), 'INVALID_ARGUMENT', `deleteThread ${JSON.stringify(id)}`);
        const ref = { ...(await s.serialize()), thread_id: id };
        const other = b.open({});
        await rejects(other.updateFromState(ref), 'INVALID_ARGUMENT', `updateFromState ${JSON.stringify(id)}`);
        await other.close();
      }
      equal(texts(await s.listMessages()), ['x'], 'the good thread');
      // A reference whose location (directory, key prefix, database) no store
      // can have: refused, and the store stays on its thread.
      const { type: _t, kind: _k, thread_id: _id, ...where } = await s.serialize();
      for (const field of Object.keys(where)) {
        for (const value of [42, {}, '', 'a\0b'.repeat(200)]) {
          await rejects(s.updateFromState({ ...(await s.serialize()), [field]: value }), 'INVALID_FORMAT', `${field} ${JSON.stringify(value).slice(0, 20)}`);
          equal([s.threadId, texts(await s.listMessages())], ['good', ['x']], 'still on the good thread');
        }
      }
      const generated = b.open({});
      ok(/^[0-9a-f-]{36}$/.test(generated.threadId), 'a generated id is a UUID');
      await closeAll(s, generated);
    },
  },
];

// ---- encryption at rest (the `encryption: { key }` option) ----

const PASSPHRASE = 'correct horse battery staple';
const MARKER = 'XYZZY-plaintext-4711';

// One options object per key, shared by the stores of a case: a passphrase is
// then derived once per thread, as an application would share it.
async function keys() {
  const cryptoKey = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
  return [['a passphrase', { key: PASSPHRASE }], ['a CryptoKey', { key: cryptoKey }]];
}

// Whether `needle` appears in any of the byte arrays, as UTF-8.
function holds(parts, needle) {
  const want = new TextEncoder().encode(needle);
  return parts.some((bytes) => {
    outer: for (let i = 0; i + want.length <= bytes.length; i++) {
      for (let j = 0; j < want.length; j++) if (bytes[i + j] !== want[j]) continue outer;
      return true;
    }
    return false;
  });
}

function noSecret(err, what) {
  ok(!String(err.message).includes(PASSPHRASE) && !String(err.message).includes('wrong horse'), `${what}: the message holds no key`);
}

cases.push(
  {
    name: 'encrypted: messages round-trip with a passphrase and with a CryptoKey, from a new instance',
    async run(b) {
      const { ChatMessage } = b.lib;
      for (const [label, encryption] of await keys()) {
        const id = label === 'a passphrase' ? 'enc-pass' : 'enc-key';
        const a = b.open({ threadId: id, encryption });
        await a.addMessages([new ChatMessage('user', 'one'), { role: 'assistant', text: 'two', metadata: { k: [1, 'é'] } }]);
        await a.addMessages([{ role: 'user', text: 'three ✓' }]);
        const before = (await a.listMessages()).map((m) => m.toJSON());
        equal(before.map((m) => m.contents[0].text), ['one', 'two', 'three ✓'], `${label}: listed`);
        const r = b.open({ threadId: id, encryption: label === 'a passphrase' ? { key: PASSPHRASE } : encryption });
        equal((await r.listMessages()).map((m) => m.toJSON()), before, `${label}: reopened`);
        equal(await r.count(), 3, `${label}: count`);
        await r.addMessages([{ role: 'user', text: 'four' }]);
        equal(texts(await a.listMessages()), ['one', 'two', 'three ✓', 'four'], `${label}: the first instance catches up`);
        equal(await b.seqRange(id), { first: 1, last: 4 }, `${label}: stored sequence numbers`);
        await closeAll(a, r);
      }
    },
  },
  {
    name: 'encrypted: maxMessages evicts the oldest, and what is kept still reads back',
    async run(b) {
      const [[, encryption]] = await keys();
      const s = b.open({ threadId: 'enc-max', maxMessages: 2, encryption });
      for (let i = 1; i <= 7; i++) await s.addMessages([{ role: 'user', text: `m${i}` }]);
      equal(texts(await s.listMessages()), ['m6', 'm7'], 'kept');
      const r = b.open({ threadId: 'enc-max', maxMessages: 2, encryption });
      equal(texts(await r.listMessages()), ['m6', 'm7'], 'reopened');
      ok((await b.seqRange('enc-max')).last === 7, 'newest stored seq');
      await closeAll(s, r);
    },
  },
  {
    name: 'encrypted: the stored bytes never hold the plaintext',
    async run(b) {
      for (const [label, encryption] of await keys()) {
        const id = `at-rest-${label === 'a passphrase' ? 'p' : 'k'}`;
        const s = b.open({ threadId: id, encryption });
        await s.addMessages([{ role: 'user', text: `my secret is ${MARKER}`, metadata: { note: MARKER } }]);
        await s.addMessages([{ role: 'assistant', text: `noted: ${MARKER}` }]);
        ok(!holds(await b.rawBytes(id), MARKER), `${label}: no plaintext at rest`);
        ok(!holds(await b.rawBytes(id), PASSPHRASE), `${label}: no passphrase at rest`);
        await s.close();
      }
      // The same check finds the text when the store does not encrypt.
      const plain = b.open({ threadId: 'at-rest-plain' });
      await plain.addMessages([{ role: 'user', text: `my secret is ${MARKER}` }]);
      ok(holds(await b.rawBytes('at-rest-plain'), MARKER), 'plaintext store: the text is there');
      await plain.close();
    },
  },
  {
    name: 'encrypted: a wrong key is DECRYPTION_FAILED and nothing is changed',
    async run(b) {
      const [[, pass], [, right]] = await keys();
      for (const encryption of [pass, right]) {
        const id = encryption === pass ? 'wrong-p' : 'wrong-k';
        const a = b.open({ threadId: id, encryption });
        await a.addMessages([{ role: 'user', text: 'for the right key only' }]);
        await a.close();
        const before = await b.snapshot(id);
        const otherKey = await globalThis.crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, ['encrypt', 'decrypt']);
        for (const wrong of [{ key: 'wrong horse battery staple' }, { key: otherKey }]) {
          const w = b.open({ threadId: id, encryption: wrong });
          noSecret(await rejects(w.listMessages(), 'DECRYPTION_FAILED', 'listMessages'), 'listMessages');
          await rejects(w.count(), 'DECRYPTION_FAILED', 'count');
          noSecret(await rejects(w.addMessages([{ role: 'user', text: 'over it' }]), 'DECRYPTION_FAILED', 'addMessages'), 'addMessages');
          await w.close();
        }
        equal(await b.snapshot(id), before, 'nothing written');
        const r = b.open({ threadId: id, encryption });
        equal(texts(await r.listMessages()), ['for the right key only'], 'the right key still reads it');
        await r.close();
      }
    },
  },
  {
    name: 'encrypted: no key is ENCRYPTION_REQUIRED, a key on plaintext is NOT_ENCRYPTED, nothing is changed',
    async run(b) {
      const [[, encryption]] = await keys();
      const sealed = b.open({ threadId: 'sealed', encryption });
      await sealed.addMessages([{ role: 'user', text: 'sealed' }]);
      const plain = b.open({ threadId: 'plain' });
      await plain.addMessages([{ role: 'user', text: 'plain' }]);
      const before = [await b.snapshot('sealed'), await b.snapshot('plain')];
      const noKey = b.open({ threadId: 'sealed' });
      await rejects(noKey.listMessages(), 'ENCRYPTION_REQUIRED', 'read without a key');
      await rejects(noKey.addMessages([{ role: 'user', text: 'x' }]), 'ENCRYPTION_REQUIRED', 'append without a key');
      const withKey = b.open({ threadId: 'plain', encryption });
      await rejects(withKey.listMessages(), 'NOT_ENCRYPTED', 'read with a key');
      await rejects(withKey.addMessages([{ role: 'user', text: 'x' }]), 'NOT_ENCRYPTED', 'append with a key');
      equal([await b.snapshot('sealed'), await b.snapshot('plain')], before, 'nothing written');
      await rejects(() => b.open({ encryption: { key: '' } }), 'INVALID_ARGUMENT', 'an empty passphrase');
      await rejects(() => b.open({ encryption: { key: 42 } }), 'INVALID_ARGUMENT', 'a key of the wrong type');
      await rejects(() => b.open({ encryption: {} }), 'INVALID_ARGUMENT', 'no key');
      // "\uD800" and "\uDFFF" would both derive the key of U+FFFD.
      await rejects(() => b.open({ encryption: { key: 'pass\uD800' } }), 'INVALID_ARGUMENT', 'a lone surrogate');
      const forged = { [Symbol.toStringTag]: 'CryptoKey', algorithm: { name: 'AES-GCM' }, usages: null };
      await rejects(() => b.open({ encryption: { key: forged } }), 'INVALID_ARGUMENT', 'a key without usages');
      const hmac = await globalThis.crypto.subtle.generateKey({ name: 'HMAC', hash: 'SHA-256' }, false, ['sign']);
      await rejects(() => b.open({ encryption: { key: hmac } }), 'INVALID_ARGUMENT', 'a key for another algorithm');
      await closeAll(sealed, plain, noKey, withKey);
    },
  },
  {
    name: 'encrypted: a tampered record, or one moved to another thread, is an error, never garbage',
    async run(b) {
      const [[, encryption]] = await keys();
      for (const which of ['first', 'last']) {
        const id = `enc-tamper-${which}`;
        const a = b.open({ threadId: id, encryption });
        await a.addMessages([{ role: 'user', text: 'first' }, { role: 'assistant', text: 'second' }]);
        await a.addMessages([{ role: 'user', text: 'third' }]);
        await a.close();
        await b.tamper(id, which);
        const damaged = await b.snapshot(id);
        const r = b.open({ threadId: id, encryption });
        await rejects(r.listMessages(), 'CORRUPT_RECORD', `${which}: listMessages`);
        await rejects(r.addMessages([{ role: 'user', text: 'over it' }]), 'CORRUPT_RECORD', `${which}: addMessages`);
        equal(await b.snapshot(id), damaged, `${which}: nothing written over it`);
        await r.close();
      }
      // Whole records copied into another thread: their frames and checksums
      // are intact, but they were sealed for the thread they came from.
      const a = b.open({ threadId: 'enc-origin', encryption });
      await a.addMessages([{ role: 'user', text: 'belongs to enc-origin' }]);
      await b.copyThread('enc-origin', 'enc-elsewhere');
      const moved = b.open({ threadId: 'enc-elsewhere', encryption });
      await rejects(moved.listMessages(), 'DECRYPTION_FAILED', 'records moved to another thread');
      equal(texts(await b.open({ threadId: 'enc-origin', encryption }).listMessages()), ['belongs to enc-origin'], 'in their own thread');
      await closeAll(a, moved);
    },
  },
  {
    name: 'encrypted: serialize() holds no key; deserializeThread resumes with the key from the factory',
    async run(b) {
      const { ChatAgent, OpenAIChatClient } = b.lib;
      const chatClient = new OpenAIChatClient({ baseURL: 'http://127.0.0.1:9/v1', apiKey: 'unused', model: 'unused' });
      const encryption = { key: PASSPHRASE };
      const factory = () => b.open({ encryption });
      const agent = new ChatAgent({ chatClient, chatMessageStoreFactory: factory });
      const thread = agent.getNewThread();
      await thread.messageStore.addMessages([{ role: 'user', text: 'my name is Frida' }]);
      const text = JSON.stringify(await thread.serialize());
      ok(!text.includes(PASSPHRASE) && !text.includes('Frida'), 'the state holds no key and no message');
      const agent2 = new ChatAgent({ chatClient, chatMessageStoreFactory: factory });
      const resumed = await agent2.deserializeThread(JSON.parse(text));
      equal(texts(await resumed.messageStore.listMessages()), ['my name is Frida'], 'resumed with the key');
      const agent3 = new ChatAgent({ chatClient, chatMessageStoreFactory: () => b.open({}) });
      const keyless = await agent3.deserializeThread(JSON.parse(text));
      await rejects(keyless.messageStore.listMessages(), 'ENCRYPTION_REQUIRED', 'resumed without the key');
      await closeAll(thread.messageStore, resumed.messageStore, keyless.messageStore);
      for (const a of [agent, agent2, agent3]) a.close();
    },
  },
);

// Runs one turn with the k-th storage operation failing, for k = 1, 2, ...,
// until a run needs fewer operations than k.
async function runWithFaults(b, options) {
  const { ChatAgent, ThreadmemError } = b.lib;
  const reply = JSON.stringify({
    id: 'chatcmpl-fault',
    object: 'chat.completion',
    model: 'test',
    choices: [{ index: 0, message: { role: 'assistant', content: 'the answer' }, finish_reason: 'stop' }],
  });
  const agent = new ChatAgent({ chatClient: { getResponse: async () => reply } });
  const earlier = ['earlier question', 'earlier answer'];
  const whole = [...earlier, 'new question', 'the answer'];
  const stored = async (id) => {
    const s = b.open({ threadId: id, ...options });
    const list = await s.listMessages();
    await s.close();
    return list;
  };
  const json = (list) => list.map((m) => m.toJSON());
  let failures = 0;
  for (let k = 1; ; k++) {
    ok(k <= 200, 'a run without faults ends within 200 operations');
    const id = `fault-${options.encryption ? 'sealed' : 'plain'}-${k}`;
    const seed = b.open({ threadId: id, ...options });
    await seed.addMessages([{ role: 'user', text: earlier[0] }, { role: 'assistant', text: earlier[1] }]);
    await seed.close();
    const before = await stored(id);
    const plan = faultPlan(k);
    const store = await b.openFaulty({ threadId: id, ...options }, plan);
    const thread = agent.getNewThread({ messageStore: store });
    let error = null;
    try {
      await agent.run('new question', { thread });
    } catch (err) {
      error = err;
    }
    if (plan.count < k) {
      // The run needed fewer than k operations: every one has failed once.
      equal(error, null, `run ${k}: no fault, no error`);
      equal(texts(await stored(id)), whole, `run ${k}: stored`);
      await store.close();
      break;
    }
    if (error) {
      failures += 1;
      ok(error instanceof ThreadmemError, `fault ${k} (${plan.injected.message}): a ThreadmemError, got ${error}`);
      equal(error.code, 'STORAGE_ERROR', `fault ${k} (${plan.injected.message}): the code`);
      ok(causedBy(error, plan.injected), `fault ${k} (${plan.injected.message}): the cause is kept (${error.code}: ${error.message})`);
      equal(json(await stored(id)), json(before), `fault ${k} (${plan.injected.message}): the stored thread is as before`);
      await agent.run('new question', { thread }); // the fault is spent
    }
    // Failed and retried, or the failure was absorbed: the turn, once.
    equal(texts(await stored(id)), whole, `fault ${k} (${plan.injected.message}): stored once`);
    equal(texts(await store.listMessages()), whole, `fault ${k}: the store itself`);
    await store.close();
  }
  ok(failures > 0, 'some faults failed the run');
  agent.close();
}

/** Runs one case against a fresh harness from makeBackend(), then disposes it. */
export async function runCase(makeBackend, storageCase) {
  const backend = await makeBackend();
  try {
    await storageCase.run(backend);
  } finally {
    await backend.dispose();
  }
}
