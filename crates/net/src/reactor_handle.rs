use std::io::{self, Write};
use std::os::unix::net::UnixStream;
use std::sync::Arc;

/// Asks a running reactor, from any thread or a signal handler, to shut down.
///
/// The first request starts a graceful shutdown (stop accepting, let the
/// service say goodbye, flush, close); a second one makes the reactor stop at
/// once. Requests travel as bytes on a socket pair the reactor polls, which
/// works with every poller backend and is async-signal-safe.
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

    /// Delivers SIGINT and SIGTERM to this reactor as shutdown requests.
    pub fn shutdown_on_signals(&self) -> io::Result<()> {
        for signal in [signal_hook::consts::SIGINT, signal_hook::consts::SIGTERM] {
            signal_hook::low_level::pipe::register(signal, self.tx.try_clone()?)?;
        }
        Ok(())
    }
}
