use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// Logs go to stderr. `RUST_LOG` wins when set; otherwise `-v` raises the
/// level (info, debug, trace) and `--trace` turns on the event narrative
/// (every wait, accept, read, write and close, as the seed prints them).
pub fn init(verbose: u8, narrative: bool) {
    let default = match (narrative, verbose) {
        // mio's own trace lines (each registration) are not the story.
        (true, _) | (_, 2..) => "trace,mio=info",
        (false, 1) => "debug",
        (false, 0) => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
}
