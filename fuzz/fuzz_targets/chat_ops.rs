//! `ChatService` driven by the in-memory `testing::Harness` through a random
//! sequence of operations on line clients (nc/telnet) and IRC clients side
//! by side (up to 16 at once, 64 in all): connects of either kind, EOFs,
//! resets, line-protocol lines (`/nick`, `/join`, `/msg`, `/me`, `/who`,
//! `/rooms`, `/help`, `/quit`, chat text), IRC commands (registration with `CAP LS 302`/`CAP REQ`/`CAP
//! END`/`PASS`/`NICK`/`USER`; `JOIN` with comma lists and `JOIN 0`, `PART`,
//! `PRIVMSG`/`NOTICE`/`TAGMSG` to channels and nicks with comma lists, client
//! tags and CTCP ACTION, `NICK`, `TOPIC`, channel and user `MODE`, `KICK`,
//! `AWAY`, `NAMES`, `WHO`, `WHOIS`, `LIST`, `ISON`, `USERHOST`,
//! `PING`/`PONG`, `QUIT`, unknown commands, lines near and over 512 bytes,
//! tags over 4,096), raw bytes, reads, clock steps (0–255 ms; exactly to a
//! rate-limit wake-up; or 0–99 s, so that IRC's pings after 90 s of silence
//! and ping timeouts 60 s later happen) and, rarely, a shutdown. Nicks and
//! rooms come from small pools shared by both front-ends (line room `lobby`
//! is IRC channel `#lobby`; `guest1` is a line client's nick and a nick IRC
//! clients ask for), so collisions and case-insensitive clashes happen; text
//! comes with IRC formatting codes, ANSI escapes and C0/C1 controls. The
//! service runs with `max_line = 64` and a tight rate limit (burst 3, 10
//! lines/s), and half of the inputs require an IRC password. A hang (e.g. a
//! wake that keeps re-pausing at the same instant) shows up as a libFuzzer
//! timeout.
//!
//! The service is wrapped in `Checked`, which hands it an `Io` that inspects
//! every send as it happens. It checks that:
//! - nothing panics (the harness also panics on a timer or a pause that
//!   would make the reactor spin);
//! - nothing is sent to a connection after its `handle_close` (the reactor
//!   reuses connection ids, so such a send would reach a stranger) or before
//!   its `handle_connect`; `MemoryIo::sends_after_close` (sends to
//!   connections closed but not yet reaped) stays 0;
//! - every send is whole CRLF-terminated lines of UTF-8 (an empty send is
//!   allowed: `NAMES` of an empty room and a `WHO` that matches no one send
//!   nothing before their end numeric);
//! - to line clients: no ESC, DEL, C0 (but TAB) or C1 control, whatever IRC
//!   clients send;
//! - to IRC clients: every line is non-empty, parses as an IRC message
//!   (`IrcMessage::parse`, itself checked by the `irc_message` target), is
//!   at most 510 bytes plus CR LF without its tags (RFC 2812's 512), has a
//!   tag section of at most 8,191 bytes with its `@` and space (IRCv3), and
//!   holds no CR, LF or NUL but its final CR LF (RFC 2812; a client that
//!   ends lines at CR, as HexChat does, would take what follows a bare CR
//!   for a line of its own);
//! - nicks are unique ignoring ASCII case across both front-ends, as
//!   tracked from what each client is told about itself: the line welcome
//!   and "you are now known as", IRC's `001` and `NICK` messages whose
//!   source is the client itself;
//! - what clients are told about rooms agrees with the rooms each was told
//!   it is in (line: the welcome, "you are in", "you were kicked from"; IRC:
//!   its own `JOIN` and `PART`, and `KICK`s of it): `/rooms` counts and
//!   `/who` lists (line); `NAMES` (`353`…`366`), `WHO #chan` and `WHO nick`
//!   (`352`…`315`), `LIST` counts (`322`), `WHOIS` channels (`319`) and the
//!   nicks `ISON` lists (`303`) (IRC);
//! - between operations, that model matches the chat core: every client the
//!   model knows a nick for has a session with exactly that nick and those
//!   rooms, no other client has a session, and `client_count()` is the
//!   number of connections between `handle_connect` and `handle_close`.
//!
//! Left out: operator status (`@` in `NAMES`/`WHO`/`WHOIS`), topics, modes,
//! away state, and that each event reaches exactly its recipients: each
//! could be stated, but only by a model that re-implements the core's
//! rules, which would then be checked against itself. `ISON` is checked to
//! list only present nicks, not that it lists every one asked for. A
//! numeric that echoes a parameter holding a space (`WHO :#a b`) comes out
//! with that parameter split in two, so the `NAMES` and `WHO` comparisons
//! run only when their end numeric has its expected shape.
#![no_main]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use arbitrary::{Arbitrary, Unstructured};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_proto::chat::core::Shard;
use switchboard_proto::chat::irc::IrcMessage;
use switchboard_proto::chat::{RateLimit, LOBBY};
use switchboard_proto::testing::Harness;
use switchboard_proto::{
    ChatConfig, ChatService, CloseReason, ConnId, FrontEnd, Io, OutputLimits, Service,
};

