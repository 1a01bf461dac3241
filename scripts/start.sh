#!/usr/bin/env bash
# npm start: set up and build everything (scripts/build.sh), then serve the
# web demo on http://127.0.0.1:${PORT:-8080}/web-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/build.sh
exec node scripts/serve.js
