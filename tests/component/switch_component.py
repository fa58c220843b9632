#!/usr/bin/python3
"""Component tests: the real goldgate-switch on pcap ports, driven through the production path.

Each scenario writes input captures, runs the switch with --exit-when-drained, then checks the
packets on every output port, the drop counters and the alert events.

Ordering note: the single worker polls ports in configuration order and reads up to 32 packets a
poll, so in captures of fewer than 32 packets everything on port N is processed before port N+1.
Scenarios therefore put connection initiators on lower-numbered ports than responders.

Usage: switch_component.py SWITCH_BINARY SCENARIO   (or "all")
"""
import json
import re
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from scapy.all import (ARP, ESP, ICMP, IP, TCP, UDP, Dot1Q, Ether, ICMPv6EchoRequest, ICMPv6ND_NA, ICMPv6ND_NS, ICMPv6ND_RA, ICMPv6ND_Redirect,
                       ICMPv6NDOptDstLLAddr, ICMPv6NDOptSrcLLAddr, ICMPv6PacketTooBig, IPv6,
                       IPv6ExtHdrFragment, Raw, defragment, fragment, fragment6, rdpcap, wrpcap)
from scapy.layers.ipsec import SecurityAssociation

WEB = "02:00:00:00:00:01"
DB = "02:00:00:00:00:02"
OTHER = "02:00:00:00:00:03"
ROUTER = "02:00:00:00:00:fe"
BCAST = "ff:ff:ff:ff:ff:ff"

SEGMENTS = """
segments:
  - name: web
    members: {vms: [web1]}
  - name: db
    members: {labels: {tier: db}}
rules:
  - name: web-to-db
    from: web
    to: db
    proto: tcp
    ports: [5432, "6000-6010"]
    action: allow
  - name: web-dns
    from: web
    to: db
    proto: udp
    ports: 53
    action: allow-log
  - name: web-ping
    from: web
    to: db
    proto: icmp
    action: allow
  - name: web-ping6
    from: web
    to: db
    proto: icmpv6
    action: allow
  - name: block-telnet-out
    from: web
    to: 198.51.100.0/24
    proto: tcp
    ports: 23
    action: deny-log
  - name: web-to-internet
    from: web
    to: external
    proto: tcp
    ports: [80, 443, 23]
    action: allow
quarantine:
  allow:
    - name: quarantine-dns
      to: 10.0.0.2/32
      proto: udp
      ports: 53
      action: allow
"""


class Failure(Exception):
    pass


def check(cond, what):
    if not cond:
        raise Failure(what)


class Run:
    def __init__(self, binary, tmp, inputs, flow_table=65536, extra_ports=(), segments=SEGMENTS, alert_format="json",
                 alerts_yaml=None, background=False, extra_yaml="", flow_per_port=None, metrics="off"):
        """Writes the configuration and input captures, then runs the switch to completion (or,
        with background=True, starts it and returns: the caller stops it with stop())."""
        self.tmp = tmp
        names = ["web", "db", "uplink"] + [p[0] for p in extra_ports]
        ports_yaml = []
        bindings = {
            "web": 'vm: web1, mac: "%s", ips: [10.0.0.1, "fd00::1"]' % WEB,
            "db": 'vm: db1, labels: {tier: db}, mac: "%s", ips: [10.0.0.2, "fd00::2"]' % DB,
            "uplink": "role: uplink",
        }
        for name, binding in extra_ports:
            bindings[name] = binding
        for i, name in enumerate(names):
            pkts = inputs.get(name, [])
            inp = os.path.join(tmp, "in-%s.pcap" % name)
            wrpcap(inp, pkts, linktype=1) if pkts else open(inp, "wb").write(
                bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
            out = os.path.join(tmp, "out-%s.pcap" % name)
            ports_yaml.append('  - {name: %s, devargs: "net_pcap%d,rx_pcap=%s,tx_pcap=%s", %s}' %
                              (name, i, inp, out, bindings[name]))
        os.makedirs(os.path.join(tmp, "segments"), exist_ok=True)
        with open(os.path.join(tmp, "segments", "app.yaml"), "w") as f:
            f.write(segments)
        with open(os.path.join(tmp, "goldgate.yaml"), "w") as f:
            f.write("eal: [-l, '0', --no-huge, -m, '256', --no-shconf, --no-pci, --no-telemetry, --log-level, '*:warning']\n"
                    "mbufs: 2047\nflow_table: {size: %d%s}\nsegments_dir: segments\n"
                    "control: {socket: %s/ctl.sock}\nalerts: %s\n"
                    "quarantine_file: %s/quarantine\nmetrics: {listen: %s}\n%sports:\n%s\n" %
                    (flow_table, ", per_port: %d" % flow_per_port if flow_per_port else "", tmp,
                     alerts_yaml or "{file: %s/alerts.jsonl, window_ms: 60000, format: %s}" % (tmp, alert_format),
                     tmp, metrics, extra_yaml, "\n".join(ports_yaml)))
        self.names = names
        self.alert_format = alert_format
        args = [binary, "-c", os.path.join(tmp, "goldgate.yaml"), "--stats-json", os.path.join(tmp, "stats.json")]
        if background:
            self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(os.path.join(tmp, "switch.err"), "w"))
            return
        proc = subprocess.run(args + ["--exit-when-drained"], capture_output=True, text=True, timeout=120)
        check(proc.returncode == 0, "switch exited %d: %s" % (proc.returncode, proc.stderr))
        self.collect()

    def stop(self):
        """Stops a background switch (SIGTERM) and collects its outputs."""
        self.proc.terminate()
        rc = self.proc.wait(timeout=60)
        check(rc == 0, "switch exited %d: %s" % (rc, open(os.path.join(self.tmp, "switch.err")).read()))
        self.collect()

    def collect(self):
        tmp, names, alert_format = self.tmp, self.names, self.alert_format
        self.stats = json.load(open(os.path.join(tmp, "stats.json")))
        self.out = {n: list(rdpcap(os.path.join(tmp, "out-%s.pcap" % n))) for n in names}
        lines = open(os.path.join(tmp, "alerts.jsonl")).read().splitlines()
        self.alert_lines = lines
        self.alerts = [json.loads(l) for l in lines] if alert_format == "json" else []

    def drops(self, reason):
        return self.stats["drops"][reason]

    def alerts_of(self, kind):
        return [a for a in self.alerts if a["kind"] == kind]


def tcp(src_mac, dst_mac, src, dst, sport, dport, flags, payload=b""):
    p = Ether(src=src_mac, dst=dst_mac) / IP(src=src, dst=dst) / TCP(sport=sport, dport=dport, flags=flags)
    return p / Raw(payload) if payload else p


def has(pkts, layer, **fields):
    for p in pkts:
        if layer in p and all(getattr(p[layer], k) == v for k, v in fields.items()):
            return True
    return False


# --------------------------------------------------------------------------- scenarios

def scenario_stateful_tcp(binary, tmp):
    """Allowed connection and its replies pass; a denied one and a reverse one do not."""
    web = [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40000, 5432, "S"),
           tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40001, 22, "S"),          # not allowed
           tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40002, 6005, "S"),        # inside the range
           tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40003, 6011, "S"),        # just outside
           tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40009, 5432, "A", b"x")]  # mid-stream, no flow
    db = [tcp(DB, WEB, "10.0.0.2", "10.0.0.1", 5432, 40000, "SA"),       # reply: passes
          tcp(DB, WEB, "10.0.0.2", "10.0.0.1", 5555, 80, "S")]           # reverse new conn: denied
    # From behind the uplink, a packet claiming to be db's reply on the admitted connection.
    uplink = [tcp(ROUTER, WEB, "10.0.0.2", "10.0.0.1", 5432, 40000, "A", b"injected")]
    r = Run(binary, tmp, {"web": web, "db": db, "uplink": uplink})
    check(not any(Raw in p and b"injected" in bytes(p[Raw]) for p in r.out["web"]),
          "a packet riding web's connection from the uplink was forwarded")
    check(r.drops("flow_wrong_port") == 1, "flow_wrong_port = %d, want 1" % r.drops("flow_wrong_port"))
    check(has(r.out["db"], TCP, sport=40000, dport=5432), "allowed SYN did not reach db")
    check(has(r.out["db"], TCP, sport=40002, dport=6005), "SYN to a port inside the range did not reach db")
    check(not has(r.out["db"], TCP, dport=22), "denied SYN to port 22 was forwarded")
    check(not has(r.out["db"], TCP, dport=6011), "SYN to 6011 (outside 6000-6010) was forwarded")
    check(has(r.out["web"], TCP, sport=5432, dport=40000), "reply SYN-ACK did not reach web")
    check(not has(r.out["web"], TCP, dport=80), "reverse connection db->web was forwarded")
    check(r.drops("policy_deny") == 3, "policy_deny = %d, want 3" % r.drops("policy_deny"))
    check(r.drops("tcp_no_flow") == 1, "tcp_no_flow = %d, want 1" % r.drops("tcp_no_flow"))
    denies = r.alerts_of("policy.deny")
    check(len(denies) == 3, "want 3 policy.deny alerts, got %d" % len(denies))
    check(any(a["flow"]["dst_port"] == 22 and a["rule"] == "default" and a["vm"] == "web1" for a in denies),
          "no deny alert naming port 22, rule default and vm web1")
    check(all(a["flow"]["community_id"].startswith("1:") for a in denies), "deny alert without Community ID")


def scenario_antispoof(binary, tmp):
    """A VM may only source its bound MAC and IPs (also in ARP)."""
    web = [tcp(WEB, DB, "10.0.0.99", "10.0.0.2", 40000, 5432, "S"),      # spoofed IP
           tcp(OTHER, DB, "10.0.0.1", "10.0.0.2", 40001, 5432, "S"),     # spoofed MAC
           Ether(src=WEB, dst=BCAST) / ARP(op=1, hwsrc=WEB, psrc="10.0.0.77", pdst="10.0.0.2"),  # ARP spoof
           tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40002, 5432, "S")]       # legitimate
    r = Run(binary, tmp, {"web": web})
    check(r.drops("spoofed_ip") == 2, "spoofed_ip = %d, want 2" % r.drops("spoofed_ip"))
    check(r.drops("spoofed_mac") == 1, "spoofed_mac = %d, want 1" % r.drops("spoofed_mac"))
    check(len(r.out["db"]) == 1 and has(r.out["db"], TCP, sport=40002), "db should see only the legitimate SYN")
    check(len(r.alerts_of("spoof.ip")) == 2 and len(r.alerts_of("spoof.mac")) == 1, "spoof alerts missing")


def scenario_udp_icmp(binary, tmp):
    """UDP and ICMP echo: replies pass, allow-log rules raise an alert, aggregation counts repeats."""
    web = [Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5000, dport=53) / Raw(b"q")] * 3 + \
          [Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=8, id=77, seq=1)]
    db = [Ether(src=DB, dst=WEB) / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=53, dport=5000) / Raw(b"a"),
          Ether(src=DB, dst=WEB) / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=0, id=77, seq=1),
          Ether(src=DB, dst=WEB) / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=8, id=78, seq=1)]  # db may not ping web
    r = Run(binary, tmp, {"web": web, "db": db})
    check(sum(1 for p in r.out["db"] if UDP in p) == 3, "3 UDP queries should reach db")
    check(has(r.out["web"], UDP, sport=53), "UDP answer did not reach web")
    check(has(r.out["web"], ICMP, type=0, id=77), "echo reply did not reach web")
    check(not has(r.out["web"], ICMP, type=8), "echo request db->web was forwarded")
    logs = r.alerts_of("policy.allow_log")
    check(len(logs) == 1 and logs[0]["rule"] == "web-dns", "want one allow_log alert for web-dns, got %s" % logs)
    check(r.stats["flows_created"] == 2, "flows_created = %d, want 2" % r.stats["flows_created"])


def scenario_deny_aggregation(binary, tmp):
    """A repeated deny is one event plus one aggregate with the count, not a flood."""
    web = [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 41000, 22, "S")] * 10
    r = Run(binary, tmp, {"web": web})
    denies = r.alerts_of("policy.deny")
    check(len(denies) == 2, "want 2 deny events (first + aggregate), got %d" % len(denies))
    counts = sorted(int(a["count"]) for a in denies)
    check(counts == [1, 9], "deny counts %s, want [1, 9]" % counts)
    check("repeated 9 more times" in [a for a in denies if int(a["count"]) == 9][0]["message"], "aggregate message")


