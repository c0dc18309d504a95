use std::io::{self, Write};
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;
use slab::Slab;
use switchboard_proto::{later, CloseReason, ConnId, Io, OutputLimits, OverflowPolicy};
use tracing::{debug, trace, warn};

use crate::connection::{Connection, State};
use crate::poller::{Poller, Token};
use crate::stats::Stats;
use crate::timer_queue::TimerQueue;

/// Which service callbacks a fired timer entry calls for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Fired {
    /// A service pause ended: `handle_wake`, then read again.
    pub wake: bool,
    /// A service timer is due: `handle_timer`.
    pub service_timer: bool,
}

/// All open connections, and the bookkeeping of one reactor turn: which
/// connections need a flush, a read or a reap. This is the service's [`Io`].
pub(crate) struct Connections {
    pub slab: Slab<Connection>,
    pub limits: OutputLimits,
    pub idle_timeout: Option<Duration>,
    pub linger_timeout: Duration,
    /// Connections with output to flush or interest to update this turn.
    pub flush_list: Vec<usize>,
    /// Connections believed readable, to read this turn.
    pub read_queue: Vec<usize>,
    /// Connections closed this turn, to reap after it.
    pub reap_list: Vec<usize>,
    pub timers: TimerQueue,
    pub stats: Stats,
    /// Time of the current turn: what [`Io::now`] tells the service.
    pub now: Instant,
    /// Wall-clock time of the current turn: what [`Io::system_time`] tells
    /// the service.
    pub system_time: SystemTime,
    /// [`Service::writes_through`](switchboard_proto::Service::writes_through),
    /// unless output is coalesced.
    pub write_through: bool,
    /// The connection whose input (or timer) the service is handling: what
    /// it is sent meanwhile is a reply, not others' output.
    pub serving: Option<usize>,
    /// The service asked for a reload ([`Io::request_reload`]).
    pub reload_requested: bool,
    /// When the service's own timer ([`Io::set_service_timer`]) is due.
    pub service_timer: Option<Instant>,
}

impl Connections {
    pub fn new(limits: OutputLimits, idle_timeout: Option<Duration>, linger: Duration) -> Self {
        Connections {
            slab: Slab::new(),
            limits,
            idle_timeout,
            linger_timeout: linger,
            flush_list: Vec::new(),
            read_queue: Vec::new(),
            reap_list: Vec::new(),
            timers: TimerQueue::default(),
            stats: Stats::default(),
            now: Instant::now(),
            system_time: SystemTime::now(),
            write_through: false,
            serving: None,
            reload_requested: false,
            service_timer: None,
        }
    }

    /// Lists `key` for the end-of-turn flush and interest update.
    pub fn queue_flush(&mut self, key: usize) {
        if let Some(c) = self.slab.get_mut(key) {
            if !c.queued_flush {
                c.queued_flush = true;
                self.flush_list.push(key);
            }
        }
    }

    /// Lists `key` to be read this turn (or the next).
    pub fn queue_read(&mut self, key: usize) {
        if let Some(c) = self.slab.get_mut(key) {
            if !c.queued_read {
                c.queued_read = true;
                self.read_queue.push(key);
            }
        }
    }

    /// Closes `key` now: its output is dropped and it is reaped after the
    /// turn. The first reason given wins.
    pub fn mark_dead(&mut self, key: usize, reason: CloseReason) {
        if let Some(c) = self.slab.get_mut(key) {
            if !matches!(c.state, State::Dead(_)) {
                c.state = State::Dead(reason);
                c.out.clear();
                self.reap_list.push(key);
            }
        }
    }

