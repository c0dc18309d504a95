//! `switchboard echo` as a user runs it: a real process, real signals.

mod support;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use support::*;

#[test]
fn help_explains_every_flag() {
    let out = bin().args(["echo", "--help"]).output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    for flag in [
        "--listen",
        "--udp",
        "--max-connections",
        "--idle-timeout",
        "--high-water",
        "--shutdown-timeout",
        "--trace",
        "--verbose",
    ] {
        assert!(
            help.contains(flag),
            "echo --help does not mention {flag}:\n{help}"
        );
    }
    assert!(
        help.contains("127.0.0.1:10000"),
        "the default address is shown"
    );
}

#[test]
fn bad_listen_address_is_a_clear_error() {
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = bin().args(["echo", "--listen", &addr]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
}

#[test]
fn trace_prints_the_seed_narrative() {
    let mut server = Server::start(&["echo", "--listen", "127.0.0.1:0", "--trace"]);
    let mut s = connect(server.addr);
    assert_echoes(&mut s, b"hello narrative");
    s.shutdown(Shutdown::Write).unwrap();
    let mut rest = Vec::new();
    s.read_to_end(&mut rest).unwrap();
    for needle in [
        "waiting for the next event",
        "ready=",
        "new connection",
        "received",
        "bytes=15",
        "sent",
        "output queue empty",
        "closing",
        "reason=peer closed",
    ] {
        server.wait_for_log(needle);
    }
}

#[test]
fn seed_client_scenario() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let out = bin()
        .args(["client", &server.addr.to_string()])
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    assert_eq!(stdout.trim(), "ok");
    for msg in ["This is the message. ", "It will be sent ", "in parts."] {
        assert_eq!(
            stderr.matches(&format!("sending {msg:?}")).count(),
            2,
            "{stderr}"
        );
        assert_eq!(
            stderr.matches(&format!("received {msg:?}")).count(),
            2,
            "{stderr}"
        );
    }
    let out = bin()
        .args([
            "client",
            "--connections",
            "5",
            &server.addr.to_string(),
            "one",
            "two",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr)
            .matches("received \"two\"")
            .count(),
        5
    );
}

#[test]
fn client_fails_on_a_wrong_echo() {
    // A server that shouts back instead of echoing.
    let addr = spawn_faulty_echo(|data| data.make_ascii_uppercase());
    let out = bin()
        .args(["client", "--timeout", "5s", &addr.to_string(), "quiet"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MISMATCH"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("received \"QUIET\""));
}

