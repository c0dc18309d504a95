use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// The byte that asks for a reload; any other but [`NOTIFY`] asks for
/// shutdown.
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
/// reactor polls, which works with every poller backend.
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
}

/// Delivers SIGINT and SIGTERM to every reactor of `handles` as shutdown
/// requests, and SIGHUP as a reload request (instead of the default, which
/// ends the process without a word to anyone), from a thread of their own
/// that lives as long as the process: a reactor that is done early (it had
/// no connections left to drain) leaves the others still told of a second
/// signal.
pub fn shutdown_on_signals(handles: Vec<ReactorHandle>) -> io::Result<()> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::Builder::new()
        .name("signals".to_string())
        .spawn(move || {
            for signal in signals.forever() {
                for handle in &handles {
                    match signal {
                        SIGHUP => handle.reload(),
                        _ => handle.shutdown(),
                    }
                }
            }
        })?;
    Ok(())
}
