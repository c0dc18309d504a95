# Shared by the bench/*.sh scripts: sourced, not run (source
# "$(dirname "${BASH_SOURCE[0]}")/lib.sh"). Makes the repository the working
# directory ($repo) and sets what every script shares: the server on core 0
# and the load on core 1 (SERVER_CORE, CLIENT_CORE), a 1 s warm-up (WARMUP)
# and the build under test ($switchboard, built by the script). Expects $out
# (the results file) to be set by the script (and start_server, for
# measure), and provides $logdir (per-run server stderr), $python (the real
# interpreter) and an EXIT trap that leaves no server of ours running.

cd "$(dirname "${BASH_SOURCE[0]}")/.."
repo=$PWD
WARMUP=1s
SERVER_CORE=0
CLIENT_CORE=1
switchboard=$repo/target/release/switchboard

log() { echo "==> $*" >&2; }

# Builds the switchboard under test ($switchboard), release.
build_switchboard() {
    log "building switchboard (release)"
    cargo build --release --quiet -p switchboard
}


# A TCP port on 127.0.0.1 that is free right now.
free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# run_bench SERVER_PID COMMAND...: run the load generator COMMAND and print
# its JSON line with "machine_other_busy" added: the share of the machine's
# CPU (all cores, 0-1) over the run used by neither the server nor the load
# generator, i.e. other work or hypervisor steal that disturbed the numbers.
# Interrupt and softirq time does not count as other work: on loopback it is
# the traffic's own packet processing, and much of it lands on whatever task
# (often the idle one) the core was running. Exits as COMMAND did (a bench that
# found faults still prints its JSON and exits 1).
run_bench() {
    python3 - "$@" <<'PY'
import json, os, resource, subprocess, sys

server_pid, cmd = sys.argv[1], sys.argv[2:]
tick = os.sysconf("SC_CLK_TCK")

def machine():  # (busy, total) jiffies, all cores: user..steal
    f = [int(x) for x in open("/proc/stat").readline().split()[1:9]]
    # busy: not idle, iowait, irq or softirq
    return sum(f) - f[3] - f[4] - f[5] - f[6], sum(f)

def server_cpu():  # utime + stime jiffies
    try:
        f = open(f"/proc/{server_pid}/stat").read().rsplit(")", 1)[1].split()
        return int(f[11]) + int(f[12])
    except OSError:
        return 0

(b0, t0), s0 = machine(), server_cpu()
run = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
(b1, t1), s1 = machine(), server_cpu()
children = resource.getrusage(resource.RUSAGE_CHILDREN)
ours = (s1 - s0) + (children.ru_utime + children.ru_stime) * tick
if not run.stdout.strip():
    sys.exit(run.returncode or 1)
row = json.loads(run.stdout)
row["machine_other_busy"] = round(max(0.0, (b1 - b0 - ours) / max(t1 - t0, 1)), 2)
print(json.dumps(row))
sys.exit(run.returncode)
PY
}

# start_pinned LOG COMMAND...: start COMMAND (a server) in the background,
# pinned to SERVER_CORE, stderr to LOG, pid in $server_pid. env and taskset
# exec, so that pid is the server's own, which --server-pid needs;
# `env --default-signal=INT` undoes bash's SIG_IGN of SIGINT for background
# jobs, which stop_server relies on.
start_pinned() {
    local log=$1
    shift
    env --default-signal=INT taskset -c "$SERVER_CORE" "$@" 2>"$log" &
    server_pid=$!
}

# Running and not yet a zombie.
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null || true)
    [[ -n $state && $state != Z* ]]
}

# wait_for_port PID PORT: poll until PORT accepts connections (deadline 10 s);
# fail early if the server process dies.
wait_for_port() {
    local pid=$1 port=$2 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        alive "$pid" || return 1
        if python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.2).close()' \
            "$port" 2>/dev/null; then
            return 0
        fi
        sleep 0.05
    done
    return 1
}

# stop_server PID: SIGINT, wait up to 10 s, then SIGKILL; reap it. Sets
# $exited_early (it was gone before the SIGINT) and $exit_status (as bash
# reports it: 130 = died of SIGINT, 137 = SIGKILL).
stop_server() {
    local pid=$1 i
    exited_early=true
    if alive "$pid"; then
        exited_early=false
        kill -INT "$pid" 2>/dev/null || true
        for ((i = 0; i < 100; i++)); do
            alive "$pid" || break
            sleep 0.1
        done
        if alive "$pid"; then
            log "pid $pid ignored SIGINT for 10 s; killing it"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi
    exit_status=0
    wait "$pid" 2>/dev/null || exit_status=$?
}

# record BENCH_JSON KEY=VALUE...: append one results line: the bench's JSON
# object ({} when it printed none) after the given fields. Values that parse
# as JSON (numbers, true, false) are kept as such, the rest as strings.
record() {
    python3 -c '
import json, sys
def value(v):
    try:
        return json.loads(v)
    except ValueError:
        return v
fields = {k: value(v) for k, v in (kv.split("=", 1) for kv in sys.argv[2:])}
print(json.dumps({**fields, **json.loads(sys.argv[1] or "{}")}))
' "$@" >>"$out"
}

