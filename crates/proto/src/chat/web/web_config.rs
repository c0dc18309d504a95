//! The web front-end's settings.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The web front-end's settings.
#[derive(Clone, Debug, Default)]
pub struct WebConfig {
    /// Origins (`scheme://host[:port]`) whose pages may open a WebSocket;
    /// `*` allows any. Empty: only the page's own origin, the `Host` the
    /// request was sent to. Requests without an `Origin` (clients that are
    /// not browsers) are always allowed: the check is there so that
    /// another site cannot use a visitor's browser to join the chat.
    pub origins: Vec<String>,
}

/// Why a WebSocket upgrade from a browser was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OriginRefusal {
    /// Its page's origin is neither the page's own nor listed.
    NotAllowed,
    /// It came from this machine or a private network, for a page reached
    /// by a public name: by default such a page may be another site's, its
    /// name pointed at this server's address (DNS rebinding).
    UnvouchedHost {
        /// The `Host` header.
        host: String,
        /// The `Origin` header.
        origin: String,
    },
}

impl fmt::Display for OriginRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginRefusal::NotAllowed => write!(f, "this origin may not open a socket here"),
            OriginRefusal::UnvouchedHost { host, origin } => write!(
                f,
                "a page reached as {host} from this machine or a private network may be \
                 another site's (DNS rebinding); to serve it, start switchboard with \
                 --web-origin {origin}"
            ),
        }
    }
}

impl WebConfig {
    /// Whether a WebSocket upgrade from `origin`, sent to `host` by a
    /// client at `peer`, is allowed.
    ///
    /// By default the page's own origin is. But a site whose name its
    /// owner points at 127.0.0.1 (or at a private address) is, to the
    /// browser, the page's own origin too: so from this machine or a
    /// private network (where that trick reaches a server that thinks
    /// itself private) the default holds only for names no other site can
    /// take: addresses, `localhost`, and names of no public domain. A
    /// reverse proxy passing a public name lists it with `--web-origin`.
    pub fn check_origin(
        &self,
        origin: Option<&str>,
        host: Option<&str>,
        peer: IpAddr,
    ) -> Result<(), OriginRefusal> {
        let Some(origin) = origin else {
            return Ok(());
        };
        let origin = origin.trim_end_matches('/');
        if !self.origins.is_empty() {
            let listed = (self.origins.iter())
                .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin));
            return listed.then_some(()).ok_or(OriginRefusal::NotAllowed);
        }
        let Some(host) = host else {
            return Err(OriginRefusal::NotAllowed);
        };
        let same = |scheme: &str| {
            origin
                .strip_prefix(scheme)
                .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
        };
        if !(same("http://") || same("https://")) {
            return Err(OriginRefusal::NotAllowed);
        }
        if is_private(peer) && !is_local_name(host) {
            return Err(OriginRefusal::UnvouchedHost {
                host: host.to_string(),
                origin: origin.to_string(),
            });
        }
        Ok(())
    }
}

/// Whether `ip` is this machine or on a private network: loopback,
/// RFC 1918, link-local, unique local (IPv4-mapped IPv6 included).
fn is_private(ip: IpAddr) -> bool {
    let v4 = |v4: Ipv4Addr| v4.is_loopback() || v4.is_private() || v4.is_link_local();
    match ip {
        IpAddr::V4(ip) => v4(ip),
        IpAddr::V6(ip) => {
            let first = ip.segments()[0];
            ip.is_loopback()
                || first & 0xfe00 == 0xfc00 // unique local, fc00::/7
                || first & 0xffc0 == 0xfe80 // link-local, fe80::/10
                || ip.to_ipv4_mapped().is_some_and(v4)
        }
    }
}

/// Special-use names no public site can have: this machine's (RFC 6761),
/// multicast DNS (RFC 6762), home networks' (RFC 8375, and the `.lan`
/// of home routers, no public domain), private ones (ICANN's `.internal`).
const LOCAL_SUFFIXES: [&str; 5] = [".localhost", ".local", ".home.arpa", ".lan", ".internal"];

