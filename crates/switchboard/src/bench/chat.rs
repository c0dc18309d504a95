//! `switchboard bench chat`: fan-out load on a chat room, with accounting.
//!
//! Every line carries `bench SENDER SEQ MICROS` (then padding), wherever the
//! protocol puts it; receivers find it by that marker, so the same tool
//! measures switchboard, bare line relays and IRC servers. Each receiver
//! checks per-sender order, and a few observers record the room's order
//! ([`RoomOrder`]); after the run the tool waits for stragglers and
//! compares what arrived with what should have: every line, at every client
//! but its sender, in one order for the whole room.

use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use hdrhistogram::Histogram;
use memchr::memmem;
use mio::net::TcpStream;
use mio::{Events, Interest, Poll};
use rustls::ClientConnection;
use serde_json::{json, Value};

use super::room_order::{self, RoomOrder, Verdict};
use super::tls::{self, TlsClient};
use super::{addr_list, latency_json, latency_line, Connector, Progress, ServerProbe};
use crate::cli::{BenchChatArgs, ChatPreset};

/// Where switchboard's line clients are, and so where mixed-in IRC clients
/// go (`--irc-clients`).
const LOBBY: &str = "#lobby";

/// Stragglers are waited for this long after the measured window.
const DRAIN: Duration = Duration::from_secs(3);
/// Per-client receive buffer: zeroed once, reused for every read.
const INBUF: usize = 16 * 1024;
/// All clients must be in the room within this long.
const JOIN_DEADLINE: Duration = Duration::from_secs(60);
/// The join check: a line that carries no stamp, so accounting ignores it.
const SYNC: &str = "bench-sync";
/// How often the join check is repeated while someone has not seen it.
const SYNC_EVERY: Duration = Duration::from_millis(200);

/// How to greet, when a client is in, and how to wrap a line.
pub(super) struct Dialect {
    hello: String,
    pub(super) ready: String,
    message: String,
    irc: bool,
    /// A WebSocket client: `hello` is the upgrade request (then a
    /// registration frame), lines go in masked text frames, and what
    /// arrives is frames, not lines.
    websocket: bool,
}

/// Any 4 bytes: servers must accept every masking key.
const MASK: [u8; 4] = [0x5b, 0xa1, 0x3c, 0x07];

impl Dialect {
    /// IRC in channel `room`: register, join, PRIVMSG, answer PINGs.
    fn irc(room: &str) -> Self {
        Dialect {
            hello: format!("NICK b{{id}}\r\nUSER b{{id}} 0 * :bench\r\nJOIN {room}\r\n"),
            ready: " 366 ".to_string(),
            message: format!("PRIVMSG {room} :{{payload}}"),
            irc: true,
            websocket: false,
        }
    }

