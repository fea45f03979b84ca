//! Benchmark peer: socketioxide with the Socket.IO benchmark application shared by every
//! server in bench/ (namespace "/" acknowledges `echo` with its argument and relays `broadcast`
//! to every other socket), written the way socketioxide's examples are. One thread, like the
//! others. Prints "listening on http://ADDR".
//!
//!     cargo run --release -p bench-socketioxide-server -- [ADDR]

use serde_json::Value;
use socketioxide::extract::{AckSender, Data, SocketRef};
use socketioxide::SocketIo;

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let (layer, io) = SocketIo::new_layer();
    io.ns("/", async |socket: SocketRef| {
        socket.on("echo", async |Data::<Value>(data), ack: AckSender| {
            let _ = ack.send(&data);
        });
        socket.on(
            "broadcast",
            async |socket: SocketRef, Data::<Value>(data)| {
                let _ = socket.broadcast().emit("broadcast", &data).await;
            },
        );
    });
    let app = axum::Router::new().layer(layer);
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