def until(cond, what, timeout=60):
    """Waits for cond() to return something true (polled every 50 ms); fails naming `what`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.05)
    raise Failure("timed out waiting for " + what)


def scrape(url):
    """GET a Prometheus text exposition: {(name, frozenset of label pairs): value}."""
    with urllib.request.urlopen(url, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = re.match(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)', line)
        check(m, "unparseable exposition line: %r" % line)
        labels = frozenset(re.findall(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"', m.group(2) or ""))
        out[(m.group(1), labels)] = float(m.group(3))
    return out


def scrape_when_counted(tmp, packets):
    """The series of the switch running in `tmp` once it has counted `packets` packets."""
    err = os.path.join(tmp, "switch.err")
    url = until(lambda: (re.search(r"metrics on (http://\S+)", open(err).read()) or [None, None])[1],
                "the switch to say where its metrics are")
    return until(lambda: (lambda s: s if metric(s, "goldgate_switch_packets_total") == packets else None)(scrape(url)),
                 "all %d packets to be counted" % packets)


def metric(series, name, **labels):
    """The value of the one series of `name` whose labels include `labels` (None: no such series)."""
    want = set(labels.items())
    found = [v for (n, l), v in series.items() if n == name and want <= set(l)]
    check(len(found) <= 1, "%s%s matches %d series" % (name, labels, len(found)))
    return found[0] if found else None


def scenario_metrics(binary, tmp):
    """/metrics while the switch runs: drops by port and reason, rule hits (the most hit named, the
    rest summed), flows and port counters match the packets the test sent."""
    web = [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 42000 + i, 22, "S") for i in range(7)]            # default deny
    web += [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 43000 + i, 5432, "S") for i in range(3)]         # web-to-db
    web += [Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=5353, dport=53)] * 2  # web-dns
    web += [tcp(WEB, DB, "10.0.0.9", "10.0.0.2", 44000, 5432, "S")]                                # spoofed source
    r = Run(binary, tmp, {"web": web}, background=True, metrics="127.0.0.1:0")
    try:
        series = scrape_when_counted(tmp, len(web))
        got = {
            "web policy_deny": metric(series, "goldgate_switch_port_drops_total", port="web", reason="policy_deny"),
            "web spoofed_ip": metric(series, "goldgate_switch_port_drops_total", port="web", reason="spoofed_ip"),
            "all policy_deny": metric(series, "goldgate_switch_drops_total", reason="policy_deny"),
            "unseen reason": metric(series, "goldgate_switch_drops_total", reason="tcp_no_flow"),
            "web-to-db hits": metric(series, "goldgate_switch_rule_hits_total", rule="web-to-db"),
            "default hits": metric(series, "goldgate_switch_rule_hits_total", rule="(default)"),
            "flows": metric(series, "goldgate_switch_flows"),
            "flows created": metric(series, "goldgate_switch_flows_created_total"),
            "web rx": metric(series, "goldgate_switch_port_rx_packets_total", port="web", role="vm"),
            "db tx": metric(series, "goldgate_switch_port_tx_packets_total", port="db", role="vm"),
        }
        want = {"web policy_deny": 7, "web spoofed_ip": 1, "all policy_deny": 7, "unseen reason": 0,
                "web-to-db hits": 3, "default hits": 7, "flows": 4, "flows created": 4, "web rx": len(web), "db tx": 5}
        check(got == want, "metrics %s, want %s" % (got, want))
        dns = metric(series, "goldgate_switch_rule_hits_total", rule="web-dns", action="allow")
        check(dns == 1, "web-dns: two datagrams of one flow are one hit, got %s" % dns)
        check(metric(series, "goldgate_switch_port_drops_total", port="db", reason="policy_deny") == 0,
              "a reason alerts watch is a series from zero on every port")
        check(metric(series, "goldgate_switch_port_drops_total", port="db", reason="truncated_ip") is None,
              "other reasons by port appear once seen")
        source = [dict(l).get("source") for (n, l) in series
                  if n == "goldgate_switch_rule_hits_total" and dict(l).get("rule") == "web-to-db"]
        check(source == [os.path.join(tmp, "segments", "app.yaml") + ":8"], "rule hits name the rule's place: %s" % source)
    finally:
        r.stop()
    # Bounded: with rule_hits_top 1, the most hit rule by name and the rest summed into one series.
    sub = os.path.join(tmp, "top1")
    os.makedirs(sub)
    r = Run(binary, sub, {"web": web}, background=True, metrics="127.0.0.1:0, rule_hits_top: 1")
    try:
        series = scrape_when_counted(sub, len(web))
        hits = {dict(l)["rule"]: v for (n, l), v in series.items() if n == "goldgate_switch_rule_hits_total"}
        check(hits == {"(default)": 7, "(other)": 4}, "rule hits with rule_hits_top 1: %s" % hits)
    finally:
        r.stop()


def scenario_l2(binary, tmp):
    """ARP floods only toward ports the sender may reach; ND likewise; VM ports are access ports:
    802.1Q and QinQ frames from a VM are dropped (tagged_from_vm), never passed on with the guest's tag."""
    extra = [("lonely", 'vm: lonely1, mac: "02:00:00:00:00:09", ips: [10.0.0.9]')]
    web = [Ether(src=WEB, dst=BCAST) / ARP(op=1, hwsrc=WEB, psrc="10.0.0.1", pdst="10.0.0.2"),
           Ether(src=WEB, dst="33:33:ff:00:00:02") / IPv6(src="fd00::1", dst="ff02::1:ff00:2") /
           ICMPv6ND_NS(tgt="fd00::2"),
           Ether(src=WEB, dst=DB) / Dot1Q(vlan=10) / IP(src="10.0.0.1", dst="10.0.0.2") / TCP(sport=1, dport=5432, flags="S"),
           Ether(src=WEB, dst=ROUTER, type=0x88a8) / Dot1Q(vlan=20) / Dot1Q(vlan=10) / IP(src="10.0.0.1", dst="203.0.113.5") /
           TCP(sport=2, dport=443, flags="S")]
    lonely = [Ether(src="02:00:00:00:00:09", dst=BCAST) / ARP(op=1, hwsrc="02:00:00:00:00:09", psrc="10.0.0.9", pdst="10.0.0.1")]
    r = Run(binary, tmp, {"web": web, "lonely": lonely}, extra_ports=extra)
    check(has(r.out["db"], ARP, psrc="10.0.0.1"), "ARP request from web did not reach db")
    check(has(r.out["uplink"], ARP, psrc="10.0.0.1"), "ARP from web did not reach the uplink (web may reach external)")
    check(has(r.out["db"], ICMPv6ND_NS), "neighbour solicitation did not reach db")
    check(not has(r.out["db"], Dot1Q) and not has(r.out["uplink"], Dot1Q), "a tagged frame from a VM left the switch")
    check(r.drops("tagged_from_vm") == 2, "tagged_from_vm = %d, want 2 (802.1Q and QinQ)" % r.drops("tagged_from_vm"))
    check(len(r.out["lonely"]) == 0, "a port in no segment received traffic")
    check(r.drops("port_closed") == 1, "port_closed = %d, want 1 (lonely is in no segment)" % r.drops("port_closed"))


def scenario_uplink(binary, tmp):
    """VM to the outside through the uplink; CIDR deny before the external allow; learned MACs."""
    web = [tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.5", 42000, 443, "S"),
           tcp(WEB, ROUTER, "10.0.0.1", "198.51.100.7", 42001, 23, "S"),   # deny-log CIDR rule first
           tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.5", 42002, 25, "S")]    # not allowed
    uplink = [tcp(ROUTER, WEB, "203.0.113.5", "10.0.0.1", 443, 42000, "SA"),
              tcp(ROUTER, WEB, "203.0.113.5", "10.0.0.1", 1234, 22, "S"),  # inbound: denied
              tcp(ROUTER, "02:00:00:00:00:77", "203.0.113.5", "10.0.0.50", 1, 2, "S")]  # unknown MAC
    r = Run(binary, tmp, {"web": web, "uplink": uplink})
    check(has(r.out["uplink"], TCP, dport=443), "allowed SYN to 443 did not leave through the uplink")
    check(not has(r.out["uplink"], TCP, dport=23), "telnet to 198.51.100.0/24 should be denied by the earlier rule")
    check(not has(r.out["uplink"], TCP, dport=25), "SYN to port 25 should be denied")
    check(has(r.out["web"], TCP, sport=443, dport=42000), "reply from outside did not reach web")
    check(not has(r.out["web"], TCP, dport=22), "inbound connection from outside was forwarded")
    check(r.drops("unknown_destination") == 1, "unknown_destination = %d" % r.drops("unknown_destination"))
    check(any(a["rule"] == "block-telnet-out" for a in r.alerts_of("policy.deny")), "no alert for block-telnet-out")


def scenario_ipv6(binary, tmp):
    """IPv6 with extension headers is classified and tracked like IPv4."""
    web = [Ether(src=WEB, dst=DB) / IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=43000, dport=5432, flags="S"),
           Ether(src=WEB, dst=DB) / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6EchoRequest(id=9),
           Ether(src=WEB, dst=DB) / IPv6(src="fd00::1", dst="fd00::2") / TCP(sport=43001, dport=22, flags="S")]
    db = [Ether(src=DB, dst=WEB) / IPv6(src="fd00::2", dst="fd00::1") / TCP(sport=5432, dport=43000, flags="SA")]
    r = Run(binary, tmp, {"web": web, "db": db})
    check(has(r.out["db"], TCP, dport=5432), "IPv6 SYN to 5432 did not reach db")
    check(has(r.out["db"], ICMPv6EchoRequest), "ICMPv6 echo did not reach db")
    check(not has(r.out["db"], TCP, dport=22), "IPv6 SYN to 22 was forwarded")
    check(has(r.out["web"], TCP, sport=5432), "IPv6 SYN-ACK did not reach web")


def scenario_fragments(binary, tmp):
    """Later fragments follow the first fragment's verdict; orphans are dropped."""
    big = Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2", id=4242) / UDP(sport=5001, dport=53) / Raw(b"x" * 3000)
    frags = fragment(big[IP], fragsize=1000)
    web = [Ether(src=WEB, dst=DB) / f for f in frags]
    orphan = Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2", id=999, frag=100, proto=17) / Raw(b"y" * 100)
    denied = fragment((Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2", id=777) / UDP(sport=5002, dport=99) /
                       Raw(b"z" * 2000))[IP], fragsize=1000)
    web += [orphan] + [Ether(src=WEB, dst=DB) / f for f in denied]
    r = Run(binary, tmp, {"web": web})
    got = [p for p in r.out["db"] if IP in p and p[IP].id == 4242]
    check(len(got) == len(frags), "%d of %d fragments of an allowed datagram arrived" % (len(got), len(frags)))
    check(not any(IP in p and p[IP].id in (999, 777) for p in r.out["db"]), "orphan or denied fragment forwarded")
    check(r.drops("fragment_no_first") == 1 + len(denied) - 1, "fragment_no_first = %d" % r.drops("fragment_no_first"))


def scenario_malformed(binary, tmp):
    """Malformed packets are dropped and counted by reason; the switch keeps going."""
    good = tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 44000, 5432, "S")
    raw = bytes(good)
    web = [Raw(raw[:10]),                                               # truncated Ethernet
           Raw(raw[:20]),                                               # truncated IP
           Raw(raw[:14] + bytes([0x43]) + raw[15:]),                    # IHL 3
           Raw(raw[:16] + b"\xff\xff" + raw[18:]),                      # total length > frame
           Raw(raw[:14 + 20 + 12] + bytes([0x20]) + raw[14 + 20 + 13:]),  # TCP data offset 2
           Raw(bytes(Ether(src=WEB, dst=DB, type=0x88cc) / Raw(b"lldp"))),  # unsupported EtherType
           Raw(raw)]
    r = Run(binary, tmp, {"web": web})
    for reason in ["truncated_ethernet", "truncated_ip", "bad_ip_header_length", "bad_ip_total_length",
                   "bad_tcp_header_length", "unsupported_ethertype"]:
        check(r.drops(reason) == 1, "%s = %d, want 1" % (reason, r.drops(reason)))
    check(len(r.out["db"]) == 1, "the one good packet after the bad ones should pass")


def scenario_flow_table_full(binary, tmp):
    """When the flow table is full new flows are denied (fail closed), existing ones keep working."""
    web = [Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2") / UDP(sport=10000 + i, dport=53) for i in range(100)]
    db = [Ether(src=DB, dst=WEB) / IP(src="10.0.0.2", dst="10.0.0.1") / UDP(sport=53, dport=10000)]  # reply to flow 0
    r = Run(binary, tmp, {"web": web, "db": db}, flow_table=64, flow_per_port=1000)  # the table's bound, not a port's share
    check(sum(1 for p in r.out["db"] if UDP in p) == 64, "want exactly 64 flows admitted")
    check(r.drops("flow_table_full") == 36, "flow_table_full = %d, want 36" % r.drops("flow_table_full"))
    check(has(r.out["web"], UDP, sport=53, dport=10000), "an existing flow stopped working when the table filled")
    full = r.alerts_of("flow_table.full")
    check(full and sum(int(a["count"]) for a in full) == 36, "flow_table.full alerts should count 36 refusals")


def scenario_icmp_related(binary, tmp):
    """ICMP errors pass back along the connection they quote (path MTU discovery); others do not."""
    from scapy.all import ICMPv6PacketTooBig, IPerror, TCPerror
    web = [tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.5", 42000, 443, "S"),
           Ether(src=WEB, dst=ROUTER) / IPv6(src="fd00::1", dst="2001:db8::5") / TCP(sport=42001, dport=443, flags="S")]
    quoted = IP(src="10.0.0.1", dst="203.0.113.5") / TCP(sport=42000, dport=443, flags="S")
    db = [Ether(src=DB, dst=WEB) / IP(src="10.0.0.2", dst="10.0.0.1") / ICMP(type=3, code=4) / bytes(quoted)]
    uplink = [
        Ether(src=ROUTER, dst=WEB) / IP(src="198.51.100.1", dst="10.0.0.1") / ICMP(type=3, code=4, nexthopmtu=1400) /
        bytes(quoted),
        Ether(src=ROUTER, dst=WEB) / IPv6(src="2001:db8::1", dst="fd00::1") / ICMPv6PacketTooBig(mtu=1280) /
        bytes(IPv6(src="fd00::1", dst="2001:db8::5") / TCP(sport=42001, dport=443, flags="S")),
        Ether(src=ROUTER, dst=WEB) / IP(src="198.51.100.1", dst="10.0.0.1") / ICMP(type=3, code=1) /
        bytes(IP(src="10.0.0.1", dst="203.0.113.9") / TCP(sport=1, dport=2)),    # quotes nothing tracked
        Ether(src=ROUTER, dst=WEB) / IP(src="198.51.100.1", dst="10.0.0.1") / ICMP(type=3, code=1) / b"\x45"]  # cut short
    r = Run(binary, tmp, {"web": web, "db": db, "uplink": uplink})
    check(any(ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 4 and p[IP].src == "198.51.100.1" for p in r.out["web"]),
          "fragmentation-needed for web's connection did not reach web")
    check(any(ICMPv6PacketTooBig in p for p in r.out["web"]), "ICMPv6 packet-too-big did not reach web")
    check(not any(ICMP in p and p[ICMP].code == 1 for p in r.out["web"]), "an unrelated ICMP error reached web")
    check(not any(ICMP in p and p[IP].src == "10.0.0.2" for p in r.out["web"]),
          "an ICMP error from the wrong side (db) reached web")
    check(r.drops("icmp_error_unrelated") == 2, "icmp_error_unrelated = %d, want 2" % r.drops("icmp_error_unrelated"))
    check(r.drops("flow_wrong_port") == 1, "flow_wrong_port = %d, want 1" % r.drops("flow_wrong_port"))


def scenario_alert_formats(binary, tmp):
    """The alert file in each SIEM format: one record a line, the deny rendered with its fields."""
    web = [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 40001, 22, "S")]
    want = {"cef": "CEF:0|Goldgate|goldgate-switch|0.1|policy.deny|",
            "leef": "LEEF:2.0|Goldgate|goldgate-switch|0.1|policy.deny|x09|",
            "rfc5424": "<132>1 ",
            "ocsf": '{"class_uid":4001,"class_name":"Network Activity"'}
    for fmt, prefix in want.items():
        sub = os.path.join(tmp, fmt)
        os.makedirs(sub)
        r = Run(binary, sub, {"web": web}, alert_format=fmt)
        denies = [l for l in r.alert_lines if "policy.deny" in l]
        check(len(denies) == 1, "%s: want one deny record, got %d" % (fmt, len(denies)))
        check(denies[0].startswith(prefix), "%s: record does not start with %r: %s" % (fmt, prefix, denies[0][:120]))
        check("10.0.0.2" in denies[0] and "22" in denies[0], "%s: destination missing from %s" % (fmt, denies[0]))
        if fmt == "ocsf":
            ev = json.loads(denies[0])
            check(ev["dst_endpoint"] == {"ip": "10.0.0.2", "port": 22} and ev["disposition"] == "Blocked",
                  "ocsf: wrong endpoint or disposition: %s" % ev)


