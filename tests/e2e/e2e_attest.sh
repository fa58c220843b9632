#!/usr/bin/env bash
# End-to-end attestation with real VMs (TCG) under a private libvirtd: web1 (app web) and db1 (app
# db) on goldgate-switch, watched by goldgate-hostmon. Their birth certificates are learned from
# what they do (goldgatectl manifest learn), signed (keygen, sign), and picked up by hostmon; then:
# an unknown binary started in web1 is flagged and, as web's manifest asks, web1 is quarantined by
# the switch while hostmon still sees it; release lets it talk again; an unexpected listener in db1
# suspends it through libvirt, and release resumes it; an undeclared connection of web1 hardens it
# (only its declared connections pass) until release; the switch on the manifest-derived policy
# passes the declared connection and refuses undeclared ones at their first packet; a tampered
# manifest is refused and the VM stays on its accepted one; the VM report (text and HTML).
# Usage: e2e_attest.sh BUILD_DIR      (exit 77 = skipped, with the reason)
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bin=$(cd "${1:-build}" && pwd)
source "$here/lib.sh"
source "$here/vm_lib.sh"

vm_prelude "$bin"

work=$(mktemp -d /tmp/gg-attest.XXXXXX)
ctl="$bin/cli/goldgatectl -s $work/switch.sock"
hctl="$bin/cli/goldgatectl -s $work/switch.sock --hostmon-socket $work/hostmon.sock"
hm_pid=""
on_exit() {
  stop_pid "$hm_pid"; gg_switch_stop
  if [ "$failed" -gt 0 ] || [ -n "${GG_KEEP_LOGS:-}" ]; then
    for f in "$work"/switch.log "$work"/hostmon.log "$work"/hostmon-alerts.jsonl; do
      [ -s "$f" ] && { echo "--- $f"; tail -30 "$f"; }
    done
  fi
  [ -n "${GG_KEEP_WORK:-}" ] && { echo "work dir kept: $work"; return; }
  rm -rf "$work"
}
trap on_exit EXIT
trap 'exit 143' TERM INT HUP
vm_init "$work/libvirt" "$guest" "$bin/libvirt-cache"

# --- the switch: segments web and db; web may reach db on any TCP port for now, a hardened web VM
# (segment web.hardened, where hostmon's `harden` response moves it) only on 8080 ---
vm_write_switch_config "$work"
cat > "$work/segments/app.yaml" <<'YAML'
segments:
  - {name: web, members: {vms: [web1]}}
  - {name: web.hardened}
  - {name: db, members: {vms: [db1]}}
rules:
  - {name: web-to-db, from: web, to: db, proto: tcp, action: allow}
  - {name: hardened-web-to-db, from: web.hardened, to: db, proto: tcp, ports: 8080, action: allow}
YAML
expect "goldgate-switch starts" gg_switch_start "$work" "$bin"
vm_libvirtd_start 60 || { bad "libvirtd with the QEMU driver is up"; exit 1; }

# --- hostmon with attestation: manifests in $work/manifests, signed by $work/signer ---
mkdir -p "$work/manifests"
expect "goldgatectl manifest keygen writes the signer's key pair" $ctl manifest keygen --out "$work/signer"
key_private() { [ "$(stat -c %a "$work/signer")" = 600 ] && [ -s "$work/signer.pub" ]; }
expect "... the private key with mode 0600, and the public key beside it" key_private
vm_write_hostmon_config "$work" 1000 2000
cat >> "$work/hostmon.yaml" <<YAML
attest:
  manifests: $work/manifests
  keys: [$work/signer.pub]
  state_file: $work/manifest-versions
  reload_interval_ms: 500
YAML
"$bin/hostmon/goldgate-hostmon" -c "$work/hostmon.yaml" 2>"$work/hostmon.log" &
hm_pid=$!

