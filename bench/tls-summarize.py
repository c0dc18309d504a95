#!/usr/bin/env python3
"""Markdown summary of a bench/tls-compare.sh results file.

Usage: bench/tls-summarize.py bench/results/tls-compare-<timestamp>.jsonl

Two tables. Chat fan-out: per point and transport (plain, tls), the median
deliveries/s (min-max), latency, the server's CPU per delivery, the server's
resident memory per client (RSS once all clients are in the room, minus
before they connected, over their number), and TLS ÷ plain: the ratio of
the medians, and in brackets the range of the ratios of the runs paired by
round (the rounds are interleaved, so a pair saw the same machine).
Connection set-up (--connect-only): connections/s, latency from connect to
welcome, the server's and the generator's CPU per connection, and the same
ratios against plain connects. Busy columns: the share of the run each
process kept its core busy (the generator's near 100 % means the tool, not
the server, set the rate). Failed runs, losses, reordering, disconnects and
failed connections are counted, never averaged in; runs disturbed by other
work on the machine are flagged.
"""
import json
import sys
from statistics import median

from summarize import warn_if_disturbed  # bench/summarize.py, beside this

BASELINE = "plain"


def point_of(r):
    if r.get("mode") == "connect" or "parallel" in r:
        return f"connect, {r.get('parallel', '?')} at a time"
    if "clients" not in r:
        return r.get("point", "?")
    load = f"open {r['rate']:g}/s" if r.get("rate") else f"closed w{r.get('window') or 1}"
    return f"{r['clients']}×{r['senders']} {load}"


def spread(values, fmt="{:,.0f}"):
    if not values:
        return "–"
    return f"{fmt.format(median(values))} ({fmt.format(min(values))}–{fmt.format(max(values))})"


def ratio_cell(mine, base, key):
    """Ratio of medians, and the range of the per-round ratios."""
    a = {r["round"]: key(r) for r in mine if key(r) is not None}
    b = {r["round"]: key(r) for r in base if key(r) is not None}
    if not a or not b:
        return "–"
    whole = median(a.values()) / median(b.values())
    pairs = [a[k] / b[k] for k in a if k in b and b[k]]
    if not pairs:
        return f"{whole:.2f}×"
    return f"{whole:.2f}× ({min(pairs):.2f}–{max(pairs):.2f})"


def server(r, key):
    return (r.get("server") or {}).get(key)


def busy_cell(runs):
    g = [100 * r["generator"]["cpu_s"] / r["duration_s"] for r in runs if r.get("generator")]
    s = [100 * r["server"]["cpu_s"] / r["duration_s"] for r in runs if r.get("server")]
    if not g or not s:
        return "–"
    return f"{median(g):.0f} % / {median(s):.0f} %"


def table(titles, rows):
    print("| " + " | ".join(titles) + " |")
    print("|" + "---|" * len(titles))
    for cells in rows:
        print("| " + " | ".join(cells) + " |")
    print()


def main(path):
    rows = [json.loads(line) for line in open(path) if line.strip()]
    groups = {}
    for r in rows:
        groups.setdefault(point_of(r), {}).setdefault(r["server_name"], []).append(r)

    chat_rows, connect_rows = [], []
    for point, by_name in groups.items():
        base = [r for r in by_name.get(BASELINE, []) if not isinstance(r.get("failed"), str)]
        for name, runs in by_name.items():
            good = [r for r in runs if not isinstance(r.get("failed"), str)]
            bad = len(runs) - len(good)
            runs_cell = f"{len(good)}" + (f" (+{bad} failed)" if bad else "")
            if not good:
                (connect_rows if point.startswith("connect") else chat_rows).append(
                    [name, point, runs_cell] + ["–"] * 8)
                continue
            p50 = median(r["latency"]["p50_us"] for r in good)
            p99 = median(r["latency"]["p99_us"] for r in good)
            suite = next((r["tls"]["cipher_suite"] for r in good if r.get("tls")), None)
            label = name + (f" ({suite}, {good[0]['tls']['kx_group']})" if suite else "")
            if point.startswith("connect"):
                done = sum(r.get("handshakes", 0) for r in good)
                resumed = sum(r.get("resumed", 0) for r in good)
                if resumed:
                    label += f", {100 * resumed / max(done, 1):.0f} % resumed"
                rate = [r["handshakes_per_s"] for r in good]
                cpu = [server(r, "cpu_us_per_handshake") for r in good if server(r, "cpu_us_per_handshake") is not None]
                gen = [r["generator"]["cpu_us_per_handshake"] for r in good]
                failed = sum(r.get("failed", 0) for r in good)
                connect_rows.append([
                    label, point, runs_cell,
                    spread(rate), f"{p50:,.0f}", f"{p99:,.0f}",
                    spread(cpu, "{:.1f}"), spread(gen, "{:.1f}"), busy_cell(good),
                    ratio_cell(good, base, lambda r: r["handshakes_per_s"]),
                    ratio_cell(good, base, lambda r: server(r, "cpu_us_per_handshake")),
                    f"{failed}",
                ])
            else:
                rate = [r["deliveries_per_s"] for r in good]
                cpu = [server(r, "cpu_ns_per_delivery") for r in good if server(r, "cpu_ns_per_delivery") is not None]
                per_client = [server(r, "rss_per_client_bytes") / 1024 for r in good
                              if server(r, "rss_per_client_bytes") is not None]
                peak = [server(r, "peak_rss_bytes") / 2**20 for r in good if server(r, "peak_rss_bytes")]
                faults = (f"{sum(r.get('lost', 0) for r in good)} / "
                          f"{sum(r.get('reordered', 0) for r in good)} / "
                          f"{sum(r.get('disconnects', 0) for r in good)}")
                chat_rows.append([
                    label, point, runs_cell,
                    spread(rate), f"{p50:,.0f}", f"{p99:,.0f}",
                    spread(cpu), spread(per_client, "{:.1f}"),
                    f"{median(peak):.1f} MiB" if peak else "–",
                    busy_cell(good),
                    ratio_cell(good, base, lambda r: r["deliveries_per_s"]),
                    ratio_cell(good, base, lambda r: server(r, "cpu_ns_per_delivery")),
                    ratio_cell(good, base, lambda r: server(r, "rss_per_client_bytes")),
                    faults,
                ])

    if chat_rows:
        table([
            "transport", "clients × senders, load", "runs", "deliveries/s, median (min–max)",
            "p50 µs", "p99 µs", "server CPU ns/delivery", "server RSS KiB/client",
            "peak RSS", "generator / server core busy",
            "rate ÷ plain", "CPU/delivery ÷ plain", "RSS/client ÷ plain",
            "lost / reordered / disconnects",
        ], chat_rows)
    if connect_rows:
        table([
            "transport", "point", "runs", "connections/s, median (min–max)",
            "p50 µs connect→welcome", "p99 µs", "server CPU µs/connection",
            "generator CPU µs/connection", "generator / server core busy",
            "rate ÷ plain", "server CPU ÷ plain", "failed connections",
        ], connect_rows)
    print("Ratios: of the medians, and in brackets the range over the rounds' "
          "side-by-side pairs.")
    warn_if_disturbed(rows)


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
