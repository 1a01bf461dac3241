// The binding over the core's memory index (tm_memory_*): records go in and
// out as the core's JSON, turned into the package's camelCase shapes. The
// rules (scope matching, BM25, hybrid fusion, limits) are the core's.

import { call, checkModule, mod, toJSONText } from './core.js';
import { ThreadmemError } from './errors.js';

// Freed in the module it was made in, which init() may have replaced since.
const finalizer = new FinalizationRegistry(({ module, ptr }) => module._tm_memory_free(ptr));

const SCOPE_KEYS = [
  ['userId', 'user_id'],
  ['agentId', 'agent_id'],
  ['applicationId', 'application_id'],
  ['threadId', 'thread_id'],
];

/** A scope { userId, agentId, applicationId, threadId } as the core's. */
export function scopeValue(scope = {}) {
  const out = {};
  for (const [js, c] of SCOPE_KEYS) if (scope[js] != null) out[c] = String(scope[js]);
  return out;
}

function scopeFromCore(scope = {}) {
  const out = {};
  for (const [js, c] of SCOPE_KEYS) if (scope[c] !== undefined) out[js] = scope[c];
  return out;
}

/** A core record as the package shows it. */
function recordFromCore(r) {
  const rec = {
    id: r.id,
    text: r.text,
    metadata: r.metadata ?? {},
    scope: scopeFromCore(r.scope),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
  if (r.score !== undefined) rec.score = r.score;
  return rec;
}

function timeValue(t, what) {
  if (t instanceof Date) return t.getTime();
  if (typeof t === 'number' || typeof t === 'string') return t;
  throw new ThreadmemError('INVALID_ARGUMENT', `${what} must be a Date, an ISO 8601 string or milliseconds`);
}

/** A filter { scope, metadata, createdFrom, createdTo } as the core's. */
export function filterValue({ scope, metadata, createdFrom, createdTo } = {}) {
  const f = {};
  if (scope) f.scope = scopeValue(scope);
  if (metadata !== undefined) f.metadata = metadata;
  if (createdFrom != null) f.created_from = timeValue(createdFrom, 'createdFrom');
  if (createdTo != null) f.created_to = timeValue(createdTo, 'createdTo');
  return f;
}

// Far above any dimension the core takes: a length past it is no vector,
// and is refused before anything that size is allocated.
const MAX_VECTOR_LENGTH = 1 << 16;

/** True for what can be an embedding: a typed array, or an array (or
 *  array-like) of numbers, without holes. */
export function isVector(v) {
  if (ArrayBuffer.isView(v)) return !(v instanceof DataView);
  const n = v !== null && typeof v === 'object' ? v.length : undefined;
  if (!Number.isSafeInteger(n) || n < 0 || n > MAX_VECTOR_LENGTH) return false;
  for (let i = 0; i < n; i++) if (typeof v[i] !== 'number') return false;
  return true;
}

/** An embedding (Float32Array or array of numbers) as the core reads it
 *  fastest and exactly: the base64 of its float32 values (typed arrays are
 *  little-endian on every platform WASM runs on, as the core expects).
 *  What is not a finite float32 reaches the core as NaN or Infinity and is
 *  refused there. */
function vectorValue(v) {
  if (!isVector(v)) {
    throw new ThreadmemError('INVALID_ARGUMENT', 'an embedding must be a Float32Array or an array of numbers');
  }
  const f = v instanceof Float32Array ? v : Float32Array.from(v, Number);
  const bytes = new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
  if (typeof Buffer === 'function') return Buffer.from(bytes).toString('base64');
  let bin = '';
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin);
}

export class MemoryIndex {
  // The module its handle lives in (private: printing the object never walks
  // the module's memory).
  #module;

