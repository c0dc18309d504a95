#!/usr/bin/env bash
# A/B two builds of switchboard on the chat fan-out points, to measure a
# change: `switchboard` is the build under test, `before` the one it is
# compared with (for instance a build of the previous commit). The load
# generator is the one of the build under test, so both face the same load.
#
# Servers run pinned to core 0, the load to core 1; the two builds are
# interleaved (A B A B ...), each run on a freshly started server with
# --rate-limit 0. Points (clients x senders, load):
#   10 x 9, 100 x 10, 1000 x 1 and 1000 x 10 closed loop, window 8
#   1000 x 10 open loop, 1000 lines/s (1 M deliveries/s offered)
#
# Output: raw JSON lines in bench/results/chat-ab-<timestamp>.jsonl and a
# markdown summary on stdout (bench/summarize.py): "switchboard's rate ÷
# this" on the `before` rows is the speed-up.
#
# Usage:   bench/chat-ab.sh BEFORE_BINARY [AFTER_BINARY]
#          (AFTER_BINARY defaults to target/release/switchboard, built here)
# Example: git worktree add /tmp/before HEAD~1 &&
#          cargo build --release --manifest-path /tmp/before/Cargo.toml &&
#          bench/chat-ab.sh /tmp/before/target/release/switchboard
# Environment:
#   ROUNDS=3        repetitions of every point
#   DURATION=4s     measured time per run (after a 1 s warm-up)
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}

if [[ $# -lt 1 || ! -x $1 ]]; then
    echo "usage: $0 BEFORE_BINARY [AFTER_BINARY]" >&2
    exit 2
fi
before=$(realpath "$1")
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ $# -ge 2 ]]; then
    switchboard=$(realpath "$2")
else
    build_switchboard
fi

ab="switchboard before"
points=(
    "clients=10 senders=9 window=8|--clients 10 --senders 9 --window 8|$ab"
    "clients=100 senders=10 window=8|--clients 100 --senders 10 --window 8|$ab"
    "clients=1000 senders=1 window=8|--clients 1000 --senders 1 --window 8|$ab"
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8|$ab"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000|$ab"
)

# start_server NAME PORT LOG: as in chat-compare.sh (pid in $server_pid).
start_server() {
    local name=$1 port=$2
    local binary=$switchboard
    [[ $name == before ]] && binary=$before
    # shellcheck disable=SC2046 # front_ends_off prints flags or nothing
    env --default-signal=INT taskset -c "$SERVER_CORE" \
        "$binary" chat --listen "127.0.0.1:$port" --rate-limit 0 $(front_ends_off "$binary") 2>/dev/null &
    server_pid=$!
}

new_results chat-ab
log "before=$before after=$switchboard rounds=$ROUNDS duration=$DURATION"
run_chat_points "${points[@]}"
summarize_results "$out"
