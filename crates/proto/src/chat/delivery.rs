//! From the core's events to bytes on connections: each event is rendered
//! once per wire format among its recipients and the bytes are shared, and
//! consecutive messages from one sender to one room go out as one buffer.

use std::ops::Range;

use bytes::Bytes;

use crate::chat::core::{
    ChatCore, Event, EventKind, EventSink, MessageKind, Recipients, RoomId, RoomStamp, SessionId,
    Target, Timestamp, Undelivered,
};
use crate::chat::irc::{render as irc_render, IrcTags};
use crate::chat::line::{render as line_render, Role};
use crate::chat::web::{json_render, line_frames, text_frame};
use crate::{ConnId, Io};

/// How a connection's events are rendered: its front-end and, for IRC, the
/// capabilities that change the bytes. Recipients with the same format get
/// the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum Format {
    /// The line front-end (nc, telnet).
    #[default]
    Line,
    /// IRC, with these tags.
    Irc(IrcTags),
    /// IRC over a WebSocket (`text.ircv3.net`): a text frame per line.
    WsIrc(IrcTags),
    /// JSON over a WebSocket: a text frame per event.
    Json,
}

impl Format {
    /// Distinct formats: line, IRC and IRC over WebSocket with each
    /// combination of tags, and JSON.
    const COUNT: usize = 10;

    /// IRC with `tags`, over a WebSocket or not.
    pub fn irc(tags: IrcTags, websocket: bool) -> Format {
        if websocket {
            Format::WsIrc(tags)
        } else {
            Format::Irc(tags)
        }
    }

    /// A dense index, for rendering once per format.
    fn slot(self) -> usize {
        let tags = |t: IrcTags| usize::from(t.server_time) + 2 * usize::from(t.message_tags);
        match self {
            Format::Line => 0,
            Format::Irc(t) => 1 + tags(t),
            Format::WsIrc(t) => 5 + tags(t),
            Format::Json => 9,
        }
    }

    /// The format of a [`Format::slot`].
    fn from_slot(slot: usize) -> Format {
        let tags = |n: usize| IrcTags {
            server_time: n & 1 == 1,
            message_tags: n & 2 == 2,
        };
        match slot {
            0 => Format::Line,
            1..=4 => Format::Irc(tags(slot - 1)),
            5..=8 => Format::WsIrc(tags(slot - 5)),
            _ => Format::Json,
        }
    }

    /// Appends `event` as seen by a recipient of this format in `role`
    /// (`room`: the recipient's current room, for the line front-end).
    fn render(
        self,
        event: &Event<'_>,
        core: &ChatCore,
        role: Role,
        room: Option<&str>,
        out: &mut Vec<u8>,
    ) {
        match self {
            Format::Line => line_render(event, role, room, out),
            Format::Irc(tags) => irc_render(event, tags, out),
            Format::WsIrc(tags) => {
                let mut lines = Vec::new();
                irc_render(event, tags, &mut lines);
                line_frames(&lines, out);
            }
            Format::Json => json_render(event, core, out),
        }
    }

    /// Appends `bytes`, a reply of this format's front-end, framed as its
    /// connection needs.
    fn frame_reply(self, bytes: &[u8], out: &mut Vec<u8>) {
        match self {
            Format::WsIrc(_) => line_frames(bytes, out),
            Format::Json => text_frame(bytes, out),
            Format::Line | Format::Irc(_) => out.extend_from_slice(bytes),
        }
    }

    /// Whether recipients in `role` get their own rendering (not shared).
    fn is_personal(self, role: Role) -> bool {
        self == Format::Line && role != Role::Other
    }
}

/// Each local connection's [`Format`], and how many connections use each:
/// when they all use one (a server of line clients only, say), a fan-out
/// needs no per-member lookup at all.
#[derive(Debug, Default)]
pub(crate) struct Formats {
    by_conn: Vec<Format>,
    counts: [usize; Format::COUNT],
}

