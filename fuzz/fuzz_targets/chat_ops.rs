//! `ChatService` driven by the in-memory `testing::Harness` through a random
//! sequence of connects, EOFs, resets, lines (commands drawn from a small
//! pool of nicks and rooms so that collisions happen, plus raw bytes), reads,
//! clock steps (0–255 ms, or exactly to a rate-limit wake-up) and a
//! shutdown. A hang (e.g. a wake that keeps re-pausing at the same instant)
//! shows up as a libFuzzer timeout.
//!
//! The service is wrapped in `Checked`, which hands it an `Io` that inspects
//! every send as it happens. It checks that:
//! - nothing panics;
//! - nothing is sent to a connection after its `handle_close` (the reactor
//!   reuses connection ids, so such a send would reach a stranger) or before
//!   its `handle_connect`;
//! - every send is whole CRLF-terminated lines of UTF-8 with no ESC, DEL, C0
//!   (but TAB) or C1 control (the `Harness::lines` reads re-check UTF-8 and
//!   whole lines);
//! - nicks are unique case-insensitively, as tracked from the server's own
//!   "welcome"/"you are now known as" notices;
//! - `/rooms` and `/who` agree with the rooms tracked from "you are in".
#![no_main]

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use arbitrary::Arbitrary;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::chat::{RateLimit, LOBBY};
use switchboard_proto::testing::Harness;
use switchboard_proto::{
    ChatConfig, ChatService, CloseReason, ConnId, FrontEnd, Io, OutputLimits, Service,
};

const NICKS: [&str; 6] = ["alice", "Alice", "bob", "guest1", "guest2", "bad nick"];
const ROOMS: [&str; 6] = ["lobby", "#LOBBY", "#rust", "Rust", "#a", "#"];

#[derive(Arbitrary, Debug)]
enum Line {
    Say(String),
    Nick(u8),
    Join(u8),
    Msg(u8, String),
    Me(String),
    Who,
    Rooms,
    Help,
    Quit(Option<String>),
}

#[derive(Arbitrary, Debug)]
enum Op {
    Connect,
    Eof(u8),
    Reset(u8),
    /// A line ending in CRLF, LF or telnet's CR NUL.
    Send(u8, Line, u8),
    /// Raw bytes: partial lines, telnet commands, escapes, invalid UTF-8.
    Raw(u8, Vec<u8>),
    Read(u8),
    /// Milliseconds: the rate limit's scale (a token per 100 ms).
    Advance(u8),
    /// Advance exactly to a paused client's wake time, as a punctual
    /// reactor timer would.
    Wake(u8),
    Shutdown,
}

fn render(line: &Line) -> String {
    let nick = |i: &u8| NICKS[usize::from(*i) % NICKS.len()];
    match line {
        Line::Say(text) => text.clone(),
        Line::Nick(n) => format!("/nick {}", nick(n)),
        Line::Join(r) => format!("/join {}", ROOMS[usize::from(*r) % ROOMS.len()]),
        Line::Msg(n, text) => format!("/msg {} {text}", nick(n)),
        Line::Me(text) => format!("/me {text}"),
        Line::Who => "/who".into(),
        Line::Rooms => "/rooms".into(),
        Line::Help => "/help".into(),
        Line::Quit(reason) => format!("/quit {}", reason.as_deref().unwrap_or("")),
    }
}

/// What the server has told each connected client about itself.
#[derive(Default)]
struct Model {
    /// Connections between `handle_connect` and `handle_close`.
    live: HashMap<ConnId, Member>,
}

struct Member {
    nick: Option<String>,
    room: String,
}

impl Model {
    /// Checks one send to `conn` and learns from it.
    fn on_send(&mut self, conn: ConnId, bytes: &[u8]) {
        assert!(
            self.live.contains_key(&conn),
            "send to {conn:?}, which is not connected"
        );
        let text = std::str::from_utf8(bytes).expect("output is UTF-8");
        assert!(text.ends_with("\r\n"), "partial line sent: {text:?}");
        for line in text.split_terminator("\r\n") {
            assert!(
                line.chars().all(|c| c == '\t' || !c.is_control()),
                "control character sent: {line:?}"
            );
            self.learn(conn, line);
        }
    }

