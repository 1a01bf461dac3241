// The browser side of bench/persist-browser.js: appending one turn to a 10-
// and a 10,000-message thread in IndexedDB and in localStorage, with and
// without encryption at rest; loading the large IndexedDB thread beside the
// same messages kept as one JSON blob; and a whole agent turn on each thread
// (bench/agent-turn.js).

import { ChatMessageStore, IndexedDBChatMessageStore, LocalStorageChatMessageStore } from '../../js/index.js';
import { medianAgentTurnMs } from '../agent-turn.js';

const TURNS = 50;
const turn = (i) => [
  { role: 'user', text: `question ${i}: lorem ipsum` },
  { role: 'assistant', text: `answer ${i}: dolor sit amet` },
];

const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const round = (x, d = 3) => +x.toFixed(d);

async function fill(store, n) {
  for (let i = 0; i < n; i += 1000) {
    await store.addMessages(Array.from({ length: Math.min(1000, n - i) }, (_, k) => turn(i + k)[k % 2]));
  }
}

async function measure(make, size) {
  const store = make(`t${size}`);
  await fill(store, size);
  // The timed turns start once the database has settled after the fill
  // (its background compaction would otherwise land on the large thread).
  await new Promise((resolve) => setTimeout(resolve, 2000));
  const times = [];
  for (let i = 0; i < TURNS; i++) {
    const t0 = performance.now();
    await store.addMessages(turn(i));
    times.push(performance.now() - t0);
  }
  const reopened = make(`t${size}`);
  const t0 = performance.now();
  const loaded = await reopened.count();
  const loadMs = performance.now() - t0;
  const bytesPerTurn = store.lastAppendBytes;
  const agentTurnMs = await medianAgentTurnMs(store, TURNS);
  store.close();
  reopened.close();
  const load = { loadMs: round(loadMs, 1), loaded };
  return { messages: size, medianAppendMs: round(median(times)), bytesPerTurn, ...load, medianAgentTurnMs: agentTurnMs };
}

const request = (req) =>
  new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });

// The peer: the same messages as one JSON text under one IndexedDB key (what
// a store that re-serializes the whole thread keeps), read back and parsed.
async function blobLoad(dbName, messages) {
  const open = indexedDB.open(dbName, 1);
  open.onupgradeneeded = () => open.result.createObjectStore('blob');
  const db = await request(open);
  const put = db.transaction('blob', 'readwrite');
  put.objectStore('blob').put(JSON.stringify(messages), 'thread');
  await new Promise((resolve) => (put.oncomplete = resolve));
  let t0 = performance.now();
  const text = await request(db.transaction('blob', 'readonly').objectStore('blob').get('thread'));
  const parsed = JSON.parse(text);
  const parseMs = performance.now() - t0;
  t0 = performance.now();
  const text2 = await request(db.transaction('blob', 'readonly').objectStore('blob').get('thread'));
  const store = new ChatMessageStore();
  await store.updateFromState({ type: 'chat_message_store_state', messages: JSON.parse(text2) });
  const intoStoreMs = performance.now() - t0;
  const count = await store.count();
  store.close();
  db.close();
  return { messages: parsed.length, readAndParseMs: round(parseMs, 1), readParseAndLoadStoreMs: round(intoStoreMs, 1), loaded: count, bytes: text.length };
}

async function run() {
  const stamp = Date.now().toString(36);
  // One options object: the passphrase is derived once per thread, as an application would.
  const encryption = { key: 'a benchmark passphrase' };
  const backends = {
    indexeddb: (id) => new IndexedDBChatMessageStore({ dbName: `bench-${stamp}`, threadId: id }),
    localstorage: (id) => new LocalStorageChatMessageStore({ keyPrefix: `bench-${stamp}`, threadId: id }),
    indexeddbEncrypted: (id) => new IndexedDBChatMessageStore({ dbName: `bench-${stamp}`, threadId: id, encryption }),
    localstorageEncrypted: (id) => new LocalStorageChatMessageStore({ keyPrefix: `bench-${stamp}`, threadId: id, encryption }),
  };
  const results = {};
  for (const [name, make] of Object.entries(backends)) {
    const small = await measure(make, 10);
    const large = await measure(make, 10000);
    results[name] = { small, large, ratio: round(large.medianAppendMs / small.medianAppendMs, 2) };
    const s = make('t10000');
    if (name === 'indexeddb') {
      const messages = (await s.listMessages()).map((m) => m.toJSON());
      results.indexeddbLoadVsBlob = { recordsLoadMs: large.loadMs, blob: await blobLoad(`bench-blob-${stamp}`, messages) };
    }
    await s.deleteThread('t10');
    await s.deleteThread('t10000');
    s.close();
  }
  await request(indexedDB.deleteDatabase(`bench-${stamp}`));
  await request(indexedDB.deleteDatabase(`bench-blob-${stamp}`));
  return { userAgent: navigator.userAgent, turnsTimed: TURNS, results };
}

window.runBench = run;
document.body.dataset.ready = 'true';
