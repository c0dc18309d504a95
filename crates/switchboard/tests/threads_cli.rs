//! `--threads N`: one server of several event-loop threads behaves as one.
//! Line and IRC clients spread over the threads by the kernel share one
//! room, in one order; nicks are unique, listings and private messages
//! span the threads; the connection limit is the process's; echo spreads
//! too. (Every other suite runs with the default, one thread per core, and
//! `.ci/run` runs the chat suites again with `SWITCHBOARD_THREADS` 2 and 4:
//! the web and TLS front-ends across threads are tested there.) Real
//! sockets on 127.0.0.1:0; every wait has a deadline.

mod support;

use std::io::Write;
use std::net::TcpStream;
use std::time::Instant;

use support::room_client::*;
use support::*;

/// Each reactor's share of the connections, from the exit summary's
/// per-thread lines.
fn connections_per_thread(server: &Server) -> Vec<u64> {
    (server.log.iter())
        .filter(|l| l.contains("reactor stopped"))
        .map(|l| {
            let stats = l.split("stats=").nth(1).unwrap();
            stats.split(' ').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// Many senders of both protocols, spread over the threads, all sending
/// at once: every member gets every other member's lines exactly once,
/// each sender's in the order sent, and all members in one order.
fn a_room_spans_threads_in_one_order(threads: usize) {
    const LINES: u32 = 200;
    let mut args = CHAT.to_vec();
    let threads_arg = threads.to_string();
    args.extend(["--rate-limit", "0", "--threads", &threads_arg]);
    let mut server = Server::start(&args);
    let irc = server.listening_addr("irc");
    let mut clients: Vec<Client> = (0..6 * threads)
        .map(|i| Client::line(server.addr, &format!("l{i}")))
        .chain((0..3 * threads).map(|i| Client::irc(irc, &format!("i{i}"))))
        .collect();
    // Everyone is in: the last one to join has been seen by all.
    let last = clients.last().unwrap().name.clone();
    for c in clients.iter_mut().rev().skip(1) {
        c.expect(&last);
    }
    // Each client's lines in one write, all clients at once: the threads
    // take them in big turns, side by side.
    assert_one_room_order(&mut clients, LINES);
    drop(clients);
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    let shares = connections_per_thread(&server);
    assert_eq!(shares.len(), threads, "{}", server.log.join("\n"));
    assert!(
        shares.iter().all(|&n| n > 0),
        "every thread served some of the clients: {shares:?}"
    );
}

#[test]
fn a_room_spans_two_threads_in_one_order() {
    a_room_spans_threads_in_one_order(2);
}

#[test]
fn a_room_spans_four_threads_in_one_order() {
    a_room_spans_threads_in_one_order(4);
}

/// Clients on four threads race for one nick: exactly one gets it. Who,
/// names and private messages reach across the threads, and a quit is
/// seen everywhere.
#[test]
fn nicks_listings_and_private_messages_span_threads() {
    let mut args = CHAT.to_vec();
    args.extend(["--rate-limit", "0", "--threads", "4"]);
    let mut server = Server::start(&args);
    let irc = server.listening_addr("irc");
    let mut clients: Vec<Client> = (0..16)
        .map(|i| Client::line(server.addr, &format!("p{i}")))
        .collect();
    for c in &mut clients {
        c.send("/nick racer");
    }
    let mut winners = Vec::new();
    for (i, c) in clients.iter_mut().enumerate() {
        // Its own answer (the winner's news may come first).
        let answer = loop {
            let line = c.next();
            if line.contains("you are now known as racer") || line.contains("racer is taken") {
                break line;
            }
        };
        if answer.contains("you are now known as racer") {
            winners.push(i);
        }
    }
    assert_eq!(winners.len(), 1, "one nick, one owner: {winners:?}");
    let racer = winners[0];
    // An IRC client sees all 16 in NAMES and WHO, wherever they are.
    let mut op = Client::irc(irc, "watcher");
    op.send("NAMES #lobby");
    let mut names = String::new();
    loop {
        let line = op.next();
        if line.contains(" 366 ") {
            break;
        }
        if line.contains(" 353 ") {
            names.push_str(line.rsplit_once(':').unwrap().1);
            names.push(' ');
        }
    }
    assert_eq!(names.split_whitespace().count(), 17, "{names}");
    assert!(names
        .split_whitespace()
        .any(|n| n.trim_start_matches('@') == "racer"));
    op.send("WHO #lobby");
    let mut who = 0;
    while !op.next().contains(" 315 ") {
        who += 1;
    }
    assert_eq!(who, 17);
    // Private messages to the racer, from every thread, and from IRC.
    for (i, c) in clients.iter_mut().enumerate() {
        if i != racer {
            c.send(&format!("/msg racer from p{i}"));
        }
    }
    op.send("PRIVMSG racer :from watcher");
    let mut from = Vec::new();
    while from.len() < 16 {
        let line = clients[racer].next();
        if let Some(text) = line.strip_prefix("[msg] ") {
            from.push(text.rsplit_once(' ').unwrap().1.to_string());
        }
    }
    from.sort();
    let mut want: Vec<String> = (0..16)
        .filter(|&i| i != racer)
        .map(|i| format!("p{i}"))
        .chain(["watcher".to_string()])
        .collect();
    want.sort();
    assert_eq!(from, want);
    // A quit on one thread reaches the others.
    clients[racer].send("/quit bye");
    op.expect(":racer!");
    let other = (racer + 1) % 16;
    clients[other].expect("racer left #lobby (quit: bye)");
    // And the nick is free again, for a client on any thread.
    clients[other].send("/nick racer");
    clients[other].expect("you are now known as racer");
    drop(clients);
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
}

/// `--max-clients` is for the process: four threads hold five clients in
/// all, and the next ones are told the server is full.
#[test]
fn max_clients_is_for_the_process_not_per_thread() {
    let mut args = CHAT.to_vec();
    args.extend(["--threads", "4", "--max-clients", "5"]);
    let server = Server::start(&args);
    let mut held = Vec::new();
    let mut refused = 0;
    let deadline = Instant::now() + DEADLINE;
    while held.len() + refused < 12 {
        assert!(Instant::now() < deadline);
        let mut c = Client::over(connect(server.addr), false, "x");
        let first = c.next();
        if first.contains("welcome to switchboard") {
            held.push(c);
        } else {
            assert!(first.contains("full"), "{first}");
            refused += 1;
        }
    }
    assert_eq!(held.len(), 5, "five in, on whatever threads");
    assert_eq!(refused, 7);
}

/// Echo needs nothing more than its reactors: each thread echoes its own
/// clients, over TCP and UDP on one port.
#[test]
fn echo_spreads_over_threads() {
    let mut server = Server::start(&["echo", "--listen", "127.0.0.1:0", "--udp", "--threads", "3"]);
    let mut clients: Vec<TcpStream> = (0..24).map(|_| connect(server.addr)).collect();
    for (i, s) in clients.iter_mut().enumerate() {
        assert_echoes(s, format!("client {i}").as_bytes());
    }
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    udp.set_read_timeout(Some(DEADLINE)).unwrap();
    udp.send_to(b"over udp", server.addr).unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = udp.recv_from(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"over udp");
    drop(clients);
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    let shares = connections_per_thread(&server);
    assert_eq!(shares.iter().sum::<u64>(), 24, "{shares:?}");
    assert!(shares.iter().all(|&n| n > 0), "{shares:?}");
}

/// Newcomers to a room that four clients flood without a rate limit, on
/// any thread: each is welcomed, in time, and first. In time: a thread
/// whose clients flood must not take in lines faster than the other
/// threads hand them out (before, the other thread did nothing else and
/// newcomers waited forever). First: lines that another thread's members
/// said just before a join are held for batching when the join is
/// applied; they go to the room as it was, not to the newcomer.
#[test]
fn a_newcomer_to_a_busy_room_hears_nothing_said_before_it_arrived() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut args = CHAT.to_vec();
    args.extend(["--rate-limit", "0", "--threads", "2"]);
    let server = Server::start(&args);
    let stop = Arc::new(AtomicBool::new(false));
    let talkers: Vec<_> = (0..4)
        .map(|i| {
            let mut c = Client::line(server.addr, &format!("t{i}"));
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut reader = c.reader.get_ref().try_clone().unwrap();
                std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
                let line: Vec<String> = (0..20).map(|n| format!("busy {n}")).collect();
                while !stop.load(Ordering::Relaxed) {
                    c.say_all(&line);
                }
            })
        })
        .collect();
    for i in 0..40 {
        let mut c = Client::over(connect(server.addr), false, &format!("n{i}"));
        let first = c.next();
        assert!(
            first.contains("welcome to switchboard"),
            "newcomer {i} first heard {first:?}"
        );
    }
    stop.store(true, Ordering::Relaxed);
    for t in talkers {
        t.join().unwrap();
    }
}

