//! The chat core on its own: commands in, events out, with no front-end
//! and no wire. A recording sink stands in for the front-ends (and a
//! scripted log for the other replicas, where one is tested).

use switchboard_proto::chat::core::{
    ChatCore, ChatError, Command, Entry, Event, EventKind, EventSink, MessageKind, MessageTarget,
    Op, QuitReason, Recipients, Registration, RoomMode, ServerNews, SessionId, Shard, Timestamp,
    Undelivered,
};
use switchboard_proto::{CloseReason, ConnId};

/// One delivered event, reduced to what the tests look at.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    what: String,
    actor: SessionId,
    subject: Option<SessionId>,
    /// (room name, seq) for each stamp.
    stamps: Vec<(String, u64)>,
    time: Timestamp,
    /// Who gets it, sorted.
    to: Vec<SessionId>,
}

#[derive(Default)]
struct Recorder(Vec<Seen>);

impl EventSink for Recorder {
    fn handle_event(&mut self, core: &ChatCore, event: &Event<'_>, to: Recipients<'_>) {
        let what = match event.kind {
            EventKind::Join { room, members } => format!("join {room} ({members})"),
            EventKind::Part { room, reason } => format!("part {room} {reason:?}"),
            EventKind::Message { to, kind, text, .. } => format!("{kind:?} {to:?} {text}"),
            EventKind::Nick { new } => format!("nick {} -> {new}", event.from.nick),
            EventKind::Quit { reason } => format!("quit {reason:?}"),
            EventKind::Topic { room, text } => format!("topic {room} {text}"),
            EventKind::Kick { room, nick, reason } => format!("kick {room} {nick} {reason}"),
            EventKind::Op { room, nick, op } => format!("op {room} {nick} {op}"),
            EventKind::RoomMode { room, mode, on } => format!("mode {room} {mode:?} {on}"),
            EventKind::Undelivered { to, nick } => format!("undelivered {to} -> {nick}"),
            EventKind::Servers {
                room,
                news,
                members,
            } => format!("servers {room} {news:?} ({members})"),
            EventKind::Summary {
                room,
                turnover: t,
                members,
            } => format!(
                "summary {room} +{} {:?} -{} {:?} ({members})",
                t.joined, t.joined_nicks, t.left, t.left_nicks
            ),
        };
        let mut recipients: Vec<SessionId> = (to.sessions.iter().copied())
            .filter(|&s| Some(s) != to.except)
            .collect();
        recipients.sort();
        let stamps = (event.rooms.iter())
            .map(|s| (core.room(s.room).name.clone(), s.seq))
            .collect();
        self.0.push(Seen {
            what,
            actor: event.actor,
            subject: event.subject,
            stamps,
            time: event.time,
            to: recipients,
        });
    }
}

const A: SessionId = SessionId(1);
const B: SessionId = SessionId(2);
const C: SessionId = SessionId(3);

fn t(ms: u64) -> Timestamp {
    Timestamp(1_767_225_600_000 + ms)
}

/// A core with sessions A (alice), B (bob), C (carol), all in #lobby.
fn three() -> (ChatCore, Recorder) {
    let core = ChatCore::new(&["#lobby"]);
    let (core, mut rec) = in_lobby(core, &[(A, "alice"), (B, "bob"), (C, "carol")]);
    rec.0.clear();
    (core, rec)
}

/// `core` with these sessions registered and joined to #lobby, in order;
/// the events of their joins recorded.
fn in_lobby(mut core: ChatCore, who: &[(SessionId, &str)]) -> (ChatCore, Recorder) {
    let mut rec = Recorder::default();
    for &(id, nick) in who {
        core.register(id, registration(nick), t(0)).unwrap();
        core.handle_command(id, Command::Join("#lobby"), t(0), &mut rec)
            .unwrap();
    }
    (core, rec)
}

