//! One connection to the web listener: HTTP requests for the page until it
//! upgrades to a WebSocket, then a chat client speaking JSON or, with the
//! `text.ircv3.net` subprotocol, IRC.

use std::net::SocketAddr;
use std::time::Instant;

use tracing::{debug, info};
use tungstenite::handshake::derive_accept_key;
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::Utf8Bytes;

use crate::chat::chat_service::{charge_listing, take_token, Ctx};
use crate::chat::core::Leaving;
use crate::chat::delivery::Format;
use crate::chat::irc::{IrcConn, IrcTags};
use crate::chat::keep_alive::{later, KeepAlive, KeepAliveDue};
use crate::chat::token_bucket::TokenBucket;
use crate::chat::web::assets::asset;
use crate::chat::web::http_request::{parse, InvalidRequest, Parsed, Request};
use crate::chat::web::http_response::{switching_protocols, Response, Status};
use crate::chat::web::json_conn::JsonConn;
use crate::chat::web::web_socket::{close_frame, ping_frame, WsCodec, WsInput};
use crate::{CloseReason, Io};

/// The WebSocket subprotocol of IRCv3: one IRC line per text frame.
pub const IRC_SUBPROTOCOL: &str = "text.ircv3.net";

/// One web connection.
#[derive(Debug)]
pub(crate) struct WebConn {
    peer: SocketAddr,
    phase: Phase,
}

#[derive(Debug)]
enum Phase {
    /// Serving HTTP requests; closed if none completes by `deadline`.
    Http { deadline: Instant },
    /// Upgraded.
    WebSocket(Box<WebSocket>),
}

/// An upgraded connection: frames in, a chat client behind them.
#[derive(Debug)]
struct WebSocket {
    codec: WsCodec,
    /// A message read while the rate limit said wait.
    held: Option<Utf8Bytes>,
    client: Speaker,
}

/// What the client speaks over its WebSocket.
#[derive(Debug)]
enum Speaker {
    Json(JsonConn, KeepAlive),
    Irc(Box<IrcConn>),
}

/// Sends a close frame with `code` and `reason` to the connection being
/// served (its socket closes once that is out).
pub(crate) fn close_with<I: Io>(ctx: &mut Ctx<'_, I>, code: CloseCode, reason: &str) {
    let mut frame = Vec::new();
    close_frame(code, reason, &mut frame);
    ctx.out.io.send(ctx.conn, &frame);
}

/// Appends the close frame a WebSocket client (of `format`) gets when its
/// front-end ends its session for `leaving`; nothing for other clients,
/// or where the caller sent its own (a protocol error, the client's own
/// close).
pub(crate) fn farewell(format: Format, leaving: &Leaving, out: &mut Vec<u8>) {
    if !matches!(format, Format::Json | Format::WsIrc(_)) {
        return;
    }
    match leaving {
        Leaving::Quit(_) => close_frame(CloseCode::Normal, "bye", out),
        Leaving::PingTimeout(_) => close_frame(CloseCode::Error, "ping timeout", out),
        Leaving::Closed(_) | Leaving::ServerGone => {}
    }
}

impl WebConn {
    /// A new connection: it has the handshake timeout to send a request.
    pub fn handle_connect<I: Io>(peer: SocketAddr, ctx: &mut Ctx<'_, I>) -> WebConn {
        let deadline = later(ctx.out.io.now(), ctx.config.handshake_timeout);
        ctx.out.io.set_timer(ctx.conn, deadline);
        debug!(conn = %ctx.conn, %peer, "web client connected");
        WebConn {
            peer,
            phase: Phase::Http { deadline },
        }
    }

    /// Whether it speaks IRC and has not registered (IRC's `LUSERS` counts
    /// those).
    pub fn is_unregistered_irc(&self) -> bool {
        match &self.phase {
            Phase::WebSocket(ws) => matches!(&ws.client, Speaker::Irc(irc) if !irc.is_registered()),
            Phase::Http { .. } => false,
        }
    }

    /// Handles what `pending` holds, as far as the rate limit allows (one
    /// token per request or message); what is left waits in `pending`.
    pub fn process_input<I: Io>(
        &mut self,
        pending: &mut Vec<u8>,
        bucket: &mut Option<TokenBucket>,
        ctx: &mut Ctx<'_, I>,
    ) {
        let mut at = 0;
        while !ctx.is_leaving() {
            let (n, more) = match &mut self.phase {
                Phase::WebSocket(ws) => ws.read(&pending[at..], bucket, ctx),
                Phase::Http { .. } => match self.http(&pending[at..], bucket, ctx) {
                    Some(n) => (n, true),
                    None => (0, false),
                },
            };
            at += n;
            if !more {
                break;
            }
        }
        pending.drain(..at);
    }

