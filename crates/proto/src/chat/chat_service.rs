use std::collections::HashMap;
use std::net::SocketAddr;

use bytes::Bytes;
use tracing::{debug, info};

use crate::chat::command::{parse, Command, Input};
use crate::chat::line_codec::{Frame, LineCodec};
use crate::chat::names::{name_key, parse_room, validate_nick, CommandError};
use crate::chat::rooms::{RoomId, Rooms};
use crate::chat::sanitize::sanitize;
use crate::chat::telnet_filter::TelnetFilter;
use crate::chat::token_bucket::{RateLimit, TokenBucket};
use crate::{CloseReason, ConnId, Io, OutputLimits, OverflowPolicy, Service};

/// The chat room's limits. Every field is a CLI flag of `switchboard chat`.
#[derive(Clone, Debug)]
pub struct ChatConfig {
    /// Longest accepted line in bytes; longer ones are discarded up to their
    /// newline, with an error notice to the sender.
    pub max_line: usize,
    /// Unsent output a client may accumulate before it is disconnected.
    pub max_output: usize,
    /// Per-client line rate; `None` disables it (benchmarks).
    pub rate_limit: Option<RateLimit>,
}

impl Default for ChatConfig {
    fn default() -> Self {
        ChatConfig {
            max_line: 4096,
            max_output: 1024 * 1024,
            rate_limit: Some(RateLimit::default()),
        }
    }
}

/// The room everyone starts in; it exists even when empty.
pub const LOBBY: &str = "#lobby";

const HELP: &[&str] = &[
    "commands:",
    "  /nick NAME       change your nick (letters, digits, _ and -; up to 32)",
    "  /join ROOM       move to another room, created if new",
    "  /rooms           list the rooms and how many are in each",
    "  /who             list who is in your room",
    "  /msg NICK TEXT   private message to NICK, in any room",
    "  /me TEXT         action line: * yournick TEXT",
    "  /quit [REASON]   leave",
    "  //TEXT           send a line that starts with /",
    "lines from others look like <nick> text; server notices start with ***",
];

struct Client {
    nick: String,
    room: RoomId,
    telnet: TelnetFilter,
    codec: LineCodec,
    bucket: Option<TokenBucket>,
    /// Input received (telnet-filtered) and not yet framed: only non-empty
    /// while the rate limit holds reading paused.
    pending: Vec<u8>,
    /// `/quit` was given: ignore further input.
    quitting: Option<String>,
}

/// Chat lines from one client's input, held to go to its room together.
#[derive(Default)]
struct SaidLines {
    /// The room they go to; `None` while nothing is held.
    room: Option<RoomId>,
    lines: Vec<u8>,
}

impl SaidLines {
    /// Adds `<nick> text` to the lines for `room`.
    fn hold(&mut self, room: RoomId, nick: &str, text: &str) {
        self.room = Some(room);
        for part in [b"<", nick.as_bytes(), b"> ", text.as_bytes(), b"\r\n"] {
            self.lines.extend_from_slice(part);
        }
    }
}

/// A chat room server, as a sans-IO state machine: the seed's chat room with
/// line framing, nicks, rooms, commands, sanitized text and limits.
///
/// Wire format (every line ends in CRLF, for telnet and nc alike):
/// `<nick> text` is a chat line, `* nick text` an action, `[msg] <nick> text`
/// a private message, and `*** text` a server notice — which no client can
/// forge, since nicks cannot contain `*` and chat lines start with `<`.
pub struct ChatService {
    config: ChatConfig,
    clients: HashMap<ConnId, Client>,
    /// Case-insensitive nick → owner.
    nicks: HashMap<String, ConnId>,
    rooms: Rooms,
    next_guest: u64,
    shutting_down: bool,
}

fn notice(text: impl std::fmt::Display) -> String {
    format!("*** {text}\r\n")
}

/// "alone", "with 1 other", "with 3 others".
fn company(members: usize) -> String {
    match members.saturating_sub(1) {
        0 => "alone".to_string(),
        1 => "with 1 other".to_string(),
        n => format!("with {n} others"),
    }
}

impl ChatService {
    /// A chat service with these limits.
    pub fn new(config: ChatConfig) -> Self {
        ChatService {
            config,
            clients: HashMap::new(),
            nicks: HashMap::new(),
            rooms: Rooms::default(),
            next_guest: 1,
            shutting_down: false,
        }
    }

    /// Number of connected clients.
    pub fn client_count(&self) -> usize {
        self.clients.len()
    }

    /// Sends `line` (one or more whole lines) to every member of `room` but
    /// `except`, sharing one buffer among them.
    fn broadcast(
        &self,
        io: &mut impl Io,
        room: RoomId,
        except: Option<ConnId>,
        line: impl Into<Bytes>,
    ) {
        let line = line.into();
        for &member in &self.rooms.get(room).members {
            if Some(member) != except {
                io.send_shared(member, &line);
            }
        }
    }

    fn free_guest_nick(&mut self) -> String {
        loop {
            let nick = format!("guest{}", self.next_guest);
            self.next_guest += 1;
            if !self.nicks.contains_key(&name_key(&nick)) {
                return nick;
            }
        }
    }