/// Whether `host` (a `Host` header: name or address, then maybe a port)
/// is one no other site can have: an address, `localhost`, a name of one
/// label (found in the local search domain) or under a special-use
/// suffix.
fn is_local_name(host: &str) -> bool {
    if let Some(rest) = host.strip_prefix('[') {
        return rest
            .split_once(']')
            .is_some_and(|(ip, _)| ip.parse::<Ipv6Addr>().is_ok());
    }
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    };
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name.parse::<Ipv4Addr>().is_ok()
        || !name.contains('.')
        || LOCAL_SUFFIXES.iter().any(|suffix| name.ends_with(suffix))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
    const LAN: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 10));
    const REMOTE: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));

    fn allows(c: &WebConfig, origin: Option<&str>, host: Option<&str>, peer: IpAddr) -> bool {
        c.check_origin(origin, host, peer).is_ok()
    }

    #[test]
    fn the_default_allows_the_pages_own_origin_only() {
        let c = WebConfig::default();
        let host = Some("127.0.0.1:8080");
        assert!(allows(&c, Some("http://127.0.0.1:8080"), host, LOOPBACK));
        assert!(allows(
            &c,
            Some("https://Chat.example"),
            Some("chat.example"),
            REMOTE
        ));
        assert!(!allows(&c, Some("http://evil.example"), host, LOOPBACK));
        assert!(!allows(&c, Some("http://127.0.0.1:8081"), host, LOOPBACK));
        assert!(!allows(&c, Some("null"), host, LOOPBACK));
        assert!(allows(&c, None, None, LOOPBACK), "not a browser");
    }

    #[test]
    fn from_private_peers_the_default_holds_for_local_names_only() {
        let c = WebConfig::default();
        for host in [
            "localhost:8080",
            "LocalHost",
            "chat.localhost:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.0.0.5:8080",
            "myhost:8080",
            "printer.local",
            "chat.home.arpa:8080",
            "chat.lan",
            "chat.corp.internal",
        ] {
            let origin = format!("http://{host}");
            for peer in [LOOPBACK, LAN] {
                assert!(allows(&c, Some(&origin), Some(host), peer), "{host} {peer}");
            }
        }
        // A site whose name now points at 127.0.0.1: the browser calls it
        // the page's own origin.
        let rebound = c.check_origin(
            Some("http://evil.example:8080"),
            Some("evil.example:8080"),
            LOOPBACK,
        );
        let refusal = rebound.unwrap_err();
        let unvouched = OriginRefusal::UnvouchedHost {
            host: "evil.example:8080".into(),
            origin: "http://evil.example:8080".into(),
        };
        assert_eq!(refusal, unvouched);
        assert!(refusal
            .to_string()
            .contains("--web-origin http://evil.example:8080"));
        // Pointed at the machine's own LAN address, reached through a
        // container's bridge, or at a neighbour's: the same.
        for peer in [
            LAN,
            IpAddr::V4(Ipv4Addr::new(172, 17, 0, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            IpAddr::V4(Ipv4Addr::new(169, 254, 0, 9)),
            "fd00::1".parse().unwrap(),
            "fe80::1".parse().unwrap(),
            IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        ] {
            let host = Some("localhost.evil.example");
            let origin = Some("http://localhost.evil.example");
            assert!(!allows(&c, origin, host, peer), "{peer}");
        }
        // Behind a TLS proxy, the advice names the origin as it is.
        let https = c.check_origin(Some("https://chat.example"), Some("chat.example"), LOOPBACK);
        let advice = https.unwrap_err().to_string();
        assert!(
            advice.contains("--web-origin https://chat.example"),
            "{advice}"
        );
        // From elsewhere, a name is what a public server is reached by.
        assert!(allows(
            &c,
            Some("http://evil.example"),
            Some("evil.example"),
            REMOTE
        ));
    }

    #[test]
    fn a_list_replaces_the_default() {
        let c = WebConfig {
            origins: vec!["https://chat.example/".to_string()],
        };
        let host = Some("chat.example");
        assert!(
            allows(&c, Some("https://chat.example"), host, LOOPBACK),
            "a proxy"
        );
        let own = Some("10.0.0.1:8080");
        assert!(!allows(&c, Some("http://10.0.0.1:8080"), own, REMOTE));
        let any = WebConfig {
            origins: vec!["*".to_string()],
        };
        assert!(allows(
            &any,
            Some("http://evil.example"),
            Some("x"),
            LOOPBACK
        ));
    }
}
