//! Channel commands: JOIN, PART, TOPIC, NAMES, LIST, KICK and channel
//! MODE.

use crate::chat::chat_service::Ctx;
use crate::chat::core::{ChatCore, Command, Room, RoomId, RoomMode};
use crate::chat::irc::irc_commands::cut;
use crate::chat::irc::irc_conn::{IrcConn, TEXT_LEN};
use crate::chat::irc::irc_message::IrcMessage;
use crate::chat::irc::irc_render::MAX_LINE;
use crate::chat::irc::numeric::*;
use crate::chat::irc::{MAX_MODES, MAX_TARGETS};
use crate::Io;

/// Whether a comma list names anything (`,` and `""` do not).
fn has_items(list: &str) -> bool {
    list.split(',').any(|item| !item.is_empty())
}

impl IrcConn {
    /// `JOIN #a,#b` (keys ignored) or `JOIN 0` (leave every channel).
    pub(super) fn join<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(list) = m.param(0).filter(|l| has_items(l)) else {
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
                self.names(room, true, ctx);
            }
        }
    }

    /// `PART #a,#b [:reason]`.
    pub(super) fn part<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(list) = m.param(0).filter(|l| has_items(l)) else {
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
    pub(super) fn topic<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
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
    pub(super) fn topic_reply<I: Io>(&self, room: RoomId, say_none: bool, ctx: &mut Ctx<'_, I>) {
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
    pub(super) fn names_command<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(list) = m.param(0).filter(|l| has_items(l)) else {
            return self.numeric(ctx, RPL_ENDOFNAMES, &["*"], "End of /NAMES list");
        };
        for name in list.split(',').filter(|n| !n.is_empty()) {
            match name
                .starts_with('#')
                .then(|| ctx.core.find_room(name))
                .flatten()
            {
                Some(room) => self.names(room, false, ctx),
                None => self.numeric(ctx, RPL_ENDOFNAMES, &[name], "End of /NAMES list"),
            }
        }
    }

    /// `353` lines (as many as the members need) and `366`. On joining a
    /// crowded room, only the joiner is listed, and `366` says how many
    /// there are: a join storm must not cost each joiner the whole room.
    pub(super) fn names<I: Io>(&self, room: RoomId, joining: bool, ctx: &mut Ctx<'_, I>) {
        let nick = self.client_nick(ctx);
        let server = &ctx.config.irc.server_name;
        let r = ctx.core.room(room);
        let head = format!(":{server} {RPL_NAMREPLY} {nick} = {} :", r.name);
        let mut out = String::new();
        let mut line = head.clone();
        let me = [ctx.session()];
        let crowded = joining && ctx.core.is_crowded(room);
        let listed = if crowded { &me[..] } else { &r.members };
        let count = listed.len();
        for &member in listed {
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
        let end = match crowded {
            true => format!(
                "End of /NAMES list ({} members, too many to list on joining; NAMES {name} lists them)",
                r.members.len()
            ),
            false => "End of /NAMES list".to_string(),
        };
        ctx.listed += count;
        ctx.reply_str(&out);
        self.numeric(ctx, RPL_ENDOFNAMES, &[&name], &end);
    }

    /// `LIST [#a,#b]`: `321`, a `322` per room, `323`. Without names, at
    /// most [`ChatCore::MAX_LISTED`] rooms, in name order, and `323` says
    /// how many more there are.
    pub(super) fn list<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let row = |r: &Room| {
            let topic = r.topic.as_ref().map_or("", |t| &t.text).to_string();
            (r.name.clone(), r.members.len().to_string(), topic)
        };
        let rooms = ctx.core.rooms();
        let (rows, more): (Vec<_>, usize) = match m.param(0).filter(|l| !l.is_empty()) {
            Some(names) => {
                let found = (names.split(',').take(ChatCore::MAX_LISTED))
                    .filter(|n| n.starts_with('#'))
                    .filter_map(|n| Some(row(ctx.core.room(rooms.find(n)?))));
                (found.collect(), 0)
            }
            None => {
                let listed = rooms.list().take(ChatCore::MAX_LISTED).map(row).collect();
                (listed, rooms.len().saturating_sub(ChatCore::MAX_LISTED))
            }
        };
        ctx.listed += rows.len();
        self.numeric(ctx, RPL_LISTSTART, &["Channel"], "Users  Name");
        for (name, users, topic) in rows {
            self.numeric(ctx, RPL_LIST, &[&name, &users], &topic);
        }
        let end = match more {
            0 => "End of /LIST".to_string(),
            n => format!("End of /LIST ({n} more channels not listed; LIST #name for one)"),
        };
        self.numeric(ctx, RPL_LISTEND, &[], &end);
    }

    /// `KICK #chan nick[,nick] [:reason]`.
    pub(super) fn kick<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let (Some(name), Some(nicks)) = (m.param(0), m.param(1).filter(|l| has_items(l))) else {
            return self.need_more_params("KICK", ctx);
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
            // Looked up for each nick: an operator who kicks itself out of
            // a room it was alone in has just removed the room.
            let Some(room) = self.channel(name, ctx) else {
                return;
            };
            self.run(Command::Kick { room, nick, reason }, ctx);
        }
    }

    /// `MODE #chan [changes [nicks]]` or `MODE nick [changes]`.
    pub(super) fn mode<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(target) = m.param(0) else {
            return self.need_more_params("MODE", ctx);
        };
        if target.starts_with('#') {
            self.room_mode(target, m, ctx)
        } else {
            self.user_mode(target, m, ctx)
        }
    }

    pub(super) fn room_mode<I: Io>(
        &mut self,
        name: &str,
        m: &IrcMessage<'_>,
        ctx: &mut Ctx<'_, I>,
    ) {
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
        // At most MAX_MODES changes per command (ISUPPORT MODES): each is an
        // event to every member, and one line must not fan out without bound.
        let mut budget = MAX_MODES;
        for letter in changes.chars() {
            if letter != '+' && letter != '-' {
                if budget == 0 {
                    break;
                }
                budget -= 1;
            }
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
}
