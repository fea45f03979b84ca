//! State shared by every connection of one running server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use switchboard_ws::handshake::ServerPolicy;
use tokio::sync::watch;

use crate::config::ServeConfig;
use crate::rooms::Rooms;

/// Counters exposed at `/metrics`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connections_open: AtomicU64,
    pub(crate) connections_total: AtomicU64,
    pub(crate) connections_refused: AtomicU64,
    pub(crate) websockets_open: AtomicU64,
    pub(crate) handshakes_refused: AtomicU64,
    /// Engine.IO requests refused before they reached a session, by Node's error code (0
    /// unknown transport, 1 unknown session id, 2 bad handshake method, 3 bad request,
    /// 4 forbidden, 5 unsupported protocol version).
    pub(crate) socketio_refused: Arc<[AtomicU64; 6]>,
    /// The STUN/TURN server's counters, when it runs inside `serve`.
    pub(crate) turn: std::sync::OnceLock<switchboard_turn_tokio::Handle>,
}

impl Counters {
    pub(crate) fn add(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn sub(counter: &AtomicU64) {
        counter.fetch_sub(1, Ordering::Relaxed);
    }

    /// Prometheus text format.
    pub(crate) fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = format!(
            "# TYPE switchboard_connections_open gauge\nswitchboard_connections_open {}\n\
             # TYPE switchboard_connections_total counter\nswitchboard_connections_total {}\n\
             # TYPE switchboard_connections_refused_total counter\nswitchboard_connections_refused_total {}\n\
             # TYPE switchboard_websockets_open gauge\nswitchboard_websockets_open {}\n\
             # TYPE switchboard_handshakes_refused_total counter\nswitchboard_handshakes_refused_total {}\n",
            get(&self.connections_open),
            get(&self.connections_total),
            get(&self.connections_refused),
            get(&self.websockets_open),
            get(&self.handshakes_refused),
        );
        out.push_str("# TYPE switchboard_socketio_requests_refused_total counter\n");
        for (code, count) in self.socketio_refused.iter().enumerate() {
            out.push_str(&format!(
                "switchboard_socketio_requests_refused_total{{code=\"{code}\"}} {}\n",
                get(count)
            ));
        }
        if let Some(turn) = self.turn.get() {
            out.push_str(&crate::turn::render_metrics(turn));
        }
        out
    }
}

/// Everything a connection task needs.
#[derive(Debug)]
pub(crate) struct App {
    pub(crate) config: ServeConfig,
    pub(crate) ws_config: switchboard_ws::Config,
    pub(crate) ws_policy: ServerPolicy,
    pub(crate) rooms: std::sync::Arc<Rooms>,
    /// Socket.IO at `/socket.io/`, bridged to `rooms` on namespace `/`.
    pub(crate) io: switchboard_socketio::SocketIo,
    pub(crate) counters: Counters,
    /// Flips to `true` once on SIGINT/SIGTERM.
    pub(crate) shutdown: watch::Receiver<bool>,
}

impl App {
    /// The application; Socket.IO on the Redis adapter when `redis` is given.
    pub(crate) fn new(
        config: ServeConfig,
        shutdown: watch::Receiver<bool>,
        redis: Option<&std::sync::Arc<switchboard_socketio_redis::RedisAdapterFactory>>,
    ) -> Self {
        let rooms = std::sync::Arc::new(Rooms::default());
        let counters = Counters::default();
        let refused = Arc::clone(&counters.socketio_refused);
        Self {
            ws_config: config.ws_config(),
            ws_policy: config.ws_policy(),
            io: crate::socketio::build(&config, std::sync::Arc::clone(&rooms), redis, refused),
            config,
            rooms,
            counters,
            shutdown,
        }
    }
}
