#!/usr/bin/env python3
"""Client side of bench/memory.sh (see there): idle-client memory and
connect/disconnect churn. Python 3 standard library (selectors), one thread,
127.0.0.1 only.

  memory.py idle-chat ADDR --pid PID -n N     line clients in pairs
  memory.py idle-echo ADDR --pid PID -n N     echo connections
  memory.py churn ADDR --rate R --duration D  line clients: connect, welcome,
                                              close (or reset), R per second

idle-chat and idle-echo print one JSON object: the server's VmRSS before any
client and after each stage, and (stage - before) / N per client.
"""

import argparse
import errno
import json
import os
import random
import selectors
import socket
import statistics
import struct
import sys
import time

now = time.monotonic


def rss(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} for {pid}")


def settled_rss(pid, seconds=2.0):
    """The median of VmRSS sampled every 0.1 s for `seconds`."""
    samples = []
    end = now() + seconds
    while now() < end:
        samples.append(rss(pid))
        time.sleep(0.1)
    return int(statistics.median(samples))


class Conn:
    def __init__(self, idx, sock):
        self.idx = idx
        self.sock = sock
        self.inbuf = bytearray()
        self.out = bytearray()
        self.connected = False
        self.reading = True
        self.closed = False
        self.nick = None
        self.received = 0

    def send(self, data):
        self.out += data


class Loop:
    """Non-blocking client sockets on one selector."""

    def __init__(self, addr, rcvbuf=None):
        self.addr = addr
        self.rcvbuf = rcvbuf
        self.sel = selectors.DefaultSelector()
        self.conns = []
        self.on_data = lambda conn: None

    def open(self, n, window=128, timeout=60, ready=lambda c: True):
        """Opens n connections, at most `window` unfinished at a time; a
        connection is finished when ready(conn) holds (e.g. welcomed)."""
        start = len(self.conns)
        pending = set()
        nxt = 0
        deadline = now() + timeout
        while True:
            while nxt < n and len(pending) < window:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
                if self.rcvbuf:
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
                s.setblocking(False)
                err = s.connect_ex(self.addr)
                if err not in (0, errno.EINPROGRESS):
                    raise OSError(err, os.strerror(err))
                c = Conn(start + nxt, s)
                self.conns.append(c)
                self.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
                pending.add(c)
                nxt += 1
            pending = {c for c in pending if not ready(c)}
            if nxt == n and not pending:
                return self.conns[start:]
            if now() > deadline:
                raise TimeoutError(f"{n - len(pending)} of {n} connections ready after {timeout} s")
            self.poll(0.05)

    def poll(self, timeout):
        for key, mask in self.sel.select(timeout):
            c = key.data
            if c.closed:
                continue
            if not c.connected and mask & selectors.EVENT_WRITE:
                err = c.sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
                if err:
                    raise OSError(err, f"connect: {os.strerror(err)}")
                c.connected = True
            if mask & selectors.EVENT_READ and c.reading:
                try:
                    data = c.sock.recv(1 << 16)
                except (BlockingIOError, InterruptedError):
                    data = None
                if data == b"":
                    self.close(c)
                    raise EOFError(f"connection {c.idx} closed by the server")
                if data:
                    c.received += len(data)
                    c.inbuf += data
                    self.on_data(c)
            if c.connected:
                self.send_out(c)
            self.update(c)

    @staticmethod
    def send_out(c):
        """Sends as much of c.out as the socket takes now."""
        if not c.out:
            return
        try:
            sent = c.sock.send(c.out)
            del c.out[:sent]
        except (BlockingIOError, InterruptedError):
            pass

    def update(self, c):
        if c.closed:
            return
        events = 0
        if c.reading:
            events |= selectors.EVENT_READ
        if c.out or not c.connected:
            events |= selectors.EVENT_WRITE
        if events:
            self.sel.modify(c.sock, events, c)
        else:
            self.sel.modify(c.sock, selectors.EVENT_READ, c)

    def pause_reading(self, paused):
        for c in self.conns:
            c.reading = not paused
            self.update(c)

    def flush(self):
        for c in self.conns:
            self.send_out(c)
            self.update(c)

    def run_until(self, done, timeout, what):
        deadline = now() + timeout
        self.flush()
        while not done():
            if now() > deadline:
                raise TimeoutError(f"{what}: not done after {timeout} s")
            self.poll(0.05)

    def run_for(self, seconds):
        end = now() + seconds
        self.flush()
        while now() < end:
            self.poll(min(0.05, max(0, end - now())))

    def close(self, c, rst=False):
        if c.closed:
            return
        c.closed = True
        self.sel.unregister(c.sock)
        if rst:
            c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        c.sock.close()


def lines(c):
    """Complete lines in c.inbuf, removed from it."""
    out = []
    while True:
        i = c.inbuf.find(b"\n")
        if i < 0:
            return out
        out.append(bytes(c.inbuf[: i + 1]))
        del c.inbuf[: i + 1]


def per_client(report, n):
    before = report["rss_before"]
    report["per_client_bytes"] = {k[4:]: round((v - before) / n) for k, v in report.items() if k.startswith("rss_") and k != "rss_before"}


def idle_end(loop, conns, report, pid, n):
    """The idle modes' last stage: 2 s more, then VmRSS settled over 3 s
    (rss_idle), the peak (vmhwm) and the per-client figures; every client
    closed. Returns the report."""
    loop.run_for(2)
    report["rss_idle"] = settled_rss(pid, 3)
    report["vmhwm"] = rss(pid, "VmHWM")
    per_client(report, n)
    for c in conns:
        loop.close(c)
    return report


