// ChatAgent: an agent with instructions, tools and context providers. The
// run loop itself is in the core, as a step machine (tm_run_start,
// tm_run_step); this class performs the actions it asks for: the model, the
// tools, custom stores and providers. It holds the module only for each
// step, so runs on different threads overlap while they wait; runs on one
// thread take turns, in call order.

import {
  call,
  checkModule,
  create,
  ctx,
  errorOf,
  mod,
  runFree,
  runStart,
  runStep,
  takeCounterError,
  toJSONText,
} from './core.js';
import { ThreadmemError, TM_EHOST, TM_OK, abortedError, checkAborted, checkSignal, wrapError } from './errors.js';
import { fromCanonical, messageValue, messageValues } from './message.js';
import { AggregateContextProvider, Context, checkContext, contextValue, toolDefinition } from './providers.js';
import { ChatMessageStore } from './store.js';
import { PersistentChatMessageStore } from './persistent-store.js';
import { AgentThread, checkMessageStore } from './thread.js';
import { DEFAULT_ENCODING, resolveEncoding, windowSpec } from './window.js';
import { checkKinds, optionsOf } from './options.js';

// Freed in the module it was made in, which init() may have replaced since.
const finalizer = new FinalizationRegistry(({ module, ptr }) => module._tm_agent_free(ptr));

// The last run started on each thread: the next one on that thread waits
// for it. A run reads the history when it starts and appends its turn when
// it ends, so two overlapping runs on one thread would not see each other.
const threadTails = new WeakMap();

