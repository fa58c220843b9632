#!/usr/bin/env bash
# End-to-end with real VMs: two tiny guests (web1, db1) under a private libvirtd with the QEMU
# driver (TCG), each with a QEMU guest agent and a vhost-user NIC on goldgate-switch, watched by
# goldgate-hostmon. tests/e2e/vm_lib.sh runs libvirtd and the guests; tests/e2e/guest/ builds them.
# Checks: the guests boot and their agents answer; web1 reaches db1 through the switch where the
# policy allows it (icmp, tcp/8080) and not where it does not (tcp/22); hostmon lists both VMs with
# their sockets, state and labels; a process started in a guest is visible through the agent; a
# killed agent is reported disconnected and comes back; libvirtd restarted under running guests;
# the switch restarted under running guests. Prints the phase timings at the end.
# Usage: e2e_vms.sh BUILD_DIR      (exit 77 = skipped, with the reason)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
source "$here/vm_lib.sh"

vm_prelude "$bin"
t_start=$EPOCHREALTIME

work=$(mktemp -d /tmp/gg-vms.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
hctl="$bin/cli/goldgatectl -s $work/switch.sock --hostmon-socket $work/hostmon.sock"
hm_pid=""
prom_pid=""
declare -A timing=()
timing_order=()
note_time() { timing[$1]=$2; timing_order+=("$1"); }
on_exit() {
  stop_pid "$prom_pid"; stop_pid "$hm_pid"; gg_switch_stop
  if [ "$failed" -gt 0 ] || [ -n "${GG_KEEP_LOGS:-}" ]; then
    for f in "$work"/libvirt/console/*.log "$work"/switch.log "$work"/hostmon.log; do
      [ -s "$f" ] && { echo "--- $f"; tail -25 "$f"; }
    done
  fi
  [ -n "${GG_KEEP_WORK:-}" ] && { echo "work dir kept: $work"; return; }
  rm -rf "$work"
}
trap on_exit EXIT
# A signal (ctest's timeout, ^C) still runs the cleanup: guests, libvirtd, the namespace.
trap 'exit 143' TERM INT HUP
# libvirt's QEMU capability cache is kept in the build dir: a first start probes QEMU for ~8 s.
vm_init "$work/libvirt" "$guest" "$bin/libvirt-cache"   # chains vm_cleanup before on_exit

# --- the switch: vhost-user ports whose VMs hostmon names (see vm_write_switch_config) ---
vm_write_switch_config "$work" vm-web1b
expect "goldgate-switch starts with two vhost-user client ports" gg_switch_start "$work" "$bin"
closed_unbound() { $ctl status | grep -E "^$1 .*\(hostmon: none\) +unassigned" >/dev/null; }
both_closed() { closed_unbound vm-web1 && closed_unbound vm-db1; }
expect "before hostmon, both ports are closed (no VM bound)" both_closed

# --- libvirtd with the QEMU driver ---
if vm_libvirtd_start 60; then
  ok "libvirtd with the QEMU driver is up (${VM_LIBVIRTD_READY_S}s)"
  note_time "libvirtd start to QEMU driver ready" "$VM_LIBVIRTD_READY_S"
else
  bad "libvirtd with the QEMU driver is up"; exit 1
fi
virsh_outside() { virsh -q -c "$VM_URI" list --all >/dev/null; }
expect "virsh outside the namespace reaches it ($VM_URI)" virsh_outside

# --- hostmon on the private libvirtd (started first, so it sees the guests' events) ---
vm_write_hostmon_config "$work" 1000 2000
"$bin/hostmon/goldgate-hostmon" -c "$work/hostmon.yaml" 2>"$work/hostmon.log" &
hm_pid=$!

# --- two guests, booted in parallel ---
t_boot=$EPOCHREALTIME
vm_start web1 52:54:00:67:00:01 "$work/web1.sock" 10.0.0.1/24 shop frontend
vm_start db1 52:54:00:67:00:02 "$work/db1.sock" 10.0.0.2/24 shop backend
waiters=()
for vm in web1 db1; do
  (t0=$EPOCHREALTIME; vm_wait_agent "$vm" 120 && vm_since "$t0" > "$work/$vm.agent-time") &
  waiters+=($!)
done
wait "${waiters[@]}"
for vm in web1 db1; do
  if [ -s "$work/$vm.agent-time" ]; then
    ok "$vm boots and its guest agent answers ($(cat "$work/$vm.agent-time")s)"
    note_time "$vm: virsh start to agent answering" "$(cat "$work/$vm.agent-time")"
  else
    bad "$vm boots and its guest agent answers"; cat "$work/libvirt/$vm.start.log" 2>/dev/null
  fi
done
note_time "both guests: start to both agents answering" "$(vm_since "$t_boot")"
[ "$failed" -eq 0 ] || exit 1

# --- traffic through the switch, run in web1 by the guest agent ---
# The ports open only once hostmon has bound them (at the VMs' start events, long before boot).
ports_bound() { ! closed_unbound vm-web1 && ! closed_unbound vm-db1; }
expect "hostmon bound both ports by the time the guests were up" until_ok 5 ports_bound
out=$(vm_exec web1 'ping -c 3 -W 2 10.0.0.2' 30); rc=$?
expect "web1 pings db1 through the switch (icmp allowed)" test "$rc" -eq 0
out=$(vm_exec web1 'timeout 10 nc 10.0.0.2 8080 </dev/null' 15)
expect "web1 connects to db1:8080 and gets db1's answer (web-to-db)" grep -q 'gg-app db1 port 8080' <<<"$out"
# db1 listens on 22 too (its answer would prove a pass); the policy has no rule for it.
out=$(vm_exec web1 'timeout 6 nc -w 4 10.0.0.2 22 </dev/null' 15 2>/dev/null)
no_answer() { ! grep -q gg-app <<<"$out"; }
expect "web1 cannot connect to db1:22 (default deny)" no_answer
out=$(vm_exec db1 'timeout 6 nc -w 4 10.0.0.1 8080 </dev/null' 15 2>/dev/null)
expect "db1 cannot connect to web1:8080 (no rule from db to web)" no_answer
deny_alerted() { grep -q '"kind":"policy.deny".*"dst_port":22' "$work/alerts.jsonl" 2>/dev/null; }
expect "the denied connection to :22 is alerted" until_ok 5 deny_alerted
port_rx() { $ctl --json status | python3 -c "
import json, sys
for p in json.load(sys.stdin)['status']['ports']:
    if p['name'] == sys.argv[1]: print(p.get('rx_packets', 0))" "$1"; }
rx_web=$(port_rx vm-web1); rx_db=$(port_rx vm-db1)
expect "goldgatectl status counts packets on both vhost-user ports (web1 $rx_web, db1 $rx_db)" \
  test "${rx_web:-0}" -gt 5 -a "${rx_db:-0}" -gt 5
$ctl flows > "$work/flows.txt" 2>&1
expect "goldgatectl flows shows the web1 -> db1:8080 connection" grep -q '10.0.0.2.*8080\|8080.*10.0.0.2' "$work/flows.txt"

# --- hostmon's view ---
vms_json() { $hctl vms --json 2>/dev/null; }
vm_json() { $hctl vm show "$1" --json 2>/dev/null; }
hostmon_lists() {
  vms_json | python3 -c '
import json, sys
d = json.load(sys.stdin)
want = {"web1": (sys.argv[1], "frontend"), "db1": (sys.argv[2], "backend")}
vms = {v["name"]: v for v in d.get("list_vms", {}).get("vms", [])}
for name, (sock, segment) in want.items():
    v = vms.get(name)
    if not v or v.get("state") != "running" or v.get("app") != "shop" or v.get("segment") != segment:
        sys.exit(1)
    if not any(n.get("type") == "vhostuser" and n.get("source") == sock for n in v.get("nics", [])):
        sys.exit(1)
sys.exit(0 if d["status"].get("connected") else 1)' "$work/web1.sock" "$work/db1.sock"
}
agent_is() {  # agent_is VM true|false: hostmon's agent_connected for VM
  vm_json "$1" | python3 -c 'import json,sys; v=json.load(sys.stdin).get("vm",{}); sys.exit(0 if str(v.get("agent_connected", False)).lower()==sys.argv[1] else 1)' "$2"
}
expect "hostmon lists web1 and db1 running, with their vhost-user sockets and labels" until_ok 10 hostmon_lists
$hctl vms > "$work/vms.txt" 2>&1; sed 's/^/    /' "$work/vms.txt"
both_agents() { agent_is web1 true && agent_is db1 true; }
expect "hostmon: both agents connected" until_ok 10 both_agents

# --- hostmon told the switch which VM is which port ---
bound_as() {  # bound_as PORT VM SEGMENT: the switch's status
  $ctl --json status | python3 -c '
import json, sys
port, vm, seg = sys.argv[1:4]
p = [p for p in json.load(sys.stdin)["status"]["ports"] if p["name"] == port][0]
sys.exit(0 if p.get("vm") == vm and p.get("segment") == seg and p.get("identity") == "hostmon" and p.get("vm_uuid") else 1)' "$@"
}
expect "the switch has web1 on vm-web1 in segment frontend (from hostmon)" bound_as vm-web1 web1 frontend
expect "the switch has db1 on vm-db1 in segment backend (from hostmon)" bound_as vm-db1 db1 backend
shows_port() { $hctl vms | grep -E '^web1 .*vm-web1 \(frontend\)' >/dev/null && $hctl vms | grep -E '^db1 .*vm-db1 \(backend\)' >/dev/null; }
expect "goldgatectl vms shows each VM's switch port and segment" shows_port
bound_alert() { grep -q '"kind":"vm.bound".*"vm":"web1"' "$work/alerts.jsonl" 2>/dev/null; }
expect "the switch wrote a vm.bound alert for web1" bound_alert

# --- a process started in a guest, seen through the agent ---
app_pid=$(vm_exec db1 'sleep 7777 </dev/null >/dev/null 2>&1 & echo $!')
cmdline_via_agent() {  # the guest's /proc/PID/cmdline read with guest-file-open/-read
  local h r
  h=$(vm_agent db1 "{\"execute\":\"guest-file-open\",\"arguments\":{\"path\":\"/proc/$1/cmdline\"}}" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["return"])') || return 1
  r=$(vm_agent db1 "{\"execute\":\"guest-file-read\",\"arguments\":{\"handle\":$h,\"count\":4096}}")
  vm_agent db1 "{\"execute\":\"guest-file-close\",\"arguments\":{\"handle\":$h}}" >/dev/null
  python3 -c 'import base64,json,sys; print(base64.b64decode(json.load(sys.stdin)["return"]["buf-b64"]).replace(b"\0", b" ").decode().strip())' <<<"$r"
}
in_ps() { vm_exec db1 ps | grep -q 'sleep 7777'; }
expect "a process started in db1 ($app_pid) shows in the guest's ps" in_ps
expect "its command line is readable through the agent (guest-file-read /proc/$app_pid/cmdline)" \
  test "$(cmdline_via_agent "$app_pid")" = "sleep 7777"
# --- hostmon's guest-state collectors on the real guest agent and guest memory ---
# guest JSON of VM $1 through a Python expression over `g` (the GuestState), exit status = truth.
guest_check() {
  vm_json "$1" | python3 -c '
import json, sys
g = json.load(sys.stdin).get("vm", {}).get("guest", {})
procs = g.get("processes", {}).get("processes", [])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2"
}
sees_app() { guest_check db1 "any(p.get('cmdline') == 'sleep 7777' and p.get('pid') == $app_pid for p in procs)"; }
expect "hostmon's agent collector lists the new process (sleep 7777, pid $app_pid)" until_ok 10 sees_app
# The guest's busybox is the host's /bin/busybox: the hash the guest reports must be the host's.
bb_sha=$(sha256sum /bin/busybox | cut -d' ' -f1)
expect "... with its executable /bin/busybox and that file's SHA-256" \
  guest_check db1 "any(p.get('cmdline') == 'sleep 7777' and p.get('exe') == '/bin/busybox' and p.get('sha256') == '$bb_sha' for p in procs)"
expect "... and the agent itself (/usr/sbin/qemu-ga) with its hash" \
  guest_check db1 "any(p.get('exe') == '/usr/sbin/qemu-ga' and len(p.get('sha256', '')) == 64 for p in procs)"
expect "processes are tagged guest-reported (source qemu-agent)" \
  guest_check db1 "g['processes'].get('trust') == 'guest-reported' and g['processes'].get('source') == 'qemu-agent'"
expect "the listeners on 8080 and 22 are reported with their processes" \
  guest_check db1 "{8080, 22} <= {l.get('port') for l in g.get('listeners', {}).get('listeners', []) if l.get('pid', -1) > 0}"
expect "the loaded modules include virtio_net and virtio_console" \
  guest_check db1 "{'virtio_net', 'virtio_console'} <= {m['name'] for m in g.get('modules', {}).get('modules', [])}"
expect "the kernel release and command line (KASLR on: no nokaslr) are reported" \
  guest_check db1 "g['kernel'].get('release', '').endswith('-cloud-amd64') and 'nokaslr' not in g['kernel'].get('cmdline', '') and 'gg.name=db1' in g['kernel'].get('cmdline', '')"
expect "the agent reports db1's address on its NIC (10.0.0.2)" \
  guest_check db1 "any(i.get('mac') == '52:54:00:67:00:02' and '10.0.0.2/24' in i.get('addresses', []) for i in g.get('interfaces', {}).get('interfaces', []))"
mem_learned() { guest_check db1 "g.get('memory', {}).get('gold_source') == 'learned' and g['memory'].get('match')"; }
expect "hostmon read db1's kernel from guest memory: banner found, kernel text hash learned and matching" until_ok 30 mem_learned
# Introspection with KASLR on: the kernel found through its page tables, read with its profile.
expect "db1's memory is introspected with the kernel's profile, KASLR slide found, read straight from QEMU's memory" \
  guest_check db1 "g['memory'].get('mode') == 'introspection' and g['memory'].get('profile', '').endswith('.json') and int(g['memory'].get('kaslr_slide', '0')) != 0 and g['memory'].get('access') == 'process_vm_readv'"
mem_sees_app() { guest_check db1 "any(p.get('pid') == $app_pid and p.get('exe') == '/bin/busybox' and p.get('comm') == 'sleep' for p in g.get('memory', {}).get('processes', []))"; }
expect "the memory view lists the new process (pid $app_pid, sleep, /bin/busybox) from the kernel's task list" until_ok 20 mem_sees_app
same_paths() {
  guest_check db1 "all(p['exe'] == {q['pid']: q.get('exe', '') for q in g['memory']['processes']}[p['pid']] for p in procs if p.get('exe') and p['pid'] in {q['pid'] for q in g['memory']['processes']}) and any(q.get('exe') == '/usr/sbin/qemu-ga' for q in g['memory']['processes']) and any(q['pid'] == 1 for q in g['memory']['processes'])"
}
expect "... and the agent (/usr/sbin/qemu-ga) and init, every process both views list with the same executable path" same_paths
expect "the memory view's modules include virtio_net, on the module list and in sysfs" \
  guest_check db1 "any(m['name'] == 'virtio_net' and m.get('in_list') and m.get('in_sysfs') for m in g['memory'].get('modules', []))"
same_gold() {
  local a b
  a=$(vm_json web1 | python3 -c 'import json,sys; m=json.load(sys.stdin)["vm"]["guest"]["memory"]; print(m.get("text_sha256",""), m.get("kaslr_slide",""))')
  b=$(vm_json db1 | python3 -c 'import json,sys; m=json.load(sys.stdin)["vm"]["guest"]["memory"]; print(m.get("text_sha256",""), m.get("kaslr_slide",""))')
  [ -n "${a%% *}" ] && [ "${a%% *}" = "${b%% *}" ] || return 1
  # (KASLR picks one of about 500 slots: two guests share one about once in 500 runs)
  [ "${a##* }" != "${b##* }" ] && slides="different KASLR offsets" || slides="the same KASLR offset, by chance,"
}
slides="?"
expect "web1 and db1 boot the same kernel, and their kernel text hashes are the same" until_ok 20 same_gold
echo "    (web1 and db1 run at $slides)"
expect "the system-call table and the IDT were checked and point into kernel text" \
  guest_check db1 "g['memory'].get('syscalls', 0) > 300 and g['memory'].get('idt_gates', 0) > 200 and not g['memory'].get('hooks')"
# hostmon's Prometheus metrics (port 0 in the test's configuration: the log names the port).
metrics_port=$(grep -o 'metrics on http://127.0.0.1:[0-9]*/metrics' "$work/hostmon.log" | head -1 | sed 's/.*:\([0-9]*\)\/metrics/\1/')
scrape() { curl -s --max-time 5 "http://127.0.0.1:$metrics_port/metrics"; }
polls_of() { scrape | awk -v c="$1" '$1 == "goldgate_hostmon_polls_total{collector=\""c"\"}" {print $2}'; }
expect "hostmon serves Prometheus metrics (127.0.0.1:${metrics_port:-?}): both VMs running" \
  bash -c "curl -s --max-time 5 'http://127.0.0.1:$metrics_port/metrics' | grep -q '^goldgate_hostmon_vms{state=\"running\"} 2\$'"
mem_polls=$(polls_of memory)
more_polls() { [ "$(polls_of memory)" -gt "${mem_polls:-0}" ]; }
expect "... and its counter of memory passes moves (from ${mem_polls:-?})" until_ok 10 more_polls
# A real Prometheus (Debian's) scrapes hostmon every second, with the shipped alerting rules loaded.
if command -v prometheus >/dev/null; then
  prom_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  switch_target=$(gg_metrics_url "$work"); switch_target=${switch_target#http://}; switch_target=${switch_target%/metrics}
  cat > "$work/prometheus.yml" <<YAML
global: {scrape_interval: 1s, evaluation_interval: 1s}
rule_files: [$here/../../configs/prometheus/goldgate-hostmon-rules.yml, $here/../../configs/prometheus/goldgate-switch-rules.yml]
scrape_configs:
  - job_name: goldgate-hostmon
    static_configs: [{targets: ["127.0.0.1:$metrics_port"]}]
  - job_name: goldgate-switch
    static_configs: [{targets: ["$switch_target"]}]
YAML
  prometheus --config.file="$work/prometheus.yml" --storage.tsdb.path="$work/prometheus" \
    --web.listen-address="127.0.0.1:$prom_port" >"$work/prometheus.log" 2>&1 &
  prom_pid=$!
  promq() {
    curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/query" --data-urlencode "query=$1" |
      python3 -c 'import json, sys; r = json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "")' 2>/dev/null
  }
  prom_sees() { [ "$(promq 'goldgate_hostmon_vms{state="running"}')" = "2" ]; }
  expect "a real Prometheus scraping hostmon every second sees both VMs running" until_ok 30 prom_sees
  prom_moving() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) > 0 else 1)' "$(promq 'increase(goldgate_hostmon_polls_total{collector="memory"}[10s])')"; }
  expect "... and counts the memory passes as they happen (an increase over 10 s)" until_ok 30 prom_moving
  prom_rules() { curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/rules" | grep -q GoldgateKernelHooked; }
  expect "... with the shipped alerting rules loaded" prom_rules
  # The same Prometheus scrapes the switch the guests' vhost-user NICs are on: their packets count.
  prom_switch() { python3 -c 'import sys; sys.exit(0 if float(sys.argv[1] or 0) > 0 else 1)' "$(promq 'sum(goldgate_switch_port_rx_packets_total{role="vm"})')"; }
  expect "... and the switch ($switch_target): packets from the guests' vhost-user ports" until_ok 30 prom_switch
  prom_switch_rules() { curl -s --max-time 5 "http://127.0.0.1:$prom_port/api/v1/rules" | grep -q GoldgateSpoofing; }
  expect "... with the switch's alerting rules loaded" prom_switch_rules
  stop_pid "$prom_pid"; prom_pid=""
else
  echo "SKIP: the real-Prometheus checks: prometheus is not installed (scripts/install-deps.sh test)"
fi
expect "the memory view is tagged hypervisor-observed and names the same kernel as the agent" \
  guest_check db1 "g['memory'].get('trust') == 'hypervisor-observed' and g['kernel']['release'] in g['memory'].get('banner', '')"
no_false_alarm() { ! grep -q 'kernel.text_changed\|disagreement\|agent.silent\|kernel.hook\|unsupported_kernel' "$work/hostmon-alerts.jsonl" 2>/dev/null; }
expect "no kernel-text, disagreement or silent-agent alert for healthy booting guests" no_false_alarm
# The switch binds the addresses the domain's metadata declares (host truth), whatever the guest
# says: db1 takes another address; its packets from it are dropped, and its agent's report of it
# is a disagreement.
spoof_drops() { $ctl --json status | python3 -c "import json,sys; print(sum(int(c.get('value',0)) for c in json.load(sys.stdin)['status']['drops'] if c['name']=='spoofed_ip'))"; }
before=$(spoof_drops)
vm_exec db1 'ip addr add 10.0.0.77/24 dev eth0; ping -c 2 -W 1 -I 10.0.0.77 10.0.0.1' 20 >/dev/null 2>&1
expect "db1 sending from an address its domain does not bind is dropped (spoofed_ip $before -> $(spoof_drops))" test "$(spoof_drops)" -gt "${before:-0}"
addr_disagrees() { guest_check db1 "any(o.get('kind') == 'disagreement.address' and '10.0.0.77' in o.get('detail', '') for o in g.get('observations', []))"; }
expect "... and its agent's report of 10.0.0.77 is a disagreement.address" until_ok 20 addr_disagrees
vm_exec db1 'ip addr del 10.0.0.77/24 dev eth0' 10 >/dev/null 2>&1
vm_exec db1 "kill $app_pid" 10 >/dev/null
gone_app() { ! sees_app; }
expect "the killed process is gone from the next observation" until_ok 10 gone_app
cost_line=$(vm_json db1 | python3 -c '
import json,sys
g=json.load(sys.stdin)["vm"]["guest"]
a=g["agent_cost"]; m=g["memory_cost"]
print("agent: %s polls, last %s ms, %.1f ms CPU avg; memory: %s polls, last %s ms, %.1f ms CPU avg" % (
  a.get("polls",0), a.get("last_duration_ms",0), int(a.get("total_cpu_us",0))/max(1,int(a.get("polls",1)))/1000,
  m.get("polls",0), m.get("last_duration_ms",0), int(m.get("total_cpu_us",0))/max(1,int(m.get("polls",1)))/1000))')
echo "    hostmon per poll of db1: $cost_line"

# --- the agent killed in the guest: reported disconnected, respawned by init ---
t_kill=$EPOCHREALTIME
vm_agent db1 '{"execute":"guest-exec","arguments":{"path":"/bin/sh","arg":["-c","sleep 1; killall qemu-ga"]}}' >/dev/null
expect "killed qemu-ga in db1: hostmon reports agent_connected false" until_ok 8 agent_is db1 false
agent_silent() { ! vm_agent_ping db1; }
expect "the agent does not answer meanwhile" agent_silent
# The binding is the host's: with db1's agent gone, the switch still binds exactly its declared address.
bound_ips() { $ctl --json status | python3 -c '
import json, sys
p = [p for p in json.load(sys.stdin)["status"]["ports"] if p["name"] == sys.argv[1]][0]
sys.exit(0 if p.get("ips") == sys.argv[2:] else 1)' "$@"; }
expect "with db1's agent stopped, vm-db1 is still bound to 10.0.0.2 only (from the domain)" bound_ips vm-db1 10.0.0.2
if vm_wait_agent db1 30; then
  ok "init respawns qemu-ga in db1; the agent answers again"
  note_time "db1: agent killed to answering again (5 s respawn delay)" "$(vm_since "$t_kill")"
else
  bad "init respawns qemu-ga in db1; the agent answers again"
fi
expect "hostmon reports db1's agent connected again" until_ok 10 agent_is db1 true
expect "hostmon logged vm.agent_disconnected for db1" grep -q 'agent_disconnected' "$work/hostmon.log"
silent_alert() { grep -q '"kind":"attest.agent.silent".*"vm":"db1"\|"vm":"db1".*"kind":"attest.agent.silent"' "$work/hostmon-alerts.jsonl" 2>/dev/null; }
expect "the silent agent was an observation and an alert (attest.agent.silent)" silent_alert

# --- libvirtd restarted under running guests ---
qpid_web=$(vm_qemu_pid web1); qpid_db=$(vm_qemu_pid db1)
connects() { vms_json | python3 -c 'import json,sys; print(json.load(sys.stdin)["status"].get("connects", 0))'; }
connects_before=$(connects)
alerts_before=$(cat "$work/hostmon-alerts.jsonl" 2>/dev/null | wc -l)
log_lines_before=$(wc -l < "$work/hostmon.log")
t_lv=$EPOCHREALTIME
vm_libvirtd_stop
hostmon_down() { vms_json | python3 -c 'import json,sys; sys.exit(1 if json.load(sys.stdin)["status"].get("connected") else 0)'; }
expect "libvirtd stopped: hostmon reports NOT CONNECTED" until_ok 10 hostmon_down
if vm_libvirtd_start 60; then
  ok "libvirtd restarts (${VM_LIBVIRTD_READY_S}s)"
  note_time "libvirtd restart (capability cache warm) to ready" "$VM_LIBVIRTD_READY_S"
else
  bad "libvirtd restarts"
fi
hostmon_reconnected() { [ "$(connects)" -gt "$connects_before" ] && hostmon_lists; }
if until_ok 20 hostmon_reconnected; then
  ok "hostmon reconnects and still lists both VMs running with their sockets and labels"
  note_time "libvirtd stopped to hostmon reconnected" "$(vm_since "$t_lv")"
else
  bad "hostmon reconnects and still lists both VMs running with their sockets and labels"
fi
# Nothing changed in the VMs, so the reconnect raises no VM events (docs/hostmon.md).
restart_events=$(tail -n +$((log_lines_before + 1)) "$work/hostmon.log" | grep -c ': vm\.')
expect "no VM events across the libvirtd restart ($restart_events)" test "$restart_events" -eq 0
restart_alerts=$(tail -n +$((alerts_before + 1)) "$work/hostmon-alerts.jsonl" 2>/dev/null | grep -c '"kind":"attest\.')
expect "no guest-state alerts across the libvirtd restart ($restart_alerts)" test "$restart_alerts" -eq 0
qemu_survived() { [ -n "$qpid_web" ] && kill -0 "$qpid_web" && [ -n "$qpid_db" ] && kill -0 "$qpid_db"; }
expect "the QEMU processes survived the restart (web1 $qpid_web, db1 $qpid_db)" qemu_survived
both_running() { [ "$(vm_virsh list --state-running --name | grep -c -x -e web1 -e db1)" -eq 2 ]; }
expect "virsh sees both guests running" both_running
both_answer() { vm_wait_agent web1 15 && vm_wait_agent db1 15; }
expect "both agents answer after the restart" both_answer

# --- hostmon restarted under running guests: agents connected long ago are polled at once ---
stop_pid "$hm_pid"
t_hm=$EPOCHREALTIME
"$bin/hostmon/goldgate-hostmon" -c "$work/hostmon.yaml" 2>>"$work/hostmon.log" &
hm_pid=$!
sees_procs_again() { guest_check db1 "len(procs) > 5"; }
if until_ok 15 sees_procs_again; then
  ok "a restarted hostmon lists db1's processes again ($(vm_since "$t_hm")s): the agent's state is read from the domain XML"
  note_time "hostmon restarted to db1's processes listed" "$(vm_since "$t_hm")"
else
  bad "a restarted hostmon lists db1's processes again within 15 s"
fi
expect "... and reports both agents connected" both_agents

# --- the switch restarted under running guests ---
gg_switch_stop
t_sw=$EPOCHREALTIME
expect "goldgate-switch starts again" gg_switch_start "$work" "$bin"
ping_ok() { vm_exec web1 'ping -c 1 -W 1 10.0.0.2' 10 >/dev/null; }
rebound() { bound_as vm-web1 web1 frontend && bound_as vm-db1 db1 backend; }
if until_ok 10 rebound; then
  ok "hostmon binds the restarted switch's ports again"
  note_time "switch restarted to ports bound again by hostmon" "$(vm_since "$t_sw")"
else
  bad "hostmon binds the restarted switch's ports again"
fi
if until_ok 30 ping_ok; then
  ok "the vhost-user NICs reconnect: web1 pings db1 again"
  note_time "switch restarted to web1 -> db1 ping passing" "$(vm_since "$t_sw")"
else
  bad "the vhost-user NICs reconnect: web1 pings db1 again"
fi
out=$(vm_exec web1 'timeout 10 nc 10.0.0.2 8080 </dev/null' 15)
expect "web1 connects to db1:8080 again after the switch restart" grep -q 'gg-app db1 port 8080' <<<"$out"
out=$(vm_exec web1 'timeout 6 nc -w 4 10.0.0.2 22 </dev/null' 15 2>/dev/null)
expect "tcp/22 is still refused after the restart" no_answer

# --- hot-plug under the real driver: a virtio-serial channel, then a vhost-user NIC ---
cat > "$work/chan.xml" <<XML
<channel type='unix'><source mode='bind' path='$work/extra.chan'/><target type='virtio' name='org.goldgate.test.0'/></channel>
XML
cat > "$work/nic2.xml" <<XML
<interface type='vhostuser'><mac address='52:54:00:67:00:11'/><source type='unix' path='$work/web1b.sock' mode='server'/><model type='virtio'/><rom enabled='no'/></interface>
XML
logged() { grep -q "$1" "$work/hostmon.log"; }
if vm_virsh attach-device web1 "$work/chan.xml" --live >"$work/attach.log" 2>&1; then
  expect "a channel hot-plugged into web1: hostmon reports vm.device_added" until_ok 5 logged 'vm.device_added web1 .*org.goldgate.test.0'
  vm_virsh detach-device web1 "$work/chan.xml" --live >>"$work/attach.log" 2>&1
  expect "... and vm.device_removed when it is unplugged" until_ok 10 logged 'vm.device_removed web1 .*org.goldgate.test.0'
else
  bad "virsh attach-device of a channel to web1: $(cat "$work/attach.log")"
fi
if vm_virsh attach-device web1 "$work/nic2.xml" --live >"$work/attach.log" 2>&1; then
  expect "a vhost-user NIC hot-plugged into web1: hostmon reports vm.nic_added" until_ok 5 logged 'vm.nic_added web1 .*52:54:00:67:00:11'
  expect "... and the switch binds its port vm-web1b to web1 (segment frontend)" until_ok 5 bound_as vm-web1b web1 frontend
else
  bad "virsh attach-device of a vhost-user NIC to web1: $(cat "$work/attach.log")"
fi

# --- a VM that stops leaves its port: closed, its connections cleared ---
vm_exec web1 'sleep 60 | nc 10.0.0.2 8080 >/dev/null 2>&1 &' 10 >/dev/null
has_flow() { $ctl flows --port vm-db1 | grep -q ':8080 '; }
expect "web1 holds a connection to db1:8080" until_ok 5 has_flow
hm_sees_flow() { guest_check db1 "any(f.get('direction') == 'inbound' and f.get('local', '').endswith(':8080') and f.get('remote', '').startswith('10.0.0.1:') for f in g.get('flows', {}).get('flows', []))"; }
expect "hostmon shows the switch's view of db1's connections: inbound from web1 to :8080 (hypervisor-observed)" until_ok 5 hm_sees_flow
expect "... and no flow disagreement with db1's agent (nc listens on 8080)" \
  guest_check db1 "not any(o.get('kind', '').startswith('disagreement.flow') for o in g.get('observations', []))"
vm_virsh destroy db1 >/dev/null
expect "db1 destroyed: hostmon unbinds it and the switch closes vm-db1" until_ok 5 closed_unbound vm-db1
no_flow() { ! has_flow; }
expect "... and the switch has no connection of db1 left" no_flow
unbound_alert() { grep -q '"kind":"vm.unbound".*"vm":"db1"' "$work/alerts.jsonl" 2>/dev/null; }
expect "... with a vm.unbound alert" unbound_alert

note_time "whole test (build check, start, checks, not cleanup)" "$(vm_since "$t_start")"
echo
echo "timings (seconds):"
for k in "${timing_order[@]}"; do printf '  %-58s %6s\n' "$k" "${timing[$k]}"; done
echo
echo "e2e.vms: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
