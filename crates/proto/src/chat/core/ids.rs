use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::{Duration, SystemTime};

/// One user of the chat, whichever front-end they came through.
///
/// A session is one connection of one thread; its id tells which (see
/// [`Shard`](crate::chat::core::Shard)), so that every thread's replica of
/// the chat names it the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct SessionId(pub usize);

impl SessionId {
    /// The server itself, as the actor of the events no session causes
    /// (a crowded room's summary of arrivals); never a session's id.
    pub const SERVER: SessionId = SessionId(usize::MAX);
}

/// Identifies a room while it exists.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RoomId(pub usize);

/// Wall-clock time of an event, in milliseconds since the Unix epoch: what
/// people are shown, and comparable across processes (an `Instant` is not).
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
pub struct Timestamp(pub u64);

impl Timestamp {
    /// The timestamp of `time` (times before 1970 count as 1970).
    pub fn from_system_time(time: SystemTime) -> Self {
        let since = time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        Timestamp(u64::try_from(since.as_millis()).unwrap_or(u64::MAX))
    }

    /// This timestamp as a `SystemTime`.
    pub fn to_system_time(self) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_millis(self.0)
    }

    /// Whole seconds since the Unix epoch (IRC's timestamps).
    pub fn as_secs(self) -> u64 {
        self.0 / 1000
    }
}

impl fmt::Display for Timestamp {
    /// RFC 3339 with milliseconds, in UTC: `2026-11-30T19:38:02.123Z`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            humantime::format_rfc3339_millis(self.to_system_time())
        )
    }
}

/// Where an event stands in a room's history: the room and its sequence
/// number there. Every member sees a room's events in sequence order; a
/// history or a bus between threads and nodes is built on this.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RoomStamp {
    /// The room.
    pub room: RoomId,
    /// The room's sequence number of this event (the first event is 1).
    pub seq: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_show_as_rfc3339_utc_with_millis() {
        let t = Timestamp::from_system_time(
            SystemTime::UNIX_EPOCH + Duration::from_millis(1_796_067_482_123),
        );
        assert_eq!(t.to_string(), "2026-11-30T19:38:02.123Z");
        assert_eq!(t.as_secs(), 1_796_067_482);
        assert_eq!(Timestamp::from_system_time(t.to_system_time()), t);
    }
}
