//! The tokio shell around [`switchboard_ws`]: a cancel-safe async driver, hyper upgrade
//! accept, `ws://`/`wss://` client connect, and rustls configuration.
//!
//! The protocol lives in `switchboard_ws`; this crate only moves bytes and timers.

mod client;
mod socket;
mod stream;
pub mod tls;
pub mod upgrade;

pub use client::{connect, ClientConfig, WsUrl};
pub use socket::WebSocket;
pub use stream::{Stream, Transport};
pub use switchboard_ws as protocol;