impl Formats {
    /// `conn` now speaks `format` (it connected, or changed capabilities).
    pub fn set(&mut self, conn: ConnId, format: Format, was_connected: bool) {
        if self.by_conn.len() <= conn.0 {
            self.by_conn.resize(conn.0 + 1, Format::default());
        }
        if was_connected {
            self.counts[self.by_conn[conn.0].slot()] -= 1;
        }
        self.by_conn[conn.0] = format;
        self.counts[format.slot()] += 1;
    }

    /// `conn` is gone.
    pub fn remove(&mut self, conn: ConnId) {
        self.counts[self.by_conn[conn.0].slot()] -= 1;
    }

    /// The format of `conn`.
    pub fn get(&self, conn: ConnId) -> Format {
        self.by_conn[conn.0]
    }

    /// The one format every connection uses, if there is only one.
    fn uniform(&self) -> Option<Format> {
        let mut used = self.counts.iter().enumerate().filter(|(_, &n)| n > 0);
        match (used.next(), used.next()) {
            (Some((slot, _)), None) => Some(Format::from_slot(slot)),
            _ => None,
        }
    }
}

/// Messages from one sender to one room, held to go out together: in a
/// room of 1,000, each line pushed on its own costs every member's output
/// buffer a (cache-missing) append, which profiles showed to be most of
/// switchboard's own share of the fan-out. Any other event first sends
/// what is held, so every member still sees everything in order.
#[derive(Debug, Default)]
pub(crate) struct Batch {
    /// The room and the sender; `None` while nothing is held.
    key: Option<(RoomId, SessionId)>,
    items: Vec<Item>,
    /// The items' texts and tags, back to back.
    text: String,
}

#[derive(Debug)]
struct Item {
    time: Timestamp,
    seq: u64,
    kind: MessageKind,
    text: Range<usize>,
    tags: Range<usize>,
}

impl Batch {
    fn hold(&mut self, event: &Event<'_>, kind: MessageKind, text: &str, tags: &str) {
        let at = self.text.len();
        self.text.push_str(text);
        self.text.push_str(tags);
        self.items.push(Item {
            time: event.time,
            seq: event.rooms[0].seq,
            kind,
            text: at..at + text.len(),
            tags: at + text.len()..self.text.len(),
        });
    }
}

/// The [`EventSink`] of one call into the chat service: renders and sends
/// through the reactor's [`Io`].
pub(crate) struct Delivery<'a, I: Io> {
    /// Where bytes go; front-ends send their replies here directly.
    pub io: &'a mut I,
    /// Each connection's format.
    pub formats: &'a mut Formats,
    batch: &'a mut Batch,
    undelivered: &'a mut Refusals,
    /// Shutting down: departures are not announced.
    muted: bool,
}

/// Private messages from other threads' clients that were not delivered
/// because their recipient, a client of this thread, is behind: their
/// senders' threads are told, through the log. (A sender on this thread
/// is refused before its message is sent: `Ctx::command`.)
#[derive(Debug, Default)]
pub(crate) struct Refusals {
    /// Unsent output past which a recipient is behind
    /// ([`ChatConfig::busy_output`](crate::ChatConfig::busy_output)).
    pub busy_output: usize,
    /// The messages not delivered.
    refused: Vec<Undelivered>,
}

impl Refusals {
    /// None yet; recipients are behind past `busy_output`.
    pub fn new(busy_output: usize) -> Self {
        Refusals {
            busy_output,
            refused: Vec::new(),
        }
    }
}

impl<'a, I: Io> Delivery<'a, I> {
    pub fn new(
        io: &'a mut I,
        formats: &'a mut Formats,
        batch: &'a mut Batch,
        undelivered: &'a mut Refusals,
        muted: bool,
    ) -> Self {
        Delivery {
            io,
            formats,
            batch,
            undelivered,
            muted,
        }
    }

    /// The refusals gathered so far (see [`Refusals`]), to tell.
    pub fn take_undelivered(&mut self) -> Vec<Undelivered> {
        std::mem::take(&mut self.undelivered.refused)
    }