vm_start web1 52:54:00:67:00:01 "$work/web1.sock" 10.0.0.1/24 web web
vm_start db1 52:54:00:67:00:02 "$work/db1.sock" 10.0.0.2/24 db db
for vm in web1 db1; do vm_wait_agent "$vm" 150 || { bad "$vm boots and its agent answers"; exit 1; }; done
ok "web1 and db1 boot and their agents answer"
vm_json() { $hctl vm show "$1" --json 2>/dev/null; }
# attest_check VM EXPR: a Python expression over `a` (the VM's attestation), exit status = truth.
attest_check() {
  vm_json "$1" | python3 -c '
import json, sys
a = json.load(sys.stdin).get("vm", {}).get("attestation", {})
flags = a.get("red_flags", [])
sys.exit(0 if eval(sys.argv[1]) else 1)' "$2"
}
agent_seen() { vm_json "$1" | grep -q '"processes"'; }
both_seen() { agent_seen web1 && agent_seen db1; }
expect "hostmon has both guests' processes" until_ok 20 both_seen
expect "with no manifest yet, web1's attestation says so" attest_check web1 "a.get('state') == 'no-manifest'"

# --- learning: what the VMs do for 8 s, while web1 talks to db1:8080 ---
vm_exec web1 'for i in 1 2 3 4 5 6; do nc -w 2 10.0.0.2 8080 </dev/null >/dev/null; sleep 1; done' 40 >/dev/null &
traffic=$!
$hctl manifest learn web1 --for 8s --app web --out "$work/manifests/web.yaml" 2>"$work/learn-web.log" &
learn_web=$!
$hctl manifest learn db1 --for 8s --app db --out "$work/manifests/db.yaml" 2>"$work/learn-db.log"
rc_db=$?
wait "$learn_web"; rc_web=$?
wait "$traffic"
expect "goldgatectl manifest learn writes web1's draft" test "$rc_web" -eq 0 -a -s "$work/manifests/web.yaml"
expect "... and db1's" test "$rc_db" -eq 0 -a -s "$work/manifests/db.yaml"
draft_has() { grep -q -- "$2" "$work/manifests/$1.yaml"; }
expect "web's draft lists the agent's executable (/usr/sbin/qemu-ga)" draft_has web /usr/sbin/qemu-ga
expect "web's draft declares the outbound connection to app db on 8080" \
  python3 -c 'import sys,yaml; m=yaml.safe_load(open(sys.argv[1])); sys.exit(0 if any(c.get("to",{}).get("app")=="db" and 8080 in (c["ports"] if isinstance(c["ports"], list) else [c["ports"]]) for c in m["connections"]["outbound"]) else 1)' "$work/manifests/web.yaml"
expect "db's draft declares the inbound connection from app web" \
  python3 -c 'import sys,yaml; m=yaml.safe_load(open(sys.argv[1])); sys.exit(0 if any(c.get("from",{}).get("app")=="web" for c in m["connections"]["inbound"]) else 1)' "$work/manifests/db.yaml"
# The security team's choices: quarantine web on an unknown executable, suspend db on an
# unexpected listener, refuse undeclared connections at their first packet.
set_responses() {  # set_responses FILE KIND=ACTION...
  local f=$1; shift
  python3 - "$f" "$@" <<'PY'
import sys
path, pairs = sys.argv[1], sys.argv[2:]
lines = open(path).read().splitlines()
out, skip = [], False
for l in lines:
    if l.startswith("responses:"):
        skip = True
        continue
    if skip and (l.startswith(" ") or l.startswith("-") or not l.strip()):
        continue
    skip = False
    out.append(l)
out.append("responses:")
for p in pairs:
    k, v = p.split("=", 1)
    out.append(f"  {k}: {v}")
open(path, "w").write("\n".join(out) + "\n")
PY
}
set_responses "$work/manifests/web.yaml" unknown_executable=quarantine unexpected_connection=harden default=alert
set_responses "$work/manifests/db.yaml" unexpected_listener=suspend unexpected_connection=block disagreement=quarantine \
  default=alert
expect "an unsigned manifest is refused (unsigned)" until_ok 10 bash -c "$hctl manifests --json | grep -q '\"reason\": *\"unsigned\"'"
expect "goldgatectl manifest sign signs web's manifest" $ctl manifest sign --key "$work/signer" "$work/manifests/web.yaml"
expect "... and db's" $ctl manifest sign --key "$work/signer" "$work/manifests/db.yaml"
expect "goldgatectl manifest verify accepts it with the public key" $ctl manifest verify --pub "$work/signer.pub" "$work/manifests/web.yaml"
expect "hostmon accepts both and judges web1 verified against web v1" \
  until_ok 20 attest_check web1 "a.get('state') == 'verified' and a.get('app') == 'web' and int(a.get('manifest_version', 0)) == 1"
expect "... and db1 against db" until_ok 10 attest_check db1 "a.get('state') == 'verified' and a.get('app') == 'db'"

