#!/usr/bin/env bash
# make demo: goldgate-switch on a built-in topology of network namespaces (three VMs in two
# segments and a host outside), showing allowed, denied, spoofed and quarantined traffic and the
# alerts they raise; two sites joined by an ESP tunnel; then two real VMs (TCG, under a private
# libvirtd) that goldgate-hostmon binds to their switch ports and watches. Needs root
# (namespaces, veth, libvirtd). Usage: scripts/demo.sh BUILD_DIR
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=$(cd "${1:-$root/build}" && pwd)
source "$root/tests/e2e/lib.sh"
source "$root/tests/e2e/tunnel_lib.sh"
if [ "$(id -u)" -ne 0 ]; then echo "make demo needs root (network namespaces)"; exit 1; fi

work=$(mktemp -d /tmp/goldgate-demo.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; gg_cleanup; gt_down' EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
try() {  # try DESCRIPTION COMMAND...: runs it and says what happened
  local what=$1; shift
  if "$@" >/dev/null 2>&1; then printf '  %-58s \033[32mpassed\033[0m\n' "$what"; else printf '  %-58s \033[31mblocked\033[0m\n' "$what"; fi
}

say "Topology: web1, web2 (segment web), db1 (segment db), an outside host behind the uplink"
gg_topology_up
gg_write_config "$work"
# Data classes inline: the shop's VMs form the payment zone; everything else is the internet.
gg_enable_inspection "$work" "$root"
echo "  switch config:   $work/goldgate.yaml"
echo "  segment policy:  $work/segments/shop.yaml"
sed 's/^/    /' "$work/segments/shop.yaml"
gg_switch_start "$work" "$bin" || exit 1
# A live alert stream in CEF, as a SIEM forwarder would read it.
$ctl alerts --follow --format cef > "$work/alerts.cef" 2>/dev/null &
ip netns exec gg-db1 nc -lk 5432 >/dev/null 2>&1 &
ip netns exec gg-db1 nc -lk 22 >/dev/null 2>&1 &
ip netns exec gg-web1 nc -lk 8080 >/dev/null 2>&1 &
mkdir -p "$work/received"
ip netns exec gg-out /usr/bin/python3 "$root/tests/e2e/upload_server.py" 10.0.0.254 80 "$work/received" 2>/dev/null &
sleep 0.5

say "Microsegments: least privilege, stateful, default deny"
try "web1 -> db1:5432 (web-to-db)" gg_in gg-web1 nc -z -w 2 10.0.0.2 5432
try "web1 -> db1:22 (no rule: default deny)" gg_in gg-web1 nc -z -w 2 10.0.0.2 22
try "web1 pings db1 (replies pass: stateful)" gg_in gg-web1 ping -c 1 -W 1 10.0.0.2
try "db1 pings web1 (reverse direction)" gg_in gg-db1 ping -c 1 -W 1 10.0.0.1
try "outside -> web1:8080 (http-in, logged)" gg_in gg-out nc -z -w 2 10.0.0.1 8080
try "outside -> db1:5432" gg_in gg-out nc -z -w 2 10.0.0.2 5432
try "web1 -> outside:80 (web-out-http)" gg_in gg-web1 nc -z -w 2 10.0.0.254 80

say "Anti-spoofing: web1 tries to send as 10.0.0.50"
gg_in gg-web1 ip addr add 10.0.0.50/24 dev eth0
try "web1 (as 10.0.0.50) -> db1:5432" gg_in gg-web1 nc -z -w 2 -s 10.0.0.50 10.0.0.2 5432
gg_in gg-web1 ip addr del 10.0.0.50/24 dev eth0

say "Quarantine: goldgatectl quarantine web2"
try "web2 -> db1:5432 before" gg_in gg-web2 nc -z -w 2 10.0.0.2 5432
$ctl quarantine web2 | sed 's/^/  /'
try "web2 -> db1:5432 in quarantine" gg_in gg-web2 nc -z -w 2 10.0.0.2 5432
try "web1 -> db1:5432 (unaffected)" gg_in gg-web1 nc -z -w 2 10.0.0.2 5432
$ctl release web2 | sed 's/^/  /'
try "web2 -> db1:5432 after release" gg_in gg-web2 nc -z -w 2 10.0.0.2 5432

say "Policy reload: allow web -> db on 22 as well (goldgatectl policy reload)"
try "web1 -> db1:22 before the reload" gg_in gg-web1 nc -z -w 2 10.0.0.2 22
printf 'rules:\n  - {name: web-ssh-db, from: web, to: db, proto: tcp, ports: 22, action: allow}\n' > "$work/segments/zz-ssh.yaml"
$ctl policy reload | sed 's/^/  /'
try "web1 -> db1:22 after the reload" gg_in gg-web1 nc -z -w 2 10.0.0.2 22
echo "  - {name: broken, from: web, to: nowhere, action: allow}" >> "$work/segments/zz-ssh.yaml"
echo "  a reload with a mistake in it is refused, and the running policy stays:"
$ctl policy reload 2>&1 | sed 's/^/    /'
rm "$work/segments/zz-ssh.yaml"; $ctl policy reload >/dev/null

say "Data classes: card numbers may stay in the payment zone, not leave for the internet"
printf 'order,card\n1001,4556 7375 8689 9855\n' > "$work/orders.csv"
printf 'order,status\n1001,shipped\n' > "$work/status.csv"
try "web1 uploads a status file to the outside" gg_in gg-web1 curl -sf -m 5 --data-binary @"$work/status.csv" http://10.0.0.254/status.csv
try "web1 uploads card numbers to the outside (reset)" gg_in gg-web1 curl -sf -m 5 --data-binary @"$work/orders.csv" http://10.0.0.254/orders.csv
sleep 2.2  # the alert window

say "goldgatectl status"
$ctl status | sed 's/^/  /'
say "goldgatectl rules --hits"
$ctl rules --hits | sed 's/^/  /'
say "goldgatectl flows"
$ctl flows | sed 's/^/  /'
say "Alerts ($work/alerts.jsonl), one JSON object a line; summarised:"
/usr/bin/python3 - "$work/alerts.jsonl" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    a = json.loads(line)
    print("  %-18s sev %-2s x%-3s %s" % (a["kind"], a.get("severity", 0), a.get("count", 1), a.get("message", "")))
PY
say "The same alerts as CEF, streamed live by goldgatectl alerts --follow --format cef (first 5):"
head -5 "$work/alerts.cef" | cut -c1-180 | sed 's/^/  /'
say "Trusted zones across an untrusted network: two sites, two switches, ESP between them"
{ kill $(jobs -p); wait; gg_cleanup; } 2>/dev/null
echo "  site A 10.1.0.0/24 behind switch A (underlay 192.0.2.1), site B 10.2.0.0/24 behind switch B (192.0.2.2)"
gt_up || exit 1
sed -n '/^tunnel:/,$p' "$work/a/goldgate.yaml" | sed 's/^/    /'
for _ in $(seq 1 40); do gt_in gt-a1 ping -c 1 -W 1 10.2.0.1 >/dev/null 2>&1 && break; sleep 0.25; done
gt_in gt-under /usr/bin/python3 - "$work/underlay.pcap" 8 >/dev/null 2>&1 <<'PY' &
import sys
from scapy.all import sniff, wrpcap
wrpcap(sys.argv[1], sniff(iface="br0", timeout=float(sys.argv[2])))
PY
sniffer=$!
sleep 1
mkdir -p "$work/site-b"
gt_in gt-b1 /usr/bin/python3 "$root/tests/e2e/upload_server.py" 10.2.0.1 8080 "$work/site-b" 2>/dev/null &
sleep 0.5
try "site A pings site B through the tunnel" gt_in gt-a1 ping -c 2 -i 0.2 -W 1 10.2.0.1
head -c 2000000 /dev/urandom > "$work/backup.bin"
try "site A uploads 2 MB to site B (same SHA-256 on arrival)" test "$(gt_in gt-a1 curl -s -m 10 --data-binary @"$work/backup.bin" http://10.2.0.1:8080/backup.bin)" = "$(sha256sum "$work/backup.bin" | cut -d' ' -f1)"
printf 'board minutes: MERGER-204711 closes in Q3\n' > "$work/nda.txt"
try "a class that must travel encrypted, to site B" gt_in gt-a1 curl -sf -m 5 --data-binary @"$work/nda.txt" http://10.2.0.1:8080/nda.txt
try "the same to a host reached in clear (reset)" gt_in gt-a1 curl -sf -m 5 --data-binary @"$work/nda.txt" http://10.1.0.200:8080/nda.txt
wait $sniffer
echo "  what an attacker on the underlay saw:"
/usr/bin/python3 - "$work/underlay.pcap" <<'PY'
import collections, sys
from scapy.all import ARP, ESP, IP, rdpcap
c = collections.Counter("ESP %s -> %s" % (p[IP].src, p[IP].dst) if ESP in p else "ARP" if ARP in p else p.summary()
                        for p in rdpcap(sys.argv[1]))
for k, n in c.most_common(6):
    print("    %6d  %s" % (n, k))
PY
echo "  switch A:"
gt_ctl a status | sed -n '/^PORT/,/^\(DROP REASON\|no drops\)/p' | grep -v '^\(DROP REASON\|no drops\)' | sed 's/^/    /'

say "Real VMs: goldgate-hostmon tells the switch which VM is which port, and watches the guests"
{ gg_switch_stop; gt_down; } >/dev/null 2>&1
source "$root/tests/e2e/vm_lib.sh"
if ! reason=$(vm_skip_reason); then
  echo "  skipped: $reason"
elif ! "$root/tests/e2e/guest/build-guest.sh" "$bin/guest" agent >/dev/null; then
  echo "  skipped: the test guest could not be built (tests/e2e/guest/build-guest.sh)"
else
  vw="$work/vms"
  mkdir -p "$vw"
  vm_init "$vw/libvirt" "$bin/guest" "$bin/libvirt-cache"
  VM_BIN=$bin  # vm_write_hostmon_config builds the guest kernel's profile with this build's goldgatectl
  vm_write_switch_config "$vw"
  echo "  two TCG guests under a private libvirtd; the switch's ports say only 'identity: hostmon':"
  grep 'identity' "$vw/goldgate.yaml" | sed 's/^/    /'
  gg_switch_start "$vw" "$bin" || exit 1
  vm_libvirtd_start 60 || exit 1
  vm_write_hostmon_config "$vw" 2000 2000 || exit 1
  mkdir -p "$vw/manifests"
  "$bin/cli/goldgatectl" manifest keygen --out "$vw/signer" >/dev/null
  cat >> "$vw/hostmon.yaml" <<YAML
attest: {manifests: $vw/manifests, keys: [$vw/signer.pub], state_file: $vw/manifest-versions, reload_interval_ms: 500}
YAML
  "$bin/hostmon/goldgate-hostmon" -c "$vw/hostmon.yaml" 2>"$vw/hostmon.log" &
  vm_start web1 52:54:00:67:00:01 "$vw/web1.sock" 10.0.0.1/24 shop frontend
  vm_start db1 52:54:00:67:00:02 "$vw/db1.sock" 10.0.0.2/24 shop backend
  vm_wait_agent web1 120 && vm_wait_agent db1 120 || { echo "  the guests did not come up"; exit 1; }
  hctl="$bin/cli/goldgatectl --hostmon-socket $vw/hostmon.sock"
  $hctl vms | sed 's/^/    /'
  db_answers() { vm_exec web1 "timeout 6 nc -w 4 10.0.0.2 $1 </dev/null" 15 2>/dev/null | grep -q gg-app; }
  try "web1 -> db1:8080 through its segment (frontend -> backend)" db_answers 8080
  try "web1 -> db1:22 (no rule)" db_answers 22
  vm_exec db1 'sleep 4242 </dev/null >/dev/null 2>&1 &' 10 >/dev/null
  sleep 4
  echo "  goldgatectl vm show db1 (a process was just started in it: sleep 4242):"
  $hctl vm show db1 | sed -n '/^guest kernel/,/^observations/p' | grep -v '^observations' | sed 's/^/    /'

  say "Birth certificate: learn web1 for 8 s, sign it, then start something it never ran"
  ctl="$bin/cli/goldgatectl"
  vm_exec web1 'for i in 1 2 3 4; do nc -w 2 10.0.0.2 8080 </dev/null >/dev/null; sleep 1; done' 30 >/dev/null &
  traffic=$!
  $hctl manifest learn web1 --for 8s --app shop-web --out "$vw/manifests/shop-web.yaml" 2>&1 | sed 's/^/    /'
  wait "$traffic"
  # The security team's choice for this application: an unknown executable cuts it off the network.
  printf 'responses:\n  unknown_executable: quarantine\n  default: alert\n' >> "$vw/manifests/shop-web.yaml"
  python3 - "$vw/manifests/shop-web.yaml" <<'PY'
import sys
p = sys.argv[1]
lines = open(p).read().splitlines()
# Keep the last responses block only (the draft has one of its own).
idx = [i for i, l in enumerate(lines) if l.startswith("responses:")]
if len(idx) > 1:
    end = next((j for j in range(idx[0] + 1, len(lines)) if lines[j] and not lines[j].startswith((" ", "-"))), len(lines))
    del lines[idx[0]:end]
open(p, "w").write("\n".join(lines) + "\n")
PY
  echo "  the draft, signed (goldgatectl manifest show):"
  $ctl manifest sign --key "$vw/signer" "$vw/manifests/shop-web.yaml" | sed 's/^/    /'
  $ctl manifest show "$vw/manifests/shop-web.yaml" | sed 's/^/    /'
  verified() { $hctl vm show web1 --json 2>/dev/null | grep -q '"state": "verified"'; }
  for _ in $(seq 1 40); do verified && break; sleep 0.25; done
  echo "  hostmon: web1 is $(verified && echo verified || echo 'not verified yet') against shop-web v1"
  vm_exec web1 'mkdir -p /tmp/implant && cp /bin/busybox /tmp/implant/busybox' 10 >/dev/null
  t0=$EPOCHREALTIME
  vm_exec web1 '(/tmp/implant/busybox sleep 600 </dev/null >/dev/null 2>&1 &)' 10 >/dev/null
  flagged() { grep -q '"attest.unknown_executable".*/tmp/implant' "$vw/hostmon-alerts.jsonl" 2>/dev/null; }
  for _ in $(seq 1 60); do flagged && break; sleep 0.25; done
  echo "  started /tmp/implant/busybox in web1: red flag after $(vm_since "$t0") s"
  try "web1 -> db1:8080 while quarantined" db_answers 8080
  echo "  goldgatectl report web1:"
  $hctl report web1 | sed 's/^/    /'
  $hctl report web1 --html "$work/web1-report.html" >/dev/null && echo "  the same as a page a SOC analyst can open: $work/web1-report.html"

  say "Microsegments from manifests: goldgatectl policy from-manifests configs/manifests"
  $ctl policy from-manifests "$root/configs/manifests" --unsigned --out "$work/derived-segments.yaml" 2>&1 | sed 's/^/    /'
  sed -n '/^rules:/,$p' "$work/derived-segments.yaml" | sed 's/^/    /'
fi

say "Done. The files stay in $work; the namespaces are removed."
