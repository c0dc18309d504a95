//! `switchboard chat`'s web front-end as browsers and WebSocket clients
//! meet it: the real binary on 127.0.0.1:0, raw HTTP and raw RFC 6455
//! frames over TCP (so that bad frames can be sent too). The page and its
//! headers, the upgrade and its `Origin` check, the JSON protocol
//! (docs/PROTOCOL.md) and the IRCv3 subprotocol beside line and IRC users,
//! and every kind of bad input. Every wait has a deadline.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use support::*;

/// No rate limit: these tests check replies, not pacing.
const FAST: &[&str] = &["--rate-limit", "0"];

/// A chat server with every front-end on a free port, and their addresses.
struct Chat {
    server: Server,
    line: SocketAddr,
    irc: SocketAddr,
    web: SocketAddr,
}

fn chat(extra: &[&str]) -> Chat {
    let mut args = CHAT.to_vec();
    args.extend(extra);
    let mut server = Server::start(&args);
    let (line, irc, web) = (
        server.addr,
        server.listening_addr("irc"),
        server.listening_addr("web"),
    );
    Chat {
        server,
        line,
        irc,
        web,
    }
}

// --- HTTP --------------------------------------------------------------------

/// One HTTP response: status line, headers (names lower-cased), body.
#[derive(Debug)]
struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        (self.headers.iter())
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads one response (`head_only`: a reply to HEAD, no body).
fn read_response(r: &mut impl BufRead, head_only: bool) -> Response {
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    let status = (line.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a status line: {line:?}"));
    let mut headers = Vec::new();
    loop {
        line.clear();
        r.read_line(&mut line).unwrap();
        let l = line.trim_end();
        if l.is_empty() {
            break;
        }
        let (n, v) = l.split_once(':').expect("a header");
        headers.push((n.to_ascii_lowercase(), v.trim().to_string()));
    }
    let mut response = Response {
        status,
        headers,
        body: Vec::new(),
    };
    let len: usize = response
        .header("content-length")
        .map_or(0, |v| v.parse().unwrap());
    if !head_only && status != 101 {
        response.body = vec![0; len];
        r.read_exact(&mut response.body).unwrap();
    }
    response
}

/// Sends `request` on a new connection and reads the response.
fn http(addr: SocketAddr, request: &str) -> Response {
    let mut s = connect(addr);
    s.write_all(request.as_bytes()).unwrap();
    read_response(&mut BufReader::new(s), request.starts_with("HEAD"))
}

/// Whether the server closed `s` (EOF or reset) before the deadline.
fn closed(mut s: impl Read) -> bool {
    let mut buf = [0; 4096];
    let end = Instant::now() + DEADLINE;
    while Instant::now() < end {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => return true,
            Ok(_) => {}
        }
    }
    false
}

