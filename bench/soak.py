#!/usr/bin/env python3
"""Mixed soak load for a running `switchboard echo` and `switchboard chat`.

Run by bench/soak.sh, which starts the servers (pinned), passes their
addresses and pids, and stops them afterwards; see there for the whole
procedure. Python 3 standard library only (asyncio), 127.0.0.1 only.

Clients, each kind in a loop of its own until the deadline:

echo (the server runs with --idle-timeout)
  good      keep up to 512 KiB of random chunks (1 B .. 64 KiB) in flight
            and verify every byte that comes back; at the end half-close and
            check that everything came back before the server's EOF
  slow      as good, but read 32 KiB/s through a small receive buffer with
            up to 16 MiB in flight, so the server must stop reading it at
            --high-water (not grow, not drop); the rest is read at full
            speed, verified, once the run is over
  churn     connect, send 1 B .. 4 KiB, read it back (verified), close; half
            of them half-close first and read to EOF
  rst       connect, send up to 128 KiB, read some or none, then reset
            (SO_LINGER 0)
  hog       write without reading until the writes block for a second (the
            server stopped reading), then reset
  idle      connect and send nothing: the server must close it after
            --idle-timeout (between T - 0.1 s and T + 1 s)

chat (line protocol and IRC in #lobby; --idle-timeout, small --max-output)
  good      line and IRC clients that send numbered lines under the rate
            limit and check that they see every other good client's lines,
            none lost, none twice, in order per sender, and are never
            disconnected
  flood     line clients that send as fast as TCP lets them (over the rate
            limit): the server slows them down; every good client checks that
            their lines still arrive gap-free and in order (nothing dropped)
  throttle  a sender alone with a listener in a room of their own writes 60
            lines at once (held by the rate limit for longer than the idle
            timeout), then pauses: it must not be closed as idle, and the
            listener must get every line in order
  slow      read 2 KB/s through a 4 KiB receive buffer; the server may cut
            them off ("too far behind", counted), they reconnect
  churn     connect, get the welcome (IRC: register and join), then one of:
            a line and close, /quit (IRC: QUIT), reset, close at once, or
            stop reading for a second and reset with output pending
  idle      join a room of its own and go silent: must be closed after the
            idle timeout (as above)

Checks (any failure: exit 1): zero errors seen by well-behaved clients (the
good, flood, throttle, echo slow and churn clients and the idle probes);
VmRSS flat within --rss-tolerance after the warm-up (median of the last
tenth of the samples against the median of the first tenth after warm-up);
open descriptors back to their baseline once every client has gone.
"""

import argparse
import asyncio
import json
import os
import random
import re
import socket
import statistics
import struct
import sys
import time

# ---------------------------------------------------------------- plumbing


def parse_duration(text):
    m = re.fullmatch(r"\s*([0-9.]+)\s*(ms|s|m|h)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r}")
    value, unit = float(m.group(1)), m.group(2) or "s"
    return value * {"ms": 0.001, "s": 1, "m": 60, "h": 3600}[unit]


def parse_size(text):
    m = re.fullmatch(r"\s*([0-9]+)\s*(B|KiB|MiB)?\s*", text)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r}")
    return int(m.group(1)) * {"B": 1, None: 1, "KiB": 1024, "MiB": 1 << 20}[m.group(2)]


ARGS = None


def parse_addr(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


class Stats:
    """Counters, errors of well-behaved clients, and the stop signal."""

    def __init__(self):
        self.counts = {}
        self.errors = {}
        self.examples = []
        self.stopping = False
        self.final_close = False  # the run is over and we close everything

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n

    def error(self, kind, detail):
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.examples) < 40:
            self.examples.append(f"{kind}: {detail}")
        print(f"ERROR {kind}: {detail}", file=sys.stderr, flush=True)


S = Stats()


def now():
    return time.monotonic()


async def connect(addr, rcvbuf=None, limit=2**16):
    """An asyncio stream; rcvbuf is set before connecting (so the window is
    small from the start)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        if rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        await asyncio.wait_for(loop.sock_connect(sock, addr), 10)
    except BaseException:
        sock.close()
        raise
    return await asyncio.open_connection(sock=sock, limit=limit)


def reset(writer):
    """Close with a reset: SO_LINGER on, 0 s."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    writer.transport.abort()


def close(writer):
    try:
        writer.close()
    except Exception:
        pass


async def sleep_until_stopping(seconds):
    end = now() + seconds
    while not S.stopping and now() < end:
        await asyncio.sleep(min(0.2, max(0.0, end - now())))


# Every client that is still open when the run ends is closed by the
# final sweep, so that the descriptor check sees the server's own count.
OPEN = set()


def track(writer):
    OPEN.add(writer)
    return writer


