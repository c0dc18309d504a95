//! TLS for a listener's connections: rustls driven sans-IO by the reactor
//! (`read_tls`, `process_new_packets`, `write_tls`, as rustls' own mio
//! server example does), so that a TLS connection is read, written,
//! limited and timed like any other; only the bytes on the wire differ.

use std::sync::{Arc, RwLock};

use rustls::{ServerConfig, ServerConnection};

/// Most encrypted and plaintext output rustls holds for one connection:
/// the rest waits in the connection's own output queue, where
/// `--max-output` and the overflow policy apply to it as to plain
/// connections.
pub(crate) const TLS_BUFFER: usize = 64 * 1024;

/// The TLS settings (certificate chain, key, protocols) a listener accepts
/// with. Cheap to clone; every clone sees [`TlsAcceptor::replace`], which
/// is how certificates are renewed without a restart: connections already
/// open keep the settings they were accepted with.
#[derive(Clone, Debug)]
pub struct TlsAcceptor {
    config: Arc<RwLock<Arc<ServerConfig>>>,
}

impl TlsAcceptor {
    /// An acceptor with `config`.
    pub fn new(config: ServerConfig) -> Self {
        TlsAcceptor {
            config: Arc::new(RwLock::new(Arc::new(config))),
        }
    }

    /// Accepts new connections with `config` from now on.
    pub fn replace(&self, config: ServerConfig) {
        let mut current = self.config.write().unwrap_or_else(|e| e.into_inner());
        *current = Arc::new(config);
    }

    /// The server side of a new connection's TLS session.
    pub(crate) fn accept(&self) -> Result<ServerConnection, rustls::Error> {
        let config = self
            .config
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let mut tls = ServerConnection::new(config)?;
        tls.set_buffer_limit(Some(TLS_BUFFER));
        Ok(tls)
    }
}
