//! The JSON front-end: one web client speaking docs/PROTOCOL.md, one JSON
//! object per WebSocket text frame.

use std::net::SocketAddr;

use tracing::info;

use crate::chat::chat_service::Ctx;
use crate::chat::core::Leaving;
use crate::chat::core::{
    ChatCore, ChatError, Command, MessageKind, MessageTarget, Registration, RoomId,
};
use crate::chat::irc::cut;
use crate::chat::irc::TEXT_LEN;
use crate::chat::names::{name_key, parse_room};
use crate::chat::web::json_command::{Envelope, JsonCommand, Kind, TYPES};
use crate::chat::web::json_render::{Out, RoomInfo};
use crate::chat::LOBBY;
use crate::{CloseReason, Io};

/// Host shown for web clients (IRC's `nick!user@host`).
const HOST: &str = "web";

/// A refusal: an error code and a sentence.
type Refusal = (&'static str, String);

/// The protocol's code for each refusal of the core.
fn code(e: &ChatError) -> &'static str {
    match e {
        ChatError::BadNick(_) => "bad_nick",
        ChatError::NickTaken(_) => "nick_taken",
        ChatError::BadRoom(_) => "bad_room",
        ChatError::AlreadyInRoom(_) => "already_in_room",
        ChatError::NoSuchNick(_) => "no_such_nick",
        ChatError::NoSuchRoom(_) => "no_such_room",
        ChatError::NotInRoom(_) => "not_in_room",
        ChatError::NotOperator(_) => "not_operator",
        ChatError::TheyAreNotInRoom { .. } => "they_are_not_in_room",
        ChatError::TooManyRooms(_) => "too_many_rooms",
        ChatError::CannotSendToRoom(_) => "cannot_send",
        ChatError::TargetBusy(_) => "target_busy",
        ChatError::Rejoining => "rejoining",
    }
}

fn refused(e: ChatError) -> Refusal {
    (code(&e), e.to_string())
}

fn bad_request(text: impl Into<String>) -> Refusal {
    ("bad_request", text.into())
}

/// One line of text: what the protocol's text fields may hold. Line
/// breaks would split it into several lines (or forge IRC ones) for the
/// other front-ends, and NUL cuts lines short for some IRC clients.
fn one_line<'t>(field: &str, text: &'t str) -> Result<&'t str, Refusal> {
    if text.contains(['\r', '\n', '\0']) {
        return Err(bad_request(format!("{field} must be one line")));
    }
    Ok(text)
}

/// A web client speaking JSON.
#[derive(Debug)]
pub(crate) struct JsonConn {
    peer: SocketAddr,
    registered: bool,
}

/// Sends `message` to the connection being served.
fn send<I: Io>(ctx: &mut Ctx<'_, I>, message: &Out<'_>) {
    ctx.out.reply(ctx.conn, &message.to_json());
}

impl JsonConn {
    /// A new client from `peer`: told who we are; it registers with `nick`.
    pub fn handle_connect<I: Io>(peer: SocketAddr, ctx: &mut Ctx<'_, I>) -> JsonConn {
        let hello = Out::Hello {
            server: &ctx.config.irc.server_name,
            max_line: ctx.config.max_line,
        };
        send(ctx, &hello);
        JsonConn {
            peer,
            registered: false,
        }
    }

    /// Handles one text message from the client.
    pub fn handle_text<I: Io>(&mut self, text: &str, ctx: &mut Ctx<'_, I>) {
        let envelope: Envelope = serde_json::from_str(text).unwrap_or_default();
        if let Err((code, text)) = self.handle(text, &envelope, ctx) {
            let id = envelope.id.as_ref();
            send(
                ctx,
                &Out::Error {
                    code,
                    text: &text,
                    id,
                },
            );
        }
    }

