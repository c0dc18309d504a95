//! The echo service on a real reactor over real loopback sockets, once per
//! poller backend.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, UdpSocket};
use std::thread;
use std::time::{Duration, Instant};

use socket2::SockRef;
use support::*;
use switchboard_net::{Config, PollerKind};
use switchboard_proto::{CloseReason, EchoService};

#[test]
fn echoes_random_binary_full_duplex_16_mib() {
    for &kind in PollerKind::ALL {
        let server = EchoServer::start(kind);
        let data = random_bytes(16 << 20, 1);
        let mut tx = connect(server.addr);
        let mut rx = tx.try_clone().unwrap();
        // Writing and reading at once: neither side may wait for the other.
        let writer = {
            let data = data.clone();
            thread::spawn(move || {
                for chunk in data.chunks(100_003) {
                    tx.write_all(chunk).unwrap();
                }
                tx.shutdown(Shutdown::Write).unwrap();
            })
        };
        let got = read_to_end(&mut rx);
        writer.join().unwrap();
        assert_eq!(got.len(), data.len(), "{kind:?}: length");
        assert!(got == data, "{kind:?}: echo differs from what was sent");
        let stats = server.stop().stats;
        assert_eq!(stats.bytes_in, 16 << 20);
        assert_eq!(stats.bytes_out, 16 << 20);
        assert_eq!(stats.closes(CloseReason::PeerClosed), 1);
    }
}

#[test]
fn half_close_still_gets_everything_back() {
    for &kind in PollerKind::ALL {
        let server = EchoServer::start(kind);
        let data = random_bytes(3 << 20, 2);
        let mut s = connect(server.addr);
        // Written while not reading: the server pauses, then must still
        // echo everything after our FIN instead of closing at once.
        let mut tx = s.try_clone().unwrap();
        let writer = {
            let data = data.clone();
            thread::spawn(move || {
                tx.write_all(&data).unwrap();
                tx.shutdown(Shutdown::Write).unwrap();
            })
        };
        let got = read_to_end(&mut s);
        writer.join().unwrap();
        assert!(
            got == data,
            "{kind:?}: {} of {} bytes came back",
            got.len(),
            data.len()
        );
    }
}

#[test]
fn small_message_then_fin_in_one_segment_is_echoed() {
    // Data and FIN may arrive together; the short-read shortcut must not
    // leave the EOF unread (the connection would hang).
    for &kind in PollerKind::ALL {
        let server = EchoServer::start(kind);
        for i in 0..50 {
            let mut s = connect(server.addr);
            let msg = format!("message {i}");
            s.write_all(msg.as_bytes()).unwrap();
            s.shutdown(Shutdown::Write).unwrap();
            assert_eq!(read_to_end(&mut s), msg.as_bytes(), "{kind:?}");
        }
    }
}

#[test]
fn resets_do_not_disturb_live_connections() {
    for &kind in PollerKind::ALL {
        let server = EchoServer::start(kind);
        let mut live: Vec<TcpStream> = (0..10).map(|_| connect(server.addr)).collect();
        for (i, s) in live.iter_mut().enumerate() {
            assert_echoes(s, format!("before {i}").as_bytes());
        }
        for i in 0..200 {
            let mut s = connect(server.addr);
            s.write_all(&random_bytes(10_000, i)).unwrap();
            if i % 2 == 0 {
                // Make sure some were accepted and are being served.
                let _ = s.read(&mut [0u8; 16]);
            }
            // SO_LINGER 0: close() sends RST instead of FIN.
            SockRef::from(&s).set_linger(Some(Duration::ZERO)).unwrap();
            drop(s);
            if i % 20 == 0 {
                for s in &mut live {
                    assert_echoes(s, b"still here");
                }
            }
        }
        for (i, s) in live.iter_mut().enumerate() {
            assert_echoes(s, format!("after {i}").as_bytes());
        }
        assert_echoes(&mut connect(server.addr), b"new client");
        drop(live);
        let stats = server.stop().stats;
        let closed: u64 = stats.closed.iter().sum();
        assert_eq!(
            closed, stats.accepted,
            "{kind:?}: every accepted connection is closed once"
        );
        assert!(
            stats.closes(CloseReason::Reset) >= 100,
            "{kind:?}: resets counted: {stats}"
        );
    }
}