def untrack(writer, rst=False):
    OPEN.discard(writer)
    if rst:
        reset(writer)
    else:
        close(writer)


async def connections(what, open_conn, errors=(OSError,), retry_after=0.5):
    """A new connection from open_conn() (a tuple, its writer second) each
    time round until the run is over, tracked; an attempt that raises one of
    `errors` is an error `what` and is tried again `retry_after` s later."""
    while not S.stopping:
        try:
            conn = await open_conn()
        except errors as e:
            S.error(what, repr(e))
            await asyncio.sleep(retry_after)
            continue
        track(conn[1])
        yield conn


# ---------------------------------------------------------------- echo


class EchoVerifier:
    """Bytes sent and not yet echoed; every byte read must match them."""

    def __init__(self, name):
        self.name = name
        self.expected = bytearray()
        self.sent = 0
        self.echoed = 0

    def sent_bytes(self, data):
        self.expected += data
        self.sent += len(data)

    def got(self, data):
        n = len(data)
        if n > len(self.expected) or self.expected[:n] != data:
            S.error("echo corrupt", f"{self.name}: {n} bytes at offset {self.echoed} do not match")
            return False
        del self.expected[:n]
        self.echoed += n
        return True


async def echo_verified(addr, name, rng, slow=False):
    """A good (or slow-reading) echo client until the deadline; then half-
    close and check that every byte came back before the server's EOF. One
    whose connection failed (an error, counted) starts over, so that the
    load stays on for the whole run."""
    while not S.stopping:
        await echo_verified_once(addr, name, rng, slow)
        await sleep_until_stopping(1.0)


async def echo_verified_once(addr, name, rng, slow):
    try:
        reader, writer = await connect(addr, rcvbuf=8192 if slow else None, limit=8192 if slow else 2**16)
    except OSError as e:
        S.error("echo connect", f"{name}: {e}")
        return
    track(writer)
    v = EchoVerifier(name)
    # A slow reader keeps enough in flight to fill the kernel's buffers
    # (megabytes on loopback) and the server's --high-water behind them, so
    # that the server must stop reading it; it reads at full speed once the
    # run is over.
    in_flight_max = ARGS.echo_slow_backlog if slow else 512 << 10
    ok = True

    async def write_loop():
        while not S.stopping:
            if v.sent - v.echoed > in_flight_max:
                await asyncio.sleep(0.01)
                continue
            n = rng.choice([1, 7, 100, 1000, 4096, 16384, 65536, rng.randint(1, 65536)])
            data = rng.randbytes(n)
            v.sent_bytes(data)
            writer.write(data)
            await writer.drain()
            S.count("echo_bytes_sent", n)
            if not slow:
                await asyncio.sleep(rng.uniform(0, 0.04))
        writer.write_eof()

    async def read_loop():
        nonlocal ok
        while True:
            if slow and not S.stopping:
                data = await reader.read(2048)
                await asyncio.sleep(0.0625)  # 32 KiB/s
            else:
                data = await reader.read(1 << 16)
            if not data:
                return
            if not v.got(data):
                ok = False
                return

    wt = asyncio.create_task(write_loop())
    try:
        # The reader ends at the server's EOF, which follows our EOF once all
        # is echoed, or at a failure.
        deadline = None
        rt = asyncio.create_task(read_loop())
        while not rt.done():
            if S.stopping and deadline is None:
                deadline = now() + 15
            if deadline is not None and now() > deadline:
                S.error("echo incomplete", f"{name}: {len(v.expected)} bytes not echoed 15 s after the end")
                rt.cancel()
                break
            await asyncio.wait([rt], timeout=0.2)
        if rt.done() and not rt.cancelled() and rt.exception():
            raise rt.exception()
        if not S.stopping and ok:
            S.error("echo closed early", f"{name}: server closed the connection during the run")
        elif ok and v.expected:
            S.error("echo lost", f"{name}: EOF with {len(v.expected)} bytes not echoed")
        S.count("echo_slow_bytes_verified" if slow else "echo_good_bytes_verified", v.echoed)
    except (OSError, asyncio.IncompleteReadError) as e:
        S.error("echo connection error", f"{name}: {e!r}")
    finally:
        wt.cancel()
        untrack(writer)


async def echo_churn(addr, rng):
    async for reader, writer in connections("echo churn connect", lambda: connect(addr)):
        try:
            data = rng.randbytes(rng.randint(1, 4096))
            writer.write(data)
            if rng.random() < 0.5:
                writer.write_eof()
                got = await asyncio.wait_for(reader.read(), 10)  # to EOF
            else:
                got = await asyncio.wait_for(reader.readexactly(len(data)), 10)
            if got != data:
                S.error("echo churn corrupt", f"{len(got)} bytes back for {len(data)} sent")
            S.count("echo_churn")
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError) as e:
            S.error("echo churn error", repr(e))
        finally:
            untrack(writer)
        await asyncio.sleep(rng.uniform(0, 0.1))