    /// Frames and handles `conn`'s pending input, one line at a time, while
    /// the rate limit allows; pauses reading when it does not.
    ///
    /// Consecutive chat lines go to the room together, as one shared buffer:
    /// in a room of 1,000, each line pushed on its own costs every member's
    /// output buffer a (cache-missing) append, which profiles showed to be
    /// most of switchboard's own share of the fan-out. Anything else the
    /// input does (a command, an error notice) first sends what is held,
    /// so every member still sees everything in the order it was said.
    fn process_input(&mut self, conn: ConnId, io: &mut impl Io) {
        let mut said = SaidLines::default();
        self.frame_input(conn, io, &mut said);
        self.flush_said(conn, io, &mut said);
    }

    fn frame_input(&mut self, conn: ConnId, io: &mut impl Io, said: &mut SaidLines) {
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        let input = std::mem::take(&mut client.pending);
        let mut at = 0;
        while at < input.len() {
            let Some(client) = self.clients.get_mut(&conn) else {
                return;
            };
            if client.quitting.is_some() {
                return;
            }
            // A token is spent only on a line that is complete.
            if let Some(bucket) = &mut client.bucket {
                if input[at..].contains(&b'\n') {
                    if let Err(when) = bucket.try_take(io.now()) {
                        debug!(%conn, "rate limited: reading paused");
                        io.pause_reading_until(conn, when);
                        break;
                    }
                }
            }
            let (n, frame) = client.codec.decode_next(&input[at..]);
            at += n;
            if let Some(frame) = frame {
                self.handle_frame(conn, frame, io, said);
            }
        }
        if let Some(client) = self.clients.get_mut(&conn) {
            let mut input = input;
            input.drain(..at);
            client.pending = input;
        }
    }

    /// Sends the chat lines held in `said` to `conn`'s room.
    fn flush_said(&self, conn: ConnId, io: &mut impl Io, said: &mut SaidLines) {
        if let Some(room) = said.room.take() {
            self.broadcast(io, room, Some(conn), std::mem::take(&mut said.lines));
        }
    }

    fn handle_frame(&mut self, conn: ConnId, frame: Frame, io: &mut impl Io, said: &mut SaidLines) {
        let line = match frame {
            Ok(line) => line,
            Err(too_long) => {
                self.flush_said(conn, io, said);
                debug!(%conn, "{too_long}");
                return io.send(
                    conn,
                    &notice(format_args!("{too_long}; nothing was sent")).into_bytes(),
                );
            }
        };
        let text = sanitize(&line);
        let text = text.trim();
        if text.is_empty() {
            return;
        }
        match parse(text) {
            Ok(Input::Say(text)) => {
                let client = &self.clients[&conn];
                said.hold(client.room, &client.nick, text);
            }
            Ok(Input::Command(command)) => {
                self.flush_said(conn, io, said);
                if let Err(e) = self.run_command(conn, command, io) {
                    io.send(conn, notice(e).as_bytes());
                }
            }
            Err(e) => {
                self.flush_said(conn, io, said);
                io.send(conn, notice(e).as_bytes());
            }
        }
    }