#[test]
fn serves_the_page_and_its_files_with_security_headers() {
    let c = chat(&[]);
    let page = http(c.web, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(page.status, 200);
    assert_eq!(
        page.header("content-type"),
        Some("text/html; charset=utf-8")
    );
    let csp = page.header("content-security-policy").unwrap();
    for directive in [
        "default-src 'none'",
        "script-src 'self'",
        "connect-src 'self'",
    ] {
        assert!(csp.contains(directive), "{csp}");
    }
    assert!(!csp.contains("unsafe") && !csp.contains("http"), "{csp}");
    assert_eq!(page.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let html = String::from_utf8(page.body.clone()).unwrap();
    assert!(html.contains("app.js") && html.contains("app.css"));
    assert!(!html.contains("<script>"), "no inline script");
    for (path, kind) in [
        ("/app.js", "text/javascript"),
        ("/app.css", "text/css"),
        ("/favicon.svg", "image/svg+xml"),
    ] {
        let r = http(
            c.web,
            &format!("GET {path}?v=1 HTTP/1.1\r\nHost: x\r\n\r\n"),
        );
        assert_eq!(r.status, 200, "{path}");
        assert!(r.header("content-type").unwrap().starts_with(kind));
        assert!(!r.body.is_empty());
    }
    let head = http(c.web, "HEAD / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(head.status, 200);
    let len = page.body.len().to_string();
    assert_eq!(head.header("content-length"), Some(len.as_str()));
    let missing = http(c.web, "GET /etc/passwd HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(missing.status, 404);
    assert_eq!(missing.header("x-content-type-options"), Some("nosniff"));
    let post = http(
        c.web,
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi",
    );
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));
}

#[test]
fn keeps_a_connection_alive_for_pipelined_requests() {
    let c = chat(&[]);
    let mut s = connect(c.web);
    let two = "GET /app.css HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n";
    s.write_all(two.as_bytes()).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    assert_eq!(read_response(&mut r, false).status, 200);
    assert_eq!(read_response(&mut r, false).status, 404);
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let last = read_response(&mut r, false);
    assert_eq!(
        (last.status, last.header("connection")),
        (200, Some("close"))
    );
    assert!(closed(r), "closed after Connection: close");
}

#[test]
fn refuses_what_is_not_http_or_too_big_and_stays_up() {
    let c = chat(&["--handshake-timeout", "300ms"]);
    let garbage = http(c.web, "\x16\x03\x01\x00\x05hello\r\n\r\n");
    assert_eq!(garbage.status, 400);
    let big = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "a".repeat(9000));
    assert_eq!(http(c.web, &big).status, 431);
    // A client that never finishes its request is closed at the deadline,
    // told so if it is listening.
    let mut slow = connect(c.web);
    slow.write_all(b"GET / HTTP/1.1\r\nHost:").unwrap();
    let r = read_response(&mut BufReader::new(slow.try_clone().unwrap()), false);
    assert_eq!(r.status, 408);
    assert!(closed(slow));
    // A silent one is closed without a word (an idle keep-alive
    // connection must not get a 408 it could take for another answer).
    let mut silent = connect(c.web);
    let mut got = Vec::new();
    silent.read_to_end(&mut got).unwrap();
    assert!(got.is_empty(), "{:?}", String::from_utf8_lossy(&got));
    assert_eq!(http(c.web, "GET / HTTP/1.1\r\n\r\n").status, 200);
}

// --- WebSocket ---------------------------------------------------------------

/// The upgrade request for `/ws` with extra header lines.
fn upgrade_request(host: &str, extra: &str) -> String {
    format!(
        "GET /ws HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n{extra}\r\n"
    )
}

/// A WebSocket client that writes raw frames, to send bad ones too.
struct Ws {
    s: TcpStream,
    r: BufReader<TcpStream>,
}

/// One frame from the server.
#[derive(Debug, PartialEq, Eq)]
struct Frame {
    fin: bool,
    opcode: u8,
    payload: Vec<u8>,
}

impl Ws {
    /// Connects and upgrades with `extra` header lines; panics unless the
    /// server answers 101 with the RFC's accept key.
    fn open(addr: SocketAddr, extra: &str) -> (Ws, Response) {
        let s = connect(addr);
        let mut ws = Ws {
            r: BufReader::new(s.try_clone().unwrap()),
            s,
        };
        ws.s.write_all(upgrade_request(&addr.to_string(), extra).as_bytes())
            .unwrap();
        let r = read_response(&mut ws.r, true);
        assert_eq!(r.status, 101, "{r:?}");
        // RFC 6455 section 1.3's example key and answer.
        assert_eq!(
            r.header("sec-websocket-accept"),
            Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        );
        (ws, r)
    }

    /// A JSON client, registered as `nick` (its welcome and lobby join
    /// read).
    fn json(addr: SocketAddr, nick: &str) -> Ws {
        let (mut ws, _) = Ws::open(addr, "");
        assert_eq!(ws.recv_json()["type"], "hello");
        ws.send_json(json!({"type": "nick", "nick": nick}));
        assert_eq!(ws.recv_json(), json!({"type": "welcome", "nick": nick}));
        ws.expect_json("my join", |v| v["type"] == "join" && v["nick"] == nick);
        ws.expect_json("names", |v| v["type"] == "names");
        ws
    }

    /// Sends a frame, masked as a client must unless `masked` is false.
    fn send_frame(&mut self, fin: bool, opcode: u8, payload: &[u8], masked: bool) {
        let mut f = vec![u8::from(fin) << 7 | opcode];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n @ 0..=125 => f.push(mask_bit | n as u8),
            n @ 126..=0xffff => {
                f.push(mask_bit | 126);
                f.extend((n as u16).to_be_bytes());
            }
            n => {
                f.push(mask_bit | 127);
                f.extend((n as u64).to_be_bytes());
            }
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        if masked {
            f.extend(key);
            f.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            f.extend(payload);
        }
        self.s.write_all(&f).unwrap();
    }

    fn send_text(&mut self, text: &str) {
        self.send_frame(true, 1, text.as_bytes(), true);
    }

    fn send_json(&mut self, v: Value) {
        self.send_text(&v.to_string());
    }

    /// The next frame (server frames are never masked).
    fn recv(&mut self) -> Frame {
        let mut head = [0; 2];
        self.r.read_exact(&mut head).expect("a frame");
        assert_eq!(head[1] & 0x80, 0, "server frames are not masked");
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0; 2];
                self.r.read_exact(&mut b).unwrap();
                u16::from_be_bytes(b) as usize
            }
            127 => {
                let mut b = [0; 8];
                self.r.read_exact(&mut b).unwrap();
                u64::from_be_bytes(b) as usize
            }
            n => n as usize,
        };
        let mut payload = vec![0; len];
        self.r.read_exact(&mut payload).unwrap();
        Frame {
            fin: head[0] & 0x80 != 0,
            opcode: head[0] & 0x0f,
            payload,
        }
    }

    /// The next text frame, as text (pings are skipped).
    fn recv_text(&mut self) -> String {
        loop {
            let f = self.recv();
            match f.opcode {
                1 => return String::from_utf8(f.payload).expect("UTF-8"),
                9 => continue,
                _ => panic!("expected text, got {f:?}"),
            }
        }
    }

    fn recv_json(&mut self) -> Value {
        serde_json::from_str(&self.recv_text()).expect("JSON")
    }

    /// Reads JSON messages until one satisfies `wanted`, and returns it.
    fn expect_json(&mut self, what: &str, wanted: impl Fn(&Value) -> bool) -> Value {
        let mut seen = Vec::new();
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end {
            let v = self.recv_json();
            if wanted(&v) {
                return v;
            }
            seen.push(v);
        }
        panic!("no {what}; got {seen:?}");
    }

    /// The close frame's code and reason, reading past anything before it.
    fn expect_close(&mut self) -> (u16, String) {
        loop {
            let f = self.recv();
            if f.opcode == 8 {
                let code = u16::from_be_bytes([f.payload[0], f.payload[1]]);
                return (code, String::from_utf8(f.payload[2..].to_vec()).unwrap());
            }
        }
    }
}

