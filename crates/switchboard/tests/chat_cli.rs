//! `switchboard chat` as its users meet it: a real process, nc-like clients.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread;

use socket2::SockRef;
use support::*;

/// A line-oriented client, like `nc`.
struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
}

impl Client {
    fn connect(addr: SocketAddr) -> Client {
        let s = connect(addr);
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
        }
    }

    /// Connects and reads the welcome line; returns the client and its nick.
    fn join(addr: SocketAddr) -> (Client, String) {
        let mut c = Client::connect(addr);
        let welcome = c.line();
        assert!(
            welcome.starts_with("*** welcome to switchboard, "),
            "{welcome:?}"
        );
        let nick = welcome["*** welcome to switchboard, ".len()..]
            .split('!')
            .next()
            .unwrap()
            .to_string();
        (c, nick)
    }

    fn send(&mut self, line: &str) {
        self.writer.write_all(line.as_bytes()).unwrap();
        self.writer.write_all(b"\n").unwrap();
    }

    /// The next line, without CRLF (panics on EOF or after the deadline).
    fn line(&mut self) -> String {
        let mut line = String::new();
        let n = self.reader.read_line(&mut line).expect("read a line");
        assert!(n > 0, "EOF while waiting for a line");
        assert!(line.ends_with("\r\n"), "lines end in CRLF: {line:?}");
        line.truncate(line.len() - 2);
        line
    }

    /// Skips lines until one contains `needle`; returns it.
    fn line_containing(&mut self, needle: &str) -> String {
        loop {
            let line = self.line();
            if line.contains(needle) {
                return line;
            }
        }
    }

    /// Reads to EOF and returns everything.
    fn rest(&mut self) -> String {
        let mut s = String::new();
        self.reader.read_to_string(&mut s).unwrap();
        s
    }
}

fn chat(extra: &[&str]) -> Server {
    let mut args = CHAT.to_vec();
    args.extend_from_slice(extra);
    Server::start(&args)
}

#[test]
fn help_explains_every_flag() {
    let out = bin().args(["chat", "--help"]).output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--max-line",
        "--max-output",
        "--rate-limit",
        "--burst",
        "--max-clients",
        "--idle-timeout",
        "--shutdown-timeout",
        "--coalesce",
        "127.0.0.1:8008",
    ] {
        assert!(
            help.contains(flag),
            "chat --help does not mention {flag}:\n{help}"
        );
    }
}

#[test]
fn seed_usage_lines_go_to_everyone_else() {
    let mut server = chat(&[]);
    let (mut a, nick_a) = Client::join(server.addr);
    let (mut b, nick_b) = Client::join(server.addr);
    let (mut c, _) = Client::join(server.addr);
    assert_eq!(a.line(), format!("*** {nick_b} joined #lobby"));
    a.send("hello, room");
    assert_eq!(b.line_containing("<"), format!("<{nick_a}> hello, room"));
    assert_eq!(c.line_containing("<"), format!("<{nick_a}> hello, room"));
    // Not back to the sender: the next thing A sees is B's line.
    b.send("hi A");
    assert_eq!(a.line_containing("<"), format!("<{nick_b}> hi A"));
    // The log is the seed's clientmap: who connected from where.
    server.wait_for_log(&format!("nick={nick_a}"));
    assert!(server
        .log
        .iter()
        .any(|l| l.contains("joined") && l.contains("peer=127.0.0.1:")));
}

#[test]
fn telnet_bytes_and_crlf_work_like_nc() {
    let server = chat(&[]);
    let (mut a, nick_a) = Client::join(server.addr);
    let (mut b, _) = Client::join(server.addr);
    a.writer.write_all(&[255, 253, 3, 255, 251, 24]).unwrap(); // IAC DO SGA, IAC WILL TTYPE
    a.writer.write_all(b"from telnet\r\n").unwrap();
    assert_eq!(b.line_containing("<"), format!("<{nick_a}> from telnet"));
}

