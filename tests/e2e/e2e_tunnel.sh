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
source "$here/tunnel_lib.sh"
cleanup() { kill $(jobs -p) 2>/dev/null; gt_down; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
gg_on_fail() { for s in a b; do echo "  switch $s:"; gt_ctl $s status 2>&1 | sed -n '/DROP REASON/,/^$/p' | sed 's/^/    /'; done; }
in_ns() { gt_in "$@"; }
counter() { gt_counter "$@"; }
alerted() { for _ in $(seq 1 30); do grep -q "$1" "$2" 2>/dev/null && return 0; sleep 0.2; done; return 1; }  # within 6 s

gt_up || exit 1

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
until_ok 10 in_ns gt-b1 sh -c 'ss -ltn | grep -q ":5201 "'
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
# The packets to replay are captured now, from a short ping with nothing after it: what B received
# last, so still inside its replay window (older ones read as a later 2^32 subspace under ESN,
# RFC 4303 A2, and fail authentication instead). The transfers above may still trickle in after
# their capture ended (retransmissions), and would push their packets out of the window.
rm -f "$work/fresh.ready"
in_ns gt-under /usr/bin/python3 - "$work/fresh.pcap" "$work/fresh.ready" > "$work/sniff2.log" 2>&1 <<'PY' &
import sys
from scapy.all import sniff, wrpcap
ready = lambda: open(sys.argv[2], "w").close()
wrpcap(sys.argv[1], sniff(iface="br0", timeout=8, started_callback=ready,
                          lfilter=lambda p: p.haslayer("ESP") and p["IP"].dst == "192.0.2.2"))
PY
sniffer2=$!
until_ok 10 test -e "$work/fresh.ready"
in_ns gt-a1 ping -c 60 -i 0.02 -W 1 10.2.0.1 >/dev/null 2>&1
wait "$sniffer2"
r0=$(counter b esp_replay); t0=$(counter b esp_authentication)
in_ns gt-under /usr/bin/python3 - "$work/fresh.pcap" <<'PY'
import os, sys
from scapy.all import ESP, IP, Ether, Raw, rdpcap, sendp
toward_b = [p for p in rdpcap(sys.argv[1]) if ESP in p and p[IP].dst == "192.0.2.2"][-50:]
sendp(toward_b[:20], iface="br0", verbose=False)                       # replayed as captured
for i, p in enumerate(toward_b[20:40]):  # one bit flipped in the ciphertext, under a sequence number not seen yet
    p = p.copy(); p[ESP].seq = 2 * 10**6 + i
    b = bytearray(bytes(p)); b[60] ^= 0x04; sendp(Ether(bytes(b)), iface="br0", verbose=False)
for i in range(10):                                                   # injected: right SPI, made-up contents
    p = toward_b[0].copy(); p[ESP].seq = 10**6 + i; p[ESP].data = os.urandom(200); del p[IP].len, p[IP].chksum
    sendp(p, iface="br0", verbose=False)
PY
# The switch counts them as it reads them: wait for the counts, not for a fixed time.
attacks_counted() { [ $(($(counter b esp_replay) - r0)) -ge 20 ] && [ $(($(counter b esp_authentication) - t0)) -ge 30 ]; }
until_ok 15 attacks_counted
r1=$(counter b esp_replay); t1=$(counter b esp_authentication)
expect "20 replayed ESP packets dropped as replays ($((r1 - r0)))" test $((r1 - r0)) -ge 20
expect "30 tampered or injected ESP packets dropped ($((t1 - t0)) failed authentication)" test $((t1 - t0)) -ge 30
expect "the tunnel still works after the attacks" in_ns gt-a1 ping -c 2 -i 0.2 -W 1 10.2.0.1
expect "an alert names the failed authentication" alerted '"kind":"tunnel.esp_authentication"' "$work/b/alerts.jsonl"

# --- data that must travel encrypted
printf 'board minutes: MERGER-204711 closes in Q3\n' > "$work/nda.txt"
got=$(in_ns gt-a1 curl -s -m 10 --data-binary @"$work/nda.txt" http://10.2.0.1:8080/nda.txt)
expect "a require-encryption class passes to the peer's zone (sealed in ESP)" test "$got" = "$(sha256sum "$work/nda.txt" | cut -d' ' -f1)"
in_ns gt-a1 curl -s -m 10 --data-binary @"$work/nda.txt" -o /dev/null http://10.1.0.200:8080/nda.txt
expect "... and is blocked toward a host reached in clear" test ! -s "$work/recv-out/nda.txt"
expect "the blocked upload is alerted" alerted '"kind":"data.merger-code".*"action":"require-encryption"' "$work/a/alerts.jsonl"

# --- automatic keys: mutual TLS 1.3, rekeyed every 3 s during transfers
gt_down
gt_up tls 3 || exit 1
# The first packet may leave before the keys are agreed: it waits for them (peer_down: wait).
expect "keys agreed over mutual TLS: the first ping, sent at once, waits for them and gets through" \
  in_ns gt-a1 ping -c 1 -W 3 10.2.0.1
expect "... with nothing dropped for want of keys" test "$(counter a tunnel_no_keys)" = 0
mkdir -p "$work/recv-tls"
in_ns gt-b1 /usr/bin/python3 "$here/upload_server.py" 10.2.0.1 8080 "$work/recv-tls" 2>"$work/tls-server.log" &
for _ in $(seq 1 50); do in_ns gt-a1 nc -z -w 1 10.2.0.1 8080 2>/dev/null && break; sleep 0.1; done
rekeys0=$(grep -c '"kind":"tunnel.rekeyed"' "$work/a/alerts.jsonl" 2>/dev/null || true)
key_drops() {  # ESP and key drops on both switches (packets sent before the first agreement included)
  local n=0 s r
  for s in a b; do for r in esp_replay esp_authentication esp_unknown_sa tunnel_no_keys tunnel_seq_exhausted; do
    n=$((n + $(counter $s $r)))
  done; done
  echo $n
}
lost0=$(key_drops)
in_ns gt-b1 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
until_ok 10 in_ns gt-b1 sh -c 'ss -ltn | grep -q ":5201 "'
in_ns gt-a1 iperf3 -c 10.2.0.1 -p 5201 -t 8 -J > "$work/iperf-tls.json" 2>&1 &
iperf=$!
uploads=0; good=0
end=$((SECONDS + 9))
while [ $SECONDS -lt $end ]; do
  head -c 1000000 /dev/urandom > "$work/chunk.bin"
  got=$(in_ns gt-a1 curl -s -m 10 --data-binary @"$work/chunk.bin" http://10.2.0.1:8080/chunk.bin)
  uploads=$((uploads + 1)); [ "$got" = "$(sha256sum "$work/chunk.bin" | cut -d' ' -f1)" ] && good=$((good + 1))
done
wait $iperf
rekeys=$(( $(alerted '"kind":"tunnel.rekeyed"' "$work/a/alerts.jsonl"; grep -c '"kind":"tunnel.rekeyed"' "$work/a/alerts.jsonl") - rekeys0 ))
expect "rekeyed during the transfers ($rekeys times)" test "$rekeys" -ge 2
expect "every upload during the rekeys arrived intact ($good of $uploads)" test "$good" = "$uploads" -a "$uploads" -gt 3
gbps=$(/usr/bin/python3 -c "import json; print('%.2f' % (json.load(open('$work/iperf-tls.json'))['end']['sum_received']['bits_per_second'] / 1e9))" 2>/dev/null || echo 0)
expect "iperf3 across the rekeys ($gbps Gbit/s)" /usr/bin/python3 -c "import sys; sys.exit(0 if float('$gbps') > 0.01 else 1)"
lost=$(( $(key_drops) - lost0 ))
expect "no packet lost to a key change (ESP and key drops on both switches: $lost)" test "$lost" = 0
# A stranger with a certificate that names site-b but is not from the CA is turned away.
echo | timeout 5 openssl s_client -connect 127.0.0.1:7412 -cert "$work/pki/stranger.pem" -key "$work/pki/stranger.key" \
  -CAfile "$work/pki/ca.pem" >/dev/null 2>&1
expect "a key-service client without a certificate of the CA is rejected and alerted" \
  alerted '"kind":"tunnel.peer_rejected"' "$work/b/alerts.jsonl"
# A hostile host floods site B's key service from 100 addresses: idle connections and handshakes
# that stop half way, opened again as soon as they are closed. Site A's switch restarts into it and
# must still agree keys; B must stay up with its threads bounded.
/usr/bin/python3 "$here/keyflood.py" 127.0.0.1 7412 100 4 "$work/flood.ready" 2>"$work/flood.log" &
flood=$!
expect "the flood holds connections against site B's key service" until_ok 60 test -s "$work/flood.ready"
kill "${GT_SITE_PID[a]}"; wait "${GT_SITE_PID[a]}" 2>/dev/null
gt_start a || exit 1
expect "under the flood, the restarted site A agrees keys with B again (a ping gets through)" \
  until_ok 90 in_ns gt-a1 ping -c 1 -W 2 10.2.0.1
threads=$(awk '/^Threads:/ {print $2}' "/proc/${GT_SITE_PID[b]}/status" 2>/dev/null || echo 0)
expect "site B's switch is up, its threads bounded under the flood ($threads)" test "$threads" -gt 0 -a "$threads" -le 64
expect "the refused connections are reported (tunnel.key_service_limited)" \
  until_ok 30 grep -q '"kind":"tunnel.key_service_limited"' "$work/b/alerts.jsonl"
kill "$flood"; wait "$flood" 2>/dev/null
expect "site B's switch still answers after the flood" gt_ctl b status

# Site A's switch goes away: site B's keys expire at the end of their lifetime; its flows are blocked.
kill "${GT_SITE_PID[a]}"; wait "${GT_SITE_PID[a]}" 2>/dev/null
expect "without its peer, site B's keys expire" \
  until_ok 30 grep -q '"kind":"tunnel.keys_expired"' "$work/b/alerts.jsonl"
# Packets toward the peer are held for wait_ms (1.5 s), then dropped and counted.
no_keys_counted() { in_ns gt-b1 ping -c 1 -W 1 10.1.0.1 >/dev/null 2>&1; [ "$(counter b tunnel_no_keys)" -gt 0 ]; }
expect "... and its flows toward the peer are blocked" until_ok 20 no_keys_counted

echo "e2e tunnel: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