/// A line-protocol client: lines in, lines out.
struct Line {
    s: TcpStream,
    r: BufReader<TcpStream>,
}

impl Line {
    fn connect(addr: SocketAddr) -> Line {
        let s = connect(addr);
        let mut l = Line {
            r: BufReader::new(s.try_clone().unwrap()),
            s,
        };
        l.expect("the welcome", "welcome to switchboard");
        l
    }

    fn send(&mut self, line: &str) {
        self.s.write_all(format!("{line}\n").as_bytes()).unwrap();
    }

    fn expect(&mut self, what: &str, needle: &str) -> String {
        let mut seen = Vec::new();
        loop {
            let mut line = String::new();
            let n = self.r.read_line(&mut line).unwrap();
            assert!(n > 0, "EOF waiting for {what}; got {seen:?}");
            if line.contains(needle) {
                return line;
            }
            seen.push(line);
        }
    }
}

#[test]
fn the_upgrade_checks_the_origin() {
    let c = chat(&[]);
    let host = c.web.to_string();
    let own = format!("Origin: http://{host}\r\n");
    Ws::open(c.web, &own);
    Ws::open(c.web, ""); // not a browser: no Origin
    let other = http(
        c.web,
        &upgrade_request(&host, "Origin: http://evil.example\r\n"),
    );
    assert_eq!(other.status, 403);
    // A site whose name its owner pointed at 127.0.0.1 (DNS rebinding):
    // to the browser, the page's own origin; to the server, a name over
    // loopback that it cannot vouch for. It says what to do if it is meant.
    let port = c.web.port();
    let rebound = format!("evil.example:{port}");
    let refused = http(
        c.web,
        &upgrade_request(&rebound, &format!("Origin: http://{rebound}\r\n")),
    );
    assert_eq!(refused.status, 403);
    let why = String::from_utf8_lossy(&refused.body);
    assert!(
        why.contains(&format!("--web-origin http://{rebound}")),
        "{why}"
    );
    let local = format!("localhost:{port}");
    let own = http(
        c.web,
        &upgrade_request(&local, &format!("Origin: http://{local}\r\n")),
    );
    assert_eq!(own.status, 101, "localhost is this machine's");
    let listed = chat(&["--web-origin", "https://chat.example"]);
    let host = listed.web.to_string();
    Ws::open(listed.web, "Origin: https://chat.example\r\n");
    // A proxy on this machine, passing the name it serves.
    let proxied = http(
        listed.web,
        &upgrade_request("chat.example", "Origin: https://chat.example\r\n"),
    );
    assert_eq!(proxied.status, 101);
    let own = http(
        listed.web,
        &upgrade_request(&host, &format!("Origin: http://{host}\r\n")),
    );
    assert_eq!(own.status, 403, "a list replaces the default");
}