    /// Serves the request at the start of `input`, if it is complete:
    /// how many bytes it took, or `None` to wait for more.
    fn http<I: Io>(
        &mut self,
        input: &[u8],
        bucket: &mut Option<TokenBucket>,
        ctx: &mut Ctx<'_, I>,
    ) -> Option<usize> {
        let (n, request) = match parse(input) {
            Parsed::Partial => return None,
            Parsed::Complete(n, request) => (n, request),
            Parsed::Invalid(why) => {
                let (status, text) = match why {
                    InvalidRequest::Malformed => (Status::BadRequest, "not an HTTP request\n"),
                    InvalidRequest::TooLarge => (Status::HeadersTooLarge, "request too large\n"),
                };
                info!(conn = %ctx.conn, peer = %self.peer, ?why, "bad HTTP request");
                self.respond(Response::text(status, text, true), ctx);
                return None;
            }
        };
        if !take_token(bucket, ctx) {
            return None;
        }
        // The next request (or the upgrade's first frame) has its own time.
        let deadline = later(ctx.out.io.now(), ctx.config.handshake_timeout);
        self.phase = Phase::Http { deadline };
        ctx.out.io.set_timer(ctx.conn, deadline);
        self.handle_request(&request, ctx);
        Some(n)
    }

    /// Answers one request: the page, an upgrade, or a refusal.
    fn handle_request<I: Io>(&mut self, r: &Request, ctx: &mut Ctx<'_, I>) {
        let head_only = r.method == "HEAD";
        if r.method != "GET" && !head_only {
            let text = "only GET and HEAD\n";
            self.respond(Response::text(Status::MethodNotAllowed, text, true), ctx);
        } else if r.has_body {
            let text = "no body here\n";
            self.respond(Response::text(Status::BadRequest, text, true), ctx);
        } else if r.path == "/ws" {
            self.upgrade(r, ctx);
        } else {
            let (status, page) = match asset(&r.path) {
                Some(page) => (Status::Ok, page),
                None => {
                    debug!(conn = %ctx.conn, path = ?r.path, "404");
                    let page = Response::text(Status::NotFound, "no such page\n", r.close);
                    return self.respond(page, ctx);
                }
            };
            let response = Response {
                status,
                content_type: page.content_type,
                body: page.body,
                head_only,
                close: r.close,
            };
            self.respond(response, ctx);
        }
    }

    /// Sends `response`, then closes the connection if it says so.
    fn respond<I: Io>(&mut self, response: Response<'_>, ctx: &mut Ctx<'_, I>) {
        let mut out = Vec::new();
        response.write(&mut out);
        ctx.out.io.send(ctx.conn, &out);
        if response.close {
            let reason = match response.status {
                Status::Ok | Status::NotFound => CloseReason::Closed,
                Status::RequestTimeout => CloseReason::IdleTimeout,
                _ => CloseReason::ProtocolError,
            };
            ctx.close(Leaving::Closed(reason), reason);
        }
    }

    /// Completes a WebSocket upgrade (RFC 6455 section 4.2), or refuses it.
    fn upgrade<I: Io>(&mut self, r: &Request, ctx: &mut Ctx<'_, I>) {
        let refuse = |status, text| Response::text(status, text, true);
        if !(r.upgrade_websocket && r.connection_upgrade) {
            let text = "this is a WebSocket endpoint\n";
            return self.respond(Response::text(Status::UpgradeRequired, text, r.close), ctx);
        }
        if r.ws_version.as_deref() != Some("13") {
            let text = "WebSocket version 13 only\n";
            return self.respond(refuse(Status::UpgradeRequired, text), ctx);
        }
        let key = r.ws_key.as_deref().unwrap_or_default();
        // The key is 16 bytes in base64: 24 characters.
        if r.minor < 1 || r.host.is_none() || key.len() != 24 || r.method != "GET" {
            let text = "not a valid WebSocket upgrade\n";
            return self.respond(refuse(Status::BadRequest, text), ctx);
        }
        let (origin, host) = (r.origin.as_deref(), r.host.as_deref());
        if let Err(why) = ctx.config.web.check_origin(origin, host, self.peer.ip()) {
            info!(conn = %ctx.conn, peer = %self.peer, ?origin, ?host, "WebSocket refused: {why}");
            let text = format!("{why}\n");
            return self.respond(refuse(Status::Forbidden, &text), ctx);
        }
        let irc = r.ws_protocols.iter().any(|p| p == IRC_SUBPROTOCOL);
        let mut out = Vec::new();
        let accept = derive_accept_key(key.as_bytes());
        switching_protocols(&accept, irc.then_some(IRC_SUBPROTOCOL), &mut out);
        ctx.out.io.send(ctx.conn, &out);
        let format = if irc {
            Format::WsIrc(IrcTags::default())
        } else {
            Format::Json
        };
        ctx.out.formats.set(ctx.conn, format, true);
        debug!(conn = %ctx.conn, peer = %self.peer, irc, "WebSocket open");
        let (client, max_message) = if irc {
            let mut conn = IrcConn::handle_connect(self.peer, ctx);
            conn.websocket = true;
            (Speaker::Irc(Box::new(conn)), IrcConn::MAX_LINE)
        } else {
            let now = ctx.out.io.now();
            let ping = later(now, ctx.config.irc.ping_interval);
            ctx.out.io.set_timer(ctx.conn, ping);
            let json = JsonConn::handle_connect(self.peer, ctx);
            (
                Speaker::Json(json, KeepAlive::new(now)),
                ctx.config.max_line,
            )
        };
        self.phase = Phase::WebSocket(Box::new(WebSocket {
            codec: WsCodec::new(max_message),
            held: None,
            client,
        }));
    }