    fn learn(&mut self, conn: ConnId, line: &str) {
        let Some(notice) = line.strip_prefix("*** ") else {
            return;
        };
        if let Some(rest) = notice.strip_prefix("welcome to switchboard, ") {
            let nick = rest.split_once('!').expect("welcome names the guest").0;
            self.set_nick(conn, nick);
        } else if let Some(nick) = notice.strip_prefix("you are now known as ") {
            self.set_nick(conn, nick);
        } else if let Some(rest) = notice.strip_prefix("you are in ") {
            let room = rest.split(' ').next().unwrap();
            self.live.get_mut(&conn).unwrap().room = room.to_string();
        } else if let Some(list) = notice.strip_prefix("rooms: ") {
            let listed: BTreeMap<&str, usize> = list
                .split(", ")
                .map(|entry| {
                    let (name, count) = entry.split_once(" (").expect("NAME (COUNT)");
                    (name, count.trim_end_matches(')').parse().expect("count"))
                })
                .collect();
            let mut expected = BTreeMap::from([(LOBBY, 0)]);
            for member in self.live.values() {
                *expected.entry(member.room.as_str()).or_default() += 1;
            }
            assert_eq!(listed, expected, "/rooms disagrees with the members");
        } else if let Some(rest) = notice.strip_prefix("in #") {
            let (room, rest) = rest.split_once(" (").expect("in ROOM (N): ...");
            let room = format!("#{room}");
            let (count, nicks) = rest.split_once("): ").expect("in ROOM (N): ...");
            assert_eq!(room, self.live[&conn].room, "/who names another room");
            let mut listed: Vec<&str> = nicks.split(", ").collect();
            let mut expected: Vec<&str> = (self.live.values())
                .filter(|m| m.room == room)
                .map(|m| m.nick.as_deref().expect("nick known"))
                .collect();
            listed.sort();
            expected.sort();
            assert_eq!(count.parse::<usize>().unwrap(), expected.len());
            assert_eq!(listed, expected, "/who disagrees with the members");
        }
    }

    fn set_nick(&mut self, conn: ConnId, nick: &str) {
        let key = nick.to_ascii_lowercase();
        for (&other, member) in &self.live {
            let theirs = member.nick.as_deref().map(str::to_ascii_lowercase);
            assert!(
                other == conn || theirs.as_deref() != Some(key.as_str()),
                "{conn:?} got nick {nick:?}, already {other:?}'s"
            );
        }
        self.live.get_mut(&conn).unwrap().nick = Some(nick.to_string());
    }
}

/// The `Io` the chat service sees: checks every send, then passes it on.
struct Watch<'a, I: Io> {
    io: &'a mut I,
    model: &'a mut Model,
}

impl<I: Io> Io for Watch<'_, I> {
    fn send(&mut self, conn: ConnId, bytes: &[u8]) {
        self.model.on_send(conn, bytes);
        self.io.send(conn, bytes);
    }
    fn send_shared(&mut self, conn: ConnId, bytes: &Bytes) {
        self.model.on_send(conn, bytes);
        self.io.send_shared(conn, bytes);
    }
    fn close(&mut self, conn: ConnId, reason: CloseReason) {
        self.io.close(conn, reason);
    }
    fn pending_output(&self, conn: ConnId) -> usize {
        self.io.pending_output(conn)
    }
    fn now(&self) -> Instant {
        self.io.now()
    }
    fn system_time(&self) -> SystemTime {
        self.io.system_time()
    }
    fn set_timer(&mut self, conn: ConnId, when: Instant) {
        self.io.set_timer(conn, when);
    }
    fn pause_reading_until(&mut self, conn: ConnId, when: Instant) {
        self.io.pause_reading_until(conn, when);
    }
}

