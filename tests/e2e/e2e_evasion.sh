#!/usr/bin/env bash
# End-to-end evasion suite: root in a VM (namespace gg-web1) crafts TCP segments with scapy on real
# kernel connections to a real Linux receiver outside (gg-out, tests/e2e/evasion.py sink) across the
# switch, which blocks payment cards toward the internet. For each technique (a flawed copy of a
# segment that its receiver discards, or one that would move where the switch reads, then the card)
# the receiver's application must never read the card, and the switch must have blocked and alerted
# it (or normalised the segment so that what the receiver reads carries no card). The receiver's
# stack decides what was delivered: the test reads what its application got.
# Usage: e2e_evasion.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
gg_need_root

work=$(mktemp -d /tmp/gg-e2e-evasion.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; gg_cleanup; rm -rf "$work"' EXIT
gg_on_fail() { :; }

gg_topology_up
gg_write_config "$work"
gg_enable_inspection "$work" "$src"
gg_switch_start "$work" "$bin" || exit 1

mkdir -p "$work/recv"
gg_in gg-out /usr/bin/python3 "$here/evasion.py" sink 10.0.0.254 443 "$work/recv" 2>"$work/sink.log" &
until_ok 10 gg_in gg-web1 nc -z -w 1 10.0.0.254 443 || { bad "the receiver answers on 10.0.0.254:443"; exit 1; }

expect "the attacker runs every technique (scapy on kernel connections)" \
  gg_in gg-web1 /usr/bin/python3 "$here/evasion.py" attack 10.0.0.254 443 "$work/ports.json"
ports() { /usr/bin/python3 -c 'import json,sys; [print(k, v) for k, v in json.load(open(sys.argv[1])).items()]' "$work/ports.json"; }
card_read() { grep -q "4556 7375 8689 9855" "$work/recv/$1.bin" 2>/dev/null; }
ended() { [ -e "$work/recv/$1.end" ]; }
alerted() { grep '"kind":"data.payment-card"' "$work/alerts.jsonl" 2>/dev/null | grep '"action":"block"' | grep -q "\"src_port\":$1[,}]"; }
evaded() { grep '"kind":"inspection.evasion"' "$work/alerts.jsonl" 2>/dev/null | grep -q "\"src_port\":$1[,}]"; }
got_bytes() { [ "$(stat -c %s "$work/recv/$1.bin" 2>/dev/null || echo 0)" -ge "$2" ]; }

while read -r name port; do
  case "$name" in
    urgent_byte)
      # Normalised: the urgent flag is cleared, so the receiver reads the urgent byte in line with
      # the rest (the bytes the switch inspected); out of band it would have read the card.
      until_ok 20 got_bytes "$port" 26
      expect "$name: the receiver reads the urgent byte in line (what the switch inspected)" \
        grep -q "8689 X9855" "$work/recv/$port.bin"
      ;;
    overlap_different_bytes)
      until_ok 20 ended "$port"
      expect "$name: the receiver's application never reads the card" bash -c "! grep -q '4556 7375 8689 9855' '$work/recv/$port.bin' 2>/dev/null"
      expect "$name: the switch cut the connection (inspection.evasion)" until_ok 10 evaded "$port"
      ;;
    *)
      until_ok 20 ended "$port"
      expect "$name: the receiver's application never reads the card" bash -c "! grep -q '4556 7375 8689 9855' '$work/recv/$port.bin' 2>/dev/null"
      expect "$name: the switch blocked it and alerted (data.payment-card, block)" until_ok 10 alerted "$port"
      ;;
  esac
done < <(ports)

# Each flawed segment was counted under the reason its receiver would have discarded it for.
drops() { $ctl --json status | /usr/bin/python3 -c 'import json,sys; print(sum(int(c.get("value", 0)) for c in json.load(sys.stdin)["status"]["drops"] if c["name"] == sys.argv[1]))' "$1"; }
for r in bad_l4_checksum bad_ip_checksum tcp_no_ack tcp_bad_ack tcp_paws tcp_rst_out_of_window tcp_out_of_window tcp_syn_other_isn; do
  n=$(drops "$r")
  expect "drop reason $r counted ($n)" test "${n:-0}" -ge 1
