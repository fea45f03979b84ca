//! The opening handshake (RFC 6455 §4): server validation, client request and response check.
//!
//! The server side validates a request whose headers come from any HTTP parser (hyper's, or
//! [`parse_request`] for raw bytes) through the [`HeaderLookup`] trait.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::deflate::{self, DeflateConfig, DeflateParams};
use crate::random::random_u64;

/// The GUID appended to the key before hashing (RFC 6455 §1.3).
const GUID: &[u8] = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// Default limit on the size of a handshake request or response head.
pub const DEFAULT_MAX_HEAD_SIZE: usize = 16 * 1024;

/// Most headers a raw handshake may carry.
const MAX_HEADERS: usize = 64;

/// Computes `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`.
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(GUID);
    BASE64.encode(sha.finalize())
}

/// Read access to request or response headers, whatever parsed them.
pub trait HeaderLookup {
    /// Every value of header `name` (case-insensitive), in order.
    fn values(&self, name: &str) -> Vec<&[u8]>;
}

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// The method, e.g. `GET`.
    pub method: String,
    /// The request target, e.g. `/ws?x=1`.
    pub target: String,
    /// Header names (as sent) and values.
    pub headers: Vec<(String, Vec<u8>)>,
}

impl HeaderLookup for RequestHead {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
            .collect()
    }
}

/// Why a handshake was refused, with the HTTP status to answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandshakeError {
    /// The HTTP status code.
    pub status: u16,
    /// A short explanation, sent as the response body.
    pub reason: &'static str,
}

impl HandshakeError {
    const fn new(status: u16, reason: &'static str) -> Self {
        Self { status, reason }
    }

    /// Extra headers the response must carry (426 names the version we speak).
    pub fn response_headers(&self) -> &'static [(&'static str, &'static str)] {
        if self.status == 426 {
            &[("Sec-WebSocket-Version", "13"), ("Upgrade", "websocket")]
        } else {
            &[]
        }
    }

    /// A complete HTTP/1.1 error response, for shells without an HTTP library.
    pub fn response_bytes(&self) -> Vec<u8> {
        let mut out = format!(
            "HTTP/1.1 {} {}\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n",
            self.status,
            status_text(self.status),
            self.reason.len()
        );
        for (name, value) in self.response_headers() {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.push_str(self.reason);
        out.into_bytes()
    }
}

impl std::fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.reason)
    }
}

impl std::error::Error for HandshakeError {}

fn status_text(status: u16) -> &'static str {
    match status {
        400 => "Bad Request",
        403 => "Forbidden",
        405 => "Method Not Allowed",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        _ => "Error",
    }
}

/// What the server accepts in handshakes.
#[derive(Debug, Clone, Default)]
pub struct ServerPolicy {
    /// When set, browsers from other origins are refused with 403. Requests with no `Origin`
    /// header (non-browser clients) are let through.
    pub allowed_origins: Option<Vec<String>>,
    /// Subprotocols the server speaks; the client's first one found here is chosen.
    pub subprotocols: Vec<String>,
    /// permessage-deflate settings, or `None` to never compress.
    pub deflate: Option<DeflateConfig>,
}

/// A handshake the server accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The `Sec-WebSocket-Accept` value.
    pub accept_key: String,
    /// The chosen subprotocol, if any.
    pub protocol: Option<String>,
    /// The negotiated permessage-deflate parameters, if any.
    pub deflate: Option<DeflateParams>,
    /// The `Sec-WebSocket-Extensions` response value, if any.
    pub extensions: Option<String>,
}

impl Accepted {
    /// Headers of the 101 response besides `Upgrade` and `Connection`.
    pub fn response_headers(&self) -> Vec<(&'static str, String)> {
        let mut headers = vec![("Sec-WebSocket-Accept", self.accept_key.clone())];
        if let Some(protocol) = &self.protocol {
            headers.push(("Sec-WebSocket-Protocol", protocol.clone()));
        }
        if let Some(extensions) = &self.extensions {
            headers.push(("Sec-WebSocket-Extensions", extensions.clone()));
        }
        headers
    }

