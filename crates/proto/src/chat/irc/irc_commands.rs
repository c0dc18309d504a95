//! What a registered IRC client may ask: messages, channels, queries and
//! modes, each turned into a core command or answered from the core's
//! state, with the numeric the Modern IRC documentation gives for each
//! error.

use std::borrow::Cow;

use crate::chat::chat_service::Ctx;
use crate::chat::core::{
    ChatError, Command, Event, EventKind, MessageKind, MessageTarget, RoomId, RoomMode, RoomStamp,
    Target,
};
use crate::chat::irc::irc_conn::{Caps, IrcConn, TEXT_LEN};
use crate::chat::irc::irc_message::IrcMessage;
use crate::chat::irc::irc_render::{floor_char_boundary, render, MAX_LINE};
use crate::chat::irc::numeric::*;
use crate::chat::irc::MAX_TARGETS;
use crate::Io;

/// `text` cut to at most `max` bytes, at a character boundary.
fn cut(text: &str, max: usize) -> &str {
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
            "USER" | "PASS" => {
                self.numeric(ctx, ERR_ALREADYREGISTERED, &[], "You may not reregister")
            }
            _ => self.numeric(ctx, ERR_UNKNOWNCOMMAND, &[m.command], "Unknown command"),
        }
    }

    /// A core refusal, as the numeric IRC has for it.
    fn refused<I: Io>(&self, e: ChatError, ctx: &mut Ctx<'_, I>) {
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
        }
    }

    /// Runs `command`, answering a refusal with its numeric.
    fn run<I: Io>(&self, command: Command<'_>, ctx: &mut Ctx<'_, I>) -> bool {
        match ctx.command(command) {
            Ok(()) => true,
            Err(e) => {
                self.refused(e, ctx);
                false
            }
        }
    }

    /// The channel called `name`, or `403` (`#` required: `CHANTYPES=#`).
    fn channel<I: Io>(&self, name: &str, ctx: &mut Ctx<'_, I>) -> Option<RoomId> {
        let found = name
            .starts_with('#')
            .then(|| ctx.core.find_room(name))
            .flatten();
        if found.is_none() {
            self.numeric(ctx, ERR_NOSUCHCHANNEL, &[name], "No such channel");
        }
        found
    }

    /// PRIVMSG, NOTICE (never answered with an error) and TAGMSG.
    fn message<I: Io>(
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
        for (i, target) in targets.split(',').enumerate() {
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
    fn after_message<I: Io>(
        &self,
        to: MessageTarget<'_>,
        kind: MessageKind,
        text: &str,
        tags: &str,
        ctx: &mut Ctx<'_, I>,
    ) {
        let me = ctx.session();
        let echo = self.caps.has(Caps::ECHO_MESSAGE);
        let (target, subject, stamp) = match to {
            MessageTarget::Room(_) if !echo => return,
            MessageTarget::Room(id) => {
                let room = ctx.core.room(id);
                let stamp = RoomStamp {
                    room: id,
                    seq: room.seq,
                };
                (room.name.clone(), None, Some(stamp))
            }
            MessageTarget::Nick(nick) => {
                let id = ctx.core.find_nick(nick).expect("delivered to");
                let session = ctx.core.session(id).expect("registered");
                let nick = session.nick.clone();
                if let Some(away) = session.away.clone().filter(|_| kind == MessageKind::Say) {
                    self.numeric(ctx, RPL_AWAY, &[&nick], &away);
                }
                if !(echo || id == me) {
                    return;
                }
                (nick, Some(id), None)
            }
        };
        let stamps: Vec<RoomStamp> = stamp.into_iter().collect();
        let event = Event {
            time: ctx.now(),
            actor: me,
            from: ctx.core.session(me).expect("registered").source(),
            subject,
            rooms: &stamps,
            kind: EventKind::Message {
                to: match subject {
                    Some(_) => Target::User(&target),
                    None => Target::Room(&target),
                },
                kind,
                text,
                tags,
            },
        };
        let mut echo = Vec::new();
        render(&event, self.tags(), &mut echo);
        ctx.out.reply(ctx.conn, &echo);
    }

    /// `JOIN #a,#b` (keys ignored) or `JOIN 0` (leave every channel).
    fn join<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(list) = m.param(0) else {
            return self.need_more_params("JOIN", ctx);
        };
        if list == "0" {
            let rooms = ctx
                .core
                .session(ctx.session())
                .expect("registered")
                .rooms
                .clone();
            for room in rooms {
                self.run(Command::Part { room, reason: None }, ctx);
            }
            return;
        }
        for name in list.split(',').filter(|n| !n.is_empty()) {
            if !name.starts_with('#') {
                self.numeric(ctx, ERR_NOSUCHCHANNEL, &[name], "No such channel");
                continue;
            }
            if self.run(Command::Join(name), ctx) {
                let room = ctx.core.find_room(name).expect("joined");
                self.topic_reply(room, false, ctx);
                self.names(room, ctx);
            }
        }
    }

    /// `PART #a,#b [:reason]`.
    fn part<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(list) = m.param(0) else {
            return self.need_more_params("PART", ctx);
        };
        let reason = m
            .param(1)
            .filter(|r| !r.is_empty())
            .map(|r| cut(r, TEXT_LEN));
        for name in list.split(',').filter(|n| !n.is_empty()) {
            if let Some(room) = self.channel(name, ctx) {
                self.run(Command::Part { room, reason }, ctx);
            }
        }
    }

    /// `TOPIC #chan` (query) or `TOPIC #chan :text` (set; empty clears).
    fn topic<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(name) = m.param(0) else {
            return self.need_more_params("TOPIC", ctx);
        };
        let Some(room) = self.channel(name, ctx) else {
            return;
        };
        match m.param(1) {
            None => self.topic_reply(room, true, ctx),
            Some(text) => {
                self.run(
                    Command::Topic {
                        room,
                        text: cut(text, TEXT_LEN),
                    },
                    ctx,
                );
            }
        }
    }

    /// `332` and `333` for a room with a topic; `331` for one without, if
    /// `say_none`.
    fn topic_reply<I: Io>(&self, room: RoomId, say_none: bool, ctx: &mut Ctx<'_, I>) {
        let r = ctx.core.room(room);
        let name = r.name.clone();
        match r.topic.clone() {
            Some(topic) => {
                self.numeric(ctx, RPL_TOPIC, &[&name], &topic.text);
                let at = topic.set_at.as_secs().to_string();
                self.numeric_params(ctx, RPL_TOPICWHOTIME, &[&name, &topic.set_by, &at]);
            }
            None if say_none => self.numeric(ctx, RPL_NOTOPIC, &[&name], "No topic is set"),
            None => {}
        }
    }

    /// `NAMES [#a,#b]`.
    fn names_command<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(list) = m.param(0) else {
            return self.numeric(ctx, RPL_ENDOFNAMES, &["*"], "End of /NAMES list");
        };
        for name in list.split(',').filter(|n| !n.is_empty()) {
            match name
                .starts_with('#')
                .then(|| ctx.core.find_room(name))
                .flatten()
            {
                Some(room) => self.names(room, ctx),
                None => self.numeric(ctx, RPL_ENDOFNAMES, &[name], "End of /NAMES list"),
            }
        }
    }

    /// `353` lines (as many as the members need) and `366`.
    fn names<I: Io>(&self, room: RoomId, ctx: &mut Ctx<'_, I>) {
        let nick = self.client_nick(ctx);
        let server = &ctx.config.irc.server_name;
        let r = ctx.core.room(room);
        let head = format!(":{server} {RPL_NAMREPLY} {nick} = {} :", r.name);
        let mut out = String::new();
        let mut line = head.clone();
        for &member in &r.members {
            let Some(session) = ctx.core.session(member) else {
                continue;
            };
            let prefix = if r.is_op(member) { "@" } else { "" };
            if line.len() + prefix.len() + session.nick.len() + 3 > MAX_LINE {
                out.push_str(line.trim_end());
                out.push_str("\r\n");
                line.clone_from(&head);
            }
            line.push_str(prefix);
            line.push_str(&session.nick);
            line.push(' ');
        }
        if line.len() > head.len() {
            out.push_str(line.trim_end());
            out.push_str("\r\n");
        }
        let name = r.name.clone();
        ctx.reply_str(&out);
        self.numeric(ctx, RPL_ENDOFNAMES, &[&name], "End of /NAMES list");
    }

    /// `LIST [#a,#b]`: `321`, a `322` per room, `323`.
    fn list<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let wanted: Option<Vec<&str>> = m.param(0).map(|l| l.split(',').collect());
        self.numeric(ctx, RPL_LISTSTART, &["Channel"], "Users  Name");
        let rows: Vec<(String, String, String)> = (ctx.core.rooms().list().into_iter())
            .filter(|r| {
                wanted
                    .as_ref()
                    .is_none_or(|w| w.iter().any(|n| n.eq_ignore_ascii_case(&r.name)))
            })
            .map(|r| {
                let topic = r.topic.as_ref().map_or("", |t| &t.text).to_string();
                (r.name.clone(), r.members.len().to_string(), topic)
            })
            .collect();
        for (name, users, topic) in rows {
            self.numeric(ctx, RPL_LIST, &[&name, &users], &topic);
        }
        self.numeric(ctx, RPL_LISTEND, &[], "End of /LIST");
    }

    /// `WHO #chan` (its members) or `WHO nick`; any other mask lists no one
    /// (no one is listed to strangers wholesale).
    fn who<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let mask = m.param(0).unwrap_or("*");
        let nick = self.client_nick(ctx);
        let server = ctx.config.irc.server_name.clone();
        let mut out = String::new();
        let mut row = |channel: &str, session: &crate::chat::core::Session, op: bool| {
            let flags = format!(
                "{}{}",
                if session.away.is_some() { 'G' } else { 'H' },
                if op { "@" } else { "" }
            );
            let params = [
                &nick,
                channel,
                &session.user,
                &session.host,
                &server,
                &session.nick,
                &flags,
            ];
            let trailing = format!("0 {}", session.realname);
            out.push_str(&server_line(
                &server,
                RPL_WHOREPLY,
                &params,
                Some(&trailing),
            ));
        };
        if mask.starts_with('#') {
            if let Some(room) = ctx.core.find_room(mask) {
                let r = ctx.core.room(room);
                for &member in &r.members {
                    if let Some(session) = ctx.core.session(member) {
                        row(&r.name, session, r.is_op(member));
                    }
                }
            }
        } else if let Some(session) = ctx.core.find_nick(mask).and_then(|id| ctx.core.session(id)) {
            row("*", session, false);
        }
        ctx.reply_str(&out);
        self.numeric(ctx, RPL_ENDOFWHO, &[mask], "End of WHO list");
    }

    /// `WHOIS [server] nick`.
    fn whois<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(target) = m.param(1).or(m.param(0)).filter(|t| !t.is_empty()) else {
            return self.numeric(ctx, ERR_NONICKNAMEGIVEN, &[], "No nickname given");
        };
        let Some(id) = ctx.core.find_nick(target) else {
            self.numeric(ctx, ERR_NOSUCHNICK, &[target], "No such nick/channel");
            return self.numeric(ctx, RPL_ENDOFWHOIS, &[target], "End of /WHOIS list");
        };
        let s = ctx.core.session(id).expect("registered").clone();
        let rooms: Vec<String> = (s.rooms.iter())
            .map(|&room| {
                let r = ctx.core.room(room);
                format!("{}{}", if r.is_op(id) { "@" } else { "" }, r.name)
            })
            .collect();
        let server = ctx.config.irc.server_name.clone();
        let now = ctx.now();
        self.numeric(
            ctx,
            RPL_WHOISUSER,
            &[&s.nick, &s.user, &s.host, "*"],
            &s.realname,
        );
        if !rooms.is_empty() {
            self.numeric(ctx, RPL_WHOISCHANNELS, &[&s.nick], &rooms.join(" "));
        }
        self.numeric(
            ctx,
            RPL_WHOISSERVER,
            &[&s.nick, &server],
            "switchboard chat",
        );
        if let Some(away) = &s.away {
            self.numeric(ctx, RPL_AWAY, &[&s.nick], away);
        }
        let idle = now
            .as_secs()
            .saturating_sub(s.last_message.as_secs())
            .to_string();
        let signon = s.signed_on.as_secs().to_string();
        let text = "seconds idle, signon time";
        self.numeric(ctx, RPL_WHOISIDLE, &[&s.nick, &idle, &signon], text);
        self.numeric(ctx, RPL_ENDOFWHOIS, &[&s.nick], "End of /WHOIS list");
    }

    /// `MODE #chan [changes [nicks]]` or `MODE nick [changes]`.
    fn mode<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(target) = m.param(0) else {
            return self.need_more_params("MODE", ctx);
        };
        if target.starts_with('#') {
            self.room_mode(target, m, ctx)
        } else {
            self.user_mode(target, m, ctx)
        }
    }

    fn room_mode<I: Io>(&mut self, name: &str, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(room) = self.channel(name, ctx) else {
            return;
        };
        let r = ctx.core.room(room);
        let name = r.name.clone();
        let Some(changes) = m.param(1) else {
            let modes: String = RoomMode::ALL
                .iter()
                .filter(|&&mode| r.mode(mode))
                .map(|m| m.letter())
                .collect();
            let created = r.created.as_secs().to_string();
            self.numeric_params(ctx, RPL_CHANNELMODEIS, &[&name, &format!("+{modes}")]);
            return self.numeric_params(ctx, RPL_CREATIONTIME, &[&name, &created]);
        };
        let mut args = m.params()[2..].iter();
        let mut on = true;
        for letter in changes.chars() {
            match letter {
                '+' => on = true,
                '-' => on = false,
                'o' => match args.next() {
                    Some(nick) => {
                        self.run(Command::Op { room, nick, op: on }, ctx);
                    }
                    None => self.need_more_params("MODE", ctx),
                },
                't' | 'n' => {
                    let mode = if letter == 't' {
                        RoomMode::TopicOpsOnly
                    } else {
                        RoomMode::NoExternal
                    };
                    self.run(Command::RoomMode { room, mode, on }, ctx);
                }
                // A ban-list query (clients ask after joining): there are
                // no bans here.
                'b' if m.params().len() == 2 => {
                    self.numeric(ctx, RPL_ENDOFBANLIST, &[&name], "End of channel ban list")
                }
                other => {
                    let letter = other.to_string();
                    self.numeric(
                        ctx,
                        ERR_UNKNOWNMODE,
                        &[&letter],
                        "is unknown mode char to me",
                    );
                }
            }
        }
    }

    fn user_mode<I: Io>(&mut self, target: &str, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let me = ctx.nick().to_string();
        if !target.eq_ignore_ascii_case(&me) {
            return match ctx.core.find_nick(target) {
                Some(_) => self.numeric(
                    ctx,
                    ERR_USERSDONTMATCH,
                    &[],
                    "Cant change mode for other users",
                ),
                None => self.numeric(ctx, ERR_NOSUCHNICK, &[target], "No such nick/channel"),
            };
        }
        let Some(changes) = m.param(1) else {
            let modes = if self.invisible { "+i" } else { "+" };
            return self.numeric_params(ctx, RPL_UMODEIS, &[modes]);
        };
        let (mut on, mut applied, mut unknown) = (true, String::new(), false);
        for letter in changes.chars() {
            match letter {
                '+' => on = true,
                '-' => on = false,
                'i' if self.invisible != on => {
                    self.invisible = on;
                    applied.push(if on { '+' } else { '-' });
                    applied.push('i');
                }
                'i' => {}
                _ => unknown = true,
            }
        }
        if !applied.is_empty() {
            ctx.reply_str(&source_line(Some(&me), "MODE", &[&me], Some(&applied)));
        }
        if unknown {
            self.numeric(ctx, ERR_UMODEUNKNOWNFLAG, &[], "Unknown MODE flag");
        }
    }

    /// `KICK #chan nick[,nick] [:reason]`.
    fn kick<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let (Some(name), Some(nicks)) = (m.param(0), m.param(1)) else {
            return self.need_more_params("KICK", ctx);
        };
        let Some(room) = self.channel(name, ctx) else {
            return;
        };
        let me = ctx.nick().to_string();
        let reason = cut(
            m.param(2).filter(|r| !r.is_empty()).unwrap_or(&me),
            TEXT_LEN,
        );
        for (i, nick) in nicks.split(',').filter(|n| !n.is_empty()).enumerate() {
            if i == MAX_TARGETS {
                self.numeric(ctx, ERR_TOOMANYTARGETS, &[nick], "Too many targets");
                break;
            }
            self.run(Command::Kick { room, nick, reason }, ctx);
        }
    }

    /// `AWAY :message` (away) or `AWAY` (back).
    fn away<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
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

    /// `ISON nick...`: which of them are here.
    fn ison<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        if m.params().is_empty() {
            return self.need_more_params("ISON", ctx);
        }
        let here: Vec<&str> = (m.params().iter())
            .flat_map(|p| p.split_whitespace())
            .filter_map(|nick| Some(ctx.core.session(ctx.core.find_nick(nick)?)?.nick.as_str()))
            .collect();
        let here = here.join(" ");
        self.numeric(ctx, RPL_ISON, &[], &here);
    }

    /// `USERHOST nick...` (up to five).
    fn userhost<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        if m.params().is_empty() {
            return self.need_more_params("USERHOST", ctx);
        }
        let replies: Vec<String> = (m.params().iter().take(5))
            .filter_map(|nick| {
                let s = ctx.core.session(ctx.core.find_nick(nick)?)?;
                let away = if s.away.is_some() { '-' } else { '+' };
                Some(format!("{}={away}{}@{}", s.nick, s.user, s.host))
            })
            .collect();
        let replies = replies.join(" ");
        self.numeric(ctx, RPL_USERHOST, &[], &replies);
    }

    /// `NICK new` once registered: the change goes to everyone who shares a
    /// channel, and to the client itself.
    fn nick<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(new) = self.check_nick(m, ctx) else {
            return;
        };
        if new != ctx.nick() {
            self.run(Command::Nick(new), ctx);
        }
    }
}
