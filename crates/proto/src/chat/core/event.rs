use crate::chat::core::{RoomMode, RoomStamp, SessionId, Source, Timestamp, Turnover};
use crate::CloseReason;

/// What the chat core tells front-ends: something happened, in one or more
/// rooms or between two users. Protocol-neutral: each front-end renders it
/// in its own words, once per event, and the bytes are shared among its
/// recipients.
#[derive(Clone, Copy, Debug)]
pub struct Event<'a> {
    /// When it happened.
    pub time: Timestamp,
    /// Who did it.
    pub actor: SessionId,
    /// How to name the actor (for a nick change: the old nick).
    pub from: Source<'a>,
    /// Whom it is done to, if anyone: a kicked or (de)opped member, the
    /// recipient of a private message. Some front-ends word it differently
    /// for them.
    pub subject: Option<SessionId>,
    /// The rooms it happened in, each with its sequence number there
    /// (none for a private message).
    pub rooms: &'a [RoomStamp],
    /// What happened.
    pub kind: EventKind<'a>,
}

/// The kinds of [`Event`].
#[derive(Clone, Copy, Debug)]
pub enum EventKind<'a> {
    /// The actor joined `room`, which now has `members` members.
    Join {
        /// Room display name.
        room: &'a str,
        /// Members, the actor included.
        members: usize,
    },
    /// The actor left `room`.
    Part {
        /// Room display name.
        room: &'a str,
        /// Why, if they said.
        reason: Option<&'a str>,
    },
    /// A message, to a room or a user.
    Message {
        /// Where it goes.
        to: Target<'a>,
        /// Chat line, action or notice.
        kind: MessageKind,
        /// The text (UTF-8, no line breaks; may hold IRC formatting, which
        /// front-ends for terminals remove).
        text: &'a str,
        /// Client-only message tags (IRCv3 `+name=value;...`, escaped as on
        /// the wire), relayed to front-ends that carry them; often empty.
        tags: &'a str,
    },
    /// The actor is now called `new`.
    Nick {
        /// The new nick.
        new: &'a str,
    },
    /// The actor's session ended.
    Quit {
        /// Why.
        reason: QuitReason<'a>,
    },
    /// The actor set `room`'s topic.
    Topic {
        /// Room display name.
        room: &'a str,
        /// The new topic (empty: cleared).
        text: &'a str,
    },
    /// The actor removed `nick` (the event's subject) from `room`.
    Kick {
        /// Room display name.
        room: &'a str,
        /// The kicked member.
        nick: &'a str,
        /// Why.
        reason: &'a str,
    },
    /// The actor gave or took `nick`'s (the subject's) operator status.
    Op {
        /// Room display name.
        room: &'a str,
        /// The member.
        nick: &'a str,
        /// Given (true) or taken.
        op: bool,
    },
    /// Who joined and left a crowded room since its last summary (the
    /// actor is [`SessionId::SERVER`], named as the server).
    Summary {
        /// Room display name.
        room: &'a str,
        /// The arrivals and departures.
        turnover: &'a Turnover,
        /// Members now.
        members: usize,
    },
    /// A private message from the event's subject to `nick`, another
    /// thread's client, was not delivered: `nick` is far behind in reading
    /// (the actor is [`SessionId::SERVER`], named as the server). Told to
    /// the sender only, as the refusal [`ChatError::TargetBusy`] is when
    /// the recipient is on the sender's own thread.
    ///
    /// [`ChatError::TargetBusy`]: crate::chat::core::ChatError::TargetBusy
    Undelivered {
        /// The sender's nick (the event's subject).
        to: &'a str,
        /// The recipient that is not keeping up.
        nick: &'a str,
    },
    /// News of the cluster's other servers, told by the server to this
    /// server's members of `room`.
    Servers {
        /// Room display name.
        room: &'a str,
        /// What happened.
        news: ServerNews,
        /// Members of the room now.
        members: usize,
    },
    /// The actor switched a room mode.
    RoomMode {
        /// Room display name.
        room: &'a str,
        /// Which.
        mode: RoomMode,
        /// On or off.
        on: bool,
    },
}

/// Where a message goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target<'a> {
    /// Every member of a room but the sender.
    Room(&'a str),
    /// One user (the event's subject), by their nick.
    User(&'a str),
}

/// The kinds of message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum MessageKind {
    /// A chat line.
    Say,
    /// An action (`/me`, IRC's CTCP ACTION).
    Act,
    /// A notice: never answered automatically (IRC's NOTICE).
    Notice,
    /// Tags only, no text (IRC's TAGMSG, e.g. typing notifications).
    Tags,
}

/// Why a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuitReason<'a> {
    /// The user asked to leave, saying this if anything.
    Quit(Option<&'a str>),
    /// The connection closed for this reason.
    Closed(CloseReason),
    /// The client stopped answering pings for this many seconds.
    PingTimeout(u64),
    /// Its server (a node of the cluster) is unreachable.
    ServerGone,
}

/// What a room is told of the other servers of a cluster
/// ([`EventKind::Servers`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ServerNews {
    /// They are unreachable: the room goes on with this server's people.
    Unreachable,
    /// This server fell behind the cluster's log and missed this many
    /// changes: it goes on alone until it has caught up.
    Behind(u64),
    /// In touch again: the room is as the cluster has it.
    Back,
}

impl ServerNews {
    /// In words, for `room` of `members` members now: what every front-end
    /// shows (a line notice, an IRC server NOTICE, the page's system line).
    pub fn text(self, room: &str, members: usize) -> String {
        match self {
            ServerNews::Unreachable => format!(
                "other servers are unreachable: {room} goes on with the people on this server"
            ),
            ServerNews::Behind(missed) => format!(
                "this server fell behind and missed {missed} changes: {room} goes on with \
                 the people on this server until it has caught up"
            ),
            ServerNews::Back => {
                let s = if members == 1 { "" } else { "s" };
                format!("back in touch with the other servers: {room} has {members} member{s}")
            }
        }
    }

    /// A word for it (the web protocol's `state`).
    pub fn name(self) -> &'static str {
        match self {
            ServerNews::Unreachable => "unreachable",
            ServerNews::Behind(_) => "behind",
            ServerNews::Back => "back",
        }
    }
}

/// Who an event goes to: each of `sessions` once, but `except`.
#[derive(Clone, Copy, Debug)]
pub struct Recipients<'a> {
    /// Everyone concerned (for a room message, its members).
    pub sessions: &'a [SessionId],
    /// Left out (a message's sender).
    pub except: Option<SessionId>,
}

/// Where the core's events go: the front-ends' renderer and the sockets
/// behind them (or, later, a bus to other threads and nodes).
pub trait EventSink {
    /// `event` happened: deliver it to `to`. `core` is the state after it
    /// was applied (before, for a quit or a kick: the actor or subject is
    /// still there to be named).
    fn handle_event(
        &mut self,
        core: &crate::chat::core::ChatCore,
        event: &Event<'_>,
        to: Recipients<'_>,
    );

    /// Sends whatever events the sink holds back (a batch of one sender's
    /// lines) to their recipients as the room stands in `core` now: called
    /// before a change whose event follows it (a join), so that what was
    /// said before a member arrived never reaches that member.
    fn flush(&mut self, core: &crate::chat::core::ChatCore) {
        let _ = core;
    }
}