    fn handle<I: Io>(
        &mut self,
        text: &str,
        envelope: &Envelope<'_>,
        ctx: &mut Ctx<'_, I>,
    ) -> Result<(), Refusal> {
        let command: JsonCommand =
            serde_json::from_str(text).map_err(|e| match envelope.kind.as_deref() {
                Some(kind) if !TYPES.contains(&kind) => {
                    ("unknown_command", format!("no command is called {kind:?}"))
                }
                _ => bad_request(format!("not a command: {e}")),
            })?;
        match command {
            JsonCommand::Nick { nick } if !self.registered => self.register(&nick, ctx),
            _ if !self.registered => Err(("register_first", "send nick first".to_string())),
            JsonCommand::Nick { nick } => {
                let old = ctx.nick().to_string();
                ctx.command(Command::Nick(&nick)).map_err(refused)?;
                info!(conn = %ctx.conn, %old, new = %nick, "nick changed");
                Ok(())
            }
            JsonCommand::Join { room } => join(&room, ctx),
            JsonCommand::Part { room, reason } => {
                let room = find_room(&room, ctx)?;
                let reason = reason
                    .as_deref()
                    .map(|r| one_line("reason", r))
                    .transpose()?;
                let reason = reason.map(|r| cut(r, TEXT_LEN));
                ctx.command(Command::Part { room, reason }).map_err(refused)
            }
            JsonCommand::Message { to, text, kind } => message(&to, &text, kind, ctx),
            JsonCommand::Topic { room, text } => {
                let room = find_room(&room, ctx)?;
                let text = cut(one_line("text", &text)?, TEXT_LEN);
                ctx.command(Command::Topic { room, text }).map_err(refused)
            }
            JsonCommand::Kick { room, nick, reason } => {
                let room = find_room(&room, ctx)?;
                let reason = reason
                    .as_deref()
                    .map(|r| one_line("reason", r))
                    .transpose()?;
                let reason = cut(reason.unwrap_or_default(), TEXT_LEN);
                let kick = Command::Kick {
                    room,
                    nick: &nick,
                    reason,
                };
                ctx.command(kick).map_err(refused)
            }
            JsonCommand::Names { room } => {
                let room = find_room(&room, ctx)?;
                names(room, false, ctx);
                Ok(())
            }
            JsonCommand::Rooms => {
                rooms(ctx);
                Ok(())
            }
            JsonCommand::Away { text } => {
                let text = text.as_deref().map(|t| one_line("text", t)).transpose()?;
                let text = text.map(|t| cut(t, TEXT_LEN)).filter(|t| !t.is_empty());
                ctx.command(Command::Away(text)).map_err(refused)?;
                let info = match text {
                    Some(_) => "you are now away",
                    None => "you are no longer away",
                };
                send(ctx, &Out::Info { text: info });
                Ok(())
            }
            JsonCommand::Quit { reason } => {
                let reason = reason
                    .as_deref()
                    .map(|r| one_line("reason", r))
                    .transpose()?;
                let reason = reason.map(|r| cut(r, TEXT_LEN).to_string());
                ctx.close(Leaving::Quit(reason), CloseReason::Closed);
                Ok(())
            }
        }
    }

    /// Registers the session as `nick`, welcomes it and puts it in the
    /// lobby.
    fn register<I: Io>(&mut self, nick: &str, ctx: &mut Ctx<'_, I>) -> Result<(), Refusal> {
        let registration = Registration {
            nick: Some(nick),
            user: "~web",
            host: HOST,
            realname: "web client",
        };
        ctx.register(registration).map_err(refused)?;
        self.registered = true;
        info!(conn = %ctx.conn, peer = %self.peer, %nick, front_end = "web", "joined");
        send(ctx, &Out::Welcome { nick });
        join(LOBBY, ctx)
    }
}

/// The room called `name` (`#` optional).
fn find_room<I: Io>(name: &str, ctx: &Ctx<'_, I>) -> Result<RoomId, Refusal> {
    let display = parse_room(name).map_err(refused)?;
    (ctx.core.find_room(&display)).ok_or_else(|| refused(ChatError::NoSuchRoom(display)))
}

