#!/usr/bin/env bash
# Side-by-side echo benchmark: switchboard vs. the seed Python server vs. a
# canonical tokio echo server (bench/tokio-baseline).
#
# Every server runs pinned to core 0 and the load generator
# (`switchboard bench echo`, closed loop, every echoed byte verified) to core 1,
# all on 127.0.0.1. Matrix: CONNECTIONS (50) connections x message sizes 64 B
# and 4 KiB.
# Each server x size point is measured ROUNDS times, interleaved
# (A B C A B C ...) so drift on the machine hits every server alike, and each
# run gets a freshly started server on its own free port, stopped afterwards
# (SIGINT, then SIGKILL if it has not exited within 10 s).
#
# Output: raw JSON lines (the bench's own JSON, after "server_name", "round",
# "server_exited_early", "server_exit_status", and "machine_other_busy" (CPU
# share taken by other work during the run, 0-1); the bench's own "server"
# key holds the server's CPU/RSS) in
# bench/results/echo-compare-<timestamp>.jsonl, and a markdown summary table
# on stdout (bench/summarize.py, which can be re-run on any results file).
#
# Run from anywhere:   bench/echo-compare.sh
# Environment:
#   ROUNDS=3        repetitions of every server x size point
#   DURATION=5s     measured time per run (after a 1 s warm-up)
#   CONNECTIONS=50  connections, each with one message in flight
#   SERVERS="switchboard python-seed tokio"  which servers, in this order;
#                   also: switchboard-busypoll50us (switchboard --busy-poll 50us)
#
# The Python seed server is ../shared/seeds/runnable/echo_server.py, relative
# to the repo root; when it is absent the script says so and skips it.
# Needs: cargo, python3, taskset, GNU env (coreutils 8.31+), and 2+ cores.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
CONNECTIONS=${CONNECTIONS:-50}
SIZES=(64 4096)

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tokio_echo=$repo/bench/tokio-baseline/target/release/tokio-echo
seed_echo=$repo/../shared/seeds/runnable/echo_server.py

# --- build -----------------------------------------------------------------
log "building switchboard and the tokio baseline (release)"
cargo build --release --quiet -p switchboard
cargo build --release --quiet --manifest-path bench/tokio-baseline/Cargo.toml

servers=()
for name in ${SERVERS:-switchboard python-seed tokio}; do
    if [[ $name == python-seed && ! -f $seed_echo ]]; then
        log "SKIPPING the Python seed server: $seed_echo not found"
        continue
    fi
    servers+=("$name")
done

# --- helpers ---------------------------------------------------------------

# start_server NAME PORT LOG: start NAME pinned to SERVER_CORE in the
# background, stderr to LOG (switchboard's own info log is dropped), and
# leave its pid in $server_pid. env and taskset exec, so that pid is the
# server's own, which --server-pid needs. `env --default-signal=INT` undoes
# bash's SIG_IGN of SIGINT for background jobs of a non-interactive shell;
# without it tokio-echo and the seed would ignore the SIGINT that stops them.
start_server() {
    local name=$1 port=$2 log=$3
    local run=(env --default-signal=INT taskset -c "$SERVER_CORE")
    case $name in
        switchboard)
            "${run[@]}" "$switchboard" echo --listen "127.0.0.1:$port" 2>/dev/null &
            ;;
        switchboard-busypoll50us)
            "${run[@]}" "$switchboard" echo --listen "127.0.0.1:$port" --busy-poll 50us 2>/dev/null &
            ;;
        python-seed)
            SEED_QUIET=1 "${run[@]}" "$python" "$seed_echo" "$port" 127.0.0.1 2>"$log" &
            ;;
        tokio)
            "${run[@]}" "$tokio_echo" "127.0.0.1:$port" 2>"$log" &
            ;;
        *)
            log "unknown server $name"
            exit 2
            ;;
    esac
    server_pid=$!
}

# --- run -------------------------------------------------------------------
new_results echo-compare
log "rounds=$ROUNDS duration=$DURATION connections=$CONNECTIONS sizes=${SIZES[*]} servers=${servers[*]}"

for ((round = 1; round <= ROUNDS; round++)); do
    for size in "${SIZES[@]}"; do
        for name in "${servers[@]}"; do
            measure echo "$name" "connections=$CONNECTIONS size=$size" \
                --connections "$CONNECTIONS" --size "$size"
        done
    done
done

summarize_results "$out"
