#!/usr/bin/env bash
# End-to-end: goldgate-hostmon against a real libvirtd, which is stopped, restarted and hung.
# libvirtd runs unprivileged (session mode, as nobody, in a scratch folder) and serves its test
# driver over its socket (test+unix://), so no VM, KVM or system configuration is involved; the
# remote protocol, keepalive and close callback are the real ones.
# Checks: inventory while connected; libvirtd gone -> NOT CONNECTED, inventory kept; libvirtd back
# -> reconnected with no new VM events (no false alarms); libvirtd hung -> keepalive notices, and
# SIGTERM still stops hostmon promptly; goldgatectl's error when hostmon is not running.
# Usage: e2e_hostmon.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source "$here/lib.sh"
src=$(cd "$here/../.." && pwd)
bin=$(cd "${1:-build}" && pwd)

if [ "$(id -u)" -ne 0 ] || ! command -v libvirtd >/dev/null || ! command -v setpriv >/dev/null; then
  echo "SKIP: needs root (to run libvirtd as nobody), libvirtd (Debian libvirt-daemon) and setpriv"
  exit 77
fi

work=$(mktemp -d /tmp/gg-e2e-hostmon.XXXXXX)
chmod 755 "$work"
lv="$work/libvirt"
mkdir -p "$lv/home" "$lv/xdg"
chown -R 65534:65534 "$lv"
chmod 700 "$lv/xdg"
lvsock="$lv/xdg/libvirt/libvirt-sock"
hsock="$work/hostmon.sock"
ctl="$bin/cli/goldgatectl --hostmon-socket $hsock"
lv_pid=""
hm_pid=""
cleanup() {
  [ -n "$lv_pid" ] && kill -CONT "$lv_pid" 2>/dev/null
  [ -n "$hm_pid" ] && kill "$hm_pid" 2>/dev/null
  [ -n "$lv_pid" ] && kill "$lv_pid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

gg_on_fail() { sed 's/^/    hostmon: /' "$work/hostmon.log"; }
# until SECONDS COMMAND...: retries every 0.1 s

libvirtd_start() {
  rm -f "$lvsock"
  HOME="$lv/home" XDG_RUNTIME_DIR="$lv/xdg" setpriv --reuid=65534 --regid=65534 --clear-groups libvirtd \
    >>"$work/libvirtd.log" 2>&1 &
  lv_pid=$!
  until_ok 30 test -S "$lvsock"
}

# field NAME: a field of `goldgatectl vms --json` (status.connected, vm names, ...)
vms_json() { $ctl vms --json 2>/dev/null; }
connected() { vms_json | python3 2>/dev/null -c 'import json,sys; sys.exit(0 if json.load(sys.stdin)["status"].get("connected") else 1)'; }
disconnected() { vms_json | python3 2>/dev/null -c 'import json,sys; sys.exit(1 if json.load(sys.stdin)["status"].get("connected") else 0)'; }
has_vm() { vms_json | python3 2>/dev/null -c 'import json,sys; sys.exit(0 if any(v["name"]==sys.argv[1] for v in json.load(sys.stdin).get("list_vms",{}).get("vms",[])) else 1)' "$1"; }
last_error_has() { vms_json | python3 2>/dev/null -c 'import json,sys; sys.exit(0 if sys.argv[1] in json.load(sys.stdin)["status"].get("last_error","") else 1)' "$1"; }
vm_events() { grep -c ': vm\.' "$work/hostmon.log"; }

# 0. Configuration checks and the CLI without a daemon.
expect "the shipped configs/hostmon.yaml passes --check" "$bin/hostmon/goldgate-hostmon" --check -c "$src/configs/hostmon.yaml"
printf 'libvirt:\n  reconnect:\n    min_ms: 5\n' >"$work/bad.yaml"
"$bin/hostmon/goldgate-hostmon" -c "$work/bad.yaml" 2>"$work/bad.err"; rc=$?
expect "a bad configuration exits 2 with file:line" bash -c "[ $rc -eq 2 ] && grep -q 'bad.yaml:3: libvirt.reconnect.min_ms' '$work/bad.err'"
$ctl vms 2>"$work/ctl.err"; rc=$?
expect "goldgatectl vms without hostmon: exit 1, says so" bash -c "[ $rc -eq 1 ] && grep -q 'is goldgate-hostmon running' '$work/ctl.err'"

libvirtd_start || { echo "FAIL libvirtd did not come up"; cat "$work/libvirtd.log"; exit 1; }
cat >"$work/hostmon.yaml" <<YAML
libvirt:
  uri: test+unix:///default?socket=$lvsock
  reconnect: {min_ms: 100, max_ms: 800}
  keepalive: {interval_s: 1, count: 2}
control:
  socket: $hsock
metrics: {listen: "127.0.0.1:0"}
YAML
"$bin/hostmon/goldgate-hostmon" -c "$work/hostmon.yaml" 2>"$work/hostmon.log" &
hm_pid=$!

# 1. Connected: the test driver's domain is in the inventory.
expect "connected to libvirtd" until_ok 15 connected
expect "the inventory lists the test driver's VM" has_vm test
expect "the control socket is mode 0600" bash -c "[ \"\$(stat -c %a '$hsock')\" = 600 ]"
$ctl vm show test >"$work/show.txt" 2>&1
expect "vm show prints the VM's NIC" grep -q 'aa:bb:cc:dd:ee:ff' "$work/show.txt"
events_before=$(vm_events)

# 2. libvirtd goes away: reported, inventory kept.
kill "$lv_pid"; wait "$lv_pid" 2>/dev/null
expect "libvirtd stopped: NOT CONNECTED" until_ok 10 disconnected
expect "the inventory survives the disconnect" has_vm test

# 3. libvirtd back: reconnected, and nothing changed, so no VM events.
libvirtd_start || { echo "FAIL libvirtd did not come back"; exit 1; }
expect "reconnected after the restart" until_ok 15 connected
expect "no false alarms after the reconnect ($events_before VM events before, $(vm_events) after)" \
  bash -c "[ $(vm_events) -eq $events_before ]"
expect "back-off logged while libvirtd was down" grep -q 'retrying in' "$work/hostmon.log"

# 4. libvirtd hung: keepalive notices; SIGTERM still ends hostmon within the 5 s grace.
kill -STOP "$lv_pid"
expect "a hung libvirtd is noticed by keepalive" until_ok 15 last_error_has "keepalive"
start=$(date +%s)
kill -TERM "$hm_pid"; wait "$hm_pid"; rc=$?
hm_pid=""
took=$(( $(date +%s) - start ))
expect "SIGTERM stops hostmon with a hung libvirtd (exit $rc after ${took}s)" bash -c "[ $rc -eq 0 ] && [ $took -le 8 ]"
kill -CONT "$lv_pid"

echo "e2e.hostmon: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
