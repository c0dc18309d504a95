//! The web front-end: an HTTP listener that serves the chat page (embedded
//! in the binary) and upgrades `GET /ws` to a WebSocket, over which a
//! browser speaks JSON (docs/PROTOCOL.md) or an IRC client IRC
//! (`text.ircv3.net`).
//!
//! ```text
//!  bytes ─► WebConn: HTTP (httparse) ──upgrade──► WsCodec (tungstenite)
//!                 │ page, 404, 405...                 │ text messages
//!                 ▼                                   ▼
//!              responses                JsonConn (JSON) or IrcConn (IRC)
//! ```

mod assets;
mod http_request;
mod http_response;
mod json_command;
mod json_conn;
mod json_render;
mod web_config;
mod web_conn;
mod web_socket;

pub(crate) use http_response::{ADDRESS_LIMIT, SERVER_FULL};
pub(crate) use json_render::render as json_render;
pub use web_config::{OriginRefusal, WebConfig};
pub use web_conn::IRC_SUBPROTOCOL;
pub(crate) use web_conn::{farewell, WebConn};
pub(crate) use web_socket::{close_frame, line_frames, text_frame};
