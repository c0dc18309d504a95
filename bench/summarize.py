#!/usr/bin/env python3
"""Markdown summary of a bench/echo-compare.sh or bench/chat-compare.sh
results file.

Usage: bench/summarize.py [--baseline NAME] bench/results/<script>-<timestamp>.jsonl
       bench/summarize.py --cluster bench/results/cluster-compare-<timestamp>.jsonl

One row per point (echo: message size; chat: clients x senders and load) and
server, over that point's runs: the median rate (min-max), median latency
percentiles, median server CPU time per round trip or delivery (min-max), peak
RSS, switchboard's median rate divided by this server's, and this server's
median CPU cost divided by switchboard's (above 1: switchboard is cheaper); with
--baseline NAME, the ratios are against that server instead. Failed runs, errors,
corrupt echoes, losses and reordering are counted, never averaged in, and
runs that other work on the machine disturbed are flagged.

With --cluster (bench/cluster-compare.sh), the CPU columns are those the
script measured for every process: all switchboard processes' CPU per
delivery, redis-server's per chat line, and the two together per delivery
(also as a ratio to the `alone` server's); room-order violations are counted
with the other faults.
"""
import json
import sys
from statistics import median

BASELINE = "switchboard"
BUSY_WARN = 0.10  # machine_other_busy above this flags a disturbed run


def fmt_size(n):
    return f"{n // 1024} KiB" if n >= 1024 and n % 1024 == 0 else f"{n} B"


def echo_point(r):
    size = fmt_size(r["size"])
    point = f"{r['connections']} × {size}" if "connections" in r else size
    return point + (f" + {r['idle']:,} idle" if r.get("idle") is not None else "")


def chat_point(r):
    """E.g. "1000×10 open 1000/s", from the bench's own fields."""
    if "clients" not in r:
        return r.get("point", "?")
    load = f"open {r['rate']:g}/s" if r.get("rate") else f"closed w{r.get('window') or 1}"
    return f"{r['clients']}×{r['senders']} {load}"


ECHO = {
    "point": echo_point,
    "point_title": "connections × size",
    "rate": "round_trips_per_s",
    "rate_title": "round trips/s",
    "cpu": ("cpu_us_per_round_trip", "server CPU µs/round trip", 1.0, "{:.2f}"),
    "faults_title": "errors / corrupt",
    "faults": lambda rs: f"{sum(r.get('errors', 0) for r in rs)} / "
    f"{sum(r.get('corrupt', 0) for r in rs)}",
}

CHAT = {
    "point": chat_point,
    "point_title": "clients × senders, load",
    "rate": "deliveries_per_s",
    "rate_title": "deliveries/s",
    "cpu": ("cpu_ns_per_delivery", "server CPU ns/delivery", 1.0, "{:.0f}"),
    "faults_title": "lost / reordered / disconnects",
    "faults": lambda rs: f"{sum(r.get('lost', 0) for r in rs)} / "
    f"{sum(r.get('reordered', 0) for r in rs)} / "
    f"{sum(r.get('disconnects', 0) for r in rs)}",
}


def summarize(rows, kind, baseline=BASELINE):
    # Keep first-seen order of points and servers (the script's run order).
    points = {}
    for r in rows:
        points.setdefault((kind["point"](r), r["server_name"]), []).append(r)

    def ok(runs):
        return [r for r in runs if "failed" not in r]

    def median_rate(point, name):
        good = ok(points.get((point, name), []))
        return median(r[kind["rate"]] for r in good) if good else None

    def cpu_values(runs):
        stats = [r.get("server") or {} for r in runs]  # the server's CPU/RSS
        return [st[cpu_key] for st in stats if cpu_key in st]

    cpu_key, cpu_title, _, cpu_fmt = kind["cpu"]
    titles = [
        "server", kind["point_title"], "runs", f"{kind['rate_title']}, median (min–max)",
        "p50 µs", "p99 µs", f"{cpu_title}, median (min–max)", "peak RSS, median (max)",
        f"{baseline}'s rate ÷ this", f"this CPU ÷ {baseline}'s", kind["faults_title"],
    ]
    print("| " + " | ".join(titles) + " |")
    print("|" + "---|" * len(titles))
    for point in dict.fromkeys(p for p, _ in points):
        base = median_rate(point, baseline)
        base_cpu = cpu_values(ok(points.get((point, baseline), [])))
        base_cpu = median(base_cpu) if base_cpu else None
        for (pt, name), runs in points.items():
            if pt != point:
                continue
            good = ok(runs)
            failed = len(runs) - len(good)
            runs_cell = f"{len(good)}" + (f" (+{failed} failed)" if failed else "")
            if not good:
                print(f"| {name} | {point} | {runs_cell} |" + " – |" * (len(titles) - 3))
                continue
            rates = [r[kind["rate"]] for r in good]
            p50 = median(r["latency"]["p50_us"] for r in good)
            p99 = median(r["latency"]["p99_us"] for r in good)
            cpu = cpu_values(good)
            rss = [
                r["server"]["peak_rss_bytes"]
                for r in good
                if "peak_rss_bytes" in (r.get("server") or {})
            ]
            health = kind["faults"](good)
            early = [r for r in runs if r.get("server_exited_early")]
            if early:
                statuses = sorted({r.get("server_exit_status") for r in early})
                health += f"; exited on its own in {len(early)} run(s), status {statuses}"
            cells = [
                name,
                point,
                runs_cell,
                f"{median(rates):,.0f} ({min(rates):,.0f}–{max(rates):,.0f})",
                f"{p50:,.0f}",
                f"{p99:,.0f}",
                f"{cpu_fmt.format(median(cpu))} ({cpu_fmt.format(min(cpu))}–"
                f"{cpu_fmt.format(max(cpu))})" if cpu else "–",
                f"{median(rss) / 2**20:.1f} MiB ({max(rss) / 2**20:.1f})" if rss else "–",
                f"{base / median(rates):.2f}×" if base else "–",
                f"{median(cpu) / base_cpu:.2f}×" if cpu and base_cpu else "–",
                health,
            ]
            print("| " + " | ".join(cells) + " |")


