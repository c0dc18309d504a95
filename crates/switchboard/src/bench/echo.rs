//! `switchboard bench echo`: closed-loop echo load with verification.

use std::collections::VecDeque;
use std::io::{self, Read, Write};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Registry, Token};
use serde_json::json;

use super::{latency_json, latency_line, Connector, Progress, ServerProbe};
use crate::cli::BenchEchoArgs;

/// Messages cycle through this many distinct payloads (a prime, so that a
/// server returning a stale or misplaced message is caught).
const DISTINCT_PAYLOADS: usize = 17;

/// The bytes of message `n` of a connection: a slice of a fixed pattern.
struct Pattern {
    bytes: Vec<u8>,
    size: usize,
}

impl Pattern {
    fn new(size: usize) -> Self {
        let mut x: u32 = 0x9E37_79B9;
        let bytes = (0..size * DISTINCT_PAYLOADS + 1)
            .map(|_| {
                // xorshift: cheap, reproducible, not all one byte value.
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                x as u8
            })
            .collect();
        Pattern { bytes, size }
    }

    /// The expected byte stream from `offset` on (a connection's stream is
    /// the pattern repeated), as much as fits before the pattern wraps.
    fn at(&self, offset: u64) -> &[u8] {
        let period = (self.size * DISTINCT_PAYLOADS) as u64;
        &self.bytes[(offset % period) as usize..self.bytes.len() - 1]
    }
}

/// One load connection: what it has sent and what it still expects.
struct LoadConn {
    stream: TcpStream,
    /// Stream offsets: bytes queued to send, written, and received.
    queued: u64,
    written: u64,
    received: u64,
    /// When each message in flight was queued.
    in_flight: VecDeque<Instant>,
    /// WRITABLE is watched (only while a write is blocked: an always-on
    /// edge-triggered WRITABLE wakes the loop for every ACK).
    watching_writes: bool,
    dead: bool,
}

impl LoadConn {
    fn new(stream: TcpStream) -> Self {
        LoadConn {
            stream,
            queued: 0,
            written: 0,
            received: 0,
            in_flight: VecDeque::new(),
            watching_writes: false,
            dead: false,
        }
    }
}

/// Counters for one measurement window.
struct Tally {
    round_trips: u64,
    bytes: u64,
    corrupt: u64,
    errors: u64,
    latency: Histogram<u64>,
}

impl Tally {
    fn new() -> Self {
        Tally {
            round_trips: 0,
            bytes: 0,
            corrupt: 0,
            errors: 0,
            latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        }
    }

    /// Starts the measured window after the warm-up. Corrupt echoes and
    /// errors are kept: a fault during warm-up is still a fault.
    fn start_window(&mut self) {
        self.round_trips = 0;
        self.bytes = 0;
        self.latency.reset();
    }
}

