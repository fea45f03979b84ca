//! The Socket.IO benchmark server (the same application as bench/node-socketio/server.mjs and
//! bench/peers/socketioxide-server): namespace `/` acknowledges `echo` with its arguments and
//! relays `broadcast` to every other socket. One thread, like Node.
//!
//!     cargo run --release -p switchboard-socketio --example bench_server [ADDR]
//!
//! `DIRECT_WRITES=0` turns off `EngineConfig::direct_writes`, to measure what it does.

use switchboard_socketio::{Ack, Args, Config, Socket, SocketIo};
use tokio::net::TcpListener;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut config = Config::default();
    config.engine.direct_writes = std::env::var("DIRECT_WRITES").as_deref() != Ok("0");
    let io = SocketIo::new(config);
    io.ns("/", |socket: Socket| async move {
        socket.on("echo", |Args(args): Args, ack: Ack| async move {
            ack.send_args(args);
        });
        socket.on("broadcast", |socket: Socket, Args(args): Args| async move {
            let _ = socket.broadcast().emit_args("broadcast", args);
        });
    });
    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    io.serve(listener).await
}
