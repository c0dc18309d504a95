use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime};

use redis::streams::{StreamId, StreamRangeReply, StreamReadReply};
use redis::{Connection, Script};
use switchboard_proto::chat::core::{
    CoreSnapshot, Entry, Op, ServerNews, SessionId, Shard, Timestamp,
};
use switchboard_proto::Bus;
use thiserror::Error;
use tracing::{debug, error, info, warn};

use crate::{BusMember, ThreadBus};

/// How long a node's claim lives without a heartbeat: a node that stops
/// beating is gone this long after, and its sessions with it.
pub const NODE_TTL: Duration = Duration::from_secs(3);

/// How long a node number stays its last holder's after its claim ran
/// out: new nodes take other numbers meanwhile, so that a node stopped
/// for a while (and reaped) comes back to its own.
const OWNER_TTL: Duration = Duration::from_secs(600);

/// How often a node beats, and looks for nodes that stopped.
const BEAT: Duration = Duration::from_secs(1);

/// How long a Redis command may take before the node counts Redis as
/// gone: a reactor thread waits this long at most, once.
const COMMAND_TIMEOUT: Duration = Duration::from_millis(500);

/// How long `XREAD` blocks: the link thread's longest wait, between beats.
const READ_BLOCK: Duration = Duration::from_millis(300);

/// How long a joining node waits for another to hand it the chat.
const SNAPSHOT_WAIT: Duration = Duration::from_secs(5);

/// Reconnection backoff: from the first to the last, doubling.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(100), Duration::from_secs(5));

/// How long a node that could not read the chat it was handed waits
/// before it asks again.
const CORRUPT_PAUSE: Duration = Duration::from_secs(60);

/// Entries of the log read at once.
const READ_COUNT: usize = 1000;

/// Keys; all of them start with `sb:` (docs/CLUSTER.md).
const LOG: &str = "sb:log";
const SEQ: &str = "sb:seq";

