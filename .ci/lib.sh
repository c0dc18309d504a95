# shellcheck shell=bash
# Shared by the real-client acceptance tests, .ci/irc-clients.sh and
# .ci/tls-clients.sh: a `switchboard chat` server started on port 0, clients
# in the windows of a private tmux server, lines typed into them and checks on
# what their screens show, the screens saved for humans.
#
# Source it from the repository root, after `set -euo pipefail`:
#   OUT=${ARTIFACTS:-/tmp}/NAME  # must be set: where screens are saved
#   SAVE_SERVER_LOG=1            # optional: on exit, copy the server log to $OUT
#   WATCH_SERVER=1               # optional: wait_until fails at once when the
#                                # server has exited, instead of timing out
#   source .ci/lib.sh
#
# Sourcing it sets SB (the binary: $SWITCHBOARD or the debug build), TIMEOUT,
# WORK (a temporary directory, removed on exit), SERVER_PID, CHECKS (each
# passed check), START, IRC_ERRORS, LINE_ERRORS and a UTF-8 locale, and traps
# EXIT with cleanup. It provides:
#   tm, running, cleanup                 tmux, process and exit plumbing
#   screen, screen_has, tidy, save_screen, dump_screens
#   fail, wait_until, expect, expect_none, type_in, open_window
#   build_switchboard, launch_server, port_of   the server
#   start_nc (sets NC), open_irssi               clients both tests use
#   report_pass                                  the summary at the end

SB=${SWITCHBOARD:-target/debug/switchboard}
TIMEOUT=20                    # seconds any one expected screen may take
WORK=$(mktemp -d)
# A UTF-8 locale whatever CI has, so tmux and the clients render the same way.
export LC_ALL=C.UTF-8 LANG=C.UTF-8
SERVER_PID=""
CHECKS=()
START=$SECONDS
# How irssi and WeeChat show a server's error replies (421, 461, 401, 403...:
# they print the text, not the number) and the line protocol's error notices;
# for the sourcing scripts.
# shellcheck disable=SC2034
IRC_ERRORS='Unknown command|not registered|Not enough parameters|No such (channel|nick)|Cannot join|Erroneous'
# shellcheck disable=SC2034
LINE_ERRORS='^\*\*\* (unknown command|usage:|no one is called)'

# Our own tmux server (private socket, no user config): its sessions are ours
# alone, and kill-server in cleanup cannot touch anyone else's.
tm() { tmux -f /dev/null -S "$WORK/tmux.sock" "$@"; }

# Alive and not yet a zombie.
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }

cleanup() {
    local pids pid
    pids=$(tm list-panes -a -F '#{pane_pid}' 2>/dev/null || true)
    tm kill-server 2>/dev/null || true # SIGHUP to every client in it
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    # The clients write their config on the way out: let them finish (a few
    # seconds at most) before their directories are removed.
    for pid in $pids; do
        for _ in {1..25}; do
            running "$pid" || break
            sleep 0.2
        done
        ! running "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done
    if [[ -n ${SAVE_SERVER_LOG:-} && -f $WORK/server.log ]]; then
        { mkdir -p "$OUT" && cp "$WORK/server.log" "$OUT/server.log"; } || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- screens ---------------------------------------------------------------

# The pane's text, scrollback included: nc and openssl scroll; irssi and
# WeeChat use the alternate screen, which has none. -J joins lines tmux
# wrapped. nc's and openssl's screens also echo what was typed into them,
# hence patterns for them that start with the server's `<nick> `, `* ` or
# `*** `.
screen() { tm capture-pane -p -J -S - -t "sb:$1" 2>/dev/null; }

# Captured into a variable first: `capture | grep -q` fails under pipefail
# when grep exits early and capture-pane gets SIGPIPE.
screen_has() { local s; s=$(screen "$1") && grep -qE -- "$2" <<<"$s"; }

# Trailing blanks dropped, runs of blank lines squeezed (panes are 50 tall).
tidy() { sed -e 's/[[:space:]]*$//' | cat -s; }

save_screen() { { mkdir -p "$OUT" && screen "$1" | tidy >"$OUT/$1.txt"; } || true; }

# Every window's screen to stdout; saved too, unless its client has exited
# (then its last screen was saved before it quit and a blank one would
# overwrite it).
dump_screens() {
    local w dead
    # No windows yet (a failure at start) is no reason to skip the log.
    { tm list-windows -t sb -F '#W #{pane_dead}' 2>/dev/null || true; } | while read -r w dead; do
        echo "----- screen of $w -----"
        screen "$w" | tidy
        [[ $dead == 1 ]] || save_screen "$w"
    done
    echo "----- server log (last 30 lines) -----"
    tail -n 30 "$WORK/server.log" || true
}

fail() {
    echo "FAIL: $*" >&2
    dump_screens >&2
    exit 1
}

# Poll every 0.2 s until the command succeeds, for at most TIMEOUT seconds;
# with WATCH_SERVER, fail at once if the server has died meanwhile.
wait_until() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
        [[ -z ${WATCH_SERVER:-} || -z $SERVER_PID ]] || running "$SERVER_PID" ||
            fail "the server has exited"
        ((SECONDS < deadline)) || return 1
        sleep 0.2
    done
}

