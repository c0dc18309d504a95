//! What every server command shares: binding its listeners, the reactor
//! configuration from flags, signals, and the exit status.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{bind_tcp, AddressLimits, Config, PollerKind, Reactor, TlsAcceptor};
use switchboard_proto::Service;
use tracing::{debug, info, warn};

use crate::cli::{Command, PollerArg, ServerArgs};

/// The reactor configuration a server's flags ask for.
pub fn reactor_config(args: &ServerArgs, max_connections: usize) -> Config {
    Config {
        max_connections,
        // 0 is "off", as for the other durations that switch something off.
        idle_timeout: args.idle_timeout.filter(|d| !d.is_zero()),
        shutdown_timeout: args.shutdown_timeout,
        busy_poll: args.busy_poll,
        poller: match args.poller {
            PollerArg::Epoll => PollerKind::Mio,
            PollerArg::Poll => PollerKind::Poll,
            PollerArg::Select => PollerKind::Select,
        },
        per_address: AddressLimits {
            // 0 is "no limit", as for --rate-limit.
            max_connections: Some(args.max_per_ip).filter(|&n| n > 0),
            connects_per_sec: Some(args.connect_rate).filter(|&n| n > 0),
            exempt: args.per_ip_exempt.iter().flatten().copied().collect(),
            ..AddressLimits::default()
        },
        ..Config::default()
    }
}

/// Binds every address for `name`, a listener of kind `kind` (with TLS if
/// `tls` is given), and returns their local addresses (port 0 resolved),
/// logged as "NAME listening on tcp ADDR".
pub fn listen<S: Service>(
    reactor: &mut Reactor<S>,
    name: &str,
    kind: S::Listener,
    addrs: &[SocketAddr],
    tls: Option<&TlsAcceptor>,
) -> Result<Vec<SocketAddr>> {
    addrs
        .iter()
        .map(|addr| {
            let listener = bind_tcp(*addr).with_context(|| format!("cannot listen on {addr}"))?;
            let local = reactor.add_listener_with(listener, kind, tls.cloned())?;
            info!("{name} listening on tcp {local}");
            Ok(local)
        })
        .collect()
}

/// Raises the descriptor limit, installs the signal handlers, runs the
/// reactor to the end and turns its outcome into the exit status: 0 after a
/// graceful shutdown, 130 when a second signal cut it short.
pub fn serve<S: Service>(reactor: Reactor<S>) -> Result<ExitCode> {
    match switchboard_net::raise_fd_limit() {
        Ok(limit) => debug!(limit, "open-files limit"),
        Err(e) => warn!(error = %e, "could not raise the open-files limit"),
    }
    reactor
        .handle()
        .shutdown_on_signals()
        .context("installing signal handlers")?;
    let outcome = reactor.run().context("event loop failed")?;
    Ok(if outcome.forced {
        ExitCode::from(130)
    } else {
        ExitCode::SUCCESS
    })
}

/// A reload's first step: the command line and its `--config FILE` parsed
/// again, and this command's arguments picked out by `pick`. `None` (and
/// the reason logged) if they no longer parse: the settings stay.
pub fn reload<A>(pick: impl FnOnce(Command) -> Option<A>) -> Option<(Option<PathBuf>, A)> {
    let argv: Vec<_> = std::env::args_os().collect();
    match crate::cli::parse_from(&argv) {
        Ok(cli) => {
            let file = match &cli.command {
                Command::Chat(a) => a.server.config.clone(),
                Command::Echo(a) => a.server.config.clone(),
                _ => None,
            };
            pick(cli.command).map(|args| (file, args))
        }
        Err(e) => {
            reload_failed(&anyhow::anyhow!("{}", e.to_string().trim_end()));
            None
        }
    }
}

/// Says that a reload took effect, and from where.
pub fn reloaded(file: &Option<PathBuf>) {
    match file {
        Some(file) => {
            info!(file = %file.display(), "reloaded: settings applied, every connection kept")
        }
        None => info!("reloaded: no --config file, so the command line's settings stay"),
    }
}

/// Says why a reload was refused: the settings in force stay.
pub fn reload_failed(e: &anyhow::Error) {
    warn!("reload failed, settings unchanged: {e:#}");
}

/// Warns about settings a reload cannot change (the listening sockets, the
/// poller, names clients already know), each given with whether it changed.
pub fn warn_fixed(old: &ServerArgs, new: &ServerArgs, fixed: &[(&str, bool)]) {
    let poller = [("--poller", old.poller != new.poller)];
    for (flag, _) in fixed.iter().chain(&poller).filter(|(_, changed)| *changed) {
        warn!("reload: {flag} changed, which takes a restart; the old value stays");
    }
}
