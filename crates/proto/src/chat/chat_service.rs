use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use tracing::{debug, info};
use tungstenite::protocol::frame::coding::CloseCode;

use crate::chat::core::{
    ChatCore, ChatError, Command, Entry, Event, EventKind, EventSink, Leaving, MessageKind,
    MessageTarget, QuitReason, Registration, RoomStamp, Session, SessionId, Shard, Target,
    Timestamp,
};
use crate::chat::delivery::{Batch, Delivery, Format, Formats, Refusals};
use crate::chat::irc::{IrcConfig, IrcConn};
use crate::chat::line::{self, LineConn, SERVER_FULL, SHUTDOWN};
use crate::chat::line_codec::{Frame, LineCodec};
use crate::chat::replica::Replica;
use crate::chat::token_bucket::{RateLimit, TokenBucket};
use crate::chat::web::{self, close_frame, farewell, line_frames, WebConfig, WebConn};
use crate::{later, Bus, CloseReason, ConnId, Io, OutputLimits, OverflowPolicy, Service};

/// The chat's limits and settings. Every field is a CLI flag of
/// `switchboard chat`.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    /// Longest accepted line in bytes for the line front-end (IRC's own
    /// limit is 512); longer ones are discarded up to their newline, with
    /// an error to the sender. Also the longest JSON WebSocket message
    /// (longer: close code 1009).
    pub max_line: usize,
    /// Unsent output a client may owe others before it is disconnected,
    /// if it stays behind for `output_grace` (see [`OutputLimits`]).
    pub max_output: usize,
    /// How long a client may stay more than `max_output` behind.
    pub output_grace: Duration,
    /// Per-client line rate, for every front-end; `None` disables it
    /// (benchmarks).
    pub rate_limit: Option<RateLimit>,
    /// Rooms of more than this many members have their joins and
    /// departures told in a summary per [`ChatConfig::announce_period`],
    /// not one by one, and a joiner is not sent their whole member list;
    /// 0 announces every one, whatever the size.
    pub announce_limit: usize,
    /// How often a crowded room's summary goes out, at most.
    pub announce_period: Duration,
    /// The IRC front-end's settings (its ping interval and timeout serve
    /// the web front-end too).
    pub irc: IrcConfig,
    /// The web front-end's settings.
    pub web: WebConfig,
    /// How long a new client has to show it is one: a web client to send a
    /// complete HTTP request, an IRC client to register, a line client that
    /// has started its first line to end it. Past it, it is closed, so that
    /// slow or silent clients cannot hold connections.
    pub handshake_timeout: Duration,
    /// When the server started (IRC's "This server was created"); unset,
    /// when the first client arrived (the service has no clock of its own).
    pub started: Option<SystemTime>,
}

impl ChatConfig {
    /// Unsent output above which a client is busy: private messages to it
    /// are refused (their senders told) rather than queued, and a client
    /// paused by its output is read again below it (the low-water mark).
    pub fn busy_output(&self) -> usize {
        self.max_output / 2
    }
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_line: 4096,
            max_output: 1024 * 1024,
            output_grace: Duration::from_secs(10),
            rate_limit: Some(RateLimit::default()),
            announce_limit: 100,
            announce_period: Duration::from_secs(1),
            irc: IrcConfig::default(),
            web: WebConfig::default(),
            handshake_timeout: Duration::from_secs(30),
            started: None,
        }
    }
}

/// Entries of a listing (`/who`, `WHO`, `NAMES`, `LIST`, `/rooms`, a web
/// client's `names` and `rooms`) that cost one token of the rate limit
/// beyond the command's own: a reply is paid for by its size, so a client
/// cannot make the server list a room of 2,000 twenty times a second.
pub const ENTRIES_PER_TOKEN: usize = 100;

/// How long a client's input waits, at least, after a costly listing (or
/// while other threads catch up): until a later loop turn, so that others
/// are served in between.
const LISTING_YIELD: Duration = Duration::from_millis(1);

/// The room everyone starts in; it exists even when empty.
pub const LOBBY: &str = "#lobby";

/// The front-ends, as the kinds of listener that accept their clients.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum FrontEnd {
    /// Lines of text, for `nc` and `telnet`.
    #[default]
    Line,
    /// IRC (RFC 2812 as modern clients speak it, with IRCv3 capabilities).
    Irc,
    /// HTTP: the chat page, and WebSockets speaking JSON or IRC.
    Web,
}

