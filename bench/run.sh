#!/usr/bin/env bash
# make bench: runs the switch, observability-overhead, data-class, tunnel, host-monitor, memory-introspection and alert-stream benchmarks (needs root for hugepages). Usage: bench/run.sh BUILD_DIR
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
if [ "$(id -u)" -ne 0 ]; then
  echo "bench: needs root to reserve and mount hugepages" >&2
  exit 1
fi
/usr/bin/python3 "$here/run.py" "${1:-build}" "${@:2}"
# What watching costs: the established-flow case with /metrics scraped and a trace capture armed.
/usr/bin/python3 "$here/observe.py" "${1:-build}"
# Data classes: inspection through the switch, stream state, compile time, classify throughput.
/usr/bin/python3 "$here/datapolicy.py" "${1:-build}"
# ESP tunnels: encrypt and decrypt through the switch against the single-core AES-GCM ceiling.
/usr/bin/python3 "$here/tunnel.py" "${1:-build}"
# The host monitor: process start to observation with real guests, CPU per poll, cost to a guest.
"$here/hostmon.sh" "${1:-build}"
# Memory introspection: one pass, the fast path against virDomainMemoryPeek, a hidden process to its red flag.
"$here/memview.sh" "${1:-build}"
# The alert stream: rendering, TLS delivery to a local rsyslog, spool write and replay.
exec /usr/bin/python3 "$here/alerts.py" "${1:-build}"
