//! Server settings, with the defaults of the Node.js reference server.

use std::time::Duration;

/// Which transports a server accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transports {
    /// HTTP long-polling.
    pub polling: bool,
    /// WebSocket.
    pub websocket: bool,
}

impl Default for Transports {
    fn default() -> Self {
        Self {
            polling: true,
            websocket: true,
        }
    }
}

/// Settings shared by every session of a server.
///
/// Defaults follow the Node.js `engine.io` server (`lib/server.ts`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Config {
    /// Time between two server pings (v4); in v3, the client's advertised ping period.
    pub ping_interval: Duration,
    /// Time the client has to answer a ping with a pong (v4).
    pub ping_timeout: Duration,
    /// Time a candidate WebSocket has, from its opening, to complete the upgrade.
    pub upgrade_timeout: Duration,
    /// Largest POST body and WebSocket frame accepted, in bytes (advertised as `maxPayload`).
    pub max_http_buffer_size: usize,
    /// Enabled transports.
    pub transports: Transports,
    /// Whether a polling session may upgrade to WebSocket.
    pub allow_upgrades: bool,
    /// Whether protocol v3 clients (Socket.IO v2, `EIO=3`) are accepted.
    pub allow_eio3: bool,
    /// Most outbound packets a session holds before [`send`](crate::Session::send) refuses more.
    pub max_queued_packets: usize,
    /// After the application closes a polling session with no GET pending, how long to wait
    /// for the GET that carries the close packet (Node: 30 s in `lib/transports/polling.ts`).
    pub close_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_millis(25_000),
            ping_timeout: Duration::from_millis(20_000),
            upgrade_timeout: Duration::from_millis(10_000),
            max_http_buffer_size: 1_000_000,
            transports: Transports::default(),
            allow_upgrades: true,
            allow_eio3: false,
            max_queued_packets: 4096,
            close_timeout: Duration::from_secs(30),
        }
    }
}
