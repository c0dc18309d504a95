use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use slab::Slab;

use crate::chat::core::{RoomId, SessionId, Shard, Timestamp, Turnover};
use crate::chat::names::name_key;

/// A room's topic and who set it when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    /// The text.
    pub text: String,
    /// The nick that set it.
    pub set_by: String,
    /// When.
    pub set_at: Timestamp,
}

/// A room's switches (IRC channel modes `+t` and `+n`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RoomMode {
    /// `+t`: only operators change the topic.
    TopicOpsOnly,
    /// `+n`: only members send messages to the room.
    NoExternal,
}

impl RoomMode {
    /// Both modes, in the order IRC lists them.
    pub const ALL: [RoomMode; 2] = [RoomMode::NoExternal, RoomMode::TopicOpsOnly];

    /// The IRC mode letter.
    pub fn letter(self) -> char {
        match self {
            RoomMode::TopicOpsOnly => 't',
            RoomMode::NoExternal => 'n',
        }
    }
}

/// A room: its members, operators, topic, modes and event sequence.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Room {
    /// Display name, with its `#`, spelt as its creator did.
    pub name: String,
    /// Who is in it.
    pub members: Vec<SessionId>,
    /// The members that are this thread's own, when several threads share
    /// the chat (empty with one): what this thread's fan-out walks, so that
    /// a line costs each thread its own members only.
    #[serde(skip)]
    pub local: Vec<SessionId>,
    /// Members with operator status (IRC's `@`): the first member gets it.
    pub ops: Vec<SessionId>,
    /// The topic, if one is set.
    pub topic: Option<Topic>,
    /// `+t`: only operators change the topic.
    pub topic_ops_only: bool,
    /// `+n`: only members send messages to the room.
    pub no_external: bool,
    /// Sequence number of the room's latest event (0: none yet).
    pub seq: u64,
    /// When the room was created.
    pub created: Timestamp,
    /// Arrivals and departures not yet summarized (a crowded room's).
    pub turnover: Turnover,
}

impl Room {
    /// Whether `session` is a member.
    pub fn has_member(&self, session: SessionId) -> bool {
        self.members.contains(&session)
    }

    /// Whether `session` is an operator.
    pub fn is_op(&self, session: SessionId) -> bool {
        self.ops.contains(&session)
    }

    /// Whether `mode` is set.
    pub fn mode(&self, mode: RoomMode) -> bool {
        match mode {
            RoomMode::TopicOpsOnly => self.topic_ops_only,
            RoomMode::NoExternal => self.no_external,
        }
    }

    /// Sets `mode`; returns whether that changed anything.
    pub fn set_mode(&mut self, mode: RoomMode, on: bool) -> bool {
        let flag = match mode {
            RoomMode::TopicOpsOnly => &mut self.topic_ops_only,
            RoomMode::NoExternal => &mut self.no_external,
        };
        std::mem::replace(flag, on) != on
    }

    /// Gives or takes operator status; returns whether that changed anything.
    pub fn set_op(&mut self, session: SessionId, op: bool) -> bool {
        match (self.ops.iter().position(|&s| s == session), op) {
            (None, true) => self.ops.push(session),
            (Some(i), false) => drop(self.ops.swap_remove(i)),
            _ => return false,
        }
        true
    }

    /// The next sequence number: one per event that happens in the room.
    pub fn next_seq(&mut self) -> u64 {
        self.seq += 1;
        self.seq
    }
}

/// All rooms. A room exists while it has members; permanent rooms (the
/// lobby) always.
#[derive(Debug)]
pub struct Rooms {
    rooms: Slab<Room>,
    /// By key (see [`name_key`]): sorted, so listing needs no sort.
    by_key: BTreeMap<String, RoomId>,
    /// Keys of the rooms that stay when empty.
    permanent: Vec<String>,
    /// With several threads: this one, whose members each room lists in
    /// [`Room::local`].
    shard: Option<Shard>,
}

impl Rooms {
    /// No rooms but the permanent ones, created at `now`.
    pub fn new(permanent: &[&str], now: Timestamp) -> Self {
        let mut rooms = Rooms {
            rooms: Slab::new(),
            by_key: BTreeMap::new(),
            permanent: permanent.iter().map(|n| name_key(n).into_owned()).collect(),
            shard: None,
        };
        for name in permanent {
            rooms.create(name, now);
        }
        rooms
    }

