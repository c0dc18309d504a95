//! An in-memory [`Io`] for testing services without sockets.
//!
//! [`Harness`] plays the reactor's part around a service: it reaps closed
//! connections, wakes paused ones, fires timers and enforces the service's
//! [`OutputLimits`] the way the reactor does. Everything is kept in maps
//! ordered by [`ConnId`], so a test (or a fuzz input) runs the same way
//! every time: closes are reaped, wakes delivered and timers fired in
//! connection order when several are due at once.
//!
//! # What counts as sent
//!
//! The reactor applies the output limits to a connection's *unsent* output:
//! bytes queued for it that its client has not read yet. In the harness,
//! each client is one of two kinds:
//!
//! - a **reader** (every connection, to begin with) reads everything sent
//!   to it at the end of each harness call ([`Harness::input`],
//!   [`Harness::advance`]…), as a client that keeps up does at the end of a
//!   reactor turn. Its unsent output is what the service sent it during the
//!   current call.
//! - a **slow reader** ([`Harness::stop_reading`]) reads nothing by itself:
//!   its unsent output is everything sent to it since it stopped reading
//!   that the test has not taken yet. Taking output ([`Harness::lines`],
//!   [`Harness::take_output`], [`Harness::read_output`], or
//!   [`MemoryIo::take_output`]) is the client reading it.
//!
//! Either way, what the service sent stays in [`MemoryIo::output`] until the
//! test takes it, read or not.
//!
//! The limits, as `switchboard-net` applies them (`Connections::after_push`
//! and `Connections::flush`):
//!
//! - Either policy: as soon as a send takes the unsent output above
//!   `high_water`, input from that client is held back (its kernel
//!   buffer); at the end of a call where it is at or below `low_water`,
//!   reading resumes and the held input is delivered, one
//!   [`Harness::input`] at a time, until reading pauses again.
//! - [`OverflowPolicy::Disconnect`]: at the end of a call (and of every
//!   [`Harness::advance`]) the connection is judged by
//!   [`OutputLimits::is_overdue`]: what it was sent while the service
//!   handled its own input, connection or timer counts as replies, not
//!   against it. An overdue connection is closed with
//!   [`CloseReason::OutputOverflow`] (also one the service had already
//!   asked to close); so is one whose unsent output passes
//!   [`OutputLimits::ceiling`], as soon as a send takes it there. Its
//!   unsent output is dropped, never delivered: it disappears from
//!   [`MemoryIo::output`]. Sends to it until its `handle_close` are dropped
//!   too (the service cannot know yet), and are not counted in
//!   [`MemoryIo::sends_after_close`].
//!
//! While a connection's reading is paused (by the service, or by its output
//! limits), what its client sends, and its EOF after that, are held back
//! in order, as the kernel would hold them, and delivered when reading
//! resumes.
//!
//! A [`MemoryIo`] used on its own, without a harness, has no limits, and all
//! its output counts as unsent until taken.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::{CloseReason, ConnId, Io, OutputLimits, OverflowPolicy};

