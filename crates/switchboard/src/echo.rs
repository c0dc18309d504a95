use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{bind_udp, Config, Reactor};
use switchboard_proto::EchoService;
use tracing::info;

use crate::cli::{Command, EchoArgs};
use crate::server::{listen, reactor_config, reload, reloaded, serve, warn_fixed};

/// The reactor's settings that `args` ask for.
fn settings(args: &EchoArgs) -> Config {
    let mut config = reactor_config(&args.server, args.max_connections);
    config.per_address.replies_per_sec = Some(args.udp_rate).filter(|&n| n > 0);
    config
}

pub fn run(args: EchoArgs) -> Result<ExitCode> {
    let service = EchoService::new(args.high_water);
    let mut reactor = Reactor::new(service, settings(&args))?;
    let started = args.clone();
    reactor.on_reload(move |service, net, _now| {
        let Some((new, args)) = reload(|cli| match cli {
            Command::Echo(args) => Some(args),
            _ => None,
        }) else {
            return;
        };
        let fixed = [
            ("--listen", args.listen != started.listen),
            ("--udp", args.udp != started.udp),
        ];
        warn_fixed(&started.server, &args.server, &fixed);
        // Echo keeps no state of its own but its limits.
        *service = EchoService::new(args.high_water);
        *net = Config {
            poller: net.poller,
            ..settings(&args)
        };
        reloaded(&new);
    });
    for local in listen(&mut reactor, "echo", (), &args.listen, None)? {
        if args.udp {
            // Same port as the TCP listener, even when port 0 was asked for.
            let socket = bind_udp(local).with_context(|| format!("cannot bind udp {local}"))?;
            let local = reactor.add_udp(socket)?;
            info!("echo listening on udp {local}");
        }
    }
    serve(reactor)
}