/// A registration as `nick`.
fn registration(nick: &str) -> Registration<'_> {
    Registration {
        nick: Some(nick),
        user: "~u",
        host: "test",
        realname: nick,
    }
}

fn lobby(core: &ChatCore) -> switchboard_proto::chat::core::RoomId {
    core.find_room("#LOBBY").unwrap()
}

#[test]
fn every_room_event_carries_the_next_sequence_number_and_its_time() {
    let (mut core, mut rec) = three();
    let room = lobby(&core);
    let say = |text| Command::Message {
        to: MessageTarget::Room(room),
        kind: MessageKind::Say,
        text,
        tags: "",
    };
    core.handle_command(A, say("one"), t(5), &mut rec).unwrap();
    core.handle_command(B, say("two"), t(6), &mut rec).unwrap();
    core.handle_command(C, Command::Part { room, reason: None }, t(7), &mut rec)
        .unwrap();
    let seqs: Vec<u64> = rec.0.iter().map(|s| s.stamps[0].1).collect();
    // Three joins came first (1, 2, 3).
    assert_eq!(seqs, [4, 5, 6]);
    let times: Vec<Timestamp> = rec.0.iter().map(|s| s.time).collect();
    assert_eq!(times, [t(5), t(6), t(7)]);
    assert_eq!(
        rec.0[0].to,
        [B, C],
        "a message goes to everyone but its sender"
    );
    assert_eq!(
        rec.0[2].to,
        [A, B, C],
        "a part reaches the one who leaves too"
    );
    assert_eq!(core.room(room).members.len(), 2);
}

#[test]
fn a_nick_change_reaches_everyone_in_any_shared_room_once() {
    let (mut core, mut rec) = three();
    core.handle_command(A, Command::Join("#side"), t(1), &mut rec)
        .unwrap();
    core.handle_command(B, Command::Join("#side"), t(1), &mut rec)
        .unwrap();
    rec.0.clear();
    core.handle_command(A, Command::Nick("Alicia"), t(2), &mut rec)
        .unwrap();
    let seen = &rec.0[0];
    assert_eq!(seen.what, "nick alice -> Alicia");
    assert_eq!(seen.to, [A, B, C], "B shares two rooms but hears it once");
    let mut stamps = seen.stamps.clone();
    stamps.sort();
    assert_eq!(stamps, [("#lobby".into(), 4), ("#side".into(), 3)]);
    assert_eq!(core.find_nick("ALICIA"), Some(A));
    assert_eq!(core.find_nick("alice"), None, "the old nick is free");
}

#[test]
fn nicks_are_unique_ignoring_case_and_follow_one_rule() {
    let (mut core, mut rec) = three();
    assert_eq!(
        core.handle_command(B, Command::Nick("ALICE"), t(1), &mut rec),
        Err(ChatError::NickTaken("ALICE".into()))
    );
    assert_eq!(
        core.handle_command(B, Command::Nick("b@d"), t(1), &mut rec),
        Err(ChatError::BadNick("b@d".into()))
    );
    let reg = Registration {
        nick: Some("Bob"),
        user: "~u",
        host: "test",
        realname: "",
    };
    assert!(matches!(
        core.register(SessionId(9), reg, t(1)),
        Err(ChatError::NickTaken(_))
    ));
    let guest = Registration { nick: None, ..reg };
    let nick = core
        .register(SessionId(9), guest, t(1))
        .unwrap()
        .nick
        .clone();
    assert_eq!(nick, "guest1");
    assert!(rec.0.is_empty(), "refused commands change nothing");
}

