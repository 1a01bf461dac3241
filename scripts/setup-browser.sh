#!/usr/bin/env bash
# Set-up for the browser tests (tests/e2e): Debian's Chromium and the
# playwright-core driver. Idempotent; never downloads a browser build of its
# own (no `playwright install`): the tests drive /usr/bin/chromium.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# Used only when package.json does not already bring playwright-core in.
PLAYWRIGHT_CORE_VERSION="${PLAYWRIGHT_CORE_VERSION:-1.65.1}"

log() { echo "setup-browser: $*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null 2>&1; then sudo "$@"; else
    log "need root to run: $*"; return 1
  fi
}

missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
# A font, so pages (and screenshots) render text.
dpkg-query -W -f='${Status}' fonts-dejavu-core 2>/dev/null | grep -q 'install ok installed' || missing+=(fonts-dejavu-core)
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  # An empty package list (a fresh machine) needs one update first.
  if ! as_root apt-get install -y --no-install-recommends "${missing[@]}" </dev/null; then
    as_root apt-get update </dev/null
    as_root apt-get install -y --no-install-recommends "${missing[@]}" </dev/null
  fi
fi
log "$(/usr/bin/chromium --version 2>/dev/null || echo 'chromium: version unknown')"

if ! node -e "require.resolve('playwright-core')" >/dev/null 2>&1; then
  log "installing playwright-core@$PLAYWRIGHT_CORE_VERSION (npm, not saved)"
  PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm install --no-save --no-audit --no-fund \
    "playwright-core@$PLAYWRIGHT_CORE_VERSION" </dev/null
fi
log "playwright-core $(node -p "require('playwright-core/package.json').version")"