    /// The complete `101 Switching Protocols` response.
    pub fn response_bytes(&self) -> Vec<u8> {
        let mut out = String::from(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n",
        );
        for (name, value) in self.response_headers() {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        out.into_bytes()
    }
}

/// Whether a comma-separated header contains `token` (case-insensitive).
fn has_token(values: &[&[u8]], token: &str) -> bool {
    values.iter().any(|value| {
        value
            .split(|&b| b == b',')
            .any(|item| item.trim_ascii().eq_ignore_ascii_case(token.as_bytes()))
    })
}

/// Whether a request asks to upgrade to WebSocket at all (used to route it).
pub fn is_upgrade_request(headers: &impl HeaderLookup) -> bool {
    has_token(&headers.values("upgrade"), "websocket")
}

/// Validates an opening handshake request and negotiates its options.
pub fn accept_request(
    method: &str,
    headers: &impl HeaderLookup,
    policy: &ServerPolicy,
) -> Result<Accepted, HandshakeError> {
    if method != "GET" {
        return Err(HandshakeError::new(405, "WebSocket handshakes use GET"));
    }
    if !has_token(&headers.values("upgrade"), "websocket") {
        return Err(HandshakeError::new(400, "missing Upgrade: websocket"));
    }
    if !has_token(&headers.values("connection"), "upgrade") {
        return Err(HandshakeError::new(400, "missing Connection: Upgrade"));
    }
    match headers.values("sec-websocket-version").as_slice() {
        [] => return Err(HandshakeError::new(400, "missing Sec-WebSocket-Version")),
        [version] if version.trim_ascii() == b"13" => {}
        _ => {
            return Err(HandshakeError::new(
                426,
                "unsupported Sec-WebSocket-Version",
            ))
        }
    }
    let key = match headers.values("sec-websocket-key").as_slice() {
        [key] => key.trim_ascii(),
        _ => {
            return Err(HandshakeError::new(
                400,
                "missing or repeated Sec-WebSocket-Key",
            ))
        }
    };
    match BASE64.decode(key) {
        Ok(decoded) if decoded.len() == 16 => {}
        _ => return Err(HandshakeError::new(400, "invalid Sec-WebSocket-Key")),
    }
    if let Some(allowed) = &policy.allowed_origins {
        if let [origin] = headers.values("origin").as_slice() {
            let origin = origin.trim_ascii();
            if !allowed
                .iter()
                .any(|a| a.as_bytes().eq_ignore_ascii_case(origin))
            {
                return Err(HandshakeError::new(403, "origin not allowed"));
            }
        }
    }
    let protocol = choose_subprotocol(
        &headers.values("sec-websocket-protocol"),
        &policy.subprotocols,
    );
    let (deflate, extensions) = match &policy.deflate {
        Some(config) => {
            let values = headers.values("sec-websocket-extensions");
            let texts: Option<Vec<&str>> =
                values.iter().map(|v| std::str::from_utf8(v).ok()).collect();
            let offers = texts
                .and_then(deflate::parse_extensions)
                .ok_or(HandshakeError::new(400, "invalid Sec-WebSocket-Extensions"))?;
            match deflate::negotiate_server(&offers, config) {
                Some((params, header)) => (Some(params), Some(header)),
                None => (None, None),
            }
        }
        None => (None, None),
    };
    Ok(Accepted {
        accept_key: accept_key(key),
        protocol,
        deflate,
        extensions,
    })
}

fn choose_subprotocol(values: &[&[u8]], supported: &[String]) -> Option<String> {
    values
        .iter()
        .flat_map(|v| v.split(|&b| b == b','))
        .filter_map(|p| std::str::from_utf8(p.trim_ascii()).ok())
        .find(|p| supported.iter().any(|s| s == p))
        .map(str::to_owned)
}

/// Parses a raw HTTP request head. `Ok(None)` means more bytes are needed; a head that grows
/// past `max_size` without ending, or has too many headers, is refused with 431.
pub fn parse_request(
    buf: &[u8],
    max_size: usize,
) -> Result<Option<(RequestHead, usize)>, HandshakeError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(len)) => {
            if len > max_size {
                return Err(HandshakeError::new(431, "request head too large"));
            }
            if request.version != Some(1) {
                return Err(HandshakeError::new(400, "HTTP/1.1 required"));
            }
            let head = RequestHead {
                method: request.method.unwrap_or_default().to_owned(),
                target: request.path.unwrap_or_default().to_owned(),
                headers: request
                    .headers
                    .iter()
                    .map(|h| (h.name.to_owned(), h.value.to_vec()))
                    .collect(),
            };
            Ok(Some((head, len)))
        }
        Ok(httparse::Status::Partial) if buf.len() > max_size => {
            Err(HandshakeError::new(431, "request head too large"))
        }
        Ok(httparse::Status::Partial) => Ok(None),
        Err(httparse::Error::TooManyHeaders) => Err(HandshakeError::new(431, "too many headers")),
        Err(_) => Err(HandshakeError::new(400, "malformed HTTP request")),
    }
}

