#!/usr/bin/env bash
# The browser tests: the web demo in Debian's Chromium (headless).
# Expects the WASM build in dist/ (npm run build, or npm test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
bash scripts/setup-browser.sh
exec node tests/e2e/demo.e2e.js "$@"
