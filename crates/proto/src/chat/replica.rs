use std::collections::VecDeque;
use std::ops::Deref;
use std::sync::Arc;

use crate::chat::core::{
    ChatCore, ChatError, Command, CoreSnapshot, Entry, EventSink, Leaving, Op, QuitReason,
    Registration, Returning, ServerNews, Session, SessionId, Shard, Timestamp, Undelivered,
};
use crate::Bus;

/// The chat as one thread of several sees it: a replica of the whole
/// [`ChatCore`] (every session, nick and room, on every thread), kept in
/// step with the others through a shared log of [`Entry`]s.
///
/// A change made here is appended to the log, after the entries this
/// replica had not applied yet, and all of them are applied now, in log
/// order: the caller learns at once whether its command succeeded (a nick
/// is taken or not, in the one order every replica agrees on), and each
/// replica tells only its own sessions ([`Shard`]) of what happens. So a
/// room's line crosses to another thread once, as one log entry, and each
/// thread fans it out to its own members; every member of a room sees its
/// events in the room's sequence order, and each sender's in the order
/// sent. Queries (names, who, rooms) read the local replica.
///
/// Without a bus (one thread) changes go straight to the core.
pub struct Replica {
    core: ChatCore,
    bus: Option<Box<dyn Bus<Arc<Entry>>>>,
    /// Entries to apply, reused.
    missed: Vec<Arc<Entry>>,
    /// After this node rejoined its cluster: what to announce once what
    /// is being applied is done.
    returning: Option<Rejoin>,
    /// An announcement is under way (its changes do not start another).
    announcing: bool,
}

/// What a thread of a node that rejoined its cluster has to announce.
#[derive(Debug)]
struct Rejoin {
    /// This thread's sessions, for the others to learn of again, in order.
    own: VecDeque<(SessionId, Returning)>,
    /// When the node rejoined.
    time: Timestamp,
}

impl Deref for Replica {
    type Target = ChatCore;

    /// The local replica, for queries; changes go through the methods
    /// below, never to the core directly, or replicas would differ.
    fn deref(&self) -> &ChatCore {
        &self.core
    }
}

impl std::fmt::Debug for Replica {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replica")
            .field("shard", &self.core.shard())
            .field("shared", &self.bus.is_some())
            .finish_non_exhaustive()
    }
}

impl Replica {
    /// The only replica: changes apply directly.
    pub fn sole(core: ChatCore) -> Self {
        Replica {
            core,
            bus: None,
            missed: Vec::new(),
            returning: None,
            announcing: false,
        }
    }

    /// Replica `shard` of a chat whose replicas share `bus`. Every replica
    /// must start from the same `core`.
    pub fn shared(core: ChatCore, shard: Shard, bus: Box<dyn Bus<Arc<Entry>>>) -> Self {
        Replica {
            core: core.with_shard(shard),
            bus: Some(bus),
            missed: Vec::new(),
            returning: None,
            announcing: false,
        }
    }

    /// Whether other replicas share the chat.
    pub fn is_shared(&self) -> bool {
        self.bus.is_some()
    }

    /// Whether the shared log holds more than its bound of entries that
    /// some replica has not applied yet: new input should wait.
    pub fn is_congested(&self) -> bool {
        self.bus.as_ref().is_some_and(|bus| bus.is_congested())
    }

    /// Applies what the other replicas did since this one last looked.
    pub fn catch_up(&mut self, out: &mut impl EventSink) {
        if let Some(bus) = &mut self.bus {
            bus.poll(&mut self.missed);
            self.apply_missed(out);
            self.announce_returning(out);
        }
    }

    fn apply_missed(&mut self, out: &mut impl EventSink) {
        for entry in self.missed.drain(..) {
            match &entry.op {
                Op::Resync(snapshot) => {
                    // Lines held for batching go out to the rooms as they
                    // are before the state is replaced (as before any
                    // change: `Entry::apply`).
                    out.flush(&self.core);
                    let own = match snapshot {
                        Some(snapshot) => {
                            let snapshot = CoreSnapshot::clone(snapshot);
                            self.core.restore(snapshot, entry.time, out)
                        }
                        None => Vec::new(), // founded anew: nothing to take
                    };
                    self.returning = Some(match self.returning.take() {
                        // A second rejoin before the first was announced:
                        // the sessions still to announce are the same, and
                        // the first restore has their rooms.
                        Some(mut first) if snapshot.is_some() => {
                            let merged = own.into_iter().map(|(id, now)| {
                                let i = first.own.iter().position(|(f, _)| *f == id);
                                i.and_then(|i| first.own.swap_remove_back(i))
                                    .unwrap_or((id, now))
                            });
                            Rejoin {
                                own: merged.collect(),
                                ..first
                            }
                        }
                        // Founded anew after a rejoin not yet announced:
                        // the sessions that rejoin left detached are still
                        // to announce.
                        Some(first) if snapshot.is_none() => first,
                        _ => Rejoin {
                            own: own.into(),
                            time: entry.time,
                        },
                    });
                }
                Op::Snapshot(token) => {
                    if let Some(bus) = &mut self.bus {
                        share_state(&self.core, bus.as_mut(), token);
                    }
                }
                // Refusals were the owner's to report; every replica agrees.
                _ => drop(entry.apply(&mut self.core, out)),
            }
        }
    }