/// Private messages flooding a client that does not read, from line and
/// IRC clients on every thread: each sender is told, in its protocol's
/// words, whichever thread it is on, and the recipient is spared (not cut
/// off for falling behind).
#[test]
fn a_private_message_flood_is_refused_across_threads() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut args = CHAT.to_vec();
    args.extend([
        "--rate-limit",
        "0",
        "--max-output",
        "64KiB",
        "--threads",
        "4",
    ]);
    let mut server = Server::start(&args);
    let irc = server.listening_addr("irc");
    let mut victim = Client::line(server.addr, "victim");
    let stop = Arc::new(AtomicBool::new(false));
    let mut senders: Vec<Client> = (0..8)
        .map(|i| Client::line(server.addr, &format!("s{i}")))
        .chain((0..4).map(|i| Client::irc(irc, &format!("r{i}"))))
        .collect();
    let writers: Vec<_> = senders
        .iter()
        .map(|c| {
            let mut w = c.writer.try_clone().unwrap();
            let line = match c.irc {
                // IRC's lines are 512 bytes at most.
                true => format!("PRIVMSG victim :{}\r\n", "x".repeat(400)),
                false => format!("/msg victim {}\n", "x".repeat(3000)),
            };
            let stop = stop.clone();
            std::thread::spawn(move || {
                for _ in 0..2_000 {
                    if stop.load(Ordering::Relaxed) || w.write_all(line.as_bytes()).is_err() {
                        return;
                    }
                }
            })
        })
        .collect();
    for c in &mut senders {
        let told = match c.irc {
            true => c.expect(" 439 "),
            false => c.expect("victim is not keeping up"),
        };
        assert!(told.contains("victim"), "{told}");
    }
    stop.store(true, Ordering::Relaxed);
    for w in writers {
        w.join().unwrap();
    }
    // The recipient reads its backlog and is still there.
    victim.send("/who");
    victim.expect("*** in #lobby (13)");
}

