//! The JSON protocol's events and replies, server to client
//! (docs/PROTOCOL.md): each rendered once per event, framed, and shared by
//! every web client that receives it.

use serde::Serialize;

use crate::chat::core::{
    ChatCore, ChatError, Event, EventKind, MessageKind, RoomMode, ServerNews, Target,
};
use crate::chat::line::quit_reason;
use crate::chat::web::web_socket::text_frame;

/// A room and its sequence number, for events that span rooms.
#[derive(Debug, Serialize)]
pub(crate) struct RoomSeq<'a> {
    pub room: &'a str,
    pub seq: u64,
}

/// A room in a `rooms` reply.
#[derive(Debug, Serialize)]
pub(crate) struct RoomInfo<'a> {
    pub room: &'a str,
    pub members: usize,
    pub topic: &'a str,
}

/// Every message the server sends, by its `"type"`.
#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub(crate) enum Out<'a> {
    Hello {
        server: &'a str,
        max_line: usize,
    },
    Welcome {
        nick: &'a str,
    },
    Join {
        room: &'a str,
        nick: &'a str,
        members: usize,
        seq: u64,
        time: u64,
    },
    Part {
        room: &'a str,
        nick: &'a str,
        reason: Option<&'a str>,
        seq: u64,
        time: u64,
    },
    Quit {
        nick: &'a str,
        reason: String,
        rooms: Vec<RoomSeq<'a>>,
        time: u64,
    },
    Nick {
        nick: &'a str,
        new: &'a str,
        rooms: Vec<RoomSeq<'a>>,
        time: u64,
    },
    Message {
        kind: &'static str,
        from: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        room: Option<&'a str>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        to: Option<&'a str>,
        text: &'a str,
        /// IRCv3 client tags (`+typing=active`), as on the wire.
        #[serde(skip_serializing_if = "str::is_empty")]
        tags: &'a str,
        time: u64,
    },
    Topic {
        room: &'a str,
        nick: &'a str,
        text: &'a str,
        seq: u64,
        time: u64,
    },
    Kick {
        room: &'a str,
        nick: &'a str,
        target: &'a str,
        reason: &'a str,
        seq: u64,
        time: u64,
    },
    Op {
        room: &'a str,
        nick: &'a str,
        target: &'a str,
        op: bool,
        seq: u64,
        time: u64,
    },
    /// News of the cluster's other servers (see `ServerNews`).
    Servers {
        room: &'a str,
        state: &'static str,
        #[serde(skip_serializing_if = "Option::is_none")]
        missed: Option<u64>,
        members: usize,
        text: &'a str,
        time: u64,
    },
    /// A crowded room's arrivals and departures since its last summary.
    Summary {
        room: &'a str,
        joined: usize,
        joined_nicks: &'a [String],
        left: usize,
        left_nicks: &'a [String],
        members: usize,
        seq: u64,
        time: u64,
    },
    Mode {
        room: &'a str,
        nick: &'a str,
        mode: &'static str,
        on: bool,
        seq: u64,
        time: u64,
    },
    /// Nicks as plain strings: a big room's list is sent to every joiner,
    /// so it is kept as short as IRC's `NAMES`.
    Names {
        room: &'a str,
        topic: &'a str,
        members: Vec<&'a str>,
        ops: Vec<&'a str>,
        /// Members in all: more than listed when `partial`.
        count: usize,
        /// Only the joiner is listed (a crowded room).
        #[serde(skip_serializing_if = "std::ops::Not::not")]
        partial: bool,
    },
    Rooms {
        rooms: Vec<RoomInfo<'a>>,
    },
    Away {
        nick: &'a str,
        text: &'a str,
    },
    Info {
        text: &'a str,
    },
    Error {
        code: &'static str,
        text: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<&'a serde_json::Value>,
    },
}

impl Out<'_> {
    /// This message as JSON text.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("plain data serializes")
    }

    /// Appends this message as a text frame.
    pub fn write_frame(&self, out: &mut Vec<u8>) {
        text_frame(&self.to_json(), out);
    }
}

fn kind_name(kind: MessageKind) -> &'static str {
    match kind {
        MessageKind::Say => "say",
        MessageKind::Act => "act",
        MessageKind::Notice => "notice",
        MessageKind::Tags => "tags",
    }
}

/// Appends `event` as a web client sees it: one text frame. Every event is
/// carried (even a tags-only message, which a page may ignore), so that a
/// room's sequence numbers reach web clients without gaps.
pub(crate) fn render(event: &Event<'_>, core: &ChatCore, out: &mut Vec<u8>) {
    let time = event.time.0;
    let nick = event.from.nick;
    // The room's sequence number, for events in one room.
    let seq = event.rooms.first().map_or(0, |s| s.seq);
    let stamps = || {
        (event.rooms.iter())
            .map(|s| RoomSeq {
                room: &core.room(s.room).name,
                seq: s.seq,
            })
            .collect()
    };
    // Words made for this event: the refusal a web client gets when the
    // recipient is on its own thread (an `error` with code `target_busy`,
    // without a request id), or news of the other servers.
    let text;
    let message = match event.kind {
        EventKind::Servers {
            room,
            news,
            members,
        } => {
            text = news.text(room, members);
            Out::Servers {
                room,
                state: news.name(),
                missed: match news {
                    ServerNews::Behind(missed) => Some(missed),
                    _ => None,
                },
                members,
                text: &text,
                time,
            }
        }
        EventKind::Undelivered { nick, .. } => {
            text = ChatError::TargetBusy(nick.to_string()).to_string();
            Out::Error {
                code: "target_busy",
                text: &text,
                id: None,
            }
        }
        EventKind::Join { room, members } => Out::Join {
            room,
            nick,
            members,
            seq,
            time,
        },
        EventKind::Part { room, reason } => Out::Part {
            room,
            nick,
            reason,
            seq,
            time,
        },
        EventKind::Quit { reason } => Out::Quit {
            nick,
            reason: quit_reason(reason),
            rooms: stamps(),
            time,
        },
        EventKind::Nick { new } => Out::Nick {
            nick,
            new,
            rooms: stamps(),
            time,
        },
        EventKind::Message {
            to,
            kind,
            text,
            tags,
        } => {
            let (room, seq, to) = match to {
                Target::Room(room) => (Some(room), Some(seq), None),
                Target::User(to) => (None, None, Some(to)),
            };
            Out::Message {
                kind: kind_name(kind),
                from: nick,
                room,
                seq,
                to,
                text,
                tags,
                time,
            }
        }
        EventKind::Topic { room, text } => Out::Topic {
            room,
            nick,
            text,
            seq,
            time,
        },
        EventKind::Kick {
            room,
            nick: target,
            reason,
        } => Out::Kick {
            room,
            nick,
            target,
            reason,
            seq,
            time,
        },
        EventKind::Op {
            room,
            nick: target,
            op,
        } => Out::Op {
            room,
            nick,
            target,
            op,
            seq,
            time,
        },
        EventKind::Summary {
            room,
            turnover,
            members,
        } => Out::Summary {
            room,
            joined: turnover.joined,
            joined_nicks: &turnover.joined_nicks,
            left: turnover.left,
            left_nicks: &turnover.left_nicks,
            members,
            seq,
            time,
        },
        EventKind::RoomMode { room, mode, on } => Out::Mode {
            room,
            nick,
            mode: match mode {
                RoomMode::TopicOpsOnly => "t",
                RoomMode::NoExternal => "n",
            },
            on,
            seq,
            time,
        },
    };
    message.write_frame(out);
}