# expect WINDOW "what it shows" EXTENDED-REGEX
expect() {
    wait_until screen_has "$1" "$3" || fail "$1 should show $2 (a line matching /$3/) within ${TIMEOUT}s"
    CHECKS+=("$1 shows $2")
}

# expect_none WINDOW "what it must not show" EXTENDED-REGEX (checked once, now)
expect_none() {
    ! screen_has "$1" "$3" || fail "$1 shows $2: $(screen "$1" | grep -E -- "$3")"
    CHECKS+=("$1 shows no $2")
}

# Type a line into a window as a user would, then Enter.
type_in() { tm send-keys -t "sb:$1" -l "$2" && tm send-keys -t "sb:$1" Enter; }

# A window of our tmux session running a client; its pane stays after the
# client exits (remain-on-exit) so a failure can still show what it printed.
# open_window NAME COMMAND [ARG...]
open_window() {
    local name=$1
    shift
    if tm has-session -t sb 2>/dev/null; then
        tm new-window -d -t sb -n "$name" "$@"
    else
        tm new-session -d -s sb -n "$name" -x 160 -y 50 "$@" \; \
            set-option -g remain-on-exit on
    fi
}

# --- the server ------------------------------------------------------------

build_switchboard() { [[ -x $SB ]] || cargo build -q -p switchboard; }

# launch_server LISTENER CHAT-ARG...: `switchboard chat CHAT-ARG...` in the
# background (SERVER_PID; its log in $WORK/server.log), once it has logged
# that LISTENER (the last one it opens, e.g. irc or web-tls) is listening.
launch_server() {
    local last=$1
    shift
    "$SB" chat "$@" 2>"$WORK/server.log" &
    SERVER_PID=$!
    wait_until grep -q "INFO $last listening on tcp" "$WORK/server.log" ||
        fail "server did not log its ports"
}

# port_of LISTENER: the port the server logged for it (chat, irc, irc-tls...).
port_of() { sed -n "s/.*INFO $1 listening on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$WORK/server.log"; }

# --- clients ---------------------------------------------------------------

# A plain nc on the line port (LINE_PORT), its guest name in NC.
start_nc() {
    open_window nc nc 127.0.0.1 "$LINE_PORT"
    expect nc "the welcome" '^\*\*\* welcome to switchboard, guest[0-9]+!'
    # shellcheck disable=SC2034 # for the sourcing scripts
    NC=$(screen nc | sed -n 's/^\*\*\* welcome to switchboard, \([^!]*\)!.*/\1/p' | head -n1)
}

# irssi as alice, not yet connected, in window irssi (its home $WORK/irssi).
# irssi's flood control holds commands 2.2 s each once 5 are out (the connect
# alone sends 7): turned off, so each line goes out when typed. A parted
# channel's window is kept and reused on rejoin, so its screen shows the whole
# story.
open_irssi() {
    local home=$WORK/irssi
    mkdir -p "$home"
    cat >"$home/config" <<'EOF'
settings = {
  core = { nick = "alice"; user_name = "alice"; real_name = "irssi test"; };
  "fe-common/core" = { autoclose_windows = "no"; reuse_unused_windows = "yes"; };
  "irc/core" = { cmd_queue_speed = "1msec"; cmds_max_at_once = "1000"; };
};
EOF
    open_window irssi irssi --home="$home"
    expect irssi "its status window" '^\[\(status\)\]'
}

# report_pass "CLIENTS" "WHAT IS SAVED": every check, then the PASS line.
report_pass() {
    printf '  ok  %s\n' "${CHECKS[@]}"
    echo "PASS: ${#CHECKS[@]} checks ($1) in $((SECONDS - START))s; $2 in $OUT/"
}
