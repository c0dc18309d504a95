use std::fmt::Write as _;
use std::io::IsTerminal;

use tracing_appender::non_blocking::{ErrorCounter, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::debug_fn;
use tracing_subscriber::EnvFilter;

/// Log lines queued for the writer thread at most; past that, lines are
/// dropped (and counted) rather than the event loop blocked.
const QUEUED_LINES: usize = 16 * 1024;

/// The logger's writer thread, and what it had to drop. Flushes the queue
/// when dropped (at exit).
pub struct Logging {
    _guard: WorkerGuard,
    dropped: ErrorCounter,
}

impl Logging {
    /// Says how many lines were dropped because stderr was not read, if
    /// any (through the log itself: never blocking, even then).
    pub fn report_drops(&self) {
        let n = self.dropped.dropped_lines();
        if n > 0 {
            tracing::warn!(dropped = n, "log lines dropped: stderr was not being read");
        }
    }
}

/// Logs go to stderr. `RUST_LOG` wins when set; otherwise `-v` raises the
/// level (info, debug, trace) and `--trace` turns on the event narrative
/// (every wait, accept, read, write and close).
///
/// The log is written by a thread of its own through a bounded queue: a
/// stderr that nobody reads (a pipe gone full) costs dropped lines,
/// counted, never a frozen server.
pub fn init(verbose: u8, narrative: bool) -> Logging {
    let default = match (narrative, verbose) {
        // mio's own trace lines (each registration) are not the story.
        (true, _) | (_, 2..) => "trace,mio=info",
        (false, 1) => "debug",
        (false, 0) => "info",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("switchboard-log")
        .finish(std::io::stderr());
    let dropped = writer.error_counter();
    // Every field, the message included, with control characters escaped:
    // whatever a client sent, and however a log line shows it, it cannot
    // drive the terminal that shows the log or forge a line of its own.
    let fields = debug_fn(|w, field, value| {
        let text = match field.name() {
            "message" => format!("{value:?}"),
            name => format!("{name}={value:?}"),
        };
        w.write_str(&escape_controls(&text))
    })
    .delimited(" ");
    tracing_subscriber::fmt()
        .fmt_fields(fields)
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(false)
        .init();
    Logging {
        _guard: guard,
        dropped,
    }
}

/// `text` with every control character but tab written as a Rust escape
/// (`\u{1b}`, `\n`).
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(|c| c.is_control() && c != '\t') {
        return text.into();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if c.is_control() && c != '\t' {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out.into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped_and_the_rest_kept() {
        assert_eq!(escape_controls("plain\ttext é"), "plain\ttext é");
        assert_eq!(
            escape_controls("\x1b[31mred\x07\nfake line\u{9b}"),
            "\\u{1b}[31mred\\u{7}\\nfake line\\u{9b}"
        );
    }
}
