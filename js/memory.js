// MemoryProvider: long-term memory as a context provider. Facts about the
// user outlive threads; before a run the relevant ones are found (BM25 in
// the core, hybrid with vectors when `embed` is given) and given to the
// model; after a run the model is asked, in one structured request, which
// facts of the turn to add, update or delete.
//
// The records, their search and their serialized form are the core's
// (js/memory-index.js binds them); this file decides when to search, what
// to ask the model, and where the index is kept.

import { ThreadmemError, checkAborted, describe, wrapError } from './errors.js';
import { MemoryIndex, isVector } from './memory-index.js';
import { ChatMessage, fromCanonical } from './message.js';
import { Context, ContextProvider, hookMessages, threadKey, turnConversation } from './providers.js';
import { checkKinds, optionsOf } from './options.js';

export const DEFAULT_CONTEXT_PROMPT = '## Memories\nConsider the following memories when answering user questions:';
const DEFAULT_STORAGE_KEY = 'threadmem-memory';
// How many existing facts the extraction request sees to decide against.
const EXTRACTION_NEIGHBOURS = 10;
// The tail of the operations on each storage object (or provider without
// one): see _run.
const queues = new WeakMap();

export const EXTRACTION_PROMPT = `You maintain long-term memory about the user: short, durable facts (who they are, their preferences, plans, relationships). From the conversation, extract such facts and decide for each, against the existing memories given with their ids, one event:
- ADD: a new fact (no id);
- UPDATE: it changes an existing memory (give its id and the new text);
- DELETE: it contradicts or revokes an existing memory (give its id);
- NONE: it is already known (give its id).
Ignore greetings, questions and anything temporary. Answer with one JSON object only:
{"memories":[{"event":"ADD"|"UPDATE"|"DELETE"|"NONE","id":"...","text":"..."}]}`;

export class MemoryProvider extends ContextProvider {
  /**
   * @param {object} [options]
   * @param {string} [options.userId] @param {string} [options.agentId]
   * @param {string} [options.applicationId] @param {string} [options.threadId]
   *   the scope of every record written and every search: a search sees only
   *   records whose scope has all of the given fields equal.
   * @param {boolean} [options.scopeToPerOperationThreadId] also scope to the
   *   thread of each run (memories of one conversation only).
   * @param {object} [options.storage] where the index is kept: an object with
   *   get(key) / put(key, value), or a message store (addMessages /
   *   listMessages; each change appends one snapshot message). Default: in
   *   memory only.
   * @param {string} [options.storageKey] the key of the index in `storage`.
   * @param {(texts: string[]) => Promise<ArrayLike<number>[]>} [options.embed]
   *   turns texts into vectors; with it search is hybrid.
   * @param {number} [options.topK] memories given to the model (default 5).
   * @param {number} [options.minScore] the lowest score given (default 0).
   * @param {string} [options.contextPrompt] the heading of the memories.
   * @param {'llm'|'none'} [options.extract] after a run, ask the model for
   *   facts ('llm', the default) or not ('none').
   * @param {object} [options.chatClient] the client of extraction requests
   *   (default: the agent's).
   * @param {(message: string, cause?: unknown) => void} [options.onWarning]
   *   what a failed extraction reports to (default console.warn).
   */
  constructor(options) {
    const {
      userId,
      agentId,
      applicationId,
      threadId,
      scopeToPerOperationThreadId = false,
      storage,
      storageKey,
      embed,
      topK = 5,
      minScore = 0,
      contextPrompt,
      extract = 'llm',
      chatClient,
      onWarning,
    } = optionsOf(options, 'MemoryProvider');
    super();
    const scope = { userId, agentId, applicationId, threadId };
    for (const [k, v] of Object.entries(scope)) {
      if (v != null && (typeof v !== 'string' || !v)) {
        throw new ThreadmemError('INVALID_ARGUMENT', `MemoryProvider: ${k} must be a non-empty string`);
      }
    }
    if (!userId && !agentId && !applicationId && !threadId && !scopeToPerOperationThreadId) {
      throw new ThreadmemError(
        'INVALID_ARGUMENT',
        'MemoryProvider needs a scope: userId, agentId, applicationId, threadId or scopeToPerOperationThreadId',
      );
    }
    if (extract !== 'llm' && extract !== 'none') {
      throw new ThreadmemError('INVALID_ARGUMENT', "MemoryProvider: extract must be 'llm' or 'none'");
    }
    checkKinds('MemoryProvider', {
      embed: [embed, 'function'],
      onWarning: [onWarning, 'function'],
      chatClient: [chatClient, 'chatClient'],
      storageKey: [storageKey, 'string'],
      topK: [topK, 'count'],
      minScore: [minScore, 'number'],
      contextPrompt: [contextPrompt, 'string'],
    });
    if (storage != null && !isKeyValue(storage) && !isMessageStore(storage)) {
      throw new ThreadmemError(
        'INVALID_ARGUMENT',
        'MemoryProvider: storage must have get(key) and put(key, value), or addMessages and listMessages',
      );
    }
    this.scope = Object.fromEntries(Object.entries(scope).filter(([, v]) => v != null));
    this.scopeToPerOperationThreadId = !!scopeToPerOperationThreadId;
    this.topK = topK;
    this.minScore = minScore;
    this.contextPrompt = contextPrompt ?? DEFAULT_CONTEXT_PROMPT;
    this.extract = extract;
    this.storageKey = storageKey ?? DEFAULT_STORAGE_KEY;
    this.chatClient = chatClient;
    this._storage = storage ?? undefined;
    this._embed = embed;
    this._warn = onWarning ?? ((message, cause) => console.warn(`threadmem: ${message}`, cause ?? ''));
    this._index = new MemoryIndex();
    this._seen = undefined; // the snapshot text last read from or written to storage
    this._lastQuery = null; // { text, vector } of the last search with embed
  }

