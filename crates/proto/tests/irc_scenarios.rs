//! The IRC front-end in memory, beside line clients: stepped time makes
//! pings and timeouts exact. (Every command and numeric is also covered
//! over real sockets in crates/switchboard/tests/irc_cli.rs.)

use std::time::Duration;

use switchboard_proto::chat::RateLimit;
use switchboard_proto::testing::Harness;
use switchboard_proto::{ChatConfig, ChatService, ConnId, FrontEnd};

fn chat(config: ChatConfig) -> Harness<ChatService> {
    Harness::new(ChatService::new(config))
}

fn unlimited() -> ChatConfig {
    ChatConfig {
        rate_limit: None,
        ..ChatConfig::default()
    }
}

fn send(h: &mut Harness<ChatService>, conn: ConnId, lines: &[&str]) {
    let input: String = lines.iter().map(|l| format!("{l}\r\n")).collect();
    h.input(conn, input.as_bytes());
}

/// An IRC client registered as `nick` and in #lobby, its greeting read.
fn irc_in_lobby(h: &mut Harness<ChatService>, nick: &str) -> ConnId {
    let c = h.connect_to(FrontEnd::Irc);
    send(
        h,
        c,
        &[
            &format!("NICK {nick}"),
            "USER u 0 * :Real Name",
            "JOIN #lobby",
        ],
    );
    let greeting = h.lines(c);
    assert!(greeting.iter().any(|l| l.contains(" 001 ")), "{greeting:?}");
    assert!(greeting.iter().any(|l| l.contains(" 366 ")), "{greeting:?}");
    c
}

/// A line client in #lobby, its welcome read; returns it and its nick.
fn line_in_lobby(h: &mut Harness<ChatService>) -> (ConnId, String) {
    let c = h.connect();
    let welcome = h.lines(c).remove(0);
    let nick = welcome["*** welcome to switchboard, ".len()..]
        .split('!')
        .next()
        .unwrap()
        .to_string();
    (c, nick)
}

#[test]
fn registration_waits_for_cap_end_and_the_welcome_is_complete() {
    let mut h = chat(unlimited());
    let c = h.connect_to(FrontEnd::Irc);
    send(
        &mut h,
        c,
        &["CAP LS 302", "NICK alice", "USER al 0 * :Alice"],
    );
    assert_eq!(
        h.lines(c),
        [":switchboard.local CAP * LS :cap-notify echo-message message-tags multi-prefix server-time"]
    );
    send(&mut h, c, &["CAP REQ :server-time bogus"]);
    assert_eq!(
        h.lines(c),
        [":switchboard.local CAP alice NAK :server-time bogus"]
    );
    send(&mut h, c, &["CAP REQ :server-time echo-message", "CAP END"]);
    let welcome = h.lines(c);
    assert_eq!(
        welcome[0],
        ":switchboard.local CAP alice ACK :server-time echo-message"
    );
    let codes: Vec<&str> = (welcome[1..].iter())
        .map(|l| l.split(' ').nth(1).unwrap())
        .collect();
    assert_eq!(
        codes,
        [
            "001", "002", "003", "004", "005", "251", "254", "255", "265", "266", "375", "372",
            "372", "372", "376"
        ]
    );
    assert_eq!(
        welcome[1],
        ":switchboard.local 001 alice :Welcome to the switchboard IRC Network, alice!~al@irc"
    );
    // (Every ISUPPORT token is checked over sockets in irc_cli.rs.)
    for token in ["CASEMAPPING=ascii", "CHANLIMIT=#:100"] {
        assert!(
            welcome[5].contains(&format!(" {token} ")),
            "{token} in {}",
            welcome[5]
        );
    }
}

