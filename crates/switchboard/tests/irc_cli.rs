//! `switchboard chat` as IRC clients meet it: the real binary on
//! 127.0.0.1:0, raw IRC over TCP. Every command and error numeric of the
//! IRC front-end, its IRCv3 capabilities, hostile and heavy input, and the
//! line protocol's users in the same rooms, each seen in its own protocol.
//!
//! Replies are checked line for line where the server's answer is
//! deterministic: [`Peer::sync`] sends `PING :token` and returns everything
//! that arrived before the matching `PONG`, so "exactly these lines and
//! nothing else" is a plain `assert_eq!`. Every wait has a deadline; no
//! test sleeps to synchronise.

mod support;

use std::io::{BufRead, BufReader, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::SockRef;
use support::*;

/// The server's name in replies (`--server-name` default).
const SERVER: &str = "switchboard.local";

/// No rate limit: these tests send many commands and check replies, not
/// pacing (the flood test sets its own).
const FAST: &[&str] = &["--rate-limit", "0"];

/// A line from the server: `:switchboard.local REST`.
fn srv(rest: &str) -> String {
    format!(":{SERVER} {rest}")
}

/// Splits `@tags rest` into the tags (without `@`) and the rest.
fn untag(line: &str) -> (Option<&str>, &str) {
    match line.strip_prefix('@') {
        Some(tagged) => {
            let (tags, rest) = tagged.split_once(' ').expect("tags end with a space");
            (Some(tags), rest)
        }
        None => (None, line),
    }
}

/// The `time=` tag of a line, checked to be RFC 3339 with milliseconds in
/// UTC (`2026-11-30T19:38:02.123Z`) and within a minute of now; returns the
/// line without its tags and the other tags (`;`-joined, in order).
fn timed(line: &str) -> (String, String) {
    let (tags, rest) = untag(line);
    let tags = tags.unwrap_or_else(|| panic!("no tags on {line:?}"));
    let mut time = None;
    let mut others = Vec::new();
    for tag in tags.split(';') {
        match tag.strip_prefix("time=") {
            Some(t) => time = Some(t),
            None => others.push(tag),
        }
    }
    let time = time.unwrap_or_else(|| panic!("no time= tag on {line:?}"));
    assert_recent(time, line);
    (rest.to_string(), others.join(";"))
}

/// Asserts `stamp` is `YYYY-MM-DDTHH:MM:SS.mmmZ` and within a minute of now.
fn assert_recent(stamp: &str, context: &str) {
    let ms = unix_ms(stamp)
        .unwrap_or_else(|| panic!("{stamp:?} is not RFC 3339 UTC with milliseconds: {context:?}"));
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        (now - ms).abs() < 60_000,
        "{stamp} is not now ({now} ms): {context:?}"
    );
}

/// Milliseconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn unix_ms(stamp: &str) -> Option<i64> {
    let b = stamp.as_bytes();
    let shape = b.len() == 24
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':'
        && b[19] == b'.'
        && b[23] == b'Z';
    if !shape {
        return None;
    }
    let num = |from: usize, to: usize| -> Option<i64> {
        let digits = &stamp[from..to];
        digits
            .bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| digits.parse().ok())
            .flatten()
    };
    let (y, m, d) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (h, mi, s, ms) = (num(11, 13)?, num(14, 16)?, num(17, 19)?, num(20, 23)?);
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some((((days * 24 + h) * 60 + mi) * 60 + s) * 1000 + ms)
}

/// Seconds since the Unix epoch, now.
fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// Asserts `secs` (a numeric's Unix time) is within a minute of now.
fn assert_recent_secs(secs: &str, context: &str) {
    let secs: u64 = secs
        .parse()
        .unwrap_or_else(|_| panic!("{secs:?} is not a Unix time: {context:?}"));
    assert!(
        now_secs().abs_diff(secs) < 60,
        "{secs} is not now: {context:?}"
    );
}

/// One client connection, of either protocol. A thread reads its lines
/// (each must end in CRLF) into a channel, so that an IRC client can
/// answer the server's `PING`s on time however busy the test is; reads
/// give up after [`DEADLINE`].
struct Peer {
    name: String,
    lines: Receiver<String>,
    writer: Arc<Mutex<TcpStream>>,
    /// Server `PING`s answered by the reader thread.
    pongs: Arc<AtomicUsize>,
    syncs: usize,
}

impl Peer {
    /// Connects to `addr`. With `auto_pong`, the server's `PING`s are
    /// answered at once and not passed on.
    fn connect(addr: SocketAddr, name: &str, auto_pong: bool) -> Peer {
        Peer::over(connect(addr), name, auto_pong)
    }

    fn over(stream: TcpStream, name: &str, auto_pong: bool) -> Peer {
        stream.set_read_timeout(Some(DEADLINE)).unwrap();
        stream.set_write_timeout(Some(DEADLINE)).unwrap();
        let writer = Arc::new(Mutex::new(stream.try_clone().unwrap()));
        let pongs = Arc::new(AtomicUsize::new(0));
        let (tx, lines) = mpsc::channel();
        let (pong_writer, pong_count) = (Arc::clone(&writer), Arc::clone(&pongs));
        let mut reader = BufReader::new(stream);
        thread::spawn(move || {
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match reader.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let text = String::from_utf8_lossy(&buf);
                let line = match text.strip_suffix("\r\n") {
                    Some(line) => line.to_string(),
                    None => format!("{text}<not ended by CRLF>"),
                };
                if auto_pong {
                    if let Some(token) = line.strip_prefix("PING ") {
                        let pong = format!("PONG {token}\r\n");
                        let _ = pong_writer.lock().unwrap().write_all(pong.as_bytes());
                        pong_count.fetch_add(1, Ordering::SeqCst);
                        continue;
                    }
                }
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Peer {
            name: name.to_string(),
            lines,
            writer,
            pongs,
            syncs: 0,
        }
    }

    /// Sends `line` and CRLF.
    fn send(&self, line: &str) {
        self.send_raw(format!("{line}\r\n").as_bytes());
    }

    fn send_raw(&self, bytes: &[u8]) {
        self.writer.lock().unwrap().write_all(bytes).unwrap();
    }

    /// The next line, or `None` at EOF; panics after the deadline.
    fn next(&mut self) -> Option<String> {
        match self.lines.recv_timeout(DEADLINE) {
            Ok(line) => Some(line),
            Err(RecvTimeoutError::Disconnected) => None,
            Err(RecvTimeoutError::Timeout) => panic!("{}: no line within {DEADLINE:?}", self.name),
        }
    }

    /// The next line (panics at EOF or after the deadline).
    fn line(&mut self) -> String {
        self.next()
            .unwrap_or_else(|| panic!("{}: EOF while waiting for a line", self.name))
    }

    /// Skips lines until one satisfies `wanted`; returns it.
    fn expect(&mut self, what: &str, wanted: impl Fn(&str) -> bool) -> String {
        let end = Instant::now() + DEADLINE;
        let mut skipped = Vec::new();
        loop {
            let left = end.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(line) => skipped.push(line),
                Err(e) => panic!(
                    "{}: no {what} ({e:?}); got instead:\n{}",
                    self.name,
                    skipped.join("\n")
                ),
            }
        }
    }

    /// Skips lines until `exact` arrives.
    fn expect_line(&mut self, exact: &str) {
        self.expect(&format!("{exact:?}"), |l| l == exact);
    }

    /// Sends `PING :token` and returns every line that arrived before the
    /// `PONG` that answers it: all the replies to the commands sent before,
    /// and everything others made the server send here meanwhile.
    fn sync(&mut self) -> Vec<String> {
        self.syncs += 1;
        let token = format!("sync-{}", self.syncs);
        self.send(&format!("PING :{token}"));
        let pong = srv(&format!("PONG {SERVER} :{token}"));
        let mut got = Vec::new();
        loop {
            let line = self.next().unwrap_or_else(|| {
                panic!(
                    "{}: EOF while waiting for {pong:?}; got:\n{}",
                    self.name,
                    got.join("\n")
                )
            });
            if untag(&line).1 == pong {
                return got;
            }
            got.push(line);
        }
    }

    /// Asserts nothing arrived (up to a [`sync`](Self::sync)).
    fn assert_quiet(&mut self) {
        let got = self.sync();
        assert!(got.is_empty(), "{}: unexpected lines: {got:#?}", self.name);
    }

    /// Every line up to EOF.
    fn rest(&mut self) -> Vec<String> {
        let mut got = Vec::new();
        while let Some(line) = self.next() {
            got.push(line);
        }
        got
    }

    /// Server `PING`s answered so far.
    fn pongs(&self) -> usize {
        self.pongs.load(Ordering::SeqCst)
    }

    /// `JOIN channel`, checking the join and the names that follow.
    fn join(&mut self, channel: &str) -> Vec<String> {
        self.send(&format!("JOIN {channel}"));
        let got = self.sync();
        assert!(
            got.first()
                .is_some_and(|l| untag(l).1.ends_with(&format!(" JOIN {channel}"))),
            "{}: JOIN {channel} answered with {got:#?}",
            self.name
        );
        assert_eq!(
            got.last(),
            Some(&srv(&format!(
                "366 {} {channel} :End of /NAMES list",
                self.name
            ))),
            "{}: {got:#?}",
            self.name
        );
        got
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        if let Ok(w) = self.writer.lock() {
            let _ = w.shutdown(Shutdown::Both);
        }
    }
}

/// A chat server with both front-ends on free ports.
struct Chat {
    server: Server,
    irc: SocketAddr,
    line: SocketAddr,
}

impl Chat {
    fn start(extra: &[&str]) -> Chat {
        let mut args = CHAT.to_vec();
        args.extend_from_slice(extra);
        let mut server = Server::start(&args);
        let irc = server.listening_addr("irc");
        let line = server.listening_addr("chat");
        Chat { server, irc, line }
    }

