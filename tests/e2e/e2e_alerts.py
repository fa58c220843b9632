#!/usr/bin/python3
"""End to end: the switch's alert stream into a real rsyslog (Debian's rsyslog with its OpenSSL
network stream driver), started here on localhost.

1. Delivery: one switch run raises denies (pcap input); three sinks (UDP, TCP octet counting,
   TLS with a client certificate, each in another format) deliver them to rsyslog, which parses
   them; every event in the switch's own alert file arrives once on each transport, with the
   same id, kind and message.
2. A server certificate that does not verify: the TLS sink refuses the connection, says why in
   `goldgatectl status` and raises alerts.sink_down.
3. Outage: rsyslog stopped, the switch raises N alerts and stops, a new switch starts (nothing
   new to send), then rsyslog starts: all N arrive, in order, each id at least once.

Usage: e2e_alerts.py BUILD_DIR     (exit 77 = skipped, with the reason printed)
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "component"))
from switch_component import DB, WEB, Failure, Run, check, tcp  # noqa: E402

RSYSLOGD = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_pki(d):
    """A CA, a server certificate for localhost/127.0.0.1, a client certificate, and an unrelated CA."""
    def ca(name):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                "-subj", "/CN=%s" % name, "-keyout", "%s/%s.key" % (d, name), "-out", "%s/%s.pem" % (d, name))

    def leaf(name, ca_name, ext):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=%s" % name,
                "-keyout", "%s/%s.key" % (d, name), "-out", "%s/%s.csr" % (d, name))
        with open("%s/%s.ext" % (d, name), "w") as f:
            f.write(ext)
        openssl("x509", "-req", "-in", "%s/%s.csr" % (d, name), "-CA", "%s/%s.pem" % (d, ca_name), "-CAkey",
                "%s/%s.key" % (d, ca_name), "-CAcreateserial", "-days", "2", "-extfile", "%s/%s.ext" % (d, name),
                "-out", "%s/%s.pem" % (d, name))

    ca("ca")
    ca("rogue-ca")
    leaf("server", "ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")
    leaf("client", "ca", "extendedKeyUsage=clientAuth\n")
    leaf("rogue-server", "rogue-ca", "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n")


class Rsyslog:
    """rsyslogd in the foreground with UDP, TCP and TLS (client certificate required) inputs; each
    input writes what it parsed (app-name, msgid, structured data, msg) to its own file."""

    def __init__(self, d, ports, server="server"):
        self.d = d
        os.makedirs("%s/work" % d, exist_ok=True)
        conf = """
global(workDirectory="{d}/work" maxMessageSize="64k"
       defaultNetstreamDriver="ossl"
       defaultNetstreamDriverCAFile="{pki}/ca.pem"
       defaultNetstreamDriverCertFile="{pki}/{server}.pem"
       defaultNetstreamDriverKeyFile="{pki}/{server}.key")
module(load="imudp")
module(load="imtcp" maxSessions="50")
template(name="fields" type="string" string="%app-name%|%msgid%|%structured-data%|%msg%\\n")
input(type="imudp" address="127.0.0.1" port="{udp}" ruleset="udp")
input(type="imtcp" address="127.0.0.1" port="{tcp}" ruleset="tcp")
input(type="imtcp" address="127.0.0.1" port="{tls}" ruleset="tls"
      streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="x509/certvalid")
