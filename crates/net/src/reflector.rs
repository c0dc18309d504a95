//! Which datagrams a UDP service must never answer: those that claim to
//! come from one of our own sockets, or from a port whose service answers
//! everything (echo, chargen...). A forged one would start two echoes
//! answering each other forever (the echo-chargen loop, CVE-1999-0103).

use std::net::SocketAddr;

/// Ports of the classic services that answer any datagram: echo, daytime,
/// qotd, chargen, time; and 0, which no real peer sends from.
const REFLECTOR_PORTS: [u16; 6] = [0, 7, 13, 17, 19, 37];

/// Whether a datagram from `peer` must go unanswered, given the addresses
/// of our own UDP sockets.
pub(crate) fn is_reflector(peer: SocketAddr, ours: &[SocketAddr]) -> bool {
    REFLECTOR_PORTS.contains(&peer.port())
        || ours.iter().any(|own| {
            own.port() == peer.port()
                && (own.ip() == peer.ip() || own.ip().is_unspecified() || peer.ip().is_loopback())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn own_sockets_and_reflector_ports_are_not_answered() {
        let ours = [addr("127.0.0.1:10000"), addr("0.0.0.0:10001")];
        assert!(is_reflector(addr("127.0.0.1:10000"), &ours), "itself");
        assert!(
            is_reflector(addr("127.0.0.2:10000"), &ours),
            "itself, another loopback"
        );
        assert!(
            is_reflector(addr("192.0.2.7:10001"), &ours),
            "a wildcard socket's port"
        );
        assert!(is_reflector(addr("192.0.2.7:19"), &ours), "chargen");
        assert!(is_reflector(addr("192.0.2.7:7"), &ours), "echo");
        assert!(!is_reflector(addr("127.0.0.1:40000"), &ours));
        assert!(
            !is_reflector(addr("192.0.2.7:10000"), &ours),
            "a remote port 10000"
        );
    }
}