/// Records what a service sends and closes, per connection, with a clock
/// that only moves when the test says so.
#[derive(Debug)]
pub struct MemoryIo {
    outputs: BTreeMap<ConnId, Vec<u8>>,
    /// Per connection: how many bytes at the end of its output its client
    /// has not read (the reactor's queue). See the module documentation.
    unsent: BTreeMap<ConnId, usize>,
    closed: BTreeMap<ConnId, CloseReason>,
    /// Closed by the output limits, not by the service: it is not told
    /// until its `handle_close`, so its sends until then are not its fault.
    overflowed: BTreeSet<ConnId>,
    paused: BTreeMap<ConnId, Instant>,
    /// Reading paused because the unsent output passed the high-water mark.
    backpressured: BTreeSet<ConnId>,
    /// Per connection: of its unsent bytes, how many (at most) answer its
    /// own input, which the output limits do not hold against it.
    replies: BTreeMap<ConnId, usize>,
    /// Per connection: since when it has owed others' output past the
    /// high-water mark ([`OverflowPolicy::Disconnect`]).
    behind_since: BTreeMap<ConnId, Instant>,
    /// The connection whose input (or timer) the service is handling.
    serving: Option<ConnId>,
    /// Clients that read only what the test takes.
    slow_readers: BTreeSet<ConnId>,
    timers: BTreeMap<ConnId, Instant>,
    /// The service's own timer ([`Io::set_service_timer`]).
    service_timer: Option<Instant>,
    /// Connections whose `handle_close` has run: their ids could belong to
    /// someone else next (the reactor reuses slab slots).
    reaped: BTreeSet<ConnId>,
    /// The service's output limits, enforced when set (by [`Harness`]).
    limits: Option<OutputLimits>,
    /// The time the service sees.
    pub now: Instant,
    /// The wall-clock time the service sees; [`Harness::advance`] moves it
    /// with `now`.
    pub system_time: SystemTime,
    /// Reloads the service asked for ([`Io::request_reload`]).
    pub reloads_requested: usize,
    /// Sends to connections that were closed (asked to close, or reaped):
    /// output that a real reactor drops, or worse, delivers to whoever got
    /// the id next. Always a bug in the service.
    pub sends_after_close: usize,
}

impl Default for MemoryIo {
    fn default() -> Self {
        MemoryIo {
            outputs: BTreeMap::new(),
            unsent: BTreeMap::new(),
            closed: BTreeMap::new(),
            overflowed: BTreeSet::new(),
            paused: BTreeMap::new(),
            backpressured: BTreeSet::new(),
            replies: BTreeMap::new(),
            behind_since: BTreeMap::new(),
            serving: None,
            slow_readers: BTreeSet::new(),
            timers: BTreeMap::new(),
            service_timer: None,
            reaped: BTreeSet::new(),
            limits: None,
            now: Instant::now(),
            // A fixed, readable start: 2026-01-01T00:00:00Z.
            system_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            sends_after_close: 0,
            reloads_requested: 0,
        }
    }
}

impl MemoryIo {
    /// Until when the service paused reading `conn`, if it did.
    pub fn paused_until(&self, conn: ConnId) -> Option<Instant> {
        self.paused.get(&conn).copied()
    }

    /// Ends `conn`'s pause (the test delivers the wake itself).
    pub fn unpause(&mut self, conn: ConnId) {
        self.paused.remove(&conn);
    }

    /// Whether reading `conn` is paused because its unsent output passed
    /// the high-water mark.
    pub fn is_backpressured(&self, conn: ConnId) -> bool {
        self.backpressured.contains(&conn)
    }

    /// When the service's timer for `conn` is due, if one is set.
    pub fn timer(&self, conn: ConnId) -> Option<Instant> {
        self.timers.get(&conn).copied()
    }

    /// When the service's own timer is due, if it is set.
    pub fn service_timer(&self) -> Option<Instant> {
        self.service_timer
    }

    /// Records that `conn`'s `handle_close` ran.
    pub fn reap(&mut self, conn: ConnId) {
        self.paused.remove(&conn);
        self.backpressured.remove(&conn);
        self.unsent.remove(&conn);
        self.replies.remove(&conn);
        self.behind_since.remove(&conn);
        self.timers.remove(&conn);
        self.reaped.insert(conn);
    }

    /// Whether `conn`'s `handle_close` ran.
    pub fn is_reaped(&self, conn: ConnId) -> bool {
        self.reaped.contains(&conn)
    }

    /// Everything sent to `conn` and not yet taken (empty if nothing),
    /// whether its client has read it or not.
    pub fn output(&self, conn: ConnId) -> &[u8] {
        self.outputs.get(&conn).map_or(&[], Vec::as_slice)
    }

    /// Takes and clears what was sent to `conn`: its client has read it all.
    pub fn take_output(&mut self, conn: ConnId) -> Vec<u8> {
        self.take_output_up_to(conn, usize::MAX)
    }

