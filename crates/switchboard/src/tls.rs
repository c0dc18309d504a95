//! TLS settings from certificate files, reloadable, and `switchboard cert`.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use rustls::crypto::ring;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use switchboard_net::TlsAcceptor;
use tracing::info;

use crate::cli::{CertArgs, TlsArgs};

/// What the web listeners offer in ALPN: the page and its WebSocket speak
/// HTTP/1.1 only.
const HTTP_1_1: &[u8] = b"http/1.1";

/// The acceptors of a server's TLS listeners, one per ALPN offer, all with
/// the same certificate.
#[derive(Clone)]
pub struct Acceptors {
    /// Line protocol and IRC: no ALPN.
    pub stream: TlsAcceptor,
    /// The web listeners: ALPN `http/1.1`.
    pub web: TlsAcceptor,
}

impl Acceptors {
    /// Acceptors with the certificate and key `args` name.
    pub fn load(args: &TlsArgs) -> Result<Self> {
        let (stream, web) = configs(args)?;
        Ok(Acceptors {
            stream: TlsAcceptor::new(stream),
            web: TlsAcceptor::new(web),
        })
    }

    /// Reads the certificate and key again: new connections get them,
    /// open ones keep theirs. On an error the ones in use stay.
    pub fn reload(&self, args: &TlsArgs) -> Result<()> {
        let (stream, web) = configs(args)?;
        self.stream.replace(stream);
        self.web.replace(web);
        Ok(())
    }
}

/// The two server configurations (without and with ALPN) for `args`.
fn configs(args: &TlsArgs) -> Result<(ServerConfig, ServerConfig)> {
    let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) else {
        bail!("TLS listeners need --tls-cert FILE and --tls-key FILE (switchboard cert makes a pair for a first try)");
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .with_context(|| format!("cannot read --tls-cert {}", cert.display()))?
        .collect::<Result<_, _>>()
        .with_context(|| format!("--tls-cert {}: not PEM certificates", cert.display()))?;
    if chain.is_empty() {
        bail!("--tls-cert {}: no certificate in it", cert.display());
    }
    let stream = server_config(&chain, key, &[])?;
    let web = server_config(&chain, key, &[HTTP_1_1])?;
    Ok((stream, web))
}

fn server_config(
    chain: &[CertificateDer<'static>],
    key: &Path,
    alpn: &[&[u8]],
) -> Result<ServerConfig> {
    let key = PrivateKeyDer::from_pem_file(key)
        .with_context(|| format!("--tls-key {}: no private key in it", key.display()))?;
    // TLS 1.2 and 1.3 only (rustls has nothing older), ring's ciphers.
    let mut config = ServerConfig::builder_with_provider(ring::default_provider().into())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .context("TLS protocol versions")?
        .with_no_client_auth()
        .with_single_cert(chain.to_vec(), key)
        .context("the TLS certificate does not go with its key")?;
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(config)
}

/// `switchboard cert`: a self-signed certificate for `args.names`.
pub fn run_cert(args: CertArgs) -> Result<ExitCode> {
    let certified = rcgen::generate_simple_self_signed(args.names.clone())
        .context("cannot make a certificate")?;
    std::fs::write(&args.cert, certified.cert.pem())
        .with_context(|| format!("cannot write {}", args.cert.display()))?;
    let mut key = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&args.key)
        .with_context(|| format!("cannot write {}", args.key.display()))?;
    key.write_all(certified.signing_key.serialize_pem().as_bytes())?;
    info!(
        cert = %args.cert.display(),
        key = %args.key.display(),
        names = ?args.names,
        "self-signed certificate written (clients must be told to trust it)"
    );
    Ok(ExitCode::SUCCESS)
}
