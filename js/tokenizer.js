// Encodings by name. The BPE vocabularies are not part of this build yet:
// only the estimate can count.

import { mod } from './core.js';
import { ThreadmemError } from './errors.js';

/** The core's number of encoding `name`, usable now, or a ThreadmemError. */
export function encodingIdSync(name) {
  const m = mod();
  const id = typeof name === 'string' ? encodingNumber(m, name) : -1;
  if (id < 0) throw new ThreadmemError('UNKNOWN_ENCODING', `unknown encoding "${String(name)}"`);
  if (!m._tm_encoding_loaded(id)) {
    throw new ThreadmemError('ENCODING_NOT_LOADED', `the vocabulary of ${name} is not loaded`);
  }
  return id;
}

/** Makes encoding `name` usable and returns its number. */
export async function ensureEncoding(name) {
  return encodingIdSync(name);
}

function encodingNumber(m, name) {
  const bytes = new TextEncoder().encode(name);
  const p = m._tm_malloc(bytes.length + 1);
  if (!p) throw new ThreadmemError('OUT_OF_MEMORY', 'out of memory in the WASM module');
  try {
    m.HEAPU8.set(bytes, p);
    m.HEAPU8[p + bytes.length] = 0;
    return m._tm_encoding_id(p);
  } finally {
    m._tm_free(p);
  }
}