  // ---- the direct API ----

  /** Adds one memory; returns the stored record. */
  async add(text, options) {
    const { metadata } = optionsOf(options, 'MemoryProvider.add');
    return (await this._run(() => this._addTexts([text], metadata)))[0];
  }

  /** Adds several memories, all or nothing; returns the stored records. */
  async addMany(texts, options) {
    const { metadata } = optionsOf(options, 'MemoryProvider.addMany');
    if (!Array.isArray(texts)) throw new ThreadmemError('INVALID_ARGUMENT', 'addMany needs an array of texts');
    return this._run(() => this._addTexts(texts, metadata));
  }

  /** The memories of this scope that best match `query`, best first, each
   *  with `score`. EMPTY_QUERY when the query holds no word. */
  async search(query, options) {
    const { topK, minScore } = optionsOf(options, 'MemoryProvider.search');
    return this._run(() => this._search(query, { topK, minScore }, undefined), { writes: false });
  }

  /** The memories of this scope, oldest first; `filter` may add
   *  { metadata, createdFrom, createdTo }. */
  async list(options) {
    const { metadata, createdFrom, createdTo } = optionsOf(options, 'MemoryProvider.list');
    return this._run(
      () => this._index.list({ scope: this._scopeFor(undefined), metadata, createdFrom, createdTo }),
      { writes: false },
    );
  }

  /** Changes a memory's text (and its vector); returns the record. */
  async update(id, text) {
    return this._run(async () => {
      checkTexts([text]);
      this._own(id);
      const embedding = this._embed ? (await this._vectors([text]))[0] : undefined;
      return this._index.update(id, { text, embedding });
    });
  }

  async delete(id) {
    return this._run(async () => {
      this._own(id);
      this._index.delete(id);
    });
  }

