#!/usr/bin/env bash
# Acceptance test: real clients on two nodes of a cluster (--cluster).
#
# A redis-server on a free port, two `switchboard chat` nodes on it, irssi
# (tmux) on node A's IRC port and nc on node B's line port, in one #lobby:
# lines and actions both ways across the nodes; Redis stopped (each client
# is told once that the other servers are unreachable, and node B goes on
# for its own clients) and started again (both are told they are back in
# touch, and lines cross again); node B killed (irssi sees nc's quit within
# the node TTL). Exit status: 0 when every check passed, 1 on the first
# failed one (the screens and node A's log are printed). Screens are saved in
# ${ARTIFACTS:-/tmp}/cluster-clients/. Needs redis-server, irssi, tmux, nc.
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${ARTIFACTS:-/tmp}/cluster-clients
# shellcheck source-path=SCRIPTDIR source=lib.sh
source .ci/lib.sh

REDIS_PID=""
NODE_B_PID=""
stop_extra() {
    local pid
    for pid in $NODE_B_PID $REDIS_PID; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
}
trap 'stop_extra; cleanup' EXIT

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# start_redis: redis-server on $REDIS_PORT (chosen once, kept for restarts).
start_redis() {
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
        >"$WORK/redis.log" 2>&1 &
    REDIS_PID=$!
    wait_until redis_up || fail "redis-server did not start on port $REDIS_PORT"
}
redis_up() { python3 - "$REDIS_PORT" <<'PY' 2>/dev/null; }
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)
s.sendall(b"PING\r\n")
sys.exit(0 if s.recv(16).startswith(b"+PONG") else 1)
PY

stop_redis() {
    kill "$REDIS_PID"
    wait "$REDIS_PID" 2>/dev/null || true
    REDIS_PID=""
}

start_nodes() {
    build_switchboard
    REDIS_PORT=$(free_port)
    start_redis
    local cluster=(--cluster "redis://127.0.0.1:$REDIS_PORT" --shutdown-timeout 1s)
    launch_server web --listen 127.0.0.1:0 --irc 127.0.0.1:0 --web 127.0.0.1:0 "${cluster[@]}"
    IRC_PORT=$(port_of irc)
    "$SB" chat --listen 127.0.0.1:0 --no-irc --no-web "${cluster[@]}" 2>"$WORK/node-b.log" &
    NODE_B_PID=$!
    wait_until grep -q "INFO chat listening on tcp" "$WORK/node-b.log" ||
        fail "node B did not log its port"
    LINE_PORT=$(sed -n 's/.*INFO chat listening on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/node-b.log")
    [[ -n $IRC_PORT && -n $LINE_PORT ]] || fail "no ports in the nodes' logs"
    echo "redis: $REDIS_PORT; node A: irc port $IRC_PORT; node B: line port $LINE_PORT"
}

cluster_scenario() {
    open_irssi
    type_in irssi "/connect 127.0.0.1 $IRC_PORT"
    expect irssi "the welcome (001)" 'Welcome to the switchboard IRC Network, alice!'
    type_in irssi "/join #lobby"
    expect nc "irssi's join, from the other node" '^\*\*\* alice joined #lobby$'
    expect irssi "the names of #lobby, both nodes' members" "#lobby: Total of 2 nicks"

    type_in nc "hello from node B"
    expect irssi "nc's line across the nodes" "<[ @+]?$NC> hello from node B"
    type_in irssi "hi from node A"
    expect nc "irssi's line across the nodes" '^<alice> hi from node A$'
    type_in irssi "/me waves across"
    expect nc "irssi's action" '^\* alice waves across$'

    stop_redis
    expect irssi "the notice that the others are unreachable" \
        'other servers are unreachable: #lobby goes on with the people on this server'
    expect nc "the same notice" \
        '^\*\*\* other servers are unreachable: #lobby goes on with the people on this server$'
    # Each side sees the other's people leave: irssi gathers the quits of
    # a netsplit into one line.
    expect irssi "nc's quit in a netsplit" "Netsplit \*\.net <-> \*\.split quits: [@+]?$NC"
    expect nc "irssi's quit" '^\*\*\* alice left #lobby \(server unreachable\)$'
    type_in nc "/who"
    expect nc "node B alone in #lobby" '^\*\*\* in #lobby \(1\): '"$NC"'$'

    start_redis
    # Whichever node is back first finds the other not yet there (1
    # member); the other's members then join. The lines below show both
    # nodes' members in the room again.
    expect irssi "the notice that the others are back" \
        'back in touch with the other servers: #lobby has [12] members?'
    expect nc "the same notice" \
        '^\*\*\* back in touch with the other servers: #lobby has [12] members?$'
    # nc, the first in #lobby, was its operator: it still is (the server
    # says so, as IRC servers do when a netsplit heals; irssi shows it in
    # the netjoin line).
    expect irssi "nc back, an operator still, when the netsplit is over" \
        "Netsplit over, joins: @$NC"
    expect nc "irssi back" '^\*\*\* alice joined #lobby$'
    type_in nc "back again from B"
    expect irssi "nc's line after the rejoin" "<[ @+]?$NC> back again from B"
    type_in irssi "welcome back"
    expect nc "irssi's line after the rejoin" '^<alice> welcome back$'
    [[ $(screen irssi | grep -c 'other servers are unreachable') == 1 ]] ||
        fail "irssi was told more than once that the others are unreachable"
    CHECKS+=("irssi was told once that the others are unreachable")

    save_screen nc
    kill -KILL "$NODE_B_PID"
    wait "$NODE_B_PID" 2>/dev/null || true
    NODE_B_PID=""
    expect irssi "nc's quit when its node died, a netsplit again" \
        "Netsplit \*\.net <-> \*\.split quits: [@+]?$NC"
    save_screen irssi
}

start_nodes
start_nc
cluster_scenario
report_pass "irssi and nc on two nodes through Redis" screens