    /// Takes the first `max` bytes (at most) of what was sent to `conn`:
    /// its client has read them.
    pub fn take_output_up_to(&mut self, conn: ConnId, max: usize) -> Vec<u8> {
        let Some(out) = self.outputs.get_mut(&conn) else {
            return Vec::new();
        };
        let taken = if max >= out.len() {
            std::mem::take(out)
        } else {
            let rest = out.split_off(max);
            std::mem::replace(out, rest)
        };
        let left = out.len();
        if left == 0 {
            self.outputs.remove(&conn);
        }
        if let Some(unsent) = self.unsent.get_mut(&conn) {
            *unsent = (*unsent).min(left);
        }
        taken
    }

    /// Why `conn` was closed, if it was closed (by the service, or by its
    /// output limits).
    pub fn closed(&self, conn: ConnId) -> Option<CloseReason> {
        self.closed.get(&conn).copied()
    }

    fn unsent(&self, conn: ConnId) -> usize {
        self.unsent.get(&conn).copied().unwrap_or(0)
    }

    /// Closes `conn` for its unsent output and drops that output: the
    /// reactor's `mark_dead(OutputOverflow)`. Also overrides a close the
    /// service asked for, as the reactor does while draining.
    fn overflow(&mut self, conn: ConnId) {
        let unsent = self.unsent.remove(&conn).unwrap_or(0);
        if let Some(out) = self.outputs.get_mut(&conn) {
            out.truncate(out.len().saturating_sub(unsent));
            if out.is_empty() {
                self.outputs.remove(&conn);
            }
        }
        self.closed.insert(conn, CloseReason::OutputOverflow);
        self.overflowed.insert(conn);
        self.paused.remove(&conn);
        self.backpressured.remove(&conn);
        self.timers.remove(&conn);
    }

    /// The end of a reactor turn: clients that keep up read what they were
    /// sent, then the output limits apply to what is left (see the module
    /// documentation). Returns the connections whose reading resumed.
    fn end_turn(&mut self) -> Vec<ConnId> {
        for (conn, unsent) in self.unsent.iter_mut() {
            if !self.slow_readers.contains(conn) {
                *unsent = 0;
            }
        }
        let Some(limits) = self.limits else {
            return Vec::new();
        };
        let mut resumed = Vec::new();
        for conn in self.backpressured.clone() {
            if self.unsent(conn) <= limits.low_water {
                self.backpressured.remove(&conn);
                resumed.push(conn);
            }
        }
        let mut overdue = Vec::new();
        for (&conn, &unsent) in &self.unsent {
            let replies = self.replies.entry(conn).or_default();
            *replies = (*replies).min(unsent);
            let mut since = self.behind_since.get(&conn).copied();
            if limits.is_overdue(unsent, *replies, &mut since, self.now) {
                overdue.push(conn);
            }
            match since {
                Some(since) => self.behind_since.insert(conn, since),
                None => self.behind_since.remove(&conn),
            };
        }
        for conn in overdue {
            self.overflow(conn);
        }
        resumed
    }
}

impl Io for MemoryIo {
    fn request_reload(&mut self) {
        self.reloads_requested += 1;
    }

    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        if self.overflowed.contains(&conn) && !self.reaped.contains(&conn) {
            return; // closed under the service's feet: the reactor drops it
        }
        if self.closed.contains_key(&conn) || self.reaped.contains(&conn) {
            self.sends_after_close += 1;
            return;
        }
        self.outputs
            .entry(conn)
            .or_default()
            .extend_from_slice(bytes);
        let unsent = self.unsent.entry(conn).or_default();
        *unsent += bytes.len();
        let unsent = *unsent;
        if self.serving == Some(conn) {
            *self.replies.entry(conn).or_default() += bytes.len();
        }
        // As soon as output is queued: the reactor's `after_push`.
        match self.limits {
            Some(l) if unsent > l.high_water => {
                self.backpressured.insert(conn);
                if l.policy == OverflowPolicy::Disconnect && unsent > l.ceiling() {
                    self.overflow(conn);
                }
            }
            _ => {}
        }
    }

    fn send_shared(&mut self, conn: ConnId, bytes: &Bytes) {
        self.send(conn, bytes);
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.closed.entry(conn).or_insert(reason);
    }

    fn pending_output(&self, conn: ConnId) -> usize {
        self.unsent(conn)
    }

    fn now(&self) -> Instant {
        self.now
    }

    fn system_time(&self) -> SystemTime {
        self.system_time
    }

    fn set_timer(&mut self, conn: ConnId, when: Instant) {
        if !self.closed.contains_key(&conn) && !self.reaped.contains(&conn) {
            self.timers.insert(conn, when);
        }
    }

    fn pause_reading_until(&mut self, conn: ConnId, when: Instant) {
        if !self.closed.contains_key(&conn) {
            self.paused.insert(conn, when);
        }
    }

    fn set_service_timer(&mut self, when: Instant) {
        self.service_timer = Some(when);
    }
}

