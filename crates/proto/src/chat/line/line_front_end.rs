//! The line front-end: the chat for `nc` and `telnet`, one line per
//! message. A client gets a guest nick and lands in the lobby on connect;
//! plain lines go to its current room, `/` commands do the rest.

use std::net::SocketAddr;

use tracing::{debug, info};

use crate::chat::chat_service::Ctx;
use crate::chat::core::Leaving;
use crate::chat::core::{
    ChatCore, ChatError, Command, MessageKind, MessageTarget, Registration, RoomId,
};
use crate::chat::line::line_command::{parse, Command as LineCommand, Input};
use crate::chat::line::line_render::notice;
use crate::chat::line::telnet_filter::TelnetFilter;
use crate::chat::line_codec::Frame;
use crate::chat::names::{name_key, parse_room};
use crate::chat::sanitize::sanitize;
use crate::chat::LOBBY;
use crate::{later, CloseReason, Io};

const HELP: &[&str] = &[
    "commands:",
    "  /nick NAME       change your nick (letters, digits, _ and -; up to 32)",
    "  /join ROOM       move to another room, created if new",
    "  /rooms           list the rooms and how many are in each",
    "  /who             list who is in your room",
    "  /msg NICK TEXT   private message to NICK, in any room",
    "  /me TEXT         action line: * yournick TEXT",
    "  /quit [REASON]   leave",
    "  //TEXT           send a line that starts with /",
    "lines from others look like <nick> text; server notices start with ***",
];

/// Host shown for line clients (IRC's `nick!user@host`): the front-end,
/// never the address.
const HOST: &str = "line";

/// What the server says to every line client when it shuts down.
pub const SHUTDOWN: &str = "*** shutdown server: the chat is closing, goodbye\r\n";

/// What a line client hears when the server is full.
pub const SERVER_FULL: &[u8] = b"*** server full, try again later\r\n";

/// What a line client hears when its address holds as many connections as
/// one may, or opened too many this second.
pub const ADDRESS_LIMIT: &[u8] = b"*** too many connections from your address, try again later\r\n";

/// One line client's state beyond what every connection has.
#[derive(Debug, Default)]
pub struct LineConn {
    telnet: TelnetFilter,
    /// A complete line has arrived: the client is past its handshake.
    spoke: bool,
}

/// "alone", "with 1 other", "with 3 others".
fn company(members: usize) -> String {
    match members.saturating_sub(1) {
        0 => "alone".to_string(),
        1 => "with 1 other".to_string(),
        n => format!("with {n} others"),
    }
}

impl LineConn {
    /// A new client: named `guestN`, put in the lobby and welcomed.
    pub fn handle_connect<I: Io>(peer: SocketAddr, ctx: &mut Ctx<'_, I>) -> LineConn {
        let registration = Registration {
            nick: None,
            user: "~guest",
            host: HOST,
            realname: "line client",
        };
        let nick = (ctx.register(registration))
            .expect("guest nicks are always free")
            .nick
            .clone();
        info!(conn = %ctx.conn, %peer, %nick, "joined");
        ctx.command(Command::Join(LOBBY))
            .expect("a new session can join the lobby");
        let members = ctx
            .core
            .room(Self::room(ctx).expect("joined"))
            .members
            .len();
        let company = company(members);
        ctx.reply_str(&notice(format_args!(
            "welcome to switchboard, {nick}! you are in {LOBBY} {company}; type /help for commands"
        )));
        let deadline = later(ctx.out.io.now(), ctx.config.handshake_timeout);
        ctx.out.io.set_timer(ctx.conn, deadline);
        LineConn::default()
    }

    /// The handshake deadline: a client that started its first line and
    /// has not ended it is trickling bytes to hold a connection, and is
    /// closed. One that has said nothing yet may listen as long as it
    /// likes (the idle timeout and the limits per address bound those).
    pub fn handle_timer<I: Io>(&mut self, partial_line: bool, ctx: &mut Ctx<'_, I>) {
        if self.spoke || !partial_line {
            return;
        }
        debug!(conn = %ctx.conn, "first line not ended within the handshake timeout");
        let after = ctx.config.handshake_timeout;
        ctx.reply_str(&notice(format_args!(
            "too slow: a first line must end within {after:?}; goodbye"
        )));
        ctx.close(
            Leaving::Closed(CloseReason::IdleTimeout),
            CloseReason::IdleTimeout,
        );
    }

    /// Removes telnet protocol bytes from `data` into `pending`.
    pub fn filter(&mut self, data: &[u8], pending: &mut Vec<u8>) {
        self.telnet.filter(data, pending);
    }

    /// The client's current room (a line client is in at most one).
    fn room<I: Io>(ctx: &Ctx<'_, I>) -> Option<RoomId> {
        let session = ctx.core.session(ctx.session())?;
        session.rooms.first().copied()
    }

    fn current_room<I: Io>(ctx: &Ctx<'_, I>) -> Result<RoomId, String> {
        Self::room(ctx).ok_or_else(|| "you are not in a room; type /join ROOM".to_string())
    }