/// Nicks for both front-ends: case clashes, the guest nicks line clients
/// get, the longest valid nick (32) and invalid ones.
const NICKS: [&str; 11] = [
    "alice",
    "Alice",
    "bob",
    "BOB",
    "guest1",
    "guest2",
    "guest3",
    "bad nick",
    "x-_0",
    "abcdefghijklmnopqrstuvwxyz012345",
    "abcdefghijklmnopqrstuvwxyz0123456",
];
/// Rooms for the line front-end's `/join` (`#` optional there).
const ROOMS: [&str; 6] = ["lobby", "#LOBBY", "#rust", "Rust", "#a", "#"];
/// Channel names for IRC: the same rooms, the longest valid name (`#` and
/// 32) and invalid ones.
const CHANNELS: [&str; 10] = [
    "#lobby",
    "#LOBBY",
    "#rust",
    "#Rust",
    "#a",
    "#",
    "rust",
    "##",
    "#abcdefghijklmnopqrstuvwxyz012345",
    "#abcdefghijklmnopqrstuvwxyz0123456",
];
/// The IRC password, when the input asks for one.
const PASSWORD: &str = "sesame";
/// The IRCv3 capabilities switchboard offers, and one it does not.
const CAPS: [&str; 6] = [
    "cap-notify",
    "echo-message",
    "message-tags",
    "multi-prefix",
    "server-time",
    "bogus",
];
/// Formatting codes, escapes and controls that text may start with.
const STYLES: [&str; 13] = [
    "",
    "\x02bold\x02 ",
    "\x0304,12red\x03 ",
    "\x1b[31m",
    "\x1b]0;title\x07",
    "\u{9b}2J",
    "\x7f",
    "\x01ACTION ",
    "\x0f\x16\x1d\x1f\x11",
    "\t",
    "\u{85}\u{9d}x\u{9c}",
    "é€😀 ",
    "\x1bP1$r\x1b\\",
];
/// Tag sections a client may put before a message.
const TAGS: [&str; 8] = [
    "",
    "@+typing=active ",
    "@+typing=active;+draft/reply=x ",
    "@time=2020-01-01T00:00:00.000Z;+a=b\\sc ",
    "@label=x ",
    "@=;;+ ",
    "@+a=\\:\\s\\\\;+b ",
    "@+typing=\x1b[31m ",
];
/// Channel mode changes.
const MODES: [&str; 16] = [
    "", "+o", "-o", "+t", "-t", "+n", "-n", "b", "+b", "+ot", "-o+o", "+x", "+nt", "-nt", "o",
    "+ooo",
];
/// User mode changes.
const USER_MODES: [&str; 6] = ["", "+i", "-i", "+iw", "+x", "i"];
/// Commands without arguments.
const BARE: [&str; 20] = [
    "LUSERS",
    "MOTD",
    "OPER a b",
    "KILL bob x",
    "INVITE bob #a",
    "WHOWAS bob",
    "FOO",
    "privmsg",
    "JOIN",
    "PART",
    "KICK #lobby",
    "TOPIC",
    "MODE",
    "WHOIS",
    "AWAY :",
    "PASS",
    "USER",
    "CAP",
    "NAMES",
    "LIST",
];