#[test]
fn refuses_upgrades_that_are_not_rfc_6455() {
    let c = chat(&[]);
    let plain = http(c.web, "GET /ws HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(plain.status, 426);
    let old = upgrade_request("x", "").replace("Version: 13", "Version: 8");
    let old = http(c.web, &old);
    assert_eq!(old.status, 426);
    assert_eq!(old.header("sec-websocket-version"), Some("13"));
    let no_key = upgrade_request("x", "").replace("dGhlIHNhbXBsZSBub25jZQ==", "short");
    assert_eq!(http(c.web, &no_key).status, 400);
}

#[test]
fn web_line_and_irc_users_share_the_lobby() {
    let c = chat(FAST);
    let mut alice = Ws::json(c.web, "alice");
    let mut nc = Line::connect(c.line);
    let (mut irc, _) = Ws::open(c.web, "Sec-WebSocket-Protocol: text.ircv3.net\r\n");
    for line in ["NICK ivy", "USER i 0 * :Ivy", "JOIN #lobby"] {
        irc.send_text(line);
    }
    let join = alice.expect_json("ivy's join", |v| v["type"] == "join" && v["nick"] == "ivy");
    assert!(join["seq"].as_u64().unwrap() > 0 && join["time"].as_u64().unwrap() > 0);
    nc.expect("ivy's join", "ivy");

    // Web to everyone: the sender gets its own line back, stamped.
    alice.send_json(
        json!({"type": "message", "to": "#lobby", "text": "<img src=x onerror=alert(1)>"}),
    );
    let echo = alice.expect_json("the echo", |v| v["type"] == "message");
    assert_eq!(echo["from"], "alice");
    assert_eq!(echo["text"], "<img src=x onerror=alert(1)>");
    assert_eq!(
        echo["seq"].as_u64(),
        Some(join["seq"].as_u64().unwrap() + 1)
    );
    nc.expect("the web line", "<alice> <img src=x onerror=alert(1)>");
    let mut got = String::new();
    while !got.contains(" PRIVMSG #lobby") {
        got = irc.recv_text();
        assert!(!got.ends_with('\n'), "a frame per line, no line ending");
    }
    assert_eq!(
        got,
        ":alice!~web@web PRIVMSG #lobby :<img src=x onerror=alert(1)>"
    );

    // Line and IRC to web.
    nc.send("from the terminal");
    let m = alice.expect_json("nc's line", |v| v["type"] == "message");
    assert_eq!(m["text"], "from the terminal");
    assert!(m["from"].as_str().unwrap().starts_with("guest"));
    irc.send_text("PRIVMSG #lobby :\u{1}ACTION waves\u{1}");
    let act = alice.expect_json("ivy's action", |v| v["type"] == "message");
    assert_eq!(
        (act["kind"].as_str(), act["from"].as_str()),
        (Some("act"), Some("ivy"))
    );

    // Private messages both ways, a nick change, names, rooms, errors.
    alice.send_json(json!({"type": "message", "to": "ivy", "text": "psst"}));
    let echo = alice.expect_json("the echo", |v| v["type"] == "message");
    assert_eq!((echo["to"].as_str(), echo.get("seq")), (Some("ivy"), None));
    while !irc.recv_text().contains("PRIVMSG ivy :psst") {}
    irc.send_text("PRIVMSG alice :back");
    let pm = alice.expect_json("ivy's reply", |v| v["type"] == "message");
    assert_eq!(
        (pm["to"].as_str(), pm["text"].as_str()),
        (Some("alice"), Some("back"))
    );
    alice.send_json(json!({"type": "nick", "nick": "alicia"}));
    let nick = alice.expect_json("own nick change", |v| v["type"] == "nick");
    assert_eq!(
        (nick["nick"].as_str(), nick["new"].as_str()),
        (Some("alice"), Some("alicia"))
    );
    assert_eq!(nick["rooms"][0]["room"], "#lobby");
    nc.expect("the nick change", "alicia");
    alice.send_json(json!({"type": "names", "room": "lobby"}));
    let names = alice.expect_json("names", |v| v["type"] == "names");
    let nicks: Vec<&str> = (names["members"].as_array().unwrap().iter())
        .map(|m| m.as_str().unwrap())
        .collect();
    assert_eq!(nicks.len(), 3);
    assert!(nicks.contains(&"alicia") && nicks.contains(&"ivy"));
    assert_eq!(names["ops"], json!(["alicia"]), "the lobby's first member");
    alice.send_json(json!({"type": "join", "room": "rust"}));
    alice.expect_json("the join", |v| v["type"] == "join" && v["room"] == "#rust");
    alice.send_json(json!({"type": "rooms"}));
    let rooms = alice.expect_json("rooms", |v| v["type"] == "rooms");
    assert_eq!(rooms["rooms"].as_array().unwrap().len(), 2);
    alice.send_json(json!({"type": "message", "to": "nobody", "text": "x", "id": 7}));
    let e = alice.expect_json("an error", |v| v["type"] == "error");
    assert_eq!(
        (e["code"].as_str(), e["id"].as_u64()),
        (Some("no_such_nick"), Some(7))
    );
    alice.send_json(json!({"type": "message", "to": "#lobby", "text": "two\nlines"}));
    let e = alice.expect_json("an error", |v| v["type"] == "error");
    assert_eq!(e["code"], "bad_request");
    alice.send_text("{not json");
    assert_eq!(
        alice.expect_json("an error", |v| v["type"] == "error")["code"],
        "bad_request"
    );
    alice.send_json(json!({"type": "frobnicate"}));
    let e = alice.expect_json("an error", |v| v["type"] == "error");
    assert_eq!(e["code"], "unknown_command");

    // A nick that is taken, commands before registering.
    let (mut bob, _) = Ws::open(c.web, "");
    bob.recv_json();
    bob.send_json(json!({"type": "rooms"}));
    assert_eq!(bob.recv_json()["code"], "register_first");
    bob.send_json(json!({"type": "nick", "nick": "IVY"}));
    assert_eq!(bob.recv_json()["code"], "nick_taken");

    // Quit: a normal close, and the others are told.
    alice.send_json(json!({"type": "quit", "reason": "off"}));
    assert_eq!(alice.expect_close(), (1000, "bye".to_string()));
    nc.expect("the quit", "alicia");
    assert!(closed(alice.r));
}

#[test]
fn the_irc_subprotocol_speaks_irc_one_line_per_frame() {
    let c = chat(FAST);
    let (mut ws, r) = Ws::open(c.web, "Sec-WebSocket-Protocol: x, text.ircv3.net\r\n");
    assert_eq!(r.header("sec-websocket-protocol"), Some("text.ircv3.net"));
    ws.send_text("NICK wes");
    ws.send_text("USER w 0 * :Wes");
    assert!(ws
        .recv_text()
        .starts_with(":switchboard.local 001 wes :Welcome"));
    ws.send_text("PING :tok");
    while ws.recv_text() != ":switchboard.local PONG switchboard.local :tok" {}
    // An IRC client on the IRC port sees the same chat.
    let mut tcp = connect(c.irc);
    tcp.write_all(b"NICK tim\r\nUSER t 0 * :T\r\nJOIN #lobby\r\n")
        .unwrap();
    let mut r = BufReader::new(tcp.try_clone().unwrap());
    let mut line = String::new();
    while !line.contains(" 366 ") {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    ws.send_text("JOIN #lobby");
    while !line.starts_with(":wes!~w@irc JOIN") {
        line.clear();
        r.read_line(&mut line).unwrap();
    }
    tcp.write_all(b"PRIVMSG #lobby :over tcp\r\n").unwrap();
    while ws.recv_text() != ":tim!~t@irc PRIVMSG #lobby :over tcp" {}
    ws.send_text("QUIT :done");
    assert!(ws.recv_text().starts_with("ERROR :Closing Link"));
    assert_eq!(ws.expect_close().0, 1000);
}

#[test]
fn bad_frames_close_only_their_own_connection_with_the_rfc_code() {
    let c = chat(&["--rate-limit", "0", "--max-line", "1KiB"]);
    let mut watcher = Ws::json(c.web, "watcher");
    type Send = Box<dyn Fn(&mut Ws)>;
    let cases: [(&str, Send, u16); 4] = [
        (
            "oversized",
            Box::new(|w| w.send_text(&"x".repeat(2000))),
            1009,
        ),
        (
            "binary",
            Box::new(|w| w.send_frame(true, 2, b"\x00\x01", true)),
            1003,
        ),
        (
            "bad UTF-8",
            Box::new(|w| w.send_frame(true, 1, b"\xff\xfe", true)),
            1007,
        ),
        (
            "unmasked",
            Box::new(|w| w.send_frame(true, 1, b"{}", false)),
            1002,
        ),
    ];
    for (i, (what, send, code)) in cases.iter().enumerate() {
        let mut w = Ws::json(c.web, &format!("bad{i}"));
        watcher.expect_json("the join", |v| v["type"] == "join");
        send(&mut w);
        assert_eq!(w.expect_close().0, *code, "{what}");
        assert!(closed(w.r), "{what}: connection closed");
        let quit = watcher.expect_json("the quit", |v| v["type"] == "quit");
        assert_eq!(quit["nick"], format!("bad{i}"), "{what}");
    }
    // The watcher is still served.
    watcher.send_json(json!({"type": "rooms"}));
    watcher.expect_json("rooms", |v| v["type"] == "rooms");
}

#[test]
fn fragments_pings_and_the_close_handshake_follow_the_rfc() {
    let c = chat(FAST);
    let mut a = Ws::json(c.web, "frag");
    let mut b = Ws::json(c.web, "reader");
    a.expect_json("reader's join", |v| {
        v["type"] == "join" && v["nick"] == "reader"
    });
    // A message in three fragments, with a ping between them.
    let msg = json!({"type": "message", "to": "#lobby", "text": "in pieces"}).to_string();
    let (p1, rest) = msg.as_bytes().split_at(10);
    let (p2, p3) = rest.split_at(10);
    a.send_frame(false, 1, p1, true);
    a.send_frame(false, 0, p2, true);
    a.send_frame(true, 9, b"are you there", true);
    a.send_frame(true, 0, p3, true);
    let pong = a.recv();
    assert_eq!(
        (pong.opcode, pong.payload.as_slice()),
        (10, &b"are you there"[..])
    );
    let m = b.expect_json("the message", |v| v["type"] == "message");
    assert_eq!(m["text"], "in pieces");
    // The client closes: the server answers with a close frame, then
    // closes the connection; the room is told.
    b.send_frame(true, 8, &[0x03, 0xe8, b'o', b'k'], true);
    let close = b.recv();
    assert_eq!((close.opcode, close.fin), (8, true));
    assert!(closed(b.r));
    let quit = a.expect_json("the quit", |v| v["type"] == "quit");
    assert_eq!(quit["nick"], "reader");
}

#[test]
fn a_client_that_answers_no_ping_is_closed_and_its_rooms_told() {
    let c = chat(&["--ping-interval", "200ms", "--ping-timeout", "300ms"]);
    let mut w = Ws::json(c.web, "sleepy");
    let mut nc = Line::connect(c.line);
    // The raw client does not answer pings: it only reads.
    while w.recv().opcode != 9 {}
    assert_eq!(w.expect_close(), (1011, "ping timeout".to_string()));
    nc.expect("the quit", "sleepy");
}

#[test]
fn a_web_client_that_stops_reading_is_cut_and_others_are_not() {
    let c = chat(&[
        "--rate-limit",
        "0",
        "--max-line",
        "60000",
        "--max-output",
        "128KiB",
    ]);
    // A tiny receive window (set before connecting), so that the kernel
    // holds little on the stuck client's behalf.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    socket.connect(&c.web.into()).unwrap();
    let s: TcpStream = socket.into();
    s.set_read_timeout(Some(DEADLINE)).unwrap();
    let mut stuck = Ws {
        r: BufReader::new(s.try_clone().unwrap()),
        s,
    };
    stuck
        .s
        .write_all(upgrade_request("x", "").as_bytes())
        .unwrap();
    assert_eq!(read_response(&mut stuck.r, true).status, 101);
    stuck.send_json(json!({"type": "nick", "nick": "stuck"}));
    let mut reader = Ws::json(c.web, "reader");
    let mut nc = Line::connect(c.line);
    // The terminal user sends big lines; the reader reads each one; the
    // stuck client reads nothing, until it is cut.
    let big = "y".repeat(50_000);
    'sending: loop {
        nc.send(&big);
        loop {
            let v = reader.recv_json();
            if v["type"] == "quit" {
                assert_eq!(v["nick"], "stuck");
                break 'sending;
            }
            if v["type"] == "message" {
                assert_eq!(v["text"].as_str(), Some(big.as_str()));
                break;
            }
        }
    }
    nc.expect("the slow one's quit", "stuck");
    reader.send_json(json!({"type": "message", "to": "#lobby", "text": "still here"}));
    nc.expect("the room still works", "still here");
}

#[test]
fn shutdown_says_going_away_and_a_full_server_says_503() {
    let mut c = chat(&["--max-clients", "2"]);
    let mut w = Ws::json(c.web, "leaver");
    let _nc = Line::connect(c.line);
    let full = http(c.web, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(full.status, 503);
    assert_eq!(full.body, b"server full, try again later\n");
    c.server.signal(libc::SIGINT);
    assert_eq!(w.expect_close(), (1001, "server shutting down".to_string()));
    assert!(c.server.wait_exit().success());
}

#[test]
fn the_rate_limit_slows_a_web_client_and_drops_nothing() {
    let c = chat(&["--rate-limit", "50", "--burst", "5"]);
    let mut a = Ws::json(c.web, "fast");
    let mut b = Ws::json(c.web, "slow");
    a.expect_json("slow's join", |v| {
        v["type"] == "join" && v["nick"] == "slow"
    });
    let start = Instant::now();
    for i in 0..30 {
        a.send_json(json!({"type": "message", "to": "#lobby", "text": format!("n{i}")}));
    }
    let mut last_seq = 0;
    for i in 0..30 {
        let m = b.expect_json("a message", |v| v["type"] == "message");
        assert_eq!(m["text"], format!("n{i}"), "in order, none lost");
        let seq = m["seq"].as_u64().unwrap();
        assert!(seq > last_seq);
        last_seq = seq;
    }
    // 25 lines past the burst at 50 a second take at least 0.5 s.
    assert!(start.elapsed() >= Duration::from_millis(400));
}

/// A crowded room (over --announce-limit) tells a web client arrivals and
/// departures in `summary` events numbered in the room's sequence; a web
/// joiner's `names` lists itself only, with the room's count.
#[test]
fn a_crowded_room_sends_web_clients_summaries() {
    let c = chat(&["--announce-limit", "2"]);
    let mut watcher = Ws::json(c.web, "watcher");
    let join = |ws: &mut Ws| {
        ws.expect_json("a join", |v| v["type"] == "join")["seq"]
            .as_u64()
            .unwrap()
    };
    let mut a = Line::connect(c.line);
    let seq = join(&mut watcher);
    let _b = Line::connect(c.line); // the third: crowded from now on
    drop(Line::connect(c.line));
    // Its departure is in before `late` arrives: on several threads the
    // two could be taken in either order.
    wait_until("the fourth gone", || {
        a.send("/who");
        a.expect("/who", "in #lobby").contains("(3)")
    });
    let (mut late, _) = Ws::open(c.web, "");
    late.send_json(json!({"type": "nick", "nick": "late"}));
    let mine = late.expect_json("my join", |v| v["type"] == "join");
    assert_eq!(
        mine["seq"].as_u64(),
        Some(seq),
        "the room's latest: no event"
    );
    let names = late.expect_json("names", |v| v["type"] == "names");
    assert_eq!(names["members"], json!(["late"]));
    assert_eq!(names["partial"], json!(true));
    assert_eq!(names["count"], json!(4));
    // One summary, or more if the machine is slow enough to split them.
    let (mut joined, mut left, mut next) = (0, 0, seq + 1);
    while (joined, left) != (3, 1) {
        let summary = watcher.expect_json("a summary", |v| v["type"] == "summary");
        assert_eq!(summary["room"], "#lobby");
        assert_eq!(summary["seq"].as_u64(), Some(next), "gap-free: {summary}");
        let n = summary["joined"].as_u64().unwrap();
        assert_eq!(summary["joined_nicks"].as_array().unwrap().len() as u64, n);
        joined += n;
        left += summary["left"].as_u64().unwrap();
        next += 1;
    }
}
