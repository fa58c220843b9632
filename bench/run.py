#!/usr/bin/python3
"""goldgate-switch benchmark: the real switch binary on pcap replay, with hugepages, next to the
I/O ceiling (dpdk-testpmd io forwarding over the same devices) measured in the same run.

Writes BUILD/bench/results.json: a list of {"name", "value", "unit", "ceiling", "ratio"} and prints
a table. Each case runs REPEATS times; the median is reported with the spread (min-max).
Every run checks a correctness invariant (all flows tracked, no drops, every packet forwarded) and
the benchmark fails if one does not hold.

Usage: run.py BUILD_DIR [--repeats N] [--duration S] [--warmup S] [--quick]
"""
import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

import ovs as ovs_mod

HERE = os.path.dirname(os.path.abspath(__file__))
FLOWS = 10000
NEW_FLOWS = 100000
HUGEPAGES = 1024           # 2 MiB pages: 2 GiB, enough for the largest case with room to spare
SOCKET_MEM = 1536
TARGET_CYCLES_23K = 190    # the target: cycles per packet, all-in, 23,000 rules + conntrack
TARGET_NEW_FLOWS = 2.0     # million new flows per second per core


def log(msg):
    print(msg, flush=True)


class Hugepages:
    """Reserves 2 MiB hugepages and mounts a hugetlbfs of our own; restores both afterwards."""

    def __init__(self, pages):
        self.pages = pages
        self.mount = tempfile.mkdtemp(prefix="gg-huge-")
        self.path = "/proc/sys/vm/nr_hugepages"

    def __enter__(self):
        self.before = int(open(self.path).read())
        with open(self.path, "w") as f:
            f.write(str(self.before + self.pages))
        got = int(open(self.path).read()) - self.before
        if got < self.pages * 3 // 4:
            self.__exit__()
            sys.exit("bench: could reserve only %d of %d hugepages (memory fragmented?)" % (got, self.pages))
        subprocess.run(["mount", "-t", "hugetlbfs", "-o", "pagesize=2M", "nodev", self.mount], check=True)
        log("hugepages: %d x 2 MiB reserved, mounted at %s" % (got, self.mount))
        return self

    def __exit__(self, *exc):
        subprocess.run(["umount", self.mount], stderr=subprocess.DEVNULL)
        os.rmdir(self.mount)
        with open(self.path, "w") as f:
            f.write(str(self.before))
        log("hugepages: released (nr_hugepages back to %d)" % self.before)


def eal(huge, prefix, lcores):
    return ["-l", lcores, "--huge-dir", huge, "--socket-mem", str(SOCKET_MEM), "--file-prefix", prefix,
            "--no-pci", "--no-telemetry", "--log-level", "*:warning"]


def testpmd(huge, work, fwd, rev, warmup, duration):
    """The I/O ceiling: testpmd io forwarding between the same two pcap devices, one forwarding core.
    Interactive mode: "show port stats" after warm-up and again after `duration`; the second one's
    Rx-pps is the average over exactly that interval."""
    cmd = ["dpdk-testpmd"] + eal(huge, "ggtp", "0,1") + [
        "--vdev", "net_pcap0,rx_pcap=%s,infinite_rx=1" % fwd, "--vdev", "net_pcap1,rx_pcap=%s,infinite_rx=1" % rev,
        "--", "-i", "--forward-mode=io", "--nb-cores=1", "--total-num-mbufs=65536", "--auto-start"]
    out = open(os.path.join(work, "testpmd.log"), "w+")
    p = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.PIPE, text=True)
    time.sleep(warmup + 1)
    p.stdin.write("show port stats all\n")
    p.stdin.flush()
    time.sleep(duration)
    p.stdin.write("show port stats all\n")
    p.stdin.flush()
    time.sleep(0.5)
    p.stdin.write("quit\n")
    p.stdin.flush()
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()
    out.seek(0)
    pps = [int(x) for x in re.findall(r"Rx-pps:\s+(\d+)", out.read())]
    if len(pps) < 4:
        sys.exit("bench: testpmd gave no statistics; see %s/testpmd.log" % work)
    return (pps[-1] + pps[-2]) / 1e6