    /// A new IRC connection, not registered, answering server `PING`s.
    fn irc_conn(&self, name: &str) -> Peer {
        Peer::connect(self.irc, name, true)
    }

    /// An IRC client registered as `nick` (user `~nick`, real name
    /// `Real nick`), answering server `PING`s.
    fn user(&self, nick: &str) -> Peer {
        Self::register(self.irc_conn(nick), nick)
    }

    /// Registers `c` as `nick` and checks the welcome, 001 to 376.
    fn register(mut c: Peer, nick: &str) -> Peer {
        c.send(&format!("NICK {nick}"));
        c.send(&format!("USER {nick} 0 * :Real {nick}"));
        let welcome = c.sync();
        let hello = srv(&format!(
            "001 {nick} :Welcome to the switchboard IRC Network, {nick}!~"
        ));
        assert!(
            welcome.first().is_some_and(|l| l.starts_with(&hello)),
            "{welcome:#?}"
        );
        let last = welcome.last().unwrap();
        assert!(
            last.starts_with(&srv(&format!("376 {nick} "))) || last.contains(" 422 "),
            "{welcome:#?}"
        );
        c
    }

    /// A line-protocol client (`nc`), welcomed; returns it and its nick.
    fn line_user(&self) -> (Peer, String) {
        let mut c = Peer::connect(self.line, "line client", false);
        let welcome = c.line();
        let nick = welcome
            .strip_prefix("*** welcome to switchboard, ")
            .and_then(|rest| rest.split('!').next())
            .unwrap_or_else(|| panic!("line welcome: {welcome:?}"))
            .to_string();
        c.name = nick.clone();
        (c, nick)
    }
}

/// A file in the temporary directory, removed on drop.
struct TempFile(PathBuf);

impl TempFile {
    fn new(name: &str, contents: &str) -> TempFile {
        let path =
            std::env::temp_dir().join(format!("switchboard-irc-cli-{}-{name}", std::process::id()));
        std::fs::write(&path, contents).unwrap();
        TempFile(path)
    }

