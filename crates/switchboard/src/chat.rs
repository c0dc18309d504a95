use std::process::ExitCode;

use anyhow::Result;
use switchboard_net::{Config, Reactor};
use switchboard_proto::chat::RateLimit;
use switchboard_proto::{ChatConfig, ChatService};

use crate::cli::ChatArgs;
use crate::server::{listen, reactor_config, serve};

pub fn run(args: ChatArgs) -> Result<ExitCode> {
    let config = ChatConfig {
        max_line: args.max_line,
        max_output: args.max_output,
        rate_limit: (args.rate_limit > 0.0).then_some(RateLimit {
            burst: args.burst.max(1),
            per_sec: args.rate_limit,
        }),
    };
    let reactor_config = Config {
        coalesce: args.coalesce,
        ..reactor_config(&args.server, args.max_clients)
    };
    let mut reactor = Reactor::new(ChatService::new(config), reactor_config)?;
    listen(&mut reactor, "chat", &args.listen)?;
    serve(reactor)
}