#[test]
fn the_first_member_is_operator_and_operators_rule_the_room() {
    let (mut core, mut rec) = three();
    let room = lobby(&core);
    assert!(core.room(room).is_op(A) && !core.room(room).is_op(B));
    let topic = |text| Command::Topic { room, text };
    assert_eq!(
        core.handle_command(B, topic("mine"), t(1), &mut rec),
        Err(ChatError::NotOperator("#lobby".into()))
    );
    let op = |nick, op| Command::Op { room, nick, op };
    core.handle_command(A, op("bob", true), t(2), &mut rec)
        .unwrap();
    assert_eq!((rec.0[0].actor, rec.0[0].subject), (A, Some(B)));
    core.handle_command(B, topic("bob's now"), t(3), &mut rec)
        .unwrap();
    assert_eq!(core.room(room).topic.as_ref().unwrap().set_by, "bob");
    // Giving what is already given is no event.
    core.handle_command(A, op("BOB", true), t(4), &mut rec)
        .unwrap();
    assert_eq!(rec.0.len(), 2);
    let kick = Command::Kick {
        room,
        nick: "carol",
        reason: "out",
    };
    core.handle_command(B, kick, t(5), &mut rec).unwrap();
    assert_eq!(rec.0[2].to, [A, B, C], "the kicked member is told too");
    assert!(!core.room(room).has_member(C));
    assert!(core.session(C).unwrap().rooms.is_empty());
    let again = Command::Kick {
        room,
        nick: "carol",
        reason: "",
    };
    assert_eq!(
        core.handle_command(B, again, t(6), &mut rec),
        Err(ChatError::TheyAreNotInRoom {
            nick: "carol".into(),
            room: "#lobby".into()
        })
    );
    let mode = Command::RoomMode {
        room,
        mode: RoomMode::TopicOpsOnly,
        on: false,
    };
    assert_eq!(
        core.handle_command(C, mode, t(7), &mut rec),
        Err(ChatError::NotInRoom("#lobby".into()))
    );
    core.handle_command(A, mode, t(7), &mut rec).unwrap();
    assert!(!core.room(room).topic_ops_only);
}

#[test]
fn outsiders_may_not_send_to_a_room_unless_it_allows_it() {
    let (mut core, mut rec) = three();
    let room = lobby(&core);
    core.handle_command(C, Command::Part { room, reason: None }, t(1), &mut rec)
        .unwrap();
    let say = Command::Message {
        to: MessageTarget::Room(room),
        kind: MessageKind::Say,
        text: "let me in",
        tags: "",
    };
    assert_eq!(
        core.handle_command(C, say, t(2), &mut rec),
        Err(ChatError::CannotSendToRoom("#lobby".into()))
    );
    let open = Command::RoomMode {
        room,
        mode: RoomMode::NoExternal,
        on: false,
    };
    core.handle_command(A, open, t(3), &mut rec).unwrap();
    rec.0.clear();
    core.handle_command(C, say, t(4), &mut rec).unwrap();
    assert_eq!(rec.0[0].to, [A, B]);
}

#[test]
fn a_quit_is_told_to_everyone_sharing_a_room_and_frees_everything() {
    let (mut core, mut rec) = three();
    core.handle_command(C, Command::Join("#side"), t(1), &mut rec)
        .unwrap();
    rec.0.clear();
    core.quit(C, QuitReason::Closed(CloseReason::Reset), t(2), &mut rec);
    assert_eq!(rec.0.len(), 1);
    assert_eq!(rec.0[0].to, [A, B], "not the one who left");
    assert_eq!(rec.0[0].stamps.len(), 2, "an event in both rooms");
    assert_eq!(core.find_room("#side"), None, "the emptied room is gone");
    assert_eq!(core.find_nick("carol"), None);
    assert_eq!(core.session_count(), 2);
    // Quitting twice is harmless.
    core.quit(C, QuitReason::Quit(None), t(3), &mut rec);
    assert_eq!(rec.0.len(), 1);
}