async def echo_rst(addr, rng):
    async for reader, writer in connections("echo rst connect", lambda: connect(addr)):
        try:
            writer.write(rng.randbytes(rng.randint(1, 128 << 10)))
            if rng.random() < 0.5:
                await asyncio.wait_for(reader.read(rng.randint(1, 8192)), 5)
            else:
                await asyncio.sleep(rng.uniform(0, 0.05))
        except (OSError, asyncio.TimeoutError):
            pass
        untrack(writer, rst=True)
        S.count("echo_rst")
        await asyncio.sleep(rng.uniform(0, 0.2))


async def echo_hog(addr):
    """Writes and never reads; once the server has stopped reading it (a
    write blocked for a second), resets."""
    chunk = bytes(65536)
    async for _, writer in connections("echo hog connect", lambda: connect(addr)):
        written = 0
        try:
            while not S.stopping:
                writer.write(chunk)
                try:
                    await asyncio.wait_for(writer.drain(), 1.0)
                except asyncio.TimeoutError:
                    break
                written += len(chunk)
                if written > 256 << 20:
                    S.error("echo hog", "the server kept reading 256 MiB that was never read back")
                    break
        except OSError:
            pass
        untrack(writer, rst=True)
        S.count("echo_hog")
        S.count("echo_hog_bytes_before_block", written)
        await sleep_until_stopping(1.0)


async def idle_probe(kind, open_and_greet, idle_timeout):
    """Opens a connection that then stays silent; the server must close it
    between idle_timeout - 0.1 s and idle_timeout + 1 s after the last
    byte either way."""
    async for reader, writer, last in connections(
            f"{kind} idle probe connect", open_and_greet,
            (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError), retry_after=1):
        try:
            while True:
                data = await asyncio.wait_for(reader.read(4096), idle_timeout + 1.5)
                if not data:
                    break
                last = now()
            after = now() - last
            if after < idle_timeout - 0.1 or after > idle_timeout + 1:
                S.error(f"{kind} idle timeout", f"closed {after:.2f} s after the last traffic (--idle-timeout {idle_timeout} s)")
            S.count(f"{kind}_idle_closed")
        except asyncio.TimeoutError:
            if not S.stopping:
                S.error(f"{kind} idle timeout", f"still open {idle_timeout + 1.5:.1f} s after the last traffic")
        except OSError as e:
            S.error(f"{kind} idle probe", repr(e))
        finally:
            untrack(writer)


# ---------------------------------------------------------------- chat

MARK = re.compile(rb"(WB|FL|TH)(\d+) (\d+) ")


class ChatBook:
    """What the good chat clients sent: per sender, the last number."""

    def __init__(self):
        self.sent = {}  # "WB3" -> last seq sent
        self.ready = asyncio.Event()


BOOK = ChatBook()


class ChatReceiver:
    """Checks the numbered lines one good client receives."""

    def __init__(self, name, own):
        self.name = name
        self.own = own  # its own sender key, whose lines it must not see
        self.last = {}

    def line(self, text):
        m = MARK.search(text)
        if not m:
            return
        key = (m.group(1) + m.group(2)).decode()
        seq = int(m.group(3))
        if key.startswith("TH"):
            return  # other rooms' lines never reach the lobby
        if key == self.own:
            S.error("chat echo to sender", f"{self.name} got its own line {seq}")
            return
        prev = self.last.get(key, 0)
        if seq != prev + 1:
            what = "reordered or duplicated" if seq <= prev else f"lost {seq - prev - 1}"
            S.error("chat order", f"{self.name}: from {key} got {seq} after {prev} ({what})")
        self.last[key] = seq
        S.count("chat_lines_verified")


async def lines_until_closed(reader, what, detail):
    """The lines the server sends, until it closes the connection; closing
    it before the run is over (S.final_close) is an error `what`."""
    while True:
        line = await reader.readline()
        if not line:
            if not S.final_close:
                S.error(what, detail)
            return
        yield line


async def read_line(reader, timeout=10):
    line = await asyncio.wait_for(reader.readline(), timeout)
    if not line:
        raise EOFError("server closed")
    return line


async def line_open(addr, rcvbuf=None, limit=2**16):
    reader, writer = await connect(addr, rcvbuf=rcvbuf, limit=limit)
    try:
        line = await read_line(reader)
        if b"welcome to switchboard" not in line:
            raise EOFError(f"no welcome: {line!r}")
        m = re.search(rb"welcome to switchboard, ([^!]+)!", line)
        return reader, writer, m.group(1).decode()
    except BaseException:
        close(writer)
        raise


