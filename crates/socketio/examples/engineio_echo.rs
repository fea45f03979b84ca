//! An Engine.IO server that echoes every message, as the official engine.io-protocol test
//! suite expects (`test-suite/` of github.com/socketio/engine.io-protocol): Engine.IO at
//! `/engine.io/` on 127.0.0.1:3000 (or the address given), ping interval 300 ms, ping timeout
//! 200 ms, maxPayload 1,000,000.
//!
//!     cargo run --release -p switchboard-socketio --example engineio_echo [ADDR]

use std::convert::Infallible;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_engineio::{CloseReason, EncodedPacket, Message};
use switchboard_socketio::engine::{
    ConnHandle, Cors, Engine, EngineApp, EngineConfig, RequestInfo,
};
use tokio::net::{TcpListener, TcpStream};

/// Sends every message back to its session.
struct Echo;

impl EngineApp for Echo {
    type Session = ConnHandle;

    fn open(&self, conn: ConnHandle, _request: &RequestInfo) -> ConnHandle {
        conn
    }

    fn message(&self, conn: &mut ConnHandle, message: Message) {
        let _ = conn.send(EncodedPacket::message(&message));
    }

    fn close(&self, _conn: ConnHandle, _reason: CloseReason) {}
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut config = EngineConfig::default();
    config.protocol.ping_interval = Duration::from_millis(300);
    config.protocol.ping_timeout = Duration::from_millis(200);
    config.cors = Some(Cors::default());
    let engine = Engine::new(config, Echo);
    let listener = TcpListener::bind(&addr).await?;
    println!(
        "engine.io echo listening on http://{}",
        listener.local_addr()?
    );
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let engine = engine.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let engine = engine.clone();
                async move {
                    if req.uri().path().starts_with("/engine.io") {
                        Ok::<_, Infallible>(engine.handle::<TcpStream, _>(req).await)
                    } else {
                        let mut not_found = hyper::Response::new(Default::default());
                        *not_found.status_mut() = hyper::StatusCode::NOT_FOUND;
                        Ok(not_found)
                    }
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
