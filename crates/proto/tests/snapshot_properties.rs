//! The cluster's foundation, under random logs: a replica that takes
//! another's snapshot at any point and then applies the rest of the log
//! is from then on the same replica (the same outcomes, the same events
//! to the same sessions with the same sequence numbers, the same state),
//! whichever node its sessions and the log's authors are on.

mod common;

use proptest::prelude::*;
use switchboard_proto::chat::core::{
    ChatCore, Entry, Event, EventKind, EventSink, Recipients, Shard, Timestamp,
};

/// Every event, in words: what, by whom, to whom, in which rooms' order.
#[derive(Default)]
struct Transcript(Vec<String>);

impl EventSink for Transcript {
    fn handle_event(&mut self, core: &ChatCore, event: &Event<'_>, to: Recipients<'_>) {
        let kind = match event.kind {
            // Turnover summaries name nicks in a set's order; their
            // counts are what must agree.
            EventKind::Summary {
                room,
                turnover,
                members,
            } => format!(
                "summary {room} +{} -{} ({members})",
                turnover.joined, turnover.left
            ),
            kind => format!("{kind:?}"),
        };
        let stamps: Vec<String> = (event.rooms.iter())
            .map(|s| format!("{}#{}", core.room(s.room).name, s.seq))
            .collect();
        self.0.push(format!(
            "{kind} by {:?}/{} to {:?} but {:?} at {stamps:?}",
            event.actor, event.from.nick, to.sessions, to.except
        ));
    }
}

const ROOMS: [&str; 3] = ["#lobby", "#a", "#b"];

proptest! {
    #[test]
    fn a_replica_restored_from_a_snapshot_goes_on_as_the_one_it_came_from(
        log in proptest::collection::vec(common::op(&ROOMS, true), 1..80),
        at in 0..80usize,
    ) {
        let new = || ChatCore::new(&["#lobby"]).with_announce_limit(2, "test.server");
        let mut whole = new().with_shard(Shard::new(0, 1).on_node(0));
        let mut seen = Transcript::default();
        let log: Vec<Entry> = (common::as_written(log, &mut [false; 6]).into_iter().enumerate())
            .map(|(i, (who, op))| Entry {
                time: Timestamp(1_767_225_600_000 + 400 * i as u64),
                session: common::session(who),
                op,
            })
            .collect();
        let at = at.min(log.len());
        for entry in &log[..at] {
            let _ = entry.apply(&mut whole, &mut seen);
        }
        // A third node, with no sessions of its own, joins here.
        let mut joiner = new().with_shard(Shard::new(0, 1).on_node(2));
        prop_assert!(joiner.restore(whole.snapshot(), Timestamp(0), &mut seen).is_empty());
        let (mut after_whole, mut after_joiner) = (Transcript::default(), Transcript::default());
        for entry in &log[at..] {
            let a = entry.apply(&mut whole, &mut after_whole);
            let b = entry.apply(&mut joiner, &mut after_joiner);
            prop_assert_eq!(a, b, "{:?}", entry);
        }
        prop_assert_eq!(&after_whole.0, &after_joiner.0);
        prop_assert_eq!(common::state(&whole), common::state(&joiner));
        for n in common::NICKS {
            prop_assert_eq!(whole.find_nick(n), joiner.find_nick(n), "{}", n);
        }
    }
}
