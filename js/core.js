// The thin binding over the WASM module: loading, strings across the
// boundary, result codes to errors, the host import table, and the steps of
// a run.
//
// Memory rules (see STYLE.md): every pointer malloc'd here is freed in a
// `finally`; no HEAP view is held across an `await` (memory may grow).

import { loadCore } from './module.js';
import { ThreadmemError, TM_OK, TM_ENOMEM, codeName, wrapError } from './errors.js';
import { optionsOf } from './options.js';

let M = null;
let loadError = null;
let ctxHandle = 0; // a tm_ctx for calls that work on no other handle
let vocabBase = null; // init({ vocabUrl }): where the vocabulary assets are served

const encoder = new TextEncoder();

/** Loads (or reloads) the WASM module; `import 'threadmem'` already did it
 *  with the defaults unless that failed (custom hosting). `vocabUrl` is the
 *  base URL of the tokenizer's vocabulary assets (<name>.tmv); by default
 *  they are read from the package's dist/vocab/. A reloaded module has no
 *  vocabulary loaded: the tokenizer loads them again when used; the agents,
 *  stores and memory indexes of the old one are closed (checkModule). */
export async function init(options) {
  const { wasmBinary, wasmUrl, vocabUrl } = optionsOf(options, 'init');
  let module;
  try {
    module = await loadCore({ wasmBinary, wasmUrl });
  } catch (err) {
    throw wrapError('NOT_INITIALIZED', 'the threadmem WASM module could not be loaded', err);
  }
  module.tmHost = host;
  const ctx = module._tm_ctx_new();
  if (!ctx) throw new ThreadmemError('OUT_OF_MEMORY', 'cannot create the core context');
  M = module;
  ctxHandle = ctx;
  loadError = null;
  vocabBase = vocabUrl ? String(vocabUrl) : null;
}

/** The base URL given to init({ vocabUrl }), or null for the default. */
export function vocabUrl() {
  return vocabBase;
}

/** The default load at import time; a failure is kept and reported by the
 *  first call that needs the module, so that init() can still fix it. */
export async function initDefault() {
  try {
    await init();
  } catch (err) {
    loadError = err;
  }
}

export function mod() {
  if (M) return M;
  throw new ThreadmemError(
    'NOT_INITIALIZED',
    'the threadmem WASM module is not loaded; call init({ wasmBinary | wasmUrl })',
    loadError ? { cause: loadError } : undefined,
  );
}

/** Throws CLOSED unless `module` is the loaded one: a handle (an agent, a
 *  store, a memory index) made before init() replaced the module is closed,
 *  and never reaches the new module's memory. */
export function checkModule(module, what) {
  if (module !== M) throw new ThreadmemError('CLOSED', `the ${what} belongs to a module that init() has replaced`);
}

export function ctx() {
  mod();
  return ctxHandle;
}

// ---- strings ----

/** Copies a JS string into module memory as NUL-terminated UTF-8 (lone
 *  surrogates become U+FFFD, as TextEncoder does). The caller frees it. A
 *  NUL inside would end the string early there (an id cut short names
 *  another record): INVALID_ARGUMENT. JSON text never holds one raw. */
function allocString(str) {
  if (str.includes('\0')) throw new ThreadmemError('INVALID_ARGUMENT', 'a string given to the core holds a NUL character');
  const bytes = encoder.encode(str);
  const p = M._tm_malloc(bytes.length + 1);
  if (!p) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
  M.HEAPU8.set(bytes, p);
  M.HEAPU8[p + bytes.length] = 0;
  return p;
}

/** Writes a JS string into a tm_malloc'd buffer and returns its address, or
 *  0 when memory is exhausted: for a host's answer to a run's action. */
function hostString(str) {
  const bytes = encoder.encode(str);
  const p = M._tm_malloc(bytes.length + 1);
  if (!p) return 0;
  M.HEAPU8.set(bytes, p);
  M.HEAPU8[p + bytes.length] = 0;
  return p;
}

/** Serializes a value to JSON text with every string made well-formed, so
 *  lone surrogates reach the core as U+FFFD rather than as escapes it must
 *  reject. A value JSON cannot carry (a BigInt, a cycle) is INVALID_ARGUMENT;
 *  NaN and the infinities become null, as JSON.stringify makes them. */
export function toJSONText(value) {
  let text;
  try {
    text = JSON.stringify(value, (_key, v) =>
      typeof v === 'string' && v.isWellFormed && !v.isWellFormed() ? v.toWellFormed() : v,
    );
  } catch (err) {
    throw new ThreadmemError('INVALID_ARGUMENT', `a value JSON cannot carry: ${err.message}`, { cause: err });
  }
  // Inside objects and arrays JSON drops or nulls them; alone they have no text.
  if (text === undefined) {
    throw new ThreadmemError('INVALID_ARGUMENT', `a value JSON cannot carry: a value of type ${typeof value}`);
  }
  return text;
}

/** The error kept on `handle` after a call returned `rc`. */
export function errorOf(handle, rc) {
  const msg = M.UTF8ToString(M._tm_errmsg(handle));
  return new ThreadmemError(codeName(rc), msg || codeName(rc));
}

/**
 * Calls `fn(...ptrs, outSlot)` synchronously with each string argument copied
 * into the module (null passes 0), and returns the string the core wrote to
 * the out slot (or null when `wantOut` is false; with wantOut 'size', the
 * size_t it wrote there). Throws the handle's error when the call fails.
 */