/// Counts that the threads of one server share, for IRC's `LUSERS`.
#[derive(Debug, Default)]
pub struct ServerCounters {
    /// Connections that have not registered yet (IRC clients before
    /// `NICK`/`USER`).
    unregistered: AtomicUsize,
    /// Most sessions at once so far.
    max_sessions: AtomicUsize,
}

impl ServerCounters {
    /// A connection that must register arrived.
    pub(crate) fn arrived(&self) {
        self.unregistered.fetch_add(1, Ordering::Relaxed);
    }

    /// One registered (and there are now `sessions`), or left before.
    pub(crate) fn registered_or_left(&self, sessions: Option<usize>) {
        self.unregistered.fetch_sub(1, Ordering::Relaxed);
        if let Some(sessions) = sessions {
            self.saw_sessions(sessions);
        }
    }

    /// There are `sessions` sessions now.
    pub(crate) fn saw_sessions(&self, sessions: usize) {
        self.max_sessions.fetch_max(sessions, Ordering::Relaxed);
    }

    /// Connections not registered yet.
    pub(crate) fn unregistered(&self) -> usize {
        self.unregistered.load(Ordering::Relaxed)
    }

    /// Most sessions at once so far.
    pub(crate) fn max_sessions(&self) -> usize {
        self.max_sessions.load(Ordering::Relaxed)
    }
}

/// Server-wide facts the front-ends report (IRC's `LUSERS`, `003`).
#[derive(Debug, Default)]
pub(crate) struct ServerState {
    /// Counts, shared with the server's other threads.
    pub counters: Arc<ServerCounters>,
    /// When the server started ([`ChatConfig::started`]), or else when the
    /// first client arrived (the service has no clock of its own).
    pub started: Option<Timestamp>,
}

/// What one call into a front-end works with: the core, the delivery of
/// events and replies, the settings, and the connection it is about.
pub(crate) struct Ctx<'a, I: Io> {
    /// The connection being served.
    pub conn: ConnId,
    /// The chat.
    pub core: &'a mut Replica,
    /// Events and replies go here.
    pub out: Delivery<'a, I>,
    /// Settings.
    pub config: &'a ChatConfig,
    /// Server-wide counters.
    pub server: &'a mut ServerState,
    /// Set when the front-end closes its connection.
    closing: &'a mut bool,
    /// Entries listed in replies to the command being handled (see
    /// [`ENTRIES_PER_TOKEN`]).
    pub listed: usize,
}

