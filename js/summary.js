// SummaryProvider: when a thread outgrows the context window, the turns that
// fall out of it are summarized by the model into one message that stands in
// for them. The originals stay in the store; each new summary is the last
// one plus the turns dropped since, never the whole thread again.
//
// Which turns fall out is the core's window (the same one the agent sends),
// and the core skips the history a summary covers (its metadata names the
// last message it covers: `summary_of.last_message_id`), so a summarized
// turn is never sent twice. Whole turns and tool-call groups drop together,
// so a summary never splits one.

import { ThreadmemError, wrapError } from './errors.js';
import { ChatMessage } from './message.js';
import { Context, ContextProvider, hookMessages, threadKey } from './providers.js';
import { Tokenizer } from './tokenizer.js';
import { DEFAULT_ENCODING, countTokens, fitWindow } from './window.js';
import { checkKinds, optionsOf } from './options.js';

const DEFAULT_PROMPT =
  'You maintain the running summary of a conversation between a user and an assistant. ' +
  'Merge the previous summary (if any) with the new messages into one concise summary. ' +
  'Keep every durable fact, decision, name, number and open question; drop small talk. ' +
  'Answer with the summary text only.';
const SUMMARY_HEADER = 'Summary of the earlier conversation:\n';
// The summary message's own overhead (role, header) on top of its text.
const MESSAGE_OVERHEAD = 16;

export class SummaryProvider extends ContextProvider {
  /**
   * @param {{chatClient?: {getResponse: Function, model?: string}, maxTokens?: number,
   *          reserveTokens?: number, encoding?: string|Function, summaryMaxTokens?: number,
   *          prompt?: string, storage?: {get: Function, set: Function},
   *          onWarning?: (message: string, cause?: unknown) => void}} [options]
   * The window defaults to the agent's contextWindow; the chat client to the
   * agent's. `summaryMaxTokens` of the window are kept for the summary.
   * `storage` keeps each thread's summary (a Map by default: pass a
   * persistent get/set store to keep summaries across processes; with
   * delete(key) too for deleteSummary).
   */
  constructor(options) {
    super();
    const {
      chatClient,
      maxTokens,
      reserveTokens,
      encoding,
      summaryMaxTokens = 1000,
      prompt,
      storage = new Map(),
      onWarning,
    } = optionsOf(options, 'SummaryProvider');
    if (!Number.isSafeInteger(summaryMaxTokens) || summaryMaxTokens <= MESSAGE_OVERHEAD) {
      throw new ThreadmemError('INVALID_ARGUMENT', `summaryMaxTokens must be an integer above ${MESSAGE_OVERHEAD}`);
    }
    if (!storage || typeof storage.get !== 'function' || typeof storage.set !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'storage must have get(key) and set(key, value)');
    }
    checkKinds('SummaryProvider', {
      chatClient: [chatClient, 'chatClient'],
      maxTokens: [maxTokens, 'count'],
      reserveTokens: [reserveTokens, 'count'],
      prompt: [prompt, 'string'],
      onWarning: [onWarning, 'function'],
    });
    this.chatClient = chatClient;
    this.window = maxTokens === undefined ? undefined : { maxTokens, reserveTokens, encoding };
    this.summaryMaxTokens = summaryMaxTokens;
    this.prompt = prompt ?? DEFAULT_PROMPT;
    this.storage = storage;
    this.onWarning = onWarning ?? ((message) => console.warn(`threadmem: ${message}`));
    this._deletions = new Map(); // key -> how many times deleteSummary removed it
  }

  async invoking(messages, options) {
    const { thread, agent, signal, context } = optionsOf(options, 'SummaryProvider.invoking');
    const newMessages = hookMessages(messages, 'invoking');
    const store = thread?.messageStore;
    const window = this.window ?? agent?.contextWindow;
    const client = this.chatClient ?? agent?.chatClient;
    if (!store || !window || !client) return undefined;
    const encoding = window.encoding ?? DEFAULT_ENCODING;

    // The history's window with room kept for what the request sends
    // besides it: the instructions (the agent's, then those of the providers
    // before this one, joined as the core joins them), those providers'
    // messages, the new messages and the summary.
    const instructions = [agent?.instructions, context?.instructions].filter(Boolean).join('\n');
    const besides = [
      ...(instructions ? [{ role: 'system', text: instructions }] : []),
      ...(context?.messages ?? []),
      ...newMessages,
    ];
    const fixed = (besides.length ? (await countTokens(besides, { encoding })) - 3 : 0) + this.summaryMaxTokens;
    const history = { maxTokens: window.maxTokens - fixed, reserveTokens: window.reserveTokens, encoding };
    // No room for the newest turn beside the summary: the agent may still
    // send that turn alone (or report the window too small), but what it
    // drops goes unsummarized, which the caller should hear of.
    const noRoom = () => {
      this.onWarning(
        `the context window has no room for a summary of ${this.summaryMaxTokens} tokens beside the newest turn; ` +
          'older turns are dropped unsummarized (raise maxTokens or lower summaryMaxTokens)',
      );
      return undefined;
    };
    let dropped;
    try {
      if (history.maxTokens - (history.reserveTokens ?? 0) <= 0) return noRoom();
      const win = typeof store.getContextWindow === 'function'
        ? await store.getContextWindow(history)
        : await fitWindow(await store.listMessages(), history);
      dropped = win.dropped.slice(0, win.droppedBefore);
    } catch (err) {
      if (err instanceof ThreadmemError && err.code === 'CONTEXT_WINDOW_EXCEEDED') return noRoom();
      throw err;
    }
    if (!dropped.length) return undefined;

    const key = summaryKey(thread);
    const deletions = this._deletions.get(key);
    let state = await this.storage.get(key);
    const last = dropped.at(-1).messageId;
    if (state?.last_message_id !== last) {
      const from = state ? unsummarizedFrom(state, dropped) : -1;
      const previous = from >= 0 ? state : undefined;
      const fresh = dropped.slice(Math.max(from, 0));
      const text = await this._summarize(client, encoding, previous?.text, fresh, signal);
      if (text === undefined) {
        if (!previous) return undefined;
      } else {
        state = {
          text,
          first_message_id: previous?.first_message_id ?? dropped[0].messageId,
          last_message_id: last,
          last_created_at: dropped.at(-1).createdAt,
          message_count: (previous?.message_count ?? 0) + fresh.length,
        };
        // A summary deleted meanwhile (its thread is going) is not written back.
        if (this._deletions.get(key) !== deletions) return undefined;
        await this.storage.set(key, state);
      }
    }
    const summaryOf = {
      first_message_id: state.first_message_id,
      last_message_id: state.last_message_id,
      message_count: state.message_count,
    };
    return new Context({ messages: [new ChatMessage('system', SUMMARY_HEADER + state.text, { metadata: { summary_of: summaryOf } })] });
  }

  /** The thread's current summary ({ text, first_message_id,
   *  last_message_id, last_created_at, message_count }), or undefined.
   *  `thread`: the thread, or its store's thread id. */
  async getSummary(thread) {
    return this.storage.get(summaryKey(thread));
  }

  /** Deletes the thread's summary (with the thread, say: it holds what the
   *  thread said); a summary being made meanwhile is not written back.
   *  Needs a storage with delete(key), as a Map has. */
  async deleteSummary(thread) {
    if (typeof this.storage.delete !== 'function') {
      throw new ThreadmemError('INVALID_ARGUMENT', 'deleteSummary needs a storage with delete(key)');
    }
    const key = summaryKey(thread);
    this._deletions.set(key, (this._deletions.get(key) ?? 0) + 1);
    await this.storage.delete(key);
  }

  // One request to the model; undefined (with a warning) when its answer is
  // not a usable summary, so the turn goes on with the previous one.
  async _summarize(client, encoding, previous, messages, signal) {
    const transcript = messages.map(describe).join('\n');
    const user = (previous ? `Previous summary:\n${previous}\n\n` : '') + `New messages:\n${transcript}`;
    const body = {
      messages: [{ role: 'system', content: this.prompt }, { role: 'user', content: user }],
      max_tokens: this.summaryMaxTokens - MESSAGE_OVERHEAD,
    };
    if (client.model) body.model = client.model;
    let answer;
    try {
      answer = await client.getResponse(JSON.stringify(body), { signal });
    } catch (err) {
      throw wrapError('LLM_ERROR', 'the summary request failed', err);
    }
    let text;
    try {
      text = JSON.parse(answer).choices[0].message.content;
    } catch (err) {
      this.onWarning('the summary response is not a chat completion; the previous summary is kept', err);
      return undefined;
    }
    if (typeof text !== 'string' || !text.trim()) {
      this.onWarning('the summary response has no text; the previous summary is kept');
      return undefined;
    }
    return this._cap(text.trim(), encoding);
  }

  // Holds the summary to the room kept for it, whatever the model sent.
  async _cap(text, encoding) {
    const room = this.summaryMaxTokens - MESSAGE_OVERHEAD;
    if ((await countTokens(text, { encoding })) <= room) return text;
    if (typeof encoding === 'string' && encoding !== 'estimate') {
      const tok = await Tokenizer.load(encoding);
      return tok.decode(tok.encode(text).subarray(0, room));
    }
    let cut = text;
    while (cut && (await countTokens(cut, { encoding })) > room) cut = cut.slice(0, Math.floor(cut.length * 0.9));
    return cut;
  }
}

