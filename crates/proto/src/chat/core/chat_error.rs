use thiserror::Error;

/// Why the chat core refused a command: protocol-neutral, shown to its
/// sender only, in each front-end's own words (the line front-end shows
/// this `Display` text; IRC maps each to its numeric).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ChatError {
    /// Not a valid nick.
    #[error("a nick is 1 to 32 letters, digits, _ or -")]
    BadNick(String),
    /// Someone else has it (case-insensitively).
    #[error("the nick {0} is taken")]
    NickTaken(String),
    /// Not a valid room name.
    #[error("a room name is 1 to 32 letters, digits, _ or -, after an optional #")]
    BadRoom(String),
    /// A join to a room one is in.
    #[error("you are already in {0}")]
    AlreadyInRoom(String),
    /// Nobody has that nick.
    #[error("no one is called {0}")]
    NoSuchNick(String),
    /// No room has that name.
    #[error("there is no room {0}")]
    NoSuchRoom(String),
    /// The command needs membership of the room.
    #[error("you are not in {0}")]
    NotInRoom(String),
    /// The command needs operator status in the room.
    #[error("you are not an operator of {0}")]
    NotOperator(String),
    /// The command's target is not a member of the room.
    #[error("{nick} is not in {room}")]
    TheyAreNotInRoom {
        /// Who.
        nick: String,
        /// Which room (display name).
        room: String,
    },
    /// The session is in as many rooms as one may be
    /// ([`ChatCore::MAX_ROOMS`](crate::chat::core::ChatCore::MAX_ROOMS)).
    #[error("you are in too many rooms to join {0}")]
    TooManyRooms(String),
    /// The room takes messages from its members only (mode `+n`).
    #[error("only members can send to {0}")]
    CannotSendToRoom(String),
    /// The recipient of a private message is far behind in reading what
    /// it is sent: the message was not queued, so senders cannot push it
    /// past its output limit and get it cut off.
    #[error("{0} is not keeping up with their messages; yours was not sent, try again later")]
    TargetBusy(String),
    /// The sender's server is rejoining its cluster and the sender is not
    /// yet known to the others again: for a moment, nothing it does counts.
    #[error("this server is rejoining the others; try again in a moment")]
    Rejoining,
}
