use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpListener as StdTcpListener, UdpSocket};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use mio::net::{TcpListener, TcpStream};
use switchboard_proto::{later, CloseReason, ConnId, Io, Service};
use tracing::{debug, error, info, trace, warn};

use crate::address_limits::{AddressRefusal, AddressTable};
use crate::clock::{Clock, SystemClock};
use crate::config::Config;
use crate::connection::{Connection, State};
use crate::connections::Connections;
use crate::episode::{Episode, EpisodeMark};
use crate::listener::{is_per_connection, is_resource_exhaustion};
use crate::poller::{Event, FdTooLarge, Interest, Poller, Token};
use crate::reactor_handle::{ReactorHandle, NOTIFY, RELOAD};
use crate::reflector::is_reflector;
use crate::stats::Stats;
use crate::tls::TlsAcceptor;
use rustls::ServerConnection;

/// Tokens above every connection key name the reactor's own descriptors.
const CONTROL: usize = usize::MAX;
const LISTENER_BASE: usize = usize::MAX - 1;
const UDP_BASE: usize = usize::MAX - 1 - 4096;

enum Source {
    Control,
    Listener(usize),
    Udp(usize),
    Conn(usize),
}

fn source(token: Token) -> Source {
    match token.0 {
        CONTROL => Source::Control,
        t if t > UDP_BASE => Source::Listener(LISTENER_BASE - t),
        t if t > UDP_BASE - 4096 => Source::Udp(UDP_BASE - t),
        t => Source::Conn(t),
    }
}

struct ListenerSlot<L> {
    listener: TcpListener,
    addr: SocketAddr,
    /// What the service is told about connections accepted here.
    kind: L,
    /// TLS settings, on a TLS listener.
    tls: Option<TlsAcceptor>,
    /// Set while accepting is paused after descriptor exhaustion.
    resume_at: Option<Instant>,
}

struct UdpSlot {
    socket: UdpSocket,
    /// Its address, which no datagram we answer may claim to come from.
    addr: SocketAddr,
    /// To serve this turn: it was reported readable, or the per-turn cap
    /// was hit last turn (so it is served again without waiting for an
    /// event).
    pending: bool,
}

/// How a reactor's run ended.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// Counters over the reactor's life.
    pub stats: Stats,
    /// A second shutdown request cut the graceful shutdown short.
    pub forced: bool,
}

/// One event loop serving one [`Service`] on any number of listeners.
pub struct Reactor<S: Service> {
    service: S,
    poller: Box<dyn Poller>,
    clock: Box<dyn Clock>,
    config: Config,
    conns: Connections,
    listeners: Vec<ListenerSlot<S::Listener>>,
    udp: Vec<UdpSlot>,
    /// Each UDP socket's address (as `udp`), for [`is_reflector`].
    udp_addrs: Vec<SocketAddr>,
    udp_reply: Vec<u8>,
    events: Vec<Event>,
    read_buf: Box<[u8]>,
    control: UnixStream,
    handle: ReactorHandle,
    shutdown_deadline: Option<Instant>,
    /// With coalescing: when the pending output is to be flushed.
    flush_due: Option<Instant>,
    /// Timers that expired this turn (kept to reuse its allocation).
    due_timers: Vec<(Instant, usize)>,
    forced: bool,
    /// This reactor's part in the episodes of [`Siblings`]: descriptors
    /// run out, the connection limit, the poller's descriptor limit.
    exhausted: EpisodeMark,
    full: EpisodeMark,
    poller_full: EpisodeMark,
    /// What this reactor shares with its siblings (see
    /// [`Reactor::sibling`]): the connection count and the per-address
    /// table, so that the limits hold for the process, not per thread.
    shared: Arc<Siblings>,
    /// Called on a reload request.
    reload_hook: Option<ReloadHook<S>>,
    /// TLS connections whose handshake is not over, with their listener's
    /// kind: the service hears of them (`handle_connect`) only once it is,
    /// so that a client that never speaks TLS never joins anything.
    handshaking: HashMap<usize, S::Listener>,
}

/// Makes a service call for connection `key`: what the service sends `key`
/// meanwhile answers `key`'s own doing, a reply (see `Connections::serving`).
fn serve<S>(
    service: &mut S,
    conns: &mut Connections,
    key: usize,
    call: impl FnOnce(&mut S, &mut Connections),
) {
    conns.serving = Some(key);
    call(service, conns);
    conns.serving = None;
}

/// What the reactors of one process share.
struct Siblings {
    /// Connections open across all of them.
    open: AtomicUsize,
    /// Connections and rates per peer address.
    addresses: Mutex<AddressTable>,
    /// Descriptors ran out on accept (they are the process's: logged once
    /// for all threads).
    exhaustion: Episode,
    /// New clients refused at the connection limit.
    full: Episode,
    /// New clients refused at the poller's descriptor limit (select's
    /// FD_SETSIZE).
    poller_full: Episode,
    /// Every sibling's handle: a reload that a service asks for (an IRC
    /// operator's `REHASH`) is for all of them.
    handles: Mutex<Vec<ReactorHandle>>,
}

