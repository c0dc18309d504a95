//! What a registered IRC client may ask, dispatched: each command becomes
//! a core command or is answered from the core's state, and each refusal
//! gets the numeric the Modern IRC documentation gives for it. Messages,
//! channels and queries have files of their own beside this one.

use crate::chat::chat_service::Ctx;
use crate::chat::core::{ChatError, Command, MessageKind, RoomId};
use crate::chat::irc::irc_conn::{Caps, IrcConn, TEXT_LEN};
use crate::chat::irc::irc_message::IrcMessage;
use crate::chat::irc::irc_render::floor_char_boundary;
use crate::chat::irc::numeric::*;
use crate::Io;
use tracing::info;

/// `text` cut to at most `max` bytes, at a character boundary.
pub(crate) fn cut(text: &str, max: usize) -> &str {
    &text[..floor_char_boundary(text, max)]
}

impl IrcConn {
    /// Handles one command of a registered client (`verb` in upper case).
    pub(super) fn handle_command<I: Io>(
        &mut self,
        verb: &str,
        m: &IrcMessage<'_>,
        ctx: &mut Ctx<'_, I>,
    ) {
        match verb {
            "PRIVMSG" => self.message(MessageKind::Say, verb, m, ctx),
            "NOTICE" => self.message(MessageKind::Notice, verb, m, ctx),
            // TAGMSG belongs to message-tags: a client without it has no
            // use for it.
            "TAGMSG" if self.caps.has(Caps::MESSAGE_TAGS) => {
                self.message(MessageKind::Tags, verb, m, ctx)
            }
            "JOIN" => self.join(m, ctx),
            "PART" => self.part(m, ctx),
            "TOPIC" => self.topic(m, ctx),
            "NAMES" => self.names_command(m, ctx),
            "LIST" => self.list(m, ctx),
            "WHO" => self.who(m, ctx),
            "WHOIS" => self.whois(m, ctx),
            "MODE" => self.mode(m, ctx),
            "KICK" => self.kick(m, ctx),
            "AWAY" => self.away(m, ctx),
            "ISON" => self.ison(m, ctx),
            "USERHOST" => self.userhost(m, ctx),
            "NICK" => self.nick(m, ctx),
            "CAP" => self.cap(m, ctx),
            "PING" => self.pong(m, ctx),
            "PONG" => {}
            "QUIT" => self.quit(m, ctx),
            "LUSERS" => self.lusers(ctx),
            "MOTD" => self.motd(ctx),
            "OPER" => self.oper(m, ctx),
            "REHASH" => self.rehash(ctx),
            "USER" | "PASS" => {
                self.numeric(ctx, ERR_ALREADYREGISTERED, &[], "You may not reregister")
            }
            _ => self.numeric(ctx, ERR_UNKNOWNCOMMAND, &[m.command], "Unknown command"),
        }
    }