#[test]
fn hostile_text_never_reaches_other_terminals() {
    let server = chat(&[]);
    let (mut a, nick_a) = Client::join(server.addr);
    let (mut b, _) = Client::join(server.addr);
    a.writer
        .write_all(b"\x1b[2J\x1b[H\x1b]0;pwned\x07hi \x1b[5mthere\x00\x08 \xc3\x28!\n")
        .unwrap();
    let line = b.line_containing("<");
    assert_eq!(line, format!("<{nick_a}> hi there \u{fffd}(!"));
    assert!(!line.contains('\x1b'));
}

#[test]
fn a_10_mib_line_is_refused_to_its_sender_only() {
    let server = chat(&[]);
    let (mut a, nick_a) = Client::join(server.addr);
    let (mut b, _) = Client::join(server.addr);
    let base_kib = server.memory_kib("VmRSS");
    let mut writer = a.writer.try_clone().unwrap();
    let flood = thread::spawn(move || {
        let chunk = vec![b'x'; 1 << 20];
        for _ in 0..10 {
            writer.write_all(&chunk).unwrap();
        }
        writer.write_all(b"\nafter the flood\n").unwrap();
    });
    assert_eq!(
        a.line_containing("longer than"),
        "*** line longer than 4096 bytes discarded; nothing was sent"
    );
    flood.join().unwrap();
    assert_eq!(
        b.line_containing("<"),
        format!("<{nick_a}> after the flood")
    );
    let peak = server.memory_kib("VmHWM");
    assert!(
        peak < base_kib + 16 * 1024,
        "peak RSS {peak} KiB (base {base_kib} KiB)"
    );
}

#[test]
fn a_client_that_stops_reading_is_disconnected_others_carry_on() {
    let server = chat(&[
        "--max-output",
        "64KiB",
        "--max-line",
        "64KiB",
        "--rate-limit",
        "0",
    ]);
    // A tiny receive window, so the kernel holds little on its behalf.
    let slow = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow.set_recv_buffer_size(4096).unwrap();
    slow.connect(&server.addr.into()).unwrap();
    let slow: TcpStream = slow.into();
    let slow_nick = {
        let mut welcome = Client {
            reader: BufReader::new(slow.try_clone().unwrap()),
            writer: slow.try_clone().unwrap(),
        };
        welcome.line()["*** welcome to switchboard, ".len()..]
            .split('!')
            .next()
            .unwrap()
            .to_string()
    };
    let (mut a, nick_a) = Client::join(server.addr);
    let (mut b, _) = Client::join(server.addr);
    // A writes big lines; B reads every one; the slow client reads nothing.
    // B's next line after each of A's is either that line or the notice.
    let big = "y".repeat(60_000);
    let left = 'outer: loop {
        a.send(&big);
        loop {
            let line = b.line();
            if line.contains(" left ") {
                break 'outer line;
            }
            if line.starts_with('<') {
                assert_eq!(line, format!("<{nick_a}> {big}"));
                break;
            }
        }
    };
    assert_eq!(
        left,
        format!("*** {slow_nick} left #lobby (too far behind; disconnected)")
    );
    // The room still works, promptly, for everyone else.
    b.send("still here?");
    assert_eq!(
        a.line_containing("<").split("> ").nth(1),
        Some("still here?")
    );
    SockRef::from(&slow)
        .set_linger(Some(std::time::Duration::ZERO))
        .unwrap();
}

#[test]
fn flooding_is_slowed_and_nothing_is_lost() {
    let server = chat(&["--rate-limit", "200", "--burst", "10"]);
    let (mut a, nick_a) = Client::join(server.addr);
    let (mut b, _) = Client::join(server.addr);
    let flood: String = (0..300).map(|i| format!("line {i}\n")).collect();
    a.writer.write_all(flood.as_bytes()).unwrap();
    for i in 0..300 {
        assert_eq!(b.line_containing("<"), format!("<{nick_a}> line {i}"));
    }
}

#[test]
fn over_max_clients_gets_told_and_closed() {
    let server = chat(&["--max-clients", "2"]);
    let (_a, _) = Client::join(server.addr);
    let (_b, _) = Client::join(server.addr);
    let mut c = Client::connect(server.addr);
    assert_eq!(c.rest(), "*** server full, try again later\r\n");
}