/// See [`Reactor::on_reload`].
type ReloadHook<S> = Box<dyn FnMut(&mut S, &mut Config, Instant) + Send>;

impl<S: Service> Reactor<S> {
    /// A reactor for `service`, with no listeners yet.
    pub fn new(service: S, config: Config) -> io::Result<Self> {
        let poller = config.poller.create()?;
        Self::with_parts(service, config, poller, Box::new(SystemClock))
    }

    /// A reactor on a given poller and clock (`config.poller` is not
    /// used): how tests drive it turn by turn in virtual time.
    pub fn with_parts(
        service: S,
        config: Config,
        mut poller: Box<dyn Poller>,
        clock: Box<dyn Clock>,
    ) -> io::Result<Self> {
        let (tx, control) = UnixStream::pair()?;
        tx.set_nonblocking(true)?;
        control.set_nonblocking(true)?;
        let handle = ReactorHandle::new(tx);
        poller.register(control.as_raw_fd(), Token(CONTROL), Interest::READABLE)?;
        let mut conns = Connections::new(
            service.output_limits(),
            config.idle_timeout,
            config.linger_timeout,
        );
        conns.write_through = service.writes_through() && config.coalesce.is_zero();
        conns.now = clock.now();
        conns.system_time = clock.system_time();
        Ok(Reactor {
            service,
            poller,
            clock,
            conns,
            listeners: Vec::new(),
            udp: Vec::new(),
            udp_addrs: Vec::new(),
            udp_reply: Vec::new(),
            events: Vec::with_capacity(1024),
            read_buf: vec![0; config.read_buffer_size.max(1)].into_boxed_slice(),
            control,
            handle: handle.clone(),
            shutdown_deadline: None,
            flush_due: None,
            due_timers: Vec::new(),
            forced: false,
            shared: Arc::new(Siblings {
                open: AtomicUsize::new(0),
                exhaustion: Episode::default(),
                full: Episode::default(),
                poller_full: Episode::default(),
                addresses: Mutex::new(AddressTable::new(config.per_address.clone())),
                handles: Mutex::new(vec![handle.clone()]),
            }),
            reload_hook: None,
            exhausted: EpisodeMark::default(),
            full: EpisodeMark::default(),
            poller_full: EpisodeMark::default(),
            handshaking: HashMap::new(),
            config,
        })
    }

    /// Serves TCP connections accepted on `listener` (see
    /// [`bind_tcp`](crate::bind_tcp)), as the service's default listener
    /// kind. Returns its local address.
    pub fn add_listener(&mut self, listener: StdTcpListener) -> io::Result<SocketAddr> {
        self.add_listener_for(listener, S::Listener::default())
    }

    /// Serves TCP connections accepted on `listener`, telling the service
    /// they came through a listener of kind `kind` (a chat front-end, say).
    /// Returns its local address.
    pub fn add_listener_for(
        &mut self,
        listener: StdTcpListener,
        kind: S::Listener,
    ) -> io::Result<SocketAddr> {
        self.add_listener_with(listener, kind, None)
    }

    /// As [`Reactor::add_listener_for`], with TLS on every connection
    /// accepted on `listener` when `tls` is given.
    pub fn add_listener_with(
        &mut self,
        listener: StdTcpListener,
        kind: S::Listener,
        tls: Option<TlsAcceptor>,
    ) -> io::Result<SocketAddr> {
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let token = Token(LISTENER_BASE - self.listeners.len());
        self.poller
            .register(listener.as_raw_fd(), token, Interest::READABLE)?;
        let listener = TcpListener::from_std(listener);
        self.listeners.push(ListenerSlot {
            listener,
            addr,
            kind,
            tls,
            resume_at: None,
        });
        Ok(addr)
    }

    /// Serves datagrams arriving on `socket` (see
    /// [`bind_udp`](crate::bind_udp)). Returns its local address.
    pub fn add_udp(&mut self, socket: UdpSocket) -> io::Result<SocketAddr> {
        socket.set_nonblocking(true)?;
        let addr = socket.local_addr()?;
        let token = Token(UDP_BASE - self.udp.len());
        self.poller
            .register(socket.as_raw_fd(), token, Interest::READABLE)?;
        self.udp.push(UdpSlot {
            socket,
            addr,
            pending: false,
        });
        self.udp_addrs.push(addr);
        Ok(addr)
    }

    /// What to do on a reload request (SIGHUP, [`ReactorHandle::reload`]):
    /// `hook` may change the service's settings and the reactor's
    /// configuration; what it leaves in the configuration takes effect for
    /// every connection at once (limits, timeouts), except the poller.
    pub fn on_reload(&mut self, hook: impl FnMut(&mut S, &mut Config, Instant) + Send + 'static) {
        self.reload_hook = Some(Box::new(hook));
    }

