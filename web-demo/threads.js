// The demo's threads, kept in the browser: each thread's messages in a
// persistent store of the package (IndexedDB by default, localStorage as an
// option), and a small index (titles, order) in localStorage. A reload finds
// every thread as it was, an empty one too (the store lists only threads
// with messages); a thread the index misses (written by another tab) is
// listed from the store itself.

import { AgentThread, IndexedDBChatMessageStore, LocalStorageChatMessageStore } from '../js/index.js';

const INDEX_KEY = 'threadmem-demo:threads';
const DB_NAME = 'threadmem-demo';
// Its own prefix: the page's other items (settings, memory) are not threads.
const KEY_PREFIX = 'threadmem-demo-threads';

export const BACKENDS = {
  indexeddb: (threadId) => new IndexedDBChatMessageStore({ dbName: DB_NAME, threadId }),
  localstorage: (threadId) => new LocalStorageChatMessageStore({ keyPrefix: KEY_PREFIX, threadId }),
};

export class ThreadList {
  /** @param {{backend?: 'indexeddb'|'localstorage'}} [options] */
  constructor({ backend = 'indexeddb' } = {}) {
    this.backend = BACKENDS[backend] ? backend : 'indexeddb';
    this.storeFactory = BACKENDS[this.backend];
    this._entries = new Map(); // id -> { id, title, thread, createdAt }
  }

  /** Reads the index and the store's own list of threads. */
  async load() {
    const index = readIndex()[this.backend] ?? [];
    const probe = this.storeFactory();
    let stored = [];
    try {
      stored = await probe.listThreads();
    } finally {
      await probe.close?.();
    }
    for (const e of index) {
      try {
        this._open(e.id, e.title, e.createdAt);
      } catch {
        // An entry no store can hold (an edited index): dropped.
      }
    }
    let n = this._entries.size;
    for (const id of stored) if (!this._entries.has(id)) this._open(id, `Thread ${++n}`, new Date().toISOString());
    this._save();
  }

  /** Every thread, oldest first. */
  async list() {
    return [...this._entries.values()];
  }

  async get(id) {
    return this._entries.get(id);
  }

  /** A new, empty thread. */
  async create(title) {
    const entry = this._open(crypto.randomUUID(), cleanTitle(title) || `Thread ${this._entries.size + 1}`, new Date().toISOString());
    this._save();
    return entry;
  }

  /** Keeps an imported thread: its messages are copied into a new stored one. */
  async adopt(thread, title) {
    const entry = await this.create(title);
    const messages = (await thread.messageStore?.listMessages()) ?? [];
    try {
      if (messages.length) await entry.thread.messageStore.addMessages(messages);
    } catch (err) {
      await this.remove(entry.id);
      throw err;
    }
    return entry;
  }

  async rename(id, title) {
    const entry = this._entries.get(id);
    if (entry) entry.title = cleanTitle(title) || entry.title;
    this._save();
    return entry;
  }

  async remove(id) {
    const entry = this._entries.get(id);
    if (!entry) return;
    const store = entry.thread.messageStore;
    await store.deleteThread(id);
    await store.close?.();
    this._entries.delete(id);
    this._save();
  }

  _open(id, title, createdAt) {
    const thread = new AgentThread({ messageStore: this.storeFactory(id), id });
    const entry = { id, title, thread, createdAt: new Date(createdAt) };
    this._entries.set(id, entry);
    return entry;
  }

  _save() {
    const index = readIndex();
    index[this.backend] = [...this._entries.values()].map((e) => ({ id: e.id, title: e.title, createdAt: e.createdAt.toISOString() }));
    try {
      localStorage.setItem(INDEX_KEY, JSON.stringify(index));
    } catch {
      // A full quota loses titles only: the threads themselves are stored.
    }
  }
}

function readIndex() {
  try {
    const value = JSON.parse(localStorage.getItem(INDEX_KEY) || '{}');
    return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

function cleanTitle(title) {
  return typeof title === 'string' ? title.replace(/\s+/g, ' ').trim().slice(0, 120) : '';
}
