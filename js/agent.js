// ChatAgent: an agent with instructions, tools and context providers. The
// run loop itself is in the core (tm_agent_run); this class answers its host
// calls: the model, the tools, custom stores and providers.

import { call, create, ctx, errorOf, mod, runAgent, toJSONText } from './core.js';
import { ThreadmemError, wrapError } from './errors.js';
import { fromCanonical, messageValue, messageValues } from './message.js';
import { AggregateContextProvider, Context, contextValue, toolDefinition } from './providers.js';
import { ChatMessageStore } from './store.js';
import { AgentThread } from './thread.js';
import { DEFAULT_ENCODING, resolveEncoding, windowSpec } from './window.js';

const finalizer = new FinalizationRegistry((ptr) => mod()._tm_agent_free(ptr));

export class ChatAgent {
  /**
   * @param {{chatClient: {getResponse: Function, model?: string}, instructions?: string,
   *          name?: string, description?: string, tools?: Array,
   *          chatMessageStoreFactory?: () => object, contextProviders?: object|object[],
   *          maxToolRounds?: number, toolChoice?: string|object, options?: object,
   *          contextWindow?: {maxTokens: number, reserveTokens?: number,
   *                           encoding?: string|Function, strategy?: string}}} options
   *   contextWindow fits every request's history into maxTokens - reserveTokens
   *   (see fitWindow); without it the whole history is sent.
   */
  constructor({
    chatClient,
    instructions,
    name,
    description,
    tools = [],
    chatMessageStoreFactory,
    contextProviders,
    maxToolRounds,
    toolChoice,
    options = {},
    contextWindow,
  } = {}) {
    if (!chatClient || typeof chatClient.getResponse !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'ChatAgent needs a chatClient with getResponse()');
    }
    if (chatMessageStoreFactory !== undefined && typeof chatMessageStoreFactory !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'chatMessageStoreFactory must be a function');
    }
    this.chatClient = chatClient;
    this.name = name;
    this.description = description;
    this.instructions = instructions;
    this.chatMessageStoreFactory = chatMessageStoreFactory;
    this.tools = toolMap(tools);
    this.contextProvider = aggregate(contextProviders);
    this.options = options;
    const config = { tools: [...this.tools.values()].map(toolDefinition), options };
    if (instructions != null) config.instructions = instructions;
    if (name != null) config.name = name;
    if (maxToolRounds != null) config.max_tool_rounds = maxToolRounds;
    if (toolChoice != null) config.tool_choice = toolChoice;
    if (contextWindow != null) {
      // The vocabulary is loaded before each run (it may not be yet).
      const enc = contextWindow.encoding ?? DEFAULT_ENCODING;
      if (typeof enc !== 'function' && typeof enc !== 'string') {
        throw new ThreadmemError('INVALID_ARGUMENT', 'contextWindow.encoding must be an encoding name or a counter function');
      }
      this.contextWindow = { ...contextWindow, encoding: enc };
      config.context_window = windowSpec(contextWindow, typeof enc === 'function' ? 'host' : enc);
    }
    this._ptr = create(mod()._tm_agent_new, [toJSONText(config)]);
    this._created = new WeakMap(); // thread -> pending threadCreated outcome
    finalizer.register(this, this._ptr, this);
  }

  /** A new thread with a new store (from chatMessageStoreFactory, else in
   *  memory), or over the given store or service thread id. */
  getNewThread({ messageStore, serviceThreadId } = {}) {
    const store = serviceThreadId ? messageStore : (messageStore ?? this._newStore());
    const thread = new AgentThread({ messageStore: store, serviceThreadId });
    if (this.contextProvider) {
      // Settled into a value so a rejection is reported by the next run,
      // never as an unhandled rejection.
      const outcome = Promise.resolve()
        .then(() => this.contextProvider.threadCreated(thread.id))
        .then(() => null, (err) => err);
      this._created.set(thread, outcome);
    }
    return thread;
  }

  /** Resumes a thread from a state written by thread.serialize() (or by
   *  Agent Framework), as an object or JSON text. */
  async deserializeThread(state) {
    const text = typeof state === 'string' ? state : toJSONText(state);
    const canonical = JSON.parse(call(ctx(), mod()._tm_thread_state_normalize, [text], { extra: [ctx()] }));
    if (canonical.service_thread_id !== undefined) {
      return new AgentThread({ serviceThreadId: canonical.service_thread_id });
    }
    const store = this._newStore();
    if (canonical.chat_message_store_state !== undefined) {
      try {
        await store.updateFromState(canonical.chat_message_store_state);
      } catch (err) {
        if (store instanceof ChatMessageStore) store.close();
        throw wrapError('STORE_ERROR', 'the message store cannot load the state', err);
      }
    }
    return new AgentThread({ messageStore: store });
  }

  /**
   * Runs one turn. `input`: a string, a message, or an array of them. With no
   * thread the turn happens on a temporary one. Rejects with a ThreadmemError
   * and leaves the thread unchanged on any failure.
   */
  run(input, options = {}) {
    return this._run(input, options, null);
  }

  /**
   * Runs one turn like run(), with the model's reply streamed: an async
   * iterable of updates, in order: {type:'text_delta', text} as the text
   * arrives, {type:'tool_call', call_id, name, arguments} once a call is
   * complete, {type:'tool_result', call_id, name, result} once a tool has
   * answered, and last {type:'response', response}, the object run()
   * resolves with. The thread receives the turn just before that last
   * update. A failure (a broken or malformed stream, `signal` aborted: code
   * ABORTED) ends the iteration with a ThreadmemError and adds nothing to
   * the thread; so does leaving the loop early (`break`), which cancels the
   * run and resolves once it has stopped. The chat client needs
   * getStreamingResponse().
   */
  async *runStream(input, { signal, ...options } = {}) {
    if (typeof this.chatClient.getStreamingResponse !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'runStream needs a chatClient with getStreamingResponse()');
    }
    const updates = new UpdateQueue();
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const running = this._run(input, { ...options, signal: stop.signal }, (update) => updates.push(update));
    running.then((response) => updates.end(response), (err) => updates.fail(err));
    let settled = false;
    try {
      for (;;) {
        const item = await updates.next();
        if (item.response) {
          settled = true;
          yield { type: 'response', response: item.response };
          return;
        }
        yield item.update;
      }
    } catch (err) {
      settled = true;
      throw err;
    } finally {
      signal?.removeEventListener('abort', onAbort);
      if (!settled) {
        // The consumer left early: stop the run and wait until it has
        // rolled back, so the thread and the module are free again.
        stop.abort(new ThreadmemError('ABORTED', 'the stream was closed by its reader'));
        await running.catch(() => {});
      }
    }
  }

  async _run(input, { thread, tools = [], signal, options = {} } = {}, onUpdate) {
    this._live();
    const t = thread ?? this.getNewThread();
    if (!(t instanceof AgentThread)) throw new ThreadmemError('INVALID_ARGUMENT', 'thread must be an AgentThread');
    const created = this._created.get(t);
    if (created) {
      this._created.delete(t);
      const err = await created;
      if (err) throw wrapError('PROVIDER_ERROR', 'a context provider failed in threadCreated', err);
    }
    if (!t.messageStore && !t.serviceThreadId) t.messageStore = this._newStore();
    const store = t.messageStore;
    const native = store instanceof ChatMessageStore;
    // The core offers the model agent tools, then provider tools, then run
    // tools, the first of a name winning; calls are resolved in that order.
    const runTools = { agent: this.tools, provider: new Map(), run: toolMap(tools) };

    const request = {
      messages: messageValues(input),
      tools: tools.map(toolDefinition),
      options: { ...(this.chatClient.model ? { model: this.chatClient.model } : {}), ...this.options, ...options },
    };
    if (t.serviceThreadId) request.service_thread_id = t.serviceThreadId;
    if (store && !native) request.host_store = true;
    if (this.contextProvider) request.providers = true;
    if (onUpdate) request.stream = true;

    const hooks = this._hooks(t, store, runTools, signal, onUpdate);
    if (this.contextWindow) hooks.count = (await resolveEncoding(this.contextWindow.encoding)).counter;
    const storePtr = native ? store._pin() : 0;
    let result;
    try {
      result = await runAgent(this._live(), storePtr, toJSONText(request), hooks);
    } catch (err) {
      throw redacted(err, this.chatClient);
    } finally {
      if (native) store._unpin();
      hooks.close();
    }
    if (result.service_thread_id && t.serviceThreadId) t.serviceThreadId = result.service_thread_id;
    const usage = result.usage ?? {};
    return {
      text: result.text ?? '',
      messages: (result.messages ?? []).map(fromCanonical),
      usage: {
        promptTokens: usage.prompt_tokens ?? 0,
        completionTokens: usage.completion_tokens ?? 0,
        totalTokens: usage.total_tokens ?? 0,
      },
      responseId: result.response_id,
      finishReason: result.finish_reason,
      ...(result.window && {
        window: {
          tokens: result.window.tokens,
          historySent: result.window.history_sent,
          historyDropped: result.window.history_dropped,
        },
      }),
    };
  }

  // The answers to the core's host calls for one run.
  _hooks(thread, store, runTools, signal, onUpdate) {
    const provider = this.contextProvider;
    const client = this.chatClient;
    const agentPtr = this._ptr;
    let reply = null; // the streamed reply being read
    const closeReply = () => {
      const r = reply;
      reply = null;
      r?.return?.().catch?.(() => {});
    };
    return {
      llm: async (body) => {
        if (signal?.aborted) throw new ThreadmemError('ABORTED', 'the run was aborted', { cause: signal.reason });
        return client.getResponse(body, { signal });
      },
      llmOpen: async (body) => {
        closeReply();
        if (signal?.aborted) throw new ThreadmemError('ABORTED', 'the run was aborted', { cause: signal.reason });
        const chunks = await client.getStreamingResponse(body, { signal });
        if (!chunks || typeof chunks[Symbol.asyncIterator] !== 'function') {
          throw new ThreadmemError('INVALID_ARGUMENT', 'getStreamingResponse() must resolve to an async iterable of strings');
        }
        reply = chunks[Symbol.asyncIterator]();
      },
      llmNext: async () => {
        let next;
        try {
          next = await untilAborted(reply.next(), signal);
        } catch (err) {
          throw wrapError('LLM_STREAM_ERROR', "the model's streamed reply failed", err);
        }
        if (next.done) {
          reply = null;
          return null;
        }
        if (typeof next.value !== 'string') {
          throw new ThreadmemError('INVALID_RESPONSE', 'a streamed reply chunk must be a string of JSON');
        }
        return next.value;
      },
      emit: (json) => onUpdate?.(JSON.parse(json)),
      close: closeReply,
      tools: async (callsJson) => {
        const calls = JSON.parse(callsJson);
        const results = await Promise.all(
          calls.map(async (c) => {
            const tool =
              runTools.agent.get(c.name) ?? runTools.provider.get(c.name) ?? runTools.run.get(c.name);
            try {
              if (signal?.aborted) throw new ThreadmemError('ABORTED', 'the run was aborted');
              const args = typeof c.arguments === 'string' ? JSON.parse(c.arguments || '{}') : (c.arguments ?? {});
              const result = await tool.execute(args, { thread, signal });
              // Checked here, per call, so a result JSON cannot hold (a
              // BigInt, a cycle) fails as this tool's error.
              toJSONText(result === undefined ? null : result);
              return { call_id: c.call_id, result: result === undefined ? null : result };
            } catch (err) {
              if (err instanceof ThreadmemError && err.code === 'ABORTED') throw err;
              throw wrapError('TOOL_ERROR', `tool "${c.name}" failed`, err);
            }
          }),
        );
        return toJSONText(results);
      },
      storeList: async () => {
        try {
          const messages = await store.listMessages();
          if (!Array.isArray(messages)) {
            throw new ThreadmemError('STORE_ERROR', 'listMessages() must return an array of messages');
          }
          return toJSONText(messages.map(messageValue));
        } catch (err) {
          throw wrapError('STORE_ERROR', 'the message store failed in listMessages', err);
        }
      },
      storeAdd: async (json) => {
        try {
          await store.addMessages(JSON.parse(json).map(fromCanonical));
        } catch (err) {
          throw wrapError('STORE_ERROR', 'the message store failed in addMessages', err);
        }
      },
      invoking: async (json) => {
        const { messages } = JSON.parse(json);
        let context;
        try {
          context = (await provider.invoking(messages.map(fromCanonical), { thread, agent: this, chatClient: client, signal })) ?? new Context();
        } catch (err) {
          throw wrapError('PROVIDER_ERROR', 'a context provider failed in invoking', err);
        }
        for (const tool of context.tools ?? []) {
          if (!runTools.provider.has(tool.name)) runTools.provider.set(tool.name, tool);
        }
        return toJSONText([contextValue(context)]);
      },
      invoked: async (json, runError) => {
        const { request_messages: req, response_messages: res, failed } = JSON.parse(json);
        let error;
        if (failed) {
          const rc = mod()._tm_errcode(agentPtr);
          error = runError ?? (rc ? errorOf(agentPtr, rc) : new ThreadmemError('RUN_FAILED', 'the run failed'));
        }
        try {
          await provider.invoked((req ?? []).map(fromCanonical), (res ?? []).map(fromCanonical), {
            thread,
            error,
            agent: this,
            chatClient: client,
            signal,
          });
        } catch (err) {
          throw wrapError('PROVIDER_ERROR', 'a context provider failed in invoked', err);
        }
      },
    };
  }

  _newStore() {
    const store = this.chatMessageStoreFactory ? this.chatMessageStoreFactory() : new ChatMessageStore();
    if (!store || typeof store.addMessages !== 'function' || typeof store.listMessages !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'chatMessageStoreFactory must return a message store');
    }
    return store;
  }

  _live() {
    if (!this._ptr) throw new ThreadmemError('CLOSED', 'the agent is closed');
    return this._ptr;
  }

  /** Frees the agent's memory in the core; later runs throw CLOSED. */
  close() {
    if (!this._ptr) return;
    finalizer.unregister(this);
    mod()._tm_agent_free(this._ptr);
    this._ptr = 0;
  }
}