/// Why a node cannot be in the cluster now.
#[derive(Debug, Error)]
pub enum ClusterError {
    /// Redis is unreachable or failed (not a `source`: its text says it
    /// all, and a chain would say it three times).
    #[error("redis: {0}")]
    Redis(redis::RedisError),
    /// Another process holds the node number this one had.
    #[error("node {0} was taken by another process while this one was away")]
    SlotTaken(usize),
    /// The cluster was founded anew while this node waited for the chat.
    #[error("the cluster was founded anew while this node joined it")]
    Refounded,
    /// No node answered with the chat in time.
    #[error("no node handed over the chat within {0:?}")]
    NoSnapshot(Duration),
    /// An entry of the log could not be read.
    #[error("an entry of the cluster's log is unreadable: {0}")]
    Corrupt(#[from] serde_json::Error),
}

impl From<redis::RedisError> for ClusterError {
    fn from(err: redis::RedisError) -> Self {
        ClusterError::Redis(err)
    }
}

/// A chat's log shared by several processes (nodes) through Redis: the
/// [`ThreadBus`] its threads already share, fed with the cluster's entries
/// in the one order Redis gives them (docs/CLUSTER.md).
///
/// A thread's change is appended to the Redis stream `sb:log` by a script
/// that returns, in the same round trip, the entries the node had not
/// read yet: the node appends those and then its own to its threads' log,
/// so the caller learns its outcome at once, as with threads alone. A link
/// thread reads what other nodes append (`XREAD BLOCK`), beats, and reaps
/// nodes that stopped beating. When Redis goes away, or this node falls
/// behind the stream's bound, the node goes on alone ([`Op::Split`]) and
/// the link thread rejoins as soon as it can ([`Op::Resync`]).
pub struct Cluster {
    shared: Arc<Shared>,
    link: Option<JoinHandle<()>>,
}

struct Shared {
    bus: ThreadBus<Arc<Entry>>,
    client: redis::Client,
    /// This process's node number: the low bits of its sessions' ids.
    node: usize,
    /// This process's claim on its node number.
    token: String,
    /// The stream's bound, in entries.
    log_len: u64,
    link: Mutex<Link>,
    /// `Link::joined`, for the link thread to read without waiting for a
    /// publish's round trip (its beats must not wait behind them).
    joined: AtomicBool,
    stop: AtomicBool,
}

/// What publishing threads and the link thread share, under one lock so
/// that the node's log takes the cluster's entries in the cluster's order.
struct Link {
    /// For publishing; none while Redis is away.
    conn: Option<Connection>,
    /// The ID of the last entry of the stream this node has.
    cursor: String,
    /// Its sequence number (every entry's `n` is one more than the last).
    seq: u64,
    /// In the cluster; false while alone.
    joined: bool,
}

/// Where a node (re)joins the cluster's log.
struct Joined {
    conn: Connection,
    /// The chat as another node had it; none if this node founds the
    /// cluster (anew): its own state is the cluster's.
    snapshot: Option<CoreSnapshot>,
    cursor: String,
    seq: u64,
}

impl Cluster {
    /// Joins the cluster at `url` as a node whose `threads` threads share
    /// its log: takes a free node number, and the chat as the other nodes
    /// have it (none: an empty chat), which every thread applies first.
    pub fn join(url: &str, threads: usize, log_len: u64) -> Result<Cluster, ClusterError> {
        let client = redis::Client::open(url)?;
        let token = format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let mut shared = Shared {
            bus: ThreadBus::new(threads),
            client,
            node: 0,
            token,
            log_len: log_len.max(1),
            link: Mutex::new(Link {
                conn: None,
                cursor: "0-0".to_string(),
                seq: 0,
                joined: false,
            }),
            joined: AtomicBool::new(false),
            stop: AtomicBool::new(false),
        };
        // A node that died a moment ago may still count as joined for up
        // to NODE_TTL, and would never answer: ask again once it is gone.
        let mut attempts = 0;
        let joined = loop {
            attempts += 1;
            let mut conn = shared.connect()?;
            let again = (attempts > 1).then_some(shared.node);
            shared.node = match shared.claim(&mut conn, again) {
                Err(ClusterError::SlotTaken(_)) => shared.claim(&mut conn, None)?,
                claimed => claimed?,
            };
            match shared.join_log(conn) {
                Err(ClusterError::NoSnapshot(_) | ClusterError::Refounded) if attempts < 3 => {}
                joined => break joined?,
            }
        };
        info!(
            node = shared.node,
            founder = joined.snapshot.is_none(),
            "cluster joined"
        );
        shared.take(joined);
        let shared = Arc::new(shared);
        let link = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("cluster-link".to_string())
                .spawn(move || shared.run_link())
                .expect("spawn the cluster's link thread")
        };
        Ok(Cluster {
            shared,
            link: Some(link),
        })
    }

    /// This process's node number.
    pub fn node(&self) -> usize {
        self.shared.node
    }

    /// The log the node's threads share (to wake them with).
    pub fn bus(&self) -> &ThreadBus<Arc<Entry>> {
        &self.shared.bus
    }

    /// Thread `index`'s end of the cluster's log.
    pub fn member(&self, index: usize) -> ClusterMember {
        ClusterMember {
            shared: self.shared.clone(),
            member: self.shared.bus.member(index),
        }
    }

    /// Leaves the cluster: stops the link thread and gives up the node
    /// number, reaping what is left of this node's sessions at once
    /// rather than when its claim runs out.
    pub fn leave(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(link) = self.link.take() {
            let _ = link.join();
        }
        let mut link = self.shared.lock();
        if let Some(conn) = link.conn.as_mut() {
            let (before, after) = reap_entry_parts();
            let left: redis::RedisResult<i64> = LEAVE
                .key(LOG)
                .key(SEQ)
                .arg(&self.shared.token)
                .arg(self.shared.node)
                .arg(format!("{before}{}{after}", self.shared.node))
                .arg(self.shared.log_len)
                .invoke(conn);
            match left {
                Ok(_) => info!(node = self.shared.node, "cluster left"),
                Err(err) => warn!(%err, "cluster: could not say goodbye"),
            }
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
    }
}

/// One thread's end of a [`Cluster`]'s log.
pub struct ClusterMember {
    shared: Arc<Shared>,
    member: BusMember<Arc<Entry>>,
}

impl Bus<Arc<Entry>> for ClusterMember {
    fn publish(&mut self, item: Arc<Entry>, missed: &mut Vec<Arc<Entry>>) {
        let mut link = self.shared.lock();
        if link.joined {
            if let Err(trouble) = self.shared.publish(&mut link, &item) {
                self.shared.go_alone(&mut link, trouble, item.time);
            }
        }
        self.member.publish(item, missed);
    }