#[test]
fn seed_python_client_passes() {
    // Uses ../shared (the seeds), which only developers and CI have: skips
    // visibly without it (see `support::skip`).
    const TEST: &str = "seed_python_client_passes";
    let Some(shared) = shared_dir() else {
        return skip(TEST, "../shared/seeds is not beside this checkout");
    };
    if !have_python3() {
        return skip(TEST, "python3 is not installed");
    }
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let out = std::process::Command::new("python3")
        .arg(shared.join("seeds/runnable/client.py"))
        .args([server.addr.port().to_string(), "127.0.0.1".to_string()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}

/// A 1,000,003-byte block (prime length) repeated: a misplaced or repeated
/// chunk anywhere in the stream shows up as a mismatch.
fn stream_byte_block() -> Arc<Vec<u8>> {
    let mut rng = fastrand::Rng::with_seed(42);
    Arc::new((0..1_000_003).map(|_| rng.u8(..)).collect())
}

/// Writes `total` bytes of the repeated block, counting progress.
fn spawn_writer(
    mut s: std::net::TcpStream,
    block: Arc<Vec<u8>>,
    total: u64,
    progress: Arc<AtomicU64>,
) -> thread::JoinHandle<std::io::Result<()>> {
    thread::spawn(move || {
        let mut sent = 0u64;
        while sent < total {
            let off = (sent % block.len() as u64) as usize;
            let n = (block.len() - off)
                .min((total - sent) as usize)
                .min(64 * 1024);
            s.write_all(&block[off..off + n])?;
            sent += n as u64;
            progress.store(sent, Ordering::Relaxed);
        }
        s.shutdown(Shutdown::Write)
    })
}

/// Waits until `progress` stops moving: the peer stopped reading.
fn wait_for_stall(progress: &AtomicU64) {
    let mut last = u64::MAX;
    wait_until("the writer to stall", || {
        let now = progress.load(Ordering::Relaxed);
        let stalled = now > 0 && now == last;
        last = now;
        thread::sleep(std::time::Duration::from_millis(100));
        stalled
    });
}

#[test]
fn never_reading_client_cannot_grow_the_server_and_loses_nothing() {
    const TOTAL: u64 = 256 << 20;
    const BOUND_KIB: u64 = 64 * 1024;
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let base_kib = server.memory_kib("VmRSS");
    let mut s = connect(server.addr);
    let block = stream_byte_block();
    let progress = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(
        s.try_clone().unwrap(),
        block.clone(),
        TOTAL,
        progress.clone(),
    );

    // Phase 1: we do not read. The server must pause us, not buffer 256 MiB.
    wait_for_stall(&progress);
    let stalled_at = progress.load(Ordering::Relaxed);
    assert!(
        stalled_at < TOTAL / 4,
        "server kept reading: {stalled_at} bytes taken"
    );
    let rss_kib = server.memory_kib("VmRSS");
    assert!(
        rss_kib < base_kib + BOUND_KIB,
        "RSS {rss_kib} KiB while paused (base {base_kib})"
    );

    // Phase 2: read everything back and check every byte.
    let mut buf = vec![0u8; 1 << 20];
    let mut got = 0u64;
    while got < TOTAL {
        let n = s.read(&mut buf).unwrap();
        assert!(n > 0, "EOF after {got} of {TOTAL} bytes");
        let mut chunk = &buf[..n];
        while !chunk.is_empty() {
            let off = (got % block.len() as u64) as usize;
            let k = chunk.len().min(block.len() - off);
            assert!(
                chunk[..k] == block[off..off + k],
                "corrupt echo at byte {got}"
            );
            chunk = &chunk[k..];
            got += k as u64;
        }
    }
    writer.join().unwrap().unwrap();
    assert_eq!(
        s.read(&mut buf).unwrap(),
        0,
        "EOF after the echo of our FIN"
    );
    let peak_kib = server.memory_kib("VmHWM");
    assert!(
        peak_kib < base_kib + BOUND_KIB,
        "peak RSS {peak_kib} KiB (base {base_kib}) for 256 MiB"
    );
}

#[test]
fn sigint_flushes_pending_output_and_exits_zero() {
    let mut server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let mut s = connect(server.addr);
    let block = stream_byte_block();
    let progress = Arc::new(AtomicU64::new(0));
    let writer = spawn_writer(
        s.try_clone().unwrap(),
        block.clone(),
        32 << 20,
        progress.clone(),
    );
    wait_for_stall(&progress);
    server.signal(libc::SIGINT);
    server.wait_for_log("shutting down");
    let mut got = Vec::new();
    s.read_to_end(&mut got).unwrap();
    // Everything the server had taken in comes back: at least its pending
    // output (the high-water mark), and in order.
    assert!(got.len() >= 256 * 1024, "only {} bytes flushed", got.len());
    for (i, chunk) in got.chunks(block.len()).enumerate() {
        assert!(chunk == &block[..chunk.len()], "corrupt flush in block {i}");
    }
    drop(s);
    let _ = writer.join();
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(0), "log:\n{}", server.log.join("\n"));
    assert!(server.log.iter().any(|l| l.contains("reactor stopped")));
}

#[test]
fn second_sigint_exits_at_once() {
    let mut server = Server::start(&[
        "echo",
        "--listen",
        "127.0.0.1:0",
        "--shutdown-timeout",
        "10m",
    ]);
    let s = connect(server.addr);
    let progress = Arc::new(AtomicU64::new(0));
    // Never read: the graceful shutdown would wait for us for 10 minutes.
    let writer = spawn_writer(
        s.try_clone().unwrap(),
        stream_byte_block(),
        32 << 20,
        progress.clone(),
    );
    wait_for_stall(&progress);
    server.signal(libc::SIGINT);
    server.wait_for_log("shutting down");
    server.signal(libc::SIGINT);
    let status = server.wait_exit();
    assert_eq!(status.code(), Some(130));
    assert!(server
        .log
        .iter()
        .any(|l| l.contains("second shutdown request")));
    drop(s);
    let _ = writer.join();
}

#[test]
fn out_of_descriptors_backs_off_logs_once_and_resumes() {
    use std::os::unix::process::CommandExt;
    const FD_LIMIT: u64 = 32;
    let mut command = bin();
    command.args(["echo", "--listen", "127.0.0.1:0", "--trace"]);
    // SAFETY: setrlimit is async-signal-safe; nothing else runs in the child.
    unsafe {
        command.pre_exec(|| {
            let limit = libc::rlimit {
                rlim_cur: FD_LIMIT,
                rlim_max: FD_LIMIT,
            };
            match libc::setrlimit(libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let mut server = Server::start_command(&mut command);
    // More clients than descriptors: the kernel completes their handshakes
    // (backlog), the server cannot accept them all.
    let mut clients: Vec<_> = (0..2 * FD_LIMIT).map(|_| connect(server.addr)).collect();
    server.wait_for_log("out of descriptors");
    // Backing off, not spinning: count loop turns over a short window
    // (spinning makes thousands; the 100 ms back-off a handful).
    let waits = server
        .log_during(std::time::Duration::from_millis(500))
        .iter()
        .filter(|l| l.contains("waiting for the next event"))
        .count();
    // At least one: the log still tells each turn (else this proves nothing).
    assert!(
        (1..200).contains(&waits),
        "{waits} loop turns in 500 ms while out of descriptors"
    );
    // Freeing descriptors lets every waiting client in, in time.
    clients.truncate(4);
    server.wait_for_log("accepting connections again");
    for s in clients.iter_mut() {
        assert_echoes(s, b"first ones still served");
    }
    let mut late = connect(server.addr);
    assert_echoes(&mut late, b"and new ones too");
    let warnings = server
        .log
        .iter()
        .filter(|l| l.contains("out of descriptors"))
        .count();
    assert_eq!(warnings, 1, "logged once per episode");
}

#[test]
fn bench_echo_measures_and_verifies() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let (addr, pid) = (server.addr.to_string(), server.pid().to_string());
    let (ticks_before, _) = server.cpu_ticks();
    let v = bench_json(
        &[
            "bench",
            "echo",
            &addr,
            "-c",
            "4",
            "-s",
            "1000",
            "-p",
            "2",
            "--server-pid",
            &pid,
        ],
        "300ms",
    );
    assert!(v["round_trips"].as_u64().unwrap() > 0);
    assert_eq!(v["corrupt"], 0);
    assert_eq!(v["errors"], 0);
    assert!(v["latency"]["p99_us"].as_u64().unwrap() > 0);
    server.assert_measured(&v, ticks_before);
    assert!(v["generator"]["cpu_us_per_round_trip"].as_f64().unwrap() > 0.0);
}

/// Messages far larger than the socket buffers: the generator's writes
/// block, and it must resume them (WRITABLE) and still verify every byte.
#[test]
fn bench_echo_handles_messages_larger_than_socket_buffers() {
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let addr = server.addr.to_string();
    let v = bench_json(
        &["bench", "echo", &addr, "-c", "2", "-s", "8MiB", "-p", "2"],
        "500ms",
    );
    assert!(v["round_trips"].as_u64().unwrap() > 0, "{v}");
    assert_eq!(v["corrupt"], 0);
    assert_eq!(v["errors"], 0);
}

/// Past `--per-source` connections, load comes from 127.0.0.2, .3, ...:
/// the way beyond one address's ephemeral ports.
#[test]
fn bench_spreads_connections_over_source_addresses() {
    let mut server = Server::start(&["echo", "--listen", "127.0.0.1:0", "-v"]);
    let addr = server.addr.to_string();
    bench_json(
        &[
            "bench",
            "echo",
            &addr,
            "-c",
            "6",
            "--per-source",
            "2",
            "--quiet",
        ],
        "200ms",
    );
    for source in ["peer=127.0.0.1:", "peer=127.0.0.2:", "peer=127.0.0.3:"] {
        server.wait_for_log(source);
    }
}

/// A connection count the descriptor limit cannot hold is refused up front
/// with what to do about it, not with a failure half-way.
#[test]
fn bench_explains_a_too_low_descriptor_limit() {
    use std::os::unix::process::CommandExt;
    let server = Server::start(&["echo", "--listen", "127.0.0.1:0"]);
    let mut cmd = bin();
    cmd.args(["bench", "echo", &server.addr.to_string(), "-c", "500"])
        .args(["--duration", "100ms", "--warmup", "0s", "--quiet"]);
    // SAFETY: setrlimit is async-signal-safe; the child only lowers its own
    // limit between fork and exec.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 100,
                rlim_max: 100,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    let out = cmd.output().unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("file descriptors"), "{err}");
    assert!(err.contains("ulimit"), "{err}");
}

#[test]
fn bench_echo_catches_a_corrupting_server() {
    let addr = spawn_faulty_echo(|data| data[data.len() / 2] ^= 1); // a flipped bit per read
    let out = bin()
        .args([
            "bench",
            "echo",
            &addr.to_string(),
            "-c",
            "2",
            "--duration",
            "200ms",
            "--warmup",
            "0s",
            "--json",
        ])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    // Each connection stops at its first corrupt echo: one per connection.
    assert_eq!(v["corrupt"], 2, "{v}");
    assert_eq!(v["errors"], 2, "{v}");
}
