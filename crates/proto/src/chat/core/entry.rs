use crate::chat::core::{
    ChatCore, ChatError, Command, CoreSnapshot, EventSink, MessageKind, MessageTarget, QuitReason,
    Registration, RoomId, RoomMode, ServerNews, SessionId, Timestamp,
};
use serde::{Deserialize, Serialize};
use std::time::Duration;

use crate::CloseReason;

/// One change to the chat, as replicas of it share it through a
/// [`Bus`](crate::Bus): what a session did, owned (it outlives the input it
/// came from) and naming rooms by name (a room's id may be reused by the
/// time another replica applies it). Applied in the same order, entries
/// leave every replica in the same state with the same sequence numbers.
/// Between the nodes of a cluster they travel as JSON.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Entry {
    /// When it happened: every replica stamps its events with this time.
    pub time: Timestamp,
    /// Who did it ([`SessionId::SERVER`] for the server's own entries).
    pub session: SessionId,
    /// What.
    pub op: Op,
}

/// What an [`Entry`] does: the core's inputs, owned.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[allow(missing_docs)] // the fields are those of the commands they carry
pub enum Op {
    /// [`ChatCore::register`].
    Register {
        nick: Option<String>,
        user: String,
        host: String,
        realname: String,
    },
    /// [`Command::Join`].
    Join(String),
    /// [`Command::Part`].
    Part {
        room: String,
        reason: Option<String>,
    },
    /// [`Command::Message`] to a room (`room`) or a nick.
    Message {
        to: String,
        room: bool,
        kind: MessageKind,
        text: String,
        tags: String,
    },
    /// [`Command::Nick`].
    Nick(String),
    /// [`Command::Topic`].
    Topic { room: String, text: String },
    /// [`Command::Kick`].
    Kick {
        room: String,
        nick: String,
        reason: String,
    },
    /// [`Command::Op`].
    Op {
        room: String,
        nick: String,
        op: bool,
    },
    /// [`Command::RoomMode`].
    RoomMode {
        room: String,
        mode: RoomMode,
        on: bool,
    },
    /// [`Command::Away`].
    Away(Option<String>),
    /// [`ChatCore::quit`].
    Quit(Leaving),
    /// [`ChatCore::tell_undelivered`].
    Undelivered(Undelivered),
    /// [`ChatCore::announce_turnover`]: crowded rooms' summaries.
    Summarize,
    /// [`ChatCore::set_announce_limit`] (a reload).
    AnnounceLimit(usize),
    /// [`ChatCore::reap`]: a node of the cluster is gone.
    Reap(usize),
    /// A node (re)joining the cluster asks for the chat as it stands here,
    /// under this token ([`Bus::share_state`](crate::Bus::share_state)).
    Snapshot(String),
    /// [`ChatCore::welcome_back`]: a session of a node that rejoined.
    Return(Box<Returning>),
    /// [`ChatCore::split`]: this node lost the cluster. Never leaves the
    /// node.
    #[serde(skip)]
    Split(ServerNews),
    /// This node rejoined the cluster, which stood as this snapshot: the
    /// replica takes it, and announces its own sessions again
    /// ([`Op::Return`]); with none, this node founded the cluster (anew)
    /// and its own state is the cluster's. Never leaves the node.
    #[serde(skip)]
    Resync(Option<Box<CoreSnapshot>>),
}

/// A session of a node that comes back to the cluster, as the others are
/// to know it again ([`ChatCore::welcome_back`]).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[allow(missing_docs)] // a session's fields
pub struct Returning {
    pub nick: String,
    pub user: String,
    pub host: String,
    pub realname: String,
    pub away: Option<String>,
    pub signed_on: Timestamp,
    pub last_message: Timestamp,
    /// Its rooms by name, in joining order.
    pub rooms: Vec<String>,
    /// Those of its rooms it was an operator of, with when each room was
    /// made: it still is, in the room made then. Not in one made again
    /// while its node was alone (a room emptied there and rejoined, to
    /// take the operator status with it back to the cluster: the takeover
    /// IRC's channel timestamps stop).
    #[serde(default)]
    pub ops: Vec<(String, Timestamp)>,
}