  /** Deletes a memory of this scope (deleted already or not) and erases
   *  every text its history holds: the index keeps nothing of what it said.
   *  The next snapshot written to `storage` has none of it either. */
  async forget(id) {
    return this._run(async () => {
      if (typeof id !== 'string') throw new ThreadmemError('INVALID_ARGUMENT', 'a memory id must be a string');
      this._index.forget(id, this._scopeFor(undefined));
    });
  }

  /** The ADD / UPDATE / DELETE events of a memory of this scope, deleted or
   *  not, oldest first; another scope's is NOT_FOUND, as one never stored. */
  async history(id) {
    return this._run(() => {
      if (typeof id !== 'string') throw new ThreadmemError('INVALID_ARGUMENT', 'a memory id must be a string');
      return this._index.history(id, this._scopeFor(undefined)); // live or deleted, of this scope only
    }, { writes: false });
  }

  /** Frees the index's memory in the core; later calls throw CLOSED. */
  close() {
    this._index.close();
  }

  // ---- the provider contract ----

  async invoking(messages, options) {
    const { thread } = optionsOf(options, 'MemoryProvider.invoking');
    const query = queryText(messages);
    let hits;
    try {
      hits = await this._run(() => this._search(query, {}, thread), { writes: false });
    } catch (err) {
      if (err instanceof ThreadmemError && err.code === 'EMPTY_QUERY') return undefined;
      throw err;
    }
    if (!hits.length) return undefined;
    return new Context({ instructions: `${this.contextPrompt}\n${hits.map((h) => `- ${h.text}`).join('\n')}` });
  }

  async invoked(requestMessages, responseMessages, options) {
    const { error, chatClient, thread, signal } = optionsOf(options, 'MemoryProvider.invoked');
    const conversation = turnConversation(requestMessages, responseMessages);
    if (this.extract !== 'llm' || error) return;
    const client = this.chatClient ?? chatClient;
    if (!client || typeof client.getResponse !== 'function') {
      this._warn('MemoryProvider: no chat client to extract memories with; the turn was not remembered');
      return;
    }
    // Extraction never fails the run: the turn is the user's, the memory a
    // bonus. Whatever goes wrong is reported and skipped.
    try {
      await this._extract(client, conversation, queryText(requestMessages), thread, signal);
    } catch (err) {
      if (signal?.aborted) return; // the run was taken back, and so is what it taught
      this._warn(`MemoryProvider: memory extraction failed: ${describe(err)}`, err);
    }
  }

  // ---- internals ----

  // Runs `fn` after every earlier operation of this provider, and of every
  // other provider of this process on the same storage object, with the
  // index brought up to date from storage: none writes over a change it has
  // not read. A change (`writes`) is all or nothing: it is stored, or undone
  // when storing fails, or when it fails part way through (a change of
  // several `steps`; one step is all or nothing in the core).
  _run(fn, { writes = true, steps = false } = {}) {
    const owner = this._storage ?? this;
    const result = (queues.get(owner) ?? Promise.resolve()).then(async () => {
      await this._sync();
      const before = writes && (this._storage || steps) ? this._index.serialize() : null;
      try {
        const value = await fn();
        if (writes && this._storage) await this._persist(before);
        return value;
      } catch (err) {
        if (before !== null) this._index.load(before);
        throw err;
      }
    });
    queues.set(owner, result.catch(() => {}));
    return result;
  }

  async _sync() {
    if (!this._storage) return;
    let text;
    try {
      text = await readSnapshot(this._storage, this.storageKey);
    } catch (err) {
      throw wrapError('STORAGE_ERROR', 'the memory storage failed to read', err);
    }
    if (text == null || text === this._seen) return;
    if (typeof text !== 'string') {
      throw new ThreadmemError('STORAGE_ERROR', 'the memory storage returned something other than text');
    }
    this._index.load(text);
    this._seen = text;
  }

