#!/usr/bin/env bash
# Memory side by side, in one run: switchboard against ngircd, and what an
# idle client costs switchboard after traffic; plus a bystander's chat
# latency while the room churns. Servers pinned to core 0 (SERVER_CORE), load
# to core 1 (CLIENT_CORE), everything on 127.0.0.1, each run on a freshly
# started server on a free port.
#
# 1. Peak RSS (VmHWM) with PEAK_CLIENTS (1,000) IRC clients joining one
#    channel as fast as they can connect (`switchboard bench chat --preset irc
#    -c 1000 -s 1 --rate 10`: NICK, USER, JOIN #bench, 128 connects in flight;
#    one line per second after all have joined, for 1 s), switchboard's IRC
#    port against ngircd (bench/ngircd.sh), ROUNDS times interleaved, both
#    with the allocator's defaults. Target: switchboard <= ngircd.
# 2. RSS per idle client after traffic, with the server under
#    GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4096 (so that freed buffers
#    of 4 KiB and more go back to the kernel and what stays resident is live):
#    chat: N_IDLE (2,000) line clients, in rooms of two, each sends 3 short
#          lines, then a 60 KB burst (30 lines of 2,000 bytes in one write)
#          that its partner, behind a 4 KiB receive buffer, reads 2 s later;
#    echo: N_IDLE connections, each echoes 64 KiB (sent in one go, read back
#          1 s later, verified).
#    (VmRSS after the clients went idle - VmRSS before any client) / N, and
#    the same after each earlier stage (bench/memory.py). Targets: chat <=
#    4 KiB, echo <= 1 KiB per idle client.
# 3. A bystander's latency: `switchboard bench chat -c B -s 5 --rate 25` (B
#    line clients in #lobby, for each B in BYSTANDERS; 5 lines/s from each
#    of 5 senders, latency from the send schedule) while bench/memory.py
#    churn connects line clients to the same room at CHURN_RATE (2,000) per
#    second, each disconnecting (a third with a reset) as soon as it is
#    welcomed; and the same without churn. The churn generator runs at nice
#    10 beside the bystanders on the load core. Server flags as shipped.
#    Target: p99 < 10 ms.
#
# Run from anywhere:   bench/memory.sh
# Environment:
#   ROUNDS=3            repetitions of the peak-RSS comparison
#   PEAK_CLIENTS=1000   IRC clients for the peak-RSS comparison
#   N_IDLE=2000         clients for the idle-client figures
#   CHURN_RATE=2000     connects+disconnects per second for the latency run
#   CHURN_DURATION=20s  measured time of each latency run
#   BYSTANDERS="10 1000"  room sizes (bench clients) for the latency runs
#   SWITCHBOARD=PATH    use this binary instead of building the release one
# Output: raw JSON lines in bench/results/memory-<stamp>.jsonl and a
# markdown summary on stdout.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
PEAK_CLIENTS=${PEAK_CLIENTS:-1000}
N_IDLE=${N_IDLE:-2000}
CHURN_RATE=${CHURN_RATE:-2000}
CHURN_DURATION=${CHURN_DURATION:-20s}
BYSTANDERS=${BYSTANDERS:-10 1000}

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n ${SWITCHBOARD:-} ]]; then
    switchboard=$(realpath "$SWITCHBOARD")
else
    build_switchboard
fi
bench/ngircd.sh --install
new_results memory
tunable=glibc.malloc.mmap_threshold=4096

# start NAME PORT LOG [ENV...]: a server, pinned, in the background
# ($server_pid). switchboard's chat listens for IRC on PORT (peak runs) or
# for line clients on PORT (the rest); echo on PORT.
start() {
    local name=$1 port=$2 log=$3
    shift 3
    local run=(env --default-signal=INT "$@" taskset -c "$SERVER_CORE")
    case $name in
        ngircd) "${run[@]}" bench/ngircd.sh "$port" >"$log" 2>&1 & ;;
        switchboard-irc)
            "${run[@]}" "$switchboard" chat --irc "127.0.0.1:$port" --listen 127.0.0.1:0 --no-web \
                2>"$log" &
            ;;
        switchboard-chat)
            "${run[@]}" "$switchboard" chat --listen "127.0.0.1:$port" --no-irc --no-web 2>"$log" &
            ;;
        switchboard-echo) "${run[@]}" "$switchboard" echo --listen "127.0.0.1:$port" 2>"$log" & ;;
    esac
    server_pid=$!
    if ! wait_for_port "$server_pid" "$port"; then
        log "$name did not start; its log:"
        cat "$log" >&2
        exit 1
    fi
}

