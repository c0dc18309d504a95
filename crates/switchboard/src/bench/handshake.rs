//! `switchboard bench chat --connect-only`: how fast a server takes new
//! clients. `--clients` connections at a time each connect (with `--tls`,
//! make a full TLS handshake), wait for the greeting's ready line, close,
//! and make way for the next, for `--duration`; every completed one counts.
//! Without `--tls` this is the baseline: a TCP handshake and the greeting.

use std::io::{self, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use hdrhistogram::Histogram;
use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use rustls::ClientConnection;
use serde_json::{json, Value};

use super::chat::{read_available, Dialect};
use super::connector::{explain, is_connected};
use super::tls::{self, TlsClient};
use super::{addr_list, latency_json, latency_line, Connector, Progress, ServerProbe};
use crate::cli::BenchChatArgs;

/// Read buffers: encrypted bytes, and what they decrypt to.
const BUF: usize = 16 * 1024;

/// One connection on its way in.
struct Attempt {
    stream: TcpStream,
    tls: Option<Box<ClientConnection>>,
    started: Instant,
    connected: bool,
    /// The ready marker was seen.
    ready: bool,
    /// The tail of what arrived, in case the marker straddles two reads.
    tail: Vec<u8>,
    /// The greeting, until it is sent (with TLS: handed to the session).
    out: Vec<u8>,
}

/// What one run measured.
pub struct Outcome {
    /// Connections that completed inside the measured window.
    pub handshakes: u64,
    /// Of those, TLS sessions that were resumed (`--tls-resume`).
    pub resumed: u64,
    /// Connections that failed at any time (refused, reset, closed before
    /// their greeting, a TLS error), and the first such error.
    pub failed: u64,
    pub first_error: Option<String>,
    /// Connections still in progress when the window ended (not counted).
    pub unfinished: usize,
    /// From the connect's start to the ready line, per completed
    /// connection in the window.
    pub latency: Histogram<u64>,
    /// The server's CPU time over the window and its peak RSS.
    pub server: Option<(Duration, u64)>,
    /// The generator's own CPU time over the window.
    pub generator_cpu: Duration,
    /// `--tls`: what the first completed session negotiated.
    pub tls: Option<Value>,
}

pub fn run(args: &BenchChatArgs) -> Result<ExitCode> {
    let outcome = measure(args)?;
    report(args, &outcome);
    Ok(if outcome.failed == 0 && outcome.handshakes > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Connects, greets and closes `args.clients` at a time until the window
/// ends.
pub fn measure(args: &BenchChatArgs) -> Result<Outcome> {
    if args.clients == 0 {
        bail!("--connect-only needs --clients of at least 1 (connections in progress at once)");
    }
    let _ = switchboard_net::raise_fd_limit();
    let dialect = Dialect::new(args);
    let ready = dialect.ready.as_bytes();
    let tls_client = TlsClient::from_args(args)?;
    let connector = Connector::new(&args.addrs, args.load.per_source, 1);
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(1024);
    let mut slots: Vec<Option<Attempt>> = (0..args.clients).map(|_| None).collect();
    let (mut raw, mut plain) = (vec![0; BUF], vec![0; BUF]);
    let mut latency = Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds");
    let (mut started, mut handshakes, mut resumed, mut failed) = (0usize, 0u64, 0u64, 0u64);
    let mut first_error = None;
    let mut tls_info = None;

    let start = Instant::now();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let (mut probe, mut own) = (None, None);
    let mut progress = Progress::new(args.load.quiet, "connections", measure_from, end);
    loop {
        let now = Instant::now();
        if own.is_none() && now >= measure_from {
            probe = args.load.server_pid.map(ServerProbe::start).transpose()?;
            own = Some(ServerProbe::start(std::process::id())?);
            (handshakes, resumed) = (0, 0);
            latency.reset();
        }
        if now >= end {
            break;
        }
        progress.update(now, handshakes);
        for (i, slot) in slots.iter_mut().enumerate() {
            if slot.is_none() {
                let attempt = begin(&connector, started, &dialect, tls_client.as_ref())
                    .and_then(|mut a| {
                        poll.registry().register(
                            &mut a.stream,
                            Token(i),
                            Interest::READABLE | Interest::WRITABLE,
                        )?;
                        Ok(a)
                    })
                    .map_err(|e| explain(e, started))?;
                *slot = Some(attempt);
                started += 1;
            }
        }
        let next = if now < measure_from {
            measure_from
        } else {
            end
        };
        let wait = next.saturating_duration_since(now).min(progress.max_wait());
        super::wait(&mut poll, &mut events, wait)?;
        for event in &events {
            let i = event.token().0;
            let Some(attempt) = slots[i].as_mut() else {
                continue;
            };
            match step(attempt, ready, &mut raw, &mut plain) {
                Ok(false) => continue,
                Ok(true) => {
                    if own.is_some() {
                        // A clock read per connection: a handshake takes
                        // the tool long enough that the wake-up's time
                        // would understate the later ones of a batch.
                        let now = Instant::now();
                        handshakes += 1;
                        resumed += u64::from(attempt.tls.as_deref().is_some_and(tls::resumed));
                        let us = now.saturating_duration_since(attempt.started).as_micros();
                        let _ = latency.record((us as u64).max(1));
                    }
                    if tls_info.is_none() {
                        tls_info = attempt.tls.as_deref().map(tls::describe);
                    }
                }
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| format!("connection {i}: {e}"));
                }
            }
            if let Some(attempt) = slots[i].take() {
                close(attempt, poll.registry());
            }
        }
    }
    progress.finish();
    let unfinished = slots.iter().flatten().count();
    let server = probe
        .map(|p| -> Result<_> { Ok((p.cpu_used()?, p.peak_rss()?)) })
        .transpose()?;
    let generator_cpu = own.map(|p| p.cpu_used()).transpose()?.unwrap_or_default();
    Ok(Outcome {
        handshakes,
        resumed,
        failed,
        first_error,
        unfinished,
        latency,
        server,
        generator_cpu,
        tls: tls_info,
    })
}

/// Starts connection `n`: a non-blocking connect, and its TLS session.
fn begin(
    connector: &Connector,
    n: usize,
    dialect: &Dialect,
    tls_client: Option<&TlsClient>,
) -> Result<Attempt> {
    let started = Instant::now();
    Ok(Attempt {
        stream: connector.start_spread(n)?,
        tls: tls_client
            .map(TlsClient::connection)
            .transpose()?
            .map(Box::new),
        started,
        connected: false,
        ready: false,
        tail: Vec::new(),
        out: dialect.greeting(n, connector.target_of(n)),
    })
}

/// Moves an attempt on after an event. Returns whether it is done: in
/// the room (the ready marker arrived; with TLS, the handshake is
/// complete too).
fn step(a: &mut Attempt, ready: &[u8], raw: &mut [u8], plain: &mut [u8]) -> io::Result<bool> {
    if !a.connected {
        if !is_connected(&a.stream)? {
            return Ok(false);
        }
        a.connected = true;
    }
    let Some(session) = a.tls.as_deref_mut() else {
        write_out(&mut a.stream, &mut a.out)?;
        a.ready |= ready.is_empty();
        // Read all there is, so that the close is a FIN, not the reset
        // that closing with unread data makes.
        loop {
            let (n, more) = read_available(&mut a.stream, raw)?;
            a.ready = a.ready || seen(&mut a.tail, &raw[..n], ready);
            if !more {
                return Ok(a.ready);
            }
        }
    };
    tls::flush(session, &mut a.out, &mut a.stream)?;
    a.ready |= ready.is_empty();
    loop {
        let (n, more) = read_available(&mut a.stream, raw)?;
        let mut rest = &raw[..n];
        while !rest.is_empty() {
            tls::feed(session, &mut rest)?;
            loop {
                let (n, more) = tls::read_plaintext(session, plain)?;
                a.ready = a.ready || seen(&mut a.tail, &plain[..n], ready);
                if !more {
                    break;
                }
            }
        }
        if !more {
            break;
        }
    }
    // The handshake's next flight (the client's Finished).
    tls::flush(session, &mut a.out, &mut a.stream)?;
    Ok(a.ready && !session.is_handshaking())
}

/// Whether `marker` occurs in what arrived so far (`tail`, then `new`);
/// keeps in `tail` only what could begin a later occurrence.
fn seen(tail: &mut Vec<u8>, new: &[u8], marker: &[u8]) -> bool {
    if new.is_empty() {
        return false;
    }
    tail.extend_from_slice(new);
    if memmem::find(tail, marker).is_some() {
        return true;
    }
    let keep = marker.len().saturating_sub(1).min(tail.len());
    tail.drain(..tail.len() - keep);
    false
}

/// Writes `out` until it is sent or the socket refuses more.
fn write_out(stream: &mut TcpStream, out: &mut Vec<u8>) -> io::Result<()> {
    while !out.is_empty() {
        match stream.write(out) {
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Closes a connection as a polite client does: with TLS, a
/// `close_notify` first.
fn close(mut a: Attempt, registry: &Registry) {
    if let Some(session) = a.tls.as_deref_mut().filter(|_| a.connected) {
        session.send_close_notify();
        let _ = tls::flush(session, &mut Vec::new(), &mut a.stream);
    }
    let _ = registry.deregister(&mut a.stream);
}

fn report(args: &BenchChatArgs, outcome: &Outcome) {
    let secs = args.duration.as_secs_f64();
    let per_s = outcome.handshakes as f64 / secs;
    let per = |cpu: Duration| cpu.as_secs_f64() * 1e6 / outcome.handshakes.max(1) as f64;
    let what = if args.tls.enabled {
        "TLS handshakes"
    } else {
        "connections"
    };
    if args.load.json {
        let mut v = json!({
            "mode": "connect",
            "preset": format!("{:?}", args.preset).to_lowercase(),
            "addr": addr_list(&args.addrs),
            "tls": outcome.tls.clone().unwrap_or(Value::Null),
            "tls_resume": args.tls.tls_resume,
            "parallel": args.clients,
            "duration_s": secs,
            "handshakes": outcome.handshakes,
            "handshakes_per_s": per_s,
            "resumed": outcome.resumed,
            "failed": outcome.failed,
            "first_error": outcome.first_error,
            "unfinished": outcome.unfinished,
            "latency": latency_json(&outcome.latency),
            "generator": {
                "cpu_s": outcome.generator_cpu.as_secs_f64(),
                "cpu_us_per_handshake": per(outcome.generator_cpu),
            },
        });
        if let Some((cpu, rss)) = outcome.server {
            v["server"] = json!({
                "cpu_s": cpu.as_secs_f64(),
                "cpu_us_per_handshake": per(cpu),
                "peak_rss_bytes": rss,
            });
        }
        println!("{v}");
        return;
    }
    println!(
        "connect {}: {} at a time, {}, {secs:.1} s",
        addr_list(&args.addrs),
        args.clients,
        if args.tls.enabled {
            if args.tls.tls_resume {
                "TLS, resuming sessions"
            } else {
                "TLS, full handshakes"
            }
        } else {
            "plain TCP"
        }
    );
    println!(
        "  {per_s:.0} {what}/s ({} completed, {} failed, {} cut off by the end)",
        outcome.handshakes, outcome.failed, outcome.unfinished
    );
    if args.tls.tls_resume {
        println!("  {} of them resumed a session", outcome.resumed);
    }
    if let Some(e) = &outcome.first_error {
        println!("  first failure: {e}");
    }
    println!("  connect to greeting: {}", latency_line(&outcome.latency));
    println!(
        "  generator: {:.2} s CPU, {:.1} µs CPU per connection",
        outcome.generator_cpu.as_secs_f64(),
        per(outcome.generator_cpu)
    );
    if let Some((cpu, rss)) = outcome.server {
        println!(
            "  server: {:.2} s CPU, {:.1} µs CPU per connection, peak RSS {:.1} MiB",
            cpu.as_secs_f64(),
            per(cpu),
            rss as f64 / (1024.0 * 1024.0)
        );
    }
    if let Some(tls) = &outcome.tls {
        println!("  {}", tls::summary_line(tls));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::tls::testing::{front, TestCert};
    use std::io::Read;
    use std::net::{SocketAddr, TcpListener};

    /// A server that greets every connection with `greeting` (`None`:
    /// closes it at once) and then waits for the client to leave.
    fn greeter(greeting: Option<&'static [u8]>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { return };
                let Some(greeting) = greeting else { continue };
                std::thread::spawn(move || {
                    // The greeting comes in two pieces, 1 ms apart, with
                    // the marker split between them.
                    let (a, b) = greeting.split_at(5);
                    let _ = conn.set_nodelay(true);
                    let _ = conn.write_all(a);
                    std::thread::sleep(Duration::from_millis(1));
                    let _ = conn.write_all(b);
                    let _ = conn.read(&mut [0; 64]);
                });
            }
        });
        addr
    }

    fn args(addr: SocketAddr, extra: &[&str]) -> BenchChatArgs {
        use crate::cli::{BenchCommand, Cli, Command};
        use clap::Parser;
        let addr = addr.to_string();
        let mut argv = vec![
            "switchboard",
            "bench",
            "chat",
            &addr,
            "--connect-only",
            "--clients",
            "4",
            "--duration",
            "300ms",
            "--warmup",
            "0s",
            "--quiet",
        ];
        argv.extend(extra);
        match Cli::try_parse_from(argv).unwrap().command {
            Command::Bench(BenchCommand::Chat(args)) => args,
            _ => unreachable!(),
        }
    }

    const WELCOME: &[u8] = b"*** welcome to switchboard, guest1!\r\n";

    #[test]
    fn plain_connections_are_counted() {
        let out = measure(&args(greeter(Some(WELCOME)), &[])).unwrap();
        assert!(out.handshakes > 10, "{} connections", out.handshakes);
        assert_eq!(out.failed, 0, "{:?}", out.first_error);
        assert!(out.tls.is_none());
        // Each waited for its greeting: at least the 1 ms between pieces.
        assert!(out.latency.min() >= 1000, "{} µs", out.latency.min());
    }

    #[test]
    fn tls_handshakes_are_counted() {
        let cert = TestCert::new();
        let addr = front(greeter(Some(WELCOME)), cert.config.clone());
        for flags in [
            &["--tls", "--tls-ca", cert.pem()][..],
            &["--tls", "--tls-insecure"],
            &["--tls", "--tls-insecure", "--tls-resume"],
        ] {
            let out = measure(&args(addr, flags)).unwrap();
            assert!(
                out.handshakes > 5,
                "{flags:?}: {} handshakes",
                out.handshakes
            );
            assert_eq!(out.failed, 0, "{flags:?}: {:?}", out.first_error);
            assert_eq!(out.tls.expect("a TLS session")["version"], "TLSv1_3");
            if flags.contains(&"--tls-resume") {
                // All but the first few (before any ticket had come).
                assert!(out.resumed + 8 >= out.handshakes, "{} resumed", out.resumed);
            } else {
                assert_eq!(out.resumed, 0);
            }
        }
    }

    #[test]
    fn connections_closed_before_the_greeting_fail() {
        let out = measure(&args(greeter(None), &[])).unwrap();
        assert!(out.failed > 0);
        assert_eq!(out.handshakes, 0);
        assert!(out.first_error.is_some());
    }

    #[test]
    fn the_ready_marker_is_found_across_reads() {
        let mut tail = Vec::new();
        assert!(!seen(&mut tail, b"*** wel", b"*** welcome"));
        assert!(tail.len() < b"*** welcome".len());
        assert!(seen(&mut tail, b"come to", b"*** welcome"));
        let mut tail = Vec::new();
        assert!(!seen(&mut tail, b"nothing here at all", b"*** welcome"));
        assert!(!seen(&mut tail, b"", b"*** welcome"));
    }
}