# --- an unknown binary in web1: red flag, and the quarantine web's manifest asks for ---
nc_ok() { vm_exec web1 'timeout 8 nc -w 4 10.0.0.2 8080 </dev/null' 15 2>/dev/null | grep -q 'gg-app db1'; }
expect "before: web1 reaches db1:8080" nc_ok
# (busybox picks its applet by its own name: the copy keeps it, in a folder of its own)
vm_exec web1 'mkdir -p /tmp/implant && cp /bin/busybox /tmp/implant/busybox' 10 >/dev/null
t0=$EPOCHREALTIME
# The pid goes to a file in the guest, read back when it is needed: the response this command
# triggers may come before guest-exec's status (carrying its output) is read.
vm_exec web1 '/tmp/implant/busybox sleep 600 </dev/null >/dev/null 2>&1 & echo $! >/run/gg-implant.pid' 10 >/dev/null
flagged() { grep -q '"kind":"attest.unknown_executable".*/tmp/implant' "$work/hostmon-alerts.jsonl" 2>/dev/null; }
if until_ok 15 flagged; then
  ok "the unknown executable /tmp/implant is flagged (alert $(vm_since "$t0") s after the command was sent)"
else
  bad "the unknown executable /tmp/implant is flagged"
fi
expect "the red flag carries the manifest's expectation and the evidence (hash, trust)" \
  until_ok 10 attest_check web1 "any(f['kind'] == 'unknown_executable' and '/tmp/implant' in f['observed'] and f['trust'] == 'guest-reported' for f in flags)"
quarantined() { $ctl --json status | python3 -c 'import json,sys; sys.exit(0 if any(p["name"]=="vm-web1" and p.get("quarantined") for p in json.load(sys.stdin)["status"]["ports"]) else 1)'; }
expect "web1 is quarantined by the switch" until_ok 5 quarantined
expect "the response is recorded with its trigger" \
  attest_check web1 "a.get('quarantined') and any(x['action'] == 'quarantine' and x['state'] == 'done' and 'unknown_executable' in x['trigger'] for x in a.get('actions', []))"
expect "the response is alerted (attest.response, quarantine)" grep -q '"kind":"attest.response".*"action":"quarantine"' "$work/hostmon-alerts.jsonl"
no_nc() { ! nc_ok; }
expect "quarantined web1 no longer reaches db1:8080" no_nc
shows_555() { vm_json web1 | grep -q 'sleep 555'; }
still_seen() { vm_exec web1 '(sleep 555 </dev/null >/dev/null 2>&1 &)' 5 >/dev/null; until_ok 10 shows_555; }
expect "hostmon still sees inside quarantined web1 (a new process shows)" still_seen

expect "goldgatectl report web1 shows the red flag and the action" bash -c "$hctl report web1 | grep -q implant && $hctl report web1 | grep -qi quarantine"
expect "goldgatectl report web1 --html writes a self-contained page" $hctl report web1 --html "$work/web1.html"
expect "... that names the implant, escaped, with no external resources" \
  bash -c "grep -q implant '$work/web1.html' && ! grep -qE 'src=\"https?:|href=\"https?:' '$work/web1.html'"

# (the guest's busybox has no pkill: the implant is ended by its pid)
implant_killed() { vm_exec web1 'kill "$(cat /run/gg-implant.pid)"' 10 >/dev/null; }
expect "the implant is ended by its pid (from /run/gg-implant.pid in web1)" until_ok 20 implant_killed
# Gone from both views: the agent's process list and the one read from guest memory.
gone() {
  vm_json web1 | python3 -c '
import json, sys
g = json.load(sys.stdin)["vm"]["guest"]
procs = g.get("processes", {}).get("processes", []) + g.get("memory", {}).get("processes", [])
sys.exit(0 if procs and not any("/tmp/implant" in p.get("exe", "") for p in procs) else 1)'
}
expect "the implant is gone from hostmon's view (the agent's and guest memory's)" until_ok 30 gone
expect "goldgatectl vm release web1 lifts the quarantine" $hctl vm release web1 --by operator:e2e
expect "web1 reaches db1:8080 again" until_ok 10 nc_ok

