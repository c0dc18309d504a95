#!/usr/bin/env bash
# One process alone against `--cluster redis://...` on the chat fan-out: what
# a cluster node pays per delivery, what Redis pays per chat line, and the
# latency of a room split over two nodes at a fixed 1 M deliveries/s.
#
# Servers, each freshly started per run with --threads 1 --rate-limit 0
# --no-irc --no-web, interleaved (alone node-1 nodes-2 alone ...):
#   alone    one switchboard, no --cluster
#   node-1   one switchboard node on a fresh redis-server
#   nodes-2  two nodes on one fresh redis-server; the bench's clients (the
#            senders too) alternate between the two nodes' addresses, so
#            half the room is on each and every line crosses Redis
# Placement: every switchboard process and redis-server on core 0, the load
# generator on core 1. With all of the server side on one core, nodes-2
# cannot show two machines' rate: it shows the price per delivery and per
# line, and the p99 across nodes at a fixed offered load.
# Points (clients x senders, load):
#   1000 x 10 closed loop, window 8
#   1000 x 10 open loop, 1000 lines/s (1 M deliveries/s offered)
#   100 x 10 closed loop, window 8
#
# CPU: utime+stime (/proc/PID/stat) of every switchboard process and of
# redis-server, separately, over the bench's measured window (from its first
# "N/M s" progress line, i.e. the end of the warm-up, to its exit, which is
# what its own --server-pid probe covers; that probe, on the first node, is
# kept as "first_node_probe" to check the window against). Derived: server
# CPU ns per delivery (all switchboard processes), Redis CPU µs per chat line
# (the bench's lines_sent in the window) and total (switchboard + Redis) ns
# per delivery.
#
# Output: raw JSON lines in bench/results/cluster-compare-<stamp>.jsonl (the
# logs of any run with faults next to it, in cluster-compare-<stamp>-logs/)
# and a markdown summary on stdout (bench/summarize.py --cluster). The
# nodes' warnings and errors are counted (node_log_warnings).
#
# Usage:   bench/cluster-compare.sh
# Environment:
#   ROUNDS=3           repetitions of every point
#   DURATION=4s        measured time per run (after a 1 s warm-up)
#   SERVERS="alone node-1 nodes-2"   the servers to compare, in run order
#   CARGO_TARGET_DIR   where cargo builds (default: target/): the binary
#                      under test is $CARGO_TARGET_DIR/release/switchboard
#   REDIS_SERVER=redis-server        the Redis 7 binary
set -euo pipefail

ROUNDS=${ROUNDS:-3}
DURATION=${DURATION:-4s}
SERVERS=${SERVERS:-alone node-1 nodes-2}
REDIS_SERVER=${REDIS_SERVER:-redis-server}

