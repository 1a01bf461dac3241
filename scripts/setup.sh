#!/usr/bin/env bash
# Installs what building and testing threadmem needs, on Debian 12 with
# Node.js 20 already installed. Idempotent, and quick when everything is
# there: apt is only asked when a package is missing, npm only when
# node_modules does not match package-lock.json.
#
#   bash scripts/setup.sh          (needs no input; root or sudo for apt)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export DEBIAN_FRONTEND=noninteractive

log() { echo "setup: $*"; }

# ---- Node.js (assumed installed, checked) -------------------------------------
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "Node.js 20 or newer (with npm) is required; install it first (e.g. from NodeSource)"
  exit 1
fi
NODE_MAJOR="$(node -p 'process.versions.node.split(".")[0]')"
if [ "$NODE_MAJOR" -lt 20 ]; then
  log "Node.js $(node --version) is too old: threadmem needs Node.js 20 or newer"
  exit 1
fi

# ---- Debian packages ----------------------------------------------------------
# The build: Emscripten 3.1.6 (Debian's), CMake, clang 14 with its sanitizer
# runtimes (ASan, UBSan, later libFuzzer), and dpkg-dev + the archive keyring
# for cJSON's source package (scripts/fetch-cjson.sh), and unicode-data for
# the tokenizer's Unicode table (scripts/gen-unicode.mjs).
PACKAGES=(
  emscripten
  cmake
  make
  clang
  libclang-rt-14-dev
  dpkg-dev
  debian-archive-keyring
  ca-certificates
  redis-server
  unicode-data
)
# redis-server: the RedisChatMessageStore tests start their own on a free
# loopback port (the package's service is never used).
# Later, for the browser tests (add them here):
#   chromium       (tests/e2e and the demo, in a real browser)
EXTRA_PACKAGES=()

missing=()
for pkg in "${PACKAGES[@]}" "${EXTRA_PACKAGES[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" != "install ok installed" ]; then
    missing+=("$pkg")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  SUDO=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then
      SUDO=(sudo -n)
    else
      log "need root (or sudo) to install: ${missing[*]}"
      exit 1
    fi
  fi
  log "installing Debian packages: ${missing[*]}"
  "${SUDO[@]}" apt-get update -qq </dev/null
  "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends "${missing[@]}" </dev/null
else
  log "Debian packages present"
fi

# ---- cJSON from Debian's source package -----------------------------------------
bash "$ROOT/scripts/fetch-cjson.sh" </dev/null

# ---- npm dependencies -----------------------------------------------------------
# node_modules is current when it was installed from exactly this
# package.json and package-lock.json (their hashes are kept in a stamp).
if [ -f package-lock.json ]; then
  want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
else
  want="$(sha256sum package.json | cut -d' ' -f1)"
fi
STAMP="node_modules/.threadmem-npm-stamp"
if [ -d node_modules ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
  log "node_modules is current"
else
  if [ -f package-lock.json ]; then
    log "installing npm dependencies (npm ci)"
    npm_log="$(mktemp)"
    if npm ci --no-audit --no-fund </dev/null >"$npm_log" 2>&1; then
      grep -v '^npm warn Unknown user config' "$npm_log" || true
    else
      grep -m 4 '^npm error' "$npm_log" || true
      # npm ci refuses a lock file that lacks the other platforms' optional
      # packages (it happens when the lock was written against a registry
      # that serves only this platform's). npm install fills them in;
      # --no-save keeps the committed lock file as it is.
      log "npm ci failed; installing with npm install --no-save from the same lock file"
      npm install --no-audit --no-fund --no-save </dev/null
    fi
    rm -f "$npm_log"
  else
    log "installing npm dependencies (npm install: no package-lock.json)"
    npm install --no-audit --no-fund </dev/null
    want="$(cat package.json package-lock.json | sha256sum | cut -d' ' -f1)"
  fi
  echo "$want" >"$STAMP"
fi

log "done"