/// Several in-memory clients around one service, with a stepped clock: the
/// reactor's part (pausing, waking, output limits, reaping closed
/// connections) without sockets. See the [module documentation](self).
pub struct Harness<S: crate::Service> {
    /// The service under test.
    pub service: S,
    /// Its output, closes and clock.
    pub io: MemoryIo,
    next_id: usize,
    /// Input that arrived while reading was paused (the kernel buffer), one
    /// entry per [`Harness::input`], and whether an EOF followed it.
    held: BTreeMap<ConnId, Held>,
}

/// What a paused connection's client sent meanwhile.
#[derive(Default)]
struct Held {
    input: VecDeque<Vec<u8>>,
    eof: bool,
}

impl<S: crate::Service> Harness<S> {
    /// A harness around `service`, enforcing its
    /// [`output_limits`](crate::Service::output_limits).
    pub fn new(service: S) -> Self {
        let io = MemoryIo {
            limits: Some(service.output_limits()),
            ..MemoryIo::default()
        };
        Harness {
            service,
            io,
            next_id: 0,
            held: BTreeMap::new(),
        }
    }

    /// Connects a new client through the default listener.
    pub fn connect(&mut self) -> ConnId {
        self.connect_to(S::Listener::default())
    }

    /// Connects a new client through a listener of kind `listener`.
    pub fn connect_to(&mut self, listener: S::Listener) -> ConnId {
        let conn = ConnId(self.next_id);
        self.next_id += 1;
        let peer = std::net::SocketAddr::from(([127, 0, 0, 1], 40_000 + conn.0 as u16));
        self.io.serving = Some(conn);
        self.service
            .handle_connect(conn, peer, listener, &mut self.io);
        self.io.serving = None;
        self.settle();
        conn
    }

    /// Delivers `bytes` from `conn` (held back while its reading is
    /// paused, by the service or by its unsent output).
    pub fn input(&mut self, conn: ConnId, bytes: &[u8]) {
        self.assert_connected(conn);
        if self.io.is_reaped(conn) || self.io.closed(conn).is_some() {
            return;
        }
        if self.reading(conn) && !self.held.contains_key(&conn) {
            self.io.serving = Some(conn);
            self.service.handle_data(conn, bytes, &mut self.io);
            self.io.serving = None;
        } else {
            let held = self.held.entry(conn).or_default();
            held.input.push_back(bytes.to_vec());
            self.deliver_held(conn); // after a wake the test delivered itself
        }
        self.settle();
    }

    /// The peer of `conn` closed its side (EOF); seen after any input held
    /// back while its reading is paused.
    pub fn eof(&mut self, conn: ConnId) {
        self.assert_connected(conn);
        if self.io.is_reaped(conn) {
            return;
        }
        if let Some(held) = self.held.get_mut(&conn) {
            held.eof = true;
            return;
        }
        if !self.reading(conn) && self.io.closed(conn).is_none() {
            self.held.entry(conn).or_default().eof = true;
            return;
        }
        self.io.serving = Some(conn);
        self.service.handle_eof(conn, &mut self.io);
        self.io.serving = None;
        self.settle();
    }

    /// `conn` went away for `reason` (a reset, a timeout, an overflow).
    pub fn drop_conn(&mut self, conn: ConnId, reason: crate::CloseReason) {
        self.assert_connected(conn);
        self.io.closed.entry(conn).or_insert(reason);
        self.settle();
    }