/// Why a session ends, owned (a [`QuitReason`] that outlives its input):
/// how a front-end closing its client has the departure announced.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Leaving {
    /// It asked to leave (`/quit`, `QUIT`), saying this if anything.
    Quit(Option<String>),
    /// It stopped answering pings for this long.
    PingTimeout(Duration),
    /// Its connection is closing for this reason (a WebSocket client's
    /// close frame, a protocol error).
    Closed(CloseReason),
    /// Its node of the cluster is gone.
    ServerGone,
}

impl Leaving {
    /// `reason`, owned.
    pub fn new(reason: QuitReason<'_>) -> Self {
        match reason {
            QuitReason::Quit(text) => Leaving::Quit(text.map(str::to_string)),
            QuitReason::Closed(reason) => Leaving::Closed(reason),
            QuitReason::PingTimeout(secs) => Leaving::PingTimeout(Duration::from_secs(secs)),
            QuitReason::ServerGone => Leaving::ServerGone,
        }
    }

    /// As the core takes it.
    pub fn reason(&self) -> QuitReason<'_> {
        match self {
            Leaving::Quit(text) => QuitReason::Quit(text.as_deref()),
            Leaving::PingTimeout(after) => QuitReason::PingTimeout(after.as_secs()),
            Leaving::Closed(reason) => QuitReason::Closed(*reason),
            Leaving::ServerGone => QuitReason::ServerGone,
        }
    }
}

/// A private message that another thread did not deliver: its recipient
/// is far behind in reading (see [`EventKind::Undelivered`]).
///
/// [`EventKind::Undelivered`]: crate::chat::core::EventKind::Undelivered
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Undelivered {
    /// Who sent it.
    pub sender: SessionId,
    /// The sender's nick then, and when it was sent: a session that has
    /// the sender's id by the time it is told (the sender left, another
    /// came) is not the sender, and is not told.
    pub sender_nick: String,
    /// When it was sent.
    pub sent: Timestamp,
    /// Whom it was for.
    pub nick: String,
}

impl Op {
    /// `registration`, owned.
    pub fn register(registration: &Registration<'_>) -> Op {
        Op::Register {
            nick: registration.nick.map(str::to_string),
            user: registration.user.to_string(),
            host: registration.host.to_string(),
            realname: registration.realname.to_string(),
        }
    }

    /// `command`, owned, with its room's name looked up in `core`; refused
    /// as [`ChatCore::handle_command`] would if that room is gone.
    pub fn command(command: &Command<'_>, core: &ChatCore) -> Result<Op, ChatError> {
        let name = |room: RoomId| match core.rooms().contains(room) {
            true => Ok(core.room(room).name.clone()),
            false => Err(ChatError::NoSuchRoom("(gone)".to_string())),
        };
        let s = str::to_string;
        Ok(match *command {
            Command::Join(room) => Op::Join(s(room)),
            Command::Part { room, reason } => Op::Part {
                room: name(room)?,
                reason: reason.map(s),
            },
            Command::Message {
                to,
                kind,
                text,
                tags,
            } => {
                let (to, room) = match to {
                    MessageTarget::Room(room) => (name(room)?, true),
                    MessageTarget::Nick(nick) => (s(nick), false),
                };
                Op::Message {
                    to,
                    room,
                    kind,
                    text: s(text),
                    tags: s(tags),
                }
            }
            Command::Nick(nick) => Op::Nick(s(nick)),
            Command::Topic { room, text } => Op::Topic {
                room: name(room)?,
                text: s(text),
            },
            Command::Kick { room, nick, reason } => Op::Kick {
                room: name(room)?,
                nick: s(nick),
                reason: s(reason),
            },
            Command::Op { room, nick, op } => Op::Op {
                room: name(room)?,
                nick: s(nick),
                op,
            },
            Command::RoomMode { room, mode, on } => Op::RoomMode {
                room: name(room)?,
                mode,
                on,
            },
            Command::Away(text) => Op::Away(text.map(s)),
        })
    }
}

