//! TLS for the load generators' clients: rustls' `ClientConnection` driven
//! sans-IO over the tool's own non-blocking sockets (`write_tls` after
//! `writer`, `read_tls` and `process_new_packets` before `reader`), so a
//! TLS client costs the loop a few calls into rustls, never a blocking
//! wrapper or a thread.

use std::collections::{HashMap, VecDeque};
use std::io::{self, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use anyhow::{bail, Context, Result};
use mio::net::TcpStream;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{
    ClientSessionStore, Resumption, Tls12ClientSessionValue, Tls13ClientSessionValue,
};
use rustls::crypto::{ring, CryptoProvider};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, NamedGroup, RootCertStore};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde_json::{json, Value};

use crate::cli::BenchChatArgs;

/// `bench chat --tls` and its settings.
#[derive(clap::Args, Debug)]
pub struct TlsClientArgs {
    /// Every client connects over TLS (rustls, TLS 1.3 or 1.2, full
    /// handshakes): to a TLS listener such as `chat --listen-tls`. Needs
    /// --tls-ca FILE or --tls-insecure.
    #[arg(long = "tls", id = "tls")]
    pub enabled: bool,

    /// PEM certificates to trust for --tls: a CA's, or the server's own
    /// self-signed one (`switchboard cert` writes such a file).
    #[arg(long, value_name = "FILE", requires = "tls")]
    pub tls_ca: Option<PathBuf>,

    /// For benchmarking only: no authentication. Accept whatever
    /// certificate the server presents and do not check its signature over
    /// the handshake, so that a handshake costs the tool its key exchange
    /// only; the server's work is the same as for a verifying client.
    #[arg(long, requires = "tls", conflicts_with = "tls_ca")]
    pub tls_insecure: bool,

    /// The name the server's certificate must be for, with --tls-ca
    /// [default: the first ADDR's IP address].
    #[arg(long, value_name = "NAME", requires = "tls")]
    pub tls_name: Option<String>,

    /// With --connect-only --tls: let connections resume an earlier session
    /// (TLS 1.3 tickets) instead of making a full handshake each.
    #[arg(long, requires = "tls")]
    pub tls_resume: bool,
}

/// How the clients speak TLS: one configuration for all of them.
pub struct TlsClient {
    config: Arc<ClientConfig>,
    name: ServerName<'static>,
}

impl TlsClient {
    /// The clients' TLS settings from `--tls` and its flags; `None` without
    /// `--tls`.
    pub fn from_args(args: &BenchChatArgs) -> Result<Option<Self>> {
        let addr = args.addrs[0];
        let args = &*args.tls;
        if !args.enabled {
            return Ok(None);
        }
        let provider = Arc::new(ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()
            .context("TLS protocol versions")?;
        let mut config = match (&args.tls_ca, args.tls_insecure) {
            (Some(ca), _) => builder
                .with_root_certificates(roots(ca)?)
                .with_no_client_auth(),
            (None, true) => builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
                .with_no_client_auth(),
            (None, false) => bail!(
                "--tls needs --tls-ca FILE (the certificate to trust, e.g. the one \
                 `switchboard cert` wrote) or, for benchmarking only, --tls-insecure"
            ),
        };
        config.resumption = if args.tls_resume {
            Resumption::store(Arc::new(Tickets::default()))
        } else {
            // Every connection a full handshake: what a server pays for a
            // client it has not seen before.
            Resumption::disabled()
        };
        let name = match &args.tls_name {
            Some(name) => ServerName::try_from(name.clone())
                .with_context(|| format!("--tls-name {name}: not a DNS name or IP address"))?,
            None => server_name(addr),
        };
        Ok(Some(TlsClient {
            config: Arc::new(config),
            name,
        }))
    }

    /// A new client session, its handshake not yet begun. It buffers
    /// whatever it is given to send: how much is outstanding is the
    /// caller's business (the closed loop's window, the open loop's rate),
    /// as it is for plain connections.
    pub fn connection(&self) -> Result<ClientConnection> {
        let mut tls = ClientConnection::new(self.config.clone(), self.name.clone())
            .context("starting a TLS session")?;
        tls.set_buffer_limit(None);
        Ok(tls)
    }
}

/// The certificate must be for the address itself when no name is given.
fn server_name(addr: SocketAddr) -> ServerName<'static> {
    ServerName::IpAddress(addr.ip().into())
}

/// The certificates in PEM file `path`, as trust anchors.
fn roots(path: &Path) -> Result<RootCertStore> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
        .with_context(|| format!("cannot read --tls-ca {}", path.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--tls-ca {}: not PEM certificates", path.display()))?;
    let mut roots = RootCertStore::empty();
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        bail!("--tls-ca {}: no usable certificate in it", path.display());
    }
    Ok(roots)
}

