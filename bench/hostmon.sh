#!/usr/bin/env bash
# Host-monitor benchmark (part of `make bench`). The set-up of e2e.vms (tests/e2e/vm_lib.sh): two
# real TCG guests (web1, db1) with a QEMU guest agent under a private libvirtd, on vhost-user ports
# of goldgate-switch (--no-huge) that goldgate-hostmon binds (identity: hostmon), and hostmon with
# its default collector settings: agent poll every 2,000 ms, memory pass every 2,000 ms (switch
# push every 1,000 ms, libvirt keepalive every 5 s, also the defaults).
#
# 1. Process start -> observation (N trials, default 20): a random pause of 0-2 s (so that the
#    trials fall at random phases of the poll); the host clock is read right BEFORE the start is
#    issued; one guest-exec (not waited for) starts `/tmp/gg-bench-N/busybox sleep 600NN` in db1 (a copy
#    of busybox made before the pause: an executable db1's signed manifest does not declare); then
#    `goldgatectl vm show db1 --json` is asked every 25 ms until the process is in db1's process
#    list (matched by command line). Latency = the time it was first seen - that start time, so
#    the start call's own duration (reported too) is included. Also reported: hostmon's own stamp
#    of the process list that first held it, minus the start time (no 25 ms polling in it).
#    Median and p99 (nearest rank: of 20 trials, the largest); ceiling 2,000 ms, the attestation
#    target ("an unexpected process flagged within 2 s"); ratio = value / 2,000, lower is better.
#    Red flag: the time of hostmon's attest.unknown_executable alert for that executable (the
#    alert's own timestamp) minus the start time, median and p99, same ceiling.
# 2. hostmon CPU per VM per poll: the collectors' own PollCost (CPU of the polling thread,
#    getrusage) of both VMs over a WINDOW (30 s), per collector; cross-checked with hostmon's whole
#    process CPU (utime + stime, /proc/PID/stat) over the same window divided by the polls made in
#    it; and hostmon's share of one core. libvirtd's CPU, which relays every agent command and
#    memory read, is measured beside it (polling on minus off).
# 3. Cost to the guest: db1's QEMU process CPU over a WINDOW with hostmon polling, minus a WINDOW
#    with hostmon stopped (then restarted), the guest idle in both; % of one core; ceiling 5 %
#    (the issue's "no more than a few percent"). Under TCG every guest instruction is emulated, so
#    this overstates what a KVM guest pays for the same probe.
# 4. Wall time of an agent poll and of a memory poll (PollCost.last_duration_ms at every poll seen).
# 5. hostmon restarted under the running guests: the time until it lists their processes again.
#
# Correctness, every run: every started process is seen within 20 s and red-flagged within 10 s
# after; no poll fails in the window;
# after hostmon's restart it observes db1 again and no longer lists the killed processes. A run
# that breaks one fails the benchmark. Figures merge into BUILD/bench/results.json.
# Needs root (libvirtd, QEMU), no hugepages. About 4 minutes.
# Usage: bench/hostmon.sh BUILD_DIR [--trials N] [--window S]
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
usage="usage: bench/hostmon.sh BUILD_DIR [--trials N] [--window S]"
bin=$(cd "${1:-$root/build}" 2>/dev/null && pwd) || { echo "$usage" >&2; exit 2; }
shift
trials=20
window=30
while [ $# -gt 0 ]; do
  case $1 in
    --trials) trials=${2:-}; shift 2 ;;
    --window) window=${2:-}; shift 2 ;;
    *) echo "$usage" >&2; exit 2 ;;
  esac
done
# A window holds several memory passes of each VM (every 2 s).
[[ $trials =~ ^[1-9][0-9]{0,2}$ && $window =~ ^[1-9][0-9]*$ ]] && [ "$window" -ge 20 ] ||
  { echo "$usage (trials 1-999, window >= 20)" >&2; exit 2; }
source "$root/tests/e2e/lib.sh"
source "$root/tests/e2e/vm_lib.sh"

