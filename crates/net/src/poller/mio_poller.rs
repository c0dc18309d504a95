use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use mio::unix::SourceFd;

use super::{Event, Interest, Poller, Token};

/// The default backend: epoll (edge-triggered) or kqueue, through mio.
pub struct MioPoller {
    poll: mio::Poll,
    events: mio::Events,
}

impl MioPoller {
    /// How many events one wait returns at most; the rest wait for the next.
    pub const EVENT_CAPACITY: usize = 1024;

    /// Opens the OS poller.
    pub fn new() -> io::Result<Self> {
        Ok(MioPoller {
            poll: mio::Poll::new()?,
            events: mio::Events::with_capacity(Self::EVENT_CAPACITY),
        })
    }
}

fn mio_interest(interest: Interest) -> io::Result<mio::Interest> {
    match (interest.readable, interest.writable) {
        (true, true) => Ok(mio::Interest::READABLE | mio::Interest::WRITABLE),
        (true, false) => Ok(mio::Interest::READABLE),
        (false, true) => Ok(mio::Interest::WRITABLE),
        (false, false) => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "empty interest",
        )),
    }
}

impl Poller for MioPoller {
    fn name(&self) -> &'static str {
        if cfg!(any(target_os = "linux", target_os = "android")) {
            "epoll"
        } else {
            "kqueue"
        }
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.poll.registry().register(
            &mut SourceFd(&fd),
            mio::Token(token.0),
            mio_interest(interest)?,
        )
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        self.poll.registry().reregister(
            &mut SourceFd(&fd),
            mio::Token(token.0),
            mio_interest(interest)?,
        )
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        self.poll.registry().deregister(&mut SourceFd(&fd))
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        match self.poll.poll(&mut self.events, timeout) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return Ok(()),
            other => other?,
        }
        events.extend(self.events.iter().map(|e| Event {
            token: Token(e.token().0),
            readable: e.is_readable(),
            writable: e.is_writable(),
            read_closed: e.is_read_closed(),
            error: e.is_error(),
        }));
        Ok(())
    }
}
