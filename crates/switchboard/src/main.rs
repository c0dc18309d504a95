//! `switchboard`: chat and echo servers on a reactor of our own, a client
//! and a load generator. See `switchboard --help` and the README.

mod bench;
mod chat;
mod cli;
mod client;
mod echo;
mod logging;
mod server;
mod tls;

use std::process::ExitCode;

use cli::{BenchCommand, Command};

fn main() -> ExitCode {
    let argv: Vec<_> = std::env::args_os().collect();
    let cli = cli::parse_from(&argv).unwrap_or_else(|e| e.exit());
    let logging = logging::init(cli.verbose, cli.trace);
    let result = match cli.command {
        Command::Chat(args) => chat::run(*args),
        Command::Echo(args) => echo::run(args),
        Command::Client(args) => client::run(args),
        Command::Bench(BenchCommand::Echo(args)) => bench::echo::run(args),
        Command::Bench(BenchCommand::Chat(args)) => bench::chat::run(args),
        Command::Cert(args) => tls::run_cert(args),
    };
    logging.report_drops();
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("switchboard: error: {err:#}");
            ExitCode::FAILURE
        }
    }
}