#[test]
fn private_messages_go_to_one_user_as_the_subject() {
    let (mut core, mut rec) = three();
    let msg = |nick| Command::Message {
        to: MessageTarget::Nick(nick),
        kind: MessageKind::Say,
        text: "psst",
        tags: "",
    };
    core.handle_command(A, msg("CAROL"), t(1), &mut rec)
        .unwrap();
    assert_eq!((rec.0[0].to.clone(), rec.0[0].subject), (vec![C], Some(C)));
    assert!(rec.0[0].stamps.is_empty(), "no room's history");
    assert_eq!(
        core.handle_command(A, msg("dave"), t(1), &mut rec),
        Err(ChatError::NoSuchNick("dave".into()))
    );
    core.handle_command(C, Command::Away(Some("lunch")), t(2), &mut rec)
        .unwrap();
    assert_eq!(core.session(C).unwrap().away.as_deref(), Some("lunch"));
}

#[test]
fn rooms_keep_their_first_spelling_and_joins_twice_are_refused() {
    let (mut core, mut rec) = three();
    core.handle_command(A, Command::Join("Rust"), t(1), &mut rec)
        .unwrap();
    core.handle_command(B, Command::Join("#RUST"), t(1), &mut rec)
        .unwrap();
    assert_eq!(rec.0[1].what, "join #Rust (2)");
    assert_eq!(
        core.handle_command(B, Command::Join("#rust"), t(1), &mut rec),
        Err(ChatError::AlreadyInRoom("#Rust".into()))
    );
    assert_eq!(
        core.handle_command(B, Command::Join("#bad room"), t(1), &mut rec),
        Err(ChatError::BadRoom("#bad room".into()))
    );
}

#[test]
fn one_session_may_be_in_at_most_max_rooms() {
    let (mut core, mut rec) = three(); // each in #lobby already
    for i in 1..ChatCore::MAX_ROOMS {
        let room = format!("#r{i}");
        core.handle_command(A, Command::Join(&room), t(1), &mut rec)
            .unwrap();
    }
    assert_eq!(
        core.handle_command(A, Command::Join("#one-more"), t(2), &mut rec),
        Err(ChatError::TooManyRooms("#one-more".into()))
    );
    assert_eq!(core.find_room("#one-more"), None, "no room made for it");
    let first = core.find_room("#r1").unwrap();
    core.handle_command(
        A,
        Command::Part {
            room: first,
            reason: None,
        },
        t(3),
        &mut rec,
    )
    .unwrap();
    core.handle_command(A, Command::Join("#one-more"), t(4), &mut rec)
        .unwrap();
}

#[test]
fn a_room_id_gone_stale_is_refused_not_a_panic() {
    let (mut core, mut rec) = three();
    core.handle_command(A, Command::Join("#brief"), t(1), &mut rec)
        .unwrap();
    let brief = core.find_room("#brief").unwrap();
    let part = Command::Part {
        room: brief,
        reason: None,
    };
    core.handle_command(A, part, t(2), &mut rec).unwrap();
    assert_eq!(core.find_room("#brief"), None, "emptied: gone");
    let kick = Command::Kick {
        room: brief,
        nick: "bob",
        reason: "",
    };
    assert!(matches!(
        core.handle_command(A, kick, t(3), &mut rec),
        Err(ChatError::NoSuchRoom(_))
    ));
}

