#!/usr/bin/env bash
# The benchmark suite: switchboard side by side with the servers people
# would pick instead, over a matrix of loads, with tables and charts.
#
# Peers (all started here, each run on a fresh process):
#   echo: switchboard echo, tokio-echo (bench/tokio-baseline), the seed's
#         Python echo server (SEED_QUIET=1)
#   chat: switchboard chat (--rate-limit 0), tokio-chat with and without
#         TCP_NODELAY (bench/tokio-baseline), ngircd (bench/ngircd.sh,
#         installed if missing), the seed's Python chat room
# Matrix:
#   echo: 1, 50, 500, 5000 connections x 64 B, 4 KiB (closed loop, one
#         message in flight per connection, every byte verified)
#   chat: 10, 100, 1000 clients x 1, 10 senders (9 with 10 clients: one
#         client must not send, to confirm lines) x closed loop (window 8)
#         and open loop (1,000 lines/s offered)
#   The seed servers use select(), which cannot watch more than 1,024
#   descriptors: they are left out of the 5,000-connection and 1,000-client
#   points.
# Every server runs pinned to core 0, the load generator to core 1; within
# each round the servers of a point run one after the other (A B C A B C
# ...) so that drift on the machine hits all alike; every point is repeated
# ROUNDS times.
#
# Output: raw JSON lines in bench/results/suite-{echo,chat}-<timestamp>.jsonl,
# markdown tables (bench/summarize.py) on stdout, and charts
# (bench/charts.py, gnuplot) in docs/charts/.
#
# Run from anywhere:   bench/run.sh
# Environment:
#   ROUNDS=3          repetitions of every point
#   DURATION=5s       measured time per run (after a 1 s warm-up)
#   SUITES="echo chat"  which halves to run
#   ECHO_CONNECTIONS="1 50 500 5000", CHAT_CLIENTS="10 100 1000"
#                     the matrix's axes (e.g. smaller for a quick look)
# Needs: cargo, python3, taskset, GNU env, 2+ cores; apt-get (root) for
# ngircd and gnuplot when missing.
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-5s}
SUITES=${SUITES:-echo chat}
CHAT_RATE=1000
ECHO_CONNECTIONS=${ECHO_CONNECTIONS:-1 50 500 5000}
CHAT_CLIENTS=${CHAT_CLIENTS:-10 100 1000}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
tokio_bin=$repo/bench/tokio-baseline/target/release
seeds=$repo/../shared/seeds/runnable

# --- build and install -----------------------------------------------------
log "building switchboard and the tokio baselines (release)"
cargo build --release --quiet -p switchboard
cargo build --release --quiet --manifest-path bench/tokio-baseline/Cargo.toml

have_ngircd=true
if ! bench/ngircd.sh --install >&2; then
    log "SKIPPING ngircd: it could not be installed"
    have_ngircd=false
fi
have_seeds=true
if [[ ! -d $seeds ]]; then
    log "SKIPPING the Python seed servers: $seeds not found"
    have_seeds=false
fi

# --- servers ---------------------------------------------------------------
# start_server NAME PORT LOG: start NAME ($kind's server: measure sets it)
# pinned to SERVER_CORE in the background, stderr (and ngircd's log) to
# LOG, pid in $server_pid (env and
# taskset exec, so it is the server's own). `env --default-signal=INT`
# undoes bash's SIG_IGN of SIGINT for background jobs, which stop_server
# relies on.
start_server() {
    local name=$1 port=$2 log=$3
    local run=(env --default-signal=INT taskset -c "$SERVER_CORE")
    local addr=127.0.0.1:$port
    case $kind/$name in
        echo/switchboard) "${run[@]}" "$switchboard" echo --listen "$addr" 2>/dev/null & ;;
        echo/tokio) "${run[@]}" "$tokio_bin/tokio-echo" "$addr" 2>"$log" & ;;
        echo/python-seed)
            SEED_QUIET=1 "${run[@]}" "$python" "$seeds/echo_server.py" "$port" 127.0.0.1 2>"$log" &
            ;;
        chat/switchboard)
            "${run[@]}" "$switchboard" chat --listen "$addr" --rate-limit 0 --no-irc --no-web 2>/dev/null &
            ;;
        chat/tokio) "${run[@]}" "$tokio_bin/tokio-chat" "$addr" 2>"$log" & ;;
        chat/tokio-nodelay) "${run[@]}" "$tokio_bin/tokio-chat" "$addr" --nodelay 2>"$log" & ;;
        chat/ngircd) "${run[@]}" bench/ngircd.sh "$port" >"$log" 2>&1 & ;;
        chat/python-seed)
            "${run[@]}" "$python" "$seeds/chat_server.py" "$port" 127.0.0.1 >/dev/null 2>"$log" &
            ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    server_pid=$!
}

mkdir -p docs/charts
stamp=$(date -u +%Y%m%dT%H%M%SZ)
log "rounds=$ROUNDS duration=$DURATION suites=$SUITES"

# --- echo ------------------------------------------------------------------
if [[ " $SUITES " == *" echo "* ]]; then
    new_results suite-echo
    for ((round = 1; round <= ROUNDS; round++)); do
        for conns in $ECHO_CONNECTIONS; do
            for size in 64 4096; do
                servers=(switchboard tokio)
                $have_seeds && ((conns <= 500)) && servers+=(python-seed)
                for name in "${servers[@]}"; do
                    measure echo "$name" "connections=$conns size=$size" \
                        --connections "$conns" --size "$size"
                done
            done
        done
    done
    echo_out=$out
fi

# --- chat ------------------------------------------------------------------
if [[ " $SUITES " == *" chat "* ]]; then
    new_results suite-chat
    points=()
    for clients in $CHAT_CLIENTS; do
        for senders in 1 10; do
            ((senders >= clients)) && senders=$((clients - 1))
            for load in closed open; do
                if [[ $load == closed ]]; then
                    load_args="--window 8" load_field=window=8
                else
                    load_args="--rate $CHAT_RATE" load_field=rate=$CHAT_RATE
                fi
                servers=(switchboard tokio tokio-nodelay)
                $have_ngircd && servers+=(ngircd)
                $have_seeds && ((clients <= 100)) && servers+=(python-seed)
                points+=("clients=$clients senders=$senders $load_field|--clients $clients --senders $senders $load_args|${servers[*]}")
            done
        done
    done
    run_chat_points "${points[@]}"
    chat_out=$out
fi

# --- summary and charts ----------------------------------------------------
for f in ${echo_out:-} ${chat_out:-}; do
    summarize_results "$f"
done
if command -v gnuplot >/dev/null || apt-get install -y gnuplot-nox >/dev/null 2>&1; then
    python3 bench/charts.py docs/charts ${echo_out:-} ${chat_out:-}
else
    log "no gnuplot (and it could not be installed): charts not drawn"
fi
