#!/usr/bin/env bash
# End-to-end: two goldgate-switch instances joined by ESP across an untrusted underlay.
#
#   gt-a1 (10.1.0.1) ── switch A ── uplink ─┐                  ┌─ uplink ── switch B ── gt-b1 (10.2.0.1)
#                       192.0.2.1           └─ gt-under (br0) ─┘           192.0.2.2
#                                              gt-out (10.1.0.200): a host reached in clear
#
# Checks: ping and TCP (iperf3, an HTTP upload with its SHA-256) work across; a capture on the
# underlay shows only ESP and ARP; packets replayed, tampered with or injected on the underlay are
# dropped and counted by the receiving switch; a data class that must travel encrypted passes to
# the peer's zone and is blocked toward a host reached in clear.
# Usage: e2e_tunnel.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
gg_need_root

work=$(mktemp -d /tmp/gg-e2e-tunnel.XXXXXX)
NS=(gt-a1 gt-b1 gt-under gt-out)
passed=0; failed=0
pids=()
cleanup() {
  kill "${pids[@]}" $(jobs -p) 2>/dev/null
  for ns in "${NS[@]}"; do ip netns pids "$ns" 2>/dev/null | xargs -r kill -9 2>/dev/null; ip netns del "$ns" 2>/dev/null; done
  wait 2>/dev/null
  for l in ta1-h tb1-h tua-h tub-h; do ip link del "$l" 2>/dev/null; done
  rm -rf "$work"
}
trap cleanup EXIT
ok()  { echo "PASS $1"; passed=$((passed + 1)); }
bad() { echo "FAIL $1"; failed=$((failed + 1)); for s in a b; do echo "  switch $s:"; ctl $s status 2>&1 | sed -n '/DROP REASON/,/^$/p' | sed 's/^/    /'; done; }
expect() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
ctl() { local s=$1; shift; "$bin/cli/goldgatectl" -s "$work/$s/switch.sock" "$@"; }
counter() {  # switch, drop reason
  ctl "$1" --json status | /usr/bin/python3 -c "
import json, sys
s = json.load(sys.stdin)['status']
print(next((c.get('value', 0) for c in s.get('drops', []) if c['name'] == '$2'), 0))"
}
in_ns() { local ns=$1; shift; ip netns exec "$ns" "$@"; }

# --- topology
cleanup 2>/dev/null; work=$(mktemp -d /tmp/gg-e2e-tunnel.XXXXXX)
for ns in "${NS[@]}"; do ip netns add "$ns"; ip -n "$ns" link set lo up; in_ns "$ns" sysctl -qw net.ipv6.conf.all.disable_ipv6=1; done
veth() {  # host-side name, namespace, inside name, mac
  ip link add "$1" type veth peer name "$3" netns "$2"
  ip -n "$2" link set "$3" address "$4"
  ip link set "$1" up; sysctl -qw "net.ipv6.conf.$1.disable_ipv6=1"
  ethtool -K "$1" tx off tso off gso off gro off >/dev/null 2>&1 || true
  in_ns "$2" ethtool -K "$3" tx off tso off gso off gro off >/dev/null 2>&1 || true
  ip -n "$2" link set "$3" up
}
veth ta1-h gt-a1 eth0 02:00:00:01:00:01
veth tb1-h gt-b1 eth0 02:00:00:02:00:01
veth tua-h gt-under ua 02:00:00:0f:00:0a
veth tub-h gt-under ub 02:00:00:0f:00:0b
ip -n gt-under link add br0 type bridge
ip -n gt-under link set ua master br0; ip -n gt-under link set ub master br0; ip -n gt-under link set br0 up
ip -n gt-out link add eth0 type veth peer name uo netns gt-under
ip -n gt-out link set eth0 address 02:00:00:0e:00:01; ip -n gt-out link set eth0 up
in_ns gt-out ethtool -K eth0 tx off tso off gso off gro off >/dev/null 2>&1 || true
ip -n gt-under link set uo master br0; ip -n gt-under link set uo up
ip -n gt-a1 addr add 10.1.0.1/24 dev eth0; ip -n gt-a1 route add 10.2.0.0/16 via 10.1.0.254
ip -n gt-b1 addr add 10.2.0.1/24 dev eth0; ip -n gt-b1 route add 10.1.0.0/16 via 10.2.0.254
ip -n gt-out addr add 10.1.0.200/24 dev eth0