/// Above the announce limit, joins and departures reach only the one who
/// made them, with the room's latest sequence number, and then the whole
/// room in one summary with the next: every member sees a gap-free
/// sequence, and a join costs the room nothing until the summary.
#[test]
fn a_crowded_room_hears_arrivals_and_departures_in_one_summary() {
    let core = ChatCore::new(&["#lobby"]).with_announce_limit(2, "srv");
    let d = SessionId(4);
    let who = [(A, "alice"), (B, "bob"), (C, "carol"), (d, "dave")];
    let (mut core, mut rec) = in_lobby(core, &who);
    assert!(core.has_turnover());
    let seen: Vec<(String, Vec<SessionId>, u64)> = (rec.0.drain(..))
        .map(|s| (s.what, s.to, s.stamps[0].1))
        .collect();
    assert_eq!(
        seen,
        [
            ("join #lobby (1)".to_string(), vec![A], 1),
            ("join #lobby (2)".to_string(), vec![A, B], 2),
            // Crowded: told to the joiner only, at the latest seq.
            ("join #lobby (3)".to_string(), vec![C], 2),
            ("join #lobby (4)".to_string(), vec![d], 2),
        ]
    );
    core.quit(B, QuitReason::Quit(None), t(5), &mut rec);
    assert_eq!(rec.0[0].what, "quit Quit(None)");
    assert!(rec.0[0].to.is_empty(), "{:?}", rec.0[0]);
    rec.0.clear();
    assert!(core.has_turnover());
    core.announce_turnover(t(1000), &mut rec);
    assert_eq!(rec.0.len(), 1);
    let summary = &rec.0[0];
    assert_eq!(
        summary.what,
        r#"summary #lobby +2 ["carol", "dave"] -1 ["bob"] (3)"#
    );
    assert_eq!(summary.to, [A, C, d]);
    assert_eq!(summary.stamps, [("#lobby".to_string(), 3)]);
    assert_eq!(summary.actor, SessionId::SERVER);
    assert!(!core.has_turnover());
    rec.0.clear();
    core.announce_turnover(t(2000), &mut rec);
    assert!(rec.0.is_empty(), "nothing new: no summary");
}

/// With several threads each asks for summaries on its own timer: asked
/// again within the gap (by the log's time), the core says nothing yet,
/// and the arrivals wait for the next period.
#[test]
fn summaries_asked_for_within_the_gap_wait_for_it() {
    let core = ChatCore::new(&["#lobby"])
        .with_announce_limit(1, "srv")
        .with_summary_gap(std::time::Duration::from_secs(1));
    let (mut core, mut rec) = in_lobby(core, &[(A, "alice"), (B, "bob")]);
    rec.0.clear();
    core.announce_turnover(t(1000), &mut rec);
    assert_eq!(rec.0.len(), 1, "the first: {:?}", rec.0);
    core.register(C, registration("carol"), t(1100)).unwrap();
    core.handle_command(C, Command::Join("#lobby"), t(1100), &mut rec)
        .unwrap();
    rec.0.clear();
    core.announce_turnover(t(1200), &mut rec); // another thread's timer
    assert!(rec.0.is_empty(), "too soon: {:?}", rec.0);
    assert!(core.has_turnover(), "carol waits for the next one");
    core.announce_turnover(t(2000), &mut rec);
    assert_eq!(rec.0.len(), 1);
    assert!(rec.0[0].what.contains("carol"), "{:?}", rec.0[0]);
}

/// A private message another thread could not deliver is told to its
/// sender only, by the server, in no room; not to a session that took the
/// sender's id since, nor to one that has renamed itself.
#[test]
fn an_undelivered_message_is_told_to_its_sender_only() {
    let (mut core, mut rec) = three();
    let bounced = |sent| Undelivered {
        sender: A,
        sender_nick: "alice".to_string(),
        sent,
        nick: "bob".to_string(),
    };
    core.tell_undelivered(&bounced(t(9)), t(9), &mut rec);
    assert_eq!(rec.0.len(), 1);
    let seen = &rec.0[0];
    assert_eq!(seen.what, "undelivered alice -> bob");
    assert_eq!(seen.to, [A]);
    assert_eq!((seen.actor, seen.subject), (SessionId::SERVER, Some(A)));
    assert!(seen.stamps.is_empty(), "in no room: no sequence number");
    // Gone, then someone else on the same id: neither is told.
    core.quit(A, QuitReason::Quit(None), t(10), &mut rec);
    rec.0.clear();
    core.tell_undelivered(&bounced(t(9)), t(11), &mut rec);
    core.register(A, registration("alice"), t(12)).unwrap();
    core.tell_undelivered(&bounced(t(9)), t(13), &mut rec);
    assert!(rec.0.is_empty(), "{:?}", rec.0);
    // Renamed since: not the one who sent it, as far as anyone can tell.
    core.handle_command(B, Command::Nick("robert"), t(14), &mut rec)
        .unwrap();
    rec.0.clear();
    let from_bob = Undelivered {
        sender: B,
        sender_nick: "bob".to_string(),
        sent: t(13),
        nick: "carol".to_string(),
    };
    core.tell_undelivered(&from_bob, t(15), &mut rec);
    assert!(rec.0.is_empty());
}

