//! The core's events in the line front-end's words: one CRLF-terminated
//! line each, for `nc` and `telnet`. Chat lines start with `<`, actions
//! with `* `, notices from users with `-`, private messages with `[msg]`,
//! server notices with `*** `; nicks cannot hold any of those characters,
//! so no one can forge another's line.

use std::fmt::{self, Write as _};

use crate::chat::core::{
    ChatError, Event, EventKind, MessageKind, QuitReason, RoomMode, Target, Turnover,
};
use crate::chat::sanitize::sanitize_str;
use crate::CloseReason;

/// A server notice: `*** text` and CRLF.
pub fn notice(text: impl fmt::Display) -> String {
    format!("*** {text}\r\n")
}

/// How a recipient stands to an event, where the line front-end words it
/// differently.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Anyone concerned.
    Other,
    /// The one who did it. The line front-end confirms its client's own
    /// actions itself ("you are now known as ..."), so events render
    /// nothing for their actor.
    Actor,
    /// The one it was done to (kicked, given operator status).
    Subject,
}

/// Why a session ended, as the line front-end has always said it.
pub fn quit_reason(reason: QuitReason<'_>) -> String {
    match reason {
        QuitReason::Quit(None) => "quit".to_string(),
        QuitReason::Quit(Some(text)) => format!("quit: {}", sanitize_str(text)),
        QuitReason::Closed(CloseReason::PeerClosed) => "connection closed".to_string(),
        QuitReason::Closed(CloseReason::OutputOverflow) => {
            "too far behind; disconnected".to_string()
        }
        QuitReason::Closed(CloseReason::Closed) => "removed".to_string(),
        QuitReason::Closed(other) => other.to_string(),
        QuitReason::PingTimeout(secs) => format!("ping timeout: {secs} seconds"),
        QuitReason::ServerGone => "server unreachable".to_string(),
    }
}

/// A crowded room's summary of arrivals and departures, in words:
/// `12 joined (ann, bob and 10 more), 3 left (cy, di, ed); 250 members`.
pub fn turnover_text(turnover: &Turnover, members: usize) -> String {
    let part = |count: usize, nicks: &[String], verb: &str| {
        let more = match count - nicks.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        format!("{count} {verb} ({}{more})", nicks.join(", "))
    };
    let mut parts = Vec::new();
    if turnover.joined > 0 {
        parts.push(part(turnover.joined, &turnover.joined_nicks, "joined"));
    }
    if turnover.left > 0 {
        parts.push(part(turnover.left, &turnover.left_nicks, "left"));
    }
    format!("{}; {members} members", parts.join(", "))
}

fn mode_words(mode: RoomMode) -> &'static str {
    match mode {
        RoomMode::TopicOpsOnly => "only operators set the topic",
        RoomMode::NoExternal => "only members send to the room",
    }
}

/// Appends `event` as a line-protocol client in `room` (its current room,
/// which a quit is reported in) and in `role` sees it; nothing if it does
/// not concern such a client.
pub fn render(event: &Event<'_>, role: Role, room: Option<&str>, out: &mut Vec<u8>) {
    if role == Role::Actor {
        return;
    }
    let nick = event.from.nick;
    let start = out.len();
    if let EventKind::Message { to, kind, text, .. } = event.kind {
        // Chat lines are the hot path: appended, not formatted.
        let private: &[u8] = match to {
            Target::User(_) => b"[msg] ",
            Target::Room(_) => b"",
        };
        let (open, close): (&[u8], &[u8]) = match kind {
            MessageKind::Say => (b"<", b"> "),
            MessageKind::Act => (b"* ", b" "),
            MessageKind::Notice => (b"-", b"- "),
            MessageKind::Tags => return,
        };
        let text = sanitize_str(text);
        for part in [
            private,
            open,
            nick.as_bytes(),
            close,
            text.as_bytes(),
            b"\r\n",
        ] {
            out.extend_from_slice(part);
        }
        return;
    }
    // Writing to a Vec<u8> through fmt cannot fail.
    let mut w = Utf8Writer(out);
    let _ = match event.kind {
        EventKind::Message { .. } => unreachable!("rendered above"),
        EventKind::Join { room, .. } => write!(w, "*** {nick} joined {room}"),
        EventKind::Part { room, reason } => match reason {
            Some(reason) => write!(w, "*** {nick} left {room} ({})", sanitize_str(reason)),
            None => write!(w, "*** {nick} left {room}"),
        },
        EventKind::Nick { new } if role == Role::Subject => {
            write!(w, "*** you are now known as {new}")
        }
        EventKind::Nick { new } => write!(w, "*** {nick} is now known as {new}"),
        EventKind::Quit { reason } => match room {
            Some(room) => write!(w, "*** {nick} left {room} ({})", quit_reason(reason)),
            None => return,
        },
        EventKind::Topic { room, text: "" } => {
            write!(w, "*** {nick} cleared the topic of {room}")
        }
        EventKind::Topic { room, text } => {
            write!(
                w,
                "*** {nick} set the topic of {room}: {}",
                sanitize_str(text)
            )
        }
        EventKind::Kick {
            room,
            nick: kicked,
            reason,
        } => {
            let reason = sanitize_str(reason);
            if role == Role::Subject {
                write!(
                    w,
                    "*** you were kicked from {room} by {nick} ({reason}); type /join ROOM to go on"
                )
            } else {
                write!(
                    w,
                    "*** {kicked} was kicked from {room} by {nick} ({reason})"
                )
            }
        }
        EventKind::Op {
            room,
            nick: member,
            op,
        } => {
            let whom = if role == Role::Subject { "you" } else { member };
            if op {
                write!(w, "*** {nick} made {whom} an operator of {room}")
            } else if role == Role::Subject {
                write!(w, "*** {nick} took your operator status in {room}")
            } else {
                write!(w, "*** {nick} took {member}'s operator status in {room}")
            }
        }
        EventKind::Summary {
            room,
            turnover,
            members,
        } => write!(w, "*** {room}: {}", turnover_text(turnover, members)),
        EventKind::Undelivered { nick, .. } => {
            write!(w, "*** {}", ChatError::TargetBusy(nick.to_string()))
        }
        EventKind::Servers {
            room,
            news,
            members,
        } => write!(w, "*** {}", news.text(room, members)),
        EventKind::RoomMode { room, mode, on } => {
            let sign = if on { '+' } else { '-' };
            let letter = mode.letter();
            let words = mode_words(mode);
            let words = if on {
                words.to_string()
            } else {
                format!("no longer: {words}")
            };
            write!(w, "*** {nick} set {room} {sign}{letter} ({words})")
        }
    };
    if out.len() > start {
        out.extend_from_slice(b"\r\n");
    }
}

/// `fmt::Write` onto bytes (what `write!` into a `Vec<u8>` needs).
struct Utf8Writer<'a>(&'a mut Vec<u8>);

impl fmt::Write for Utf8Writer<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}
