#!/usr/bin/env bash
# End-to-end: goldgate-switch between network namespaces with real clients and servers.
# Usage: e2e_switch.sh BUILD_DIR
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
src=$(cd "$here/../.." && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
gg_need_root

work=$(mktemp -d /tmp/gg-e2e.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
trap 'kill $(jobs -p) 2>/dev/null; wait 2>/dev/null; gg_cleanup; rm -rf "$work"' EXIT

# What the switch saw, to diagnose a failure.
gg_on_fail() {
  $ctl status 2>&1 | sed -n '/DROP REASON/,/^$/p' | sed 's/^/    /'
  $ctl flows 2>&1 | tail -8 | sed 's/^/    /'
}
expect_not() { local what=$1; shift; if "$@"; then bad "$what"; else ok "$what"; fi; }

# Value of a drop reason or counter from `goldgatectl --json status`.
counter() {
  $ctl --json status | /usr/bin/python3 -c "
import json, sys
s = json.load(sys.stdin)['status']
for c in s.get('drops', []) + s.get('counters', []):
    if c['name'] == '$1':
        print(c.get('value', 0)); break
else:
    print(0)"
}
alerts_of() { grep -c "\"kind\":\"$1\"" "$work/alerts.jsonl" || true; }
tcp_connects() { gg_in "$1" nc -z -w 2 "$2" "$3" 2>/dev/null; }
pings() { gg_in "$1" ping -c 2 -W 1 -i 0.2 "$2" >/dev/null 2>&1; }

gg_topology_up
gg_write_config "$work"
gg_switch_start "$work" "$bin" || exit 1

# Servers. openbsd nc serves one connection at a time, so each phase that leaves a connection
# hanging (cut by policy) gets a fresh database server.
dbpid=""
db_server() {
  [ -n "$dbpid" ] && { kill "$dbpid" 2>/dev/null; wait "$dbpid" 2>/dev/null; }
  # Not through gg_in: $! must be nc itself (ip netns exec execs it), not a subshell.
  ip netns exec gg-db1 nc -lk 5432 > "$1" &
  dbpid=$!
  local i
  for i in $(seq 1 50); do gg_in gg-db1 ss -ltn | grep -q ':5432 ' && return 0; sleep 0.05; done
  echo "database server did not start listening"
}
# Waits up to 3 s for FILE to hold at least one line matching PATTERN.
wait_lines() { local i; for i in $(seq 1 30); do grep -q "$2" "$1" && return 0; sleep 0.1; done; return 1; }
db_server "$work/db-5432.txt"
gg_in gg-db1 nc -lk 22 > /dev/null &
gg_in gg-web1 nc -lk 8080 > /dev/null &
gg_in gg-web1 nc -lk 9999 > /dev/null &
gg_in gg-out nc -lk 80 > /dev/null &
gg_in gg-out nc -ulk 53 > "$work/out-dns.txt" &
sleep 0.5

# A live alert stream in CEF, as an operator would tail it.
$ctl alerts --follow --format cef > "$work/follow.cef" 2> "$work/follow.err" &
followpid=$!
sleep 0.3

echo "== microsegments: allowed, denied, stateful"
expect "web1 -> db1 tcp/5432 is allowed" tcp_connects gg-web1 10.0.0.2 5432
expect "web2 -> db1 tcp/5432 is allowed (same segment by label)" tcp_connects gg-web2 10.0.0.2 5432
expect_not "web1 -> db1 tcp/22 is denied" tcp_connects gg-web1 10.0.0.2 22
expect_not "db1 -> web1 tcp/9999 (reverse direction) is denied" tcp_connects gg-db1 10.0.0.1 9999
expect "web1 pings db1 (replies pass)" pings gg-web1 10.0.0.2
expect_not "db1 cannot ping web1" pings gg-db1 10.0.0.1
expect "outside -> web1 tcp/8080 is allowed" tcp_connects gg-out 10.0.0.1 8080
expect_not "outside -> db1 tcp/5432 is denied" tcp_connects gg-out 10.0.0.2 5432
expect "web1 -> outside tcp/80 is allowed" tcp_connects gg-web1 10.0.0.254 80
echo "hello-db" | gg_in gg-web1 nc -N -w 2 10.0.0.2 5432
sleep 0.3
expect "data sent web1 -> db1 arrives intact" grep -q hello-db "$work/db-5432.txt"
expect "policy.deny alerts were written" test "$(alerts_of policy.deny)" -ge 1
expect "allow-log rule http-in raised an alert" test "$(alerts_of policy.allow_log)" -ge 1
streamed_deny() { grep -q '^CEF:0|Goldgate|goldgate-switch|0.1|policy.deny|.*dpt=22' "$work/follow.cef"; }
expect "goldgatectl alerts --follow streamed the deny to port 22 in CEF" streamed_deny
kill "$followpid" 2>/dev/null
hits_ok() { $ctl rules --hits | awk '$2=="web-to-db" {found=1; exit !($NF>=3)} END {if (!found) exit 1}'; }
expect "goldgatectl rules --hits counts web-to-db" hits_ok

echo "== goldgatectl trace: why a packet was dropped, from the live switch"
# Each trace result as one JSON line (goldgatectl prints indented objects one after another).
trace_lines() { /usr/bin/python3 -c '
import json, sys
text, d, i = sys.stdin.read(), json.JSONDecoder(), 0
while i < len(text):
    if text[i].isspace(): i += 1; continue
    o, i = d.raw_decode(text, i); print(json.dumps(o, sort_keys=True))'; }
field() { /usr/bin/python3 -c "import json,sys; o=json.loads(sys.stdin.readline()); print($1)"; }
printf 'rules:\n  - {name: no-ssh-to-db, from: web, to: db, proto: tcp, ports: 22, action: deny}\n' > "$work/segments/zz-trace.yaml"
expect "a deny rule for ssh is loaded" $ctl policy reload
# Armed before the connection: the worker records the SYN as it handles it.
$ctl trace --capture web1 --match-port 22 -n 1 --timeout 30 --json > "$work/trace-live.json" 2> "$work/trace-live.err" &
tracepid=$!
armed() { grep -q recording "$work/trace-live.err"; }
until_ok 30 armed
expect_not "web1 -> db1 tcp/22 is denied (traced)" tcp_connects gg-web1 10.0.0.2 22
wait "$tracepid"; trace_rc=$?
expect "the capture of the denied connection ended (rc $trace_rc)" test "$trace_rc" -eq 0
live=$(trace_lines < "$work/trace-live.json" | head -1)
expect "the live trace says DROP policy_deny" test "$(echo "$live" | field "o['verdict'], o.get('reason')")" = "drop policy_deny"
expect "the live trace names the rule that denied it, with its file and line" \
  test "$(echo "$live" | field "o['rule']['name'], o['rule']['file'].split('/')[-1], o['rule']['line']")" = "no-ssh-to-db zz-trace.yaml 2"
described=$($ctl trace --json --in-port web1 --dst 10.0.0.2 --dport 22 | trace_lines)
same() { test "$(echo "$live" | field "o['verdict'], o.get('reason'), o['rule']['name'], [s['step'] for s in o['steps']]")" = \
              "$(echo "$described" | field "o['verdict'], o.get('reason'), o['rule']['name'], [s['step'] for s in o['steps']]")"; }
expect "the described packet is judged as the live one was (verdict, reason, rule, steps)" same
# An allowed connection: the SYN creates it, the next packet of it is a tracked connection.
$ctl trace --capture web1 --match-port 5432 -n 2 --timeout 30 --json > "$work/trace-ok.json" 2> "$work/trace-ok.err" &
tracepid=$!
armed() { grep -q recording "$work/trace-ok.err"; }
until_ok 30 armed
db_server "$work/db-5432-trace.txt"
echo "traced" | gg_in gg-web1 nc -N -w 2 10.0.0.2 5432
wait "$tracepid"; trace_rc=$?
expect "the capture of the allowed connection ended (rc $trace_rc)" test "$trace_rc" -eq 0
first=$(trace_lines < "$work/trace-ok.json" | sed -n 1p)
second=$(trace_lines < "$work/trace-ok.json" | sed -n 2p)
expect "its SYN: forwarded to db1 by web-to-db, the connection created" \
  test "$(echo "$first" | field "o['verdict'], o['out_ports'], o['rule']['name'], [s['result'] for s in o['steps'] if s['step'] == 'conntrack']")" = "forward ['db1'] web-to-db ['new', 'created']"
expect "its next packet: a tracked connection, forwarded" \
  test "$(echo "$second" | field "o['verdict'], [s['result'] for s in o['steps'] if s['step'] == 'conntrack']")" = "forward ['hit']"
rm "$work/segments/zz-trace.yaml"
expect "the ssh rule is gone again" $ctl policy reload
db_server "$work/db-5432.txt"

echo "== Prometheus scrapes the switch while traffic runs"
if command -v prometheus >/dev/null; then
  murl=$(gg_metrics_url "$work")
  expect "the switch serves metrics (${murl:-none in switch.log})" test -n "$murl"
  mtarget=${murl#http://}; mtarget=${mtarget%/metrics}
  prom_port=$(/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$src/configs/prometheus/goldgate-switch-rules.yml]
scrape_configs:
  - job_name: goldgate-switch
    static_configs: [{targets: ["$mtarget"]}]
YAML
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:$prom_port" > "$work/prometheus.log" 2>&1 &
  prom_pid=$!
  promq() {
    curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
      /usr/bin/python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
  }
  denied='goldgate_switch_port_drops_total{port="web1",reason="policy_deny"}'
  # What the switch has counted so far, from its own endpoint, and Prometheus caught up with it.
  direct() { curl -s --max-time 5 "$murl" | awk -v m="$denied" 'index($0, m) == 1 {print $2}'; }
  base=$(direct); base=${base:-0}
  prom_has_base() { [ "$(promq "$denied")" = "$base" ]; }
  expect "Prometheus scrapes the switch (web1's policy_deny drops: $base)" until_ok 30 prom_has_base
  # 300 datagrams to a port no rule allows: each is a new connection the policy denies.
  gg_in gg-web1 /usr/bin/python3 -c '
import socket
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for i in range(300): s.sendto(b"x", ("10.0.0.2", 9))'
  want=$(/usr/bin/python3 -c "print(int(float('$base')) + 300)")
  prom_counts() { [ "$(promq "$denied")" = "$want" ]; }
  expect "Prometheus's counter of web1's denied packets moves by exactly the 300 the test sent" until_ok 30 prom_counts
  prom_rate() { /usr/bin/python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) > 0 else 1)' "$(promq "rate(${denied}[20s])")"; }
  expect "... and its rate of denied packets is above zero" prom_rate
  hits() { [ "$(promq 'sum(goldgate_switch_rule_hits_total{rule="(default)"})')" != "" ]; }
  expect "... the default rule's hits are a series of their own" hits
  # Forged sources from web1: the shipped rule GoldgateSpoofing fires for that port.
  gg_in gg-web1 /usr/bin/python3 -c '
from scapy.all import Ether, IP, UDP, sendp
sendp(Ether(src="02:00:00:00:00:01", dst="02:00:00:00:00:02") / IP(src="10.0.0.99", dst="10.0.0.2") / UDP(dport=53), iface="eth0", count=5, verbose=False)'
  spoof_alert() { curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/alerts" | /usr/bin/python3 -c '
import json, sys
a = json.load(sys.stdin)["data"]["alerts"]
sys.exit(0 if any(x["labels"].get("alertname") == "GoldgateSpoofing" and x["labels"].get("port") == "web1" and x["state"] == "firing" for x in a) else 1)'; }
  expect "the shipped alert GoldgateSpoofing fires for web1" until_ok 30 spoof_alert
  # Every panel of the shipped Grafana dashboard is a query this Prometheus accepts.
  dashboard_ok() { /usr/bin/python3 - "$src/configs/grafana/goldgate-dashboard.json" "$prom_port" <<'PY'
import json, sys, urllib.parse, urllib.request
d = json.load(open(sys.argv[1]))
bad = []
for p in d["panels"]:
    for t in p["targets"]:
        q = t["expr"].replace("$instance", ".*")
        url = "http://127.0.0.1:%s/api/v1/query?%s" % (sys.argv[2], urllib.parse.urlencode({"query": q}))
        try:
            ok = json.load(urllib.request.urlopen(url, timeout=5))["status"] == "success"
        except Exception as e:
            ok = False
        if not ok:
            bad.append("%s: %s" % (p["title"], q))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
  }
  expect "every query of the shipped Grafana dashboard is valid PromQL to a real Prometheus" dashboard_ok
  kill "$prom_pid" 2>/dev/null; wait "$prom_pid" 2>/dev/null
else
  echo "SKIP: the real-Prometheus checks: prometheus is not installed (scripts/install-deps.sh test)"
fi

echo "== control socket: only root (or the configured group)"
sock_mode=$(stat -c %a "$work/switch.sock")
expect "control socket is mode 600 ($sock_mode)" test "$sock_mode" = 600
# Even if the socket's file mode were opened up, the switch checks the peer's credentials.
chmod 755 "$work"; chmod 666 "$work/switch.sock"
denied_msg=$(runuser -u nobody -- "$bin/cli/goldgatectl" -s "$work/switch.sock" status 2>&1)
peer_refused() { echo "$denied_msg" | grep -q "permission denied"; }
expect "a non-root peer is refused by credentials ($denied_msg)" peer_refused
chmod 600 "$work/switch.sock"; chmod 700 "$work"

echo "== anti-spoofing"
gg_in gg-web1 ip addr add 10.0.0.50/24 dev eth0
before=$(counter spoofed_ip)
expect_not "web1 sourcing 10.0.0.50 cannot reach db1" gg_in gg-web1 nc -z -w 2 -s 10.0.0.50 10.0.0.2 5432
after=$(counter spoofed_ip)
expect "spoofed_ip counter grew ($before -> $after)" test "$after" -gt "$before"
expect "spoof.ip alert written" test "$(alerts_of spoof.ip)" -ge 1
gg_in gg-web1 ip addr del 10.0.0.50/24 dev eth0

echo "== policy reloads during running transfers lose nothing"
cp "$work/segments/shop.yaml" "$work/shop.yaml.orig"
printf 'rules:\n  - {name: web-iperf, from: web, to: db, proto: tcp, ports: 5201, action: allow}\n' > "$work/segments/zz-extra.yaml"
$ctl policy reload >/dev/null
reload_while() {  # five reloads, each with a changed rule set, while $1 runs
  local i
  for i in 1 2 3 4 5; do
    sleep 0.4
    echo "  - {name: unrelated-$1-$i, from: db, to: external, proto: udp, ports: $((7000 + i)), action: allow}" >> "$work/segments/zz-extra.yaml"
    $ctl policy reload >/dev/null || echo "reload $i failed"
  done
}
v0=$($ctl --json status | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['status']['policy_version'])")
gg_in gg-web1 ping -i 0.005 -c 600 -W 1 10.0.0.2 > "$work/ping.txt" 2>&1 &
pingpid=$!
reload_while ping
wait $pingpid
loss=$(grep -o '[0-9.]*% packet loss' "$work/ping.txt" | cut -d% -f1)
v1=$($ctl --json status | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['status']['policy_version'])")
expect "policy versions $v0 -> $v1 were published during the ping" test "$v1" -eq $((v0 + 5))
expect "no ping of 600 lost across 5 reloads (loss ${loss:-?}%)" test "${loss:-100}" = 0
gg_in gg-db1 iperf3 -s -1 -p 5201 >/dev/null 2>&1 &
sleep 0.3
gg_in gg-web1 iperf3 -c 10.0.0.2 -p 5201 -t 3 -J > "$work/iperf.json" 2>&1 &
iperfpid=$!
reload_while iperf
wait $iperfpid
read -r recv mbps retr < <(/usr/bin/python3 -c "
import json; d = json.load(open('$work/iperf.json'))
print(d['end']['sum_received']['bytes'], round(d['end']['sum_received']['bits_per_second'] / 1e6), d['end']['sum_sent'].get('retransmits', -1))" 2>/dev/null || echo "0 0 -1")
expect "iperf3 through 5 reloads completed: $recv bytes at ${mbps} Mbit/s, $retr retransmits" test "${recv:-0}" -gt 0
version=$($ctl --json status | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['status']['policy_version'])")

echo "== a bad policy file is rejected; the running policy stays"
echo "  - {name: broken, from: web, to: nowhere, action: allow}" >> "$work/segments/zz-extra.yaml"
msg=$($ctl policy reload 2>&1)
bad_line=$(grep -n 'name: broken' "$work/segments/zz-extra.yaml" | cut -d: -f1)
names_line() { echo "$msg" | grep -q "zz-extra.yaml:$bad_line: to: unknown segment 'nowhere'"; }
expect "reload names file and line of the error: $msg" names_line
version2=$($ctl --json status | /usr/bin/python3 -c "import json,sys; print(json.load(sys.stdin)['status']['policy_version'])")
expect "policy version unchanged after a rejected reload ($version = $version2)" test "$version" = "$version2"
expect "traffic still flows under the old policy" tcp_connects gg-web1 10.0.0.2 5432
expect "policy.reload_failed alert written" test "$(alerts_of policy.reload_failed)" -ge 1
rm "$work/segments/zz-extra.yaml"
$ctl policy reload >/dev/null

echo "== a reload that removes an allowance cuts the live connection"
( for i in $(seq 1 60); do echo "line-$i"; sleep 0.1; done ) | gg_in gg-web1 nc -w 6 10.0.0.2 5432 > /dev/null 2>&1 &
wait_lines "$work/db-5432.txt" '^line-5$'
sed -i '/web-to-db/d' "$work/segments/shop.yaml"
$ctl policy reload >/dev/null
sleep 0.3
n1=$(grep -c '^line-' "$work/db-5432.txt")
sleep 1.5
n2=$(grep -c '^line-' "$work/db-5432.txt")
expect "no data arrives after the allowing rule is gone ($n1 -> $n2 lines)" test "$n2" -eq "$n1"
expect "flows_cut counter is non-zero" test "$(counter flows_cut)" -gt 0
cp "$work/shop.yaml.orig" "$work/segments/shop.yaml"
$ctl policy reload >/dev/null
db_server "$work/db-q.txt"

echo "== quarantine cuts a live connection at once; release restores"
( for i in $(seq 1 60); do echo "q-$i"; sleep 0.1; done ) | gg_in gg-web2 nc -w 6 10.0.0.2 5432 > /dev/null 2>&1 &
wait_lines "$work/db-q.txt" '^q-5$'
$ctl quarantine web2 >/dev/null
sleep 0.3
q1=$(grep -c '^q-' "$work/db-q.txt")
sleep 1.5
q2=$(grep -c '^q-' "$work/db-q.txt")
expect "connection from web2 was carrying data before quarantine ($q1 lines)" test "$q1" -ge 5
expect "no data from web2 after quarantine ($q1 -> $q2 lines)" test "$q2" -eq "$q1"
expect_not "quarantined web2 cannot open new connections" tcp_connects gg-web2 10.0.0.2 5432
echo "dns-from-quarantine" | gg_in gg-web2 nc -u -w 1 10.0.0.254 53
sleep 0.3
expect "quarantined web2 may still use the DNS allowance" grep -q dns-from-quarantine "$work/out-dns.txt"
expect "web1 is unaffected by web2's quarantine" tcp_connects gg-web1 10.0.0.2 5432
expect "quarantine alert written" test "$(alerts_of quarantine)" -ge 1
in_quarantine() { $ctl status | grep -q 'web2.*quarantine'; }
expect "status shows web2 in quarantine" in_quarantine
gg_switch_stop
gg_switch_start "$work" "$bin" || exit 1
expect "web2 is still in quarantine after a switch restart" in_quarantine
expect_not "and still cannot connect" tcp_connects gg-web2 10.0.0.2 5432
$ctl release web2 >/dev/null
db_server "$work/db-r.txt"
expect "released web2 connects again" tcp_connects gg-web2 10.0.0.2 5432

echo "== flows view"
tcp_connects gg-web1 10.0.0.2 5432
lists_flows() { $ctl flows --port web1 | grep -q '10.0.0.1:'; }
expect "goldgatectl flows --port web1 lists tracked connections" lists_flows

echo "== fail closed when the flow table is full"
gg_switch_stop
gg_write_config "$work" 64
# One port may fill the whole table here (per_port: 64), to reach the table's own bound.
sed -i 's/flow_table: {size: 64}/flow_table: {size: 64, per_port: 64}/' "$work/goldgate.yaml"
gg_switch_start "$work" "$bin" || exit 1
gg_in gg-web1 ping -i 0.1 -c 40 -W 1 10.0.0.2 > "$work/ping2.txt" 2>&1 &
pingpid=$!
sleep 0.5
for p in $(seq 20000 20099); do echo x | gg_in gg-web2 nc -u -w 0 -p "$p" 10.0.0.2 53 2>/dev/null; done
full=$(counter flow_table_full)
expect "new flows beyond 64 are refused (flow_table_full = $full)" test "$full" -gt 0
expect_not "a new TCP connection is refused while the table is full" tcp_connects gg-web1 10.0.0.2 5432
wait $pingpid
received=$(grep -o '[0-9]* received' "$work/ping2.txt" | cut -d' ' -f1)
expect "the existing ping flow kept working (${received:-0}/40 replies)" test "${received:-0}" -ge 38
expect "flow_table.full alert written" test "$(alerts_of flow_table.full)" -ge 1

echo "== two forwarding workers (one queue each per port, symmetric fan-out)"
gg_switch_stop
gg_write_config "$work"
sed -i 's/eal: \[-l, "0",/eal: [-l, "0,1",/; s/iface=\([a-z0-9]*-h\)"/iface=\1,qpairs=2"/' "$work/goldgate.yaml"
gg_enable_inspection "$work" "$src"
gg_switch_start "$work" "$bin" || exit 1
db_server "$work/db-mw.txt"
ok_conns=0
for i in $(seq 1 20); do tcp_connects gg-web1 10.0.0.2 5432 && ok_conns=$((ok_conns + 1)); done
expect "20 of 20 connections through two workers ($ok_conns)" test "$ok_conns" -eq 20
expect "web1 pings db1 through two workers" pings gg-web1 10.0.0.2
workers_used() {
  $ctl --json flows --limit 1000 | /usr/bin/python3 -c "
import json, sys
flows = json.load(sys.stdin)['flows'].get('flows', [])
print(len({f.get('worker', 0) for f in flows}))"
}
expect "connections are spread over both workers" test "$(workers_used)" -eq 2
expect_not "db1 -> web1 is still denied with two workers" tcp_connects gg-db1 10.0.0.1 9999

# Alerts from both workers at once: one data.email finding per connection (60 connections spread
# over the two workers, sent together), each a whole JSON record, none lost.
# The receiver: a threaded server that reads every connection (tests/e2e/evasion.py sink).
kill "$dbpid" 2>/dev/null; wait "$dbpid" 2>/dev/null; dbpid=""
mkdir -p "$work/recv"
ip netns exec gg-db1 /usr/bin/python3 "$here/evasion.py" sink 10.0.0.2 5432 "$work/recv" 2>"$work/sink.log" &
sinkpid=$!
until_ok 10 tcp_connects gg-web1 10.0.0.2 5432
for batch in $(seq 0 5); do
  clients=()
  for i in $(seq $((batch * 10 + 1)) $((batch * 10 + 10))); do
    echo "contact jane.doe$i@example.org" | ip netns exec gg-web1 nc -w 3 -q 1 10.0.0.2 5432 >/dev/null 2>&1 &
    clients+=($!)
  done
  wait "${clients[@]}" 2>/dev/null
done
delivered() { [ "$(cat "$work"/recv/*.bin 2>/dev/null | grep -c 'jane.doe')" -eq 60 ]; }
expect "db1's server read all 60 addresses" until_ok 20 delivered
email_findings() {
  /usr/bin/python3 - "$work/alerts.jsonl" <<'PY'
import json, sys
ports = set()
for line in open(sys.argv[1]):
    a = json.loads(line)  # a torn record fails here
    if a["kind"] == "data.email" and a["flow"]["dst_port"] == 5432:
        ports.add(a["flow"]["src_port"])
print(len(ports))
PY
}
sixty() { [ "$(email_findings 2>/dev/null)" = 60 ]; }
until_ok 20 sixty
expect "60 connections with an email address, 60 data.email findings, every record whole ($(email_findings 2>&1 | tail -1))" sixty
expect "no alert lost (alerts_dropped = $(counter alerts_dropped))" test "$(counter alerts_dropped)" -eq 0

# Policy reloads while traffic runs: what a reload replaces is freed (memory flat).
rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$GG_SWITCH_PID/status"; }
gg_in gg-web1 ping -i 0.05 -c 400 10.0.0.2 > "$work/ping-reload.txt" 2>&1 &
reloadpid=$!
for i in $(seq 1 10); do $ctl policy reload >/dev/null; done
rss0=$(rss_kb)
reloads_ok=0
for i in $(seq 1 50); do $ctl policy reload >/dev/null && reloads_ok=$((reloads_ok + 1)); done
rss1=$(rss_kb)
wait $reloadpid
received=$(grep -o '[0-9]* received' "$work/ping-reload.txt" | cut -d' ' -f1)
expect "50 reloads while web1 pings db1 ($reloads_ok ok; ${received:-0}/400 replies)" test "$reloads_ok" -eq 50 -a "${received:-0}" -ge 390
echo "    switch RSS over 50 reloads: $rss0 -> $rss1 KiB"
expect "memory flat over 50 reloads (RSS grew $((rss1 - rss0)) KiB, bound 4 MiB; the data-class plan alone costs about 6 MiB at start)" \
  test "$((rss1 - rss0))" -lt 4096

echo
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
