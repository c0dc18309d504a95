//! The `poll(2)` backend: one array of `pollfd`s, scanned by the kernel on
//! every wait and by us after it. O(n) per wait in the number of watched
//! descriptors, but with no limit on their values (unlike `select`).

use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{wait_millis, wait_result, Event, Interest, Poller, Token};

/// What the kernel reports as "the peer will send no more": a hang-up, and
/// on Linux the read half closed (`POLLRDHUP`, asked for with every read).
#[cfg(any(target_os = "linux", target_os = "android"))]
const READ_CLOSED: libc::c_short = libc::POLLHUP | libc::POLLRDHUP;
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const READ_CLOSED: libc::c_short = libc::POLLHUP;

/// A level-triggered backend on `poll(2)`.
#[derive(Default)]
pub struct PollPoller {
    fds: Vec<libc::pollfd>,
    tokens: Vec<Token>,
    /// Where each descriptor is in `fds`.
    index: HashMap<RawFd, usize>,
}

impl PollPoller {
    /// An empty poller.
    pub fn new() -> Self {
        Self::default()
    }
}

fn events_for(interest: Interest) -> libc::c_short {
    let mut events = 0;
    if interest.readable {
        events |= libc::POLLIN | (READ_CLOSED & !libc::POLLHUP);
    }
    if interest.writable {
        events |= libc::POLLOUT;
    }
    events
}

impl Poller for PollPoller {
    fn name(&self) -> &'static str {
        "poll"
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        if self.index.contains_key(&fd) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        self.index.insert(fd, self.fds.len());
        self.fds.push(libc::pollfd {
            fd,
            events: events_for(interest),
            revents: 0,
        });
        self.tokens.push(token);
        Ok(())
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let &i = self.index.get(&fd).ok_or(io::ErrorKind::NotFound)?;
        self.fds[i].events = events_for(interest);
        self.tokens[i] = token;
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let i = self.index.remove(&fd).ok_or(io::ErrorKind::NotFound)?;
        self.fds.swap_remove(i);
        self.tokens.swap_remove(i);
        if let Some(moved) = self.fds.get(i) {
            self.index.insert(moved.fd, i);
        }
        Ok(())
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let millis = timeout.map_or(-1, wait_millis);
        // SAFETY: `fds` is a valid, exclusively borrowed array of `len`
        // pollfds for the duration of the call.
        let n = unsafe {
            libc::poll(
                self.fds.as_mut_ptr(),
                self.fds.len() as libc::nfds_t,
                millis,
            )
        };
        wait_result(n)?;
        for (pfd, &token) in self.fds.iter().zip(&self.tokens) {
            let r = pfd.revents;
            if r == 0 {
                continue;
            }
            let error = r & (libc::POLLERR | libc::POLLNVAL) != 0;
            events.push(Event {
                token,
                // A hang-up or an error is for the read to find out.
                readable: r & (libc::POLLIN | READ_CLOSED) != 0 || error,
                writable: r & libc::POLLOUT != 0,
                read_closed: r & READ_CLOSED != 0,
                error,
            });
        }
        Ok(())
    }
}
