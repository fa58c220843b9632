#!/usr/bin/python3
"""Alert-stream benchmark (part of `make bench`): starts a local rsyslog with a TLS input (the
same set-up as tests/e2e/e2e_alerts.py), runs goldgate-bench-alerts against it, prints the
figures and merges them into BUILD/bench/results.json.

Usage: alerts.py BUILD_DIR [--events N]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from e2e_alerts import Rsyslog, free_port, make_pki  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("build")
    ap.add_argument("--events", type=int, default=100000)
    args = ap.parse_args()
    build = os.path.abspath(args.build)
    tool = os.path.join(build, "bench", "goldgate-bench-alerts")
    with tempfile.TemporaryDirectory(prefix="gg-bench-alerts-") as tmp:
        os.makedirs(tmp + "/pki")
        make_pki(tmp + "/pki")
        ports = {"udp": free_port(), "tcp": free_port(), "tls": free_port()}
        rs = Rsyslog(tmp + "/rs", ports)
        try:
            os.makedirs(tmp + "/scratch")
            p = subprocess.run([tool, "--address", "127.0.0.1:%d" % ports["tls"], "--ca", tmp + "/pki/ca.pem",
                                "--cert", tmp + "/pki/client.pem", "--key", tmp + "/pki/client.key",
                                "--dir", tmp + "/scratch", "--events", str(args.events)],
                               capture_output=True, text=True, timeout=1800)
        finally:
            rs.stop()
        if p.returncode != 0:
            sys.exit("goldgate-bench-alerts failed: %s" % p.stderr)
        got = [json.loads(l) for l in p.stdout.splitlines() if l.startswith("{")]
        delivered = sum(1 for _ in open(tmp + "/rs/tls.log"))
    want = 5 * args.events
    if delivered < want:
        sys.exit("rsyslog wrote %d records over TLS, want %d" % (delivered, want))
    print("%-28s %14s %14s %8s  %s" % ("alerts (%d events)" % args.events, "events/s", "plain file", "ratio", "case"))
    for r in got:
        print("%-28s %14.0f %14.0f %8.3f  %s" % (r["name"], r["value"], r["ceiling"], r["ratio"], r["case"]))
    print("rsyslog wrote all %d records it was sent over TLS" % delivered)
    out = os.path.join(build, "bench", "results.json")
    os.makedirs(os.path.dirname(out), exist_ok=True)
    results = json.load(open(out)) if os.path.exists(out) else []
    results = [r for r in results if not r["name"].startswith("alerts_")] + got
    with open(out, "w") as f:
        json.dump(results, f, indent=2)
    print("results: %s" % out)


if __name__ == "__main__":
    main()
