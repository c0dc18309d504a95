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

/// The page and what it loads, by request path.
const ASSETS: &[(&str, Asset)] = &[
    (
        "/",
        Asset {
            content_type: "text/html; charset=utf-8",
            body: include_bytes!("assets/index.html"),
        },
    ),
    (
        "/app.js",
        Asset {
            content_type: "text/javascript; charset=utf-8",
            body: include_bytes!("assets/app.js"),
        },
    ),
    (
        "/app.css",
        Asset {
            content_type: "text/css; charset=utf-8",
            body: include_bytes!("assets/app.css"),
        },
    ),
    (
        "/favicon.svg",
        Asset {
            content_type: "image/svg+xml",
            body: include_bytes!("assets/favicon.svg"),
        },
    ),
];

/// The asset at `path` (the query string, if any, already removed).
pub(crate) fn asset(path: &str) -> Option<Asset> {
    let path = if path == "/index.html" { "/" } else { path };
    ASSETS.iter().find(|(p, _)| *p == path).map(|(_, a)| *a)
}
