//! The chat room: the seed's `select()` chat server done properly.
//!
//! [`ChatService`] ties the pieces together: [`TelnetFilter`] strips telnet
//! negotiation, [`LineCodec`] frames lines within a length limit,
//! [`sanitize`] makes text safe for other terminals, [`TokenBucket`] paces
//! each client, and [`Rooms`] tracks who hears what.

mod chat_service;
mod command;
mod line_codec;
mod names;
mod rooms;
mod sanitize;
mod telnet_filter;
mod token_bucket;

pub use chat_service::{ChatConfig, ChatService, LOBBY};
pub use command::{parse, Command, Input};
pub use line_codec::{Frame, LineCodec, LineTooLong};
pub use names::{name_key, parse_room, validate_nick, CommandError, MAX_NAME};
pub use rooms::{Room, RoomId, Rooms};
pub use sanitize::sanitize;
pub use telnet_filter::TelnetFilter;
pub use token_bucket::{RateLimit, TokenBucket};
