//! The line front-end: the chat for `nc` and `telnet`.
//!
//! Input passes [`TelnetFilter`] (negotiation removed, `CR NUL` ends a
//! line), is framed into lines, [`sanitize`](crate::chat::sanitize)d and
//! [`parse`]d into a chat line or a `/` command, which becomes a core
//! command. Events come back as one text line each (see [`render`]).

mod line_command;
mod line_front_end;
mod line_render;
mod telnet_filter;

pub use line_command::{parse, Command, CommandError, Input};
pub(crate) use line_front_end::LineConn;
pub use line_front_end::{ADDRESS_LIMIT, SERVER_FULL, SHUTDOWN};
pub use line_render::{notice, quit_reason, render, turnover_text, Role};
pub use telnet_filter::TelnetFilter;
