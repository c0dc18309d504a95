//! The readiness interface the reactor runs on: `select()` and its
//! successors as a small trait with one file per backend (as in mio's `sys/` or Redis'
//! `ae_epoll.c` / `ae_select.c`).
//!
//! Backends may be edge- or level-triggered. The reactor treats every event
//! as a hint: it caches readiness per connection, drains until `WouldBlock`,
//! tolerates spurious events and keeps interest minimal (WRITABLE only while
//! output is blocked, READABLE not while reading is paused), so a
//! level-triggered `select(2)` or `poll(2)` backend never busy-loops.

mod mio_poller;
mod poll_poller;
mod select_poller;

use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

pub use mio_poller::MioPoller;
pub use poll_poller::PollPoller;
pub use select_poller::{FdTooLarge, SelectPoller};

/// Names a registered descriptor in the events a poller returns.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Token(pub usize);

/// Which readiness a descriptor is registered for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Interest {
    /// Wake when there is something to read (or accept), or EOF.
    pub readable: bool,
    /// Wake when a write would make progress.
    pub writable: bool,
}

impl Interest {
    /// No interest: the descriptor should not be registered at all.
    pub const NONE: Interest = Interest {
        readable: false,
        writable: false,
    };
    /// Readable only.
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };

    /// Whether neither readiness is wanted.
    pub fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }
}

/// One readiness report. Flags are hints; the socket call tells the truth.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The token the descriptor was registered with.
    pub token: Token,
    /// Data, a connection to accept, or EOF may be waiting.
    pub readable: bool,
    /// A write may make progress.
    pub writable: bool,
    /// The peer shut down its write side: reads will end in EOF, so keep
    /// reading until they do.
    pub read_closed: bool,
    /// The socket has a pending error (`SO_ERROR`).
    pub error: bool,
}

/// Which poller backend a reactor uses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PollerKind {
    /// epoll on Linux, kqueue on the BSDs and macOS, through mio.
    #[default]
    Mio,
    /// `poll(2)`: level-triggered, O(n) per wait.
    Poll,
    /// `select(2)`: level-triggered, O(highest
    /// descriptor) per wait, descriptors below `FD_SETSIZE` only.
    Select,
}

impl PollerKind {
    /// Every backend this build has, for tests that run once per backend.
    pub const ALL: &'static [PollerKind] = &[PollerKind::Mio, PollerKind::Poll, PollerKind::Select];

    /// Creates a poller of this kind.
    pub fn create(self) -> io::Result<Box<dyn Poller>> {
        Ok(match self {
            PollerKind::Mio => Box::new(MioPoller::new()?),
            PollerKind::Poll => Box::new(PollPoller::new()),
            PollerKind::Select => Box::new(SelectPoller::new()),
        })
    }
}

/// The outcome of a `poll(2)` or `select(2)` call that returned `rc`: a
/// signal interrupting the wait is a wait with no events.
pub(crate) fn wait_result(rc: libc::c_int) -> io::Result<()> {
    if rc >= 0 {
        return Ok(());
    }
    match io::Error::last_os_error() {
        e if e.kind() == io::ErrorKind::Interrupted => Ok(()),
        e => Err(e),
    }
}

/// A wait of `timeout` in whole milliseconds for `poll(2)`, rounded up (a
/// wait cut short of a deadline would only spin until it), at most
/// `i32::MAX`.
pub(crate) fn wait_millis(timeout: Duration) -> libc::c_int {
    let nanos = timeout.as_nanos();
    let millis = nanos.div_ceil(1_000_000);
    millis.min(libc::c_int::MAX as u128) as libc::c_int
}

/// A readiness backend: register descriptors, wait for events.
pub trait Poller: Send {
    /// A short name for logs (`"epoll"`, `"select"`, …).
    fn name(&self) -> &'static str;

    /// Starts watching `fd` for `interest` (never empty).
    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;

    /// Changes what `fd` is watched for (never empty).
    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()>;

    /// Stops watching `fd`. Must be called before `fd` is closed.
    fn deregister(&mut self, fd: RawFd) -> io::Result<()>;

    /// Waits until at least one registered descriptor is ready or `timeout`
    /// passes (`None`: no limit), and replaces `events` with what is ready.
    /// A signal interrupting the wait returns `Ok` with no events.
    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()>;
}