    fn reload(&mut self, now: Instant) {
        let Some(hook) = self.reload_hook.as_mut() else {
            return info!("reload requested: nothing to reload");
        };
        hook(&mut self.service, &mut self.config, now);
        self.addresses().set_limits(self.config.per_address.clone());
        let conns = &mut self.conns;
        conns.limits = self.service.output_limits();
        conns.idle_timeout = self.config.idle_timeout;
        conns.linger_timeout = self.config.linger_timeout;
        conns.write_through = self.service.writes_through() && self.config.coalesce.is_zero();
        // Deadlines may have moved earlier (a shorter idle timeout or
        // grace); a later one is found when the old entry fires.
        let keys: Vec<usize> = conns.slab.iter().map(|(key, _)| key).collect();
        for key in keys {
            conns.arm_timer(key);
        }
    }

    /// Another reactor like this one (the same configuration), for another
    /// thread, serving `service`: connections and the per-address limits
    /// are counted for both together (and for all their siblings), so
    /// `max_connections` is for the process, however many threads serve it.
    pub fn sibling<T: Service>(&self, service: T) -> io::Result<Reactor<T>> {
        let mut reactor = Reactor::new(service, self.config.clone())?;
        reactor.shared = self.shared.clone();
        (self.shared.handles.lock())
            .unwrap_or_else(PoisonError::into_inner)
            .push(reactor.handle());
        Ok(reactor)
    }