    fn create(&mut self, name: &str, now: Timestamp) -> RoomId {
        let id = RoomId(self.rooms.insert(Room {
            name: name.to_string(),
            members: Vec::new(),
            local: Vec::new(),
            ops: Vec::new(),
            topic: None,
            topic_ops_only: true,
            no_external: true,
            seq: 0,
            created: now,
            turnover: Turnover::default(),
        }));
        self.by_key.insert(name_key(name).into_owned(), id);
        id
    }

    /// The room called `name` (any case), if it exists.
    pub fn find(&self, name: &str) -> Option<RoomId> {
        self.by_key.get(name_key(name).as_ref()).copied()
    }

    /// Adds `session` to the room called `name`, creating it if needed; the
    /// first member of an empty room becomes its operator.
    pub fn join(&mut self, name: &str, session: SessionId, now: Timestamp) -> RoomId {
        let local = self.is_local(session);
        let id = match self.find(name) {
            Some(id) => id,
            None => self.create(name, now),
        };
        let room = &mut self.rooms[id.0];
        if room.created == Timestamp::default() {
            room.created = now; // a permanent room, made before any clock
        }
        if room.members.is_empty() {
            room.ops.push(session);
        }
        room.members.push(session);
        if local {
            room.local.push(session);
        }
        id
    }

    /// Every room with its id, to rebuild elsewhere ([`Rooms::restore`]).
    pub fn snapshot(&self) -> Vec<(usize, Room)> {
        self.rooms.iter().map(|(id, r)| (id, r.clone())).collect()
    }

    /// These rooms, with their ids, and no others but the permanent ones;
    /// local member lists rebuilt for this thread.
    pub fn restore(&mut self, rooms: Vec<(usize, Room)>, now: Timestamp) {
        self.rooms = rooms.into_iter().collect();
        self.by_key = (self.rooms.iter())
            .map(|(id, r)| (name_key(&r.name).into_owned(), RoomId(id)))
            .collect();
        let shard = self.shard;
        for (_, room) in self.rooms.iter_mut() {
            room.local = (room.members.iter().copied())
                .filter(|&m| shard.is_some_and(|shard| shard.conn(m).is_some()))
                .collect();
        }
        for key in self.permanent.clone() {
            if !self.by_key.contains_key(&key) {
                self.create(&key, now);
            }
        }
    }

    /// Whether `session` goes into rooms' local member lists.
    fn is_local(&self, session: SessionId) -> bool {
        self.shard
            .is_some_and(|shard| shard.conn(session).is_some())
    }

    /// Keeps each room's list of the members that are `shard`'s own (see
    /// [`Room::local`]), from now on (rooms must be empty).
    pub fn track_local(&mut self, shard: Shard) {
        self.shard = Some(shard);
    }

    /// The members of `room` this thread delivers to: its own with
    /// several threads, everyone with one.
    pub fn local_members(&self, room: RoomId) -> &[SessionId] {
        let r = self.get(room);
        match self.shard {
            Some(_) => &r.local,
            None => &r.members,
        }
    }

    /// Removes `session` from `room`; the room goes when it is empty, unless
    /// it is permanent. Returns whether the room still exists.
    pub fn leave(&mut self, room: RoomId, session: SessionId) -> bool {
        let r = &mut self.rooms[room.0];
        if let Some(i) = r.members.iter().position(|&m| m == session) {
            r.members.swap_remove(i);
        }
        if let Some(i) = r.local.iter().position(|&m| m == session) {
            r.local.swap_remove(i);
        }
        r.set_op(session, false);
        if r.members.is_empty() {
            let key = name_key(&r.name);
            if !self.permanent.iter().any(|p| *p == key) {
                let key = key.into_owned();
                self.rooms.remove(room.0);
                self.by_key.remove(&key);
                return false;
            }
        }
        true
    }

    /// Whether room `id` exists (an id goes stale when its room empties).
    pub fn contains(&self, id: RoomId) -> bool {
        self.rooms.contains(id.0)
    }