/// Options for a client handshake.
#[derive(Debug, Clone, Default)]
pub struct ClientOptions {
    /// Subprotocols to offer, in order of preference.
    pub protocols: Vec<String>,
    /// permessage-deflate to offer, or `None`.
    pub deflate: Option<DeflateConfig>,
    /// Extra request headers (for example `Origin` or `Authorization`).
    pub headers: Vec<(String, String)>,
}

/// Why the server's handshake response was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientHandshakeError {
    /// The response is not valid HTTP or exceeds the size limit.
    Malformed,
    /// The server answered with another status than 101.
    Status(u16),
    /// A required header is missing or wrong.
    InvalidHeader(&'static str),
}

impl std::fmt::Display for ClientHandshakeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ClientHandshakeError::Malformed => f.write_str("malformed handshake response"),
            ClientHandshakeError::Status(status) => write!(f, "server answered HTTP {status}"),
            ClientHandshakeError::InvalidHeader(what) => write!(f, "handshake response: {what}"),
        }
    }
}

impl std::error::Error for ClientHandshakeError {}

/// The client's side of an opening handshake in progress.
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    key: String,
    options: ClientOptions,
}

/// What the server agreed to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientAccepted {
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
    /// The negotiated permessage-deflate parameters.
    pub deflate: Option<DeflateParams>,
}

struct ResponseHeaders<'a>(&'a [httparse::Header<'a>]);

impl HeaderLookup for ResponseHeaders<'_> {
    fn values(&self, name: &str) -> Vec<&[u8]> {
        self.0
            .iter()
            .filter(|h| h.name.eq_ignore_ascii_case(name))
            .map(|h| h.value)
            .collect()
    }
}

impl ClientHandshake {
    /// Starts a handshake for `host` (with port, as in the `Host` header) and `target` (path and
    /// query). Returns the state and the request bytes to send.
    pub fn new(host: &str, target: &str, options: ClientOptions) -> (Self, Vec<u8>) {
        let mut nonce = [0u8; 16];
        nonce[..8].copy_from_slice(&random_u64().to_ne_bytes());
        nonce[8..].copy_from_slice(&random_u64().to_ne_bytes());
        let key = BASE64.encode(nonce);
        let mut request = format!(
            "GET {target} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
        );
        if !options.protocols.is_empty() {
            request.push_str(&format!(
                "Sec-WebSocket-Protocol: {}\r\n",
                options.protocols.join(", ")
            ));
        }
        if let Some(config) = &options.deflate {
            request.push_str(&format!(
                "Sec-WebSocket-Extensions: {}\r\n",
                deflate::client_offer(config)
            ));
        }
        for (name, value) in &options.headers {
            request.push_str(&format!("{name}: {value}\r\n"));
        }
        request.push_str("\r\n");
        (Self { key, options }, request.into_bytes())
    }