# --- keys and configuration
k1=$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n'); k2=$(head -c 36 /dev/urandom | od -An -tx1 | tr -d ' \n')
site() {  # name, lcore, vm port iface, uplink iface, mac, ip, own underlay, peer name, peer underlay, own prefix, peer prefix, router ip, spi out, key out, spi in, key in
  local d=$work/$1
  mkdir -p "$d/segments" "$d/datapolicy"
  cat > "$d/sa.yaml" <<YAML
sas:
  - {peer: ${8}, direction: out, spi: ${13}, key: 0x${14}}
  - {peer: ${8}, direction: in, spi: ${15}, key: 0x${16}}
YAML
  chmod 600 "$d/sa.yaml"
  cat > "$d/goldgate.yaml" <<YAML
eal: [-l, "$2", --no-huge, -m, "512", --no-shconf, --no-pci, --no-telemetry, --log-level, "*:warning"]
mbufs: 8191
segments_dir: segments
control: {socket: $d/switch.sock}
alerts: {file: $d/alerts.jsonl, window_ms: 2000}
quarantine_file: $d/quarantine
ports:
  - {name: vm1, devargs: "net_af_packet0,iface=$3", vm: vm1, labels: {tier: app}, mac: "$5", ips: [$6]}
  - {name: uplink, devargs: "net_af_packet1,iface=$4", role: uplink}
zones:
  - {name: local, cidrs: [${10}], trusted: true}
  - {name: behind-${8}, cidrs: [${11}]}
  - {name: internet, cidrs: [0.0.0.0/0]}
inspection: {classes: datapolicy}
tunnel:
  underlay: {ipv4: $7/24}
  router: {mac: "02:00:00:0a:00:fe", ipv4: ${12}}
  keys: sa.yaml
  peers:
    - {name: ${8}, underlay: $9, zones: [behind-${8}]}
YAML
  cat > "$d/segments/app.yaml" <<'YAML'
segments:
  - name: app
    members: {labels: {tier: app}}
rules:
  - {name: out, from: app, to: external, proto: tcp, action: allow}
  - {name: out-ping, from: app, to: external, proto: icmp, action: allow}
  - {name: in, from: external, to: app, proto: tcp, ports: [5201, 8080], action: allow}
  - {name: in-ping, from: external, to: app, proto: icmp, action: allow}
YAML
  # A class that must never travel in clear: allowed only where the switch encrypts.
  cat > "$d/datapolicy/merger-code.yaml" <<'YAML'
name: merger-code
description: project code names of a merger under NDA (a test class)
severity: 9
detectors:
  patterns: [{regex: 'MERGER-[0-9]{6}'}]
policy:
  default: require-encryption
YAML
}
site a 0 ta1-h tua-h 02:00:00:01:00:01 10.1.0.1 192.0.2.1 site-b 192.0.2.2 10.1.0.0/24 10.2.0.0/16 10.1.0.254 0x1001 "$k1" 0x2001 "$k2"
site b 1 tb1-h tub-h 02:00:00:02:00:01 10.2.0.1 192.0.2.2 site-a 192.0.2.1 10.2.0.0/24 10.1.0.0/16 10.2.0.254 0x2001 "$k2" 0x1001 "$k1"

start() {
  "$bin/dataplane/goldgate-switch" -c "$work/$1/goldgate.yaml" > "$work/$1/switch.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 100); do ctl "$1" status >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "switch $1 did not come up:"; cat "$work/$1/switch.log"; exit 1
}
start a; start b

# --- traffic across
reach=0
for _ in $(seq 1 40); do in_ns gt-a1 ping -c 1 -W 1 10.2.0.1 >/dev/null 2>&1 && { reach=1; break; }; sleep 0.25; done
expect "ping site A -> site B through the tunnel" test $reach = 1
expect "ping site B -> site A" in_ns gt-b1 ping -c 3 -i 0.2 -W 1 10.1.0.1

in_ns gt-under /usr/bin/python3 - "$work/under.pcap" 12 > "$work/sniff.log" 2>&1 <<'PY' &
import sys
from scapy.all import sniff, wrpcap
wrpcap(sys.argv[1], sniff(iface="br0", timeout=float(sys.argv[2])))
PY
sniffer=$!
sleep 1
in_ns gt-b1 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
sleep 0.5
in_ns gt-a1 iperf3 -c 10.2.0.1 -p 5201 -t 3 -J > "$work/iperf.json" 2>&1
gbps=$(/usr/bin/python3 -c "import json; print('%.2f' % (json.load(open('$work/iperf.json'))['end']['sum_received']['bits_per_second'] / 1e9))" 2>/dev/null || echo 0)
expect "iperf3 TCP through the tunnel ($gbps Gbit/s)" /usr/bin/python3 -c "import sys; sys.exit(0 if float('$gbps') > 0.01 else 1)" ||
  tail -c 400 "$work/iperf.json"