impl Entry {
    /// Applies this entry to `core`, telling `out` what happened; the
    /// outcome is the same on every replica that applies the same entries
    /// in the same order.
    pub fn apply(&self, core: &mut ChatCore, out: &mut impl EventSink) -> Result<(), ChatError> {
        let (id, now) = (self.session, self.time);
        let by_session = !matches!(
            self.op,
            Op::Register { .. }
                | Op::Return(_)
                | Op::Quit(_)
                | Op::Undelivered(_)
                | Op::Summarize
                | Op::AnnounceLimit(_)
                | Op::Reap(_)
                | Op::Snapshot(_)
                | Op::Split(_)
                | Op::Resync(_)
        );
        if by_session && !core.is_present(id) {
            // Said by a session of a node rejoining its cluster before the
            // others knew it again: no replica knows it, so none acts on it.
            return Err(ChatError::Rejoining);
        }
        if !matches!(self.op, Op::Message { room: true, .. }) {
            // Lines held back for batching go out to the room as it is
            // before this change (a join must not receive earlier lines).
            out.flush(core);
        }
        let room = |name: &str| {
            core.find_room(name)
                .ok_or_else(|| ChatError::NoSuchRoom(name.to_string()))
        };
        let command = match &self.op {
            Op::Register {
                nick,
                user,
                host,
                realname,
            } => {
                let registration = Registration {
                    nick: nick.as_deref(),
                    user,
                    host,
                    realname,
                };
                return core.register(id, registration, now).map(drop);
            }
            Op::Quit(leaving) => {
                core.quit(id, leaving.reason(), now, out);
                return Ok(());
            }
            Op::Undelivered(undelivered) => {
                core.tell_undelivered(undelivered, now, out);
                return Ok(());
            }
            Op::Summarize => {
                core.announce_turnover(now, out);
                return Ok(());
            }
            Op::AnnounceLimit(limit) => {
                core.set_announce_limit(*limit);
                return Ok(());
            }
            Op::Reap(node) => {
                core.reap(*node, now, out);
                return Ok(());
            }
            Op::Return(returning) => {
                core.welcome_back(id, returning, now, out);
                return Ok(());
            }
            Op::Split(news) => {
                core.split(*news, now, out);
                return Ok(());
            }
            // The replica's to handle: they concern this process only.
            Op::Snapshot(_) | Op::Resync(_) => return Ok(()),
            Op::Join(name) => Command::Join(name),
            Op::Part { room: name, reason } => Command::Part {
                room: room(name)?,
                reason: reason.as_deref(),
            },
            Op::Message {
                to,
                room: to_room,
                kind,
                text,
                tags,
            } => Command::Message {
                to: match to_room {
                    true => MessageTarget::Room(room(to)?),
                    false => MessageTarget::Nick(to),
                },
                kind: *kind,
                text,
                tags,
            },
            Op::Nick(nick) => Command::Nick(nick),
            Op::Topic { room: name, text } => Command::Topic {
                room: room(name)?,
                text,
            },
            Op::Kick {
                room: name,
                nick,
                reason,
            } => Command::Kick {
                room: room(name)?,
                nick,
                reason,
            },
            Op::Op {
                room: name,
                nick,
                op,
            } => Command::Op {
                room: room(name)?,
                nick,
                op: *op,
            },
            Op::RoomMode {
                room: name,
                mode,
                on,
            } => Command::RoomMode {
                room: room(name)?,
                mode: *mode,
                on: *on,
            },
            Op::Away(text) => Command::Away(text.as_deref()),
        };
        core.handle_command(id, command, now, out)
    }
}
