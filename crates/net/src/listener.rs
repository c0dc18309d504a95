use std::io;
use std::net::{SocketAddr, TcpListener, UdpSocket};

use socket2::{Domain, Protocol, Socket, Type};

/// The listen backlog: the seed's `listen(5)` refuses bursts of clients.
pub const BACKLOG: i32 = 1024;

fn socket_for(addr: SocketAddr, ty: Type, protocol: Protocol) -> io::Result<Socket> {
    let socket = Socket::new(Domain::for_address(addr), ty, Some(protocol))?;
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
    let socket = socket_for(addr, Type::STREAM, Protocol::TCP)?;
    socket.listen(BACKLOG)?;
    Ok(socket.into())
}

/// Binds a non-blocking UDP socket, exclusively (no `SO_REUSEADDR`).
pub fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    Ok(socket_for(addr, Type::DGRAM, Protocol::UDP)?.into())
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