    /// Back in the cluster: the others learn of this thread's sessions
    /// again (those still here), one by one, each learning of the others
    /// as it is announced; then the rooms are told the servers are back.
    /// Not while entries are being applied: an entry this thread appended
    /// before it took the snapshot must be applied first, as everywhere.
    /// The sessions still to announce stay in `returning` meanwhile: a
    /// rejoin that lands during an announcement merges with them.
    fn announce_returning(&mut self, out: &mut impl EventSink) {
        if std::mem::replace(&mut self.announcing, true) {
            return;
        }
        while let Some(rejoin) = &mut self.returning {
            let time = rejoin.time;
            let Some((id, returning)) = rejoin.own.pop_front() else {
                self.returning = None;
                self.core.tell_servers(ServerNews::Back, time, out);
                break;
            };
            if self.core.session(id).is_some() {
                let _ = self.change(id, Op::Return(Box::new(returning)), time, out);
            }
        }
        self.announcing = false;
    }

    /// Appends `op` by `session` to the log and applies it, after what
    /// this replica had missed; or applies it at once without a bus.
    fn change(
        &mut self,
        session: SessionId,
        op: Op,
        time: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<(), ChatError> {
        let entry = Entry { time, session, op };
        let Some(bus) = &mut self.bus else {
            return entry.apply(&mut self.core, out);
        };
        let entry = Arc::new(entry);
        bus.publish(entry.clone(), &mut self.missed);
        self.apply_missed(out);
        let outcome = entry.apply(&mut self.core, out);
        self.announce_returning(out);
        outcome
    }

    /// [`ChatCore::register`], for all replicas.
    pub fn register(
        &mut self,
        id: SessionId,
        registration: Registration<'_>,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<&Session, ChatError> {
        if self.bus.is_none() {
            return self.core.register(id, registration, now);
        }
        self.change(id, Op::register(&registration), now, out)?;
        Ok(self.core.session(id).expect("just registered"))
    }

    /// [`ChatCore::handle_command`], for all replicas.
    pub fn handle_command(
        &mut self,
        id: SessionId,
        command: Command<'_>,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<(), ChatError> {
        if self.bus.is_none() {
            return self.core.handle_command(id, command, now, out);
        }
        let op = Op::command(&command, &self.core)?;
        self.change(id, op, now, out)
    }

    /// [`ChatCore::quit`], for all replicas.
    pub fn quit(
        &mut self,
        id: SessionId,
        reason: QuitReason<'_>,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        if self.bus.is_none() {
            return self.core.quit(id, reason, now, out);
        }
        let _ = self.change(id, Op::Quit(Leaving::new(reason)), now, out);
    }

    /// [`ChatCore::tell_undelivered`], through the log: `sender` is
    /// another thread's session, and its thread tells it.
    pub fn tell_undelivered(
        &mut self,
        undelivered: Undelivered,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        let sender = undelivered.sender;
        let _ = self.change(sender, Op::Undelivered(undelivered), now, out);
    }

    /// [`ChatCore::announce_turnover`], for all replicas (the first
    /// replica's summary tells everyone; later ones find nothing to tell).
    pub fn announce_turnover(&mut self, now: Timestamp, out: &mut impl EventSink) {
        let _ = self.change(SessionId::SERVER, Op::Summarize, now, out);
    }

    /// Without a bus: [`ChatCore::set_announce_limit`] at once, and true.
    /// With one, false: the limit must go through the log.
    pub fn set_announce_limit_alone(&mut self, limit: usize) -> bool {
        let alone = self.bus.is_none();
        if alone {
            self.core.set_announce_limit(limit);
        }
        alone
    }

    /// [`ChatCore::set_announce_limit`], for all replicas.
    pub fn set_announce_limit(&mut self, limit: usize, now: Timestamp, out: &mut impl EventSink) {
        if self.core.announce_limit() != limit {
            let _ = self.change(SessionId::SERVER, Op::AnnounceLimit(limit), now, out);
        }
    }
}

/// Answers a node that joins the cluster with `core`'s state: one thread
/// per node does (every thread's is the same).
fn share_state(core: &ChatCore, bus: &mut dyn Bus<Arc<Entry>>, token: &str) {
    if core.shard().index() == 0 {
        match serde_json::to_string(&core.snapshot()) {
            Ok(state) => bus.share_state(token, &state),
            Err(err) => tracing::error!(%err, "cannot write the chat's state down"),
        }
    }
}