def scenario_vhost_user(binary, tmp):
    """A VM on a vhost-user port: dpdk-testpmd with a virtio-user device plays the guest's NIC."""
    import shutil
    import signal
    import time
    testpmd = shutil.which("dpdk-testpmd")
    check(testpmd is not None, "dpdk-testpmd not installed (scripts/install-deps.sh installs dpdk-dev)")
    empty = os.path.join(tmp, "empty.pcap")
    open(empty, "wb").write(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    sock = os.path.join(tmp, "vm.sock")
    os.makedirs(os.path.join(tmp, "segments"))
    open(os.path.join(tmp, "segments", "s.yaml"), "w").write(
        "segments: [{name: app, members: {vms: [vm1]}}]\n"
        "rules: [{name: out, from: app, to: external, proto: udp, action: allow}]\n")
    open(os.path.join(tmp, "goldgate.yaml"), "w").write(
        "eal: [-l, '0', --no-huge, -m, '256', --no-shconf, --no-pci, --no-telemetry, --log-level, '*:warning']\n"
        "mbufs: 4095\nsegments_dir: segments\ncontrol: {socket: %s/ctl.sock}\nalerts: {file: %s/alerts.jsonl}\n"
        "quarantine_file: %s/quarantine\n"
        "ports:\n  - {name: vm, devargs: 'net_vhost0,iface=%s', vm: vm1, mac: '02:00:00:00:00:01', ips: [10.0.0.1]}\n"
        "  - {name: up, devargs: 'net_pcap0,rx_pcap=%s,tx_pcap=%s/out.pcap', role: uplink}\n" % (tmp, tmp, tmp, sock, empty, tmp))
    stats = os.path.join(tmp, "stats.json")
    sw = subprocess.Popen([binary, "-c", os.path.join(tmp, "goldgate.yaml"), "--stats-json", stats],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):
            if os.path.exists(sock):
                break
            time.sleep(0.05)
        check(os.path.exists(sock), "the switch did not create its vhost-user socket")

        def guest(src, prefix):
            # txonly: UDP 64-byte packets from the guest's MAC toward the router, for ~4 s (testpmd itself
            # takes a second or more to start on a loaded two-core machine).
            subprocess.run(["timeout", "-s", "INT", "4", testpmd, "-l", "0,1", "--no-huge", "-m", "256", "--no-pci",
                            "--no-shconf", "--no-telemetry", "--file-prefix", prefix, "--log-level", "*:error",
                            "--vdev", "net_virtio_user0,path=%s,mac=02:00:00:00:00:01" % sock, "--",
                            "--forward-mode=txonly", "--tx-ip=%s,198.18.0.1" % src, "--eth-peer=0,02:00:00:00:00:fe",
                            "--total-num-mbufs=4096", "--stats-period=1"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        guest("10.0.0.1", "vm-good")
        guest("10.0.0.66", "vm-spoof")
    finally:
        sw.send_signal(signal.SIGTERM)
        sw.wait(30)
    st = json.load(open(stats))
    check(st["ports"]["vm"]["rx"] > 1000, "the switch received only %d packets from the vhost-user guest" % st["ports"]["vm"]["rx"])
    check(st["ports"]["up"]["tx"] > 1000, "only %d guest packets left through the uplink" % st["ports"]["up"]["tx"])
    check(st["drops"]["spoofed_ip"] > 1000, "spoofed packets from the guest were not dropped (%d)" % st["drops"]["spoofed_ip"])
    check(st["ports"]["up"]["tx"] + st["drops"]["spoofed_ip"] == st["ports"]["vm"]["rx"],
          "packets unaccounted for: rx %d, tx %d, spoofed %d" % (st["ports"]["vm"]["rx"], st["ports"]["up"]["tx"],
                                                                st["drops"]["spoofed_ip"]))


DATA_ZONES = """zones:
  - {name: payment, cidrs: [10.0.0.0/24], trusted: true}
  - {name: internet, cidrs: [0.0.0.0/0, "::/0"]}
"""

MARKER_CLASS = """name: project-marker
description: a marker the test plants (quarantine on sight)
severity: 9
detectors:
  patterns: [{literal: TOPSECRET-PROJECT-X}]
policy:
  default: quarantine
"""


def next_burst():
    """32 packets the switch drops quietly (IP multicast): what follows lands in a later burst, after
    the SYNs before it have created their flows."""
    return [Ether(src=WEB, dst="01:00:5e:00:00:fb") / IP(src="10.0.0.1", dst="224.0.0.251") / UDP(sport=5353, dport=5353)] * 32


SERVER_ISN = 4999  # the responders' initial sequence number: data segments acknowledge SERVER_ISN + 1


def answered(syns, data, inputs=None, wscale=7):
    """The TCP normaliser passes data only once its receiver has answered the SYN: each SYN gets a
    window-scale option and a SYN-ACK from its responder (on the db port or the uplink, polled
    after web's first burst), and every later segment acknowledges it. Returns the inputs."""
    inputs = dict(inputs or {})
    for syn in syns:
        syn[TCP].options = [("WScale", wscale)]
        ip = IP if IP in syn else IPv6
        ans = (Ether(src=syn[Ether].dst, dst=syn[Ether].src) / ip(src=syn[ip].dst, dst=syn[ip].src) /
               TCP(sport=syn[TCP].dport, dport=syn[TCP].sport, flags="SA", seq=SERVER_ISN, ack=syn[TCP].seq + 1,
                   window=65535, options=[("WScale", wscale)]))
        # ... then a window update, scaled (a SYN's window never is): 65535 << 7 bytes.
        upd = (Ether(src=syn[Ether].dst, dst=syn[Ether].src) / ip(src=syn[ip].dst, dst=syn[ip].src) /
               TCP(sport=syn[TCP].dport, dport=syn[TCP].sport, flags="A", seq=SERVER_ISN + 1, ack=syn[TCP].seq + 1, window=65535))
        port = "db" if syn[Ether].dst == DB else "uplink"
        inputs[port] = inputs.get(port, []) + [ans, upd]
    for p in data:
        if TCP in p and not p[TCP].flags.S:
            p[TCP].ack = SERVER_ISN + 1
    return inputs


def data_classes(tmp):
    import shutil
    d = os.path.join(tmp, "datapolicy")
    shutil.copytree(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "configs", "datapolicy"), d)
    with open(os.path.join(d, "project-marker.yaml"), "w") as f:
        f.write(MARKER_CLASS)
    return d


def scenario_data_policy(binary, tmp):
    """Data classes inline: a card number split across two segments toward the internet is blocked
    (the completing segment dropped, both sides reset); the same card inside the payment zone passes;
    an email address passes and is reported; a marker class quarantines the sender."""
    classes = data_classes(tmp)
    out_ip = "203.0.113.9"
    ack = SERVER_ISN + 1
    f1 = [tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41001, 443, "S") / Raw(b"")]
    f1[0][TCP].seq = 999
    seg1 = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41001, 443, "PA", b"POST /pay card=4556 7375 ")
    seg1[TCP].seq, seg1[TCP].ack = 1000, ack
    seg2 = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41001, 443, "PA", b"8689 9855&amount=12")
    seg2[TCP].seq, seg2[TCP].ack = 1000 + len(seg1[Raw].load), ack
    f2 = [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 41002, 5432, "S"),
          tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 41002, 5432, "PA", b"INSERT card 4556 7375 8689 9855")]
    f2[1][TCP].seq = f2[0][TCP].seq + 1
    f3 = [tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41003, 80, "S"),
          tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41003, 80, "PA", b"GET /?contact=jane.doe@example.org HTTP/1.1\r\n")]
    f3[1][TCP].seq = f3[0][TCP].seq + 1
    f4 = [tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41004, 443, "S"),
          tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41004, 443, "PA", b"upload TOPSECRET-PROJECT-X plans")]
    f4[1][TCP].seq = f4[0][TCP].seq + 1
    # A card number in the very last bytes of a direction, on the FIN: decided on that segment.
    f5 = [tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41005, 443, "S"),
          tcp(WEB, ROUTER, "10.0.0.1", out_ip, 41005, 443, "FPA", b"total due; pay with 4556 7375 8689 9855")]
    f5[1][TCP].seq = f5[0][TCP].seq + 1
    web = [f1[0], f2[0], f3[0], f4[0], f5[0]] + next_burst() + [seg1, seg2, f2[1], f3[1], f4[1], f5[1]]
    inputs = answered([f1[0], f2[0], f3[0], f4[0], f5[0]], web, {"web": web})
    r = Run(binary, tmp, inputs, extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    up = r.out["uplink"]
    check(has(up, TCP, dport=443, seq=1000), "the first card segment (before the match completed) should pass")
    check(not has(up, TCP, dport=443, seq=seg2[TCP].seq, flags="PA"), "the segment completing the card number left the switch")
    check(has(up, TCP, sport=41001, dport=443, flags="RA", seq=seg2[TCP].seq), "no reset toward the receiver")
    check(has(r.out["web"], TCP, sport=443, dport=41001, flags="RA", seq=ack), "no reset back to the sender")
    check(has(r.out["db"], TCP, dport=5432, flags="PA"), "the card inside the payment zone was not let through")
    check(has(up, TCP, dport=80, flags="PA"), "the email address should pass (policy: alert)")
    check(r.drops("data_policy") >= 2, "data_policy drops = %d" % r.drops("data_policy"))
    cards = r.alerts_of("data.payment-card")
    check(not has(up, TCP, sport=41005, flags="FPA"), "the FIN segment ending with a card number left the switch")
    check(has(up, TCP, sport=41005, flags="RA"), "no reset in place of the FIN segment")
    cards = [c for c in cards if c["flow"]["src_port"] == 41001]
    check(len(cards) == 1 and cards[0]["action"] == "block" and cards[0]["data_class"]["masked_sample"] == "**** **** **** 9855"
          and cards[0]["zone"] == "payment" and cards[0]["dst_zone"] == "internet",
          "want one blocked payment-card finding, payment -> internet, masked: %s" % cards)
    check("4556 7375" not in "\n".join(r.alert_lines), "a clear card number reached the alert file")
    mails = r.alerts_of("data.email")
    check(len(mails) == 1 and mails[0]["action"] == "alert", "want one reported email finding: %s" % mails)
    marks = r.alerts_of("data.project-marker")
    check(len(marks) == 1 and marks[0]["action"] == "quarantine", "want one quarantine finding: %s" % marks)
    check(r.alerts_of("quarantine"), "the sender was not quarantined")
    qlines = [l for l in open(os.path.join(tmp, "quarantine")).read().splitlines() if l and not l.startswith("#")]
    check(qlines == ["web"], "quarantine file lists %s, want [web]" % qlines)


def scenario_data_policy_gap(binary, tmp):
    """A segment that never arrives, then more than the hold bound (2 KiB): what does not fit is
    dropped (tcp_hold_full) for its sender to send again, never skipped unread (no inspection
    gap). Once the hole is filled the stream goes on, and the resent segment, which completes a
    card number, is blocked."""
    classes = data_classes(tmp)
    syn = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 42001, 443, "S")
    syn[TCP].seq = 0
    later = []
    for k in range(3):  # bytes 1..1400 not yet sent; three later segments exceed the 2 KiB hold
        s = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 42001, 443, "PA", b"x" * 1000 if k < 2 else b"card 4556 7375 8689 9855 " + b"z" * 975)
        s[TCP].seq = 1 + 1400 + 1000 * k
        later.append(s)
    hole = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 42001, 443, "PA", b"w" * 1400)
    hole[TCP].seq = 1
    resent = later[2].copy()
    segs = [syn] + next_burst() + later + [hole, resent]
    r = Run(binary, tmp, answered([syn], segs, {"web": segs}),
            extra_yaml=DATA_ZONES + "inspection: {classes: %s, hold_kb: 2}\n" % classes)
    check(r.drops("tcp_hold_full") == 1, "tcp_hold_full = %d, want 1 (the third segment past the hold)" % r.drops("tcp_hold_full"))
    check(not r.alerts_of("inspection.gap"), "an inspection gap: bytes were skipped: %s" % r.alerts_of("inspection.gap"))
    up = [p for p in r.out["uplink"] if TCP in p and p[TCP].flags == "PA"]
    check(len(up) == 3, "want the two held segments and the hole's filler out, %d left" % len(up))
    cards = r.alerts_of("data.payment-card")
    check(len(cards) == 1 and cards[0]["action"] == "block", "want the card in the resent segment blocked: %s" % cards)


