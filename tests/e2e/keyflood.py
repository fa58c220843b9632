#!/usr/bin/env python3
"""A hostile host against a key service's TLS port: from SOURCES loopback addresses (127.0.0.2 ...),
PER connections each, half of them idle TCP connections and half TLS handshakes that stop after part
of a ClientHello. A connection the service closes is opened again, so the pressure lasts until this
process is killed. Writes READY_FILE once every connection has been tried at least once.

Usage: keyflood.py HOST PORT SOURCES PER READY_FILE"""
import selectors
import socket
import sys
import time

host, port, sources, per, ready = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
# The start of a TLS record carrying a ClientHello of 512 bytes, of which only 20 ever arrive.
PARTIAL_HELLO = b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\x00" * 9
sel = selectors.DefaultSelector()
attempts = 0


def open_one(slot):
    global attempts
    src, half = slot
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((src, 0))
    s.setblocking(False)
    try:
        s.connect((host, port))
    except BlockingIOError:
        pass
    except OSError:
        s.close()
        return
    attempts += 1
    sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, (slot, False))


slots = [("127.0.0.%d" % (2 + i), k % 2 == 1) for i in range(sources) for k in range(per)]
for slot in slots:
    open_one(slot)
wrote_ready = False
while True:
    for key, mask in sel.select(timeout=0.5):
        s = key.fileobj
        slot, sent = key.data
        if mask & selectors.EVENT_WRITE and not sent:
            if slot[1]:
                try:
                    s.send(PARTIAL_HELLO)
                except OSError:
                    pass
            sel.modify(s, selectors.EVENT_READ, (slot, True))
            continue
        if mask & selectors.EVENT_READ:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if not data:  # closed by the service: open it again
                sel.unregister(s)
                s.close()
                time.sleep(0.01)
                open_one(slot)
    if not wrote_ready and attempts >= len(slots):
        open(ready, "w").write("%d\n" % attempts)
        wrote_ready = True
