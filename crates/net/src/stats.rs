use std::fmt;

use switchboard_proto::CloseReason;

/// What a reactor did over its life: connections and bytes, closes per
/// [`CloseReason`] kind. Logged at exit and returned by `Reactor::run`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Connections accepted (refused ones included).
    pub accepted: u64,
    /// Closes counted per reason kind, indexed by [`CloseReason::index`].
    pub closed: [u64; CloseReason::KINDS.len()],
    /// Bytes read from connections.
    pub bytes_in: u64,
    /// Bytes written to connections.
    pub bytes_out: u64,
    /// UDP datagrams received.
    pub datagrams_in: u64,
    /// UDP datagrams not answered: the reply did not fit the socket buffer,
    /// or the sender claimed to be one of our sockets or a reflecting port.
    pub datagrams_dropped: u64,
}

impl Stats {
    /// Counts one close.
    pub fn count_close(&mut self, reason: CloseReason) {
        self.closed[reason.index()] += 1;
    }

    /// How many connections closed for this reason's kind.
    pub fn closes(&self, reason: CloseReason) -> u64 {
        self.closed[reason.index()]
    }
}

impl std::ops::AddAssign<&Stats> for Stats {
    /// Adds another reactor's counts (one process's threads).
    fn add_assign(&mut self, other: &Stats) {
        self.accepted += other.accepted;
        for (mine, theirs) in self.closed.iter_mut().zip(other.closed) {
            *mine += theirs;
        }
        self.bytes_in += other.bytes_in;
        self.bytes_out += other.bytes_out;
        self.datagrams_in += other.datagrams_in;
        self.datagrams_dropped += other.datagrams_dropped;
    }
}

impl fmt::Display for Stats {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} connections, {} bytes in, {} bytes out",
            self.accepted, self.bytes_in, self.bytes_out
        )?;
        for (name, n) in CloseReason::KINDS.iter().zip(self.closed) {
            if n > 0 {
                write!(f, ", {n} {name}")?;
            }
        }
        if self.datagrams_in > 0 {
            write!(f, ", {} datagrams", self.datagrams_in)?;
        }
        if self.datagrams_dropped > 0 {
            write!(f, " ({} unanswered)", self.datagrams_dropped)?;
        }
        Ok(())
    }
}