done

# --- anti-spoofing: root in web1 forges what the binding does not allow ----------------------------
# The receivers' stacks decide: web2's neighbour entry for db1, db1's answers.
gg_in gg-web2 ping -c 1 -W 2 10.0.0.2 >/dev/null 2>&1
mac_of() { gg_in "$1" ip neigh show "$2" | awk '{for (i = 1; i < NF; i++) if ($i == "lladdr") print $(i + 1)}'; }
db1_mac=$(mac_of gg-web2 10.0.0.2)
expect "web2 knows db1's MAC ($db1_mac)" test "$db1_mac" = "02:00:00:00:00:02"
before_spoof=$(drops spoofed_ip); before_guard=$(drops router_guard); before_tag=$(drops tagged_from_vm)
sleep 1.2  # past the entry's locktime (1 s): a forged reply that arrived now would replace it
gg_in gg-web1 /usr/bin/python3 - <<'PY' || bad "the forged frames were sent"
from scapy.all import ARP, ICMP, IP, IPv6, Dot1Q, Ether, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, IPerror, UDPerror, conf, get_if_hwaddr, sendp
conf.verb = 0
me = get_if_hwaddr("eth0")
frames = [
    # ARP claiming db1's address (gratuitous, and a reply to web2)
    Ether(src=me, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=me, psrc="10.0.0.2", hwdst="ff:ff:ff:ff:ff:ff", pdst="10.0.0.2"),
    Ether(src=me, dst="02:00:00:00:00:03") / ARP(op=2, hwsrc=me, psrc="10.0.0.2", hwdst="02:00:00:00:00:03", pdst="10.0.0.3"),
    # a router advertisement and an ICMP redirect
    Ether(src=me, dst="33:33:00:00:00:01") / IPv6(src="fe80::ff:fe00:1", dst="ff02::1") / ICMPv6ND_RA() /
    ICMPv6NDOptPrefixInfo(prefix="2001:db8:bad::", prefixlen=64),
    Ether(src=me, dst="02:00:00:00:00:03") / IP(src="10.0.0.1", dst="10.0.0.3") / ICMP(type=5, code=1, gw="10.0.0.1") /
    IPerror(src="10.0.0.3", dst="10.0.0.2") / UDPerror(sport=5000, dport=53),
    # a tagged frame
    Ether(src=me, dst="02:00:00:00:00:02") / Dot1Q(vlan=7) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(),
]
for f in frames:
    sendp(f, iface="eth0")
PY
# Another source address: db1 never answers it.
gg_in gg-web1 ip addr add 10.0.0.9/32 dev eth0
expect "web1 pinging db1 from an address it was not given gets no answer" bash -c "! ip netns exec gg-web1 ping -c 2 -W 1 -I 10.0.0.9 10.0.0.2 >/dev/null 2>&1"
gg_in gg-web1 ip addr del 10.0.0.9/32 dev eth0
expect "web2 still has db1's MAC for 10.0.0.2 (the forged ARP never arrived)" \
  test "$(mac_of gg-web2 10.0.0.2)" = "02:00:00:00:00:02"
expect "web2 took no route or address from the forged router advertisement" bash -c "! ip netns exec gg-web2 ip -6 addr show | grep -q '2001:db8:bad'"
expect "the forged ARP and the other source address are counted (spoofed_ip $before_spoof -> $(drops spoofed_ip))" \
  test "$(drops spoofed_ip)" -ge "$((before_spoof + 3))"
expect "the RA and the redirect are counted (router_guard)" test "$(drops router_guard)" -ge "$((before_guard + 2))"
expect "the tagged frame is counted (tagged_from_vm)" test "$(drops tagged_from_vm)" -ge "$((before_tag + 1))"
expect "web1 still reaches db1 from its own address" gg_in gg-web1 ping -c 1 -W 2 10.0.0.2

echo
echo "e2e.evasion: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