  async _persist(before) {
    const text = this._index.serialize();
    if (text === before) return;
    try {
      await writeSnapshot(this._storage, this.storageKey, text);
    } catch (err) {
      throw wrapError('STORAGE_ERROR', 'the memory storage failed to write', err);
    }
    this._seen = text;
  }

  _scopeFor(thread) {
    const scope = { ...this.scope };
    if (this.scopeToPerOperationThreadId && threadKey(thread)) scope.threadId = threadKey(thread);
    if (!scope.userId && !scope.agentId && !scope.applicationId && !scope.threadId) {
      throw new ThreadmemError('INVALID_ARGUMENT', 'MemoryProvider: this operation has no thread to scope to');
    }
    return scope;
  }

  // A live record of this provider's scope, or NOT_FOUND: one user's
  // provider never touches another's records.
  _own(id) {
    if (typeof id !== 'string') throw new ThreadmemError('INVALID_ARGUMENT', 'a memory id must be a string');
    const rec = this._index.get(id);
    const scope = this._scopeFor(undefined);
    for (const [k, v] of Object.entries(scope)) {
      if (rec.scope[k] !== v) throw new ThreadmemError('NOT_FOUND', `no memory with id "${id}"`);
    }
  }

  async _addTexts(texts, metadata) {
    checkTexts(texts);
    const scope = this._scopeFor(undefined);
    const vectors = this._embed && texts.length ? await this._vectors(texts) : [];
    return this._withDimension(() =>
      this._index.add(texts.map((text, i) => ({ text, scope, metadata, embedding: vectors[i] }))),
    );
  }

  async _search(query, { topK, minScore }, thread) {
    const filter = { scope: this._scopeFor(thread) };
    const opts = { filter, topK: topK ?? this.topK, minScore: minScore ?? this.minScore };
    // The core says whether the query has a word before anything is embedded.
    if (!this._embed) return this._index.search(query, opts);
    this._index.search(query, { ...opts, topK: 1 });
    const embedding = await this._queryVector(query);
    return this._withDimension(() => this._index.search(query, { ...opts, embedding }));
  }

  // A query's vector. A run's extraction searches with the text its
  // invoking searched with: the last vector is kept, not paid for twice.
  async _queryVector(query) {
    if (this._lastQuery?.text !== query) this._lastQuery = { text: query, vector: (await this._vectors([query]))[0] };
    return this._lastQuery.vector;
  }

  // Calls the embed function and checks its answer's shape; the dimension
  // is the core's to check.
  async _vectors(texts) {
    let vectors;
    try {
      vectors = await this._embed(texts);
    } catch (err) {
      throw new ThreadmemError('EMBEDDING_ERROR', `the embed function failed: ${describe(err)}`, { cause: err });
    }
    if (!Array.isArray(vectors) || vectors.length !== texts.length) {
      throw new ThreadmemError(
        'EMBEDDING_ERROR',
        `the embed function must return one vector per text (${texts.length}), got ${Array.isArray(vectors) ? vectors.length : typeof vectors}`,
      );
    }
    if (!vectors.every(isVector)) {
      throw new ThreadmemError('EMBEDDING_ERROR', 'the embed function must return arrays of numbers (Float32Array)');
    }
    return vectors;
  }

  // A vector of the wrong dimension is the embed function's fault: say so,
  // with the core's error as the cause.
  _withDimension(fn) {
    try {
      return fn();
    } catch (err) {
      if (err instanceof ThreadmemError && err.code === 'DIMENSION_MISMATCH' && this._embed) {
        throw new ThreadmemError('DIMENSION_MISMATCH', `the embed function returned a vector of the wrong dimension: ${err.message}`, { cause: err });
      }
      throw err;
    }
  }