def scenario_data_policy_hold_total(binary, tmp):
    """The worker's bound on held out-of-order bytes (1 MiB here), of which one VM port may take
    half, is reached before the per-direction one (4 MiB): the segments past the port's 512 KiB are
    dropped (tcp_hold_full), the ones held pass, and nothing is skipped unread (no inspection gap)."""
    classes = data_classes(tmp)
    syn = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 43001, 443, "S")
    syn[TCP].seq = 0
    segs = [syn] + next_burst()
    for k in range(800):  # bytes 1..1400 never sent; then 1.1 MB behind the hole
        s = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 43001, 443, "PA", b"y" * 1400)
        s[TCP].seq = 1 + 1400 + 1400 * k
        segs.append(s)
    r = Run(binary, tmp, answered([syn], segs, {"web": segs}),
            extra_yaml=DATA_ZONES + "inspection: {classes: %s, hold_kb: 4096, hold_total_mb: 1}\n" % classes)
    check(not r.alerts_of("inspection.gap"), "an inspection gap: bytes were skipped")
    passed = len([p for p in r.out["uplink"] if TCP in p and p[TCP].flags == "PA"])
    check(360 <= passed <= 375, "%d data segments passed, want about 512 KiB's worth (the port's half)" % passed)
    check(r.drops("tcp_hold_full") == 800 - passed, "tcp_hold_full = %d, want %d" % (r.drops("tcp_hold_full"), 800 - passed))