    /// `conn`'s client stops reading: what is sent to it from now on stays
    /// unsent, counting towards its output limits, until the test takes it
    /// ([`Harness::lines`], [`Harness::take_output`],
    /// [`Harness::read_output`]).
    pub fn stop_reading(&mut self, conn: ConnId) {
        self.assert_connected(conn);
        self.io.slow_readers.insert(conn);
    }

    /// `conn`'s client reads again: everything sent to it counts as read,
    /// now and at the end of every call.
    pub fn resume_reading(&mut self, conn: ConnId) {
        self.assert_connected(conn);
        self.io.slow_readers.remove(&conn);
        self.settle();
    }

    /// `conn`'s client reads up to `max` bytes of what was sent to it; then
    /// the output limits are looked at again (reading may resume).
    pub fn read_output(&mut self, conn: ConnId, max: usize) -> Vec<u8> {
        let out = self.io.take_output_up_to(conn, max);
        self.settle();
        out
    }

    /// `conn`'s client reads everything sent to it (see
    /// [`Harness::read_output`]).
    pub fn take_output(&mut self, conn: ConnId) -> Vec<u8> {
        self.read_output(conn, usize::MAX)
    }

    /// Moves the clock on, waking paused connections whose time came (and
    /// delivering what they had held back) and firing due timers, in time
    /// order (then connection order, the service's timer last). Panics if
    /// a woken connection pauses again until a time already reached, or a
    /// timer is set again for a time already reached: the reactor would
    /// spin.
    pub fn advance(&mut self, by: Duration) {
        let end = self.io.now + by;
        loop {
            let next_pause = self.io.paused.iter().map(|(&c, &t)| (t, 0, c)).min();
            let next_timer = self.io.timers.iter().map(|(&c, &t)| (t, 1, c)).min();
            let service = self.io.service_timer.map(|t| (t, 2, ConnId(0)));
            let next = next_pause.into_iter().chain(next_timer).chain(service);
            let Some((when, kind, conn)) = next.min() else {
                break;
            };
            if when > end {
                break;
            }
            if when > self.io.now {
                self.step_clock(when - self.io.now);
            }
            if kind == 2 {
                self.io.service_timer = None;
                self.service.handle_service_timer(&mut self.io);
                if let Some(again) = self.io.service_timer {
                    assert!(
                        again > self.io.now,
                        "the service timer fired and was set again for a time already reached"
                    );
                }
            } else if kind == 0 {
                self.io.unpause(conn);
                self.io.serving = Some(conn);
                self.service.handle_wake(conn, &mut self.io);
                self.io.serving = None;
                if let Some(until) = self.io.paused_until(conn) {
                    assert!(
                        until > self.io.now,
                        "{conn} woken at its pause time paused again until then: a busy loop"
                    );
                } else {
                    self.deliver_held(conn);
                }
            } else {
                self.io.timers.remove(&conn);
                self.io.serving = Some(conn);
                self.service.handle_timer(conn, &mut self.io);
                self.io.serving = None;
                if let Some(again) = self.io.timer(conn) {
                    assert!(
                        again > self.io.now,
                        "{conn}'s timer fired and was set again for a time already reached"
                    );
                }
            }
            self.settle();
        }
        if end > self.io.now {
            self.step_clock(end - self.io.now);
        }
        self.settle(); // a reader behind may be past its grace now
    }

    fn step_clock(&mut self, by: Duration) {
        self.io.now += by;
        self.io.system_time += by;
    }

    /// Starts a graceful shutdown, as SIGINT would.
    pub fn shutdown(&mut self) {
        self.service.handle_shutdown(&mut self.io);
        for conn in (0..self.next_id).map(ConnId) {
            if !self.io.is_reaped(conn) {
                self.io.closed.entry(conn).or_insert(CloseReason::Shutdown);
            }
        }
        self.settle();
    }

