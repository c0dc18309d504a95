//! A cluster of two nodes splits and heals under random logs: every
//! client's member lists, kept from the events it is sent alone (as an IRC
//! client keeps its nick lists: its own join brings the names, then
//! joins, parts, kicks, quits and renames), end as the rooms really are,
//! and no one is told of an arrival it already knew or a departure it did
//! not.

use std::collections::{BTreeMap, BTreeSet};

mod common;

use proptest::prelude::*;
use switchboard_proto::chat::core::{
    ChatCore, Entry, Event, EventKind, EventSink, Op, Recipients, ServerNews, SessionId, Shard,
    Timestamp,
};
use switchboard_proto::chat::name_key;

/// One node's clients, as they see the rooms.
struct Clients {
    shard: Shard,
    /// Per client: per room (by key), the nicks it believes are in it.
    lists: BTreeMap<SessionId, BTreeMap<String, BTreeSet<String>>>,
    /// What no client should have been told.
    wrong: Vec<String>,
}

impl Clients {
    fn new(shard: Shard) -> Self {
        Clients {
            shard,
            lists: BTreeMap::new(),
            wrong: Vec::new(),
        }
    }
}

fn key(room: &str) -> String {
    name_key(room).into_owned()
}

impl EventSink for Clients {
    fn handle_event(&mut self, core: &ChatCore, event: &Event<'_>, to: Recipients<'_>) {
        let from = event.from.nick.to_string();
        for &client in to.sessions.iter().filter(|&&s| Some(s) != to.except) {
            if self.shard.conn(client).is_none() {
                continue; // another node's to tell
            }
            let lists = self.lists.entry(client).or_default();
            let mut wrong = |what: String| self.wrong.push(format!("{client:?}: {what}"));
            match event.kind {
                EventKind::Join { room, .. } if event.actor == client => {
                    // Its own join: the names come with it.
                    let r = core.room(core.find_room(room).unwrap());
                    let names = (r.members.iter())
                        .map(|&m| core.session(m).unwrap().nick.clone())
                        .collect();
                    lists.insert(key(room), names);
                }
                EventKind::Join { room, .. } => {
                    let list = lists.entry(key(room)).or_default();
                    if !list.insert(from.clone()) {
                        wrong(format!("{from} joined {room} twice"));
                    }
                }
                EventKind::Part { room, .. } if event.actor == client => {
                    lists.remove(&key(room));
                }
                EventKind::Part { room, .. } => {
                    let gone = lists.get_mut(&key(room)).is_some_and(|l| l.remove(&from));
                    if !gone {
                        wrong(format!("{from}, not known in {room}, left it"));
                    }
                }
                EventKind::Kick { room, nick, .. } => {
                    if event.subject == Some(client) {
                        lists.remove(&key(room));
                    } else if !lists.get_mut(&key(room)).is_some_and(|l| l.remove(nick)) {
                        wrong(format!("{nick}, not known in {room}, was kicked"));
                    }
                }
                EventKind::Quit { .. } => {
                    let mut known = false;
                    for list in lists.values_mut() {
                        known |= list.remove(&from);
                    }
                    if !known {
                        wrong(format!("{from}, not known, quit"));
                    }
                }
                EventKind::Nick { new } => {
                    for list in lists.values_mut() {
                        if list.remove(&from) {
                            list.insert(new.to_string());
                        }
                    }
                }
                _ => {}
            }
        }
    }
}

const ROOMS: [&str; 2] = ["#lobby", "#a"];

struct Node {
    core: ChatCore,
    clients: Clients,
}

/// The log's next entry, 10 ms after the last.
fn next(time: &mut u64, session: SessionId, op: Op) -> Entry {
    *time += 10;
    Entry {
        time: Timestamp(*time),
        session,
        op,
    }
}

impl Node {
    fn apply(&mut self, entry: &Entry) {
        if matches!(entry.op, Op::Register { .. }) {
            // A new connection, whoever had the id before: it knows nothing.
            self.clients.lists.remove(&entry.session);
        }
        let _ = entry.apply(&mut self.core, &mut self.clients);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]
    #[test]
    fn member_lists_stay_true_through_a_split_and_its_healing(
        together in proptest::collection::vec(common::op(&ROOMS, false), 0..40),
        apart in proptest::collection::vec(common::op(&ROOMS, false), 0..30),
        after in proptest::collection::vec(common::op(&ROOMS, false), 0..20),
    ) {
        let mut time = 1_767_225_600_000;
        let mut registered = [false; 6];
        let mut nodes = [0, 1].map(|n| {
            let shard = Shard::new(0, 1).on_node(n);
            Node {
                core: ChatCore::new(&["#lobby"]).with_announce_limit(0, "test.server").with_shard(shard),
                clients: Clients::new(shard),
            }
        });
        for (who, op) in common::as_written(together, &mut registered) {
            let entry = next(&mut time, common::session(who), op);
            for node in &mut nodes {
                node.apply(&entry);
            }
        }
        // Node 1 loses the cluster; node 0 gives it up for dead.
        let [n0, n1] = &mut nodes;
        n1.apply(&next(&mut time, SessionId::SERVER, Op::Split(ServerNews::Unreachable)));
        n0.apply(&next(&mut time, SessionId::SERVER, Op::Reap(1)));
        for (who, op) in common::as_written(apart, &mut registered) {
            let node = if who % 2 == 0 { &mut *n0 } else { &mut *n1 };
            node.apply(&next(&mut time, common::session(who), op));
        }
        // Node 1 comes back from node 0's state and announces its people.
        time += 10;
        let returning = n1.core.restore(n0.core.snapshot(), Timestamp(time), &mut n1.clients);
        for (id, back) in returning {
            let entry = next(&mut time, id, Op::Return(Box::new(back)));
            for node in [&mut *n0, &mut *n1] {
                node.apply(&entry);
            }
        }
        for (who, op) in common::as_written(after, &mut registered) {
            let entry = next(&mut time, common::session(who), op);
            for node in [&mut *n0, &mut *n1] {
                node.apply(&entry);
            }
        }
        for node in &nodes {
            prop_assert!(node.clients.wrong.is_empty(), "{:#?}", node.clients.wrong);
            let core = &node.core;
            for (&client, lists) in &node.clients.lists {
                let Some(session) = core.session(client) else { continue };
                let truth: BTreeMap<String, BTreeSet<String>> = (session.rooms.iter())
                    .map(|&room| {
                        let r = core.room(room);
                        let names = (r.members.iter())
                            .map(|&m| core.session(m).unwrap().nick.clone())
                            .collect();
                        (key(&r.name), names)
                    })
                    .collect();
                prop_assert_eq!(lists, &truth, "{:?} ({})", client, session.nick);
            }
        }
        prop_assert_eq!(common::state(&nodes[0].core), common::state(&nodes[1].core));
    }
}
