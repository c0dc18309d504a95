use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// The listen backlog: the `listen(5)` of small examples refuses bursts of
/// clients.
pub const BACKLOG: i32 = 1024;

fn socket_for(
    addr: SocketAddr,
    ty: Type,
    protocol: Protocol,
    reuse_port: bool,
) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
    // Several sockets on one port, one per reactor: the kernel spreads
    // connections (and datagrams) over them by a hash of the peer's
    // address. Only sockets of the same user can join such a group.
    if reuse_port {
        socket.set_reuse_port(true)?;
    }
    // For TCP, SO_REUSEADDR only lets a restarted server bind over its old
    // connections' TIME_WAIT. For UDP it would let another socket (another
    // user's, too) bind the same port and take our datagrams, and hide a
    // port already taken: never.
    if ty == Type::STREAM {
        socket.set_reuse_address(true)?;
    }
    if addr.is_ipv6() {
        // Lets `[::]:P` and `0.0.0.0:P` be listed side by side.
        socket.set_only_v6(true)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    Ok(socket)
}

/// Binds a non-blocking TCP listener with `SO_REUSEADDR` and a backlog of
/// [`BACKLOG`].
pub fn bind_tcp(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP, false)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds a non-blocking UDP socket, exclusively (no `SO_REUSEADDR`).
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    Ok(socket_for(addr, Type::DGRAM, Protocol::UDP, false)?.into())
}

/// `n` TCP listeners on one address (as [`bind_tcp`]), one per reactor,
/// sharing its port with `SO_REUSEPORT`; port 0 is resolved once, so all
/// of them have the same one. With `n` of 1, exactly [`bind_tcp`].
pub fn bind_tcp_group(addr: SocketAddr, n: usize) -> io::Result<Vec<TcpListener>> {
    bind_group(addr, n, bind_tcp, |addr| {
        let socket = socket_for(addr, Type::STREAM, Protocol::TCP, true)?;
        socket.listen(BACKLOG)?;
        Ok(socket.into())
    })
}

/// `n` UDP sockets on one address, as [`bind_tcp_group`] does for TCP.
pub fn bind_udp_group(addr: SocketAddr, n: usize) -> io::Result<Vec<UdpSocket>> {
    bind_group(addr, n, bind_udp, |addr| {
        Ok(socket_for(addr, Type::DGRAM, Protocol::UDP, true)?.into())
    })
}

/// Binds `n` sockets sharing `addr` with `bind_shared`. First, the port is
/// taken alone with `bind_alone` and let go: a port that another process
/// holds, even in a group of its own, is refused as in use (two servers
/// started on one port must not quietly share its clients), and port 0
/// becomes one port for the whole group.
fn bind_group<T: std::os::fd::AsFd>(
    addr: SocketAddr,
    n: usize,
    bind_alone: impl Fn(SocketAddr) -> io::Result<T>,
    bind_shared: impl Fn(SocketAddr) -> io::Result<T>,
) -> io::Result<Vec<T>> {
    let probe = bind_alone(addr)?;
    if n <= 1 {
        return Ok(vec![probe]);
    }
    let addr = socket2::SockRef::from(&probe)
        .local_addr()?
        .as_socket()
        .expect("an IP socket");
    drop(probe);
    (0..n).map(|_| bind_shared(addr)).collect()
}

/// Whether an `accept` error means the process or system is out of
/// descriptors or memory: retrying at once would spin, so back off.
pub(crate) fn is_resource_exhaustion(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

/// Whether an `accept` error concerns only the one connection being
/// accepted (it went away first): skip it and keep accepting.
pub(crate) fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.raw_os_error(),
        Some(libc::ECONNABORTED | libc::EPROTO | libc::EPERM | libc::ECONNRESET)
    )
}