    /// The connection's timer: the handshake deadline, then keep-alive.
    /// `holding_input`: input waits for the rate limit (the client talks).
    pub fn handle_timer<I: Io>(&mut self, holding_input: bool, ctx: &mut Ctx<'_, I>) {
        let now = ctx.out.io.now();
        let ws = match &mut self.phase {
            Phase::Http { deadline } if now < *deadline => {
                return ctx.out.io.set_timer(ctx.conn, *deadline);
            }
            // Half a request: say why it is closed. An idle keep-alive
            // connection is closed without a word: an unasked-for 408 could
            // be taken for the answer to a request crossing it.
            Phase::Http { .. } if holding_input => {
                debug!(conn = %ctx.conn, peer = %self.peer, "no whole request in time");
                let text = "no request in time\n";
                self.respond(Response::text(Status::RequestTimeout, text, true), ctx);
                return;
            }
            Phase::Http { .. } => {
                debug!(conn = %ctx.conn, peer = %self.peer, "idle: closed");
                let reason = CloseReason::IdleTimeout;
                return ctx.close(Leaving::Closed(reason), reason);
            }
            Phase::WebSocket(ws) => ws,
        };
        let holding_input = holding_input || ws.held.is_some();
        match &mut ws.client {
            Speaker::Irc(irc) => irc.handle_timer(holding_input, ctx),
            Speaker::Json(_, keep_alive) => {
                if holding_input {
                    keep_alive.heard(now);
                }
                let irc = &ctx.config.irc;
                match keep_alive.poll(now, irc.ping_interval, irc.ping_timeout) {
                    KeepAliveDue::Wait(due) => ctx.out.io.set_timer(ctx.conn, due),
                    KeepAliveDue::Ping(due) => {
                        let mut ping = Vec::new();
                        ping_frame(&mut ping);
                        ctx.out.io.send(ctx.conn, &ping);
                        ctx.out.io.set_timer(ctx.conn, due);
                    }
                    KeepAliveDue::TimedOut(silent) => {
                        debug!(conn = %ctx.conn, ?silent, "WebSocket ping timeout");
                        ctx.close(Leaving::PingTimeout(silent), CloseReason::IdleTimeout);
                    }
                }
            }
        }
    }

    /// Whether the connection is an upgraded WebSocket, and if so whether
    /// it speaks IRC.
    pub fn websocket(&self) -> Option<bool> {
        match &self.phase {
            Phase::WebSocket(ws) => Some(matches!(ws.client, Speaker::Irc(_))),
            Phase::Http { .. } => None,
        }
    }
}

impl WebSocket {
    /// Reads and handles the next message in `input`: how many bytes it
    /// took (the codec keeps what it has not parsed yet), and whether to go
    /// on (false: wait for more input, or for the rate limit).
    fn read<I: Io>(
        &mut self,
        input: &[u8],
        bucket: &mut Option<TokenBucket>,
        ctx: &mut Ctx<'_, I>,
    ) -> (usize, bool) {
        let (n, text) = match self.held.take() {
            Some(text) => (0, text),
            None => {
                let mut replies = Vec::new();
                let (n, read) = self.codec.read(input, &mut replies);
                if !replies.is_empty() {
                    ctx.out.io.send(ctx.conn, &replies);
                }
                match read {
                    WsInput::Text(text) => (n, text),
                    WsInput::Control => {
                        self.heard(ctx);
                        return (n, true);
                    }
                    WsInput::NeedMore => return (n, false),
                    WsInput::Closed => {
                        debug!(conn = %ctx.conn, "WebSocket closed by the client");
                        let r = CloseReason::PeerClosed;
                        ctx.close(Leaving::Closed(r), r);
                        return (n, false);
                    }
                    WsInput::Fail(code, why) => {
                        info!(conn = %ctx.conn, code = u16::from(code), why, "WebSocket closed");
                        close_with(ctx, code, why);
                        let r = CloseReason::ProtocolError;
                        ctx.close(Leaving::Closed(r), r);
                        return (n, false);
                    }
                }
            }
        };
        if !take_token(bucket, ctx) {
            self.held = Some(text);
            return (n, false);
        }
        self.heard(ctx);
        match &mut self.client {
            Speaker::Json(json, _) => json.handle_text(&text, ctx),
            Speaker::Irc(irc) => irc.handle_frame(Ok(text.as_bytes().to_vec()), ctx),
        }
        (n, charge_listing(bucket, ctx))
    }

    fn heard<I: Io>(&mut self, ctx: &Ctx<'_, I>) {
        if let Speaker::Json(_, keep_alive) = &mut self.client {
            keep_alive.heard(ctx.out.io.now());
        }
    }
}
