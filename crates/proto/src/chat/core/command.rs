use crate::chat::core::{MessageKind, RoomId, RoomMode};

/// A protocol-neutral request of one session to the chat core.
///
/// Front-ends parse their wire format into these; rooms are named by id
/// (look them up with [`ChatCore::find_room`](crate::chat::ChatCore::find_room), so that a front-end can say
/// "no such room" in its own words), except for a join, which may create
/// the room.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command<'a> {
    /// Join the room called this (created if new; `#` optional).
    Join(&'a str),
    /// Leave a room.
    Part {
        /// Which.
        room: RoomId,
        /// Why, if anything.
        reason: Option<&'a str>,
    },
    /// Send a message.
    Message {
        /// A room, or a user by nick.
        to: MessageTarget<'a>,
        /// Chat line, action, notice or tags only.
        kind: MessageKind,
        /// The text.
        text: &'a str,
        /// Client-only tags to relay (IRCv3), usually empty.
        tags: &'a str,
    },
    /// Change nick.
    Nick(&'a str),
    /// Set a room's topic (empty: clear it).
    Topic {
        /// Which room.
        room: RoomId,
        /// The topic.
        text: &'a str,
    },
    /// Remove a member from a room (operators only).
    Kick {
        /// Which room.
        room: RoomId,
        /// Whom.
        nick: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// Give or take a member's operator status (operators only).
    Op {
        /// Which room.
        room: RoomId,
        /// Whom.
        nick: &'a str,
        /// Give (true) or take.
        op: bool,
    },
    /// Switch a room mode (operators only).
    RoomMode {
        /// Which room.
        room: RoomId,
        /// Which mode.
        mode: RoomMode,
        /// On or off.
        on: bool,
    },
    /// Mark oneself away with a message, or back (`None`).
    Away(Option<&'a str>),
}

/// Where a [`Command::Message`] goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageTarget<'a> {
    /// A room's members.
    Room(RoomId),
    /// The user with this nick (any case).
    Nick(&'a str),
}

impl Command<'_> {
    /// The room the command names by id, if it does.
    pub fn room(&self) -> Option<RoomId> {
        match *self {
            Command::Part { room, .. }
            | Command::Topic { room, .. }
            | Command::Kick { room, .. }
            | Command::Op { room, .. }
            | Command::RoomMode { room, .. } => Some(room),
            Command::Message {
                to: MessageTarget::Room(room),
                ..
            } => Some(room),
            Command::Join(_) | Command::Message { .. } | Command::Nick(_) | Command::Away(_) => {
                None
            }
        }
    }
}
