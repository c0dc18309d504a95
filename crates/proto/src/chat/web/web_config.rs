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
    /// It came over loopback for a page reached by a name other than
    /// `localhost`: by default such a page may be another site's, its name
    /// pointed at 127.0.0.1 (DNS rebinding). The `Host` it asked for.
    UnvouchedHost(String),
}

impl fmt::Display for OriginRefusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OriginRefusal::NotAllowed => write!(f, "this origin may not open a socket here"),
            OriginRefusal::UnvouchedHost(host) => write!(
                f,
                "a page reached as {host} over loopback may be another site's \
                 (DNS rebinding); to serve it, start switchboard with --web-origin http://{host}"
            ),
        }
    }
}

impl WebConfig {
    /// Whether a WebSocket upgrade from `origin`, sent to `host` by a
    /// client at `peer`, is allowed.
    ///
    /// By default the page's own origin is. But a site whose name its
    /// owner points at 127.0.0.1 is, to the browser, the page's own origin
    /// too: so over loopback (where that trick reaches a server that
    /// thinks itself private) the default holds only for `localhost` and
    /// addresses, names no other site can take. A reverse proxy on the
    /// same machine passing a public name lists it with `--web-origin`.
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
        if is_loopback(peer) && !is_local_name(host) {
            return Err(OriginRefusal::UnvouchedHost(host.to_string()));
        }
        Ok(())
    }
}

/// Whether `ip` is this machine (IPv4-mapped IPv6 included).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Whether `host` (a `Host` header: name or address, then maybe a port)
/// is one no other site can have: an address, `localhost` or a name under
/// it (RFC 6761 keeps those for this machine).
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
    name.parse::<Ipv4Addr>().is_ok() || name == "localhost" || name.ends_with(".localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
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
    fn over_loopback_the_default_holds_for_local_names_only() {
        let c = WebConfig::default();
        for host in [
            "localhost:8080",
            "LocalHost",
            "chat.localhost:8080",
            "127.0.0.1",
            "[::1]:8080",
            "10.0.0.5:8080",
        ] {
            let origin = format!("http://{host}");
            assert!(allows(&c, Some(&origin), Some(host), LOOPBACK), "{host}");
        }
        // A site whose name now points at 127.0.0.1: the browser calls it
        // the page's own origin.
        let rebound = c.check_origin(
            Some("http://evil.example:8080"),
            Some("evil.example:8080"),
            LOOPBACK,
        );
        let refusal = rebound.unwrap_err();
        assert_eq!(
            refusal,
            OriginRefusal::UnvouchedHost("evil.example:8080".into())
        );
        assert!(refusal
            .to_string()
            .contains("--web-origin http://evil.example:8080"));
        let mapped = IpAddr::V6(Ipv4Addr::LOCALHOST.to_ipv6_mapped());
        let host = Some("localhost.evil.example");
        assert!(!allows(
            &c,
            Some("http://localhost.evil.example"),
            host,
            mapped
        ));
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
