#!/usr/bin/env bash
# What the readiness mechanism costs: switchboard echo on each --poller,
# 10 busy connections (64 B round trips, one in flight each) beside 0, 100,
# 1,000 and 10,000 idle ones (select up to its limit: it cannot watch a
# descriptor of 1,024 or more, so it runs without the 10,000 point). select
# and poll hand the kernel every watched socket on every wait, epoll does
# not: the CPU per round trip shows the O(n) against O(1).
#
# Servers run pinned to core 0, the load (`switchboard bench echo --idle N`)
# to core 1; the backends of a point are interleaved, each run on a freshly
# started server.
#
# Output: raw JSON lines in bench/results/poller-compare-<timestamp>.jsonl,
# a markdown summary on stdout (bench/summarize.py, ratios against epoll)
# and the chart docs/charts/echo-pollers-idle.svg (bench/charts.py; gnuplot
# is installed with apt-get when missing).
#
# Run from anywhere:   bench/poller-compare.sh
# Environment:
#   ROUNDS=3        repetitions of every point
#   DURATION=3s     measured time per run (after a 1 s warm-up)
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-3s}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

build_switchboard

# start_server NAME PORT LOG: switchboard-POLLER, pid in $server_pid.
start_server() {
    local name=$1 port=$2 log=$3
    env --default-signal=INT taskset -c "$SERVER_CORE" \
        "$switchboard" echo --listen "127.0.0.1:$port" --max-connections 20000 \
        --poller "${name#switchboard-}" 2>"$log" &
    server_pid=$!
}

new_results poller-compare
log "rounds=$ROUNDS duration=$DURATION"
for ((round = 1; round <= ROUNDS; round++)); do
    for idle in 0 100 1000 10000; do
        for poller in epoll poll select; do
            [[ $poller == select && $idle -gt 1000 ]] && continue
            measure echo "switchboard-$poller" "connections=10 idle=$idle size=64" \
                --connections 10 --idle "$idle" --size 64
        done
    done
done

python3 bench/summarize.py --baseline switchboard-epoll "$out"
command -v gnuplot >/dev/null || {
    log "installing gnuplot"
    apt-get install -y -qq gnuplot-nox >/dev/null
}
python3 bench/charts.py docs/charts "$out"