#[test]
fn line_and_irc_clients_share_a_room_each_in_its_own_words() {
    let mut h = chat(unlimited());
    let (line, guest) = line_in_lobby(&mut h);
    let irc = irc_in_lobby(&mut h, "alice");
    assert_eq!(h.lines(line), ["*** alice joined #lobby"]);
    // Three lines in one read go out as one batch, in order, in both words.
    h.input(line, b"one\ntwo\n/me three\n");
    let from = format!(":{guest}!~guest@line");
    assert_eq!(
        h.lines(irc),
        [
            format!("{from} PRIVMSG #lobby :one"),
            format!("{from} PRIVMSG #lobby :two"),
            format!("{from} PRIVMSG #lobby :\x01ACTION three\x01"),
        ]
    );
    send(
        &mut h,
        irc,
        &["PRIVMSG #lobby :hi", "PRIVMSG #lobby :\x01ACTION waves\x01"],
    );
    assert_eq!(h.lines(line), ["<alice> hi", "* alice waves"]);
    h.input(line, b"/nick bob\n");
    assert_eq!(h.lines(line), ["*** you are now known as bob"]);
    assert_eq!(h.lines(irc), [format!("{from} NICK bob")]);
    send(&mut h, irc, &["NICK alicia", "PART #lobby :later"]);
    assert_eq!(
        h.lines(line),
        [
            "*** alice is now known as alicia",
            "*** alicia left #lobby (later)"
        ]
    );
    assert_eq!(
        h.lines(irc),
        [
            ":alice!~u@irc NICK alicia",
            ":alicia!~u@irc PART #lobby :later"
        ]
    );
    send(&mut h, irc, &["JOIN #lobby", "QUIT :off now"]);
    assert!(h.is_gone(irc));
    assert_eq!(
        h.lines(line),
        [
            "*** alicia joined #lobby",
            "*** alicia left #lobby (quit: off now)"
        ]
    );
    assert_eq!(h.io.sends_after_close, 0);
}

#[test]
fn server_time_and_echo_message_change_only_their_clients_bytes() {
    let mut h = chat(unlimited());
    let (line, guest) = line_in_lobby(&mut h);
    let plain = irc_in_lobby(&mut h, "plain");
    let timed = h.connect_to(FrontEnd::Irc);
    send(
        &mut h,
        timed,
        &[
            "CAP REQ :server-time echo-message",
            "NICK timed",
            "USER t 0 * :T",
            "CAP END",
            "JOIN #lobby",
        ],
    );
    h.lines(timed);
    h.lines(plain);
    h.lines(line);
    h.input(line, b"tick\n");
    let from = format!(":{guest}!~guest@line");
    assert_eq!(h.lines(plain), [format!("{from} PRIVMSG #lobby :tick")]);
    assert_eq!(
        h.lines(timed),
        [format!(
            "@time=2026-01-01T00:00:00.000Z {from} PRIVMSG #lobby :tick"
        )]
    );
    send(&mut h, timed, &["PRIVMSG #lobby :tock"]);
    assert_eq!(
        h.lines(timed),
        ["@time=2026-01-01T00:00:00.000Z :timed!~t@irc PRIVMSG #lobby :tock"],
        "echo-message: the sender gets its own line"
    );
    assert_eq!(h.lines(plain), [":timed!~t@irc PRIVMSG #lobby :tock"]);
    assert_eq!(h.lines(line), ["<timed> tock"]);
}

#[test]
fn a_silent_client_is_pinged_then_timed_out_and_its_rooms_told() {
    let mut h = chat(unlimited());
    let (line, _) = line_in_lobby(&mut h);
    let irc = irc_in_lobby(&mut h, "alice");
    h.lines(line);
    // Silent for the ping interval (90 s): a PING.
    h.advance(Duration::from_secs(89));
    assert!(h.lines(irc).is_empty());
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lines(irc), ["PING :switchboard.local"]);
    // An answer (any line) keeps it: the next PING comes 90 s after it.
    h.advance(Duration::from_secs(30));
    send(&mut h, irc, &["PONG :switchboard.local"]);
    h.advance(Duration::from_secs(89));
    assert!(h.lines(irc).is_empty() && !h.is_gone(irc));
    h.advance(Duration::from_secs(1));
    assert_eq!(h.lines(irc), ["PING :switchboard.local"]);
    // No answer within the ping timeout (60 s): gone, and the room is told.
    h.advance(Duration::from_secs(59));
    assert!(!h.is_gone(irc));
    h.advance(Duration::from_secs(1));
    assert!(h.is_gone(irc));
    assert_eq!(
        h.lines(irc),
        ["ERROR :Closing Link: irc (Ping timeout: 150 seconds)"]
    );
    assert_eq!(
        h.lines(line),
        ["*** alice left #lobby (ping timeout: 150 seconds)"]
    );
}

