//! Opening many load connections at once: non-blocking connects, a bounded
//! number in progress, and more source addresses when one runs out of ports.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};
use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// Descriptors the tool needs besides its connections (poller, stdio, ...).
const SPARE_FDS: u64 = 32;

/// Source addresses a stream of short-lived connections takes in turn
/// ([`Connector::start_spread`]).
const SPREAD: usize = 64;

/// Where connections come from and how many one source address can make.
#[derive(Clone, Debug)]
pub struct Connector {
    /// Where connections go, in turn: the i-th of those that go here, to
    /// `targets[i % len]` (several server threads or cluster nodes).
    targets: Vec<SocketAddr>,
    /// Connections that go to other addresses instead, in turn as above:
    /// `(addrs, k, n)`, k of every n, spread evenly (see
    /// [`Connector::goes_elsewhere`]).
    elsewhere: Option<(Vec<SocketAddr>, usize, usize)>,
    /// Connections per source address before the next one is used.
    per_source: usize,
    /// Connects in progress at once (see `--connect-window`).
    window: usize,
}

impl Connector {
    /// A connector for `targets` (at least one), taken in turn. Connection
    /// `n` uses the default source address while `n < per_source`; beyond
    /// that, on IPv4 loopback, it is bound to 127.0.0.2, 127.0.0.3, ...
    /// (every 127/8 address is local). `per_source` defaults to the size of
    /// the ephemeral port range. At most `window` connects are in progress
    /// at once.
    pub fn new(targets: &[SocketAddr], per_source: Option<usize>, window: usize) -> Self {
        assert!(!targets.is_empty(), "a connector needs a target");
        Connector {
            targets: targets.to_vec(),
            elsewhere: None,
            per_source: per_source.unwrap_or_else(ephemeral_ports).max(1),
            window: window.max(1),
        }
    }

    /// Sends `k` of the `n` connections to `addrs` (at least one, taken in
    /// turn) instead, spread evenly (with k = n/2, every other one).
    pub fn with_share(mut self, addrs: &[SocketAddr], k: usize, n: usize) -> Self {
        assert!(!addrs.is_empty(), "a share needs an address");
        self.elsewhere = Some((addrs.to_vec(), k.min(n), n.max(1)));
        self
    }

    /// Whether connection `i` goes to the other addresses of
    /// [`Connector::with_share`].
    pub fn goes_elsewhere(&self, i: usize) -> bool {
        (self.elsewhere.as_ref()).is_some_and(|(_, k, n)| (i + 1) * k / n > i * k / n)
    }

    /// Where connection `i` goes: round robin among the connections of
    /// its kind (of those before `i`, `i * k / n` went elsewhere).
    pub fn target_of(&self, i: usize) -> SocketAddr {
        let before = (self.elsewhere.as_ref()).map_or(0, |(_, k, n)| i * k / n);
        match &self.elsewhere {
            Some((addrs, ..)) if self.goes_elsewhere(i) => addrs[before % addrs.len()],
            _ => self.targets[(i - before) % self.targets.len()],
        }
    }

