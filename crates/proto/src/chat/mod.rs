//! The chat: one protocol-neutral core and a front-end per wire format.
//!
//! ```text
//!  bytes ─► ChatService: framing (LineCodec), rate limit (TokenBucket)
//!             │ lines                                      ▲ bytes, shared
//!             ▼                                            │
//!           front-ends: line (nc/telnet)  irc (RFC 2812)   │ render once
//!             │ Command                      ▲ Event       │ per format
//!             ▼                              │             │
//!           ChatCore: sessions, nicks, rooms, membership ──┘ (Delivery)
//! ```
//!
//! [`core`] owns who is where and checks every request against one set of
//! rules; [`line`](mod@line) and [`irc`] turn their protocols into core commands and
//! the core's events back into their protocols. [`ChatService`] is the
//! [`Service`](crate::Service) the reactor drives: it frames input, paces
//! each client with a [`TokenBucket`], and delivers events, rendering each
//! once per wire format and sharing the bytes among recipients.

mod chat_service;
pub mod core;
mod delivery;
pub mod irc;
mod keep_alive;
pub mod line;
mod line_codec;
mod names;
mod replica;
mod sanitize;
mod token_bucket;
pub mod web;

pub use self::core::ChatCore;
pub use chat_service::{ChatConfig, ChatService, FrontEnd, ServerCounters, LOBBY};
pub use line::TelnetFilter;
pub use line_codec::{Frame, LineCodec, LineTooLong};
pub use names::{name_key, parse_room, validate_nick, MAX_NAME};
pub use replica::Replica;
pub use sanitize::{sanitize, sanitize_str};
pub use token_bucket::{RateLimit, TokenBucket};
