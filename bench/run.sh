#!/usr/bin/env bash
# make bench: runs the switch and alert-stream benchmarks (needs root for hugepages). Usage: bench/run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root to reserve and mount hugepages" >&2
  exit 1
fi
/usr/bin/python3 "$here/run.py" "${1:-build}" "${@:2}"
# The alert stream: rendering, TLS delivery to a local rsyslog, spool write and replay.
exec /usr/bin/python3 "$here/alerts.py" "${1:-build}"