def scenario_data_policy_fragments(binary, tmp):
    """IP fragments of inspected connections are gathered and inspected whole: a card number that
    straddles two fragments toward the internet is blocked by holding back the fragment that would
    complete the datagram (and a second copy of it); the same datagram inside the payment zone, and
    a UDP datagram with an email address, arrive whole; overlapping fragments are dropped, never
    passed unread."""
    classes = data_classes(tmp)
    out_ip = "203.0.113.9"

    def frags(src, dst, mac, l4, payload, ident, size=1000):
        return [Ether(src=WEB, dst=mac) / f for f in fragment(IP(src=src, dst=dst, id=ident) / l4 / Raw(payload), fragsize=size)]

    card = b"4556 7375 8689 9855"
    body = b"x" * 960 + b" card no " + card + b" y" + b"y" * (2500 - 969 - len(card) - 2)  # the card: data bytes 969..987
    syns = [tcp(WEB, ROUTER, "10.0.0.1", out_ip, 44001, 443, "S"), tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 44002, 5432, "S"),
            tcp(WEB, ROUTER, "10.0.0.1", out_ip, 44004, 443, "S")]
    for p in syns:
        p[TCP].seq = 99
    A = SERVER_ISN + 1
    out = frags("10.0.0.1", out_ip, ROUTER, TCP(sport=44001, dport=443, flags="PA", seq=100, ack=A), body, 5101)
    inside = frags("10.0.0.1", "10.0.0.2", DB, TCP(sport=44002, dport=5432, flags="PA", seq=100, ack=A), body, 5102)
    mail = frags("10.0.0.1", "10.0.0.2", DB, UDP(sport=44003, dport=53), b"q" * 990 + b"jane.doe@example.org " + b"z" * 600, 5103)
    # Overlap: the second fragment starts 8 bytes inside the first.
    whole = bytes(IP(src="10.0.0.1", dst=out_ip, id=5104) / TCP(sport=44004, dport=443, flags="PA", seq=100, ack=A) / Raw(b"o" * 1600))
    hdr, data = whole[:20], whole[20:]
    first = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst=out_ip, id=5104, flags="MF", proto=6) / Raw(data[:1000])
    second = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst=out_ip, id=5104, frag=124, proto=6) / Raw(data[992:])
    # IPv6: the same card toward the internet, in fragments with a fragment header.
    syn6 = Ether(src=WEB, dst=ROUTER) / IPv6(src="fd00::1", dst="2001:db8::9") / TCP(sport=44005, dport=443, flags="S", seq=99)
    out6 = [Ether(src=WEB, dst=ROUTER) / f for f in fragment6(
        IPv6(src="fd00::1", dst="2001:db8::9") / IPv6ExtHdrFragment(id=5105) / TCP(sport=44005, dport=443, flags="PA", seq=100, ack=A) /
        Raw(body), 1100)]
    check(len(out) == 3 and len(inside) == 3 and len(mail) == 2 and len(out6) == 3, "unexpected fragment counts")
    web = syns + [syn6] + next_burst() + out + [out[-1]] + inside + mail + [first, second] + out6
    r = Run(binary, tmp, answered(syns + [syn6], [], {"web": web}), extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    up = [p for p in r.out["uplink"] if IP in p]
    sent = [p for p in up if p[IP].id == 5101]
    check(len(sent) == 2 and all(p[IP].flags.MF for p in sent),
          "toward the internet, want the two first fragments and not the last (nor its copy): %d left" % len(sent))
    cards = [c for c in r.alerts_of("data.payment-card") if c["flow"]["src_port"] == 44001]
    check(len(cards) == 1 and cards[0]["action"] == "block" and cards[0]["data_class"]["masked_sample"] == "**** **** **** 9855",
          "want one blocked payment-card finding for the fragmented datagram: %s" % cards)
    sent6 = [p for p in r.out["uplink"] if IPv6ExtHdrFragment in p and p[IPv6ExtHdrFragment].id == 5105]
    check(len(sent6) == 2 and all(p[IPv6ExtHdrFragment].m for p in sent6),
          "IPv6 toward the internet, want the two first fragments and not the last: %d left" % len(sent6))
    cards6 = [c for c in r.alerts_of("data.payment-card") if c["flow"]["src_port"] == 44005]
    check(len(cards6) == 1 and cards6[0]["action"] == "block", "want one blocked finding for the IPv6 datagram: %s" % cards6)
    check(r.drops("data_policy") >= 2, "data_policy drops = %d" % r.drops("data_policy"))
    check(r.drops("fragment_no_first") >= 1, "the copy of the held-back fragment was not dropped (fragment_no_first = %d)"
          % r.drops("fragment_no_first"))
    got = [p for p in r.out["db"] if IP in p and p[IP].id == 5102]
    check(len(got) == 3, "inside the payment zone %d of 3 fragments arrived" % len(got))
    rebuilt = defragment([p[IP] for p in got])
    check(len(rebuilt) == 1 and bytes(rebuilt[0][TCP].payload) == body, "the datagram inside the zone did not arrive whole")
    got = [p for p in r.out["db"] if IP in p and p[IP].id == 5103]
    check(len(got) == 2, "%d of 2 UDP fragments arrived" % len(got))
    mails = [m for m in r.alerts_of("data.email") if m["flow"]["src_port"] == 44003]
    check(len(mails) == 1 and mails[0]["action"] == "alert" and mails[0]["flow"]["dst_port"] == 53,
          "want one email finding in the fragmented UDP datagram: %s" % mails)
    check(not any(p[IP].id == 5104 and p[IP].frag == 124 for p in up), "an overlapping fragment left the switch")
    check(r.drops("fragment_uninspected") == 1, "fragment_uninspected = %d" % r.drops("fragment_uninspected"))


def frag_bucket(src, dst, ident):
    """The fragment-table hash of an IPv4 datagram, as the worker computes it: rte_hash_crc (CRC-32C,
    no inversion) of its addresses, seeded with its identification. Its low 8 bits pick the bucket;
    equal low 10 bits also collide in a direct-mapped table of 1024."""
    crc = ident
    for b in socket.inet_aton(src) + socket.inet_aton(dst):
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ (0x82F63B78 if crc & 1 else 0)
    return crc & 1023


def scenario_data_policy_fragment_evasion(binary, tmp):
    """A datagram's fragments may not be inspected as one datagram while its receiver assembles
    another: a first fragment with a card's first half passes; other datagrams that land in the
    same bucket of the fragment table cannot push it out (no room: dropped); a second first
    fragment with the same checksum but other bytes (the receiver would keep its first copy and
    ignore this one) is refused, and so is the rest of that datagram."""
    classes = data_classes(tmp)
    out_ip = "203.0.113.9"
    A = SERVER_ISN + 1
    syn = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 44101, 443, "S")
    syn[TCP].seq = 99
    card = b"4556 7375 8689 9855"
    body = b"x" * 960 + b" card no " + card + b" y" + b"y" * (2500 - 969 - len(card) - 2)  # the card straddles 1000
    did = 6001
    d = [Ether(src=WEB, dst=ROUTER) / f for f in fragment(
        IP(src="10.0.0.1", dst=out_ip, id=did) / TCP(sport=44101, dport=443, flags="PA", seq=100, ack=A) / Raw(body), fragsize=1000)]
    # The same first fragment with its data's 16-bit words in reverse order: the same checksum, no card.
    raw = bytes(d[0][IP].payload)
    words = [raw[k:k + 2] for k in range(20, len(raw), 2)]
    again = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst=out_ip, id=did, flags="MF", proto=6) / Raw(
        raw[:20] + b"".join(reversed(words)))
    check(card[:7] not in bytes(again[Raw]) and len(bytes(again[Raw])) == len(raw), "the second copy still shows the card")
    # First fragments of UDP datagrams to db (inspected, so gathered) in D's bucket.
    bucket = frag_bucket("10.0.0.1", out_ip, did)
    ids = [i for i in range(7000, 70000) if frag_bucket("10.0.0.1", "10.0.0.2", i & 0xffff) == bucket][:4]
    check(len(ids) == 4, "no colliding identifications found")
    fill = [Ether(src=WEB, dst=DB) / fragment(IP(src="10.0.0.1", dst="10.0.0.2", id=i & 0xffff) / UDP(sport=44102, dport=53) /
                                              Raw(b"q" * 1600), fragsize=1000)[0] for i in ids]
    web = [syn] + next_burst() + [d[0]] + fill + [again, d[1], d[2]]
    r = Run(binary, tmp, answered([syn], [], {"web": web}), extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    sent = [p for p in r.out["uplink"] if IP in p and p[IP].id == did]
    check(len(sent) == 1 and bytes(sent[0][IP].payload) == raw,
          "want only the first copy of the first fragment out, %d fragments of the datagram left" % len(sent))
    got = [p for p in r.out["db"] if IP in p and p[IP].proto == 17]
    check(len(got) == 3, "want three of the four colliding first fragments through, %d" % len(got))
    check(r.drops("fragment_uninspected") == 4, "fragment_uninspected = %d, want 4 (no room, the second copy, "
          "and the two fragments after it)" % r.drops("fragment_uninspected"))


def scenario_anti_spoofing(binary, tmp):
    """Addresses come only from the binding. A VM port that binds none has no address: it sends
    only address acquisition (ARP probe from 0.0.0.0, duplicate address detection from ::). ND from
    a VM is inspected: an advertisement for a neighbour's address, a link-layer address option that
    is not the port's MAC, duplicate address detection for an address it does not own are dropped
    (nd_spoofed). From the uplink, a new connection, ARP or ND in the name of a VM here is forged
    (spoofed_from_outside), even where a rule names that address."""
    BARE = "02:00:00:00:00:0b"
    extra = [("bare", 'vm: bare1, mac: "%s"' % BARE)]
    segments = SEGMENTS.replace("members: {vms: [web1]}", "members: {vms: [web1, bare1]}").replace("quarantine:\n", """  - name: lab-in
    from: 10.0.0.0/24
    to: web
    proto: tcp
    ports: 8080
    action: allow
quarantine:
""")
    bare = [Ether(src=BARE, dst=DB) / IP(src="10.0.0.50", dst="10.0.0.2") / ICMP(),                 # no address: spoofed_ip
            Ether(src=BARE, dst=BCAST) / ARP(op=1, hwsrc=BARE, psrc="10.0.0.50", pdst="10.0.0.2"),  # spoofed_ip
            Ether(src=BARE, dst=BCAST) / ARP(op=1, hwsrc=BARE, psrc="0.0.0.0", pdst="10.0.0.50"),   # probe: passes
            Ether(src=BARE, dst="33:33:ff:00:00:50") / IPv6(src="::", dst="ff02::1:ff00:50") / ICMPv6ND_NS(tgt="fd00::50")]  # DAD: passes
    na = lambda tgt, lla: (Ether(src=WEB, dst="33:33:00:00:00:01") / IPv6(src="fd00::1", dst="ff02::1") /
                           ICMPv6ND_NA(tgt=tgt, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=lla))
    web = [na("fd00::2", WEB),                                                                       # db's address
           na("fd00::1", OTHER),                                                                     # another MAC
           Ether(src=WEB, dst="33:33:ff:00:00:02") / IPv6(src="fd00::1", dst="ff02::1:ff00:2") /
           ICMPv6ND_NS(tgt="fd00::2") / ICMPv6NDOptSrcLLAddr(lladdr=OTHER),                           # another MAC
           Ether(src=WEB, dst="33:33:ff:00:00:02") / IPv6(src="::", dst="ff02::1:ff00:2") / ICMPv6ND_NS(tgt="fd00::2"),  # DAD for db's
           na("fd00::1", WEB)]                                                                       # its own: passes
    # Its own advertisement again, in two fragments: the second could carry another MAC's option.
    web += [Ether(src=WEB, dst="33:33:00:00:00:01") / IPv6(src="fd00::1", dst="ff02::1") / IPv6ExtHdrFragment(id=77, m=1) /
            ICMPv6ND_NA(tgt="fd00::1", R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=WEB)]
    uplink = [tcp(ROUTER, WEB, "10.0.0.2", "10.0.0.1", 51000, 8080, "S"),                            # db's address from outside
              tcp(ROUTER, WEB, "198.51.100.7", "10.0.0.1", 51001, 8080, "S"),                        # not a VM's: denied by rules
              Ether(src=ROUTER, dst=BCAST) / ARP(op=2, hwsrc=ROUTER, psrc="10.0.0.1", pdst="10.0.0.2"),
              Ether(src=ROUTER, dst="33:33:00:00:00:01") / IPv6(src="fe80::fe", dst="ff02::1") /
              ICMPv6ND_NA(tgt="fd00::2", R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=ROUTER)]
    r = Run(binary, tmp, {"bare": bare, "web": web, "uplink": uplink}, extra_ports=extra, segments=segments)
    check(r.drops("spoofed_ip") == 2, "spoofed_ip = %d, want 2 (IP and ARP from a port without addresses)" % r.drops("spoofed_ip"))
    check(has(r.out["web"], ARP, psrc="0.0.0.0"), "the ARP probe of a port without addresses did not pass")
    check(has(r.out["web"], ICMPv6ND_NS, tgt="fd00::50"), "duplicate address detection of a port without addresses did not pass")
    check(not has(r.out["db"], IP, src="10.0.0.50") and not has(r.out["web"], ARP, psrc="10.0.0.50"), "an unbound address passed")
    check(r.drops("nd_spoofed") == 5, "nd_spoofed = %d, want 5 (four forged, one fragmented)" % r.drops("nd_spoofed"))
    check(not has(r.out["db"], ICMPv6ND_NA, tgt="fd00::2"), "web's advertisement for db's address passed")
    check(has(r.out["db"], ICMPv6ND_NA, tgt="fd00::1"), "web's own advertisement did not pass")
    check(not any(ICMPv6NDOptSrcLLAddr in p and p[ICMPv6NDOptSrcLLAddr].lladdr == OTHER for p in r.out["db"]) and
          not any(ICMPv6NDOptDstLLAddr in p and p[ICMPv6NDOptDstLLAddr].lladdr == OTHER for p in r.out["db"]),
          "an ND message with another MAC's link-layer address passed")
    check(r.drops("spoofed_from_outside") == 3, "spoofed_from_outside = %d, want 3 (SYN, ARP, NA)" % r.drops("spoofed_from_outside"))
    check(not has(r.out["web"], TCP, sport=51000), "a connection from outside in db's name reached web")
    check(not has(r.out["web"], ARP, psrc="10.0.0.1") and not has(r.out["web"], ICMPv6ND_NA, tgt="fd00::2"),
          "ARP or ND from outside claiming a VM's address passed")
    check(r.drops("policy_deny") >= 1, "the outside SYN from a non-VM address was not judged by the rules")
    check(len([a for a in r.alerts_of("spoof.ip")]) >= 1, "no spoof.ip alert: %s" % sorted({a["kind"] for a in r.alerts}))


def scenario_data_policy_icmp_quote(binary, tmp):
    """Under inspection an ICMP error quotes no more than an error needs: a VM's port-unreachable
    toward the internet that quotes the connection's packet with a card number behind it leaves
    with the quoted IP header and 8 bytes only (lengths and checksums right, RFC 4884 length
    cleared); an error already that short is left as it is."""
    from scapy.all import IPerror, TCPerror
    classes = data_classes(tmp)
    syn = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 44201, 443, "S")
    syn[TCP].seq = 99
    quote = IPerror(src="203.0.113.9", dst="10.0.0.1") / TCPerror(sport=443, dport=44201, flags="PA", seq=5000) / Raw(
        b"card 4556 7375 8689 9855 " * 40)
    long_err = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst="203.0.113.9", id=7101) / ICMP(type=3, code=3) / quote
    long_err[ICMP].length = 0  # set below: an RFC 4884 length claiming an extension after the quote
    raw = bytearray(bytes(long_err))
    raw[14 + 20 + 5] = 32  # 128 bytes of "original datagram"
    raw[14 + 20 + 2:14 + 20 + 4] = b"\0\0"
    long_err = Ether(bytes(raw))
    del long_err[ICMP].chksum
    long_err = Ether(bytes(long_err))
    short = bytes(IPerror(src="203.0.113.9", dst="10.0.0.1") / TCPerror(sport=443, dport=44201, flags="A", seq=5000))[:28]
    short_err = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst="203.0.113.9", id=7102) / ICMP(type=3, code=3) / Raw(short)
    from scapy.all import ICMPv6DestUnreach
    syn6 = Ether(src=WEB, dst=ROUTER) / IPv6(src="fd00::1", dst="2001:db8::9") / TCP(sport=44202, dport=443, flags="S", seq=99)
    quote6 = IPv6(src="2001:db8::9", dst="fd00::1") / TCP(sport=443, dport=44202, flags="PA", seq=5000) / Raw(b"card 4556 7375 8689 9855 " * 40)
    err6 = Ether(src=WEB, dst=ROUTER) / IPv6(src="fd00::1", dst="2001:db8::9", fl=7103) / ICMPv6DestUnreach(code=4) / bytes(quote6)
    web = [syn, syn6] + next_burst() + [long_err, short_err, err6]
    # A router's redirect for the connection (toward web), quoting web's packet with card numbers behind
    # it: cut too, its gateway address (where other errors keep the RFC 4884 length) left as it is.
    redirect = (Ether(src=ROUTER, dst=WEB) / IP(src="198.51.100.1", dst="10.0.0.1", id=7104) / ICMP(type=5, code=1, gw="198.51.100.254") /
                IPerror(src="10.0.0.1", dst="203.0.113.9") / TCPerror(sport=44201, dport=443, flags="PA", seq=100) /
                Raw(b"card 4556 7375 8689 9855 " * 20))
    inputs = answered([syn, syn6], [], {"web": web})
    inputs["uplink"] = inputs["uplink"] + [redirect]
    r = Run(binary, tmp, inputs, extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    red = [p for p in r.out["web"] if ICMP in p and p[IP].id == 7104]
    check(len(red) == 1 and len(red[0][IP]) == 56 and red[0][ICMP].gw == "198.51.100.254",
          "the redirect was not cut with its gateway intact: %s" % [(len(p[IP]), p[ICMP].gw) for p in red])
    v6 = [p for p in r.out["uplink"] if ICMPv6DestUnreach in p]
    check(len(v6) == 1 and len(v6[0][IPv6].payload) == 8 + 40 + 8 and b"4556" not in bytes(v6[0]),
          "the ICMPv6 error was not cut to its quoted header and 8 bytes: %s" % [len(p[IPv6].payload) for p in v6])
    redo6 = Ether(bytes(v6[0]))
    del redo6[IPv6].plen
    del redo6[ICMPv6DestUnreach].cksum
    redo6 = Ether(bytes(redo6))
    check(redo6[ICMPv6DestUnreach].cksum == v6[0][ICMPv6DestUnreach].cksum and redo6[IPv6].plen == v6[0][IPv6].plen,
          "the cut ICMPv6 error's length or checksum is wrong")
    errs = {p[IP].id: p for p in r.out["uplink"] if ICMP in p}
    check(7101 in errs and 7102 in errs, "want both errors out, got ids %s" % sorted(errs))
    cut = errs[7101]
    check(len(cut[IP]) == 20 + 8 + 20 + 8, "the long error left with %d IP bytes, want 56" % len(cut[IP]))
    check(b"4556" not in bytes(cut), "the card left in the error's quote")
    check(cut[ICMP].length == 0, "the RFC 4884 length was not cleared")
    redo = Ether(bytes(cut))
    del redo[IP].chksum
    del redo[ICMP].chksum
    redo = Ether(bytes(redo))
    check(redo[IP].chksum == cut[IP].chksum and redo[ICMP].chksum == cut[ICMP].chksum, "a checksum of the cut error is wrong")
    check(bytes(errs[7102]) == bytes(short_err), "an error already short enough was changed")
    check(r.stats["icmp_quotes_cut"] == 3, "icmp_quotes_cut = %d, want 3" % r.stats["icmp_quotes_cut"])


def scenario_data_policy_udp_split(binary, tmp):
    """UDP datagrams of a flow are one stream: a card number split over two datagrams toward the
    internet is blocked on the datagram that completes it, although a junk datagram with a bad
    checksum comes between them (dropped before it is read: its receiver discards it too) and the
    first carries junk past its UDP length (not the datagram's: not read)."""
    classes = data_classes(tmp)
    segments = SEGMENTS.replace("quarantine:\n", """  - name: web-quic
    from: web
    to: external
    proto: udp
    ports: 443
    action: allow
quarantine:
""")
    def dgram(payload, ident):
        return Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst="203.0.113.9", id=ident) / UDP(sport=45001, dport=443) / Raw(payload)
    first = dgram(b"card 4556 7375 ", 7201)
    padded = bytearray(bytes(first))
    padded += b"1111"                       # past the UDP length, inside the IP length
    ip_total = len(padded) - 14
    padded[16:18] = ip_total.to_bytes(2, "big")
    padded[24:26] = b"\0\0"
    first = Ether(bytes(padded))
    del first[IP].chksum
    first = Ether(bytes(first))
    junk = dgram(b"xxxxxxxxxxxxxxxxxxx ", 7202)
    junk[UDP].chksum = 0x1234
    second = dgram(b"8689 9855 ", 7203)
    r = Run(binary, tmp, {"web": [first, junk, second]}, segments=segments,
            extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    ids = [p[IP].id for p in r.out["uplink"] if UDP in p]
    check(ids == [7201], "want only the first datagram out, got %s" % ids)
    check(r.drops("bad_l4_checksum") == 1, "bad_l4_checksum = %d" % r.drops("bad_l4_checksum"))
    cards = r.alerts_of("data.payment-card")
    check(len(cards) == 1 and cards[0]["action"] == "block", "want one blocked card: %s" % cards)


def scenario_data_policy_hardened(binary, tmp):
    """Inspection settings follow a hardened VM: with inspection off by default and on for segment
    web, web1 moved to web's hardened twin (hostmon's harden response) is still inspected, and its
    card number toward the internet is blocked."""
    classes = data_classes(tmp)
    segments = """
segments:
  - name: web
    members: {vms: [web2]}
  - name: web.hardened
    members: {vms: [web1]}
  - name: db
    members: {labels: {tier: db}}
rules:
  - {name: out, from: web.hardened, to: external, proto: tcp, ports: 443, action: allow}
"""
    syn = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 45001, 443, "S")
    data = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 45001, 443, "PA", b"pay with card 4556 7375 8689 9855 now")
    data[TCP].seq = syn[TCP].seq + 1
    r = Run(binary, tmp, answered([syn], [data], {"web": [syn] + next_burst() + [data]}), segments=segments,
            extra_yaml=DATA_ZONES + "inspection: {classes: %s, default: off, segments: {web: on}}\n" % classes)
    check(has(r.out["uplink"], TCP, dport=443, flags="S"), "the hardened VM's connection was not admitted")
    check(not has(r.out["uplink"], TCP, dport=443, flags="PA"), "the card number left: the hardened VM was not inspected")
    cards = r.alerts_of("data.payment-card")
    check(len(cards) == 1 and cards[0]["action"] == "block", "want one blocked finding: %s" % cards)