async def line_join(reader, writer, room):
    writer.write(f"/join {room}\n".encode())
    while True:
        line = await read_line(reader)
        if f"you are in {room}".encode() in line:
            return


async def irc_open(addr, nick, join="#lobby"):
    reader, writer = await connect(addr)
    try:
        writer.write(f"NICK {nick}\r\nUSER {nick} 0 * :soak\r\n".encode())
        while True:
            line = await read_line(reader)
            if line.startswith(b"PING"):
                writer.write(b"PONG" + line[4:])
            parts = line.split()
            if len(parts) > 1 and parts[1] == b"001":
                break
            if len(parts) > 1 and parts[1] in (b"432", b"433", b"464") or line.startswith(b"ERROR"):
                raise EOFError(f"registration refused: {line!r}")
        if join:
            writer.write(f"JOIN {join}\r\n".encode())
            while True:
                line = await read_line(reader)
                parts = line.split()
                if len(parts) > 1 and parts[1] == b"366":
                    break
                if len(parts) > 1 and parts[1] in (b"403", b"405", b"471", b"473", b"474", b"475"):
                    raise EOFError(f"join refused: {line!r}")
        return reader, writer
    except BaseException:
        close(writer)
        raise


# What opening a chat client may raise: a network error, the server closing
# or refusing it (EOFError), or no answer in time.
CHAT_OPEN_ERRORS = (OSError, EOFError, asyncio.TimeoutError)


async def chat_open(addr, irc_addr, irc, nick):
    """A client in #lobby: on IRC as `nick`, registered and joined, or on the
    line port (which puts it there, as the guest the server names)."""
    if irc:
        return await irc_open(irc_addr, nick)
    reader, writer, _ = await line_open(addr)
    return reader, writer


async def chat_good(addr, irc_addr, idx, irc, rng, ready_count):
    key = f"WB{idx}"
    name = f"good-{'irc' if irc else 'line'}-{idx}"
    try:
        reader, writer = await chat_open(addr, irc_addr, irc, f"soakwb{idx}")
    except CHAT_OPEN_ERRORS as e:
        S.error("chat good connect", f"{name}: {e!r}")
        ready_count.append(False)
        return
    track(writer)
    ready_count.append(True)
    recv = ChatReceiver(name, key)
    RECEIVERS.add(recv)
    BOOK.sent[key] = 0
    pad = "x" * rng.randint(10, 200)

    async def send_loop():
        await BOOK.ready.wait()
        seq = 0
        while not S.stopping:
            seq += 1
            text = f"{key} {seq} {pad}"
            writer.write((f"PRIVMSG #lobby :{text}\r\n" if irc else f"{text}\n").encode())
            BOOK.sent[key] = seq
            await writer.drain()
            await asyncio.sleep(rng.uniform(0.15, 0.45))  # ~3.3 lines/s, under 10/s

    st = asyncio.create_task(send_loop())
    try:
        async for line in lines_until_closed(reader, "chat good disconnected", f"{name} was closed by the server"):
            if irc and line.startswith(b"PING"):
                writer.write(b"PONG" + line[4:])
                continue
            if irc and b" PRIVMSG " not in line:
                continue
            if not irc and not line.startswith(b"<"):
                continue
            recv.line(line)
    except (OSError, ValueError) as e:
        if not S.final_close:
            S.error("chat good connection error", f"{name}: {e!r}")
    finally:
        st.cancel()
        RECEIVERS.discard(recv)
    return recv


RECEIVERS = set()


async def chat_flood(addr, idx, rng):
    key = f"FL{idx}"
    try:
        reader, writer, _ = await line_open(addr)
    except CHAT_OPEN_ERRORS as e:
        S.error("chat flood connect", repr(e))
        return
    track(writer)
    await BOOK.ready.wait()
    pad = "f" * 300

    async def drain_input():
        async for line in lines_until_closed(reader, "chat flooder disconnected",
                                             f"{key}: the rate limit must slow it down, not close it"):
            if b"too far behind" in line:
                S.error("chat flooder disconnected", f"{key}: {line!r}")

    dt = asyncio.create_task(drain_input())
    seq = 0
    try:
        while not S.stopping and not dt.done():
            batch = []
            for _ in range(20):
                seq += 1
                batch.append(f"{key} {seq} {pad}\n")
            writer.write("".join(batch).encode())
            await writer.drain()
            S.count("chat_flood_lines_written", 20)
    except OSError as e:
        if not S.final_close:
            S.error("chat flooder connection error", f"{key}: {e!r}")
    BOOK.flood_written[key] = seq
    await dt


