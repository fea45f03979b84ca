//! Why a client socket disconnected, with the strings of Node's `socket.io-client`.

/// Why a socket disconnected (the reasons of `socket.io-client`'s `disconnect` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The server disconnected the socket (`socket.disconnect()` on the server). The
    /// client does not reconnect it by itself.
    IoServerDisconnect,
    /// The application disconnected it ([`crate::Socket::disconnect`] or
    /// [`crate::Manager::close`]).
    IoClientDisconnect,
    /// The server stopped pinging within its interval and timeout.
    PingTimeout,
    /// The connection was closed (by the server or the network).
    TransportClose,
    /// The connection failed.
    TransportError,
    /// The server sent something that is not Engine.IO or Socket.IO.
    ParseError,
}

impl DisconnectReason {
    /// `socket.io-client`'s string for this reason.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IoServerDisconnect => "io server disconnect",
            Self::IoClientDisconnect => "io client disconnect",
            Self::PingTimeout => "ping timeout",
            Self::TransportClose => "transport close",
            Self::TransportError => "transport error",
            Self::ParseError => "parse error",
        }
    }

    /// Whether the client reconnects by itself after this (when reconnection is on): the
    /// connection was lost, and neither side meant the socket to leave.
    #[must_use]
    pub fn reconnects(self) -> bool {
        !matches!(self, Self::IoServerDisconnect | Self::IoClientDisconnect)
    }
}

impl std::fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