def idle_chat(args):
    """Line clients in rooms of two (#mK): connect and join, 3 short lines
    each, then a burst of 30 lines of 2,000 bytes (60 KB) each way that the
    partner, behind a 4 KiB receive buffer, reads only after 2 s (so the
    server holds it: output buffer, and the rate limit's held input), then
    all idle."""
    n = args.n - args.n % 2
    loop = Loop(args.addr, rcvbuf=4096)
    report = {"mode": "idle-chat", "clients": n, "burst_from": args.burst_from, "rss_before": settled_rss(args.pid, 1)}
    state = {}  # idx -> dict

    def on_data(c):
        st = state.setdefault(c.idx, {"welcomed": False, "joined": False, "short": 0, "long": 0})
        for line in lines(c):
            if not st["welcomed"] and b"welcome to switchboard" in line:
                st["welcomed"] = True
                c.send(f"/join #m{c.idx // 2}\n".encode())
            elif not st["joined"] and b"*** you are in #m" in line:
                st["joined"] = True
            elif line.startswith(b"<") and b" short " in line:
                st["short"] += 1
            elif line.startswith(b"<") and b" long " in line:
                st["long"] += 1

    loop.on_data = on_data
    t = now()
    conns = loop.open(n, ready=lambda c: state.get(c.idx, {}).get("joined", False), timeout=120)
    report["connect_s"] = round(now() - t, 1)
    loop.run_for(1)
    report["rss_joined"] = settled_rss(args.pid)

    for c in conns:
        for k in range(3):
            c.send(f"short {c.idx} {k} {'s' * 40}\n".encode())
    loop.run_until(lambda: all(state[c.idx]["short"] >= 3 for c in conns), 60, "short lines")
    loop.run_for(1)
    report["rss_lines"] = settled_rss(args.pid)

    loop.pause_reading(True)
    pad = "L" * 1980
    # --burst-from even: only even clients send their burst (so the odd
    # ones only receive one): tells input-side from output-side retention.
    senders = [c for c in conns if args.burst_from == "all" or c.idx % 2 == 0]
    for c in senders:
        c.send("".join(f"long {c.idx} {k} {pad}\n" for k in range(30)).encode())
    loop.run_for(2.0)  # nobody reads: the server holds the bursts
    report["rss_burst_held"] = rss(args.pid)
    loop.pause_reading(False)
    receivers = [c for c in conns if (c.idx ^ 1) in {s.idx for s in senders}]
    loop.run_until(lambda: all(state[c.idx]["long"] >= 30 for c in receivers), 120, "long lines")
    return idle_end(loop, conns, report, args.pid, n)


def idle_echo(args):
    """Echo connections: connect; then each sends 64 KiB in one go, behind
    a 4 KiB receive buffer, and reads it back (verified) only after 1 s, so
    that the server holds most of it; then all idle."""
    loop = Loop(args.addr, rcvbuf=4096)
    n = args.n
    report = {"mode": "idle-echo", "clients": n, "rss_before": settled_rss(args.pid, 1)}
    conns = loop.open(n, ready=lambda c: c.connected, timeout=120)
    loop.run_for(1)
    report["rss_connected"] = settled_rss(args.pid)
    rng = random.Random(1)
    payload = rng.randbytes(64 << 10)
    loop.pause_reading(True)
    for c in conns:
        c.send(payload)
    loop.run_for(1.0)
    report["rss_echo_held"] = rss(args.pid)
    loop.pause_reading(False)
    loop.run_until(lambda: all(c.received >= len(payload) for c in conns), 120, "echoes")
    bad = sum(1 for c in conns if bytes(c.inbuf) != payload)
    if bad:
        raise RuntimeError(f"{bad} echoes corrupt")
    return idle_end(loop, conns, report, args.pid, n)


def churn(args):
    """Line clients that connect, wait for the welcome and disconnect (a
    third with a reset), `rate` per second, for `duration` seconds; at most
    `window` at once. Prints the rate achieved."""
    loop = Loop(args.addr)
    welcomed = set()

    def on_data(c):
        if b"welcome to switchboard" in c.inbuf:
            welcomed.add(c)
        c.inbuf.clear()

    loop.on_data = on_data
    live = set()
    opened = closed = 0
    t0 = now()
    end = t0 + args.duration
    rng = random.Random(2)
    while now() < end:
        due = int((now() - t0) * args.rate)
        while opened < due and len(live) < args.window:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            s.connect_ex(args.addr)
            c = Conn(opened, s)
            loop.sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE, c)
            live.add(c)
            opened += 1
        try:
            loop.poll(0.002)
        except EOFError:
            pass
        for c in list(welcomed):
            loop.close(c, rst=rng.random() < 1 / 3)
            welcomed.discard(c)
            live.discard(c)
            closed += 1
        for c in [c for c in live if c.closed]:
            live.discard(c)
    for c in list(live):
        loop.close(c)
    elapsed = now() - t0
    return {"mode": "churn", "target_per_s": args.rate, "cycles": closed, "cycles_per_s": round(closed / elapsed)}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["idle-chat", "idle-echo", "churn"])
    p.add_argument("addr")
    p.add_argument("--pid", type=int)
    p.add_argument("-n", type=int, default=2000)
    p.add_argument("--rate", type=float, default=2000)
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--window", type=int, default=256)
    p.add_argument("--burst-from", choices=["all", "even"], default="all",
                   help="idle-chat: which clients send the 60 KB burst (even: half, to their partners)")
    args = p.parse_args()
    host, port = args.addr.rsplit(":", 1)
    args.addr = (host, int(port))
    report = {"idle-chat": idle_chat, "idle-echo": idle_echo, "churn": churn}[args.mode](args)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
