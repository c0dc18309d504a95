//! What a client hears on registering: `001` to `005`, `LUSERS` and the
//! message of the day (the last two also on request).

use crate::chat::chat_service::Ctx;
use crate::chat::irc::irc_config::isupport;
use crate::chat::irc::irc_conn::{IrcConn, VERSION};
use crate::chat::irc::numeric::*;
use crate::Io;

impl IrcConn {
    /// `001`-`005`, `LUSERS`, `MOTD`.
    pub(super) fn welcome<I: Io>(&self, ctx: &mut Ctx<'_, I>) {
        let irc = &ctx.config.irc;
        let session = ctx.core.session(ctx.session()).expect("registered");
        let whole = format!("{}!{}@{}", session.nick, session.user, session.host);
        let started = ctx.server.started.unwrap_or_default();
        let lines = [
            (
                RPL_WELCOME,
                vec![],
                format!("Welcome to the {} IRC Network, {whole}", irc.network),
            ),
            (
                RPL_YOURHOST,
                vec![],
                format!(
                    "Your host is {}, running version {VERSION}",
                    irc.server_name
                ),
            ),
            (
                RPL_CREATED,
                vec![],
                format!("This server was created {started}"),
            ),
        ];
        for (code, params, text) in lines {
            self.numeric(ctx, code, &params, &text);
        }
        let server = ctx.config.irc.server_name.clone();
        self.numeric_params(ctx, RPL_MYINFO, &[&server, VERSION, "i", "not", "o"]);
        let isupport = isupport(&ctx.config.irc.network);
        // 13 tokens per line: with the nick and the trailing text, the 15
        // parameters a message may have.
        for tokens in isupport.chunks(13) {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            self.numeric(ctx, RPL_ISUPPORT, &tokens, "are supported by this server");
        }
        self.lusers(ctx);
        self.motd(ctx);
    }

    /// `LUSERS`: users, unknown connections, rooms, this server.
    pub(super) fn lusers<I: Io>(&self, ctx: &mut Ctx<'_, I>) {
        // In a cluster: every node's users, and this node's ("local").
        let (here, servers) = ctx.core.users_by_node();
        let (all, max) = (ctx.core.session_count(), ctx.server.counters.max_sessions());
        let global_max = max.max(all).to_string();
        let (users, here, max) = (all.to_string(), here.to_string(), max.to_string());
        let text = format!("There are {users} users and 0 invisible on {servers} servers");
        self.numeric(ctx, RPL_LUSERCLIENT, &[], &text);
        let unknown = ctx.server.counters.unregistered();
        if unknown > 0 {
            let unknown = unknown.to_string();
            self.numeric(ctx, RPL_LUSERUNKNOWN, &[&unknown], "unknown connection(s)");
        }
        let rooms = ctx.core.rooms().len().to_string();
        self.numeric(ctx, RPL_LUSERCHANNELS, &[&rooms], "channels formed");
        let text = format!("I have {here} clients and {} servers", servers - 1);
        self.numeric(ctx, RPL_LUSERME, &[], &text);
        let text = format!("Current local users {here}, max {max}");
        self.numeric(ctx, RPL_LOCALUSERS, &[&here, &max], &text);
        let text = format!("Current global users {users}, max {global_max}");
        self.numeric(ctx, RPL_GLOBALUSERS, &[&users, &global_max], &text);
    }

    /// `MOTD`, or `422` when there is none.
    pub(super) fn motd<I: Io>(&self, ctx: &mut Ctx<'_, I>) {
        let irc = &ctx.config.irc;
        if irc.motd.is_empty() {
            return self.numeric(ctx, ERR_NOMOTD, &[], "MOTD File is missing");
        }
        let start = format!("- {} Message of the day - ", irc.server_name);
        let lines: Vec<String> = irc.motd.iter().map(|l| format!("- {l}")).collect();
        self.numeric(ctx, RPL_MOTDSTART, &[], &start);
        for line in &lines {
            self.numeric(ctx, RPL_MOTD, &[], line);
        }
        self.numeric(ctx, RPL_ENDOFMOTD, &[], "End of /MOTD command.");
    }
}
