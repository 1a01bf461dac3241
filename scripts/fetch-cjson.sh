#!/usr/bin/env bash
# Fetches cJSON's source from Debian's source package (which carries Debian's
# security patches) into build/deps/cjson, checked by hash.
#
# The upstream tarball is pinned by its sha256; the Debian revision may move
# with security updates, so a new revision is accepted (dpkg-source checks
# every file against the signed-by-the-archive .dsc) and printed.
#
# Idempotent: when build/deps/cjson carries a stamp whose hashes still match
# cJSON.c and cJSON.h, nothing is downloaded.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/build/deps"
DEST="$DEPS/cjson"
STAMP="$DEST/.threadmem-stamp"
ORIG_NAME="cjson_1.7.15.orig.tar.gz"
ORIG_SHA256="5308fd4bd90cef7aa060558514de6a1a4a0819974a26e6ed13973c5f624c24b2"

log() { echo "fetch-cjson: $*"; }

stamp_ok() {
  [ -f "$STAMP" ] && [ -f "$DEST/cJSON.c" ] && [ -f "$DEST/cJSON.h" ] || return 1
  (cd "$DEST" && sha256sum --quiet --status -c <(grep -E '  cJSON\.[ch]$' "$STAMP"))
}

if stamp_ok; then
  log "build/deps/cjson is present and matches its stamp ($(sed -n 's/^revision //p' "$STAMP"))"
  exit 0
fi

for tool in apt-get dpkg-source sha256sum; do
  command -v "$tool" >/dev/null || { log "missing $tool (run scripts/setup.sh)"; exit 1; }
done
[ -f /usr/share/keyrings/debian-archive-keyring.gpg ] || {
  log "missing /usr/share/keyrings/debian-archive-keyring.gpg (apt-get install debian-archive-keyring)"
  exit 1
}

mkdir -p "$DEPS"
WORK="$(mktemp -d "$DEPS/.cjson-fetch.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

# A private apt configuration: only deb-src entries for cJSON, its own lists,
# so the machine's apt state is neither needed nor touched.
mkdir -p "$WORK/sources" "$WORK/lists/partial" "$WORK/dl"
cat >"$WORK/sources/debian-src.sources" <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
APT_OPTS=(
  -o "Dir::Etc::SourceList=/dev/null"
  -o "Dir::Etc::SourceParts=$WORK/sources"
  -o "Dir::State::Lists=$WORK/lists"
  -o "Dir::Cache=$WORK/cache"
  -o "Debug::NoLocking=1"
  -o "APT::Sandbox::User=root"
)
log "updating a private deb-src index (bookworm, bookworm-updates, bookworm-security)"
apt-get "${APT_OPTS[@]}" -qq update </dev/null
log "downloading the cjson source package"
(cd "$WORK/dl" && apt-get "${APT_OPTS[@]}" -qq source --download-only cjson </dev/null)

DSC="$(find "$WORK/dl" -maxdepth 1 -name 'cjson_*.dsc' | head -n1)"
[ -n "$DSC" ] || { log "apt-get source gave no .dsc"; exit 1; }
[ -f "$WORK/dl/$ORIG_NAME" ] || { log "no $ORIG_NAME in the source package"; exit 1; }
echo "$ORIG_SHA256  $WORK/dl/$ORIG_NAME" | sha256sum --quiet -c - || {
  log "sha256 of $ORIG_NAME does not match the pinned $ORIG_SHA256"
  exit 1
}
REVISION="$(sed -n 's/^Version: //p' "$DSC")"
log "upstream tarball verified; Debian revision $REVISION"
for f in "$WORK"/dl/*.debian.tar.*; do
  log "  $(basename "$f") sha256 $(sha256sum "$f" | cut -d' ' -f1)"
done

# dpkg-source checks every file against the .dsc's checksums and applies
# Debian's patches. (It warns when the uploader's key is not installed;
# the .dsc itself came through apt's signed Sources index.)
if ! (cd "$WORK" && dpkg-source -x "$DSC" "$WORK/cjson" >"$WORK/dpkg-source.log" 2>&1); then
  cat "$WORK/dpkg-source.log"
  log "dpkg-source could not verify or extract $(basename "$DSC")"
  exit 1
fi
if grep -q 'cannot verify inline signature' "$WORK/dpkg-source.log"; then
  log "checksums verified by dpkg-source (uploader key not installed: trusted via apt's signed index)"
fi
if [ ! -f "$WORK/cjson/cJSON.c" ] || [ ! -f "$WORK/cjson/cJSON.h" ]; then
  log "extraction gave no cJSON.c/.h"
  exit 1
fi

{
  echo "revision $REVISION"
  echo "orig $ORIG_SHA256"
  (cd "$WORK/cjson" && sha256sum cJSON.c cJSON.h)
} >"$WORK/cjson/.threadmem-stamp"

# Replace the old directory only now that the new one is complete.
if [ -d "$DEST" ]; then
  mv "$DEST" "$WORK/old"
fi
mv "$WORK/cjson" "$DEST"
log "build/deps/cjson ready (cjson $REVISION)"
