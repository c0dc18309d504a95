//! The `select(2)` backend, called as a classic readiness loop calls it:
//! `select(inputs, outputs, inputs)`. Three descriptor bitmaps are rebuilt and scanned on every wait:
//! O(n) in the highest descriptor number, and no descriptor can be
//! `FD_SETSIZE` (1024) or more. Kept for learning and comparison, as Redis
//! keeps `ae_select.c` beside `ae_epoll.c`.

use std::fmt;
use std::io;
use std::os::fd::RawFd;
use std::time::Duration;

use super::{wait_result, Event, Interest, Poller, Token};

/// A descriptor too large for `select(2)`: the poller refuses to watch it
/// (setting its bit would write past the bitmap: undefined behaviour).
#[derive(Debug)]
pub struct FdTooLarge {
    /// The descriptor.
    pub fd: RawFd,
    /// The first value `select` cannot take (`FD_SETSIZE`).
    pub limit: usize,
}

impl fmt::Display for FdTooLarge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "descriptor {} is past select()'s limit of {} (FD_SETSIZE); \
             use --poller poll or epoll for more connections",
            self.fd, self.limit
        )
    }
}

impl std::error::Error for FdTooLarge {}

/// A level-triggered backend on `select(2)`.
pub struct SelectPoller {
    /// By descriptor: its token and interest, if watched.
    watched: Vec<Option<(Token, Interest)>>,
    /// One more than the highest watched descriptor (`nfds`).
    end: usize,
}

impl Default for SelectPoller {
    fn default() -> Self {
        SelectPoller {
            watched: vec![None; Self::LIMIT],
            end: 0,
        }
    }
}

/// An empty descriptor set.
fn empty_set() -> libc::fd_set {
    // SAFETY: fd_set is plain data; FD_ZERO initialises every bit.
    unsafe {
        let mut set = std::mem::MaybeUninit::<libc::fd_set>::uninit();
        libc::FD_ZERO(set.as_mut_ptr());
        set.assume_init()
    }
}

impl SelectPoller {
    /// The first descriptor `select` cannot watch.
    pub const LIMIT: usize = libc::FD_SETSIZE;

    /// An empty poller.
    pub fn new() -> Self {
        Self::default()
    }

    fn slot(&mut self, fd: RawFd) -> io::Result<&mut Option<(Token, Interest)>> {
        match usize::try_from(fd) {
            Ok(i) if i < Self::LIMIT => Ok(&mut self.watched[i]),
            _ => Err(io::Error::other(FdTooLarge {
                fd,
                limit: Self::LIMIT,
            })),
        }
    }
}

impl Poller for SelectPoller {
    fn name(&self) -> &'static str {
        "select"
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let slot = self.slot(fd)?;
        if slot.is_some() {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        *slot = Some((token, interest));
        self.end = self.end.max(fd as usize + 1);
        Ok(())
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let slot = self.slot(fd)?;
        if slot.is_none() {
            return Err(io::ErrorKind::NotFound.into());
        }
        *slot = Some((token, interest));
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        self.slot(fd)?.take().ok_or(io::ErrorKind::NotFound)?;
        while self.end > 0 && self.watched[self.end - 1].is_none() {
            self.end -= 1;
        }
        Ok(())
    }

    fn poll(&mut self, events: &mut Vec<Event>, timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        // select(inputs, outputs, inputs): readable, writable,
        // and "exceptional" (for TCP, urgent data) for the readers.
        let (mut inputs, mut outputs, mut exceptional) = (empty_set(), empty_set(), empty_set());
        for (fd, watched) in self.watched[..self.end].iter().enumerate() {
            let Some((_, interest)) = watched else {
                continue;
            };
            // SAFETY: fd < LIMIT = FD_SETSIZE (checked when it was watched).
            unsafe {
                if interest.readable {
                    libc::FD_SET(fd as RawFd, &mut inputs);
                    libc::FD_SET(fd as RawFd, &mut exceptional);
                }
                if interest.writable {
                    libc::FD_SET(fd as RawFd, &mut outputs);
                }
            }
        }
        let mut tv = timeout.map(|t| libc::timeval {
            tv_sec: t.as_secs().min(i32::MAX as u64) as libc::time_t,
            tv_usec: t.subsec_micros() as libc::suseconds_t,
        });
        let tv_ptr = tv.as_mut().map_or(std::ptr::null_mut(), |t| t as *mut _);
        // SAFETY: the sets are valid, exclusively borrowed, and hold only
        // descriptors below `end` <= FD_SETSIZE; `tv_ptr` is null or valid.
        let n = unsafe {
            libc::select(
                self.end as libc::c_int,
                &mut inputs,
                &mut outputs,
                &mut exceptional,
                tv_ptr,
            )
        };
        wait_result(n)?;
        for (fd, watched) in self.watched[..self.end].iter().enumerate() {
            let Some((token, _)) = *watched else {
                continue;
            };
            // SAFETY: fd < FD_SETSIZE; the sets were filled by select.
            let (r, w, x) = unsafe {
                (
                    libc::FD_ISSET(fd as RawFd, &inputs),
                    libc::FD_ISSET(fd as RawFd, &outputs),
                    libc::FD_ISSET(fd as RawFd, &exceptional),
                )
            };
            if r || w || x {
                // select cannot tell EOF or an error from data: the read
                // that follows finds out.
                events.push(Event {
                    token,
                    readable: r || x,
                    writable: w,
                    read_closed: false,
                    error: false,
                });
            }
        }
        Ok(())
    }
}