// The core's messages may quote the model's reply (an error it sent, a
// call's id), which may quote the API key back: the client that knows the
// key takes it out.
function redacted(err, client) {
  if (typeof client.redact !== 'function' || !(err instanceof ThreadmemError)) return err;
  for (const key of ['message', 'stack']) {
    if (typeof err[key] === 'string') err[key] = client.redact(err[key]);
  }
  return err;
}

// `promise`, or ABORTED as soon as `signal` aborts: a chat client that
// ignores the signal cannot keep an aborted run waiting.
function untilAborted(promise, signal) {
  if (!signal) return promise;
  let onAbort;
  const abort = new Promise((_, reject) => {
    onAbort = () => reject(new ThreadmemError('ABORTED', 'the run was aborted', { cause: signal.reason }));
    if (signal.aborted) onAbort();
    else signal.addEventListener('abort', onAbort, { once: true });
  });
  return Promise.race([promise, abort]).finally(() => signal.removeEventListener('abort', onAbort));
}

// The updates of a streamed run, from the run (which never waits for the
// reader) to the reader (which waits when there are none yet).
class UpdateQueue {
  constructor() {
    this.items = [];
    this.waiting = null;
  }

  _put(item) {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      if (item.error) w.reject(item.error);
      else w.resolve(item);
    } else {
      this.items.push(item);
    }
  }

  push(update) {
    this._put({ update });
  }

  end(response) {
    this._put({ response });
  }

  fail(error) {
    this._put({ error });
  }

  next() {
    const item = this.items.shift();
    if (item) return item.error ? Promise.reject(item.error) : Promise.resolve(item);
    return new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
  }
}

// Tools by name; a name given twice is a mistake, not an override.
function toolMap(tools) {
  if (!Array.isArray(tools)) throw new ThreadmemError('INVALID_ARGUMENT', 'tools must be an array');
  const map = new Map();
  for (const tool of tools) {
    toolDefinition(tool);
    if (typeof tool.execute !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', `tool "${tool.name}" needs an execute function`);
    }
    if (map.has(tool.name)) throw new ThreadmemError('INVALID_ARGUMENT', `two tools are named "${tool.name}"`);
    map.set(tool.name, tool);
  }
  return map;
}

// One provider for the run loop, whatever the user passed.
function aggregate(providers) {
  if (providers == null) return null;
  if (providers instanceof AggregateContextProvider) return providers;
  const list = Array.isArray(providers) ? providers : [providers];
  return list.length ? new AggregateContextProvider(list) : null;
}