#[test]
fn a_client_that_never_registers_is_dropped_after_the_handshake_timeout() {
    let mut h = chat(unlimited());
    let c = h.connect_to(FrontEnd::Irc);
    send(&mut h, c, &["NICK lurker"]);
    h.advance(Duration::from_secs(20));
    send(&mut h, c, &["PING :still here"]);
    assert_eq!(
        h.lines(c),
        [":switchboard.local PONG switchboard.local :still here"]
    );
    h.advance(Duration::from_secs(9));
    assert!(
        !h.is_gone(c),
        "talking is not registering, but 30 s are not up"
    );
    h.advance(Duration::from_secs(1));
    assert!(h.is_gone(c));
    assert_eq!(
        h.lines(c),
        ["ERROR :Closing Link: (Registration timed out)"]
    );
    assert_eq!(h.service.client_count(), 0);
}

#[test]
fn a_client_held_back_by_the_rate_limit_is_not_timed_out() {
    // One line per 200 s after a burst of 4: a held line waits longer than
    // the ping interval and timeout together (90 + 60 s).
    let mut h = chat(ChatConfig {
        rate_limit: Some(RateLimit {
            burst: 4,
            per_sec: 1.0 / 200.0,
        }),
        ..ChatConfig::default()
    });
    let (line, _) = line_in_lobby(&mut h);
    let irc = irc_in_lobby(&mut h, "slowed"); // NICK, USER, JOIN: 3 tokens
    h.lines(line);
    send(&mut h, irc, &["PRIVMSG #lobby :one", "PRIVMSG #lobby :two"]);
    assert_eq!(h.lines(line), ["<slowed> one"]);
    h.advance(Duration::from_secs(190));
    assert!(
        !h.is_gone(irc),
        "a client whose lines we hold is not silent"
    );
    assert!(h.lines(irc).is_empty(), "nor is it pinged");
    h.advance(Duration::from_secs(20));
    assert_eq!(h.lines(line), ["<slowed> two"], "nothing dropped");
}

#[test]
fn line_clients_see_irc_channel_operations_in_words() {
    let mut h = chat(unlimited());
    let op = h.connect_to(FrontEnd::Irc);
    send(&mut h, op, &["NICK op", "USER o 0 * :O", "JOIN #ops"]);
    h.lines(op);
    let (line, guest) = line_in_lobby(&mut h);
    h.input(line, b"/join ops\n");
    assert_eq!(h.lines(line), ["*** you are in #ops with 1 other"]);
    send(
        &mut h,
        op,
        &[
            "TOPIC #ops :plans \x02bold\x02 \x0304red",
            &format!("MODE #ops +o {guest}"),
            "MODE #ops -t",
            &format!("KICK #ops {guest} :enough"),
        ],
    );
    assert_eq!(
        h.lines(line),
        [
            "*** op set the topic of #ops: plans bold red".to_string(),
            "*** op made you an operator of #ops".to_string(),
            "*** op set #ops -t (no longer: only operators set the topic)".to_string(),
            "*** you were kicked from #ops by op (enough); type /join ROOM to go on".to_string(),
        ]
    );
    h.input(line, b"anyone?\n/who\n");
    assert_eq!(
        h.lines(line),
        [
            "*** you are not in a room; type /join ROOM",
            "*** you are not in a room; type /join ROOM"
        ]
    );
    h.input(line, b"/join ops\n");
    assert_eq!(
        h.lines(line),
        [
            "*** you are in #ops with 1 other",
            "*** topic: plans bold red"
        ]
    );
}

#[test]
fn joining_past_chanlimit_gets_405() {
    let mut h = chat(unlimited());
    let c = irc_in_lobby(&mut h, "collector");
    let joins: Vec<String> = (1..100).map(|i| format!("JOIN #c{i}")).collect();
    let joins: Vec<&str> = joins.iter().map(String::as_str).collect();
    send(&mut h, c, &joins);
    h.lines(c);
    send(&mut h, c, &["JOIN #c100,#lobby"]);
    assert_eq!(
        h.lines(c),
        [":switchboard.local 405 collector #c100 :You have joined too many channels"]
    );
}