    /// `OPER name password`: the name is not checked (there is one
    /// operator password, `--irc-oper-password`).
    fn oper<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(given) = m.param(1) else {
            return self.numeric(ctx, ERR_NEEDMOREPARAMS, &["OPER"], "Not enough parameters");
        };
        let nick = self.client_nick(ctx);
        match &ctx.config.irc.oper_password {
            None => self.numeric(ctx, ERR_NOOPERHOST, &[], "No operators on this server"),
            Some(password) if password == given => {
                self.oper = true;
                info!(conn = %ctx.conn, %nick, "became an operator");
                self.numeric(ctx, RPL_YOUREOPER, &[], "You are now an IRC operator");
            }
            Some(_) => {
                info!(conn = %ctx.conn, %nick, "wrong OPER password");
                self.numeric(ctx, ERR_PASSWDMISMATCH, &[], "Password incorrect");
            }
        }
    }

    /// `REHASH`: an operator has the server reread its settings and TLS
    /// certificates, as SIGHUP does.
    fn rehash<I: Io>(&mut self, ctx: &mut Ctx<'_, I>) {
        if !self.oper {
            let why = "Permission Denied- You're not an IRC operator";
            return self.numeric(ctx, ERR_NOPRIVILEGES, &[], why);
        }
        info!(conn = %ctx.conn, nick = %self.client_nick(ctx), "REHASH");
        self.numeric(ctx, RPL_REHASHING, &["settings"], "Rehashing");
        ctx.out.io.request_reload();
    }

    /// A core refusal, as the numeric IRC has for it.
    pub(super) fn refused<I: Io>(&self, e: ChatError, ctx: &mut Ctx<'_, I>) {
        match e {
            ChatError::BadNick(nick) => {
                self.numeric(ctx, ERR_ERRONEUSNICKNAME, &[&nick], "Erroneous nickname")
            }
            ChatError::NickTaken(nick) => self.numeric(
                ctx,
                ERR_NICKNAMEINUSE,
                &[&nick],
                "Nickname is already in use",
            ),
            ChatError::BadRoom(name) | ChatError::NoSuchRoom(name) => {
                self.numeric(ctx, ERR_NOSUCHCHANNEL, &[&name], "No such channel")
            }
            // Joining a channel one is in is not an error in IRC.
            ChatError::AlreadyInRoom(_) => {}
            ChatError::NoSuchNick(nick) => {
                self.numeric(ctx, ERR_NOSUCHNICK, &[&nick], "No such nick/channel")
            }
            ChatError::NotInRoom(room) => self.numeric(
                ctx,
                ERR_NOTONCHANNEL,
                &[&room],
                "You're not on that channel",
            ),
            ChatError::NotOperator(room) => self.numeric(
                ctx,
                ERR_CHANOPRIVSNEEDED,
                &[&room],
                "You're not channel operator",
            ),
            ChatError::TheyAreNotInRoom { nick, room } => self.numeric(
                ctx,
                ERR_USERNOTINCHANNEL,
                &[&nick, &room],
                "They aren't on that channel",
            ),
            ChatError::TooManyRooms(room) => self.numeric(
                ctx,
                ERR_TOOMANYCHANNELS,
                &[&room],
                "You have joined too many channels",
            ),
            ChatError::CannotSendToRoom(room) => self.numeric(
                ctx,
                ERR_CANNOTSENDTOCHAN,
                &[&room],
                "Cannot send to channel",
            ),
            ChatError::TargetBusy(nick) => {
                self.numeric(ctx, ERR_TARGETTOOFAST, &[&nick], TARGET_BUSY)
            }
            ChatError::Rejoining => {
                let why = e.to_string();
                let nick = self.client_nick(ctx).to_string();
                self.numeric(ctx, ERR_UNAVAILRESOURCE, &[&nick], &why)
            }
        }
    }

    /// Runs `command`, answering a refusal with its numeric.
    pub(super) fn run<I: Io>(&self, command: Command<'_>, ctx: &mut Ctx<'_, I>) -> bool {
        match ctx.command(command) {
            Ok(()) => true,
            Err(e) => {
                self.refused(e, ctx);
                false
            }
        }
    }

    /// The channel called `name`, or `403` (`#` required: `CHANTYPES=#`).
    pub(super) fn channel<I: Io>(&self, name: &str, ctx: &mut Ctx<'_, I>) -> Option<RoomId> {
        let found = name
            .starts_with('#')
            .then(|| ctx.core.find_room(name))
            .flatten();
        if found.is_none() {
            self.numeric(ctx, ERR_NOSUCHCHANNEL, &[name], "No such channel");
        }
        found
    }

    /// `NICK new` once registered: the change goes to everyone who shares a
    /// channel, and to the client itself.
    pub(super) fn nick<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(new) = self.check_nick(m, ctx) else {
            return;
        };
        if new != ctx.nick() {
            self.run(Command::Nick(new), ctx);
        }
    }

    /// `AWAY :message` (away) or `AWAY` (back).
    pub(super) fn away<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        match m.param(0).filter(|t| !t.is_empty()) {
            Some(text) => {
                self.run(Command::Away(Some(cut(text, TEXT_LEN))), ctx);
                self.numeric(ctx, RPL_NOWAWAY, &[], "You have been marked as being away");
            }
            None => {
                self.run(Command::Away(None), ctx);
                self.numeric(
                    ctx,
                    RPL_UNAWAY,
                    &[],
                    "You are no longer marked as being away",
                );
            }
        }
    }
}
