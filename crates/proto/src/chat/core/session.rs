use crate::chat::core::{RoomId, Timestamp};

/// One user: who they are to others, and which rooms they are in.
#[derive(Clone, Debug, serde::Serialize, serde::Deserialize)]
pub struct Session {
    /// Unique ignoring case (see [`name_key`](crate::chat::name_key)).
    pub nick: String,
    /// User name (IRC's `USER`; the line front-end makes one up).
    pub user: String,
    /// Host shown to others: a cloak naming the front-end, never the
    /// client's address.
    pub host: String,
    /// Real name (IRC's `USER`), free text.
    pub realname: String,
    /// Rooms joined, in joining order.
    pub rooms: Vec<RoomId>,
    /// Away message, while away.
    pub away: Option<String>,
    /// When the session was registered.
    pub signed_on: Timestamp,
    /// When it last sent a message (IRC's idle time).
    pub last_message: Timestamp,
}

impl Session {
    /// The session as the source of an event.
    pub fn source(&self) -> Source<'_> {
        Source {
            nick: &self.nick,
            user: &self.user,
            host: &self.host,
        }
    }
}

/// Who did something: what a front-end needs to name them (IRC's
/// `nick!user@host`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Source<'a> {
    /// Nick at the time of the event (before a nick change).
    pub nick: &'a str,
    /// User name.
    pub user: &'a str,
    /// Host (cloak).
    pub host: &'a str,
}

/// What a front-end knows of a new session when it registers it.
#[derive(Clone, Copy, Debug)]
pub struct Registration<'a> {
    /// The nick asked for; `None` for the next free `guestN`.
    pub nick: Option<&'a str>,
    /// User name.
    pub user: &'a str,
    /// Host cloak.
    pub host: &'a str,
    /// Real name.
    pub realname: &'a str,
}
