//! A terminal chat client for `switchboard serve`'s room model: it subscribes to a room of
//! namespace `/`, prints what others publish there (from Socket.IO, the demo page at `/`, or
//! `/ws`), and publishes each line typed.
//!
//! ```sh
//! cargo run --release -p switchboard -- serve &            # http://127.0.0.1:3000
//! cargo run -p switchboard-socketio-client --example chat -- http://127.0.0.1:3000 lobby
//! ```
//!
//! Stop it with Ctrl-D. Stop the server meanwhile and start it again: the client reconnects by
//! itself and subscribes again.

use std::time::Duration;

use switchboard_socketio_client::{socket, ClientConfig, Event, Value};
use tokio::io::{AsyncBufReadExt, BufReader};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "http://127.0.0.1:3000".into());
    let room = args.next().unwrap_or_else(|| "lobby".into());

    let chat = socket(&url, ClientConfig::default())?;
    chat.on("message", |event: Event| async move {
        let room: String = event.arg(1).unwrap_or_default();
        match event.args.first() {
            Some(Value::String(text)) => println!("[{room}] {text}"),
            Some(other) => println!("[{room}] {other:?}"),
            None => {}
        }
    });
    // Each connection (the first, and each after a reconnection) subscribes anew: the server
    // forgets a socket's rooms with its session, unless it runs with --socketio-recovery.
    let subscriber = chat.clone();
    let subscribed_room = room.clone();
    chat.on_connect(move |connected| {
        println!("connected as {}", connected.id);
        if !connected.recovered {
            let _ = subscriber.emit("subscribe", &subscribed_room);
        }
    });
    chat.on_disconnect(|reason| {
        let next = if reason.reconnects() {
            "; reconnecting"
        } else {
            ""
        };
        println!("disconnected: {reason}{next}");
    });
    chat.on_connect_error(|error| eprintln!("cannot connect: {error}"));
    chat.connect();

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        // Waits for the server's acknowledgement, so a line typed while disconnected is sent
        // once the client is back (or reported if that takes too long).
        let published = chat
            .emit_args_with_ack(
                "publish",
                vec![Value::from(room.as_str()), Value::from(line)],
                Duration::from_secs(10),
            )
            .await;
        if let Err(e) = published {
            eprintln!("not published: {e}");
        }
    }
    chat.disconnect();
    Ok(())
}
