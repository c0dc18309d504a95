use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// The byte that asks for a reload; any other but [`NOTIFY`] asks for
/// shutdown (the signal-hook pipe writes `X`).
pub(crate) const RELOAD: u8 = b'R';

/// The byte that tells the service another thread has work for it.
pub(crate) const NOTIFY: u8 = b'N';

/// Asks a running reactor, from any thread or a signal handler, to shut down
/// or to reload its settings.
///
/// The first shutdown request starts a graceful shutdown (stop accepting,
/// let the service say goodbye, flush, close); a second one makes the
/// reactor stop at once. A reload calls the reactor's reload hook
/// ([`Reactor::on_reload`](crate::Reactor::on_reload)) between two turns,
/// and keeps every connection. Requests travel as bytes on a socket pair the
/// reactor polls, which works with every poller backend and is
/// async-signal-safe.
#[derive(Clone, Debug)]
pub struct ReactorHandle {
    tx: Arc<UnixStream>,
}

impl ReactorHandle {
    pub(crate) fn new(tx: UnixStream) -> Self {
        ReactorHandle { tx: Arc::new(tx) }
    }

    /// Requests shutdown (graceful the first time, immediate the second).
    pub fn shutdown(&self) {
        // A full pipe already holds a pending request; nothing is lost.
        let _ = (&*self.tx).write(&[1]);
    }

    /// Tells the reactor's service that another thread has work for it
    /// ([`Service::handle_notify`](switchboard_proto::Service::handle_notify),
    /// called between two turns). A full socket already holds a pending
    /// notice, so nothing is lost when the write fails.
    pub fn notify(&self) {
        let _ = (&*self.tx).write(&[NOTIFY]);
    }

    /// Requests a reload of the settings.
    pub fn reload(&self) {
        let _ = (&*self.tx).write(&[RELOAD]);
    }

    /// Delivers SIGINT and SIGTERM to this reactor as shutdown requests,
    /// and SIGHUP as a reload request (instead of the default, which ends
    /// the process without a word to anyone).
    pub fn shutdown_on_signals(&self) -> io::Result<()> {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::low_level::pipe::register(signal, self.tx.try_clone()?)?;
        }
        let tx = self.tx.try_clone()?;
        let action = move || {
            // SAFETY: send(2) is async-signal-safe, and the descriptor
            // lives as long as the action (it owns `tx`).
            unsafe {
                libc::send(
                    tx.as_raw_fd(),
                    [RELOAD].as_ptr().cast(),
                    1,
                    libc::MSG_DONTWAIT,
                )
            };
        };
        // SAFETY: the action only makes that one async-signal-safe call;
        // it neither allocates nor locks.
        unsafe { signal_hook::low_level::register(signal_hook::consts::SIGHUP, action) }?;
        Ok(())
    }
}
