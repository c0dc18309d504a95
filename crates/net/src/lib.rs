//! switchboard's reactor: one thread serving many connections from a
//! readiness loop, over any poller, listener and protocol.
//!
//! A [`Reactor`] owns a [`Poller`], its listeners and its connections, and
//! drives one sans-IO [`Service`](switchboard_proto::Service). Each turn it
//! waits for readiness, accepts until `WouldBlock`, reads ready connections
//! (capped per turn for fairness) into the service, fires timers, then
//! flushes every connection with pending output *before* sleeping again,
//! asking for WRITABLE only for what a full socket refused. Closed
//! connections are flagged and reaped after the turn, never mid-iteration.
//!
//! A reactor is a plain value that one thread runs; several can run side by
//! side.
//!
//! ```no_run
//! use switchboard_net::{bind_tcp, Config, Reactor};
//! use switchboard_proto::EchoService;
//!
//! let mut reactor = Reactor::new(EchoService::default(), Config::default())?;
//! let addr = reactor.add_listener(bind_tcp("127.0.0.1:0".parse().unwrap())?)?;
//! println!("echo on {addr}");
//! switchboard_net::shutdown_on_signals(vec![reactor.handle()])?;
//! let outcome = reactor.run()?;
//! println!("{}", outcome.stats);
//! # Ok::<(), std::io::Error>(())
//! ```
#![deny(missing_docs)]

mod address_limits;
mod clock;
mod cluster;
mod config;
mod connection;
mod connections;
mod episode;
mod fd_limit;
mod listener;
pub mod poller;
mod reactor;
mod reactor_handle;
mod reflector;
mod stats;
mod thread_bus;
mod timer_queue;
mod tls;

pub use address_limits::AddressLimits;
pub use clock::{Clock, SystemClock};
pub use cluster::{Cluster, ClusterError, ClusterMember, NODE_TTL};
pub use config::Config;
pub use fd_limit::raise_fd_limit;
pub use listener::{bind_tcp, bind_tcp_group, bind_udp, bind_udp_group, BACKLOG};
pub use poller::{Poller, PollerKind};
pub use reactor::{Reactor, RunOutcome};
pub use reactor_handle::{shutdown_on_signals, ReactorHandle};
pub use stats::Stats;
pub use thread_bus::{BusMember, ThreadBus};
pub use timer_queue::TimerQueue;
pub use tls::TlsAcceptor;
