#!/usr/bin/env bash
# Acceptance test: real IRC clients against a real `switchboard chat`.
#
# irssi and WeeChat run in tmux next to a plain nc on the line port; the script
# types into each client and asserts on what each screen shows (tmux
# capture-pane): joins, lines both ways, actions, nick changes, part, quit.
# Exit status: 0 when every check passed, 1 on the first failed one (the
# screens and the server log are printed). Screens are saved for humans in
# ${ARTIFACTS:-/tmp}/irc-clients/. Needs irssi, weechat, tmux and nc.
set -euo pipefail
cd "$(dirname "$0")/.."

SB=${SWITCHBOARD:-target/debug/switchboard}
OUT=${ARTIFACTS:-/tmp}/irc-clients
TIMEOUT=20                    # seconds any one expected screen may take
WORK=$(mktemp -d)
# A UTF-8 locale whatever CI has, so tmux and the clients render the same way.
export LC_ALL=C.UTF-8 LANG=C.UTF-8
SERVER_PID=""
CHECKS=()
START=$SECONDS
# How irssi and WeeChat show a server's error replies (421, 461, 401, 403...:
# they print the text, not the number) and the line protocol's error notices.
IRC_ERRORS='Unknown command|not registered|Not enough parameters|No such (channel|nick)|Cannot join|Erroneous'
LINE_ERRORS='^\*\*\* (unknown command|usage:|no one is called)'

# Our own tmux server (private socket, no user config): its sessions are ours
# alone, and kill-server in cleanup cannot touch anyone else's.
tm() { tmux -f /dev/null -S "$WORK/tmux.sock" "$@"; }

# Alive and not yet a zombie.
running() { local st; st=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $st != Z* ]]; }