/// Text to send: a style, arbitrary text, and filler that brings it near
/// or past the 512-byte line limit.
#[derive(Arbitrary, Debug)]
struct Text {
    style: u8,
    body: String,
    pad: u8,
}

fn text(t: &Text) -> String {
    let mut s = String::from(STYLES[usize::from(t.style) % STYLES.len()]);
    s.push_str(&t.body);
    s.push_str(&filler(usize::from(t.pad.saturating_sub(128)) * 4));
    s
}

/// About `len` bytes of words with a two-byte character in them (cut at a
/// character boundary).
fn filler(len: usize) -> String {
    let mut s = "wörd ".repeat(len / 6 + 1);
    let mut end = len.min(s.len());
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s.truncate(end);
    s
}

fn pool(pool: &[&'static str], i: u8) -> &'static str {
    pool[usize::from(i) % pool.len()]
}

/// Channels and nicks, for message targets.
fn target(i: u8) -> &'static str {
    let i = usize::from(i) % (CHANNELS.len() + NICKS.len());
    CHANNELS
        .get(i)
        .copied()
        .unwrap_or_else(|| NICKS[i - CHANNELS.len()])
}

fn list(items: &[u8], each: impl Fn(u8) -> &'static str, sep: &str) -> String {
    let items: Vec<&str> = items.iter().take(6).map(|&i| each(i)).collect();
    items.join(sep)
}

/// A line of the line protocol.
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

fn render(line: &Line) -> String {
    let nick = |i: &u8| pool(&NICKS, *i);
    match line {
        Line::Say(text) => text.clone(),
        Line::Nick(n) => format!("/nick {}", nick(n)),
        Line::Join(r) => format!("/join {}", pool(&ROOMS, *r)),
        Line::Msg(n, text) => format!("/msg {} {text}", nick(n)),
        Line::Me(text) => format!("/me {text}"),
        Line::Who => "/who".into(),
        Line::Rooms => "/rooms".into(),
        Line::Help => "/help".into(),
        Line::Quit(reason) => format!("/quit {}", reason.as_deref().unwrap_or("")),
    }
}

/// An IRC command (or several, for `Register`).
#[derive(Arbitrary, Debug)]
enum Irc {
    /// `NICK` and `USER`; with capabilities (the low six bits), `CAP LS
    /// 302` and `CAP REQ` first and `CAP END` last; bit 6: `PASS` with the
    /// password first, bit 7: `PASS` with a wrong one.
    Register(u8, u8),
    Nick(u8),
    /// `CAP` subcommands, `USER` and `PASS` in their forms.
    Setup(u8, u8, Text),
    /// `JOIN` of a comma list; `JOIN 0` for an empty one.
    Join(Vec<u8>),
    Part(Vec<u8>, Option<Text>),
    /// PRIVMSG, NOTICE, TAGMSG or CTCP ACTION, with tags, to a comma list.
    Message {
        verb: u8,
        tags: u8,
        targets: Vec<u8>,
        text: Text,
    },
    Topic(u8, Option<Text>),
    /// `MODE` of a channel or nick, with a change and nicks.
    Mode(u8, u8, Vec<u8>),
    Kick(u8, Vec<u8>, Option<Text>),
    Away(Option<Text>),
    /// `NAMES`, `WHO`, `WHOIS`, `LIST`, `ISON`, `USERHOST` of channels
    /// or nicks.
    Query(u8, Vec<u8>),
    /// `PING`, `PONG` or `QUIT`.
    Session(u8, Option<Text>),
    /// Commands without arguments: queries, commands switchboard does not
    /// have, commands missing their parameters.
    Bare(u8),
    /// A line of about the 512-byte limit or far past it (or tags past
    /// 4,096 bytes).
    Long(u8, u16),
    Free(String),
}

fn caps(bits: u8) -> String {
    let on: Vec<&str> = (CAPS.iter().enumerate())
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, c)| *c)
        .collect();
    on.join(" ")
}