source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# lib.sh expects the build in target/; follow cargo to CARGO_TARGET_DIR
# (a relative one is relative to the repository, where cargo runs).
target_dir=${CARGO_TARGET_DIR:-target}
[[ $target_dir == /* ]] || target_dir=$repo/$target_dir
switchboard=$target_dir/release/switchboard
command -v "$REDIS_SERVER" >/dev/null || { log "no $REDIS_SERVER"; exit 1; }
build_switchboard

points=(
    "clients=1000 senders=10 window=8|--clients 1000 --senders 10 --window 8"
    "clients=1000 senders=10 rate=1000|--clients 1000 --senders 10 --rate 1000"
    "clients=100 senders=10 window=8|--clients 100 --senders 10 --window 8"
)

# Every process this script started and has not yet reaped (pids), with a
# name and a log for each; all of them are killed on exit.
procs=()
declare -A proc_name=() proc_log=()
cleanup_all() {
    local pid
    for pid in "${procs[@]}"; do
        if alive "$pid"; then kill -KILL "$pid" 2>/dev/null || true; fi
    done
    cleanup
}
trap cleanup_all EXIT

# spawn NAME LOG CORE COMMAND...: start COMMAND in the background pinned to
# CORE, stdout and stderr to LOG; its pid (the command's own, through env and
# taskset's exec) in $spawned and in procs.
spawn() {
    local name=$1 log=$2 core=$3
    shift 3
    env --default-signal=INT taskset -c "$core" "$@" >"$log" 2>&1 &
    spawned=$!
    procs+=("$spawned")
    proc_name[$spawned]=$name
    proc_log[$spawned]=$log
}

# stop_all: stop every process in procs, newest first (the nodes before the
# Redis they quit through); sets $stopped_early (the names of those that had
# exited on their own) and $exit_statuses (name=status ...).
stop_all() {
    local i pid
    stopped_early="" exit_statuses=""
    for ((i = ${#procs[@]} - 1; i >= 0; i--)); do
        pid=${procs[i]}
        stop_server "$pid"
        [[ $exited_early == true ]] && stopped_early+="${stopped_early:+,}${proc_name[$pid]}"
        exit_statuses+="${exit_statuses:+,}${proc_name[$pid]}=$exit_status"
    done
    procs=()
}

# run_bench_cluster PIDS COMMAND...: like lib.sh's run_bench, for several
# server processes. PIDS is "role:pid,role:pid,..." (role: switchboard or
# redis). Runs COMMAND (a `switchboard bench chat` without --quiet, whose
# progress lines on stderr mark the measured window) and prints its JSON
# line with "cpu" added: each process's CPU over the measured window and the
# per-delivery and per-line costs; the bench's own "server" (its
# --server-pid probe, the first node only) is renamed "first_node_probe".
# "machine_other_busy" as in run_bench, over the whole run, counting all of
# the processes as ours. Exits as COMMAND did.
run_bench_cluster() {
    python3 - "$@" <<'PY'
import json, os, re, resource, subprocess, sys, threading, time

spec, cmd = sys.argv[1], sys.argv[2:]
procs = [(role, int(pid)) for role, pid in (p.split(":") for p in spec.split(","))]
tick = os.sysconf("SC_CLK_TCK")
progress = re.compile(r"^\d+/\d+ s:")

def machine():  # (busy, total) jiffies, all cores: user..steal (see run_bench)
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    return sum(f) - f[3] - f[4] - f[5] - f[6], sum(f)

def cpu(pid):  # utime + stime jiffies, every thread of the process
    try:
        f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return None

def snap():
    return time.monotonic(), [cpu(pid) for _, pid in procs]

(b0, t0), whole0 = machine(), snap()
bench = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
window = {}

def read_stderr():
    # The first "N/M s: ..." line comes when the warm-up has ended: the
    # window (and the bench's --server-pid probe) starts there. Anything
    # but progress lines is passed on.
    for line in bench.stderr:
        if progress.match(line):
            if "start" not in window:
                window["start"] = snap()
        elif not line.startswith("warming up"):
            sys.stderr.write(line)

reader = threading.Thread(target=read_stderr)
reader.start()
out = bench.stdout.read()
bench.wait()
end = snap()
reader.join()
b1, t1 = machine()

def delta(a, b):
    return [(y - x) / tick if x is not None and y is not None else None
            for x, y in zip(a[1], b[1])]

whole = delta(whole0, end)
children = resource.getrusage(resource.RUSAGE_CHILDREN)
me = resource.getrusage(resource.RUSAGE_SELF)
ours = (sum(c for c in whole if c) + children.ru_utime + children.ru_stime
        + me.ru_utime + me.ru_stime) * tick
if not out.strip():
    sys.exit(bench.returncode or 1)
row = json.loads(out)
row["machine_other_busy"] = round(max(0.0, (b1 - b0 - ours) / max(t1 - t0, 1)), 2)
if "server" in row:
    row["first_node_probe"] = row.pop("server")
if "start" in window:
    used = delta(window["start"], end)
    sb = [c for (role, _), c in zip(procs, used) if role == "switchboard"]
    redis = [c for (role, _), c in zip(procs, used) if role == "redis"]
    deliveries, lines = row.get("deliveries") or 0, row.get("lines_sent") or 0
    c = {
        "window_s": round(end[0] - window["start"][0], 3),
        "switchboard_s": sb,
        "redis_s": redis[0] if redis else None,
        "whole_run_switchboard_s": [c for (role, _), c in zip(procs, whole) if role == "switchboard"],
        "whole_run_redis_s": ([c for (role, _), c in zip(procs, whole) if role == "redis"] or [None])[0],
    }
    if None not in sb and deliveries:
        c["switchboard_ns_per_delivery"] = sum(sb) * 1e9 / deliveries
        c["total_ns_per_delivery"] = (sum(sb) + (redis[0] if redis else 0)) * 1e9 / deliveries
    if redis and redis[0] is not None and lines:
        c["redis_us_per_line"] = redis[0] * 1e6 / lines
    row["cpu"] = c
print(json.dumps(row))
sys.exit(bench.returncode)
PY
}

# measure_cluster NAME FIELDS BENCH_ARGS...: one run of server NAME at one
# point: start its processes, load them, stop them, append a results line.
measure_cluster() {
    local name=$1 fields=$2
    shift 2
    local run_id=$name-r$round-$RANDOM nodes redis_port="" redis_pid="" i port
    local addrs=() pidspec=() meta result bench_rc bench_log
    # shellcheck disable=SC2206 # fields is a word list of key=value
    meta=(server_name="$name" round="$round" $fields)
    case $name in
        alone) nodes=1 ;;
        node-1) nodes=1 ;;
        nodes-2) nodes=2 ;;
        *) log "unknown server $name"; return 1 ;;
    esac
    local cluster_args=()
    if [[ $name != alone ]]; then
        redis_port=$(free_port)
        spawn redis "$logdir/$run_id-redis.log" "$SERVER_CORE" "$REDIS_SERVER" \
            --port "$redis_port" --bind 127.0.0.1 --save "" --appendonly no --dir "$logdir"
        redis_pid=$spawned
        if ! wait_for_port "$redis_pid" "$redis_port"; then
            log "redis-server did not come up on port $redis_port; skipping this run"
            stop_all
            record "" "${meta[@]}" failed="redis did not start"
            keep_logs "$run_id"
            return
        fi
        cluster_args=(--cluster "redis://127.0.0.1:$redis_port")
    fi
    for ((i = 1; i <= nodes; i++)); do
        port=$(free_port)
        spawn "node-$i" "$logdir/$run_id-node-$i.log" "$SERVER_CORE" "$switchboard" chat \
            --listen "127.0.0.1:$port" --no-irc --no-web --rate-limit 0 --threads 1 \
            "${cluster_args[@]}"
        # A cluster node joins before it listens.
        if ! wait_for_port "$spawned" "$port"; then
            log "$name: node $i did not come up on port $port; skipping this run"
            tail -n 5 "${proc_log[$spawned]}" >&2 || true
            stop_all
            record "" "${meta[@]}" failed="node $i did not start"
            keep_logs "$run_id"
            return
        fi
        addrs+=("127.0.0.1:$port")
        pidspec+=("switchboard:$spawned")
    done
    [[ -n $redis_pid ]] && pidspec+=("redis:$redis_pid")
    meta+=(nodes="$nodes" redis="$([[ -n $redis_pid ]] && echo true || echo false)")
    log "round $round/$ROUNDS  $fields  $name"
    bench_log=$logdir/$run_id-bench.log
    bench_rc=0
    result=$(IFS=,; run_bench_cluster "${pidspec[*]}" \
        taskset -c "$CLIENT_CORE" "$switchboard" bench chat "${addrs[@]}" "$@" \
        --duration "$DURATION" --warmup "$WARMUP" --server-pid "${pidspec[0]#*:}" \
        --json 2>"$bench_log") || bench_rc=$?
    [[ -s $bench_log ]] && sed 's/^/    bench: /' "$bench_log" >&2
    stop_all
    # Warnings and errors the nodes logged (INFO is per connection).
    local warnings
    warnings=$(cat "$logdir/$run_id"-node-*.log | grep -c -E ' (WARN|ERROR) ' || true)
    meta+=(node_log_warnings="$warnings")
    meta+=(server_exited_early="$([[ -n $stopped_early ]] && echo true || echo false)"
        exit_statuses="$exit_statuses")
    [[ -n $stopped_early ]] && meta+=(exited_on_their_own="$stopped_early") &&
        log "$name: $stopped_early exited on their own before they were stopped"
    if [[ -z $result ]]; then
        log "bench exited with status $bench_rc against $name"
        record "" "${meta[@]}" failed="bench exit $bench_rc"
        keep_logs "$run_id"
        return
    fi
    record "$result" "${meta[@]}" bench_exit="$bench_rc"
    # Faults (losses, reordering, disconnects, room-order violations) still
    # report (the bench exits 1); keep the logs of such runs, and of runs
    # whose nodes logged warnings.
    if ((bench_rc != 0 || warnings > 0)) || [[ -n $stopped_early ]] || python3 -c '
import json, sys
r = json.loads(sys.argv[1])
sys.exit(0 if any(r.get(k) for k in ("lost", "reordered", "disconnects", "room_order_violations")) else 1)
' "$result"; then
        log "$name: faults in this run; logs kept"
        keep_logs "$run_id"
    fi
}

# keep_logs RUN_ID: copy the run's logs next to the results file.
keep_logs() {
    local dir=${out%.jsonl}-logs
    mkdir -p "$dir"
    cp "$logdir/$1"-*.log "$dir/" 2>/dev/null || true
}

new_results cluster-compare
log "rounds=$ROUNDS duration=$DURATION servers=($SERVERS) switchboard=$switchboard redis=$("$REDIS_SERVER" --version)"
for ((round = 1; round <= ROUNDS; round++)); do
    for point in "${points[@]}"; do
        IFS='|' read -r fields bench_args <<<"$point"
        for name in $SERVERS; do
            # shellcheck disable=SC2086 # bench_args is a word list
            measure_cluster "$name" "$fields" $bench_args
        done
    done
done
log "raw results: $out"
echo
python3 bench/summarize.py --cluster "$out"
