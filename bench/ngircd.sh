#!/usr/bin/env bash
# ngIRCd (Debian's package) as a chat benchmark peer for `switchboard bench
# chat --preset irc`: one ngircd process, all clients in one channel.
#
# Usage:
#   bench/ngircd.sh PORT             run ngircd on 127.0.0.1:PORT in the
#                                    foreground; installs it first if missing.
#                                    The script execs ngircd, so its pid is
#                                    ngircd's: pin it and stop it like any
#                                    other server, e.g.
#                                      env --default-signal=INT taskset -c 0 \
#                                          bench/ngircd.sh "$port" >"$log" 2>&1 &
#                                    SIGINT or SIGTERM makes ngircd say ERROR
#                                    to its clients and exit (status 0); with
#                                    1,000 clients that takes a few seconds
#                                    (each QUIT goes to everyone left).
#   bench/ngircd.sh --install        only make sure ngircd is installed (do
#                                    this before timing anything: a first
#                                    install takes longer than a port wait).
#   bench/ngircd.sh --config PORT    print the generated configuration.
#   bench/ngircd.sh --version        install if missing, print the version.
# Sourced (`source bench/ngircd.sh`), it only defines ngircd_install and
# ngircd_config.
#
# ngircd writes its log (a few lines per connection, INFO level) to stdout:
# send it to a file or /dev/null. It runs as "nobody" (started as root, it
# will not keep root). The generated configuration lives in a temp
# directory that is removed once ngircd has exited and been reaped.
#
# Configuration choices (ngIRCd 26.1, Debian 12; see ngircd.conf(5)):
#   Listen/Ports       127.0.0.1 and PORT only; no SSL ports, no server links
#                      (ngircd also runs with -p, "passive", to be sure).
#   MaxConnections 0   unlimited. Deliberately not a large number: ngircd
#                      preallocates its connection table for MaxConnections
#                      entries and its main loop scans the whole table three
#                      times per pass, so a large value would slow it down;
#                      with 0 the table grows to the highest fd in use.
#   MaxConnectionsIP 0 unlimited (default 5): every bench client comes from
#                      127.0.0.1.
#   MaxJoins 0         no channel limit per user (the bench joins one).
#   MaxPenaltyTime 0   "0 to disable penalties altogether" (option since
#                      ngIRCd 25). Penalties are ngIRCd's flood control: a
#                      user that sends more than 256 bytes per second, or has
#                      more than 3 commands waiting in its read buffer, is
#                      throttled for a second (its socket is not read), and
#                      some commands add penalty time of their own (e.g. 1 s
#                      per extra PRIVMSG target, 10 s per bad OPER password).
#                      Every increase goes through one function that caps it
#                      at MaxPenaltyTime, except those of 10 s and more (kept
#                      against password guessing), so 0 switches the flood
#                      throttling off. ngIRCd calls this a debugging setting,
#                      not for production; it warns about it at start-up.
#   PingTimeout 120,   the defaults: a client idle for 120 s gets a PING and
#   PongTimeout 20     has 20 s to answer (the generator answers PINGs).
#   DNS, Ident, PAM    all off: no reverse lookups or IDENT queries on
#                      connect (each would fork a resolver child per client),
#                      and no PAM, which would otherwise reject clients that
#                      send no password.
#   MotdPhrase         a one-line MOTD, so no file is read per registration.
#   IncludeDir         an empty dir beside the config, instead of the package's
#                      /etc/ngircd/ngircd.conf.d: nothing on the machine can
#                      change these settings.
#   everything else    ngircd's defaults (ngircd --configtest -f FILE lists
#                      them; `--config PORT` prints the file).
# Limits that are compiled in and cannot be configured (src/ngircd/conn.c and
# defines.h in 26.1), which a benchmark must stay within:
#   - at most 3 commands of a client are handled per pass of the main loop (10
#     with user mode +F, which only an IRC operator can set); the rest wait for
#     the next pass. With penalties off this costs passes, not throttling.
#   - a client whose unprocessed input reaches 2 KiB (READBUFFER_LEN) is
#     disconnected ("Receive buffer space exhausted"): keep each sender's
#     lines in flight (window x line length) well below that.
#   - a client whose unsent output reaches 32 KiB (WRITEBUFFER_MAX_LEN) is
#     disconnected ("Write buffer space exhausted"): a receiver must read.
#   - lines are at most 512 bytes including the CR LF (RFC 2812).
# Listen backlog: ngircd's own listening socket has a backlog of 10
# (listen(sock, 10) in conn.c) and ngircd accepts one connection per pass of
# its main loop. The load generator opens up to 128 connections at once, so
# with that backlog most SYNs of a 1,000-client ramp were dropped and retried
# with exponential backoff (1, 3, 7, 15, 31 s ...): only 764 of 1,000 clients
# were in after 60 s. So this script creates the listening socket itself with
# the kernel's maximum backlog and passes it to ngircd as systemd would (see
# the end of this file); the accept rate is still ngircd's own.
set -euo pipefail

