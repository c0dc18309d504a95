//! Shared helpers: an in-process echo server on 127.0.0.1:0 and clients with
//! deadlines, so no test can hang or collide on a port.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use switchboard_net::{bind_tcp, bind_udp, Config, PollerKind, Reactor, ReactorHandle, RunOutcome};
use switchboard_proto::EchoService;

/// Every socket operation in a test gives up after this long.
pub const IO_DEADLINE: Duration = Duration::from_secs(20);

/// An echo reactor running on its own thread.
pub struct EchoServer {
    pub addr: SocketAddr,
    pub udp_addr: Option<SocketAddr>,
    handle: ReactorHandle,
    thread: Option<JoinHandle<io::Result<RunOutcome>>>,
}

impl EchoServer {
    pub fn start(poller: PollerKind) -> Self {
        Self::start_with(poller, Config::default(), EchoService::default(), false)
    }

    pub fn start_with(poller: PollerKind, config: Config, service: EchoService, udp: bool) -> Self {
        Self::start_on("127.0.0.1:0".parse().unwrap(), poller, config, service, udp)
            .expect("bind 127.0.0.1:0")
    }

    pub fn start_on(
        addr: SocketAddr,
        poller: PollerKind,
        config: Config,
        service: EchoService,
        udp: bool,
    ) -> io::Result<Self> {
        let mut reactor = Reactor::new(service, Config { poller, ..config })?;
        let addr = reactor.add_listener(bind_tcp(addr)?)?;
        let udp_addr = if udp {
            Some(reactor.add_udp(bind_udp(addr)?)?)
        } else {
            None
        };
        let handle = reactor.handle();
        let thread = thread::spawn(move || reactor.run());
        Ok(EchoServer {
            addr,
            udp_addr,
            handle,
            thread: Some(thread),
        })
    }

    pub fn handle(&self) -> ReactorHandle {
        self.handle.clone()
    }

    /// Graceful shutdown; waits for the reactor to finish.
    pub fn stop(self) -> RunOutcome {
        self.handle.shutdown();
        self.join()
    }

    /// Waits for the reactor to finish (after a shutdown requested elsewhere).
    pub fn join(mut self) -> RunOutcome {
        self.thread
            .take()
            .unwrap()
            .join()
            .expect("reactor thread panicked")
            .expect("reactor failed")
    }

    pub fn is_running(&self) -> bool {
        self.thread.as_ref().is_some_and(|t| !t.is_finished())
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        if let Some(thread) = self.thread.take() {
            self.handle.shutdown();
            self.handle.shutdown(); // second request: do not wait for drains
            let _ = thread.join();
        }
    }
}

/// A client socket whose reads and writes give up after [`IO_DEADLINE`].
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, IO_DEADLINE).expect("connect");
    s.set_read_timeout(Some(IO_DEADLINE)).unwrap();
    s.set_write_timeout(Some(IO_DEADLINE)).unwrap();
    s
}

/// Reproducible random bytes.
pub fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0; len];
    rng.fill(&mut v);
    v
}

/// Reads exactly `len` bytes (or fails on EOF/timeout).
pub fn read_exact(s: &mut TcpStream, len: usize) -> Vec<u8> {
    let mut v = vec![0; len];
    s.read_exact(&mut v).expect("read echo");
    v
}

/// Reads until EOF.
pub fn read_to_end(s: &mut TcpStream) -> Vec<u8> {
    let mut v = Vec::new();
    s.read_to_end(&mut v).expect("read to EOF");
    v
}

/// Sends `msg` and asserts the same bytes come back.
pub fn assert_echoes(s: &mut TcpStream, msg: &[u8]) {
    s.write_all(msg).expect("send");
    assert_eq!(read_exact(s, msg.len()), msg);
}

/// Polls `cond` until it holds or `deadline` passes (then panics with `what`).
pub fn wait_until(what: &str, deadline: Duration, mut cond: impl FnMut() -> bool) {
    let end = Instant::now() + deadline;
    while !cond() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        thread::sleep(Duration::from_millis(5));
    }
}