/// Found by a hostile review: an AWAY message reached line clients with
/// its escape sequences (window title, clear screen) intact.
#[test]
fn an_away_message_reaches_line_clients_without_escapes() {
    let mut h = chat(unlimited());
    let (line, _) = line_in_lobby(&mut h);
    let irc = irc_in_lobby(&mut h, "evil");
    send(
        &mut h,
        irc,
        &["AWAY :\x1b]0;PWNED\x07\x1b[2J\x1b[31mred\x07 away"],
    );
    h.lines(line);
    h.input(line, b"/msg evil hello\n");
    assert_eq!(
        h.lines(line),
        ["[msg to evil] hello", "*** evil is away: red away"]
    );
}

/// Found by a hostile review: a lone CR or a NUL inside an IRC line was
/// relayed as is (a forged server line for clients that split on CR).
#[test]
fn cr_and_nul_never_leave_an_irc_line() {
    let mut h = chat(unlimited());
    let bob = irc_in_lobby(&mut h, "bob");
    let alice = irc_in_lobby(&mut h, "alice");
    h.lines(bob);
    h.input(
        alice,
        b"PRIVMSG #lobby :hi\r:evil.server 001 bob :spoofed\r\n@+a=x\ry PRIVMSG #lobby :n\0ul\r\n",
    );
    assert_eq!(
        h.lines(bob),
        [
            ":alice!~u@irc PRIVMSG #lobby :hi:evil.server 001 bob :spoofed",
            ":alice!~u@irc PRIVMSG #lobby :nul"
        ]
    );
}

/// Found by a hostile review: `MODE #c +t-t+t-t...` made an event per
/// letter, to every member.
#[test]
fn one_mode_command_makes_at_most_four_changes() {
    let mut h = chat(unlimited());
    let op = h.connect_to(FrontEnd::Irc);
    send(&mut h, op, &["NICK op", "USER o 0 * :O", "JOIN #m"]);
    let other = irc_in_lobby(&mut h, "other");
    send(&mut h, other, &["JOIN #m"]);
    h.lines(op);
    h.lines(other);
    send(&mut h, op, &[&format!("MODE #m {}", "-t+t".repeat(60))]);
    assert_eq!(
        h.lines(other),
        [
            ":op!~o@irc MODE #m -t",
            ":op!~o@irc MODE #m +t",
            ":op!~o@irc MODE #m -t",
            ":op!~o@irc MODE #m +t"
        ]
    );
}

/// Found by a hostile review: LIST sorted every room on each call and
/// answered with all of them (with 100,000 rooms: 70 ms of the server's
/// time, and a reply past --max-output that cut the asker off).
#[test]
fn listings_are_bounded_and_rooms_asked_for_by_name_are_found() {
    let mut h = chat(unlimited());
    let per = 100; // ChatCore::MAX_ROOMS
    for c in 0..11 {
        let irc = h.connect_to(FrontEnd::Irc);
        let joins: Vec<String> = (0..per)
            .map(|i| format!("JOIN #r{:04}", c * per + i))
            .collect();
        let mut lines = vec![format!("NICK n{c}"), "USER u 0 * :U".to_string()];
        lines.extend(joins);
        let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
        send(&mut h, irc, &lines);
    }
    let asker = irc_in_lobby(&mut h, "asker"); // 1,101 rooms with #lobby
    send(&mut h, asker, &["LIST"]);
    let list = h.lines(asker);
    assert_eq!(list.len(), 1 + 1000 + 1, "321, 1,000 rooms, 323");
    assert!(list[1].contains(" 322 asker #lobby 1 :"), "{}", list[1]);
    assert_eq!(
        list.last().unwrap(),
        ":switchboard.local 323 asker :End of /LIST (101 more channels not listed; LIST #name for one)"
    );
    send(&mut h, asker, &["LIST #r1099,#nope,#R0000"]);
    // After a listing that long, the asker is read again a turn later.
    assert_eq!(h.lines(asker), Vec::<String>::new());
    h.advance(Duration::from_millis(1));
    assert_eq!(
        h.lines(asker),
        [
            ":switchboard.local 321 asker Channel :Users  Name",
            ":switchboard.local 322 asker #r1099 1 :",
            ":switchboard.local 322 asker #r0000 1 :",
            ":switchboard.local 323 asker :End of /LIST"
        ]
    );
    let (line, _) = line_in_lobby(&mut h);
    h.input(line, b"/rooms\n");
    let rooms = h.lines(line).pop().unwrap();
    assert!(
        rooms.ends_with(", and 101 more"),
        "{}",
        &rooms[rooms.len() - 40..]
    );
}