fn render_irc(irc: &Irc) -> String {
    let nick = |i: u8| pool(&NICKS, i);
    let chan = |i: u8| pool(&CHANNELS, i);
    let reason = |r: &Option<Text>| {
        r.as_ref()
            .map_or(String::new(), |t| format!(" :{}", text(t)))
    };
    match irc {
        Irc::Register(n, bits) => {
            let mut lines = String::new();
            if bits & 0x40 != 0 {
                lines.push_str(&format!("PASS {PASSWORD}\r\n"));
            }
            if bits & 0x80 != 0 {
                lines.push_str("PASS wrong\r\n");
            }
            lines.push_str(&format!("NICK {}\r\nUSER u 0 * :Real Name", nick(*n)));
            match bits & 0x3f {
                0 => lines,
                caps_bits => {
                    let caps = caps(caps_bits);
                    format!("CAP LS 302\r\nCAP REQ :{caps}\r\n{lines}\r\nCAP END")
                }
            }
        }
        Irc::Nick(n) => format!("NICK {}", nick(*n)),
        Irc::Setup(kind, bits, t) => match kind % 13 {
            0 => "CAP LS".to_string(),
            1 => "CAP LS 302".to_string(),
            2 => "CAP LIST".to_string(),
            3 => format!("CAP REQ :{}", caps(*bits)),
            4 => format!("CAP REQ :-{}", pool(&CAPS, *bits)),
            5 => "CAP END".to_string(),
            6 => format!("cap {} {}", text(t), pool(&CAPS, *bits)),
            7 => format!("PASS {}", text(t)),
            8 => "USER u 0 * :Real Name".to_string(),
            9 => "USER a b c".to_string(),
            10 => format!("USER ~!@é 0 * :{}", text(t)),
            11 => format!("PASS {PASSWORD}"),
            _ => format!("USER {} 0 * :", text(t).replace(' ', "_")),
        },
        Irc::Join(chans) if chans.is_empty() => "JOIN 0".to_string(),
        Irc::Join(chans) => format!("JOIN {}", list(chans, chan, ",")),
        Irc::Part(chans, r) => format!("PART {}{}", list(chans, chan, ","), reason(r)),
        Irc::Message {
            verb,
            tags,
            targets,
            text: t,
        } => {
            let tags = pool(&TAGS, *tags);
            let to = list(targets, target, ",");
            let t = text(t);
            match verb % 8 {
                0 => format!("{tags}PRIVMSG {to} :{t}"),
                1 => format!("{tags}NOTICE {to} :{t}"),
                2 => format!("{tags}TAGMSG {to}"),
                3 => format!("{tags}PRIVMSG {to} :\x01ACTION {t}\x01"),
                4 => format!("{tags}privmsg {to} {t}"),
                5 => format!("{tags}PRIVMSG {to} :"),
                6 => format!("{tags}PRIVMSG"),
                _ => format!("{tags}PRIVMSG {to} :\x01ACTION {t}"),
            }
        }
        Irc::Topic(c, None) => format!("TOPIC {}", chan(*c)),
        Irc::Topic(c, Some(t)) => format!("TOPIC {} :{}", chan(*c), text(t)),
        Irc::Mode(to, change, nicks) => {
            let (to, change) = match to % 4 {
                0 => (nick(to / 4), pool(&USER_MODES, *change)),
                _ => (chan(to / 4), pool(&MODES, *change)),
            };
            format!("MODE {to} {change} {}", list(nicks, nick, " "))
        }
        Irc::Kick(c, nicks, r) => {
            format!("KICK {} {}{}", chan(*c), list(nicks, nick, ","), reason(r))
        }
        Irc::Away(None) => "AWAY".to_string(),
        Irc::Away(Some(t)) => format!("AWAY :{}", text(t)),
        Irc::Query(kind, args) => {
            let first = args.first().copied().unwrap_or(0);
            match kind % 8 {
                0 => format!("NAMES {}", list(args, chan, ",")),
                1 => format!("WHO {}", target(first)),
                2 => "WHO".to_string(),
                3 => format!("WHOIS {}", nick(first)),
                4 => format!("WHOIS switchboard.local {}", nick(first)),
                5 => format!("LIST {}", list(args, chan, ",")),
                6 => format!("ISON {}", list(args, nick, " ")),
                _ => format!("USERHOST {}", list(args, nick, " ")),
            }
        }
        Irc::Session(kind, t) => match (kind % 3, t) {
            (0, None) => "PING".to_string(),
            (0, Some(t)) => format!("PING :{}", text(t)),
            (1, t) => format!("PONG{}", reason(t)),
            (_, t) => format!("QUIT{}", reason(t)),
        },
        Irc::Bare(i) => pool(&BARE, *i).to_string(),
        Irc::Long(kind, n) => {
            // Half of them within a few bytes of the limit.
            let len = if n & 1 == 1 {
                500 + usize::from(n >> 1) % 24
            } else {
                usize::from(n >> 1) % 5000
            };
            let fill = |head: &str| format!("{head}{}", filler(len.saturating_sub(head.len())));
            match kind % 8 {
                0 => fill("PRIVMSG #lobby :"),
                1 => format!("@+t={} PRIVMSG #lobby :hi", filler(len).replace(' ', "-")),
                2 => format!("@+t=x {}", fill("PRIVMSG #lobby,alice :")),
                3 => fill("TOPIC #lobby :"),
                4 => fill("PRIVMSG alice,bob,guest1 :\x01ACTION "),
                5 => fill("KICK #lobby alice,bob :"),
                6 => fill("QUIT :"),
                _ => fill("AWAY :"),
            }
        }
        Irc::Free(s) => s.clone(),
    }
}

