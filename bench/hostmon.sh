#!/usr/bin/env bash
# Host-monitor benchmark (part of `make bench`): two real TCG guests (web1, db1) with a QEMU guest
# agent under a private libvirtd, on goldgate-switch ports that goldgate-hostmon binds, with the
# collectors at their defaults (agent poll every 2 s, memory every 10 s). The same set-up as
# e2e.vms (tests/e2e/vm_lib.sh).
#
# 1. Process start -> observation in hostmon (N trials, default 20): a random pause of 0-2 s (so
#    that trials fall at random phases of the poll), the host clock is read, a uniquely named
#    process is started in db1 with one guest-exec (not waited for), then `goldgatectl vm show db1
#    --json` is asked every 25 ms until the process is in db1's process list. Latency = the time
#    it was first seen - the time before the guest-exec was sent (so the start call's own time,
#    also reported, is included). Median and p99; ceiling 2,000 ms (the attestation target: an
#    unexpected process flagged within 2 s), ratio = median / 2,000 (lower is better).
# 2. hostmon CPU per VM per poll: the collectors' own counters (CPU of the polling thread, from
#    getrusage) per poll, per collector; cross-checked with hostmon's whole-process CPU
#    (/proc/PID/stat) over a 30 s window divided by the polls made in it.
# 3. What observing costs a guest: db1's QEMU process CPU over 30 s with hostmon polling, minus the
#    same with hostmon stopped, both with the guest idle; % of one core; ceiling 5 % ("no more than
#    a few percent"). Under TCG every guest instruction is emulated, so this overstates what a KVM
#    guest pays for the same work.
# Figures merge into BUILD/bench/results.json. Usage: bench/hostmon.sh BUILD_DIR [--trials N]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
bin=$(cd "${1:-$root/build}" && pwd)
trials=20
[ "${2:-}" = "--trials" ] && trials=${3:-20}
source "$root/tests/e2e/lib.sh"
source "$root/tests/e2e/vm_lib.sh"

log() { echo "bench hostmon: $*"; }
if ! reason=$(vm_skip_reason); then log "skipped: $reason"; exit 0; fi
"$root/tests/e2e/guest/build-guest.sh" "$bin/guest" agent >/dev/null || { log "cannot build the test guest"; exit 1; }

work=$(mktemp -d /tmp/gg-bench-hostmon.XXXXXX)
hm_pid=""
cleanup() {
  [ -n "$hm_pid" ] && kill "$hm_pid" 2>/dev/null
  gg_switch_stop
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM INT HUP
vm_init "$work/libvirt" "$bin/guest" "$bin/libvirt-cache"
vm_write_switch_config "$work"
gg_switch_start "$work" "$bin" >/dev/null || { log "the switch did not start"; exit 1; }
vm_libvirtd_start 60 || { log "libvirtd did not start"; exit 1; }
vm_write_hostmon_config "$work" 2000 10000
"$bin/hostmon/goldgate-hostmon" -c "$work/hostmon.yaml" 2>"$work/hostmon.log" &
hm_pid=$!
vm_start web1 52:54:00:67:00:01 "$work/web1.sock" 10.0.0.1/24 shop frontend
vm_start db1 52:54:00:67:00:02 "$work/db1.sock" 10.0.0.2/24 shop backend
log "booting web1 and db1 (TCG)"
vm_wait_agent web1 120 && vm_wait_agent db1 120 || { log "the guests did not come up"; exit 1; }

VM_URI="$VM_URI" HM_SOCK="$work/hostmon.sock" HM_PID="$hm_pid" QEMU_PID="$(vm_qemu_pid db1)" \
  CTL="$bin/cli/goldgatectl" TRIALS="$trials" BUILD="$bin" BENCH="$here" /usr/bin/python3 - <<'PY'
import json, os, random, signal, subprocess, sys, time
sys.path.insert(0, os.environ["BENCH"])
from run import merge_results

uri, sock, ctl = os.environ["VM_URI"], os.environ["HM_SOCK"], os.environ["CTL"]
hm_pid, qemu_pid, trials = int(os.environ["HM_PID"]), int(os.environ["QEMU_PID"]), int(os.environ["TRIALS"])
tick = os.sysconf("SC_CLK_TCK")

def log(msg):
    print("bench hostmon: " + msg, flush=True)

def show(vm):
    out = subprocess.run([ctl, "--hostmon-socket", sock, "vm", "show", vm, "--json"], capture_output=True, text=True)
    return json.loads(out.stdout).get("vm", {}).get("guest", {}) if out.returncode == 0 else {}

def agent(vm, cmd):
    return subprocess.run(["virsh", "-q", "-c", uri, "qemu-agent-command", vm, "--timeout", "5", json.dumps(cmd)],
                          capture_output=True, text=True, check=True).stdout

def cpu_s(pid):
    f = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / tick

def cost(vm):
    g = show(vm)
    return {k: (int(g.get(k, {}).get("polls", 0)), int(g.get(k, {}).get("total_cpu_us", 0)), int(g.get(k, {}).get("last_duration_ms", 0)))
            for k in ("agent_cost", "memory_cost")}

def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]

# Wait until db1 has been observed at least once.
deadline = time.time() + 60
while time.time() < deadline and not show("db1").get("processes", {}).get("processes"):
    time.sleep(0.5)

