#!/usr/bin/env python3
"""Charts (SVG, drawn by gnuplot) from bench/run.sh results.

Usage: bench/charts.py OUT_DIR RESULTS.jsonl...

Echo results (suite-echo-*.jsonl) give, per message size, round trips/s
against connections per server, and the latency percentiles at 50
connections. Chat results (suite-chat-*.jsonl) give deliveries/s against
clients (closed loop) and p99 delivery latency against clients (open loop),
with 10 senders (9 at 10 clients). Every point is the median over its runs;
failed runs are left out (a server missing at a point has no mark there).
"""
import json
import os
import subprocess
import sys
import tempfile
from statistics import median

STYLE = """set terminal svg size 760,440 dynamic font "sans,13" background "white"
set grid
set key outside right top
set border 3
set tics nomirror
"""


def load(path):
    return [json.loads(line) for line in open(path) if line.strip()]


def good(rows):
    return [r for r in rows if "failed" not in r]


def servers_in(rows):
    return list(dict.fromkeys(r["server_name"] for r in rows))


def series(rows, x_key, y_of):
    """{server: [(x, median y)]} over the runs at each x."""
    out = {}
    for name in servers_in(rows):
        xs = sorted({r[x_key] for r in rows if r["server_name"] == name})
        pts = []
        for x in xs:
            ys = [y_of(r) for r in rows if r["server_name"] == name and r[x_key] == x]
            ys = [y for y in ys if y is not None]
            if ys:
                pts.append((x, median(ys)))
        out[name] = pts
    return out


def plot(out_path, title, xlabel, ylabel, data, logx=True, logy=False):
    """Lines with points, one per server."""
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        names = [n for n, pts in data.items() if pts]
        for n in names:
            f.write(f"# {n}\n")
            for x, y in data[n]:
                f.write(f"{x} {y}\n")
            f.write("\n\n")
        dat = f.name
    plots = ", ".join(
        f"'{dat}' index {i} using 1:2 with linespoints lw 2 pt 7 title '{n}'"
        for i, n in enumerate(names)
    )
    script = STYLE + f"""set output '{out_path}'
set title '{title}'
set xlabel '{xlabel}'
set ylabel '{ylabel}'
{'set logscale x' if logx else ''}
{'set logscale y' if logy else ''}
set format y '%.0s%c'
plot {plots}
"""
    run_gnuplot(script)
    os.unlink(dat)


def bars(out_path, title, ylabel, groups, labels):
    """Clustered bars: for each server (cluster), one bar per label."""
    with tempfile.NamedTemporaryFile("w", suffix=".dat", delete=False) as f:
        f.write("server " + " ".join(f'"{lab}"' for lab in labels) + "\n")
        for name, values in groups.items():
            f.write(f'"{name}" ' + " ".join(str(v) for v in values) + "\n")
        dat = f.name
    cols = ", ".join(
        f"'{dat}' using {i + 2}:xtic(1) title columnheader" for i in range(len(labels))
    )
    script = STYLE + f"""set output '{out_path}'
set title '{title}'
set ylabel '{ylabel}'
set style data histogram
set style histogram cluster gap 1
set style fill solid 0.8 border -1
set logscale y
set yrange [10:*]
plot {cols}
"""
    run_gnuplot(script)
    os.unlink(dat)


def run_gnuplot(script):
    subprocess.run(["gnuplot"], input=script, text=True, check=True)


def rate(key):
    return lambda r: r.get(key)


def echo_charts(out_dir, rows):
    made = []
    for size, label in ((64, "64 B"), (4096, "4 KiB")):
        at = [r for r in rows if r.get("size") == size]
        if not at:
            continue
        path = os.path.join(out_dir, f"echo-rps-{size}.svg")
        plot(path, f"Echo, {label} round trips (closed loop)", "connections",
             "round trips/s", series(at, "connections", rate("round_trips_per_s")))
        made.append(path)
    at = [r for r in rows if r.get("size") == 64 and r.get("connections") == 50]
    if at:
        pcts = ("p50_us", "p99_us", "p999_us")
        groups = {
            name: [median(r["latency"][p] for r in at if r["server_name"] == name) for p in pcts]
            for name in servers_in(at)
        }
        path = os.path.join(out_dir, "echo-latency-50x64.svg")
        bars(path, "Echo latency, 50 connections × 64 B", "µs (log scale)", groups,
             ["p50", "p99", "p99.9"])
        made.append(path)
    return made


def chat_charts(out_dir, rows):
    made = []
    many = [r for r in rows if r.get("senders", 0) >= 9]
    closed = [r for r in many if not r.get("rate")]
    if closed:
        path = os.path.join(out_dir, "chat-deliveries-closed.svg")
        plot(path, "Chat fan-out at saturation (10 senders, closed loop)", "clients in the room",
             "deliveries/s", series(closed, "clients", rate("deliveries_per_s")))
        made.append(path)
    opened = [r for r in many if r.get("rate")]
    if opened:
        path = os.path.join(out_dir, "chat-p99-open.svg")
        plot(path, "Chat p99 delivery latency (10 senders, 1,000 lines/s offered)",
             "clients in the room", "p99 latency, µs",
             series(opened, "clients", lambda r: r["latency"]["p99_us"]), logy=True)
        made.append(path)
    return made


def poller_charts(out_dir, rows):
    """bench/poller-compare.sh: CPU per round trip against the sockets
    watched (busy and idle), one line per poller."""
    path = os.path.join(out_dir, "echo-pollers-idle.svg")
    for r in rows:
        r["watched"] = r["connections"] + r["idle"]
    plot(path, "Echo, 10 busy connections beside idle ones: server CPU per round trip",
         "sockets watched (10 busy + idle)", "server CPU µs per round trip",
         series(rows, "watched", lambda r: (r.get("server") or {}).get("cpu_us_per_round_trip")),
         logy=True)
    return [path]


def main(out_dir, paths):
    os.makedirs(out_dir, exist_ok=True)
    for path in paths:
        rows = good(load(path))
        chat = any(r.get("mode") == "chat" for r in rows)
        if any("idle" in r for r in rows):
            made = poller_charts(out_dir, rows)
        else:
            made = chat_charts(out_dir, rows) if chat else echo_charts(out_dir, rows)
        for m in made:
            print(f"chart: {m}", file=sys.stderr)


if __name__ == "__main__":
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    main(sys.argv[1], sys.argv[2:])