    /// Arms `key`'s next deadline unless an earlier one is already armed.
    pub fn arm_timer(&mut self, key: usize) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        let overdue = c.behind_since.map(|t| self.limits.overdue_at(t));
        let Some(when) = c.deadline(self.idle_timeout, overdue) else {
            return;
        };
        if c.timer.is_none_or(|armed| when < armed) {
            c.timer = Some(when);
            self.timers.push(when, key);
            self.compact_timers();
        }
    }

    /// Drops the superseded timer entries once they outnumber the
    /// connections: each connection has at most one live entry, so the
    /// queue stays within twice the connections (plus a little), however
    /// often deadlines move earlier (every rate-limit pause does). Amortised
    /// O(1) per entry armed.
    fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.slab.len() + 64 {
            return;
        }
        let slab = &self.slab;
        self.timers
            .retain(|when, key| slab.get(key).is_some_and(|c| c.timer == Some(when)));
    }

    /// Handles one fired timer entry: stale entries are dropped, early ones
    /// re-armed (activity moved the deadline), due ones close the connection
    /// or say which service callbacks are due.
    pub fn handle_timer(&mut self, when: Instant, key: usize, now: Instant) -> Fired {
        let mut fired = Fired::default();
        let Some(c) = self.slab.get_mut(key) else {
            return fired;
        };
        if c.timer != Some(when) {
            return fired; // superseded, or the slot was reused
        }
        c.timer = None;
        if c.pause_until.is_some_and(|t| t <= now) {
            c.pause_until = None;
            fired.wake = true;
        }
        if c.state == State::Open && c.service_timer.is_some_and(|t| t <= now) {
            c.service_timer = None;
            fired.service_timer = true;
        }
        if fired.wake || fired.service_timer {
            self.arm_timer(key);
            return fired;
        }
        let overdue = c.behind_since.map(|t| self.limits.overdue_at(t));
        match c.deadline(self.idle_timeout, overdue) {
            Some(due) if due <= now => {
                let idle = matches!(c.state, State::Open | State::Draining(_));
                let other = overdue.is_some_and(|t| t <= now)
                    || c.handshake_until.is_some_and(|t| t <= now);
                if idle && !other && c.write_blocked && c.drained_since_blocked() {
                    // Reading, slower than we write: not idle.
                    c.last_active = now;
                    self.arm_timer(key);
                    return fired;
                }
                let reason = match c.state {
                    State::Lingering(reason, _) => reason,
                    _ if overdue.is_some_and(|t| t <= now) => CloseReason::OutputOverflow,
                    _ if c.handshake_until.is_some_and(|t| t <= now) => {
                        debug!(peer = %c.peer, "TLS handshake not finished in time");
                        CloseReason::IdleTimeout
                    }
                    _ => CloseReason::IdleTimeout,
                };
                self.mark_dead(key, reason);
            }
            _ => self.arm_timer(key),
        }
        fired
    }

    /// Writes `key`'s pending output until done or the socket is full, then
    /// applies backpressure, the close sequence and the poller interest.
    pub fn flush(&mut self, key: usize, now: Instant, poller: &mut dyn Poller) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        c.queued_flush = false;
        if matches!(c.state, State::Dead(_)) {
            return;
        }
        let had_output = !c.out.is_empty();
        if let Err(e) = write_out(c, &mut self.stats, now, self.idle_timeout.is_some()) {
            return self.mark_dead(key, CloseReason::from_io_error(&e));
        }
        let pending = c.out.len();
        if pending == 0 && !c.tls.as_ref().is_some_and(|tls| tls.wants_write()) {
            c.write_blocked = false;
            if had_output {
                trace!(peer = %c.peer, "output queue empty");
            }
        }
        if c.paused && pending <= self.limits.low_water {
            c.paused = false;
            if c.readable {
                self.queue_read(key);
            }
        }
        let c = &mut self.slab[key];
        c.replies = c.replies.min(pending);
        let was_behind = c.behind_since.is_some();
        if (self.limits).is_overdue(pending, c.replies, &mut c.behind_since, now) {
            return self.mark_dead(key, CloseReason::OutputOverflow);
        }
        if c.behind_since.is_some() && !was_behind {
            self.arm_timer(key);
        }
        let c = &mut self.slab[key];
        if let State::Draining(reason) = c.state {
            if let Some(tls) = c.tls.as_mut().filter(|_| pending == 0) {
                // close_notify goes after everything else, now (nothing
                // else would wake us for it), then the FIN.
                if !c.close_notify_sent {
                    tls.send_close_notify();
                    c.close_notify_sent = true;
                    if let Err(e) = write_out(c, &mut self.stats, now, self.idle_timeout.is_some())
                    {
                        return self.mark_dead(key, CloseReason::from_io_error(&e));
                    }
                }
                if c.tls.as_ref().is_some_and(|tls| tls.wants_write()) {
                    return self.sync_interest(key, poller);
                }
            }
            if pending == 0 {
                if c.eof {
                    return self.mark_dead(key, reason);
                }
                // FIN after everything we sent; keep reading until theirs.
                if c.stream.shutdown(Shutdown::Write).is_err() {
                    return self.mark_dead(key, reason);
                }
                c.state = State::Lingering(reason, later(now, self.linger_timeout));
                self.arm_timer(key);
            }
        }
        self.sync_interest(key, poller);
    }

    /// Makes the poller watch `key` for what its state calls for.
    pub fn sync_interest(&mut self, key: usize, poller: &mut dyn Poller) {
        let Some(c) = self.slab.get_mut(key) else {
            return;
        };
        let want = c.desired_interest();
        if want == c.registered {
            return;
        }
        let fd = c.stream.as_raw_fd();
        let result = if want.is_empty() {
            poller.deregister(fd)
        } else if c.registered.is_empty() {
            poller.register(fd, Token(key), want)
        } else {
            poller.reregister(fd, Token(key), want)
        };
        match result {
            Ok(()) => c.registered = want,
            Err(e) => {
                warn!(peer = %c.peer, error = %e, "poller registration failed");
                self.mark_dead(key, CloseReason::from_io_error(&e));
            }
        }
    }

    fn open(&mut self, conn: ConnId) -> Option<&mut Connection> {
        open_in(&mut self.slab, conn)
    }
}