    fn poll(&mut self, out: &mut Vec<Arc<Entry>>) {
        self.member.poll(out);
    }

    fn is_congested(&self) -> bool {
        self.member.is_congested()
    }

    fn share_state(&mut self, token: &str, state: &str) {
        // On a connection and a thread of its own: a big chat takes a
        // while to send, and neither this reactor nor the node's
        // publishing connection is to wait for it (a write cut short
        // would leave that connection out of step).
        let (client, key, state) = (
            self.shared.client.clone(),
            snapshot_key(token),
            state.to_string(),
        );
        let sent = std::thread::Builder::new()
            .name("cluster-handover".to_string())
            .spawn(move || {
                let set = || -> redis::RedisResult<()> {
                    let mut conn = client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
                    conn.set_write_timeout(Some(SNAPSHOT_WAIT))?;
                    conn.set_read_timeout(Some(SNAPSHOT_WAIT))?;
                    redis::cmd("SET")
                        .arg(&key)
                        .arg(&state)
                        .arg("NX")
                        .arg("EX")
                        .arg(60)
                        .query(&mut conn)
                };
                match set() {
                    Ok(()) => debug!(key, bytes = state.len(), "cluster: chat handed over"),
                    Err(err) => warn!(%err, "cluster: could not hand the chat over"),
                }
            });
        if let Err(err) = sent {
            warn!(%err, "cluster: could not hand the chat over");
        }
    }
}

/// Why a node stops following the cluster's log for now.
#[derive(Debug, Error)]
enum Trouble {
    /// Redis failed or went away.
    #[error("redis is unreachable: {0}")]
    Unreachable(String),
    /// Entries this node had not read are gone from the stream.
    #[error("this node fell behind the log's bound and missed {0} entries")]
    Behind(u64),
    /// The others count this node as gone (it stopped beating).
    #[error("the other nodes counted this one as gone")]
    Reaped,
    /// The log's numbers went back (a Redis restored from an older save).
    #[error("the log's numbers went back: Redis lost its latest entries")]
    Rewound,
    /// An entry this node cannot read (one from a newer version).
    #[error("an entry of the log is unreadable: {0}")]
    Unreadable(String),
}

/// Whether the entry numbered `next` follows the one numbered `last`: if
/// not, what this node cannot go on from.
fn follows(last: u64, next: u64) -> Result<(), Trouble> {
    match next.checked_sub(last + 1) {
        Some(0) => Ok(()),
        Some(missed) => Err(Trouble::Behind(missed)),
        None => Err(Trouble::Rewound),
    }
}

/// A stream entry's ID, `MILLISECONDS-SEQUENCE`, as a pair that orders as
/// Redis orders them.
fn stream_id(id: &str) -> (u64, u64) {
    let (ms, seq) = id.split_once('-').unwrap_or((id, "0"));
    (ms.parse().unwrap_or(0), seq.parse().unwrap_or(0))
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Link> {
        self.link.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn connect(&self) -> Result<Connection, ClusterError> {
        let conn = self.client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
        conn.set_read_timeout(Some(COMMAND_TIMEOUT))?;
        conn.set_write_timeout(Some(COMMAND_TIMEOUT))?;
        Ok(conn)
    }

    /// Appends `item` to the cluster's log, and what this node had not
    /// read before it to the node's log.
    fn publish(&self, link: &mut Link, item: &Entry) -> Result<(), Trouble> {
        let conn = link
            .conn
            .as_mut()
            .ok_or(Trouble::Unreachable("away".into()))?;
        let json = serde_json::to_string(item).expect("entries serialize");
        let reply: redis::RedisResult<(String, u64, StreamRangeReply)> = PUBLISH
            .key(LOG)
            .key(SEQ)
            .key(node_key(self.node))
            .arg(&self.token)
            .arg(json)
            .arg(&link.cursor)
            .arg(self.log_len)
            .invoke(conn);
        let (id, seq, range) = reply.map_err(|err| match err.code() {
            Some("LOST") => Trouble::Reaped,
            _ => Trouble::Unreachable(err.to_string()),
        })?;
        let before: Vec<StreamId> = range.ids.into_iter().filter(|e| e.id != id).collect();
        self.ingest(link, before)?;
        follows(link.seq, seq)?;
        (link.cursor, link.seq) = (id, seq);
        Ok(())
    }

    /// Appends `entries` of the cluster's log (in its order) to the node's,
    /// those it has not already; fails on a gap or on its own reaping.
    fn ingest(&self, link: &mut Link, entries: Vec<StreamId>) -> Result<(), Trouble> {
        let mut batch = Vec::with_capacity(entries.len());
        let mut result = Ok(());
        let mut last = stream_id(&link.cursor);
        for stream_entry in entries {
            let id = stream_id(&stream_entry.id);
            if id <= last {
                continue; // read already (the publish and the link both read)
            }
            last = id;
            let seq: u64 = stream_entry.get("n").unwrap_or(0);
            if let Err(trouble) = follows(link.seq, seq) {
                result = Err(trouble);
                break;
            }
            (link.cursor, link.seq) = (stream_entry.id.clone(), seq);
            let text: Vec<u8> = stream_entry.get("e").unwrap_or_default();
            match serde_json::from_slice::<Entry>(&text) {
                Ok(Entry {
                    op: Op::Reap(node), ..
                }) if node == self.node => {
                    result = Err(Trouble::Reaped);
                    break;
                }
                Ok(entry) => batch.push(Arc::new(entry)),
                // Skipping it would leave this node's replicas unlike the
                // others' (a node of another version, say): go alone.
                Err(err) => {
                    error!(%err, id = stream_entry.id, "cluster: unreadable entry");
                    result = Err(Trouble::Unreadable(err.to_string()));
                    break;
                }
            }
        }
        if !batch.is_empty() {
            self.bus.append(batch);
        }
        result
    }

    /// Stops following the cluster: this node's threads drop the other
    /// nodes' sessions and tell their rooms once; the link thread rejoins.
    fn go_alone(&self, link: &mut Link, trouble: Trouble, time: Timestamp) {
        let news = match &trouble {
            Trouble::Behind(missed) => ServerNews::Behind(*missed),
            _ => ServerNews::Unreachable,
        };
        if let Trouble::Unreachable(_) = trouble {
            link.conn = None;
        }
        warn!(
            %trouble,
            "cluster: this node goes on alone until it can rejoin"
        );
        link.joined = false;
        self.joined.store(false, Ordering::Release);
        self.bus.append([Arc::new(Entry {
            time,
            session: SessionId::SERVER,
            op: Op::Split(news),
        })]);
    }

    /// Claims node number `preferred` (its own, when rejoining: its
    /// sessions' ids carry it), or any free one.
    fn claim(
        &self,
        conn: &mut Connection,
        preferred: Option<usize>,
    ) -> Result<usize, ClusterError> {
        let claimed: redis::RedisResult<usize> = CLAIM
            .arg(&self.token)
            .arg(preferred.map_or(-1, |node| node as i64))
            .arg(NODE_TTL.as_millis() as u64)
            .arg(Shard::MAX_NODES)
            .arg(OWNER_TTL.as_millis() as u64)
            .invoke(conn);
        match (claimed, preferred) {
            (Err(err), Some(node)) if err.code() == Some("TAKEN") => {
                Err(ClusterError::SlotTaken(node))
            }
            (claimed, _) => Ok(claimed?),
        }
    }

    /// Appends this node's reaping (its sessions from before are gone) and
    /// a request for the chat as it stands to the cluster's log, then waits
    /// for another node to answer, or starts the chat afresh if none can.
    fn join_log(&self, mut conn: Connection) -> Result<Joined, ClusterError> {
        let asked = now();
        let (before, after) = reap_entry_parts();
        let request = format!("{}-{}", self.token, asked.0);
        let ask = Entry {
            time: asked,
            session: SessionId::SERVER,
            op: Op::Snapshot(request.clone()),
        };
        let (cursor, seq, others, epoch): (String, u64, bool, String) = JOIN
            .key(LOG)
            .key(SEQ)
            .arg(&self.token)
            .arg(self.node)
            .arg(format!("{before}{}{after}", self.node))
            .arg(serde_json::to_string(&ask).expect("entries serialize"))
            .arg(self.log_len)
            .arg(NODE_TTL.as_millis() as u64)
            .invoke(&mut conn)?;
        let snapshot = match others {
            false => None,
            true => {
                let deadline = Instant::now() + SNAPSHOT_WAIT;
                let mut renewed = Instant::now();
                let state: String = loop {
                    if renewed.elapsed() >= BEAT {
                        renewed = Instant::now();
                        self.beat(&mut conn)
                            .map_err(|_| ClusterError::NoSnapshot(SNAPSHOT_WAIT))?;
                    }
                    let state: Option<String> = redis::cmd("GET")
                        .arg(snapshot_key(&request))
                        .query(&mut conn)?;
                    if let Some(state) = state {
                        break state;
                    }
                    if Instant::now() > deadline || self.stop.load(Ordering::Acquire) {
                        return Err(ClusterError::NoSnapshot(SNAPSHOT_WAIT));
                    }
                    std::thread::sleep(Duration::from_millis(10));
                };
                let _: redis::RedisResult<()> = redis::cmd("DEL")
                    .arg(snapshot_key(&request))
                    .query(&mut conn);
                // Joined only if the cluster was not founded anew since the
                // request: that chat would not be in the log followed.
                let confirmed: bool = CONFIRM
                    .arg(&self.token)
                    .arg(self.node)
                    .arg(&epoch)
                    .arg(NODE_TTL.as_millis() as u64)
                    .invoke(&mut conn)?;
                if !confirmed {
                    return Err(ClusterError::Refounded);
                }
                Some(serde_json::from_str(&state)?)
            }
        };
        Ok(Joined {
            conn,
            snapshot,
            cursor,
            seq,
        })
    }

    /// Follows the cluster's log from where `joined` stands: the node's
    /// threads take its snapshot first, and announce their own sessions
    /// again.
    fn take(&self, joined: Joined) {
        let mut link = self.lock();
        link.conn = Some(joined.conn);
        (link.cursor, link.seq) = (joined.cursor, joined.seq);
        link.joined = true;
        self.joined.store(true, Ordering::Release);
        self.bus.append([Arc::new(Entry {
            time: now(),
            session: SessionId::SERVER,
            op: Op::Resync(joined.snapshot.map(Box::new)),
        })]);
    }

    /// Rejoins after Redis came back or this node fell behind.
    fn rejoin(&self) -> Result<(), ClusterError> {
        let mut conn = self.connect()?;
        self.claim(&mut conn, Some(self.node))?;
        let joined = self.join_log(conn)?;
        self.take(joined);
        Ok(())
    }

    /// The link thread: reads the others' entries, beats, reaps, and
    /// rejoins with backoff when alone.
    fn run_link(&self) {
        let mut reader: Option<Connection> = None;
        let mut backoff = BACKOFF.0;
        let mut last_beat = Instant::now();
        let mut said_away = false;
        while !self.stop.load(Ordering::Acquire) {
            if !self.joined.load(Ordering::Acquire) {
                reader = None;
                match self.rejoin() {
                    Ok(()) => {
                        info!(node = self.node, "cluster: back in touch, rejoined");
                        backoff = BACKOFF.0;
                        said_away = false;
                    }
                    Err(err) => {
                        if !said_away {
                            match err {
                                // Alone until that process goes: say so loudly.
                                ClusterError::SlotTaken(_) => {
                                    error!(%err, "cluster: cannot rejoin; retrying with backoff")
                                }
                                _ => {
                                    warn!(%err, "cluster: cannot rejoin yet; retrying with backoff")
                                }
                            }
                            said_away = true;
                        }
                        self.nap(jitter(match err {
                            // Another version's chat: asking again soon
                            // only has every node write it down again.
                            ClusterError::Corrupt(_) => CORRUPT_PAUSE,
                            _ => backoff,
                        }));
                        backoff = (backoff * 2).min(BACKOFF.1);
                    }
                }
                continue;
            }
            let conn = match reader.as_mut() {
                Some(conn) => conn,
                None => match self.connect() {
                    Ok(conn) => {
                        let _ = conn.set_read_timeout(Some(READ_BLOCK + COMMAND_TIMEOUT));
                        reader.insert(conn)
                    }
                    Err(err) => {
                        self.trouble(Trouble::Unreachable(err.to_string()));
                        continue;
                    }
                },
            };
            if last_beat.elapsed() >= BEAT {
                last_beat = Instant::now();
                match self.beat(conn) {
                    Ok(()) => {}
                    Err(Trouble::Unreachable(_)) => {
                        reader = None; // as for a read, below
                        last_beat -= BEAT;
                        continue;
                    }
                    Err(trouble) => {
                        self.trouble(trouble);
                        continue;
                    }
                }
            }
            if self.bus.is_congested() {
                // This node's threads are behind: reading more would only
                // grow its log. Past the stream's bound, it is told so.
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            let cursor = self.lock().cursor.clone();
            let read: redis::RedisResult<Option<StreamReadReply>> = redis::cmd("XREAD")
                .arg("COUNT")
                .arg(READ_COUNT)
                .arg("BLOCK")
                .arg(READ_BLOCK.as_millis() as u64)
                .arg("STREAMS")
                .arg(LOG)
                .arg(cursor)
                .query(conn);
            match read {
                Ok(reply) => {
                    let entries: Vec<StreamId> = (reply.into_iter())
                        .flat_map(|r| r.keys)
                        .flat_map(|k| k.ids)
                        .collect();
                    // A thread publishing now holds the lock through its
                    // round trip, and brings these in itself (each publish
                    // brings in what others appended): this node is the
                    // busy one, and reading again at once would only be
                    // woken by its own next entry. Read again in a moment.
                    let mut link = match self.link.try_lock() {
                        Ok(link) => link,
                        Err(TryLockError::Poisoned(link)) => link.into_inner(),
                        Err(TryLockError::WouldBlock) => {
                            std::thread::sleep(Duration::from_millis(1));
                            continue;
                        }
                    };
                    if link.joined {
                        let before = link.seq;
                        if let Err(trouble) = self.ingest(&mut link, entries) {
                            self.go_alone(&mut link, trouble, now());
                        } else if link.seq == before {
                            drop(link); // all read already, by publishes
                            std::thread::sleep(Duration::from_millis(1));
                        }
                    }
                }
                // An interrupted read (the process was stopped and went
                // on) or a dropped link: a new connection picks up from
                // the cursor, and only failing to connect counts as Redis
                // being away.
                Err(err) if err.is_io_error() => reader = None,
                Err(err) => self.trouble(Trouble::Unreachable(err.to_string())),
            }
        }
    }

    /// Sleeps `time`, or less if the node is leaving: a process shutting
    /// down while Redis is away must not wait out a backoff.
    fn nap(&self, time: Duration) {
        let end = Instant::now() + time;
        while !self.stop.load(Ordering::Acquire) {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(Duration::from_millis(50)));
        }
    }

    fn trouble(&self, trouble: Trouble) {
        let mut link = self.lock();
        if link.joined {
            self.go_alone(&mut link, trouble, now());
        }
    }

    /// Renews this node's claim, and reaps the nodes whose claims ran out.
    fn beat(&self, conn: &mut Connection) -> Result<(), Trouble> {
        let unreachable = |err: redis::RedisError| Trouble::Unreachable(err.to_string());
        let alive: bool = HEARTBEAT
            .arg(&self.token)
            .arg(self.node)
            .arg(NODE_TTL.as_millis() as u64)
            .arg(OWNER_TTL.as_millis() as u64)
            .invoke(conn)
            .map_err(unreachable)?;
        if !alive {
            return Err(Trouble::Reaped);
        }
        let (before, after) = reap_entry_parts();
        let reaped: Vec<usize> = REAP
            .key(LOG)
            .key(SEQ)
            .arg(before)
            .arg(after)
            .arg(self.log_len)
            .invoke(conn)
            .map_err(unreachable)?;
        for node in reaped {
            info!(node, "cluster: node stopped beating; its sessions are gone");
        }
        Ok(())
    }
}

/// `backoff`, give or take a quarter, so that nodes do not retry in step.
fn jitter(backoff: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let quarter = backoff / 4;
    backoff - quarter + quarter * 2 * (nanos % 1000) / 1000
}

fn now() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

fn node_key(node: usize) -> String {
    format!("sb:node:{node}")
}

fn snapshot_key(request: &str) -> String {
    format!("sb:snapshot:{request}")
}

/// The JSON of a reap entry, before and after the node's number: the Lua
/// scripts that reap put the number in between (they cannot run serde).
fn reap_entry_parts() -> (String, String) {
    let entry = Entry {
        time: now(),
        session: SessionId::SERVER,
        op: Op::Reap(0),
    };
    let json = serde_json::to_string(&entry).expect("entries serialize");
    let at = json.rfind("0}").expect("the node's number, last");
    (json[..at].to_string(), json[at + 1..].to_string())
}

/// The scripts, each atomic in Redis (docs/CLUSTER.md says what each does
/// and costs). Keys other than the log's are built in the scripts: one
/// Redis, not a Redis Cluster.
static CLAIM: LazyLock<Script> = LazyLock::new(|| {
    // ARGV: token, preferred node (-1: any free), TTL in ms, node count,
    // ownership TTL in ms.
    Script::new(
        r"
        local function free(i)
          local v = redis.call('GET', 'sb:node:' .. i)
          return (not v) or v == ARGV[1]
        end
        -- Not another process's lately: a node stopped for a while comes
        -- back to its own number (its sessions' ids carry it).
        local function unowned(i)
          local v = redis.call('GET', 'sb:owner:' .. i)
          return (not v) or v == ARGV[1]
        end
        local node = tonumber(ARGV[2])
        if node < 0 then
          -- From where the last claim left off: a number freed a moment ago
          -- (its node just died) is the last to be given again.
          node = nil
          local count = tonumber(ARGV[4])
          local start = redis.call('INCR', 'sb:next-node')
          for k = 0, count - 1 do
            local i = (start + k) % count
            if free(i) and unowned(i) then node = i break end
          end
          if not node then
            -- Every free number was someone's lately: the one whose holder
            -- has been gone longest.
            local best = nil
            for i = 0, count - 1 do
              if free(i) then
                local left = redis.call('PTTL', 'sb:owner:' .. i)
                if not best or left < best then node, best = i, left end
              end
            end
          end
          if not node then return redis.error_reply('FULL every node number is taken') end
        elseif not free(node) then
          return redis.error_reply('TAKEN this node number is taken')
        end
        redis.call('SET', 'sb:node:' .. node, ARGV[1], 'PX', ARGV[3])
        redis.call('SET', 'sb:owner:' .. node, ARGV[1], 'PX', ARGV[5])
        redis.call('SADD', 'sb:live', node)
        return node",
    )
});

static JOIN: LazyLock<Script> = LazyLock::new(|| {
    // KEYS: log, seq. ARGV: token, node, reap entry, snapshot request
    // entry, log bound, TTL in ms. Returns the request's ID and number,
    // whether a joined node is there to answer it (if not, this node
    // founds the cluster), and the cluster's founding (epoch).
    Script::new(
        r"
        local node = ARGV[2]
        if redis.call('GET', 'sb:node:' .. node) ~= ARGV[1] then
          return redis.error_reply('LOST this node was counted as gone')
        end
        redis.call('DEL', 'sb:joined:' .. node)
        local n = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'n', n, 'e', ARGV[3])
        n = redis.call('INCR', KEYS[2])
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[5], '*', 'n', n, 'e', ARGV[4])
        local others = 0
        for _, s in ipairs(redis.call('SMEMBERS', 'sb:live')) do
          if s ~= node and redis.call('EXISTS', 'sb:joined:' .. s) == 1
             and redis.call('EXISTS', 'sb:node:' .. s) == 1 then
            others = 1
          end
        end
        if others == 0 then
          redis.call('SET', 'sb:joined:' .. node, ARGV[1], 'PX', ARGV[6])
          -- A new founding: a node still waiting for a snapshot from
          -- before it must not follow this log (CONFIRM).
          redis.call('INCR', 'sb:epoch')
        end
        return {id, n, others, redis.call('GET', 'sb:epoch') or '0'}",
    )
});

static CONFIRM: LazyLock<Script> = LazyLock::new(|| {
    // ARGV: token, node, the epoch JOIN returned, TTL in ms. Marks the
    // node joined, unless the cluster was founded anew meanwhile (0).
    Script::new(
        r"
        if (redis.call('GET', 'sb:epoch') or '0') ~= ARGV[3] then return 0 end
        if redis.call('GET', 'sb:node:' .. ARGV[2]) ~= ARGV[1] then return 0 end
        redis.call('SET', 'sb:joined:' .. ARGV[2], ARGV[1], 'PX', ARGV[4])
        return 1",
    )
});

static PUBLISH: LazyLock<Script> = LazyLock::new(|| {
    // KEYS: log, seq, this node's claim. ARGV: token, entry, the node's
    // cursor, log bound. Returns the entry's ID and number, and the
    // entries after the cursor up to it.
    Script::new(
        r"
        if redis.call('GET', KEYS[3]) ~= ARGV[1] then
          return redis.error_reply('LOST this node was counted as gone')
        end
        local n = redis.call('INCR', KEYS[2])
        local id = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'n', n, 'e', ARGV[2])
        return {id, n, redis.call('XRANGE', KEYS[1], '(' .. ARGV[3], id)}",
    )
});

