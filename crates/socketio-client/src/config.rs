//! How a client connects, reconnects and bounds what it holds.

use std::time::Duration;

pub use switchboard_engineio::TransportKind;

use crate::core::{Codec, CoreLimits};

/// A client's options, with the defaults of Node's `socket.io-client` where it has them.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    /// The server's Engine.IO path (Node's `path`, default `/socket.io/`).
    pub path: String,
    /// Query parameters sent with every connection (Node's `query`), after any the URL has.
    pub query: Vec<(String, String)>,
    /// Extra HTTP headers of every request: polling requests and the WebSocket handshake
    /// (Node's `extraHeaders`), for example `Authorization` or `Cookie`.
    pub headers: Vec<(String, String)>,
    /// The transports, in order (Node's `transports`; default long-polling, then WebSocket):
    /// the first opens each connection, and a WebSocket later in the list is upgraded to when
    /// the server offers it.
    pub transports: Vec<TransportKind>,
    /// Whether a polling session upgrades to WebSocket (Node's `upgrade`, default on).
    pub upgrade: bool,
    /// How packets are written (Node's `parser`): the default text parser, or
    /// `socket.io-msgpack-parser`'s format. The server must use the same.
    pub codec: Codec,
    /// Whether to reconnect by itself after the connection is lost (default on).
    pub reconnection: bool,
    /// Attempts before giving up (`None`, the default: never give up).
    pub reconnection_attempts: Option<u32>,
    /// The first delay before reconnecting; it doubles per attempt (default 1 s).
    pub reconnection_delay: Duration,
    /// The longest delay between attempts (default 5 s).
    pub reconnection_delay_max: Duration,
    /// How far, as a fraction of the delay, each delay moves at random either way, so that
    /// many clients do not come back at the same moment (default 0.5).
    pub randomization_factor: f64,
    /// Time allowed for one connection attempt: TCP, TLS, the WebSocket handshake and the
    /// Engine.IO `open` packet (Node's `timeout`, default 20 s).
    pub timeout: Duration,
    /// Unwritten WebSocket bytes past which frames wait in the send queue (default 4 MiB).
    pub send_buffer: usize,
    /// Events a socket's handlers may fall behind by before the connection is closed
    /// (`transport error`) rather than held without bound (default 1,024).
    pub max_pending_events: usize,
    /// Packets held while disconnected and frames queued for the transport.
    pub limits: CoreLimits,
    /// The WebSocket client's own options: permessage-deflate offer, message size limit (also
    /// the largest polling response accepted), TLS roots for `https`/`wss` (also used by
    /// polling). Its handshake timeout is replaced by `timeout`.
    pub websocket: switchboard_ws_tokio::ClientConfig,
}

impl Default for ClientConfig {
    fn default() -> Self {
        Self {
            path: "/socket.io/".to_owned(),
            query: Vec::new(),
            headers: Vec::new(),
            transports: vec![TransportKind::Polling, TransportKind::WebSocket],
            upgrade: true,
            codec: Codec::Text,
            reconnection: true,
            reconnection_attempts: None,
            reconnection_delay: Duration::from_secs(1),
            reconnection_delay_max: Duration::from_secs(5),
            randomization_factor: 0.5,
            timeout: Duration::from_secs(20),
            send_buffer: 4 * 1024 * 1024,
            max_pending_events: 1024,
            limits: CoreLimits::default(),
            websocket: switchboard_ws_tokio::ClientConfig::default(),
        }
    }
}