/// Two nodes of a cluster: node 1 loses the others (their sessions quit,
/// and its rooms are told once why), node 0 reaps node 1's sessions and
/// gives one's nick away; when node 1 rejoins from node 0's snapshot, its
/// session is renamed first (its nick being taken: it and its node's
/// members of its rooms are told), then known again, the others see it
/// join, an operator again, it sees the
/// others join (and which are operators), and both replicas agree.
#[test]
fn a_node_that_rejoins_takes_the_clusters_state_and_is_announced_again() {
    let (s0, s1) = (Shard::new(0, 1).on_node(0), Shard::new(0, 1).on_node(1));
    let (a, c) = (s0.session(ConnId(1)), s0.session(ConnId(2)));
    let b = s1.session(ConnId(1));
    let mut rec = Recorder::default();
    let mut cores = [s0, s1].map(|s| ChatCore::new(&["#lobby"]).with_shard(s));
    for core in &mut cores {
        for (id, nick) in [(a, "alice"), (b, "bob")] {
            core.register(id, registration(nick), t(0)).unwrap();
            core.handle_command(id, Command::Join("#lobby"), t(0), &mut rec)
                .unwrap();
        }
        let (room, nick) = (lobby(core), "bob");
        let op = Command::Op {
            room,
            nick,
            op: true,
        };
        core.handle_command(a, op, t(0), &mut rec).unwrap();
    }
    let [mut n0, mut n1] = cores;
    rec.0.clear();
    n1.split(ServerNews::Unreachable, t(1), &mut rec);
    assert_eq!(n1.find_nick("alice"), None, "the other node's sessions go");
    let told: Vec<_> = rec.0.iter().map(|s| (s.what.as_str(), &s.to[..])).collect();
    assert_eq!(
        told,
        [
            // Member lists (an IRC client's, a page's) stay true...
            ("quit ServerGone", &[b][..]),
            // ... and the room is told once why.
            ("servers #lobby Unreachable (1)", &[b][..]),
        ]
    );
    assert_eq!(rec.0[0].actor, a);
    rec.0.clear();
    n0.reap(1, t(2), &mut rec);
    assert_eq!(n0.find_nick("bob"), None);
    assert_eq!(rec.0[0].what, "quit ServerGone");
    n0.register(c, registration("bob"), t(3)).unwrap();
    n0.handle_command(c, Command::Join("#lobby"), t(3), &mut rec)
        .unwrap();

    rec.0.clear();
    let returning = n1.restore(n0.snapshot(), t(4), &mut rec);
    // Its nick is carol's now: it is renamed first, before it (or anyone
    // on its node) can hear of the other bob.
    let renamed: Vec<_> = rec.0.iter().map(|s| (s.what.as_str(), &s.to[..])).collect();
    assert_eq!(renamed, [("nick bob -> guest1", &[b][..])]);
    // Until it is announced again, no replica acts on what it does: node
    // 0 does not know it, and node 1 must not differ.
    let said = Entry {
        time: t(4),
        session: b,
        op: Op::Nick("bobby".to_string()),
    };
    for core in [&mut n0, &mut n1] {
        assert_eq!(said.apply(core, &mut rec), Err(ChatError::Rejoining));
        assert_eq!(core.find_nick("bobby"), None);
    }
    assert_eq!(returning.len(), 1);
    // Nor does a snapshot node 1 hands over meanwhile (to a third node).
    let mut n2 = ChatCore::new(&["#lobby"]).with_shard(Shard::new(0, 1).on_node(2));
    assert!(n2.restore(n1.snapshot(), t(4), &mut rec).is_empty());
    assert!(n2.session(b).is_none());
    assert_eq!(
        n2.find_nick("bob"),
        Some(c),
        "the nick is the one who took it"
    );
    let (id, back) = &returning[0];
    assert_eq!((*id, back.nick.as_str()), (b, "guest1"));
    assert_eq!(back.rooms, ["#lobby"]);
    rec.0.clear();
    n0.welcome_back(b, back, t(4), &mut rec);
    let joined: Vec<_> = rec.0.iter().map(|s| (s.what.as_str(), &s.to[..])).collect();
    assert_eq!(
        joined,
        [
            ("join #lobby (3)", &[a, c][..]),
            ("op #lobby guest1 true", &[a, c][..])
        ]
    );
    rec.0.clear();
    n1.welcome_back(b, back, t(4), &mut rec);
    n1.tell_servers(ServerNews::Back, t(4), &mut rec);
    let told: Vec<_> = (rec.0.iter())
        .map(|s| (s.what.as_str(), s.actor, &s.to[..], s.stamps.len()))
        .collect();
    assert_eq!(
        told,
        [
            // The same event as on node 0 (its delivery, not node 1's).
            ("join #lobby (3)", b, &[a, c][..], 1),
            ("op #lobby guest1 true", SessionId::SERVER, &[a, c][..], 1),
            // Node 1's member sees the others join, as it saw alice quit;
            // with the room's latest number, not a new one: no one left it.
            ("join #lobby (3)", a, &[b][..], 1),
            ("op #lobby alice true", SessionId::SERVER, &[b][..], 1),
            ("join #lobby (3)", c, &[b][..], 1),
            ("servers #lobby Back (3)", SessionId::SERVER, &[b][..], 0),
        ]
    );
    let latest = ("#lobby".to_string(), n1.room(lobby(&n1)).seq);
    assert!(rec.0[2..5].iter().all(|s| s.stamps == [latest.clone()]));
    for core in [&n0, &n1] {
        let room = core.room(lobby(core));
        let mut nicks: Vec<&str> = (room.members.iter())
            .map(|&m| core.session(m).unwrap().nick.as_str())
            .collect();
        nicks.sort();
        assert_eq!(nicks, ["alice", "bob", "guest1"]);
        assert!(room.is_op(a) && room.is_op(b) && !room.is_op(c));
        assert_eq!(core.find_nick("guest1"), Some(b));
        assert_eq!(room.seq, n0.room(lobby(&n0)).seq, "one sequence");
    }
}

