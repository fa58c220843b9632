#!/usr/bin/env bash
# Runs every test tier. Release build: unit, component, e2e, fuzz. Sanitizer build: unit, component.
# Usage: scripts/run-tests.sh BUILD ASAN_BUILD FUZZ_BUILD
set -uo pipefail
build=${1:-build}; asan=${2:-build-asan}; fuzz=${3:-build-fuzz}
status=0

echo "== release build: unit, component, end-to-end, fuzz"
ctest --test-dir "$build" --output-on-failure -j1 || status=1

echo "== sanitizer build (ASan + UBSan): unit, component"
# DPDK keeps its memory until exit by design; leaks are checked by the unit tiers' own assertions.
ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$asan" -L 'unit|component' --output-on-failure -j1 || status=1

echo "== fuzz smoke runs"
ctest --test-dir "$fuzz" -L fuzz --output-on-failure -j1 || status=1

exit $status