    fn path(&self) -> &str {
        self.0.to_str().unwrap()
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn registration_negotiates_caps_then_welcomes_with_001_to_005_lusers_and_motd() {
    let chat = Chat::start(FAST);
    let mut c = chat.irc_conn("alice");
    c.send("CAP LS 302");
    c.send("PASS anything"); // ignored: no --irc-password
    c.send("NICK alice");
    c.send("USER alice 0 * :Alice Liddell");
    // CAP LS holds registration until CAP END.
    assert_eq!(
        c.sync(),
        [srv(
            "CAP * LS :cap-notify echo-message message-tags multi-prefix server-time"
        )]
    );
    c.send("CAP REQ :multi-prefix server-time");
    c.send("CAP REQ :multi-prefix no-such-cap"); // all or nothing
    c.send("CAP FOO");
    c.send("CAP LIST");
    assert_eq!(
        c.sync(),
        [
            srv("CAP alice ACK :multi-prefix server-time"),
            srv("CAP alice NAK :multi-prefix no-such-cap"),
            srv("410 alice FOO :Invalid CAP command"),
            // cap-notify: implied by CAP LS 302, so listed as enabled.
            srv("CAP alice LIST :cap-notify multi-prefix server-time"),
        ]
    );
    c.send("CAP END");
    let welcome = c.sync();
    let version = env!("CARGO_PKG_VERSION");
    assert_eq!(
        welcome[..2],
        [
            srv("001 alice :Welcome to the switchboard IRC Network, alice!~alice@irc"),
            srv(&format!(
                "002 alice :Your host is {SERVER}, running version switchboard-{version}"
            )),
        ]
    );
    let created = welcome[2]
        .strip_prefix(&srv("003 alice :This server was created "))
        .unwrap_or_else(|| panic!("003: {:?}", welcome[2]));
    assert_recent(created, &welcome[2]);
    assert_eq!(
        welcome[3],
        srv(&format!("004 alice {SERVER} switchboard-{version} i not o"))
    );
    // 005: 1 to 13 tokens a line, with what a client needs to know.
    let isupport: Vec<&String> = welcome[4..]
        .iter()
        .take_while(|l| l.starts_with(&srv("005 ")))
        .collect();
    assert!(!isupport.is_empty(), "no 005 in {welcome:#?}");
    let mut tokens = Vec::new();
    for line in &isupport {
        let middle = line
            .strip_prefix(&srv("005 alice "))
            .and_then(|l| l.strip_suffix(" :are supported by this server"))
            .unwrap_or_else(|| panic!("005 line: {line:?}"));
        let these: Vec<&str> = middle.split(' ').collect();
        assert!((1..=13).contains(&these.len()), "{line:?}");
        tokens.extend(these);
    }
    for token in [
        "CASEMAPPING=ascii",
        "CHANTYPES=#",
        "NICKLEN=32",
        "CHANNELLEN=33",
        "TOPICLEN=390",
        "NETWORK=switchboard",
        "PREFIX=(o)@",
        "CHANMODES=,,,nt",
    ] {
        assert!(tokens.contains(&token), "no {token} in {tokens:?}");
    }
    assert_eq!(
        welcome[4 + isupport.len()..],
        [
            srv("251 alice :There are 1 users and 0 invisible on 1 servers"),
            srv("254 alice 1 :channels formed"),
            srv("255 alice :I have 1 clients and 0 servers"),
            srv("265 alice 1 1 :Current local users 1, max 1"),
            srv("266 alice 1 1 :Current global users 1, max 1"),
            srv(&format!("375 alice :- {SERVER} Message of the day - ")),
            srv("372 alice :- Welcome to switchboard."),
            srv("372 alice :- Its rooms are shared with nc and telnet users on the line port"),
            srv("372 alice :- (8008 by default): #lobby is where everyone starts."),
            srv("376 alice :End of /MOTD command."),
        ]
    );

    // A client still registering counts as an unknown connection (253).
    let mut u = chat.irc_conn("unregistered");
    assert!(u.sync().is_empty(), "PING works before registration");
    c.send("USER alice 0 * :again");
    c.send("PASS again");
    c.send("CAP END"); // ignored once registered
    c.send("LUSERS");
    c.send("MOTD");
    assert_eq!(
        c.sync(),
        [
            srv("462 alice :You may not reregister"),
            srv("462 alice :You may not reregister"),
            srv("251 alice :There are 1 users and 0 invisible on 1 servers"),
            srv("253 alice 1 :unknown connection(s)"),
            srv("254 alice 1 :channels formed"),
            srv("255 alice :I have 1 clients and 0 servers"),
            srv("265 alice 1 1 :Current local users 1, max 1"),
            srv("266 alice 1 1 :Current global users 1, max 1"),
            srv(&format!("375 alice :- {SERVER} Message of the day - ")),
            srv("372 alice :- Welcome to switchboard."),
            srv("372 alice :- Its rooms are shared with nc and telnet users on the line port"),
            srv("372 alice :- (8008 by default): #lobby is where everyone starts."),
            srv("376 alice :End of /MOTD command."),
        ]
    );

    // Nick trouble before registration: told with `*`, nothing registered.
    let long = "n".repeat(33);
    u.send("NICK");
    u.send("NICK :");
    u.send("NICK bad*nick");
    u.send(&format!("NICK {long}")); // NICKLEN=32
    u.send("NICK alice");
    u.send("NICK ALICE"); // CASEMAPPING=ascii
    u.send("USER bob");
    u.send("PASS");
    u.send("JOIN #lobby");
    assert_eq!(
        u.sync(),
        [
            srv("431 * :No nickname given"),
            srv("431 * :No nickname given"),
            srv("432 * bad*nick :Erroneous nickname"),
            srv(&format!("432 * {long} :Erroneous nickname")),
            srv("433 * alice :Nickname is already in use"),
            srv("433 * ALICE :Nickname is already in use"),
            srv("461 * USER :Not enough parameters"),
            srv("461 * PASS :Not enough parameters"),
            srv("451 * :You have not registered"),
        ]
    );
    // The longest nick there is, and registration without CAP.
    let nick32 = "N".repeat(32);
    let u = Chat::register(u, &nick32);
    drop(u);

    // CAP REQ without LS holds registration too.
    let mut v = chat.irc_conn("vera");
    v.send("CAP REQ :echo-message");
    v.send("NICK vera");
    v.send("USER vera 0 * :Vera");
    assert_eq!(v.sync(), [srv("CAP * ACK :echo-message")]);
    v.send("CAP END");
    let welcome = v.sync();
    assert_eq!(
        welcome[0],
        srv("001 vera :Welcome to the switchboard IRC Network, vera!~vera@irc")
    );
    assert_eq!(
        welcome.last().unwrap(),
        &srv("376 vera :End of /MOTD command.")
    );
}

#[test]
fn pass_is_required_when_configured_and_the_motd_comes_from_a_file() {
    let empty = TempFile::new("empty.motd", "");
    let mut args = FAST.to_vec();
    args.extend(["--irc-password", "s3cret", "--motd", empty.path()]);
    let chat = Chat::start(&args);

    let a = chat.irc_conn("alice");
    a.send("PASS s3cret");
    let mut a = Chat::register(a, "alice");
    a.send("MOTD");
    assert_eq!(a.sync(), [srv("422 alice :MOTD File is missing")]);

    // No PASS, or a wrong one: told, closed, never registered.
    let mut b = chat.irc_conn("bob");
    b.send("NICK bob");
    b.send("USER bob 0 * :Bob");
    assert_eq!(
        b.rest(),
        [
            srv("464 bob :Password incorrect"),
            "ERROR :Closing Link: (Password incorrect)".to_string(),
        ]
    );
    let mut c = chat.irc_conn("carol");
    c.send("PASS wrong");
    c.send("NICK carol");
    c.send("USER carol 0 * :Carol");
    assert_eq!(
        c.rest(),
        [
            srv("464 carol :Password incorrect"),
            "ERROR :Closing Link: (Password incorrect)".to_string(),
        ]
    );
    a.send("ISON bob carol alice");
    assert_eq!(a.sync(), [srv("303 alice :alice")]);

    // A MOTD file: its lines, as 372s.
    let motd = TempFile::new("two-lines.motd", "Be nice.\nNo spam.\n");
    let mut args = FAST.to_vec();
    args.extend(["--motd", motd.path()]);
    let chat = Chat::start(&args);
    let mut d = chat.user("dave");
    d.send("MOTD");
    assert_eq!(
        d.sync(),
        [
            srv(&format!("375 dave :- {SERVER} Message of the day - ")),
            srv("372 dave :- Be nice."),
            srv("372 dave :- No spam."),
            srv("376 dave :End of /MOTD command."),
        ]
    );
}

#[test]
fn pings_go_both_ways_and_a_silent_client_is_quit_with_ping_timeout() {
    let mut args = FAST.to_vec();
    args.extend(["--ping-interval", "300ms", "--ping-timeout", "300ms"]);
    let chat = Chat::start(&args);
    // Connected and silent: dropped once the ping interval is over.
    let mut never = Peer::connect(chat.irc, "never registers", false);
    let (mut line, line_nick) = chat.line_user();
    // Bob's reader answers every server PING at once.
    let mut bob = chat.user("bob");
    bob.join("#lobby");
    // Alice's does not: she answers nothing, as a dead client.
    let mut alice = Chat::register(Peer::connect(chat.irc, "alice", false), "alice");
    alice.send("JOIN #lobby");
    // Client to server: PING gets PONG with its token.
    alice.send("PING :are-you-there");
    alice.send("PING");
    alice.expect_line(&srv(&format!("PONG {SERVER} :are-you-there")));
    alice.expect_line(&srv("409 alice :No origin specified"));

    // Server to client: the channel hears why alice went.
    let quit = bob.expect("alice's QUIT", |l| l.starts_with(":alice!~alice@irc QUIT"));
    let why = quit
        .strip_prefix(":alice!~alice@irc QUIT :")
        .unwrap_or_else(|| panic!("{quit:?}"));
    let secs = why
        .strip_prefix("Ping timeout: ")
        .and_then(|s| s.strip_suffix(" seconds"))
        .unwrap_or_else(|| panic!("QUIT reason {why:?}"));
    secs.parse::<u64>()
        .unwrap_or_else(|_| panic!("QUIT reason {why:?}"));
    assert!(bob.pongs() >= 1, "bob was never sent a PING");
    assert_eq!(line.line(), "*** bob joined #lobby");
    assert_eq!(line.line(), "*** alice joined #lobby");
    assert_eq!(
        line.line(),
        format!("*** alice left #lobby (ping timeout: {secs} seconds)")
    );
    // Alice was sent a PING, then told, then closed.
    let rest = alice.rest();
    assert!(
        rest.contains(&"PING :switchboard.local".to_string()),
        "{rest:#?}"
    );
    assert_eq!(
        rest.last(),
        Some(&format!("ERROR :Closing Link: irc ({why})")),
        "{rest:#?}"
    );
    // Bob, who answered, is still here and alone with the line client.
    bob.send("NAMES #lobby");
    assert_eq!(
        bob.sync(),
        [
            srv(&format!("353 bob = #lobby :@{line_nick} bob")),
            srv("366 bob #lobby :End of /NAMES list"),
        ]
    );
    assert_eq!(
        never.rest(),
        ["ERROR :Closing Link: (Registration timed out)"]
    );
}

#[test]
fn join_part_names_topic_list_nick_and_join_0() {
    let chat = Chat::start(FAST);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    alice.send("JOIN #rust,#go");
    assert_eq!(
        alice.sync(),
        [
            ":alice!~alice@irc JOIN #rust".to_string(),
            srv("353 alice = #rust :@alice"),
            srv("366 alice #rust :End of /NAMES list"),
            ":alice!~alice@irc JOIN #go".to_string(),
            srv("353 alice = #go :@alice"),
            srv("366 alice #go :End of /NAMES list"),
        ]
    );
    // Names ignore case; the channel keeps its creator's spelling.
    bob.send("JOIN #RUST");
    assert_eq!(
        bob.sync(),
        [
            ":bob!~bob@irc JOIN #rust".to_string(),
            srv("353 bob = #rust :@alice bob"),
            srv("366 bob #rust :End of /NAMES list"),
        ]
    );
    assert_eq!(alice.sync(), [":bob!~bob@irc JOIN #rust"]);
    // Joining again is no error and tells no one.
    bob.send("JOIN #rust");
    bob.assert_quiet();
    alice.assert_quiet();

    bob.send("NAMES #rust,#go,#nowhere");
    bob.send("NAMES");
    assert_eq!(
        bob.sync(),
        [
            srv("353 bob = #rust :@alice bob"),
            srv("366 bob #rust :End of /NAMES list"),
            srv("353 bob = #go :@alice"),
            srv("366 bob #go :End of /NAMES list"),
            srv("366 bob #nowhere :End of /NAMES list"),
            srv("366 bob * :End of /NAMES list"),
        ]
    );

    // TOPIC: none, set (everyone told), queried, shown on join, cleared.
    bob.send("TOPIC #rust");
    assert_eq!(bob.sync(), [srv("331 bob #rust :No topic is set")]);
    alice.send("TOPIC #rust :Rust talk, no flames");
    let set = ":alice!~alice@irc TOPIC #rust :Rust talk, no flames";
    assert_eq!(alice.sync(), [set]);
    assert_eq!(bob.sync(), [set]);
    bob.send("TOPIC #rust");
    let got = bob.sync();
    assert_eq!(got[0], srv("332 bob #rust :Rust talk, no flames"));
    let at = got[1]
        .strip_prefix(&srv("333 bob #rust alice "))
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert_recent_secs(at, &got[1]);
    assert_eq!(got.len(), 2, "{got:#?}");
    let mut carol = chat.user("carol");
    carol.send("JOIN #rust");
    let got = carol.sync();
    assert_eq!(
        got,
        [
            ":carol!~carol@irc JOIN #rust".to_string(),
            srv("332 carol #rust :Rust talk, no flames"),
            srv(&format!("333 carol #rust alice {at}")),
            srv("353 carol = #rust :@alice bob carol"),
            srv("366 carol #rust :End of /NAMES list"),
        ]
    );
    assert_eq!(alice.sync(), [":carol!~carol@irc JOIN #rust"]);
    assert_eq!(bob.sync(), [":carol!~carol@irc JOIN #rust"]);

    // LIST: every channel (the lobby always), or those asked for.
    alice.send("LIST");
    alice.send("LIST #rust,#nowhere");
    assert_eq!(
        alice.sync(),
        [
            srv("321 alice Channel :Users  Name"),
            srv("322 alice #go 1 :"),
            srv("322 alice #lobby 0 :"),
            srv("322 alice #rust 3 :Rust talk, no flames"),
            srv("323 alice :End of /LIST"),
            srv("321 alice Channel :Users  Name"),
            srv("322 alice #rust 3 :Rust talk, no flames"),
            srv("323 alice :End of /LIST"),
        ]
    );

    // TOPICLEN=390: a longer topic is cut to it.
    let long = "t".repeat(450);
    alice.send(&format!("TOPIC #rust :{long}"));
    let cut = format!(":alice!~alice@irc TOPIC #rust :{}", &long[..390]);
    assert_eq!(alice.sync(), [cut.as_str()]);
    assert_eq!(bob.sync(), [cut.as_str()]);
    assert_eq!(carol.sync(), [cut]);
    alice.send("TOPIC #rust :");
    let cleared = ":alice!~alice@irc TOPIC #rust :";
    assert_eq!(alice.sync(), [cleared]);
    assert_eq!(bob.sync(), [cleared]);
    assert_eq!(carol.sync(), [cleared]);
    carol.send("TOPIC #rust");
    assert_eq!(carol.sync(), [srv("331 carol #rust :No topic is set")]);

    // PART with and without a reason; an emptied channel is gone.
    carol.send("PART #rust :see you");
    let part = ":carol!~carol@irc PART #rust :see you";
    assert_eq!(carol.sync(), [part]);
    assert_eq!(alice.sync(), [part]);
    assert_eq!(bob.sync(), [part]);
    alice.send("PART #go");
    assert_eq!(alice.sync(), [":alice!~alice@irc PART #go"]);
    alice.send("LIST");
    assert_eq!(
        alice.sync(),
        [
            srv("321 alice Channel :Users  Name"),
            srv("322 alice #lobby 0 :"),
            srv("322 alice #rust 2 :"),
            srv("323 alice :End of /LIST"),
        ]
    );

    // NICK: the client and everyone sharing a channel see it.
    bob.send("NICK robert");
    let nick = ":bob!~bob@irc NICK robert";
    assert_eq!(bob.sync(), [nick]);
    assert_eq!(alice.sync(), [nick]);
    carol.assert_quiet(); // shares no channel with bob any more
    bob.send("NICK robert"); // no change
    bob.assert_quiet();
    bob.send("NICK Robert"); // only the case changes: still allowed
    assert_eq!(bob.sync(), [":robert!~bob@irc NICK Robert"]);
    assert_eq!(alice.sync(), [":robert!~bob@irc NICK Robert"]);
    bob.name = "Robert".to_string();

    // JOIN 0 leaves every channel.
    alice.send("JOIN #a,#b");
    alice.sync();
    alice.send("JOIN 0");
    assert_eq!(
        alice.sync(),
        [
            ":alice!~alice@irc PART #rust",
            ":alice!~alice@irc PART #a",
            ":alice!~alice@irc PART #b",
        ]
    );
    assert_eq!(bob.sync(), [":alice!~alice@irc PART #rust"]);
    alice.send("WHOIS alice");
    let whois = alice.sync();
    assert!(
        !whois.iter().any(|l| l.contains(" 319 ")),
        "in no channel: {whois:#?}"
    );
    bob.send("NAMES #rust");
    assert_eq!(
        bob.sync(),
        [
            srv("353 Robert = #rust :Robert"),
            srv("366 Robert #rust :End of /NAMES list"),
        ]
    );
}

#[test]
fn names_of_a_big_channel_span_lines_that_fit() {
    let chat = Chat::start(FAST);
    let nicks: Vec<String> = (0..40)
        .map(|i| format!("{i:02}{}", "n".repeat(30)))
        .collect();
    let mut members: Vec<Peer> = nicks.iter().map(|n| chat.user(n)).collect();
    for m in &mut members {
        m.join("#big");
    }
    let first = &mut members[0];
    assert_eq!(first.sync().len(), 39, "the others' JOINs");
    first.send("NAMES #big");
    let got = first.sync();
    let me = &nicks[0];
    let (last, names) = got.split_last().unwrap();
    assert_eq!(last, &srv(&format!("366 {me} #big :End of /NAMES list")));
    assert!(names.len() > 1, "{got:#?}");
    let mut listed = Vec::new();
    for line in names {
        assert!(line.len() <= 510, "{} bytes: {line:?}", line.len());
        let list = line
            .strip_prefix(&srv(&format!("353 {me} = #big :")))
            .unwrap_or_else(|| panic!("{line:?}"));
        listed.extend(list.split(' ').map(str::to_string));
    }
    let mut want: Vec<String> = nicks.clone();
    want[0] = format!("@{}", nicks[0]);
    assert_eq!(listed, want);
}

#[test]
fn quit_says_goodbye_and_tells_the_channels() {
    let chat = Chat::start(FAST);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    let mut carol = chat.user("carol");
    for c in [&mut alice, &mut bob, &mut carol] {
        c.join("#q");
    }
    assert_eq!(bob.sync(), [":carol!~carol@irc JOIN #q"]);
    bob.send("QUIT :off to bed");
    assert_eq!(bob.rest(), ["ERROR :Closing Link: irc (Quit: off to bed)"]);
    drop(bob);
    alice.expect_line(":bob!~bob@irc QUIT :Quit: off to bed");
    carol.expect_line(":bob!~bob@irc QUIT :Quit: off to bed");
    carol.send("QUIT");
    assert_eq!(carol.rest(), ["ERROR :Closing Link: irc (Quit)"]);
    drop(carol);
    assert_eq!(alice.line(), ":carol!~carol@irc QUIT :Quit");
    // Closing without QUIT is a quit too.
    let mut dave = chat.user("dave");
    dave.join("#q");
    alice.expect_line(":dave!~dave@irc JOIN #q");
    drop(dave);
    assert_eq!(alice.line(), ":dave!~dave@irc QUIT :Connection closed");
    alice.send("NAMES #q");
    assert_eq!(
        alice.sync(),
        [
            srv("353 alice = #q :@alice"),
            srv("366 alice #q :End of /NAMES list"),
        ]
    );
    // The session ends at QUIT, not when the connection is finally gone: a
    // client that keeps its socket open after ERROR (the server lingers up
    // to 2 s for it to close) holds neither its nick nor the channels' news.
    let mut erin = chat.user("erin");
    erin.join("#q");
    alice.expect_line(":erin!~erin@irc JOIN #q");
    erin.send("QUIT :later");
    assert_eq!(erin.rest(), ["ERROR :Closing Link: irc (Quit: later)"]);
    let _new_erin = chat.user("erin"); // asserts 001, not 433
    alice.expect_line(":erin!~erin@irc QUIT :Quit: later");
    drop(erin);
    // Before registration, QUIT just closes.
    let mut u = chat.irc_conn("unregistered");
    u.send("QUIT :never mind");
    assert_eq!(u.rest(), ["ERROR :Closing Link: irc (Quit: never mind)"]);
}

#[test]
fn privmsg_and_notice_reach_channels_and_nicks() {
    let chat = Chat::start(FAST);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    let mut carol = chat.user("carol"); // in no channel
    alice.join("#chat");
    bob.join("#chat");
    alice.sync();

    alice.send("PRIVMSG #chat :hello channel");
    alice.send("PRIVMSG bob :psst");
    alice.send("PRIVMSG #chat,carol :to both");
    alice.send("NOTICE #chat,carol :heads up");
    alice.send("PRIVMSG #chat :\u{1}ACTION waves\u{1}");
    alice.send("PRIVMSG BOB :any case");
    alice.send("PRIVMSG #CHAT :channel in any case");
    alice.assert_quiet(); // nothing comes back without echo-message
    assert_eq!(
        bob.sync(),
        [
            ":alice!~alice@irc PRIVMSG #chat :hello channel",
            ":alice!~alice@irc PRIVMSG bob :psst",
            ":alice!~alice@irc PRIVMSG #chat :to both",
            ":alice!~alice@irc NOTICE #chat :heads up",
            ":alice!~alice@irc PRIVMSG #chat :\u{1}ACTION waves\u{1}",
            ":alice!~alice@irc PRIVMSG bob :any case",
            ":alice!~alice@irc PRIVMSG #chat :channel in any case",
        ]
    );
    assert_eq!(
        carol.sync(),
        [
            ":alice!~alice@irc PRIVMSG carol :to both",
            ":alice!~alice@irc NOTICE carol :heads up",
        ]
    );

    // A message to oneself arrives once.
    alice.send("PRIVMSG alice :note to self");
    assert_eq!(
        alice.sync(),
        [":alice!~alice@irc PRIVMSG alice :note to self"]
    );

    // TARGMAX: four targets; the fifth is refused.
    alice.send("PRIVMSG bob,carol,bob,carol,bob :many");
    assert_eq!(alice.sync(), [srv("407 alice bob :Too many targets")]);
    assert_eq!(bob.sync(), [":alice!~alice@irc PRIVMSG bob :many"; 2]);
    assert_eq!(carol.sync(), [":alice!~alice@irc PRIVMSG carol :many"; 2]);

    // A NOTICE is never answered with an error.
    alice.send("NOTICE nobody :x");
    alice.send("NOTICE #nowhere :x");
    alice.send("NOTICE");
    alice.send("NOTICE bob");
    alice.send("NOTICE bob,bob,bob,bob,bob :five");
    alice.assert_quiet();
    assert_eq!(bob.sync(), [":alice!~alice@irc NOTICE bob :five"; 4]);

    // AWAY: a PRIVMSG (not a NOTICE) to an away user says so (301).
    bob.send("AWAY :at lunch");
    assert_eq!(
        bob.sync(),
        [srv("306 bob :You have been marked as being away")]
    );
    alice.send("PRIVMSG bob :you there?");
    alice.send("NOTICE bob :fyi");
    assert_eq!(alice.sync(), [srv("301 alice bob :at lunch")]);
    assert_eq!(
        bob.sync(),
        [
            ":alice!~alice@irc PRIVMSG bob :you there?",
            ":alice!~alice@irc NOTICE bob :fyi",
        ]
    );
    bob.send("AWAY");
    assert_eq!(
        bob.sync(),
        [srv("305 bob :You are no longer marked as being away")]
    );
    alice.send("PRIVMSG bob :back?");
    alice.assert_quiet();
    assert_eq!(bob.sync(), [":alice!~alice@irc PRIVMSG bob :back?"]);
}

#[test]
fn who_whois_ison_userhost_away_and_user_modes() {
    let chat = Chat::start(FAST);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    alice.join("#q");
    bob.join("#q");
    alice.sync();

    alice.send("WHO #q");
    alice.send("WHO bob");
    alice.send("WHO nobody");
    assert_eq!(
        alice.sync(),
        [
            srv(&format!(
                "352 alice #q ~alice irc {SERVER} alice H@ :0 Real alice"
            )),
            srv(&format!("352 alice #q ~bob irc {SERVER} bob H :0 Real bob")),
            srv("315 alice #q :End of WHO list"),
            srv(&format!("352 alice * ~bob irc {SERVER} bob H :0 Real bob")),
            srv("315 alice bob :End of WHO list"),
            srv("315 alice nobody :End of WHO list"),
        ]
    );

    bob.send("AWAY :gone fishing");
    assert_eq!(
        bob.sync(),
        [srv("306 bob :You have been marked as being away")]
    );
    alice.send("WHO bob");
    alice.send("WHOIS bob");
    let got = alice.sync();
    assert_eq!(
        got[..6],
        [
            srv(&format!("352 alice * ~bob irc {SERVER} bob G :0 Real bob")),
            srv("315 alice bob :End of WHO list"),
            srv("311 alice bob ~bob irc * :Real bob"),
            srv("319 alice bob :#q"),
            srv(&format!("312 alice bob {SERVER} :switchboard chat")),
            srv("301 alice bob :gone fishing"),
        ]
    );
    let idle: Vec<&str> = got[6]
        .strip_prefix(&srv("317 alice bob "))
        .and_then(|l| l.strip_suffix(" :seconds idle, signon time"))
        .unwrap_or_else(|| panic!("317: {got:#?}"))
        .split(' ')
        .collect();
    assert!(idle[0].parse::<u64>().unwrap() < 60, "{got:#?}");
    assert_recent_secs(idle[1], &got[6]);
    assert_eq!(got[7..], [srv("318 alice bob :End of /WHOIS list")]);

    // WHOIS of oneself shows channel status; a server name may come first.
    alice.send("WHOIS alice");
    let got = alice.sync();
    assert_eq!(got[1], srv("319 alice alice :@#q"), "{got:#?}");
    alice.send(&format!("WHOIS {SERVER} bob"));
    let got = alice.sync();
    assert_eq!(got[0], srv("311 alice bob ~bob irc * :Real bob"));
    alice.send("WHOIS nobody");
    assert_eq!(
        alice.sync(),
        [
            srv("401 alice nobody :No such nick/channel"),
            srv("318 alice nobody :End of /WHOIS list"),
        ]
    );

    alice.send("ISON bob carol ALICE");
    alice.send("ISON nobody");
    alice.send("USERHOST bob alice nobody");
    assert_eq!(
        alice.sync(),
        [
            srv("303 alice :bob alice"),
            srv("303 alice :"),
            srv("302 alice :bob=-~bob@irc alice=+~alice@irc"),
        ]
    );
    bob.send("AWAY :"); // an empty message is no message
    assert_eq!(
        bob.sync(),
        [srv("305 bob :You are no longer marked as being away")]
    );
    alice.send("USERHOST bob");
    alice.send("WHO bob");
    assert_eq!(
        alice.sync(),
        [
            srv("302 alice :bob=+~bob@irc"),
            srv(&format!("352 alice * ~bob irc {SERVER} bob H :0 Real bob")),
            srv("315 alice bob :End of WHO list"),
        ]
    );

    // User modes: only one's own; +i is the one there is.
    alice.send("MODE alice");
    alice.send("MODE alice +i");
    alice.send("MODE alice +i"); // already set: no change, no reply
    alice.send("MODE ALICE");
    alice.send("MODE alice +x");
    alice.send("MODE alice -i");
    alice.send("MODE bob");
    alice.send("MODE bob +i");
    alice.send("MODE nobody");
    assert_eq!(
        alice.sync(),
        [
            srv("221 alice +"),
            ":alice MODE alice :+i".to_string(),
            srv("221 alice +i"),
            srv("501 alice :Unknown MODE flag"),
            ":alice MODE alice :-i".to_string(),
            srv("502 alice :Cant change mode for other users"),
            srv("502 alice :Cant change mode for other users"),
            srv("401 alice nobody :No such nick/channel"),
        ]
    );
    bob.assert_quiet();
}

#[test]
fn channel_operators_modes_and_kick() {
    let chat = Chat::start(FAST);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    let mut carol = chat.user("carol"); // outside
    alice.join("#m");
    bob.join("#m");
    alice.sync();

    // The first member is the operator; a new channel is +nt.
    alice.send("NAMES #m");
    alice.send("MODE #m");
    alice.send("MODE #m b");
    let got = alice.sync();
    assert_eq!(
        got[..3],
        [
            srv("353 alice = #m :@alice bob"),
            srv("366 alice #m :End of /NAMES list"),
            srv("324 alice #m +nt"),
        ]
    );
    let created = got[3]
        .strip_prefix(&srv("329 alice #m "))
        .unwrap_or_else(|| panic!("{got:#?}"));
    assert_recent_secs(created, &got[3]);
    assert_eq!(got[4..], [srv("368 alice #m :End of channel ban list")]);

    // +t and +n hold for non-operators.
    bob.send("MODE #m -t");
    bob.send("MODE #m +o bob");
    bob.send("TOPIC #m :bob's topic");
    assert_eq!(
        bob.sync(),
        [
            srv("482 bob #m :You're not channel operator"),
            srv("482 bob #m :You're not channel operator"),
            srv("482 bob #m :You're not channel operator"),
        ]
    );
    carol.send("PRIVMSG #m :from outside");
    assert_eq!(carol.sync(), [srv("404 carol #m :Cannot send to channel")]);
    alice.assert_quiet();

    // The operator lifts them; everyone in the channel is told.
    alice.send("MODE #m -t");
    alice.send("MODE #m -n");
    alice.send("MODE #m -n"); // no change: no one told
    let changes = [
        ":alice!~alice@irc MODE #m -t",
        ":alice!~alice@irc MODE #m -n",
    ];
    assert_eq!(alice.sync(), changes);
    assert_eq!(bob.sync(), changes);
    alice.send("MODE #m");
    assert_eq!(alice.sync()[0], srv("324 alice #m +"));
    bob.send("TOPIC #m :bob's topic");
    let topic = ":bob!~bob@irc TOPIC #m :bob's topic";
    assert_eq!(bob.sync(), [topic]);
    carol.send("PRIVMSG #m :from outside");
    carol.assert_quiet();
    let outside = ":carol!~carol@irc PRIVMSG #m :from outside";
    assert_eq!(alice.sync(), [topic, outside]);
    assert_eq!(bob.sync(), [outside]);
    alice.send("MODE #m +nt");
    let changes = [
        ":alice!~alice@irc MODE #m +n",
        ":alice!~alice@irc MODE #m +t",
    ];
    assert_eq!(alice.sync(), changes);
    assert_eq!(bob.sync(), changes);
    alice.send("MODE #m +x");
    alice.send("MODE #m +o");
    assert_eq!(
        alice.sync(),
        [
            srv("472 alice x :is unknown mode char to me"),
            srv("461 alice MODE :Not enough parameters"),
        ]
    );

    // +o / -o.
    alice.send("MODE #m +o bob");
    let op = ":alice!~alice@irc MODE #m +o bob";
    assert_eq!(alice.sync(), [op]);
    assert_eq!(bob.sync(), [op]);
    alice.send("MODE #m +o bob"); // already: no one told
    alice.send("NAMES #m");
    alice.send("WHO #m");
    assert_eq!(
        alice.sync(),
        [
            srv("353 alice = #m :@alice @bob"),
            srv("366 alice #m :End of /NAMES list"),
            srv(&format!(
                "352 alice #m ~alice irc {SERVER} alice H@ :0 Real alice"
            )),
            srv(&format!(
                "352 alice #m ~bob irc {SERVER} bob H@ :0 Real bob"
            )),
            srv("315 alice #m :End of WHO list"),
        ]
    );
    bob.send("MODE #m -o alice");
    let deop = ":bob!~bob@irc MODE #m -o alice";
    assert_eq!(bob.sync(), [deop]);
    assert_eq!(alice.sync(), [deop]);
    alice.send("MODE #m -t");
    alice.send("MODE #m +o alice");
    alice.send("KICK #m bob");
    assert_eq!(
        alice.sync(),
        [
            srv("482 alice #m :You're not channel operator"),
            srv("482 alice #m :You're not channel operator"),
            srv("482 alice #m :You're not channel operator"),
        ]
    );

    // KICK and its errors.
    bob.send("MODE #m +o carol");
    bob.send("MODE #m +o nobody");
    bob.send("KICK #m carol");
    bob.send("KICK #m nobody");
    bob.send("KICK #nowhere alice");
    bob.send("KICK #m");
    assert_eq!(
        bob.sync(),
        [
            srv("441 bob carol #m :They aren't on that channel"),
            srv("401 bob nobody :No such nick/channel"),
            srv("441 bob carol #m :They aren't on that channel"),
            srv("401 bob nobody :No such nick/channel"),
            srv("403 bob #nowhere :No such channel"),
            srv("461 bob KICK :Not enough parameters"),
        ]
    );
    carol.send("KICK #m alice");
    assert_eq!(
        carol.sync(),
        [srv("442 carol #m :You're not on that channel")]
    );
    bob.send("KICK #m alice :behave");
    let kick = ":bob!~bob@irc KICK #m alice :behave";
    assert_eq!(bob.sync(), [kick]);
    assert_eq!(alice.sync(), [kick]);
    alice.send("PRIVMSG #m :let me back");
    assert_eq!(alice.sync(), [srv("404 alice #m :Cannot send to channel")]);
    // The reason defaults to the kicker's nick; several nicks at once.
    alice.join("#m");
    carol.join("#m");
    bob.send("KICK #m alice");
    bob.send("KICK #m alice,carol :both of you");
    assert_eq!(
        bob.sync(),
        [
            ":alice!~alice@irc JOIN #m".to_string(),
            ":carol!~carol@irc JOIN #m".to_string(),
            ":bob!~bob@irc KICK #m alice :bob".to_string(),
            srv("441 bob alice #m :They aren't on that channel"),
            ":bob!~bob@irc KICK #m carol :both of you".to_string(),
        ]
    );
    bob.send("NAMES #m");
    assert_eq!(
        bob.sync(),
        [
            srv("353 bob = #m :@bob"),
            srv("366 bob #m :End of /NAMES list"),
        ]
    );
}

#[test]
fn every_error_gets_its_numeric() {
    let chat = Chat::start(FAST);
    // 451: anything but registration before registering.
    let mut u = chat.irc_conn("unregistered");
    u.send("JOIN #x");
    u.send("PRIVMSG bob :hi");
    u.send("FOO");
    assert_eq!(
        u.sync(),
        [
            srv("451 * :You have not registered"),
            srv("451 * :You have not registered"),
            srv("451 * :You have not registered"),
        ]
    );
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    bob.join("#closed"); // +nt, bob is its operator
    alice.join("#mine");

    let long = "x".repeat(33);
    let errors: &[(&str, &str)] = &[
        // 401 ERR_NOSUCHNICK
        (
            "PRIVMSG nobody :hi",
            "401 alice nobody :No such nick/channel",
        ),
        // TAGMSG belongs to message-tags: unknown without it.
        ("TAGMSG nobody", "421 alice TAGMSG :Unknown command"),
        (
            "MODE #mine +o nobody",
            "401 alice nobody :No such nick/channel",
        ),
        // 403 ERR_NOSUCHCHANNEL
        (
            "PRIVMSG #nowhere :hi",
            "403 alice #nowhere :No such channel",
        ),
        ("JOIN nochan", "403 alice nochan :No such channel"),
        ("JOIN #bad*name", "403 alice #bad*name :No such channel"),
        (
            &format!("JOIN #{long}"),
            &format!("403 alice #{long} :No such channel"),
        ),
        ("PART #nowhere", "403 alice #nowhere :No such channel"),
        ("TOPIC #nowhere", "403 alice #nowhere :No such channel"),
        ("MODE #nowhere", "403 alice #nowhere :No such channel"),
        ("KICK #nowhere bob", "403 alice #nowhere :No such channel"),
        // 404 ERR_CANNOTSENDTOCHAN (+n, not a member)
        (
            "PRIVMSG #closed :hi",
            "404 alice #closed :Cannot send to channel",
        ),
        // 411 ERR_NORECIPIENT
        ("PRIVMSG", "411 alice :No recipient given (PRIVMSG)"),
        ("PRIVMSG :", "411 alice :No recipient given (PRIVMSG)"),
        // 412 ERR_NOTEXTTOSEND
        ("PRIVMSG bob", "412 alice :No text to send"),
        ("PRIVMSG #mine :", "412 alice :No text to send"),
        // 421 ERR_UNKNOWNCOMMAND
        ("FOO bar", "421 alice FOO :Unknown command"),
        ("frobnicate", "421 alice frobnicate :Unknown command"),
        // 431 ERR_NONICKNAMEGIVEN
        ("NICK", "431 alice :No nickname given"),
        ("NICK :", "431 alice :No nickname given"),
        ("WHOIS", "431 alice :No nickname given"),
        // 432 ERR_ERRONEUSNICKNAME
        ("NICK bad*nick", "432 alice bad*nick :Erroneous nickname"),
        ("NICK #chan", "432 alice #chan :Erroneous nickname"),
        (
            &format!("NICK {long}"),
            &format!("432 alice {long} :Erroneous nickname"),
        ),
        // 433 ERR_NICKNAMEINUSE
        ("NICK bob", "433 alice bob :Nickname is already in use"),
        ("NICK BOB", "433 alice BOB :Nickname is already in use"),
        // 441 ERR_USERNOTINCHANNEL
        (
            "KICK #mine bob",
            "441 alice bob #mine :They aren't on that channel",
        ),
        (
            "MODE #mine +o bob",
            "441 alice bob #mine :They aren't on that channel",
        ),
        // 442 ERR_NOTONCHANNEL
        (
            "PART #closed",
            "442 alice #closed :You're not on that channel",
        ),
        (
            "TOPIC #closed :mine now",
            "442 alice #closed :You're not on that channel",
        ),
        (
            "KICK #closed bob",
            "442 alice #closed :You're not on that channel",
        ),
        (
            "MODE #closed -t",
            "442 alice #closed :You're not on that channel",
        ),
        // 461 ERR_NEEDMOREPARAMS
        ("JOIN", "461 alice JOIN :Not enough parameters"),
        ("PART", "461 alice PART :Not enough parameters"),
        ("TOPIC", "461 alice TOPIC :Not enough parameters"),
        ("KICK #mine", "461 alice KICK :Not enough parameters"),
        ("MODE", "461 alice MODE :Not enough parameters"),
        ("ISON", "461 alice ISON :Not enough parameters"),
        ("USERHOST", "461 alice USERHOST :Not enough parameters"),
        // 462 ERR_ALREADYREGISTERED
        ("USER alice 0 * :Alice", "462 alice :You may not reregister"),
        ("PASS secret", "462 alice :You may not reregister"),
    ];
    for (command, reply) in errors {
        alice.send(command);
        assert_eq!(alice.sync(), [srv(reply)], "reply to {command:?}");
    }
    // 407 ERR_TOOMANYTARGETS for a KICK's fifth nick (TARGMAX KICK:4).
    alice.send("KICK #mine n1,n2,n3,n4,n5");
    let mut want: Vec<String> = (1..=4)
        .map(|i| srv(&format!("401 alice n{i} :No such nick/channel")))
        .collect();
    want.push(srv("407 alice n5 :Too many targets"));
    assert_eq!(alice.sync(), want);
    // 417 ERR_INPUTTOOLONG (see also the long-line test).
    alice.send(&format!("PRIVMSG bob :{}", "y".repeat(500)));
    assert_eq!(alice.sync(), [srv("417 alice :Input line was too long")]);
    // 482 ERR_CHANOPRIVSNEEDED: a member, not an operator.
    alice.join("#closed");
    for command in [
        "MODE #closed -t",
        "MODE #closed +o alice",
        "KICK #closed bob",
        "TOPIC #closed :mine now",
    ] {
        alice.send(command);
        assert_eq!(
            alice.sync(),
            [srv("482 alice #closed :You're not channel operator")],
            "reply to {command:?}"
        );
    }
    // None of it reached bob but alice's join.
    assert_eq!(bob.sync(), [":alice!~alice@irc JOIN #closed"]);
}

#[test]
fn ircv3_caps_server_time_message_tags_echo_message_multi_prefix_cap_notify() {
    let chat = Chat::start(FAST);
    let all = "cap-notify echo-message message-tags multi-prefix server-time";
    let mut alice = chat.irc_conn("alice");
    alice.send("CAP LS 302");
    alice.send(&format!("CAP REQ :{all}"));
    alice.send("NICK alice");
    alice.send("USER alice 0 * :Real alice");
    assert_eq!(
        alice.sync(),
        [
            srv(&format!("CAP * LS :{all}")),
            srv(&format!("CAP * ACK :{all}")),
        ]
    );
    alice.send("CAP END");
    let welcome = alice.sync();
    assert_eq!(
        welcome[0],
        srv("001 alice :Welcome to the switchboard IRC Network, alice!~alice@irc")
    );
    alice.send("CAP LIST");
    assert_eq!(alice.sync(), [srv(&format!("CAP alice LIST :{all}"))]);

    let mut bob = chat.irc_conn("bob");
    bob.send("CAP REQ :message-tags");
    bob.send("CAP END");
    assert_eq!(bob.sync(), [srv("CAP * ACK :message-tags")]);
    let mut bob = Chat::register(bob, "bob");
    let mut carol = chat.user("carol"); // no capabilities

    // server-time: every event alice sees carries @time=, numerics not.
    alice.send("JOIN #v3");
    let got = alice.sync();
    assert_eq!(
        timed(&got[0]),
        (":alice!~alice@irc JOIN #v3".to_string(), String::new())
    );
    assert_eq!(
        got[1..],
        [
            srv("353 alice = #v3 :@alice"),
            srv("366 alice #v3 :End of /NAMES list"),
        ]
    );
    bob.join("#v3");
    carol.join("#v3");
    let got = alice.sync();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(timed(&got[0]).0, ":bob!~bob@irc JOIN #v3");
    assert_eq!(timed(&got[1]).0, ":carol!~carol@irc JOIN #v3");
    bob.sync();

    // multi-prefix: the one prefix there is, in NAMES and WHO.
    alice.send("NAMES #v3");
    alice.send("WHO alice");
    assert_eq!(
        alice.sync(),
        [
            srv("353 alice = #v3 :@alice bob carol"),
            srv("366 alice #v3 :End of /NAMES list"),
            srv(&format!(
                "352 alice * ~alice irc {SERVER} alice H :0 Real alice"
            )),
            srv("315 alice alice :End of WHO list"),
        ]
    );

    // message-tags: client-only tags relayed as sent, to those who take
    // tags; other tags dropped; TAGMSG only to message-tags clients.
    alice.send("@+draft/typing=active;vendor.example/secret=1 TAGMSG #v3");
    alice.send("@+draft/reply=abc PRIVMSG #v3 :tagged");
    alice.send("@+example=raw+:=,escaped\\:\\s\\\\ NOTICE #v3 :escaped");
    alice.send("@+draft/typing=paused TAGMSG bob");
    alice.send("@+draft/typing=paused TAGMSG carol");
    let echoed = alice.sync();
    assert_eq!(
        bob.sync(),
        [
            "@+draft/typing=active :alice!~alice@irc TAGMSG #v3",
            "@+draft/reply=abc :alice!~alice@irc PRIVMSG #v3 :tagged",
            "@+example=raw+:=,escaped\\:\\s\\\\ :alice!~alice@irc NOTICE #v3 :escaped",
            "@+draft/typing=paused :alice!~alice@irc TAGMSG bob",
        ]
    );
    assert_eq!(
        carol.sync(),
        [
            ":alice!~alice@irc PRIVMSG #v3 :tagged",
            ":alice!~alice@irc NOTICE #v3 :escaped",
        ]
    );
    // echo-message (with message-tags and server-time): alice sees what
    // she sent, as the others do, TAGMSG included.
    let echoed: Vec<(String, String)> = echoed.iter().map(|l| timed(l)).collect();
    assert_eq!(
        echoed,
        [
            (
                ":alice!~alice@irc TAGMSG #v3".to_string(),
                "+draft/typing=active".to_string()
            ),
            (
                ":alice!~alice@irc PRIVMSG #v3 :tagged".to_string(),
                "+draft/reply=abc".to_string()
            ),
            (
                ":alice!~alice@irc NOTICE #v3 :escaped".to_string(),
                "+example=raw+:=,escaped\\:\\s\\\\".to_string()
            ),
            (
                ":alice!~alice@irc TAGMSG bob".to_string(),
                "+draft/typing=paused".to_string()
            ),
            (
                ":alice!~alice@irc TAGMSG carol".to_string(),
                "+draft/typing=paused".to_string()
            ),
        ]
    );
    alice.send("PRIVMSG bob :private");
    let got = alice.sync();
    assert_eq!(got.len(), 1, "{got:#?}");
    assert_eq!(
        timed(&got[0]),
        (
            ":alice!~alice@irc PRIVMSG bob :private".to_string(),
            String::new()
        )
    );
    assert_eq!(bob.sync(), [":alice!~alice@irc PRIVMSG bob :private"]);

    // Without echo-message, nothing comes back; with server-time, what
    // others say arrives with the time it happened.
    bob.send("PRIVMSG #v3 :from bob");
    bob.assert_quiet();
    carol.send("PRIVMSG #v3 :\u{1}ACTION nods\u{1}");
    assert_eq!(carol.sync(), [":bob!~bob@irc PRIVMSG #v3 :from bob"]);
    let got = alice.sync();
    assert_eq!(got.len(), 2, "{got:#?}");
    assert_eq!(timed(&got[0]).0, ":bob!~bob@irc PRIVMSG #v3 :from bob");
    assert_eq!(
        timed(&got[1]).0,
        ":carol!~carol@irc PRIVMSG #v3 :\u{1}ACTION nods\u{1}"
    );
    assert_eq!(
        bob.sync(),
        [":carol!~carol@irc PRIVMSG #v3 :\u{1}ACTION nods\u{1}"]
    );

    // Caps can be switched off after registration too.
    alice.send("CAP REQ :-server-time -echo-message");
    assert_eq!(
        alice.sync(),
        [srv("CAP alice ACK :-server-time -echo-message")]
    );
    alice.send("CAP LIST");
    assert_eq!(
        alice.sync(),
        [srv("CAP alice LIST :cap-notify message-tags multi-prefix")]
    );
    carol.send("PRIVMSG #v3 :untimed");
    carol.sync();
    alice.send("PRIVMSG #v3 :not echoed");
    assert_eq!(alice.sync(), [":carol!~carol@irc PRIVMSG #v3 :untimed"]);
}

/// IRCv3 capability negotiation: servers MUST NOT disable cap-notify for
/// clients that sent `CAP LS 302`.
#[test]
fn cap_notify_cannot_be_disabled_by_a_cap_302_client() {
    let chat = Chat::start(FAST);
    let mut c = chat.irc_conn("c");
    c.send("CAP LS 302");
    c.send("CAP REQ :-cap-notify");
    assert_eq!(
        c.sync(),
        [
            srv("CAP * LS :cap-notify echo-message message-tags multi-prefix server-time"),
            srv("CAP * NAK :-cap-notify"),
        ]
    );
}

#[test]
fn lines_over_512_bytes_get_417_relay_nothing_and_the_connection_goes_on() {
    let chat = Chat::start(FAST);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    alice.join("#long");
    bob.join("#long");
    alice.sync();
    let too_long = srv("417 alice :Input line was too long");

    // 510 bytes and CRLF: the most a line may hold. Relayed with the
    // sender's prefix it no longer fits one line: split, nothing lost.
    let text = "w".repeat(510 - "PRIVMSG #long :".len());
    alice.send(&format!("PRIVMSG #long :{text}"));
    alice.assert_quiet();
    let got = bob.sync();
    let mut joined = String::new();
    for line in &got {
        assert!(line.len() <= 510, "{} bytes: {line:?}", line.len());
        joined.push_str(
            line.strip_prefix(":alice!~alice@irc PRIVMSG #long :")
                .unwrap_or_else(|| panic!("{line:?}")),
        );
    }
    assert_eq!(joined, text);

    // One byte more, far more, and far past the framing limit.
    for body in [
        format!("PRIVMSG #long :{text}x"),
        format!("PRIVMSG #long :{}", "v".repeat(600)),
        format!("PRIVMSG #long :{}", "u".repeat(10 * 1024)),
    ] {
        alice.send(&body);
        assert_eq!(alice.sync(), [too_long.as_str()], "{} bytes", body.len());
        bob.assert_quiet();
    }
    // Tag data: 4094 bytes is the most a client may send, with a full
    // 510-byte message after it.
    let tags = |n: usize| format!("@+t={}", "k".repeat(n - 3));
    alice.send(&format!("{} PRIVMSG #long :tagged", tags(4095)));
    assert_eq!(alice.sync(), [too_long.as_str()]);
    bob.assert_quiet();
    alice.send(&format!("{} PRIVMSG #long :tagged", tags(4094)));
    alice.assert_quiet();
    assert_eq!(bob.sync(), [":alice!~alice@irc PRIVMSG #long :tagged"]);
    alice.send(&format!("{} PRIVMSG #long :{text}", tags(4094)));
    alice.assert_quiet();
    let got = bob.sync();
    let pieces: Vec<&str> = got
        .iter()
        .map(|l| {
            l.strip_prefix(":alice!~alice@irc PRIVMSG #long :")
                .unwrap_or_else(|| panic!("{l:?}"))
        })
        .collect();
    assert_eq!(pieces.concat(), text);

    // The connection is as good as before.
    alice.send("PRIVMSG #long :still here");
    alice.assert_quiet();
    assert_eq!(bob.sync(), [":alice!~alice@irc PRIVMSG #long :still here"]);
    // Before registration too.
    let mut u = chat.irc_conn("unregistered");
    u.send(&"NICK x".repeat(100));
    assert_eq!(u.sync(), [srv("417 * :Input line was too long")]);
    let _u = Chat::register(u, "late");
}

#[test]
fn a_flood_is_slowed_not_dropped() {
    let chat = Chat::start(&["--rate-limit", "50", "--burst", "5"]);
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    alice.join("#flood");
    bob.join("#flood");
    alice.sync();
    let flood: String = (0..100)
        .map(|i| format!("PRIVMSG #flood :line {i}\r\n"))
        .collect();
    let start = Instant::now();
    alice.send_raw(flood.as_bytes());
    for i in 0..100 {
        assert_eq!(
            bob.line(),
            format!(":alice!~alice@irc PRIVMSG #flood :line {i}")
        );
    }
    let took = start.elapsed();
    // 5 at once, then 50 a second: at least 1.9 s for 100.
    assert!(
        took >= Duration::from_millis(1500),
        "100 lines at 50/s after a burst of 5 took {took:?}: not slowed"
    );
    // Nobody was told off or dropped.
    alice.assert_quiet();
    bob.assert_quiet();
}

#[test]
fn a_client_that_stops_reading_is_disconnected_with_sendq_exceeded() {
    let mut args = FAST.to_vec();
    args.extend(["--max-output", "64KiB"]);
    let chat = Chat::start(&args);
    let (mut line, line_nick) = chat.line_user();
    let mut alice = chat.user("alice");
    let mut bob = chat.user("bob");
    alice.join("#lobby");
    bob.join("#lobby");
    // A tiny receive window, so the kernel holds little on its behalf.
    let slow = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    slow.set_recv_buffer_size(4096).unwrap();
    slow.connect(&chat.irc.into()).unwrap();
    let mut slow: TcpStream = slow.into();
    slow.write_all(b"NICK slow\r\nUSER slow 0 * :Slow\r\nJOIN #lobby\r\n")
        .unwrap();
    bob.expect_line(":slow!~slow@irc JOIN #lobby");
    alice.sync();

    let text = "z".repeat(400);
    let batch: String = (0..50)
        .map(|i| format!("PRIVMSG #lobby :{i} {text}\r\n"))
        .collect();
    let mut batches = 0;
    let quit = 'flood: loop {
        assert!(batches < 2000, "still connected after {batches} batches");
        alice.send_raw(batch.as_bytes());
        batches += 1;
        let mut seen = 0;
        while seen < 50 {
            let l = bob.line();
            if l.starts_with(":slow!") {
                break 'flood l;
            }
            assert!(l.starts_with(":alice!~alice@irc PRIVMSG #lobby :"), "{l:?}");
            seen += 1;
        }
    };
    assert_eq!(
        quit,
        ":slow!~slow@irc QUIT :SendQ exceeded (too far behind; disconnected)"
    );
    line.expect_line("*** slow left #lobby (too far behind; disconnected)");
    // The channel carries on, promptly, for everyone else.
    bob.send("PRIVMSG #lobby :still here?");
    alice.expect_line(":bob!~bob@irc PRIVMSG #lobby :still here?");
    line.expect_line("<bob> still here?");
    bob.send("NAMES #lobby");
    bob.expect_line(&srv(&format!("353 bob = #lobby :@{line_nick} alice bob")));
    SockRef::from(&slow)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
}

#[test]
fn line_and_irc_clients_share_the_lobby_each_in_its_own_protocol() {
    let chat = Chat::start(FAST);
    let (mut l, ln) = chat.line_user();
    let mut alice = chat.user("alice");
    alice.send("JOIN #lobby");
    assert_eq!(
        alice.sync(),
        [
            ":alice!~alice@irc JOIN #lobby".to_string(),
            srv(&format!("353 alice = #lobby :@{ln} alice")),
            srv("366 alice #lobby :End of /NAMES list"),
        ]
    );
    assert_eq!(l.line(), "*** alice joined #lobby");

    // Chat lines both ways.
    l.send("hello from nc");
    assert_eq!(
        alice.line(),
        format!(":{ln}!~guest@line PRIVMSG #lobby :hello from nc")
    );
    alice.send("PRIVMSG #lobby :hello from irc");
    assert_eq!(l.line(), "<alice> hello from irc");
    // Actions: CTCP ACTION <-> `* nick text`.
    l.send("/me waves");
    assert_eq!(
        alice.line(),
        format!(":{ln}!~guest@line PRIVMSG #lobby :\u{1}ACTION waves\u{1}")
    );
    alice.send("PRIVMSG #lobby :\u{1}ACTION bows\u{1}");
    assert_eq!(l.line(), "* alice bows");
    // Notices, private messages, IRC formatting kept off terminals.
    alice.send("NOTICE #lobby :heads up");
    assert_eq!(l.line(), "-alice- heads up");
    alice.send(&format!("PRIVMSG {ln} :psst"));
    assert_eq!(l.line(), "[msg] <alice> psst");
    alice.send("PRIVMSG #lobby :\u{2}bold\u{2} and \u{3}04,01red\u{3}");
    assert_eq!(l.line(), "<alice> bold and red");
    // A line client's long line reaches IRC in pieces that fit, whole.
    let long: String = (0..300).map(|i| format!("w{i} ")).collect();
    let long = long.trim_end();
    l.send(long);
    let prefix = format!(":{ln}!~guest@line PRIVMSG #lobby :");
    let mut joined = String::new();
    while joined.len() < long.len() {
        let piece = alice.line();
        assert!(piece.len() <= 510, "{} bytes: {piece:?}", piece.len());
        joined.push_str(
            piece
                .strip_prefix(&prefix)
                .unwrap_or_else(|| panic!("{piece:?}")),
        );
    }
    assert_eq!(joined, long);
    l.send("/msg alice back at you");
    assert_eq!(l.line(), "[msg to alice] back at you");
    assert_eq!(
        alice.line(),
        format!(":{ln}!~guest@line PRIVMSG alice :back at you")
    );

    // Nick changes both ways.
    l.send("/nick linus");
    assert_eq!(l.line(), "*** you are now known as linus");
    assert_eq!(alice.line(), format!(":{ln}!~guest@line NICK linus"));
    alice.send("NICK alicia");
    assert_eq!(alice.line(), ":alice!~alice@irc NICK alicia");
    assert_eq!(l.line(), "*** alice is now known as alicia");
    alice.name = "alicia".to_string();

    // Joins and parts both ways.
    let (mut l2, ln2) = chat.line_user();
    assert_eq!(alice.line(), format!(":{ln2}!~guest@line JOIN #lobby"));
    assert_eq!(l.line(), format!("*** {ln2} joined #lobby"));
    l2.send("/join #elsewhere");
    assert_eq!(l2.line(), "*** you are in #elsewhere alone");
    assert_eq!(
        alice.line(),
        format!(":{ln2}!~guest@line PART #lobby :went to #elsewhere")
    );
    assert_eq!(
        l.line(),
        format!("*** {ln2} left #lobby (went to #elsewhere)")
    );
    alice.send("PART #lobby :brb");
    assert_eq!(alice.line(), ":alicia!~alice@irc PART #lobby :brb");
    assert_eq!(l.line(), "*** alicia left #lobby (brb)");
    alice.send("PART #lobby"); // not in it any more
    assert_eq!(
        alice.line(),
        srv("442 alicia #lobby :You're not on that channel")
    );
    alice.join("#lobby");
    assert_eq!(l.line(), "*** alicia joined #lobby");
    alice.send("JOIN #elsewhere");
    alice.sync();
    assert_eq!(l2.line(), "*** alicia joined #elsewhere");
    alice.send("PART #elsewhere");
    alice.sync();
    assert_eq!(l2.line(), "*** alicia left #elsewhere");

    // Quits both ways: a /quit, a dropped connection, an IRC QUIT.
    l.send("/quit gone home");
    assert_eq!(l.rest(), ["*** bye"]);
    drop(l);
    assert_eq!(alice.line(), ":linus!~guest@line QUIT :Quit: gone home");
    let (l3, ln3) = chat.line_user();
    assert_eq!(alice.line(), format!(":{ln3}!~guest@line JOIN #lobby"));
    drop(l3);
    assert_eq!(
        alice.line(),
        format!(":{ln3}!~guest@line QUIT :Connection closed")
    );
    let (mut l4, ln4) = chat.line_user();
    assert_eq!(alice.line(), format!(":{ln4}!~guest@line JOIN #lobby"));
    alice.send("QUIT :bye all");
    assert_eq!(alice.rest(), ["ERROR :Closing Link: irc (Quit: bye all)"]);
    drop(alice);
    assert_eq!(l4.line(), "*** alicia left #lobby (quit: bye all)");
    l4.send("/who");
    assert_eq!(l4.line(), format!("*** in #lobby (1): {ln4}"));
    drop(l2);
}

#[test]
fn a_full_server_and_a_shutdown_are_announced_in_irc() {
    let mut args = FAST.to_vec();
    args.extend(["--max-clients", "1"]);
    let mut chat = Chat::start(&args);
    let mut alice = chat.user("alice");
    let mut full = Peer::connect(chat.irc, "one too many", false);
    assert_eq!(full.rest(), ["ERROR :Server full, try again later"]);
    alice.join("#lobby");
    chat.server.signal(libc::SIGINT);
    assert_eq!(
        alice.rest(),
        ["ERROR :shutdown server: the chat is closing, goodbye"]
    );
    drop(alice); // closed: the server need not linger for it
    assert_eq!(chat.server.wait_exit().code(), Some(0));
}

/// Settings that would break the server for everyone are refused before
/// anything listens, with what is wrong (found by a hostile review: an
/// endless --motd filled memory, a spaced --server-name broke every reply,
/// a zero ping interval dropped every client at once).
#[test]
fn settings_that_break_everyone_are_refused_at_startup() {
    let empty = TempFile::new("empty-motd", "");
    for (flags, says) in [
        (vec!["--motd", "/dev/zero"], "is over 16 KiB"),
        (vec!["--server-name", "my server"], "--server-name"),
        (vec!["--server-name", ""], "--server-name"),
        (
            vec!["--ping-interval", "0"],
            "--ping-interval must be at least 100ms",
        ),
        (
            vec!["--ping-timeout", "0.05"],
            "--ping-timeout must be at least 100ms",
        ),
        (
            vec!["--irc-password", ""],
            "--irc-password must not be empty",
        ),
        (
            vec!["--max-line", "64KiB", "--max-output", "32KiB"],
            "--max-line (65536) must be at most --max-output",
        ),
    ] {
        let out = bin().args(CHAT).args(&flags).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{flags:?}: {stderr}");
        assert!(stderr.contains(says), "{flags:?}: {stderr}");
        assert!(!stderr.contains("listening"), "{flags:?} started: {stderr}");
    }
    // An empty MOTD file is fine: clients are told there is none (422).
    let chat = Chat::start(&["--motd", empty.path()]);
    let mut c = chat.irc_conn("c");
    c.send("NICK c");
    c.send("USER c 0 * :C");
    c.expect("422", |l| l.contains(" 422 c :MOTD File is missing"));
}
