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

echo
echo "e2e.evasion: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