/// A reload refused for a bad certificate changes nothing on any thread:
/// the settings are read and checked once, then handed to every thread.
/// (Before, only the first thread checked the certificate; the others took
/// the new settings, a new announce limit among them, which the log spread
/// to every thread.)
#[test]
fn a_refused_reload_changes_no_thread() {
    let dir = std::env::temp_dir().join(format!("switchboard-threads-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (cert, key, config) = (
        dir.join("cert.pem"),
        dir.join("key.pem"),
        dir.join("chat.conf"),
    );
    let made = bin()
        .args([
            "cert",
            "--cert",
            cert.to_str().unwrap(),
            "--key",
            key.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    std::fs::write(&config, "announce-limit = 0\n").unwrap();
    let mut args = CHAT.to_vec();
    let (cert_arg, key_arg, config_arg) = (
        cert.to_str().unwrap(),
        key.to_str().unwrap(),
        config.to_str().unwrap(),
    );
    args.extend(["--threads", "2", "--listen-tls", "127.0.0.1:0"]);
    args.extend([
        "--tls-cert",
        cert_arg,
        "--tls-key",
        key_arg,
        "--config",
        config_arg,
    ]);
    let mut server = Server::start(&args);
    let mut watcher = Client::line(server.addr, "watcher");
    // A new limit that would summarize every join, and a broken certificate.
    std::fs::write(&config, "announce-limit = 1\n").unwrap();
    std::fs::write(&cert, "not a certificate\n").unwrap();
    server.signal(libc::SIGHUP);
    server.wait_for_log("reload failed");
    // Arrivals on both threads are still told one by one (with the new
    // limit, they would come in a summary a second later).
    let _others: Vec<Client> = (0..6)
        .map(|_| {
            let mut c = Client::over(connect(server.addr), false, "late");
            c.expect("welcome to switchboard");
            c
        })
        .collect();
    for _ in 0..6 {
        let line = watcher.expect(" joined");
        assert!(
            line.ends_with("joined #lobby"),
            "not told one by one: {line}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
