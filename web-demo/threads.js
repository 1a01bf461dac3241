// The demo's list of threads. Each entry holds an AgentThread whose message
// store comes from a store factory, so a persistent backend (IndexedDB) can
// replace the in-memory one by passing another factory and implementing the
// same few async methods; the page only uses this interface.

import { AgentThread, ChatMessageStore } from '../js/index.js';

/** The default store factory: the package's in-memory store. */
export const memoryStoreFactory = () => new ChatMessageStore();

export class ThreadList {
  /** @param {{storeFactory?: () => object}} [options] */
  constructor({ storeFactory = memoryStoreFactory } = {}) {
    this.storeFactory = storeFactory;
    this._entries = new Map(); // id -> { id, title, thread, createdAt }
    this._counter = 0;
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
    const thread = new AgentThread({ messageStore: this.storeFactory() });
    return this._add(thread, title);
  }

  /** Adds a thread made elsewhere (an imported one). */
  async adopt(thread, title) {
    return this._add(thread, title);
  }

  async rename(id, title) {
    const entry = this._entries.get(id);
    if (entry) entry.title = cleanTitle(title) || entry.title;
    return entry;
  }

  async remove(id) {
    const entry = this._entries.get(id);
    if (!entry) return;
    this._entries.delete(id);
    entry.thread.messageStore?.close?.();
  }

  _add(thread, title) {
    this._counter += 1;
    const entry = {
      id: thread.id,
      title: cleanTitle(title) || `Thread ${this._counter}`,
      thread,
      createdAt: new Date(),
    };
    this._entries.set(entry.id, entry);
    return entry;
  }
}

function cleanTitle(title) {
  return typeof title === 'string' ? title.replace(/\s+/g, ' ').trim().slice(0, 120) : '';
}
