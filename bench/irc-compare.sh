#!/usr/bin/env bash
# The chat's front-ends side by side, and IRC against ngircd: the same
# fan-out load on
#   switchboard        1,000 line clients (nc's protocol) in #lobby
#   switchboard-irc    1,000 IRC clients on switchboard's IRC port, in #bench
#   switchboard-mixed  half of each: line clients in #lobby and IRC clients
#                      joining #lobby (`bench chat --irc-clients`), senders
#                      spread over both
#   ngircd             1,000 IRC clients (bench/ngircd.sh; installed if missing)
# at each point (clients x senders, load):
#   100 x 10 and 1000 x 10 closed loop, window 8
#   1000 x 10 open loop, 1000 lines/s (1 M deliveries/s offered)
#   1000 x 10 open loop, 5000 lines/s (5 M deliveries/s offered; without
#       ngircd, which tops out near half of that): every switchboard
#       variant has headroom, so their CPU per delivery compares the
#       servers at equal load, whatever the load generator's own limits
#
# Servers run pinned to core 0, the load (`switchboard bench chat`, same
# build) to core 1; the servers of a point are interleaved (A B C D A B C D
# ...), each run on a freshly started server; switchboard with
# --rate-limit 0 and ngircd with its flood penalties off (bench/ngircd.sh
# says why), since the benchmark measures fan-out, not flood limits.
#
# Output: raw JSON lines in bench/results/irc-compare-<timestamp>.jsonl and
# two markdown summaries on stdout (bench/summarize.py): ratios against the
# line front-end, then against switchboard's IRC front-end (so ngircd's row
# reads "IRC front-end's rate ÷ ngircd's").
#
# Run from anywhere:   bench/irc-compare.sh
# Environment:
#   ROUNDS=5        repetitions of every point
#   DURATION=4s     measured time per run (after a 1 s warm-up)
set -euo pipefail

ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-4s}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
source bench/ngircd.sh
switchboard=$repo/target/release/switchboard

build_switchboard
ngircd_install

ours="switchboard switchboard-irc switchboard-mixed"
all="$ours ngircd"
points=(
    "clients=100 senders=10 window=8|--clients 100 --senders 10 --window 8|$all"
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8|$all"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000|$all"
    "clients=1000 senders=10 rate=5000|--clients 1000 --senders 10 --rate 5000|$ours"
)

# start_server NAME PORT LOG: the bench connects to PORT with NAME's preset
# (lib.sh's preset_of); the mixed room's IRC half goes to a second port,
# passed on to the bench through server_bench_args. Pid in $server_pid.
start_server() {
    local name=$1 port=$2 log=$3
    local run=(env --default-signal=INT taskset -c "$SERVER_CORE")
    local chat=("$switchboard" chat --rate-limit 0 --no-web)
    case $name in
        switchboard) "${run[@]}" "${chat[@]}" --listen "127.0.0.1:$port" --no-irc 2>"$log" & ;;
        switchboard-irc)
            "${run[@]}" "${chat[@]}" --listen 127.0.0.1:0 --irc "127.0.0.1:$port" 2>"$log" &
            ;;
        switchboard-mixed)
            local irc_port clients
            irc_port=$(free_port)
            # $fields (measure's) holds clients=N: half of them speak IRC.
            clients=$(sed -n 's/.*clients=\([0-9]*\).*/\1/p' <<<"$fields")
            server_bench_args=(--irc-clients "$((clients / 2))" --irc-addr "127.0.0.1:$irc_port")
            "${run[@]}" "${chat[@]}" --listen "127.0.0.1:$port" --irc "127.0.0.1:$irc_port" \
                2>"$log" &
            ;;
        ngircd) "${run[@]}" bench/ngircd.sh "$port" >"$log" 2>&1 & ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    server_pid=$!
}

new_results irc-compare
log "rounds=$ROUNDS duration=$DURATION"
run_chat_points "${points[@]}"
summarize_results "$out"
echo
echo "Against switchboard's IRC front-end:"
echo
python3 bench/summarize.py --baseline switchboard-irc "$out"
