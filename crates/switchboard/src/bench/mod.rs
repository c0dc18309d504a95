//! Load generators. Single-threaded and event-driven (mio), so that one core
//! drives many connections and the tool is not the bottleneck.

pub mod chat;
mod connector;
pub mod echo;
mod handshake;
mod progress;
mod room_order;
mod server_probe;
mod tls;

pub use connector::Connector;
pub use progress::Progress;
pub use server_probe::{current_rss, ServerProbe};
pub use tls::TlsClientArgs;

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use hdrhistogram::Histogram;
use mio::{Events, Poll};
use serde_json::{json, Value};

/// Latency percentiles (microseconds) as a JSON object.
pub fn latency_json(h: &Histogram<u64>) -> Value {
    json!({
        "p50_us": h.value_at_quantile(0.50),
        "p90_us": h.value_at_quantile(0.90),
        "p99_us": h.value_at_quantile(0.99),
        "p999_us": h.value_at_quantile(0.999),
        "max_us": h.max(),
    })
}

/// Latency percentiles as one human line.
pub fn latency_line(h: &Histogram<u64>) -> String {
    format!(
        "latency p50 {} µs, p90 {} µs, p99 {} µs, p99.9 {} µs, max {} µs",
        h.value_at_quantile(0.50),
        h.value_at_quantile(0.90),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    )
}

/// Addresses as the user wrote them on the command line: space-separated.
pub fn addr_list(addrs: &[SocketAddr]) -> String {
    let list: Vec<String> = addrs.iter().map(SocketAddr::to_string).collect();
    list.join(" ")
}

/// Waits for events. A signal (a debugger or tracer attaching, a resized
/// terminal) interrupts the wait: that is an empty wake-up, not an error.
pub fn wait(poll: &mut Poll, events: &mut Events, timeout: Duration) -> io::Result<()> {
    match poll.poll(events, Some(timeout)) {
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            events.clear();
            Ok(())
        }
        other => other,
    }
}