  // An extraction in three steps, so that only the first and the last hold
  // the provider (the model and the embed calls between them may be slow,
  // and other runs' searches go on meanwhile): the similar facts are read;
  // the model decides and the new texts are embedded; the decisions are
  // applied all together, to the facts as they are then.
  async _extract(client, conversation, query, thread, signal) {
    if (!conversation.some((m) => m.role === 'user')) return;
    const similar = await this._run(() => this._similar(query, thread), { writes: false });

    // The similar facts go under short ids, so that the model can neither
    // mistype a UUID nor name a record outside this scope.
    const ids = new Map(similar.map((r, i) => [String(i + 1), r]));
    const body = {
      messages: [
        { role: 'system', content: EXTRACTION_PROMPT },
        {
          role: 'user',
          content: JSON.stringify({
            existing_memories: [...ids].map(([id, r]) => ({ id, text: r.text })),
            conversation,
          }),
        },
      ],
      response_format: { type: 'json_object' },
      temperature: 0,
    };
    if (client.model) body.model = client.model;
    const answer = await client.getResponse(JSON.stringify(body), { signal });
    checkAborted(signal);
    const decisions = parseDecisions(answer);
    if (typeof decisions === 'string') {
      this._warn(`MemoryProvider: the extraction response was ignored: ${decisions}`);
      return;
    }
    const changes = this._changes(decisions, ids, similar);
    const texts = [...changes.adds, ...changes.updates.map((u) => u.text)];
    const vectors = this._embed && texts.length ? await this._vectors(texts) : [];
    checkAborted(signal);
    await this._run(
      () => {
        checkAborted(signal); // the last moment an abort takes the lesson back
        this._apply(changes, vectors, thread);
      },
      { steps: true },
    );
  }

  // The facts of this scope most like the turn (none for a turn without a
  // word).
  async _similar(query, thread) {
    try {
      return await this._search(query, { topK: EXTRACTION_NEIGHBOURS, minScore: 0 }, thread);
    } catch (err) {
      if (err instanceof ThreadmemError && err.code === 'EMPTY_QUERY') return [];
      throw err;
    }
  }

  // The model's decisions as changes: texts to add, records to update or
  // delete (each at most once); what cannot be used is reported and skipped.
  _changes(decisions, ids, similar) {
    const adds = [];
    const updates = [];
    const deletes = [];
    const known = new Set(similar.map((r) => r.text));
    const decided = new Set(); // the ids already updated or deleted
    for (const d of decisions) {
      const target = d.id != null ? ids.get(String(d.id)) : undefined;
      if (d.event === 'NONE') continue;
      if (d.event === 'ADD') {
        if (typeof d.text === 'string' && d.text.trim() && !known.has(d.text)) {
          adds.push(d.text);
          known.add(d.text);
        } else if (typeof d.text !== 'string' || !d.text.trim()) {
          this._warn('MemoryProvider: an ADD without text was skipped');
        }
      } else if (!target) {
        this._warn(`MemoryProvider: a ${d.event} of unknown memory id ${JSON.stringify(d.id)} was skipped`);
      } else if (decided.has(target.id)) {
        this._warn(`MemoryProvider: a second ${d.event} of memory id ${JSON.stringify(d.id)} was skipped`);
      } else if (d.event === 'DELETE') {
        decided.add(target.id);
        deletes.push(target);
      } else if (typeof d.text === 'string' && d.text.trim()) {
        decided.add(target.id);
        updates.push({ target, text: d.text });
      } else {
        this._warn('MemoryProvider: an UPDATE without text was skipped');
      }
    }
    return { adds, updates, deletes };
  }

