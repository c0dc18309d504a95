#!/usr/bin/env bash
# What TLS costs the chat: the same switchboard build, started the same way
# (a line listener and a line-over-TLS listener, --rate-limit 0), loaded
# through its plain port (`plain`) or its TLS port (`tls`) by
# `switchboard bench chat`, at each point:
#   1000 x 10, closed loop, window 8       deliveries/s, CPU per delivery,
#                                           RSS per client
#   1000 x 10, open loop, 1000 lines/s     the same at 1 M deliveries/s
#                                           offered, and its latency
#   connect-only, 32 at a time             connections/s: plain TCP connect
#                                           + welcome, against a full TLS 1.3
#                                           handshake + welcome (tls), and a
#                                           resumed one (tls-resumed)
# The chat clients verify the server's certificate (--tls-ca, made by
# `switchboard cert` for this run); the connect-only clients do not
# (--tls-insecure), so that a handshake costs the load generator less than
# the server (two ECDSA verifications would make the tool the limit). The
# server's work is the same either way. At the connect-only point the
# server runs with --announce-limit 1 (the churn costs the room a summary
# line a second, as a room of 1,000 has anyway); its log (default level:
# a line per arrival and departure) goes to a file in every run.
#
# Servers run pinned to core 0, the load to core 1; the variants of a point
# are interleaved (A B A B ...), each run on a freshly started server.
# RSS per client is the server's resident memory once all clients are in
# the room, minus before they connected, divided by their number.
#
# Output: raw JSON lines in bench/results/tls-compare-<timestamp>.jsonl and
# markdown tables on stdout (bench/tls-summarize.py), with TLS ÷ plain
# ratios, and a count of the warnings and errors the servers logged.
#
# Run from anywhere:   bench/tls-compare.sh
# Environment:
#   ROUNDS=3               repetitions of every point
#   DURATION=4s            measured time per run (after a 1 s warm-up)
#   HANDSHAKE_PARALLEL=32  connections in progress at once, connect-only
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}
HANDSHAKE_PARALLEL=${HANDSHAKE_PARALLEL:-32}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_switchboard

# A certificate for 127.0.0.1 for this run (removed with $logdir on exit).
cert=$logdir/cert.pem
key=$logdir/key.pem
"$switchboard" cert --cert "$cert" --key "$key" 2>/dev/null

points=(
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8|plain tls"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000|plain tls"
    "mode=connect parallel=$HANDSHAKE_PARALLEL|--connect-only --clients $HANDSHAKE_PARALLEL|plain tls tls-resumed"
)

# start_server NAME PORT LOG: the server listens for plain line clients and
# for TLS ones, on PORT (where the bench connects) and on another port;
# NAME says which protocol PORT is. Pid in $server_pid.
start_server() {
    local name=$1 port=$2 log=$3 other plain_port tls_port
    other=$(free_port)
    case $name in
        plain)
            plain_port=$port tls_port=$other
            ;;
        tls | tls-resumed)
            plain_port=$other tls_port=$port
            # $fields (measure's) names the point.
            if [[ $fields == mode=connect* ]]; then
                server_bench_args=(--tls --tls-insecure)
            else
                server_bench_args=(--tls --tls-ca "$cert")
            fi
            [[ $name == tls-resumed ]] && server_bench_args+=(--tls-resume)
            ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    # Connect-only: the room announces the churn in one line a second
    # (as it does anyway at 1,000 members), so that a connection's cost is
    # its own, not that of telling the others in the room.
    local room=()
    [[ $fields == mode=connect* ]] && room=(--announce-limit 1)
    start_pinned "$log" "$switchboard" chat --rate-limit 0 --no-irc --no-web "${room[@]}" \
        --listen "127.0.0.1:$plain_port" --listen-tls "127.0.0.1:$tls_port" \
        --tls-cert "$cert" --tls-key "$key"
}

new_results tls-compare
log "rounds=$ROUNDS duration=$DURATION handshake_parallel=$HANDSHAKE_PARALLEL"
run_chat_points "${points[@]}"

# What the servers logged beyond the ordinary: every run's log, by level.
log "server logs: $(cat "$logdir"/chat-*.log | grep -c ' WARN ' || true) warnings," \
    "$(cat "$logdir"/chat-*.log | grep -c ' ERROR ' || true) errors"
grep -h -E ' (WARN|ERROR) ' "$logdir"/chat-*.log | sed -E 's/^[^ ]+ +//' | sort | uniq -c |
    sort -rn | head -n 5 >&2 || true

log "raw results: $out"
echo
python3 bench/tls-summarize.py "$out"