impl<I: Io> Ctx<'_, I> {
    /// The session of the connection being served.
    pub fn session(&self) -> SessionId {
        self.core.shard().session(self.conn)
    }

    /// Its nick (it must be registered).
    pub fn nick(&self) -> &str {
        &self.core.session(self.session()).expect("registered").nick
    }

    /// The time of the current event.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_system_time(self.out.io.system_time())
    }

    /// Registers the connection's session.
    pub fn register(&mut self, registration: Registration<'_>) -> Result<&Session, ChatError> {
        let (session, now) = (self.session(), self.now());
        self.core
            .register(session, registration, now, &mut self.out)
    }

    /// Runs `command` for the connection's session.
    pub fn command(&mut self, command: Command<'_>) -> Result<(), ChatError> {
        if let Command::Message {
            to: MessageTarget::Nick(nick),
            ..
        } = command
        {
            self.check_not_busy(nick)?;
        }
        let now = self.now();
        let session = self.session();
        self.core
            .handle_command(session, command, now, &mut self.out)
    }

    /// Refuses a private message to `nick` while its unsent output is over
    /// [`ChatConfig::busy_output`]: ten senders, each within its rate
    /// limit, would otherwise push a slow reader past `--max-output` and
    /// get it disconnected. The senders are told; the recipient keeps its
    /// connection and catches up.
    fn check_not_busy(&self, nick: &str) -> Result<(), ChatError> {
        let Some(target) = self.core.find_nick(nick) else {
            return Ok(()); // the core says who is not there
        };
        let Some(conn) = self.core.shard().conn(target) else {
            return Ok(()); // on another thread, which cannot be asked
        };
        let backlog = self.out.io.pending_output(conn);
        if target != self.session() && backlog > self.config.busy_output() {
            let nick = &self.core.session(target).expect("registered").nick;
            debug!(conn = %self.conn, %nick, backlog, "private message refused: target busy");
            return Err(ChatError::TargetBusy(nick.clone()));
        }
        Ok(())
    }

    /// Sends `text` to the connection being served.
    pub fn reply_str(&mut self, text: &str) {
        self.out.reply(self.conn, text.as_bytes());
    }

    /// Closes the connection once its output is sent, and ignores its
    /// further input. A registered session ends now: its rooms are told,
    /// as `leaving` says, and its nick is free at once, not when the
    /// connection is finally gone (which can take the linger time).
    pub fn close(&mut self, leaving: Leaving, reason: CloseReason) {
        *self.closing = true;
        let mut frame = Vec::new();
        farewell(self.out.formats.get(self.conn), &leaving, &mut frame);
        if !frame.is_empty() {
            self.out.io.send(self.conn, &frame);
        }
        self.out.io.close(self.conn, reason);
        let session = self.session();
        if let Some(s) = self.core.session(session) {
            info!(conn = %self.conn, nick = %s.nick, reason = ?leaving, "left");
            let now = self.now();
            self.core
                .quit(session, leaving.reason(), now, &mut self.out);
        }
    }

    /// Whether the connection is closing.
    pub fn is_leaving(&self) -> bool {
        *self.closing
    }

    /// Calls `f` with the event of the message this session just sent to
    /// `to` (with the room's sequence number, or the recipient as subject):
    /// what front-ends that echo a sender's own messages render.
    pub fn with_own_message<R>(
        &self,
        to: MessageTarget<'_>,
        kind: MessageKind,
        text: &str,
        tags: &str,
        f: impl FnOnce(&Event<'_>) -> R,
    ) -> R {
        let me = self.session();
        let (target, subject, stamp) = match to {
            MessageTarget::Room(id) => {
                let room = self.core.room(id);
                let stamp = RoomStamp {
                    room: id,
                    seq: room.seq,
                };
                (room.name.as_str(), None, Some(stamp))
            }
            MessageTarget::Nick(nick) => {
                let id = self.core.find_nick(nick).expect("delivered to");
                let session = self.core.session(id).expect("registered");
                (session.nick.as_str(), Some(id), None)
            }
        };
        let stamps: Vec<RoomStamp> = stamp.into_iter().collect();
        f(&Event {
            time: self.now(),
            actor: me,
            from: self.core.session(me).expect("registered").source(),
            subject,
            rooms: &stamps,
            kind: EventKind::Message {
                to: match subject {
                    Some(_) => Target::User(target),
                    None => Target::Room(target),
                },
                kind,
                text,
                tags,
            },
        })
    }
}

/// A connection's front-end state.
enum Client {
    Line(LineConn),
    Irc(Box<IrcConn>),
    Web(Box<WebConn>),
}

impl Client {
    /// Whether it speaks IRC and has not registered yet.
    fn is_unregistered_irc(&self) -> bool {
        match self {
            Client::Line(_) => false,
            Client::Irc(irc) => !irc.is_registered(),
            Client::Web(web) => web.is_unregistered_irc(),
        }
    }
}

/// One connection: its input pipeline and its front-end.
struct Conn {
    client: Client,
    codec: LineCodec,
    bucket: Option<TokenBucket>,
    /// Input received (telnet-filtered) and not yet framed: only non-empty
    /// while the rate limit holds reading paused.
    pending: Vec<u8>,
    /// The service closed it: ignore further input.
    closing: bool,
}

/// The chat server, as a sans-IO state machine: a protocol-neutral
/// [`ChatCore`] with front-ends around it, one per wire format (the line
/// protocol for `nc`/`telnet`, IRC), sharing its rooms.
///
/// The service owns what every connection has whatever its protocol:
/// framing within a length limit, the per-client rate limit (by not reading:
/// nothing is dropped), and the delivery of the core's events, rendered once
/// per wire format and shared among recipients.
pub struct ChatService {
    shared: Shared,
    /// By `ConnId`.
    conns: Vec<Option<Conn>>,
    clients: usize,
    shutting_down: bool,
    /// When the next summary of crowded rooms is due, while one is.
    summary_due: Option<Instant>,
    /// A reloaded announce limit, for every replica at the next event.
    pending_limit: Option<usize>,
}

