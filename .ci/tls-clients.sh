#!/usr/bin/env bash
# Acceptance test: real TLS clients against a real `switchboard chat`.
#
# One server with every TLS listener (line, IRC, web) and a plain line port,
# its certificate made by `switchboard cert`. Each client meets a plain nc in
# #lobby and exchanges a line each way with it:
#   - openssl s_client on the line TLS port, verifying the certificate;
#   - irssi on the IRC TLS port (-tls_verify, the certificate as its CA
#     file), in tmux, asserting on its screen as .ci/irc-clients.sh does;
#   - headless Chromium on the https:// page, its WebSocket over wss://,
#     trusting the server's key only (.ci/web-clients.py --tls).
# Plaintext clients on each TLS port are closed with a TLS alert, the server
# logs "TLS error", and the others carry on.
# Exit status: 0 when every check passed, 1 on the first failed one (the
# screens and the server log are printed). Screens, the page's screenshot
# and the server log are saved in ${ARTIFACTS:-/tmp}/tls-clients/. Needs
# openssl, irssi, tmux, nc, and what .ci/web-clients.py needs (.ci/run
# installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

OUT=${ARTIFACTS:-/tmp}/tls-clients
SAVE_SERVER_LOG=1
WATCH_SERVER=1
# shellcheck source-path=SCRIPTDIR source=lib.sh
source .ci/lib.sh

# --- the server ------------------------------------------------------------

log_count() { grep -c -- "$1" "$WORK/server.log" || true; }

more_tls_errors_than() { (($(log_count 'TLS error; closing') > $1)); }

start_server() {
    build_switchboard
    CERT=$WORK/cert.pem
    "$SB" cert --cert "$CERT" --key "$WORK/key.pem" 2>"$WORK/cert.log" ||
        fail "switchboard cert failed: $(cat "$WORK/cert.log")"
    # Port 0 everywhere: the kernel picks free ports, the log tells which.
    # No plain IRC or web listener (their defaults are fixed ports).
    launch_server web-tls --listen 127.0.0.1:0 --listen-tls 127.0.0.1:0 --irc-tls 127.0.0.1:0 \
        --web-tls 127.0.0.1:0 --no-irc --no-web --tls-cert "$CERT" --tls-key "$WORK/key.pem" \
        --shutdown-timeout 1s
    LINE_PORT=$(port_of chat)
    LINE_TLS_PORT=$(port_of chat-tls)
    IRC_TLS_PORT=$(port_of irc-tls)
    WEB_TLS_PORT=$(port_of web-tls)
    [[ -n $LINE_PORT && -n $LINE_TLS_PORT && -n $IRC_TLS_PORT && -n $WEB_TLS_PORT ]] ||
        fail "no ports in the server log"
    echo "server: line $LINE_PORT, line TLS $LINE_TLS_PORT, IRC TLS $IRC_TLS_PORT, web TLS $WEB_TLS_PORT"
}

server_up() {
    running "$SERVER_PID" || fail "the server has exited ($1)"
    CHECKS+=("the server is still up ($1)")
}

# --- scenarios -------------------------------------------------------------

# openssl s_client on the line TLS port, trusting the certificate alone and
# checking it is for 127.0.0.1; it stops at a verification error.
# -nocommands: a line typed that starts with Q or R is text, not a command.
# Its exit status is printed in its window: tmux's own (pane_dead_status) is
# sometimes missing for many seconds, the child left unreaped.
openssl_scenario() {
    open_window openssl bash -c '"$@"; echo "[openssl exited with status $?]"' - \
        openssl s_client -connect "127.0.0.1:$LINE_TLS_PORT" \
        -CAfile "$CERT" -verify_ip 127.0.0.1 -verify_return_error -nocommands
    expect openssl "a verified handshake" '^Verify return code: 0 \(ok\)'
    expect openssl "TLS 1.3" '^New, TLSv1\.3, Cipher is '
    expect openssl "the welcome" '^\*\*\* welcome to switchboard, guest[0-9]+!'
    OSSL=$(screen openssl | sed -n 's/^\*\*\* welcome to switchboard, \([^!]*\)!.*/\1/p' | head -n1)
    expect nc "s_client's join" "^\*\*\* $OSSL joined #lobby$"

    type_in openssl "hello from openssl"
    expect nc "s_client's line" "^<$OSSL> hello from openssl$"
    type_in nc "hello s_client"
    expect openssl "nc's line" "^<$NC> hello s_client$"
}

# A plaintext client on each TLS port: it gets a TLS alert (no text), it is
# closed, and the server logs why.
# plaintext_probe NAME PORT WHAT-IT-SENDS
plaintext_probe() {
    local name=$1 port=$2 before reply
    before=$(log_count 'TLS error; closing')
    printf '%b' "$3" | timeout "$TIMEOUT" nc 127.0.0.1 "$port" >"$WORK/plain-$name.out" ||
        fail "a plaintext client on the $name TLS port was not closed within ${TIMEOUT}s"
    reply=$(od -An -tx1 -N1 "$WORK/plain-$name.out" | tr -d ' ')
    [[ $reply == 15 ]] ||
        fail "a plaintext client on the $name TLS port got no TLS alert but: $(od -c "$WORK/plain-$name.out" | head -n 3)"
    CHECKS+=("a plaintext client on the $name TLS port is closed with a TLS alert")
    wait_until more_tls_errors_than "$before" || fail "the server logged no 'TLS error' for the plaintext client on the $name TLS port"
    CHECKS+=("the server logs a TLS error for the plaintext $name client")
}

