use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{bind_udp_group, Config, Reactor};
use switchboard_proto::EchoService;
use tracing::info;

use crate::cli::{Command, EchoArgs};
use crate::server::{listen, reactor_config, reload, reloaded, serve, thread_count, warn_fixed};

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
    for (i, reactor) in reactors.iter_mut().enumerate() {
        let started = args.clone();
        // Every thread reloads its own service; the first one speaks.
        let loud = i == 0;
        reactor.on_reload(move |service, net, _now| {
            let Some((new, args)) = reload(loud, |cli| match cli {
                Command::Echo(args) => Some(args),
                _ => None,
            }) else {
                return;
            };
            if loud {
                let fixed = [
                    ("--listen", args.listen != started.listen),
                    ("--udp", args.udp != started.udp),
                ];
                warn_fixed(&started.server, &args.server, &fixed);
            }
            // Echo keeps no state of its own but its limits.
            *service = EchoService::new(args.high_water);
            *net = Config {
                poller: net.poller,
                ..settings(&args)
            };
            if loud {
                reloaded(&new);
            }
        });
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