/// `--tls-resume`'s session store: every ticket the server sends, up to
/// [`Tickets::MAX`] per server, newest used first. rustls' own store keeps
/// 8 per server, too few for many connections opened at once.
#[derive(Debug, Default)]
struct Tickets {
    by_server: Mutex<HashMap<ServerName<'static>, Sessions>>,
}

#[derive(Debug, Default)]
struct Sessions {
    kx_hint: Option<NamedGroup>,
    tls12: Option<Tls12ClientSessionValue>,
    tls13: VecDeque<Tls13ClientSessionValue>,
}

impl Tickets {
    const MAX: usize = 4096;

    fn with<T>(&self, name: &ServerName<'_>, f: impl FnOnce(&mut Sessions) -> T) -> T {
        let mut map = self.by_server.lock().unwrap_or_else(|e| e.into_inner());
        f(map.entry(name.to_owned()).or_default())
    }
}

impl ClientSessionStore for Tickets {
    fn set_kx_hint(&self, name: ServerName<'static>, group: NamedGroup) {
        self.with(&name, |s| s.kx_hint = Some(group));
    }

    fn kx_hint(&self, name: &ServerName<'_>) -> Option<NamedGroup> {
        self.with(name, |s| s.kx_hint)
    }

    fn set_tls12_session(&self, name: ServerName<'static>, value: Tls12ClientSessionValue) {
        self.with(&name, |s| s.tls12 = Some(value));
    }

    fn tls12_session(&self, name: &ServerName<'_>) -> Option<Tls12ClientSessionValue> {
        self.with(name, |s| s.tls12.clone())
    }

    fn remove_tls12_session(&self, name: &ServerName<'static>) {
        self.with(name, |s| s.tls12 = None);
    }

    fn insert_tls13_ticket(&self, name: ServerName<'static>, value: Tls13ClientSessionValue) {
        self.with(&name, |s| {
            if s.tls13.len() == Self::MAX {
                s.tls13.pop_front();
            }
            s.tls13.push_back(value);
        });
    }

    fn take_tls13_ticket(&self, name: &ServerName<'static>) -> Option<Tls13ClientSessionValue> {
        self.with(name, |s| s.tls13.pop_back())
    }
}

