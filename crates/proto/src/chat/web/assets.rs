//! The chat page, embedded in the binary at build time: no files to
//! install, no CDN, no build step.

/// A file the web front-end serves.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Asset {
    /// Its `Content-Type`.
    pub content_type: &'static str,
    /// Its bytes.
    pub body: &'static [u8],
}

/// The page and what it loads, by request path: (path, type, bytes).
const ASSETS: &[(&str, &str, &[u8])] = &[
    (
        "/",
        "text/html; charset=utf-8",
        include_bytes!("assets/index.html"),
    ),
    (
        "/app.js",
        "text/javascript; charset=utf-8",
        include_bytes!("assets/app.js"),
    ),
    (
        "/app.css",
        "text/css; charset=utf-8",
        include_bytes!("assets/app.css"),
    ),
    (
        "/favicon.svg",
        "image/svg+xml",
        include_bytes!("assets/favicon.svg"),
    ),
];

/// The asset at `path` (the query string, if any, already removed).
pub(crate) fn asset(path: &str) -> Option<Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    let (_, content_type, body) = ASSETS.iter().find(|(p, ..)| *p == path)?;
    Some(Asset { content_type, body })
}
