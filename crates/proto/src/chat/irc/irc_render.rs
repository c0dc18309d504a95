//! The core's events as IRC messages: `:nick!user@host COMMAND ...`, with
//! `@time=` (server-time) and relayed client tags (message-tags) for the
//! clients that asked for them.

use crate::chat::core::{Event, EventKind, MessageKind, QuitReason, Source, Target};
use crate::chat::irc::numeric::{ERR_TARGETTOOFAST, TARGET_BUSY};
use crate::chat::line::turnover_text;
use crate::CloseReason;

/// Longest IRC line, CR LF included, tags not counted (RFC 2812).
pub const MAX_LINE: usize = 512;

/// The capabilities that change how events look on the wire: clients that
/// share them get the same bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IrcTags {
    /// `server-time`: every event carries `@time=`.
    pub server_time: bool,
    /// `message-tags`: client-only tags are relayed, and TAGMSG delivered.
    pub message_tags: bool,
}

/// Why a session ended, in IRC's words (the text of its QUIT).
pub fn quit_reason(reason: QuitReason<'_>) -> String {
    match reason {
        QuitReason::Quit(None) => "Quit".to_string(),
        QuitReason::Quit(Some(text)) => format!("Quit: {text}"),
        QuitReason::Closed(CloseReason::PeerClosed) => "Connection closed".to_string(),
        QuitReason::Closed(CloseReason::OutputOverflow) => {
            "SendQ exceeded (too far behind; disconnected)".to_string()
        }
        QuitReason::Closed(CloseReason::Reset) => "Connection reset by peer".to_string(),
        QuitReason::Closed(CloseReason::IdleTimeout) => "Idle timeout".to_string(),
        QuitReason::Closed(other) => {
            let mut text = other.to_string();
            text[..1].make_ascii_uppercase();
            text
        }
        QuitReason::PingTimeout(secs) => format!("Ping timeout: {secs} seconds"),
        // What IRC networks that hide their servers' names say of a
        // netsplit: clients know it (irssi gathers the quits into one
        // "Netsplit" line, and the joins when it is over).
        QuitReason::ServerGone => "*.net *.split".to_string(),
    }
}

/// Appends `event` as IRC line(s) for a client with `tags`; nothing if such
/// a client does not see it (TAGMSG without message-tags). A message too
/// long for one line is split at character boundaries, losing nothing.
pub fn render(event: &Event<'_>, tags: IrcTags, out: &mut Vec<u8>) {
    let mut line = Line::new(event, tags, out);
    match event.kind {
        EventKind::Message {
            to,
            kind,
            text,
            tags: client_tags,
        } => {
            let target = match to {
                Target::Room(room) => room,
                Target::User(nick) => nick,
            };
            let relay = if tags.message_tags { client_tags } else { "" };
            match kind {
                MessageKind::Tags if tags.message_tags => line.tagmsg(target, relay),
                MessageKind::Tags => {}
                MessageKind::Say => line.text("PRIVMSG", target, "", text, "", relay),
                MessageKind::Notice => line.text("NOTICE", target, "", text, "", relay),
                MessageKind::Act => {
                    line.text("PRIVMSG", target, "\x01ACTION ", text, "\x01", relay)
                }
            }
        }
        EventKind::Join { room, .. } => line.command("JOIN", &[room], None),
        EventKind::Part { room, reason } => line.command("PART", &[room], reason),
        EventKind::Nick { new } => line.command("NICK", &[new], None),
        EventKind::Quit { reason } => line.command("QUIT", &[], Some(&quit_reason(reason))),
        EventKind::Topic { room, text } => line.command("TOPIC", &[room], Some(text)),
        EventKind::Kick { room, nick, reason } => line.command("KICK", &[room, nick], Some(reason)),
        EventKind::Op { room, nick, op } => {
            line.command("MODE", &[room, if op { "+o" } else { "-o" }, nick], None)
        }
        // A server notice to the channel: `:server NOTICE #room :...`.
        EventKind::Summary {
            room,
            turnover,
            members,
        } => {
            let text = turnover_text(turnover, members);
            line.command("NOTICE", &[room], Some(&text));
        }
        EventKind::Undelivered { to, nick } => {
            line.command(ERR_TARGETTOOFAST, &[to, nick], Some(TARGET_BUSY))
        }
        EventKind::Servers {
            room,
            news,
            members,
        } => line.command("NOTICE", &[room], Some(&news.text(room, members))),
        EventKind::RoomMode { room, mode, on } => {
            let change = format!("{}{}", if on { '+' } else { '-' }, mode.letter());
            line.command("MODE", &[room, &change], None)
        }
    }
}