#[test]
fn sigint_tells_every_client_before_eof_and_exits_zero() {
    let mut server = chat(&[]);
    let mut clients: Vec<Client> = (0..20).map(|_| Client::join(server.addr).0).collect();
    server.signal(libc::SIGINT);
    for c in &mut clients {
        let rest = c.rest(); // everything up to EOF
        let last = rest.lines().last().unwrap_or_default();
        assert!(last.contains("shutdown"), "last line before EOF: {last:?}");
    }
    drop(clients);
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn coalesced_output_still_leaves_on_shutdown() {
    // Output held for the longest hold allowed: the SIGINT comes well
    // before it ends, so the shutdown is what releases it.
    let mut server = chat(&["--coalesce", "1s"]);
    let mut c = Client::connect(server.addr);
    server.wait_for_log("joined");
    server.signal(libc::SIGINT);
    let rest = c.rest();
    assert!(rest.starts_with("*** welcome"), "{rest:?}");
    assert!(
        rest.lines().last().unwrap_or_default().contains("shutdown"),
        "{rest:?}"
    );
    assert_eq!(server.wait_exit().code(), Some(0));
}

#[test]
fn a_thousand_clients_each_receive_every_message() {
    switchboard_net_raise_fd_limit();
    let server = chat(&["--rate-limit", "0"]);
    let mut clients: Vec<(Client, String)> = (0..1000).map(|_| Client::join(server.addr)).collect();
    // Ten senders, one line each.
    for (c, _) in clients.iter_mut().take(10) {
        c.send("ping");
    }
    let senders: Vec<String> = clients.iter().take(10).map(|(_, n)| n.clone()).collect();
    for (i, (c, nick)) in clients.iter_mut().enumerate() {
        let mut want: Vec<String> = senders
            .iter()
            .filter(|s| *s != nick)
            .map(|s| format!("<{s}> ping"))
            .collect();
        let mut got = Vec::new();
        while got.len() < want.len() {
            got.push(c.line_containing("<"));
        }
        got.sort();
        want.sort();
        assert_eq!(got, want, "client {i}");
    }
}

/// The test process holds 2,000 sockets here; a fresh machine's soft limit
/// may be 1,024.
fn switchboard_net_raise_fd_limit() {
    let (_, hard) = rlimit_nofile();
    // SAFETY: plain setrlimit call.
    unsafe {
        let lim = libc::rlimit {
            rlim_cur: hard,
            rlim_max: hard,
        };
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
    }
}

fn rlimit_nofile() -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: writes into `lim`.
    unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    (lim.rlim_cur, lim.rlim_max)
}

#[test]
fn bench_chat_counts_every_delivery() {
    // Two line listeners, one room: the clients take them in turn, and the
    // room must still have one order.
    let mut server = chat(&["--rate-limit", "0", "--listen", "127.0.0.1:0"]);
    let addrs: Vec<String> = (server.listening_addrs("chat", 2).iter())
        .map(|a| a.to_string())
        .collect();
    let pid = server.pid().to_string();
    let (ticks_before, _) = server.cpu_ticks();
    let v = bench_json(
        &[
            "bench",
            "chat",
            &addrs[0],
            &addrs[1],
            "--clients",
            "20",
            "--senders",
            "3",
            "--window",
            "2",
            "--server-pid",
            &pid,
        ],
        "300ms",
    );
    let sent = v["lines_sent"].as_u64().unwrap();
    assert!(sent > 0);
    assert_eq!(v["expected"].as_u64().unwrap(), sent * 19);
    assert_eq!(v["delivered"], v["expected"]);
    assert_eq!(v["lost"], 0);
    assert_eq!(v["reordered"], 0);
    assert_eq!(v["disconnects"], 0);
    assert_eq!(v["clients_per_addr"][&addrs[0]], 10, "{v}");
    assert_eq!(v["clients_per_addr"][&addrs[1]], 10, "{v}");
    // 8 observers, 28 pairs, each comparing every line.
    assert_eq!(v["room_order"]["lines_compared"], sent * 28, "{v}");
    assert_eq!(v["room_order_violations"], 0);
    assert!(v["deliveries"].as_u64().unwrap() > 0);
    server.assert_measured(&v, ticks_before);
    assert!(v["generator"]["cpu_ns_per_delivery"].as_f64().unwrap() > 0.0);
}
