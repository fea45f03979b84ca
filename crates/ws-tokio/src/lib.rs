//! The tokio shell around [`switchboard_ws`]: a cancel-safe async driver, hyper upgrade
//! accept, `ws://`/`wss://` client connect, and rustls configuration.
//!
//! The protocol lives in `switchboard_ws`; this crate only moves bytes and timers.
//!
//! A client:
//!
//! ```no_run
//! use switchboard_ws_tokio::{connect, ClientConfig};
//! use switchboard_ws::{CloseCode, Message};
//!
//! # async fn run() -> std::io::Result<()> {
//! let (mut ws, _agreed) = connect("ws://127.0.0.1:3000/ws/echo", ClientConfig::default()).await?;
//! ws.send(Message::text("hello")).await?;
//! if let Some(reply) = ws.recv().await {
//!     println!("{:?}", reply?);
//! }
//! ws.close(CloseCode::NORMAL, "done").await?;
//! # Ok(())
//! # }
//! ```
//!
//! A server task serving one connection accepted through hyper (see [`upgrade::accept`]):
//! drive [`WebSocket::next_event`] in a loop, `queue` replies, and stop when it yields `None`.
//! `next_event` is cancel-safe, so it can share a `tokio::select!` with the application's own
//! channels.

mod client;
mod socket;
mod stream;
pub mod tls;
pub mod upgrade;

pub use client::{connect, connect_stream, ClientConfig, WsUrl};
pub use socket::WebSocket;
pub use stream::{BoxTransport, Stream, Transport};
pub use switchboard_ws as protocol;