/// The connection `conn` if it is still open to the service. A free
/// function so that a caller can borrow the other fields alongside.
fn open_in(slab: &mut Slab<Connection>, conn: ConnId) -> Option<&mut Connection> {
    slab.get_mut(conn.0).filter(|c| c.state == State::Open)
}

impl Io for Connections {
    fn request_reload(&mut self) {
        self.reload_requested = true;
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(c) = open_in(&mut self.slab, conn) else {
            return;
        };
        let mut rest = bytes;
        // The first output of the turn to a connection with nothing queued:
        // write it from the caller's slice and copy only what the socket
        // did not take. Any error is left for the end-of-turn flush to meet
        // again and handle.
        if self.write_through
            && !c.queued_flush
            && c.out.is_empty()
            && !c.write_blocked
            && c.tls.is_none()
        {
            if let Ok(n) = c.stream.write(bytes) {
                self.stats.bytes_out += n as u64;
                c.last_active = self.now;
                trace!(bytes = n, peer = %c.peer, "sent");
                rest = &bytes[n..];
                if rest.is_empty() {
                    trace!(peer = %c.peer, "output queue empty");
                }
            }
        }
        c.out.push_slice(rest);
        self.after_push(conn.0, rest.len());
    }

    fn send_shared(&mut self, conn: ConnId, bytes: &Bytes) {
        if let Some(c) = self.open(conn) {
            c.out.push_shared(bytes);
            self.after_push(conn.0, bytes.len());
        }
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        if let Some(c) = self.open(conn) {
            c.state = State::Draining(reason);
            // Input is now discarded rather than held back.
            c.paused = false;
            if c.readable {
                self.queue_read(conn.0);
            }
            self.queue_flush(conn.0);
        }
    }

    fn pending_output(&self, conn: ConnId) -> usize {
        self.slab.get(conn.0).map_or(0, |c| c.out.len())
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn system_time(&self) -> SystemTime {
        self.system_time
    }

    fn set_timer(&mut self, conn: ConnId, when: Instant) {
        if let Some(c) = self.open(conn) {
            c.service_timer = Some(when);
            // As for a pause: an earlier deadline must not wait for a later
            // entry already armed.
            if c.timer.is_some_and(|armed| when < armed) {
                c.timer = None;
            }
            self.arm_timer(conn.0);
        }
    }

    fn pause_reading_until(&mut self, conn: ConnId, when: Instant) {
        let now = self.now;
        if let Some(c) = self.open(conn) {
            c.pause_until = Some(when);
            // The service holds input it has read: that is activity, and
            // the idle timeout must not throw it away.
            c.last_active = c.last_active.max(now);
            // A later deadline than one already armed must not be lost, nor
            // an earlier one wait for the old entry.
            c.timer = None;
            self.arm_timer(conn.0);
            self.queue_flush(conn.0); // interest: READABLE off
        }
    }

    fn set_service_timer(&mut self, when: Instant) {
        self.service_timer = Some(when);
    }
}

impl Connections {
    /// Applies the output limits as soon as `pushed` bytes are queued:
    /// above the high-water mark reading pauses (what the client asks for
    /// waits until it has read); past the ceiling a connection is cut even
    /// mid-turn. Whether a connection is too far behind is judged only at
    /// the end-of-turn flush, once writes were tried.
    fn after_push(&mut self, key: usize, pushed: usize) {
        self.queue_flush(key);
        let c = &mut self.slab[key];
        if self.serving == Some(key) {
            c.replies += pushed;
        }
        let len = c.out.len();
        if len > self.limits.high_water {
            c.paused = true;
            if self.limits.policy == OverflowPolicy::Disconnect && len > self.limits.ceiling() {
                self.mark_dead(key, CloseReason::OutputOverflow);
            }
        }
    }
}

/// Writes `c`'s pending output until done or the socket is full (then
/// `write_blocked`, and with `idle_timeout` on, the kernel's send queue
/// noted so that a slow reader is not taken for an idle one). Through TLS:
/// plaintext into rustls as far as its bounded buffer takes it, records out
/// to the socket, again until done.
fn write_out(
    c: &mut Connection,
    stats: &mut Stats,
    now: Instant,
    idle_timeout: bool,
) -> io::Result<()> {
    loop {
        let sent = match c.tls.as_mut() {
            None if c.out.is_empty() => return Ok(()),
            None => c.out.write_to(&mut c.stream),
            Some(tls) => {
                if !c.out.is_empty() {
                    // rustls takes what fits in its buffer, never blocks.
                    c.out.write_to(&mut tls.writer())?;
                }
                if !tls.wants_write() {
                    return Ok(());
                }
                tls.write_tls(&mut c.stream)
            }
        };
        match sent {
            Ok(n) => {
                stats.bytes_out += n as u64;
                c.last_active = now;
                trace!(bytes = n, peer = %c.peer, "sent");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                c.write_blocked = true;
                if idle_timeout {
                    c.send_queue = c.kernel_send_queue();
                }
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}
