use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::chat::core::{
    ChatError, Command, Event, EventKind, EventSink, MessageKind, MessageTarget, QuitReason,
    Recipients, Registration, Returning, Room, RoomId, RoomStamp, Rooms, ServerNews, Session,
    SessionId, Shard, Source, Target, Timestamp, Topic, Undelivered,
};
use crate::chat::names::{name_key, parse_room, validate_nick};

/// The chat itself, without a wire: sessions, nicks, rooms and membership.
///
/// A sans-IO state machine like the services around it, but one level up:
/// it knows nothing of bytes or connections. Front-ends register sessions
/// and hand it [`Command`]s; it checks them against one set of rules
/// (nick and room names, uniqueness ignoring case, membership, operator
/// status, room modes), applies them, and reports what happened as
/// [`Event`]s to an [`EventSink`], each with the sessions that must see it,
/// a timestamp and, per room, a sequence number. Queries (who is in a
/// room, which rooms exist, who has a nick) read its state directly.
#[derive(Debug)]
pub struct ChatCore {
    /// By `SessionId.0` (local sessions are connection slab keys: dense).
    sessions: Vec<Option<Session>>,
    session_count: usize,
    /// Nick key (see [`name_key`]) → owner.
    nicks: HashMap<String, SessionId>,
    rooms: Rooms,
    next_guest: u64,
    /// Reused to gather the recipients of a nick change or quit.
    scratch: Vec<SessionId>,
    /// Rooms above this many members have their joins and departures
    /// summarized, not announced one by one (0: every one is announced).
    announce_limit: usize,
    /// The server's name: the source of the summaries.
    server: String,
    /// Rooms whose [`Room::turnover`] waits for a summary (a room may be
    /// listed twice, or be gone: the summary skips those).
    turnover_rooms: Vec<RoomId>,
    /// With several threads, each asks for summaries on its own timer:
    /// summaries come at least this far apart (in milliseconds, of the
    /// log's time), and the last one's time.
    summary_gap: Option<(u64, Timestamp)>,
    /// Which sessions are this replica's thread's own.
    shard: Shard,
    /// This thread's sessions kept through a [`ChatCore::restore`] and not
    /// yet announced again ([`ChatCore::welcome_back`]): the other replicas
    /// do not know them, so neither does this one, for what they do. With
    /// the rooms each was in: whom it knows by the nicks it last saw.
    detached: Vec<(SessionId, Vec<String>)>,
}

/// The chat's shared state as one replica has it at one point of the log:
/// what a node joining a cluster starts from ([`ChatCore::snapshot`],
/// [`ChatCore::restore`]). The server's name and which sessions are local
/// stay each replica's own; the announce limit is shared (it decides which
/// events a room numbers), so a node takes the cluster's. The default is
/// an empty chat, keeping the replica's limit: a cluster's first node.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct CoreSnapshot {
    sessions: Vec<(SessionId, Session)>,
    rooms: Vec<(usize, Room)>,
    next_guest: u64,
    turnover_rooms: Vec<RoomId>,
    last_summary: Option<Timestamp>,
    announce_limit: Option<usize>,
}

impl ChatCore {
    /// Most rooms one session may be in at once (IRC's `CHANLIMIT`): every
    /// room costs memory, and one client must not make the server hold
    /// rooms without bound.
    pub const MAX_ROOMS: usize = 100;

    /// Most rooms one listing shows (IRC's `LIST`, the line front-end's
    /// `/rooms`): a reply to one command must stay small however many rooms
    /// there are. Rooms asked for by name are always found.
    pub const MAX_LISTED: usize = 1000;

    /// A chat with no one in it yet and these rooms, which always exist.
    pub fn new(permanent_rooms: &[&str]) -> Self {
        ChatCore {
            sessions: Vec::new(),
            session_count: 0,
            nicks: HashMap::new(),
            rooms: Rooms::new(permanent_rooms, Timestamp::default()),
            next_guest: 1,
            scratch: Vec::new(),
            announce_limit: 0,
            server: String::new(),
            turnover_rooms: Vec::new(),
            summary_gap: None,
            shard: Shard::SOLE,
            detached: Vec::new(),
        }
    }

    /// Summarizes joins and departures in rooms of more than `limit`
    /// members (0: never), in summaries from the server named `server`.
    pub fn with_announce_limit(mut self, limit: usize, server: &str) -> Self {
        self.announce_limit = limit;
        self.server = server.to_string();
        self
    }

    /// Rooms above this many members have their turnover summarized.
    pub fn announce_limit(&self) -> usize {
        self.announce_limit
    }