/// What every call into a front-end works with besides its connection.
struct Shared {
    config: ChatConfig,
    core: Replica,
    /// Each connection's wire format.
    formats: Formats,
    batch: Batch,
    undelivered: Refusals,
    server: ServerState,
}

impl Shared {
    /// A [`Ctx`] for serving `conn`.
    fn ctx<'a, I: Io>(
        &'a mut self,
        conn: ConnId,
        io: &'a mut I,
        closing: &'a mut bool,
    ) -> Ctx<'a, I> {
        Ctx {
            conn,
            core: &mut self.core,
            out: Delivery::new(
                io,
                &mut self.formats,
                &mut self.batch,
                &mut self.undelivered,
                false,
            ),
            config: &self.config,
            server: &mut self.server,
            closing,
            listed: 0,
        }
    }
}

impl ChatService {
    /// A chat service with these settings, alone (on one thread).
    pub fn new(config: ChatConfig) -> Self {
        Self::with_replica(config, Replica::sole)
    }

    /// A chat service that is thread `shard` of several sharing one chat
    /// through `bus` (see [`Replica`]); every thread's service must have
    /// the same settings.
    /// `counters` are shared by all threads too.
    pub fn shared(
        config: ChatConfig,
        shard: Shard,
        bus: Box<dyn Bus<Arc<Entry>>>,
        counters: Arc<ServerCounters>,
    ) -> Self {
        let gap = config.announce_period;
        let mut service = Self::with_replica(config, |core| {
            Replica::shared(core.with_summary_gap(gap), shard, bus)
        });
        service.shared.server.counters = counters;
        service
    }

    fn with_replica(config: ChatConfig, replica: impl FnOnce(ChatCore) -> Replica) -> Self {
        let core = replica(
            ChatCore::new(&[LOBBY])
                .with_announce_limit(config.announce_limit, &config.irc.server_name),
        );
        let busy_output = config.busy_output();
        ChatService {
            pending_limit: None,
            shared: Shared {
                config,
                formats: Formats::default(),
                core,
                batch: Batch::default(),
                undelivered: Refusals::new(busy_output),
                server: ServerState::default(),
            },
            conns: Vec::new(),
            clients: 0,
            shutting_down: false,
            summary_due: None,
        }
    }

    /// New settings for the running service (a reload): the limits apply
    /// to every client at once (a changed rate limit starts each client
    /// from a full burst), `max_line` to clients that connect from now on.
    /// The server's name and start time stay: clients already know them.
    pub fn reconfigure(&mut self, mut config: ChatConfig, now: Instant) {
        let old = &self.shared.config;
        config.started = old.started;
        config.irc.server_name = old.irc.server_name.clone();
        if config.rate_limit != old.rate_limit {
            for c in self.conns.iter_mut().flatten() {
                c.bucket = config.rate_limit.map(|limit| TokenBucket::new(limit, now));
            }
        }
        if !self
            .shared
            .core
            .set_announce_limit_alone(config.announce_limit)
        {
            self.pending_limit = Some(config.announce_limit);
        }
        self.shared.undelivered.busy_output = config.busy_output();
        self.shared.config = config;
    }

    /// Asks for the service timer when a crowded room has arrivals or
    /// departures to summarize and no summary is due yet: a room hears at
    /// most one summary per period, however many come and go.
    fn schedule_summary(&mut self, io: &mut impl Io) {
        if self.summary_due.is_none() && self.shared.core.has_turnover() {
            let due = later(io.now(), self.shared.config.announce_period);
            self.summary_due = Some(due);
            io.set_service_timer(due);
        }
    }

    /// Number of connected clients, registered or not.
    pub fn client_count(&self) -> usize {
        self.clients
    }

    /// The chat core, for inspection.
    pub fn core(&self) -> &ChatCore {
        &self.shared.core
    }

    /// Applies what other threads did, and a reloaded announce limit:
    /// first thing in every call, so that this thread acts on the state
    /// the others see.
    fn catch_up<I: Io>(&mut self, io: &mut I) {
        if !self.shared.core.is_shared() && self.pending_limit.is_none() {
            return; // alone: nothing to catch up on
        }
        self.with_core(io, |core, _, out| core.catch_up(out));
    }

