//! The reactor's turn logic, one turn at a time in virtual time.
//!
//! A fake poller reports every watched socket ready for whatever it is
//! watched for, on every turn (spurious readiness everywhere: the reactor
//! must treat readiness as a hint), and never sleeps; a fake clock moves only
//! when the test moves it. Sockets are real loopback sockets, so every read
//! and write is the kernel's: what a turn does is exactly what the reactor
//! decides, with no wall clock and no sleeps in the tests.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::fd::RawFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use switchboard_net::poller::{Event, Interest, Poller, Token};
use switchboard_net::{bind_tcp, Clock, Config, Reactor};
use switchboard_proto::{CloseReason, EchoService, Service};

/// Watched descriptors, shared with the test.
type Watched = Arc<Mutex<BTreeMap<RawFd, (Token, Interest)>>>;

/// Reports every watched descriptor ready for its interest, at once.
#[derive(Default)]
struct FakePoller {
    watched: Watched,
}

impl Poller for FakePoller {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn register(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut w = self.watched.lock().unwrap();
        assert!(
            w.insert(fd, (token, interest)).is_none(),
            "{fd} registered twice"
        );
        Ok(())
    }

    fn reregister(&mut self, fd: RawFd, token: Token, interest: Interest) -> io::Result<()> {
        let mut w = self.watched.lock().unwrap();
        assert!(
            w.insert(fd, (token, interest)).is_some(),
            "{fd} not registered"
        );
        Ok(())
    }

    fn deregister(&mut self, fd: RawFd) -> io::Result<()> {
        let mut w = self.watched.lock().unwrap();
        assert!(w.remove(&fd).is_some(), "{fd} not registered");
        Ok(())
    }

    fn poll(&mut self, events: &mut Vec<Event>, _timeout: Option<Duration>) -> io::Result<()> {
        events.clear();
        let w = self.watched.lock().unwrap();
        events.extend(w.values().map(|&(token, interest)| Event {
            token,
            readable: interest.readable,
            writable: interest.writable,
            read_closed: false,
            error: false,
        }));
        Ok(())
    }
}

/// A clock that moves only when told.
#[derive(Clone)]
struct FakeClock(Arc<Mutex<(Instant, SystemTime)>>);

impl FakeClock {
    fn new() -> Self {
        FakeClock(Arc::new(Mutex::new((Instant::now(), SystemTime::now()))))
    }

    fn advance(&self, by: Duration) {
        let mut t = self.0.lock().unwrap();
        t.0 += by;
        t.1 += by;
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.0.lock().unwrap().0
    }

    fn system_time(&self) -> SystemTime {
        self.0.lock().unwrap().1
    }
}

/// A reactor on the fake poller and clock, with one listener.
struct Turns<S: Service> {
    reactor: Reactor<S>,
    clock: FakeClock,
    addr: SocketAddr,
}

impl<S: Service> Turns<S> {
    fn start(service: S, config: Config) -> Self {
        Self::start_with(service, config, |_| {})
    }

    /// With a small send buffer on every accepted socket (they inherit the
    /// listener's), so that what a client fails to take stays with the
    /// reactor, where the limits apply; default configuration.
    fn start_small(service: S) -> Self {
        let small = |l: &socket2::SockRef| l.set_send_buffer_size(8192).unwrap();
        Self::start_with(service, Config::default(), small)
    }

    /// With `setup` applied to the listening socket first (accepted
    /// sockets inherit its buffer sizes).
    fn start_with(service: S, config: Config, setup: impl FnOnce(&socket2::SockRef)) -> Self {
        let clock = FakeClock::new();
        let mut reactor = Reactor::with_parts(
            service,
            config,
            Box::new(FakePoller::default()),
            Box::new(clock.clone()),
        )
        .unwrap();
        let listener = bind_tcp("127.0.0.1:0".parse().unwrap()).unwrap();
        setup(&socket2::SockRef::from(&listener));
        let addr = reactor.add_listener(listener).unwrap();
        Turns {
            reactor,
            clock,
            addr,
        }
    }

