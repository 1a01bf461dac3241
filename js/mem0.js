// Mem0Provider: the context provider contract over Mem0's hosted REST API.
// Before a run it searches the scope's memories (POST /v2/memories/search/
// with an AND of every scope field); after a run it sends the turn to be
// remembered (POST /v1/memories/) with every scope field on the same
// request, so that what is added is found again by a search with the same
// scope (the failure of Agent Framework's issue #6237, where a search
// scoped by user and agent found nothing).

import { Deadline } from './deadline.js';
import { ThreadmemError, checkAborted } from './errors.js';
import { Context, ContextProvider, hookMessages, threadKey, turnConversation } from './providers.js';
import { DEFAULT_CONTEXT_PROMPT } from './memory.js';
import { checkKinds, durationOf, optionsOf } from './options.js';
import { redactor } from './redact.js';

export class Mem0Provider extends ContextProvider {
  // Private, so that logging the provider, even with hidden fields, never shows them.
  #apiKey;
  #fetch;
  #redact;

  /**
   * @param {{apiKey: string, userId?: string, agentId?: string, applicationId?: string,
   *          threadId?: string, scopeToPerOperationThreadId?: boolean, host?: string|URL,
   *          topK?: number, contextPrompt?: string, fetch?: typeof fetch, timeoutMs?: number,
   *          onWarning?: (message: string, cause?: unknown) => void}} options
   */
  constructor(options) {
    const {
      apiKey,
      userId,
      agentId,
      applicationId,
      threadId,
      scopeToPerOperationThreadId = false,
      host,
      topK = 5,
      contextPrompt,
      fetch: fetchFn,
      timeoutMs = 30000,
      onWarning,
    } = optionsOf(options, 'Mem0Provider');
    super();
    if (typeof apiKey !== 'string' || !apiKey) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'Mem0Provider needs an apiKey');
    }
    if (!userId && !agentId && !applicationId && !threadId && !scopeToPerOperationThreadId) {
      throw new ThreadmemError(
        'INVALID_ARGUMENT',
        'Mem0Provider needs a scope: userId, agentId, applicationId, threadId or scopeToPerOperationThreadId',
      );
    }
    checkKinds('Mem0Provider', {
      userId: [userId, 'string'],
      agentId: [agentId, 'string'],
      applicationId: [applicationId, 'string'],
      threadId: [threadId, 'string'],
      host: [host instanceof URL ? host.href : host, 'url'],
      topK: [topK, 'count'],
      contextPrompt: [contextPrompt, 'string'],
      fetch: [fetchFn, 'function'],
      onWarning: [onWarning, 'function'],
    });
    this.timeoutMs = durationOf(timeoutMs, 'Mem0Provider: timeoutMs');
    this.host = String(host ?? 'https://api.mem0.ai').replace(/\/+$/, '');
    this.scope = Object.fromEntries(
      Object.entries({ userId, agentId, applicationId, threadId }).filter(([, v]) => v != null),
    );
    this.scopeToPerOperationThreadId = !!scopeToPerOperationThreadId;
    this.topK = topK;
    this.contextPrompt = contextPrompt ?? DEFAULT_CONTEXT_PROMPT;
    this.#apiKey = apiKey;
    this.#fetch = fetchFn ?? globalThis.fetch.bind(globalThis);
    this.#redact = redactor(apiKey);
    this._warn = onWarning ?? ((message, cause) => console.warn(`threadmem: ${message}`, cause ?? ''));
  }

  /** What JSON.stringify shows: the scope and the host, never the key. */
  toJSON() {
    return { host: this.host, scope: this.scope, topK: this.topK };
  }

  async invoking(messages, options) {
    const { thread, signal } = optionsOf(options, 'Mem0Provider.invoking');
    const query = hookMessages(messages, 'invoking')
      .filter((m) => m?.role === 'user' && m.text)
      .map((m) => m.text)
      .join('\n');
    if (!query.trim()) return undefined;
    const ids = this._ids(thread);
    const filters = { AND: Object.entries(ids).map(([k, v]) => ({ [k]: v })) };
    const body = await this._post('/v2/memories/search/', { query, filters, top_k: this.topK }, signal);
    const list = Array.isArray(body) ? body : body?.results;
    if (!Array.isArray(list)) throw new ThreadmemError('INVALID_RESPONSE', 'Mem0 search answered without a list of memories');
    const texts = list.map((m) => m?.memory).filter((t) => typeof t === 'string' && t);
    if (!texts.length) return undefined;
    return new Context({ instructions: `${this.contextPrompt}\n${texts.map((t) => `- ${t}`).join('\n')}` });
  }

  async invoked(requestMessages, responseMessages, options) {
    const { thread, error, signal } = optionsOf(options, 'Mem0Provider.invoked');
    const messages = turnConversation(requestMessages, responseMessages);
    if (error) return;
    if (!messages.some((m) => m.role === 'user')) return;
    // Remembering is a bonus: a failure is reported, never the run's end.
    try {
      await this._post('/v1/memories/', { messages, ...this._ids(thread) }, signal);
    } catch (err) {
      if (signal?.aborted) return; // the run was taken back
      this._warn(`Mem0Provider: the turn was not remembered: ${err.message}`, err);
    }
  }

  // Mem0's names for the scope of one operation.
  _ids(thread) {
    const s = { ...this.scope };
    if (this.scopeToPerOperationThreadId && threadKey(thread)) s.threadId = threadKey(thread);
    const ids = {};
    if (s.userId) ids.user_id = s.userId;
    if (s.agentId) ids.agent_id = s.agentId;
    if (s.applicationId) ids.app_id = s.applicationId;
    if (s.threadId) ids.run_id = s.threadId;
    if (!Object.keys(ids).length) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'Mem0Provider: this operation has no thread to scope to');
    }
    return ids;
  }

  // One request, its answer read whole within `timeoutMs`, or stopped by
  // the run's `signal`.
  async _post(path, payload, signal) {
    checkAborted(signal);
    const deadline = new Deadline(this.timeoutMs, signal);
    let res;
    let text;
    try {
      res = await this.#fetch(this.host + path, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Token ${this.#apiKey}` },
        body: JSON.stringify(payload),
        signal: deadline.controller.signal,
      });
      text = await res.text();
    } catch (err) {
      checkAborted(signal);
      if (deadline.expired) throw new ThreadmemError('MEM0_NETWORK_ERROR', `Mem0 did not answer within ${this.timeoutMs} ms`);
      throw new ThreadmemError('MEM0_NETWORK_ERROR', `cannot reach Mem0: ${this.#redact(err)}`);
    } finally {
      deadline.stop();
    }
    if (!res.ok) {
      throw new ThreadmemError('MEM0_HTTP_ERROR', `Mem0 answered HTTP ${res.status}: ${this.#redact(text, 300)}`, {
        status: res.status,
      });
    }
    try {
      return JSON.parse(text);
    } catch {
      throw new ThreadmemError('INVALID_RESPONSE', 'Mem0 answered with something other than JSON');
    }
  }
}
