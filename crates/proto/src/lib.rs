//! Sans-IO protocol services for switchboard.
//!
//! Nothing in this crate touches a socket, reads a clock or starts a thread.
//! A [`Service`] is a state machine: the reactor (in `switchboard-net`) feeds
//! it events through `handle_*` methods and the service answers through an
//! [`Io`] handle (queue bytes, close a connection). That keeps every protocol
//! rule unit-testable in memory, as in quinn-proto or rustls' core.
//!
//! ```
//! use switchboard_proto::{ConnId, EchoService, Service, testing::MemoryIo};
//!
//! let mut echo = EchoService::default();
//! let mut io = MemoryIo::default();
//! let conn = ConnId(7);
//! echo.handle_data(conn, b"hello", &mut io);
//! assert_eq!(io.output(conn), b"hello");
//! ```
#![deny(missing_docs)]

mod bus;
pub mod chat;
mod close_reason;
mod conn_id;
mod deadline;
mod echo;
mod output_buffer;
mod service;
pub mod testing;

pub use bus::Bus;
pub use chat::{ChatConfig, ChatService, FrontEnd};
pub use close_reason::CloseReason;
pub use conn_id::ConnId;
pub use deadline::later;
pub use echo::EchoService;
pub use output_buffer::OutputBuffer;
pub use service::{Io, OutputLimits, OverflowPolicy, Service};