    /// One turn; the reactor must still be running.
    fn turn(&mut self) {
        assert!(self.reactor.turn().unwrap(), "the reactor stopped");
    }

    /// A client with a small receive window (set before connecting, so
    /// that it holds): what it does not read stays on the server's side.
    fn connect_slow(&mut self) -> TcpStream {
        let domain = socket2::Domain::IPV4;
        let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        socket.connect(&self.addr.into()).unwrap();
        let s: TcpStream = socket.into();
        s.set_nonblocking(true).unwrap();
        self.turn();
        s
    }

    /// A client, accepted by the next turn.
    fn connect(&mut self) -> TcpStream {
        let s = TcpStream::connect(self.addr).unwrap();
        s.set_nonblocking(true).unwrap();
        self.turn();
        s
    }
}

/// Everything `s` can read now, and whether it saw EOF.
fn read_now(s: &mut TcpStream) -> (Vec<u8>, bool) {
    let mut got = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, true),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return (got, false),
            Err(e) => panic!("read: {e}"),
        }
    }
}

#[test]
fn one_busy_connection_cannot_starve_the_others() {
    let config = Config {
        read_buffer_size: 1024,
        max_read_per_turn: 4096,
        ..Config::default()
    };
    let mut t = Turns::start(EchoService::default(), config);
    let mut busy = t.connect();
    let mut quiet = t.connect();
    busy.write_all(&[7u8; 64 * 1024]).unwrap();
    quiet.write_all(b"hi").unwrap();
    t.turn();
    // In one turn the busy connection is read up to the cap, and the quiet
    // one is served all the same.
    let (echoed, _) = read_now(&mut busy);
    assert!(
        echoed.len() <= 4096,
        "{} bytes read in one turn",
        echoed.len()
    );
    assert_eq!(read_now(&mut quiet).0, b"hi");
    // The rest comes on later turns: nothing is lost.
    let mut total = echoed.len();
    let mut turns = 1;
    while total < 64 * 1024 {
        t.turn();
        turns += 1;
        total += read_now(&mut busy).0.len();
        assert!(turns <= 64, "{total} bytes after {turns} turns");
    }
    assert_eq!(total, 64 * 1024);
    assert!(turns >= 16, "the cap held on every turn ({turns} turns)");
}

#[test]
fn idle_connections_close_at_their_deadline_in_virtual_time() {
    let config = Config {
        idle_timeout: Some(Duration::from_secs(30)),
        ..Config::default()
    };
    let mut t = Turns::start(EchoService::default(), config);
    let mut idle = t.connect();
    t.clock.advance(Duration::from_secs(20));
    let mut active = t.connect();
    t.clock.advance(Duration::from_secs(9));
    t.turn();
    assert_eq!(read_now(&mut idle), (vec![], false), "29 s: still open");
    // Activity moves the deadline on; silence reaches it.
    active.write_all(b"ping").unwrap();
    t.turn();
    assert_eq!(read_now(&mut active).0, b"ping");
    t.clock.advance(Duration::from_secs(1));
    t.turn();
    assert_eq!(read_now(&mut idle), (vec![], true), "30 s: closed");
    t.clock.advance(Duration::from_secs(28));
    t.turn();
    assert_eq!(
        read_now(&mut active),
        (vec![], false),
        "28 s after its echo"
    );
    t.clock.advance(Duration::from_secs(2));
    t.turn();
    assert_eq!(read_now(&mut active), (vec![], true));
    let stats = t.reactor.finish().stats;
    assert_eq!(stats.closes(CloseReason::IdleTimeout), 2);
}

