//! `tokio-chat`: the tokio baseline for the chat fan-out benchmarks.
//!
//! The shape of tokio's own `examples/chat.rs`: shared state holding an
//! unbounded mpsc sender per peer, one task per client that `select!`s
//! between its socket (framed with tokio-util's `LinesCodec`) and its
//! channel, and a broadcast that sends a copy of each line down every other
//! peer's channel. It runs on a single-threaded runtime, so it competes on
//! the same single core as switchboard's one-thread readiness loop.
//!
//! What differs from the example, and why:
//! - No username prompt, no `name: ` prefix and no join/leave announcements:
//!   each line a client sends reaches every other client as the same plain
//!   line (`\n`-terminated; `LinesCodec` also strips a trailing `\r`). That
//!   is the seed room's protocol, which `switchboard bench chat --preset
//!   plain` speaks: no greeting, a client counts as in the room as soon as it
//!   is connected, and the sender is named inside the line by the
//!   generator's own `bench SENDER SEQ MICROS` stamp, so the server need not
//!   name it.
//! - A peer joins the shared state in the accept loop, right after
//!   `accept()` and before its task is spawned (the example does it in the
//!   task, after reading the username). With no greeting to wait for, the
//!   generator starts sending as soon as its last `connect()` returns, so the
//!   room must contain a client from the moment it is accepted: registering
//!   it later, in its own task, would let lines broadcast in between miss
//!   it.
//! - TCP_NODELAY stays off by default, as in the example (which never sets
//!   it); `--nodelay` turns it on for every accepted socket.
//! - No tracing subscriber: nothing is logged per connection.
//!
//! Each line still costs what it costs in the example: a `String` copy per
//! receiver, a lock of the shared state per broadcast, and a flushed write
//! (one `write` syscall) per line per receiver, since `SinkExt::send` flushes.
//!
//! Usage: `tokio-chat 127.0.0.1:8008 [--nodelay]`

use std::collections::HashMap;
use std::error::Error;
use std::net::SocketAddr;
use std::sync::Arc;

use futures::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, Mutex};
use tokio_util::codec::{Framed, LinesCodec};

const USAGE: &str = "usage: tokio-chat [ADDR] [--nodelay]   (ADDR defaults to 127.0.0.1:8008)";

/// Shorthand for the transmit half of the message channel.
type Tx = mpsc::UnboundedSender<String>;

/// Shorthand for the receive half of the message channel.
type Rx = mpsc::UnboundedReceiver<String>;

/// The `Tx` handles of all connected clients: a line from one client is
/// sent, as a copy, down every other client's channel.
struct Shared {
    peers: HashMap<SocketAddr, Tx>,
}

impl Shared {
    /// Sends `message` to every peer but `sender`, and forgets peers whose
    /// task has ended.
    fn broadcast(&mut self, sender: SocketAddr, message: &str) {
        let mut failed_peers = Vec::new();
        for (addr, tx) in &self.peers {
            if *addr != sender && tx.send(message.to_string()).is_err() {
                failed_peers.push(*addr);
            }
        }
        for addr in failed_peers {
            self.peers.remove(&addr);
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn Error>> {
    let mut addr = None;
    let mut nodelay = false;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--nodelay" => nodelay = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            _ if addr.is_none() && !arg.starts_with('-') => addr = Some(arg),
            _ => return Err(format!("unexpected argument {arg:?}\n{USAGE}").into()),
        }
    }
    let addr = addr.unwrap_or_else(|| "127.0.0.1:8008".to_string());

    let state = Arc::new(Mutex::new(Shared {
        peers: HashMap::new(),
    }));
    let listener = TcpListener::bind(&addr).await?;
    eprintln!(
        "tokio-chat listening on {addr} (TCP_NODELAY {})",
        if nodelay { "on" } else { "off" }
    );

    loop {
        let (stream, addr) = listener.accept().await?;
        if nodelay {
            stream.set_nodelay(true)?;
        }
        // In the room from now on (see the module docs).
        let (tx, rx) = mpsc::unbounded_channel();
        state.lock().await.peers.insert(addr, tx);

        let state = Arc::clone(&state);
        tokio::spawn(async move {
            // A client that fails (reset, invalid UTF-8) is simply dropped.
            let _ = process(&state, stream, addr, rx).await;
            state.lock().await.peers.remove(&addr);
        });
    }
}

/// Serves one client until it disconnects: its lines go to everyone else,
/// everyone else's lines come to it.
async fn process(
    state: &Mutex<Shared>,
    stream: TcpStream,
    addr: SocketAddr,
    mut rx: Rx,
) -> Result<(), Box<dyn Error>> {
    let mut lines = Framed::new(stream, LinesCodec::new());
    loop {
        tokio::select! {
            // A line from a peer: write it to this client.
            Some(msg) = rx.recv() => lines.send(msg.as_str()).await?,
            // A line from this client: relay it to every other client.
            result = lines.next() => match result {
                Some(Ok(msg)) => state.lock().await.broadcast(addr, &msg),
                Some(Err(e)) => return Err(e.into()),
                None => return Ok(()),
            },
        }
    }
}