async def chat_throttle(addr, idx, rng, idle_timeout):
    """A sender and a listener alone in #soakthrIDX; bursts held by the rate
    limit for longer than the idle timeout must neither close the sender
    nor lose a line."""
    room = f"#soakthr{idx}"
    key = f"TH{idx}"
    try:
        lr, lw, _ = await line_open(addr)
        track(lw)
        await line_join(lr, lw, room)
        sr, sw, _ = await line_open(addr)
        track(sw)
        await line_join(sr, sw, room)
    except CHAT_OPEN_ERRORS as e:
        S.error("chat throttle connect", repr(e))
        return
    sender_closed = asyncio.Event()

    async def watch_sender():
        async for _ in lines_until_closed(sr, "chat throttled sender closed",
                                          f"{key}: closed while its input was held (idle timeout {idle_timeout} s?)"):
            pass
        sender_closed.set()

    wt = asyncio.create_task(watch_sender())
    seq = 0
    burst = 60
    longest = 0.0
    try:
        while not S.stopping and not sender_closed.is_set():
            lines = []
            first = seq + 1
            for _ in range(burst):
                seq += 1
                lines.append(f"{key} {seq} t\n")
            sw.write("".join(lines).encode())
            await sw.drain()
            t0 = now()
            expect = first
            while expect <= seq:
                line = await read_line(lr, timeout=idle_timeout + 15)
                m = MARK.search(line)
                if not m:
                    continue
                got = int(m.group(3))
                if got != expect:
                    S.error("chat throttle order", f"{key}: got {got}, expected {expect}")
                    expect = got
                expect += 1
                S.count("chat_throttle_lines_verified")
            longest = max(longest, now() - t0)
            S.count("chat_throttle_bursts")
            await asyncio.sleep(0.5)
    except (OSError, EOFError, asyncio.TimeoutError) as e:
        if not S.final_close:
            S.error("chat throttle listener", f"{key}: {e!r}")
    S.counts["chat_throttle_longest_burst_s"] = round(max(S.counts.get("chat_throttle_longest_burst_s", 0), longest), 2)
    wt.cancel()
    untrack(sw)
    untrack(lw)


async def chat_slow(addr, idx):
    async for reader, writer, _ in connections(
            "chat slow connect", lambda: line_open(addr, rcvbuf=4096, limit=4096),
            CHAT_OPEN_ERRORS, retry_after=1):
        tail = b""
        try:
            while not S.stopping:
                data = await reader.read(512)
                if not data:
                    S.count("chat_slow_cut_off")
                    if b"too far behind" in tail:
                        S.count("chat_slow_told_too_far_behind")
                    break
                tail = (tail + data)[-200:]
                await asyncio.sleep(0.25)  # 2 KB/s
        except OSError:
            S.count("chat_slow_cut_off")
        untrack(writer)
        await sleep_until_stopping(1.0)


async def chat_churn(addr, irc_addr, rng, counter):
    while not S.stopping:
        irc = rng.random() < 0.25
        counter[0] += 1
        try:
            reader, writer = await chat_open(addr, irc_addr, irc, f"soakch{counter[0]}")
        except CHAT_OPEN_ERRORS as e:
            if not S.stopping:
                S.error("chat churn connect", f"{'irc' if irc else 'line'}: {e!r}")
            await asyncio.sleep(0.5)
            continue
        track(writer)
        action = rng.choice(["line", "quit", "rst", "close", "stall-rst"])
        try:
            if action == "line":
                writer.write(b"PRIVMSG #lobby :churn hello\r\n" if irc else b"churn hello\n")
                await writer.drain()
                untrack(writer)
            elif action == "quit":
                writer.write(b"QUIT :bye\r\n" if irc else b"/quit bye\n")
                await asyncio.wait_for(reader.read(), 10)  # to EOF
                untrack(writer)
            elif action == "rst":
                untrack(writer, rst=True)
            elif action == "close":
                untrack(writer)
            else:
                await asyncio.sleep(rng.uniform(0.2, 1.0))
                untrack(writer, rst=True)
            S.count(f"chat_churn_{action}")
        except (OSError, asyncio.TimeoutError) as e:
            S.error("chat churn error", f"{action}: {e!r}")
            untrack(writer)
        await asyncio.sleep(rng.uniform(0, 0.15))


# ---------------------------------------------------------------- monitor


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    return None


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}


def tcp_table():
    """inode -> (local port, remote port, state) from /proc/net/tcp."""
    table = {}
    with open("/proc/net/tcp") as f:
        next(f)
        for line in f:
            parts = line.split()
            local, remote, state, inode = parts[1], parts[2], int(parts[3], 16), parts[9]
            table[inode] = (int(local.split(":")[1], 16), int(remote.split(":")[1], 16), TCP_STATES.get(state, state))
    return table


