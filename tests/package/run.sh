#!/usr/bin/env bash
# The package as a user gets it: `npm pack`, the tarball installed into an
# empty directory (no Emscripten, no compiler involved), and a script that
# uses it: smoke.mjs in Node, types.ts through TypeScript, browser.mjs in
# Chromium (bundled by Vite, and by path from a plain module script).
# check-files.mjs holds the tarball to what a user needs and nothing else.
# Expects the build in dist/ (npm run build, or npm test).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT
cd "$ROOT"
npm pack --json --pack-destination "$WORK" 2>/dev/null >"$WORK/pack.json"
node tests/package/check-files.mjs "$WORK/pack.json"
mkdir "$WORK/app"
cp tests/package/smoke.mjs "$WORK/app/"
cd "$WORK/app"
echo '{"name":"threadmem-package-test","private":true,"type":"module"}' >package.json
npm install --silent --no-audit --no-fund "$WORK"/threadmem-*.tgz </dev/null
node smoke.mjs
cp "$ROOT/tests/package/types.ts" .
for resolution in node10 nodenext; do
  module="$([ "$resolution" = node10 ] && echo commonjs || echo nodenext)"
  node "$ROOT/node_modules/typescript/bin/tsc" --noEmit --strict --skipLibCheck false --target ES2022 --lib ES2022 \
    --module "$module" --moduleResolution "$resolution" --types node --typeRoots "$ROOT/node_modules/@types" types.ts
done
bash "$ROOT/scripts/setup-browser.sh"
node "$ROOT/tests/package/browser.mjs" "$WORK/app"
