//! A node rejoining its cluster, on a Replica fed by a staged log: each
//! of its members hears of each other node's member once, whatever
//! happens between its sessions' announcements, and one renamed on return
//! is renamed for everyone who knew it.

use std::collections::VecDeque;
use std::sync::Arc;

use switchboard_proto::chat::core::{
    ChatCore, Command, Entry, Event, EventKind, EventSink, Op, Recipients, Registration,
    ServerNews, SessionId, Shard, Timestamp,
};
use switchboard_proto::chat::Replica;
use switchboard_proto::ConnId;

#[derive(Default)]
struct Rec(Vec<(String, SessionId, bool, Vec<SessionId>)>);

impl EventSink for Rec {
    fn handle_event(&mut self, _: &ChatCore, event: &Event<'_>, to: Recipients<'_>) {
        let what = match event.kind {
            EventKind::Join { room, .. } => format!("join {room}"),
            EventKind::Quit { .. } => "quit".to_string(),
            EventKind::Nick { new } => format!("nick {} -> {new}", event.from.nick),
            EventKind::Op { room, nick, op } => format!("op {room} {nick} {op}"),
            EventKind::Servers { news, .. } => format!("servers {news:?}"),
            _ => "other".to_string(),
        };
        let mut r: Vec<SessionId> = to
            .sessions
            .iter()
            .copied()
            .filter(|&s| Some(s) != to.except)
            .collect();
        r.sort();
        self.0.push((what, event.actor, !event.rooms.is_empty(), r));
    }
}

fn t(ms: u64) -> Timestamp {
    Timestamp(1_767_225_600_000 + ms)
}

fn reg(nick: &str) -> Registration<'_> {
    Registration {
        nick: Some(nick),
        user: "~u",
        host: "test",
        realname: nick,
    }
}

/// Each poll or publish hands over the next batch of entries.
struct StagedBus(VecDeque<Vec<Arc<Entry>>>);

impl switchboard_proto::Bus<Arc<Entry>> for StagedBus {
    fn publish(&mut self, _: Arc<Entry>, missed: &mut Vec<Arc<Entry>>) {
        missed.extend(self.0.pop_front().unwrap_or_default());
    }
    fn poll(&mut self, out: &mut Vec<Arc<Entry>>) {
        out.extend(self.0.pop_front().unwrap_or_default());
    }
}

fn entry(session: SessionId, op: Op, ms: u64) -> Arc<Entry> {
    Arc::new(Entry {
        time: t(ms),
        session,
        op,
    })
}

fn register_op(nick: &str) -> Op {
    Op::Register {
        nick: Some(nick.into()),
        user: "~u".into(),
        host: "test".into(),
        realname: nick.into(),
    }
}

/// Node 1 (one thread, sessions a1, a2) and node 0 (x) share #lobby; node 1
/// splits. Returns node 1's core and node 0's snapshot (x in #lobby).
fn setup() -> (ChatCore, Shard, [SessionId; 4], ChatCore) {
    let s1 = Shard::new(0, 1).on_node(1);
    let s0 = Shard::new(0, 1).on_node(0);
    let (a1, a2) = (s1.session(ConnId(1)), s1.session(ConnId(2)));
    let (x, z) = (s0.session(ConnId(1)), s0.session(ConnId(2)));
    let mut rec = Rec::default();
    let mut n1 = ChatCore::new(&["#lobby"]).with_shard(s1);
    for (id, nick) in [(a1, "a1"), (a2, "a2"), (x, "x")] {
        n1.register(id, reg(nick), t(0)).unwrap();
        n1.handle_command(id, Command::Join("#lobby"), t(0), &mut rec)
            .unwrap();
    }
    n1.split(ServerNews::Unreachable, t(1), &mut rec);
    let mut n0 = ChatCore::new(&["#lobby"]).with_shard(s0);
    n0.register(x, reg("x"), t(0)).unwrap();
    n0.handle_command(x, Command::Join("#lobby"), t(0), &mut rec)
        .unwrap();
    (n1, s1, [a1, a2, x, z], n0)
}

fn joins_of(rec: &Rec, to: SessionId, actor: SessionId) -> usize {
    rec.0
        .iter()
        .filter(|(w, a, _, r)| w.starts_with("join") && *a == actor && r.contains(&to))
        .count()
}

