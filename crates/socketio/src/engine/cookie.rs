//! The session cookie Node's `cookie` option sets on the handshake response, so that a load
//! balancer can keep a client's requests on the server that holds its session.

use std::time::Duration;

use http::HeaderValue;

/// The `SameSite` attribute of the session cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Lax` (Node's default for this cookie).
    Lax,
    /// `SameSite=Strict`.
    Strict,
    /// `SameSite=None` (browsers then require [`Cookie::secure`]).
    None,
}

impl SameSite {
    fn as_str(self) -> &'static str {
        match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        }
    }
}

/// The cookie that carries the session id (Node's `cookie` option). Set on the handshake
/// response only, never on later requests of the session.
///
/// The defaults are Node's: `io=<sid>; Path=/; HttpOnly; SameSite=Lax`. Attributes come in
/// the order of the `cookie` package Node uses (`Max-Age`, `Domain`, `Path`, `HttpOnly`,
/// `Secure`, `Partitioned`, `SameSite`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cookie {
    /// The cookie name (an RFC 6265 token), `io` by default.
    pub name: String,
    /// `Path`, `/` by default; `None` leaves the attribute out.
    pub path: Option<String>,
    /// `Domain`, absent by default.
    pub domain: Option<String>,
    /// `Max-Age`, in whole seconds; absent by default (a session cookie).
    pub max_age: Option<Duration>,
    /// `HttpOnly` (scripts cannot read the cookie), on by default.
    pub http_only: bool,
    /// `Secure` (sent over HTTPS only), off by default.
    pub secure: bool,
    /// `Partitioned` (CHIPS), off by default.
    pub partitioned: bool,
    /// `SameSite`, `Lax` by default; `None` (the Rust `Option`) leaves the attribute out.
    pub same_site: Option<SameSite>,
}

impl Default for Cookie {
    fn default() -> Self {
        Self {
            name: String::from("io"),
            path: Some(String::from("/")),
            domain: None,
            max_age: None,
            http_only: true,
            secure: false,
            partitioned: false,
            same_site: Some(SameSite::Lax),
        }
    }
}

impl Cookie {
    /// A cookie named `name`, with Node's other defaults.
    pub fn named(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// Checks the settings: the name must be a non-empty token, `Path` and `Domain` free of
    /// `;` and control characters.
    pub fn validate(&self) -> Result<(), String> {
        if self.name.is_empty() || !self.name.bytes().all(is_token_byte) {
            return Err(format!("invalid cookie name {:?}", self.name));
        }
        for (attribute, value) in [("path", &self.path), ("domain", &self.domain)] {
            if let Some(value) = value {
                if value.is_empty() || !value.bytes().all(is_attribute_byte) {
                    return Err(format!("invalid cookie {attribute} {value:?}"));
                }
            }
        }
        Ok(())
    }

    /// Everything after `name=value`, computed once per engine.
    pub(crate) fn attributes(&self) -> String {
        let mut out = String::new();
        if let Some(max_age) = self.max_age {
            out.push_str(&format!("; Max-Age={}", max_age.as_secs()));
        }
        if let Some(domain) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(domain);
        }
        if let Some(path) = &self.path {
            out.push_str("; Path=");
            out.push_str(path);
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.partitioned {
            out.push_str("; Partitioned");
        }
        if let Some(same_site) = self.same_site {
            out.push_str("; SameSite=");
            out.push_str(same_site.as_str());
        }
        out
    }
}

/// A validated cookie, ready to be stamped with session ids.
#[derive(Debug)]
pub(crate) struct SessionCookie {
    name: String,
    attributes: String,
}

impl SessionCookie {
    /// `None` (with a warning) when the settings are invalid: no cookie is better than a
    /// malformed one.
    pub(crate) fn new(cookie: &Cookie) -> Option<Self> {
        match cookie.validate() {
            Ok(()) => Some(Self {
                name: cookie.name.clone(),
                attributes: cookie.attributes(),
            }),
            Err(e) => {
                tracing::warn!(error = %e, "Engine.IO cookie disabled");
                None
            }
        }
    }

    /// The `Set-Cookie` value for session `sid` (session ids are URL-safe: no escaping).
    pub(crate) fn header(&self, sid: &str) -> Option<HeaderValue> {
        let value = format!("{}={sid}{}", self.name, self.attributes);
        HeaderValue::from_str(&value).ok()
    }
}

/// RFC 7230 `tchar`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Visible ASCII except `;` (RFC 6265 `av-octet`s that cannot end the attribute).
fn is_attribute_byte(b: u8) -> bool {
    (0x20..0x7f).contains(&b) && b != b';'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cookie: &Cookie) -> String {
        let cookie = SessionCookie::new(cookie).expect("valid");
        let value = cookie.header("abc-_123").expect("a header value");
        value.to_str().expect("ASCII").to_owned()
    }

    #[test]
    fn node_defaults_and_attribute_order() {
        assert_eq!(
            header(&Cookie::default()),
            "io=abc-_123; Path=/; HttpOnly; SameSite=Lax"
        );
        // Node's own expectations (engine.io test/server.js, "handshake").
        let cases = [
            (
                Cookie::named("woot"),
                "woot=abc-_123; Path=/; HttpOnly; SameSite=Lax",
            ),
            (
                Cookie {
                    path: Some("/custom".into()),
                    ..Cookie::default()
                },
                "io=abc-_123; Path=/custom; HttpOnly; SameSite=Lax",
            ),
            (
                Cookie {
                    path: None,
                    ..Cookie::default()
                },
                "io=abc-_123; HttpOnly; SameSite=Lax",
            ),
            (
                Cookie {
                    same_site: Some(SameSite::Strict),
                    ..Cookie::default()
                },
                "io=abc-_123; Path=/; HttpOnly; SameSite=Strict",
            ),
            (
                Cookie {
                    http_only: false,
                    ..Cookie::default()
                },
                "io=abc-_123; Path=/; SameSite=Lax",
            ),
            (
                Cookie {
                    max_age: Some(Duration::from_millis(86_400_900)),
                    domain: Some("example.com".into()),
                    secure: true,
                    partitioned: true,
                    same_site: Some(SameSite::None),
                    ..Cookie::default()
                },
                "io=abc-_123; Max-Age=86400; Domain=example.com; Path=/; HttpOnly; Secure; \
                 Partitioned; SameSite=None",
            ),
        ];
        for (cookie, expected) in cases {
            assert_eq!(header(&cookie), expected);
        }
    }

    #[test]
    fn invalid_settings_give_no_cookie() {
        for cookie in [
            Cookie::named(""),
            Cookie::named("a b"),
            Cookie::named("a=b"),
            Cookie::named("a;b"),
            Cookie {
                path: Some("/;x".into()),
                ..Cookie::default()
            },
            Cookie {
                domain: Some("a\r\nb".into()),
                ..Cookie::default()
            },
        ] {
            assert!(cookie.validate().is_err(), "{cookie:?}");
            assert!(SessionCookie::new(&cookie).is_none());
        }
    }
}
