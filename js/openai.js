// OpenAIChatClient: sends the request bodies the core builds to any
// OpenAI-compatible chat-completions endpoint, with retries. It is the only
// place that does HTTP for the model.

import { Deadline } from './deadline.js';
import { ThreadmemError, abortedError, checkAborted, describe } from './errors.js';
import { checkKinds, durationOf, optionsOf } from './options.js';
import { redactedCause, redactor } from './redact.js';

// A timeout, a rate limit, or any server-side failure (5xx) may pass.
const retryableStatus = (status) => status === 408 || status === 429 || status >= 500;

export class OpenAIChatClient {
  // Private, so that logging the client, even with hidden fields, never shows them.
  #apiKey;
  #headers;
  #fetch;
  #redact;

  /**
   * @param {{baseURL?: string, apiKey?: string, model?: string,
   *          headers?: Record<string,string>, apiVersion?: string, azure?: boolean,
   *          maxRetries?: number, retryBaseDelayMs?: number, maxRetryDelayMs?: number,
   *          timeoutMs?: number, fetch?: typeof fetch}} [options]
   */
  constructor(options) {
    const {
      baseURL,
      apiKey,
      model,
      headers = {},
      apiVersion,
      azure = false,
      maxRetries = 3,
      retryBaseDelayMs = 500,
      maxRetryDelayMs = 20000,
      timeoutMs = 60000,
      fetch: fetchFn,
    } = optionsOf(options, 'OpenAIChatClient');
    checkKinds('OpenAIChatClient', {
      baseURL: [baseURL, 'url'],
      apiKey: [apiKey, 'string'],
      model: [model, 'string'],
      apiVersion: [apiVersion, 'string'],
      maxRetries: [maxRetries, 'count'],
      fetch: [fetchFn, 'function'],
    });
    if (apiVersion?.isWellFormed() === false) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'OpenAIChatClient: apiVersion holds a lone surrogate');
    }
    const headerValue = (v) => typeof v === 'string' || Number.isFinite(v);
    if (typeof headers !== 'object' || (headers !== null && !Object.values(headers).every(headerValue))) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'OpenAIChatClient: headers must be an object of strings');
    }
    durationOf(retryBaseDelayMs, 'OpenAIChatClient: retryBaseDelayMs', { zero: true });
    durationOf(maxRetryDelayMs, 'OpenAIChatClient: maxRetryDelayMs', { zero: true });
    durationOf(timeoutMs, 'OpenAIChatClient: timeoutMs');
    this.baseURL = (baseURL ?? 'https://api.openai.com/v1').replace(/\/+$/, '');
    this.model = model;
    this.apiVersion = apiVersion;
    this.azure = azure;
    this.maxRetries = maxRetries;
    this.retryBaseDelayMs = retryBaseDelayMs;
    this.maxRetryDelayMs = maxRetryDelayMs;
    this.timeoutMs = timeoutMs;
    this.#apiKey = apiKey;
    this.#headers = Object.fromEntries(Object.entries(headers ?? {}).map(([name, v]) => [name, String(v)]));
    this.#fetch = fetchFn ?? globalThis.fetch.bind(globalThis);
    this.#redact = redactor(apiKey, this.#headers);
  }

  /** The chat-completions URL. */
  get url() {
    const u = `${this.baseURL}/chat/completions`;
    return this.apiVersion ? `${u}?api-version=${encodeURIComponent(this.apiVersion)}` : u;
  }

  /**
   * Posts one request body (JSON text) and resolves with the response body
   * text. Retries 408/429/5xx and network errors with jittered exponential
   * backoff, honouring Retry-After. Rejects with a ThreadmemError:
   * LLM_HTTP_ERROR (with .status), LLM_NETWORK_ERROR, LLM_TIMEOUT or ABORTED.
   * `timeoutMs` bounds each attempt, body included.
   */
  async getResponse(body, options) {
    const { signal } = optionsOf(options, 'OpenAIChatClient.getResponse');
    return this._accepted(body, signal, 'application/json', (res) => res.text());
  }

  /**
   * Posts one request body that asks for a streamed reply ("stream": true)
   * and resolves, once the endpoint has accepted it, with an async iterable
   * of the JSON text of each server-sent "data:" event, ending at "data:
   * [DONE]". Retries as getResponse does until the reply starts; after that
   * nothing is retried (part of the reply has been seen). `timeoutMs`
   * bounds the wait for the reply to start and then each gap between
   * chunks. Reading rejects with LLM_STREAM_ERROR when the connection
   * breaks mid-reply, LLM_TIMEOUT when it stalls, ABORTED on `signal`.
   * Stopping the iteration early closes the connection.
   */
  async getStreamingResponse(body, options) {
    const { signal } = optionsOf(options, 'OpenAIChatClient.getStreamingResponse');
    const { res, deadline } = await this._accepted(body, signal, 'text/event-stream');
    const type = res.headers.get('content-type') ?? '';
    if (!/^text\/event-stream/i.test(type)) {
      deadline.stop();
      res.body?.cancel().catch(() => {});
      throw new ThreadmemError('INVALID_RESPONSE', `the model endpoint answered ${type || 'without a content type'} instead of an event stream`);
    }
    return closable(sseData(res.body, deadline, (err) => this._failure(err, deadline, signal, true)), () => {
      deadline.stop();
      res.body.cancel().catch(() => {});
    });
  }

  // Sends the request, with retries, until the endpoint answers 2xx. With
  // `read`, resolves with what it reads of that response (a read that fails
  // on the network is retried too); without, with the response and the
  // deadline of its attempt, still running for the caller to read under.
  async _accepted(body, signal, accept, read) {
    const headers = { 'content-type': 'application/json', accept, ...this.#headers };
    if (this.#apiKey) {
      if (this.azure) headers['api-key'] = this.#apiKey;
      else headers.authorization = `Bearer ${this.#apiKey}`;
    }
    for (let attempt = 0; ; attempt++) {
      checkAborted(signal);
      const deadline = new Deadline(this.timeoutMs, signal);
      let res;
      let text;
      try {
        res = await this.#fetch(this.url, { method: 'POST', headers, body, signal: deadline.controller.signal });
        if (res.ok && !read) return { res, deadline };
        text = await (read && res.ok ? read(res) : res.text());
        if (res.ok) return text;
      } catch (err) {
        const failure = this._failure(err, deadline, signal, false);
        if (failure.code !== 'LLM_NETWORK_ERROR' || attempt >= this.maxRetries) throw failure;
        await sleep(this._backoff(attempt, null), signal);
        continue;
      } finally {
        if (read || !res?.ok) deadline.stop();
      }
      const retryable = retryableStatus(res.status);
      if (!retryable || attempt >= this.maxRetries) {
        const detail = serverMessage(text, this.#redact);
        throw new ThreadmemError(
          'LLM_HTTP_ERROR',
          `the model endpoint answered HTTP ${res.status}${detail}` +
            (retryable ? ` after ${attempt + 1} attempts` : ''),
          { status: res.status },
        );
      }
      await sleep(this._backoff(attempt, res.headers.get('retry-after')), signal);
    }
  }

  // The error for a fetch or a read that threw.
  _failure(err, deadline, signal, midStream) {
    if (err instanceof ThreadmemError) return err;
    if (signal?.aborted) return abortedError(signal);
    if (deadline.expired) {
      return new ThreadmemError(
        'LLM_TIMEOUT',
        midStream
          ? `the model endpoint's streamed reply stalled for more than ${this.timeoutMs} ms`
          : `the model endpoint did not answer within ${this.timeoutMs} ms`,
      );
    }
    const detail = this.#redact(describe(reasonOf(err)));
    const cause = redactedCause(err, this.#redact);
    if (midStream) {
      return new ThreadmemError('LLM_STREAM_ERROR', `the model's streamed reply broke off: ${detail}`, { cause });
    }
    return new ThreadmemError('LLM_NETWORK_ERROR', `cannot reach the model endpoint: ${detail}`, { cause });
  }

  /** `text` with the API key and the credential headers' values replaced by
   *  "[redacted]": a server may quote them back (in an error body, in a
   *  reply), and the agent passes what the core reports of a reply through
   *  here before it reaches an error. */
  redact(text) {
    return this.#redact(text);
  }

  // The delay before retry number attempt+1: Retry-After when the server
  // says so, else exponential with full jitter; capped either way.
  _backoff(attempt, retryAfter) {
    const told = parseRetryAfter(retryAfter);
    if (told !== null) return Math.min(told, this.maxRetryDelayMs);
    const ceiling = Math.min(this.retryBaseDelayMs * 2 ** attempt, this.maxRetryDelayMs);
    return ceiling / 2 + Math.random() * (ceiling / 2);
  }
}

function parseRetryAfter(value) {
  if (value == null || value === '') return null;
  if (/^\d+(\.\d+)?$/.test(value.trim())) return Number(value) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

// What fetch's "fetch failed" wraps (the reason: refused, reset), else the error.
function reasonOf(err) {
  try {
    return err?.cause ?? err;
  } catch {
    return err;
  }
}

// The server's own error message, redacted, when its body is OpenAI's error shape.
function serverMessage(text, redact) {
  try {
    const msg = JSON.parse(text)?.error?.message;
    return typeof msg === 'string' ? `: ${redact(msg, 500)}` : '';
  } catch {
    return '';
  }
}

// The data of each server-sent event of `body`, until "[DONE]" or the end.
// Events are split on blank lines; of their fields only "data" matters
// (several data lines join with "\n"); comments (":") keep-alives are
// skipped. What the data means is the core's business.
async function* sseData(body, deadline, failure) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buffer = '';
  let data = [];
  let finished = false;
  try {
    for (;;) {
      let chunk;
      deadline.arm();
      try {
        chunk = await reader.read();
      } catch (err) {
        throw failure(err);
      }
      deadline.pause();
      buffer += chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      // A line ends at \r\n, \n or \r; a \r at the very end may be half of
      // a \r\n, so it waits for more.
      const lines = buffer.split(/\r\n|\n|\r(?!$)/);
      buffer = chunk.done ? '' : lines.pop();
      for (const line of lines) {
        if (line === '') {
          if (!data.length) continue;
          const event = data.join('\n');
          data = [];
          if (event === '[DONE]') {
            finished = true;
            return;
          }
          yield event;
        } else if (line.startsWith('data:')) {
          data.push(line.slice(line[5] === ' ' ? 6 : 5));
        }
      }
      if (chunk.done) {
        finished = true;
        // An event the body ended before closing is still read.
        if (data.length && data.join('\n') !== '[DONE]') yield data.join('\n');
        return;
      }
    }
  } finally {
    deadline.stop();
    if (!finished) reader.cancel().catch(() => {});
  }
}

// The events, with a `return()` that also works before the first `next()`:
// a generator closed before it starts never runs its `finally`, which would
// leave the connection open, and the model writing, until the timeout.
function closable(events, closeUnread) {
  let started = false;
  return {
    [Symbol.asyncIterator]() {
      return this;
    },
    next() {
      started = true;
      return events.next();
    },
    return(value) {
      if (!started) closeUnread();
      return events.return(value);
    },
  };
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(abortedError(signal));
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(abortedError(signal));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
