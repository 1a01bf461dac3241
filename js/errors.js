// ThreadmemError: the one error type of the package. `code` is stable and is
// what callers (and tests) should branch on; the message is for people.
// Besides the core's codes (below) and those of the LLM client and the run,
// the persistent stores use STORAGE_ERROR (the backend failed; `cause` holds
// its error), QUOTA_EXCEEDED (the browser's storage quota is full; nothing of
// the turn was kept), CORRUPT_RECORD (a stored record fails its integrity
// check) and LOCK_TIMEOUT; with encryption at rest (js/encryption.js),
// DECRYPTION_FAILED (a wrong key, or a record altered or moved),
// ENCRYPTION_REQUIRED (encrypted records read without a key) and
// NOT_ENCRYPTED (plaintext records read with a key).

export class ThreadmemError extends Error {
  constructor(code, message, { cause, status } = {}) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'ThreadmemError';
    this.code = code;
    if (status !== undefined) this.status = status;
  }
}

// Result codes of src/threadmem.h, by value, to their stable JS names.
// TM_EHOST (7) is absent on purpose: a host failure rethrows the error the
// host kept, which carries its own code (TOOL_ERROR, LLM_HTTP_ERROR, ...).
export const TM_OK = 0;
export const TM_ENOMEM = 1;
export const TM_EHOST = 7;
const CODE_NAMES = {
  1: 'OUT_OF_MEMORY',
  2: 'INVALID_ARGUMENT',
  3: 'INVALID_JSON',
  4: 'INVALID_FORMAT',
  5: 'INVALID_STATE',
  6: 'LIMIT_EXCEEDED',
  7: 'HOST_ERROR',
  8: 'INVALID_RESPONSE',
  9: 'MAX_TOOL_ROUNDS',
  10: 'NOT_FOUND',
  11: 'UNKNOWN_ENCODING',
  12: 'CONTEXT_WINDOW_EXCEEDED',
  13: 'EMPTY_QUERY',
  14: 'DIMENSION_MISMATCH',
  15: 'ENCRYPTION_REQUIRED',
  16: 'NOT_ENCRYPTED',
};

export function codeName(rc) {
  return CODE_NAMES[rc] ?? 'INTERNAL_ERROR';
}

// An aborted run's error, its signal's reason kept as the cause.
export function abortedError(signal) {
  return new ThreadmemError('ABORTED', 'the run was aborted', { cause: signal?.reason });
}

/** Throws ABORTED when `signal` has aborted. */
export function checkAborted(signal) {
  if (signal?.aborted) throw abortedError(signal);
}

/** Throws INVALID_ARGUMENT unless `signal` is absent (or null) or an
 *  AbortSignal: anything else would surface as a TypeError midway. */
export function checkSignal(signal) {
  if (signal != null && !(typeof signal.aborted === 'boolean' && typeof signal.addEventListener === 'function')) {
    throw new ThreadmemError('INVALID_ARGUMENT', 'signal must be an AbortSignal');
  }
}

/** The text of anything thrown, whatever it is: an error's message, else
 *  its string form, which a null-prototype object does not have. */
export function describe(thrown) {
  try {
    return typeof thrown?.message === 'string' ? thrown.message : String(thrown);
  } catch {
    return `a thrown ${typeof thrown} without a text`;
  }
}

// Wraps anything thrown by user code (a tool, a store, a provider) so that the
// public call rejects with a ThreadmemError whose cause is the original.
export function wrapError(code, what, err) {
  if (err instanceof ThreadmemError) return err;
  return new ThreadmemError(code, `${what}: ${describe(err)}`, { cause: err });
}

// A full origin quota is QUOTA_EXCEEDED; anything else a storage backend
// throws is STORAGE_ERROR with the original as its cause.
export function storageError(err, what) {
  if (err instanceof ThreadmemError) return err;
  if (isQuotaError(err)) {
    return new ThreadmemError('QUOTA_EXCEEDED', `${what}: the storage quota is exceeded`, { cause: err });
  }
  return wrapError('STORAGE_ERROR', what, err);
}

// DOMException's name in Chromium and WebKit, Firefox's older name, and the
// legacy numeric code (22) that some storage shims still use.
export function isQuotaError(err) {
  return err?.name === 'QuotaExceededError' || err?.name === 'NS_ERROR_DOM_QUOTA_REACHED' || err?.code === 22;
}