#[test]
fn a_closed_connections_slot_is_reused_without_mixing_the_two() {
    let mut t = Turns::start(EchoService::default(), Config::default());
    let mut first = t.connect();
    first.write_all(b"one").unwrap();
    t.turn();
    assert_eq!(read_now(&mut first).0, b"one");
    drop(first);
    t.turn(); // EOF: closed and reaped
    let mut second = t.connect();
    second.write_all(b"two").unwrap();
    t.turn();
    assert_eq!(read_now(&mut second).0, b"two");
    let stats = t.reactor.finish().stats;
    assert_eq!(stats.accepted, 2);
    assert_eq!(stats.closes(CloseReason::PeerClosed), 1);
}

#[test]
fn half_close_gets_everything_back_then_eof() {
    // Small buffers both ways: most of the echo is still owed (in the
    // reactor) when the client's FIN is read, and must not be thrown away
    // with it.
    let mut t = Turns::start_small(EchoService::default());
    let mut c = t.connect_slow();
    let sent: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    // Into the server's receive buffer, which holds it all.
    c.set_nonblocking(false).unwrap();
    c.write_all(&sent).unwrap();
    c.set_nonblocking(true).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    for turn in 0.. {
        assert!(turn < 10_000, "{} bytes after {turn} turns", got.len());
        t.turn();
        let (bytes, eof) = read_now(&mut c);
        got.extend_from_slice(&bytes);
        if eof {
            break;
        }
    }
    assert!(
        got == sent,
        "{} of {} bytes echoed before EOF",
        got.len(),
        sent.len()
    );
}

/// Answers "bye" with a long goodbye, then closes (as a chat's `/quit`
/// does), whatever else the client sent or still sends.
struct LongGoodbye;

/// The goodbye's length: far more than a small receive window holds.
const GOODBYE: usize = 256 * 1024;

impl Service for LongGoodbye {
    type Listener = ();

    fn output_limits(&self) -> switchboard_proto::OutputLimits {
        switchboard_proto::OutputLimits {
            high_water: 1 << 20,
            low_water: 1 << 19,
            policy: switchboard_proto::OverflowPolicy::Disconnect,
            grace: Duration::ZERO,
        }
    }

    fn handle_data(
        &mut self,
        conn: switchboard_proto::ConnId,
        data: &[u8],
        io: &mut impl switchboard_proto::Io,
    ) {
        if data.starts_with(b"bye") {
            io.send(conn, &vec![b'g'; GOODBYE]);
            io.close(conn, CloseReason::Closed);
        }
    }
}

#[test]
fn a_close_lingers_so_that_late_input_cannot_reset_away_the_goodbye() {
    let mut t = Turns::start(LongGoodbye, Config::default());
    // A small receive window (set before connecting): the goodbye leaves
    // slowly, and most of it still waits in the server's buffers.
    let mut c = t.connect_slow();
    c.write_all(b"bye").unwrap();
    // The client reads slowly and keeps talking: had the server closed its
    // socket with input arriving, the kernel would answer with a reset and
    // throw away the goodbye's unsent tail.
    let mut got = 0;
    let mut buf = [0u8; 4096];
    for turn in 0.. {
        assert!(turn < 10_000, "{got} bytes after {turn} turns");
        t.turn();
        let _ = c.write(b"more");
        match c.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(e) => panic!("after {got} of {GOODBYE} bytes: {e}"),
        }
    }
    assert_eq!(got, GOODBYE, "the whole goodbye, then EOF");
    // Our EOF ends the lingering.
    drop(c);
    t.turn();
    t.turn();
    let stats = t.reactor.finish().stats;
    assert_eq!(stats.closes(CloseReason::Closed), 1);
}

/// Sends 127 KiB to the first connection when one says "flood" (the limit
/// is 64 KiB, the grace a second), echoes anything else, and records its
/// timers firing.
#[derive(Default)]
struct Flood {
    fired: Arc<Mutex<Vec<usize>>>,
}

impl Service for Flood {
    type Listener = ();

