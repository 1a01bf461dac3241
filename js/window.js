// Token counts and context windows: countTokens, fitWindow, and the
// encoding options shared by stores and agents. The rules (OpenAI's
// per-message overhead, which messages fit) are the core's; this file turns
// options into the core's window spec and results into ChatMessages.

import {
  call,
  countWithActiveCounter,
  ctx,
  errorOf,
  mod,
  takeCounterError,
  toJSONText,
  withCounterSync,
} from './core.js';
import { ThreadmemError, TM_OK } from './errors.js';
import { fromCanonical, messageValues } from './message.js';
import { encodingIdSync, ensureEncoding } from './tokenizer.js';
import { optionsOf } from './options.js';

export const DEFAULT_ENCODING = 'o200k_base';

/**
 * An encoding option as the core takes it: `{ name, counter }`, where name
 * is a built-in encoding's name, or 'host' with `counter` a function
 * (text) -> non-negative integer. A BPE vocabulary is loaded first.
 */
export async function resolveEncoding(encoding = DEFAULT_ENCODING) {
  if (typeof encoding === 'function') return { name: 'host', counter: encoding };
  if (typeof encoding !== 'string') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'encoding must be an encoding name or a counter function');
  }
  await ensureEncoding(encoding);
  return { name: encoding, counter: null };
}

/** The synchronous form of resolveEncoding, for constructors: the
 *  vocabulary must be loaded already (Node loads it on demand). */
export function resolveEncodingSync(encoding = DEFAULT_ENCODING) {
  if (typeof encoding === 'function') return { name: 'host', counter: encoding };
  if (typeof encoding !== 'string') {
    throw new ThreadmemError('INVALID_ARGUMENT', 'encoding must be an encoding name or a counter function');
  }
  encodingIdSync(encoding);
  return { name: encoding, counter: null };
}

/** The core's window spec for fitWindow-style options. */
export function windowSpec({ maxTokens, reserveTokens, strategy } = {}, encodingName) {
  const spec = { max_tokens: maxTokens, encoding: encodingName };
  if (reserveTokens !== undefined) spec.reserve_tokens = reserveTokens;
  if (strategy !== undefined) spec.strategy = strategy;
  return spec;
}

/**
 * Runs a synchronous core call with the encoding's counter active, and
 * rethrows the counter's own failure rather than the core's report of it.
 */
export function counted({ counter }, fn) {
  return withCounterSync(counter, () => {
    try {
      return fn();
    } catch (err) {
      const counterError = takeCounterError();
      if (counterError && err instanceof ThreadmemError && err.code === 'HOST_ERROR') throw counterError;
      throw err;
    }
  });
}

/** A window result of the core as ChatMessages. `droppedBefore`: how many
 *  of `dropped` (oldest first) are older than the history sent. */
export function windowResult(text) {
  const r = JSON.parse(text);
  return {
    messages: r.messages.map(fromCanonical),
    dropped: r.dropped.map(fromCanonical),
    droppedBefore: r.dropped_before,
    tokens: r.tokens,
  };
}

/**
 * Counts tokens: of a text (the encoding's tokens, no overhead), or of chat
 * messages as a chat-completions request costs them (OpenAI's rule: per
 * message, per name, tool calls and results, plus the reply priming).
 */
export async function countTokens(textOrMessages, options) {
  const { encoding } = optionsOf(options, 'countTokens');
  const enc = await resolveEncoding(encoding);
  if (typeof textOrMessages === 'string') return countText(enc, textOrMessages);
  const json = toJSONText(messageValues(textOrMessages));
  return counted(enc, () => countMessages(json, enc.name));
}

function countText(enc, text) {
  if (enc.counter) return withCounterSync(enc.counter, () => countWithActiveCounter(text));
  const m = mod();
  const bytes = new TextEncoder().encode(text); // lone surrogates become U+FFFD
  const p = m._tm_malloc(bytes.length + 1);
  const out = m._tm_malloc(4);
  try {
    if (!p || !out) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
    m.HEAPU8.set(bytes, p);
    const rc = m._tm_count(ctx(), encodingIdSync(enc.name), p, bytes.length, out);
    if (rc !== TM_OK) throw errorOf(ctx(), rc);
    return m.HEAPU32[out >> 2];
  } finally {
    if (p) m._tm_free(p);
    if (out) m._tm_free(out);
  }
}

function countMessages(json, encodingName) {
  return call(ctx(), mod()._tm_count_messages, [json, encodingName], { wantOut: 'size', extra: [ctx()] });
}

/**
 * Fits messages into a context window: `{ messages, dropped, tokens }`,
 * both lists oldest first. Options: maxTokens, reserveTokens (default 0),
 * encoding (default o200k_base, or 'estimate', or a counter function),
 * strategy ('last', the default, or 'first').
 */
export async function fitWindow(messages, options) {
  const windowOptions = optionsOf(options, 'fitWindow');
  const enc = await resolveEncoding(windowOptions.encoding);
  const json = toJSONText(messageValues(messages));
  const spec = toJSONText(windowSpec(windowOptions, enc.name));
  return windowResult(counted(enc, () => call(ctx(), mod()._tm_fit_window, [json, spec], { extra: [ctx()] })));
}
