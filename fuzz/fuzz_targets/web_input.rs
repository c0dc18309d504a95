//! The web front-end's input paths, HTTP requests and WebSocket frames, fed
//! arbitrary bytes through `ChatService` in the in-memory `testing::Harness`,
//! with a line client in the lobby beside it.
//!
//! The first byte chooses the mode:
//! - bit 0: prefix a valid upgrade request (so that most inputs reach the
//!   frame parser), bit 1: ask for `text.ircv3.net` in it;
//! - bit 2: read the rest as frames (`[flags/opcode, length, payload...]`,
//!   masked as a client must) rather than raw bytes, so that opcodes,
//!   fragments, control frames and JSON commands are explored;
//! - bits 3–7: the size of the pieces the input arrives in (1 to 32 bytes
//!   times 7), so every split of a request or frame is tried.
//! Then the clock moves 200 s on, past the handshake deadline and a ping
//! timeout.
//!
//! It checks that nothing panics and that what the server sends the web
//! client is well-formed: whole HTTP responses whose `Content-Length` is
//! their body's (or, for `HEAD`, that of the body left out), then, after a `101`, only complete, final, unmasked frames
//! of opcode text, close or ping; each JSON text frame an object with a
//! string `type`, each IRC one a line without CR, LF or NUL; a close frame's
//! payload empty or a code and a UTF-8 reason.
#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use switchboard_proto::chat::{ChatConfig, ChatService, FrontEnd};
use switchboard_proto::testing::Harness;

const UPGRADE: &str = "GET /ws HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n";

const MASK: [u8; 4] = [0x12, 0x34, 0x56, 0x78];

fuzz_target!(|data: &[u8]| {
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let config = ChatConfig {
        max_line: 256,
        max_output: 64 * 1024,
        rate_limit: None,
        ..ChatConfig::default()
    };
    let mut h = Harness::new(ChatService::new(config));
    let watcher = h.connect_to(FrontEnd::Line);
    let web = h.connect_to(FrontEnd::Web);
    let irc = mode & 2 == 2;
    let mut input = Vec::new();
    if mode & 1 == 1 {
        input.extend_from_slice(UPGRADE.as_bytes());
        if irc {
            input.extend_from_slice(b"Sec-WebSocket-Protocol: text.ircv3.net\r\n");
        }
        input.extend_from_slice(b"\r\n");
    }
    if mode & 4 == 4 {
        frames(rest, &mut input);
    } else {
        input.extend_from_slice(rest);
    }
    let piece = 1 + usize::from(mode >> 3) * 7;
    for chunk in input.chunks(piece) {
        h.input(web, chunk);
    }
    h.advance(Duration::from_secs(200));
    check_output(h.io.output(web), irc);
    // The line client is still served.
    h.input(watcher, b"/who\n");
    assert!(!h.io.output(watcher).is_empty());
});

/// Builds masked client frames from `[b0, len, payload...]` records.
fn frames(mut data: &[u8], out: &mut Vec<u8>) {
    while let [b0, len, rest @ ..] = data {
        let len = usize::from(*len).min(rest.len());
        let (payload, next) = rest.split_at(len);
        out.push(*b0);
        out.push(0x80 | len as u8 & 0x7f);
        if len > 125 {
            out.pop();
            out.push(0x80 | 126);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        out.extend_from_slice(&MASK);
        out.extend(payload.iter().zip(MASK.iter().cycle()).map(|(b, m)| b ^ m));
        data = next;
    }
}

/// Checks the server's output to the web client: responses, then frames.
fn check_output(mut out: &[u8], irc: bool) {
    while !out.is_empty() {
        let end = find(out, b"\r\n\r\n").expect("a whole response head");
        let head = std::str::from_utf8(&out[..end]).expect("an ASCII head");
        assert!(head.starts_with("HTTP/1.1 "), "{head:?}");
        let status: u16 = head[9..12].parse().expect("a status");
        let body_len: usize = (head.lines())
            .find_map(|l| l.strip_prefix("Content-Length: "))
            .map_or(0, |n| n.parse().expect("a length"));
        out = &out[end + 4..];
        if status == 101 {
            return check_frames(out, irc);
        }
        // A reply to HEAD has the length of the body it leaves out.
        let head_only = out.is_empty() || out.starts_with(b"HTTP/1.1 ");
        if !head_only {
            assert!(out.len() >= body_len, "a whole body");
            out = &out[body_len..];
        }
    }
}

fn check_frames(mut out: &[u8], irc: bool) {
    while !out.is_empty() {
        assert!(out.len() >= 2, "a whole frame header");
        let (b0, b1) = (out[0], out[1]);
        assert_eq!(b0 & 0xf0, 0x80, "final, no reserved bits");
        assert_eq!(b1 & 0x80, 0, "not masked");
        let (len, head) = match b1 & 0x7f {
            126 => (usize::from(u16::from_be_bytes([out[2], out[3]])), 4),
            127 => (u64::from_be_bytes(out[2..10].try_into().unwrap()) as usize, 10),
            n => (usize::from(n), 2),
        };
        assert!(out.len() >= head + len, "a whole frame");
        let payload = &out[head..head + len];
        match b0 & 0x0f {
            0x1 if irc => {
                let line = std::str::from_utf8(payload).expect("UTF-8");
                assert!(!line.is_empty() && !line.contains(['\r', '\n', '\0']), "{line:?}");
            }
            0x1 => {
                let v: serde_json::Value = serde_json::from_slice(payload).expect("JSON");
                assert!(v["type"].is_string(), "{v}");
            }
            // An echo of a client's empty close frame is empty too.
            0x8 if payload.is_empty() => {}
            0x8 => {
                assert!(payload.len() >= 2 && payload.len() <= 125);
                std::str::from_utf8(&payload[2..]).expect("a UTF-8 reason");
            }
            0x9 | 0xa => assert!(payload.len() <= 125),
            op => panic!("opcode {op}"),
        }
        out = &out[head + len..];
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