export function call(handle, fn, strings, { wantOut = true, extra = [] } = {}) {
  const m = mod();
  const ptrs = [];
  let slot = 0;
  try {
    for (const s of strings) ptrs.push(s == null ? 0 : allocString(s));
    if (wantOut) {
      slot = m._tm_malloc(4);
      if (!slot) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
      m.setValue(slot, 0, 'i32');
    }
    const args = [...extra, ...ptrs];
    if (wantOut) args.push(slot);
    const rc = fn(...args);
    if (rc !== TM_OK) throw errorOf(handle, rc);
    if (wantOut === 'size') return m.HEAPU32[slot >> 2];
    return wantOut ? takeString(slot) : null;
  } finally {
    for (const p of ptrs) if (p) m._tm_free(p);
    if (slot) m._tm_free(slot);
  }
}

// Reads and frees the string whose address the core stored in `slot`.
function takeString(slot) {
  const p = M.getValue(slot, 'i32') >>> 0;
  if (!p) return null;
  try {
    return M.UTF8ToString(p);
  } finally {
    M._tm_free(p);
  }
}

// ---- runs: the core's run loop, one step at a time ----
//
// Every call into the module is synchronous, a run's steps included (see
// tm_run_step in src/threadmem.h): a run holds the module only while it
// steps, never while its host waits on the model, the tools or a store, so
// runs interleave freely and no queue is needed.

/** Starts a run of the agent (tm_run_start) and returns its handle; a bad
 *  run throws the agent's error. The caller frees it with runFree. */
export function runStart(agentHandle, storeHandle, runJson) {
  const m = mod();
  let p = 0;
  let slot = 0;
  try {
    p = allocString(runJson);
    slot = m._tm_malloc(4);
    if (!slot) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
    m.HEAPU32[slot >> 2] = 0;
    const rc = m._tm_run_start(agentHandle, storeHandle, p, slot);
    if (rc !== TM_OK) throw errorOf(agentHandle, rc);
    return m.HEAPU32[slot >> 2];
  } finally {
    if (p) m._tm_free(p);
    if (slot) m._tm_free(slot);
  }
}

/**
 * One step of a run (tm_run_step): hands it the outcome of the last action
 * (`hostRc`, and `input`, the answer's text or null) with `counter` as the
 * "host" encoding's counter, and returns { rc, action }: the next action's
 * text, or the run's failure code (its message is on the run, errorOf).
 * An answer that cannot be copied into the module is passed as TM_ENOMEM.
 */
export function runStep(runHandle, hostRc, input, counter) {
  const m = mod();
  let p = 0;
  let slot = 0;
  try {
    if (input != null) {
      p = hostString(input);
      if (!p) hostRc = TM_ENOMEM;
    }
    slot = m._tm_malloc(4);
    if (!slot) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
    m.HEAPU32[slot >> 2] = 0;
    const rc = withCounterSync(counter, () => m._tm_run_step(runHandle, hostRc, p, slot));
    return { rc, action: rc === TM_OK ? takeString(slot) : null };
  } finally {
    if (p) m._tm_free(p);
    if (slot) m._tm_free(slot);
  }
}

/** Frees a run, in the module it was started in; one not over is
 *  cancelled, its turn never stored. */
export function runFree(module, runHandle) {
  module._tm_run_free(runHandle);
}

// The host imports of src/host.h, called by wasm/library_threadmem.js.
const host = {
  now: () => Date.now(),
  random: (n) => globalThis.crypto.getRandomValues(new Uint8Array(n)),
  count: (text) => countWithActiveCounter(text),
};

// ---- the token counter of the "host" encoding ----

let activeCounter = null;
let counterError = null;

/** Runs `fn` with `counter` (a function (text) -> non-negative integer, or
 *  null) as the counter behind the core's "host" encoding, and restores the
 *  previous one after. */
export function withCounterSync(counter, fn) {
  const previous = activeCounter;
  activeCounter = counter;
  counterError = null;
  try {
    return fn();
  } finally {
    activeCounter = previous;
  }
}

/** The failure of the counter in the last call that used it, once. */
export function takeCounterError() {
  const err = counterError;
  counterError = null;
  return err;
}

/** Counts `text` with the active counter, checked as the core checks it. */
export function countWithActiveCounter(text) {
  const counter = activeCounter;
  let n;
  try {
    if (!counter) throw new Error('no counter is active');
    n = counter(text);
  } catch (err) {
    counterError = wrapError('COUNTER_ERROR', 'the token counter failed', err);
    throw counterError;
  }
  if (!Number.isSafeInteger(n) || n < 0 || n > 0xffffffff) {
    let what = typeof n === 'number' ? String(n) : `a value of type ${typeof n}`;
    if (typeof n?.then === 'function') what = 'a Promise (it must be synchronous)';
    counterError = new ThreadmemError(
      'INVALID_COUNTER',
      `the token counter must return a non-negative integer; it returned ${what}`,
    );
    throw counterError;
  }
  return n;
}

/**
 * Calls a constructor-like export `fn(ctx, ...strings)` that returns a handle
 * or 0, and returns the handle; a failure throws the error kept on the core
 * context.
 */
export function create(fn, strings) {
  const m = mod();
  const ptrs = [];
  try {
    for (const s of strings) ptrs.push(s == null ? 0 : allocString(s));
    const handle = fn(ctxHandle, ...ptrs);
    if (!handle) throw errorOf(ctxHandle, m._tm_errcode(ctxHandle) || 1);
    return handle;
  } finally {
    for (const p of ptrs) if (p) m._tm_free(p);
  }
}