/// Writes one event's lines.
struct Line<'e, 'o> {
    event: &'e Event<'e>,
    tags: IrcTags,
    out: &'o mut Vec<u8>,
}

impl<'e, 'o> Line<'e, 'o> {
    fn new(event: &'e Event<'e>, tags: IrcTags, out: &'o mut Vec<u8>) -> Self {
        Line { event, tags, out }
    }

    /// `@tags ` (server and relayed client tags) and `:source `.
    fn start(&mut self, client_tags: &str) {
        let time = self.tags.server_time;
        if time || !client_tags.is_empty() {
            self.out.push(b'@');
            if time {
                self.out
                    .extend_from_slice(format!("time={}", self.event.time).as_bytes());
            }
            if !client_tags.is_empty() {
                if time {
                    self.out.push(b';');
                }
                self.out.extend_from_slice(client_tags.as_bytes());
            }
            self.out.push(b' ');
        }
        write_source(&self.event.from, self.out);
    }

    /// A command with middle parameters and an optional trailing one, cut to
    /// fit the line limit.
    fn command(&mut self, command: &str, params: &[&str], trailing: Option<&str>) {
        self.start("");
        let body = self.out.len();
        self.out.extend_from_slice(command.as_bytes());
        for param in params {
            self.out.push(b' ');
            self.out.extend_from_slice(param.as_bytes());
        }
        if let Some(text) = trailing {
            self.out.extend_from_slice(b" :");
            let room =
                (MAX_LINE - 2).saturating_sub(self.out.len() - body + source_len(&self.event.from));
            self.out
                .extend_from_slice(&text.as_bytes()[..floor_char_boundary(text, room)]);
        }
        self.out.extend_from_slice(b"\r\n");
    }

