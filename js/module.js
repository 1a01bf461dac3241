// Loads the Emscripten build of the core (dist/threadmem-core.{mjs,wasm}).
//
// The build targets web and worker only, as one ES module: this Emscripten's
// Node loader relies on require/__dirname, which ES modules lack. In Node the
// .wasm bytes are therefore read here and handed over as `wasmBinary`; in
// browsers and workers the module fetches them itself from `wasmUrl`, or
// from next to this package's dist/ directory.

import createThreadmemCore from '../dist/threadmem-core.mjs';

// A literal path, so that a bundler copies this one file (a template would
// match all of dist/).
const DEFAULT_WASM_URL = new URL('../dist/threadmem-core.wasm', import.meta.url);

const isNode =
  typeof process === 'object' && process !== null && !!(process.versions && process.versions.node);

/**
 * Instantiates a fresh core module. Each call gives an independent instance
 * with its own memory.
 *
 * @param {object} [options]
 * @param {ArrayBuffer|Uint8Array} [options.wasmBinary] the .wasm bytes (skips any fetch or read)
 * @param {string|URL} [options.wasmUrl] where to fetch the .wasm from (browsers, workers)
 * @returns {Promise<object>} the Emscripten module (exports as `_tm_*`, plus the runtime helpers)
 */
export async function loadCore({ wasmBinary, wasmUrl } = {}) {
  // A module that fails to load says why in the error it rejects with;
  // nothing is printed besides (the core itself never writes to stderr).
  const moduleArg = { printErr: () => {} };
  if (wasmBinary) {
    moduleArg.wasmBinary = wasmBinary;
  } else if (isNode && !wasmUrl) {
    // A dynamic import, so bundlers and browsers never see node: modules.
    const { readFile } = await import('node:fs/promises');
    moduleArg.wasmBinary = await readFile(DEFAULT_WASM_URL);
  } else {
    const url = wasmUrl ? String(wasmUrl) : DEFAULT_WASM_URL.href;
    moduleArg.locateFile = (path, prefix) => (path.endsWith('.wasm') ? url : prefix + path);
    if (isNode) {
      // Node's fetch does not read file: URLs; read those directly.
      const parsed = new URL(url, DEFAULT_WASM_URL);
      if (parsed.protocol === 'file:') {
        const { readFile } = await import('node:fs/promises');
        moduleArg.wasmBinary = await readFile(parsed);
      }
    }
  }
  return createThreadmemCore(moduleArg);
}