    fn addresses(&self) -> MutexGuard<'_, AddressTable> {
        // The table stays consistent whatever a panicking holder did.
        (self.shared.addresses.lock()).unwrap_or_else(PoisonError::into_inner)
    }

    /// A handle that asks this reactor to shut down, from anywhere.
    pub fn handle(&self) -> ReactorHandle {
        self.handle.clone()
    }

    /// Timer entries queued, superseded ones included (for tests: they stay
    /// bounded by the connections).
    pub fn timer_entries(&self) -> usize {
        self.conns.timers.len()
    }

    /// The service, for inspection.
    pub fn service(&self) -> &S {
        &self.service
    }

    /// Runs until shut down through a [`ReactorHandle`]. Only poller failures
    /// are errors; everything that goes wrong with one connection closes
    /// that connection only.
    pub fn run(mut self) -> io::Result<RunOutcome> {
        debug!(poller = self.poller.name(), "reactor running");
        while self.turn()? {}
        Ok(self.finish())
    }

    /// One turn of the loop: wait for events (up to the next deadline),
    /// handle them, read what is ready, fire due timers, flush. Returns
    /// `false` once the reactor has stopped; then [`Reactor::finish`].
    pub fn turn(&mut self) -> io::Result<bool> {
        let now = self.clock.now();
        let timeout = self.poll_timeout(now);
        trace!(
            timeout_ms = timeout.map(|t| t.as_millis() as u64),
            "waiting for the next event"
        );
        self.poll_events(timeout)?;
        if tracing::enabled!(tracing::Level::TRACE) {
            self.trace_ready();
        }
        let now = self.clock.now();
        self.conns.now = now;
        self.conns.system_time = self.clock.system_time();
        for i in 0..self.events.len() {
            let event = self.events[i];
            self.dispatch(event, now);
        }
        if self.forced {
            return Ok(false);
        }
        self.resume_listeners(now);
        self.serve_pending_udp();
        self.read_ready(now);
        self.conns.now = now;
        // Collected first: a timer that a wake re-arms for a time
        // already reached fires next turn, never loops within this one.
        let mut due = std::mem::take(&mut self.due_timers);
        while let Some(timer) = self.conns.timers.pop_expired(now) {
            due.push(timer);
        }
        for (when, key) in due.drain(..) {
            let fired = self.conns.handle_timer(when, key, now);
            if fired.service_timer {
                serve(&mut self.service, &mut self.conns, key, |s, io| {
                    s.handle_timer(ConnId(key), io)
                });
            }
            if fired.wake {
                self.wake(key);
            }
        }
        self.due_timers = due;
        if self.conns.service_timer.is_some_and(|when| when <= now) {
            self.conns.service_timer = None;
            self.service.handle_service_timer(&mut self.conns);
        }
        if std::mem::take(&mut self.conns.reload_requested) {
            // Through the control sockets: every sibling reloads, this one
            // at its next turn.
            let handles = self.shared.handles.lock();
            handles
                .unwrap_or_else(PoisonError::into_inner)
                .iter()
                .for_each(ReactorHandle::reload);
        }
        self.finish_turn(now);
        if let Some(deadline) = self.shutdown_deadline {
            if self.conns.slab.is_empty() {
                return Ok(false);
            }
            if now >= deadline {
                warn!(
                    connections = self.conns.slab.len(),
                    "shutdown deadline passed; closing connections with output unsent"
                );
                self.close_all(CloseReason::Shutdown);
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// What the reactor has counted so far.
    pub fn stats(&self) -> &Stats {
        &self.conns.stats
    }

    /// After the last turn: closes what is left and reports.
    pub fn finish(mut self) -> RunOutcome {
        if self.forced {
            warn!(
                connections = self.conns.slab.len(),
                "second shutdown request: stopping now"
            );
            self.close_all(CloseReason::Shutdown);
        }
        info!(stats = %self.conns.stats, "reactor stopped");
        RunOutcome {
            stats: self.conns.stats.clone(),
            forced: self.forced,
        }
    }

    /// Zero when work is queued; otherwise until the next timer (the
    /// connections' or the service's), listener resumption or shutdown
    /// deadline (or forever).
    fn poll_timeout(&self, now: Instant) -> Option<Duration> {
        if !self.conns.read_queue.is_empty() || self.udp.iter().any(|u| u.pending) {
            return Some(Duration::ZERO);
        }
        let deadlines = [
            self.conns.timers.next_deadline(),
            self.listeners.iter().filter_map(|l| l.resume_at).min(),
            self.shutdown_deadline,
            self.flush_due,
            self.conns.service_timer,
        ];
        deadlines
            .into_iter()
            .flatten()
            .min()
            .map(|when| when.saturating_duration_since(now))
    }

    /// Waits for events for up to `timeout`. With `busy_poll`, first polls
    /// without sleeping for up to that long (never past the timeout), so
    /// that an event arriving soon is taken without a wake-up.
    fn poll_events(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        let spin = timeout.map_or(self.config.busy_poll, |t| t.min(self.config.busy_poll));
        if spin.is_zero() {
            return self.poller.poll(&mut self.events, timeout);
        }
        let start = self.clock.now();
        loop {
            self.poller.poll(&mut self.events, Some(Duration::ZERO))?;
            let spent = self.clock.now().saturating_duration_since(start);
            if !self.events.is_empty() {
                return Ok(());
            }
            if spent >= spin {
                let rest = timeout.map(|t| t.saturating_sub(spent));
                return self.poller.poll(&mut self.events, rest);
            }
        }
    }

    fn dispatch(&mut self, event: Event, now: Instant) {
        match source(event.token) {
            Source::Control => self.handle_control(now),
            Source::Listener(i) => self.accept_all(i, now),
            // Served once per turn, after the events, with what was left
            // from the last turn: the per-turn cap holds however the
            // socket's readiness arrives.
            Source::Udp(i) => {
                if let Some(slot) = self.udp.get_mut(i) {
                    slot.pending = true;
                }
            }
            Source::Conn(key) => self.handle_conn_event(key, event),
        }
    }

    /// `--trace`: what the wait returned, in select()'s terms: which
    /// sockets are readable, writable and "exceptional" (an error or a
    /// hang-up; a select() loop passes its inputs as the exceptional list).
    fn trace_ready(&self) {
        let (mut readable, mut writable, mut exceptional) = (Vec::new(), Vec::new(), Vec::new());
        for event in &self.events {
            let name = match source(event.token) {
                Source::Control => "control socket (shutdown request)".to_string(),
                Source::Listener(i) => format!("listening socket {}", self.listeners[i].addr),
                Source::Udp(i) => format!("udp socket {}", self.udp[i].addr),
                Source::Conn(key) => match self.conns.slab.get(key) {
                    Some(c) => c.peer.to_string(),
                    None => continue,
                },
            };
            if event.readable || event.read_closed {
                readable.push(name.clone());
            }
            if event.writable {
                writable.push(name.clone());
            }
            if event.error {
                exceptional.push(name);
            }
        }
        let list = |names: Vec<String>| format!("[{}]", names.join(", "));
        trace!(
            ready = self.events.len(),
            readable = %list(readable),
            writable = %list(writable),
            exceptional = %list(exceptional),
            "events ready"
        );
    }

    fn handle_conn_event(&mut self, key: usize, event: Event) {
        let Some(c) = self.conns.slab.get_mut(key) else {
            return;
        };
        if event.error {
            let reason = match (c.state, c.stream.take_error()) {
                (State::Draining(r) | State::Lingering(r, _), _) => r,
                (_, Ok(Some(e))) => CloseReason::from_io_error(&e),
                (_, Err(e)) => CloseReason::from_io_error(&e),
                (_, Ok(None)) => CloseReason::HangUp,
            };
            return self.conns.mark_dead(key, reason);
        }
        c.read_closed |= event.read_closed;
        let readable = event.readable || event.read_closed;
        c.readable |= readable;
        let (read, flush) = (
            readable && c.wants_read(),
            event.writable && c.write_blocked,
        );
        if read {
            self.conns.queue_read(key);
        }
        if flush {
            self.conns.queue_flush(key);
        }
    }

    fn handle_control(&mut self, now: Instant) {
        let (mut requests, mut reloads, mut notified) = (0, 0, false);
        let mut buf = [0u8; 64];
        loop {
            match self.control.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    let count = |byte| buf[..n].iter().filter(|&&b| b == byte).count();
                    let (r, w) = (count(RELOAD), count(NOTIFY));
                    notified |= w > 0;
                    reloads += r;
                    requests += n - r - w;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break,
            }
        }
        if notified {
            self.service.handle_notify(&mut self.conns);
        }
        if reloads > 0 {
            self.reload(now);
        }
        if requests > 0 && self.shutdown_deadline.is_none() {
            requests -= 1;
            self.begin_shutdown(now);
        }
        if requests > 0 {
            self.forced = true;
        }
    }

    fn accept_all(&mut self, i: usize, now: Instant) {
        loop {
            let Some(slot) = self.listeners.get_mut(i) else {
                return;
            };
            if slot.resume_at.is_some() {
                return;
            }
            // A success of this accept, begun now, ends the episodes
            // begun before it (see `Episode`).
            self.shared.exhaustion.before(&mut self.exhausted);
            self.shared.full.before(&mut self.full);
            self.shared.poller_full.before(&mut self.poller_full);
            match slot.listener.accept() {
                Ok((stream, peer)) => {
                    if self.shared.exhaustion.handle_success(&mut self.exhausted) {
                        info!("accepting connections again");
                    }
                    let kind = slot.kind;
                    let tls = match &slot.tls {
                        Some(acceptor) => match acceptor.accept() {
                            Ok(tls) => Some(Box::new(tls)),
                            Err(e) => {
                                warn!(%peer, error = %e, "cannot start TLS; dropping the connection");
                                continue;
                            }
                        },
                        None => None,
                    };
                    self.handle_accept(stream, peer, kind, tls, now);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if is_per_connection(&e) => debug!(error = %e, "accept: peer gone"),
                Err(e) => return self.pause_listener(i, &e, now),
            }
        }
    }

    /// Stops accepting on listener `i` for a back-off period: retrying an
    /// accept that failed for lack of descriptors would spin the CPU.
    fn pause_listener(&mut self, i: usize, err: &io::Error, now: Instant) {
        let slot = &mut self.listeners[i];
        if is_resource_exhaustion(err) {
            if self.shared.exhaustion.handle_hit(&mut self.exhausted) {
                warn!(
                    listener = %slot.addr, error = %err, backoff = ?self.config.accept_backoff,
                    "cannot accept: out of descriptors or memory; pausing accepts"
                );
            }
        } else {
            error!(listener = %slot.addr, error = %err, "accept failed; pausing accepts");
        }
        let _ = self.poller.deregister(slot.listener.as_raw_fd());
        slot.resume_at = Some(later(now, self.config.accept_backoff));
    }

    fn resume_listeners(&mut self, now: Instant) {
        for i in 0..self.listeners.len() {
            let slot = &mut self.listeners[i];
            if slot.resume_at.is_some_and(|t| t <= now) {
                slot.resume_at = None;
                let token = Token(LISTENER_BASE - i);
                if let Err(e) =
                    self.poller
                        .register(slot.listener.as_raw_fd(), token, Interest::READABLE)
                {
                    error!(listener = %slot.addr, error = %e, "cannot watch listener again");
                    slot.resume_at = Some(later(now, self.config.accept_backoff));
                    continue;
                }
                self.accept_all(i, now);
            }
        }
    }

    fn handle_accept(
        &mut self,
        stream: TcpStream,
        peer: SocketAddr,
        kind: S::Listener,
        tls: Option<Box<ServerConnection>>,
        now: Instant,
    ) {
        self.conns.stats.accepted += 1;
        // A refusal in plain text means nothing to a TLS client.
        let notice = tls.is_none();
        if self.shared.open.fetch_add(1, Ordering::Relaxed) >= self.config.max_connections {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            if self.shared.full.handle_hit(&mut self.full) {
                warn!(
                    max = self.config.max_connections,
                    "connection limit reached; refusing new clients"
                );
            }
            debug!(%peer, "refused: server full");
            return self.refuse(&stream, kind, CloseReason::ServerFull, notice);
        }
        self.shared.full.handle_success(&mut self.full);
        let admitted = self.addresses().admit(peer.ip(), now);
        if let Err(refusal) = admitted {
            self.shared.open.fetch_sub(1, Ordering::Relaxed);
            let why = match refusal {
                AddressRefusal::TooMany => "as many connections as one address may hold",
                AddressRefusal::TooFast => {
                    "as many new connections this second as one address may open"
                }
            };
            info!(%peer, "refused: {why}");
            return self.refuse(&stream, kind, CloseReason::AddressLimit, notice);
        }
        // Small replies must leave now, not wait for Nagle's algorithm.
        let _ = stream.set_nodelay(true);
        let entry = self.conns.slab.vacant_entry();
        let key = entry.key();
        if let Err(e) = self
            .poller
            .register(stream.as_raw_fd(), Token(key), Interest::READABLE)
        {
            // select(2)'s FD_SETSIZE: the connection cannot be watched, so
            // it is refused like one past the connection limit, and the
            // operator told once per episode what to do.
            if let Some(too_large) = e.get_ref().and_then(|e| e.downcast_ref::<FdTooLarge>()) {
                if self.shared.poller_full.handle_hit(&mut self.poller_full) {
                    warn!(
                        poller = self.poller.name(),
                        limit = too_large.limit,
                        "{too_large}; refusing new clients until lower descriptors are free"
                    );
                }
                debug!(%peer, "refused: descriptor past the poller's limit");
                self.release(peer.ip());
                return self.refuse(&stream, kind, CloseReason::ServerFull, notice);
            }
            warn!(%peer, error = %e, "cannot watch new connection; dropping it");
            self.release(peer.ip());
            return;
        }
        self.shared
            .poller_full
            .handle_success(&mut self.poller_full);
        let mut conn = Connection::new(stream, peer, now);
        conn.registered = Interest::READABLE;
        let handshaking = tls.is_some();
        if handshaking {
            conn.tls = tls;
            conn.handshake_until = Some(later(now, self.config.tls_handshake_timeout));
        }
        entry.insert(conn);
        debug!(conn = key, %peer, "connected");
        trace!(%peer, "new connection");
        if handshaking {
            self.handshaking.insert(key, kind);
        } else {
            self.connect(key, peer, kind);
        }
        self.conns.arm_timer(key);
    }

    /// Tells the service of connection `key`, ready for its protocol.
    fn connect(&mut self, key: usize, peer: SocketAddr, kind: S::Listener) {
        serve(&mut self.service, &mut self.conns, key, |s, io| {
            s.handle_connect(ConnId(key), peer, kind, io)
        });
    }

    /// Turns a new client away for `reason`: the service's notice if it
    /// has one (best effort: the socket is new, its buffer empty), then
    /// the close.
    fn refuse(&mut self, stream: &TcpStream, kind: S::Listener, reason: CloseReason, notice: bool) {
        if let Some(text) = self
            .service
            .rejection_notice(kind, reason)
            .filter(|_| notice)
        {
            let _ = (&*stream).write(text);
        }
        self.conns.stats.count_close(reason);
    }

    /// A service pause ended: let the service catch up, then read again.
    fn wake(&mut self, key: usize) {
        serve(&mut self.service, &mut self.conns, key, |s, io| {
            s.handle_wake(ConnId(key), io)
        });
        if let Some(c) = self.conns.slab.get(key) {
            if c.readable && c.wants_read() {
                self.conns.queue_read(key);
            }
        }
        self.conns.queue_flush(key); // interest: READABLE back on
    }

    fn read_ready(&mut self, now: Instant) {
        let queue = std::mem::take(&mut self.conns.read_queue);
        for key in queue {
            match self.conns.slab.get_mut(key) {
                Some(c) if c.queued_read => c.queued_read = false,
                _ => continue, // stale: already read, or the slot was reused
            }
            self.read_connection(key, now);
        }
    }

    /// Reads `key` until `WouldBlock`, a short read, EOF, a pause, or the
    /// per-turn cap (then it stays queued for the next turn).
    fn read_connection(&mut self, key: usize, now: Instant) {
        if self.conns.slab.get(key).is_some_and(|c| c.tls.is_some()) {
            return self.read_tls_connection(key, now);
        }
        let mut total = 0;
        loop {
            let c = match self.conns.slab.get_mut(key) {
                Some(c) if c.wants_read() => c,
                _ => return,
            };
            match c.stream.read(&mut self.read_buf) {
                Ok(0) => return self.read_eof(key),
                Ok(n) => {
                    c.last_active = now;
                    self.conns.stats.bytes_in += n as u64;
                    // On a stream socket a short read has drained it for now;
                    // skip the read that would only say WouldBlock. Not so
                    // once the peer's FIN is in: that read yields the EOF.
                    let drained = n < self.read_buf.len() && !c.read_closed;
                    if drained {
                        c.readable = false;
                    }
                    self.deliver(key, n);
                    total += n;
                    if drained {
                        return;
                    }
                    if total >= self.config.max_read_per_turn {
                        return self.conns.queue_read(key);
                    }
                }
                Err(e) => {
                    if !self.read_again_after(key, &e) {
                        return;
                    }
                }
            }
        }
    }

    /// [`Reactor::read_connection`] for a TLS connection: records from the
    /// socket into rustls, plaintext from rustls to the service.
    fn read_tls_connection(&mut self, key: usize, now: Instant) {
        let mut total = 0;
        loop {
            if !self.deliver_plaintext(key) {
                return;
            }
            let Some(c) = self.conns.slab.get_mut(key) else {
                return;
            };
            let tls = c.tls.as_mut().expect("a TLS connection");
            match tls.read_tls(&mut c.stream) {
                Ok(0) => return self.read_eof(key),
                Ok(n) => {
                    c.last_active = now;
                    self.conns.stats.bytes_in += n as u64;
                    let processed = tls.process_new_packets();
                    let handshake_done = !tls.is_handshaking() && c.handshake_until.is_some();
                    let peer = c.peer;
                    // Not if it is closing already (a shutdown): the service
                    // never hears of it.
                    if handshake_done && processed.is_ok() && c.state == State::Open {
                        c.handshake_until = None;
                        if let Some(kind) = self.handshaking.remove(&key) {
                            debug!(conn = key, %peer, "TLS handshake done");
                            self.connect(key, peer, kind);
                        }
                    }
                    // Handshake messages or an alert to send.
                    self.conns.queue_flush(key);
                    if let Err(e) = processed {
                        let c = &mut self.conns.slab[key];
                        info!(peer = %c.peer, error = %e, "TLS error; closing");
                        // The alert rustls queued, best effort.
                        if let Some(tls) = c.tls.as_mut() {
                            let _ = tls.write_tls(&mut c.stream);
                        }
                        let reason = match c.state {
                            State::Draining(r) | State::Lingering(r, _) => r,
                            _ => CloseReason::ProtocolError,
                        };
                        return self.conns.mark_dead(key, reason);
                    }
                    total += n;
                    if total >= self.config.max_read_per_turn {
                        self.deliver_plaintext(key);
                        return self.conns.queue_read(key);
                    }
                }
                Err(e) => {
                    if !self.read_again_after(key, &e) {
                        return;
                    }
                }
            }
        }
    }

    /// Hands the plaintext rustls has decrypted for `key` to the service,
    /// while reading is on. Returns whether to read more records.
    fn deliver_plaintext(&mut self, key: usize) -> bool {
        loop {
            let Some(c) = self.conns.slab.get_mut(key) else {
                return false;
            };
            if !c.wants_read() {
                // Paused, maybe with plaintext left in rustls: look again
                // when reading resumes.
                c.readable = true;
                return false;
            }
            let Some(tls) = c.tls.as_mut() else {
                return false;
            };
            match tls.reader().read(&mut self.read_buf) {
                // The peer's close_notify: its end of stream.
                Ok(0) => {
                    self.read_eof(key);
                    return false;
                }
                Ok(n) => self.deliver(key, n),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
                Err(e) => {
                    self.read_failed(key, &e);
                    return false;
                }
            }
        }
    }

    /// Gives the first `n` bytes of the read buffer to the service, if the
    /// connection is still open to it (closing ones discard their input).
    fn deliver(&mut self, key: usize, n: usize) {
        if self
            .conns
            .slab
            .get(key)
            .is_some_and(|c| c.state == State::Open)
        {
            trace!(bytes = n, peer = %self.conns.slab[key].peer, "received");
            serve(&mut self.service, &mut self.conns, key, |s, io| {
                s.handle_data(ConnId(key), &self.read_buf[..n], io)
            });
        }
    }

    /// The peer's end of stream on `key`.
    fn read_eof(&mut self, key: usize) {
        let Some(c) = self.conns.slab.get_mut(key) else {
            return;
        };
        c.eof = true;
        c.readable = false;
        trace!(peer = %c.peer, "read end of stream");
        match c.state {
            // Gone before its TLS handshake: the service never heard of it.
            State::Open if self.handshaking.contains_key(&key) => {
                self.conns.mark_dead(key, CloseReason::PeerClosed)
            }
            State::Open => {
                serve(&mut self.service, &mut self.conns, key, |s, io| {
                    s.handle_eof(ConnId(key), io)
                });
            }
            State::Lingering(reason, _) => self.conns.mark_dead(key, reason),
            State::Draining(_) | State::Dead(_) => {}
        }
        self.conns.queue_flush(key);
    }

    /// Handles a read error on `key`: whether to read again (interrupted),
    /// or not (the socket is drained for now, or it failed and is closed).
    fn read_again_after(&mut self, key: usize, e: &io::Error) -> bool {
        match e.kind() {
            io::ErrorKind::Interrupted => true,
            io::ErrorKind::WouldBlock => {
                if let Some(c) = self.conns.slab.get_mut(key) {
                    c.readable = false;
                }
                false
            }
            _ => {
                self.read_failed(key, e);
                false
            }
        }
    }

    /// A read on `key` failed: it is closed (for the reason it was already
    /// closing for, if it was).
    fn read_failed(&mut self, key: usize, e: &io::Error) {
        let Some(c) = self.conns.slab.get(key) else {
            return;
        };
        let reason = match c.state {
            State::Draining(r) | State::Lingering(r, _) => r,
            _ => CloseReason::from_io_error(e),
        };
        self.conns.mark_dead(key, reason);
    }

    fn serve_pending_udp(&mut self) {
        for i in 0..self.udp.len() {
            if std::mem::take(&mut self.udp[i].pending) {
                self.serve_udp(i);
            }
        }
    }

    fn serve_udp(&mut self, i: usize) {
        let Some(slot) = self.udp.get_mut(i) else {
            return;
        };
        for _ in 0..self.config.max_datagrams_per_turn {
            match slot.socket.recv_from(&mut self.read_buf) {
                Ok((n, peer)) => {
                    self.conns.stats.datagrams_in += 1;
                    trace!(bytes = n, %peer, "received datagram");
                    if is_reflector(peer, &self.udp_addrs) {
                        debug!(%peer, "datagram from our own or a reflecting port: not answered");
                        self.conns.stats.datagrams_dropped += 1;
                        continue;
                    }
                    // The source may be forged: never aim more than a
                    // bounded stream of replies at one address.
                    let allowed = (self.shared.addresses.lock())
                        .unwrap_or_else(PoisonError::into_inner)
                        .allow_reply(peer.ip(), self.conns.now);
                    if !allowed {
                        trace!(%peer, "udp reply budget spent this second: not answered");
                        self.conns.stats.datagrams_dropped += 1;
                        continue;
                    }
                    self.udp_reply.clear();
                    let reply =
                        (self.service).handle_datagram(&self.read_buf[..n], &mut self.udp_reply);
                    if reply && slot.socket.send_to(&self.udp_reply, peer).is_err() {
                        // UDP may drop; a full socket buffer must not block.
                        self.conns.stats.datagrams_dropped += 1;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                // ICMP errors from earlier replies surface here; they concern
                // one peer, not the socket.
                Err(e) => debug!(error = %e, "udp receive error"),
            }
        }
        slot.pending = true;
    }

    /// Flushes every connection with pending output and reaps the closed
    /// ones, until neither produces more work (a close may make the service
    /// send to others).
    fn finish_turn(&mut self, now: Instant) {
        loop {
            if self.flush_is_due(now) {
                for key in std::mem::take(&mut self.conns.flush_list) {
                    self.conns.flush(key, now, &mut *self.poller);
                }
            }
            if self.conns.reap_list.is_empty() {
                break;
            }
            for key in std::mem::take(&mut self.conns.reap_list) {
                self.reap(key);
            }
        }
    }

    /// Whether pending output is to be written now. Without coalescing,
    /// always (every turn ends with a flush). With it, output waits until
    /// the oldest unflushed turn is `coalesce` old, so lines that arrive
    /// meanwhile leave in the same write to each recipient. Shutting down,
    /// nothing waits: the goodbyes must leave within the deadline.
    fn flush_is_due(&mut self, now: Instant) -> bool {
        if self.config.coalesce.is_zero()
            || self.conns.flush_list.is_empty()
            || self.shutdown_deadline.is_some()
        {
            self.flush_due = None;
            return true;
        }
        let due = *self
            .flush_due
            .get_or_insert(later(now, self.config.coalesce));
        if now >= due {
            self.flush_due = None;
            return true;
        }
        false
    }

    fn reap(&mut self, key: usize) {
        let Some(c) = self.conns.slab.try_remove(key) else {
            return;
        };
        let State::Dead(reason) = c.state else {
            unreachable!("only dead connections are listed for reaping")
        };
        if !c.registered.is_empty() {
            let _ = self.poller.deregister(c.stream.as_raw_fd());
        }
        drop(c.stream);
        self.release(c.peer.ip());
        self.conns.stats.count_close(reason);
        debug!(conn = key, peer = %c.peer, %reason, "disconnected");
        trace!(peer = %c.peer, %reason, "closing");
        // A TLS client gone before its handshake ended was never the
        // service's.
        if self.handshaking.remove(&key).is_none() {
            self.service
                .handle_close(ConnId(key), reason, &mut self.conns);
        }
    }

    /// A connection from `ip` is gone (or was never taken on).
    fn release(&self, ip: std::net::IpAddr) {
        self.shared.open.fetch_sub(1, Ordering::Relaxed);
        self.addresses().release(ip);
    }

    fn begin_shutdown(&mut self, now: Instant) {
        info!(
            connections = self.conns.slab.len(),
            timeout = ?self.config.shutdown_timeout,
            "shutting down: no longer accepting, flushing output"
        );
        for slot in self.listeners.drain(..) {
            if slot.resume_at.is_none() {
                let _ = self.poller.deregister(slot.listener.as_raw_fd());
            }
        }
        for slot in self.udp.drain(..) {
            let _ = self.poller.deregister(slot.socket.as_raw_fd());
        }
        self.service.handle_shutdown(&mut self.conns);
        let keys: Vec<usize> = self.conns.slab.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.conns.close(ConnId(key), CloseReason::Shutdown);
        }
        self.conns.linger_timeout = self.conns.linger_timeout.min(self.config.shutdown_timeout);
        self.shutdown_deadline = Some(later(now, self.config.shutdown_timeout));
    }

    fn close_all(&mut self, reason: CloseReason) {
        let keys: Vec<usize> = self.conns.slab.iter().map(|(key, _)| key).collect();
        for key in keys {
            self.conns.mark_dead(key, reason);
        }
        self.finish_turn(self.clock.now());
    }
}
