//! PRIVMSG, NOTICE and TAGMSG: to channels and nicks, CTCP ACTION as an
//! action, client tags relayed, and the sender's echo.

use std::borrow::Cow;

use crate::chat::chat_service::Ctx;
use crate::chat::core::{Command, MessageKind, MessageTarget};
use crate::chat::irc::irc_conn::{Caps, IrcConn};
use crate::chat::irc::irc_message::IrcMessage;
use crate::chat::irc::irc_render::render;
use crate::chat::irc::numeric::*;
use crate::chat::irc::MAX_TARGETS;
use crate::Io;

impl IrcConn {
    /// PRIVMSG, NOTICE (never answered with an error) and TAGMSG.
    pub(super) fn message<I: Io>(
        &mut self,
        kind: MessageKind,
        verb: &str,
        m: &IrcMessage<'_>,
        ctx: &mut Ctx<'_, I>,
    ) {
        let quiet = kind == MessageKind::Notice;
        let Some(targets) = m.param(0).filter(|t| !t.is_empty()) else {
            if !quiet {
                let text = format!("No recipient given ({verb})");
                self.numeric(ctx, ERR_NORECIPIENT, &[], &text);
            }
            return;
        };
        let mut text = m.param(1).unwrap_or("");
        if kind != MessageKind::Tags && text.is_empty() {
            if !quiet {
                self.numeric(ctx, ERR_NOTEXTTOSEND, &[], "No text to send");
            }
            return;
        }
        let mut kind = kind;
        if kind == MessageKind::Say {
            if let Some(action) = text.strip_prefix("\x01ACTION ") {
                kind = MessageKind::Act;
                text = action.strip_suffix('\x01').unwrap_or(action);
            }
        }
        let tags = if self.caps.has(Caps::MESSAGE_TAGS) {
            m.client_tags()
        } else {
            Cow::Borrowed("")
        };
        if kind == MessageKind::Tags && tags.is_empty() {
            return; // nothing to relay
        }
        for (i, target) in targets.split(',').filter(|t| !t.is_empty()).enumerate() {
            if i == MAX_TARGETS {
                if !quiet {
                    self.numeric(ctx, ERR_TOOMANYTARGETS, &[target], "Too many targets");
                }
                break;
            }
            let to = if target.starts_with('#') {
                match ctx.core.find_room(target) {
                    Some(room) => MessageTarget::Room(room),
                    None if quiet => continue,
                    None => {
                        self.numeric(ctx, ERR_NOSUCHCHANNEL, &[target], "No such channel");
                        continue;
                    }
                }
            } else {
                MessageTarget::Nick(target)
            };
            let command = Command::Message {
                to,
                kind,
                text,
                tags: &tags,
            };
            match ctx.command(command) {
                Ok(()) => self.after_message(to, kind, text, &tags, ctx),
                Err(_) if quiet => {}
                Err(e) => self.refused(e, ctx),
            }
        }
    }

    /// After a message went out: the sender's echo (`echo-message`, or a
    /// message to oneself) and the target's away message.
    pub(super) fn after_message<I: Io>(
        &self,
        to: MessageTarget<'_>,
        kind: MessageKind,
        text: &str,
        tags: &str,
        ctx: &mut Ctx<'_, I>,
    ) {
        let echo = self.caps.has(Caps::ECHO_MESSAGE);
        match to {
            MessageTarget::Room(_) if !echo => return,
            MessageTarget::Room(_) => {}
            MessageTarget::Nick(nick) => {
                let id = ctx.core.find_nick(nick).expect("delivered to");
                let session = ctx.core.session(id).expect("registered");
                let nick = session.nick.clone();
                if let Some(away) = session.away.clone().filter(|_| kind == MessageKind::Say) {
                    self.numeric(ctx, RPL_AWAY, &[&nick], &away);
                }
                if !(echo || id == ctx.session()) {
                    return;
                }
            }
        }
        let mut echo = Vec::new();
        ctx.with_own_message(to, kind, text, tags, |event| {
            render(event, self.tags(), &mut echo)
        });
        ctx.out.reply(ctx.conn, &echo);
    }
}
