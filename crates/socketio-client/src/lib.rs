//! A Socket.IO client for Rust: protocol v5 over Engine.IO 4, on long-polling and WebSocket
//! with the upgrade between them, for Socket.IO 3 and 4 servers (Node's `socket.io`,
//! switchboard, others).
//!
//! It does what `socket.io-client` does for an application: sockets of several namespaces
//! over one connection, events, acknowledgements both ways (with timeouts), binary
//! arguments, `auth` and middleware errors (`connect_error` with `data`), reconnection with
//! exponential backoff and jitter, packets kept while reconnecting, and connection-state
//! recovery (the same id, rooms and missed events after a drop, where the server keeps them).
//!
//! ```no_run
//! use std::time::Duration;
//! use switchboard_socketio_client::{socket, ClientConfig, Event};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! // `/chat` on the server at port 3000, with what its middleware checks.
//! let chat = socket("http://127.0.0.1:3000/chat", ClientConfig::default())?;
//! chat.set_auth(&serde_json::json!({ "token": "secret" }))?;
//! chat.on("message", |mut event: Event| async move {
//!     let text: String = event.arg(0).unwrap_or_default();
//!     println!("{text}");
//!     if let Some(ack) = event.take_ack() {
//!         let _ = ack.send("got it");
//!     }
//! });
//! chat.connect();
//! chat.wait_connected().await?;
//! chat.emit("message", "hello")?;
//! let count: u64 = chat.emit_with_ack("count", &(), Duration::from_secs(5)).await?;
//! println!("{count} messages");
//! chat.disconnect();
//! # Ok(())
//! # }
//! ```
//!
//! The protocol lives in a sans-IO core ([`ClientCore`]: frames and time in, frames and
//! events out); [`Manager`] is the tokio task around it, with the transports:
//! [`ClientConfig::transports`] (long-polling, then WebSocket, by default, as in Node).
#![forbid(unsafe_code)]

mod backoff;
mod config;
mod core;
mod manager;
mod polling;
mod reason;
mod socket;
mod transport;
mod url;

pub use config::{ClientConfig, TransportKind};
pub use core::{ClientCore, Codec, CoreEvent, CoreLimits, Frame, Handshake, SendError};
pub use manager::Manager;
pub use reason::DisconnectReason;
pub use socket::{AckError, AckSender, ConnectError, Connected, EmitError, Event, Socket, Status};
pub use switchboard_socketio_parser::{Map, Value};
pub use url::UrlError;

/// The socket of the namespace that `url`'s path names (`/` when it names none), on a
/// manager of its own (Node's `io(url)`, without connecting yet). Register its handlers, then
/// [`Socket::connect`].
///
/// # Errors
/// The URL is not one.
pub fn socket(url: &str, config: ClientConfig) -> Result<Socket, UrlError> {
    let namespace = url::ServerUrl::parse(url)?.namespace;
    Ok(Manager::new(url, config)?.socket(&namespace))
}