def fd_targets(pid, table):
    """(fd, what it points to, its entry in `table` (tcp_table) or None) for
    each descriptor the process (or "self") has open, in order."""
    for fd in sorted(os.listdir(f"/proc/{pid}/fd"), key=int):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        m = re.fullmatch(r"socket:\[(\d+)\]", target)
        yield fd, target, table.get(m.group(1)) if m else None


def describe_fds(pid):
    """The server's descriptors, sockets with their TCP state and whether
    the peer end is still open in this (the load's) process: the evidence
    when the count does not return to the baseline."""
    table = tcp_table()
    ours = {tcp[0] for _, _, tcp in fd_targets("self", table) if tcp}  # local ports
    out = []
    for fd, target, tcp in fd_targets(pid, table):
        if tcp:
            lport, rport, state = tcp
            peer = "" if state == "LISTEN" else f", peer {rport} " + ("still open in the load" if rport in ours else "closed by the load")
            target = f"tcp :{lport} {state}{peer}"
        out.append(f"fd {fd}: {target}")
    return out


async def monitor(pids, interval, series, t0):
    while not S.stopping:
        t = round(now() - t0, 1)
        for name, pid in pids.items():
            try:
                series[name].append((t, proc_status(pid, "VmRSS"), fd_count(pid)))
            except OSError:
                S.error("server gone", f"{name} (pid {pid}) is no longer running")
                S.stopping = True
                return
        await asyncio.sleep(interval)