    /// Whether a private message `event` to local `conn` stays undelivered:
    /// it is from another thread's client and `conn` is behind. A notice is
    /// dropped without a word, as IRC wants (no automatic replies).
    fn is_refused(&mut self, event: &Event<'_>, conn: ConnId, core: &ChatCore) -> bool {
        let EventKind::Message {
            to: Target::User(nick),
            kind,
            ..
        } = event.kind
        else {
            return false;
        };
        if core.shard().conn(event.actor).is_some()
            || self.io.pending_output(conn) <= self.undelivered.busy_output
        {
            return false;
        }
        if kind != MessageKind::Notice && core.session(event.actor).is_some() {
            (self.undelivered.refused).push(Undelivered {
                sender: event.actor,
                sender_nick: event.from.nick.to_string(),
                sent: event.time,
                nick: nick.to_string(),
            });
        }
        true
    }

    /// Sends the held messages, if any.
    fn flush_batch(&mut self, core: &ChatCore) {
        let Some((room, sender)) = self.batch.key.take() else {
            return;
        };
        let from = core
            .session(sender)
            .expect("a sender stays until its quit")
            .source();
        let r = core.room(room);
        let batch = &*self.batch;
        let render_all = |format: Format, out: &mut Vec<u8>| {
            for item in &batch.items {
                let stamp = [RoomStamp {
                    room,
                    seq: item.seq,
                }];
                let event = Event {
                    time: item.time,
                    actor: sender,
                    from,
                    subject: None,
                    rooms: &stamp,
                    kind: EventKind::Message {
                        to: Target::Room(&r.name),
                        kind: item.kind,
                        text: &batch.text[item.text.clone()],
                        tags: &batch.text[item.tags.clone()],
                    },
                };
                format.render(&event, core, Role::Other, None, out);
            }
        };
        // The hot loops of a fan-out: an append per member, and when the
        // server's clients use more than one format, a lookup of each
        // member's; each format's bytes are rendered when first needed.
        let render = |format: Format| {
            let mut out = Vec::new();
            render_all(format, &mut out);
            Bytes::from(out)
        };
        let shard = core.shard();
        let local = (core.rooms().local_members(room).iter())
            .filter(|&&member| member != sender)
            .filter_map(|&member| shard.conn(member));
        if let Some(format) = self.formats.uniform() {
            let bytes = render(format);
            if !bytes.is_empty() {
                for conn in local {
                    self.io.send_shared(conn, &bytes);
                }
            }
        } else {
            let formats = &self.formats.by_conn[..];
            let mut rendered: [Option<Bytes>; Format::COUNT] = Default::default();
            for conn in local {
                let format = formats[conn.0];
                let bytes = rendered[format.slot()].get_or_insert_with(|| render(format));
                if !bytes.is_empty() {
                    self.io.send_shared(conn, bytes);
                }
            }
        }
        self.batch.items.clear();
        self.batch.text.clear();
    }

    fn deliver(&mut self, core: &ChatCore, event: &Event<'_>, to: Recipients<'_>) {
        let mut rendered = Rendered::default();
        let mut personal = Vec::new();
        for &recipient in to.sessions {
            if Some(recipient) == to.except {
                continue;
            }
            let Some(conn) = core.shard().conn(recipient) else {
                continue; // another thread's
            };
            if self.is_refused(event, conn, core) {
                continue;
            }
            let format = self.formats.get(conn);
            // Done to the recipient (by the server, in its name) before
            // done by it: a front-end that confirms its client's own
            // actions itself has not confirmed that one.
            let role = if Some(recipient) == event.subject {
                Role::Subject
            } else if recipient == event.actor {
                Role::Actor
            } else {
                Role::Other
            };
            // The line front-end reports a departure in the recipient's own
            // room (the only one it is in).
            let room = match (format, event.kind) {
                (Format::Line, EventKind::Quit { .. }) => core
                    .session(recipient)
                    .and_then(|s| s.rooms.first().copied()),
                _ => None,
            };
            let room_name = room.map(|id| core.room(id).name.as_str());
            if format.is_personal(role) {
                personal.clear();
                format.render(event, core, role, room_name, &mut personal);
                if !personal.is_empty() {
                    self.io.send(conn, &personal);
                }
                continue;
            }
            let bytes = rendered.get(format, room, |out| {
                format.render(event, core, Role::Other, room_name, out)
            });
            if !bytes.is_empty() {
                self.io.send_shared(conn, bytes);
            }
        }
    }

