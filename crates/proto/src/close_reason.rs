use std::{fmt, io};

/// Why a connection was closed. Logged and counted by the reactor, and given
/// to the service so it can announce departures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed its side (EOF) and everything owed to it was sent.
    PeerClosed,
    /// The peer reset the connection (`ECONNRESET`, `EPIPE`).
    Reset,
    /// The poller reported hang-up before the peer's data could be handled.
    HangUp,
    /// Any other socket error.
    Error(io::ErrorKind),
    /// No traffic for longer than the idle timeout.
    IdleTimeout,
    /// The server is shutting down.
    Shutdown,
    /// The connection limit was reached when it arrived.
    ServerFull,
    /// Its address holds as many connections as one may, or opened as many
    /// as it may this second, when it arrived.
    AddressLimit,
    /// The peer stopped reading and its unsent output passed the limit.
    OutputOverflow,
    /// The service closed it on the client's request (for example `/quit`).
    Closed,
    /// The client broke its protocol beyond repair (a bad WebSocket frame,
    /// a malformed HTTP request) and was told why.
    ProtocolError,
}

impl CloseReason {
    /// Every reason kind, in the order used by [`CloseReason::index`].
    pub const KINDS: [&'static str; 11] = [
        "peer closed",
        "reset",
        "hang-up",
        "error",
        "idle timeout",
        "shutdown",
        "server full",
        "output overflow",
        "closed on request",
        "protocol error",
        "address limit",
    ];

    /// A dense index for counting closes per kind (see [`CloseReason::KINDS`]).
    pub fn index(&self) -> usize {
        match self {
            CloseReason::PeerClosed => 0,
            CloseReason::Reset => 1,
            CloseReason::HangUp => 2,
            CloseReason::Error(_) => 3,
            CloseReason::IdleTimeout => 4,
            CloseReason::Shutdown => 5,
            CloseReason::ServerFull => 6,
            CloseReason::OutputOverflow => 7,
            CloseReason::Closed => 8,
            CloseReason::ProtocolError => 9,
            CloseReason::AddressLimit => 10,
        }
    }

    /// Classifies a socket error: resets are normal churn, the rest is not.
    pub fn from_io_error(err: &io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::ConnectionReset
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::BrokenPipe => CloseReason::Reset,
            kind => CloseReason::Error(kind),
        }
    }
}

/// Between the nodes of a cluster a reason travels as its kind's name
/// ([`CloseReason::KINDS`]); a socket error's kind stays with its node.
impl serde::Serialize for CloseReason {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(Self::KINDS[self.index()])
    }
}

impl<'de> serde::Deserialize<'de> for CloseReason {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        let all = [
            CloseReason::PeerClosed,
            CloseReason::Reset,
            CloseReason::HangUp,
            CloseReason::Error(io::ErrorKind::Other),
            CloseReason::IdleTimeout,
            CloseReason::Shutdown,
            CloseReason::ServerFull,
            CloseReason::OutputOverflow,
            CloseReason::Closed,
            CloseReason::ProtocolError,
            CloseReason::AddressLimit,
        ];
        all.into_iter()
            .find(|reason| Self::KINDS[reason.index()] == name)
            .ok_or_else(|| serde::de::Error::custom(format!("no close reason {name:?}")))
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CloseReason::Error(kind) => write!(f, "error: {kind}"),
            other => f.write_str(Self::KINDS[other.index()]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resets_are_told_apart_from_other_errors() {
        let reset = io::Error::from(io::ErrorKind::ConnectionReset);
        assert_eq!(CloseReason::from_io_error(&reset), CloseReason::Reset);
        let other = io::Error::from(io::ErrorKind::TimedOut);
        assert_eq!(
            CloseReason::from_io_error(&other),
            CloseReason::Error(io::ErrorKind::TimedOut)
        );
        assert_eq!(
            CloseReason::Error(io::ErrorKind::TimedOut).to_string(),
            "error: timed out"
        );
        assert_eq!(CloseReason::IdleTimeout.to_string(), "idle timeout");
    }

    #[test]
    fn reasons_travel_by_kind() {
        for index in 0..CloseReason::KINDS.len() {
            let json = serde_json::to_string(CloseReason::KINDS[index]).unwrap();
            let reason: CloseReason = serde_json::from_str(&json).unwrap();
            assert_eq!(reason.index(), index);
            assert_eq!(serde_json::to_string(&reason).unwrap(), json);
        }
    }
}
