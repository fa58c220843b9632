#!/usr/bin/python3
"""Data-class benchmark (part of `make bench`):

1. Inspection throughput through the real switch: TCP flows of 1,400-byte segments with text
   payload (a small fraction carrying class values), all shipped classes on, one core, Gbit/s as
   a ratio to the same traffic with inspection off, in the same run. Measured from the switch's
   own busy cycles over exactly one pass of an in-memory capture (infinite_rx, --max-packets), so
   no byte is seen twice (a replayed stream would be trimmed as retransmission and cost nothing).
2. Stream state per flow direction and database compile time for all classes.
3. `goldgatectl classify` over a 1 GiB text file as a ratio to `grep -c` of one literal over it, and
   over 64 MiB of base64 and of CSV (payloads dense in the runs the classes look for).

Figures merge into BUILD/bench/results.json. Usage: datapolicy.py BUILD_DIR [--repeats N] [--gib N]
"""
import argparse
import base64
import json
import os
import random
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from run import Hugepages, HUGEPAGES, log, median_spread, merge_results, run_switch, switch_config  # noqa: E402
from gen import csum  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "tests", "datapolicy"))
from corpus import luhn_complete  # noqa: E402

FLOWS = 1000
SEGMENTS_PER_FLOW = 64
SEG = 1400
TARGET_GBPS = 10.0
TARGET_STATE = 512

WORDS = ("the order was shipped to the customer on monday and the invoice follows by mail please confirm "
         "delivery address street city postcode amount total status pending approved refund basket item "
         "quantity price discount account manager support ticket request response service update").split()


def luhn_card(rng):
    return luhn_complete("4556" + "".join(str(rng.randrange(10)) for _ in range(11)))


def text(rng, n, sensitive=0.001):
    """About n bytes of text lines; a fraction of lines carries a card number or an email address."""
    out = []
    size = 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(6, 16)))
        if rng.random() < sensitive:
            line += " card %s" % luhn_card(rng) if rng.random() < 0.5 else " contact j.doe%d@example.org" % rng.randrange(1000)
        line += " ref %d\n" % rng.randrange(10 ** 6)
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


