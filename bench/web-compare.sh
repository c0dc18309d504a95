#!/usr/bin/env bash
# The web front-end against the line front-end: the same fan-out load on
#   switchboard        1,000 line clients (nc's protocol) in #lobby
#   switchboard-web    1,000 browsers' worth of WebSocket clients speaking
#                      the JSON protocol (docs/PROTOCOL.md) in #lobby
#                      (`bench chat --ws-clients`)
#   switchboard-mixed  half of each, senders spread over both
# at each point (clients x senders, load):
#   100 x 10 and 1000 x 10 closed loop, window 8
#   1000 x 10 open loop, 1000 lines/s (1 M deliveries/s offered)
#
# Servers run pinned to core 0, the load (`switchboard bench chat`, same
# build) to core 1; the servers of a point are interleaved (A B C A B C
# ...), each run on a freshly started server with --rate-limit 0.
#
# Output: raw JSON lines in bench/results/web-compare-<timestamp>.jsonl and
# a markdown summary on stdout (bench/summarize.py): ratios against the line
# front-end, peak RSS per client in the RSS column.
#
# Run from anywhere:   bench/web-compare.sh
# Environment:
#   ROUNDS=5        repetitions of every point
#   DURATION=4s     measured time per run (after a 1 s warm-up)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4s}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_switchboard

all="switchboard switchboard-web switchboard-mixed"
points=(
    "clients=100 senders=10 window=8|--clients 100 --senders 10 --window 8|$all"
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8|$all"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000|$all"
)

# start_server NAME PORT LOG: the bench connects to PORT (line clients);
# WebSocket clients go to a second port, passed on to the bench through
# server_bench_args. Pid in $server_pid.
start_server() {
    local name=$1 port=$2 log=$3 web_port clients share
    # $fields (measure's) holds clients=N.
    clients=$(sed -n 's/.*clients=\([0-9]*\).*/\1/p' <<<"$fields")
    case $name in
        switchboard) share=0 ;;
        switchboard-web) share=$clients ;;
        switchboard-mixed) share=$((clients / 2)) ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    web_port=$(free_port)
    if ((share > 0)); then
        server_bench_args=(--ws-clients "$share" --ws-addr "127.0.0.1:$web_port")
    fi
    start_pinned "$log" "$switchboard" chat --rate-limit 0 --no-irc --listen "127.0.0.1:$port" \
        --web "127.0.0.1:$web_port"
}

new_results web-compare
log "rounds=$ROUNDS duration=$DURATION"
run_chat_points "${points[@]}"
summarize_results "$out"