#[test]
fn a_thousand_concurrent_connections() {
    switchboard_net::raise_fd_limit().unwrap();
    // Client and server sockets share this process: 2,000 descriptors,
    // past what select(2) can watch (tested on its own below).
    for &kind in PollerKind::ALL.iter().filter(|&&k| k != PollerKind::Select) {
        let server = EchoServer::start(kind);
        let mut conns: Vec<TcpStream> = (0..1000).map(|_| connect(server.addr)).collect();
        for (i, s) in conns.iter_mut().enumerate() {
            s.write_all(format!("hello from {i:04}").as_bytes())
                .unwrap();
        }
        for (i, s) in conns.iter_mut().enumerate() {
            let want = format!("hello from {i:04}");
            assert_eq!(read_exact(s, want.len()), want.as_bytes(), "{kind:?}");
        }
        drop(conns);
        assert_eq!(server.stop().stats.accepted, 1000);
    }
}

#[test]
fn select_refuses_what_it_cannot_watch_and_recovers() {
    switchboard_net::raise_fd_limit().unwrap();
    let server = EchoServer::start(PollerKind::Select);
    // 1,100 clients in this process, and as many server sockets: the
    // server's descriptors pass FD_SETSIZE (1,024) after about 500, fewer
    // when the tests running beside this one (in the same process) hold
    // descriptors of their own; a_thousand_concurrent_connections holds
    // 2,000 at its peak.
    let mut conns: Vec<TcpStream> = (0..1100).map(|_| connect(server.addr)).collect();
    let (mut served, mut refused) = (0, 0);
    for s in &mut conns {
        let echoed = s.write_all(b"x").is_ok() && s.read(&mut [0u8; 1]).is_ok_and(|n| n == 1);
        if echoed {
            served += 1;
        } else {
            refused += 1;
        }
    }
    assert!(
        served > 100 && refused > 400 && served + refused == 1100,
        "{served} served, {refused} refused"
    );
    // The ones it watches are still served...
    assert_echoes(&mut conns[0], b"still here");
    drop(conns);
    // ...and once descriptors are free, new clients are served again.
    wait_until("a client to be served again", IO_DEADLINE, || {
        let mut s = connect(server.addr);
        s.write_all(b"y").is_ok() && s.read(&mut [0u8; 1]).is_ok_and(|n| n == 1)
    });
    let stats = server.stop().stats;
    assert_eq!(stats.closes(CloseReason::ServerFull), refused as u64);
}

#[test]
fn udp_echo_on_the_same_port() {
    for &kind in PollerKind::ALL {
        let server = EchoServer::start_with(kind, Config::default(), EchoService::default(), true);
        let udp_addr = server.udp_addr.unwrap();
        assert_eq!(udp_addr.port(), server.addr.port());
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        s.set_read_timeout(Some(IO_DEADLINE)).unwrap();
        for i in 0..20 {
            let msg = random_bytes(1 + i * 100, i as u64);
            s.send_to(&msg, udp_addr).unwrap();
            let mut buf = [0u8; 4096];
            let (n, from) = s.recv_from(&mut buf).unwrap();
            assert_eq!((&buf[..n], from), (&msg[..], udp_addr), "{kind:?}");
        }
        // TCP on the same port still works.
        assert_echoes(&mut connect(server.addr), b"tcp too");
    }
}

#[test]
fn ipv6_loopback_where_available() {
    let addr: SocketAddr = "[::1]:0".parse().unwrap();
    if std::net::TcpListener::bind(addr).is_err() {
        // Written past the test harness's capture, so that a passing run
        // still shows what it could not check; SWITCHBOARD_REQUIRE_IPV6=1
        // (for CI machines that have IPv6) makes it a failure.
        assert!(
            std::env::var_os("SWITCHBOARD_REQUIRE_IPV6").is_none(),
            "no IPv6 loopback, and SWITCHBOARD_REQUIRE_IPV6 is set"
        );
        let _ = writeln!(
            std::io::stderr(),
            "SKIPPED ipv6_loopback_where_available: this machine has no IPv6 loopback"
        );
        return;
    }
    for &kind in PollerKind::ALL {
        let server =
            EchoServer::start_on(addr, kind, Config::default(), EchoService::default(), false)
                .expect("bind [::1]:0");
        assert!(server.addr.is_ipv6());
        assert_echoes(&mut connect(server.addr), b"over IPv6");
    }
}

#[test]
fn connections_over_the_limit_are_closed_others_unaffected() {
    for &kind in PollerKind::ALL {
        let config = Config {
            max_connections: 2,
            ..Config::default()
        };
        let server = EchoServer::start_with(kind, config, EchoService::default(), false);
        let mut a = connect(server.addr);
        let mut b = connect(server.addr);
        assert_echoes(&mut a, b"a");
        assert_echoes(&mut b, b"b");
        let mut c = connect(server.addr);
        assert_eq!(
            read_to_end(&mut c),
            b"",
            "{kind:?}: refused client sees EOF"
        );
        assert_echoes(&mut a, b"a again");
        drop(a);
        // A slot is free again once the server has reaped the first one.
        wait_until("a free slot", IO_DEADLINE, || {
            let mut d = connect(server.addr);
            d.write_all(b"d").is_ok() && d.read(&mut [0u8; 1]).is_ok_and(|n| n == 1)
        });
        drop((b, c));
        assert!(server.stop().stats.closes(CloseReason::ServerFull) >= 1);
    }
}

