#!/usr/bin/env bash
# One event-loop thread against two (`--threads`), on the chat fan-out:
# what spreading a room over threads costs per delivery, and what it buys.
#
# threads-1 runs pinned to core 0; threads-2 to cores 0 and 1. The load
# generator is pinned to core 1 in both, so in the two-thread runs it
# shares a core with the server's second thread: this 2-core machine
# cannot show two threads' full rate (docs/BENCHMARKS.md says what it
# can). Servers interleaved (1 2 1 2 ...), each freshly started, with
# --rate-limit 0. Points (clients x senders, load):
#   100 x 10 and 1000 x 10 closed loop, window 8
#   1000 x 10 open loop, 1000 lines/s (1 M deliveries/s offered)
#
# Output: raw JSON lines in bench/results/threads-compare-<stamp>.jsonl and
# a markdown summary on stdout (bench/summarize.py).
#
# Usage:   bench/threads-compare.sh
# Environment:
#   ROUNDS=3        repetitions of every point
#   DURATION=4s     measured time per run (after a 1 s warm-up)
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
build_switchboard

servers="threads-1 threads-2"
points=(
    "clients=100 senders=10 window=8|--clients 100 --senders 10 --window 8|$servers"
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8|$servers"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000|$servers"
)

# start_server NAME PORT LOG (pid in $server_pid).
start_server() {
    local name=$1 port=$2 log=$3 cores threads
    case $name in
        threads-1) cores=$SERVER_CORE threads=1 ;;
        threads-2) cores=$SERVER_CORE,$CLIENT_CORE threads=2 ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    env --default-signal=INT taskset -c "$cores" "$switchboard" chat --threads "$threads" \
        --listen "127.0.0.1:$port" --rate-limit 0 --no-irc --no-web 2>"$log" &
    server_pid=$!
}

new_results threads-compare
log "rounds=$ROUNDS duration=$DURATION"
run_chat_points "${points[@]}"
summarize_results "$out"