cleanup() {
    local pids pid i
    pids=$(tm list-panes -a -F '#{pane_pid}' 2>/dev/null || true)
    tm kill-server 2>/dev/null || true # SIGHUP to every client in it
    if [[ -n $SERVER_PID ]]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    # The clients write their config on the way out: let them finish (a few
    # seconds at most) before their directories are removed.
    for pid in $pids; do
        for i in {1..25}; do running "$pid" && sleep 0.2 || break; done
        ! running "$pid" || kill -KILL "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT

# --- screens ---------------------------------------------------------------

# The pane's text, scrollback included: nc scrolls; irssi and WeeChat use
# the alternate screen, which has none. -J joins lines tmux wrapped. nc's
# screen also echoes what was typed into it, hence nc patterns that start
# with the server's `<nick> `, `* ` or `*** `.
screen() { tm capture-pane -p -J -S - -t "sb:$1" 2>/dev/null; }

# Captured into a variable first: `capture | grep -q` fails under pipefail
# when grep exits early and capture-pane gets SIGPIPE.
screen_has() { local s; s=$(screen "$1") && grep -qE -- "$2" <<<"$s"; }

# Trailing blanks dropped, runs of blank lines squeezed (panes are 50 tall).
tidy() { sed -e 's/[[:space:]]*$//' | cat -s; }

save_screen() { mkdir -p "$OUT" && screen "$1" | tidy >"$OUT/$1.txt" || true; }

# Every window's screen to stdout; saved too, unless its client has exited
# (then its last screen was saved before it quit and a blank one would
# overwrite it).
dump_screens() {
    local w dead
    tm list-windows -t sb -F '#W #{pane_dead}' 2>/dev/null | while read -r w dead; do
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

# Poll every 0.2 s until the command succeeds, for at most TIMEOUT seconds.
wait_until() {
    local deadline=$((SECONDS + TIMEOUT))
    until "$@"; do
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

# --- the server ------------------------------------------------------------

start_server() {
    [[ -x $SB ]] || cargo build -q -p switchboard
    # Port 0 everywhere: the kernel picks free ports, the log tells which.
    "$SB" chat --listen 127.0.0.1:0 --irc 127.0.0.1:0 --web 127.0.0.1:0 --shutdown-timeout 1s \
        2>"$WORK/server.log" &
    SERVER_PID=$!
    wait_until grep -q 'INFO irc listening on tcp' "$WORK/server.log" ||
        fail "server did not log its ports"
    LINE_PORT=$(sed -n 's/.*INFO chat listening on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.log")
    IRC_PORT=$(sed -n 's/.*INFO irc listening on tcp 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/server.log")
    [[ -n $LINE_PORT && -n $IRC_PORT ]] || fail "no ports in the server log"
    echo "server: line port $LINE_PORT, irc port $IRC_PORT"
}

# A window of our tmux session running a client; its pane stays after the
# client exits (remain-on-exit) so a failure can still show what it printed.
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

# --- scenarios -------------------------------------------------------------

start_nc() {
    open_window nc nc 127.0.0.1 "$LINE_PORT"
    expect nc "the welcome" '^\*\*\* welcome to switchboard, guest[0-9]+!'
    NC=$(screen nc | sed -n 's/^\*\*\* welcome to switchboard, \([^!]*\)!.*/\1/p' | head -n1)
}

irssi_scenario() {
    local home=$WORK/irssi
    mkdir -p "$home"
    # irssi's flood control holds commands 2.2 s each once 5 are out (the
    # connect alone sends 7): turned off, so each line goes out when typed.
    # A parted channel's window is kept and reused on rejoin, so its screen
    # shows the whole story.
    cat >"$home/config" <<'EOF'
settings = {
  core = { nick = "alice"; user_name = "alice"; real_name = "irssi test"; };
  "fe-common/core" = { autoclose_windows = "no"; reuse_unused_windows = "yes"; };
  "irc/core" = { cmd_queue_speed = "1msec"; cmds_max_at_once = "1000"; };
};
EOF
    open_window irssi irssi --home="$home"
    expect irssi "its status window" '^\[\(status\)\]'
    type_in irssi "/connect 127.0.0.1 $IRC_PORT"
    expect irssi "the welcome (001)" 'Welcome to the switchboard IRC Network, alice!'
    expect irssi "the end of the MOTD" 'End of /MOTD command'

    type_in irssi "/join #lobby"
    expect nc "irssi's join" '^\*\*\* alice joined #lobby$'
    expect irssi "its own join" 'alice \[~alice@[^]]*\] has joined #lobby'
    expect irssi "the names of #lobby" "#lobby: Total of 2 nicks"
    # irssi prints a server's error replies in the active or status window.
    expect_none irssi "error after the join (#lobby window)" "$IRC_ERRORS"
    type_in irssi "/window 1"
    expect irssi "the status window again" '^\[\(status\)\]'
    expect_none irssi "error after the join (status window)" "$IRC_ERRORS"
    type_in irssi "/window goto #lobby"
    expect irssi "the #lobby window again" '^\[#lobby\]'

    type_in nc "hello from nc"
    expect irssi "nc's line" "<[ @+]?$NC> hello from nc"
    type_in irssi "hi from irssi"
    expect nc "irssi's line" '^<alice> hi from irssi$'
    type_in irssi "/me waves at nc"
    expect nc "irssi's action" '^\* alice waves at nc$'
    type_in nc "/me nods to irssi"
    expect irssi "nc's action" "\* $NC nods to irssi"

    type_in nc "/nick ncuser"
    expect nc "its own nick change" '^\*\*\* you are now known as ncuser$'
    expect irssi "nc's nick change" "$NC is now known as ncuser"
    NC=ncuser
    type_in irssi "/nick alice2"
    expect irssi "its own nick change" "You're now known as alice2"
    expect nc "irssi's nick change" '^\*\*\* alice is now known as alice2$'

    # irssi's syntax: /part [channel] [reason]; it adds the ':' itself
    # (typing ":reason" would send PART #lobby ::reason).
    type_in irssi "/part #lobby gotta go"
    expect nc "irssi's part with its reason" '^\*\*\* alice2 left #lobby \(gotta go\)$'
    expect irssi "its own part" 'alice2 \[~alice@[^]]*\] has left #lobby \[gotta go\]'
    type_in irssi "/join #lobby"
    expect nc "irssi's rejoin" '^\*\*\* alice2 joined #lobby$'
    expect irssi "its rejoin" 'alice2 \[~alice@[^]]*\] has joined #lobby'

    save_screen irssi # before /quit: irssi clears its screen when it exits
    type_in irssi "/quit bye now"
    expect nc "irssi's quit with its reason" '^\*\*\* alice2 left #lobby \(quit: bye now\)$'
}

weechat_scenario() {
    # WeeChat 3.8: TLS is off unless asked for (-nossl says so anyway); its
    # anti-flood (2 s between user lines) turned off, as for irssi.
    local setup="/server add sb 127.0.0.1/$IRC_PORT -nossl -nicks=wee -username=wee"
    setup+=" -realname=wee -anti_flood_prio_high=0 -anti_flood_prio_low=0"
    # No buffer list or nick list beside the chat: plain lines in captures.
    setup+=";/bar hide buflist;/bar hide nicklist"
    open_window weechat weechat --dir "$WORK/weechat" -r "$setup;/connect sb"
    expect weechat "the welcome (001)" 'Welcome to the switchboard IRC Network, wee!'
    expect weechat "the end of the MOTD" 'End of /MOTD command'
    # WeeChat marks its own errors (e.g. connection failures) =!=; a server's
    # error replies it prints in the server buffer, current until the join.
    expect_none weechat "error while connecting" "=!=|$IRC_ERRORS"

    type_in weechat "/join #lobby"
    expect nc "WeeChat's join" '^\*\*\* wee joined #lobby$'
    expect weechat "its own join" 'wee \(~wee@[^)]*\) has joined #lobby'
    expect_none weechat "error after the join" "=!=|$IRC_ERRORS"

    type_in nc "hello weechat"
    expect weechat "nc's line" "$NC \| hello weechat"
    type_in weechat "hi from weechat"
    expect nc "WeeChat's line" '^<wee> hi from weechat$'
    type_in weechat "/me waves at nc too"
    expect nc "WeeChat's action" '^\* wee waves at nc too$'

    save_screen weechat # before /quit: WeeChat clears its screen when it exits
    type_in weechat "/quit bye weechat"
    expect nc "WeeChat's quit with its reason" '^\*\*\* wee left #lobby \(quit: bye weechat\)$'
}

# --- main ------------------------------------------------------------------

start_server
start_nc
irssi_scenario
weechat_scenario
expect_none nc "error notice" "$LINE_ERRORS"
save_screen nc

printf '  ok  %s\n' "${CHECKS[@]}"
echo "PASS: ${#CHECKS[@]} checks (irssi, WeeChat, nc) in $((SECONDS - START))s; screens in $OUT/"
