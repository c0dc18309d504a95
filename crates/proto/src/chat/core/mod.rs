//! The chat core: sessions, nicks, rooms and membership, with no wire
//! format. Front-ends (`line`, `irc`) turn their protocol into
//! [`Command`]s and render the [`Event`]s that come back.

mod chat_core;
mod chat_error;
mod command;
mod entry;
mod event;
mod ids;
mod rooms;
mod session;
mod shard;
mod turnover;

pub use chat_core::{ChatCore, CoreSnapshot};
pub use chat_error::ChatError;
pub use command::{Command, MessageTarget};
pub use entry::{Entry, Leaving, Op, Returning, Undelivered};
pub use event::{
    Event, EventKind, EventSink, MessageKind, QuitReason, Recipients, ServerNews, Target,
};
pub use ids::{RoomId, RoomStamp, SessionId, Timestamp};
pub use rooms::{Room, RoomMode, Rooms, Topic};
pub use session::{Registration, Session, Source};
pub use shard::Shard;
pub use turnover::Turnover;