mkdir -p "$work/recv-b" "$work/recv-out"
in_ns gt-b1 /usr/bin/python3 "$here/upload_server.py" 10.2.0.1 8080 "$work/recv-b" 2>"$work/b-server.log" &
in_ns gt-out /usr/bin/python3 "$here/upload_server.py" 10.1.0.200 8080 "$work/recv-out" 2>"$work/out-server.log" &
for _ in $(seq 1 50); do in_ns gt-a1 nc -z -w 1 10.2.0.1 8080 2>/dev/null && break; sleep 0.1; done
head -c 4000000 /dev/urandom > "$work/file.bin"
want=$(sha256sum "$work/file.bin" | cut -d' ' -f1)
got=$(in_ns gt-a1 curl -s -m 20 --data-binary @"$work/file.bin" http://10.2.0.1:8080/file.bin)
expect "a 4 MB upload arrives across the tunnel with the same SHA-256" test "$got" = "$want"
wait $sniffer
/usr/bin/python3 - "$work/under.pcap" > "$work/under.txt" <<'PY'
import sys
from scapy.all import ARP, ESP, IP, rdpcap
pk = rdpcap(sys.argv[1])
esp = sum(1 for p in pk if ESP in p)
clear = [p for p in pk if IP in p and ESP not in p and (p[IP].src.startswith("10.2.") or p[IP].dst.startswith("10.2."))]
print(esp, len(clear))
PY
read -r nesp nclear < "$work/under.txt"
expect "the underlay carried the transfer as ESP only ($nesp ESP packets, $nclear in clear)" test "$nesp" -gt 1000 -a "$nclear" = 0

# --- attacks on the underlay, from gt-under: replay, tamper, inject
r0=$(counter b esp_replay); t0=$(counter b esp_authentication)
in_ns gt-under /usr/bin/python3 - "$work/under.pcap" <<'PY'
import os, sys
from scapy.all import ESP, IP, Ether, Raw, rdpcap, sendp
# The newest packets toward B: still inside its replay window (older ones read as a later 2^32
# subspace under ESN, RFC 4303 A2, and fail authentication instead).
toward_b = [p for p in rdpcap(sys.argv[1]) if ESP in p and p[IP].dst == "192.0.2.2"][-50:]
sendp(toward_b[:20], iface="br0", verbose=False)                       # replayed as captured
for i, p in enumerate(toward_b[20:40]):  # one bit flipped in the ciphertext, under a sequence number not seen yet
    p = p.copy(); p[ESP].seq = 2 * 10**6 + i
    b = bytearray(bytes(p)); b[60] ^= 0x04; sendp(Ether(bytes(b)), iface="br0", verbose=False)
for i in range(10):                                                   # injected: right SPI, made-up contents
    p = toward_b[0].copy(); p[ESP].seq = 10**6 + i; p[ESP].data = os.urandom(200); del p[IP].len, p[IP].chksum
    sendp(p, iface="br0", verbose=False)
PY
sleep 0.5
r1=$(counter b esp_replay); t1=$(counter b esp_authentication)
expect "20 replayed ESP packets dropped as replays ($((r1 - r0)))" test $((r1 - r0)) -ge 20
expect "30 tampered or injected ESP packets dropped ($((t1 - t0)) failed authentication)" test $((t1 - t0)) -ge 30
expect "the tunnel still works after the attacks" in_ns gt-a1 ping -c 2 -i 0.2 -W 1 10.2.0.1
expect "an alert names the failed authentication" grep -q '"kind":"tunnel.esp_authentication"' "$work/b/alerts.jsonl"

# --- data that must travel encrypted
printf 'board minutes: MERGER-204711 closes in Q3\n' > "$work/nda.txt"
got=$(in_ns gt-a1 curl -s -m 10 --data-binary @"$work/nda.txt" http://10.2.0.1:8080/nda.txt)
expect "a require-encryption class passes to the peer's zone (sealed in ESP)" test "$got" = "$(sha256sum "$work/nda.txt" | cut -d' ' -f1)"
in_ns gt-a1 curl -s -m 10 --data-binary @"$work/nda.txt" -o /dev/null http://10.1.0.200:8080/nda.txt
expect "... and is blocked toward a host reached in clear" test ! -s "$work/recv-out/nda.txt"
expect "the blocked upload is alerted" grep -q '"kind":"data.merger-code".*"action":"require-encryption"' "$work/a/alerts.jsonl"

echo "e2e tunnel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
