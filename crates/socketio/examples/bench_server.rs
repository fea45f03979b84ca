//! The Socket.IO benchmark server (the same application as bench/node-socketio/server.mjs and
//! bench/peers/socketioxide-server): namespace `/` acknowledges `echo` with its arguments and
//! relays `broadcast` to every other socket. One thread, like Node.
//!
//!     cargo run --release -p switchboard-socketio --example bench_server [ADDR]

use std::convert::Infallible;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_socketio::{Ack, Args, Config, Socket, SocketIo};
use tokio::net::{TcpListener, TcpStream};

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let io = SocketIo::new(Config::default());
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
    loop {
        let (tcp, _) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let io = io.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req| {
                let io = io.clone();
                async move { Ok::<_, Infallible>(io.handle::<TcpStream, _>(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
