//! One IRC client: registration (`CAP`, `PASS`, `NICK`, `USER`), IRCv3
//! capabilities, keep-alive pings, and the dispatch of its commands.

use std::borrow::Cow;
use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, info};

use crate::chat::chat_service::Ctx;
use crate::chat::core::Leaving;
use crate::chat::core::{ChatError, Registration};
use crate::chat::delivery::Format;
use crate::chat::irc::irc_message::IrcMessage;
use crate::chat::irc::irc_render::{IrcTags, MAX_LINE};
use crate::chat::irc::numeric::*;
use crate::chat::keep_alive::{later, KeepAlive, KeepAliveDue};
use crate::chat::line_codec::Frame;
use crate::chat::names::validate_nick;
use crate::{CloseReason, Io};

/// Host shown for IRC clients (`nick!user@host`): the front-end, never
/// the address.
pub const HOST: &str = "irc";

/// The server's name and version, as `002`/`004` give them.
pub const VERSION: &str = concat!("switchboard-", env!("CARGO_PKG_VERSION"));

/// Longest tags section a client may send, `@` and space included
/// (IRCv3 message-tags: 4094 bytes of client tags).
const MAX_TAGS: usize = 4096;

/// Longest topic, away message, kick or part reason (`TOPICLEN`, ...).
pub const TEXT_LEN: usize = 390;

/// The IRCv3 capabilities switchboard offers, in `CAP LS` order.
const CAPS: [&str; 5] = [
    "cap-notify",
    "echo-message",
    "message-tags",
    "multi-prefix",
    "server-time",
];

/// The capabilities a client has enabled, by index into [`CAPS`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(super) struct Caps([bool; CAPS.len()]);

impl Caps {
    const CAP_NOTIFY: usize = 0;
    pub(super) const ECHO_MESSAGE: usize = 1;
    pub(super) const MESSAGE_TAGS: usize = 2;
    const SERVER_TIME: usize = 4;

    pub(super) fn has(&self, cap: usize) -> bool {
        self.0[cap]
    }

    fn enabled(&self) -> String {
        let on = CAPS.iter().zip(self.0).filter(|(_, on)| *on);
        on.map(|(name, _)| *name).collect::<Vec<_>>().join(" ")
    }
}

/// One IRC client's state.
#[derive(Debug)]
pub(crate) struct IrcConn {
    peer: SocketAddr,
    registered: bool,
    /// Before registration: the nick and user asked for.
    nick: Option<String>,
    user: Option<(String, String)>,
    pass_ok: bool,
    /// `CAP LS` or `REQ` came before registration: wait for `CAP END`.
    negotiating: bool,
    /// `CAP LS 302` (or later): cap-notify is on and may not be turned off.
    cap_302: bool,
    pub(super) caps: Caps,
    /// User mode `+i` (accepted; everyone is visible here regardless).
    pub(super) invisible: bool,
    connected: Instant,
    keep_alive: KeepAlive,
    /// Over a WebSocket (`text.ircv3.net`), not a TCP stream.
    pub websocket: bool,
    /// Gave the operator password (`OPER`): may `REHASH`.
    pub(super) oper: bool,
}

impl IrcConn {
    /// Longest line framed: 4,096 bytes of tags and 510 of message.
    pub const MAX_LINE: usize = MAX_TAGS + MAX_LINE - 2;

    /// What an IRC client hears when the server is full.
    pub const SERVER_FULL: &'static [u8] = b"ERROR :Server full, try again later\r\n";

    /// What an IRC client hears when its address holds as many connections
    /// as one may, or opened too many this second.
    pub const ADDRESS_LIMIT: &'static [u8] =
        b"ERROR :Too many connections from your host, try again later\r\n";

    /// What every IRC client hears when the server shuts down.
    pub const SHUTDOWN: &'static [u8] = b"ERROR :shutdown server: the chat is closing, goodbye\r\n";

    /// Whether the client has registered (and has a session in the core).
    pub fn is_registered(&self) -> bool {
        self.registered
    }

    /// A new client: it must register before anything else.
    pub fn handle_connect<I: Io>(peer: SocketAddr, ctx: &mut Ctx<'_, I>) -> IrcConn {
        let now = ctx.out.io.now();
        ctx.server.counters.arrived();
        debug!(conn = %ctx.conn, %peer, "irc client connected");
        ctx.out
            .io
            .set_timer(ctx.conn, later(now, registration_deadline(ctx)));
        IrcConn {
            peer,
            registered: false,
            nick: None,
            user: None,
            pass_ok: false,
            negotiating: false,
            cap_302: false,
            caps: Caps::default(),
            invisible: false,
            connected: now,
            keep_alive: KeepAlive::new(now),
            websocket: false,
            oper: false,
        }
    }

