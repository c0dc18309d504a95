use std::net::SocketAddr;
use std::time::{Duration, Instant};

use mio::net::TcpStream;
use rustls::ServerConnection;
use switchboard_proto::{later, CloseReason, OutputBuffer};

use crate::poller::Interest;

/// Where a connection is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    /// Input goes to the service.
    Open,
    /// Closing was asked for: input is discarded, output is flushed; then
    /// the write side is shut down and the connection lingers.
    Draining(CloseReason),
    /// Output sent and FIN queued behind it: input is discarded until the
    /// peer's EOF or the deadline, so that closing with unread input does not
    /// turn into a reset that destroys what we sent.
    Lingering(CloseReason, Instant),
    /// Gone; reaped (deregistered, dropped, reported) at the end of the turn.
    Dead(CloseReason),
}

/// One accepted TCP connection and everything the reactor knows about it.
#[derive(Debug)]
pub(crate) struct Connection {
    pub stream: TcpStream,
    pub peer: SocketAddr,
    pub out: OutputBuffer,
    pub state: State,
    /// Readiness cache: the socket may have input (or EOF) we have not read.
    pub readable: bool,
    /// The poller reported the peer's FIN: read until EOF, skip the
    /// short-read shortcut.
    pub read_closed: bool,
    /// A read returned EOF.
    pub eof: bool,
    /// Reading is paused because unsent output passed the high-water mark.
    pub paused: bool,
    /// Of the unsent output, bytes that answer this connection's own input
    /// (at most): not held against it by the overflow policy.
    pub replies: usize,
    /// Since when it has owed others' output past the high-water mark.
    pub behind_since: Option<Instant>,
    /// Reading is paused until then at the service's request.
    pub pause_until: Option<Instant>,
    /// The service asked to be called back then (`Io::set_timer`).
    pub service_timer: Option<Instant>,
    /// The last write could not take everything: wait for WRITABLE.
    pub write_blocked: bool,
    /// What the poller currently watches for this socket.
    pub registered: Interest,
    /// Last time bytes moved either way (for the idle timeout).
    pub last_active: Instant,
    /// The deadline this connection has armed in the timer queue, if any.
    pub timer: Option<Instant>,
    /// Listed for the end-of-turn flush (so it is listed once).
    pub queued_flush: bool,
    /// Listed in the read queue (so stale entries can be told apart).
    pub queued_read: bool,
    /// Its TLS session, on a TLS listener's connection: what is read and
    /// written passes through it.
    pub tls: Option<Box<ServerConnection>>,
    /// The TLS handshake must be over by then.
    pub handshake_until: Option<Instant>,
    /// TLS: our close_notify is queued.
    pub close_notify_sent: bool,
    /// Bytes in the kernel's send queue when a write last found it full:
    /// if fewer are there later, the peer has been reading.
    pub send_queue: Option<usize>,
}

impl Connection {
    pub fn new(stream: TcpStream, peer: SocketAddr, now: Instant) -> Self {
        Connection {
            stream,
            peer,
            out: OutputBuffer::new(),
            state: State::Open,
            readable: false,
            read_closed: false,
            eof: false,
            paused: false,
            replies: 0,
            behind_since: None,
            pause_until: None,
            service_timer: None,
            write_blocked: false,
            registered: Interest::NONE,
            last_active: now,
            timer: None,
            queued_flush: false,
            queued_read: false,
            tls: None,
            handshake_until: None,
            close_notify_sent: false,
            send_queue: None,
        }
    }

    /// Bytes in the kernel's send queue, not yet taken by the peer (Linux's
    /// `SIOCOUTQ`; `None` elsewhere).
    pub fn kernel_send_queue(&self) -> Option<usize> {
        #[cfg(target_os = "linux")]
        {
            use std::os::fd::AsRawFd;
            let mut queued: libc::c_int = 0;
            // SAFETY: TIOCOUTQ (SIOCOUTQ for sockets) writes one int.
            let rc = unsafe { libc::ioctl(self.stream.as_raw_fd(), libc::TIOCOUTQ, &mut queued) };
            (rc == 0).then_some(queued.max(0) as usize)
        }
        #[cfg(not(target_os = "linux"))]
        None
    }

    /// Whether the peer took bytes from the kernel's send queue since a
    /// write last found it full (or since the last time this was asked): a
    /// reader slower than we write is still a reader, not an idle client.
    pub fn drained_since_blocked(&mut self) -> bool {
        let now = self.kernel_send_queue();
        let then = std::mem::replace(&mut self.send_queue, now);
        matches!((then, now), (Some(then), Some(now)) if now < then)
    }

    /// Whether input should be read now (to the service, or discarded).
    pub fn wants_read(&self) -> bool {
        !self.eof
            && match self.state {
                State::Open => !self.paused && self.pause_until.is_none(),
                State::Draining(_) | State::Lingering(..) => true,
                State::Dead(_) => false,
            }
    }

    /// The interest this connection's state calls for: a select() loop's
    /// `inputs` and `outputs` lists, derived instead of maintained by hand.
    pub fn desired_interest(&self) -> Interest {
        if matches!(self.state, State::Dead(_)) {
            return Interest::NONE;
        }
        Interest {
            readable: self.wants_read(),
            writable: self.write_blocked,
        }
    }

    /// When this connection must next be looked at: idle timeout, end of a
    /// service pause, a service timer, end of lingering, the end of the
    /// grace for a reader behind (`overdue`) or of the TLS handshake,
    /// whichever comes first.
    pub fn deadline(
        &self,
        idle_timeout: Option<Duration>,
        overdue: Option<Instant>,
    ) -> Option<Instant> {
        let idle = idle_timeout.map(|d| later(self.last_active, d));
        let linger = match self.state {
            State::Lingering(_, until) => Some(until),
            _ => None,
        };
        let service = self.service_timer.filter(|_| self.state == State::Open);
        [
            idle,
            self.pause_until,
            service,
            linger,
            overdue,
            self.handshake_until,
        ]
        .into_iter()
        .flatten()
        .min()
    }
}