    /// Checks the server's response. `Ok(None)` means more bytes are needed; on success, the
    /// number of bytes the head used is returned (frames may follow in the same buffer).
    pub fn parse_response(
        &self,
        buf: &[u8],
        max_size: usize,
    ) -> Result<Option<(ClientAccepted, usize)>, ClientHandshakeError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut response = httparse::Response::new(&mut headers);
        let len = match response.parse(buf) {
            Ok(httparse::Status::Complete(len)) if len <= max_size => len,
            Ok(httparse::Status::Partial) if buf.len() <= max_size => return Ok(None),
            _ => return Err(ClientHandshakeError::Malformed),
        };
        let status = response.code.unwrap_or_default();
        if status != 101 {
            return Err(ClientHandshakeError::Status(status));
        }
        let headers = ResponseHeaders(response.headers);
        if !has_token(&headers.values("upgrade"), "websocket") {
            return Err(ClientHandshakeError::InvalidHeader(
                "missing Upgrade: websocket",
            ));
        }
        if !has_token(&headers.values("connection"), "upgrade") {
            return Err(ClientHandshakeError::InvalidHeader(
                "missing Connection: Upgrade",
            ));
        }
        let expected = accept_key(self.key.as_bytes());
        match headers.values("sec-websocket-accept").as_slice() {
            [accept] if accept.trim_ascii() == expected.as_bytes() => {}
            _ => {
                return Err(ClientHandshakeError::InvalidHeader(
                    "wrong Sec-WebSocket-Accept",
                ))
            }
        }
        let protocol = match headers.values("sec-websocket-protocol").as_slice() {
            [] => None,
            [p] => {
                let p = std::str::from_utf8(p.trim_ascii())
                    .map_err(|_| ClientHandshakeError::InvalidHeader("bad subprotocol"))?;
                if !self.options.protocols.iter().any(|o| o == p) {
                    return Err(ClientHandshakeError::InvalidHeader(
                        "subprotocol not offered",
                    ));
                }
                Some(p.to_owned())
            }
            _ => return Err(ClientHandshakeError::InvalidHeader("several subprotocols")),
        };
        let ext_values = headers.values("sec-websocket-extensions");
        let texts: Option<Vec<&str>> = ext_values
            .iter()
            .map(|v| std::str::from_utf8(v).ok())
            .collect();
        let offers = texts.and_then(deflate::parse_extensions).ok_or(
            ClientHandshakeError::InvalidHeader("bad Sec-WebSocket-Extensions"),
        )?;
        let deflate = match &self.options.deflate {
            Some(config) => deflate::accept_server_response(&offers, config)
                .map_err(ClientHandshakeError::InvalidHeader)?,
            None if offers.is_empty() => None,
            None => return Err(ClientHandshakeError::InvalidHeader("extension not offered")),
        };
        Ok(Some((ClientAccepted { protocol, deflate }, len)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
        Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Protocol: chat, superchat\r\n\
        Sec-WebSocket-Version: 13\r\n\r\n";

    fn parse(raw: &str) -> RequestHead {
        parse_request(raw.as_bytes(), DEFAULT_MAX_HEAD_SIZE)
            .unwrap()
            .unwrap()
            .0
    }

    fn with_header(name: &str, value: Option<&str>) -> String {
        let mut out = String::new();
        for line in SAMPLE.trim_end().split("\r\n") {
            if line
                .to_ascii_lowercase()
                .starts_with(&format!("{}:", name.to_ascii_lowercase()))
            {
                if let Some(value) = value {
                    out.push_str(&format!("{name}: {value}\r\n"));
                }
            } else {
                out.push_str(line);
                out.push_str("\r\n");
            }
        }
        out.push_str("\r\n");
        out
    }

    #[test]
    fn rfc6455_sample_accept_key() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn accepts_the_rfc_sample_and_picks_a_subprotocol() {
        let policy = ServerPolicy {
            subprotocols: vec!["superchat".into()],
            ..Default::default()
        };
        let accepted = accept_request("GET", &parse(SAMPLE), &policy).unwrap();
        assert_eq!(accepted.accept_key, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
        assert_eq!(accepted.protocol.as_deref(), Some("superchat"));
        let response = String::from_utf8(accepted.response_bytes()).unwrap();
        assert!(response.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(response.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(response.contains("Sec-WebSocket-Protocol: superchat\r\n"));
    }

    #[test]
    fn refusals_carry_the_right_status() {
        let policy = ServerPolicy::default();
        let cases = [
            (with_header("Sec-WebSocket-Key", None), 400),
            (with_header("Sec-WebSocket-Key", Some("c2hvcnQ=")), 400),
            (with_header("Sec-WebSocket-Key", Some("not base64!!")), 400),
            (with_header("Upgrade", None), 400),
            (with_header("Upgrade", Some("h2c")), 400),
            (with_header("Connection", Some("keep-alive")), 400),
            (with_header("Sec-WebSocket-Version", None), 400),
            (with_header("Sec-WebSocket-Version", Some("8")), 426),
        ];
        for (raw, status) in cases {
            let err = accept_request("GET", &parse(&raw), &policy).unwrap_err();
            assert_eq!(err.status, status, "{raw}");
        }
        let err = accept_request("POST", &parse(SAMPLE), &policy).unwrap_err();
        assert_eq!(err.status, 405);
        let version = accept_request(
            "GET",
            &parse(&with_header("Sec-WebSocket-Version", Some("8"))),
            &policy,
        )
        .unwrap_err();
        let response = String::from_utf8(version.response_bytes()).unwrap();
        assert!(response.starts_with("HTTP/1.1 426 "));
        assert!(response.contains("Sec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn connection_header_may_list_several_tokens() {
        let raw = with_header("Connection", Some("keep-alive, Upgrade"));
        assert!(accept_request("GET", &parse(&raw), &ServerPolicy::default()).is_ok());
    }

    #[test]
    fn origin_policy_refuses_other_origins() {
        let policy = ServerPolicy {
            allowed_origins: Some(vec!["http://example.com".into()]),
            ..Default::default()
        };
        assert!(accept_request("GET", &parse(SAMPLE), &policy).is_ok());
        let raw = with_header("Origin", Some("http://evil.example"));
        assert_eq!(
            accept_request("GET", &parse(&raw), &policy)
                .unwrap_err()
                .status,
            403
        );
        let raw = with_header("Origin", None);
        assert!(accept_request("GET", &parse(&raw), &policy).is_ok());
    }

    #[test]
    fn deflate_is_negotiated_when_enabled() {
        let raw = with_header(
            "Sec-WebSocket-Extensions",
            Some("permessage-deflate; client_max_window_bits"),
        );
        let raw = raw.replacen("Sec-WebSocket-Version", "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\nSec-WebSocket-Version", 1);
        let policy = ServerPolicy {
            deflate: Some(DeflateConfig::default()),
            ..Default::default()
        };
        let accepted = accept_request("GET", &parse(&raw), &policy).unwrap();
        assert_eq!(accepted.extensions.as_deref(), Some("permessage-deflate"));
        assert!(accepted.deflate.is_some());
        let off = accept_request("GET", &parse(&raw), &ServerPolicy::default()).unwrap();
        assert_eq!(off.extensions, None);
    }

    #[test]
    fn oversized_and_broken_heads_are_refused() {
        let mut big = String::from("GET / HTTP/1.1\r\n");
        while big.len() < DEFAULT_MAX_HEAD_SIZE + 10 {
            big.push_str("X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let err = parse_request(big.as_bytes(), DEFAULT_MAX_HEAD_SIZE).unwrap_err();
        assert_eq!(err.status, 431);
        assert_eq!(parse_request(b"GET / HTTP/1.1\r\nHost", 1024), Ok(None));
        assert_eq!(
            parse_request(b"\x00\x01 garbage\r\n\r\n", 1024)
                .unwrap_err()
                .status,
            400
        );
    }

    #[test]
    fn client_and_server_agree() {
        let options = ClientOptions {
            protocols: vec!["chat".into()],
            deflate: Some(DeflateConfig::default()),
            headers: vec![("Origin".into(), "http://example.com".into())],
        };
        let (client, request) = ClientHandshake::new("example.com:80", "/ws", options);
        let (head, used) = parse_request(&request, DEFAULT_MAX_HEAD_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(used, request.len());
        assert_eq!(head.target, "/ws");
        let policy = ServerPolicy {
            subprotocols: vec!["chat".into()],
            deflate: Some(DeflateConfig::default()),
            ..Default::default()
        };
        let accepted = accept_request(&head.method, &head, &policy).unwrap();
        let mut response = accepted.response_bytes();
        response.extend_from_slice(&[0x81, 0x00]);
        let (result, used) = client
            .parse_response(&response, DEFAULT_MAX_HEAD_SIZE)
            .unwrap()
            .unwrap();
        assert_eq!(used, response.len() - 2);
        assert_eq!(result.protocol.as_deref(), Some("chat"));
        assert!(result.deflate.is_some());
    }

    #[test]
    fn client_rejects_a_wrong_accept_key_or_status() {
        let (client, _) = ClientHandshake::new("h", "/", ClientOptions::default());
        let wrong = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: AAAA\r\n\r\n";
        assert_eq!(
            client.parse_response(wrong, 1024),
            Err(ClientHandshakeError::InvalidHeader(
                "wrong Sec-WebSocket-Accept"
            ))
        );
        let denied = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n";
        assert_eq!(
            client.parse_response(denied, 1024),
            Err(ClientHandshakeError::Status(403))
        );
        assert_eq!(client.parse_response(b"HTTP/1.1 101", 1024), Ok(None));
    }
}