/// A log a test scripts: what the other replicas appended is handed over
/// at the next poll; what this one publishes follows nothing unseen.
struct ScriptedBus(Vec<std::sync::Arc<Entry>>);

impl switchboard_proto::Bus<std::sync::Arc<Entry>> for ScriptedBus {
    fn publish(&mut self, _: std::sync::Arc<Entry>, missed: &mut Vec<std::sync::Arc<Entry>>) {
        missed.append(&mut self.0);
    }

    fn poll(&mut self, out: &mut Vec<std::sync::Arc<Entry>>) {
        out.append(&mut self.0);
    }
}

/// A sink that holds room lines for batching, as the front-ends do, and
/// on each flush notes whether each held line's sender is still known.
#[derive(Default)]
struct HoldingSink {
    held: Vec<SessionId>,
    flushed: Vec<bool>,
}

impl EventSink for HoldingSink {
    fn handle_event(&mut self, _: &ChatCore, event: &Event<'_>, _: Recipients<'_>) {
        if matches!(event.kind, EventKind::Message { .. }) {
            self.held.push(event.actor);
        }
    }

    fn flush(&mut self, core: &ChatCore) {
        for sender in self.held.drain(..) {
            self.flushed.push(core.session(sender).is_some());
        }
    }
}

/// Lines held for batching go out before a snapshot replaces the state
/// (a node rejoining its cluster): after it, their sender may be unknown
/// to the core, and delivering them then panicked a thread.
#[test]
fn held_lines_go_out_before_a_snapshot_replaces_the_chat() {
    let shard = Shard::new(0, 1).on_node(1);
    let own = shard.session(ConnId(1));
    let other = Shard::new(0, 1).on_node(0).session(ConnId(1));
    let mut sink = HoldingSink::default();
    let mut core = ChatCore::new(&["#lobby"]).with_shard(shard);
    for (id, nick) in [(own, "own"), (other, "other")] {
        core.register(id, registration(nick), t(0)).unwrap();
        core.handle_command(id, Command::Join("#lobby"), t(0), &mut sink)
            .unwrap();
    }
    let said = Entry {
        time: t(1),
        session: other,
        op: Op::Message {
            to: "#lobby".to_string(),
            room: true,
            kind: MessageKind::Say,
            text: "hello".to_string(),
            tags: String::new(),
        },
    };
    // The cluster as the node finds it on rejoining: without `other`.
    let cluster = ChatCore::new(&["#lobby"]).snapshot();
    let rejoined = Entry {
        time: t(2),
        session: SessionId::SERVER,
        op: Op::Resync(Some(Box::new(cluster))),
    };
    let bus = ScriptedBus(vec![said.into(), rejoined.into()]);
    let mut replica = switchboard_proto::chat::Replica::shared(core, shard, Box::new(bus));
    replica.catch_up(&mut sink);
    assert!(replica.session(other).is_none(), "the snapshot is the chat");
    sink.flush(&replica); // the end of the turn
    assert_eq!(sink.flushed, [true], "flushed while its sender was known");
}