#[derive(Arbitrary, Debug)]
enum Op {
    /// A line client.
    Connect,
    /// An IRC client; with a nick and capabilities, it registers at once
    /// (as `Irc::Register`).
    ConnectIrc(Option<(u8, u8)>),
    Eof(u8),
    Reset(u8),
    /// A line ending in CRLF, LF or telnet's CR NUL (to either kind of
    /// client).
    Send(u8, Line, u8),
    /// IRC command(s) ending in CRLF (to either kind of client).
    Irc(u8, Irc),
    /// IRC command(s) ending in CRLF, LF or nothing.
    IrcEnd(u8, Irc, u8),
    /// Raw bytes: partial lines, telnet commands, escapes, invalid UTF-8.
    Raw(u8, Vec<u8>),
    Read(u8),
    /// Milliseconds: the rate limit's scale (a token per 100 ms).
    Advance(u8),
    /// Advance exactly to a paused client's wake time, as a punctual
    /// reactor timer would.
    Wake(u8),
    /// Seconds, 0–99: IRC keep-alive's scale (a `PING` after 90 s of
    /// silence, a timeout 60 s later; 90 s to register). Under the 150 s
    /// that time out a silent client, so that one step does not end every
    /// IRC client at once; two in a row do.
    Sleep(u8),
    /// Only when its byte is 0xA5: a shutdown ends most of what can
    /// happen next, so it is kept rare.
    Shutdown(u8),
}

/// Whether IRC clients need a password (`PASS`), and up to 256
/// operations, decoded one after another until the input runs out.
/// (`Vec<Op>` would read a "keep going" byte before each one, so that most
/// mutations of an input would cut its sequence short.)
#[derive(Debug)]
struct Ops {
    password: bool,
    ops: Vec<Op>,
}

impl<'a> Arbitrary<'a> for Ops {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        let password = u.arbitrary()?;
        let mut ops = Vec::new();
        while !u.is_empty() && ops.len() < 256 {
            match Op::arbitrary(u) {
                Ok(op) => ops.push(op),
                Err(_) => break,
            }
        }
        Ok(Ops { password, ops })
    }
}

/// What the server has told each connected client about itself.
struct Model {
    /// Connections between `handle_connect` and `handle_close`.
    live: HashMap<ConnId, Member>,
    /// The IRC server name (the source of numerics).
    server: String,
}