    /// Handles one line of input (or the report of an over-long one).
    pub fn handle_frame<I: Io>(&mut self, frame: Frame, ctx: &mut Ctx<'_, I>) {
        self.keep_alive.heard(ctx.out.io.now());
        let too_long = |me: &Self, ctx: &mut Ctx<'_, I>| {
            me.numeric(ctx, ERR_INPUTTOOLONG, &[], "Input line was too long")
        };
        let Ok(mut raw) = frame else {
            return too_long(self, ctx);
        };
        // NUL and a lone CR may not appear in an IRC message: relayed, they
        // would cut the line short for some clients, or pass for a line
        // break (and a forged server line) to others.
        raw.retain(|&b| b != 0 && b != b'\r');
        let line = String::from_utf8_lossy(&raw);
        let body = match line.strip_prefix('@') {
            Some(tagged) => match tagged.split_once(' ') {
                Some((tags, _)) if tags.len() + 2 > MAX_TAGS => return too_long(self, ctx),
                Some((_, body)) => body,
                None => "",
            },
            None => &line,
        };
        if body.len() > MAX_LINE - 2 {
            return too_long(self, ctx);
        }
        let Ok(message) = IrcMessage::parse(&line) else {
            return; // a blank line, or tags alone
        };
        let verb = upper(message.command);
        if self.registered {
            self.handle_command(&verb, &message, ctx);
        } else {
            self.handle_unregistered(&verb, &message, ctx);
        }
    }

    fn handle_unregistered<I: Io>(&mut self, verb: &str, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        match verb {
            "CAP" => self.cap(m, ctx),
            "PASS" => match m.param(0) {
                None => self.need_more_params(verb, ctx),
                Some(given) => {
                    let want = ctx.config.irc.password.as_deref();
                    self.pass_ok = want.is_none_or(|want| want == given);
                }
            },
            "NICK" => {
                let Some(nick) = self.check_nick(m, ctx) else {
                    return;
                };
                self.nick = Some(nick.to_string());
                self.try_register(ctx);
            }
            "USER" => {
                if m.params().len() < 4 {
                    return self.need_more_params(verb, ctx);
                }
                let user: String = (m.params()[0].chars())
                    .filter(|c| c.is_ascii_alphanumeric() || "_-.".contains(*c))
                    .take(16)
                    .collect();
                let user = if user.is_empty() { "user".into() } else { user };
                let realname = m.params()[3].chars().take(64).collect();
                self.user = Some((format!("~{user}"), realname));
                self.try_register(ctx);
            }
            "PING" => self.pong(m, ctx),
            "PONG" => {}
            "QUIT" => self.quit(m, ctx),
            _ => self.numeric(ctx, ERR_NOTREGISTERED, &[], "You have not registered"),
        }
    }

    /// The nick of a `NICK` command, if it is valid and free; otherwise
    /// says why not.
    pub(super) fn check_nick<'m, I: Io>(
        &self,
        m: &IrcMessage<'m>,
        ctx: &mut Ctx<'_, I>,
    ) -> Option<&'m str> {
        let Some(nick) = m.param(0).filter(|n| !n.is_empty()) else {
            self.numeric(ctx, ERR_NONICKNAMEGIVEN, &[], "No nickname given");
            return None;
        };
        if validate_nick(nick).is_err() {
            self.numeric(ctx, ERR_ERRONEUSNICKNAME, &[nick], "Erroneous nickname");
            return None;
        }
        let owner = ctx.core.find_nick(nick);
        if owner.is_some_and(|owner| owner != ctx.session()) {
            self.numeric(
                ctx,
                ERR_NICKNAMEINUSE,
                &[nick],
                "Nickname is already in use",
            );
            return None;
        }
        Some(nick)
    }

    /// Registers the session once `NICK`, `USER` (and `CAP END`, if
    /// negotiating) are in, then sends the welcome.
    fn try_register<I: Io>(&mut self, ctx: &mut Ctx<'_, I>) {
        if self.negotiating || self.nick.is_none() || self.user.is_none() {
            return;
        }
        if ctx.config.irc.password.is_some() && !self.pass_ok {
            self.numeric(ctx, ERR_PASSWDMISMATCH, &[], "Password incorrect");
            ctx.reply_str("ERROR :Closing Link: (Password incorrect)\r\n");
            return ctx.close(Leaving::Quit(None), CloseReason::Closed);
        }
        let nick = self.nick.take().expect("checked");
        let (user, realname) = self.user.as_ref().expect("checked");
        let registration = Registration {
            nick: Some(&nick),
            user,
            host: HOST,
            realname,
        };
        match ctx.register(registration) {
            Ok(_) => {}
            Err(ChatError::NickTaken(_)) => {
                return self.numeric(
                    ctx,
                    ERR_NICKNAMEINUSE,
                    &[&nick],
                    "Nickname is already in use",
                )
            }
            Err(_) => {
                return self.numeric(ctx, ERR_ERRONEUSNICKNAME, &[&nick], "Erroneous nickname")
            }
        }
        self.registered = true;
        (ctx.server.counters).registered_or_left(Some(ctx.core.session_count()));
        info!(conn = %ctx.conn, peer = %self.peer, %nick, front_end = "irc", "joined");
        self.sync_format(ctx);
        self.welcome(ctx);
    }

    /// `CAP LS|LIST|REQ|END`.
    pub(super) fn cap<I: Io>(&mut self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(sub) = m.param(0).filter(|s| !s.is_empty()).map(upper) else {
            return self.need_more_params("CAP", ctx);
        };
        let nick = self.client_nick(ctx);
        let server = &ctx.config.irc.server_name;
        let reply = |what: &str, caps: &str| server_line(server, "CAP", &[&nick, what], Some(caps));
        let line = match &*sub {
            "LS" => {
                self.negotiating |= !self.registered;
                let version = m.param(1).and_then(|v| v.parse::<u32>().ok());
                if version.is_some_and(|v| v >= 302) {
                    // IRCv3: cap-notify is implied by 302, and stays on.
                    self.cap_302 = true;
                    self.caps.0[Caps::CAP_NOTIFY] = true;
                }
                reply("LS", &CAPS.join(" "))
            }
            "LIST" => reply("LIST", &self.caps.enabled()),
            "REQ" => {
                self.negotiating |= !self.registered;
                let asked = m.param(1).unwrap_or("").trim();
                let mut caps = self.caps;
                let cap_302 = self.cap_302;
                let acceptable = asked.split_whitespace().all(|token| {
                    let (on, name) = match token.strip_prefix('-') {
                        Some(name) => (false, name),
                        None => (true, token),
                    };
                    let Some(i) = CAPS.iter().position(|c| *c == name) else {
                        return false;
                    };
                    caps.0[i] = on;
                    on || !(cap_302 && i == Caps::CAP_NOTIFY)
                });
                if acceptable {
                    self.caps = caps;
                    reply("ACK", asked)
                } else {
                    reply("NAK", asked)
                }
            }
            "END" => {
                self.negotiating = false;
                self.try_register(ctx);
                return;
            }
            _ => {
                let sub = m.param(0).unwrap_or("");
                return self.numeric(ctx, ERR_INVALIDCAPCMD, &[sub], "Invalid CAP command");
            }
        };
        ctx.reply_str(&line);
        if self.registered {
            self.sync_format(ctx);
        }
    }

    /// The format the client's capabilities call for.
    pub(super) fn tags(&self) -> IrcTags {
        IrcTags {
            server_time: self.caps.has(Caps::SERVER_TIME),
            message_tags: self.caps.has(Caps::MESSAGE_TAGS),
        }
    }

    fn sync_format<I: Io>(&self, ctx: &mut Ctx<'_, I>) {
        ctx.out
            .formats
            .set(ctx.conn, Format::irc(self.tags(), self.websocket), true);
    }

    /// `PING token` → `PONG`.
    pub(super) fn pong<I: Io>(&self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let Some(token) = m.param(0) else {
            return self.numeric(ctx, ERR_NOORIGIN, &[], "No origin specified");
        };
        let server = &ctx.config.irc.server_name;
        let line = server_line(server, "PONG", &[server], Some(token));
        ctx.reply_str(&line);
    }

    /// `QUIT [:reason]`.
    pub(super) fn quit<I: Io>(&self, m: &IrcMessage<'_>, ctx: &mut Ctx<'_, I>) {
        let reason = m.param(0).filter(|r| !r.is_empty());
        let why = reason.map_or_else(|| "Quit".to_string(), |r| format!("Quit: {r}"));
        let line = source_line(
            None,
            "ERROR",
            &[],
            Some(&format!("Closing Link: {HOST} ({why})")),
        );
        ctx.reply_str(&line);
        let reason = reason.map(|r| super::irc_commands::cut(r, TEXT_LEN).to_string());
        ctx.close(Leaving::Quit(reason), CloseReason::Closed);
    }

    /// Keep-alive: a client silent for the ping interval is sent a `PING`;
    /// one that then stays silent for the ping timeout is disconnected, and
    /// one that does not register within the handshake timeout is dropped.
    /// `holding_input`: lines of the client's are waiting for the rate
    /// limit, so it is not silent.
    pub fn handle_timer<I: Io>(&mut self, holding_input: bool, ctx: &mut Ctx<'_, I>) {
        let now = ctx.out.io.now();
        if holding_input {
            self.keep_alive.heard(now);
        }
        let (interval, timeout) = (ctx.config.irc.ping_interval, ctx.config.irc.ping_timeout);
        if !self.registered && now >= later(self.connected, registration_deadline(ctx)) {
            debug!(conn = %ctx.conn, peer = %self.peer, "registration timed out");
            ctx.reply_str("ERROR :Closing Link: (Registration timed out)\r\n");
            return ctx.close(Leaving::Quit(None), CloseReason::IdleTimeout);
        }
        let due = match self.keep_alive.poll(now, interval, timeout) {
            KeepAliveDue::Wait(due) => due,
            KeepAliveDue::Ping(due) => {
                let server = &ctx.config.irc.server_name;
                let line = source_line(None, "PING", &[], Some(server));
                ctx.reply_str(&line);
                return ctx.out.io.set_timer(ctx.conn, due);
            }
            KeepAliveDue::TimedOut(silent) => {
                let why = format!("Ping timeout: {} seconds", silent.as_secs());
                ctx.reply_str(&format!("ERROR :Closing Link: {HOST} ({why})\r\n"));
                return ctx.close(Leaving::PingTimeout(silent), CloseReason::IdleTimeout);
            }
        };
        let due = if self.registered {
            due
        } else {
            due.min(later(self.connected, registration_deadline(ctx)))
        };
        ctx.out.io.set_timer(ctx.conn, due);
    }

    /// The client's nick in replies: `*` before it has one.
    pub(super) fn client_nick<I: Io>(&self, ctx: &Ctx<'_, I>) -> String {
        match ctx.core.session(ctx.session()) {
            Some(session) => session.nick.clone(),
            None => self.nick.clone().unwrap_or_else(|| "*".to_string()),
        }
    }

    /// Sends numeric `code` with `params` after the client's nick, and
    /// `text` as the trailing parameter.
    pub(super) fn numeric<I: Io>(
        &self,
        ctx: &mut Ctx<'_, I>,
        code: &str,
        params: &[&str],
        text: &str,
    ) {
        let nick = self.client_nick(ctx);
        let mut all = Vec::with_capacity(params.len() + 1);
        all.push(nick.as_str());
        all.extend_from_slice(params);
        let line = server_line(&ctx.config.irc.server_name, code, &all, Some(text));
        ctx.reply_str(&line);
    }

    /// A numeric whose parameters are all middle ones.
    pub(super) fn numeric_params<I: Io>(&self, ctx: &mut Ctx<'_, I>, code: &str, params: &[&str]) {
        let nick = self.client_nick(ctx);
        let mut all = vec![nick.as_str()];
        all.extend_from_slice(params);
        let line = server_line(&ctx.config.irc.server_name, code, &all, None);
        ctx.reply_str(&line);
    }

    pub(super) fn need_more_params<I: Io>(&self, verb: &str, ctx: &mut Ctx<'_, I>) {
        self.numeric(ctx, ERR_NEEDMOREPARAMS, &[verb], "Not enough parameters");
    }
}

/// The command in upper case (clients may send any case).
pub(super) fn upper(command: &str) -> Cow<'_, str> {
    if command.bytes().any(|b| b.is_ascii_lowercase()) {
        Cow::Owned(command.to_ascii_uppercase())
    } else {
        Cow::Borrowed(command)
    }
}

/// How long a new client has to register: the handshake timeout, or the
/// ping interval if that is shorter (tests use short ones).
fn registration_deadline<I: Io>(ctx: &Ctx<'_, I>) -> std::time::Duration {
    ctx.config
        .handshake_timeout
        .min(ctx.config.irc.ping_interval)
}