    fn output_limits(&self) -> switchboard_proto::OutputLimits {
        switchboard_proto::OutputLimits {
            high_water: 64 * 1024,
            low_water: 32 * 1024,
            policy: switchboard_proto::OverflowPolicy::Disconnect,
            grace: Duration::from_secs(1),
        }
    }

    fn handle_connect(
        &mut self,
        conn: switchboard_proto::ConnId,
        _peer: SocketAddr,
        _listener: (),
        io: &mut impl switchboard_proto::Io,
    ) {
        // The first connection's timer is due last, the third's first.
        let due = io.now() + Duration::from_secs(3 - conn.0 as u64 % 3);
        io.set_timer(conn, due);
    }

    fn handle_data(
        &mut self,
        conn: switchboard_proto::ConnId,
        data: &[u8],
        io: &mut impl switchboard_proto::Io,
    ) {
        if data.starts_with(b"flood") {
            // Under the hard limit: the reactor judges it after trying to
            // write it, by what the client failed to take, over time.
            io.send(switchboard_proto::ConnId(0), &[b'f'; 127 * 1024]);
        } else {
            io.send(conn, data);
        }
    }

    fn handle_timer(
        &mut self,
        conn: switchboard_proto::ConnId,
        _io: &mut impl switchboard_proto::Io,
    ) {
        self.fired.lock().unwrap().push(conn.0);
    }
}

#[test]
fn a_client_that_does_not_read_is_cut_after_its_grace_and_only_it() {
    // Small kernel buffers on both sides: what the client fails to take
    // stays with the reactor, where the limit applies.
    let mut t = Turns::start_small(Flood::default());
    let _slow = t.connect_slow();
    let mut other = t.connect();
    other.write_all(b"flood").unwrap();
    t.turn();
    other.write_all(b"still served").unwrap();
    t.clock.advance(Duration::from_millis(999));
    t.turn();
    assert_eq!(read_now(&mut other).0, b"still served");
    let stats = t.reactor.stats();
    assert_eq!(
        stats.closes(CloseReason::OutputOverflow),
        0,
        "within its grace"
    );
    t.clock.advance(Duration::from_millis(1));
    t.turn();
    let stats = t.reactor.finish().stats;
    assert_eq!(stats.closes(CloseReason::OutputOverflow), 1);
}

#[test]
fn a_clients_own_replies_pause_its_reading_but_never_cut_it() {
    let mut t = Turns::start_small(Flood::default());
    let mut slow = t.connect_slow();
    slow.write_all(b"flood").unwrap();
    t.turn();
    slow.write_all(b"held").unwrap();
    for _ in 0..3 {
        t.clock.advance(Duration::from_secs(10));
        t.turn();
    }
    // It reads: all of the reply, then the echo of what it sent meanwhile.
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !got.ends_with(b"held") && std::time::Instant::now() < deadline {
        got.extend(read_now(&mut slow).0);
        t.turn();
    }
    assert_eq!(got.len(), 127 * 1024 + 4);
    assert!(got.ends_with(b"fheld"));
    let stats = t.reactor.finish().stats;
    assert_eq!(stats.closes(CloseReason::OutputOverflow), 0);
}

#[test]
fn service_timers_fire_at_their_time_in_deadline_order() {
    let service = Flood::default();
    let fired = service.fired.clone();
    let mut t = Turns::start(service, Config::default());
    let _clients: Vec<TcpStream> = (0..3).map(|_| t.connect()).collect();
    t.clock.advance(Duration::from_millis(999));
    t.turn();
    assert!(fired.lock().unwrap().is_empty(), "none is due before 1 s");
    t.clock.advance(Duration::from_secs(5));
    t.turn();
    assert_eq!(*fired.lock().unwrap(), [2, 1, 0], "earliest deadline first");
}

