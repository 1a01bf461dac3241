#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz/ (clang, ASan + UBSan) in
# build/fuzz and runs each over its committed seeds and a working corpus.
#
#   bash scripts/fuzz.sh                        a short run of each (what npm test does)
#   FUZZ_RUNS=500000 bash scripts/fuzz.sh       that many executions of each
#   FUZZ_UNTIL=10000000 bash scripts/fuzz.sh    the long run: each harness until it has
#                                               run that many executions in all
#   bash scripts/fuzz.sh fuzz_window            only the named harnesses
#
# Every run adds a line to build/fuzz/<harness>.runs (date, commit,
# executions, coverage), the ledger the long run counts: it goes in steps of
# at most a million executions, so one that is stopped goes on where it left
# off. The working corpus (build/fuzz/corpus/<harness>) grows across runs;
# the seeds (tests/fuzz/seeds/<name>) are read only. A finding leaves its
# input in build/fuzz/ and fails the script.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

RUNS="${FUZZ_RUNS:-20000}"
UNTIL="${FUZZ_UNTIL:-0}"
STEP=1000000
JOBS="${TM_JOBS:-2}"
log() { echo "fuzz: $*"; }

if [ ! -f build/fuzz/CMakeCache.txt ]; then
  log "configuring build/fuzz (clang, libFuzzer, sanitizers)"
  CC=clang cmake -S . -B build/fuzz -DTM_FUZZ=ON -DTM_TESTS=OFF -DTM_SANITIZE=ON >/dev/null
fi
cmake --build build/fuzz -j "$JOBS" >/dev/null
commit="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"

# The executions a harness's ledger holds.
executed() { awk '{ n += $3 } END { print n + 0 }' "build/fuzz/$1.runs" 2>/dev/null || echo 0; }

# One libFuzzer run of harness $1 for $2 executions; its count and coverage
# go to the ledger.
run() {
  local h="$1" runs="$2" seeds="tests/fuzz/seeds/${1#fuzz_}" corpus="build/fuzz/corpus/$1"
  mkdir -p "$corpus"
  log "$h: $runs runs"
  if ! ASAN_OPTIONS=detect_leaks=1 ./build/fuzz/"$h" -runs="$runs" -dict=tests/fuzz/json.dict \
        -max_len=65536 -timeout=10 -rss_limit_mb=2048 -artifact_prefix="build/fuzz/$h-" \
        -print_final_stats=1 "$corpus" "$seeds" >"build/fuzz/$h.log" 2>&1; then
    tail -n 40 "build/fuzz/$h.log"
    log "$h found a failure (input saved as build/fuzz/$h-*)"
    exit 1
  fi
  local done cov
  done="$(sed -n 's/^stat::number_of_executed_units: *//p' "build/fuzz/$h.log")"
  cov="$(grep -o 'cov: [0-9]* ft: [0-9]*' "build/fuzz/$h.log" | tail -n 1)"
  if [ -z "$done" ]; then
    log "$h: no count of executions in build/fuzz/$h.log"
    exit 1
  fi
  echo "$(date -u +%FT%TZ) $commit $done $cov" >>"build/fuzz/$h.runs"
  log "$h: $done executions, $cov; $(executed "$h") in all (build/fuzz/$h.runs)"
}

harnesses=("$@")
if [ "${#harnesses[@]}" -eq 0 ]; then
  for src in tests/fuzz/fuzz_*.c; do harnesses+=("$(basename "$src" .c)"); done
fi
for h in "${harnesses[@]}"; do
  if [ "$UNTIL" -gt 0 ]; then
    while [ "$(executed "$h")" -lt "$UNTIL" ]; do
      left=$((UNTIL - $(executed "$h")))
      run "$h" $((left < STEP ? left : STEP))
    done
  else
    run "$h" "$RUNS"
  fi
done
