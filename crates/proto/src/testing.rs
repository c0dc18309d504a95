//! An in-memory [`Io`] for testing services without sockets.

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::{CloseReason, ConnId, Io};

/// Records what a service sends and closes, per connection, with a clock
/// that only moves when the test says so.
#[derive(Debug)]
pub struct MemoryIo {
    outputs: HashMap<ConnId, Vec<u8>>,
    closed: HashMap<ConnId, CloseReason>,
    paused: HashMap<ConnId, Instant>,
    timers: HashMap<ConnId, Instant>,
    /// Connections whose `handle_close` has run: their ids could belong to
    /// someone else next (the reactor reuses slab slots).
    reaped: HashSet<ConnId>,
    /// The time the service sees.
    pub now: Instant,
    /// The wall-clock time the service sees; [`Harness::advance`] moves it
    /// with `now`.
    pub system_time: SystemTime,
    /// Sends to connections that were closed (asked to close, or reaped):
    /// output that a real reactor drops, or worse, delivers to whoever got
    /// the id next. Always a bug in the service.
    pub sends_after_close: usize,
}

impl Default for MemoryIo {
    fn default() -> Self {
        MemoryIo {
            outputs: HashMap::new(),
            closed: HashMap::new(),
            paused: HashMap::new(),
            timers: HashMap::new(),
            reaped: HashSet::new(),
            now: Instant::now(),
            // A fixed, readable start: 2026-01-01T00:00:00Z.
            system_time: SystemTime::UNIX_EPOCH + Duration::from_secs(1_767_225_600),
            sends_after_close: 0,
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

    /// When the service's timer for `conn` is due, if one is set.
    pub fn timer(&self, conn: ConnId) -> Option<Instant> {
        self.timers.get(&conn).copied()
    }

    /// Records that `conn`'s `handle_close` ran.
    pub fn reap(&mut self, conn: ConnId) {
        self.paused.remove(&conn);
        self.timers.remove(&conn);
        self.reaped.insert(conn);
    }

    /// Whether `conn`'s `handle_close` ran.
    pub fn is_reaped(&self, conn: ConnId) -> bool {
        self.reaped.contains(&conn)
    }

    /// Everything sent to `conn` so far (empty if nothing).
    pub fn output(&self, conn: ConnId) -> &[u8] {
        self.outputs.get(&conn).map_or(&[], Vec::as_slice)
    }

    /// Takes and clears what was sent to `conn`.
    pub fn take_output(&mut self, conn: ConnId) -> Vec<u8> {
        self.outputs.remove(&conn).unwrap_or_default()
    }

    /// Why `conn` was closed, if the service closed it.
    pub fn closed(&self, conn: ConnId) -> Option<CloseReason> {
        self.closed.get(&conn).copied()
    }
}

impl Io for MemoryIo {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        if self.closed.contains_key(&conn) || self.reaped.contains(&conn) {
            self.sends_after_close += 1;
            return;
        }
        self.outputs
            .entry(conn)
            .or_default()
            .extend_from_slice(bytes);
    }

    fn send_shared(&mut self, conn: ConnId, bytes: &Bytes) {
        self.send(conn, bytes);
    }

    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.closed.entry(conn).or_insert(reason);
    }

    fn pending_output(&self, conn: ConnId) -> usize {
        self.output(conn).len()
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
}

/// Several in-memory clients around one service, with a stepped clock: the
/// reactor's part (pausing, waking, reaping closed connections) without
/// sockets.
pub struct Harness<S: crate::Service> {
    /// The service under test.
    pub service: S,
    /// Its output, closes and clock.
    pub io: MemoryIo,
    next_id: usize,
    /// Input that arrived while reading was paused (the kernel buffer).
    held: HashMap<ConnId, Vec<u8>>,
}

impl<S: crate::Service> Harness<S> {
    /// A harness around `service`.
    pub fn new(service: S) -> Self {
        Harness {
            service,
            io: MemoryIo::default(),
            next_id: 0,
            held: HashMap::new(),
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
        self.service
            .handle_connect(conn, peer, listener, &mut self.io);
        self.settle();
        conn
    }

    /// Delivers `bytes` from `conn` (held back while its reading is paused).
    pub fn input(&mut self, conn: ConnId, bytes: &[u8]) {
        self.assert_connected(conn);
        if self.io.is_reaped(conn) || self.io.closed(conn).is_some() {
            return;
        }
        if self.io.paused_until(conn).is_some() {
            self.held.entry(conn).or_default().extend_from_slice(bytes);
            return;
        }
        self.service.handle_data(conn, bytes, &mut self.io);
        self.settle();
    }

    /// The peer of `conn` closed its side (EOF).
    pub fn eof(&mut self, conn: ConnId) {
        self.assert_connected(conn);
        if self.io.is_reaped(conn) {
            return;
        }
        self.service.handle_eof(conn, &mut self.io);
        self.settle();
    }

    /// `conn` went away for `reason` (a reset, a timeout, an overflow).
    pub fn drop_conn(&mut self, conn: ConnId, reason: crate::CloseReason) {
        self.assert_connected(conn);
        self.io.closed.entry(conn).or_insert(reason);
        self.settle();
    }

    /// Moves the clock on, waking paused connections whose time came (and
    /// delivering what they had held back) and firing due timers, in time
    /// order. Panics if a woken connection pauses again until a time
    /// already reached, or a timer is set again for a time already reached:
    /// the reactor would spin.
    pub fn advance(&mut self, by: Duration) {
        let end = self.io.now + by;
        loop {
            let next_pause = self.io.paused.iter().map(|(&c, &t)| (t, 0, c)).min();
            let next_timer = self.io.timers.iter().map(|(&c, &t)| (t, 1, c)).min();
            let Some((when, kind, conn)) = next_pause.into_iter().chain(next_timer).min() else {
                break;
            };
            if when > end {
                break;
            }
            if when > self.io.now {
                self.step_clock(when - self.io.now);
            }
            if kind == 0 {
                self.io.unpause(conn);
                self.service.handle_wake(conn, &mut self.io);
                if let Some(until) = self.io.paused_until(conn) {
                    assert!(
                        until > self.io.now,
                        "{conn} woken at its pause time paused again until then: a busy loop"
                    );
                } else if let Some(bytes) = self.held.remove(&conn) {
                    self.service.handle_data(conn, &bytes, &mut self.io);
                }
            } else {
                self.io.timers.remove(&conn);
                self.service.handle_timer(conn, &mut self.io);
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

    /// Takes the complete lines sent to `conn` so far (CRLF removed).
    pub fn lines(&mut self, conn: ConnId) -> Vec<String> {
        let out = self.io.take_output(conn);
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

    /// Reaps connections the service closed: the reactor would flush and
    /// close them, then call `handle_close`.
    fn settle(&mut self) {
        loop {
            let closing: Vec<(ConnId, crate::CloseReason)> = self
                .io
                .closed
                .iter()
                .filter(|(c, _)| !self.io.is_reaped(**c))
                .map(|(&c, &r)| (c, r))
                .collect();
            if closing.is_empty() {
                return;
            }
            for (conn, reason) in closing {
                self.io.reap(conn);
                self.held.remove(&conn);
                self.service.handle_close(conn, reason, &mut self.io);
            }
        }
    }
}