# --- an unexpected listener in db1: suspended through libvirt, resumed by release ---
# db1 is suspended as soon as hostmon sees the listener, maybe before guest-exec's status is read:
# the listener's pid goes to a file in the guest, read after the resume. The command's own status
# is not waited on (the guest may be paused by then).
vm_exec db1 'nc -l -p 4444 </dev/null >/dev/null 2>&1 & echo $! >/run/gg-listener.pid' 10 >/dev/null 2>&1 &
listener_cmd=$!
paused() { [ "$(vm_virsh domstate db1 2>/dev/null | head -1)" = paused ]; }
expect "db1 opens an undeclared listener (tcp/4444) and is suspended by libvirt" until_ok 20 paused
expect "the suspension is recorded" attest_check db1 "a.get('suspended') and any(x['action'] == 'suspend' for x in a.get('actions', []))"
expect "goldgatectl vm release db1 resumes it" $hctl vm release db1 --by operator:e2e
running() { [ "$(vm_virsh domstate db1 2>/dev/null | head -1)" = running ]; }
expect "db1 runs again" until_ok 10 running
wait "$listener_cmd" 2>/dev/null
listener_killed() { vm_exec db1 'kill "$(cat /run/gg-listener.pid)"' 10 >/dev/null; }
expect "the listener is ended by its pid (from /run/gg-listener.pid in db1)" until_ok 20 listener_killed
listener_gone() { attest_check db1 "a.get('state') == 'verified'"; }
expect "with the listener gone, db1 is verified again" until_ok 10 listener_gone

# --- harden: web's manifest answers an undeclared connection by restricting web1 to its declared ones ---
reach22() { vm_exec web1 'timeout 6 nc -w 4 10.0.0.2 22 </dev/null' 15 2>/dev/null | grep -q gg-app; }
# The switch admits it; hostmon may harden web1, cutting the connection, before db1's answer comes
# back (db1 has just been resumed and answers slowly under TCG). db1's application records every
# connection it accepts (tests/e2e/guest/agent/app-answer): a new record for port 22 means the
# handshake crossed the switch both ways, whatever happened to the answer.
accepted22() { vm_exec db1 'grep -c "accepted port 22$" /run/gg-app.log 2>/dev/null || true' 10 | tr -dc 0-9; }
before22=$(accepted22); before22=${before22:-0}
db1_accepted22() { [ "$(accepted22)" -gt "$before22" ] 2>/dev/null; }
passes22() { reach22 || until_ok 10 db1_accepted22; }
expect "db1 answers on 8080 again after the resume" until_ok 20 nc_ok
expect "web1's undeclared connection to db1:22 passes (the policy still allows web -> db on any TCP port)" passes22
expect "hostmon flags it (unexpected_connection) and hardens web1" \
  until_ok 10 attest_check web1 "a.get('hardened') and any(f['kind'] == 'unexpected_connection' and '10.0.0.2:22' in f['summary'] for f in flags)"
in_segment() {  # in_segment PORT SEGMENT: the switch's status
  $ctl --json status | python3 -c 'import json,sys; sys.exit(0 if any(p["name"]==sys.argv[1] and p.get("segment")==sys.argv[2] for p in json.load(sys.stdin)["status"]["ports"]) else 1)' "$@"
}
expect "the switch has web1 in segment web.hardened" until_ok 5 in_segment vm-web1 web.hardened
refused22() { ! reach22; }
expect "hardened web1 can no longer reach db1:22" refused22
expect "... and still reaches db1:8080 (declared)" nc_ok
expect "goldgatectl vm release web1 ends the hardening" $hctl vm release web1 --by operator:e2e
expect "web1 is back in segment web" until_ok 5 in_segment vm-web1 web

# --- the switch on the manifest-derived policy: what both manifests declare, nothing else ---
expect "goldgatectl policy from-manifests derives the segment rules" \
  $ctl policy from-manifests "$work/manifests" --pub "$work/signer.pub" --out "$work/derived.yaml"
rm -f "$work/segments/app.yaml"; cp "$work/derived.yaml" "$work/segments/derived.yaml"
expect "the switch reloads onto the derived policy" $ctl policy reload
expect "web1 reaches db1:8080 (declared by both manifests)" until_ok 10 nc_ok
expect "web1 cannot reach db1:22 (declared by neither)" refused22
first_packet() {  # first_packet SRC DST_PORT: a policy.deny alert from the switch
  grep '"kind":"policy.deny"' "$work/alerts.jsonl" 2>/dev/null | grep "\"src_ip\":\"$1\"" | grep -q "\"dst_port\":$2"
}
expect "the switch refused it at its first packet and alerted it (policy.deny)" until_ok 5 first_packet 10.0.0.1 22
db_to_web() { vm_exec db1 'timeout 6 nc -w 4 10.0.0.1 8080 </dev/null' 15 2>/dev/null | grep -q gg-app; }
refused_db() { ! db_to_web; }
expect "db1 cannot reach web1:8080 (undeclared)" refused_db
expect "... refused at its first packet and alerted" until_ok 5 first_packet 10.0.0.2 8080