    /// Summaries at least `gap` apart, whoever asks (with several threads,
    /// each asks on its own timer).
    pub fn with_summary_gap(mut self, gap: std::time::Duration) -> Self {
        let ms = u64::try_from(gap.as_millis()).unwrap_or(u64::MAX);
        self.summary_gap = Some((ms, Timestamp::default()));
        self
    }

    /// This replica is thread `shard` of several: rooms keep lists of its
    /// own members for its fan-out ([`Rooms::local_members`]).
    pub fn with_shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        if shard != Shard::SOLE {
            self.rooms.track_local(shard);
        }
        self
    }

    /// A new announce limit (a reload), from the next join or departure.
    pub fn set_announce_limit(&mut self, limit: usize) {
        self.announce_limit = limit;
    }

    /// Whether `room` has more members than the announce limit: its joins
    /// and departures go into summaries ([`ChatCore::announce_turnover`]),
    /// and what a joiner is told of it is kept short.
    pub fn is_crowded(&self, room: RoomId) -> bool {
        self.announce_limit > 0 && self.rooms.get(room).members.len() > self.announce_limit
    }

    /// Whether some crowded room has arrivals or departures to summarize.
    pub fn has_turnover(&self) -> bool {
        !self.turnover_rooms.is_empty()
    }

    /// Tells each crowded room with arrivals or departures since its last
    /// summary who came and went, in one event numbered in the room's
    /// sequence; the front-ends call this periodically.
    pub fn announce_turnover(&mut self, now: Timestamp, out: &mut impl EventSink) {
        if let Some((gap, last)) = &mut self.summary_gap {
            if self.turnover_rooms.is_empty() || now.0 < last.0.saturating_add(*gap) {
                return; // another thread's timer: too soon, or nothing new
            }
            *last = now;
        }
        for room in std::mem::take(&mut self.turnover_rooms) {
            if !self.rooms.contains(room) || self.rooms.get(room).turnover.is_empty() {
                continue; // gone, or listed twice
            }
            let turnover = std::mem::take(&mut self.rooms.get_mut(room).turnover);
            let stamp = self.stamp(room);
            let r = self.rooms.get(room);
            let kind = EventKind::Summary {
                room: &r.name,
                turnover: &turnover,
                members: r.members.len(),
            };
            self.tell_from_server(None, &[stamp], kind, now, &r.members, out);
        }
    }

    /// Hands `out` an event that is no session's doing, by the server
    /// (named as the server), to `sessions`.
    fn tell_from_server(
        &self,
        subject: Option<SessionId>,
        rooms: &[RoomStamp],
        kind: EventKind<'_>,
        time: Timestamp,
        sessions: &[SessionId],
        out: &mut impl EventSink,
    ) {
        let event = Event {
            time,
            actor: SessionId::SERVER,
            from: Source {
                nick: &self.server,
                user: "",
                host: "",
            },
            subject,
            rooms,
            kind,
        };
        let to = Recipients {
            sessions,
            except: None,
        };
        out.handle_event(self, &event, to);
    }

    /// Tells the sender of a private message that it was not delivered
    /// (see [`EventKind::Undelivered`]); nothing if it is gone.
    pub fn tell_undelivered(
        &self,
        undelivered: &Undelivered,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        let sender = undelivered.sender;
        let Some(session) = self.session(sender) else {
            return;
        };
        if session.nick != undelivered.sender_nick || session.signed_on > undelivered.sent {
            return; // another session by now, or one that renamed itself
        }
        let kind = EventKind::Undelivered {
            to: &session.nick,
            nick: &undelivered.nick,
        };
        self.tell_from_server(Some(sender), &[], kind, now, &[sender], out);
    }

    /// Counts `id` as joining (or leaving) crowded `room`, for its next
    /// summary.
    fn note_turnover(&mut self, id: SessionId, room: RoomId, joined: bool) {
        let nick = &self.sessions[id.0].as_ref().expect("registered").nick;
        let turnover = &mut self.rooms.get_mut(room).turnover;
        if turnover.is_empty() {
            self.turnover_rooms.push(room);
        }
        if joined {
            turnover.add_joined(nick);
        } else {
            turnover.add_left(nick);
        }
    }

    /// Tells only `id` of its own join or part of crowded `room`, stamped
    /// with the room's latest sequence number: it is not one of the room's
    /// events (the summary will be), so members see no gap.
    fn tell_self<'s>(
        &'s self,
        id: SessionId,
        room: RoomId,
        now: Timestamp,
        out: &mut impl EventSink,
        kind: impl FnOnce(&'s str) -> EventKind<'s>,
    ) {
        let r = self.rooms.get(room);
        let stamp = RoomStamp { room, seq: r.seq };
        self.emit(id, None, &[stamp], kind(&r.name), now, &[id], None, out);
    }

    /// Registers a new session `id` (its nick claimed, in no room yet).
    pub fn register(
        &mut self,
        id: SessionId,
        registration: Registration<'_>,
        now: Timestamp,
    ) -> Result<&Session, ChatError> {
        let nick = match registration.nick {
            Some(nick) => {
                validate_nick(nick)?;
                if self.nicks.contains_key(name_key(nick).as_ref()) {
                    return Err(ChatError::NickTaken(nick.to_string()));
                }
                nick.to_string()
            }
            None => self.free_guest_nick(),
        };
        self.nicks.insert(name_key(&nick).into_owned(), id);
        Ok(self.add_session(
            id,
            Session {
                nick,
                user: registration.user.to_string(),
                host: registration.host.to_string(),
                realname: registration.realname.to_string(),
                rooms: Vec::new(),
                away: None,
                signed_on: now,
                last_message: now,
            },
        ))
    }

    /// Puts `session` in the table as `id` (its nick is the caller's to
    /// claim).
    fn add_session(&mut self, id: SessionId, session: Session) -> &Session {
        if self.sessions.len() <= id.0 {
            self.sessions.resize_with(id.0 + 1, || None);
        }
        assert!(
            self.sessions[id.0].is_none(),
            "session {id:?} registered twice"
        );
        self.session_count += 1;
        self.sessions[id.0].insert(session)
    }

    /// Takes session `id` out of the table, its nick (if it still holds it)
    /// and its rooms' member lists.
    fn remove_session(&mut self, id: SessionId) -> Option<Session> {
        let session = self.sessions.get_mut(id.0)?.take()?;
        self.session_count -= 1;
        self.forget_nick(id, &session.nick);
        self.detached.retain(|&(d, _)| d != id);
        for &room in &session.rooms {
            self.leave_room(room, id);
        }
        Some(session)
    }

    /// Takes `id` out of `room`'s members; a room that goes with it is no
    /// longer awaiting a summary (its number may soon be another room's).
    fn leave_room(&mut self, room: RoomId, id: SessionId) {
        if !self.rooms.leave(room, id) {
            self.turnover_rooms.retain(|&r| r != room);
        }
    }

    fn free_guest_nick(&mut self) -> String {
        loop {
            let nick = format!("guest{}", self.next_guest);
            self.next_guest += 1;
            if !self.nicks.contains_key(&nick) {
                return nick;
            }
        }
    }

    /// Carries out `command` for session `id` at `now`, telling `out` what
    /// happened; or says why not, changing nothing. A room id that no longer
    /// exists (its room emptied since it was looked up) is refused as no
    /// such room.
    ///
    /// # Panics
    /// If `id` is not registered.
    pub fn handle_command(
        &mut self,
        id: SessionId,
        command: Command<'_>,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<(), ChatError> {
        if command
            .room()
            .is_some_and(|room| !self.rooms.contains(room))
        {
            return Err(ChatError::NoSuchRoom("(gone)".to_string()));
        }
        match command {
            Command::Join(name) => return self.join(id, name, now, out),
            Command::Part { room, reason } => {
                self.member_of(id, room)?;
                let kind = |room| EventKind::Part { room, reason };
                if self.is_crowded(room) {
                    self.tell_self(id, room, now, out, kind);
                    self.note_turnover(id, room, false);
                } else {
                    self.tell_room(id, None, room, now, out, |room, _| kind(room));
                }
                self.remove_member(id, room);
            }
            Command::Message {
                to,
                kind,
                text,
                tags,
            } => return self.message(id, to, kind, text, tags, now, out),
            Command::Nick(new) => return self.nick(id, new, now, out),
            Command::Topic { room, text } => {
                let r = self.member_of(id, room)?;
                if r.topic_ops_only && !r.is_op(id) {
                    return Err(ChatError::NotOperator(r.name.clone()));
                }
                let set_by = self.session(id).expect("registered").nick.clone();
                self.rooms.get_mut(room).topic = (!text.is_empty()).then(|| Topic {
                    text: text.to_string(),
                    set_by,
                    set_at: now,
                });
                self.tell_room(id, None, room, now, out, |room, _| EventKind::Topic {
                    room,
                    text,
                });
            }
            Command::Kick { room, nick, reason } => {
                let subject = self.operator_on(id, room, nick)?;
                let kind = |room, nick| EventKind::Kick { room, nick, reason };
                self.tell_room(id, Some(subject), room, now, out, kind);
                self.remove_member(subject, room);
            }
            Command::Op { room, nick, op } => {
                let subject = self.operator_on(id, room, nick)?;
                if self.rooms.get_mut(room).set_op(subject, op) {
                    let kind = |room, nick| EventKind::Op { room, nick, op };
                    self.tell_room(id, Some(subject), room, now, out, kind);
                }
            }
            Command::RoomMode { room, mode, on } => {
                let r = self.member_of(id, room)?;
                if !r.is_op(id) {
                    return Err(ChatError::NotOperator(r.name.clone()));
                }
                if self.rooms.get_mut(room).set_mode(mode, on) {
                    let kind = |room, _| EventKind::RoomMode { room, mode, on };
                    self.tell_room(id, None, room, now, out, kind);
                }
            }
            Command::Away(text) => {
                self.session_mut(id).away = text.map(str::to_string);
            }
        }
        Ok(())
    }

    /// Numbers an event in `room` and tells every member, the actor and the
    /// subject included: what most room events are. `kind` is given the
    /// room's name and the subject's nick ("" without one).
    #[allow(clippy::too_many_arguments)] // an event's parts
    fn tell_room<'s>(
        &'s mut self,
        actor: SessionId,
        subject: Option<SessionId>,
        room: RoomId,
        now: Timestamp,
        out: &mut impl EventSink,
        kind: impl FnOnce(&'s str, &'s str) -> EventKind<'s>,
    ) {
        let stamp = self.stamp(room);
        let this: &'s ChatCore = self;
        let r = this.rooms.get(room);
        let subject_nick = subject.and_then(|s| this.session(s));
        let kind = kind(&r.name, subject_nick.map_or("", |s| s.nick.as_str()));
        this.emit(actor, subject, &[stamp], kind, now, &r.members, None, out);
    }

    fn join(
        &mut self,
        id: SessionId,
        name: &str,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<(), ChatError> {
        let name = parse_room(name)?;
        if let Some(existing) = self.rooms.find(&name) {
            let r = self.rooms.get(existing);
            if r.has_member(id) {
                return Err(ChatError::AlreadyInRoom(r.name.clone()));
            }
        }
        if self.session(id).expect("registered").rooms.len() >= Self::MAX_ROOMS {
            return Err(ChatError::TooManyRooms(name));
        }
        let room = self.rooms.join(&name, id, now);
        self.session_mut(id).rooms.push(room);
        let members = self.rooms.get(room).members.len();
        let kind = |room| EventKind::Join { room, members };
        if self.is_crowded(room) {
            self.tell_self(id, room, now, out, kind);
            self.note_turnover(id, room, true);
        } else {
            self.tell_room(id, None, room, now, out, |room, _| kind(room));
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)] // one message's parts, as received
    fn message(
        &mut self,
        id: SessionId,
        to: MessageTarget<'_>,
        kind: MessageKind,
        text: &str,
        tags: &str,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<(), ChatError> {
        match to {
            MessageTarget::Room(room) => {
                let r = self.rooms.get(room);
                if r.no_external && !r.has_member(id) {
                    return Err(ChatError::CannotSendToRoom(r.name.clone()));
                }
                self.session_mut(id).last_message = now;
                let stamp = self.stamp(room);
                let r = self.rooms.get(room);
                let kind = EventKind::Message {
                    to: Target::Room(&r.name),
                    kind,
                    text,
                    tags,
                };
                self.emit(id, None, &[stamp], kind, now, &r.members, Some(id), out);
            }
            MessageTarget::Nick(nick) => {
                let target = self
                    .find_nick(nick)
                    .ok_or_else(|| ChatError::NoSuchNick(nick.to_string()))?;
                self.session_mut(id).last_message = now;
                let kind = EventKind::Message {
                    to: Target::User(&self.session(target).expect("registered").nick),
                    kind,
                    text,
                    tags,
                };
                let to = [target];
                self.emit(id, Some(target), &[], kind, now, &to, Some(id), out);
            }
        }
        Ok(())
    }

    fn nick(
        &mut self,
        id: SessionId,
        new: &str,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Result<(), ChatError> {
        validate_nick(new)?;
        let key = name_key(new);
        if self
            .nicks
            .get(key.as_ref())
            .is_some_and(|&owner| owner != id)
        {
            return Err(ChatError::NickTaken(new.to_string()));
        }
        let key = key.into_owned();
        let rooms = self.session(id).expect("registered").rooms.clone();
        let stamps = self.stamp_all(&rooms);
        self.gather_company(id, &rooms, true);
        self.emit(
            id,
            None,
            &stamps,
            EventKind::Nick { new },
            now,
            &self.scratch,
            None,
            out,
        );
        let session = self.sessions[id.0].as_mut().expect("registered");
        self.nicks.remove(name_key(&session.nick).as_ref());
        session.nick = new.to_string();
        self.nicks.insert(key, id);
        Ok(())
    }

    /// Ends session `id`: everyone who shares a room with it is told why,
    /// and it leaves every room and frees its nick. Unknown ids are ignored.
    pub fn quit(
        &mut self,
        id: SessionId,
        reason: QuitReason<'_>,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        let Some(session) = self.session(id) else {
            return;
        };
        // Crowded rooms hear of it in their next summary.
        let (crowded, told): (Vec<RoomId>, Vec<RoomId>) =
            (session.rooms.iter()).partition(|&&room| self.is_crowded(room));
        for &room in &crowded {
            self.note_turnover(id, room, false);
        }
        let stamps = self.stamp_all(&told);
        self.gather_company(id, &told, false);
        let kind = EventKind::Quit { reason };
        self.emit(id, None, &stamps, kind, now, &self.scratch, None, out);
        self.remove_session(id).expect("registered");
    }

    /// Whether `id` is this thread's, kept through a restore and not yet
    /// announced again.
    fn is_detached(&self, id: SessionId) -> bool {
        self.detached.iter().any(|&(d, _)| d == id)
    }

    /// Frees `nick` if `id` holds it (a detached session's may be another's
    /// by now).
    fn forget_nick(&mut self, id: SessionId, nick: &str) {
        let key = name_key(nick);
        if self.nicks.get(key.as_ref()) == Some(&id) {
            self.nicks.remove(key.as_ref());
        }
    }

    /// How many of the sessions taking part are this node's, and how many
    /// nodes have any (one outside a cluster): IRC's `LUSERS`.
    pub fn users_by_node(&self) -> (usize, usize) {
        let mut nodes = [false; Shard::MAX_NODES];
        let mut here = 0;
        for (id, session) in self.sessions.iter().enumerate() {
            let id = SessionId(id);
            if session.is_none() || self.is_detached(id) {
                continue;
            }
            let node = self.shard.node_of(id);
            nodes[node] = true;
            here += usize::from(node == self.shard.node());
        }
        (here, nodes.iter().filter(|&&n| n).count().max(1))
    }

    /// Whether session `id` takes part in the chat: registered, and (after
    /// this node rejoined its cluster) announced again.
    pub fn is_present(&self, id: SessionId) -> bool {
        self.session(id).is_some() && !self.is_detached(id)
    }

    /// Builds and hands one event to `out`; `self` is lent to the sink as it
    /// stands.
    #[allow(clippy::too_many_arguments)] // an event's fields
    fn emit(
        &self,
        actor: SessionId,
        subject: Option<SessionId>,
        rooms: &[RoomStamp],
        kind: EventKind<'_>,
        time: Timestamp,
        sessions: &[SessionId],
        except: Option<SessionId>,
        out: &mut impl EventSink,
    ) {
        let event = Event {
            time,
            actor,
            from: self.session(actor).expect("registered").source(),
            subject,
            rooms,
            kind,
        };
        out.handle_event(self, &event, Recipients { sessions, except });
    }

    /// The next sequence number of `room`, as a stamp.
    fn stamp(&mut self, room: RoomId) -> RoomStamp {
        RoomStamp {
            room,
            seq: self.rooms.get_mut(room).next_seq(),
        }
    }

    /// A stamp in each of `rooms` (an event in all of them).
    fn stamp_all(&mut self, rooms: &[RoomId]) -> Vec<RoomStamp> {
        rooms.iter().map(|&room| self.stamp(room)).collect()
    }

    /// Everyone in `rooms` (some of `id`'s), once each, into `scratch`;
    /// `id` itself only if `with_self`.
    fn gather_company(&mut self, id: SessionId, rooms: &[RoomId], with_self: bool) {
        let mut company = std::mem::take(&mut self.scratch);
        company.clear();
        for &room in rooms {
            company.extend_from_slice(&self.rooms.get(room).members);
        }
        if rooms.len() > 1 {
            company.sort_unstable();
            company.dedup();
        }
        company.retain(|&s| s != id);
        if with_self {
            company.push(id);
        }
        self.scratch = company;
    }

    fn remove_member(&mut self, id: SessionId, room: RoomId) {
        self.session_mut(id).rooms.retain(|&r| r != room);
        self.leave_room(room, id);
    }

    /// `Ok` if `id` is in `room`.
    fn member_of(&self, id: SessionId, room: RoomId) -> Result<&Room, ChatError> {
        let r = self.rooms.get(room);
        if r.has_member(id) {
            Ok(r)
        } else {
            Err(ChatError::NotInRoom(r.name.clone()))
        }
    }

    /// The member called `nick` of `room`, if `id` is an operator there.
    fn operator_on(&self, id: SessionId, room: RoomId, nick: &str) -> Result<SessionId, ChatError> {
        let r = self.member_of(id, room)?;
        if !r.is_op(id) {
            return Err(ChatError::NotOperator(r.name.clone()));
        }
        let subject = self
            .find_nick(nick)
            .ok_or_else(|| ChatError::NoSuchNick(nick.to_string()))?;
        if !r.has_member(subject) {
            return Err(ChatError::TheyAreNotInRoom {
                nick: self.session(subject).expect("registered").nick.clone(),
                room: r.name.clone(),
            });
        }
        Ok(subject)
    }

    fn session_mut(&mut self, id: SessionId) -> &mut Session {
        self.sessions
            .get_mut(id.0)
            .and_then(Option::as_mut)
            .expect("registered session")
    }

    /// Session `id`, if registered.
    pub fn session(&self, id: SessionId) -> Option<&Session> {
        self.sessions.get(id.0).and_then(Option::as_ref)
    }

    /// The session with this nick (any case).
    pub fn find_nick(&self, nick: &str) -> Option<SessionId> {
        self.nicks.get(name_key(nick).as_ref()).copied()
    }

    /// The room with this name (any case; `#` required).
    pub fn find_room(&self, name: &str) -> Option<RoomId> {
        self.rooms.find(name)
    }

    /// Room `id`.
    ///
    /// # Panics
    /// If it does not exist.
    pub fn room(&self, id: RoomId) -> &Room {
        self.rooms.get(id)
    }

    /// All rooms.
    pub fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// Which sessions are this replica's thread's own (and on which
    /// connection): [`Shard::SOLE`] when it is the only one.
    pub fn shard(&self) -> Shard {
        self.shard
    }

    /// Registered sessions.
    pub fn session_count(&self) -> usize {
        self.session_count
    }

    /// The shared state as it stands (see [`CoreSnapshot`]).
    pub fn snapshot(&self) -> CoreSnapshot {
        CoreSnapshot {
            // A session not yet announced again is no one's to know of.
            sessions: (self.sessions.iter().enumerate())
                .filter_map(|(id, s)| Some((SessionId(id), s.clone()?)))
                .filter(|(id, _)| !self.is_detached(*id))
                .collect(),
            rooms: self.rooms.snapshot(),
            next_guest: self.next_guest,
            turnover_rooms: self.turnover_rooms.clone(),
            last_summary: self.summary_gap.map(|(_, last)| last),
            announce_limit: Some(self.announce_limit),
        }
    }

    /// Takes `snapshot` as the shared state, keeping this thread's own
    /// sessions but out of every room and nick until each is announced
    /// again ([`ChatCore::welcome_back`]): returned, in order, with what
    /// the others are to know of them. First, this node's sessions whose
    /// nicks another holds in `snapshot` are renamed (`guestN`), and told
    /// so with this node's members of their rooms: before any of those
    /// learns of the other holder, as IRC servers settle nick collisions
    /// before they introduce the other side's people.
    pub fn restore(
        &mut self,
        snapshot: CoreSnapshot,
        now: Timestamp,
        out: &mut impl EventSink,
    ) -> Vec<(SessionId, Returning)> {
        self.settle_collisions(&snapshot, now, out);
        let shard = self.shard;
        let mut own = Vec::new();
        for (id, slot) in self.sessions.iter_mut().enumerate() {
            let id = SessionId(id);
            if shard.conn(id).is_none() {
                *slot = None;
                continue;
            }
            let Some(session) = slot else { continue };
            let mut ops = Vec::new();
            let rooms: Vec<String> = (session.rooms.drain(..))
                .map(|room| {
                    let room = self.rooms.get(room);
                    if room.is_op(id) {
                        ops.push((room.name.clone(), room.created));
                    }
                    room.name.clone()
                })
                .collect();
            // A second restore before it was announced finds it in no
            // room: the first one knows where it was.
            if !self.detached.iter().any(|&(d, _)| d == id) {
                self.detached.push((id, rooms.clone()));
            }
            own.push((
                id,
                Returning {
                    nick: session.nick.clone(),
                    user: session.user.clone(),
                    host: session.host.clone(),
                    realname: session.realname.clone(),
                    away: session.away.clone(),
                    signed_on: session.signed_on,
                    last_message: session.last_message,
                    rooms,
                    ops,
                },
            ));
        }
        self.nicks.clear();
        self.session_count = self.sessions.iter().flatten().count();
        for (id, session) in snapshot.sessions {
            self.nicks.insert(name_key(&session.nick).into_owned(), id);
            self.add_session(id, session);
        }
        self.rooms.restore(snapshot.rooms, Timestamp::default());
        self.next_guest = snapshot.next_guest.max(1);
        self.turnover_rooms = snapshot.turnover_rooms;
        if let (Some((_, last)), Some(then)) = (&mut self.summary_gap, snapshot.last_summary) {
            *last = then;
        }
        self.announce_limit = snapshot.announce_limit.unwrap_or(self.announce_limit);
        own
    }

    /// Renames this node's sessions (of every thread: each thread's
    /// replica does the same, from the same state, and tells its own
    /// members) whose nicks another session holds in `snapshot`: to the
    /// first `guestN` free there. Its number is not taken from the
    /// cluster's count, which this node does not advance alone; one taken
    /// meanwhile is renamed again on return.
    fn settle_collisions(
        &mut self,
        snapshot: &CoreSnapshot,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        let holders: HashMap<String, SessionId> = (snapshot.sessions.iter())
            .map(|(id, s)| (name_key(&s.nick).into_owned(), *id))
            .collect();
        let (node, mut next) = (self.shard.node(), snapshot.next_guest.max(1));
        for i in 0..self.sessions.len() {
            let id = SessionId(i);
            let Some(session) = &self.sessions[i] else {
                continue;
            };
            let holder = holders.get(name_key(&session.nick).as_ref());
            if !self.shard.is_this_node(id) || holder.is_none_or(|&h| h == id) {
                continue;
            }
            // Free in the cluster and here (`next` only grows, so no two
            // renamed sessions share one; the table goes with the restore).
            let nick = loop {
                let nick = format!("guest{next}");
                next += 1;
                if !holders.contains_key(&nick) && !self.nicks.contains_key(&nick) {
                    break nick;
                }
            };
            let told = (session.rooms.iter())
                .flat_map(|&room| self.rooms.get(room).members.iter().copied())
                .filter(|&m| self.shard.node_of(m) == node);
            self.tell_renamed(id, &nick, told.collect(), now, out);
            self.session_mut(id).nick = nick;
        }
    }

    /// Tells `id` and `told` (its own node's members, who knew it by its
    /// old nick) that the server renamed it `nick`: its own doing, and done
    /// to it (its subject), which its own renames are not.
    fn tell_renamed(
        &self,
        id: SessionId,
        nick: &str,
        mut told: Vec<SessionId>,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        told.retain(|&m| m != id);
        told.sort_unstable();
        told.dedup();
        told.push(id);
        let kind = EventKind::Nick { new: nick };
        self.emit(id, Some(id), &[], kind, now, &told, None, out);
    }

    /// Session `id` of a node that rejoined the cluster is back: registered
    /// again (or, on its own thread, where it never left, given its nick
    /// and rooms again), under its nick if that is still free or the next
    /// `guestN` if not (it and its own node's members of its rooms, who
    /// never saw it leave, are told), and in its rooms, whose members see
    /// it join, an operator again where it was one. On its own thread it
    /// sees the other nodes' members of each room join (and which are
    /// operators), as it saw them quit when its node split: at this point
    /// of the log, so that it hears of each once.
    pub fn welcome_back(
        &mut self,
        id: SessionId,
        returning: &Returning,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        let holder = self.nicks.get(name_key(&returning.nick).as_ref());
        let taken = validate_nick(&returning.nick).is_err() || holder.is_some_and(|&h| h != id);
        let nick = match taken {
            true => self.free_guest_nick(),
            false => returning.nick.clone(),
        };
        self.nicks.insert(name_key(&nick).into_owned(), id);
        if self.sessions.get(id.0).is_none_or(Option::is_none) {
            // Known again under the nick the others last knew.
            self.add_session(
                id,
                Session {
                    nick: returning.nick.clone(),
                    user: returning.user.clone(),
                    host: returning.host.clone(),
                    realname: returning.realname.clone(),
                    rooms: Vec::new(),
                    away: None,
                    signed_on: returning.signed_on,
                    last_message: returning.last_message,
                },
            );
        }
        if taken {
            // Its own node's members never saw it leave: those in its rooms
            // (back already, or this thread's still on their way) know it
            // by its old nick, as it does.
            let node = self.shard.node_of(id);
            let shared = |rooms: &[String]| {
                (rooms.iter()).any(|r| returning.rooms.iter().any(|q| name_key(q) == name_key(r)))
            };
            let told = (returning.rooms.iter())
                .filter_map(|name| self.rooms.find(name))
                .flat_map(|room| self.rooms.get(room).members.iter().copied())
                .filter(|&m| self.shard.node_of(m) == node)
                .chain(
                    (self.detached.iter())
                        .filter(|(_, rooms)| shared(rooms))
                        .map(|&(d, _)| d),
                );
            self.tell_renamed(id, &nick, told.collect(), now, out);
        }
        self.detached.retain(|&(d, _)| d != id);
        self.session_mut(id).nick = nick;
        self.session_mut(id).away = returning.away.clone();
        for name in &returning.rooms {
            let Ok(name) = parse_room(name) else { continue };
            if (self.rooms.find(&name)).is_some_and(|room| self.rooms.get(room).has_member(id)) {
                continue;
            }
            let room = self.rooms.join(&name, id, now);
            self.session_mut(id).rooms.push(room);
            let created = self.rooms.get(room).created;
            let was_op = (returning.ops.iter())
                .any(|(op, made)| name_key(op) == name_key(&name) && *made == created);
            let op_again = was_op && self.rooms.get_mut(room).set_op(id, true);
            if self.is_crowded(room) {
                self.note_turnover(id, room, true);
                continue;
            }
            let stamp = self.stamp(room);
            let r = self.rooms.get(room);
            let kind = EventKind::Join {
                room: &r.name,
                members: r.members.len(),
            };
            // Its own node's members never saw it leave.
            let node = self.shard.node_of(id);
            let others: Vec<SessionId> = (r.members.iter().copied())
                .filter(|&m| self.shard.node_of(m) != node)
                .collect();
            self.emit(id, None, &[stamp], kind, now, &others, None, out);
            if op_again {
                let stamp = self.stamp(room);
                self.tell_op(id, room, Some(stamp), now, &others, out);
            }
            if self.shard.conn(id).is_some() {
                self.introduce_others(id, room, now, out);
            }
        }
    }

    /// Tells returning session `id` of the other nodes' members of `room`:
    /// their joins and which are operators. Stamped with the room's latest
    /// sequence number, as a crowded room's joiner's own join is: they are
    /// not events of the room, which no one left in the cluster's log.
    fn introduce_others(
        &self,
        id: SessionId,
        room: RoomId,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        let r = self.rooms.get(room);
        let latest = RoomStamp { room, seq: r.seq };
        let kind = EventKind::Join {
            room: &r.name,
            members: r.members.len(),
        };
        let node = self.shard.node_of(id);
        for &other in r.members.iter().filter(|&&m| self.shard.node_of(m) != node) {
            self.emit(other, None, &[latest], kind, now, &[id], None, out);
            if r.is_op(other) {
                self.tell_op(other, room, Some(latest), now, &[id], out);
            }
        }
    }

    /// Tells `sessions` that the server made `id` an operator of `room`.
    fn tell_op(
        &self,
        id: SessionId,
        room: RoomId,
        stamp: Option<RoomStamp>,
        now: Timestamp,
        sessions: &[SessionId],
        out: &mut impl EventSink,
    ) {
        let kind = EventKind::Op {
            room: &self.rooms.get(room).name,
            nick: &self.session(id).expect("registered").nick,
            op: true,
        };
        let stamps = stamp.as_slice();
        self.tell_from_server(Some(id), stamps, kind, now, sessions, out);
    }

    /// This node lost the rest of its cluster: every session of another
    /// node quits, as a dead node's do ([`ChatCore::reap`]), so that every
    /// member list stays true (an IRC client's, a page's), and this
    /// thread's members of each room are told once, besides, what happened.
    pub fn split(&mut self, news: ServerNews, now: Timestamp, out: &mut impl EventSink) {
        let node = self.shard.node();
        self.quit_nodes(|n| n != node, now, out);
        self.tell_servers(news, now, out);
    }

    /// Tells this thread's members of every room `news` of the other
    /// servers, once per room.
    pub fn tell_servers(&self, news: ServerNews, now: Timestamp, out: &mut impl EventSink) {
        for room in self.rooms.list() {
            let Some(id) = self.rooms.find(&room.name) else {
                continue;
            };
            let local = self.rooms.local_members(id);
            if local.is_empty() {
                continue;
            }
            let kind = EventKind::Servers {
                room: &room.name,
                news,
                members: room.members.len(),
            };
            self.tell_from_server(None, &[], kind, now, local, out);
        }
    }

    /// Node `node` of the cluster is gone: each of its sessions quits.
    pub fn reap(&mut self, node: usize, now: Timestamp, out: &mut impl EventSink) {
        self.quit_nodes(|n| n == node, now, out);
    }

    /// Every session of the nodes that `gone` picks quits: its server is
    /// unreachable.
    fn quit_nodes(
        &mut self,
        gone: impl Fn(usize) -> bool,
        now: Timestamp,
        out: &mut impl EventSink,
    ) {
        for id in 0..self.sessions.len() {
            let id = SessionId(id);
            if gone(self.shard.node_of(id)) && self.sessions[id.0].is_some() {
                self.quit(id, QuitReason::ServerGone, now, out);
            }
        }
    }
}
