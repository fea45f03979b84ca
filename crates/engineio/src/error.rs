//! Errors, split by who is to blame: the peer's bytes ([`DecodeError`]), the HTTP request
//! ([`EngineError`], [`RequestError`]), or the application ([`SendError`]).

use std::fmt;

use bytes::Bytes;

/// The peer sent bytes that are not a valid packet or payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// An empty packet or payload.
    Empty,
    /// A packet type that is not a digit 0–6 (the offending byte).
    UnknownType(u8),
    /// Base64 data that does not decode.
    InvalidBase64,
    /// Text that is not valid UTF-8.
    InvalidUtf8,
    /// A v3 length prefix that is missing, not a number, or longer than the data.
    InvalidLength,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Empty => f.write_str("empty packet"),
            DecodeError::UnknownType(b) => write!(f, "unknown packet type byte {b:#04x}"),
            DecodeError::InvalidBase64 => f.write_str("invalid base64"),
            DecodeError::InvalidUtf8 => f.write_str("invalid UTF-8"),
            DecodeError::InvalidLength => f.write_str("invalid payload length"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// The Engine.IO error codes a refused HTTP request carries, exactly as the Node.js server
/// (`Server.errors` and `Server.errorMessages` in `lib/server.ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EngineError {
    /// 0 `Transport unknown`: missing, unknown or disabled `transport`.
    UnknownTransport = 0,
    /// 1 `Session ID unknown`: no live session has this `sid`.
    UnknownSid = 1,
    /// 2 `Bad handshake method`: a handshake that is not a GET.
    BadHandshakeMethod = 2,
    /// 3 `Bad request`: transport mismatch, WebSocket handshake without upgrade, JSONP, ….
    BadRequest = 3,
    /// 4 `Forbidden`: the application refused the request (HTTP 403).
    Forbidden = 4,
    /// 5 `Unsupported protocol version`: `EIO` other than 4 while v3 is disabled.
    UnsupportedProtocolVersion = 5,
}

impl EngineError {
    /// The numeric code of the JSON body.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// The message of the JSON body.
    pub fn message(self) -> &'static str {
        match self {
            EngineError::UnknownTransport => "Transport unknown",
            EngineError::UnknownSid => "Session ID unknown",
            EngineError::BadHandshakeMethod => "Bad handshake method",
            EngineError::BadRequest => "Bad request",
            EngineError::Forbidden => "Forbidden",
            EngineError::UnsupportedProtocolVersion => "Unsupported protocol version",
        }
    }

    /// The HTTP status: 403 for [`EngineError::Forbidden`], 400 otherwise.
    pub fn status(self) -> u16 {
        match self {
            EngineError::Forbidden => 403,
            _ => 400,
        }
    }

    /// The response body, `{"code":N,"message":"…"}` (content type `application/json`).
    pub fn json_body(self) -> String {
        format!(
            r#"{{"code":{},"message":"{}"}}"#,
            self.code(),
            self.message()
        )
    }

    /// The response body with another message, `{"code":N,"message":"…"}`: Node's answer
    /// when an `allowRequest` hook refuses a handshake with a reason (`abortRequest()` in
    /// `lib/server.ts` puts the hook's message in place of `Forbidden`). An empty `message`
    /// keeps the standard one.
    pub fn json_body_with_message(self, message: &str) -> String {
        let message = if message.is_empty() {
            self.message()
        } else {
            message
        };
        // A string always serializes; the fallback only keeps the signature total.
        let message = serde_json::to_string(message).unwrap_or_else(|_| String::from("\"\""));
        format!(r#"{{"code":{},"message":{message}}}"#, self.code())
    }
}

impl fmt::Display for EngineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.message())
    }
}

impl std::error::Error for EngineError {}

/// Why a polling request on an existing session was refused: what the shell answers instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestError {
    /// An Engine.IO error: JSON body, status from [`EngineError::status`]. The session is
    /// unaffected (a polling request after the upgrade, or a session already closed).
    Engine(EngineError),
    /// A second GET while one is pending, or a second POST while one is being read: HTTP 400
    /// with an empty body. The session closes with `transport error`, as in Node.
    Overlap,
    /// A POST body larger than `max_http_buffer_size`: HTTP 413, empty body. The body is
    /// dropped and the session lives on, as in Node.
    PayloadTooLarge,
    /// A POST body that does not decode: HTTP 400, empty body. Packets before the bad one
    /// were delivered; the session closes with `parse error`.
    Parse(DecodeError),
    /// A binary (`application/octet-stream`) POST body on a v4 session: HTTP 400. The session
    /// closes with `transport error`.
    InvalidContent,
}

impl RequestError {
    /// The HTTP status to answer with.
    pub fn status(&self) -> u16 {
        match self {
            RequestError::Engine(e) => e.status(),
            RequestError::PayloadTooLarge => 413,
            RequestError::Overlap | RequestError::Parse(_) | RequestError::InvalidContent => 400,
        }
    }

    /// The response body (JSON for [`RequestError::Engine`], empty otherwise).
    pub fn body(&self) -> Bytes {
        match self {
            RequestError::Engine(e) => Bytes::from(e.json_body()),
            _ => Bytes::new(),
        }
    }

    /// The content type of [`body`](Self::body), if it has one.
    pub fn content_type(&self) -> Option<&'static str> {
        match self {
            RequestError::Engine(_) => Some("application/json"),
            _ => None,
        }
    }

    /// Whether this error closed the session.
    pub fn closes_session(&self) -> bool {
        matches!(
            self,
            RequestError::Overlap | RequestError::Parse(_) | RequestError::InvalidContent
        )
    }
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::Engine(e) => e.fmt(f),
            RequestError::Overlap => f.write_str("overlapping request"),
            RequestError::PayloadTooLarge => f.write_str("payload too large"),
            RequestError::Parse(e) => write!(f, "parse error: {e}"),
            RequestError::InvalidContent => f.write_str("invalid content"),
        }
    }
}

impl std::error::Error for RequestError {}

impl From<EngineError> for RequestError {
    fn from(e: EngineError) -> Self {
        RequestError::Engine(e)
    }
}

/// The application could not queue a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The session is closing or closed.
    Closed,
    /// `max_queued_packets` packets are already waiting; nothing was queued. The application
    /// decides: drop the message, retry after draining, or close the session.
    QueueFull,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closed => f.write_str("session closed"),
            SendError::QueueFull => f.write_str("outbound queue full"),
        }
    }
}

impl std::error::Error for SendError {}
