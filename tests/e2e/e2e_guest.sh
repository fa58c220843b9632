#!/usr/bin/env bash
# End-to-end with a real guest: a Linux VM under QEMU (TCG) whose virtio-net NIC is a vhost-user
# port of goldgate-switch, talking to a namespace "database" through the microsegment policy.
# Usage: e2e_guest.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
gg_need_root
if ! command -v qemu-system-x86_64 >/dev/null; then
  echo "SKIP: qemu-system-x86_64 not installed (scripts/install-deps.sh installs qemu-system-x86)"; exit 77
fi
guest="$bin/guest"
"$here/guest/build-guest.sh" "$guest" || { echo "FAIL: could not build the test guest"; exit 1; }

work=$(mktemp -d /tmp/gg-guest.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
qpid=""
trap '[ -n "$qpid" ] && kill $qpid 2>/dev/null; kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; gg_cleanup; rm -rf "$work"' EXIT

gg_topology_up
mkdir -p "$work/segments"
{ gg_switch_base "$work"; cat <<YAML; } > "$work/goldgate.yaml"
ports:
  - {name: vm-web1, devargs: "net_vhost0,iface=$work/vm-web1.sock", vm: web1, mac: "52:54:00:00:00:01", ips: [10.0.0.1]}
  - {name: db1, devargs: "net_af_packet0,iface=db1-h", vm: db1, mac: "02:00:00:00:00:02", ips: [10.0.0.2]}
YAML
cat > "$work/segments/app.yaml" <<'YAML'
segments:
  - {name: web, members: {vms: [web1]}}
  - {name: db, members: {vms: [db1]}}
rules:
  - {name: web-to-db, from: web, to: db, proto: tcp, ports: 5432, action: allow}
  - {name: web-ping-db, from: web, to: db, proto: icmp, action: allow}
YAML
gg_switch_start "$work" "$bin" || exit 1
ip netns exec gg-db1 nc -lk 5432 > "$work/db.txt" 2>/dev/null &
ip netns exec gg-db1 nc -lk 22 > /dev/null 2>&1 &

# The guest: direct kernel boot, shared memory (vhost-user needs it; no hugepages), virtio-net on
# the switch's vhost-user socket. pci=nomsi: QEMU 7.2 under TCG crashes when a guest enables MSI-X
# on a vhost-user NIC.
timeout 180 qemu-system-x86_64 -machine q35,accel=tcg -cpu max -m 256 -smp 1 -nographic -no-reboot \
  -kernel "$guest/vmlinuz" -initrd "$guest/initrd.gz" \
  -append "console=ttyS0 quiet pci=nomsi panic=-1 gg.ip=10.0.0.1/24 gg.peer=10.0.0.2" \
  -object memory-backend-memfd,id=mem,size=256M,share=on -numa node,memdev=mem \
  -chardev socket,id=c0,path="$work/vm-web1.sock" -netdev vhost-user,id=n0,chardev=c0 \
  -device virtio-net-pci,netdev=n0,mac=52:54:00:00:00:01 \
  > "$work/console.log" 2>&1 &
qpid=$!
for i in $(seq 1 170); do grep -q GUEST-DONE "$work/console.log" && break; kill -0 $qpid 2>/dev/null || break; sleep 1; done
wait $qpid 2>/dev/null; qpid=""
grep GUEST "$work/console.log" | sed 's/^/    /'

expect "the guest booted and brought its vhost-user NIC up" grep -q "GUEST-UP" "$work/console.log"
expect "guest pings db1 through the switch (allowed, replies pass)" grep -q "GUEST-PING ok" "$work/console.log"
expect "full-size frames pass both ways (ping -s 1400)" grep -q "GUEST-PINGBIG ok" "$work/console.log"
expect "guest connects to db1:5432 (web-to-db)" grep -q "GUEST-TCP5432 ok" "$work/console.log"
expect "the data arrived in db1" grep -q "hello-from-guest" "$work/db.txt"
expect "guest cannot connect to db1:22 (default deny)" grep -q "GUEST-TCP22 fail" "$work/console.log"
deny_logged() { grep -q '"kind":"policy.deny".*"dst_port":22' "$work/alerts.jsonl"; }
expect "the denied connection was alerted with its port and VM" deny_logged
vm_rx() { $ctl --json status | /usr/bin/python3 -c "
import json, sys
for p in json.load(sys.stdin)['status']['ports']:
    if p['name'] == 'vm-web1': print(p.get('rx_packets', 0))"; }
rx=$(vm_rx)
expect "the switch counted the guest's packets on its vhost-user port ($rx)" test "${rx:-0}" -gt 5

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
