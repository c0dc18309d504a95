//! An in-memory [`Io`] for testing services without sockets.

use std::collections::HashMap;

use bytes::Bytes;

use crate::{CloseReason, ConnId, Io};

/// Records what a service sends and closes, per connection.
#[derive(Debug, Default)]
pub struct MemoryIo {
    outputs: HashMap<ConnId, Vec<u8>>,
    closed: HashMap<ConnId, CloseReason>,
}

impl MemoryIo {
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
}