def switch_config(work, name, huge, ports, segments_dir, flow_table, mode="secure", mbufs=65535):
    path = os.path.join(work, name + ".yaml")
    with open(path, "w") as f:
        f.write("mode: %s\n" % mode)
        f.write("eal: %s\n" % json.dumps(eal(huge, "ggsw-" + name, "1")))
        f.write("mbufs: %d\nflow_table: {size: %d}\nsegments_dir: %s\n" % (mbufs, flow_table, segments_dir))
        f.write("control: {socket: %s/%s.sock}\nalerts: {file: %s/%s-alerts.jsonl}\n" % (work, name, work, name))
        f.write("quarantine_file: %s/%s-quarantine\nports:\n" % (work, name))
        for p in ports:
            f.write("  - %s\n" % p)
    return path


def run_switch(binary, config, args):
    stats = config + ".stats.json"
    cmd = [binary, "-c", config, "--stats-json", stats] + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        sys.exit("bench: goldgate-switch failed (%d):\n%s" % (p.returncode, p.stderr))
    return json.load(open(stats))


def merge_results(build, results, width=28):
    """Writes `results` into BUILD/bench/results.json, replacing entries of the same name, and
    prints them as a table."""
    out = os.path.join(build, "bench", "results.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    old = json.load(open(out)) if os.path.exists(out) else []
    names = {r["name"] for r in results}
    with open(out, "w") as f:
        json.dump([r for r in old if r["name"] not in names] + results, f, indent=2)
    log("")
    for r in results:
        log("%-*s %10s %10s %8s  %s  (%s)" % (width, r["name"], r["value"], r["ceiling"], r["ratio"], r["unit"], r["case"]))
    log("results: %s" % out)


def invariant(ok, what):
    if not ok:
        sys.exit("bench: correctness invariant violated: " + what)


def plot(results, ours, peer, path):
    """Mpps per case for both systems, with the testpmd I/O ceiling of the same run as a line."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        log("plot: matplotlib not installed (python3-matplotlib); no %s" % path)
        return
    ceiling = next(r for r in results if r["name"] == "ceiling_testpmd_io")["value"]
    keys = [k for k in ("l2", "ct", "acl100_ct", "acl23k_ct") if k in ours]
    labels = {"l2": "forwarding", "ct": "conntrack", "acl100_ct": "ct + 100 rules", "acl23k_ct": "ct + 23,000 rules"}
    fig, ax = plt.subplots(figsize=(8, 4.5))
    xs = range(len(keys))
    w = 0.38 if peer else 0.6
    g = [ours[k][0] for k in keys]
    ax.bar([x - (w / 2 if peer else 0) for x in xs], g, w, color="#d4a017", label="goldgate-switch")
    for x, v in zip(xs, g):
        ax.text(x - (w / 2 if peer else 0), v, "%.1f" % v, ha="center", va="bottom", fontsize=8)
    if peer:
        p = [peer.get(k, (0, 0))[0] for k in keys]
        ax.bar([x + w / 2 for x in xs], p, w, color="#4a6fa5", label="Open vSwitch 3.1 (DPDK)")
        for x, v in zip(xs, p):
            ax.text(x + w / 2, v, "%.1f" % v, ha="center", va="bottom", fontsize=8)
    ax.axhline(ceiling, color="red", linestyle="--", label="testpmd io ceiling %.1f Mpps" % ceiling)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([labels[k] for k in keys])
    ax.set_ylabel("Mpps, one core, 64 B UDP")
    ax.set_title("10,000 two-way flows, pcap replay, hugepages, same run")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    log("plot: %s" % path)


def ovs_policy(case, work):
    """OpenFlow rules for one case; ACLs come from the same generated description as our rules."""
    fwd_only = ["table=0,priority=10,ip,in_port=1,nw_dst=198.18.0.0/15,actions=output:2",
                "table=0,priority=10,ip,in_port=2,nw_dst=10.0.0.1,actions=output:1"]
    ct = ["table=0,priority=10,ip,actions=ct(table=1,zone=1)",
          "table=1,priority=10,ct_state=+trk+est,ip,in_port=1,actions=output:2",
          "table=1,priority=10,ct_state=+trk+est,ip,in_port=2,actions=output:1"]
    if case == "fwd":
        return fwd_only
    rules = {"ct": "rules1", "acl100": "rules100", "acl23k": "rules23000"}[case]
    acl = [l.strip() for l in open(os.path.join(work, rules, "acl.flows")) if l.strip()]
    return ct + acl


def run_ovs(binary, work, huge, fwd, rev, new, empty, args, ours, results, ceiling, hz):
    """Runs every case on Open vSwitch, and the file-replay new-connection case on both systems."""
    peer = {}
    o = ovs_mod.Ovs(work, huge)
    try:
        log("ovs: starting ovsdb-server and ovs-vswitchd-dpdk (PMD on core 1)")
        o.start(["net_pcap0,rx_pcap=%s,infinite_rx=1" % fwd, "net_pcap1,rx_pcap=%s,infinite_rx=1" % rev])
        pairs = [("fwd", "l2", "forwarding through a real lookup"), ("ct", "ct", "conntrack only"),
                 ("acl100", "acl100_ct", "conntrack + 100 ACL rules on new connections"),
                 ("acl23k", "acl23k_ct", "conntrack + 23,000 ACL rules on new connections")]
        for case, mine, title in pairs:
            o.set_flows(ovs_policy(case, work))
            runs = []
            for r in range(args.repeats):
                o.appctl("dpctl/flush-conntrack")
                mpps, cycles, _ = o.measure(args.warmup, args.duration)
                runs.append((mpps, cycles))
                log("  ovs %-7s run %d: %.2f Mpps, %.0f cycles/packet" % (case, r + 1, mpps, cycles))
            mpps, lo, hi = median_spread([m for m, _ in runs])
            cyc, _, _ = median_spread([c for _, c in runs])
            invariant(mpps > 0, "ovs %s forwarded nothing: see %s/ovs/vswitchd.log" % (case, work))
            peer[mine] = (mpps, cyc)
            results.append({"name": "ovs_%s_mpps" % case, "value": round(mpps, 3), "unit": "Mpps",
                            "ceiling": round(ceiling, 3), "ratio": round(mpps / ceiling, 3),
                            "spread": [round(lo, 3), round(hi, 3)], "case": "Open vSwitch: " + title})
            results.append({"name": "ovs_%s_cycles_per_packet" % case, "value": round(cyc, 1),
                            "unit": "cycles/packet (pmd-stats-show)", "ceiling": round(hz / (ceiling * 1e6), 1),
                            "ratio": round(cyc / (hz / (ceiling * 1e6)), 2), "case": "Open vSwitch: " + title})
            gm, gc = ours[mine]
            results.append({"name": "goldgate_vs_ovs_%s_mpps" % case, "value": round(gm, 3), "unit": "Mpps",
                            "ceiling": round(mpps, 3), "ratio": round(gm / mpps, 2),
                            "case": "Goldgate %s / Open vSwitch %s: ratio = how many times OVS's Mpps" % (mine, case)})
        # New connections: both systems replay the same 100,000-flow capture once from the file.
        o.vsctl("del-port", "br0", "p0", "--", "del-port", "br0", "p1")
        o.set_flows(ovs_policy("acl23k", work))
        o.appctl("dpif-netdev/pmd-stats-clear")
        o.vsctl("add-port", "br0", "p0", "--", "set", "Interface", "p0", "type=dpdk",
                "options:dpdk-devargs=net_pcap2,rx_pcap=%s" % new, "ofport_request=1",
                "--", "add-port", "br0", "p1", "--", "set", "Interface", "p1", "type=dpdk",
                "options:dpdk-devargs=net_pcap3,rx_pcap=%s" % empty, "ofport_request=2")
        time.sleep(3)
        stats = o.appctl("dpif-netdev/pmd-stats-show")
        m = re.search(r"avg processing cycles per packet:\s*([\d.]+)", stats)
        ovs_new = float(m.group(1)) if m else float("nan")
        log("  ovs newconn: %.0f cycles/packet (100,000 new connections from the file)" % ovs_new)
    finally:
        o.stop()
    vm = '{name: web, devargs: "net_pcap0,rx_pcap=%s", vm: web1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}'
    up = '{name: uplink, devargs: "net_pcap1,rx_pcap=%s", role: uplink}'
    cfg = switch_config(work, "newconn_file", huge, [vm % new, up % empty], os.path.join(work, "rules23000"),
                        1 << 18, mbufs=65535)
    s = run_switch(binary, cfg, ["--exit-when-drained"])
    invariant(s["flows_created"] == NEW_FLOWS, "newconn_file: created %d flows" % s["flows_created"])
    gg_new = s["cycles_per_packet"]
    log("  goldgate newconn: %.0f cycles/packet (same file)" % gg_new)
    peer["newconn"] = (hz / ovs_new / 1e6, ovs_new)
    results.append({"name": "ovs_new_connections_cycles_per_packet", "value": round(ovs_new, 1), "unit": "cycles/packet",
                    "ceiling": round(gg_new, 1), "ratio": round(ovs_new / gg_new, 2),
                    "case": "100,000 new connections replayed once from a file, 23,000 rules; ceiling: Goldgate's "
                            "cycles on the same file, ratio = OVS cycles / Goldgate cycles"})
    results.append({"name": "goldgate_new_connections_cycles_per_packet", "value": round(gg_new, 1),
                    "unit": "cycles/packet", "ceiling": round(ovs_new, 1), "ratio": round(gg_new / ovs_new, 3),
                    "case": "the same file through goldgate-switch; ceiling: OVS's cycles"})
    return peer


def median_spread(values):
    return statistics.median(values), min(values), max(values)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=4.0)
    ap.add_argument("--warmup", type=float, default=1.5)
    ap.add_argument("--no-ovs", action="store_true", help="skip the Open vSwitch side-by-side runs")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another goldgate-switch (an earlier build) run alternately with this one in every case "
                         "(a change's before and after, measured in the same run)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    binary = os.path.join(build, "dataplane", "goldgate-switch")
    outdir = os.path.join(build, "bench")
    os.makedirs(outdir, exist_ok=True)
    work = tempfile.mkdtemp(prefix="gg-bench-")
    gen = [sys.executable, os.path.join(HERE, "gen.py")]
    subprocess.run(gen + ["traffic", work, str(FLOWS)], check=True)
    subprocess.run(gen + ["newflows", work, str(NEW_FLOWS)], check=True)
    fwd, rev, new = (os.path.join(work, f) for f in ("fwd.pcap", "rev.pcap", "new.pcap"))
    empty = os.path.join(work, "empty.pcap")
    with open(empty, "wb") as f:  # a capture with no packets: the uplink only transmits (and drops)
        f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    for n in (1, 100, 23000):
        d = os.path.join(work, "rules%d" % n)
        os.makedirs(d)
        subprocess.run(gen + ["rules", d, str(n)], check=True)
    hz = None
    ours = {}
    peer = {}
    results = []
    table = []
    with Hugepages(HUGEPAGES) as huge:
        log("ceiling: dpdk-testpmd io forwarding, same devices, %d runs" % args.repeats)
        ceil_runs = [testpmd(huge.mount, work, fwd, rev, args.warmup, args.duration) for _ in range(args.repeats)]
        ceiling, cmin, cmax = median_spread(ceil_runs)

        vm = '{name: web, devargs: "net_pcap0,rx_pcap=%s,infinite_rx=1", vm: web1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}'
        up = '{name: uplink, devargs: "net_pcap1,rx_pcap=%s,infinite_rx=1", role: uplink}'
        cases = [
            ("l2", "L2 forwarding (parse, anti-spoofing, FDB)", "l2", os.path.join(work, "rules100")),
            ("ct", "conntrack only (one allow rule), established flows", "secure", os.path.join(work, "rules1")),
            ("acl100_ct", "100 rules + conntrack, established flows", "secure", os.path.join(work, "rules100")),
            ("acl23k_ct", "23,000 rules + conntrack, established flows", "secure", os.path.join(work, "rules23000")),
        ]
        for key, title, mode, segdir in cases:
            runs = []
            base_runs = []
            for r in range(args.repeats):
                cfg = switch_config(work, key, huge.mount, [vm % fwd, up % rev], segdir, 65536, mode)
                if args.baseline:
                    b = run_switch(args.baseline, cfg, ["--warmup", str(args.warmup), "--duration", str(args.duration)])
                    base_runs.append(b)
                    log("  %-10s run %d (baseline): %.2f Mpps, %.1f cycles/packet" % (key, r + 1, b["rx_mpps"], b["cycles_per_packet"]))
                s = run_switch(binary, cfg, ["--warmup", str(args.warmup), "--duration", str(args.duration)])
                hz = s["tsc_hz"]
                bad = {k: v for k, v in s["drops"].items() if v}
                invariant(not bad, "%s: drops %s" % (key, bad))
                invariant(s["tx_packets"] >= s["packets"] * 0.999, "%s: forwarded %d of %d" % (key, s["tx_packets"], s["packets"]))
                if mode == "secure":
                    invariant(s["flows_active"] == FLOWS, "%s: %d flows tracked, want %d" % (key, s["flows_active"], FLOWS))
                runs.append(s)
                log("  %-10s run %d: %.2f Mpps, %.1f cycles/packet" % (key, r + 1, s["rx_mpps"], s["cycles_per_packet"]))
            mpps, lo, hi = median_spread([s["rx_mpps"] for s in runs])
            cpp, clo, chi = median_spread([s["cycles_per_packet"] for s in runs])
            ceil_cpp = hz / (ceiling * 1e6)
            results.append({"name": key + "_mpps", "value": round(mpps, 3), "unit": "Mpps", "ceiling": round(ceiling, 3),
                            "ratio": round(mpps / ceiling, 3), "spread": [round(lo, 3), round(hi, 3)], "case": title})
            results.append({"name": key + "_cycles_per_packet", "value": round(cpp, 1), "unit": "cycles/packet",
                            "ceiling": round(ceil_cpp, 1), "ratio": round(cpp / ceil_cpp, 2),
                            "spread": [round(clo, 1), round(chi, 1)], "case": title})
            table.append((title, mpps, lo, hi, cpp, mpps / ceiling))
            if base_runs:
                bcpp, blo, bhi = median_spread([b["cycles_per_packet"] for b in base_runs])
                results.append({"name": key + "_cycles_per_packet_baseline", "value": round(bcpp, 1), "unit": "cycles/packet",
                                "ceiling": round(ceil_cpp, 1), "ratio": round(bcpp / ceil_cpp, 2),
                                "spread": [round(blo, 1), round(bhi, 1)], "case": title + " (baseline binary, same run)"})
                log("  %-10s this build %.1f cycles/packet [%.1f-%.1f], baseline %.1f [%.1f-%.1f]: %+.1f%%" %
                    (key, cpp, clo, chi, bcpp, blo, bhi, 100.0 * (cpp - bcpp) / bcpp))
            ours[key] = (mpps, cpp)
            if key == "acl23k_ct":
                bpf = runs[0]["bytes_per_flow"]

        # New-flow setup: one pass over NEW_FLOWS distinct flows, every packet creates a flow.
        runs = []
        for r in range(args.repeats):
            cfg = switch_config(work, "newflows", huge.mount,
                                [vm % new, up.replace(",infinite_rx=1", "") % empty], os.path.join(work, "rules23000"),
                                1 << 18, mbufs=262143)
            s = run_switch(binary, cfg, ["--max-packets", str(NEW_FLOWS), "--exit-when-drained"])
            invariant(s["flows_created"] == NEW_FLOWS, "newflows: created %d flows, want %d" % (s["flows_created"], NEW_FLOWS))
            runs.append(s)
            log("  newflows   run %d: %.2f M flows/s, %.0f cycles/packet all-in, %.0f in setup" %
                (r + 1, s["tsc_hz"] / s["cycles_per_packet"] / 1e6, s["cycles_per_packet"], s["cycles_per_new_flow"]))
        rate, rlo, rhi = median_spread([s["tsc_hz"] / s["cycles_per_packet"] / 1e6 for s in runs])
        setup, _, _ = median_spread([s["cycles_per_new_flow"] for s in runs])
        results.append({"name": "new_flow_setup_rate", "value": round(rate, 3), "unit": "M flows/s per core",
                        "ceiling": round(ceiling, 3), "ratio": round(rate / ceiling, 3), "spread": [round(rlo, 3), round(rhi, 3)],
                        "case": "every packet a new flow, 23,000 rules; ceiling: I/O Mpps"})
        results.append({"name": "new_flow_setup_cycles", "value": round(setup, 1), "unit": "cycles/flow (classify + insert)",
                        "ceiling": round(hz / (ceiling * 1e6), 1), "ratio": round(setup / (hz / (ceiling * 1e6)), 2),
                        "case": "miss path only"})
        results.append({"name": "memory_per_flow", "value": round(bpf, 1), "unit": "bytes/flow",
                        "ceiling": 256, "ratio": round(bpf / 256, 3),
                        "case": "DPDK heap of the flow tables / capacity; ceiling: a 256-byte budget"})
        # The same policies in Open vSwitch with DPDK, same devices, same core, same run.
        if args.no_ovs:
            log("ovs: skipped (--no-ovs)")
        elif not ovs_mod.available():
            log("ovs: skipped: openvswitch-switch-dpdk is not installed (scripts/install-deps.sh bench installs it)")
        else:
            peer = run_ovs(binary, work, huge.mount, fwd, rev, new, empty, args, ours, results, ceiling, hz)

        results.append({"name": "ceiling_testpmd_io", "value": round(ceiling, 3), "unit": "Mpps", "ceiling": round(ceiling, 3),
                        "ratio": 1.0, "spread": [round(cmin, 3), round(cmax, 3)], "case": "dpdk-testpmd io forwarding"})

    cpp23 = next(r for r in results if r["name"] == "acl23k_ct_cycles_per_packet")["value"]
    results.append({"name": "target_acl23k_cycles", "value": cpp23, "unit": "cycles/packet", "ceiling": TARGET_CYCLES_23K,
                    "ratio": round(cpp23 / TARGET_CYCLES_23K, 3), "case": "target: <= 190 cycles/packet all-in"})
    results.append({"name": "target_new_flow_rate", "value": round(rate, 3), "unit": "M flows/s", "ceiling": TARGET_NEW_FLOWS,
                    "ratio": round(rate / TARGET_NEW_FLOWS, 3), "case": "target: >= 2 M new flows/s per core"})
    with open(os.path.join(outdir, "results.json"), "w") as f:
        json.dump(results, f, indent=2)
    plot(results, ours, peer, os.path.join(outdir, "results.png"))
    shutil.rmtree(work, ignore_errors=True)

    log("")
    log("%-48s %10s %10s %10s %12s" % ("case (median of %d)" % args.repeats, "value", "ceiling", "ratio", "spread"))
    for r in results:
        spread = "%s-%s" % tuple(r["spread"]) if "spread" in r else ""
        log("%-48s %10s %10s %10s %12s  %s" % (r["name"], r["value"], r["ceiling"], r["ratio"], spread, r["unit"]))
    log("")
    ok23 = cpp23 <= TARGET_CYCLES_23K
    okNew = rate >= TARGET_NEW_FLOWS
    log("target 23,000 rules + conntrack <= %d cycles/packet: %s (%.1f)" % (TARGET_CYCLES_23K, "met" if ok23 else "NOT met", cpp23))
    log("target new flows >= %.1f M/s per core: %s (%.2f)" % (TARGET_NEW_FLOWS, "met" if okNew else "NOT met", rate))
    vs = next((r for r in results if r["name"] == "goldgate_vs_ovs_acl23k_mpps"), None)
    if vs:
        log("target 23,000 rules + conntrack >= 5x Open vSwitch in the same run: %s (%.2fx)" %
            ("met" if vs["ratio"] >= 5 else "NOT met", vs["ratio"]))
    log("results: %s" % os.path.join(outdir, "results.json"))


if __name__ == "__main__":
    main()
