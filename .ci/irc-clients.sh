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

OUT=${ARTIFACTS:-/tmp}/irc-clients
# shellcheck source-path=SCRIPTDIR source=lib.sh
source .ci/lib.sh

# --- the server ------------------------------------------------------------

start_server() {
    build_switchboard
    # Port 0 everywhere: the kernel picks free ports, the log tells which.
    launch_server irc --listen 127.0.0.1:0 --irc 127.0.0.1:0 --web 127.0.0.1:0 --shutdown-timeout 1s
    LINE_PORT=$(port_of chat)
    IRC_PORT=$(port_of irc)
    [[ -n $LINE_PORT && -n $IRC_PORT ]] || fail "no ports in the server log"
    echo "server: line port $LINE_PORT, irc port $IRC_PORT"
}

# --- scenarios -------------------------------------------------------------

irssi_scenario() {
    open_irssi
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

report_pass "irssi, WeeChat, nc" screens