plaintext_scenario() {
    plaintext_probe line "$LINE_TLS_PORT" 'hello\n'
    plaintext_probe IRC "$IRC_TLS_PORT" 'NICK mallory\r\nUSER mallory 0 * :m\r\n'
    plaintext_probe web "$WEB_TLS_PORT" 'GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'
    server_up "after the plaintext clients"
    # They never finished a handshake: the room never heard of them (nc is
    # guest1, s_client guest2; a phantom would be the next guest).
    expect_none nc "a plaintext client's join" 'guest[3-9][0-9]* joined #lobby|left #lobby \(protocol error\)'
    # The TLS client already in #lobby carries on.
    type_in openssl "still here"
    expect nc "s_client's line after the plaintext clients" "^<$OSSL> still here$"
    type_in nc "me too"
    expect openssl "nc's line after the plaintext clients" "^<$NC> me too$"
}

irssi_scenario() {
    open_irssi
    # Verification on, the self-signed certificate as the only authority:
    # irssi refuses the connection if the certificate does not check out.
    # By name: irssi 1.4 matches a certificate's DNS names only, not its IP
    # addresses. -4: the server listens on 127.0.0.1, not on ::1.
    type_in irssi "/connect -4 -tls -tls_verify -tls_cafile $CERT localhost $IRC_TLS_PORT"
    expect irssi "the certificate's details" 'Irssi: Protocol: TLSv1\.3'
    expect irssi "the welcome (001) over TLS" 'Welcome to the switchboard IRC Network, alice!'
    expect irssi "the end of the MOTD" 'End of /MOTD command'
    expect_none irssi "TLS or connection error" 'warning|SSL|Connection lost|Unable to connect|[Ff]ailed'

    type_in irssi "/join #lobby"
    expect nc "irssi's join" '^\*\*\* alice joined #lobby$'
    expect irssi "its own join" 'alice \[~alice@[^]]*\] has joined #lobby'
    expect irssi "the names of #lobby" "#lobby: Total of 3 nicks"
    expect_none irssi "error after the join" "$IRC_ERRORS"

    type_in nc "hello irssi"
    expect irssi "nc's line" "<[ @+]?$NC> hello irssi"
    type_in irssi "hi from irssi over TLS"
    expect nc "irssi's line" '^<alice> hi from irssi over TLS$'
    expect openssl "irssi's line" '^<alice> hi from irssi over TLS$'
    type_in openssl "hi irssi, from s_client"
    expect irssi "s_client's line" "<[ @+]?$OSSL> hi irssi, from s_client"

    save_screen irssi # before /quit: irssi clears its screen when it exits
    type_in irssi "/quit bye over TLS"
    expect nc "irssi's quit with its reason" '^\*\*\* alice left #lobby \(quit: bye over TLS\)$'
}

browser_scenario() {
    # Its own nc too; ours sees the page's join and line as well.
    timeout 120 python3 .ci/web-clients.py --tls "https://127.0.0.1:$WEB_TLS_PORT/" \
        --line-port "$LINE_PORT" --cert "$CERT" ||
        fail "the https page failed (.ci/web-clients.py --tls, above)"
    CHECKS+=("Chromium on https:// and wss:// exchanged lines with nc (.ci/web-clients.py --tls)")
    expect nc "the page's join" '^\*\*\* carol joined #lobby$'
    expect nc "the page's line" '^<carol> hi from wss$'
}

openssl_quit() {
    type_in openssl "/quit"
    expect nc "s_client's quit" "^\*\*\* $OSSL left #lobby \(quit\)$"
    # The server ends the TLS session properly (close_notify): s_client says
    # "closed" (not "read:errno=...") and exits 0.
    expect openssl "a clean close" '^closed$'
    expect openssl "its exit status 0" '^\[openssl exited with status 0\]$'
    save_screen openssl
}

# --- main ------------------------------------------------------------------

for tool in openssl irssi tmux nc python3; do
    command -v "$tool" >/dev/null || fail "$tool is not installed (.ci/run installs it)"
done
start_server
start_nc
openssl_scenario
plaintext_scenario
irssi_scenario
browser_scenario
openssl_quit
expect_none nc "error notice" "$LINE_ERRORS"
save_screen nc
server_up "at the end"
! grep -qE 'panicked|ERROR' "$WORK/server.log" ||
    fail "the server log has errors: $(grep -E 'panicked|ERROR' "$WORK/server.log")"
CHECKS+=("the server log has no ERROR or panic")

report_pass "openssl s_client, irssi, Chromium, nc" artifacts
