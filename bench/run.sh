#!/usr/bin/env bash
# make bench: runs the switch benchmarks (needs root for hugepages). Usage: bench/run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root to reserve and mount hugepages" >&2
  exit 1
fi
exec /usr/bin/python3 "$here/run.py" "${1:-build}" "${@:2}"