    /// Handles one line of input (or the report of an over-long one).
    pub fn handle_frame<I: Io>(&mut self, frame: Frame, ctx: &mut Ctx<'_, I>) {
        self.spoke = true;
        let line = match frame {
            Ok(line) => line,
            Err(too_long) => {
                debug!(conn = %ctx.conn, "{too_long}");
                return ctx.reply_str(&notice(format_args!("{too_long}; nothing was sent")));
            }
        };
        let text = sanitize(&line);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        let result = match parse(text) {
            Ok(Input::Say(text)) => Self::current_room(ctx).and_then(|room| {
                ctx.command(Command::Message {
                    to: MessageTarget::Room(room),
                    kind: MessageKind::Say,
                    text,
                    tags: "",
                })
                .map_err(|e| e.to_string())
            }),
            Ok(Input::Command(command)) => self.run(command, ctx),
            Err(e) => Err(e.to_string()),
        };
        if let Err(e) = result {
            ctx.reply_str(&notice(e));
        }
    }

    fn run<I: Io>(&mut self, command: LineCommand<'_>, ctx: &mut Ctx<'_, I>) -> Result<(), String> {
        let err = |e: ChatError| e.to_string();
        match command {
            LineCommand::Help => {
                let text: String = HELP.iter().map(notice).collect();
                ctx.reply_str(&text);
            }
            LineCommand::Nick(new) => {
                let old = ctx.nick().to_string();
                ctx.command(Command::Nick(new)).map_err(err)?;
                info!(conn = %ctx.conn, %old, %new, "nick changed");
                ctx.reply_str(&notice(format_args!("you are now known as {new}")));
            }
            LineCommand::Join(name) => self.join(name, ctx).map_err(err)?,
            LineCommand::Rooms => {
                let rooms = ctx.core.rooms();
                let mut list: Vec<String> = (rooms.list().take(ChatCore::MAX_LISTED))
                    .map(|r| format!("{} ({})", r.name, r.members.len()))
                    .collect();
                ctx.listed += list.len();
                if rooms.len() > ChatCore::MAX_LISTED {
                    list.push(format!("and {} more", rooms.len() - ChatCore::MAX_LISTED));
                }
                ctx.reply_str(&notice(format_args!("rooms: {}", list.join(", "))));
            }
            LineCommand::Who => {
                let room = ctx.core.room(Self::current_room(ctx)?);
                let mut nicks: Vec<&str> = (room.members.iter())
                    .filter_map(|&m| Some(ctx.core.session(m)?.nick.as_str()))
                    .collect();
                nicks.sort_by(|a, b| name_key(a).cmp(&name_key(b)));
                let listed = nicks.len();
                let text = notice(format_args!(
                    "in {} ({}): {}",
                    room.name,
                    nicks.len(),
                    nicks.join(", ")
                ));
                ctx.listed += listed;
                ctx.reply_str(&text);
            }
            LineCommand::Msg(to, text) => {
                ctx.command(Command::Message {
                    to: MessageTarget::Nick(to),
                    kind: MessageKind::Say,
                    text,
                    tags: "",
                })
                .map_err(err)?;
                let target = ctx.core.find_nick(to).and_then(|id| ctx.core.session(id));
                let target = target.expect("a message's target is registered");
                let (nick, away) = (target.nick.clone(), target.away.clone());
                ctx.reply_str(&format!("[msg to {nick}] {text}\r\n"));
                if let Some(away) = away {
                    let away = crate::chat::sanitize::sanitize_str(&away);
                    ctx.reply_str(&notice(format_args!("{nick} is away: {away}")));
                }
            }
            LineCommand::Me(text) => {
                let room = Self::current_room(ctx)?;
                ctx.command(Command::Message {
                    to: MessageTarget::Room(room),
                    kind: MessageKind::Act,
                    text,
                    tags: "",
                })
                .map_err(err)?;
            }
            LineCommand::Quit(reason) => {
                ctx.reply_str(&notice("bye"));
                ctx.close(
                    Leaving::Quit(reason.map(str::to_string)),
                    CloseReason::Closed,
                );
            }
        }
        Ok(())
    }

    /// Moves the client to the room `name`: a line client is in one room at
    /// a time, so it leaves its current one ("went to ...") first.
    fn join<I: Io>(&mut self, name: &str, ctx: &mut Ctx<'_, I>) -> Result<(), ChatError> {
        let name = parse_room(name)?;
        let current = Self::room(ctx);
        let existing = ctx.core.find_room(&name);
        // An existing room keeps the spelling it was created with.
        let name = match existing {
            Some(id) if Some(id) == current => {
                return Err(ChatError::AlreadyInRoom(ctx.core.room(id).name.clone()))
            }
            Some(id) => ctx.core.room(id).name.clone(),
            None => name,
        };
        if let Some(room) = current {
            let reason = format!("went to {name}");
            ctx.command(Command::Part {
                room,
                reason: Some(&reason),
            })?;
        }
        ctx.command(Command::Join(&name))?;
        let room = ctx.core.room(Self::room(ctx).expect("joined"));
        let mut text = notice(format_args!(
            "you are in {} {}",
            room.name,
            company(room.members.len())
        ));
        if let Some(topic) = &room.topic {
            let topic = crate::chat::sanitize::sanitize_str(&topic.text);
            text += &notice(format_args!("topic: {topic}"));
        }
        ctx.reply_str(&text);
        Ok(())
    }
}