    /// Sends `bytes` to `conn` (a reply to the client being served), in
    /// its connection's framing: as they are, or for a WebSocket client in
    /// text frames (a frame per line for IRC, one for JSON).
    pub fn reply(&mut self, conn: ConnId, bytes: &[u8]) {
        match self.formats.get(conn) {
            Format::Line | Format::Irc(_) => self.io.send(conn, bytes),
            format => {
                let mut framed = Vec::with_capacity(bytes.len() + 16);
                format.frame_reply(bytes, &mut framed);
                self.io.send(conn, &framed);
            }
        }
    }
}

impl<I: Io> EventSink for Delivery<'_, I> {
    fn flush(&mut self, core: &ChatCore) {
        self.flush_batch(core);
    }

    fn handle_event(&mut self, core: &ChatCore, event: &Event<'_>, to: Recipients<'_>) {
        if self.muted {
            return;
        }
        if let EventKind::Message {
            to: Target::Room(_),
            kind,
            text,
            tags,
        } = event.kind
        {
            let key = (event.rooms[0].room, event.actor);
            if self.batch.key != Some(key) {
                self.flush_batch(core);
                self.batch.key = Some(key);
            }
            self.batch.hold(event, kind, text, tags);
            return;
        }
        self.flush_batch(core);
        self.deliver(core, event, to);
    }
}

/// One event's bytes per format (and, where the wording depends on it,
/// per room), rendered on first use. Indexed by format: the per-member
/// lookup in a fan-out costs the same however many formats share a room.
#[derive(Default)]
struct Rendered {
    by_format: [Option<Bytes>; Format::COUNT],
    /// For the few events worded per room (a line client's view of a quit).
    by_room: Vec<(Format, RoomId, Bytes)>,
}

impl Rendered {
    fn get(
        &mut self,
        format: Format,
        room: Option<RoomId>,
        render: impl FnOnce(&mut Vec<u8>),
    ) -> &Bytes {
        fn build(render: impl FnOnce(&mut Vec<u8>)) -> Bytes {
            let mut out = Vec::new();
            render(&mut out);
            Bytes::from(out)
        }
        let Some(room) = room else {
            return self.by_format[format.slot()].get_or_insert_with(|| build(render));
        };
        let found = (self.by_room.iter()).position(|(f, r, _)| *f == format && *r == room);
        let i = found.unwrap_or_else(|| {
            self.by_room.push((format, room, build(render)));
            self.by_room.len() - 1
        });
        &self.by_room[i].2
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::core::Source;

    /// A refusal from another thread reads as the same refusal from this
    /// one would, in each front-end's words.
    #[test]
    fn an_undelivered_message_is_told_as_the_refusal_is() {
        let core = ChatCore::new(&["#lobby"]);
        let event = Event {
            time: Timestamp(1_796_067_482_123),
            actor: SessionId::SERVER,
            from: Source {
                nick: "switchboard.local",
                user: "",
                host: "",
            },
            subject: Some(SessionId(3)),
            rooms: &[],
            kind: EventKind::Undelivered {
                to: "alice",
                nick: "bob",
            },
        };
        let bytes = |format: Format| {
            let mut out = Vec::new();
            format.render(&event, &core, Role::Subject, None, &mut out);
            out
        };
        let render = |format| String::from_utf8(bytes(format)).unwrap();
        assert_eq!(
            render(Format::Line),
            "*** bob is not keeping up with their messages; yours was not sent, try again later\r\n"
        );
        assert_eq!(
            render(Format::Irc(IrcTags::default())),
            ":switchboard.local 439 alice bob :Target is not keeping up with its messages; \
             yours was not delivered, try again later\r\n"
        );
        // One text frame of a short payload: two bytes of header.
        let frame = bytes(Format::Json);
        let value: serde_json::Value = serde_json::from_slice(&frame[2..]).unwrap();
        assert_eq!(value["type"], "error");
        assert_eq!(value["code"], "target_busy");
        assert!(value.get("id").is_none());
    }
}