/// The netsplit takeover, refused: mallory, alone in #room on her side of
/// a split, leaves it and comes back to make it anew as its operator; back
/// in the cluster, where #room is the one made before the split, she is
/// not its operator. Alice, its operator there all along, still is.
#[test]
fn operator_status_won_in_a_room_made_again_during_a_split_does_not_return() {
    let (s0, s1) = (Shard::new(0, 1).on_node(0), Shard::new(0, 1).on_node(1));
    let (alice, mallory) = (s0.session(ConnId(1)), s1.session(ConnId(1)));
    let mut rec = Recorder::default();
    let mut cores = [s0, s1].map(|s| ChatCore::new(&["#lobby"]).with_shard(s));
    for core in &mut cores {
        for (id, nick) in [(alice, "alice"), (mallory, "mallory")] {
            core.register(id, registration(nick), t(0)).unwrap();
            core.handle_command(id, Command::Join("#room"), t(0), &mut rec)
                .unwrap();
        }
    }
    let [mut n0, mut n1] = cores;
    n1.split(ServerNews::Unreachable, t(1), &mut rec);
    let room = n1.find_room("#room").unwrap();
    let part = Command::Part { room, reason: None };
    n1.handle_command(mallory, part, t(2), &mut rec).unwrap();
    n1.handle_command(mallory, Command::Join("#room"), t(3), &mut rec)
        .unwrap();
    let room = n1.find_room("#room").unwrap();
    assert!(n1.room(room).is_op(mallory), "alone in a room made anew");
    n0.reap(1, t(4), &mut rec);

    let returning = n1.restore(n0.snapshot(), t(4), &mut rec);
    let (id, back) = &returning[0];
    assert_eq!(back.ops, [("#room".to_string(), t(3))]);
    for core in [&mut n0, &mut n1] {
        core.welcome_back(*id, back, t(5), &mut rec);
        let room = core.room(core.find_room("#room").unwrap());
        assert!(room.has_member(mallory) && !room.is_op(mallory));
        assert!(room.is_op(alice));
    }
}
