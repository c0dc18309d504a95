#!/usr/bin/env bash
# Soak: a release `switchboard echo` and `switchboard chat` under mixed load
# for DURATION (default 10 minutes), then pass/fail on what a long-running
# server must keep: memory flat, descriptors returned, and no error ever seen
# by a well-behaved client. A documented command, not a test (CI runs the
# 30-second version: `DURATION=30s bench/soak.sh`).
#
# Both servers run pinned to core 0 (SERVER_CORE), each on a free port of
# 127.0.0.1 (port 0; the address is read from its "listening on tcp" log
# line), with --idle-timeout (IDLE_TIMEOUT) and, for the chat, a small
# --max-output (MAX_OUTPUT) so that slow readers reach it within the run.
# The load, bench/soak.py (Python 3, standard library), runs pinned to core
# 1 (CLIENT_CORE) and drives both at once:
#   echo  verified clients (up to 512 KiB in flight, every byte checked),
#         slow readers (32 KiB/s, megabytes in flight), connect/verify/close churn, resets
#         (SO_LINGER 0) with data in flight, a writer that never reads,
#         idle probes;
#   chat  line and IRC clients in #lobby sending numbered lines under the
#         rate limit, flooders over it, throttled senders whose held input
#         outlasts the idle timeout, slow readers (2 KB/s), connect/
#         disconnect churn (line and IRC; close, /quit, reset, reset with
#         output pending), idle probes.
# bench/soak.py's header has the details.
#
# Checks (exit 1 if any fails; the report says which):
#   - zero errors seen by well-behaved clients: every echoed byte verified;
#     every chat line from a well-behaved sender seen by every other
#     well-behaved client, none lost, none twice, in order per sender; a
#     flooder's lines gap-free and in order (slowed, never dropped); no
#     well-behaved client, flooder or throttled sender disconnected; idle
#     probes closed within [T - 0.1 s, T + 1 s] of --idle-timeout T;
#   - VmRSS (sampled every second from /proc/PID/status) flat within 10 %
#     after the warm-up (a tenth of the run, at least 5 s): the median of
#     the last tenth of the samples against the median of the first tenth;
#   - open descriptors (/proc/PID/fd) back to their count before the load
#     once every client has closed (within 10 s);
#   - both servers still running at the end, and a clean exit (status 0)
#     on SIGINT.
#
# Run from anywhere:    bench/soak.sh
# Environment:
#   DURATION=10m        length of the load (s, m, h; e.g. 30s for CI)
#   IDLE_TIMEOUT=3s     the servers' --idle-timeout
#   MAX_OUTPUT=128KiB   the chat's --max-output
#   SCALE=1             multiply every client population
#   ECHO_SLOW_BACKLOG=16MiB  bytes a slow echo reader keeps in flight: enough
#                       to fill the kernel's socket buffers (megabytes on
#                       loopback) so that the server must stop reading it at
#                       --high-water; 512KiB stays within the kernel's buffers
#   SWITCHBOARD=PATH    use this binary instead of building the release one
#                       (CI passes its debug build to save the release build)
# Output: progress every 10 s on stderr; the report on stdout; the JSON
# report (with a thinned RSS series) in bench/results/soak-<stamp>.json and
# the servers' logs beside it.
set -euo pipefail

DURATION=${DURATION:-10m}
IDLE_TIMEOUT=${IDLE_TIMEOUT:-3s}
MAX_OUTPUT=${MAX_OUTPUT:-128KiB}
SCALE=${SCALE:-1}
ECHO_SLOW_BACKLOG=${ECHO_SLOW_BACKLOG:-16MiB}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

if [[ -n ${SWITCHBOARD:-} ]]; then
    switchboard=$(realpath "$SWITCHBOARD")
else
    build_switchboard
fi

# The checkers first: each must fail on the fault it is there to catch.
python3 bench/soak.py --self-test