// An action of the core: {"type":"<type>"} or {"type":"<type>","<key>":
// <payload>}, exactly (see tm_run_step): the payload is taken by position,
// so a request body reaches the chat client as the core wrote it.
const ACTION = /^\{"type":"([a-z_]+)"(?:,"[a-z_]+":)?/;

// The hook that performs each action, and whether its answer is a string
// (nullable: null too).
const PERFORMERS = {
  llm: { hook: 'llm', answers: true },
  llm_open: { hook: 'llmOpen' },
  llm_next: { hook: 'llmNext', answers: true, nullable: true },
  tools: { hook: 'tools', answers: true },
  store_list: { hook: 'storeList', answers: true },
  store_add: { hook: 'storeAdd' },
  invoking: { hook: 'invoking', answers: true },
  invoked: { hook: 'invoked' },
};

export class ChatAgent {
  // The module its handle lives in (private: printing the object never walks
  // the module's memory).
  #module;

  /**
   * @param {{chatClient: {getResponse: Function, model?: string}, instructions?: string,
   *          name?: string, description?: string, tools?: Array,
   *          chatMessageStoreFactory?: () => object, contextProviders?: object|object[],
   *          maxToolRounds?: number, toolChoice?: string|object, options?: object,
   *          contextWindow?: {maxTokens: number, reserveTokens?: number,
   *                           encoding?: string|Function, strategy?: string}}} settings
   *   contextWindow fits every request's history into maxTokens - reserveTokens
   *   (see fitWindow); without it the whole history is sent.
   */
  constructor(settings) {
    const {
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
    } = optionsOf(settings, 'ChatAgent');
    if (!chatClient || typeof chatClient.getResponse !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'ChatAgent needs a chatClient with getResponse()');
    }
    checkKinds('ChatAgent', { chatMessageStoreFactory: [chatMessageStoreFactory, 'function'] });
    this.chatClient = chatClient;
    this.name = name;
    this.description = description;
    this.instructions = instructions;
    this.chatMessageStoreFactory = chatMessageStoreFactory;
    this.tools = toolMap(tools);
    this.contextProvider = aggregate(contextProviders);
    this.options = optionsOf(options, 'ChatAgent: options.options');
    const config = { tools: [...this.tools.values()].map(toolDefinition), options: this.options };
    if (instructions != null) config.instructions = instructions;
    if (name != null) config.name = name;
    if (maxToolRounds != null) config.max_tool_rounds = maxToolRounds;
    if (toolChoice != null) config.tool_choice = toolChoice;
    if (contextWindow != null) {
      optionsOf(contextWindow, 'ChatAgent: contextWindow');
      // The vocabulary is loaded before each run (it may not be yet).
      const enc = contextWindow.encoding ?? DEFAULT_ENCODING;
      if (typeof enc !== 'function' && typeof enc !== 'string') {
        throw new ThreadmemError('INVALID_ARGUMENT', 'contextWindow.encoding must be an encoding name or a counter function');
      }
      this.contextWindow = { ...contextWindow, encoding: enc };
      config.context_window = windowSpec(contextWindow, typeof enc === 'function' ? 'host' : enc);
    }
    this.#module = mod();
    this._ptr = create(this.#module._tm_agent_new, [toJSONText(config)]);
    this._created = new WeakMap(); // thread -> pending threadCreated outcome
    this._running = 0; // runs going, which close() waits for
    this._closing = false;
    finalizer.register(this, { module: this.#module, ptr: this._ptr }, this);
  }

  /** A new thread with a new store (from chatMessageStoreFactory, else in
   *  memory), or over the given store or service thread id. */
  getNewThread(options) {
    const { messageStore, serviceThreadId } = optionsOf(options, 'ChatAgent.getNewThread');
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
        await closeQuietly(store);
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
  async run(input, options) {
    return this._run(input, optionsOf(options, 'ChatAgent.run'), null);
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
   * run and resolves once it has stopped. The run goes on only while the
   * loop asks for updates, so a turn is stored only once its reader has
   * taken every update before the last. The run takes its turn on the
   * thread when the iteration starts. The chat client needs
   * getStreamingResponse().
   */
  async *runStream(input, options) {
    const { signal, ...runOptions } = optionsOf(options, 'ChatAgent.runStream');
    checkSignal(signal);
    if (typeof this.chatClient.getStreamingResponse !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'runStream needs a chatClient with getStreamingResponse()');
    }
    const updates = new UpdateQueue();
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal.reason);
    if (signal?.aborted) onAbort();
    else signal?.addEventListener('abort', onAbort, { once: true });
    const running = this._run(input, { ...runOptions, signal: stop.signal }, updates);
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

  // Runs one turn once the runs started before on the same thread are over.
  // `updates`: a streamed run's UpdateQueue. A run accepted here finishes
  // even if close() comes before it starts.
  async _run(input, options = {}, updates) {
    this._live();
    checkSignal(options.signal);
    optionsOf(options.options, 'ChatAgent.run: options.options');
    const temporary = !options.thread;
    const t = options.thread ?? this.getNewThread();
    if (!(t instanceof AgentThread)) throw new ThreadmemError('INVALID_ARGUMENT', 'thread must be an AgentThread');
    this._running++;
    // An abort while the run waits its turn ends it at once; the runs after
    // it still wait for the ones before it.
    const before = threadTails.get(t) ?? Promise.resolve();
    const mine = untilAborted(before, options.signal).then(() => this._runNow(input, t, options, updates));
    const tail = Promise.all([before, mine.catch(() => {})]);
    threadTails.set(t, tail);
    try {
      return await mine;
    } finally {
      if (threadTails.get(t) === tail) threadTails.delete(t);
      // A thread no caller holds: its store goes with the run.
      if (temporary) await closeQuietly(t.messageStore);
      if (--this._running === 0 && this._closing) this._free();
    }
  }

  async _runNow(input, t, { tools = [], signal, options = {} }, updates) {
    const created = this._created.get(t);
    if (created) {
      this._created.delete(t);
      const err = await created;
      if (err) throw wrapError('PROVIDER_ERROR', 'a context provider failed in threadCreated', err);
    }
    if (!t.messageStore && !t.serviceThreadId) t.messageStore = this._newStore();
    const store = t.messageStore;
    const native = store instanceof ChatMessageStore;
    // The store the core reads the history from in place: an in-memory one,
    // or a persistent one's mirror (its turn is still appended through the
    // host, to reach storage first); any other store lists it every turn.
    const inMemory = native ? store : store instanceof PersistentChatMessageStore ? await store._runHistory() : null;
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
    if (updates) request.stream = true;

    const hooks = this._hooks(t, store, runTools, signal, updates);
    const counter = this.contextWindow ? (await resolveEncoding(this.contextWindow.encoding)).counter : null;
    const storePtr = inMemory ? inMemory._pin() : 0;
    let result;
    try {
      // A streamed run steps only while its reader waits for an update.
      const pace = updates && (() => untilAborted(updates.wanted(), signal));
      result = await this._drive(storePtr, toJSONText(request), hooks, counter, pace);
    } catch (err) {
      throw redacted(err, this.chatClient);
    } finally {
      if (inMemory) inMemory._unpin();
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

  // Steps a run of the core to its end, performing each action it asks
  // for with `hooks`, and returns the parsed result. Only the steps hold the
  // module; every await is between them. A failed action is passed to the
  // core as TM_EHOST and its error kept: the run's failure rethrows it,
  // cause intact.
  async _drive(storePtr, runJson, hooks, counter, pace) {
    checkModule(this.#module, 'agent');
    const runPtr = runStart(this._ptr, storePtr, runJson);
    let hostRc = TM_OK;
    let input = null;
    let hostError = null;
    try {
      for (;;) {
        if (pace) await pace();
        checkModule(this.#module, 'agent'); // init() may have replaced it while the run waited
        const { rc, action } = runStep(runPtr, hostRc, input, counter);
        // A failed token counter fails the step that called it.
        hostError ??= takeCounterError();
        if (rc !== TM_OK) throw rc === TM_EHOST && hostError ? hostError : errorOf(runPtr, rc);
        const head = ACTION.exec(action);
        const type = head[1];
        const payload = head[0].length < action.length - 1 ? action.slice(head[0].length, -1) : null;
        hostRc = TM_OK;
        input = null;
        if (type === 'done') return JSON.parse(payload);
        if (type === 'emit') {
          hooks.emit(payload);
          continue;
        }
        const performer = PERFORMERS[type];
        try {
          const answer = await hooks[performer.hook](payload, {
            error: () => hostError ?? errorOf(runPtr, mod()._tm_errcode(runPtr)),
          });
          if (performer.answers && typeof answer !== 'string' && !(performer.nullable && answer === null)) {
            throw new ThreadmemError('INTERNAL_ERROR', `${performer.hook}() resolved to ${answer === null ? 'null' : typeof answer}, not JSON text`);
          }
          if (performer.answers) input = answer;
        } catch (err) {
          // The first failure is the cause; later ones (invoked after a
          // failure) must not hide it.
          hostError ??= err;
          hostRc = TM_EHOST;
        }
      }
    } finally {
      runFree(this.#module, runPtr);
    }
  }

  // The answers to the core's actions for one run.
  _hooks(thread, store, runTools, signal, updates) {
    const provider = this.contextProvider;
    const client = this.chatClient;
    let reply = null; // the streamed reply being read
    const closeReply = () => {
      const r = reply;
      reply = null;
      r?.return?.().catch?.(() => {});
    };
    return {
      llm: async (body) => {
        checkAborted(signal);
        let answer;
        try {
          answer = await untilAborted(client.getResponse(body, { signal }), signal);
        } catch (err) {
          throw wrapError('LLM_ERROR', 'the chat client failed', err);
        }
        if (typeof answer !== 'string') {
          throw new ThreadmemError('INVALID_RESPONSE', 'getResponse() must resolve to the response body, as JSON text');
        }
        return answer;
      },
      llmOpen: async (body) => {
        closeReply();
        checkAborted(signal);
        let opening;
        let chunks;
        try {
          opening = client.getStreamingResponse(body, { signal });
          chunks = await untilAborted(opening, signal);
        } catch (err) {
          // A reply that opens after the abort is closed unread.
          if (signal?.aborted) {
            Promise.resolve(opening)
              .then((late) => late?.[Symbol.asyncIterator]?.().return?.())
              .catch(() => {});
          }
          throw wrapError('LLM_ERROR', 'the chat client failed', err);
        }
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
        if (next === null || typeof next !== 'object') {
          throw new ThreadmemError('INVALID_ARGUMENT', "the streamed reply's iterator must give { value, done } results");
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
      emit: (json) => {
        try {
          updates?.push(JSON.parse(json));
        } catch {
          // Queuing an update does not fail; should it, the run goes on and
          // its own result still reaches the caller.
        }
      },
      close: closeReply,
      tools: async (callsJson) => {
        const calls = JSON.parse(callsJson);
        // The calls of a round share a signal that aborts with the run or
        // when one of them fails, and the round waits for every call: no
        // tool is still at work once the run has failed.
        const round = new AbortController();
        const onAbort = () => round.abort(signal.reason);
        if (signal?.aborted) onAbort();
        else signal?.addEventListener('abort', onAbort, { once: true });
        let failure;
        const results = await Promise.allSettled(
          calls.map(async (c) => {
            const tool =
              runTools.agent.get(c.name) ?? runTools.provider.get(c.name) ?? runTools.run.get(c.name);
            try {
              checkAborted(signal);
              const args = typeof c.arguments === 'string' ? JSON.parse(c.arguments || '{}') : (c.arguments ?? {});
              const result = await tool.execute(args, { thread, signal: round.signal });
              // Serialized here, once per call, so a result JSON cannot hold
              // (a BigInt, a cycle) fails as this tool's error.
              let resultText;
              try {
                resultText = toJSONText(result === undefined ? null : result);
              } catch (err) {
                throw new ThreadmemError('TOOL_ERROR', `tool "${c.name}" returned ${err.message}`, { cause: err });
              }
              return `{"call_id":${JSON.stringify(c.call_id)},"result":${resultText}}`;
            } catch (err) {
              const error =
                err instanceof ThreadmemError && err.code === 'ABORTED' ? err : wrapError('TOOL_ERROR', `tool "${c.name}" failed`, err);
              failure ??= error;
              round.abort(error);
              throw error;
            }
          }),
        );
        signal?.removeEventListener('abort', onAbort);
        if (failure) throw failure;
        return `[${results.map((r) => r.value).join(',')}]`;
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
        // The last moment an abort can take back the turn.
        checkAborted(signal);
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
          const options = { thread, agent: this, chatClient: client, signal };
          context = (await untilAborted(provider.invoking(messages.map(fromCanonical), options), signal)) ?? new Context();
        } catch (err) {
          throw wrapError('PROVIDER_ERROR', 'a context provider failed in invoking', err);
        }
        for (const tool of checkContext(context).tools ?? []) {
          if (!runTools.provider.has(tool.name)) runTools.provider.set(tool.name, tool);
        }
        return toJSONText([contextValue(context)]);
      },
      invoked: async (json, run) => {
        const { request_messages: req, response_messages: res, failed } = JSON.parse(json);
        const error = failed ? run.error() : undefined;
        try {
          const options = { thread, error, agent: this, chatClient: client, signal };
          await untilAborted(provider.invoked((req ?? []).map(fromCanonical), (res ?? []).map(fromCanonical), options), signal);
        } catch (err) {
          throw wrapError('PROVIDER_ERROR', 'a context provider failed in invoked', err);
        }
      },
    };
  }

  _newStore() {
    const store = this.chatMessageStoreFactory ? this.chatMessageStoreFactory() : new ChatMessageStore();
    return checkMessageStore(store, 'what chatMessageStoreFactory returns');
  }

  _live() {
    if (!this._ptr || this._closing) throw new ThreadmemError('CLOSED', 'the agent is closed');
    checkModule(this.#module, 'agent');
    return this._ptr;
  }

  /** Frees the agent's memory in the core; later runs throw CLOSED. Runs
   *  already going finish first (their steps need the agent). */
  close() {
    if (!this._ptr || this._closing) return;
    finalizer.unregister(this);
    this._closing = true;
    if (this._running === 0) this._free();
  }

  _free() {
    this.#module._tm_agent_free(this._ptr);
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

// Closes a store no caller holds: its failing to close (at once or later)
// is nobody's to handle, and must not undo what was done with it.
async function closeQuietly(store) {
  try {
    await store?.close?.();
  } catch {
    // nothing holds it any more
  }
}

// `promise`, or ABORTED as soon as `signal` aborts: a chat client that
// ignores the signal cannot keep an aborted run waiting.
function untilAborted(promise, signal) {
  if (!signal) return promise;
  let onAbort;
  const abort = new Promise((_, reject) => {
    onAbort = () => reject(abortedError(signal));
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
    this.waiting = null; // the reader's pending next()
    this.onWaiting = null; // the run's pending wanted()
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
    const next = new Promise((resolve, reject) => (this.waiting = { resolve, reject }));
    this.onWaiting?.();
    this.onWaiting = null;
    return next;
  }

  // Resolves once the reader waits for an update (it has taken all).
  wanted() {
    if (this.waiting) return Promise.resolve();
    return new Promise((resolve) => (this.onWaiting = resolve));
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