vmhwm() { awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$1/status"; }

# 1. Peak RSS while PEAK_CLIENTS IRC clients join.
for ((round = 1; round <= ROUNDS; round++)); do
    for name in switchboard-irc ngircd; do
        port=$(free_port)
        start "$name" "$port" "$logdir/$name-$round.log"
        log "round $round/$ROUNDS: $PEAK_CLIENTS IRC clients join, $name"
        result=$(taskset -c "$CLIENT_CORE" "$switchboard" bench chat "127.0.0.1:$port" --preset irc \
            --clients "$PEAK_CLIENTS" --senders 1 --rate 10 --duration 1s --warmup 0s \
            --server-pid "$server_pid" --quiet --json) || true
        peak=$(vmhwm "$server_pid")
        stop_server "$server_pid"
        record "${result:-}" test=peak server_name="$name" round="$round" \
            vmhwm_bytes="$peak" server_exit_status="$exit_status"
    done
done

# 2. RSS per idle client after traffic.
for kind in chat echo; do
    port=$(free_port)
    start "switchboard-$kind" "$port" "$logdir/idle-$kind.log" GLIBC_TUNABLES=$tunable
    log "idle $kind clients: $N_IDLE"
    result=$(taskset -c "$CLIENT_CORE" python3 bench/memory.py "idle-$kind" "127.0.0.1:$port" \
        --pid "$server_pid" -n "$N_IDLE")
    stop_server "$server_pid"
    record "$result" test=idle server_name="switchboard-$kind" glibc_tunables=$tunable
done

# 3. A bystander's latency, with and without churn.
churn_s=$(python3 -c 'import re,sys; m=re.fullmatch(r"([0-9.]+)(ms|s|m)?", sys.argv[1]); print(float(m.group(1))*{"ms":0.001,"s":1,"m":60,None:1}[m.group(2)])' "$CHURN_DURATION")
for bystanders in $BYSTANDERS; do
for churn in 0 "$CHURN_RATE"; do
    port=$(free_port)
    start switchboard-chat "$port" "$logdir/churn-$churn.log"
    churn_pid=
    if ((churn > 0)); then
        # Lower priority than the bystanders on the shared load core, so that
        # their wake-ups are not queued behind the churn generator.
        taskset -c "$CLIENT_CORE" nice -n 10 python3 bench/memory.py churn "127.0.0.1:$port" \
            --rate "$churn" --duration "$(python3 -c "print($churn_s + 5)")" \
            >"$logdir/churn.json" &
        churn_pid=$!
        sleep 1
    fi
    log "bystander latency, $bystanders in the room, churn $churn/s"
    result=$(taskset -c "$CLIENT_CORE" "$switchboard" bench chat "127.0.0.1:$port" \
        --clients "$bystanders" --senders 5 --rate 25 --duration "$CHURN_DURATION" --warmup 2s \
        --server-pid "$server_pid" --quiet --json) || true
    churned='{}'
    if [[ -n $churn_pid ]]; then
        wait "$churn_pid" || true
        churned=$(cat "$logdir/churn.json")
    fi
    stop_server "$server_pid"
    record "${result:-}" test=churn server_name=switchboard-chat churn_target="$churn" \
        churn_result="$churned"
done
done

log "raw results: $out"
python3 - "$out" <<'PY'
import json, statistics, sys

rows = [json.loads(l) for l in open(sys.argv[1])]
mib = lambda b: f"{b / 2**20:.1f} MiB"


def table(title, *columns):
    """A markdown heading, then the head of a table with these columns."""
    print(f"### {title}\n")
    print("| " + " | ".join(columns) + " |")
    print("|" + "---|" * len(columns))


def of_test(test):
    return [x for x in rows if x.get("test") == test]


table("Peak RSS, IRC clients joining one channel",
      "server", "runs", "peak RSS (VmHWM), median (min–max)", "clients in")
peaks = {}
for name in ("switchboard-irc", "ngircd"):
    r = [x for x in of_test("peak") if x["server_name"] == name]
    v = sorted(x["vmhwm_bytes"] for x in r)
    peaks[name] = statistics.median(v)
    joined = ", ".join(str(x.get("clients", "?")) for x in r)
    print(f"| {name} | {len(v)} | {mib(statistics.median(v))} ({mib(v[0])}–{mib(v[-1])}) | {joined} |")
print(f"\nswitchboard ÷ ngircd: {peaks['switchboard-irc'] / peaks['ngircd']:.2f}\n")

table("RSS per idle client after traffic (mmap_threshold=4096)",
      "server", "clients", "RSS before", "RSS idle after traffic", "per client, by stage (bytes)")
for x in of_test("idle"):
    stages = ", ".join(f"{k} {v:,}" for k, v in x["per_client_bytes"].items())
    print(f"| {x['server_name']} | {x['clients']} | {mib(x['rss_before'])} | {mib(x['rss_idle'])} | {stages} |")

print()
table("A bystander's latency while the room churns",
      "bystanders", "churn target/s", "churn achieved/s", "deliveries", "lost / reordered / disconnects",
      "p50 µs", "p99 µs", "max µs", "server peak RSS")
for x in of_test("churn"):
    c = x.get("churn_result") or {}
    lat = x.get("latency", {})
    print(f"| {x.get('clients', '?')} | {x['churn_target']} | {c.get('cycles_per_s', 0)} | {x.get('delivered', '?')} / {x.get('expected', '?')} | "
          f"{x.get('lost', '?')} / {x.get('reordered', '?')} / {x.get('disconnects', '?')} | {lat.get('p50_us', '?')} | "
          f"{lat.get('p99_us', '?')} | {lat.get('max_us', '?')} | {mib(x['server']['peak_rss_bytes']) if 'server' in x else '?'} |")
PY