def scenario_data_policy_trusted(binary, tmp):
    """Class rules may name zone groups: `from: trusted, to: untrusted` blocks a class leaving the
    zones marked trusted (payment -> internet), and leaves it to the default inside them."""
    classes = data_classes(tmp)
    with open(os.path.join(classes, "trust-marker.yaml"), "w") as f:
        f.write("name: trust-marker\ndescription: a marker the test plants\nseverity: 5\n"
                "detectors:\n  patterns: [{literal: TRUSTMARK-7}]\n"
                "policy:\n  default: alert\n  rules:\n    - {from: trusted, to: untrusted, action: block}\n")
    out = [tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46001, 443, "S"),
           tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46001, 443, "PA", b"note TRUSTMARK-7 here")]
    inside = [tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 46002, 5432, "S"),
              tcp(WEB, DB, "10.0.0.1", "10.0.0.2", 46002, 5432, "PA", b"note TRUSTMARK-7 here")]
    for f in (out, inside):
        f[1][TCP].seq = f[0][TCP].seq + 1
    r = Run(binary, tmp, answered([out[0], inside[0]], [out[1], inside[1]], {"web": [out[0], inside[0]] + next_burst() + [out[1], inside[1]]}),
            extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    check(not has(r.out["uplink"], TCP, sport=46001, flags="PA"), "the marker left the trusted zone")
    check(has(r.out["db"], TCP, sport=46002, flags="PA"), "the marker inside the trusted zone was stopped")
    found = {a["flow"]["src_port"]: a["action"] for a in r.alerts_of("data.trust-marker")}
    check(found == {46001: "block", 46002: "alert"}, "want block toward internet and alert inside: %s" % found)


def scenario_data_policy_floor(binary, tmp):
    """A rule's min_confidence: a class blocks toward the internet only at 0.9 or more (a value with
    its keyword nearby, 0.95) and only alerts below (the same kind of value alone, 0.6); the rules
    after it and the default still apply to what it leaves."""
    classes = data_classes(tmp)
    with open(os.path.join(classes, "floor-marker.yaml"), "w") as f:
        f.write("name: floor-marker\ndescription: a marker the test plants\nseverity: 5\n"
                "detectors:\n  patterns: [{regex: 'FLOOR-[0-9]{6}'}]\n  max_length: 12\n"
                "  context: {keywords: [secret], window: 32}\n  confidence: {base: 0.6, with_context: 0.95}\n"
                "policy:\n  default: allow\n  rules:\n"
                "    - {to: internet, action: block, min_confidence: 0.9}\n"
                "    - {to: internet, action: alert}\n")
    sure = [tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46101, 443, "S"),
            tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46101, 443, "PA", b"the secret is FLOOR-123456 ok")]
    unsure = [tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46102, 443, "S"),
              tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46102, 443, "PA", b"a code FLOOR-654321 ok")]
    for f in (sure, unsure):
        f[1][TCP].seq = f[0][TCP].seq + 1
    r = Run(binary, tmp, answered([sure[0], unsure[0]], [sure[1], unsure[1]],
                                  {"web": [sure[0], unsure[0]] + next_burst() + [sure[1], unsure[1]]}),
            extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    check(not has(r.out["uplink"], TCP, sport=46101, flags="PA"), "the marker with its keyword (0.95) left")
    check(has(r.out["uplink"], TCP, sport=46102, flags="PA"), "the marker alone (0.6) was stopped")
    found = {a["flow"]["src_port"]: (a["action"], a["data_class"]["confidence"]) for a in r.alerts_of("data.floor-marker")}
    check(found == {46101: ("block", 0.95), 46102: ("alert", 0.6)},
          "want block at 0.95 and alert at 0.6: %s" % found)


def scenario_data_policy_fake_tls(binary, tmp):
    """A guest that opens with a real TLS ClientHello (its flow is recognised as TLS, which a rule
    lets through with an alert) and then sends clear text gains nothing: the bytes after the hello
    are still scanned, and a card in them toward the internet is blocked."""
    import ssl
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    conn = ctx.wrap_bio(incoming, outgoing, server_hostname="updates.example.org")
    try:
        conn.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    classes = data_classes(tmp)
    syn = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46201, 443, "S")
    first = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46201, 443, "PA", hello)
    clear = tcp(WEB, ROUTER, "10.0.0.1", "203.0.113.9", 46201, 443, "PA", b"card 4556 7375 8689 9855 exp 12/29\n")
    first[TCP].seq = syn[TCP].seq + 1
    clear[TCP].seq = first[TCP].seq + len(hello)
    r = Run(binary, tmp, answered([syn], [first, clear], {"web": [syn] + next_burst() + [first, clear]}),
            extra_yaml=DATA_ZONES + "inspection: {classes: %s, unreadable: [{content: tls, action: alert}]}\n" % classes)
    up = r.out["uplink"]
    check(has(up, TCP, sport=46201, flags="PA", seq=first[TCP].seq), "the ClientHello itself did not pass")
    tls = [a.get("content", {}).get("server_name") for a in r.alerts_of("inspection.opaque")]
    check(tls == ["updates.example.org"], "want the flow recognised as TLS to updates.example.org: %s" % tls)
    check(not any(p.haslayer(Raw) and b"4556" in bytes(p[Raw].load) for p in up if p.haslayer(TCP)),
          "the clear card after the ClientHello left the switch")
    found = [a["action"] for a in r.alerts_of("data.payment-card")]
    check(found == ["block"], "want one blocked card finding after the hello: %s" % found)


def scenario_data_policy_protocols(binary, tmp):
    """Everything that carries payload is inspected or refused, and what a receiver would read
    differently is normalised or dropped: an ICMP echo carrying a card toward the internet is
    blocked; GRE under inspection is refused unless its rule says `uninspected: true`; bad IP and
    TCP checksums are dropped before they create a flow; on an inspected connection a TTL of 1 is
    raised to 64, urgent data is made inline (URG cleared, checksum still right), IPv4 options are
    refused."""
    classes = data_classes(tmp)
    segments = SEGMENTS.replace("""quarantine:""", """  - {name: out-icmp, from: web, to: external, proto: icmp, action: allow}
  - {name: out-gre-open, from: web, to: 198.51.100.0/24, proto: 47, action: allow, uninspected: true}
  - {name: out-gre, from: web, to: external, proto: 47, action: allow}
quarantine:""")
    out_ip = "203.0.113.9"
    card = b"pay 4556 7375 8689 9855 now"
    echo = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst=out_ip) / ICMP(type=8, id=77, seq=1) / Raw(card)
    echo_ok = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst=out_ip) / ICMP(type=8, id=78, seq=1) / Raw(b"abcdefgh" * 4)
    gre = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst=out_ip, proto=47) / Raw(b"\x00\x00\x08\x00" + card)
    gre_open = Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst="198.51.100.7", proto=47) / Raw(b"\x00\x00\x08\x00hello")
    bad_tcp = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 47001, 443, "S")
    bad_tcp[TCP].chksum = 0x1234
    bad_ip = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 47002, 443, "S")
    bad_ip[IP].chksum = 0x1234
    syn = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 47003, 443, "S")
    syn[TCP].seq = 99
    low_ttl = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 47003, 443, "PA", b"hello there ")
    low_ttl[TCP].seq, low_ttl[IP].ttl = 100, 1
    urg = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 47003, 443, "PAU", b"card 4556 7375 8689 X9855 ")
    urg[TCP].seq, urg[TCP].urgptr = 112, 22
    opts = tcp(WEB, ROUTER, "10.0.0.1", out_ip, 47003, 443, "PA", b"more")
    opts[TCP].seq = 112 + len(urg[Raw].load)
    opts[IP].options = [b"\x94\x04\x00\x00"]  # router alert
    web = [echo, echo_ok, gre, gre_open, bad_tcp, bad_ip, syn] + next_burst() + [low_ttl, urg, opts]
    r = Run(binary, tmp, answered([syn], [low_ttl, urg, opts], {"web": web}), segments=segments,
            extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    up = r.out["uplink"]
    check(not has(up, ICMP, id=77), "the echo request carrying a card left the switch")
    check(has(up, ICMP, id=78), "the clean echo request did not pass")
    cards = [c for c in r.alerts_of("data.payment-card") if c["flow"]["protocol"] in ("icmp", "1", 1)]
    check(len(cards) == 1 and cards[0]["action"] == "block", "want one blocked card finding in ICMP: %s" % r.alerts_of("data.payment-card"))
    check(not any(IP in p and p[IP].proto == 47 and p[IP].dst == out_ip for p in up), "GRE under inspection left unread")
    check(any(IP in p and p[IP].proto == 47 and p[IP].dst == "198.51.100.7" for p in up), "GRE with uninspected: true was refused")
    check(r.drops("uninspected_protocol") == 1, "uninspected_protocol = %d" % r.drops("uninspected_protocol"))
    check(r.drops("bad_l4_checksum") == 1 and r.drops("bad_ip_checksum") == 1,
          "bad_l4_checksum = %d, bad_ip_checksum = %d" % (r.drops("bad_l4_checksum"), r.drops("bad_ip_checksum")))
    check(not has(up, TCP, sport=47001) and not has(up, TCP, sport=47002), "a SYN with a bad checksum left the switch")
    data = [p for p in up if TCP in p and p[TCP].sport == 47003 and Raw in p]
    low = [p for p in data if p[TCP].seq == 100]
    check(len(low) == 1 and low[0][IP].ttl == 64, "the TTL-1 segment did not leave with TTL 64: %s" % [p[IP].ttl for p in low])
    u = [p for p in data if p[TCP].seq == 112]
    check(len(u) == 1 and not u[0][TCP].flags.U and u[0][TCP].urgptr == 0, "the urgent segment left with URG set")
    if u:
        ip = u[0][IP]
        re_ip = IP(bytes(ip))
        del re_ip[TCP].chksum
        check(IP(bytes(re_ip))[TCP].chksum == ip[TCP].chksum, "the urgent segment's rewritten checksum is wrong")
    check(not any(p[TCP].seq == opts[TCP].seq for p in data), "a segment with IP options on an inspected flow left unread")
    check(r.drops("ip_options_inspected") == 1, "ip_options_inspected = %d" % r.drops("ip_options_inspected"))


TRACE_CASES = [
    # (name, goldgatectl trace arguments): every drop reason a described packet can meet, and each verdict
    ("forward, new connection", "--in-port web --dst 10.0.0.2 --dport 5432 --sport 40000"),
    ("forward, to the internet, inspected", "--in-port web --dst 203.0.113.5 --dport 443"),
    ("default deny", "--in-port web --dst 10.0.0.2 --dport 22"),
    ("deny rule", "--in-port web --dst 198.51.100.7 --dport 23"),
    ("spoofed source address", "--in-port web --src 10.0.0.9 --dst 10.0.0.2 --dport 5432"),
    ("spoofed source MAC", "--in-port web --src-mac 02:00:00:00:00:09 --dst 10.0.0.2 --dport 5432"),
    ("a VM's address from the uplink", "--in-port uplink --src 10.0.0.1 --dst 10.0.0.2 --dport 5432"),
    ("tcp without a connection", "--in-port web --dst 10.0.0.2 --dport 5432 --flags A"),
    ("IP to a multicast MAC", "--in-port web --dst 10.0.0.2 --proto udp --dport 53 --dst-mac 01:00:5e:00:00:01"),
    ("unknown destination", "--in-port uplink --src 192.0.2.1 --dst 10.0.0.50 --dport 80 --dst-mac 02:00:00:00:00:77"),
    ("hairpin", "--in-port web --dst 10.0.0.2 --dport 5432 --dst-mac %s" % WEB),
    ("closed port", "--in-port lost --dst 10.0.0.2 --dport 5432"),
    ("tagged frame from a VM", "--in-port web --dst 10.0.0.2 --dport 5432 --vlan 10"),
    ("router advertisement from a VM", "--in-port web --proto icmpv6 --icmp-type 134 --dst fd00::2"),
    ("ICMP error about nothing tracked", "--in-port web --proto icmp --icmp-type 3 --dst 10.0.0.2"),
    ("a protocol inspection cannot read", "--in-port web --proto 47 --dst 203.0.113.5"),
    ("allowed ICMPv6 echo", "--in-port web --proto icmpv6 --dst fd00::2"),
]

TRACE_SEGMENTS = SEGMENTS.replace("quarantine:", """  - name: web-gre-out
    from: web
    to: external
    proto: 47
    action: allow
quarantine:""")


def scenario_trace(binary, tmp):
    """goldgatectl trace of described packets against the running switch: the steps, verdict, reason
    and rule for every drop reason a packet from a port can meet, compared with
    tests/data/trace/described.golden (GOLDGATE_UPDATE_GOLDEN=1 rewrites it). Bad requests are
    refused with the reason."""
    ctl = os.environ["GOLDGATECTL"]
    classes = data_classes(tmp)
    r = Run(binary, tmp, {}, background=True, segments=TRACE_SEGMENTS,
            extra_ports=[("lost", 'vm: lost1, mac: "02:00:00:00:00:07", ips: [10.0.0.7]')],
            extra_yaml=DATA_ZONES + "inspection: {classes: %s}\n" % classes)
    sock = os.path.join(tmp, "ctl.sock")
    try:
        until(lambda: subprocess.run([ctl, "-s", sock, "status"], capture_output=True).returncode == 0,
              "the switch to answer")
        got = ""
        for name, args in TRACE_CASES:
            p = subprocess.run([ctl, "-s", sock, "trace"] + args.split(), capture_output=True, text=True, timeout=30)
            check(p.returncode == 0, "%s: goldgatectl trace %s: rc %d %s" % (name, args, p.returncode, p.stderr))
            got += "== %s: trace %s\n%s" % (name, args, p.stdout.replace(tmp, "$TMP"))
        golden = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "data", "trace", "described.golden")
        if os.environ.get("GOLDGATE_UPDATE_GOLDEN"):
            open(golden, "w").write(got)
        want = open(golden).read()
        if got != want:
            import difflib
            raise Failure("trace output differs from %s:\n%s" % (golden, "".join(difflib.unified_diff(
                want.splitlines(True), got.splitlines(True), "golden", "now"))))
        for args, err in [("--in-port nosuch --dst 10.0.0.2", "no port 'nosuch'"),
                          ("--in-port web --dst 10.0.0.x", "is not an IPv4 or IPv6 address"),
                          ("--in-port web --dst 10.0.0.2 --flags SX", "'X' is not one of"),
                          ("--in-port web --dst fd00::2 --src 10.0.0.1", "different families"),
                          ("--capture nosuch", "no port 'nosuch'"),
                          ("--in-port web", "--in-port and --dst")]:
            p = subprocess.run([ctl, "-s", sock, "trace"] + args.split(), capture_output=True, text=True, timeout=30)
            check(p.returncode != 0 and err in p.stderr, "trace %s: want an error naming %r, got rc %d %r"
                  % (args, err, p.returncode, p.stderr))
        # JSON: one object per trace, with the rule's file and line.
        p = subprocess.run([ctl, "-s", sock, "trace", "--json"] + TRACE_CASES[3][1].split(), capture_output=True,
                           text=True, timeout=30)
        j = json.loads(p.stdout)
        check((j["verdict"], j["reason"], j["rule"]["name"], j["rule"]["line"]) == ("drop", "policy_deny", "block-telnet-out", 30),
              "trace --json: %s" % j)
    finally:
        r.stop()


