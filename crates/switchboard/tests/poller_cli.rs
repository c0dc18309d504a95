//! `--poller`: the seeds' own `select(2)` and `poll(2)` beside epoll, on the
//! real binary over 127.0.0.1:0. (The other suites run once per backend in
//! CI, with `SWITCHBOARD_POLLER` set.)

mod support;

use std::io::{Read, Write};
use std::net::TcpStream;

use support::*;

/// Raises this process's soft descriptor limit to its hard limit: the test
/// holds over a thousand client sockets.
fn raise_fd_limit() {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        assert_eq!(libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim), 0);
        lim.rlim_cur = lim.rlim_max;
        assert_eq!(libc::setrlimit(libc::RLIMIT_NOFILE, &lim), 0);
    }
    assert!(
        lim.rlim_cur >= 1200,
        "need 1,200 descriptors, have {}",
        lim.rlim_cur
    );
}

/// Whether `s` echoes one byte.
fn echoes(s: &mut TcpStream) -> bool {
    s.write_all(b"x").is_ok() && s.read(&mut [0u8; 1]).is_ok_and(|n| n == 1)
}

#[test]
fn select_refuses_connections_past_fd_setsize_says_so_once_and_recovers() {
    raise_fd_limit();
    let mut server = Server::start(&[
        "echo",
        "--listen",
        "127.0.0.1:0",
        "--poller",
        "select",
        "-v",
    ]);
    server.wait_for_log("poller=\"select\"");
    let mut conns: Vec<TcpStream> = (0..1100).map(|_| connect(server.addr)).collect();
    let served = conns.iter_mut().map(echoes).filter(|&ok| ok).count();
    // The server's descriptors pass 1,023 after about 1,015 connections.
    assert!((1000..1024).contains(&served), "{served} served of 1,100");
    let line = server.wait_for_log("FD_SETSIZE");
    assert!(
        line.contains("limit=1024") && line.contains("--poller poll or epoll"),
        "{line}"
    );
    drop(conns);
    // Every one of them closed by the server: with several threads, one
    // still closing the first burst's connections during the second would
    // free low descriptors then, ending that episode early and starting
    // another (correctly logged again, but not what this test counts).
    server.wait_for_log_count("disconnected", served);
    // The client served again stays connected through the second burst:
    // its close, too, would free a low descriptor in the middle of it.
    let mut served_again = None;
    wait_until("a client to be served again", || {
        let mut probe = connect(server.addr);
        let ok = echoes(&mut probe);
        if ok {
            served_again = Some(probe);
        }
        ok
    });
    // A second episode is logged again.
    let mut more: Vec<TcpStream> = (0..1100).map(|_| connect(server.addr)).collect();
    let served = more.iter_mut().map(echoes).filter(|&ok| ok).count();
    assert!(served < 1024);
    drop(more);
    drop(served_again);
    server.signal(libc::SIGINT);
    assert!(server.wait_exit().success());
    let episodes = server
        .log
        .iter()
        .filter(|l| l.contains("FD_SETSIZE"))
        .count();
    assert_eq!(episodes, 2, "once per episode:\n{}", server.log.join("\n"));
}

#[test]
fn each_poller_serves_the_seed_scenario_and_traces_it_in_the_seeds_terms() {
    for poller in ["epoll", "poll", "select"] {
        let mut server = Server::start(&[
            "echo",
            "--listen",
            "127.0.0.1:0",
            "--poller",
            poller,
            "--trace",
        ]);
        let out = bin()
            .args(["client", &server.addr.to_string()])
            .output()
            .unwrap();
        assert!(out.status.success(), "{poller}: {:?}", out);
        server.wait_for_log(&format!("poller=\"{poller}\""));
        let ready = server.wait_for_log("readable=[127.0.0.1:");
        assert!(
            ready.contains("writable=[") && ready.contains("exceptional=["),
            "{ready}"
        );
        server.wait_for_log("readable=[listening socket 127.0.0.1:");
    }
}
