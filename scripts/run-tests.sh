#!/usr/bin/env bash
# Runs every test tier. Release build: unit, component, e2e. Sanitizer build: unit, component. Fuzz build: smoke runs.
# Debian packages (make deb): installed, run and purged (tests/packages/test_packages.sh).
# Two streams run side by side (one per core): the release build's tiers followed by the package
# tier (the shorter stream, by about 4 minutes), and the sanitizer build's tiers followed by the fuzz
# smoke runs; the second stream's output follows the first's.
# Usage: scripts/run-tests.sh BUILD ASAN_BUILD FUZZ_BUILD [DEB_DIR]   (no DEB_DIR: no package tier)
set -uo pipefail
build=${1:-build}; asan=${2:-build-asan}; fuzz=${3:-build-fuzz}; debs=${4:-}
root=$(cd "$(dirname "$0")/.." && pwd)
log=$(mktemp /tmp/goldgate-tests.XXXXXX)
trap 'rm -f "$log"' EXIT

second_stream() {
  local status=0
  echo "== sanitizer build (ASan + UBSan): unit, component"
  # DPDK keeps its memory until exit by design: leak detection is off here, and on for the tests
  # that start no DPDK (they set their own ASAN_OPTIONS in tests/CMakeLists.txt).
  ASAN_OPTIONS=detect_leaks=0:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    ctest --test-dir "$asan" -L 'unit|component' --output-on-failure -j1 || status=1
  echo "== fuzz smoke runs"
  ctest --test-dir "$fuzz" -L fuzz --output-on-failure -j1 || status=1
  return $status
}
second_stream > "$log" 2>&1 &
second=$!
echo "== sanitizer build and fuzz smoke runs: started alongside (their output follows)"

status=0
echo "== release build: unit, component, end-to-end"
ctest --test-dir "$build" --output-on-failure -j1 || status=1
if [ -n "$debs" ]; then
  echo "== packages: lintian, install, systemd-analyze verify, the installed switch and hostmon, purge"
  # After the end-to-end tier, not beside it: both set up namespaces and run switches.
  rc=0; "$root/tests/packages/test_packages.sh" "$debs" || rc=$?
  [ "$rc" -eq 0 ] || [ "$rc" -eq 77 ] || status=1  # 77: skipped, and the script said why
fi

wait "$second" || status=1
cat "$log"
[ "$status" -eq 0 ] && echo "== every tier passed" || echo "== some tier failed (see above)"
exit $status
