//! A sans-IO WebSocket protocol implementation (RFC 6455) with permessage-deflate (RFC 7692).
//!
//! Nothing here touches a socket, spawns a task or reads the clock: bytes and [`Instant`]s go
//! in, events and bytes come out. A shell (see the `switchboard-ws-tokio` crate) moves the bytes.
//!
//! ```
//! use std::time::Instant;
//! use switchboard_ws::{Config, Connection, Event, Message, Role};
//!
//! let now = Instant::now();
//! let mut server = Connection::new(Role::Server, Config::default(), None, now);
//! let mut client = Connection::new(Role::Client, Config::default(), None, now);
//!
//! client.send(Message::text("hello")).unwrap();
//! while let Some(bytes) = client.poll_transmit() {
//!     server.handle_input(now, &bytes);
//! }
//! assert_eq!(server.poll_event(), Some(Event::Message(Message::text("hello"))));
//! ```
//!
//! [`Instant`]: std::time::Instant
#![forbid(unsafe_code)]

mod close;
mod config;
mod connection;
pub mod deflate;
mod error;
mod frame;
pub mod handshake;
mod mask;
mod message;
mod prepared;
mod random;
mod role;
mod utf8;

pub use close::CloseCode;
pub use config::{Config, DEFAULT_MAX_MESSAGE_SIZE};
pub use connection::{CloseInfo, Connection, Event, Initiator};
pub use deflate::{DeflateConfig, DeflateParams};
pub use error::{ProtocolError, SendError};
pub use frame::{FrameHeader, OpCode, MAX_CONTROL_PAYLOAD, MAX_HEADER_LEN};
pub use mask::apply_mask;
pub use message::{Message, Utf8Bytes};
pub use prepared::PreparedMessage;
pub use role::Role;
