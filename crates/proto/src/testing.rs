//! An in-memory [`Io`] for testing services without sockets.

use std::collections::HashMap;
use std::time::Instant;

use bytes::Bytes;

use crate::{CloseReason, ConnId, Io};

/// Records what a service sends and closes, per connection, with a clock
/// that only moves when the test says so.
#[derive(Debug)]
pub struct MemoryIo {
    outputs: HashMap<ConnId, Vec<u8>>,
    closed: HashMap<ConnId, CloseReason>,
    paused: HashMap<ConnId, Instant>,
    /// The time the service sees.
    pub now: Instant,
}

impl Default for MemoryIo {
    fn default() -> Self {
        MemoryIo {
            outputs: HashMap::new(),
            closed: HashMap::new(),
            paused: HashMap::new(),
            now: Instant::now(),
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

    /// Forgets `conn` entirely (its id may be reused).
    pub fn forget(&mut self, conn: ConnId) {
        self.outputs.remove(&conn);
        self.closed.remove(&conn);
        self.paused.remove(&conn);
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
        if !self.closed.contains_key(&conn) {
            self.outputs
                .entry(conn)
                .or_default()
                .extend_from_slice(bytes);
        }
    }

    fn send_shared(&mut self, conn: ConnId, bytes: Bytes) {
        self.send(conn, &bytes);
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

    fn pause_reading_until(&mut self, conn: ConnId, when: Instant) {
        if !self.closed.contains_key(&conn) {
            self.paused.insert(conn, when);
        }
    }
}
