//! HTTP/1.1 requests to the web front-end, parsed with `httparse`: only
//! what it needs to serve its page and upgrade to a WebSocket.

/// Most header lines a request may have.
const MAX_HEADERS: usize = 32;

/// Longest request head accepted (request line and headers).
pub(crate) const MAX_HEAD: usize = 8192;

/// What the web front-end uses of a request.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The path, without its query string.
    pub path: String,
    /// HTTP/1.`minor`.
    pub minor: u8,
    /// `Host`.
    pub host: Option<String>,
    /// `Origin`: set by browsers on WebSocket upgrades.
    pub origin: Option<String>,
    /// `Upgrade: websocket`.
    pub upgrade_websocket: bool,
    /// `Connection` lists `upgrade`.
    pub connection_upgrade: bool,
    /// `Connection` lists `close` (or HTTP/1.0 without `keep-alive`).
    pub close: bool,
    /// `Sec-WebSocket-Key`.
    pub ws_key: Option<String>,
    /// `Sec-WebSocket-Version`.
    pub ws_version: Option<String>,
    /// `Sec-WebSocket-Protocol`, each offered subprotocol.
    pub ws_protocols: Vec<String>,
    /// A body follows (`Content-Length` above 0, or `Transfer-Encoding`).
    pub has_body: bool,
}

/// The outcome of parsing the start of a connection's input.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Parsed {
    /// The head is not complete yet.
    Partial,
    /// A request whose head took this many bytes.
    Complete(usize, Request),
    /// Not HTTP, or a head too large: answer with 400 or 431 and close.
    Invalid(InvalidRequest),
}

/// Why a request was refused before it was understood.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum InvalidRequest {
    /// Not a well-formed HTTP/1.x request head.
    Malformed,
    /// More header lines, or more bytes, than accepted.
    TooLarge,
}

/// Whether the comma-separated header value `list` holds `token`
/// (case-insensitively), as `Connection: keep-alive, Upgrade` does.
fn has_token(list: &str, token: &str) -> bool {
    list.split(',')
        .any(|t| t.trim().eq_ignore_ascii_case(token))
}

/// Parses the request head at the start of `input`.
pub(crate) fn parse(input: &[u8]) -> Parsed {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let n = match req.parse(input) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_HEAD => n,
        Ok(httparse::Status::Complete(_)) => return Parsed::Invalid(InvalidRequest::TooLarge),
        Ok(httparse::Status::Partial) if input.len() > MAX_HEAD => {
            return Parsed::Invalid(InvalidRequest::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(httparse::Error::TooManyHeaders) => return Parsed::Invalid(InvalidRequest::TooLarge),
        Err(_) => return Parsed::Invalid(InvalidRequest::Malformed),
    };
    let target = req.path.unwrap_or("/");
    let path = target.split(['?', '#']).next().unwrap_or("/");
    let minor = req.version.unwrap_or(0);
    let mut r = Request {
        method: req.method.unwrap_or_default().to_string(),
        path: path.to_string(),
        minor,
        close: minor == 0,
        ..Request::default()
    };
    for h in req.headers.iter() {
        // Header values that are not UTF-8 are treated as absent.
        let Ok(value) = std::str::from_utf8(h.value) else {
            continue;
        };
        let value = value.trim();
        let name = h.name;
        if name.eq_ignore_ascii_case("host") {
            r.host = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("origin") {
            r.origin = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("upgrade") {
            r.upgrade_websocket |= has_token(value, "websocket");
        } else if name.eq_ignore_ascii_case("connection") {
            r.connection_upgrade |= has_token(value, "upgrade");
            if has_token(value, "close") {
                r.close = true;
            } else if has_token(value, "keep-alive") {
                r.close = false;
            }
        } else if name.eq_ignore_ascii_case("sec-websocket-key") {
            r.ws_key = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("sec-websocket-version") {
            r.ws_version = Some(value.to_string());
        } else if name.eq_ignore_ascii_case("sec-websocket-protocol") {
            let offered = value.split(',').map(str::trim).filter(|p| !p.is_empty());
            r.ws_protocols.extend(offered.map(str::to_string));
        } else if name.eq_ignore_ascii_case("content-length") {
            r.has_body |= value != "0";
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            r.has_body = true;
        }
    }
    Parsed::Complete(n, r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_upgrade_request() {
        let head = b"GET /ws?x=1 HTTP/1.1\r\nHost: a:1\r\nUpgrade: WebSocket\r\n\
            Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: k\r\n\
            Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: a, text.ircv3.net\r\n\
            Origin: http://a:1\r\n\r\nrest";
        let Parsed::Complete(n, r) = parse(head) else {
            panic!("not parsed")
        };
        assert_eq!(&head[n..], b"rest");
        assert_eq!(r.path, "/ws");
        assert!(r.upgrade_websocket && r.connection_upgrade && !r.close);
        assert_eq!(r.ws_protocols, ["a", "text.ircv3.net"]);
        assert_eq!(r.origin.as_deref(), Some("http://a:1"));
    }

    #[test]
    fn partial_invalid_and_too_large() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: a"), Parsed::Partial);
        assert_eq!(
            parse(b"\x16\x03\x01\x02\x00\x01\r\n\r\n"),
            Parsed::Invalid(InvalidRequest::Malformed)
        );
        let mut big = b"GET / HTTP/1.1\r\nX: ".to_vec();
        big.resize(MAX_HEAD + 1, b'a');
        assert_eq!(parse(&big), Parsed::Invalid(InvalidRequest::TooLarge));
        let Parsed::Complete(_, r) = parse(b"GET / HTTP/1.0\r\n\r\n") else {
            panic!()
        };
        assert!(r.close);
    }
}
