use std::fmt::Debug;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

use bytes::Bytes;

use crate::{CloseReason, ConnId};

/// What the reactor does when a connection's unsent output passes
/// [`OutputLimits::high_water`]. Either way reading from it pauses until its
/// output drains below [`OutputLimits::low_water`], so a client that does
/// not read cannot make the server answer it without bound.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OverflowPolicy {
    /// Only pause reading: TCP backpressure, nothing is lost. Right for
    /// services whose output is caused by the same client's input (echo).
    PauseReading,
    /// Also close the connection with [`CloseReason::OutputOverflow`] when
    /// it stays behind (see [`OutputLimits::is_overdue`]). Right for
    /// services where others cause the output (chat): a consumer that falls
    /// behind must never stall or bloat the server.
    Disconnect,
}

/// Bounds on one connection's unsent output, and what happens past them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutputLimits {
    /// Unsent bytes above which [`OutputLimits::policy`] applies.
    pub high_water: usize,
    /// Unsent bytes below which a paused connection is read again.
    pub low_water: usize,
    /// What to do above the high-water mark.
    pub policy: OverflowPolicy,
    /// [`OverflowPolicy::Disconnect`]: how long a connection may owe more
    /// than `high_water` bytes that others caused, after writes were tried,
    /// before it is cut. A burst that a reader takes as fast as its
    /// connection allows passes well within it.
    pub grace: Duration,
}

impl OutputLimits {
    /// Unsent bytes that others caused past which a connection already
    /// behind at an earlier turn is cut, grace or not: what bounds a slow
    /// reader's memory. (Not on the first turn it falls behind: one turn
    /// may give a reader that keeps up more than this at once.)
    pub fn hard_limit(&self) -> usize {
        self.high_water.saturating_mul(4)
    }

    /// Unsent bytes of any origin past which a connection is cut as soon
    /// as they are queued, even mid-turn: the last guard on memory, far
    /// above what a turn gives a reader that keeps up.
    pub fn ceiling(&self) -> usize {
        self.high_water.saturating_mul(16)
    }

    /// The [`OverflowPolicy::Disconnect`] verdict on a connection at the
    /// end of a turn, after writes were tried: whether to cut it, given its
    /// `unsent` bytes, of which `replies` answer its own requests (never
    /// held against it: its reading pauses instead), and since when it has
    /// owed others' output past `high_water` (`behind_since`, kept up to
    /// date here).
    pub fn is_overdue(
        &self,
        unsent: usize,
        replies: usize,
        behind_since: &mut Option<Instant>,
        now: Instant,
    ) -> bool {
        if self.policy != OverflowPolicy::Disconnect {
            return false;
        }
        let owed = unsent.saturating_sub(replies);
        if owed <= self.high_water {
            *behind_since = None;
            return false;
        }
        let was_behind = behind_since.is_some();
        let since = *behind_since.get_or_insert(now);
        now.saturating_duration_since(since) >= self.grace
            || (was_behind && owed > self.hard_limit())
    }

    /// When a connection behind since `since` is due to be cut, unless it
    /// catches up first.
    pub fn overdue_at(&self, since: Instant) -> Instant {
        crate::later(since, self.grace)
    }
}

/// The service's view of the connections: where its output goes.
///
/// Implemented by the reactor over real sockets and by
/// [`testing::MemoryIo`](crate::testing::MemoryIo) in memory.
pub trait Io {
    /// Queues a copy of `bytes` on `conn`'s output. Ignored if `conn` is
    /// closed or closing, so a service never sends to a closed client.
    fn send(&mut self, conn: ConnId, bytes: &[u8]);

    /// Queues a shared buffer on `conn`'s output (cheap fan-out: one
    /// allocation for all recipients). Borrowed, so that a short line,
    /// which is copied anyway, costs no reference count traffic.
    fn send_shared(&mut self, conn: ConnId, bytes: &Bytes);

    /// Closes `conn` once everything queued for it has been sent. No further
    /// input is delivered for it; [`Service::handle_close`] follows.
    fn close(&mut self, conn: ConnId, reason: CloseReason);

    /// Bytes queued on `conn` and not yet written to the socket.
    fn pending_output(&self, conn: ConnId) -> usize;

    /// The time of the current event: the service's only clock, so tests
    /// can step it.
    fn now(&self) -> Instant;

    /// The wall-clock time of the current event, for timestamps people see
    /// (chat message times); [`Io::now`] is the one to measure with.
    fn system_time(&self) -> SystemTime;

    /// Calls [`Service::handle_timer`] for `conn` at `when` (or as soon
    /// after as the reactor gets to it). A later call replaces an earlier
    /// one; the timer is gone once it has fired or `conn` has closed.
    fn set_timer(&mut self, conn: ConnId, when: Instant);

