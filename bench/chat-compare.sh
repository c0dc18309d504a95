#!/usr/bin/env bash
# Side-by-side chat fan-out benchmark: switchboard chat vs. the seed's Python
# chat room, with `switchboard bench chat` as the load.
#
# Servers run pinned to core 0, the load generator to core 1, all on
# 127.0.0.1. Every point is measured ROUNDS times, interleaved (A B A B ...)
# so drift on the machine hits every server alike, each run on a freshly
# started server. Points (clients x senders, load):
#   100 x 10, closed loop, window 8         switchboard, seed
#   100 x 10, open loop, 100 lines/s        switchboard, seed
#   1000 x 10, closed loop, window 8        switchboard, switchboard --coalesce 5ms
#   1000 x 10, open loop, 1000 lines/s      switchboard, switchboard --coalesce 5ms
# (The seed is left out at 1,000 clients: select() and its blocking sends do
# not survive it.) switchboard runs with --rate-limit 0: the benchmark
# measures fan-out, not the flood limit.
#
# Output: raw JSON lines (the bench's JSON after "server_name", "point",
# "round", ...) in bench/results/chat-compare-<timestamp>.jsonl and a markdown
# summary on stdout (bench/summarize.py).
#
# Run from anywhere:   bench/chat-compare.sh
# Environment:
#   ROUNDS=3        repetitions of every point
#   DURATION=5s     measured time per run (after a 1 s warm-up)
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
seed_chat=$repo/../shared/seeds/runnable/chat_server.py

build_switchboard

seed=python-seed
if [[ ! -f $seed_chat ]]; then
    log "SKIPPING the Python seed server: $seed_chat not found"
    seed=
fi

# FIELDS|bench arguments|servers (FIELDS as the bench reports them, so that
# a failed run is still labelled)
points=(
    "clients=100 senders=10 window=8|--clients 100 --senders 10 --window 8|switchboard $seed"
    "clients=100 senders=10 rate=100|--clients 100 --senders 10 --rate 100|switchboard $seed"
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8|switchboard switchboard-coalesce5ms"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000|switchboard switchboard-coalesce5ms"
)

# start_server NAME PORT LOG: as in echo-compare.sh (pid in $server_pid).
start_server() {
    local name=$1 port=$2 log=$3
    local run=(env --default-signal=INT taskset -c "$SERVER_CORE")
    local chat=("$switchboard" chat --listen "127.0.0.1:$port" --rate-limit 0 --no-irc --no-web)
    case $name in
        switchboard) "${run[@]}" "${chat[@]}" 2>/dev/null & ;;
        switchboard-coalesce5ms) "${run[@]}" "${chat[@]}" --coalesce 5ms 2>/dev/null & ;;
        python-seed) "${run[@]}" "$python" "$seed_chat" "$port" 127.0.0.1 >/dev/null 2>"$log" & ;;
    esac
    server_pid=$!
}

new_results chat-compare
log "rounds=$ROUNDS duration=$DURATION"
run_chat_points "${points[@]}"
summarize_results "$out"
