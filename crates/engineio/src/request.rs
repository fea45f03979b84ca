//! Classifying an incoming HTTP request from its method and query string, as the Node server's
//! `verify()` and `handshake()` do (`lib/server.ts`), before any session lookup.

use crate::config::Config;
use crate::error::EngineError;
use crate::packet::Protocol;

/// The two transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TransportKind {
    /// HTTP long-polling.
    Polling,
    /// WebSocket.
    WebSocket,
}

impl TransportKind {
    /// The name used in the `transport` query parameter.
    pub fn as_str(self) -> &'static str {
        match self {
            TransportKind::Polling => "polling",
            TransportKind::WebSocket => "websocket",
        }
    }
}

/// The Engine.IO query parameters of a request. Unknown parameters (like the cache buster
/// `t`) are ignored; the first occurrence of a repeated one wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    /// `EIO`: the protocol revision.
    pub eio: Option<String>,
    /// `transport`.
    pub transport: Option<String>,
    /// `sid`: the session id, absent on a handshake.
    pub sid: Option<String>,
    /// `b64`: the client cannot receive binary (any non-empty value, as in Node).
    pub b64: Option<String>,
    /// `j`: the JSONP callback index.
    pub j: Option<String>,
}

impl Query {
    /// Parses a query string (without the `?`), percent-decoding values.
    pub fn parse(query: &str) -> Self {
        let mut q = Query::default();
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            let slot = match key {
                "EIO" => &mut q.eio,
                "transport" => &mut q.transport,
                "sid" => &mut q.sid,
                "b64" => &mut q.b64,
                "j" => &mut q.j,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(percent_decode(value));
            }
        }
        q
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What a new session needs from its first request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// The transport the session starts on.
    pub transport: TransportKind,
    /// The protocol revision.
    pub protocol: Protocol,
    /// Whether the client asked for base64 instead of binary (`b64`).
    pub b64: bool,
}

/// A valid request, to be routed by the shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestKind {
    /// A new session: generate a sid and create a [`Session`](crate::Session). (The
    /// application may still refuse it with [`EngineError::Forbidden`].)
    Handshake(Handshake),
    /// A polling GET on an existing session: [`Session::handle_poll`](crate::Session::handle_poll).
    Poll {
        /// The session id.
        sid: String,
    },
    /// A polling POST on an existing session:
    /// [`Session::handle_post_start`](crate::Session::handle_post_start), then the body.
    Post {
        /// The session id.
        sid: String,
    },
    /// A WebSocket upgrade for an existing (polling) session:
    /// [`Session::handle_ws_upgrade`](crate::Session::handle_ws_upgrade).
    Upgrade {
        /// The session id.
        sid: String,
    },
}

/// Classifies a request.
///
/// `method` is the HTTP method, `query` the query string without `?`, `websocket` whether the
/// request asks for a WebSocket upgrade. The checks and their order are Node's: unknown or
/// disabled transport (0); with a `sid`, a transport that is not the request's kind (3); without
/// one, a method other than GET (2), a WebSocket handshake without upgrade (3), then the
/// protocol revision (`EIO` other than `4` is v3, refused unless `allow_eio3`: 5).
///
/// Differences from Node, all answered with 3 `Bad request`: JSONP (`j`) is not supported;
/// methods other than GET and POST on a session (Node: HTTP 500); an upgrade request for the
/// polling transport (Node closes the WebSocket).
///
/// The shell then looks the `sid` up (unknown: [`EngineError::UnknownSid`]); the session
/// itself refuses requests for the transport it no longer uses.
pub fn classify(
    method: &str,
    query: &str,
    websocket: bool,
    config: &Config,
) -> Result<RequestKind, EngineError> {
    let q = Query::parse(query);
    let transport = match q.transport.as_deref() {
        Some("polling") if config.transports.polling => TransportKind::Polling,
        Some("websocket") if config.transports.websocket => TransportKind::WebSocket,
        _ => return Err(EngineError::UnknownTransport),
    };
    if q.j.is_some() {
        return Err(EngineError::BadRequest);
    }
    if websocket != (transport == TransportKind::WebSocket) {
        return Err(
            if transport == TransportKind::WebSocket && q.sid.is_none() && method != "GET" {
                EngineError::BadHandshakeMethod
            } else {
                EngineError::BadRequest
            },
        );
    }
    if let Some(sid) = q.sid.filter(|s| !s.is_empty()) {
        return match (transport, method) {
            (TransportKind::WebSocket, _) => Ok(RequestKind::Upgrade { sid }),
            (TransportKind::Polling, "GET") => Ok(RequestKind::Poll { sid }),
            (TransportKind::Polling, "POST") => Ok(RequestKind::Post { sid }),
            _ => Err(EngineError::BadRequest),
        };
    }
    if method != "GET" {
        return Err(EngineError::BadHandshakeMethod);
    }
    let protocol = if q.eio.as_deref() == Some("4") {
        Protocol::V4
    } else {
        Protocol::V3
    };
    if protocol == Protocol::V3 && !config.allow_eio3 {
        return Err(EngineError::UnsupportedProtocolVersion);
    }
    Ok(RequestKind::Handshake(Handshake {
        transport,
        protocol,
        b64: q.b64.is_some_and(|v| !v.is_empty()),
    }))
}
