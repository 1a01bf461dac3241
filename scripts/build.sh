#!/usr/bin/env bash
# Builds everything, incrementally:
#   build/native  the core + C tests with clang, ASan and UBSan (ctest)
#   build/wasm    the core with Emscripten -> dist/threadmem-core.{mjs,wasm}
#
#   bash scripts/build.sh              set-up first (scripts/setup.sh), then build
#   bash scripts/build.sh --no-setup   build only (also: TM_SKIP_SETUP=1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

SKIP_SETUP="${TM_SKIP_SETUP:-0}"
for arg in "$@"; do
  case "$arg" in
    --no-setup) SKIP_SETUP=1 ;;
    *) echo "build: unknown argument $arg" >&2; exit 2 ;;
  esac
done

log() { echo "build: $*"; }
JOBS="${TM_JOBS:-2}"

if [ "$SKIP_SETUP" != 1 ]; then
  bash "$ROOT/scripts/setup.sh" </dev/null
fi

# ---- vocabulary assets ----------------------------------------------------------
# dist/vocab/<name>.tmv from gpt-tokenizer's .tiktoken files (checked by hash);
# rewritten only when they change. The C tests load them.
log "vocabulary assets (dist/vocab)"
node "$ROOT/scripts/gen-vocab.mjs" "$ROOT/dist/vocab"

# ---- native -----------------------------------------------------------------
# The compiler is fixed at the first configure; later runs only build (CMake
# re-configures by itself when CMakeLists.txt or the source globs change).
if [ ! -f build/native/CMakeCache.txt ]; then
  log "configuring build/native (clang, sanitizers)"
  CC=clang cmake -S . -B build/native -DTM_SANITIZE=ON >/dev/null
fi
log "building build/native"
cmake --build build/native -j "$JOBS"

# ---- WASM -------------------------------------------------------------------
# Debian's Emscripten finds its JS optimizer's parser (acorn) through
# NODE_PATH.
export NODE_PATH="/usr/share/nodejs${NODE_PATH:+:$NODE_PATH}"
if [ ! -f build/wasm/CMakeCache.txt ]; then
  log "configuring build/wasm (emcmake)"
  emcmake cmake -S . -B build/wasm >/dev/null
fi
log "building build/wasm"
cmake --build build/wasm -j "$JOBS"

for f in dist/threadmem-core.mjs dist/threadmem-core.wasm; do
  [ -f "$f" ] || { log "missing $f"; exit 1; }
done
log "dist/threadmem-core.wasm $(stat -c %s dist/threadmem-core.wasm) bytes" \
  "($(gzip -9c dist/threadmem-core.wasm | wc -c) gzipped)," \
  "dist/threadmem-core.mjs $(stat -c %s dist/threadmem-core.mjs) bytes"