static HEARTBEAT: LazyLock<Script> = LazyLock::new(|| {
    // ARGV: token, node, TTL in ms, ownership TTL in ms. 0 if the claim is
    // not this node's.
    Script::new(
        r"
        if redis.call('GET', 'sb:node:' .. ARGV[2]) ~= ARGV[1] then return 0 end
        redis.call('PEXPIRE', 'sb:node:' .. ARGV[2], ARGV[3])
        redis.call('PEXPIRE', 'sb:joined:' .. ARGV[2], ARGV[3])
        redis.call('SET', 'sb:owner:' .. ARGV[2], ARGV[1], 'PX', ARGV[4])
        return 1",
    )
});

static REAP: LazyLock<Script> = LazyLock::new(|| {
    // KEYS: log, seq. ARGV: reap entry before and after the node's number,
    // log bound. Every node whose claim ran out is reaped once.
    Script::new(
        r"
        local reaped = {}
        for _, s in ipairs(redis.call('SMEMBERS', 'sb:live')) do
          if redis.call('EXISTS', 'sb:node:' .. s) == 0 then
            redis.call('SREM', 'sb:live', s)
            redis.call('DEL', 'sb:joined:' .. s)
            local n = redis.call('INCR', KEYS[2])
            redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'n', n, 'e',
                       ARGV[1] .. s .. ARGV[2])
            table.insert(reaped, tonumber(s))
          end
        end
        return reaped",
    )
});