# measure KIND NAME FIELDS BENCH_ARGS...: one run of server NAME at one
# point: start it (the script's start_server NAME PORT LOG, which may read
# $kind), load it with `switchboard bench KIND ... BENCH_ARGS` pinned to
# CLIENT_CORE, stop it, and append the bench's JSON after FIELDS (a word
# list of key=value) to $out. Reads $round, ROUNDS, DURATION, WARMUP and
# $switchboard from the script.
measure() {
    local kind=$1 name=$2 fields=$3
    shift 3
    local port server_log meta bench_rc result
    port=$(free_port)
    server_log=$logdir/${kind}-${name}-$RANDOM.log
    # shellcheck disable=SC2206 # fields is a word list of key=value
    meta=(server_name="$name" round="$round" $fields)
    server_bench_args=()
    start_server "$name" "$port" "$server_log"
    if ! wait_for_port "$server_pid" "$port"; then
        log "$name did not come up on port $port; skipping this run"
        stop_server "$server_pid"
        record "" "${meta[@]}" failed="server did not start"
        return
    fi
    # The seeds listen with a backlog of 5, which a burst of connects
    # overflows (dropped SYNs are retried only after 1, 3, 7, ... s). Even
    # one connect at a time outruns the seed's accept loop now and then (a
    # connect completes when the kernel has queued it, not when the seed
    # has accepted it): about one SYN in seven is dropped and retried a
    # second later, so 500 connections take over a minute to open. That is
    # set-up, not measured time; allow for it.
    local peer_args=("${server_bench_args[@]}")
    [[ $name == python-seed ]] && peer_args+=(--connect-window 1 --connect-timeout 300s)
    log "round $round/$ROUNDS  $kind $fields  $name"
    bench_rc=0
    result=$(run_bench "$server_pid" \
        taskset -c "$CLIENT_CORE" "$switchboard" bench "$kind" "127.0.0.1:$port" "$@" \
        "${peer_args[@]}" --duration "$DURATION" --warmup "$WARMUP" --server-pid "$server_pid" \
        --quiet --json) || bench_rc=$?
    stop_server "$server_pid"
    meta+=(server_exited_early="$exited_early" server_exit_status="$exit_status")
    if [[ $exited_early == true ]]; then
        log "$name exited on its own (status $exit_status) before it was stopped; stderr ends:"
        tail -n 3 "$server_log" >&2 || true
    fi
    if [[ -z $result ]]; then
        log "bench exited with status $bench_rc against $name"
        record "" "${meta[@]}" failed="bench exit $bench_rc"
        return
    fi
    # Faults (corrupt echoes, losses, reordering) still report (exit 1);
    # the summary shows them.
    record "$result" "${meta[@]}" bench_exit="$bench_rc"
}

# new_results NAME: start a results file, bench/results/NAME-<UTC stamp>.jsonl
# (or NAME-$stamp.jsonl when the script set $stamp), and point $out at it.
new_results() {
    mkdir -p bench/results
    out=bench/results/$1-${stamp:-$(date -u +%Y%m%dT%H%M%SZ)}.jsonl
    : >"$out"
}

# summarize_results FILE: say where the raw results are, then print their
# markdown summary.
summarize_results() {
    log "raw results: $1"
    echo
    python3 bench/summarize.py "$1"
}

# The chat protocol each server speaks, for `bench chat --preset`: any
# build of switchboard speaks its own (switchboard-irc: on its IRC port).
preset_of() {
    case $1 in
        ngircd | switchboard-irc) echo irc ;;
        python-seed | tokio | tokio-nodelay) echo plain ;;
        *) echo switchboard ;;
    esac
}

# run_chat_points POINT...: every POINT ("FIELDS|BENCH ARGS|SERVER NAMES")
# ROUNDS times, the servers of a point one after another (A B A B ...),
# each with the protocol preset it speaks.
run_chat_points() {
    local round point fields bench_args names name
    for ((round = 1; round <= ROUNDS; round++)); do
        for point in "$@"; do
            IFS='|' read -r fields bench_args names <<<"$point"
            for name in $names; do
                # shellcheck disable=SC2086 # bench_args is a word list
                measure chat "$name" "$fields" --preset "$(preset_of "$name")" $bench_args
            done
        done
    done
}

# front_ends_off BINARY: the flags that keep a switchboard build from
# listening for IRC (6667) and browsers (8080) on their default ports, for
# builds that have those front-ends.
front_ends_off() {
    local help
    help=$("$1" chat --help 2>/dev/null)
    if grep -q -- --no-irc <<<"$help"; then echo --no-irc; fi
    if grep -q -- --no-web <<<"$help"; then echo --no-web; fi
}

# Extra `switchboard bench` arguments a script's start_server may set for
# the run it started (a second port, say); reset before each start.
server_bench_args=()

# Per-run server stderr goes here, so a crash can be shown. On any exit,
# also make sure no server of ours is left running.
logdir=$(mktemp -d)
server_pid=
cleanup() {
    if [[ -n $server_pid ]] && alive "$server_pid"; then
        kill -KILL "$server_pid" 2>/dev/null || true
    fi
    rm -rf "$logdir"
}
trap cleanup EXIT

# The real interpreter, not a pyenv-style shim: its pid must be the server's.
python=$(python3 -c 'import sys; print(sys.executable)')

