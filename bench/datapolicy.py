#!/usr/bin/python3
"""Data-class benchmark (part of `make bench`):

1. Inspection throughput through the real switch: TCP flows of 1,400-byte segments, all shipped
   classes on, content decoding on, one core, Gbit/s as a ratio to the same traffic with inspection
   off, in the same run, for three payloads: text (a small fraction carrying class values); a mix
   of HTTP uploads (plain, gzip-encoded, and multipart forms with a base64 file part); and text
   dense in identifiers (a class value or a look-alike every ~170 bytes, as an attacker would send
   to slow inspection down). Measured from the switch's own busy cycles over exactly one pass of an
   in-memory capture (infinite_rx, --max-packets), so no byte is seen twice (a replayed stream would
   be trimmed as retransmission and cost nothing). The decoders' peak memory per inspected flow too.
2. Stream state per flow direction and database compile time for all classes.
3. `goldgatectl classify` over a 1 GiB text file as a ratio to `grep -c` of one literal over it, and
   over 64 MiB of base64, of CSV and of identifier-dense text (payloads dense in the runs the
   classes look for), and over a folder of documents (ZIP, .xlsx, .docx, PDF, gzip; MB/s).

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
from run import Hugepages, HUGEPAGES, invariant, log, median_spread, merge_results, run_switch, switch_config  # noqa: E402
from gen import csum  # noqa: E402
sys.path.insert(0, os.path.join(HERE, "..", "tests", "datapolicy"))
from corpus import luhn_complete  # noqa: E402

FLOWS = 1000
SEGMENTS_PER_FLOW = 64
SEG = 1400
TARGET_GBPS = 10.0
TARGET_MIX_GBPS = 5.0
TARGET_DENSE_GBPS = 3.0
TARGET_DECODE_BYTES_PER_FLOW = 4096
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


def dense_text(rng, n):
    """About n bytes of text with a class value or a look-alike every ~170 bytes: card numbers (valid
    and not), SSN-shaped and phone-shaped numbers, order and invoice numbers, e-mail addresses."""
    def item():
        k = rng.randrange(6)
        if k == 0:
            return "card " + luhn_card(rng)
        if k == 1:
            return "card %016d" % rng.randrange(10 ** 16)  # most fail the check digit
        if k == 2:
            return "ssn %03d-%02d-%04d" % (rng.randrange(1, 899), rng.randrange(1, 99), rng.randrange(1, 9999))
        if k == 3:
            return "order #%d" % rng.randrange(10 ** 9, 10 ** 14)
        if k == 4:
            return "call +44 20 %04d %04d" % (rng.randrange(10000), rng.randrange(10000))
        return "mail j.doe%d@example.org" % rng.randrange(10000)
    out, size = [], 0
    while size < n:
        line = " ".join(rng.choice(WORDS) for _ in range(rng.randrange(18, 26))) + " " + item() + "\n"
        out.append(line)
        size += len(line)
    return "".join(out).encode()[:n]


def http_mix(rng, n, kind):
    """About n bytes of HTTP/1.1 uploads on one connection: plain text bodies (kind 0), gzip-encoded
    ones (1), or multipart forms with a base64-encoded file part (2)."""
    import gzip as gz
    out, size = [], 0
    while size < n:
        body = text(rng, rng.randrange(4000, 16000))
        head = "POST /upload HTTP/1.1\r\nHost: files.example\r\n"
        if kind == 1:
            body = gz.compress(body, 6)
            head += "Content-Encoding: gzip\r\nContent-Type: text/csv\r\n"
        elif kind == 2:
            b = "----bench-form-boundary-7MA4YWxk"
            body = (("--%s\r\nContent-Disposition: form-data; name=\"file\"; filename=\"r.csv\"\r\n"
                     "Content-Type: text/csv\r\nContent-Transfer-Encoding: base64\r\n\r\n" % b).encode() +
                    base64.encodebytes(body).replace(b"\n", b"\r\n") + ("\r\n--%s--\r\n" % b).encode())
            head += "Content-Type: multipart/form-data; boundary=%s\r\n" % b
        else:
            head += "Content-Type: text/csv\r\n"
        msg = (head + "Content-Length: %d\r\n\r\n" % len(body)).encode() + body
        out.append(msg)
        size += len(msg)
    return b"".join(out)


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


def write_pcaps(path, answers, streams):
    """FLOWS TCP flows, web 10.0.0.1 -> 198.18.x.y:80: all SYNs first (window scale 7), then
    SEGMENTS_PER_FLOW data segments of SEG bytes each, round-robin over flows; flow i carries
    streams[i % len(streams)] from its start. `answers` (the uplink's input): each flow's SYN-ACK
    and a window update from its receiver, which the TCP normaliser waits for before it passes
    data. Returns (packets in both, bytes in the web file)."""
    vm_mac, gw_mac = bytes.fromhex("020000000001"), bytes.fromhex("0200000000fe")
    vm_ip = bytes([10, 0, 0, 1])
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
                stream = streams[i % len(streams)]
                frame = tcp_frame(vm_mac, gw_mac, vm_ip, bytes([198, 18, i >> 8, i & 255]), 40000 + i, 80, 1 + s * SEG, 1,
                                  0x18, 65535, stream[s * SEG:(s + 1) * SEG])
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

        # Through the switch, inspection on and off, same pcap, same run, for each payload.
        seg_dir = os.path.join(work, "segments")
        os.makedirs(seg_dir)
        with open(os.path.join(seg_dir, "s.yaml"), "w") as f:
            f.write("segments: [{name: web, members: {vms: [web1]}}]\n"
                    "rules: [{name: out, from: web, to: external, proto: tcp, action: allow}]\n")
        flow_bytes = SEG * SEGMENTS_PER_FLOW
        plain = text(rng, flow_bytes * 64)
        payloads = {
            # Flows start at different places of one text (each a stream of its own to the switch).
            "text": [plain[k * 7919 % (len(plain) - flow_bytes):][:flow_bytes] for k in range(64)],
            "mix": [http_mix(rng, flow_bytes, k % 3) for k in range(48)],
            "dense": [dense_text(rng, flow_bytes) for _ in range(32)],
        }
        cases = {"text": ("inspection_gbps", TARGET_GBPS, "text with 0.1%% class values"),
                 "mix": ("inspection_mix_gbps", TARGET_MIX_GBPS,
                         "HTTP uploads: plain, gzip-encoded and multipart base64 bodies, a third each, decoded"),
                 "dense": ("inspection_dense_gbps", TARGET_DENSE_GBPS,
                           "text with a class value or look-alike every ~170 bytes")}
        with Hugepages(HUGEPAGES) as huge:
            for payload, (name, target, what) in cases.items():
                pcap = os.path.join(work, payload + ".pcap")
                answers = os.path.join(work, payload + "-answers.pcap")
                npkts, nbytes = write_pcaps(pcap, answers, payloads[payload])
                avg = nbytes / (npkts - 2 * FLOWS)  # the web port's frames (the answers are a small part of the run)
                vm = '{name: web, devargs: "net_pcap0,rx_pcap=%s,infinite_rx=1", vm: web1, mac: "02:00:00:00:00:01", ips: [10.0.0.1]}' % pcap
                up = '{name: uplink, devargs: "net_pcap1,rx_pcap=%s", role: uplink}' % answers
                gbps = {}
                decode_peak = []
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
                            sys.exit("bench: inspection %s (%s): drops %s" % (mode, payload, bad))
                        if mode == "on":
                            invariant(s.get("inspect_bytes", 0) >= FLOWS * flow_bytes,
                                      "every payload byte inspected (%d of %d)" % (s.get("inspect_bytes", 0), FLOWS * flow_bytes))
                            if payload == "mix":
                                invariant(s.get("inspect_decoded_bytes", 0) > 0, "the mix's bodies were decoded")
                            if s.get("inspect_flows_peak"):
                                decode_peak.append(s.get("decode_memory_peak", 0) / s["inspect_flows_peak"])
                        g = s["tsc_hz"] / s["cycles_per_packet"] * avg * 8 / 1e9
                        runs.append(g)
                        log("  %-5s inspection %-3s run %d: %.2f Gbit/s (%.0f cycles/packet of %.0f bytes)" %
                            (payload, mode, r + 1, g, s["cycles_per_packet"], avg))
                    gbps[mode] = median_spread(runs)
                on, lo, hi = gbps["on"]
                off = gbps["off"][0]
                results.append({"name": name, "value": round(on, 2), "unit": "Gbit/s per core", "ceiling": round(off, 2),
                                "ratio": round(on / off, 3), "spread": [round(lo, 2), round(hi, 2)],
                                "case": "%d TCP flows of %d-byte segments, %s, all classes; ceiling: inspection off"
                                        % (FLOWS, SEG, what)})
                results.append({"name": "target_" + name, "value": round(on, 2), "unit": "Gbit/s", "ceiling": target,
                                "ratio": round(on / target, 3),
                                "case": "target: >= %g Gbit/s per core with inspection on (%s)" % (target, payload)})
                if decode_peak:
                    per_flow, _, _ = median_spread(decode_peak)
                    results.append({"name": "decode_memory_per_flow_" + payload, "value": round(per_flow),
                                    "unit": "bytes/inspected flow", "ceiling": TARGET_DECODE_BYTES_PER_FLOW,
                                    "ratio": round(per_flow / TARGET_DECODE_BYTES_PER_FLOW, 3),
                                    "case": "content decoders' peak memory over the most flows inspected at once (%s); "
                                            "target <= %d" % (payload, TARGET_DECODE_BYTES_PER_FLOW)})
                if args.baseline:
                    b, blo, bhi = gbps["baseline"]
                    results.append({"name": name + "_baseline", "value": round(b, 2), "unit": "Gbit/s per core",
                                    "ceiling": round(off, 2), "ratio": round(b / off, 3), "spread": [round(blo, 2), round(bhi, 2)],
                                    "case": "the baseline binary, same run, same traffic (%s)" % payload})
                    log("  %s: this build %.2f Gbit/s [%.2f-%.2f], baseline %.2f [%.2f-%.2f], ceiling %.2f" %
                        (payload, on, lo, hi, b, blo, bhi, off))
                os.unlink(pcap)

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
        for kind, data in (("base64", base64_text(rng, 64 << 20)), ("csv", csv_text(rng, 64 << 20)),
                           ("dense", dense_text(rng, 64 << 20))):
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
            if kind == "dense":
                v = len(data) * 8 / classify_s / 1e9
                results.append({"name": "target_classify_dense_gbps", "value": round(v, 2), "unit": "Gbit/s",
                                "ceiling": TARGET_DENSE_GBPS, "ratio": round(v / TARGET_DENSE_GBPS, 3),
                                "case": "target: >= %g Gbit/s in classify over identifier-dense text, JSON output"
                                        % TARGET_DENSE_GBPS})
        # A folder of documents, as an operator tests a class against them: MB/s of files read.
        docs = os.path.join(work, "docs")
        os.makedirs(docs)
        maker = os.path.join(HERE, "..", "tests", "unit", "datapolicy", "make_encoded.py")
        sample = text(rng, 200000).decode()
        src = os.path.join(work, "sample.txt")
        for i, kind in enumerate(("zip", "xlsx", "docx", "pdf", "gzip") * 4):
            with open(src, "w") as f:
                f.write(sample[i * 1000:][:60000 if kind == "pdf" else 200000])
            with open(os.path.join(docs, "doc%02d.%s" % (i, "gz" if kind == "gzip" else kind)), "wb") as f:
                f.write(subprocess.run(["/usr/bin/python3", maker, kind, "@" + src], stdout=subprocess.PIPE, check=True).stdout)
        files = sorted(os.path.join(docs, n) for n in os.listdir(docs))
        total = sum(os.path.getsize(f) for f in files)
        runs = []
        for _ in range(args.repeats):
            t0 = time.monotonic()
            p = subprocess.run([ctl, "classify", "--classes", classes] + files, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            runs.append(time.monotonic() - t0)
            if p.returncode not in (0, 1):
                sys.exit("bench: classify over documents exited %d: %s" % (p.returncode, p.stderr.decode()[-500:]))
        secs, slo, shi = median_spread(runs)
        results.append({"name": "classify_documents_mbps", "value": round(total / secs / 1e6, 1), "unit": "MB/s of files",
                        "ceiling": "", "ratio": "", "spread": [round(total / shi / 1e6, 1), round(total / slo / 1e6, 1)],
                        "case": "goldgatectl classify over %d documents (ZIP, .xlsx, .docx, PDF, gzip; %.1f MB), decoded"
                                % (len(files), total / 1e6)})
    finally:
        shutil.rmtree(work, ignore_errors=True)

    merge_results(build, results, 28)


if __name__ == "__main__":
    main()