#[test]
fn one_turn_serves_at_most_its_share_of_datagrams_and_the_rest_the_next() {
    let config = Config {
        max_datagrams_per_turn: 8,
        ..Config::default()
    };
    let mut t = Turns::start(EchoService::default(), config);
    let udp = switchboard_net::bind_udp("127.0.0.1:0".parse().unwrap()).unwrap();
    let server = t.reactor.add_udp(udp).unwrap();
    let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    client.set_nonblocking(true).unwrap();
    for i in 0..20u8 {
        client.send_to(&[i], server).unwrap();
    }
    let replies = |client: &std::net::UdpSocket| {
        let mut got = Vec::new();
        let mut buf = [0u8; 16];
        while let Ok((n, _)) = client.recv_from(&mut buf) {
            got.extend_from_slice(&buf[..n]);
        }
        got
    };
    // The socket is reported readable on every turn, and the datagrams
    // left over from a turn are served again: still 8 a turn, in order.
    for turn in 0..3u8 {
        t.turn();
        let want: Vec<u8> = (turn * 8..(turn * 8 + 8).min(20)).collect();
        assert_eq!(replies(&client), want, "turn {turn}");
    }
}

/// Pauses reading for 10 ms after every input, as a rate limit does.
struct Pauser;

impl Service for Pauser {
    type Listener = ();

    fn output_limits(&self) -> switchboard_proto::OutputLimits {
        EchoService::default().output_limits()
    }

    fn handle_data(
        &mut self,
        conn: switchboard_proto::ConnId,
        _data: &[u8],
        io: &mut impl switchboard_proto::Io,
    ) {
        let until = io.now() + Duration::from_millis(10);
        io.pause_reading_until(conn, until);
    }
}

#[test]
fn the_timer_queue_stays_bounded_by_the_connections() {
    // With an idle timeout, each pause arms an earlier deadline and leaves
    // the idle one behind, superseded; an hour's worth of them must not
    // pile up.
    let config = Config {
        idle_timeout: Some(Duration::from_secs(3600)),
        ..Config::default()
    };
    let mut t = Turns::start(Pauser, config);
    let mut c = t.connect();
    for _ in 0..1000 {
        c.write_all(b"x").unwrap();
        t.turn();
        t.clock.advance(Duration::from_millis(11));
        t.turn();
    }
    let entries = t.reactor.timer_entries();
    assert!(
        entries <= 2 + 64 + 1,
        "{entries} timer entries for one connection"
    );
}

/// Says "tick" to every connection each second, from the service's own
/// timer.
#[derive(Default)]
struct Ticker {
    conns: Vec<switchboard_proto::ConnId>,
}

impl Service for Ticker {
    type Listener = ();

    fn output_limits(&self) -> switchboard_proto::OutputLimits {
        EchoService::default().output_limits()
    }

    fn handle_connect(
        &mut self,
        conn: switchboard_proto::ConnId,
        _peer: SocketAddr,
        _listener: (),
        io: &mut impl switchboard_proto::Io,
    ) {
        self.conns.push(conn);
        io.set_service_timer(io.now() + Duration::from_secs(1));
    }

    fn handle_data(
        &mut self,
        _conn: switchboard_proto::ConnId,
        _data: &[u8],
        _io: &mut impl switchboard_proto::Io,
    ) {
    }

    fn handle_service_timer(&mut self, io: &mut impl switchboard_proto::Io) {
        for &conn in &self.conns {
            io.send(conn, b"tick");
        }
        io.set_service_timer(io.now() + Duration::from_secs(1));
    }
}

#[test]
fn the_service_timer_fires_when_due_and_once() {
    let mut t = Turns::start(Ticker::default(), Config::default());
    let mut c = t.connect();
    t.clock.advance(Duration::from_millis(999));
    t.turn();
    assert_eq!(read_now(&mut c).0, b"", "not due yet");
    t.clock.advance(Duration::from_millis(1));
    t.turn();
    t.turn();
    assert_eq!(read_now(&mut c).0, b"tick", "due: fired once");
    t.clock.advance(Duration::from_secs(1));
    t.turn();
    assert_eq!(read_now(&mut c).0, b"tick", "re-armed by the service");
}