    /// Runs `f` with the connection `conn`'s state and a [`Ctx`] for it,
    /// then sends the messages held for batching.
    fn with_conn<I: Io>(
        &mut self,
        conn: ConnId,
        io: &mut I,
        f: impl FnOnce(&mut Conn, &mut Ctx<'_, I>),
    ) {
        self.catch_up(io);
        let Some(Some(c)) = self.conns.get_mut(conn.0) else {
            return;
        };
        let mut closing = c.closing;
        let mut ctx = self.shared.ctx(conn, io, &mut closing);
        f(c, &mut ctx);
        let now = ctx.now();
        finish_call(ctx.core, &mut ctx.out, now);
        c.closing = closing;
        self.schedule_summary(io);
    }

    /// Runs `f` with the core, the time and a delivery for what happens
    /// that is no connection's doing (a departure, a summary), then sends
    /// what was held for batching.
    fn with_core<I: Io>(
        &mut self,
        io: &mut I,
        f: impl FnOnce(&mut Replica, Timestamp, &mut Delivery<'_, I>),
    ) {
        let now = Timestamp::from_system_time(io.system_time());
        let shared = &mut self.shared;
        let mut out = Delivery::new(
            io,
            &mut shared.formats,
            &mut shared.batch,
            &mut shared.undelivered,
            self.shutting_down,
        );
        // A reloaded announce limit, through the log for every thread.
        if let Some(limit) = self.pending_limit.take() {
            shared.core.set_announce_limit(limit, now, &mut out);
        }
        f(&mut shared.core, now, &mut out);
        finish_call(&mut shared.core, &mut out, now);
    }

    /// Frames and handles `conn`'s pending input, one line at a time, while
    /// the rate limit allows; pauses reading when it does not.
    fn process_input(&mut self, conn: ConnId, io: &mut impl Io) {
        self.with_conn(conn, io, |c, ctx| {
            if let Client::Web(web) = &mut c.client {
                web.process_input(&mut c.pending, &mut c.bucket, ctx);
                return release_spare(&mut c.pending);
            }
            let input = std::mem::take(&mut c.pending);
            let mut at = 0;
            while at < input.len() && !ctx.is_leaving() {
                // A token is spent only on a line that is complete.
                if input[at..].contains(&b'\n') && !take_token(&mut c.bucket, ctx) {
                    break;
                }
                let (n, frame) = c.codec.decode_next(&input[at..]);
                at += n;
                if let Some(frame) = frame {
                    handle_frame(&mut c.client, frame, ctx);
                    if !charge_listing(&mut c.bucket, ctx) {
                        break;
                    }
                }
            }
            let mut input = input;
            input.drain(..at);
            c.pending = input;
            release_spare(&mut c.pending);
        });
    }
}

/// The end of every call into the service: the lines held for batching go
/// out, and the senders of private messages that were not delivered are
/// told, through their threads.
fn finish_call<I: Io>(core: &mut Replica, out: &mut Delivery<'_, I>, now: Timestamp) {
    out.flush(core);
    // Telling them catches up too, which may refuse more.
    loop {
        let refused = out.take_undelivered();
        if refused.is_empty() {
            return;
        }
        for refusal in refused {
            core.tell_undelivered(refusal, now, out);
        }
        out.flush(core);
    }
}

/// Input held back a little while is all `pending` is for: once it is
/// handled, a big read's allocation goes back, so that an idle client
/// costs no more than one that never sent much. (A small one is kept: a
/// chat line per read would otherwise cost an allocation each.)
fn release_spare(pending: &mut Vec<u8>) {
    const KEEP: usize = 1024;
    if pending.is_empty() {
        if pending.capacity() > KEEP {
            *pending = Vec::new();
        }
    } else if pending.capacity() > 4 * pending.len().max(KEEP) {
        pending.shrink_to(pending.len());
    }
}

/// Spends a token of the client's rate limit, or pauses reading its input
/// until there is one: the client is slowed, and nothing it sent is lost.
/// Also pauses it for a moment (a later loop turn) while the other threads are
/// far behind in the shared log: a thread must not take in lines faster
/// than every thread can hand them out, or one flooding client would have
/// the others' threads do nothing else (and the log grow without bound).
pub(crate) fn take_token<I: Io>(bucket: &mut Option<TokenBucket>, ctx: &mut Ctx<'_, I>) -> bool {
    if ctx.core.is_congested() {
        debug!(conn = %ctx.conn, "other threads behind: reading paused");
        let until = later(ctx.out.io.now(), LISTING_YIELD);
        ctx.out.io.pause_reading_until(ctx.conn, until);
        return false;
    }
    let Some(bucket) = bucket else {
        return true;
    };
    match bucket.try_take(ctx.out.io.now()) {
        Ok(()) => true,
        Err(when) => {
            debug!(conn = %ctx.conn, "rate limited: reading paused");
            ctx.out.io.pause_reading_until(ctx.conn, when);
            false
        }
    }
}

/// After a command: charges the client one token per
/// [`ENTRIES_PER_TOKEN`] entries its replies listed, and after such a
/// costly reply reads it no more until a later loop turn (at the earliest;
/// until its next token, if it now owes some), so that one client's
/// queries cannot hold the loop. Returns whether to go on reading.
pub(crate) fn charge_listing<I: Io>(
    bucket: &mut Option<TokenBucket>,
    ctx: &mut Ctx<'_, I>,
) -> bool {
    let extra = std::mem::take(&mut ctx.listed) / ENTRIES_PER_TOKEN;
    if extra == 0 || ctx.is_leaving() {
        return true;
    }
    let now = ctx.out.io.now();
    let tokens = u32::try_from(extra).unwrap_or(u32::MAX);
    let next = bucket.as_mut().map_or(now, |b| b.charge(now, tokens));
    let until = next.max(later(now, LISTING_YIELD));
    debug!(conn = %ctx.conn, extra, "costly reply: reading paused");
    ctx.out.io.pause_reading_until(ctx.conn, until);
    false
}

fn handle_frame<I: Io>(client: &mut Client, frame: Frame, ctx: &mut Ctx<'_, I>) {
    match client {
        Client::Line(line) => line.handle_frame(frame, ctx),
        Client::Irc(irc) => irc.handle_frame(frame, ctx),
        Client::Web(_) => unreachable!("web clients frame their own input"),
    }
}

impl Service for ChatService {
    type Listener = FrontEnd;

    fn output_limits(&self) -> OutputLimits {
        OutputLimits {
            high_water: self.shared.config.max_output,
            low_water: self.shared.config.busy_output(),
            policy: OverflowPolicy::Disconnect,
            grace: self.shared.config.output_grace,
        }
    }

    fn handle_connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        front_end: FrontEnd,
        io: &mut impl Io,
    ) {
        self.catch_up(io);
        let now = io.now();
        let (format, max_line) = match front_end {
            FrontEnd::Line => (Format::Line, self.shared.config.max_line),
            FrontEnd::Irc => (Format::Irc(Default::default()), IrcConn::MAX_LINE),
            // Until it upgrades to a WebSocket, a web client is in no room
            // and its replies go out as they are, as a line client's do.
            FrontEnd::Web => (Format::Line, 0),
        };
        if self.conns.len() <= conn.0 {
            self.conns.resize_with(conn.0 + 1, || None);
        }
        self.shared.formats.set(conn, format, false);
        self.clients += 1;
        let started = self
            .shared
            .config
            .started
            .unwrap_or_else(|| io.system_time());
        (self.shared.server.started).get_or_insert(Timestamp::from_system_time(started));
        let mut closing = false;
        let mut ctx = self.shared.ctx(conn, io, &mut closing);
        let client = match front_end {
            FrontEnd::Line => Client::Line(LineConn::handle_connect(peer, &mut ctx)),
            FrontEnd::Irc => Client::Irc(Box::new(IrcConn::handle_connect(peer, &mut ctx))),
            FrontEnd::Web => Client::Web(Box::new(WebConn::handle_connect(peer, &mut ctx))),
        };
        let at = ctx.now();
        finish_call(ctx.core, &mut ctx.out, at);
        let sessions = self.shared.core.session_count();
        self.shared.server.counters.saw_sessions(sessions);
        self.conns[conn.0] = Some(Conn {
            client,
            codec: LineCodec::new(max_line),
            bucket: (self.shared.config.rate_limit).map(|limit| TokenBucket::new(limit, now)),
            pending: Vec::new(),
            closing,
        });
        self.schedule_summary(io);
    }

    fn handle_data(&mut self, conn: ConnId, data: &[u8], io: &mut impl Io) {
        let Some(Some(c)) = self.conns.get_mut(conn.0) else {
            return;
        };
        if c.closing {
            return;
        }
        match &mut c.client {
            Client::Line(line) => line.filter(data, &mut c.pending),
            Client::Irc(_) | Client::Web(_) => c.pending.extend_from_slice(data),
        }
        self.process_input(conn, io);
    }

    fn handle_wake(&mut self, conn: ConnId, io: &mut impl Io) {
        self.process_input(conn, io);
    }

    fn handle_timer(&mut self, conn: ConnId, io: &mut impl Io) {
        self.with_conn(conn, io, |c, ctx| {
            // Input held back by the rate limit is a client that talks (its
            // PONG may be in there), not a silent one.
            let holding_input = !c.pending.is_empty();
            match &mut c.client {
                Client::Irc(irc) => irc.handle_timer(holding_input, ctx),
                Client::Web(web) => web.handle_timer(holding_input, ctx),
                Client::Line(line) => line.handle_timer(c.codec.buffered() > 0, ctx),
            }
        });
    }

    fn handle_close(&mut self, conn: ConnId, reason: CloseReason, io: &mut impl Io) {
        let Some(c) = self.conns.get_mut(conn.0).and_then(Option::take) else {
            return;
        };
        self.clients -= 1;
        self.shared.formats.remove(conn);
        if c.client.is_unregistered_irc() {
            self.shared.server.counters.registered_or_left(None);
            return debug!(%conn, %reason, "left before registering");
        }
        let session = self.shared.core.shard().session(conn);
        let Some(nick) = self.shared.core.session(session).map(|s| s.nick.clone()) else {
            return; // its front-end closed it and ended the session then
        };
        info!(%conn, %nick, %reason, "left");
        self.with_core(io, |core, now, out| {
            core.quit(session, QuitReason::Closed(reason), now, out);
        });
        self.schedule_summary(io);
    }

    fn handle_service_timer(&mut self, io: &mut impl Io) {
        self.summary_due = None;
        self.with_core(io, |core, now, out| {
            core.catch_up(out);
            core.announce_turnover(now, out);
        });
        self.schedule_summary(io);
    }

    fn handle_notify(&mut self, io: &mut impl Io) {
        self.catch_up(io);
        self.schedule_summary(io);
    }

    fn handle_shutdown(&mut self, io: &mut impl Io) {
        self.shutting_down = true;
        let line = Bytes::from_static(SHUTDOWN.as_bytes());
        let irc = Bytes::from_static(IrcConn::SHUTDOWN);
        // WebSocket clients get a close frame, "going away"; IRC ones the
        // IRC goodbye before it.
        let mut json = Vec::new();
        close_frame(CloseCode::Away, "server shutting down", &mut json);
        let mut ws_irc = Vec::new();
        line_frames(IrcConn::SHUTDOWN, &mut ws_irc);
        ws_irc.extend_from_slice(&json);
        let (json, ws_irc) = (Bytes::from(json), Bytes::from(ws_irc));
        for (id, c) in self.conns.iter().enumerate() {
            let Some(c) = c else { continue };
            let bytes = match &c.client {
                Client::Line(_) => &line,
                Client::Irc(_) => &irc,
                Client::Web(web) => match web.websocket() {
                    None => continue,
                    Some(false) => &json,
                    Some(true) => &ws_irc,
                },
            };
            io.send_shared(ConnId(id), bytes);
        }
    }

    fn rejection_notice(&self, front_end: FrontEnd, reason: CloseReason) -> Option<&[u8]> {
        let per_address = reason == CloseReason::AddressLimit;
        Some(match (front_end, per_address) {
            (FrontEnd::Line, false) => SERVER_FULL,
            (FrontEnd::Line, true) => line::ADDRESS_LIMIT,
            (FrontEnd::Irc, false) => IrcConn::SERVER_FULL,
            (FrontEnd::Irc, true) => IrcConn::ADDRESS_LIMIT,
            (FrontEnd::Web, false) => web::SERVER_FULL,
            (FrontEnd::Web, true) => web::ADDRESS_LIMIT,
        })
    }
}
