#!/usr/bin/env bash
# The browser tests in Debian's Chromium (headless): the web demo, then the
# browser stores (the shared storage spec against IndexedDB and localStorage,
# reload, two tabs, a full quota), then long-term memory per user in
# IndexedDB across a reload. Expects the WASM build in dist/ (npm run
# build, or npm test). Arguments go to the demo test.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
bash scripts/setup-browser.sh
node tests/e2e/demo.e2e.js "$@"
node tests/e2e/storage.e2e.js
node tests/e2e/memory.e2e.js