    /// Takes the complete lines sent to `conn` so far (CRLF removed): its
    /// client reads them (see [`Harness::read_output`]).
    pub fn lines(&mut self, conn: ConnId) -> Vec<String> {
        let out = self.take_output(conn);
        let text = String::from_utf8(out).expect("output is UTF-8");
        assert!(
            text.is_empty() || text.ends_with("\r\n"),
            "partial line sent: {text:?}"
        );
        text.split_terminator("\r\n").map(str::to_string).collect()
    }

    /// Whether `conn` was closed and reaped.
    pub fn is_gone(&self, conn: ConnId) -> bool {
        self.io.is_reaped(conn)
    }

    fn assert_connected(&self, conn: ConnId) {
        assert!(conn.0 < self.next_id, "{conn} was never connected");
    }

    /// Whether the reactor would read `conn` now.
    fn reading(&self, conn: ConnId) -> bool {
        self.io.paused_until(conn).is_none() && !self.io.is_backpressured(conn)
    }

    /// Delivers what `conn`'s client sent while its reading was paused, one
    /// input at a time, for as long as reading stays on; then its EOF.
    fn deliver_held(&mut self, conn: ConnId) {
        while self.reading(conn) && self.io.closed(conn).is_none() {
            let Some(held) = self.held.get_mut(&conn) else {
                return;
            };
            if let Some(bytes) = held.input.pop_front() {
                self.io.serving = Some(conn);
                self.service.handle_data(conn, &bytes, &mut self.io);
                self.io.serving = None;
            } else {
                let eof = held.eof;
                self.held.remove(&conn);
                if eof {
                    self.io.serving = Some(conn);
                    self.service.handle_eof(conn, &mut self.io);
                    self.io.serving = None;
                }
                return;
            }
        }
    }

