//! The server's address as the application gives it (`http://host:3000/admin`) and the
//! Engine.IO WebSocket URL made from it.

use std::fmt::Write as _;

/// Why a URL was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlError(String);

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UrlError {}

/// A parsed server URL: `http`, `https`, `ws` or `wss`, an authority, and a path that names
/// a namespace (as `io("http://host/admin")` does in Node).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ServerUrl {
    pub(crate) secure: bool,
    /// `host[:port]`, as given.
    pub(crate) authority: String,
    /// The namespace the path names (`/` when there is none).
    pub(crate) namespace: String,
    /// The query given with the URL, if any (sent with every connection).
    pub(crate) query: Option<String>,
}

impl ServerUrl {
    pub(crate) fn parse(url: &str) -> Result<Self, UrlError> {
        let bad = |why: &str| UrlError(format!("bad Socket.IO URL {url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("no scheme (http, https, ws or wss)"))?;
        let secure = match scheme.to_ascii_lowercase().as_str() {
            "http" | "ws" => false,
            "https" | "wss" => true,
            _ => return Err(bad("the scheme must be http, https, ws or wss")),
        };
        let rest = rest.split('#').next().unwrap_or_default();
        let (before_query, query) = match rest.split_once('?') {
            Some((before, query)) => (before, Some(query.to_owned()).filter(|q| !q.is_empty())),
            None => (rest, None),
        };
        let (authority, path) = match before_query.find('/') {
            Some(i) => before_query.split_at(i),
            None => (before_query, "/"),
        };
        if authority.is_empty() {
            return Err(bad("no host"));
        }
        if authority.contains('@') {
            return Err(bad("user info is not supported"));
        }
        let namespace = match path.trim_end_matches('/') {
            "" => "/".to_owned(),
            trimmed => trimmed.to_owned(),
        };
        Ok(Self {
            secure,
            authority: authority.to_owned(),
            namespace,
            query,
        })
    }

    /// The URL of an Engine.IO 4 connection over `transport` (`polling` or `websocket`) at
    /// `path` (`/socket.io/`), with the URL's own query and then `query`'s pairs. It is
    /// written `ws://` or `wss://` whatever the transport: that is the form
    /// [`WsUrl`](switchboard_ws_tokio::WsUrl) parses, and only its host, port, security and
    /// target matter for polling.
    pub(crate) fn engine_url(
        &self,
        path: &str,
        query: &[(String, String)],
        transport: &str,
    ) -> String {
        let scheme = if self.secure { "wss" } else { "ws" };
        let mut url = format!("{scheme}://{}", self.authority);
        if !path.starts_with('/') {
            url.push('/');
        }
        url.push_str(path);
        if !path.ends_with('/') {
            url.push('/');
        }
        url.push_str("?EIO=4&transport=");
        url.push_str(transport);
        if let Some(own) = &self.query {
            url.push('&');
            url.push_str(own);
        }
        for (key, value) in query {
            url.push('&');
            percent_encode(&mut url, key);
            url.push('=');
            percent_encode(&mut url, value);
        }
        url
    }
}

/// Appends `text` with everything but RFC 3986's unreserved characters percent-encoded.
fn percent_encode(out: &mut String, text: &str) {
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            let _ = write!(out, "%{byte:02X}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_names_the_namespace_and_the_query_goes_along() {
        let url = ServerUrl::parse("https://example.com:8443/admin/?room=1#x").unwrap();
        assert!(url.secure);
        assert_eq!(url.authority, "example.com:8443");
        assert_eq!(url.namespace, "/admin");
        assert_eq!(url.query.as_deref(), Some("room=1"));
        assert_eq!(
            url.engine_url("/socket.io/", &[("token".into(), "a b&c=ü".into())], "websocket"),
            "wss://example.com:8443/socket.io/?EIO=4&transport=websocket&room=1&token=a%20b%26c%3D%C3%BC"
        );
    }

    #[test]
    fn no_path_is_the_main_namespace_and_a_custom_path_is_used_as_given() {
        let url = ServerUrl::parse("ws://127.0.0.1:3000").unwrap();
        assert!(!url.secure);
        assert_eq!(url.namespace, "/");
        assert_eq!(
            url.engine_url("/realtime", &[], "polling"),
            "ws://127.0.0.1:3000/realtime/?EIO=4&transport=polling"
        );
        assert_eq!(
            ServerUrl::parse("http://[::1]:80/").unwrap().authority,
            "[::1]:80"
        );
    }

    #[test]
    fn other_schemes_no_host_and_user_info_are_refused() {
        for bad in [
            "ftp://x",
            "x",
            "http://",
            "http:///nsp",
            "http://user@host/",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }
}