/// `--tls-insecure`: no authentication at all. Any certificate is taken
/// as the server's and its signature over the handshake is not checked, so
/// that a client's handshake costs the tool its key exchange only (two
/// ECDSA verifications would otherwise make the tool, not the server, the
/// limit of a handshake benchmark). The server's work, and the key
/// exchange and encryption, are exactly as with a verifying client.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    /// As for TLS 1.2: no signature is checked.
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.verify_tls12_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        // What a verifying client would offer, so the server signs as it
        // would for one.
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// Encrypts `plain` (emptying it) and writes TLS records until they are
/// all sent or the socket refuses more; what it refuses stays in `tls`
/// for the next call (the socket's next WRITABLE event).
pub fn flush(
    tls: &mut ClientConnection,
    plain: &mut Vec<u8>,
    stream: &mut TcpStream,
) -> io::Result<()> {
    if !plain.is_empty() {
        // Without a buffer limit the writer takes everything.
        tls.writer().write_all(plain)?;
        plain.clear();
    }
    while tls.wants_write() {
        match tls.write_tls(stream) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Hands the front of `raw` (bytes read from the socket) to `tls` and
/// decrypts what it completes; call until `raw` is empty, taking the
/// plaintext out with [`read_plaintext`] after each call (rustls refuses
/// more input while 16 KiB of plaintext wait). A protocol error, or input
/// after the peer's `close_notify`, is an error: the session is over.
pub fn feed(tls: &mut ClientConnection, raw: &mut &[u8]) -> io::Result<()> {
    if tls.read_tls(raw)? == 0 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    tls.process_new_packets()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
    Ok(())
}

/// Takes decrypted bytes out of `tls` into `buf`, like a non-blocking
/// read: the bytes taken and whether they filled `buf` (there may be
/// more); `(0, false)` when there are none. The peer's `close_notify` is
/// an end of stream (`UnexpectedEof`), as a TCP close is for plain
/// clients.
pub fn read_plaintext(tls: &mut ClientConnection, buf: &mut [u8]) -> io::Result<(usize, bool)> {
    match tls.reader().read(buf) {
        Ok(0) if buf.is_empty() => Ok((0, false)),
        Ok(0) => Err(io::ErrorKind::UnexpectedEof.into()),
        Ok(n) => Ok((n, n == buf.len())),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => Ok((0, false)),
        Err(e) => Err(e),
    }
}

/// Whether a session was resumed rather than made by a full handshake.
pub fn resumed(tls: &ClientConnection) -> bool {
    tls.handshake_kind() == Some(rustls::HandshakeKind::Resumed)
}

/// What a session negotiated, for the JSON report.
pub fn describe(tls: &ClientConnection) -> Value {
    let show = |v: Option<String>| v.map_or(Value::Null, Value::from);
    json!({
        "version": show(tls.protocol_version().map(|v| format!("{v:?}"))),
        "cipher_suite": show(tls.negotiated_cipher_suite().map(|s| format!("{:?}", s.suite()))),
        "kx_group": show(tls.negotiated_key_exchange_group().map(|g| format!("{:?}", g.name()))),
        "handshake": show(tls.handshake_kind().map(|k| format!("{k:?}"))),
    })
}

/// The text report's line for what a session negotiated ([`describe`]).
pub fn summary_line(tls: &Value) -> String {
    format!(
        "TLS: {} {} {}",
        tls["version"].as_str().unwrap_or("?"),
        tls["cipher_suite"].as_str().unwrap_or("?"),
        tls["kx_group"].as_str().unwrap_or("?")
    )
}

/// A TLS front for the tests' in-process servers, with a certificate made
/// for it.
#[cfg(test)]
pub(super) mod testing {
    use std::io::{self, Read, Write};
    use std::net::{SocketAddr, TcpListener, TcpStream};
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::time::Duration;

    use rustls::crypto::ring;
    use rustls::{ServerConfig, ServerConnection};
    use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

    /// A self-signed certificate for 127.0.0.1 and localhost: the server's
    /// settings, and the certificate as a PEM file for `--tls-ca` (removed
    /// when dropped).
    pub struct TestCert {
        pub pem: PathBuf,
        pub config: Arc<ServerConfig>,
    }

    impl TestCert {
        pub fn new() -> Self {
            static N: AtomicUsize = AtomicUsize::new(0);
            let certified = rcgen::generate_simple_self_signed(vec![
                "localhost".to_string(),
                "127.0.0.1".to_string(),
            ])
            .unwrap();
            let pem = std::env::temp_dir().join(format!(
                "switchboard-bench-tls-{}-{}.pem",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            std::fs::write(&pem, certified.cert.pem()).unwrap();
            let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
                certified.signing_key.serialize_der(),
            ));
            let chain: Vec<CertificateDer<'static>> = vec![certified.cert.der().clone()];
            let config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
                .with_safe_default_protocol_versions()
                .unwrap()
                .with_no_client_auth()
                .with_single_cert(chain, key)
                .unwrap();
            TestCert {
                pem,
                config: Arc::new(config),
            }
        }

        pub fn pem(&self) -> &str {
            self.pem.to_str().unwrap()
        }
    }

    impl Drop for TestCert {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.pem);
        }
    }

    /// Terminates TLS for `backend`: every connection to the returned
    /// address is relayed to a new plain connection to `backend`, bytes
    /// as they come (so a piece the backend writes is a TLS record of its
    /// own), and closed when either side closes.
    pub fn front(backend: SocketAddr, config: Arc<ServerConfig>) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { return };
                let config = config.clone();
                std::thread::spawn(move || {
                    let _ = relay(client, backend, config);
                });
            }
        });
        addr
    }

    /// One connection's relay: both sockets non-blocking, polled.
    fn relay(
        mut client: TcpStream,
        backend: SocketAddr,
        config: Arc<ServerConfig>,
    ) -> io::Result<()> {
        let mut back = TcpStream::connect(backend)?;
        for s in [&client, &back] {
            s.set_nonblocking(true)?;
            s.set_nodelay(true)?;
        }
        let mut tls = ServerConnection::new(config).map_err(io::Error::other)?;
        let mut buf = vec![0; 16 * 1024];
        loop {
            let mut busy = false;
            match tls.read_tls(&mut client) {
                Ok(0) => return Ok(()),
                Ok(_) => {
                    busy = true;
                    tls.process_new_packets().map_err(io::Error::other)?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            loop {
                match tls.reader().read(&mut buf) {
                    Ok(0) => return Ok(()), // close_notify
                    Ok(n) => write_all(&mut back, &buf[..n])?,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            match back.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    busy = true;
                    tls.writer().write_all(&buf[..n])?;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
            while tls.wants_write() {
                match tls.write_tls(&mut client) {
                    Ok(_) => busy = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(e),
                }
            }
            if !busy {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    }

    fn write_all(s: &mut TcpStream, mut bytes: &[u8]) -> io::Result<()> {
        while !bytes.is_empty() {
            match s.write(bytes) {
                Ok(n) => bytes = &bytes[n..],
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    std::thread::sleep(Duration::from_micros(100));
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