/// A node-0 session z joins #lobby between a1's Return and a2's (two
/// sessions on one thread): a1, back already, sees z join once, in the
/// room's sequence; x, there all along, is introduced to it once.
#[test]
fn a_join_between_two_announcements_is_told_once() {
    let (n1, s1, [a1, _a2, x, z], n0) = setup();
    let snap = n0.snapshot();
    let bus = StagedBus(VecDeque::from([
        vec![entry(
            SessionId::SERVER,
            Op::Resync(Some(Box::new(snap))),
            2,
        )],
        vec![], // a1's Return
        vec![
            entry(z, register_op("z"), 3),
            entry(z, Op::Join("#lobby".into()), 3),
        ], // before a2's Return
    ]));
    let mut r = Replica::shared(n1, s1, Box::new(bus));
    let mut rec = Rec::default();
    r.catch_up(&mut rec);
    assert_eq!(joins_of(&rec, a1, x), 1, "x introduced once");
    assert_eq!(
        joins_of(&rec, a1, z),
        1,
        "z's join reaches a1 once: {:#?}",
        rec.0
    );
}

/// A second split and rejoin lands while the first rejoin is being
/// announced (inside a Return's publish): each member sees x once per
/// split it saw x leave in, and `Back` once.
#[test]
fn a_rejoin_in_the_middle_of_an_announcement_merges_with_it() {
    let (n1, s1, [a1, a2, x, _z], n0) = setup();
    let snap = n0.snapshot();
    let bus = StagedBus(VecDeque::from([
        vec![entry(
            SessionId::SERVER,
            Op::Resync(Some(Box::new(snap.clone()))),
            2,
        )],
        vec![
            entry(SessionId::SERVER, Op::Split(ServerNews::Unreachable), 3),
            entry(SessionId::SERVER, Op::Resync(Some(Box::new(snap))), 4),
        ],
    ]));
    let mut r = Replica::shared(n1, s1, Box::new(bus));
    let mut rec = Rec::default();
    r.catch_up(&mut rec);
    let backs = rec
        .0
        .iter()
        .filter(|(w, _, _, to)| w == "servers Back" && to.contains(&a1))
        .count();
    assert_eq!(joins_of(&rec, a2, x), 1, "a2: x introduced once");
    assert_eq!(
        (joins_of(&rec, a1, x), backs),
        (1, 1),
        "a1: x introduced once, Back once: {:#?}",
        rec.0
    );
}

/// A returning session whose nick was taken becomes guestN; its own
/// node's other members of its rooms (which never saw it leave) are told,
/// as it is, before they hear of the other bob.
#[test]
fn a_returning_session_renamed_guest_is_renamed_for_its_own_nodes_members_too() {
    let (s0, s1) = (Shard::new(0, 1).on_node(0), Shard::new(0, 1).on_node(1));
    let (b, d) = (s1.session(ConnId(1)), s1.session(ConnId(2)));
    let c = s0.session(ConnId(1));
    let mut rec = Rec::default();
    let mut n1 = ChatCore::new(&["#lobby"]).with_shard(s1);
    for (id, nick) in [(b, "bob"), (d, "dan")] {
        n1.register(id, reg(nick), t(0)).unwrap();
        n1.handle_command(id, Command::Join("#lobby"), t(0), &mut rec)
            .unwrap();
    }
    let mut n0 = ChatCore::new(&["#lobby"]).with_shard(s0);
    n0.register(c, reg("bob"), t(3)).unwrap(); // took the nick meanwhile
    n0.handle_command(c, Command::Join("#lobby"), t(3), &mut rec)
        .unwrap();
    rec.0.clear();
    let returning = n1.restore(n0.snapshot(), t(4), &mut rec);
    for (id, back) in &returning {
        n1.welcome_back(*id, back, t(4), &mut rec);
    }
    let told_dan = |what: &str, actor| {
        (rec.0.iter()).position(|(w, a, _, to)| w == what && *a == actor && to.contains(&d))
    };
    let renamed = told_dan("nick bob -> guest1", b);
    let other_bob = told_dan("join #lobby", c);
    assert!(
        renamed.is_some() && other_bob.is_some() && renamed < other_bob,
        "dan must hear of bob's new nick before the other bob joins: {:#?}",
        rec.0
    );
}