  // Applies the changes (`vectors`: of the adds, then of the updates) to
  // the index as it is now. A fact changed or deleted since the model saw
  // it keeps that newer change: the decision about it is skipped.
  _apply({ adds, updates, deletes }, vectors, thread) {
    const unchanged = (target, event) => {
      let now = null;
      try {
        now = this._index.get(target.id);
      } catch (err) {
        if (!(err instanceof ThreadmemError && err.code === 'NOT_FOUND')) throw err;
      }
      if (now?.text === target.text) return true;
      this._warn(`MemoryProvider: a ${event} of a memory changed meanwhile was skipped`);
      return false;
    };
    for (const target of deletes) if (unchanged(target, 'DELETE')) this._index.delete(target.id);
    updates.forEach(({ target, text }, i) => {
      if (!unchanged(target, 'UPDATE')) return;
      const embedding = vectors[adds.length + i];
      this._withDimension(() => this._index.update(target.id, { text, embedding }));
    });
    if (!adds.length) return;
    const scope = this._scopeFor(thread);
    this._withDimension(() => this._index.add(adds.map((text, i) => ({ text, scope, embedding: vectors[i] }))));
  }
}

/** The search text of a run's new messages: the user's, else all. */
function queryText(messages) {
  const list = hookMessages(messages, 'invoking').filter((m) => m && m.text);
  const users = list.filter((m) => m.role === 'user');
  return (users.length ? users : list).map((m) => m.text).join('\n');
}

/** The decisions of an extraction response, or why it is unusable. */
function parseDecisions(body) {
  let content;
  try {
    content = JSON.parse(body)?.choices?.[0]?.message?.content;
  } catch {
    return 'the response is not JSON';
  }
  if (typeof content !== 'string') return 'the response has no message content';
  let value;
  try {
    value = JSON.parse(content);
  } catch {
    return 'the message content is not JSON';
  }
  const list = value?.memories;
  if (!Array.isArray(list)) return 'the JSON has no "memories" array';
  const events = new Set(['ADD', 'UPDATE', 'DELETE', 'NONE']);
  const good = list.filter((d) => d && typeof d === 'object' && events.has(d.event));
  if (good.length !== list.length) return 'an entry of "memories" is not {event: ADD|UPDATE|DELETE|NONE, id?, text?}';
  return good;
}

// Texts go to the embed function (a paid call) before the core sees them.
function checkTexts(texts) {
  if (!texts.every((t) => typeof t === 'string')) {
    throw new ThreadmemError('INVALID_ARGUMENT', "a memory's text must be a string");
  }
}

// ---- storage: a key-value object, or a message store ----

function isKeyValue(s) {
  return s && typeof s.get === 'function' && typeof s.put === 'function';
}

function isMessageStore(s) {
  return s && typeof s.addMessages === 'function' && typeof s.listMessages === 'function';
}

async function readSnapshot(storage, key) {
  if (isKeyValue(storage)) return (await storage.get(key)) ?? null;
  // The newest message is the snapshot, unless the store holds other keys'
  // snapshots (or other messages) too: then the newest of this key's.
  if (typeof storage.getHistory === 'function') {
    const text = newestSnapshot(await storage.getHistory({ limit: 1 }), key);
    if (text !== null) return text;
  }
  return newestSnapshot(await storage.listMessages(), key);
}

// A store of one's own may give back the ChatMessage it was given, its JSON
// (contents) or a plain { text }: the snapshot is read from any of them as
// it is, without a pass through the core for a text that may be megabytes.
function newestSnapshot(messages, key) {
  for (let i = messages.length - 1; i >= 0; i--) {
    const m = messages[i];
    if ((m?.metadata ?? m?.additional_properties)?.threadmem_memory !== key) continue;
    if (m instanceof ChatMessage || typeof m.text === 'string') return m.text;
    return (Array.isArray(m.contents) ? m.contents : []).filter((c) => c?.type === 'text').map((c) => c.text).join('');
  }
  return null;
}

async function writeSnapshot(storage, key, text) {
  if (isKeyValue(storage)) return storage.put(key, text);
  // Canonical as built (one text content): the store checks it as it adds it.
  const snapshot = { role: { type: 'role', value: 'system' }, contents: [{ type: 'text', text }] };
  return storage.addMessages([fromCanonical({ ...snapshot, additional_properties: { threadmem_memory: key } })]);
}
