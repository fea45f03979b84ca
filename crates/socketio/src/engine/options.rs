//! Engine.IO server options Node has beside the protocol's: the session cookie, the
//! `allowRequest` hook, and compression of polling responses (`httpCompression`).

use std::future::Future;
use std::io::Write;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;
use flate2::write::{GzEncoder, ZlibEncoder};
use http::{header, HeaderMap, HeaderValue};

use super::RequestInfo;

/// The session cookie set on handshake responses (Node's `cookie` option; off by default).
/// Its value is the Engine.IO session id, for sticky load balancing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CookieConfig {
    /// The cookie name (`io`).
    pub name: String,
    /// `Path` (`/`); `None` leaves it out.
    pub path: Option<String>,
    /// `HttpOnly` (on).
    pub http_only: bool,
    /// `SameSite` (`Lax`); `None` leaves it out.
    pub same_site: Option<SameSite>,
    /// `Secure` (off).
    pub secure: bool,
    /// `Domain`, if any.
    pub domain: Option<String>,
    /// `Max-Age` in seconds, if any.
    pub max_age: Option<u64>,
}

impl Default for CookieConfig {
    /// Node's defaults for `cookie: true`.
    fn default() -> Self {
        Self {
            name: "io".into(),
            path: Some("/".into()),
            http_only: true,
            same_site: Some(SameSite::Lax),
            secure: false,
            domain: None,
            max_age: None,
        }
    }
}

/// A cookie's `SameSite` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `Strict`.
    Strict,
    /// `Lax`.
    Lax,
    /// `None` (requires `Secure` in browsers).
    None,
}

impl CookieConfig {
    /// The `Set-Cookie` value for session `sid`, attributes in the order Node's `cookie`
    /// package writes them.
    pub fn header(&self, sid: &str) -> Option<HeaderValue> {
        let mut value = format!("{}={sid}", self.name);
        if let Some(age) = self.max_age {
            value.push_str(&format!("; Max-Age={age}"));
        }
        if let Some(domain) = &self.domain {
            value.push_str(&format!("; Domain={domain}"));
        }
        if let Some(path) = &self.path {
            value.push_str(&format!("; Path={path}"));
        }
        if self.http_only {
            value.push_str("; HttpOnly");
        }
        if self.secure {
            value.push_str("; Secure");
        }
        match self.same_site {
            Some(SameSite::Strict) => value.push_str("; SameSite=Strict"),
            Some(SameSite::Lax) => value.push_str("; SameSite=Lax"),
            Some(SameSite::None) => value.push_str("; SameSite=None"),
            None => {}
        }
        HeaderValue::from_str(&value).ok()
    }
}

type AllowFuture = Pin<Box<dyn Future<Output = Result<(), String>> + Send>>;

/// Decides whether a handshake may open a session (Node's `allowRequest`), before anything
/// is created. A refusal answers HTTP 403 `{"code":4,"message":…}` with its message.
#[derive(Clone)]
pub struct AllowRequest(Arc<dyn Fn(&RequestInfo) -> AllowFuture + Send + Sync>);

impl AllowRequest {
    /// A hook from an async closure; it gets the handshake request's headers and URI.
    pub fn new<F, Fut>(hook: F) -> Self
    where
        F: Fn(&RequestInfo) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        Self(Arc::new(move |info| Box::pin(hook(info))))
    }

    pub(crate) fn check(&self, info: &RequestInfo) -> AllowFuture {
        (self.0)(info)
    }
}

impl std::fmt::Debug for AllowRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AllowRequest(..)")
    }
}

/// Compression of polling responses (Node's `httpCompression`, on by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpCompression {
    /// Bodies shorter than this many bytes go uncompressed (1024).
    pub threshold: usize,
    /// zlib level, 0–9 (6).
    pub level: u32,
}

impl Default for HttpCompression {
    fn default() -> Self {
        Self {
            threshold: 1024,
            level: 6,
        }
    }
}

/// A `Content-Encoding` the server can write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Encoding {
    Gzip,
    Deflate,
}