ruleset(name="udp") {{ action(type="omfile" file="{d}/udp.log" template="fields") }}
ruleset(name="tcp") {{ action(type="omfile" file="{d}/tcp.log" template="fields") }}
ruleset(name="tls") {{ action(type="omfile" file="{d}/tls.log" template="fields") }}
""".format(d=d, pki=os.path.dirname(d) + "/pki", server=server, **ports)
        with open("%s/rsyslog.conf" % d, "w") as f:
            f.write(conf)
        self.proc = subprocess.Popen([RSYSLOGD, "-n", "-f", "%s/rsyslog.conf" % d, "-i", "%s/rsyslog.pid" % d],
                                     stdout=open("%s/rsyslog.out" % d, "w"), stderr=subprocess.STDOUT)
        # Ready when the TCP listener accepts.
        import socket
        until = time.time() + 20
        while time.time() < until:
            try:
                socket.create_connection(("127.0.0.1", ports["tcp"]), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.1)
        raise Failure("rsyslogd did not start: %s" % open("%s/rsyslog.out" % d).read())

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=30)

    def records(self, transport):
        path = "%s/%s.log" % (self.d, transport)
        if not os.path.exists(path):
            return []
        out = []
        for line in open(path).read().splitlines():
            app, msgid, sd, msg = line.split("|", 3)
            out.append({"app": app, "msgid": msgid, "sd": sd, "msg": msg})
        return out


def wait_for(fn, what, limit=30):
    until = time.time() + limit
    while time.time() < until:
        if fn():
            return
        time.sleep(0.2)
    raise Failure("timed out waiting for " + what)


def denies(n, base=7000):
    """n distinct denied connection attempts web -> db (each its own alert)."""
    return [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40000 + i, base + i, "S") for i in range(n)]


def sinks_yaml(tmp, ports, tls_ca="ca", kinds=None):
    pki = tmp + "/pki"
    kind_filter = ", kinds: [%s]" % ", ".join(kinds) if kinds else ""
    return ("{file: %s/alerts.jsonl, window_ms: 0, spool_dir: %s/spool, sinks: ["
            "{name: udp, transport: udp, address: '127.0.0.1:%d', format: rfc5424%s},"
            "{name: tcp, transport: tcp, address: '127.0.0.1:%d', format: cef%s},"
            "{name: tls, transport: tls, address: 'localhost:%d', format: rfc5424%s,"
            " tls: {ca: %s/%s.pem, cert: %s/client.pem, key: %s/client.key}}]}" %
            ("%s", tmp, ports["udp"], kind_filter, ports["tcp"], kind_filter, ports["tls"], kind_filter,
             pki, tls_ca, pki, pki))


def sd_id(rec):
    m = re.search(r'id="([^"]+)"', rec["sd"])
    return m.group(1) if m else None


def cef_id(rec):
    m = re.search(r"externalId=(\S+)", rec["msg"])
    return m.group(1) if m else None


def test_delivery(build, tmp, ports):
    rs = Rsyslog(tmp + "/rs1", ports)
    try:
        run_dir = tmp + "/run1"
        os.makedirs(run_dir)
        r = Run(build + "/dataplane/goldgate-switch", run_dir, {"web": denies(20)},
                alerts_yaml=sinks_yaml(tmp, ports) % run_dir)
        want = [a for a in r.alerts if a["kind"] == "policy.deny"]
        check(len(want) == 20, "the switch raised %d denies, want 20" % len(want))
        by_id = {a["id"]: a for a in r.alerts}
        wait_for(lambda: len([x for x in rs.records("tls") if x["msgid"] == "policy.deny"]) >= 20, "20 denies over TLS")
        wait_for(lambda: len([x for x in rs.records("tcp") if x["msgid"] == "policy.deny"]) >= 20, "20 denies over TCP")
        wait_for(lambda: len([x for x in rs.records("udp") if x["msgid"] == "policy.deny"]) >= 20, "20 denies over UDP")
        for transport, idof in (("udp", sd_id), ("tls", sd_id), ("tcp", cef_id)):
            recs = [x for x in rs.records(transport) if x["msgid"] == "policy.deny"]
            ids = [idof(x) for x in recs]
            check(ids == [a["id"] for a in want], "%s: ids %s, want %s in order" % (transport, ids[:3], [a["id"] for a in want][:3]))
            for x, a in zip(recs, want):
                check(x["app"] == "goldgate-switch", "%s: app-name %r" % (transport, x["app"]))
                if idof is sd_id:
                    check(x["msg"] == a["message"], "%s: msg %r, want %r" % (transport, x["msg"], a["message"]))
                    check('dpt="%d"' % a["flow"]["dst_port"] in x["sd"], "%s: structured data %s" % (transport, x["sd"]))
                else:
                    check(x["msg"].startswith("CEF:0|Goldgate|goldgate-switch|") and "dpt=%d" % a["flow"]["dst_port"] in x["msg"],
                          "tcp: CEF record %r" % x["msg"])
            check(all(i in by_id for i in ids), "%s: an id rsyslog got is not in the switch's file" % transport)
        print("ok: 20 denies arrived over UDP (RFC 5424), TCP (CEF, octet counting) and TLS (client certificate), in order, parsed by rsyslog")
    finally:
        rs.stop()


def test_bad_certificate(build, tmp, ports):
    rs = Rsyslog(tmp + "/rs2", ports, server="rogue-server")
    try:
        run_dir = tmp + "/run2"
        os.makedirs(run_dir)
        r = Run(build + "/dataplane/goldgate-switch", run_dir, {"web": denies(3)},
                alerts_yaml=sinks_yaml(tmp, ports) % run_dir, background=True)
        ctl = [build + "/cli/goldgatectl", "--socket", run_dir + "/ctl.sock", "--json", "status"]

        def tls_refused():
            p = subprocess.run(ctl, capture_output=True, text=True)
            if p.returncode != 0:
                return False
            st = {s["name"]: s for s in json.loads(p.stdout)["status"].get("sinks", [])}
            return st.get("tls", {}).get("state") == "down" and "certificate verify failed" in st["tls"].get("last_error", "")
        wait_for(tls_refused, "the TLS sink to refuse the rogue certificate (goldgatectl status)")
        human = subprocess.run(ctl[:-2] + ["status"], capture_output=True, text=True).stdout
        check("certificate verify failed" in human, "goldgatectl status does not say why the TLS sink is down:\n" + human)
        wait_for(lambda: any(l for l in open(run_dir + "/alerts.jsonl") if "alerts.sink_down" in l and "certificate verify failed" in l),
                 "an alerts.sink_down event naming the certificate failure")
        r.stop()
        check(rs.records("tls") == [], "rsyslog got records over TLS from a sink that should have refused the server")
        check(len([x for x in rs.records("tcp") if x["msgid"] == "policy.deny"]) == 3, "the TCP sink still delivered")
        print("ok: a server certificate from another CA is refused, shown in goldgatectl status and raised as alerts.sink_down")
    finally:
        rs.stop()


def test_outage(build, tmp, ports, n=60):
    # n stays below one port's burst of low-priority alerts (64): past it, denies from one port
    # are rate-limited (alerts.rate_limited), which component.fairness covers.
    spool = tmp + "/spool"
    shutil.rmtree(spool, ignore_errors=True)
    # rsyslog is down. A switch raises n alerts and stops; they stay spooled.
    run_dir = tmp + "/run3"
    os.makedirs(run_dir)
    kinds = ["policy.deny"]
    r = Run(build + "/dataplane/goldgate-switch", run_dir, {"web": denies(n, base=10000)},
            alerts_yaml=sinks_yaml(tmp, ports, kinds=kinds) % run_dir)
    want = [a["id"] for a in r.alerts if a["kind"] == "policy.deny"]
    check(len(want) == n, "the switch raised %d denies, want %d" % (len(want), n))
    for name in ("tcp", "tls"):
        check(os.path.getsize("%s/%s/spool" % (spool, name)) > 0, "%s: nothing spooled while rsyslog was down" % name)
    # The switch restarts (no new alerts of that kind), then rsyslog comes back.
    run_dir2 = tmp + "/run4"
    os.makedirs(run_dir2)
    r2 = Run(build + "/dataplane/goldgate-switch", run_dir2, {}, alerts_yaml=sinks_yaml(tmp, ports, kinds=kinds) % run_dir2,
             background=True)
    time.sleep(1)
    rs = Rsyslog(tmp + "/rs3", ports)
    try:
        for transport, idof in (("tcp", cef_id), ("tls", sd_id)):
            wait_for(lambda: len(rs.records(transport)) >= n, "%d spooled alerts over %s" % (n, transport), limit=60)
            ids = [idof(x) for x in rs.records(transport)]
            dedup = [i for k, i in enumerate(ids) if i not in ids[:k]]
            check(dedup == want, "%s: %d records (%d distinct), not the %d spooled ids in order" % (transport, len(ids), len(dedup), n))
            print("ok: %s: all %d alerts raised during the outage arrived after a switch restart, in order (%d duplicates)" %
                  (transport, n, len(ids) - len(dedup)))
        ctl = [build + "/cli/goldgatectl", "--socket", run_dir2 + "/ctl.sock", "--json", "status"]
        wait_for(lambda: all(s.get("backlog_events", "0") in ("0", 0) and s["state"] == "up"
                             for s in json.loads(subprocess.run(ctl, capture_output=True, text=True).stdout)["status"]["sinks"]
                             if s["name"] != "udp"),
                 "the TCP and TLS backlogs to drain")
        r2.stop()
        ups = [a for a in r2.alerts if a["kind"] == "alerts.sink_up"]
        check(ups, "no alerts.sink_up event after rsyslog came back")
    finally:
        rs.stop()


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    build = os.path.abspath(sys.argv[1])
    if not os.path.exists(RSYSLOGD) or not shutil.which("openssl"):
        print("SKIP: rsyslogd or openssl is not installed (scripts/install-deps.sh test installs them)")
        sys.exit(77)
    if not os.path.exists("/usr/lib/x86_64-linux-gnu/rsyslog/lmnsd_ossl.so"):
        print("SKIP: rsyslog's OpenSSL driver (rsyslog-openssl) is not installed")
        sys.exit(77)
    failed = 0
    with tempfile.TemporaryDirectory(prefix="gg-alerts-") as tmp:
        os.makedirs(tmp + "/pki")
        make_pki(tmp + "/pki")
        ports = {"udp": free_port(), "tcp": free_port(), "tls": free_port()}
        for test in (test_delivery, test_bad_certificate, test_outage):
            try:
                test(build, tmp, ports)
            except Failure as e:
                failed += 1
                print("FAIL %s: %s" % (test.__name__, e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