def warn_if_disturbed(rows):
    """Prints a warning when other work disturbed any of the runs."""
    busy = [r for r in rows if r.get("machine_other_busy", 0) > BUSY_WARN]
    if busy:
        worst = max(r["machine_other_busy"] for r in busy)
        print(f"\n**Warning:** other work took over {BUSY_WARN:.0%} of the machine's CPU "
              f"during {len(busy)} of {len(rows)} runs (worst {worst:.0%}): "
              f"those numbers are disturbed; re-run on a quiet machine.")


def summarize_cluster(rows, baseline="alone"):
    """The table of bench/cluster-compare.sh: one row per point and server."""
    points = {}
    for r in rows:
        points.setdefault((chat_point(r), r["server_name"]), []).append(r)

    def spread(values, fmt):
        if not values:
            return "–"
        return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"

    def cpu(runs, key):
        return [r["cpu"][key] for r in runs if key in (r.get("cpu") or {})]

    titles = [
        "server", "clients × senders, load", "runs", "deliveries/s, median (min–max)",
        "p50 µs", "p99 µs", "switchboard CPU ns/delivery", "Redis CPU µs/line",
        "total CPU ns/delivery", f"total ÷ {baseline}'s",
        "lost / reordered / disconnects / room-order violations",
    ]
    print("| " + " | ".join(titles) + " |")
    print("|" + "---|" * len(titles))
    for point in dict.fromkeys(p for p, _ in points):
        base = cpu([r for r in points.get((point, baseline), []) if "failed" not in r],
                   "total_ns_per_delivery")
        base = median(base) if base else None
        for (pt, name), runs in points.items():
            if pt != point:
                continue
            good = [r for r in runs if "failed" not in r]
            failed = len(runs) - len(good)
            runs_cell = f"{len(good)}" + (f" (+{failed} failed)" if failed else "")
            if not good:
                print(f"| {name} | {point} | {runs_cell} |" + " – |" * (len(titles) - 3))
                continue
            total = cpu(good, "total_ns_per_delivery")
            health = " / ".join(
                str(sum(r.get(k, 0) for r in good))
                for k in ("lost", "reordered", "disconnects", "room_order_violations")
            )
            early = [r for r in runs if r.get("server_exited_early")]
            if early:
                health += f"; processes exited on their own in {len(early)} run(s)"
            cells = [
                name,
                point,
                runs_cell,
                spread([r["deliveries_per_s"] for r in good], "{:,.0f}"),
                f"{median(r['latency']['p50_us'] for r in good):,.0f}",
                f"{median(r['latency']['p99_us'] for r in good):,.0f}",
                spread(cpu(good, "switchboard_ns_per_delivery"), "{:,.0f}"),
                spread(cpu(good, "redis_us_per_line"), "{:,.1f}"),
                spread(total, "{:,.0f}"),
                f"{median(total) / base:.2f}×" if total and base else "–",
                health,
            ]
            print("| " + " | ".join(cells) + " |")


def main(path, baseline=BASELINE):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    chat = any(r.get("mode") == "chat" or "point" in r or "clients" in r for r in rows)
    summarize(rows, CHAT if chat else ECHO, baseline)
    warn_if_disturbed(rows)


if __name__ == "__main__":
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "--cluster":
        rows = [json.loads(line) for line in open(args[1]) if line.strip()]
        summarize_cluster(rows)
        warn_if_disturbed(rows)
    elif len(args) == 3 and args[0] == "--baseline":
        main(args[2], args[1])
    elif len(args) == 1:
        main(args[0])
    else:
        sys.exit(__doc__)