/// Empty lists and parameters get 461, and no reply carries an empty or
/// spaced middle parameter.
#[test]
fn empty_lists_and_parameters_are_refused_cleanly() {
    let mut h = chat(unlimited());
    let c = irc_in_lobby(&mut h, "c");
    send(
        &mut h,
        c,
        &[
            "JOIN :",
            "PART ,",
            "KICK #lobby ,",
            "CAP",
            "PRIVMSG a,,b :x",
            "WHO :",
        ],
    );
    assert_eq!(
        h.lines(c),
        [
            ":switchboard.local 461 c JOIN :Not enough parameters",
            ":switchboard.local 461 c PART :Not enough parameters",
            ":switchboard.local 461 c KICK :Not enough parameters",
            ":switchboard.local 461 c CAP :Not enough parameters",
            ":switchboard.local 401 c a :No such nick/channel",
            ":switchboard.local 401 c b :No such nick/channel",
            ":switchboard.local 315 c * :End of WHO list"
        ]
    );
}

/// Found by fuzzing (chat_ops): an operator alone in a room kicked itself,
/// which removed the room, and the next nick of the same KICK looked the
/// room up by its stale id: a panic that took the whole server down.
#[test]
fn an_operator_kicking_itself_out_of_its_room_then_another_is_no_crash() {
    let mut h = chat(unlimited());
    let c = h.connect_to(FrontEnd::Irc);
    send(&mut h, c, &["NICK alice", "USER u 0 * :A", "JOIN #a"]);
    h.lines(c);
    send(&mut h, c, &["KICK #a alice,bob", "PING :still up"]);
    assert_eq!(
        h.lines(c),
        [
            ":alice!~u@irc KICK #a alice :alice",
            ":switchboard.local 403 alice #a :No such channel",
            ":switchboard.local PONG switchboard.local :still up"
        ]
    );
}

/// In a room above `--announce-limit`, joins and departures come as one
/// summary per period, in each front-end's words; an IRC joiner still
/// gets its JOIN, and a names list of itself with the member count.
#[test]
fn a_crowded_room_hears_a_summary_per_period_not_each_join() {
    let mut h = chat(ChatConfig {
        announce_limit: 3,
        ..unlimited()
    });
    let irc = irc_in_lobby(&mut h, "watcher");
    let (line, _) = line_in_lobby(&mut h);
    let _ = h.lines(irc);
    let joiners: Vec<ConnId> = (0..6).map(|_| line_in_lobby(&mut h).0).collect();
    // Two joins are announced (up to 3 members, then 4: crowded).
    let seen = h.lines(line);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(seen[0].ends_with("joined #lobby"), "{seen:?}");
    h.drop_conn(joiners[0], switchboard_proto::CloseReason::PeerClosed);
    let late = h.connect_to(FrontEnd::Irc);
    send(&mut h, late, &["NICK late", "USER u 0 * :L", "JOIN #lobby"]);
    let greeting = h.lines(late);
    assert!(
        greeting
            .iter()
            .any(|l| l.starts_with(":late!~u@irc JOIN #lobby")),
        "{greeting:?}"
    );
    let names: Vec<&String> = greeting.iter().filter(|l| l.contains(" 353 ")).collect();
    assert_eq!(names.len(), 1);
    assert!(names[0].ends_with(":late"), "only the joiner: {names:?}");
    assert!(
        (greeting.iter()).any(|l| l.contains(" 366 ") && l.contains("(8 members,")),
        "{greeting:?}"
    );
    assert_eq!(h.lines(line), Vec::<String>::new(), "nothing one by one");
    h.advance(Duration::from_secs(1));
    assert_eq!(
        h.lines(line),
        [
            "*** #lobby: 6 joined (guest3, guest4, guest5, guest6, guest7 and 1 more), \
          1 left (guest2); 8 members"
        ]
    );
    let notice = h.lines(irc);
    assert_eq!(notice.len(), 2, "{notice:?}"); // the join of guest2, and this
    assert_eq!(
        notice[1],
        ":switchboard.local NOTICE #lobby :6 joined (guest3, guest4, guest5, guest6, guest7 \
         and 1 more), 1 left (guest2); 8 members"
    );
    h.advance(Duration::from_secs(5));
    assert_eq!(h.lines(line), Vec::<String>::new(), "nothing new: quiet");
}
