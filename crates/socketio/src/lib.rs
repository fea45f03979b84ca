//! A Socket.IO server (protocol v5, and v4 for Socket.IO 2 clients) on tokio and hyper, over
//! Engine.IO long-polling and WebSocket and the upgrade between them, for the official
//! clients unchanged.
//!
//! ```no_run
//! use std::time::Duration;
//! use switchboard_socketio::{Ack, Config, Data, Socket, SocketIo, SocketIoLayer};
//!
//! let io = SocketIo::new(Config::default());
//! io.ns("/", |socket: Socket| async move {
//!     socket.join("lobby");
//!     socket.on("chat", |socket: Socket, Data(text): Data<String>, ack: Ack| async move {
//!         let _ = socket.to("lobby").emit("chat", &text);
//!         ack.send(&"ok");
//!     });
//!     socket.on_disconnect(|socket: Socket, reason| async move {
//!         println!("{} left: {reason}", socket.id());
//!     });
//! });
//! // Mount in axum or hyper: `SocketIoLayer::new(io)`, or route `/socket.io/` to
//! // `SocketIo::handle`.
//! ```
//!
//! The Engine.IO protocol lives in the sans-IO `switchboard-engineio` crate and the packet
//! format in `switchboard-socketio-parser`; [`engine`] is the Engine.IO shell (HTTP answers,
//! WebSocket upgrades, one task per session) and the rest of this crate is Socket.IO:
//! namespaces, sockets, rooms, broadcast, acknowledgements.

mod ack;
pub mod adapter;
mod broadcast;
mod client;
mod emitter;
pub mod engine;
mod fnv;
mod handler;
mod io;
mod namespace;
mod prefetch;
mod reason;
mod server_events;
mod service;
mod socket;
mod state;
pub mod value;
mod wire;

pub use ack::{Ack, AckError};
pub use adapter::{
    Adapter, AdapterError, BroadcastAcks, MemoryAdapter, RecoveryConfig, RoomEvent, ServerAcks,
    SocketInfo,
};
pub use broadcast::{BroadcastOperator, IntoRooms, RemoteSocket};
pub use emitter::SocketEmitter;
pub use handler::{Args, Data, FromEvent, Handler, Incoming, TryData};
pub use io::{Config, NamespaceBuilder, SocketIo};
pub use namespace::{ConnectError, Namespace};
pub use reason::DisconnectReason;
pub use server_events::{ServerAck, ServerEvent, ServerEvents};
pub use service::{SocketIoLayer, SocketIoRouter, SocketIoService, DEFAULT_PATH};
pub use socket::{EmitError, Handshake, IncomingEvent, PacketError, Room, Socket};
pub use state::State;
pub use value::Value;
pub use wire::Codec;