def base64_text(rng, n):
    """About n bytes of base64 in 76-character lines, as in a MIME attachment."""
    raw = bytes(rng.getrandbits(8) for _ in range(min(n, 1 << 20) * 3 // 4))
    block = base64.encodebytes(raw)
    return (block * (n // len(block) + 1))[:n]


def csv_text(rng, n):
    """About n bytes of CSV rows: an 8-digit id, a word, an amount, a date, a reference code."""
    rows = []
    size = 0
    while size < min(n, 4 << 20):
        row = "%08d,%s,%d.%02d,2026-%02d-%02d,%s\n" % (
            rng.randrange(10 ** 8), rng.choice(WORDS), rng.randrange(10000), rng.randrange(100), rng.randrange(1, 13),
            rng.randrange(1, 29), "".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789") for _ in range(10)))
        rows.append(row)
        size += len(row)
    block = "".join(rows).encode()
    return (block * (n // len(block) + 1))[:n]


def tcp_frame(src_mac, dst_mac, src, dst, sport, dport, seq, ack, flags, window, data=b"", wscale=None):
    """An Ethernet / IPv4 / TCP frame with right checksums (the switch verifies both)."""
    opts = b"\x01\x03\x03" + bytes([wscale]) if wscale is not None else b""  # NOP, window scale
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (5 + len(opts) // 4) << 4, flags, window, 0, 0) + opts + data
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    body = pseudo + tcp + (b"\0" if len(tcp) % 2 else b"")
    tcp = tcp[:16] + struct.pack("!H", csum(body)) + tcp[18:]
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), 0, 0x4000, 64, 6, 0, src, dst)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + tcp


def write_pcaps(path, answers, rng):
    """FLOWS TCP flows, web 10.0.0.1 -> 198.18.x.y:80: all SYNs first (window scale 7), then
    SEGMENTS_PER_FLOW data segments of SEG bytes each, round-robin over flows. `answers` (the
    uplink's input): each flow's SYN-ACK and a window update from its receiver, which the TCP
    normaliser waits for before it passes data. Returns (packets in both, bytes in the web file)."""
    vm_mac, gw_mac = bytes.fromhex("020000000001"), bytes.fromhex("0200000000fe")
    vm_ip = bytes([10, 0, 0, 1])
    payload = text(rng, SEG * SEGMENTS_PER_FLOW * 4)
    total_bytes = 0

    def write(f, frame):
        f.write(struct.pack("<IIII", 0, 0, len(frame), len(frame)) + frame)

    with open(path, "wb") as f, open(answers, "wb") as g:
        for out in (f, g):
            out.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
        # The answers keep pace with the SYNs (the switch polls the web port, then the uplink): all
        # SYN-ACKs first, so each flow's comes with its SYN's burst, then the window updates, needed
        # only once a flow has sent its first 64 KiB.
        for i in range(FLOWS):
            peer = bytes([198, 18, i >> 8, i & 255])
            syn = tcp_frame(vm_mac, gw_mac, vm_ip, peer, 40000 + i, 80, 0, 0, 0x02, 65535, wscale=7)
            write(f, syn)
            total_bytes += len(syn)
            write(g, tcp_frame(gw_mac, vm_mac, peer, vm_ip, 80, 40000 + i, 0, 1, 0x12, 65535, wscale=7))
        for i in range(FLOWS):
            write(g, tcp_frame(gw_mac, vm_mac, bytes([198, 18, i >> 8, i & 255]), vm_ip, 80, 40000 + i, 1, 1, 0x10, 65535))
        for s in range(SEGMENTS_PER_FLOW):
            for i in range(FLOWS):
                off = ((i * 7919 + s) % (len(payload) // SEG - 1)) * SEG
                frame = tcp_frame(vm_mac, gw_mac, vm_ip, bytes([198, 18, i >> 8, i & 255]), 40000 + i, 80, 1 + s * SEG, 1,
                                  0x18, 65535, payload[off:off + SEG])
                write(f, frame)
                total_bytes += len(frame)
    return FLOWS * (SEGMENTS_PER_FLOW + 1) + 2 * FLOWS, total_bytes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--gib", type=float, default=1.0, help="size of the classify text file")
    ap.add_argument("--classes", help="class folder (default: the shipped classes)")
    ap.add_argument("--baseline", metavar="BINARY",
                    help="another goldgate-switch (an earlier build) run alternately with this one, inspection on "
                         "(a change's before and after, measured in the same run)")
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    binary = os.path.join(build, "dataplane", "goldgate-switch")
    ctl = os.path.join(build, "cli", "goldgatectl")
    classes = os.path.abspath(args.classes) if args.classes else os.path.join(HERE, "..", "configs", "datapolicy")
    work = tempfile.mkdtemp(prefix="gg-bench-data-")
    rng = random.Random(11)
    results = []
    try:
        # Compile time and stream state: from goldgatectl's own report (no cache: a real compile).
        runs = []
        for _ in range(args.repeats):
            p = subprocess.run([ctl, "classify", "--classes", classes, "--stats", "/dev/null"], capture_output=True, text=True)
            m = re.search(r"compiled in ([0-9.]+) s, stream state a flow direction: (\d+) bytes \(Hyperscan (\d+), scanner (\d+); "
                          r"TCP reassembly adds (\d+)\)", p.stderr)
            if not m:
                sys.exit("bench: unexpected classify --stats output: %s" % p.stderr)
            runs.append(m)
        compile_s, _, _ = median_spread([float(m.group(1)) for m in runs])
        state, hs, reasm = int(runs[0].group(2)), int(runs[0].group(3)), int(runs[0].group(5))
        results.append({"name": "datapolicy_compile_seconds", "value": round(compile_s, 3), "unit": "s", "ceiling": 1.0,
                        "ratio": round(compile_s, 3), "case": "all shipped classes into one streaming database (no cache)"})
        results.append({"name": "datapolicy_stream_state", "value": state, "unit": "bytes/flow direction",
                        "ceiling": TARGET_STATE, "ratio": round(state / TARGET_STATE, 3),
                        "case": "Hyperscan %d + scanner %d; TCP reassembly adds %d; target <= %d" % (hs, state - hs, reasm, TARGET_STATE)})

        # Through the switch, inspection on and off, same pcap, same run.
        pcap = os.path.join(work, "flows.pcap")
        answers = os.path.join(work, "answers.pcap")
        npkts, nbytes = write_pcaps(pcap, answers, rng)
        avg = nbytes / (npkts - 2 * FLOWS)  # the web port's frames (the answers are a small part of the run)
        seg_dir = os.path.join(work, "segments")
        os.makedirs(seg_dir)
        with open(os.path.join(seg_dir, "s.yaml"), "w") as f:
            f.write("segments: [{name: web, members: {vms: [web1]}}]\n"
                    "rules: [{name: out, from: web, to: external, proto: tcp, action: allow}]\n")
        vm = '{name: web, devargs: "net_pcap0,rx_pcap=%s,infinite_rx=1", vm: web1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}' % pcap
        up = '{name: uplink, devargs: "net_pcap1,rx_pcap=%s", role: uplink}' % answers
        gbps = {}
        with Hugepages(HUGEPAGES) as huge:
            modes = ("off", "on", "baseline") if args.baseline else ("off", "on")
            for mode in modes:
                runs = []
                for r in range(args.repeats):
                    cfg = switch_config(work, "inspect-" + mode, huge.mount, [vm, up], seg_dir, 1 << 16, mbufs=262143)
                    if mode != "off":
                        # Zones the traffic is in none of: every finding takes its class's default (alert),
                        # so nothing is blocked and both runs forward the same packets.
                        with open(cfg, "a") as f:
                            f.write("zones: [{name: payment, cidrs: [192.0.2.0/24]}, {name: internet, cidrs: [203.0.113.0/24]}]\n"
                                    "inspection: {classes: %s}\n" % os.path.abspath(classes))
                    s = run_switch(args.baseline if mode == "baseline" else binary, cfg,
                                   ["--max-packets", str(npkts), "--exit-when-drained"])
                    bad = {k: v for k, v in s["drops"].items() if v}
                    if bad:
                        sys.exit("bench: inspection %s: drops %s" % (mode, bad))
                    g = s["tsc_hz"] / s["cycles_per_packet"] * avg * 8 / 1e9
                    runs.append(g)
                    log("  inspection %-3s run %d: %.2f Gbit/s (%.0f cycles/packet of %.0f bytes)" %
                        (mode, r + 1, g, s["cycles_per_packet"], avg))
                gbps[mode] = median_spread(runs)
        on, lo, hi = gbps["on"]
        off = gbps["off"][0]
        results.append({"name": "inspection_gbps", "value": round(on, 2), "unit": "Gbit/s per core", "ceiling": round(off, 2),
                        "ratio": round(on / off, 3), "spread": [round(lo, 2), round(hi, 2)],
                        "case": "%d TCP flows of %d-byte segments, text with 0.1%% class values, all classes; ceiling: inspection off"
                                % (FLOWS, SEG)})
        if args.baseline:
            b, blo, bhi = gbps["baseline"]
            results.append({"name": "inspection_gbps_baseline", "value": round(b, 2), "unit": "Gbit/s per core",
                            "ceiling": round(off, 2), "ratio": round(b / off, 3), "spread": [round(blo, 2), round(bhi, 2)],
                            "case": "the baseline binary, same run, same traffic"})
            log("  inspection: this build %.2f Gbit/s [%.2f-%.2f], baseline %.2f [%.2f-%.2f], ceiling %.2f" %
                (on, lo, hi, b, blo, bhi, off))
        results.append({"name": "target_inspection_gbps", "value": round(on, 2), "unit": "Gbit/s", "ceiling": TARGET_GBPS,
                        "ratio": round(on / TARGET_GBPS, 3), "case": "target: >= 10 Gbit/s per core with inspection on"})

        # goldgatectl classify over a big text file against grep -c of one literal.
        big = os.path.join(work, "big.txt")
        chunk = text(rng, 64 << 20)
        with open(big, "wb") as f:
            for _ in range(max(1, int(args.gib * 16))):
                f.write(chunk)
        size = os.path.getsize(big)
        t0 = time.monotonic()
        # Output to a pipe: GNU grep stops at the first match when its output is /dev/null.
        subprocess.run(["grep", "-c", "invoice", big], stdout=subprocess.PIPE, check=True)
        grep_s = time.monotonic() - t0
        t0 = time.monotonic()
        p = subprocess.run([ctl, "classify", "--classes", classes, "--text", big], stdout=subprocess.PIPE)
        classify_s = time.monotonic() - t0
        if p.returncode != 0:
            sys.exit("bench: classify exited %d" % p.returncode)
        findings = p.stdout.count(b"\n")
        results.append({"name": "classify_gbps", "value": round(size * 8 / classify_s / 1e9, 2), "unit": "Gbit/s",
                        "ceiling": round(size * 8 / grep_s / 1e9, 2), "ratio": round(grep_s / classify_s, 3),
                        "case": "goldgatectl classify over %.1f GiB of text (%d findings); ceiling: grep -c of one literal"
                                % (size / (1 << 30), findings)})
        # Other payloads, 64 MiB each: base64 (attachments, images in JSON: runs of token bytes
        # everywhere, and every 76-byte line long enough to be checked as a token) and CSV rows
        # of numbers and dates (digit runs on every line). The same ceiling: grep -c of one literal.
        for kind, data in (("base64", base64_text(rng, 64 << 20)), ("csv", csv_text(rng, 64 << 20))):
            path = os.path.join(work, kind + ".txt")
            with open(path, "wb") as f:
                f.write(data)
            t0 = time.monotonic()
            subprocess.run(["grep", "-c", "invoice", path], stdout=subprocess.PIPE)
            grep_s = time.monotonic() - t0
            t0 = time.monotonic()
            p = subprocess.run([ctl, "classify", "--classes", classes, "--text", path], stdout=subprocess.PIPE)
            classify_s = time.monotonic() - t0
            if p.returncode not in (0, 1):
                sys.exit("bench: classify exited %d on %s" % (p.returncode, kind))
            results.append({"name": "classify_gbps_" + kind, "value": round(len(data) * 8 / classify_s / 1e9, 2),
                            "unit": "Gbit/s", "ceiling": round(len(data) * 8 / grep_s / 1e9, 2),
                            "ratio": round(grep_s / classify_s, 3),
                            "case": "goldgatectl classify over 64 MiB of %s (%d findings); ceiling: grep -c of one literal"
                                    % (kind, p.stdout.count(b"\n"))})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    merge_results(build, results, 28)


if __name__ == "__main__":
    main()