    /// Reads nothing more from `conn` until `when`, then calls
    /// [`Service::handle_wake`] and reads again. The peer is slowed by TCP
    /// backpressure; nothing it sent is lost. A later call replaces an
    /// earlier one.
    fn pause_reading_until(&mut self, conn: ConnId, when: Instant);

    /// Calls [`Service::handle_service_timer`] at `when` (or as soon after
    /// as the reactor gets to it): one timer for the whole service, for
    /// work that is no one connection's (a chat's periodic summaries). A
    /// later call replaces an earlier one; the timer is gone once it has
    /// fired.
    fn set_service_timer(&mut self, when: Instant);

    /// Asks the server to reload its settings (an operator's `REHASH`), as
    /// SIGHUP does, once the current event is handled. Ignored where there
    /// is nothing to reload.
    fn request_reload(&mut self) {}
}

/// A protocol, as a state machine driven by the reactor.
///
/// Every method has a default so that a service only writes what it needs.
/// The reactor calls them in this order per connection: `handle_connect`,
/// any number of `handle_data`, optionally `handle_eof`, then exactly one
/// `handle_close`.
pub trait Service {
    /// What the reactor tells the service about the listener that accepted
    /// a connection (for a chat server: which front-end, or protocol, it
    /// speaks). Listeners added without one get the default.
    type Listener: Copy + Debug + Default;

    /// Output bounds and overflow policy the reactor enforces per connection.
    fn output_limits(&self) -> OutputLimits;

    /// Whether the reactor may write a connection's first output of a turn
    /// straight from the slice given to [`Io::send`], when nothing is
    /// queued for it, instead of copying it to be written at the end of the
    /// turn. Worth it for a service that answers each input with one send
    /// (echo): it saves a copy per message. Not for one that sends a
    /// connection several pieces per turn, which would then leave in more
    /// writes. Off by default; output coalescing turns it off.
    fn writes_through(&self) -> bool {
        false
    }

    /// A new connection from `peer` was accepted on a listener of kind
    /// `listener`.
    fn handle_connect(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        listener: Self::Listener,
        io: &mut impl Io,
    ) {
        let _ = (conn, peer, listener, io);
    }

    /// Bytes arrived on `conn`, exactly as TCP delivered them: any split of
    /// the peer's writes is possible, so framing is the service's job.
    fn handle_data(&mut self, conn: ConnId, data: &[u8], io: &mut impl Io);

    /// The peer shut down its write side (EOF). The default closes the
    /// connection once its pending output has been sent.
    fn handle_eof(&mut self, conn: ConnId, io: &mut impl Io) {
        io.close(conn, CloseReason::PeerClosed);
    }

    /// `conn` is gone; nothing can be sent to it any more.
    fn handle_close(&mut self, conn: ConnId, reason: CloseReason, io: &mut impl Io) {
        let _ = (conn, reason, io);
    }

    /// A pause asked for with [`Io::pause_reading_until`] is over; reading
    /// resumes after this returns unless the service pauses again.
    fn handle_wake(&mut self, conn: ConnId, io: &mut impl Io) {
        let _ = (conn, io);
    }

    /// A timer set with [`Io::set_timer`] for `conn` is due.
    fn handle_timer(&mut self, conn: ConnId, io: &mut impl Io) {
        let _ = (conn, io);
    }

    /// The timer set with [`Io::set_service_timer`] is due.
    fn handle_service_timer(&mut self, io: &mut impl Io) {
        let _ = io;
    }

    /// Another thread has work for this service (see
    /// `ReactorHandle::notify` in the reactor): services that share state
    /// across threads pick it up here.
    fn handle_notify(&mut self, io: &mut impl Io) {
        let _ = io;
    }

    /// The server is shutting down: say goodbye. Every connection is closed
    /// after this, once its output is flushed (up to a deadline).
    fn handle_shutdown(&mut self, io: &mut impl Io) {
        let _ = io;
    }

    /// Message sent, best effort, to a connection refused for `reason`
    /// ([`CloseReason::ServerFull`] or [`CloseReason::AddressLimit`]) before
    /// it is closed, in the words of its listener's protocol.
    fn rejection_notice(&self, listener: Self::Listener, reason: CloseReason) -> Option<&[u8]> {
        let _ = (listener, reason);
        None
    }

    /// A datagram arrived (for services that also speak UDP). Write the reply
    /// into `reply` and return `true` to send it (an empty reply is a
    /// datagram too); `false` sends nothing.
    fn handle_datagram(&mut self, data: &[u8], reply: &mut Vec<u8>) -> bool {
        let _ = (data, reply);
        false
    }
}