  constructor() {
    this.#module = mod();
    this._ptr = this.#module._tm_memory_new();
    if (!this._ptr) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory creating a memory index');
    finalizer.register(this, { module: this.#module, ptr: this._ptr }, this);
  }

  _live() {
    if (!this._ptr) throw new ThreadmemError('CLOSED', 'the memory is closed');
    checkModule(this.#module, 'memory index');
    return this._ptr;
  }

  _call(fn, strings, opts) {
    const ptr = this._live();
    return call(ptr, fn, strings, { extra: [ptr], ...opts });
  }

  get count() {
    return mod()._tm_memory_count(this._live()) >>> 0;
  }

  /** Adds records { text, scope, metadata?, embedding?, id?, createdAt? },
   *  all or nothing; returns the stored records. */
  add(records) {
    const values = records.map((r) => {
      const v = { text: r.text, scope: scopeValue(r.scope) };
      if (r.metadata !== undefined) v.metadata = r.metadata;
      if (r.embedding != null) v.embedding = vectorValue(r.embedding);
      if (r.id != null) v.id = r.id;
      if (r.createdAt != null) v.created_at = timeValue(r.createdAt, 'createdAt');
      return v;
    });
    return JSON.parse(this._call(mod()._tm_memory_add, [toJSONText(values)])).map(recordFromCore);
  }

  update(id, { text, metadata, embedding } = {}) {
    const patch = {};
    if (text !== undefined) patch.text = text;
    if (metadata !== undefined) patch.metadata = metadata;
    if (embedding != null) patch.embedding = vectorValue(embedding);
    return recordFromCore(JSON.parse(this._call(mod()._tm_memory_update, [String(id), toJSONText(patch)])));
  }

  delete(id) {
    this._call(mod()._tm_memory_delete, [String(id)], { wantOut: false });
  }

  get(id) {
    return recordFromCore(JSON.parse(this._call(mod()._tm_memory_get, [String(id)])));
  }

  list(filter) {
    return JSON.parse(this._call(mod()._tm_memory_list, [toJSONText(filterValue(filter))])).map(recordFromCore);
  }

  /** Deletes a record (live or deleted) and erases every text its history
   *  holds; with `scope`, NOT_FOUND for a record of another scope. */
  forget(id, scope) {
    const scopeText = scope ? toJSONText(scopeValue(scope)) : null;
    this._call(mod()._tm_memory_forget, [String(id), scopeText], { wantOut: false });
  }

  /** The events of a record, live or deleted; with `scope`, NOT_FOUND for a
   *  record of another scope. */
  history(id, scope) {
    const scopeText = scope ? toJSONText(scopeValue(scope)) : null;
    return JSON.parse(this._call(mod()._tm_memory_history, [String(id), scopeText])).map((e) => {
      const ev = { event: e.event, at: e.at };
      if (e.old_text !== undefined) ev.oldText = e.old_text;
      if (e.new_text !== undefined) ev.newText = e.new_text;
      return ev;
    });
  }

  /** Best records first, each with `score`. EMPTY_QUERY for a query with
   *  no word; DIMENSION_MISMATCH for an embedding of another dimension. */
  search(query, { filter, topK, minScore, embedding } = {}) {
    if (typeof query !== 'string') throw new ThreadmemError('INVALID_ARGUMENT', 'a search query must be a string');
    const q = { query, filter: filterValue(filter) };
    if (topK !== undefined) q.top_k = topK;
    if (minScore !== undefined) q.min_score = minScore;
    if (embedding != null) q.embedding = vectorValue(embedding);
    return JSON.parse(this._call(mod()._tm_memory_search, [toJSONText(q)])).map(recordFromCore);
  }

  /** The whole index as JSON text (history and embeddings included). */
  serialize() {
    return this._call(mod()._tm_memory_serialize, []);
  }

  /** Replaces the index with a serialized one, all or nothing. */
  load(text) {
    this._call(mod()._tm_memory_load, [text], { wantOut: false });
  }

  close() {
    if (!this._ptr) return;
    finalizer.unregister(this);
    this.#module._tm_memory_free(this._ptr);
    this._ptr = 0;
  }
}
