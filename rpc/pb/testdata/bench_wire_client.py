"""Lean load for bench_test.go: a PB client on a bare socket, so that its own
CPU per call is small beside a server's. It speaks the wire as a Twisted
client does (the 'pb' dialect, ['version', 6], then 'message' commands to
the root) and keeps CONC calls of root.add(i, 1) in flight for SECONDS,
where i is the call's request id. Every answer is checked: it must be
['answer', i, i + 1] for an id still in flight. Then it waits for the
calls still in flight and prints "calls N CPU-SECONDS": the calls answered
and its CPU time until SECONDS ran out.

Usage: python3 bench_wire_client.py PORT CONC SECONDS
"""

import re
import socket
import sys
import time

OFFER = b"\x02\x80\x02\x82pb\x04\x82none"  # ['pb', 'none']
VERSION = b"\x02\x80\x13\x87\x06\x81"  # ['version', 6]
# ['answer', id, result]: a list of 3, vocab #27, two INT tokens.
ANSWER = re.compile(rb"\x03\x80\x1b\x87([\x00-\x7f]{1,5})\x81([\x00-\x7f]{1,5})\x81")


def banana_int(n):
    """The INT token of 0 <= n < 2**31: base-128 digits, least first."""
    out = bytearray()
    while True:
        out.append(n & 0x7F)
        n >>= 7
        if not n:
            break
    out.append(0x81)
    return bytes(out)


def digits_value(d):
    v = 0
    for k, b in enumerate(d):
        v |= b << (7 * k)
    return v


def call(i):
    """['message', i, 'root', 'add', 1, ['tuple', i, 1], ['dictionary']]"""
    n = banana_int(i)
    return (b"\x07\x80\x1a\x87" + n + b"\x04\x82root\x03\x82add\x01\x81"
            + b"\x03\x80\x0b\x87" + n + b"\x01\x81\x01\x80\x05\x87")


def main(port, conc, seconds):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    while len(buf) < len(OFFER):
        chunk = s.recv(65536)
        if not chunk:
            sys.exit("connection closed during the dialect offer")
        buf += chunk
    if not buf.startswith(OFFER):
        sys.exit("unexpected dialect offer %r" % buf[: len(OFFER)])
    buf = buf[len(OFFER):]

    cpu0 = time.process_time()
    deadline = time.monotonic() + seconds
    next_id = 1
    inflight = set()
    out = [b"\x02\x82pb", VERSION]
    for _ in range(conc):
        out.append(call(next_id))
        inflight.add(next_id)
        next_id += 1
    s.sendall(b"".join(out))

    seen_version = False
    count = 0
    sending = True
    while inflight:
        chunk = s.recv(262144)
        if not chunk:
            sys.exit("connection closed with %d calls in flight" % len(inflight))
        buf += chunk
        pos = 0
        if not seen_version:
            if len(buf) < len(VERSION):
                continue
            if not buf.startswith(VERSION):
                sys.exit("expected ['version', 6], got %r" % buf[:16])
            pos = len(VERSION)
            seen_version = True
        out = []
        while True:
            m = ANSWER.match(buf, pos)
            if m is None:
                break
            i = digits_value(m.group(1))
            if i not in inflight or digits_value(m.group(2)) != i + 1:
                sys.exit("bad answer %r" % m.group(0))
            inflight.discard(i)
            count += 1
            pos = m.end()
            if sending:
                out.append(call(next_id))
                inflight.add(next_id)
                next_id += 1
        buf = buf[pos:]
        if len(buf) > 16:
            sys.exit("not an answer to add: %r" % buf[:32])
        if out:
            s.sendall(b"".join(out))
        if sending and time.monotonic() >= deadline:
            sending = False
            answered, cpu = count, time.process_time() - cpu0
    print("calls", answered, cpu, flush=True)
    s.close()


main(int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]))
