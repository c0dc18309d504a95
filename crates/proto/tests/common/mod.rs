//! What the property tests share.

use proptest::prelude::*;
use serde_json::Value;
use switchboard_proto::chat::core::{ChatCore, Leaving, MessageKind, Op, SessionId, Shard};
use switchboard_proto::ConnId;

/// The shared state of `core` in a form two replicas agree on: its
/// snapshot with rooms named rather than numbered (a room's number is
/// each replica's own handle, and one that took a snapshot reuses freed
/// numbers in another order; no entry carries one).
pub fn state(core: &ChatCore) -> Value {
    let mut snapshot = serde_json::to_value(core.snapshot()).unwrap();
    let rooms = snapshot["rooms"].as_array().unwrap().clone();
    let name_of = |id: &Value| {
        let room = rooms.iter().find(|r| r[0] == *id);
        room.map(|r| r[1]["name"].clone())
    };
    for session in snapshot["sessions"].as_array_mut().unwrap() {
        let rooms = session[1]["rooms"].as_array().unwrap().iter();
        let names = rooms.map(|id| name_of(id).expect("a member's room exists"));
        session[1]["rooms"] = Value::Array(names.collect());
    }
    let turnover = snapshot["turnover_rooms"].as_array().unwrap().iter();
    let names = turnover.map(|id| name_of(id).expect("a room awaiting its summary exists"));
    snapshot["turnover_rooms"] = Value::Array(names.collect());
    let mut by_name: Vec<Value> = rooms.iter().map(|r| r[1].clone()).collect();
    by_name.sort_by_key(|r| r["name"].as_str().unwrap().to_string());
    snapshot["rooms"] = Value::Array(by_name);
    snapshot
}

/// The nicks the logs use (so that they collide).
pub const NICKS: [&str; 4] = ["ann", "bob", "cy", "di"];

/// Session `n` of a log: three on each of two nodes.
pub fn session(n: usize) -> SessionId {
    Shard::new(0, 1).on_node(n % 2).session(ConnId(n / 2))
}

/// One entry's op by session `who` (0 to 5), in `rooms`: what clients do
/// (register, join, part, talk, rename, give operator status, kick,
/// quit), and with `server_ops` also what servers do to the shared state
/// (topics, away, private messages, summaries, announce limits).
pub fn op(rooms: &'static [&'static str], server_ops: bool) -> impl Strategy<Value = (usize, Op)> {
    let room = move || (0..rooms.len()).prop_map(move |r| rooms[r].to_string());
    let nick = || (0..NICKS.len()).prop_map(|n| NICKS[n].to_string());
    let clients = prop_oneof![
        3 => prop::option::of(nick()).prop_map(|nick| Op::Register {
            nick,
            user: "~u".into(),
            host: "test".into(),
            realname: "r".into(),
        }),
        4 => room().prop_map(Op::Join),
        1 => room().prop_map(|room| Op::Part { room, reason: None }),
        4 => (room(), any::<bool>()).prop_map(|(to, act)| Op::Message {
            to,
            room: true,
            kind: if act { MessageKind::Act } else { MessageKind::Say },
            text: "hi".into(),
            tags: String::new(),
        }),
        2 => nick().prop_map(Op::Nick),
        1 => (room(), nick(), any::<bool>()).prop_map(|(room, nick, op)| Op::Op { room, nick, op }),
        1 => (room(), nick()).prop_map(|(room, nick)| Op::Kick { room, nick, reason: "out".into() }),
        1 => Just(Op::Quit(Leaving::Quit(None))),
    ];
    let servers = prop_oneof![
        room().prop_map(|room| Op::Topic {
            room,
            text: "t".into()
        }),
        nick().prop_map(|to| Op::Message {
            to,
            room: false,
            kind: MessageKind::Say,
            text: "psst".into(),
            tags: String::new(),
        }),
        prop::option::of(Just("away".to_string())).prop_map(Op::Away),
        Just(Op::Summarize),
        (1..4usize).prop_map(Op::AnnounceLimit),
    ];
    let what = match server_ops {
        true => prop_oneof![4 => clients, 1 => servers].boxed(),
        false => clients.boxed(),
    };
    (0..6usize, what)
}

/// `log` as front-ends write it: a session registers once, until it
/// quits (`registered` says who is, and is kept up to date).
pub fn as_written(log: Vec<(usize, Op)>, registered: &mut [bool; 6]) -> Vec<(usize, Op)> {
    log.into_iter()
        .filter(|(who, op)| match op {
            Op::Register { .. } => !std::mem::replace(&mut registered[*who], true),
            Op::Quit(_) => std::mem::take(&mut registered[*who]),
            _ => true,
        })
        .collect()
}