log() { echo "bench hostmon: $*"; }
fail() { log "$*"; exit 1; }
if ! reason=$(vm_skip_reason); then log "skipped: $reason"; exit 0; fi
for b in dataplane/goldgate-switch hostmon/goldgate-hostmon cli/goldgatectl; do
  [ -x "$bin/$b" ] || fail "$bin/$b not built"
done
"$root/tests/e2e/guest/build-guest.sh" "$bin/guest" agent >/dev/null || fail "cannot build the agent guest"

work=$(mktemp -d /tmp/gg-bench-hostmon.XXXXXX)
hm_pid=""
py_pid=""
cleanup() {
  stop_pid "$py_pid"
  stop_pid "$hm_pid"
  gg_switch_stop
  if [ -n "${GG_BENCH_KEEP:-}" ]; then log "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
# ^C or a TERM still runs the cleanup: guests, libvirtd, its namespace, the switch, hostmon.
trap 'exit 143' TERM INT HUP
vm_init "$work/libvirt" "$bin/guest" "$bin/libvirt-cache"   # chains vm_cleanup before cleanup

hostmon_start() {
  "$bin/hostmon/goldgate-hostmon" -c "$work/hostmon.yaml" 2>>"$work/hostmon.log" &
  hm_pid=$!
}

# The measurement phases (python3, state in $work/*.json), each run in the background and waited
# for, so that a signal reaches this script's trap at once.
read -r -d '' measure_py <<'PY'
import json, math, os, random, statistics, subprocess, sys, time

E = os.environ
WORK, CTL, SOCK, URI = E["WORK"], E["CTL"], E["HM_SOCK"], E["VM_URI"]
VMS, KINDS = ("web1", "db1"), ("agent_cost", "memory_cost")
TICK = os.sysconf("SC_CLK_TCK")


def log(msg):
    print("bench hostmon: " + msg, flush=True)


def load(name, default=None):
    path = os.path.join(WORK, name + ".json")
    return json.load(open(path)) if os.path.exists(path) else default


def save(name, obj):
    json.dump(obj, open(os.path.join(WORK, name + ".json"), "w"))


def guest(vm):
    """vm.guest of `goldgatectl vm show VM --json`; {} if hostmon does not answer."""
    p = subprocess.run([CTL, "--hostmon-socket", SOCK, "vm", "show", vm, "--json"], capture_output=True, text=True)
    return json.loads(p.stdout).get("vm", {}).get("guest", {}) if p.returncode == 0 else {}


def procs(g):
    return g.get("processes", {}).get("processes", [])


def cost(g):
    """{collector: [polls, failures, total_cpu_us, last_duration_ms]} (uint64 arrive as strings)."""
    return {k: [int(g.get(k, {}).get(f, 0)) for f in ("polls", "failures", "total_cpu_us", "last_duration_ms")]
            for k in KINDS}


def note_walls(walls, vm, g):
    """Keeps last_duration_ms of every poll seen, keyed by its poll number."""
    for k, (polls, _, _, ms) in cost(g).items():
        if polls:
            walls.setdefault(vm + " " + k, {})[str(polls)] = ms


def stat_s(path):
    """utime + stime of /proc/.../stat, in seconds (the kernel counts in ticks of 10 ms)."""
    f = open(path).read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / TICK


def cpu_s(pid):
    return stat_s("/proc/%d/stat" % pid)


def vcpu_s(pid):
    """CPU of QEMU's vCPU threads ("CPU 0/TCG"): the guest's own instructions, emulated."""
    tasks = ["/proc/%d/task/%s" % (pid, t) for t in os.listdir("/proc/%d/task" % pid)]
    return sum(stat_s(t + "/stat") for t in tasks if open(t + "/comm").read().startswith("CPU "))


def agent(vm, cmd):
    subprocess.run(["virsh", "-q", "-c", URI, "qemu-agent-command", vm, "--timeout", "5", json.dumps(cmd)],
                   capture_output=True, text=True, check=True)


def exec_req(script):
    return {"execute": "guest-exec", "arguments": {"path": "/bin/sh", "arg": ["-c", script]}}


def observed(timeout, gone=()):
    """Waits until hostmon has a process list of both VMs from an agent poll, and db1's holds none of `gone`."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        gs = {vm: guest(vm) for vm in VMS}
        if all(procs(g) for g in gs.values()) and not any(p.get("cmdline") in gone for p in procs(gs["db1"])):
            return True
        time.sleep(0.5)
    return False


def red_flag(exe, timeout):
    """time_unix_ns of hostmon's attest.unknown_executable alert for `exe`, waiting up to `timeout` s."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            for line in open(os.path.join(WORK, "hostmon-alerts.jsonl")):
                if '"attest.unknown_executable"' in line and exe + " " in line:
                    return int(json.loads(line)["time_unix_ns"])
        except FileNotFoundError:
            pass
        time.sleep(0.05)
    return None


def trials(n):
    walls = load("walls", {})
    out = {"latency_ms": [], "stamp_ms": [], "start_ms": [], "flag_ms": [], "tags": [], "pids": []}
    for i in range(n):
        # Each trial runs its own copy of busybox: an executable db1's manifest does not declare.
        # (busybox picks its applet by its own name, so the copy keeps the name in its own folder)
        exe = "/tmp/gg-bench-%d/busybox" % i
        agent("db1", exec_req("mkdir -p /tmp/gg-bench-%d && cp /bin/busybox %s" % (i, exe)))
        time.sleep(0.5 + random.uniform(0, 2))
        tag = "%s sleep %d" % (exe, 60000 + i)
        t0 = time.time()  # right before the start is issued: the start call's duration counts
        agent("db1", exec_req(tag + " </dev/null >/dev/null 2>&1 &"))
        t1 = time.time()
        hit = None
        while hit is None and time.time() - t0 < 20:
            g = guest("db1")
            note_walls(walls, "db1", g)
            hit = next((p for p in procs(g) if p.get("cmdline") == tag), None)
            if hit is None:
                time.sleep(0.025)
        seen = time.time()
        note_walls(walls, "web1", guest("web1"))  # poll wall times of the other VM too (not timed)
        out["tags"].append(tag)
        if hit is None:
            save("trials", out)
            log("correctness invariant violated: trial %d: '%s' not in db1's process list within 20 s" % (i + 1, tag))
            sys.exit(1)
        flag = red_flag(exe, 10)
        if flag is None:
            save("trials", out)
            log("correctness invariant violated: trial %d: no attest.unknown_executable alert for %s within 10 s" % (i + 1, exe))
            sys.exit(1)
        out["flag_ms"].append(flag / 1e6 - t0 * 1000)
        stamp = int(g["processes"].get("observed_unix_ns", 0)) / 1e6
        out["latency_ms"].append((seen - t0) * 1000)
        out["stamp_ms"].append(stamp - t0 * 1000)
        out["start_ms"].append((t1 - t0) * 1000)
        out["pids"].append(int(hit["pid"]))
        log("trial %2d/%d: '%s' seen after %5.0f ms (hostmon's stamp %5.0f ms; red flag %5.0f ms; the start call took %4.0f ms)"
            % (i + 1, n, tag, out["latency_ms"][-1], out["stamp_ms"][-1], out["flag_ms"][-1], out["start_ms"][-1]))
    save("trials", out)
    save("walls", walls)
    agent("db1", exec_req("kill " + " ".join(map(str, out["pids"]))))
    log("killed the %d processes in db1" % n)


def cpu_now(keys):
    """CPU seconds so far of the processes named by `keys` (environment variables holding pids);
    QEMU_VCPU: db1's QEMU's vCPU threads."""
    return {k: vcpu_s(int(E["QEMU_PID"])) if k == "QEMU_VCPU" else cpu_s(int(E[k])) for k in keys}


def window_on(seconds):
    """hostmon polling: PollCost of both VMs, hostmon, libvirtd and db1's QEMU CPU over `seconds`.
    Nothing else asks hostmon anything meanwhile (its control API would count as its CPU)."""
    keys = ("HM_PID", "QEMU_PID", "QEMU_VCPU", "LIBVIRTD_PID")
    c0 = {vm: cost(guest(vm)) for vm in VMS}
    cpu0, w0 = cpu_now(keys), time.time()
    time.sleep(seconds)
    cpu1, w1 = cpu_now(keys), time.time()
    c1 = {vm: cost(guest(vm)) for vm in VMS}
    save("on", {"c0": c0, "c1": c1, "cpu0": cpu0, "cpu1": cpu1, "s": w1 - w0})
    bad = {vm + " " + k: c1[vm][k][1] - c0[vm][k][1] for vm in VMS for k in KINDS if c1[vm][k][1] != c0[vm][k][1]}
    none = [vm + " " + k for vm in VMS for k in KINDS if c1[vm][k][0] == c0[vm][k][0]]
    if bad or none:
        log("correctness invariant violated: polls failed %s, or none made: %s" % (bad, none))
        for vm in VMS:
            g = guest(vm)
            log("%s: agent %s, memory %s" % (vm, g.get("agent_status"), g.get("memory_status")))
        sys.exit(1)
    log("polling window: %.1f s, hostmon %.2f s CPU, db1's QEMU %.2f s CPU (vCPU %.2f s)"
        % (w1 - w0, cpu1["HM_PID"] - cpu0["HM_PID"], cpu1["QEMU_PID"] - cpu0["QEMU_PID"],
           cpu1["QEMU_VCPU"] - cpu0["QEMU_VCPU"]))


def window_off(seconds):
    """hostmon stopped: db1's QEMU and libvirtd CPU over `seconds`."""
    keys = ("QEMU_PID", "QEMU_VCPU", "LIBVIRTD_PID")
    cpu0, w0 = cpu_now(keys), time.time()
    time.sleep(seconds)
    cpu1, w1 = cpu_now(keys), time.time()
    save("off", {"cpu0": cpu0, "cpu1": cpu1, "s": w1 - w0})
    log("quiet window: %.1f s, db1's QEMU %.2f s CPU (vCPU %.2f s)"
        % (w1 - w0, cpu1["QEMU_PID"] - cpu0["QEMU_PID"], cpu1["QEMU_VCPU"] - cpu0["QEMU_VCPU"]))


def pct(xs, p):
    """Nearest-rank percentile."""
    xs = sorted(xs)
    return xs[max(0, math.ceil(p / 100.0 * len(xs)) - 1)]


def report():
    t, on, off, walls = load("trials"), load("on"), load("off"), load("walls")
    lat, stamp, start, flag = t["latency_ms"], t["stamp_ms"], t["start_ms"], t["flag_ms"]
    n = len(lat)
    med, p99 = statistics.median(lat), pct(lat, 99)
    share = lambda k, w: (w["cpu1"][k] - w["cpu0"][k]) / w["s"] * 100  # % of one core
    win = on["s"]

    polls, cpu_ms = {}, {}
    for k in KINDS:
        polls[k] = sum(on["c1"][vm][k][0] - on["c0"][vm][k][0] for vm in VMS)
        cpu_ms[k] = sum(on["c1"][vm][k][2] - on["c0"][vm][k][2] for vm in VMS) / 1000.0
    per_poll = {k: cpu_ms[k] / polls[k] for k in KINDS}
    all_polls = sum(polls.values())
    hm_s = on["cpu1"]["HM_PID"] - on["cpu0"]["HM_PID"]
    hm_pct = share("HM_PID", on)
    proc_per_poll = hm_s * 1000 / all_polls
    thread_per_poll = sum(cpu_ms.values()) / all_polls
    guest_on, guest_off = share("QEMU_PID", on), share("QEMU_PID", off)
    vcpu = share("QEMU_VCPU", on) - share("QEMU_VCPU", off)
    db1_polls = on["c1"]["db1"]["agent_cost"][0] - on["c0"]["db1"]["agent_cost"][0]
    qemu_ms_per_poll = (guest_on - guest_off) / 100 * win * 1000 / db1_polls
    lv_on, lv_off = share("LIBVIRTD_PID", on), share("LIBVIRTD_PID", off)
    wall = {k: [ms for key, seen in walls.items() if key.endswith(k) for ms in seen.values()] for k in KINDS}
    per_s = lambda k: polls[k] / win / len(VMS)

    results = [
        {"name": "hostmon.process_latency_median_ms", "value": round(med), "unit": "ms", "ceiling": 2000,
         "ratio": round(med / 2000, 3), "spread": [round(min(lat)), round(max(lat))],
         "start_call_ms": round(statistics.median(start)), "hostmon_stamp_ms": round(statistics.median(stamp)),
         "case": "process started in a TCG guest (one guest-exec, host clock read before it) until it is in "
                 "`goldgatectl vm show`'s process list, asked every 25 ms; median of %d trials at random phases; "
                 "the start call itself median %.0f ms (max %.0f), hostmon's own stamp of that list median %.0f ms; "
                 "agent poll every 2,000 ms, 2 VMs; ceiling: the 2 s target, lower is better"
                 % (n, statistics.median(start), max(start), statistics.median(stamp))},
        {"name": "hostmon.process_latency_p99_ms", "value": round(p99), "unit": "ms", "ceiling": 2000,
         "ratio": round(p99 / 2000, 3), "spread": [round(min(lat)), round(max(lat))],
         "hostmon_stamp_ms": round(pct(stamp, 99)),
         "case": "the same, 99th percentile (nearest rank) of %d trials; ceiling: the 2 s target, lower is better" % n},
        {"name": "hostmon.redflag_latency_median_ms", "value": round(statistics.median(flag)), "unit": "ms", "ceiling": 2000,
         "ratio": round(statistics.median(flag) / 2000, 3), "spread": [round(min(flag)), round(max(flag))],
         "case": "the same trials: an executable db1's signed manifest does not declare (a copy of busybox per trial) "
                 "until hostmon's attest.unknown_executable red flag (the alert's own time); median of %d trials; "
                 "ceiling: the 2 s target, lower is better" % n},
        {"name": "hostmon.redflag_latency_p99_ms", "value": round(pct(flag, 99)), "unit": "ms", "ceiling": 2000,
         "ratio": round(pct(flag, 99) / 2000, 3),
         "case": "the same, 99th percentile (nearest rank) of %d trials" % n},
        {"name": "hostmon.cpu_per_poll_agent_ms", "value": round(per_poll["agent_cost"], 2), "unit": "ms CPU per VM per poll",
         "ceiling": 2000, "ratio": round(per_poll["agent_cost"] / 2000, 5), "polls": polls["agent_cost"],
         "case": "hostmon's agent-poll thread (getrusage) per VM per poll, %d polls of 2 VMs in %.0f s; "
                 "ceiling: the 2,000 ms interval, so the ratio is a share of one core per VM" % (polls["agent_cost"], win)},
        {"name": "hostmon.cpu_per_poll_memory_ms", "value": round(per_poll["memory_cost"], 2), "unit": "ms CPU per VM per poll",
         "ceiling": 2000, "ratio": round(per_poll["memory_cost"] / 2000, 5), "polls": polls["memory_cost"],
         "case": "hostmon's memory-poll thread (a full introspection pass: task and module lists, tables, 14 MiB of "
                 "kernel text hashed, read with process_vm_readv) per VM per poll, %d polls in %.0f s; ceiling: the "
                 "2,000 ms interval (share of one core per VM)" % (polls["memory_cost"], win)},
        {"name": "hostmon.cpu_per_poll_process_ms", "value": round(proc_per_poll, 2), "unit": "ms CPU per poll",
         "ceiling": round(thread_per_poll, 2), "ratio": round(proc_per_poll / thread_per_poll, 2),
         "case": "cross-check: hostmon's whole process (/proc/PID/stat) over %.0f s / the %d polls of any kind in it; "
                 "ceiling: the polling threads' own CPU per poll, ratio = process / threads (the rest: event loop, "
                 "switch push, control API)" % (win, all_polls)},
        {"name": "hostmon.process_cpu_pct", "value": round(hm_pct, 2), "unit": "% of a core", "ceiling": 100,
         "ratio": round(hm_pct / 100, 4),
         "case": "goldgate-hostmon's whole process over %.0f s, 2 VMs at the default intervals (%.2f agent and %.2f "
                 "memory polls per VM per second); %.2f %% per VM" % (win, per_s("agent_cost"), per_s("memory_cost"), hm_pct / 2)},
        {"name": "hostmon.libvirtd_cpu_pct", "value": round(lv_on - lv_off, 2), "unit": "% of a core", "ceiling": 100,
         "ratio": round((lv_on - lv_off) / 100, 4),
         "case": "libvirtd relaying the polls of 2 VMs: %.2f %% with hostmon polling minus %.2f %% with it stopped"
                 % (lv_on, lv_off)},
        {"name": "hostmon.guest_cpu_pct", "value": round(guest_on - guest_off, 2), "unit": "% of a core", "ceiling": 5,
         "ratio": round((guest_on - guest_off) / 5, 3), "vcpu_pct": round(vcpu, 2),
         "qemu_other_pct": round(guest_on - guest_off - vcpu, 2), "qemu_ms_per_agent_poll": round(qemu_ms_per_poll),
         "case": "db1's QEMU with hostmon polling (%.2f %%) minus with hostmon stopped (%.2f %%), %.0f s each, idle "
                 "guest: %.2f %% in the vCPU thread (the probe, emulated: TCG emulates every guest instruction, so a "
                 "KVM guest pays far less), %.2f %% in QEMU's other threads (agent channel, memory reads); %.0f ms "
                 "of QEMU CPU per agent poll (%d polls; the memory polls counted in); ceiling: 'no more than a few percent'"
                 % (guest_on, guest_off, win, vcpu, guest_on - guest_off - vcpu, qemu_ms_per_poll, db1_polls)},
        {"name": "hostmon.agent_poll_wall_ms", "value": round(statistics.median(wall["agent_cost"])), "unit": "ms",
         "ceiling": 2000, "ratio": round(statistics.median(wall["agent_cost"]) / 2000, 3),
         "spread": [min(wall["agent_cost"]), max(wall["agent_cost"])],
         "case": "wall time of one agent poll (3 agent commands + the probe script) through libvirtd, median of %d "
                 "polls; ceiling: the 2,000 ms interval" % len(wall["agent_cost"])},
        {"name": "hostmon.memory_poll_wall_ms", "value": round(statistics.median(wall["memory_cost"])), "unit": "ms",
         "ceiling": 2000, "ratio": round(statistics.median(wall["memory_cost"]) / 2000, 3),
         "spread": [min(wall["memory_cost"]), max(wall["memory_cost"])],
         "case": "wall time of one memory pass, median of %d polls; ceiling: the 2,000 ms interval"
                 % len(wall["memory_cost"])},
        {"name": "hostmon.restart_to_observed_s", "value": float(E["RESTART_S"]), "unit": "s", "ceiling": 2,
         "ratio": round(float(E["RESTART_S"]) / 2, 2),
         "case": "hostmon restarted under running guests until it lists their processes again: a restarted hostmon "
                 "learns that an agent is connected only from libvirt's agent event, which it does not get for a "
                 "channel already connected, so the first agent poll waits collect.agent_boot_grace_s (60 s); "
                 "ceiling: the 2 s target, which a process started in that gap misses"},
    ]
    sys.path.insert(0, E["BENCH"])
    from run import merge_results
    merge_results(E["BUILD"], results, width=34)


phase = sys.argv[1]
if phase == "observed":
    gone = tuple(load("trials", {}).get("tags", []))
    sys.exit(0 if observed(float(sys.argv[2]), gone) else 1)
{"trials": lambda: trials(int(sys.argv[2])), "window-on": lambda: window_on(float(sys.argv[2])),
 "window-off": lambda: window_off(float(sys.argv[2])), "report": report}[phase]()
PY
measure() {
  /usr/bin/python3 -c "$measure_py" "$@" &
  py_pid=$!
  wait "$py_pid"
  local rc=$?
  py_pid=""
  return "$rc"
}

# The switch first: QEMU (mode='server') waits for it before it runs the guest.
vm_write_switch_config "$work"
gg_switch_start "$work" "$bin" >/dev/null || fail "the switch did not start"
vm_libvirtd_start 60 || fail "libvirtd did not start"
# vm_lib's hostmon config with the e2e test's faster switch push and keepalive put back to the
# defaults, so that hostmon's own CPU is what a default install spends.
vm_write_hostmon_config "$work" 2000 2000
sed -i -e 's/interval_ms: 500}/interval_ms: 1000}/' -e 's/interval_s: 1,/interval_s: 5,/' "$work/hostmon.yaml"
grep -q 'interval_ms: 1000}' "$work/hostmon.yaml" && grep -q 'interval_s: 5,' "$work/hostmon.yaml" ||
  fail "vm_write_hostmon_config's output changed; cannot set the default intervals"
# db1's birth certificate: busybox and the agent; every other executable is a red flag (alert).
mkdir -p "$work/manifests"
"$bin/cli/goldgatectl" manifest keygen --out "$work/signer" >/dev/null || fail "manifest keygen failed"
cat > "$work/manifests/db.yaml" <<'YAML'
schema: 1
app: bench-db
version: 1
expires: 2099-01-01
applies_to: {vms: [db1]}
executables:
  - path: /bin/busybox
  - path: /usr/sbin/qemu-ga
kernel: {modules: any}
responses: {default: alert}
YAML
"$bin/cli/goldgatectl" manifest sign --key "$work/signer" "$work/manifests/db.yaml" >/dev/null || fail "manifest sign failed"
cat >> "$work/hostmon.yaml" <<YAML
attest: {manifests: $work/manifests, keys: [$work/signer.pub], reload_interval_ms: 1000}
YAML
hostmon_start
t0=$EPOCHREALTIME
vm_start web1 52:54:00:67:00:01 "$work/web1.sock" 10.0.0.1/24 shop frontend
vm_start db1 52:54:00:67:00:02 "$work/db1.sock" 10.0.0.2/24 shop backend
log "booting web1 and db1 (TCG); hostmon: agent poll and memory pass every 2,000 ms (the defaults)"
vm_wait_agent web1 120 && vm_wait_agent db1 120 || fail "the guests did not come up"
log "both agents answer after $(vm_since "$t0") s"

export WORK="$work" CTL="$bin/cli/goldgatectl" HM_SOCK="$work/hostmon.sock" VM_URI BENCH="$here" BUILD="$bin"
export QEMU_PID LIBVIRTD_PID="$VM_LIBVIRTD_PID" HM_PID
QEMU_PID=$(vm_qemu_pid db1)
[ -n "$QEMU_PID" ] || fail "no QEMU pid for db1"
measure observed 90 || fail "hostmon did not observe both guests' processes within 90 s"
log "hostmon observes both guests; $trials trials of process start -> observation in db1"
measure trials "$trials" || fail "the trials failed"

HM_PID=$hm_pid
log "${window} s with hostmon polling (guests idle)"
measure window-on "$window" || fail "the polling window failed"
stop_pid "$hm_pid"
hm_pid=""
sleep 2   # a probe script hostmon had started in a guest ends
log "${window} s with hostmon stopped"
measure window-off "$window" || fail "the quiet window failed"
t_restart=$EPOCHREALTIME
hostmon_start
measure observed 120 ||
  fail "correctness invariant violated: restarted hostmon does not list both guests' processes, without the killed ones"
RESTART_S=$(vm_since "$t_restart")
export RESTART_S
log "hostmon restarted: it lists both guests' processes again, without the killed ones, after $RESTART_S s"
measure report || fail "the report failed"
