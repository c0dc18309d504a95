//! The web front-end's settings.

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

impl WebConfig {
    /// Whether a WebSocket upgrade from `origin`, sent to `host`, is
    /// allowed.
    pub fn allows_origin(&self, origin: Option<&str>, host: Option<&str>) -> bool {
        let Some(origin) = origin else {
            return true;
        };
        let origin = origin.trim_end_matches('/');
        if self.origins.is_empty() {
            let Some(host) = host else {
                return false;
            };
            let same = |scheme: &str| {
                origin
                    .strip_prefix(scheme)
                    .is_some_and(|rest| rest.eq_ignore_ascii_case(host))
            };
            return same("http://") || same("https://");
        }
        (self.origins.iter())
            .any(|o| o == "*" || o.trim_end_matches('/').eq_ignore_ascii_case(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_allows_the_pages_own_origin_only() {
        let c = WebConfig::default();
        assert!(c.allows_origin(Some("http://127.0.0.1:8080"), Some("127.0.0.1:8080")));
        assert!(c.allows_origin(Some("https://Chat.example"), Some("chat.example")));
        assert!(!c.allows_origin(Some("http://evil.example"), Some("127.0.0.1:8080")));
        assert!(!c.allows_origin(Some("http://127.0.0.1:8081"), Some("127.0.0.1:8080")));
        assert!(!c.allows_origin(Some("null"), Some("127.0.0.1:8080")));
        assert!(c.allows_origin(None, None), "not a browser");
    }

    #[test]
    fn a_list_replaces_the_default() {
        let c = WebConfig {
            origins: vec!["https://chat.example/".to_string()],
        };
        assert!(c.allows_origin(Some("https://chat.example"), Some("10.0.0.1:8080")));
        assert!(!c.allows_origin(Some("http://10.0.0.1:8080"), Some("10.0.0.1:8080")));
        let any = WebConfig {
            origins: vec!["*".to_string()],
        };
        assert!(any.allows_origin(Some("http://evil.example"), Some("x")));
    }
}