    fn run_command(
        &mut self,
        conn: ConnId,
        command: Command<'_>,
        io: &mut impl Io,
    ) -> Result<(), CommandError> {
        let client = &self.clients[&conn];
        let (nick, room) = (client.nick.clone(), client.room);
        match command {
            Command::Help => {
                let text: String = HELP.iter().map(notice).collect();
                io.send(conn, text.as_bytes());
            }
            Command::Nick(new) => {
                validate_nick(new)?;
                if self
                    .nicks
                    .get(&name_key(new))
                    .is_some_and(|&owner| owner != conn)
                {
                    return Err(CommandError::NickTaken(new.to_string()));
                }
                self.nicks.remove(&name_key(&nick));
                self.nicks.insert(name_key(new), conn);
                self.clients.get_mut(&conn).expect("client").nick = new.to_string();
                info!(%conn, old = %nick, new = %new, "nick changed");
                io.send(
                    conn,
                    notice(format_args!("you are now known as {new}")).as_bytes(),
                );
                self.broadcast(
                    io,
                    room,
                    Some(conn),
                    notice(format_args!("{nick} is now known as {new}")),
                );
            }
            Command::Join(name) => {
                let name = parse_room(name)?;
                let existing = self.rooms.find(&name);
                if existing == Some(room) {
                    return Err(CommandError::AlreadyInRoom(
                        self.rooms.get(room).name.clone(),
                    ));
                }
                // An existing room keeps the spelling it was created with.
                let name = existing.map_or(name, |id| self.rooms.get(id).name.clone());
                let old_name = self.rooms.get(room).name.clone();
                if self.rooms.leave(room, conn, LOBBY) {
                    self.broadcast(
                        io,
                        room,
                        None,
                        notice(format_args!("{nick} left {old_name} (went to {name})")),
                    );
                }
                let new_room = self.rooms.join(&name, conn);
                self.clients.get_mut(&conn).expect("client").room = new_room;
                let r = self.rooms.get(new_room);
                let text = notice(format_args!(
                    "you are in {} {}",
                    r.name,
                    company(r.members.len())
                ));
                io.send(conn, text.as_bytes());
                let joined = notice(format_args!("{nick} joined {}", r.name));
                self.broadcast(io, new_room, Some(conn), joined);
            }
            Command::Rooms => {
                let list: Vec<String> = self
                    .rooms
                    .list()
                    .iter()
                    .map(|r| format!("{} ({})", r.name, r.members.len()))
                    .collect();
                io.send(
                    conn,
                    notice(format_args!("rooms: {}", list.join(", "))).as_bytes(),
                );
            }
            Command::Who => {
                let r = self.rooms.get(room);
                let mut nicks: Vec<&str> = r
                    .members
                    .iter()
                    .map(|m| self.clients[m].nick.as_str())
                    .collect();
                nicks.sort_by_key(|n| name_key(n));
                let text = notice(format_args!(
                    "in {} ({}): {}",
                    r.name,
                    nicks.len(),
                    nicks.join(", ")
                ));
                io.send(conn, text.as_bytes());
            }
            Command::Msg(to, text) => {
                let &target = self
                    .nicks
                    .get(&name_key(to))
                    .ok_or_else(|| CommandError::NoSuchNick(to.to_string()))?;
                let target_nick = &self.clients[&target].nick;
                io.send(
                    conn,
                    format!("[msg to {target_nick}] {text}\r\n").as_bytes(),
                );
                if target != conn {
                    io.send(target, format!("[msg] <{nick}> {text}\r\n").as_bytes());
                }
            }
            Command::Me(text) => {
                self.broadcast(io, room, Some(conn), format!("* {nick} {text}\r\n"))
            }
            Command::Quit(reason) => {
                let reason = reason.map_or_else(|| "quit".to_string(), |r| format!("quit: {r}"));
                self.clients.get_mut(&conn).expect("client").quitting = Some(reason);
                io.send(conn, notice("bye").as_bytes());
                io.close(conn, CloseReason::Closed);
            }
        }
        Ok(())
    }
}

impl Service for ChatService {
    fn output_limits(&self) -> OutputLimits {
        OutputLimits {
            high_water: self.config.max_output,
            low_water: self.config.max_output / 2,
            policy: OverflowPolicy::Disconnect,
        }
    }

    fn handle_connect(&mut self, conn: ConnId, peer: SocketAddr, io: &mut impl Io) {
        let nick = self.free_guest_nick();
        self.nicks.insert(name_key(&nick), conn);
        let room = self.rooms.join(LOBBY, conn);
        let company = company(self.rooms.get(room).members.len());
        info!(%conn, %peer, %nick, "joined");
        let welcome = format_args!(
            "welcome to switchboard, {nick}! you are in {LOBBY} {company}; type /help for commands"
        );
        io.send(conn, notice(welcome).as_bytes());
        self.broadcast(
            io,
            room,
            Some(conn),
            notice(format_args!("{nick} joined {LOBBY}")),
        );
        let now = io.now();
        self.clients.insert(
            conn,
            Client {
                nick,
                room,
                telnet: TelnetFilter::default(),
                codec: LineCodec::new(self.config.max_line),
                bucket: self
                    .config
                    .rate_limit
                    .map(|limit| TokenBucket::new(limit, now)),
                pending: Vec::new(),
                quitting: None,
            },
        );
    }

    fn handle_data(&mut self, conn: ConnId, data: &[u8], io: &mut impl Io) {
        let Some(client) = self.clients.get_mut(&conn) else {
            return;
        };
        if client.quitting.is_some() {
            return;
        }
        client.telnet.filter(data, &mut client.pending);
        self.process_input(conn, io);
    }

    fn handle_wake(&mut self, conn: ConnId, io: &mut impl Io) {
        self.process_input(conn, io);
    }

    fn handle_close(&mut self, conn: ConnId, reason: CloseReason, io: &mut impl Io) {
        let Some(client) = self.clients.remove(&conn) else {
            return;
        };
        self.nicks.remove(&name_key(&client.nick));
        let room_name = self.rooms.get(client.room).name.clone();
        let room_left = self.rooms.leave(client.room, conn, LOBBY);
        info!(%conn, nick = %client.nick, %reason, "left");
        if self.shutting_down || !room_left {
            return;
        }
        let why = match reason {
            CloseReason::Closed => client.quitting.unwrap_or_else(|| "removed".to_string()),
            CloseReason::PeerClosed => "connection closed".to_string(),
            CloseReason::OutputOverflow => "too far behind; disconnected".to_string(),
            other => other.to_string(),
        };
        let line = notice(format_args!("{} left {room_name} ({why})", client.nick));
        self.broadcast(io, client.room, None, line);
    }

    fn handle_shutdown(&mut self, io: &mut impl Io) {
        self.shutting_down = true;
        let line = Bytes::from(notice("shutdown server: the chat is closing, goodbye"));
        for &conn in self.clients.keys() {
            io.send_shared(conn, &line);
        }
    }

    fn rejection_notice(&self) -> Option<&[u8]> {
        Some(b"*** server full, try again later\r\n")
    }
}
