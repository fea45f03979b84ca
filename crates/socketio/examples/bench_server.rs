//! The Socket.IO benchmark server (the same application as bench/node-socketio/server.mjs and
//! bench/peers/socketioxide-server): namespace `/` acknowledges `echo` with its arguments and
//! relays `broadcast` to every other socket. One thread, like Node.
//!
//!     cargo run --release -p switchboard-socketio --example bench_server [ADDR]
//!
//! `DIRECT_WRITES=0` turns off `EngineConfig::direct_writes`, to measure what it does.

use switchboard_socketio::{Config, SocketIo};
use tokio::net::TcpListener;

#[path = "common/bench_app.rs"]
mod bench_app;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut config = Config::default();
    config.engine.direct_writes = std::env::var("DIRECT_WRITES").as_deref() != Ok("0");
    let io = SocketIo::new(config);
    bench_app::register(&io);
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await
}
