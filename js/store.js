// ChatMessageStore: the default in-memory store. Its messages live in the
// core (a tm_store); this class only carries calls across.

import { call, checkModule, errorOf, mod, toJSONText } from './core.js';
import { ThreadmemError, TM_OK } from './errors.js';
import { fromCanonical, messageValues } from './message.js';
import { encodingIdSync } from './tokenizer.js';
import { DEFAULT_ENCODING, counted, resolveEncoding, windowResult, windowSpec } from './window.js';
import { optionsOf } from './options.js';

// A backstop for stores dropped without close(): frees their C memory when
// the object is collected. close() remains the way to release it on time.
// Freed in the module it was made in, which init() may have replaced since.
const finalizer = new FinalizationRegistry(({ module, ptr }) => module._tm_store_free(ptr));

export class ChatMessageStore {
  // The module its handle lives in (private: printing the object never walks
  // the module's memory).
  #module;

  /**
   * @param {Array|object} [messagesOrOptions] initial messages, or the options
   * @param {{maxMessages?: number, maxTokens?: number, encoding?: string,
   *          threadId?: string}} [options] maxTokens keeps the newest messages
   *   whose tokens (counted with `encoding`, default o200k_base, whose
   *   vocabulary must be loaded) fit; whole tool-call groups are evicted.
   */
  constructor(messagesOrOptions, options) {
    const messages = Array.isArray(messagesOrOptions) ? messagesOrOptions : undefined;
    const opts = optionsOf(messages || messagesOrOptions == null ? options : messagesOrOptions, 'ChatMessageStore');
    const maxMessages = opts.maxMessages ?? 0;
    // Both limits are 32-bit in the core.
    if (!Number.isSafeInteger(maxMessages) || maxMessages < 0 || maxMessages > 0xffffffff) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'maxMessages must be an integer from 0 to 4294967295');
    }
    const maxTokens = opts.maxTokens ?? 0;
    if (!Number.isSafeInteger(maxTokens) || maxTokens < 0 || maxTokens > 0xffffffff) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'maxTokens must be an integer from 0 to 4294967295');
    }
    // Counts are cached on the messages, so the limit needs a built-in
    // encoding, not a counter function.
    if (maxTokens && typeof (opts.encoding ?? DEFAULT_ENCODING) !== 'string') {
      throw new ThreadmemError('INVALID_ARGUMENT', "a store's maxTokens needs an encoding name ('o200k_base', 'cl100k_base' or 'estimate')");
    }
    const encodingId = maxTokens ? encodingIdSync(opts.encoding ?? DEFAULT_ENCODING) : 0;
    this.maxMessages = maxMessages || undefined;
    this.maxTokens = maxTokens || undefined;
    this.threadId = opts.threadId;
    this.#module = mod();
    this._ptr = this.#module._tm_store_new(maxMessages);
    if (!this._ptr) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory creating a store');
    if (maxTokens) {
      const rc = mod()._tm_store_limit_tokens(this._ptr, maxTokens, encodingId);
      if (rc !== TM_OK) {
        const err = errorOf(this._ptr, rc);
        this._release();
        throw err;
      }
    }
    this._pins = 0;
    this._counted = false; // a core call is counting this store's messages
    this._closing = false;
    finalizer.register(this, { module: this.#module, ptr: this._ptr }, this);
    if (messages) {
      try {
        this._add(messages);
      } catch (err) {
        this.close(); // no one will hold a store that failed to be made
        throw err;
      }
    }
  }

  /** Appends messages, all or nothing; missing ids and times are filled in. */
  async addMessages(messages) {
    this._add(messages);
  }

  _add(messages) {
    call(this._live(), mod()._tm_store_add, [toJSONText(messageValues(messages))], {
      wantOut: false,
      extra: [this._ptr],
    });
  }

  /** Every message, oldest first. */
  async listMessages() {
    return this._list(null);
  }

  /** The newest `limit` messages after skipping the newest `offset`, with
   *  optional role filter; oldest first. */
  async getHistory(options) {
    const { limit, offset, roles } = optionsOf(options, 'ChatMessageStore.getHistory');
    const query = {};
    if (limit !== undefined) query.limit = limit;
    if (offset !== undefined) query.offset = offset;
    if (roles !== undefined) query.roles = roles;
    return this._list(toJSONText(query));
  }

  _list(query) {
    const text = call(this._live(), mod()._tm_store_list, [query], { extra: [this._ptr] });
    return JSON.parse(text).map(fromCanonical);
  }

  /**
   * The context window of this store's messages: `{ messages, dropped,
   * tokens }`, as fitWindow gives it, from counts cached on the messages.
   * Stored messages are never deleted by it.
   */
  async getContextWindow(options) {
    const windowOptions = optionsOf(options, 'ChatMessageStore.getContextWindow');
    const enc = await resolveEncoding(windowOptions.encoding);
    const spec = toJSONText(windowSpec(windowOptions, enc.name));
    const text = counted(enc, () =>
      this._whileCounted((ptr) => call(ptr, mod()._tm_store_window, [spec], { extra: [ptr] })),
    );
    return windowResult(text);
  }

  async count() {
    return mod()._tm_store_count(this._live()) >>> 0;
  }

  async clear() {
    mod()._tm_store_clear(this._live());
  }

  /** Agent Framework's chat_message_store_state. */
  async serialize() {
    return JSON.parse(call(this._live(), mod()._tm_store_serialize, [], { extra: [this._ptr] }));
  }

  /** Replaces the messages with those of a serialized state, all or nothing. */
  async updateFromState(state) {
    const text = typeof state === 'string' ? state : toJSONText(state ?? {});
    call(this._live(), mod()._tm_store_load, [text], { wantOut: false, extra: [this._ptr] });
  }

  static async deserialize(state, options) {
    const store = new ChatMessageStore(options);
    try {
      await store.updateFromState(state);
    } catch (err) {
      store.close();
      throw err;
    }
    return store;
  }

  /** Frees the store's memory in the core. A run that is using the store
   *  keeps it alive until it ends; every later call throws CLOSED. */
  close() {
    if (this._closing) return;
    this._closing = true;
    finalizer.unregister(this);
    if (this._pins === 0) this._release();
  }

  get closed() {
    return this._closing;
  }

  _release() {
    if (this._ptr) this.#module._tm_store_free(this._ptr);
    this._ptr = 0;
  }

  _live() {
    if (this._closing) throw new ThreadmemError('CLOSED', 'the store is closed');
    if (this._counted) {
      throw new ThreadmemError('INVALID_STATE', "a token counter may not use the store whose messages it is counting");
    }
    checkModule(this.#module, 'store');
    return this._ptr;
  }

  // A run holds the store between its steps: close() then frees it when the run ends.
  _pin() {
    this._live();
    this._pins++;
    return this._ptr;
  }

  _unpin() {
    if (--this._pins === 0 && this._closing) this._release();
  }

  // Runs `fn(ptr)`, a core call that may call a token counter of the
  // user's back, with the store held: the counter cannot change it under
  // the core (every call on it is INVALID_STATE), and a close() it makes
  // waits for the call's end.
  _whileCounted(fn) {
    const ptr = this._pin();
    this._counted = true;
    try {
      return fn(ptr);
    } finally {
      this._counted = false;
      this._unpin();
    }
  }
}
