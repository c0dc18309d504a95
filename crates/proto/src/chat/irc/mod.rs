//! The IRC front-end: the chat for IRC clients (irssi, WeeChat, HexChat,
//! bots), on the same rooms as everyone else: line room `lobby` is IRC
//! channel `#lobby`.
//!
//! Client protocol of RFC 2812 as the Modern IRC documentation describes
//! it, with the IRCv3 capabilities `cap-notify`, `echo-message`,
//! `message-tags`, `multi-prefix` and `server-time`. See docs/IRC.md.

mod irc_channels;
mod irc_commands;
mod irc_config;
mod irc_conn;
mod irc_message;
mod irc_messages;
mod irc_queries;
mod irc_render;
mod irc_welcome;
mod numeric;

pub(crate) use irc_commands::cut;
pub use irc_config::IrcConfig;
pub(crate) use irc_conn::IrcConn;
pub use irc_conn::{HOST, TEXT_LEN, VERSION};
pub use irc_message::{
    escape_tag_value, unescape_tag_value, write_message, IrcMessage, ParseError,
};
pub use irc_render::{quit_reason, render, IrcTags, MAX_LINE};

/// Most targets of one PRIVMSG, NOTICE, TAGMSG or KICK (`TARGMAX`): one
/// line from a client must not fan out without bound.
pub const MAX_TARGETS: usize = 4;

/// Most mode changes one MODE command makes (`MODES`), for the same reason.
pub const MAX_MODES: usize = 4;