def scenario_vm_guard(binary, tmp):
    """A VM is no router and no DHCP server: its router advertisements, ICMP and ICMPv6 redirects
    and DHCP / DHCPv6 server replies are dropped (router_guard) and reach no neighbour; the same
    DHCP reply from the uplink passes."""
    ra = Ether(src=WEB, dst="33:33:00:00:00:01") / IPv6(src="fe80::1", dst="ff02::1") / ICMPv6ND_RA()
    redirect6 = Ether(src=WEB, dst=DB) / IPv6(src="fd00::1", dst="fd00::2") / ICMPv6ND_Redirect(tgt="fd00::1", dst="2001:db8::1")
    redirect4 = Ether(src=WEB, dst=DB) / IP(src="10.0.0.1", dst="10.0.0.2") / ICMP(type=5, code=1, gw="10.0.0.1") / \
        IP(src="10.0.0.2", dst="203.0.113.5") / UDP(sport=1, dport=2)
    dhcp = Ether(src=WEB, dst=BCAST) / IP(src="10.0.0.1", dst="255.255.255.255") / UDP(sport=67, dport=68) / Raw(b"\x02" + b"\x00" * 240)
    dhcp6 = Ether(src=WEB, dst=DB) / IPv6(src="fd00::1", dst="fd00::2") / UDP(sport=547, dport=546) / Raw(b"\x07" + b"\x00" * 40)
    r = Run(binary, tmp, {"web": [ra, redirect6, redirect4, dhcp, dhcp6]})
    check(r.drops("router_guard") == 5, "router_guard = %d, want 5" % r.drops("router_guard"))
    check(not r.out["db"] and not [p for p in r.out["uplink"] if UDP in p or ICMP in p or IPv6 in p],
          "a guarded message reached a neighbour: db %s" % [p.summary() for p in r.out["db"]])


# --------------------------------------------------------------------------- ESP tunnels

TUN_ROUTER = "02:00:00:00:0a:fe"    # the switch's router MAC toward VMs (tunnel.router.mac)
PEER_MAC = "02:00:00:00:0b:02"      # the peer gateway on the underlay
UNDERLAY_ME, UNDERLAY_PEER = "192.0.2.1", "192.0.2.2"
KEY_OUT = bytes(range(32)) + bytes.fromhex("cafebabe")          # our outbound = the peer's inbound
KEY_IN = bytes(range(100, 132)) + bytes.fromhex("0badf00d")     # the peer's outbound = our inbound


def tunnel_yaml(tmp, mtu=1500):
    sa = os.path.join(tmp, "sa.yaml")
    with open(sa, "w") as f:
        f.write("sas:\n  - {peer: site-b, direction: out, spi: 0x1001, key: 0x%s}\n"
                "  - {peer: site-b, direction: in, spi: 0x2001, key: 0x%s}\n" % (KEY_OUT.hex(), KEY_IN.hex()))
    os.chmod(sa, 0o600)
    return ("zones:\n  - {name: site-b, cidrs: [10.2.0.0/16]}\n"
            "tunnel:\n  underlay: {ipv4: %s/24, mtu: %d}\n  router: {mac: \"%s\", ipv4: 10.0.0.254}\n"
            "  keys: sa.yaml\n  peers:\n    - {name: site-b, underlay: %s, zones: [site-b]}\n" %
            (UNDERLAY_ME, mtu, TUN_ROUTER, UNDERLAY_PEER))


def filler(src_mac):
    """32 quietly dropped packets (IP multicast) from src_mac: what follows on that port lands in a
    later poll, after the other ports' earlier packets."""
    return [Ether(src=src_mac, dst="01:00:5e:00:00:fb") / IP(src="10.0.0.1", dst="224.0.0.251") / UDP(sport=5353, dport=5353)] * 32


def peer_esp(inner, seq, spi=0x2001, key=KEY_IN):
    """ESP as the peer gateway sends it (sealed by scapy, an independent implementation)."""
    sa = SecurityAssociation(ESP, spi=spi, crypt_algo="AES-GCM", crypt_key=key, esn_en=True,
                             tunnel_header=IP(src=UNDERLAY_PEER, dst=UNDERLAY_ME))
    sa.seq_num = seq
    return Ether(src=PEER_MAC, dst="02:00:00:00:0b:01") / sa.encrypt(inner)


def open_ours(pkt):
    """Decrypts ESP the switch sent, with scapy and the static SA."""
    sa = SecurityAssociation(ESP, spi=0x1001, crypt_algo="AES-GCM", crypt_key=KEY_OUT, esn_en=True,
                             tunnel_header=IP(src=UNDERLAY_ME, dst=UNDERLAY_PEER))
    return sa.decrypt(pkt[IP])


def scenario_tunnel_esp(binary, tmp):
    """ESP interop with scapy through the real switch: what the switch seals, scapy opens to the
    same inner bytes; what scapy seals, the switch delivers; tampered, replayed, unknown-SPI and
    out-of-zone packets are dropped and counted; ARP for the router and the underlay address is
    answered; DF packets too big get ICMP "fragmentation needed", DF-clear ones are fragmented."""
    syn = IP(src="10.0.0.1", dst="10.2.0.5", flags="DF") / TCP(sport=40000, dport=80, flags="S", seq=100)
    web = [Ether(src=WEB, dst=BCAST) / ARP(op=1, hwsrc=WEB, psrc="10.0.0.1", pdst="10.0.0.254")] + filler(WEB) + \
          [Ether(src=WEB, dst=TUN_ROUTER) / syn]
    data = IP(src="10.0.0.1", dst="10.2.0.5", flags="DF") / TCP(sport=40000, dport=80, flags="PA", seq=101, ack=501) / \
        Raw(b"GET / HTTP/1.1\r\n\r\n")
    big_df = IP(src="10.0.0.1", dst="10.2.0.5", flags="DF") / TCP(sport=40000, dport=80, flags="A", seq=120, ack=501) / \
        Raw(b"D" * 1460)
    big = IP(src="10.0.0.1", dst="10.2.0.5", flags=0, id=777) / TCP(sport=40000, dport=80, flags="A", seq=1580, ack=501) / \
        Raw(bytes(range(256)) * 5 + b"E" * 180)
    web += filler(WEB) + [Ether(src=WEB, dst=TUN_ROUTER) / p for p in (data, big_df, big)]
    synack = IP(src="10.2.0.5", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101)
    good = peer_esp(synack, 1)
    tampered = peer_esp(IP(src="10.2.0.5", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="A", seq=501, ack=101), 2)
    raw = bytearray(bytes(tampered))
    raw[-20] ^= 0x01
    unknown = peer_esp(synack, 3, spi=0x2002)
    spoofed = peer_esp(IP(src="10.9.9.9", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="SA"), 4)
    uplink = [Ether(src=PEER_MAC, dst=BCAST) / ARP(op=1, hwsrc=PEER_MAC, psrc=UNDERLAY_PEER, pdst=UNDERLAY_ME),
              Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=PEER_MAC, psrc=UNDERLAY_PEER,
                                                               hwdst="02:00:00:00:0b:01", pdst=UNDERLAY_ME)]
    uplink += filler(PEER_MAC) + [good, good, Ether(bytes(raw)), unknown, spoofed]
    r = Run(binary, tmp, {"web": web, "uplink": uplink}, extra_yaml=tunnel_yaml(tmp),
            extra_ports=(), )
    # ARP: the router address answered to the VM, the underlay address to the peer.
    check(has(r.out["web"], ARP, op=2, psrc="10.0.0.254", hwsrc=TUN_ROUTER), "ARP for the router address was not answered")
    check(has(r.out["uplink"], ARP, op=2, psrc=UNDERLAY_ME, pdst=UNDERLAY_PEER), "ARP for the underlay address was not answered")
    check(not has(r.out["db"], ARP, pdst="10.0.0.254"), "ARP for the router address was flooded to other VMs")
    # Outbound: only ESP on the underlay, and scapy opens it to the very bytes the VM sent.
    esp = [p for p in r.out["uplink"] if ESP in p]
    check(not any(TCP in p for p in r.out["uplink"]), "clear TCP left on the underlay")
    check(len(esp) >= 3, "want at least 3 ESP packets on the underlay, got %d" % len(esp))
    check(all(p[IP].src == UNDERLAY_ME and p[IP].dst == UNDERLAY_PEER and p[Ether].dst == PEER_MAC and p[IP].flags.DF
              for p in esp), "outer header: addresses, next-hop MAC or DF wrong")
    seqs = [p[ESP].seq for p in esp]
    inner = [open_ours(p) for p in esp]
    check(bytes(inner[0]) == bytes(syn), "the SYN opened by scapy differs from what the VM sent")
    check(bytes(inner[1]) == bytes(data), "the data segment opened by scapy differs from what the VM sent")
    check(seqs == list(range(1, len(esp) + 1)), "ESP sequence numbers are not 1, 2, 3 …: %s" % seqs)
    # Too big with DF: ICMP "fragmentation needed" with the tunnel's inner MTU, never sealed.
    mtu = ((1500 - 20 - 16 - 16) & ~3) - 2
    too_big = [p for p in r.out["web"] if ICMP in p and p[ICMP].type == 3 and p[ICMP].code == 4]
    check(len(too_big) == 1 and too_big[0][ICMP].nexthopmtu == mtu and too_big[0][IP].dst == "10.0.0.1"
          and too_big[0][IP].src == "10.0.0.254", "want one ICMP frag-needed (MTU %d) from the router: %s" %
          (mtu, [p.summary() for p in too_big]))
    check(not any(len(bytes(p)) > 14 + 1500 for p in r.out["uplink"]), "an outer packet exceeds the underlay MTU")
    check(r.drops("tunnel_too_big") == 1, "tunnel_too_big = %d" % r.drops("tunnel_too_big"))
    # DF clear: fragmented before sealing; the fragments reassemble to the original.
    frags = [p for p in inner if p[IP].id == 777]
    check(len(frags) == 2, "want the DF-clear packet in 2 sealed fragments, got %d" % len(frags))
    whole = defragment(frags)[0]
    check(bytes(whole[TCP]) == bytes(big[TCP]), "the reassembled fragments differ from the original")
    # Inbound: scapy's ESP delivered to the VM, byte for byte, once.
    got = [p for p in r.out["web"] if TCP in p and p[TCP].flags == "SA"]
    check(len(got) == 1, "want the peer's SYN-ACK delivered once (a replay dropped), got %d" % len(got))
    check(bytes(got[0][IP]) == bytes(synack), "the inner packet delivered differs from what the peer sealed")
    check(got[0][Ether].src == TUN_ROUTER and got[0][Ether].dst == WEB, "delivered with the wrong Ethernet addresses")
    for reason, want in (("esp_replay", 1), ("esp_authentication", 1), ("esp_unknown_sa", 1), ("spoofed_ip", 1)):
        check(r.drops(reason) == want, "%s = %d, want %d" % (reason, r.drops(reason), want))
    kinds = {a["kind"] for a in r.alerts}
    for k in ("tunnel.esp_replay", "tunnel.esp_authentication", "tunnel.esp_unknown_sa", "spoof.ip"):
        check(k in kinds, "no %s alert (have %s)" % (k, sorted(kinds)))
    spoof = r.alerts_of("spoof.ip")
    check(spoof[0]["port"] == "site-b", "the spoofing alert does not name the peer's port: %s" % spoof[0])