# --- a tampered manifest is refused; web1 stays on its accepted manifest ---
sed -i 's/^version: .*/version: 2/' "$work/manifests/web.yaml"
expect "goldgatectl manifest verify refuses the tampered file" bash -c "! $ctl manifest verify --pub '$work/signer.pub' '$work/manifests/web.yaml'"
tampered() { $hctl manifests --json | grep -q '"reason": *"tampered"'; }
expect "hostmon refuses it (tampered)" until_ok 10 tampered
expect "... alerts it (attest.manifest_rejected)" until_ok 5 grep -q '"kind":"attest.manifest_rejected"' "$work/hostmon-alerts.jsonl"
expect "... and web1 stays on web v1" attest_check web1 "int(a.get('manifest_version', 0)) == 1 and a.get('app') == 'web'"

# --- the memory view: what a guest hides from its own tools, and what it does with its agent stopped ---
# A process hidden from db1's own /proc (an empty folder bind-mounted over /proc/PID): the agent,
# which reads /proc, cannot list it; the kernel's task list in guest memory still has it.
vm_exec db1 'mkdir -p /run/empty; busybox sleep 7300 </dev/null >/dev/null 2>&1 & echo $! >/run/gg-hidden.pid; mount -o bind /run/empty /proc/$!' 10 >/dev/null
hidden_pid=$(vm_exec db1 'cat /run/gg-hidden.pid' 10 | tr -dc 0-9)
t0=$EPOCHREALTIME
hidden_in_guest() { [ -n "$hidden_pid" ] && ! vm_exec db1 "cat /proc/$hidden_pid/status" 10 2>/dev/null | grep -q sleep; }
expect "a process (pid $hidden_pid) is hidden from db1's own /proc" hidden_in_guest
hidden_flagged() { grep -q "\"kind\":\"attest.disagreement.hidden_process\".*pid $hidden_pid (busybox) running /bin/busybox" "$work/hostmon-alerts.jsonl" 2>/dev/null; }
if until_ok 40 hidden_flagged; then
  ok "... and flagged disagreement.hidden_process from guest memory ($(vm_since "$t0") s)"
else
  bad "... and flagged disagreement.hidden_process from guest memory"
fi
expect "the red flag is a disagreement, hypervisor-observed, naming the pid and /bin/busybox" \
  until_ok 10 attest_check db1 "any(f['kind'] == 'disagreement' and 'hidden_process' in f['summary'] and 'pid $hidden_pid' in f['observed'] and '/bin/busybox' in f['observed'] and f['trust'] == 'hypervisor-observed' for f in flags)"
quarantined_db() { $ctl --json status | python3 -c 'import json,sys; sys.exit(0 if any(p["name"]=="vm-db1" and p.get("quarantined") for p in json.load(sys.stdin)["status"]["ports"]) else 1)'; }
expect "db's manifest answers a disagreement with quarantine: db1 is quarantined" until_ok 10 quarantined_db
expect "goldgatectl report db1 shows the memory view with the hidden process NOT LISTED by the agent" \
  bash -c "$hctl report db1 --processes | grep -E '^ *$hidden_pid .*busybox .*/bin/busybox .*NOT LISTED'"
expect "... and so does the HTML report" \
  bash -c "$hctl report db1 --html '$work/db1.html' && grep -q 'Processes in guest memory' '$work/db1.html' && grep -q 'not listed' '$work/db1.html'"

