//! The pages and browser SDK served from the binary (`web/`), so the demos work offline.

/// One embedded file.
struct Asset {
    path: &'static str,
    body: &'static str,
    content_type: &'static str,
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";

const ASSETS: &[Asset] = &[
    Asset {
        path: "/",
        body: include_str!("../../../web/index.html"),
        content_type: HTML,
    },
    Asset {
        path: "/call",
        body: include_str!("../../../web/call.html"),
        content_type: HTML,
    },
    Asset {
        path: "/files",
        body: include_str!("../../../web/files.html"),
        content_type: HTML,
    },
    Asset {
        path: "/sdk/switchboard.js",
        body: include_str!("../../../web/switchboard.js"),
        content_type: JS,
    },
    Asset {
        path: "/sdk/rtc.js",
        body: include_str!("../../../web/rtc.js"),
        content_type: JS,
    },
];

/// The embedded file at `path`: its body and content type.
pub(crate) fn asset(path: &str) -> Option<(&'static str, &'static str)> {
    ASSETS
        .iter()
        .find(|a| a.path == path)
        .map(|a| (a.body, a.content_type))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_and_modules_are_embedded() {
        for path in ["/", "/call", "/files", "/sdk/switchboard.js", "/sdk/rtc.js"] {
            let (body, content_type) = asset(path).unwrap_or(("", ""));
            assert!(!body.is_empty(), "{path}");
            assert!(content_type.starts_with("text/"), "{path}");
        }
        assert!(asset("/sdk/missing.js").is_none());
        assert!(asset("/call").is_some_and(|(b, _)| b.contains("/sdk/rtc.js")));
    }
}
