#!/usr/bin/python3
"""What watching the switch costs: the established-flow case (23,000 rules + conntrack, 10,000
flows, pcap replay on one worker) with Prometheus-style scrapes of /metrics every second and a
`goldgatectl trace --capture` armed on another port the whole time, against the same case without
them. Runs alternate (with, without, ...) so drift hits both alike; the ratio of median rates is
the figure (target >= 0.98). Every run checks the case's invariants (no drops, every flow tracked,
every packet forwarded) and that the watched runs were really watched (scrapes answered, the
capture still armed at the end).

Writes into BUILD/bench/results.json (observe_*). Usage: observe.py BUILD_DIR [--repeats N]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import run as bench  # noqa: E402

TARGET = 0.98


def one_run(binary, ctl, cfg, sock, watched, warmup, duration):
    stats = cfg + ".stats.json"
    err = open(cfg + ".err", "w+")
    p = subprocess.Popen([binary, "-c", cfg, "--stats-json", stats, "--warmup", str(warmup), "--duration", str(duration)],
                         stdout=subprocess.DEVNULL, stderr=err)
    scrapes, tracer, done = [0], None, threading.Event()
    armed = [False]  # the capture was running at the last scrape the switch answered
    if watched:
        url = None
        deadline = time.monotonic() + 30
        while url is None and time.monotonic() < deadline and p.poll() is None:
            err.seek(0)
            m = re.search(r"metrics on (http://\S+)", err.read())
            url = m.group(1) if m else None
            time.sleep(0.05)
        bench.invariant(url is not None, "the switch did not say where its metrics are")
        while subprocess.run([ctl, "-s", sock, "status"], capture_output=True).returncode != 0:
            time.sleep(0.05)
        # A capture on the idle port: armed for the whole run, it records nothing.
        tracer = subprocess.Popen([ctl, "-s", sock, "trace", "--capture", "idle", "-n", "64", "--timeout", "600"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)

        def scrape():
            while not done.is_set():
                try:
                    with urllib.request.urlopen(url, timeout=5) as r:
                        if b"goldgate_switch_packets_total" in r.read():
                            scrapes[0] += 1
                            armed[0] = tracer.poll() is None
                except OSError:
                    pass
                done.wait(1.0)
        t = threading.Thread(target=scrape, daemon=True)
        t.start()
    rc = p.wait(timeout=300)
    done.set()
    if tracer:
        tracer.kill()
        tracer.wait()
        bench.invariant(armed[0], "the trace capture ended before the run did: %s" % tracer.stderr.read())
        bench.invariant(scrapes[0] >= duration, "%d scrapes answered in a %.0f s run" % (scrapes[0], duration))
    err.seek(0)
    bench.invariant(rc == 0, "goldgate-switch failed (%d): %s" % (rc, err.read()))
    s = json.load(open(stats))
    bad = {k: v for k, v in s["drops"].items() if v}
    bench.invariant(not bad, "drops %s" % bad)
    bench.invariant(s["flows_active"] == bench.FLOWS, "%d flows tracked, want %d" % (s["flows_active"], bench.FLOWS))
    bench.invariant(s["tx_packets"] >= s["packets"] * 0.999, "forwarded %d of %d" % (s["tx_packets"], s["packets"]))
    return s, scrapes[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--duration", type=float, default=6.0)
    ap.add_argument("--warmup", type=float, default=1.5)
    args = ap.parse_args()
    # The watchers (this script's scraper, goldgatectl) stay on the housekeeping core, as an
    # operator's agents would; the switch's worker is pinned to core 1 (-l 1) and its other threads
    # keep off it by themselves.
    os.sched_setaffinity(0, {0})
    build = os.path.abspath(args.build)
    binary = os.path.join(build, "dataplane", "goldgate-switch")
    ctl = os.path.join(build, "cli", "goldgatectl")
    work = tempfile.mkdtemp(prefix="gg-observe-")
    gen = [sys.executable, os.path.join(bench.HERE, "gen.py")]
    subprocess.run(gen + ["traffic", work, str(bench.FLOWS)], check=True)
    rules = os.path.join(work, "rules23000")
    os.makedirs(rules)
    subprocess.run(gen + ["rules", rules, "23000"], check=True)
    fwd, rev = os.path.join(work, "fwd.pcap"), os.path.join(work, "rev.pcap")
    empty = os.path.join(work, "empty.pcap")
    with open(empty, "wb") as f:
        f.write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    vm = '{name: web, devargs: "net_pcap0,rx_pcap=%s,infinite_rx=1", vm: web1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}' % fwd
    up = '{name: uplink, devargs: "net_pcap1,rx_pcap=%s,infinite_rx=1", role: uplink}' % rev
    idle = '{name: idle, devargs: "net_pcap2,rx_pcap=%s", vm: idle1, mac: "02:00:00:00:00:09", ips: [10.0.9.9]}' % empty
    plain, watched = [], []
    with bench.Hugepages(bench.HUGEPAGES) as huge:
        for r in range(args.repeats):
            for mode in ("plain", "watched"):
                cfg = bench.switch_config(work, "observe-" + mode, huge.mount, [vm, up, idle], rules, 65536)
                with open(cfg, "a") as f:
                    f.write('metrics: {listen: "%s"}\n' % ("127.0.0.1:0" if mode == "watched" else "off"))
                sock = os.path.join(work, "observe-%s.sock" % mode)
                s, n = one_run(binary, ctl, cfg, sock, mode == "watched", args.warmup, args.duration)
                (watched if mode == "watched" else plain).append(s)
                bench.log("  observe %-8s run %d: %.2f Mpps, %.1f cycles/packet%s" %
                          (mode, r + 1, s["rx_mpps"], s["cycles_per_packet"],
                           ", %d scrapes, capture armed" % n if mode == "watched" else ""))
    p, plo, phi = bench.median_spread([s["rx_mpps"] for s in plain])
    w, wlo, whi = bench.median_spread([s["rx_mpps"] for s in watched])
    pc, _, _ = bench.median_spread([s["cycles_per_packet"] for s in plain])
    wc, _, _ = bench.median_spread([s["cycles_per_packet"] for s in watched])
    case = "23,000 rules + conntrack, established flows, one worker"
    results = [
        {"name": "observe_plain_mpps", "value": round(p, 3), "unit": "Mpps", "ceiling": round(p, 3), "ratio": 1.0,
         "spread": [round(plo, 3), round(phi, 3)], "case": case + ", metrics off, no trace"},
        {"name": "observe_watched_mpps", "value": round(w, 3), "unit": "Mpps", "ceiling": round(p, 3),
         "ratio": round(w / p, 3), "spread": [round(wlo, 3), round(whi, 3)],
         "case": case + ", /metrics scraped every second, a trace capture armed on another port"},
        {"name": "observe_cycles_per_packet", "value": round(wc, 1), "unit": "cycles/packet", "ceiling": round(pc, 1),
         "ratio": round(wc / pc, 3), "case": "watched against plain"},
        {"name": "target_observe_ratio", "value": round(w / p, 3), "unit": "ratio", "ceiling": TARGET,
         "ratio": round((w / p) / TARGET, 3), "case": "target: watched / plain >= 0.98"},
    ]
    bench.merge_results(build, results, width=26)
    bench.log("target watched / plain >= %.2f: %s (%.3f)" % (TARGET, "met" if w / p >= TARGET else "NOT met", w / p))


if __name__ == "__main__":
    main()