ngircd_install() {
    command -v ngircd >/dev/null 2>&1 && return 0
    echo "==> installing ngircd (apt-get install -y ngircd)" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q ngircd >&2; then
        # The package lists may be missing or stale on a fresh machine.
        apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q ngircd >&2
    fi
    # Where no policy-rc.d stops it, the package starts the system-wide
    # daemon (port 6667, all interfaces); it is not wanted for benchmarks.
    if [[ -x /etc/init.d/ngircd ]] && /etc/init.d/ngircd status >/dev/null 2>&1; then
        /etc/init.d/ngircd stop >&2 || true
    fi
}

# ngircd_config PORT [INCLUDE_DIR]: the configuration for 127.0.0.1:PORT, on
# stdout. INCLUDE_DIR replaces the package's /etc/ngircd/ngircd.conf.d, so
# that snippets installed there cannot change the benchmark's settings: pass
# an empty directory.
ngircd_config() {
    local port=$1 include_dir=${2:-}
    cat <<EOF
# Generated by bench/ngircd.sh for a benchmark run; see the comments there.
[Global]
    Name = ngircd.bench
    Info = switchboard benchmark peer
    AdminInfo1 = switchboard benchmark peer
    AdminInfo2 = 127.0.0.1
    AdminEMail = nobody@localhost
    Listen = 127.0.0.1
    Ports = $port
    MotdPhrase = switchboard bench

[Limits]
    MaxConnections = 0
    MaxConnectionsIP = 0
    MaxJoins = 0
    MaxPenaltyTime = 0
    PingTimeout = 120
    PongTimeout = 20

[Options]
    DNS = no
    Ident = no
    PAM = no
EOF
    if [[ -n $include_dir ]]; then
        echo "    IncludeDir = $include_dir"
    fi
}

# Sourced: provide the functions only.
if [[ ${BASH_SOURCE[0]} != "$0" ]]; then
    return 0
fi

usage() {
    sed -n '/^# Usage:/,/^# ngircd_config\.$/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

valid_port() {
    [[ $1 =~ ^[0-9]+$ ]] && (($1 > 0 && $1 < 65536))
}

case ${1:-} in
    --install)
        ngircd_install
        ;;
    --version)
        ngircd_install
        ngircd --version | head -n 1
        ;;
    --config)
        valid_port "${2:-}" || usage
        ngircd_config "$2"
        ;;
    *)
        if [[ $# -ne 1 ]] || ! valid_port "$1"; then usage; fi
        ngircd_install
        dir=$(mktemp -d "${TMPDIR:-/tmp}/ngircd-bench.XXXXXX")
        mkdir "$dir/conf.d"
        ngircd_config "$1" "$dir/conf.d" >"$dir/ngircd.conf"
        # Remove the temp dir once ngircd is gone: after the exec below, $$
        # is ngircd's pid, and this watcher outlives it by at most a second.
        # Its output goes nowhere, so it never holds a caller's pipe open.
        (
            while [[ -e /proc/$$ ]]; do sleep 1; done
            rm -rf "$dir"
        ) </dev/null >/dev/null 2>&1 &
        # Open the listening socket here, with a full-size backlog, and hand
        # it to ngircd as fd 3 by systemd's socket-activation protocol
        # (LISTEN_PID/LISTEN_FDS, which ngircd reads at start-up; it then
        # ignores Listen/Ports). See "listen backlog" above. python3 execs
        # ngircd in turn, so the pid is still this script's, i.e. ngircd's.
        # -n: stay in the foreground; -p: passive, never connect to servers.
        exec python3 -c '
import os, socket, sys

port, conf = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", port))
s.listen(4096)  # the kernel caps it at net.core.somaxconn
if s.fileno() != 3:
    os.dup2(s.fileno(), 3)  # the copy is inheritable; s is closed on exec
else:
    os.set_inheritable(3, True)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
os.execvp("ngircd", ["ngircd", "-n", "-p", "-f", conf])
' "$1" "$dir/ngircd.conf"
        ;;
esac