# With web1's agent stopped (SIGSTOP: it stays in the process list, and answers nothing), a new
# executable and a kernel module not in web's manifest are still flagged, from guest memory alone.
vm_exec web1 '(sleep 2; kill -STOP $(pidof qemu-ga); sleep 1; mkdir -p /tmp/dark; cp /bin/busybox /tmp/dark/busybox; /tmp/dark/busybox sleep 7400 & insmod /lib/modules/extra/dummy.ko*; sleep 90; kill -CONT $(pidof qemu-ga)) </dev/null >/dev/null 2>&1 &' 10 >/dev/null
t0=$EPOCHREALTIME
web_silent() { attest_check web1 "any(f['kind'] == 'agent_silent' for f in flags)"; }
expect "web1's agent goes silent (agent_silent red flag)" until_ok 60 web_silent
dark_flagged() { attest_check web1 "any(f['kind'] == 'unknown_executable' and f['summary'].endswith('/tmp/dark/busybox') and f['trust'] == 'hypervisor-observed' for f in flags)"; }
if until_ok 40 dark_flagged; then
  ok "/tmp/dark/busybox, started with the agent stopped, is flagged from memory (hypervisor-observed, $(vm_since "$t0") s)"
else
  bad "/tmp/dark/busybox, started with the agent stopped, is flagged from memory"
fi
dummy_flagged() { attest_check web1 "any(f['kind'] == 'unexpected_module' and f['summary'].endswith('dummy') and f['trust'] == 'hypervisor-observed' for f in flags)"; }
expect "the module dummy, loaded with insmod while the agent is stopped, is flagged from memory" until_ok 40 dummy_flagged
expect "... and web's manifest's response (quarantine) runs on it" until_ok 10 quarantined
no_false_memory_flags() {
  ! grep -q '"kind":"attest.kernel.hook"\|"kind":"attest.disagreement.phantom"\|"kind":"attest.kernel.text_changed"\|"kind":"attest.memory.unsupported_kernel"' "$work/hostmon-alerts.jsonl"
}
expect "no kernel hook, phantom, kernel-text or unsupported-kernel alert in the whole run" no_false_memory_flags

# --- a rootkit module in db1 (tests/e2e/guest/rootkit, built against the guest kernel's headers):
# off the module list, a hooked system call, a changed byte of kernel text ---
if vm_exec db1 'test -e /lib/modules/extra/gg_rootkit.ko && echo yes' 10 2>/dev/null | grep -q yes; then
  # Where db1's sys_call_table is: the profile's link-time address plus the KASLR slide hostmon found.
  table=$(vm_json db1 | python3 -c '
import glob, json, sys
m = json.load(sys.stdin)["vm"]["guest"]["memory"]
p = json.load(open(glob.glob(sys.argv[1] + "/*.json")[0]))["symbols"]
print(hex(int(m["text_virt"]) + int(p["sys_call_table"], 16) - int(p["_text"], 16)))' "$work/profiles")
  vm_exec db1 "insmod /lib/modules/extra/gg_rootkit.ko hide=1 table=$table hook=140 patch=1 && echo loaded" 20 |
    grep -q loaded
  expect "the rootkit loads in db1 (hide, hook system call 140 in the table at $table, patch text)" test $? -eq 0
  off_list() { ! vm_exec db1 'cat /proc/modules' 10 | grep -q gg_rootkit; }
  expect "... and is off db1's module list (/proc/modules)" off_list
  hidden_mod() { grep -q '"kind":"attest.disagreement.hidden_module".*module gg_rootkit .*not on the kernel.s module list' "$work/hostmon-alerts.jsonl"; }
  expect "memory still finds it through its kobject: disagreement.hidden_module, off the module list" until_ok 30 hidden_mod
  hooked() { grep -q '"kind":"attest.kernel.hook".*"vm":"db1".*system-call table entry 140 points to 0x[0-9a-f]* (module gg_rootkit+0x' "$work/hostmon-alerts.jsonl"; }
  expect "the hooked system call is kernel.hook, pointing into the hidden module" until_ok 30 hooked
  expect "... and a kernel_hook red flag on db1, hypervisor-observed" \
    until_ok 10 attest_check db1 "any(f['kind'] == 'kernel_hook' and 'entry 140' in f['summary'] and f['trust'] == 'hypervisor-observed' for f in flags)"
  text_changed() { grep -q '"kind":"attest.kernel.text_changed".*"vm":"db1"' "$work/hostmon-alerts.jsonl"; }
  expect "the changed byte of kernel text changes the kernel-text hash: kernel.text_changed" until_ok 30 text_changed
else
  echo "SKIP: the rootkit checks: db1 has no test rootkit (build-guest.sh could not build it; see its output)"
fi

echo
echo "e2e.attest: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
