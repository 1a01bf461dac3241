// AgentThread: a conversation's identity, holding either a message store or
// the id of a thread kept by the service (never both).

import { call, ctx, mod, toJSONText } from './core.js';
import { ThreadmemError } from './errors.js';
import { optionsOf } from './options.js';

/** A new random id from the core (UUID v4). */
export function newId() {
  return call(ctx(), mod()._tm_new_id, [], { extra: [ctx()] });
}

// What a message store must have (the README's contract for custom ones).
const STORE_METHODS = ['addMessages', 'listMessages', 'serialize', 'updateFromState'];

/** Returns `store`, or throws INVALID_ARGUMENT when it lacks a method a thread needs. */
export function checkMessageStore(store, what) {
  const missing = STORE_METHODS.find((name) => typeof store?.[name] !== 'function');
  if (missing) throw new ThreadmemError('INVALID_ARGUMENT', `${what} must be a message store: it has no ${missing}()`);
  return store;
}

export class AgentThread {
  /** @param {{messageStore?: object, serviceThreadId?: string, id?: string}} [options] */
  constructor(options) {
    const { messageStore, serviceThreadId, id } = optionsOf(options, 'AgentThread');
    if (messageStore && serviceThreadId) {
      throw new ThreadmemError('INVALID_STATE', 'a thread holds a message store or a service thread id, never both');
    }
    if (serviceThreadId !== undefined && typeof serviceThreadId !== 'string') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'serviceThreadId must be a string');
    }
    this.id = id ?? newId();
    this.messageStore = messageStore == null ? messageStore : checkMessageStore(messageStore, 'messageStore');
    this.serviceThreadId = serviceThreadId;
  }

  /** Agent Framework's agent_thread_state, a JSON-safe object. */
  async serialize() {
    const state = this.messageStore ? await this.messageStore.serialize() : undefined;
    const storeState = state === undefined ? null : toJSONText(state); // a store may keep no state
    const text = call(ctx(), mod()._tm_thread_state_build, [this.serviceThreadId ?? null, storeState], {
      extra: [ctx()],
    });
    return JSON.parse(text);
  }
}