impl Encoding {
    /// The one `Accept-Encoding` allows, gzip first (as Node's `accepts` picks).
    pub(crate) fn accepted(headers: &HeaderMap) -> Option<Self> {
        let mut gzip = false;
        let mut deflate = false;
        for value in headers.get_all(header::ACCEPT_ENCODING) {
            let Ok(value) = value.to_str() else { continue };
            for item in value.split(',') {
                let mut parts = item.split(';').map(str::trim);
                let name = parts.next().unwrap_or_default().to_ascii_lowercase();
                let refused = parts.any(|p| {
                    p.strip_prefix("q=")
                        .and_then(|q| q.parse::<f32>().ok())
                        .is_some_and(|q| q <= 0.0)
                });
                if refused {
                    continue;
                }
                match name.as_str() {
                    "gzip" => gzip = true,
                    "deflate" => deflate = true,
                    "*" => gzip = true,
                    _ => {}
                }
            }
        }
        if gzip {
            Some(Self::Gzip)
        } else if deflate {
            Some(Self::Deflate)
        } else {
            None
        }
    }

    pub(crate) fn header(self) -> HeaderValue {
        HeaderValue::from_static(match self {
            Self::Gzip => "gzip",
            Self::Deflate => "deflate",
        })
    }

    /// `body` compressed (HTTP `deflate` is the zlib format, as Node's `createDeflate`).
    pub(crate) fn compress(self, body: &[u8], level: u32) -> Option<Bytes> {
        let level = flate2::Compression::new(level.min(9));
        let out = Vec::with_capacity(body.len() / 2);
        let compressed = match self {
            Self::Gzip => {
                let mut encoder = GzEncoder::new(out, level);
                encoder.write_all(body).ok()?;
                encoder.finish().ok()?
            }
            Self::Deflate => {
                let mut encoder = ZlibEncoder::new(out, level);
                encoder.write_all(body).ok()?;
                encoder.finish().ok()?
            }
        };
        Some(Bytes::from(compressed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(accept: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            header::ACCEPT_ENCODING,
            HeaderValue::from_str(accept).unwrap_or(HeaderValue::from_static("")),
        );
        h
    }

    #[test]
    fn gzip_is_preferred_and_refusals_are_honoured() {
        assert_eq!(
            Encoding::accepted(&headers("gzip, deflate, br")),
            Some(Encoding::Gzip)
        );
        assert_eq!(
            Encoding::accepted(&headers("deflate")),
            Some(Encoding::Deflate)
        );
        assert_eq!(
            Encoding::accepted(&headers("gzip;q=0, deflate;q=0.5")),
            Some(Encoding::Deflate)
        );
        assert_eq!(Encoding::accepted(&headers("br, identity")), None);
        assert_eq!(Encoding::accepted(&HeaderMap::new()), None);
    }

    #[test]
    fn compressed_bodies_decompress_to_the_original() {
        use std::io::Read;
        let body = "4hello".repeat(500);
        let gz = Encoding::Gzip
            .compress(body.as_bytes(), 6)
            .unwrap_or_default();
        let mut out = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut out)
            .ok();
        assert_eq!(out, body);
        assert!(gz.len() < body.len() / 10);
        let z = Encoding::Deflate
            .compress(body.as_bytes(), 6)
            .unwrap_or_default();
        let mut out = String::new();
        flate2::read::ZlibDecoder::new(&z[..])
            .read_to_string(&mut out)
            .ok();
        assert_eq!(out, body);
    }

    #[test]
    fn cookies_are_written_as_node_writes_them() {
        let value = CookieConfig::default()
            .header("abc")
            .and_then(|v| v.to_str().ok().map(str::to_owned));
        assert_eq!(
            value,
            Some("io=abc; Path=/; HttpOnly; SameSite=Lax".to_owned())
        );
        let custom = CookieConfig {
            name: "sticky".into(),
            path: None,
            http_only: false,
            same_site: None,
            secure: true,
            domain: Some("example.org".into()),
            max_age: Some(60),
        };
        let value = custom
            .header("s")
            .and_then(|v| v.to_str().ok().map(str::to_owned));
        assert_eq!(
            value,
            Some("sticky=s; Max-Age=60; Domain=example.org; Secure".to_owned())
        );
    }
}
