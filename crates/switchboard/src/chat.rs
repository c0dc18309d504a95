use std::process::ExitCode;

use anyhow::{Context, Result};
use switchboard_net::{Config, Reactor};
use switchboard_proto::chat::irc::IrcConfig;
use switchboard_proto::chat::RateLimit;
use switchboard_proto::{ChatConfig, ChatService, FrontEnd};

use crate::cli::ChatArgs;
use crate::server::{listen, reactor_config, serve};

pub fn run(args: ChatArgs) -> Result<ExitCode> {
    let motd = match &args.motd {
        Some(path) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read the MOTD file {}", path.display()))?
            .lines()
            .map(str::to_string)
            .collect(),
        None => IrcConfig::default().motd,
    };
    let config = ChatConfig {
        max_line: args.max_line,
        max_output: args.max_output,
        rate_limit: (args.rate_limit > 0.0).then_some(RateLimit {
            burst: args.burst.max(1),
            per_sec: args.rate_limit,
        }),
        irc: IrcConfig {
            server_name: args.server_name.clone(),
            password: args.irc_password.clone(),
            motd,
            ping_interval: args.ping_interval,
            ping_timeout: args.ping_timeout,
            ..IrcConfig::default()
        },
        started: Some(std::time::SystemTime::now()),
    };
    let reactor_config = Config {
        coalesce: args.coalesce,
        ..reactor_config(&args.server, args.max_clients)
    };
    let mut reactor = Reactor::new(ChatService::new(config), reactor_config)?;
    listen(&mut reactor, "chat", FrontEnd::Line, &args.listen)?;
    if !args.no_irc {
        listen(&mut reactor, "irc", FrontEnd::Irc, &args.irc)?;
    }
    serve(reactor)
}