def rss_check(samples, warmup, tolerance):
    """(ok, summary) for one server's [(t, rss, fds)] samples."""
    after = [rss for t, rss, _ in samples if t >= warmup]
    if len(after) < 6:
        return False, {"error": f"only {len(after)} samples after the warm-up"}
    tenth = max(3, len(after) // 10)
    start = statistics.median(after[:tenth])
    end = statistics.median(after[-tenth:])
    growth = end / start - 1
    summary = {
        "samples_after_warmup": len(after),
        "rss_start_kib": round(start / 1024),
        "rss_end_kib": round(end / 1024),
        "rss_min_kib": round(min(after) / 1024),
        "rss_max_kib": round(max(after) / 1024),
        "growth_pct": round(100 * growth, 1),
        "max_over_start_pct": round(100 * (max(after) / start - 1), 1),
        "fds_max": max(f for _, _, f in samples),
    }
    return growth <= tolerance, summary


# ---------------------------------------------------------------- main


async def main(args):
    pids = {"echo": args.echo_pid, "chat": args.chat_pid}
    t0 = now()
    baseline_fds = {name: fd_count(pid) for name, pid in pids.items()}
    series = {name: [] for name in pids}
    BOOK.flood_written = {}
    mon = asyncio.create_task(monitor(pids, args.sample_interval, series, t0))
    rng = random.Random(args.seed)
    def r():
        return random.Random(rng.random())
    tasks = []
    n = args.scale
    echo, chat, irc = args.echo, args.chat, args.irc

    # Good chat clients first: every one must be in #lobby before anyone
    # sends a numbered line.
    ready = []
    goods = []
    for i in range(8 * n):
        goods.append(asyncio.create_task(chat_good(chat, irc, i, False, r(), ready)))
    for i in range(8 * n, 10 * n):
        goods.append(asyncio.create_task(chat_good(chat, irc, i, True, r(), ready)))
    floods = [asyncio.create_task(chat_flood(chat, i, r())) for i in range(3 * n)]
    deadline = now() + 20
    while len(ready) < 10 * n and now() < deadline:
        await asyncio.sleep(0.05)
    if len(ready) < 10 * n or not all(ready):
        S.error("chat good connect", f"{sum(ready)} of {10 * n} good chat clients in #lobby after 20 s")
    await asyncio.sleep(0.3)  # the flooders' welcomes
    BOOK.ready.set()

    for i in range(6 * n):
        tasks.append(asyncio.create_task(echo_verified(echo, f"echo-good-{i}", r())))
    for i in range(2 * n):
        tasks.append(asyncio.create_task(echo_verified(echo, f"echo-slow-{i}", r(), slow=True)))
    tasks += [asyncio.create_task(echo_churn(echo, r())) for _ in range(2 * n)]
    tasks += [asyncio.create_task(echo_rst(echo, r())) for _ in range(n)]
    tasks.append(asyncio.create_task(echo_hog(echo)))

    async def echo_greet():
        reader, writer = await connect(echo)
        return reader, writer, now()

    counter = [0]
    idle_rooms = [0]

    async def chat_greet():
        reader, writer, _ = await line_open(chat)
        idle_rooms[0] += 1
        await line_join(reader, writer, f"#soakidle{idle_rooms[0]}")
        return reader, writer, now()

    tasks.append(asyncio.create_task(idle_probe("echo", echo_greet, args.idle_timeout)))
    tasks.append(asyncio.create_task(idle_probe("chat", chat_greet, args.idle_timeout)))
    tasks += [asyncio.create_task(chat_throttle(chat, i, r(), args.idle_timeout)) for i in range(2 * n)]
    tasks += [asyncio.create_task(chat_slow(chat, i)) for i in range(2 * n)]
    tasks += [asyncio.create_task(chat_churn(chat, irc, r(), counter)) for _ in range(3 * n)]

    end = t0 + args.duration
    last_report = now()
    while now() < end and not S.stopping:
        await asyncio.sleep(min(1.0, end - now()))
        if now() - last_report >= args.report_every:
            last_report = now()
            rss = {k: (v[-1][1] // 1024 if v else None) for k, v in series.items()}
            fds = {k: (v[-1][2] if v else None) for k, v in series.items()}
            print(f"[{now() - t0:6.0f} s] rss KiB {rss} fds {fds} errors {sum(S.errors.values())} "
                  f"churn echo {S.counts.get('echo_churn', 0)} chat {counter[0]}", file=sys.stderr, flush=True)
    S.stopping = True
    run_time = now() - t0
    await mon

    # Wind down: senders have stopped; let the good chat clients receive
    # every line the others sent, then close them all.
    lines_deadline = now() + 20
    while now() < lines_deadline:
        missing = 0
        for recv in list(RECEIVERS):
            for key, last in BOOK.sent.items():
                if key != recv.own and recv.last.get(key, 0) < last:
                    missing += 1
        if missing == 0:
            break
        await asyncio.sleep(0.2)
    for recv in list(RECEIVERS):
        for key, last in BOOK.sent.items():
            got = recv.last.get(key, 0)
            if key != recv.own and got < last:
                S.error("chat lost", f"{recv.name}: from {key} only up to {got} of {last}, 20 s after the senders stopped")
    # Flooders: every line they sent that arrived came in order, without a
    # gap (checked as it arrived); report how far the slowest got.
    # Everything else ends by itself at S.stopping (echo clients after
    # their verified half-close, which may take a while for slow readers).
    await asyncio.wait(tasks, timeout=60)
    S.final_close = True
    for w in list(OPEN):
        # A flooder still has output the server will not read for minutes:
        # a graceful close would wait for it, so reset those.
        untrack(w, rst=w.transport.get_write_buffer_size() > 0)
    for t in goods + floods + tasks:
        t.cancel()
    await asyncio.gather(*goods, *floods, *tasks, return_exceptions=True)

    # Descriptors back to the baseline once the server has seen every close
    # (a closing connection may linger up to 2 s for the peer's EOF).
    fds_end = {}
    fd_deadline = now() + 10
    while True:
        fds_end = {name: fd_count(pid) for name, pid in pids.items()}
        if all(fds_end[k] <= baseline_fds[k] for k in pids) or now() > fd_deadline:
            break
        await asyncio.sleep(0.25)

    checks = {}
    report = {"duration_s": round(run_time, 1), "warmup_s": args.warmup, "counts": S.counts, "servers": {}}
    for name in pids:
        ok, summary = rss_check(series[name], args.warmup, args.rss_tolerance)
        summary["fds_baseline"] = baseline_fds[name]
        summary["fds_end"] = fds_end[name]
        summary["rss_series_kib"] = [(t, rss // 1024) for t, rss, _ in series[name]][:: max(1, len(series[name]) // 60)]
        report["servers"][name] = summary
        checks[f"{name} rss flat within {100 * args.rss_tolerance:.0f} %"] = ok
        checks[f"{name} fds back to baseline"] = fds_end[name] <= baseline_fds[name]
        if fds_end[name] > baseline_fds[name]:
            summary["fds_at_end"] = describe_fds(pids[name])
    checks["zero errors seen by well-behaved clients"] = not S.errors
    report["errors"] = S.errors
    report["error_examples"] = S.examples
    report["checks"] = checks
    report["ok"] = all(checks.values())
    return report


def self_test():
    """Each check fails when fed the fault it is there to catch (a check
    that cannot fail is no check): run by `soak.sh` before the load."""
    failures = []

    def expect(what, kinds):
        got = set(S.errors)
        if not set(kinds) <= got:
            failures.append(f"{what}: expected {kinds}, got {sorted(got)}")
        S.errors.clear()
        S.examples.clear()

    sys_stderr, sys.stderr = sys.stderr, open(os.devnull, "w")
    try:
        v = EchoVerifier("t")
        v.sent_bytes(b"abcdef")
        v.got(b"abc")
        expect("echo in order", [])
        v.got(b"dxf")
        expect("echo corrupt byte", ["echo corrupt"])
        v = EchoVerifier("t")
        v.sent_bytes(b"ab")
        v.got(b"abc")
        expect("echo extra bytes", ["echo corrupt"])

        r = ChatReceiver("t", "WB0")
        for seq in (1, 2, 3):
            r.line(f"<guest2> WB1 {seq} xx\r\n".encode())
            r.line(f":soakwb9!~u@h PRIVMSG #lobby :FL2 {seq} ff\r\n".encode())
        expect("chat in order", [])
        r.line(b"<guest2> WB1 5 xx\r\n")
        expect("chat lost line", ["chat order"])
        r.line(b"<guest2> WB1 4 xx\r\n")
        expect("chat reordered line", ["chat order"])
        r.line(b"<guest2> FL2 3 ff\r\n")
        expect("chat duplicated flood line", ["chat order"])
        r.line(b"<guest1> WB0 1 xx\r\n")
        expect("chat own line echoed", ["chat echo to sender"])
    finally:
        sys.stderr = sys_stderr

    flat = [(t, 5_000_000 + (t % 3) * 100_000, 10) for t in range(60)]
    leak = [(t, 5_000_000 + t * 20_000, 10) for t in range(60)]
    if not rss_check(flat, 5, 0.10)[0]:
        failures.append("rss check: a flat series failed")
    if rss_check(leak, 5, 0.10)[0]:
        failures.append("rss check: a series growing 20 KB/s passed")
    if rss_check(flat[:8], 5, 0.10)[0]:
        failures.append("rss check: 3 samples after the warm-up passed")
    for f in failures:
        print(f"self-test FAILED: {f}", file=sys.stderr)
    print("soak.py self-test: " + ("ok" if not failures else "FAILED"), file=sys.stderr)
    sys.exit(1 if failures else 0)


def cli():
    if sys.argv[1:] == ["--self-test"]:
        self_test()
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--self-test", action="store_true", help="check the checkers against made-up faults, then exit")
    p.add_argument("--echo", type=parse_addr, required=True)
    p.add_argument("--chat", type=parse_addr, required=True)
    p.add_argument("--irc", type=parse_addr, required=True)
    p.add_argument("--echo-pid", type=int, required=True)
    p.add_argument("--chat-pid", type=int, required=True)
    p.add_argument("--duration", type=parse_duration, default=600)
    p.add_argument("--warmup", type=parse_duration, default=None, help="default: a tenth of the duration, at least 5 s")
    p.add_argument("--idle-timeout", type=parse_duration, required=True, help="the servers' --idle-timeout")
    p.add_argument("--rss-tolerance", type=float, default=0.10)
    p.add_argument("--sample-interval", type=parse_duration, default=1.0)
    p.add_argument("--report-every", type=parse_duration, default=10.0)
    p.add_argument("--scale", type=int, default=1, help="multiply every client population")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--echo-slow-backlog", type=parse_size, default=16 << 20,
                   help="bytes a slow echo reader keeps in flight (default 16MiB: past the kernel's buffers and --high-water)")
    p.add_argument("--json", help="also write the report here")
    args = p.parse_args()
    global ARGS
    ARGS = args
    if args.warmup is None:
        args.warmup = max(5.0, args.duration / 10)
    report = asyncio.run(main(args))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(report, f, indent=1)
    print_report(report)
    sys.exit(0 if report["ok"] else 1)


def print_report(rep):
    out = sys.stdout
    print(f"soak: {rep['duration_s']} s of load, warm-up {rep['warmup_s']} s", file=out)
    for name, s in rep["servers"].items():
        if "error" in s:
            print(f"  {name}: {s['error']}", file=out)
            continue
        print(f"  {name}: VmRSS after warm-up {s['rss_start_kib']} -> {s['rss_end_kib']} KiB "
              f"({s['growth_pct']:+.1f} %; min {s['rss_min_kib']}, max {s['rss_max_kib']} KiB, "
              f"{s['samples_after_warmup']} samples); fds baseline {s['fds_baseline']}, "
              f"max {s['fds_max']}, end {s['fds_end']}", file=out)
    print("  counts: " + ", ".join(f"{k} {v}" for k, v in sorted(rep["counts"].items())), file=out)
    if rep["errors"]:
        print("  errors: " + ", ".join(f"{k} {v}" for k, v in sorted(rep["errors"].items())), file=out)
        for e in rep["error_examples"][:10]:
            print(f"    {e}", file=out)
    for name, s in rep["servers"].items():
        if "fds_at_end" in s:
            print(f"  {name}: descriptors at the end (baseline {s['fds_baseline']}):", file=out)
            for line in s["fds_at_end"]:
                print(f"    {line}", file=out)
    for name, ok in rep["checks"].items():
        print(f"  {'PASS' if ok else 'FAIL'}  {name}", file=out)
    print("soak: " + ("ok" if rep["ok"] else "FAILED"), file=out)


if __name__ == "__main__":
    cli()