# 1. Process start -> observation.
lat, start_ms = [], []
for i in range(trials):
    time.sleep(random.uniform(0, 2))
    tag = "sleep %d" % (60000 + i)
    t0 = time.time()
    agent("db1", {"execute": "guest-exec", "arguments": {"path": "/bin/sh", "arg": ["-c", tag + " </dev/null >/dev/null 2>&1 &"]}})
    t1 = time.time()
    seen = None
    while time.time() - t0 < 20:
        procs = show("db1").get("processes", {}).get("processes", [])
        if any(p.get("cmdline") == tag for p in procs):
            seen = time.time()
            break
        time.sleep(0.025)
    if seen is None:
        log("trial %d: %s not seen within 20 s" % (i + 1, tag))
        continue
    lat.append((seen - t0) * 1000)
    start_ms.append((t1 - t0) * 1000)
    log("trial %2d: seen after %5.0f ms (start call %4.0f ms)" % (i + 1, lat[-1], start_ms[-1]))
agent("db1", {"execute": "guest-exec", "arguments": {"path": "/bin/sh", "arg": ["-c", "killall sleep"]}})
if len(lat) < trials:
    log("%d of %d trials were seen" % (len(lat), trials))

# 2 and 3. A 30 s window with hostmon polling, then 30 s with hostmon stopped.
window = 30
c0 = {vm: cost(vm) for vm in ("web1", "db1")}
h0, q0, w0 = cpu_s(hm_pid), cpu_s(qemu_pid), time.time()
time.sleep(window)
c1 = {vm: cost(vm) for vm in ("web1", "db1")}
h1, q1, w1 = cpu_s(hm_pid), cpu_s(qemu_pid), time.time()
os.kill(hm_pid, signal.SIGTERM)
time.sleep(2)
q2, w2 = cpu_s(qemu_pid), time.time()
time.sleep(window)
q3, w3 = cpu_s(qemu_pid), time.time()

per_poll = {}
polls_in_window = 0
for k in ("agent_cost", "memory_cost"):
    polls = sum(c1[vm][k][0] - c0[vm][k][0] for vm in c0)
    cpu = sum(c1[vm][k][1] - c0[vm][k][1] for vm in c0)
    polls_in_window += polls
    per_poll[k] = (cpu / 1000.0 / polls) if polls else 0.0
hm_cpu_pct = (h1 - h0) / (w1 - w0) * 100
hm_per_poll = (h1 - h0) * 1000 / polls_in_window if polls_in_window else 0.0
guest_on = (q1 - q0) / (w1 - w0) * 100
guest_off = (q3 - q2) / (w3 - w2) * 100
guest_cost = guest_on - guest_off
agent_wall = c1["db1"]["agent_cost"][2]
mem_wall = c1["db1"]["memory_cost"][2]

med, p99 = pct(lat, 50), pct(lat, 99)
results = [
    {"name": "hostmon.process_latency_median_ms", "value": round(med), "unit": "ms", "ceiling": 2000, "ratio": round(med / 2000, 3),
     "case": "process started in a TCG guest -> in hostmon's process list, median of %d (min %.0f, max %.0f; the guest-exec call itself "
             "median %.0f ms); agent poll every 2 s; ratio to the 2 s target, lower is better" % (len(lat), min(lat), max(lat), pct(start_ms, 50))},
    {"name": "hostmon.process_latency_p99_ms", "value": round(p99), "unit": "ms", "ceiling": 2000, "ratio": round(p99 / 2000, 3),
     "case": "the same, 99th percentile of %d trials" % len(lat)},
    {"name": "hostmon.cpu_per_poll_agent_ms", "value": round(per_poll["agent_cost"], 2), "unit": "ms CPU", "ceiling": 2000,
     "ratio": round(per_poll["agent_cost"] / 2000, 5),
     "case": "hostmon CPU per VM per agent poll (polling thread, getrusage); ceiling: the 2 s poll interval (share of a core)"},
    {"name": "hostmon.cpu_per_poll_memory_ms", "value": round(per_poll["memory_cost"], 2), "unit": "ms CPU", "ceiling": 10000,
     "ratio": round(per_poll["memory_cost"] / 10000, 5),
     "case": "hostmon CPU per VM per memory poll (banner + 2 MiB kernel-text hash through libvirtd); ceiling: the 10 s interval"},
    {"name": "hostmon.process_cpu_pct", "value": round(hm_cpu_pct, 2), "unit": "% of a core", "ceiling": 100, "ratio": round(hm_cpu_pct / 100, 4),
     "case": "goldgate-hostmon's whole process over %d s with 2 VMs at the default intervals (%.1f ms CPU per poll of any kind, "
             "threads and control API included)" % (window, hm_per_poll)},
    {"name": "hostmon.guest_cpu_pct", "value": round(guest_cost, 2), "unit": "% of a core", "ceiling": 5, "ratio": round(guest_cost / 5, 3),
     "case": "db1's QEMU CPU with hostmon polling (%.2f %%) minus without (%.2f %%), idle guest under TCG (emulation overstates it); "
             "agent poll %d ms wall, memory poll %d ms wall" % (guest_on, guest_off, agent_wall, mem_wall)},
]
merge_results(os.environ["BUILD"], results, width=36)
PY