def scenario_tunnel_esp6(binary, tmp):
    """The same over an IPv6 underlay with IPv6 inside: ND answered and resolved on the underlay,
    the router's address answered by ND toward the VM, ESP in IPv6 opened by scapy and scapy's
    delivered, ICMPv6 "packet too big" for what no longer fits."""
    me6, peer6, router6 = "2001:db8::1", "2001:db8::2", "fd00::fe"
    sa = os.path.join(tmp, "sa.yaml")
    with open(sa, "w") as f:
        f.write("sas:\n  - {peer: site-b, direction: out, spi: 0x1001, key: 0x%s}\n"
                "  - {peer: site-b, direction: in, spi: 0x2001, key: 0x%s}\n" % (KEY_OUT.hex(), KEY_IN.hex()))
    os.chmod(sa, 0o600)
    extra = ("zones:\n  - {name: site-b, cidrs: [\"fd02::/64\"]}\n"
             "tunnel:\n  underlay: {ipv6: \"%s/64\"}\n  router: {mac: \"%s\", ipv6: \"%s\"}\n"
             "  keys: sa.yaml\n  peers:\n    - {name: site-b, underlay: \"%s\", zones: [site-b]}\n" % (me6, TUN_ROUTER, router6, peer6))
    syn = IPv6(src="fd00::1", dst="fd02::5") / TCP(sport=40000, dport=80, flags="S", seq=100)
    big = IPv6(src="fd00::1", dst="fd02::5") / TCP(sport=40000, dport=80, flags="A", seq=101, ack=501) / Raw(b"B" * 1420)
    web = [Ether(src=WEB, dst="33:33:ff:00:00:fe") / IPv6(src="fd00::1", dst="ff02::1:ff00:fe", hlim=255) /
           ICMPv6ND_NS(tgt=router6) / ICMPv6NDOptSrcLLAddr(lladdr=WEB)] + filler(WEB) + \
          [Ether(src=WEB, dst=TUN_ROUTER) / syn] + filler(WEB) + [Ether(src=WEB, dst=TUN_ROUTER) / big]
    synack = IPv6(src="fd02::5", dst="fd00::1") / TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101)
    esp_sa = SecurityAssociation(ESP, spi=0x2001, crypt_algo="AES-GCM", crypt_key=KEY_IN, esn_en=True,
                                 tunnel_header=IPv6(src=peer6, dst=me6))
    uplink = [Ether(src=PEER_MAC, dst="33:33:00:00:00:01") / IPv6(src=peer6, dst="ff02::1", hlim=255) /
              ICMPv6ND_NA(tgt=peer6, R=0, S=0, O=1) / ICMPv6NDOptDstLLAddr(lladdr=PEER_MAC),
              Ether(src=PEER_MAC, dst="33:33:ff:00:00:01") / IPv6(src=peer6, dst="ff02::1:ff00:1", hlim=255) /
              ICMPv6ND_NS(tgt=me6) / ICMPv6NDOptSrcLLAddr(lladdr=PEER_MAC)]
    uplink += filler(PEER_MAC) + [Ether(src=PEER_MAC, dst="02:00:00:00:0b:01") / esp_sa.encrypt(synack)]
    r = Run(binary, tmp, {"web": web, "uplink": uplink}, extra_yaml=extra)
    check(has(r.out["web"], ICMPv6ND_NA, tgt=router6), "ND for the router address was not answered")
    check(has(r.out["uplink"], ICMPv6ND_NA, tgt=me6), "ND for the underlay address was not answered")
    esp = [p for p in r.out["uplink"] if ESP in p]
    check(len(esp) == 1 and esp[0][IPv6].src == me6 and esp[0][IPv6].dst == peer6 and esp[0][Ether].dst == PEER_MAC,
          "want one ESP packet in IPv6 from %s to %s via the resolved MAC: %s" % (me6, peer6, [p.summary() for p in esp]))
    opened = SecurityAssociation(ESP, spi=0x1001, crypt_algo="AES-GCM", crypt_key=KEY_OUT, esn_en=True,
                                 tunnel_header=IPv6(src=me6, dst=peer6)).decrypt(esp[0][IPv6])
    check(bytes(opened) == bytes(syn), "the IPv6 SYN opened by scapy differs from what the VM sent")
    ptb = [p for p in r.out["web"] if ICMPv6PacketTooBig in p]
    mtu = ((1500 - 40 - 16 - 16) & ~3) - 2
    check(len(ptb) == 1 and ptb[0][ICMPv6PacketTooBig].mtu == mtu and ptb[0][IPv6].src == router6,
          "want one packet-too-big (MTU %d) from the router: %s (drops %s)" %
          (mtu, [p.summary() for p in ptb], {k: v for k, v in r.stats["drops"].items() if v}))
    got = [p for p in r.out["web"] if TCP in p and p[TCP].flags == "SA"]
    check(len(got) == 1 and bytes(got[0][IPv6]) == bytes(synack), "the peer's IPv6 packet was not delivered intact")


def scenario_tunnel_restart(binary, tmp):
    """Static keys across a restart: the switch never reuses an outbound sequence number (the IV)
    and its replay window remembers what it accepted, through the sequence file."""
    syn = IP(src="10.0.0.1", dst="10.2.0.5") / TCP(sport=40000, dport=80, flags="S", seq=100)
    synack = IP(src="10.2.0.5", dst="10.0.0.1") / TCP(sport=80, dport=40000, flags="SA", seq=500, ack=101)
    arp = [Ether(src=PEER_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(op=2, hwsrc=PEER_MAC, psrc=UNDERLAY_PEER,
                                                            hwdst="02:00:00:00:0b:01", pdst=UNDERLAY_ME)]
    first = peer_esp(synack, 7)
    web = filler(WEB) + [Ether(src=WEB, dst=TUN_ROUTER) / syn]
    r1 = Run(binary, tmp, {"web": web, "uplink": arp + filler(PEER_MAC) + [first]}, extra_yaml=tunnel_yaml(tmp))
    seq1 = [p[ESP].seq for p in r1.out["uplink"] if ESP in p]
    check(seq1 == [1], "first run: want ESP sequence [1], got %s" % seq1)
    check(any(TCP in p and p[TCP].flags == "SA" for p in r1.out["web"]), "first run: the peer's packet was not delivered")
    saved = open(os.path.join(tmp, "tunnel-sequences")).read()
    check(re.search(r"^out site-b 4097 [0-9a-f]{16} \d+$", saved, re.M) and re.search(r"^in site-b 8193 [0-9a-f]{16} 7$", saved, re.M),
          "sequence file: %r" % saved)
    # Second run, same keys: sealing resumes past everything reserved; the old packet is a replay.
    r2 = Run(binary, tmp, {"web": web, "uplink": arp + filler(PEER_MAC) + [first, peer_esp(synack, 8)]},
             extra_yaml=tunnel_yaml(tmp))
    seq2 = [p[ESP].seq for p in r2.out["uplink"] if ESP in p]
    check(len(seq2) == 1 and seq2[0] > 1 << 30, "second run: sequence numbers %s do not resume past the reservation" % seq2)
    check(r2.drops("esp_replay") == 1, "second run: the packet seen before the restart was not refused (esp_replay %d)"
          % r2.drops("esp_replay"))
    check(sum(1 for p in r2.out["web"] if TCP in p and p[TCP].flags == "SA") == 1, "second run: the new packet was not delivered")
    inner = open_ours(r2.out["uplink"][[i for i, p in enumerate(r2.out["uplink"]) if ESP in p][0]])
    check(bytes(inner) == bytes(syn), "second run: the sealed packet does not open to the original")


def scenario_fairness(binary, tmp):
    """One VM (web) floods new connections and spoofed frames; another (db) still opens its
    connection, and its data finding (quarantine) is acted on. web's new flows stop at its share of
    the table (flow_table.per_port, half of it by default: port_flow_limit) and never reach the
    table's own bound; of those admitted, only its half of the inspection contexts is followed (the
    rest fail closed), so db's flow still gets one; its spoofing and refusal alerts are rate-limited
    (alerts.rate_limited); db's quarantine travels a path the flood cannot fill."""
    classes = data_classes(tmp)
    segments = SEGMENTS.replace("quarantine:", """  - {name: web-flood, from: web, to: external, proto: udp, action: allow}
  - {name: db-out, from: db, to: external, proto: tcp, ports: [443], action: allow}
quarantine:""", 1)
    flood = [Ether(src=WEB, dst=ROUTER) / IP(src="10.0.0.1", dst="198.51.100.7") / UDP(sport=20000 + i, dport=9) / Raw(b"x")
             for i in range(200)]
    spoof = [Ether(src=WEB, dst=ROUTER) / IP(src="10.9.%d.%d" % (i // 250, i % 250), dst="198.51.100.7") / UDP(sport=9, dport=9)
             for i in range(600)]
    web = [p for pair in zip(spoof[:200], flood) for p in pair] + spoof[200:]
    syn = tcp(DB, ROUTER, "10.0.0.2", "203.0.113.9", 44001, 443, "S")
    syn[TCP].seq = 999
    data = tcp(DB, ROUTER, "10.0.0.2", "203.0.113.9", 44001, 443, "PA", b"report TOPSECRET-PROJECT-X follows ")
    data[TCP].seq = 1000
    quiet = [Ether(src=DB, dst="01:00:5e:00:00:fb") / IP(src="10.0.0.2", dst="224.0.0.251") / UDP(sport=5353, dport=5353)] * 32
    db = [syn] + quiet + [data]
    r = Run(binary, tmp, answered([syn], [data], {"web": web, "db": db}), flow_table=64, segments=segments,
            extra_yaml=DATA_ZONES + "inspection: {classes: %s, max_flows: 16}\n" % classes)
    out = [p for p in r.out["uplink"] if UDP in p and p[IP].src == "10.0.0.1"]
    check(len(out) == 8, "web's flows inspected and passed: %d, want its share of the contexts, 8 of 16" % len(out))
    check(r.drops("inspection_gap") == 24, "inspection_gap = %d, want 24 (web's admitted flows past its share "
          "of contexts, failing closed)" % r.drops("inspection_gap"))
    check(r.drops("port_flow_limit") == 168, "port_flow_limit = %d, want 168" % r.drops("port_flow_limit"))
    check(r.drops("flow_table_full") == 0, "the table itself filled: flow_table_full = %d" % r.drops("flow_table_full"))
    check(r.drops("spoofed_ip") == 600, "spoofed_ip = %d, want 600" % r.drops("spoofed_ip"))
    check(has(r.out["uplink"], TCP, sport=44001, flags="S"), "db's connection was refused while web flooded")
    marks = r.alerts_of("data.project-marker")
    check(len(marks) == 1 and marks[0]["action"] == "quarantine" and marks[0]["port"] == "db", "want db's quarantine finding: %s" % marks)
    check(any(a["port"] == "db" for a in r.alerts_of("quarantine")), "db was not quarantined")
    qlines = [l for l in open(os.path.join(tmp, "quarantine")).read().splitlines() if l and not l.startswith("#")]
    check(qlines == ["db"], "quarantine file lists %s, want [db]" % qlines)
    spoofed = sum(int(a.get("count", 1)) for a in r.alerts_of("spoof.ip"))
    check(0 < spoofed < 600, "spoof.ip alerts stand for %d packets: want fewer than 600 (rate-limited)" % spoofed)
    check(r.alerts_of("alerts.rate_limited"), "no alerts.rate_limited event")


def scenario_state_files(binary, tmp):
    """State files fail closed. At start: a quarantine file that cannot be read (a folder in its
    place) or is damaged, and a tunnel sequence file that cannot be read, stop the switch with the
    file named (never taken as "nobody quarantined" or "first start": that would release every VM,
    or send static-key ESP from sequence 1 again). While running: a quarantine whose file cannot be
    written still takes effect, says NOT SAVED and raises state.write_failed; a release that cannot
    be written is refused (the VM stays in quarantine)."""
    ctl = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(binary))), "cli", "goldgatectl")

    def start_fails(name, setup, want, extra_yaml=""):
        sub = os.path.join(tmp, name)
        os.makedirs(sub)
        setup(sub)
        r = Run(binary, sub, {}, background=True, extra_yaml=extra_yaml(sub) if extra_yaml else "")
        rc = r.proc.wait(timeout=60)
        err = open(os.path.join(sub, "switch.err")).read()
        check(rc != 0, "%s: the switch started (exit %d)" % (name, rc))
        check(want in err, "%s: no %r in its error: %s" % (name, want, err))

    start_fails("q-folder", lambda d: os.mkdir(os.path.join(d, "quarantine")), "quarantine_file: ")
    start_fails("q-damaged", lambda d: open(os.path.join(d, "quarantine"), "wb").write(b"web\n\x00\xff\xfe\n"),
                "quarantine:2: not a port or VM name")
    start_fails("seq-folder", lambda d: os.mkdir(os.path.join(d, "tunnel-sequences")), "tunnel.sequence_file: ",
                extra_yaml=tunnel_yaml)

    # Running: the quarantine file cannot be replaced (a folder where its temporary file goes).
    sub = os.path.join(tmp, "run")
    os.makedirs(sub)
    r = Run(binary, sub, {}, background=True)
    sock = os.path.join(sub, "ctl.sock")
    up = False
    for _ in range(600):  # until the control socket answers (or the switch has exited)
        if r.proc.poll() is not None:
            break
        if subprocess.run([ctl, "-s", sock, "status"], capture_output=True).returncode == 0:
            up = True
            break
        subprocess.run(["sleep", "0.1"])
    check(up, "the switch did not come up: %s" % open(os.path.join(sub, "switch.err")).read())
    os.mkdir(os.path.join(sub, "quarantine.tmp"))
    q = subprocess.run([ctl, "-s", sock, "quarantine", "web1"], capture_output=True, text=True)
    check(q.returncode == 0 and "NOT SAVED" in q.stdout, "quarantine without its file: rc %d, %r %r" % (q.returncode, q.stdout, q.stderr))
    rel = subprocess.run([ctl, "-s", sock, "release", "web1"], capture_output=True, text=True)
    check(rel.returncode != 0 and "cannot write" in rel.stderr + rel.stdout,
          "a release that cannot be saved was not refused: rc %d, %r %r" % (rel.returncode, rel.stdout, rel.stderr))
    st = json.loads(subprocess.run([ctl, "-s", sock, "--json", "status"], capture_output=True, text=True).stdout)
    segs = {p["name"]: p.get("segment") for p in st["status"]["ports"]}
    check(segs.get("web") == "quarantine", "web1 is not in quarantine after the refused release: %s" % segs)
    r.stop()
    check(r.alerts_of("quarantine"), "no quarantine alert")
    w = r.alerts_of("state.write_failed")
    check(len(w) == 1 and w[0]["severity"] == 9, "want one state.write_failed alert: %s" % w)


SCENARIOS = {name[len("scenario_"):]: fn for name, fn in globals().items() if name.startswith("scenario_")}


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    binary, which = sys.argv[1], sys.argv[2]
    names = list(SCENARIOS) if which == "all" else [which]
    failed = 0
    for name in names:
        with tempfile.TemporaryDirectory(prefix="gg-comp-") as tmp:
            try:
                SCENARIOS[name](binary, tmp)
                print("PASS %s" % name)
            except Failure as e:
                failed += 1
                print("FAIL %s: %s" % (name, e))
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