struct Member {
    front_end: FrontEnd,
    nick: Option<String>,
    /// Display names of the rooms it is in (a line client: at most one).
    rooms: BTreeSet<String>,
    /// IRC: nicks of the `353` lines of a `NAMES` reply so far.
    names: Vec<String>,
    /// IRC: (channel, nick) of the `352` lines of a `WHO` reply so far.
    who: Vec<(String, String)>,
}

impl Model {
    /// Checks one send to `conn` and learns from it.
    fn on_send(&mut self, conn: ConnId, bytes: &[u8]) {
        let Some(member) = self.live.get(&conn) else {
            panic!("send to {conn:?}, which is not connected");
        };
        let front_end = member.front_end;
        let text = std::str::from_utf8(bytes).expect("output is UTF-8");
        assert!(
            text.is_empty() || text.ends_with("\r\n"),
            "partial line sent: {text:?}"
        );
        for line in text.split_terminator("\r\n") {
            match front_end {
                FrontEnd::Line => {
                    assert!(
                        line.chars().all(|c| c == '\t' || !c.is_control()),
                        "control character sent: {line:?}"
                    );
                    self.learn(conn, line);
                }
                FrontEnd::Irc => self.learn_irc(conn, line),
                // This target connects no web clients (web_input does).
                FrontEnd::Web => unreachable!("no web clients here"),
            }
        }
    }

