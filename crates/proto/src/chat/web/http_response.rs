//! The web front-end's HTTP responses: its page, and short plain-text
//! refusals. Every response carries the same security headers.

use std::io::Write;

/// The page may load only its own script, style sheet and icon, and open
/// sockets only to its own origin: no inline script, no remote origins.
pub(crate) const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
    style-src 'self'; img-src 'self' data:; connect-src 'self'; base-uri 'none'; \
    form-action 'none'; frame-ancestors 'none'";

/// A response's status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Status {
    /// 200.
    Ok,
    /// 400: not a request we understand.
    BadRequest,
    /// 403: an upgrade from an origin not allowed.
    Forbidden,
    /// 404.
    NotFound,
    /// 405: not `GET` or `HEAD`.
    MethodNotAllowed,
    /// 408: the request did not arrive in time.
    RequestTimeout,
    /// 426: `/ws` without a WebSocket upgrade, or another version of it.
    UpgradeRequired,
    /// 431: a request head too large.
    HeadersTooLarge,
}

impl Status {
    fn line(self) -> &'static str {
        match self {
            Status::Ok => "200 OK",
            Status::BadRequest => "400 Bad Request",
            Status::Forbidden => "403 Forbidden",
            Status::NotFound => "404 Not Found",
            Status::MethodNotAllowed => "405 Method Not Allowed",
            Status::RequestTimeout => "408 Request Timeout",
            Status::UpgradeRequired => "426 Upgrade Required",
            Status::HeadersTooLarge => "431 Request Header Fields Too Large",
        }
    }
}

/// One response, written by [`Response::write`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct Response<'a> {
    pub status: Status,
    pub content_type: &'a str,
    pub body: &'a [u8],
    /// Answering `HEAD`: the headers alone.
    pub head_only: bool,
    /// `Connection: close` (and the connection is closed after it).
    pub close: bool,
}

impl<'a> Response<'a> {
    /// A plain-text response saying `text`.
    pub fn text(status: Status, text: &'a str, close: bool) -> Self {
        Response {
            status,
            content_type: "text/plain; charset=utf-8",
            body: text.as_bytes(),
            head_only: false,
            close,
        }
    }

    /// Appends the response to `out`.
    pub fn write(&self, out: &mut Vec<u8>) {
        let extra = match self.status {
            Status::MethodNotAllowed => "Allow: GET, HEAD\r\n",
            Status::UpgradeRequired => "Upgrade: websocket\r\nSec-WebSocket-Version: 13\r\n",
            _ => "",
        };
        let connection = if self.close { "close" } else { "keep-alive" };
        // Writing to a Vec cannot fail.
        let _ = write!(
            out,
            "HTTP/1.1 {}\r\nServer: switchboard\r\nContent-Type: {}\r\nContent-Length: {}\r\n\
             Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\n\
             Content-Security-Policy: {CONTENT_SECURITY_POLICY}\r\nReferrer-Policy: no-referrer\r\n\
             {extra}Connection: {connection}\r\n\r\n",
            self.status.line(),
            self.content_type,
            self.body.len(),
        );
        if !self.head_only {
            out.extend_from_slice(self.body);
        }
    }
}

/// What a browser gets when the server is full (before any request: the
/// reactor sends it as the connection is refused).
pub(crate) const SERVER_FULL: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 29\r\nRetry-After: 10\r\n\
    Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n\
    server full, try again later\n";

/// What a browser gets when its address already holds as many connections
/// as one may, or opened too many this second.
pub(crate) const ADDRESS_LIMIT: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
    Content-Type: text/plain; charset=utf-8\r\nContent-Length: 56\r\nRetry-After: 10\r\n\
    Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\r\n\
    too many connections from your address, try again later\n";

/// The `101` that completes a WebSocket upgrade, with the accept key and
/// the chosen subprotocol, if any.
pub(crate) fn switching_protocols(accept: &str, protocol: Option<&str>, out: &mut Vec<u8>) {
    let _ = write!(
        out,
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\n"
    );
    if let Some(p) = protocol {
        let _ = write!(out, "Sec-WebSocket-Protocol: {p}\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_have_the_right_length() {
        for refusal in [SERVER_FULL, ADDRESS_LIMIT] {
            let text = std::str::from_utf8(refusal).unwrap();
            let (head, body) = text.split_once("\r\n\r\n").unwrap();
            assert!(head.contains(&format!("Content-Length: {}\r\n", body.len())));
        }
    }

    #[test]
    fn head_only_leaves_out_the_body() {
        let mut out = Vec::new();
        let mut r = Response::text(Status::NotFound, "no such page\n", false);
        r.head_only = true;
        r.write(&mut out);
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with("\r\n\r\n") && text.contains("Content-Length: 13\r\n"));
    }
}
