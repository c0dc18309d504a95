use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{bind_tcp, bind_udp, Config, Reactor};
use switchboard_proto::EchoService;
use tracing::{info, warn};

use crate::cli::{EchoArgs, ServerArgs};

/// The reactor configuration every server command derives from its flags.
pub fn reactor_config(args: &ServerArgs) -> Config {
    Config {
        max_connections: args.max_connections,
        idle_timeout: args.idle_timeout,
        shutdown_timeout: args.shutdown_timeout,
        ..Config::default()
    }
}

/// Raises the descriptor limit, installs the signal handlers, runs the
/// reactor to the end and turns its outcome into the exit status: 0 after a
/// graceful shutdown, 130 when a second signal cut it short.
pub fn serve<S: switchboard_proto::Service>(reactor: Reactor<S>) -> Result<ExitCode> {
    match switchboard_net::raise_fd_limit() {
        Ok(limit) => tracing::debug!(limit, "open-files limit"),
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

pub fn run(args: EchoArgs) -> Result<ExitCode> {
    let service = EchoService::new(args.high_water);
    let mut reactor = Reactor::new(service, reactor_config(&args.server))?;
    for addr in &args.listen {
        let listener = bind_tcp(*addr).with_context(|| format!("cannot listen on {addr}"))?;
        let local = reactor.add_listener(listener)?;
        info!("echo listening on tcp {local}");
        if args.udp {
            // Same port as the TCP listener, even when port 0 was asked for.
            let socket = bind_udp(local).with_context(|| format!("cannot bind udp {local}"))?;
            let local = reactor.add_udp(socket)?;
            info!("echo listening on udp {local}");
        }
    }
    serve(reactor)
}
