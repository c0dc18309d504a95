use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{bind_udp, Reactor};
use switchboard_proto::EchoService;
use tracing::info;

use crate::cli::EchoArgs;
use crate::server::{listen, reactor_config, serve};

pub fn run(args: EchoArgs) -> Result<ExitCode> {
    let service = EchoService::new(args.high_water);
    let mut config = reactor_config(&args.server, args.max_connections);
    config.per_address.replies_per_sec = Some(args.udp_rate).filter(|&n| n > 0);
    let mut reactor = Reactor::new(service, config)?;
    for local in listen(&mut reactor, "echo", (), &args.listen)? {
        if args.udp {
            // Same port as the TCP listener, even when port 0 was asked for.
            let socket = bind_udp(local).with_context(|| format!("cannot bind udp {local}"))?;
            let local = reactor.add_udp(socket)?;
            info!("echo listening on udp {local}");
        }
    }
    serve(reactor)
}