    /// The source address for connection `n` (`None`: the kernel's choice).
    pub fn source(&self, n: usize) -> Result<Option<IpAddr>> {
        let k = n / self.per_source;
        if k == 0 {
            return Ok(None);
        }
        match self.target_of(n).ip() {
            IpAddr::V4(ip) if ip.is_loopback() && k < 253 => {
                Ok(Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + k as u8))))
            }
            _ => bail!(
                "connection {n} needs a second source address ({} per address), which is \
                 only available for IPv4 loopback targets (127.0.0.x), up to 127.0.0.254",
                self.per_source
            ),
        }
    }

    /// Starts a non-blocking connect for connection `n`.
    fn start(&self, n: usize) -> Result<TcpStream> {
        self.start_from(n, self.source(n)?)
    }

    /// Starts connection `n` of a stream of short-lived ones, which the
    /// tool closes itself and so leaves in TIME_WAIT for a minute. On IPv4
    /// loopback they come from 127.0.0.1 to 127.0.0.[`SPREAD`] in turn:
    /// from one address, the kernel's search for a free port would soon
    /// cost more than the connection (and stall when none is free).
    pub(super) fn start_spread(&self, n: usize) -> Result<TcpStream> {
        let source = match self.target_of(n).ip() {
            IpAddr::V4(ip) if ip.is_loopback() => {
                Some(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (n % SPREAD) as u8)))
            }
            _ => None,
        };
        self.start_from(n, source)
    }

    /// Starts a non-blocking connect for connection `n` from `source` (the
    /// kernel's choice when `None`).
    fn start_from(&self, n: usize, source: Option<IpAddr>) -> Result<TcpStream> {
        let target = self.target_of(n);
        let socket = Socket::new(
            Domain::for_address(target),
            Type::STREAM,
            Some(Protocol::TCP),
        )?;
        socket.set_nonblocking(true)?;
        socket.set_tcp_nodelay(true)?;
        if let Some(ip) = source {
            // Pick the port at connect time, per destination: otherwise
            // bind() would need a port unique across all destinations.
            set_bind_address_no_port(&socket)?;
            socket
                .bind(&SockAddr::from(SocketAddr::new(ip, 0)))
                .with_context(|| format!("binding connection {n} to {ip}"))?;
        }
        match socket.connect(&target.into()) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(TcpStream::from_std(socket.into()))
    }

    /// Opens `count` connections, registered with `poll` as `Token(i)` for
    /// `interest`, with TCP_NODELAY set. Fails if any cannot be made within
    /// `timeout`, with the reason.
    pub fn connect_all(
        &self,
        poll: &mut Poll,
        count: usize,
        interest: Interest,
        timeout: Duration,
    ) -> Result<Vec<TcpStream>> {
        check_fd_limit(count)?;
        let deadline = Instant::now() + timeout;
        let mut streams: Vec<TcpStream> = Vec::with_capacity(count);
        let mut connected = vec![false; count];
        let (mut started, mut done) = (0, 0);
        let mut events = Events::with_capacity(1024);
        while done < count {
            while started < count && started - done < self.window {
                let mut stream = self.start(started).map_err(|e| explain(e, started))?;
                poll.registry()
                    .register(&mut stream, Token(started), Interest::WRITABLE)?;
                streams.push(stream);
                started += 1;
            }
            let now = Instant::now();
            if now >= deadline {
                let missing = connected.iter().position(|c| !c).unwrap_or(0);
                bail!(
                    "only {done} of {count} connections were made within {timeout:?} \
                     (the first missing: connection {missing}, to {})",
                    self.target_of(missing)
                );
            }
            super::wait(poll, &mut events, deadline - now)?;
            for event in &events {
                let i = event.token().0;
                if connected[i] {
                    continue;
                }
                let stream = &mut streams[i];
                if !is_connected(stream)
                    .with_context(|| format!("connection {i} to {} failed", self.target_of(i)))?
                {
                    continue; // spurious wake-up: still in progress
                }
                poll.registry().reregister(stream, Token(i), interest)?;
                connected[i] = true;
                done += 1;
            }
        }
        Ok(streams)
    }
}