    fn tagmsg(&mut self, target: &str, client_tags: &str) {
        self.start(client_tags);
        self.out.extend_from_slice(b"TAGMSG ");
        self.out.extend_from_slice(target.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// PRIVMSG or NOTICE of `text`, wrapped in `before`/`after` (CTCP),
    /// split over as many lines as the limit needs.
    fn text(
        &mut self,
        command: &str,
        target: &str,
        before: &str,
        text: &str,
        after: &str,
        client_tags: &str,
    ) {
        let fixed = source_len(&self.event.from)
            + command.len()
            + target.len()
            + before.len()
            + after.len()
            + ": :\r\n".len()
            + 1;
        let room = MAX_LINE.saturating_sub(fixed).max(4);
        let mut rest = text;
        loop {
            let cut = if rest.len() <= room {
                rest.len()
            } else {
                // Prefer to break after a space, as a person would.
                let hard = floor_char_boundary(rest, room);
                match rest[..hard].rfind(' ') {
                    Some(space) if space > hard / 2 => space + 1,
                    _ => hard,
                }
            };
            let (piece, tail) = rest.split_at(cut);
            self.start(client_tags);
            for part in [command, " ", target, " :", before, piece, after, "\r\n"] {
                self.out.extend_from_slice(part.as_bytes());
            }
            rest = tail;
            if rest.is_empty() {
                break;
            }
        }
    }
}

/// `:nick!user@host ` onto `out` (`:server ` for the server's own events,
/// whose source has no user or host).
pub fn write_source(from: &Source<'_>, out: &mut Vec<u8>) {
    if is_server(from) {
        for part in [":", from.nick, " "] {
            out.extend_from_slice(part.as_bytes());
        }
        return;
    }
    for part in [":", from.nick, "!", from.user, "@", from.host, " "] {
        out.extend_from_slice(part.as_bytes());
    }
}

fn is_server(from: &Source<'_>) -> bool {
    from.user.is_empty() && from.host.is_empty()
}

fn source_len(from: &Source<'_>) -> usize {
    match is_server(from) {
        true => from.nick.len() + 2,
        false => from.nick.len() + from.user.len() + from.host.len() + 4,
    }
}

/// The largest char boundary of `s` at or below `at`.
pub fn floor_char_boundary(s: &str, at: usize) -> usize {
    if at >= s.len() {
        return s.len();
    }
    (0..=at).rev().find(|&i| s.is_char_boundary(i)).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::core::{RoomId, RoomStamp, SessionId, Timestamp};

    fn said<'a>(text: &'a str, kind: MessageKind, stamp: &'a [RoomStamp]) -> Event<'a> {
        Event {
            time: Timestamp(1_796_067_482_123),
            actor: SessionId(1),
            from: Source {
                nick: "alice",
                user: "~al",
                host: "irc",
            },
            subject: None,
            rooms: stamp,
            kind: EventKind::Message {
                to: Target::Room("#lobby"),
                kind,
                text,
                tags: "+typing=active",
            },
        }
    }

    fn rendered(event: &Event<'_>, tags: IrcTags) -> String {
        let mut out = Vec::new();
        render(event, tags, &mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn messages_with_and_without_tags() {
        let stamp = [RoomStamp {
            room: RoomId(0),
            seq: 7,
        }];
        let e = said("hi all", MessageKind::Say, &stamp);
        assert_eq!(
            rendered(&e, IrcTags::default()),
            ":alice!~al@irc PRIVMSG #lobby :hi all\r\n"
        );
        let both = IrcTags {
            server_time: true,
            message_tags: true,
        };
        assert_eq!(
            rendered(&e, both),
            "@time=2026-11-30T19:38:02.123Z;+typing=active :alice!~al@irc PRIVMSG #lobby :hi all\r\n"
        );
        let act = said("waves", MessageKind::Act, &stamp);
        assert_eq!(
            rendered(&act, IrcTags::default()),
            ":alice!~al@irc PRIVMSG #lobby :\x01ACTION waves\x01\r\n"
        );
        let typing = said("", MessageKind::Tags, &stamp);
        assert_eq!(rendered(&typing, IrcTags::default()), "");
        assert_eq!(
            rendered(&typing, both),
            "@time=2026-11-30T19:38:02.123Z;+typing=active :alice!~al@irc TAGMSG #lobby\r\n"
        );
    }

    #[test]
    fn long_text_is_split_into_lines_that_fit_and_lose_nothing() {
        let stamp = [RoomStamp {
            room: RoomId(0),
            seq: 1,
        }];
        let text: String = (0..400).map(|i| format!("wörd{i} ")).collect();
        let text = text.trim_end();
        let e = said(text, MessageKind::Act, &stamp);
        let out = rendered(&e, IrcTags::default());
        let mut joined = String::new();
        for line in out.split_terminator("\r\n") {
            assert!(line.len() + 2 <= MAX_LINE, "{} bytes", line.len() + 2);
            let body = line
                .strip_prefix(":alice!~al@irc PRIVMSG #lobby :\x01ACTION ")
                .and_then(|l| l.strip_suffix('\x01'))
                .expect("every piece is a whole action");
            joined.push_str(body);
        }
        assert_eq!(joined, text);
        assert!(out.split_terminator("\r\n").count() > 1);
    }

    #[test]
    fn trailing_texts_are_cut_to_the_limit() {
        let long = "x".repeat(2000);
        let e = Event {
            kind: EventKind::Quit {
                reason: QuitReason::Quit(Some(&long)),
            },
            ..said("", MessageKind::Say, &[])
        };
        let out = rendered(&e, IrcTags::default());
        assert!(out.starts_with(":alice!~al@irc QUIT :Quit: xxx"));
        assert_eq!(out.len(), MAX_LINE);
    }
}
