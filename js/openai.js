// OpenAIChatClient: sends the request bodies the core builds to any
// OpenAI-compatible chat-completions endpoint, with retries. It is the only
// place that does HTTP for the model.

import { ThreadmemError } from './errors.js';

const RETRY_STATUS = new Set([408, 429, 500, 502, 503, 504]);

export class OpenAIChatClient {
  /**
   * @param {{baseURL?: string, apiKey?: string, model?: string,
   *          headers?: Record<string,string>, apiVersion?: string, azure?: boolean,
   *          maxRetries?: number, retryBaseDelayMs?: number, maxRetryDelayMs?: number,
   *          timeoutMs?: number, fetch?: typeof fetch}} [options]
   */
  constructor({
    baseURL = 'https://api.openai.com/v1',
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
  } = {}) {
    if (typeof baseURL !== 'string' || !baseURL) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'OpenAIChatClient: baseURL must be a string');
    }
    for (const [name, v] of Object.entries({ maxRetries, retryBaseDelayMs, maxRetryDelayMs, timeoutMs })) {
      if (!Number.isFinite(v) || v < 0) {
        throw new ThreadmemError('INVALID_ARGUMENT', `OpenAIChatClient: ${name} must be a non-negative number`);
      }
    }
    this.baseURL = baseURL.replace(/\/+$/, '');
    this.model = model;
    this.apiVersion = apiVersion;
    this.azure = azure;
    this.maxRetries = maxRetries;
    this.retryBaseDelayMs = retryBaseDelayMs;
    this.maxRetryDelayMs = maxRetryDelayMs;
    this.timeoutMs = timeoutMs;
    // Kept off the enumerable fields so that logging the client never shows it.
    Object.defineProperty(this, '_apiKey', { value: apiKey, enumerable: false });
    Object.defineProperty(this, '_headers', { value: { ...headers }, enumerable: false });
    Object.defineProperty(this, '_fetch', { value: fetchFn ?? globalThis.fetch.bind(globalThis), enumerable: false });
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
   */
  async getResponse(body, { signal } = {}) {
    const headers = { 'content-type': 'application/json', ...this._headers };
    if (this._apiKey) {
      if (this.azure) headers['api-key'] = this._apiKey;
      else headers.authorization = `Bearer ${this._apiKey}`;
    }
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw aborted(signal);
      let res;
      let text;
      try {
        ({ res, text } = await this._post(headers, body, signal));
      } catch (err) {
        if (err instanceof ThreadmemError && err.code !== 'LLM_NETWORK_ERROR') throw err;
        if (attempt >= this.maxRetries) throw err;
        await sleep(this._backoff(attempt, null), signal);
        continue;
      }
      if (res.ok) return text;
      const retryable = RETRY_STATUS.has(res.status);
      if (!retryable || attempt >= this.maxRetries) {
        const detail = this._redact(serverMessage(text));
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

  async _post(headers, body, signal) {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), this.timeoutMs);
    const onAbort = () => timeout.abort();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const res = await this._fetch(this.url, { method: 'POST', headers, body, signal: timeout.signal });
      const text = await res.text();
      return { res, text };
    } catch (err) {
      if (signal?.aborted) throw aborted(signal);
      if (timeout.signal.aborted) {
        throw new ThreadmemError('LLM_TIMEOUT', `the model endpoint did not answer within ${this.timeoutMs} ms`);
      }
      const detail = this._redact(String(err?.message ?? err));
      throw new ThreadmemError('LLM_NETWORK_ERROR', `cannot reach the model endpoint: ${detail}`, { cause: err });
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    }
  }

  // A server may quote the key back in its error text; never pass it on.
  _redact(text) {
    return this._apiKey ? text.split(this._apiKey).join('[redacted]') : text;
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

// The server's own error message, when its body is OpenAI's error shape.
function serverMessage(text) {
  try {
    const msg = JSON.parse(text)?.error?.message;
    return typeof msg === 'string' ? `: ${msg.slice(0, 500)}` : '';
  } catch {
    return '';
  }
}

function aborted(signal) {
  return new ThreadmemError('ABORTED', 'the run was aborted', { cause: signal.reason });
}

function sleep(ms, signal) {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(aborted(signal));
    const timer = setTimeout(done, ms);
    function done() {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }
    function onAbort() {
      clearTimeout(timer);
      reject(aborted(signal));
    }
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