#[test]
fn idle_connections_are_closed_active_ones_kept() {
    for &kind in PollerKind::ALL {
        let idle = Duration::from_millis(300);
        let config = Config {
            idle_timeout: Some(idle),
            ..Config::default()
        };
        let server = EchoServer::start_with(kind, config, EchoService::default(), false);
        let mut quiet = connect(server.addr);
        let mut busy = connect(server.addr);
        // Keep `busy` active for well over one idle period.
        let mut rounds = 0;
        wait_until("the idle connection to be closed", IO_DEADLINE, || {
            assert_echoes(&mut busy, b"ping");
            rounds += 1;
            quiet.set_nonblocking(true).unwrap();
            let closed = matches!(quiet.read(&mut [0u8; 1]), Ok(0));
            quiet.set_nonblocking(false).unwrap();
            closed
        });
        assert!(rounds > 1);
        assert_echoes(&mut busy, b"still open");
        drop((quiet, busy));
        assert_eq!(server.stop().stats.closes(CloseReason::IdleTimeout), 1);
    }
}

#[test]
fn coalescing_holds_output_for_the_window_and_loses_nothing() {
    for &kind in PollerKind::ALL {
        let window = Duration::from_millis(300);
        let config = Config {
            coalesce: window,
            ..Config::default()
        };
        let server = EchoServer::start_with(kind, config, EchoService::default(), false);
        let mut s = connect(server.addr);
        for round in 0..3 {
            let sent_at = Instant::now();
            s.write_all(b"first ").unwrap();
            s.write_all(b"second").unwrap();
            assert_eq!(read_exact(&mut s, 12), b"first second", "round {round}");
            // The server saw the bytes after `sent_at`, and holds output
            // for the whole window: a lower bound, so noise cannot fail it.
            assert!(sent_at.elapsed() >= window, "round {round}: echoed early");
        }
        drop(s);
        server.stop();
    }
}

#[test]
fn busy_polling_serves_and_still_fires_timers_and_stops() {
    for &kind in PollerKind::ALL {
        // Spinning for an hour must neither delay the idle timer (spins
        // end at the next deadline) nor the shutdown request (an event).
        let config = Config {
            busy_poll: Duration::from_secs(3600),
            idle_timeout: Some(Duration::from_millis(300)),
            ..Config::default()
        };
        let server = EchoServer::start_with(kind, config, EchoService::default(), false);
        let mut s = connect(server.addr);
        for round in 0..10 {
            assert_echoes(&mut s, format!("round {round}").as_bytes());
        }
        wait_until("the idle connection to be closed", IO_DEADLINE, || {
            matches!(s.read(&mut [0u8; 1]), Ok(0))
        });
        assert_eq!(server.stop().stats.closes(CloseReason::IdleTimeout), 1);
    }
}

#[test]
fn shutdown_flushes_pending_output_then_stops() {
    for &kind in PollerKind::ALL {
        let server = EchoServer::start(kind);
        let mut s = connect(server.addr);
        let data = random_bytes(8 << 20, 3);
        let mut tx = s.try_clone().unwrap();
        let writer = {
            let data = data.clone();
            // Ends with an error once the server stops reading for good.
            thread::spawn(move || tx.write_all(&data))
        };
        // The echo backs up until the server pauses reading us.
        wait_stalled(&server, &mut s);
        server.handle().shutdown();
        let got = read_to_end(&mut s);
        let _ = writer.join().unwrap();
        assert!(
            got.len() >= EchoService::DEFAULT_HIGH_WATER,
            "{kind:?}: got {}",
            got.len()
        );
        assert!(
            got == data[..got.len()],
            "{kind:?}: echo is a prefix of what was sent"
        );
        let outcome = server.join();
        assert!(!outcome.forced);
        assert_eq!(outcome.stats.closes(CloseReason::Shutdown), 1);
    }
}

/// Waits until the echo server has stopped reading `s` because its output
/// backed up: no progress on our side while the server still runs.
fn wait_stalled(server: &EchoServer, s: &mut TcpStream) {
    let mut buf = vec![0u8; 16 << 20];
    let mut last = 0;
    wait_until("the server to pause reading", IO_DEADLINE, || {
        s.set_nonblocking(true).unwrap();
        let pending = s.peek(&mut buf).unwrap_or(0);
        s.set_nonblocking(false).unwrap();
        let stalled = pending > 0 && pending == last;
        last = pending;
        thread::sleep(Duration::from_millis(50));
        stalled && server.is_running()
    });
}