// Where a thread's summary is kept: under its store's id, else its own.
function summaryKey(thread) {
  const id = typeof thread === 'string' ? thread : threadKey(thread);
  if (typeof id !== 'string' || !id) {
    throw new ThreadmemError('INVALID_ARGUMENT', 'a summary belongs to a thread: give the thread, or its store\'s thread id');
  }
  return `summary:${id}`;
}

// Where the dropped messages the summary does not cover yet begin: right
// after its last message; at the first when that message has been evicted
// from the store (eviction takes the oldest first, so every message still
// held is as new as it or newer); -1 when the summary covers nothing of this
// history (rewritten with older messages), which then starts over.
function unsummarizedFrom(state, dropped) {
  const at = dropped.findIndex((m) => m.messageId === state.last_message_id);
  if (at >= 0) return at + 1;
  const oldest = Date.parse(dropped[0].createdAt);
  return oldest >= Date.parse(state.last_created_at) ? 0 : -1;
}

function describe(m) {
  const parts = [];
  for (const c of m.contents) {
    if (c.type === 'text' && c.text) parts.push(c.text);
    else if (c.type === 'function_call') parts.push(`[called ${c.name}(${c.arguments ?? ''})]`);
    else if (c.type === 'function_result') parts.push(`[result: ${JSON.stringify(c.result ?? null)}]`);
  }
  return `${m.role}: ${parts.join(' ')}`;
}