/// Joins `name` (`#` optional) and tells the client who is there.
fn join<I: Io>(name: &str, ctx: &mut Ctx<'_, I>) -> Result<(), Refusal> {
    let display = parse_room(name).map_err(refused)?;
    ctx.command(Command::Join(&display)).map_err(refused)?;
    let room = ctx.core.find_room(&display).expect("joined");
    names(room, true, ctx);
    Ok(())
}

/// Sends a message and echoes it to its sender, with its sequence number
/// and time: the page shows what the server accepted, in its order.
fn message<I: Io>(to: &str, text: &str, kind: Kind, ctx: &mut Ctx<'_, I>) -> Result<(), Refusal> {
    let text = one_line("text", text)?;
    if text.is_empty() {
        return Err(bad_request("text is empty"));
    }
    let target = if to.starts_with('#') {
        MessageTarget::Room(find_room(to, ctx)?)
    } else {
        MessageTarget::Nick(to)
    };
    let kind = match kind {
        Kind::Say => MessageKind::Say,
        Kind::Act => MessageKind::Act,
        Kind::Notice => MessageKind::Notice,
    };
    ctx.command(Command::Message {
        to: target,
        kind,
        text,
        tags: "",
    })
    .map_err(refused)?;
    let mut echo = Vec::new();
    ctx.with_own_message(target, kind, text, "", |event| {
        super::json_render::render(event, ctx.core, &mut echo)
    });
    ctx.out.io.send(ctx.conn, &echo);
    if let MessageTarget::Nick(nick) = target {
        let id = ctx.core.find_nick(nick).expect("delivered to");
        let session = ctx.core.session(id).expect("registered");
        if let Some(away) = session.away.clone().filter(|_| kind == MessageKind::Say) {
            let nick = session.nick.clone();
            send(
                ctx,
                &Out::Away {
                    nick: &nick,
                    text: &away,
                },
            );
        }
    }
    Ok(())
}

/// Sends who is in `room`, in name order, and which of them are its
/// operators. On joining a crowded room, only the joiner is listed
/// (`partial`): a join storm must not cost each joiner the whole room.
fn names<I: Io>(room: RoomId, joining: bool, ctx: &mut Ctx<'_, I>) {
    let r = ctx.core.room(room);
    let me = [ctx.session()];
    let partial = joining && ctx.core.is_crowded(room);
    let (members, ops) = match partial {
        true => (&me[..], if r.is_op(me[0]) { &me[..] } else { &[][..] }),
        false => (&r.members[..], &r.ops[..]),
    };
    let nick = |&m| Some(ctx.core.session(m)?.nick.as_str());
    let mut members: Vec<&str> = members.iter().filter_map(nick).collect();
    members.sort_by(|a, b| name_key(a).cmp(&name_key(b)));
    let mut ops: Vec<&str> = ops.iter().filter_map(nick).collect();
    ops.sort_by(|a, b| name_key(a).cmp(&name_key(b)));
    let topic = r.topic.as_ref().map_or("", |t| t.text.as_str());
    let listed = members.len();
    let names = Out::Names {
        room: &r.name,
        topic,
        members,
        ops,
        count: r.members.len(),
        partial,
    };
    ctx.out.reply(ctx.conn, &names.to_json());
    ctx.listed += listed;
}

/// Sends the list of rooms (at most [`ChatCore::MAX_LISTED`]).
fn rooms<I: Io>(ctx: &mut Ctx<'_, I>) {
    let rooms = (ctx.core.rooms().list().take(ChatCore::MAX_LISTED))
        .map(|r| RoomInfo {
            room: &r.name,
            members: r.members.len(),
            topic: r.topic.as_ref().map_or("", |t| t.text.as_str()),
        })
        .collect::<Vec<_>>();
    ctx.listed += rooms.len();
    ctx.out.reply(ctx.conn, &Out::Rooms { rooms }.to_json());
}