static LEAVE: LazyLock<Script> = LazyLock::new(|| {
    // KEYS: log, seq. ARGV: token, node, reap entry, log bound.
    Script::new(
        r"
        local node = ARGV[2]
        if redis.call('GET', 'sb:node:' .. node) ~= ARGV[1] then return 0 end
        redis.call('DEL', 'sb:node:' .. node, 'sb:joined:' .. node, 'sb:owner:' .. node)
        redis.call('SREM', 'sb:live', node)
        local n = redis.call('INCR', KEYS[2])
        redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[4], '*', 'n', n, 'e', ARGV[3])
        return 1",
    )
});

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_follow_by_number_and_ids_order_as_redis_orders_them() {
        assert!(follows(7, 8).is_ok());
        assert!(matches!(follows(7, 10), Err(Trouble::Behind(2))));
        assert!(matches!(follows(7, 7), Err(Trouble::Rewound)));
        assert!(matches!(follows(7, 3), Err(Trouble::Rewound)));
        assert!(stream_id("1796107304055-0") < stream_id("1796107304055-1"));
        assert!(stream_id("1796107304055-10") > stream_id("1796107304055-9"));
        assert!(stream_id("0-0") < stream_id("1-0"));
    }

    #[test]
    fn a_reap_entry_is_its_parts_around_the_node() {
        let (before, after) = reap_entry_parts();
        let entry: Entry = serde_json::from_str(&format!("{before}13{after}")).unwrap();
        assert!(matches!(entry.op, Op::Reap(13)), "{entry:?}");
        assert_eq!(entry.session, SessionId::SERVER);
    }
}
