#!/usr/bin/env bash
# Runs every test: builds first (scripts/build.sh, which does the set-up),
# then the C tests under sanitizers (ctest), then the package tests (Jest).
# Fails on the first failing layer.
#
#   bash scripts/test.sh               (what `npm test` and .ci/run call)
#   bash scripts/test.sh --no-setup    skip scripts/setup.sh (also: TM_SKIP_SETUP=1)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

log() { echo "test: $*"; }

bash "$ROOT/scripts/build.sh" "$@" </dev/null

# ---- C tests (ASan + UBSan) -------------------------------------------------
log "C tests (ctest, build/native)"
ctest --test-dir build/native --output-on-failure --no-tests=error -j "${TM_JOBS:-2}"

# ---- fuzzers ------------------------------------------------------------------
# A short run of each libFuzzer harness over its seeds (the long run is
# FUZZ_UNTIL=10000000 bash scripts/fuzz.sh).
log "fuzzers (scripts/fuzz.sh, short runs)"
bash "$ROOT/scripts/fuzz.sh"

# ---- package tests (Jest, ES modules) ---------------------------------------
log "package tests (Jest)"
node --experimental-vm-modules node_modules/jest/bin/jest.js --ci

# ---- types (the .d.ts files, checked through examples that use them) -------
log "type check (tsc over tests/types, with and without the DOM library, and examples)"
node node_modules/typescript/bin/tsc -p tests/types
node node_modules/typescript/bin/tsc -p tests/types/tsconfig.node.json
node node_modules/typescript/bin/tsc -p examples

# ---- the package, as installed from its tarball ------------------------------
log "package test (npm pack, installed into an empty directory)"
bash "$ROOT/tests/package/run.sh" </dev/null

# ---- browser tests --------------------------------------------------------------
# The demo and the browser stores (IndexedDB, localStorage: the shared storage
# spec, reload, two tabs, quota) in real Chromium (Debian's), after
# scripts/setup-browser.sh.
log "browser tests: demo and storage (tests/e2e, Chromium)"
bash "$ROOT/tests/e2e/run.sh" </dev/null

log "all tests passed"