/// Whether a non-blocking connect has completed, as mio documents it:
/// an error is reported by `take_error`, completion by `peer_addr`.
pub(super) fn is_connected(stream: &TcpStream) -> io::Result<bool> {
    if let Some(e) = stream.take_error()? {
        return Err(e);
    }
    match stream.peer_addr() {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(false),
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Raises the descriptor limit, then checks that `count` connections fit.
fn check_fd_limit(count: usize) -> Result<()> {
    let limit = switchboard_net::raise_fd_limit().unwrap_or(0);
    let need = count as u64 + SPARE_FDS;
    if limit != 0 && need > limit {
        bail!(
            "{count} connections need about {need} file descriptors, but this process may \
             open only {limit} (the hard limit); raise it (e.g. `ulimit -Hn {need}` as root, \
             or LimitNOFILE / limits.conf) or use fewer connections"
        );
    }
    Ok(())
}

/// Adds what a user can do about the usual connect failures.
pub(super) fn explain(e: anyhow::Error, n: usize) -> anyhow::Error {
    let os = e
        .downcast_ref::<io::Error>()
        .and_then(io::Error::raw_os_error);
    match os {
        Some(libc::EMFILE | libc::ENFILE) => e.context(format!(
            "connection {n}: out of file descriptors; raise the limit (ulimit -n) or use fewer connections"
        )),
        Some(libc::EADDRNOTAVAIL) => e.context(format!(
            "connection {n}: out of local ports for this source address"
        )),
        _ => e.context(format!("starting connection {n}")),
    }
}

const PORT_RANGE: &str = "/proc/sys/net/ipv4/ip_local_port_range";

/// The number of ephemeral ports (`net.ipv4.ip_local_port_range`), i.e.
/// connections one source address can make to one destination.
fn ephemeral_ports() -> usize {
    read_ephemeral_ports().unwrap_or(28_232) // Linux's default range, 32768-60999
}

/// The number of ports in [`PORT_RANGE`], if it can be read.
fn read_ephemeral_ports() -> Option<usize> {
    port_count(&std::fs::read_to_string(PORT_RANGE).ok()?)
}

/// The number of ports in a range written `LOW HIGH`.
fn port_count(range: &str) -> Option<usize> {
    let mut it = range.split_whitespace().map(|v| v.parse::<usize>().ok());
    let (lo, hi) = (it.next()??, it.next()??);
    hi.checked_sub(lo).map(|d| d + 1)
}

/// `IP_BIND_ADDRESS_NO_PORT` (Linux): socket2 does not wrap it.
fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    let on: libc::c_int = 1;
    // SAFETY: a valid socket and a pointer to an int of the given size.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_BIND_ADDRESS_NO_PORT,
            (&on as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(ports: &[u16]) -> Vec<SocketAddr> {
        (ports.iter())
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect()
    }

    #[test]
    fn a_share_of_connections_goes_elsewhere_evenly() {
        let other = addrs(&[7]);
        let half = Connector::new(&addrs(&[9]), None, 1).with_share(&other, 5, 10);
        let picked: Vec<usize> = (0..10).filter(|&i| half.goes_elsewhere(i)).collect();
        assert_eq!(picked, [1, 3, 5, 7, 9]);
        assert_eq!(half.target_of(1), other[0]);
        let none = Connector::new(&other, None, 1);
        assert!(!(0..10).any(|i| none.goes_elsewhere(i)));
        let all = none.with_share(&other, 10, 10);
        assert!((0..10).all(|i| all.goes_elsewhere(i)));
    }

    #[test]
    fn each_kind_of_connection_takes_its_addresses_in_turn() {
        let port = |c: &Connector, i| c.target_of(i).port();
        let plain = Connector::new(&addrs(&[1, 2, 3]), None, 1);
        let ports: Vec<u16> = (0..7).map(|i| port(&plain, i)).collect();
        assert_eq!(ports, [1, 2, 3, 1, 2, 3, 1]);
        // Every other one goes to 8 or 9: the others take 1 and 2 in turn.
        let mixed = Connector::new(&addrs(&[1, 2]), None, 1).with_share(&addrs(&[8, 9]), 4, 8);
        let ports: Vec<u16> = (0..8).map(|i| port(&mixed, i)).collect();
        assert_eq!(ports, [1, 8, 2, 9, 1, 8, 2, 9]);
    }

    #[test]
    fn short_lived_connections_take_source_addresses_in_turn() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let c = Connector::new(&[listener.local_addr().unwrap()], None, 1);
        for n in [0, 1, SPREAD + 2] {
            let stream = c.start_spread(n).unwrap();
            let (peer, _) = listener.accept().unwrap();
            let want: IpAddr = Ipv4Addr::new(127, 0, 0, 1 + (n % SPREAD) as u8).into();
            assert_eq!(peer.peer_addr().unwrap().ip(), want, "connection {n}");
            drop(stream);
        }
    }

    #[test]
    fn sources_spread_over_loopback_addresses() {
        let c = Connector::new(&addrs(&[9]), Some(2), 1);
        assert_eq!(c.source(0).unwrap(), None);
        assert_eq!(c.source(1).unwrap(), None);
        assert_eq!(c.source(2).unwrap(), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(c.source(5).unwrap(), Some("127.0.0.3".parse().unwrap()));
        let v6 = Connector::new(&["[::1]:9".parse().unwrap()], Some(2), 1);
        assert!(v6.source(2).is_err(), "no spreading beyond IPv4 loopback");
    }

    #[test]
    fn the_port_range_is_read() {
        // Against the file itself, through the reading path without the
        // fallback: on a machine with Linux's default range, the fallback
        // gives the same number.
        let text = std::fs::read_to_string(PORT_RANGE).expect("Linux has the port range");
        let (lo, hi) = text.trim().split_once('\t').expect("LOW<TAB>HIGH");
        let want = hi.parse::<usize>().unwrap() - lo.parse::<usize>().unwrap() + 1;
        assert_eq!(read_ephemeral_ports(), Some(want), "{text:?}");
        assert_eq!(ephemeral_ports(), want);
    }

    #[test]
    fn port_ranges_are_parsed() {
        assert_eq!(port_count("32768\t60999\n"), Some(28_232));
        assert_eq!(port_count("1024 65535"), Some(64_512));
        assert_eq!(port_count("5000 5000"), Some(1));
        assert_eq!(port_count("5001 5000"), None);
        assert_eq!(port_count("5000"), None);
        assert_eq!(port_count("low 5000"), None);
        assert_eq!(port_count(""), None);
    }
}