    /// The room `id`.
    ///
    /// # Panics
    /// If there is no such room (ids come from this `Rooms`).
    pub fn get(&self, id: RoomId) -> &Room {
        &self.rooms[id.0]
    }

    /// The room `id`, to change.
    pub fn get_mut(&mut self, id: RoomId) -> &mut Room {
        &mut self.rooms[id.0]
    }

    /// Number of rooms.
    pub fn len(&self) -> usize {
        self.rooms.len()
    }

    /// Whether there are no rooms at all.
    pub fn is_empty(&self) -> bool {
        self.rooms.is_empty()
    }

    /// Every room, in name order (ignoring case). Walking it costs nothing
    /// up front, so a caller that wants only some stops early.
    pub fn list(&self) -> impl Iterator<Item = &Room> {
        self.by_key.values().map(|&id| self.get(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ConnId;

    #[test]
    fn rooms_appear_on_join_and_vanish_when_empty() {
        let t = Timestamp(0);
        let mut rooms = Rooms::new(&["#lobby"], t);
        let lobby = rooms
            .find("#LOBBY")
            .expect("the lobby exists from the start");
        let (a, b, c) = (SessionId(1), SessionId(2), SessionId(3));
        assert_eq!(rooms.join("#lobby", a, t), lobby);
        let rust = rooms.join("#Rust", b, t);
        assert_eq!(
            rooms.join("#rust", c, t),
            rust,
            "names are case-insensitive"
        );
        assert_eq!(rooms.get(rust).members, vec![b, c]);
        assert_eq!(rooms.get(rust).ops, vec![b], "the first member is op");
        assert!(rooms.leave(rust, b));
        assert!(rooms.get(rust).ops.is_empty(), "ops go with their member");
        assert!(!rooms.leave(rust, c));
        assert_eq!(rooms.find("#rust"), None);
        assert!(rooms.leave(lobby, a));
        assert_eq!(rooms.find("#lobby"), Some(lobby), "the lobby stays");
        let names: Vec<&str> = rooms.list().map(|r| r.name.as_str()).collect();
        assert_eq!(names, ["#lobby"]);
    }

    #[test]
    fn modes_and_ops_report_changes() {
        let t = Timestamp(0);
        let mut rooms = Rooms::new(&[], t);
        let id = rooms.join("#a", SessionId(1), t);
        let room = rooms.get_mut(id);
        assert!(room.mode(RoomMode::TopicOpsOnly) && room.mode(RoomMode::NoExternal));
        assert!(!room.set_mode(RoomMode::NoExternal, true));
        assert!(room.set_mode(RoomMode::NoExternal, false));
        assert!(room.set_op(SessionId(2), true));
        assert!(!room.set_op(SessionId(2), true));
        assert_eq!((room.next_seq(), room.next_seq()), (1, 2));
    }

    /// With several threads, a room lists the members that are this
    /// thread's own, through joins and departures; with one, everyone.
    #[test]
    fn rooms_list_this_threads_own_members() {
        let (mine, theirs) = (Shard::new(1, 2), Shard::new(0, 2));
        let [a, b, c] = [1, 2, 3].map(|n| mine.session(ConnId(n)));
        let x = theirs.session(ConnId(1));
        let mut rooms = Rooms::new(&["#lobby"], Timestamp::default());
        rooms.track_local(mine);
        let room = rooms.join("#lobby", a, Timestamp(1));
        for s in [x, b, c] {
            rooms.join("#lobby", s, Timestamp(1));
        }
        let sorted = |v: &[SessionId]| {
            let mut v = v.to_vec();
            v.sort();
            v
        };
        assert_eq!(sorted(rooms.local_members(room)), [a, b, c]);
        rooms.leave(room, b);
        rooms.leave(room, x);
        assert_eq!(sorted(rooms.local_members(room)), [a, c]);
        assert_eq!(rooms.get(room).members.len(), 2);
        let mut sole = Rooms::new(&["#lobby"], Timestamp::default());
        let room = sole.join("#lobby", a, Timestamp(1));
        sole.join("#lobby", x, Timestamp(1));
        assert_eq!(sole.local_members(room), [a, x]);
        assert!(sole.get(room).local.is_empty(), "nothing kept twice");
    }
}
