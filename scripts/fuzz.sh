#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan) in
# build/fuzz and runs each over its committed seeds and a working corpus.
#
#   bash scripts/fuzz.sh                      a short run of each (what npm test does)
#   FUZZ_RUNS=10000000 bash scripts/fuzz.sh   the long run: executions per harness
#   bash scripts/fuzz.sh fuzz_window          only the named harnesses
#
# The working corpus (build/fuzz/corpus/<harness>) grows across runs; the
# seeds (tests/fuzz/seeds/<name>) are read only. A finding leaves its input
# in build/fuzz/ and fails the script.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS="${FUZZ_RUNS:-20000}"
JOBS="${TM_JOBS:-2}"
log() { echo "fuzz: $*"; }

if [ ! -f build/fuzz/CMakeCache.txt ]; then
  log "configuring build/fuzz (clang, libFuzzer, sanitizers)"
  CC=clang cmake -S . -B build/fuzz -DTM_FUZZ=ON -DTM_TESTS=OFF -DTM_SANITIZE=ON >/dev/null
fi
cmake --build build/fuzz -j "$JOBS" >/dev/null

harnesses=("$@")
if [ "${#harnesses[@]}" -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$src" .c)"); done
fi
for h in "${harnesses[@]}"; do
  seeds="tests/fuzz/seeds/${h#fuzz_}"
  corpus="build/fuzz/corpus/$h"
  mkdir -p "$corpus"
  args=(-runs="$RUNS" -dict=tests/fuzz/json.dict -max_len=65536 -timeout=10
        -rss_limit_mb=2048 -artifact_prefix="build/fuzz/$h-" -print_final_stats=1)
  log "$h: $RUNS runs"
  if ! ASAN_OPTIONS=detect_leaks=1 ./build/fuzz/"$h" "${args[@]}" "$corpus" "$seeds" \
        >"build/fuzz/$h.log" 2>&1; then
    tail -n 40 "build/fuzz/$h.log"
    log "$h found a failure (input saved as build/fuzz/$h-*)"
    exit 1
  fi
  grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|cov: ' "build/fuzz/$h.log" | tail -n 3 |
    sed "s/^/fuzz: $h: /"
done
