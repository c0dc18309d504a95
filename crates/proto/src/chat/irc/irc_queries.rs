//! Questions about users: WHO, WHOIS, ISON, USERHOST, and user MODE.

use crate::chat::chat_service::Ctx;
use crate::chat::irc::irc_conn::IrcConn;
use crate::chat::irc::irc_message::IrcMessage;
use crate::chat::irc::numeric::*;
use crate::Io;

impl IrcConn {
    /// `WHO #chan` (its members) or `WHO nick`; any other mask lists no one
    /// (no one is listed to strangers wholesale).
    pub(super) fn who<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let mask = m.param(0).filter(|m| !m.is_empty()).unwrap_or("*");
        let nick = self.client_nick(ctx);
        let server = ctx.config.irc.server_name.clone();
        let mut out = String::new();
        let mut rows = 0;
        let mut row = |channel: &str, session: &crate::chat::core::Session, op: bool| {
            rows += 1;
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
        ctx.listed += rows;
        ctx.reply_str(&out);
        self.numeric(ctx, RPL_ENDOFWHO, &[mask], "End of WHO list");
    }

    /// `WHOIS [server] nick`.
    pub(super) fn whois<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
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

    pub(super) fn user_mode<I: Io>(
        &mut self,
        target: &str,
        m: &IrcMessage<'_>,
        ctx: &mut Ctx<'_, I>,
    ) {
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

    /// `ISON nick...`: which of them are here.
    pub(super) fn ison<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
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
    pub(super) fn userhost<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
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
}
