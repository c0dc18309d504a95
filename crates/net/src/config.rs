use std::time::Duration;

use crate::address_limits::AddressLimits;
use crate::poller::PollerKind;

/// Tunables of one reactor. Every limit here is also a CLI flag or a
/// documented constant; see `docs/` for the policies behind them.
#[derive(Clone, Debug)]
pub struct Config {
    /// Connections held at once; one more is accepted, told (if the service
    /// has a notice) and closed.
    pub max_connections: usize,
    /// Close a connection after this long without traffic (`None`: never).
    pub idle_timeout: Option<Duration>,
    /// How long a graceful shutdown may spend flushing before it closes
    /// whatever is left.
    pub shutdown_timeout: Duration,
    /// How long a closing connection waits for the peer's EOF after our FIN.
    pub linger_timeout: Duration,
    /// Size of the (single, shared) read buffer; also the largest datagram.
    pub read_buffer_size: usize,
    /// Most bytes read from one connection per loop turn, so one fast sender
    /// cannot starve the others.
    pub max_read_per_turn: usize,
    /// Most datagrams served from one UDP socket per loop turn, for the
    /// same reason.
    pub max_datagrams_per_turn: usize,
    /// How long to stop accepting after running out of descriptors.
    pub accept_backoff: Duration,
    /// Which readiness backend to use.
    pub poller: PollerKind,
    /// How long a TLS client has to finish its handshake.
    pub tls_handshake_timeout: Duration,
    /// Limits per peer address: connections held, connections per second,
    /// UDP replies per second.
    pub per_address: AddressLimits,
    /// Hold output for up to this long so that what later turns produce for
    /// the same connection leaves in the same write (zero: flush every
    /// turn). Trades a bounded delay for far fewer syscalls under fan-out.
    pub coalesce: Duration,
    /// Before sleeping in the poller, keep polling without sleeping for up
    /// to this long (zero: never). Trades CPU for latency: a wake-up from
    /// sleep costs tens of microseconds on a VM (an interrupt and a VM
    /// exit), which dominates a round trip when few connections take turns.
    pub busy_poll: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_connections: 10_000,
            idle_timeout: None,
            shutdown_timeout: Duration::from_secs(5),
            linger_timeout: Duration::from_secs(2),
            read_buffer_size: 64 * 1024,
            max_read_per_turn: 256 * 1024,
            max_datagrams_per_turn: 256,
            accept_backoff: Duration::from_millis(100),
            poller: PollerKind::default(),
            tls_handshake_timeout: Duration::from_secs(10),
            per_address: AddressLimits::default(),
            coalesce: Duration::ZERO,
            busy_poll: Duration::ZERO,
        }
    }
}
