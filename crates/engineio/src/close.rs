//! Why a session ended.

use std::fmt;

/// Why a session closed, with the Node.js server's reason strings ([`as_str`](Self::as_str)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloseReason {
    /// The client closed: a `close` packet, or its WebSocket went away.
    TransportClose,
    /// The transport failed: overlapping requests, an aborted request, a heartbeat in the
    /// wrong direction, an oversized WebSocket frame, a binary POST on v4.
    TransportError,
    /// No pong (v4) or no ping (v3) in time.
    PingTimeout,
    /// The application closed the session with [`Session::close`](crate::Session::close).
    ForcedClose,
    /// The application closed the session because the server stops
    /// ([`Session::close_with`](crate::Session::close_with)).
    ServerShuttingDown,
    /// The client sent a packet that does not decode.
    ParseError,
}

impl CloseReason {
    /// Node's reason string: `transport close`, `transport error`, `ping timeout`,
    /// `forced close`, `server shutting down`, `parse error`.
    pub fn as_str(self) -> &'static str {
        match self {
            CloseReason::TransportClose => "transport close",
            CloseReason::TransportError => "transport error",
            CloseReason::PingTimeout => "ping timeout",
            CloseReason::ForcedClose => "forced close",
            CloseReason::ServerShuttingDown => "server shutting down",
            CloseReason::ParseError => "parse error",
        }
    }
}

impl fmt::Display for CloseReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