stamp=$(date -u +%Y%m%dT%H%M%SZ)
mkdir -p bench/results
results=bench/results/soak-$stamp
echo_pid=
chat_pid=
# Only the servers this script started, by pid.
soak_cleanup() {
    local pid
    for pid in $echo_pid $chat_pid; do
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    rm -rf "$logdir"
}
trap soak_cleanup EXIT

# listen_addr LOG NAME PID: wait (10 s) for "NAME listening on tcp ADDR" in
# LOG and print ADDR.
listen_addr() {
    local log=$1 name=$2 pid=$3 deadline=$((SECONDS + 10)) addr
    while ((SECONDS < deadline)); do
        addr=$(sed -n "s/.*$name listening on tcp \([0-9.]*:[0-9]*\).*/\1/p" "$log" | head -n 1)
        if [[ -n $addr ]]; then
            echo "$addr"
            return 0
        fi
        alive "$pid" || break
        sleep 0.05
    done
    log "$name did not start; its log:"
    cat "$log" >&2
    return 1
}

run=(env --default-signal=INT taskset -c "$SERVER_CORE")
"${run[@]}" "$switchboard" echo --listen 127.0.0.1:0 --idle-timeout "$IDLE_TIMEOUT" \
    2>"$results-echo.log" &
echo_pid=$!
"${run[@]}" "$switchboard" chat --listen 127.0.0.1:0 --irc 127.0.0.1:0 --no-web \
    --idle-timeout "$IDLE_TIMEOUT" --max-output "$MAX_OUTPUT" \
    2>"$results-chat.log" &
chat_pid=$!
echo_addr=$(listen_addr "$results-echo.log" echo "$echo_pid")
chat_addr=$(listen_addr "$results-chat.log" chat "$chat_pid")
irc_addr=$(listen_addr "$results-chat.log" irc "$chat_pid")
log "echo on $echo_addr (pid $echo_pid), chat on $chat_addr and irc on $irc_addr (pid $chat_pid)"
log "soak for $DURATION, idle timeout $IDLE_TIMEOUT, chat max output $MAX_OUTPUT, scale $SCALE"

# A watchdog besides soak.py's own deadlines: the load gets 4 minutes past
# DURATION to wind down and report, then is stopped (and the soak fails).
limit=$(python3 -c 'import re, sys
m = re.fullmatch(r"([0-9.]+)(ms|s|m|h)?", sys.argv[1])
print(int(float(m.group(1)) * {"ms": 0.001, "s": 1, "m": 60, "h": 3600, None: 1}[m.group(2)]) + 240)' "$DURATION")
load_rc=0
timeout --kill-after=10 "$limit" taskset -c "$CLIENT_CORE" python3 bench/soak.py \
    --echo "$echo_addr" --chat "$chat_addr" --irc "$irc_addr" \
    --echo-pid "$echo_pid" --chat-pid "$chat_pid" \
    --duration "$DURATION" --idle-timeout "$IDLE_TIMEOUT" --scale "$SCALE" \
    --echo-slow-backlog "$ECHO_SLOW_BACKLOG" \
    --json "$results.json" || load_rc=$?

failed=0
if ((load_rc == 124 || load_rc == 137)); then
    log "FAIL  the load did not finish within $limit s; stopped"
fi
((load_rc == 0)) || failed=1
for name in echo chat; do
    pid_var=${name}_pid
    stop_server "${!pid_var}"
    summary=$(grep -o 'reactor stopped.*' "$results-$name.log" | tail -n 1 || true)
    if [[ $exited_early == true ]]; then
        log "FAIL  $name server exited by itself before the end (status $exit_status)"
        failed=1
    elif ((exit_status != 0)); then
        log "FAIL  $name server exit status $exit_status on SIGINT (expected 0)"
        failed=1
    else
        log "PASS  $name server shut down cleanly: ${summary:-no summary line}"
    fi
done
echo_pid=
chat_pid=
log "report: $results.json; server logs: $results-echo.log, $results-chat.log"
if ((failed)); then
    log "soak FAILED"
    exit 1
fi
log "soak passed"
