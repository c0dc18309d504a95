use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{bind_udp_group, Config, Reactor};
use switchboard_proto::EchoService;
use tracing::info;

use crate::cli::{Command, EchoArgs};
use crate::server::{
    listen, reactor_config, reload, reload_hooks, reloaded, serve, thread_count, warn_fixed,
};

/// The reactor's settings that `args` ask for.
fn settings(args: &EchoArgs) -> Config {
    let mut config = reactor_config(&args.server, args.max_connections);
    config.per_address.replies_per_sec = Some(args.udp_rate).filter(|&n| n > 0);
    config
}

pub fn run(args: EchoArgs) -> Result<ExitCode> {
    let threads = thread_count(&args.server);
    let first = Reactor::new(EchoService::new(args.high_water), settings(&args))?;
    let mut reactors = vec![first];
    for _ in 1..threads {
        let sibling = reactors[0].sibling(EchoService::new(args.high_water))?;
        reactors.push(sibling);
    }
    let handles: Vec<_> = reactors.iter().map(Reactor::handle).collect();
    let started = args.clone();
    let load = move || {
        let (new, args) = reload(|cli| match cli {
            Command::Echo(args) => Some(args),
            _ => None,
        })?;
        let fixed = [
            ("--listen", args.listen != started.listen),
            ("--udp", args.udp != started.udp),
        ];
        warn_fixed(&started.server, &args.server, &fixed);
        reloaded(&new);
        Some((args.high_water, settings(&args)))
    };
    // Echo keeps no state of its own but its limits.
    let apply = |service: &mut EchoService, net: &mut Config, _now, (high_water, config)| {
        *service = EchoService::new(high_water);
        *net = Config {
            poller: net.poller,
            ..config
        };
    };
    for (reactor, hook) in reactors.iter_mut().zip(reload_hooks(&handles, load, apply)) {
        reactor.on_reload(hook);
    }
    for local in listen(&mut reactors, "echo", (), &args.listen, None)? {
        if args.udp {
            // Same port as the TCP listener, even when port 0 was asked for.
            let sockets = bind_udp_group(local, threads)
                .with_context(|| format!("cannot bind udp {local}"))?;
            for (reactor, socket) in reactors.iter_mut().zip(sockets) {
                reactor.add_udp(socket)?;
            }
            info!("echo listening on udp {local}");
        }
    }
    serve(reactors)
}
