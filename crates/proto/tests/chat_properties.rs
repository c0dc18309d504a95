//! Properties of the chat room under random operation sequences.

use std::collections::HashMap;

use proptest::prelude::*;
use switchboard_proto::testing::Harness;
use switchboard_proto::{ChatConfig, ChatService, CloseReason, ConnId};

#[derive(Clone, Debug)]
enum Op {
    /// Client, and how many lines it sends in one read (chat lines from
    /// one read go to the room as one buffer).
    Say(usize, usize),
    Join(usize, usize),
    Nick(usize, usize),
    Leave(usize),
    Connect,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..8usize, 1..4usize).prop_map(|(c, n)| Op::Say(c, n)),
        2 => (0..8usize, 0..3usize).prop_map(|(c, r)| Op::Join(c, r)),
        1 => (0..8usize, 0..4usize).prop_map(|(c, n)| Op::Nick(c, n)),
        1 => (0..8usize).prop_map(Op::Leave),
        1 => Just(Op::Connect),
    ]
}

const ROOMS: [&str; 3] = ["#lobby", "#a", "#b"];

proptest! {
    /// Every member of the sender's room other than the sender receives each
    /// chat line exactly once, in the order sent; nobody else receives it;
    /// nothing goes to a closed connection.
    #[test]
    fn every_other_member_gets_each_line_once_in_order(ops in proptest::collection::vec(op(), 1..120)) {
        let mut h = Harness::new(ChatService::new(ChatConfig { rate_limit: None, ..ChatConfig::default() }));
        // The model: who is connected, in which room.
        let mut room_of: HashMap<ConnId, usize> = HashMap::new();
        let mut order: Vec<ConnId> = Vec::new(); // connected clients, by age
        let mut expected: HashMap<ConnId, Vec<String>> = HashMap::new();
        let mut received: HashMap<ConnId, Vec<String>> = HashMap::new();
        let mut next_msg = 0;
        for _ in 0..3 {
            let c = h.connect();
            room_of.insert(c, 0);
            order.push(c);
        }
        for op in ops {
            let pick = |i: usize| (!order.is_empty()).then(|| order[i % order.len()]);
            match op {
                Op::Connect => {
                    let c = h.connect();
                    room_of.insert(c, 0);
                    order.push(c);
                }
                Op::Say(i, n) => if let Some(c) = pick(i) {
                    let mut input = String::new();
                    for _ in 0..n {
                        let text = format!("m{next_msg}");
                        next_msg += 1;
                        input += &format!("{text}\n");
                        for (&other, &room) in &room_of {
                            if other != c && room == room_of[&c] {
                                expected.entry(other).or_default().push(text.clone());
                            }
                        }
                    }
                    h.input(c, input.as_bytes());
                },
                Op::Join(i, r) => if let Some(c) = pick(i) {
                    h.input(c, format!("/join {}\n", ROOMS[r]).as_bytes());
                    room_of.insert(c, r);
                },
                Op::Nick(i, n) => if let Some(c) = pick(i) {
                    h.input(c, format!("/nick n{n}\n").as_bytes());
                },
                Op::Leave(i) => if let Some(c) = pick(i) {
                    h.drop_conn(c, CloseReason::Reset);
                    room_of.remove(&c);
                    order.retain(|&x| x != c);
                },
            }
            // Collect chat lines (they start with '<'); keep the text only.
            for (&conn, _) in room_of.iter() {
                for line in h.lines(conn) {
                    if line.starts_with('<') {
                        let text = line.split_once("> ").unwrap().1.to_string();
                        received.entry(conn).or_default().push(text);
                    }
                }
            }
        }
        for (conn, want) in &expected {
            // Lines are collected after every step, so even a client that
            // left has been checked up to its departure.
            let got = received.get(conn).cloned().unwrap_or_default();
            prop_assert_eq!(&got, want, "client {:?}", conn);
        }
        for (conn, got) in &received {
            prop_assert!(expected.contains_key(conn) || got.is_empty());
        }
        prop_assert_eq!(h.io.sends_after_close, 0);
    }
}