    /// Ends the turn ([`MemoryIo::end_turn`]), reaps connections that were
    /// closed (the reactor would flush and close them, then call
    /// `handle_close`) and delivers the input held back from connections
    /// whose reading resumed, until nothing more happens.
    fn settle(&mut self) {
        loop {
            let resumed = self.io.end_turn();
            let closing: Vec<(ConnId, CloseReason)> = (self.io.closed.iter())
                .filter(|(c, _)| !self.io.is_reaped(**c))
                .map(|(&c, &r)| (c, r))
                .collect();
            for &(conn, reason) in &closing {
                self.io.reap(conn);
                self.held.remove(&conn);
                self.service.handle_close(conn, reason, &mut self.io);
            }
            let mut delivered = false;
            for conn in resumed {
                if self.held.contains_key(&conn) {
                    self.deliver_held(conn);
                    delivered = true;
                }
            }
            if closing.is_empty() && !delivered {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;
    use crate::Service;

    /// Echoes each input, then sends `tail` (also before closing on EOF),
    /// and records what happens. With `relay` on, input goes to every
    /// other client instead (others' output, as in a chat room).
    struct Probe {
        limits: OutputLimits,
        tail: &'static [u8],
        relay: bool,
        conns: Vec<ConnId>,
        events: Vec<String>,
    }

    impl Probe {
        fn new(policy: OverflowPolicy) -> Self {
            Probe {
                limits: OutputLimits {
                    high_water: 100,
                    low_water: 25,
                    policy,
                    grace: Duration::from_secs(1),
                },
                tail: b"",
                relay: false,
                conns: Vec::new(),
                events: Vec::new(),
            }
        }

        fn relay() -> Self {
            Probe {
                relay: true,
                ..Probe::new(OverflowPolicy::Disconnect)
            }
        }
    }

    impl Service for Probe {
        type Listener = ();

        fn output_limits(&self) -> OutputLimits {
            self.limits
        }

        fn handle_connect(&mut self, conn: ConnId, _: SocketAddr, _: (), _: &mut impl Io) {
            self.conns.push(conn);
        }

        fn handle_data(&mut self, conn: ConnId, data: &[u8], io: &mut impl Io) {
            self.events.push(format!("data {conn} {}", data.len()));
            let to: Vec<ConnId> = match self.relay {
                true => self.conns.iter().copied().filter(|&c| c != conn).collect(),
                false => vec![conn],
            };
            for c in to {
                io.send(c, data);
                io.send(c, self.tail);
            }
        }

        fn handle_eof(&mut self, conn: ConnId, io: &mut impl Io) {
            self.events.push(format!("eof {conn}"));
            io.send(conn, self.tail);
            io.close(conn, CloseReason::PeerClosed);
        }

        fn handle_close(&mut self, conn: ConnId, reason: CloseReason, _io: &mut impl Io) {
            self.conns.retain(|&c| c != conn);
            self.events.push(format!("close {conn} {reason}"));
        }
    }

    fn events(h: &mut Harness<Probe>) -> Vec<String> {
        std::mem::take(&mut h.service.events)
    }

    #[test]
    fn closes_are_reaped_in_connection_order() {
        let mut h = Harness::new(Probe::new(OverflowPolicy::Disconnect));
        let conns: Vec<ConnId> = (0..32).map(|_| h.connect()).collect();
        h.shutdown();
        let want: Vec<String> = (conns.iter())
            .map(|c| format!("close {c} shutdown"))
            .collect();
        assert_eq!(events(&mut h), want);
    }

    #[test]
    fn a_slow_reader_behind_past_its_grace_is_disconnected_and_its_unsent_output_dropped() {
        let mut h = Harness::new(Probe::relay());
        let (slow, reader, sender) = (h.connect(), h.connect(), h.connect());
        h.input(sender, &[b'r'; 50]); // read at the end of the call
        h.stop_reading(slow);
        h.input(sender, &[b'u'; 60]);
        h.input(sender, &[b'u'; 60]);
        assert_eq!(h.io.pending_output(slow), 120, "behind: 120 unsent");
        assert_eq!(h.io.pending_output(reader), 0);
        h.advance(Duration::from_millis(999));
        assert_eq!(h.io.closed(slow), None, "within its grace");
        events(&mut h);
        h.advance(Duration::from_millis(1));
        assert!(h.is_gone(slow));
        assert_eq!(events(&mut h), ["close #0 output overflow"]);
        assert_eq!(h.io.output(slow), [b'r'; 50], "what it had read stays");
        assert!(!h.is_gone(reader));
        assert_eq!(h.io.output(reader).len(), 170);
        assert_eq!(h.io.sends_after_close, 0);
    }

    #[test]
    fn catching_up_within_the_grace_keeps_a_slow_reader_and_restarts_it() {
        let mut h = Harness::new(Probe::relay());
        let (c, sender) = (h.connect(), h.connect());
        h.stop_reading(c);
        h.input(sender, &[b'x'; 150]);
        h.advance(Duration::from_millis(900));
        assert_eq!(h.read_output(c, 50), [b'x'; 50]);
        assert_eq!(
            h.io.pending_output(c),
            100,
            "exactly high_water is not behind"
        );
        h.input(sender, b"y");
        h.advance(Duration::from_millis(900));
        assert!(!h.is_gone(c), "behind again for 900 ms only");
        h.advance(Duration::from_millis(100));
        assert_eq!(h.io.closed(c), Some(CloseReason::OutputOverflow));
    }

    #[test]
    fn more_than_four_times_high_water_behind_is_cut_if_behind_before() {
        let mut h = Harness::new(Probe::relay());
        let (c, sender) = (h.connect(), h.connect());
        h.stop_reading(c);
        h.input(sender, &[b'x'; 1000]);
        assert!(!h.is_gone(c), "one call's burst: judged over time");
        h.input(sender, b"y");
        assert_eq!(h.io.closed(c), Some(CloseReason::OutputOverflow));
    }

    #[test]
    fn past_the_ceiling_in_one_call_even_a_reader_is_cut_at_once() {
        let mut probe = Probe::relay();
        probe.tail = b"after";
        let mut h = Harness::new(probe);
        let (c, sender) = (h.connect(), h.connect());
        h.input(sender, &[b'x'; 1500]);
        assert!(
            !h.is_gone(c),
            "a reader takes 1,505 bytes at the end of the call"
        );
        assert_eq!(h.take_output(c).len(), 1505);
        h.input(sender, &[b'x'; 1601]);
        assert_eq!(h.io.closed(c), Some(CloseReason::OutputOverflow));
        assert!(h.is_gone(c));
        assert_eq!(h.io.output(c), b"", "dropped, never delivered");
        // The send after the overflow was dropped, not the service's fault.
        assert_eq!(h.io.sends_after_close, 0);
    }

    #[test]
    fn a_clients_own_replies_pause_its_reading_and_never_cut_it() {
        let mut h = Harness::new(Probe::new(OverflowPolicy::Disconnect));
        let c = h.connect();
        h.stop_reading(c);
        h.input(c, &[b'a'; 300]);
        h.input(c, b"held");
        assert!(h.io.is_backpressured(c));
        h.advance(Duration::from_secs(60));
        assert!(
            !h.is_gone(c),
            "300 bytes of its own replies, unread for a minute"
        );
        events(&mut h);
        h.take_output(c);
        assert_eq!(events(&mut h), ["data #0 4"]);
    }

    #[test]
    fn a_close_the_service_asked_for_still_overflows_when_unread() {
        // As the reactor's flush of a draining connection: the limit holds.
        for (slow, want) in [
            (false, CloseReason::PeerClosed),
            (true, CloseReason::OutputOverflow),
        ] {
            let mut h = Harness::new(Probe::relay());
            let (c, sender) = (h.connect(), h.connect());
            if slow {
                h.stop_reading(c);
            }
            h.input(sender, &[b'x'; 150]);
            h.eof(c);
            h.advance(Duration::from_secs(1));
            assert!(h.is_gone(c));
            assert_eq!(h.io.closed(c), Some(want));
            assert_eq!(events(&mut h).last(), Some(&format!("close {c} {want}")));
        }
    }

    #[test]
    fn pause_reading_holds_input_until_output_drains_below_low_water() {
        let mut h = Harness::new(Probe::new(OverflowPolicy::PauseReading));
        let (slow, reader) = (h.connect(), h.connect());
        h.input(reader, &[b'r'; 500]);
        assert!(!h.io.is_backpressured(reader), "a reader drains its output");
        h.stop_reading(slow);
        h.input(slow, &[b'a'; 120]);
        assert!(h.io.is_backpressured(slow));
        events(&mut h);
        for piece in [b'b', b'c', b'd'] {
            h.input(slow, &[piece; 60]);
        }
        h.eof(slow);
        assert_eq!(events(&mut h), Vec::<String>::new(), "held back");
        assert_eq!(h.read_output(slow, 90), [b'a'; 90]);
        assert!(h.io.is_backpressured(slow), "30 unsent: above low water");
        assert_eq!(events(&mut h), Vec::<String>::new());
        assert_eq!(h.read_output(slow, 10), [b'a'; 10]);
        // 20 unsent: reading resumes, one input at a time, until the echo
        // passes high water again (20 + 60 + 60).
        assert_eq!(events(&mut h), ["data #0 60", "data #0 60"]);
        assert!(h.io.is_backpressured(slow));
        assert_eq!(h.io.pending_output(slow), 140);
        let mut want = vec![b'a'; 20];
        want.extend([b'b'; 60]);
        want.extend([b'c'; 60]);
        assert_eq!(h.take_output(slow), want);
        // The last input, then the EOF that came after it.
        assert_eq!(
            events(&mut h),
            ["data #0 60", "eof #0", "close #0 peer closed"]
        );
        assert_eq!(h.io.output(slow), [b'd'; 60]);
    }

    #[test]
    fn a_reader_that_resumes_reading_is_read_again() {
        let mut h = Harness::new(Probe::new(OverflowPolicy::PauseReading));
        let c = h.connect();
        h.stop_reading(c);
        h.input(c, &[b'a'; 101]);
        h.input(c, b"held");
        assert!(h.io.is_backpressured(c));
        events(&mut h);
        h.resume_reading(c);
        assert_eq!(events(&mut h), ["data #0 4"]);
        assert_eq!(h.io.pending_output(c), 0);
        assert_eq!(h.io.output(c).len(), 105);
    }
}