pub fn run(args: BenchEchoArgs) -> Result<ExitCode> {
    if args.connections == 0 || args.size == 0 || args.pipeline == 0 {
        bail!("--connections, --size and --pipeline must be at least 1");
    }
    let pattern = Pattern::new(args.size);
    // The idle connections are opened first and held, never polled.
    let mut idle_poll = Poll::new()?;
    let connector = Connector::new(&[args.addr], args.load.per_source, args.load.connect_window);
    let _idle = connector.connect_all(
        &mut idle_poll,
        args.idle,
        Interest::READABLE,
        args.load.connect_timeout,
    )?;
    let mut poll = Poll::new()?;
    let mut conns: Vec<LoadConn> = connector
        .connect_all(
            &mut poll,
            args.connections,
            Interest::READABLE,
            args.load.connect_timeout,
        )?
        .into_iter()
        .map(LoadConn::new)
        .collect();
    let start = Instant::now();
    for (i, c) in conns.iter_mut().enumerate() {
        for _ in 0..args.pipeline {
            queue_message(c, args.size, start);
        }
        pump_writes(c, &pattern, poll.registry(), Token(i))
            .with_context(|| format!("connection {i}"))?;
    }

    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 64 * 1024];
    let mut tally = Tally::new();
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let mut probe = None;
    // The generator's own cost, to show it is not the bottleneck.
    let mut own = None;
    let mut measuring = false;
    let mut progress = Progress::new(args.load.quiet, "round trips", measure_from, end);
    loop {
        let now = Instant::now();
        if !measuring && now >= measure_from {
            measuring = true;
            tally.start_window();
            probe = args.load.server_pid.map(ServerProbe::start).transpose()?;
            own = Some(ServerProbe::start(std::process::id())?);
        }
        if now >= end {
            break;
        }
        progress.update(now, tally.round_trips);
        let next = if measuring { end } else { measure_from };
        super::wait(
            &mut poll,
            &mut events,
            (next - now).min(progress.max_wait()),
        )?;
        let now = Instant::now();
        for event in &events {
            let c = &mut conns[event.token().0];
            if c.dead {
                continue;
            }
            let (registry, token) = (poll.registry(), event.token());
            let served = serve(c, &pattern, &mut buf, &mut tally, args.size, now);
            if let Err(e) = served.and_then(|()| pump_writes(c, &pattern, registry, token)) {
                tally.errors += 1;
                c.dead = true;
                eprintln!("connection {}: {e}", event.token().0);
            }
        }
        if conns.iter().all(|c| c.dead) {
            eprintln!("every connection failed; stopping early");
            break;
        }
    }
    progress.finish();
    let elapsed = if measuring {
        Instant::now()
            .min(end)
            .saturating_duration_since(measure_from)
            .as_secs_f64()
    } else {
        0.0
    };
    let own_cpu = own.map(|p| p.cpu_used()).transpose()?.unwrap_or_default();
    report(&args, &tally, elapsed, probe.as_ref(), own_cpu)?;
    Ok(if tally.corrupt == 0 && tally.errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn queue_message(c: &mut LoadConn, size: usize, now: Instant) {
    c.queued += size as u64;
    c.in_flight.push_back(now);
}

/// Writes queued bytes until done or `WouldBlock`, and watches for
/// WRITABLE exactly while something is left unsent.
fn pump_writes(
    c: &mut LoadConn,
    pattern: &Pattern,
    registry: &Registry,
    token: Token,
) -> io::Result<()> {
    let mut blocked = false;
    while c.written < c.queued {
        let chunk = pattern.at(c.written);
        let len = chunk.len().min((c.queued - c.written) as usize);
        match c.stream.write(&chunk[..len]) {
            Ok(n) => c.written += n as u64,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                blocked = true;
                break;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    if blocked != c.watching_writes {
        let interest = if blocked {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        registry.reregister(&mut c.stream, token, interest)?;
        c.watching_writes = blocked;
    }
    Ok(())
}

/// Reads and verifies everything available; each completed message is a
/// round trip and is replaced by a new one (closed loop), queued for
/// [`pump_writes`].
fn serve(
    c: &mut LoadConn,
    pattern: &Pattern,
    buf: &mut [u8],
    tally: &mut Tally,
    size: usize,
    now: Instant,
) -> io::Result<()> {
    loop {
        let n = match c.stream.read(buf) {
            Ok(0) => {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "server closed",
                ))
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if c.received + n as u64 > c.written {
            tally.corrupt += 1;
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "echo longer than what was sent",
            ));
        }
        let done_before = c.received / size as u64;
        let mut got = &buf[..n];
        while !got.is_empty() {
            let want = pattern.at(c.received);
            let k = want.len().min(got.len());
            if got[..k] != want[..k] {
                tally.corrupt += 1;
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "echo differs from what was sent",
                ));
            }
            got = &got[k..];
            c.received += k as u64;
        }
        tally.bytes += n as u64;
        for _ in done_before..c.received / size as u64 {
            let sent_at = c.in_flight.pop_front().expect("a message in flight");
            tally.round_trips += 1;
            let us = now.saturating_duration_since(sent_at).as_micros().max(1) as u64;
            let _ = tally.latency.record(us);
            queue_message(c, size, now);
        }
        // A short read has drained the socket for now: skip the read that
        // would only say WouldBlock (new data raises a new event).
        if n < buf.len() {
            return Ok(());
        }
    }
}

fn report(
    args: &BenchEchoArgs,
    t: &Tally,
    secs: f64,
    probe: Option<&ServerProbe>,
    own_cpu: Duration,
) -> Result<()> {
    let own_us_per_rt = own_cpu.as_secs_f64() * 1e6 / t.round_trips.max(1) as f64;
    let per_sec = |n: f64| if secs > 0.0 { n / secs } else { 0.0 };
    let rps = per_sec(t.round_trips as f64);
    let mib_s = per_sec(t.bytes as f64) / (1024.0 * 1024.0);
    let server = match probe {
        Some(p) => {
            let cpu = p.cpu_used()?;
            Some((
                cpu.as_secs_f64() * 1e6 / t.round_trips.max(1) as f64,
                cpu,
                p.peak_rss()?,
            ))
        }
        None => None,
    };
    if args.load.json {
        let mut v = json!({
            "mode": "echo",
            "addr": args.addr.to_string(),
            "connections": args.connections,
            "idle": args.idle,
            "size": args.size,
            "pipeline": args.pipeline,
            "duration_s": secs,
            "round_trips": t.round_trips,
            "round_trips_per_s": rps,
            "mib_per_s": mib_s,
            "latency": latency_json(&t.latency),
            "corrupt": t.corrupt,
            "errors": t.errors,
            "generator": {
                "cpu_s": own_cpu.as_secs_f64(),
                "cpu_us_per_round_trip": own_us_per_rt,
            },
        });
        if let Some((us_per_rt, cpu, rss)) = server {
            v["server"] = json!({
                "cpu_s": cpu.as_secs_f64(),
                "cpu_us_per_round_trip": us_per_rt,
                "peak_rss_bytes": rss,
            });
        }
        println!("{v}");
    } else {
        println!(
            "echo {}: {} connections × {} B, pipeline {}, {:.1} s",
            args.addr, args.connections, args.size, args.pipeline, secs
        );
        println!("  {:.0} round trips/s, {:.1} MiB/s echoed", rps, mib_s);
        println!("  {}", latency_line(&t.latency));
        println!(
            "  {} corrupt echoes, {} connection errors",
            t.corrupt, t.errors
        );
        println!(
            "  generator: {:.2} s CPU, {:.2} µs CPU per round trip",
            own_cpu.as_secs_f64(),
            own_us_per_rt
        );
        if let Some((us_per_rt, cpu, rss)) = server {
            println!(
                "  server: {:.2} s CPU, {:.2} µs CPU per round trip, peak RSS {:.1} MiB",
                cpu.as_secs_f64(),
                us_per_rt,
                rss as f64 / (1024.0 * 1024.0)
            );
        }
    }
    Ok(())
}