    /// Sorted nicks of the members of the room called `room` (any case: a
    /// room has one spelling while it exists).
    fn members(&self, room: &str) -> Vec<String> {
        let mut nicks: Vec<String> = (self.live.values())
            .filter(|m| m.rooms.iter().any(|r| r.eq_ignore_ascii_case(room)))
            .map(|m| m.nick.clone().expect("a member has a nick"))
            .collect();
        nicks.sort();
        nicks
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
            let rooms = &mut self.live.get_mut(&conn).unwrap().rooms;
            *rooms = BTreeSet::from([room.to_string()]);
        } else if let Some(rest) = notice.strip_prefix("you were kicked from ") {
            let room = rest.split_once(" by ").expect("kicked from ROOM by").0;
            let rooms = &mut self.live.get_mut(&conn).unwrap().rooms;
            assert!(rooms.remove(room), "kicked from {room}, not its room");
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
                for room in &member.rooms {
                    *expected.entry(room.as_str()).or_default() += 1;
                }
            }
            assert_eq!(listed, expected, "/rooms disagrees with the members");
        } else if let Some(rest) = notice.strip_prefix("in #") {
            let (room, rest) = rest.split_once(" (").expect("in ROOM (N): ...");
            let room = format!("#{room}");
            let (count, nicks) = rest.split_once("): ").expect("in ROOM (N): ...");
            let rooms = &self.live[&conn].rooms;
            assert!(
                rooms.len() == 1 && rooms.contains(&room),
                "/who names {room}, but {conn:?} is in {rooms:?}"
            );
            let mut listed: Vec<&str> = nicks.split(", ").collect();
            listed.sort();
            let expected = self.members(&room);
            assert_eq!(count.parse::<usize>().unwrap(), expected.len());
            assert_eq!(listed, expected, "/who disagrees with the members");
        }
    }

    fn learn_irc(&mut self, conn: ConnId, line: &str) {
        assert!(
            !line.is_empty() && !line.contains(['\r', '\n', '\0']),
            "an empty line, or CR, LF or NUL within a line, to IRC client {conn:?}: {line:?}"
        );
        let (tags, body) = match line.strip_prefix('@') {
            Some(tagged) => tagged.split_once(' ').expect("tags, then a message"),
            None => ("", line),
        };
        assert!(
            body.len() <= 510,
            "line of {} bytes (without tags and CR LF) to {conn:?}: {line:?}",
            body.len()
        );
        assert!(
            tags.len() + 2 <= 8191,
            "tags of {} bytes to {conn:?}",
            tags.len()
        );
        let m = IrcMessage::parse(line).expect("an IRC message");
        let p = m.params();
        let me = self.live[&conn].nick.clone();
        if m.source == Some(self.server.as_str()) {
            match m.command {
                "001" => self.set_nick(conn, p[0]),
                "353" => {
                    assert_eq!(p.len(), 4, "353 ME = #CHAN :NICKS: {line:?}");
                    let names = (p[3].split(' ')).map(|n| n.trim_start_matches('@').to_string());
                    self.member(conn).names.extend(names);
                }
                "366" => {
                    let mut listed = std::mem::take(&mut self.member(conn).names);
                    if p.len() == 3 && p[1] != "*" {
                        listed.sort();
                        let expected = self.members(p[1]);
                        assert_eq!(listed, expected, "NAMES {} disagrees", p[1]);
                    }
                }
                "352" => {
                    assert_eq!(p.len(), 8, "352 with 8 parameters: {line:?}");
                    let row = (p[1].to_string(), p[5].to_string());
                    self.member(conn).who.push(row);
                }
                "315" => {
                    let rows = std::mem::take(&mut self.member(conn).who);
                    if p.len() != 3 {
                        return;
                    }
                    let mask = p[1];
                    let mut listed: Vec<String> = rows.iter().map(|(_, n)| n.clone()).collect();
                    listed.sort();
                    let expected = if mask.starts_with('#') {
                        self.members(mask)
                    } else {
                        (self.live.values())
                            .filter_map(|m| m.nick.clone())
                            .filter(|n| n.eq_ignore_ascii_case(mask))
                            .collect()
                    };
                    assert_eq!(listed, expected, "WHO {mask} disagrees");
                    for (channel, _) in &rows {
                        let want = if mask.starts_with('#') { mask } else { "*" };
                        assert!(channel.eq_ignore_ascii_case(want), "WHO {mask}: {rows:?}");
                    }
                }
                "322" => {
                    assert_eq!(p.len(), 4, "322 ME #CHAN N :TOPIC: {line:?}");
                    let count: usize = p[2].parse().expect("a member count");
                    assert_eq!(count, self.members(p[1]).len(), "LIST {} disagrees", p[1]);
                }
                "319" => {
                    assert_eq!(p.len(), 3, "319 ME NICK :CHANNELS: {line:?}");
                    let listed: BTreeSet<String> = (p[2].split(' '))
                        .map(|r| r.trim_start_matches('@').to_string())
                        .collect();
                    let whom = self.live.values().find(|m| m.nick.as_deref() == Some(p[1]));
                    let rooms = &whom.expect("WHOIS of a live nick").rooms;
                    assert_eq!(&listed, rooms, "WHOIS {} channels disagree", p[1]);
                }
                "303" => {
                    for nick in p.get(1).unwrap_or(&"").split_whitespace() {
                        assert!(
                            (self.live.values()).any(|m| m.nick.as_deref() == Some(nick)),
                            "ISON lists {nick}, whom no one is called"
                        );
                    }
                }
                _ => {}
            }
            return;
        }
        let Some(source) = m.source else {
            return; // PING, ERROR
        };
        let from = source.split_once('!').map_or(source, |(nick, _)| nick);
        let mine = me.as_deref() == Some(from);
        match m.command {
            "NICK" if mine => self.set_nick(conn, p[0]),
            "JOIN" if mine => {
                let joined = self.member(conn).rooms.insert(p[0].to_string());
                assert!(joined, "{conn:?} joined {}, where it was", p[0]);
            }
            "PART" if mine => {
                let parted = self.member(conn).rooms.remove(p[0]);
                assert!(parted, "{conn:?} left {}, where it was not", p[0]);
            }
            "KICK" if me.is_some() && me.as_deref() == p.get(1).copied() => {
                let kicked = self.member(conn).rooms.remove(p[0]);
                assert!(kicked, "{conn:?} kicked from {}, where it was not", p[0]);
            }
            _ => {}
        }
    }

    fn member(&mut self, conn: ConnId) -> &mut Member {
        self.live.get_mut(&conn).expect("live")
    }

    fn set_nick(&mut self, conn: ConnId, nick: &str) {
        for (&other, member) in &self.live {
            let theirs = member.nick.as_deref().unwrap_or("");
            assert!(
                other == conn || !theirs.eq_ignore_ascii_case(nick),
                "{conn:?} got nick {nick:?}, already {other:?}'s ({theirs:?})"
            );
        }
        self.member(conn).nick = Some(nick.to_string());
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
    fn set_service_timer(&mut self, when: Instant) {
        self.io.set_service_timer(when);
    }
    fn request_reload(&mut self) {
        self.io.request_reload();
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

impl Checked {
    /// The model against the chat core, between operations.
    fn check_core(&self) {
        let model = &self.model;
        assert_eq!(model.live.len(), self.chat.client_count());
        let core = self.chat.core();
        let mut sessions = 0;
        for (&conn, member) in &model.live {
            let session = core.session(Shard::SOLE.session(conn));
            let Some(nick) = &member.nick else {
                assert!(
                    session.is_none(),
                    "{conn:?} has a session it was not told of"
                );
                continue;
            };
            sessions += 1;
            let session = session.expect("a client told its nick has a session");
            assert_eq!(&session.nick, nick, "{conn:?} was told another nick");
            let rooms: BTreeSet<String> = (session.rooms.iter())
                .map(|&r| core.room(r).name.clone())
                .collect();
            assert_eq!(rooms, member.rooms, "{conn:?} was told other rooms");
        }
        assert_eq!(core.session_count(), sessions);
    }
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
            front_end: listener,
            nick: None,
            // A line client lands in the lobby; an IRC client in no room.
            rooms: match listener {
                FrontEnd::Line => BTreeSet::from([LOBBY.to_string()]),
                FrontEnd::Irc | FrontEnd::Web => BTreeSet::new(),
            },
            names: Vec::new(),
            who: Vec::new(),
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

fuzz_target!(|ops: Ops| {
    let mut config = ChatConfig {
        max_line: 64,
        // A tight rate limit, so that pauses and wakes happen.
        rate_limit: Some(RateLimit {
            burst: 3,
            per_sec: 10.0,
        }),
        ..ChatConfig::default()
    };
    config.irc.password = ops.password.then(|| PASSWORD.to_string());
    let server = config.irc.server_name.clone();
    let mut h = Harness::new(Checked {
        chat: ChatService::new(config),
        model: Model {
            live: HashMap::new(),
            server,
        },
    });
    // The clients connected and not yet gone (input to a closed client is
    // dropped by the harness anyway), at most 16 at once and 64 in all.
    let mut conns: Vec<ConnId> = Vec::new();
    let mut connects = 0;
    let pick = |conns: &[ConnId], i: u8| conns.get(usize::from(i) % conns.len().max(1)).copied();
    for op in &ops.ops {
        let room = conns.len() < 16 && connects < 64;
        connects += usize::from(room && matches!(op, Op::Connect | Op::ConnectIrc(_)));
        match op {
            Op::Connect if room => conns.push(h.connect()),
            Op::ConnectIrc(register) if room => {
                let c = h.connect_to(FrontEnd::Irc);
                conns.push(c);
                if let Some((nick, caps)) = register {
                    let lines = render_irc(&Irc::Register(*nick, *caps));
                    h.input(c, format!("{lines}\r\n").as_bytes());
                }
            }
            Op::Connect | Op::ConnectIrc(_) => {}
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
            Op::Irc(i, irc) => {
                if let Some(c) = pick(&conns, *i) {
                    h.input(c, format!("{}\r\n", render_irc(irc)).as_bytes());
                }
            }
            Op::IrcEnd(i, irc, end) => {
                if let Some(c) = pick(&conns, *i) {
                    let end = ["\r\n", "\n", ""][usize::from(*end) % 3];
                    h.input(c, format!("{}{end}", render_irc(irc)).as_bytes());
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
            Op::Sleep(secs) => h.advance(Duration::from_secs(u64::from(secs % 100))),
            Op::Shutdown(0xa5) => h.shutdown(),
            Op::Shutdown(_) => {}
        }
        h.service.check_core();
        conns.retain(|&c| !h.is_gone(c));
    }
    assert_eq!(h.io.sends_after_close, 0);
});