    /// switchboard's JSON WebSocket protocol (docs/PROTOCOL.md): upgrades
    /// (the request is made per client, for its address), registers as
    /// `b{id}` and so lands in #lobby.
    fn websocket() -> Self {
        Dialect {
            hello: String::new(),
            // Sent as the session starts, after which it is in #lobby (the
            // join and `names` follow in the same write).
            ready: r#""type":"welcome""#.to_string(),
            message: format!(r#"{{"type":"message","to":"{LOBBY}","text":"{{payload}}"}}"#),
            irc: false,
            websocket: true,
        }
    }

    /// What client `id` sends on connect to `host`.
    pub(super) fn greeting(&self, id: usize, host: SocketAddr) -> Vec<u8> {
        let mut out = self.hello.replace("{id}", &id.to_string()).into_bytes();
        if self.websocket {
            out.extend_from_slice(
                format!(
                    "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\n\
                     Connection: Upgrade\r\nSec-WebSocket-Key: c3dpdGNoYm9hcmRiZW5jaA==\r\n\
                     Sec-WebSocket-Version: 13\r\n\r\n"
                )
                .as_bytes(),
            );
            let nick = format!(r#"{{"type":"nick","nick":"b{id}"}}"#);
            ws_frame(0x1, nick.as_bytes(), &mut out);
        }
        out
    }

    /// `payload` as this dialect sends a line.
    fn wrap(&self, payload: &str, out: &mut Vec<u8>) {
        let text = self.message.replace("{payload}", payload);
        if self.websocket {
            ws_frame(0x1, text.as_bytes(), out);
        } else {
            out.extend_from_slice(text.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
    }

    pub(super) fn new(args: &BenchChatArgs) -> Self {
        let plain = |ready: &str| Dialect {
            hello: String::new(),
            ready: ready.to_string(),
            message: "{payload}".to_string(),
            irc: false,
            websocket: false,
        };
        let preset = match args.preset {
            ChatPreset::Switchboard => plain("*** welcome"),
            ChatPreset::Plain => plain(""),
            ChatPreset::Irc => Dialect::irc("#bench"),
        };
        let unescape = |s: &str| s.replace("\\r", "\r").replace("\\n", "\n");
        Dialect {
            hello: args.hello.as_deref().map_or(preset.hello, unescape),
            ready: args.ready.clone().unwrap_or(preset.ready),
            message: args.message.clone().unwrap_or(preset.message),
            irc: preset.irc,
            websocket: false,
        }
    }
}

/// A measured line as a receiver sees it.
#[derive(Debug, PartialEq, Eq)]
pub struct Stamp {
    pub sender: usize,
    pub seq: u64,
    pub micros: u64,
}

/// Finds `bench SENDER SEQ MICROS` in a received line. The marker may also
/// occur in the protocol's framing (IRC's `#bench :`), so every occurrence
/// is tried. This runs once per delivery, millions of times a second, so it
/// works on bytes: a prebuilt SIMD search for the marker (memchr), no UTF-8
/// check of the padding, and only the three short fields parsed.
pub fn parse_stamp(line: &[u8]) -> Option<Stamp> {
    static MARKER: LazyLock<memmem::Finder<'static>> =
        LazyLock::new(|| memmem::Finder::new(b"bench "));
    let parse = |at: usize| -> Option<Stamp> {
        let mut fields = line[at + MARKER.needle().len()..]
            .split(u8::is_ascii_whitespace)
            .filter(|f| !f.is_empty())
            .map(parse_decimal);
        Some(Stamp {
            sender: usize::try_from(fields.next()??).ok()?,
            seq: fields.next()??,
            micros: fields.next()??,
        })
    };
    MARKER.find_iter(line).find_map(parse)
}

/// ASCII digits as a number (`None` for anything else or overflow). The
/// standard parsers take `&str`, and validating UTF-8 first costs more than
/// the parse itself on this path.
fn parse_decimal(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_add(u64::from(digit))
    })
}

struct ChatConn {
    stream: TcpStream,
    /// `--tls`: the session; `out` is then plaintext it has yet to take.
    tls: Option<Box<ClientConnection>>,
    /// Index into `Run::dialects`: what this client speaks.
    dialect: usize,
    /// Received bytes; `inbuf[..filled]` is not yet split into lines.
    inbuf: Box<[u8]>,
    filled: usize,
    out: Vec<u8>,
    ready: bool,
    /// A WebSocket client has read the upgrade's response.
    upgraded: bool,
    /// Bytes still to skip of a WebSocket frame too big for the buffer.
    skip: usize,
    /// A join check from client 0 arrived: the server relays to us.
    synced: bool,
    dead: bool,
}

struct Sender {
    seq: u64,
    /// Open loop: when the next line is due.
    next_at: Instant,
    /// Closed loop: lines sent and not yet seen by the observer.
    in_flight: usize,
    /// First sequence number sent inside the measured window.
    window_start: Option<u64>,
}

/// The run's accounting.
#[derive(Default)]
pub struct Accounts {
    /// Deliveries that arrived inside the measured window.
    pub deliveries: u64,
    /// Lines sent inside the window.
    pub sent: u64,
    /// Deliveries of lines sent inside the window (whenever they arrived).
    pub delivered: u64,
    /// Lines that arrived at or below a sequence number already seen from
    /// the same sender.
    pub reordered: u64,
    /// Clients whose connection ended.
    pub disconnects: u64,
    /// Reads that completed a line (WebSocket: a frame) begun in an earlier
    /// read: the tests' proof that a partial line was really put back
    /// together.
    #[cfg(test)]
    pub split_lines: u64,
}

impl Accounts {
    /// Deliveries owed for the lines sent in the window: every client but
    /// the sender receives each.
    pub fn expected(&self, clients: usize) -> u64 {
        self.sent * (clients as u64 - 1)
    }
}

struct Run<'a> {
    args: &'a BenchChatArgs,
    /// The preset's dialect, then that of the clients that go elsewhere:
    /// IRC in #lobby for `--irc-clients`, WebSocket for `--ws-clients`.
    dialects: [Dialect; 2],
    conns: Vec<ChatConn>,
    senders: Vec<Sender>,
    accounts: Accounts,
    latency: Histogram<u64>,
    epoch: Instant,
    measuring: bool,
    sending: bool,
    padding: String,
    /// Where reads land when a connection holds no partial line (nearly
    /// always): one buffer that stays in the CPU cache, rather than 1,000
    /// per-connection buffers that do not. Only a partial line is kept in
    /// the connection's `inbuf`.
    scratch: Box<[u8]>,
    /// Per client and sender (`client * senders + sender`): one more than
    /// the highest sequence number seen, 0 for none yet. One flat array
    /// (80 KB at 1,000 × 10) stays in the CPU cache; a small vector per
    /// client did not.
    last_seq: Vec<u64>,
    room_order: RoomOrder,
    /// `--tls`: the clients' settings, and where encrypted reads land
    /// before rustls takes them (shared, like `scratch`).
    tls: Option<TlsClient>,
    raw: Box<[u8]>,
}

/// What one run measured.
pub struct Outcome {
    pub accounts: Accounts,
    /// Whether the observers saw the room in one order.
    pub room_order: Verdict,
    /// How many clients connected to each address, in order of first use.
    pub clients_per_addr: Vec<(SocketAddr, usize)>,
    pub latency: Histogram<u64>,
    /// The server's CPU time over the window and its peak RSS.
    pub server: Option<(Duration, u64)>,
    /// The server's resident memory before the clients connected and once
    /// they were all in the room.
    pub server_rss: Option<(u64, u64)>,
    /// `--tls`: what the first client's session negotiated.
    pub tls: Option<Value>,
    /// The generator's own CPU time over the window.
    pub generator_cpu: Duration,
}

impl Outcome {
    /// Everything arrived, once, in order (each sender's, and one order
    /// for the room), and nobody was disconnected.
    pub fn is_clean(&self, clients: usize) -> bool {
        let a = &self.accounts;
        a.delivered == a.expected(clients)
            && a.reordered == 0
            && self.room_order.violations == 0
            && a.disconnects == 0
    }
}

pub fn run(args: BenchChatArgs) -> Result<ExitCode> {
    if args.connect_only {
        return super::handshake::run(&args);
    }
    let outcome = measure(&args)?;
    report(&args, &outcome);
    Ok(if outcome.is_clean(args.clients) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs the load described by `args` and accounts for every line.
pub fn measure(args: &BenchChatArgs) -> Result<Outcome> {
    if args.senders == 0 || args.clients <= args.senders {
        bail!("need at least one sender and more clients than senders (the last client confirms lines)");
    }
    let mut poll = Poll::new()?;
    let epoch = Instant::now();
    let connector = connector(args);
    let targets: Vec<SocketAddr> = (0..args.clients).map(|n| connector.target_of(n)).collect();
    let mut run = Run {
        dialects: [
            Dialect::new(args),
            if args.ws_clients > 0 {
                Dialect::websocket()
            } else {
                Dialect::irc(LOBBY)
            },
        ],
        conns: Vec::with_capacity(args.clients),
        senders: Vec::new(),
        accounts: Accounts::default(),
        latency: Histogram::new_with_bounds(1, 60_000_000, 3).expect("valid bounds"),
        epoch,
        measuring: false,
        sending: false,
        padding: "x".repeat(args.size),
        scratch: vec![0; INBUF].into_boxed_slice(),
        last_seq: vec![0; args.clients * args.senders],
        room_order: RoomOrder::new(&targets, args.senders, room_order::CAP),
        tls: TlsClient::from_args(args)?,
        raw: vec![0; INBUF].into_boxed_slice(),
        args,
    };
    let rss_before = args.load.server_pid.map(super::current_rss).transpose()?;
    run.connect_all(&mut poll, &connector)?;
    let mut events = Events::with_capacity(1024);
    run.join_all(&mut poll, &mut events)?;
    let rss_joined = args.load.server_pid.map(super::current_rss).transpose()?;
    let tls_info = run.conns[0].tls.as_deref().map(tls::describe);

    let start = Instant::now();
    let interval = args
        .rate
        .map(|r| Duration::from_secs_f64(args.senders as f64 / r.max(1e-9)));
    run.senders = (0..args.senders)
        .map(|i| Sender {
            seq: 0,
            // Spread the senders' schedules over one interval.
            next_at: start
                + interval.map_or(Duration::ZERO, |d| d * i as u32 / args.senders as u32),
            in_flight: 0,
            window_start: None,
        })
        .collect();
    run.sending = true;
    let measure_from = start + args.warmup;
    let end = measure_from + args.duration;
    let mut probe = None;
    // The generator's own cost, to show it is not the bottleneck.
    let mut own = None;
    let mut progress = Progress::new(args.load.quiet, "deliveries", measure_from, end);
    let mut now = start;
    while now < end + DRAIN {
        if !run.measuring && now >= measure_from && now < end {
            run.start_window();
            probe = args.load.server_pid.map(ServerProbe::start).transpose()?;
            own = Some(ServerProbe::start(std::process::id())?);
        }
        progress.update(now, run.accounts.deliveries);
        if run.sending && now >= end {
            run.sending = false;
            run.measuring = false;
        }
        if !run.sending && run.accounts.delivered >= run.accounts.expected(args.clients) {
            break;
        }
        run.send_due(now);
        let mut next = if now < measure_from {
            measure_from
        } else if now < end {
            end
        } else {
            end + DRAIN
        };
        if run.sending && interval.is_some() {
            next = run
                .senders
                .iter()
                .map(|s| s.next_at)
                .min()
                .unwrap_or(next)
                .min(next);
        }
        let wait = next.saturating_duration_since(now).min(progress.max_wait());
        super::wait(&mut poll, &mut events, wait)?;
        now = Instant::now();
        for event in &events {
            run.serve(event.token().0, now);
        }
    }
    progress.finish();
    let server = probe
        .map(|p| -> Result<_> { Ok((p.cpu_used()?, p.peak_rss()?)) })
        .transpose()?;
    let generator_cpu = own.map(|p| p.cpu_used()).transpose()?.unwrap_or_default();
    Ok(Outcome {
        room_order: run.room_order.verdict(),
        clients_per_addr: clients_per_addr(&targets),
        accounts: run.accounts,
        latency: run.latency,
        server,
        server_rss: rss_before.zip(rss_joined),
        tls: tls_info,
        generator_cpu,
    })
}

/// Where the clients connect: in turn to each ADDR, but for the
/// --irc-clients or --ws-clients, spread evenly, in turn to theirs.
fn connector(args: &BenchChatArgs) -> Connector {
    let connector = Connector::new(&args.addrs, args.load.per_source, args.load.connect_window);
    let (elsewhere, k) = if args.ws_clients > 0 {
        (&args.ws_addr, args.ws_clients)
    } else {
        (&args.irc_addr, args.irc_clients)
    };
    if k > 0 {
        connector.with_share(elsewhere, k, args.clients)
    } else {
        connector
    }
}

/// How many of the clients connect to each of `targets`, in order of
/// first use.
fn clients_per_addr(targets: &[SocketAddr]) -> Vec<(SocketAddr, usize)> {
    let mut counts: Vec<(SocketAddr, usize)> = Vec::new();
    for &t in targets {
        match counts.iter_mut().find(|(a, _)| *a == t) {
            Some((_, n)) => *n += 1,
            None => counts.push((t, 1)),
        }
    }
    counts
}

impl Run<'_> {
    fn connect_all(&mut self, poll: &mut Poll, connector: &Connector) -> Result<()> {
        let args = &self.args;
        let streams = connector.connect_all(
            poll,
            args.clients,
            Interest::READABLE | Interest::WRITABLE,
            args.load.connect_timeout,
        )?;
        for (n, stream) in streams.into_iter().enumerate() {
            let dialect = usize::from(connector.goes_elsewhere(n));
            let d = &self.dialects[dialect];
            let mut conn = ChatConn {
                stream,
                tls: self
                    .tls
                    .as_ref()
                    .map(TlsClient::connection)
                    .transpose()?
                    .map(Box::new),
                dialect,
                inbuf: vec![0; INBUF].into_boxed_slice(),
                filled: 0,
                out: Vec::new(),
                ready: d.ready.is_empty(),
                upgraded: false,
                skip: 0,
                synced: false,
                dead: false,
            };
            let hello = d.greeting(n, connector.target_of(n));
            queue(&mut conn, &hello);
            flush(&mut conn).with_context(|| format!("greeting from client {n}"))?;
            self.conns.push(conn);
        }
        Ok(())
    }

    /// Waits until every client is in the room: greeted (the dialect's
    /// ready marker), and reached by a line from client 0. The second part
    /// matters where there is no greeting: a server may accept a connection
    /// well after the connect completed (a short listen backlog makes the
    /// SYN wait for a retry), and lines sent before that never reach it.
    fn join_all(&mut self, poll: &mut Poll, events: &mut Events) -> Result<()> {
        let deadline = Instant::now() + JOIN_DEADLINE;
        let mut next_sync = Instant::now();
        loop {
            if self.conns.iter().any(|c| c.dead) {
                bail!("clients were disconnected while joining");
            }
            let all_in =
                self.conns.iter().all(|c| c.ready) && self.conns[1..].iter().all(|c| c.synced);
            if all_in {
                return Ok(());
            }
            let now = Instant::now();
            if now >= deadline {
                bail!("clients did not all join within {JOIN_DEADLINE:?}");
            }
            // Client 0 repeats the sync line until everyone has seen one.
            if self.conns[0].ready && now >= next_sync {
                next_sync = now + SYNC_EVERY;
                let first = &mut self.conns[0];
                self.dialects[first.dialect].wrap(SYNC, &mut first.out);
                flush(first).context("client 0 sending the join check")?;
            }
            let wait = deadline.min(next_sync).saturating_duration_since(now);
            super::wait(poll, events, wait)?;
            for event in events.iter() {
                self.serve(event.token().0, Instant::now());
            }
        }
    }

    fn start_window(&mut self) {
        self.measuring = true;
        self.accounts = Accounts {
            disconnects: self.accounts.disconnects,
            ..Accounts::default()
        };
        self.latency.reset();
        for s in &mut self.senders {
            s.window_start = Some(s.seq);
        }
    }

    /// Sends every line that is due: by schedule (open loop) or while the
    /// window has room (closed loop).
    fn send_due(&mut self, now: Instant) {
        if !self.sending {
            return;
        }
        let window = self
            .args
            .window
            .unwrap_or(if self.args.rate.is_some() { 0 } else { 1 });
        let interval = self
            .args
            .rate
            .map(|r| Duration::from_secs_f64(self.args.senders as f64 / r.max(1e-9)));
        for i in 0..self.senders.len() {
            loop {
                let s = &mut self.senders[i];
                let stamp_at = match interval {
                    Some(step) if s.next_at <= now => {
                        let at = s.next_at;
                        s.next_at += step;
                        at // open loop: latency counts from the schedule
                    }
                    None if s.in_flight < window => {
                        s.in_flight += 1;
                        now
                    }
                    _ => break,
                };
                let micros = stamp_at.saturating_duration_since(self.epoch).as_micros() as u64;
                let payload = format!("bench {i} {} {micros} {}", s.seq, self.padding);
                s.seq += 1;
                if self.measuring {
                    self.accounts.sent += 1;
                }
                let conn = &mut self.conns[i];
                self.dialects[conn.dialect].wrap(&payload, &mut conn.out);
            }
            let conn = &mut self.conns[i];
            if !conn.dead && flush(conn).is_err() {
                conn.dead = true;
                self.accounts.disconnects += 1;
            }
        }
    }

    fn serve(&mut self, index: usize, now: Instant) {
        // Stamps are microseconds since `epoch`; one clock read per event.
        let now_us = now.saturating_duration_since(self.epoch).as_micros() as u64;
        if self.conns[index].tls.is_some() {
            return self.serve_tls(index, now_us);
        }
        loop {
            if self.conns[index].dead {
                return;
            }
            let read = self.ingest(index, now_us, |conn, buf| {
                flush(conn).and_then(|()| read_available(&mut conn.stream, buf))
            });
            match read {
                Ok(true) => {}
                Ok(false) => return,
                Err(_) => return self.disconnected(index),
            }
        }
    }

    /// A TLS client's event: send what waits, then read the socket dry
    /// through the shared `raw` buffer, handing each piece to rustls and
    /// taking out the plaintext as it comes; finally send what that made
    /// rustls want to send (the handshake's next flight, alerts) and what
    /// the lines did (PONGs).
    fn serve_tls(&mut self, index: usize, now_us: u64) {
        if self.conns[index].dead {
            return;
        }
        let mut raw = std::mem::take(&mut self.raw);
        let result = self.read_tls(index, now_us, &mut raw);
        self.raw = raw;
        if result.and_then(|()| flush(&mut self.conns[index])).is_err() {
            self.disconnected(index);
        }
    }

    fn read_tls(&mut self, index: usize, now_us: u64, raw: &mut [u8]) -> io::Result<()> {
        loop {
            let conn = &mut self.conns[index];
            flush(conn)?;
            let (n, more) = read_available(&mut conn.stream, raw)?;
            let mut rest = &raw[..n];
            while !rest.is_empty() {
                let session = self.conns[index].tls.as_deref_mut().expect("a TLS client");
                tls::feed(session, &mut rest)?;
                while self.ingest(index, now_us, |conn, buf| {
                    tls::read_plaintext(conn.tls.as_deref_mut().expect("a TLS client"), buf)
                })? {}
            }
            if !more {
                return Ok(());
            }
        }
    }

    fn disconnected(&mut self, index: usize) {
        let conn = &mut self.conns[index];
        if !conn.dead {
            conn.dead = true;
            self.accounts.disconnects += 1;
        }
    }

    /// Reads once with `read` into the line buffers, the shared scratch
    /// buffer unless a partial line waits to be completed in the
    /// connection's own, and handles every complete line. Returns whether
    /// there may be more to read (the read filled the buffer), or the
    /// read's error once what had arrived before it is handled.
    fn ingest(
        &mut self,
        index: usize,
        now_us: u64,
        read: impl FnOnce(&mut ChatConn, &mut [u8]) -> io::Result<(usize, bool)>,
    ) -> io::Result<bool> {
        let conn = &mut self.conns[index];
        let in_scratch = conn.filled == 0;
        let (mut buf, start) = if in_scratch {
            (std::mem::take(&mut self.scratch), 0)
        } else {
            (std::mem::take(&mut conn.inbuf), conn.filled)
        };
        let read = read(conn, &mut buf[start..]);
        let (filled, more) = match read {
            Ok((n, more)) => (start + n, more),
            Err(_) => (start, false),
        };
        let mut consumed = 0;
        if self.dialects[conn.dialect].websocket {
            consumed = self.handle_frames(index, &buf[..filled], now_us);
        } else {
            for nl in memchr::memchr_iter(b'\n', &buf[..filled]) {
                self.handle_line(index, &buf[consumed..nl], now_us);
                consumed = nl + 1;
            }
        }
        #[cfg(test)]
        if start > 0 && consumed > 0 {
            self.accounts.split_lines += 1;
        }
        let conn = &mut self.conns[index];
        // A partial line waits in `inbuf`; a line longer than the
        // buffer is not ours: drop it.
        let rest = if filled - consumed == buf.len() {
            0
        } else {
            filled - consumed
        };
        if in_scratch {
            conn.inbuf[..rest].copy_from_slice(&buf[consumed..consumed + rest]);
            self.scratch = buf;
        } else {
            buf.copy_within(consumed..consumed + rest, 0);
            conn.inbuf = buf;
        }
        conn.filled = rest;
        read.map(|_| more)
    }

    /// Handles the complete WebSocket frames at the start of `buf` (after
    /// the upgrade's response head, the first time): each text frame is a
    /// line. A frame that could never fit the buffer (a `names` reply of a
    /// big room) is skipped, over as many reads as it takes. Returns the
    /// bytes handled.
    fn handle_frames(&mut self, index: usize, buf: &[u8], now_us: u64) -> usize {
        let conn = &mut self.conns[index];
        let mut at = conn.skip.min(buf.len());
        conn.skip -= at;
        if !conn.upgraded {
            let Some(end) = memmem::find(&buf[at..], b"\r\n\r\n") else {
                return at;
            };
            conn.upgraded = true;
            at += end + 4;
        }
        while let Some((opcode, head, len)) = frame_header(&buf[at..]) {
            let end = at + head + len;
            if end > buf.len() {
                if head + len > INBUF {
                    self.conns[index].skip = end - buf.len();
                    return buf.len();
                }
                break;
            }
            let payload = &buf[at + head..end];
            match opcode {
                0x1 => self.handle_line(index, payload, now_us),
                0x9 => ws_frame(0xa, payload, &mut self.conns[index].out),
                _ => {}
            }
            at = end;
        }
        at
    }

    fn handle_line(&mut self, index: usize, line: &[u8], now_us: u64) {
        let conn = &mut self.conns[index];
        let dialect = &self.dialects[conn.dialect];
        if !conn.ready
            && line
                .windows(dialect.ready.len())
                .any(|w| w == dialect.ready.as_bytes())
        {
            conn.ready = true;
        }
        if !conn.synced && line.windows(SYNC.len()).any(|w| w == SYNC.as_bytes()) {
            conn.synced = true;
            return;
        }
        if dialect.irc && line.starts_with(b"PING") {
            let mut pong = b"PONG".to_vec();
            pong.extend_from_slice(&line[4..]);
            pong.extend_from_slice(b"\n");
            queue(conn, &pong);
            return;
        }
        let Some(stamp) = parse_stamp(line) else {
            return;
        };
        if stamp.sender >= self.senders.len() || stamp.sender == index {
            return;
        }
        let last = &mut self.last_seq[index * self.args.senders + stamp.sender];
        let next = stamp.seq.saturating_add(1);
        if next <= *last {
            self.accounts.reordered += 1;
        }
        *last = (*last).max(next);
        if self.senders[stamp.sender]
            .window_start
            .is_some_and(|w| stamp.seq >= w)
        {
            self.accounts.delivered += 1;
            // Sent in the window, whenever it arrives (stragglers too): so
            // every observer records the same lines, but for losses.
            self.room_order.record(index, stamp.sender, stamp.seq);
        }
        if self.measuring {
            self.accounts.deliveries += 1;
            let _ = self
                .latency
                .record(now_us.saturating_sub(stamp.micros).max(1));
        }
        if index == self.conns.len() - 1 {
            let s = &mut self.senders[stamp.sender];
            s.in_flight = s.in_flight.saturating_sub(1);
        }
    }
}
/// Prints the outcome: human lines, or one JSON object.
fn report(args: &BenchChatArgs, outcome: &Outcome) {
    let server = outcome.server;
    let latency = &outcome.latency;
    let a = &outcome.accounts;
    let order = &outcome.room_order;
    let secs = args.duration.as_secs_f64();
    let expected = a.expected(args.clients);
    let per_s = a.deliveries as f64 / secs;
    let own_ns = outcome.generator_cpu.as_secs_f64() * 1e9 / a.deliveries.max(1) as f64;
    let mode = match args.rate {
        Some(rate) => format!("open loop, {rate} lines/s offered"),
        None => format!("closed loop, window {}", args.window.unwrap_or(1)),
    };
    if args.load.json {
        let mut v = json!({
            "mode": "chat",
            "preset": format!("{:?}", args.preset).to_lowercase(),
            "addr": addr_list(&args.addrs),
            "clients": args.clients,
            "clients_per_addr": outcome.clients_per_addr.iter()
                .map(|(addr, n)| (addr.to_string(), json!(n)))
                .collect::<serde_json::Map<_, _>>(),
            "irc_clients": args.irc_clients,
            "ws_clients": args.ws_clients,
            "senders": args.senders,
            "rate": args.rate,
            "window": args.window,
            "duration_s": secs,
            "lines_sent": a.sent,
            "deliveries": a.deliveries,
            "deliveries_per_s": per_s,
            "expected": expected,
            "delivered": a.delivered,
            "lost": expected.saturating_sub(a.delivered),
            "reordered": a.reordered,
            "room_order_violations": order.violations,
            "room_order": {
                "observers": order.observers,
                "pairs": order.pairs(),
                "pairs_disagreeing": order.disagreeing_pairs,
                "lines_compared": order.compared,
                "capped_observers": order.capped,
                "cap_per_observer": order.cap,
            },
            "disconnects": a.disconnects,
            "latency": latency_json(latency),
            "generator": {
                "cpu_s": outcome.generator_cpu.as_secs_f64(),
                "cpu_ns_per_delivery": own_ns,
            },
        });
        if let Some((cpu, rss)) = server {
            v["server"] = json!({
                "cpu_s": cpu.as_secs_f64(),
                "cpu_ns_per_delivery": cpu.as_secs_f64() * 1e9 / a.deliveries.max(1) as f64,
                "peak_rss_bytes": rss,
            });
            if let Some((before, joined)) = outcome.server_rss {
                v["server"]["rss_before_connect_bytes"] = json!(before);
                v["server"]["rss_joined_bytes"] = json!(joined);
                v["server"]["rss_per_client_bytes"] =
                    json!(rss_per_client(before, joined, args.clients));
            }
        }
        v["tls"] = outcome.tls.clone().unwrap_or(Value::Null);
        println!("{v}");
    } else {
        println!(
            "chat {}: {} clients, {} senders, {mode}, {secs:.1} s",
            addr_list(&args.addrs),
            args.clients,
            args.senders
        );
        if outcome.clients_per_addr.len() > 1 {
            let per: Vec<String> = (outcome.clients_per_addr.iter())
                .map(|(addr, n)| format!("{n} to {addr}"))
                .collect();
            println!("  clients: {}", per.join(", "));
        }
        println!("  {:.0} deliveries/s ({} lines sent)", per_s, a.sent);
        println!(
            "  delivered {} of {expected} expected, {} reordered, {} disconnects",
            a.delivered, a.reordered, a.disconnects
        );
        println!(
            "  room order: {} violations, {} of {} pairs of observers disagree ({} observers, {} lines compared over the pairs)",
            order.violations,
            order.disagreeing_pairs,
            order.pairs(),
            order.observers,
            order.compared
        );
        if order.capped > 0 {
            println!(
                "  room order: {} observers reached the cap of {} lines recorded; later lines were not compared",
                order.capped, order.cap
            );
        }
        println!("  {}", latency_line(latency));
        println!(
            "  generator: {:.2} s CPU, {own_ns:.0} ns CPU per delivery",
            outcome.generator_cpu.as_secs_f64()
        );
        if let Some((cpu, rss)) = server {
            println!(
                "  server: {:.2} s CPU, {:.0} ns CPU per delivery, peak RSS {:.1} MiB",
                cpu.as_secs_f64(),
                cpu.as_secs_f64() * 1e9 / a.deliveries.max(1) as f64,
                rss as f64 / (1024.0 * 1024.0)
            );
        }
        if let Some((before, joined)) = outcome.server_rss {
            println!(
                "  server RSS {:.1} MiB before the clients connected, {:.1} MiB with all in the room: {:.1} KiB per client",
                before as f64 / (1024.0 * 1024.0),
                joined as f64 / (1024.0 * 1024.0),
                rss_per_client(before, joined, args.clients) / 1024.0
            );
        }
        if let Some(tls) = &outcome.tls {
            println!("  {}", tls::summary_line(tls));
        }
    }
}

/// What each client added to the server's resident memory (may be
/// negative, when the server returned memory meanwhile).
fn rss_per_client(before: u64, joined: u64, clients: usize) -> f64 {
    (joined as f64 - before as f64) / clients.max(1) as f64
}

/// Appends a final, masked (client) WebSocket frame.
fn ws_frame(opcode: u8, payload: &[u8], out: &mut Vec<u8>) {
    out.push(0x80 | opcode);
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&MASK);
    out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
}

/// The header of the server frame (never masked) at the start of `buf`, if
/// it is all there: its opcode, header length and payload length.
fn frame_header(buf: &[u8]) -> Option<(u8, usize, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    let (head, len) = match b1 & 0x7f {
        126 => (
            4,
            u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize,
        ),
        127 => (
            10,
            u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize,
        ),
        n => (2, n as usize),
    };
    Some((b0 & 0x0f, head, len))
}

fn queue(conn: &mut ChatConn, bytes: &[u8]) {
    conn.out.extend_from_slice(bytes);
}

fn flush(conn: &mut ChatConn) -> io::Result<()> {
    if let Some(session) = conn.tls.as_deref_mut() {
        return tls::flush(session, &mut conn.out, &mut conn.stream);
    }
    while !conn.out.is_empty() {
        match conn.stream.write(&conn.out) {
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads once into `buf`. Returns the bytes read and whether they filled
/// it (there may be more to read once lines are split off); a short read
/// has drained the socket for now (stream semantics), which saves the read
/// that would only say `WouldBlock`.
pub(super) fn read_available(stream: &mut TcpStream, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    loop {
        match stream.read(buf) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => return Ok((n, n == buf.len())),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok((0, false)),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_are_found_in_every_dialect() {
        let want = Some(Stamp {
            sender: 3,
            seq: 17,
            micros: 123456,
        });
        assert_eq!(parse_stamp(b"<guest4> bench 3 17 123456 xxxx\r"), want);
        assert_eq!(parse_stamp(b"bench 3 17 123456 xxxx"), want);
        assert_eq!(
            parse_stamp(b":b3!b3@localhost PRIVMSG #bench :bench 3 17 123456 xx"),
            want
        );
        assert_eq!(parse_stamp(b"*** guest1 joined #lobby"), None);
        assert_eq!(parse_stamp(b"<x> bench 3 notanumber 1"), None);
        assert_eq!(parse_stamp(b"<x> bench 3 -17 1"), None);
        assert_eq!(parse_stamp(b"<x> bench 3 99999999999999999999 1"), None);
        assert_eq!(parse_stamp(b"<x> bench 3 17"), None);
    }

    #[test]
    fn expected_deliveries_exclude_the_sender() {
        let a = Accounts {
            sent: 10,
            ..Accounts::default()
        };
        assert_eq!(a.expected(100), 990);
    }

    /// What the faulty room does with one delivery.
    enum Act {
        /// Write these lines (none: the delivery is dropped).
        Send(Vec<Vec<u8>>),
        /// Write the line in two pieces, 2 ms apart, so that the
        /// recipient reads a partial line first.
        Split(Vec<u8>),
        /// Close the recipient's connection.
        Close,
    }

    /// What the room's relay thread hears about.
    enum RoomEvent {
        Joined(std::net::TcpStream),
        Line(usize, Vec<u8>),
    }

    /// A bare line relay in this process (no greeting; each line to every
    /// other client present) whose `fault` decides each delivery:
    /// `(recipient, line)`. Like a minimal relay, it relays from the first accept
    /// on, and it accepts the last client only after `late`: only the
    /// generator's join check keeps that client from missing lines.
    fn spawn_room(
        clients: usize,
        late: Duration,
        fault: impl FnMut(usize, Vec<u8>) -> Act + Send + 'static,
    ) -> std::net::SocketAddr {
        spawn_room_on(1, clients, late, fault)[0]
    }

    /// [`spawn_room`]'s room on `listeners` addresses, which take client i
    /// in turn (i mod listeners), as the generator connects them: one room
    /// served by several threads or cluster nodes.
    fn spawn_room_on(
        listeners: usize,
        clients: usize,
        late: Duration,
        mut fault: impl FnMut(usize, Vec<u8>) -> Act + Send + 'static,
    ) -> Vec<std::net::SocketAddr> {
        use std::io::BufRead;
        let listeners: Vec<std::net::TcpListener> = (0..listeners)
            .map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap())
            .collect();
        let addrs = listeners.iter().map(|l| l.local_addr().unwrap()).collect();
        let (tx, rx) = std::sync::mpsc::channel::<RoomEvent>();
        std::thread::spawn(move || {
            for i in 0..clients {
                if i == clients - 1 {
                    std::thread::sleep(late);
                }
                let (stream, _) = listeners[i % listeners.len()].accept().unwrap();
                let reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let _ = tx.send(RoomEvent::Joined(stream));
                let tx = tx.clone();
                std::thread::spawn(move || {
                    for line in reader.split(b'\n').map_while(Result::ok) {
                        if tx.send(RoomEvent::Line(i, line)).is_err() {
                            return;
                        }
                    }
                });
            }
        });
        std::thread::spawn(move || {
            let mut writers: Vec<Option<std::net::TcpStream>> = Vec::new();
            for event in rx {
                let (from, mut line) = match event {
                    RoomEvent::Joined(stream) => {
                        stream.set_nodelay(true).unwrap(); // pieces leave at once
                        writers.push(Some(stream));
                        continue;
                    }
                    RoomEvent::Line(from, line) => (from, line),
                };
                line.push(b'\n');
                for to in (0..writers.len()).filter(|&to| to != from) {
                    let Some(w) = writers[to].as_mut() else {
                        continue;
                    };
                    match fault(to, line.clone()) {
                        Act::Send(lines) => {
                            for l in lines {
                                let _ = w.write_all(&l);
                            }
                        }
                        Act::Split(l) => {
                            let (first, second) = l.split_at(l.len() / 2);
                            let _ = w.write_all(first);
                            std::thread::sleep(Duration::from_millis(2));
                            let _ = w.write_all(second);
                        }
                        Act::Close => {
                            // The reader thread holds a clone: shut the
                            // connection down, not just this descriptor.
                            let _ = w.shutdown(std::net::Shutdown::Both);
                            writers[to] = None;
                        }
                    }
                }
            }
        });
        addrs
    }

    fn args(addr: std::net::SocketAddr, clients: usize) -> BenchChatArgs {
        args_with(addr, clients, &[])
    }

    /// The tests' load on `clients` clients, with `extra` flags.
    fn args_with(addr: std::net::SocketAddr, clients: usize, extra: &[&str]) -> BenchChatArgs {
        use crate::cli::{BenchCommand, Cli, Command};
        use clap::Parser;
        let (addr, clients) = (addr.to_string(), clients.to_string());
        let mut argv = vec![
            "switchboard",
            "bench",
            "chat",
            &addr,
            "--preset",
            "plain",
            "--clients",
            &clients,
            "--senders",
            "2",
            "--rate",
            "200",
            "--duration",
            "500ms",
            "--warmup",
            "0s",
            "--quiet",
        ];
        argv.extend(extra);
        let cli = Cli::try_parse_from(argv).unwrap();
        match cli.command {
            Command::Bench(BenchCommand::Chat(args)) => args,
            _ => unreachable!(),
        }
    }

    #[test]
    fn a_faithful_room_is_clean() {
        let addr = spawn_room(5, Duration::ZERO, |_, line| Act::Send(vec![line]));
        let args = args(addr, 5);
        let out = measure(&args).unwrap();
        let a = &out.accounts;
        assert!(a.sent > 50, "lines were sent: {}", a.sent);
        assert_eq!(a.delivered, a.sent * 4);
        assert_eq!(a.deliveries, a.sent * 4);
        assert!(out.is_clean(5));
    }

    #[test]
    fn a_faithful_room_over_two_addresses_is_clean() {
        let addrs = spawn_room_on(2, 6, Duration::ZERO, |_, line| Act::Send(vec![line]));
        let second = addrs[1].to_string();
        let out = measure(&args_with(addrs[0], 6, &[&second])).unwrap();
        let a = &out.accounts;
        assert!(a.sent > 50, "lines were sent: {}", a.sent);
        assert_eq!(a.delivered, a.expected(6));
        assert_eq!(out.clients_per_addr, [(addrs[0], 3), (addrs[1], 3)]);
        // The 4 clients that do not send observe, on both addresses.
        let order = &out.room_order;
        assert_eq!(order.observers, 4);
        assert_eq!(order.compared, 6 * a.sent, "every line, in each of 6 pairs");
        assert!(out.is_clean(6));
    }

    #[test]
    fn observers_that_disagree_on_the_room_order_are_caught() {
        // Client 3 gets sender 0's first lines only after sender 1's next
        // one: each sender's lines still in order, but the room's lines in
        // another order than client 2 sees them.
        let (mut held, mut done) = (Vec::new(), false);
        let addr = spawn_room(4, Duration::ZERO, move |to, line| {
            if to != 3 || done {
                return Act::Send(vec![line]);
            }
            match parse_stamp(&line).map(|s| s.sender) {
                Some(0) => {
                    held.push(line);
                    Act::Send(vec![])
                }
                Some(1) if !held.is_empty() => {
                    done = true;
                    Act::Send([vec![line], std::mem::take(&mut held)].concat())
                }
                _ => Act::Send(vec![line]),
            }
        });
        let out = measure(&args(addr, 4)).unwrap();
        let a = &out.accounts;
        assert_eq!(a.reordered, 0, "each sender's lines in order");
        assert_eq!(a.delivered, a.expected(4), "nothing lost");
        let order = &out.room_order;
        assert_eq!(order.observers, 2, "clients 2 and 3");
        assert_eq!(order.violations, 1, "sender 1's line moved: {order:?}");
        assert!(!out.is_clean(4));
    }

    /// The room's fault for the split-line tests: client 1 gets each
    /// stamped line in two pieces, 2 ms apart.
    fn split_to_client_1(to: usize, line: Vec<u8>) -> Act {
        if to == 1 && parse_stamp(&line).is_some() {
            Act::Split(line)
        } else {
            Act::Send(vec![line])
        }
    }

    /// Lines were sent, and the split really made the generator read
    /// partial lines and put them back together.
    fn assert_split_lines_rejoined(a: &Accounts) {
        assert!(a.sent > 20, "lines were sent: {}", a.sent);
        assert!(
            a.split_lines > 0 && a.split_lines <= a.sent,
            "{} lines put back together of {} sent",
            a.split_lines,
            a.sent
        );
    }

    #[test]
    fn lines_split_across_reads_are_put_back_together() {
        let addr = spawn_room(4, Duration::ZERO, split_to_client_1);
        let out = measure(&args(addr, 4)).unwrap();
        let a = &out.accounts;
        assert_split_lines_rejoined(a);
        assert_eq!(a.delivered, a.expected(4));
        assert!(out.is_clean(4));
    }

    #[test]
    fn every_dropped_delivery_is_counted_lost() {
        let drops = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let counter = drops.clone();
        let mut n = 0u64;
        let addr = spawn_room(4, Duration::ZERO, move |to, line| {
            if parse_stamp(&line).is_none() {
                return Act::Send(vec![line]); // the join check
            }
            n += 1;
            if to == 1 && n % 5 == 0 {
                counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                Act::Send(vec![])
            } else {
                Act::Send(vec![line])
            }
        });
        let out = measure(&args(addr, 4)).unwrap();
        let a = &out.accounts;
        let dropped = drops.load(std::sync::atomic::Ordering::SeqCst);
        assert!(dropped > 0);
        assert_eq!(a.expected(4) - a.delivered, dropped);
        assert_eq!(a.reordered, 0);
        assert!(!out.is_clean(4));
    }

    #[test]
    fn a_swapped_pair_is_one_reordering() {
        // Client 2's first line from each sender is held back and delivered
        // after that sender's second: exactly one reordering per sender.
        let mut held: Vec<(usize, Vec<u8>)> = Vec::new();
        let mut swapped = Vec::new();
        let addr = spawn_room(4, Duration::ZERO, move |to, line| {
            let sender = parse_stamp(&line).map(|s| s.sender);
            match sender {
                Some(s) if to == 2 && !swapped.contains(&s) => {
                    if let Some(i) = held.iter().position(|(h, _)| *h == s) {
                        swapped.push(s);
                        let (_, first) = held.remove(i);
                        Act::Send(vec![line, first])
                    } else {
                        held.push((s, line));
                        Act::Send(vec![])
                    }
                }
                _ => Act::Send(vec![line]),
            }
        });
        let out = measure(&args(addr, 4)).unwrap();
        let a = &out.accounts;
        assert_eq!(a.reordered, 2, "one per sender");
        assert_eq!(a.delivered, a.expected(4), "nothing lost");
        assert!(!out.is_clean(4));
    }

    #[test]
    fn a_closed_client_is_a_disconnect() {
        let mut n = 0u64;
        let addr = spawn_room(4, Duration::ZERO, move |to, line| {
            n += 1;
            if to == 3 && n > 20 {
                Act::Close
            } else {
                Act::Send(vec![line])
            }
        });
        let out = measure(&args(addr, 4)).unwrap();
        let a = &out.accounts;
        assert_eq!(a.disconnects, 1);
        assert!(a.delivered < a.expected(4), "its lines are missing");
        assert!(!out.is_clean(4));
    }

    #[test]
    fn a_client_accepted_late_is_waited_for() {
        // The last client is accepted 500 ms after its connect completed;
        // measuring before then would count the lines it missed as lost.
        let addr = spawn_room(5, Duration::from_millis(500), |_, line| {
            Act::Send(vec![line])
        });
        let out = measure(&args(addr, 5)).unwrap();
        let a = &out.accounts;
        assert!(a.sent > 0);
        assert_eq!(a.delivered, a.expected(5));
        assert!(out.is_clean(5));
    }

    /// `spawn_room`'s room behind a TLS front with a fresh certificate:
    /// the TLS address, and the certificate (its file lives as long).
    fn tls_room(
        clients: usize,
        fault: impl FnMut(usize, Vec<u8>) -> Act + Send + 'static,
    ) -> (std::net::SocketAddr, tls::testing::TestCert) {
        let cert = tls::testing::TestCert::new();
        let room = spawn_room(clients, Duration::ZERO, fault);
        (tls::testing::front(room, cert.config.clone()), cert)
    }

    #[test]
    fn a_faithful_room_is_clean_over_tls() {
        let (addr, cert) = tls_room(5, |_, line| Act::Send(vec![line]));
        let args = args_with(addr, 5, &["--tls", "--tls-ca", cert.pem()]);
        let out = measure(&args).unwrap();
        let a = &out.accounts;
        assert!(a.sent > 50, "lines were sent: {}", a.sent);
        assert_eq!(a.delivered, a.sent * 4);
        assert!(out.is_clean(5));
        let tls = out.tls.expect("a TLS session");
        assert_eq!(tls["version"], "TLSv1_3");
    }

    #[test]
    fn lines_split_across_tls_records_are_put_back_together() {
        // Each half of a line is a record of its own, 2 ms apart.
        let (addr, cert) = tls_room(4, split_to_client_1);
        let out = measure(&args_with(addr, 4, &["--tls", "--tls-ca", cert.pem()])).unwrap();
        assert_split_lines_rejoined(&out.accounts);
        assert!(out.is_clean(4));
    }

    #[test]
    fn losses_and_reordering_are_counted_over_tls() {
        // To one client (the room's third; which client that is depends on
        // the order the TLS front connected in): the first line it gets
        // after the next one from the same sender, and the first line
        // numbered 5 never.
        let mut held: Option<(usize, Vec<u8>)> = None;
        let (mut swapped, mut dropped) = (false, false);
        let (addr, _cert) = tls_room(4, move |to, line| {
            let Some(stamp) = parse_stamp(&line).filter(|_| to == 2) else {
                return Act::Send(vec![line]);
            };
            if !swapped {
                match held.take() {
                    None => {
                        held = Some((stamp.sender, line));
                        return Act::Send(vec![]);
                    }
                    Some((sender, first)) if sender == stamp.sender => {
                        swapped = true;
                        return Act::Send(vec![line, first]);
                    }
                    other => held = other,
                }
            } else if stamp.seq == 5 && !dropped {
                dropped = true;
                return Act::Send(vec![]);
            }
            Act::Send(vec![line])
        });
        let out = measure(&args_with(addr, 4, &["--tls", "--tls-insecure"])).unwrap();
        let a = &out.accounts;
        assert_eq!(a.reordered, 1);
        assert_eq!(a.expected(4) - a.delivered, 1);
        assert!(!out.is_clean(4));
    }

    #[test]
    fn a_certificate_for_another_name_is_refused() {
        let (addr, cert) = tls_room(3, |_, line| Act::Send(vec![line]));
        let flags = ["--tls", "--tls-ca", cert.pem(), "--tls-name", "example.com"];
        let err = measure(&args_with(addr, 3, &flags)).err().expect("refused");
        assert!(err.to_string().contains("disconnected"), "{err:#}");
    }
}
