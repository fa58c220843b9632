#!/usr/bin/python3
"""Benchmark inputs: captures of 64-byte UDP packets and rule sets of a given size.

  gen.py traffic DIR FLOWS        DIR/fwd.pcap (VM -> outside) and DIR/rev.pcap (replies), one packet
                                  per flow and direction, FLOWS distinct flows
  gen.py newflows DIR FLOWS       DIR/new.pcap: FLOWS packets, every one a new flow
  gen.py rules DIR COUNT          one policy, two spellings: DIR/rules.yaml (a Goldgate segment
                                  file) and DIR/acl.flows (the same ACL as OpenFlow rules for Open
                                  vSwitch, table 1, on new connections): COUNT-1 deny rules on
                                  random prefixes and port blocks the traffic never matches, then
                                  the allow that admits the benchmark traffic. Port blocks are
                                  aligned powers of two, so each is one range in Goldgate and one
                                  masked tp_dst match in OpenFlow: the two rule sets are the same.

Packets are built by hand (struct), so 100,000s of them take a second, not minutes.
"""
import ipaddress
import random
import struct
import sys

VM_MAC = bytes.fromhex("020000000001")
GW_MAC = bytes.fromhex("0200000000fe")
VM_IP = "10.0.0.1"


def csum(b):
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def udp_frame(src_mac, dst_mac, src, dst, sport, dport):
    payload = b"\x00" * 18  # 14 + 20 + 8 + 18 = 60 bytes + 4 FCS on the wire = 64
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0x4000, 64, 17, 0,
                     ipaddress.IPv4Address(src).packed, ipaddress.IPv4Address(dst).packed)
    ip = ip[:10] + struct.pack("!H", csum(ip)) + ip[12:]
    return dst_mac + src_mac + b"\x08\x00" + ip + udp


def write_pcap(path, frames):
    with open(path, "wb") as f:
        f.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1))
        for fr in frames:
            f.write(struct.pack("<IIII", 0, 0, len(fr), len(fr)))
            f.write(fr)


def flows(n):
    # Destinations in the benchmarking range 198.18.0.0/15; 250 sources ports per destination.
    for i in range(n):
        dst = str(ipaddress.IPv4Address("198.18.0.0") + i // 250)
        yield dst, 1024 + i % 250, 5000 + (i // 250) % 1000


def main():
    what = sys.argv[1]
    if what == "traffic":
        d, n = sys.argv[2], int(sys.argv[3])
        fl = list(flows(n))
        write_pcap(d + "/fwd.pcap", [udp_frame(VM_MAC, GW_MAC, VM_IP, dst, sp, dp) for dst, sp, dp in fl])
        write_pcap(d + "/rev.pcap", [udp_frame(GW_MAC, VM_MAC, dst, VM_IP, dp, sp) for dst, sp, dp in fl])
    elif what == "newflows":
        d, n = sys.argv[2], int(sys.argv[3])
        write_pcap(d + "/new.pcap", [udp_frame(VM_MAC, GW_MAC, VM_IP, dst, sp, dp) for dst, sp, dp in flows(n)])
    elif what == "rules":
        d, count = sys.argv[2], int(sys.argv[3])
        rnd = random.Random(count)
        rules = []
        for i in range(count - 1):
            # 100.64.0.0/10 never carries benchmark traffic; prefixes /10-/32 like a real firewall's.
            plen = rnd.randint(10, 32)
            addr = int(ipaddress.IPv4Address("100.64.0.0")) + rnd.getrandbits(22)
            net = ipaddress.IPv4Network((addr & ~((1 << (32 - plen)) - 1), plen))
            size = 1 << rnd.choice([0, 0, 3, 6, 9])
            lo = rnd.randrange(1024, 65536 - size, size) // size * size
            rules.append((net, rnd.choice(["tcp", "udp"]), lo, size))
        with open(d + "/rules.yaml", "w") as f:
            f.write("# %d rules: %d never-matching denies on random prefixes, then the allow.\n" % (count, count - 1))
            f.write("segments:\n  - name: web\n    members: {vms: [web1]}\nrules:\n")
            for i, (net, proto, lo, size) in enumerate(rules):
                f.write("  - {name: r%d, from: web, to: %s, proto: %s, ports: \"%d-%d\", action: deny}\n" %
                        (i, net, proto, lo, lo + size - 1))
            f.write("  - {name: bench-allow, from: web, to: external, proto: udp, action: allow}\n")
        with open(d + "/acl.flows", "w") as f:
            # First match wins in Goldgate; in OpenFlow the highest priority does: count down.
            for i, (net, proto, lo, size) in enumerate(rules):
                f.write("table=1,priority=%d,ct_state=+trk+new,%s,in_port=1,nw_dst=%s,tp_dst=0x%04x/0x%04x,actions=drop\n" %
                        (60000 - i, proto, net, lo, 0xFFFF & ~(size - 1)))
            f.write("table=1,priority=100,ct_state=+trk+new,udp,in_port=1,actions=ct(commit,zone=1),output:2\n")
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