/// `ChatService` with every call routed through a `Watch`.
struct Checked {
    chat: ChatService,
    model: Model,
}

macro_rules! watched {
    ($self:ident, $io:ident) => {
        &mut Watch {
            io: $io,
            model: &mut $self.model,
        }
    };
}

impl Service for Checked {
    type Listener = FrontEnd;

    fn output_limits(&self) -> OutputLimits {
        self.chat.output_limits()
    }
    fn handle_connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        listener: FrontEnd,
        io: &mut impl Io,
    ) {
        let member = Member {
            nick: None,
            room: LOBBY.to_string(),
        };
        assert!(
            self.model.live.insert(conn, member).is_none(),
            "{conn:?} connected twice"
        );
        self.chat
            .handle_connect(conn, peer, listener, watched!(self, io));
    }
    fn handle_data(&mut self, conn: ConnId, data: &[u8], io: &mut impl Io) {
        self.chat.handle_data(conn, data, watched!(self, io));
    }
    fn handle_eof(&mut self, conn: ConnId, io: &mut impl Io) {
        self.chat.handle_eof(conn, watched!(self, io));
    }
    fn handle_close(&mut self, conn: ConnId, reason: CloseReason, io: &mut impl Io) {
        // From here on, nothing may be sent to `conn`.
        self.model.live.remove(&conn);
        self.chat.handle_close(conn, reason, watched!(self, io));
    }
    fn handle_wake(&mut self, conn: ConnId, io: &mut impl Io) {
        self.chat.handle_wake(conn, watched!(self, io));
    }
    fn handle_timer(&mut self, conn: ConnId, io: &mut impl Io) {
        self.chat.handle_timer(conn, watched!(self, io));
    }
    fn handle_shutdown(&mut self, io: &mut impl Io) {
        self.chat.handle_shutdown(watched!(self, io));
    }
}

fuzz_target!(|ops: Vec<Op>| {
    let config = ChatConfig {
        max_line: 64,
        // A tight rate limit, so that pauses and wakes happen.
        rate_limit: Some(RateLimit {
            burst: 3,
            per_sec: 10.0,
        }),
        ..ChatConfig::default()
    };
    let mut h = Harness::new(Checked {
        chat: ChatService::new(config),
        model: Model::default(),
    });
    let mut conns: Vec<ConnId> = Vec::new(); // every client ever connected
    let pick = |conns: &[ConnId], i: u8| conns.get(usize::from(i) % conns.len().max(1)).copied();
    for op in ops.iter().take(256) {
        match op {
            Op::Connect if conns.len() < 16 => conns.push(h.connect()),
            Op::Connect => {}
            Op::Eof(i) => pick(&conns, *i).into_iter().for_each(|c| h.eof(c)),
            Op::Reset(i) => pick(&conns, *i)
                .into_iter()
                .for_each(|c| h.drop_conn(c, CloseReason::Reset)),
            Op::Send(i, line, end) => {
                if let Some(c) = pick(&conns, *i) {
                    let end = ["\r\n", "\n", "\r\0"][usize::from(*end) % 3];
                    h.input(c, format!("{}{end}", render(line)).as_bytes());
                }
            }
            Op::Raw(i, bytes) => pick(&conns, *i).into_iter().for_each(|c| h.input(c, bytes)),
            Op::Read(i) => {
                // Asserts UTF-8 and whole lines.
                pick(&conns, *i).into_iter().for_each(|c| drop(h.lines(c)))
            }
            Op::Advance(ms) => h.advance(Duration::from_millis(u64::from(*ms))),
            Op::Wake(i) => {
                if let Some(until) = pick(&conns, *i).and_then(|c| h.io.paused_until(c)) {
                    h.advance(until.saturating_duration_since(h.io.now));
                }
            }
            Op::Shutdown => h.shutdown(),
        }
        assert_eq!(h.service.model.live.len(), h.service.chat.client_count());
    }
    // Never incremented by MemoryIo today; kept in case it starts counting.
    assert_eq!(h.io.sends_after_close, 0);
});
