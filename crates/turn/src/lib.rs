//! A sans-IO STUN (RFC 8489) and TURN (RFC 8656) server core.
//!
//! Nothing here touches a socket, spawns a task or reads a clock: datagrams and
//! [`Instant`]s go in, [`Command`]s come out. A shell (the `switchboard-turn-tokio` crate)
//! owns the sockets and timers.
//!
//! # The drive contract
//!
//! 1. Feed every datagram from a client to [`Server::handle_input`] (over TCP/TLS, split the
//!    stream with [`framing::frame_length`] first). If it returns a [`Forward`], send the
//!    payload from that relay socket to that peer: this is the ChannelData hot path, which
//!    allocates nothing.
//! 2. Feed every datagram arriving on a relay socket to [`Server::handle_peer_input`].
//! 3. After each call, drain [`Server::poll_command`] until `None` and carry the commands out.
//!    [`Command::CreateRelay`] is answered with [`Server::relay_bound`] or
//!    [`Server::relay_failed`], whose results are drained the same way.
//! 4. Arm one timer for [`Server::poll_timeout`]; when it fires, call
//!    [`Server::handle_timeout`] and drain again.
//!
//! ```
//! use std::net::SocketAddr;
//! use std::time::{Duration, Instant};
//! use switchboard_turn::{
//!     Attribute, Class, Command, Config, Credentials, FiveTuple, Message, MessageWriter,
//!     Method, RelaySocket, Server, TransactionId,
//! };
//!
//! let credentials = Credentials::new("example.org").with_user("alice", "secret");
//! let now = Instant::now();
//! let mut server = Server::new(Config::new(credentials, [42; 32]), now, 1_700_000_000);
//!
//! let client: SocketAddr = "203.0.113.7:50000".parse().unwrap();
//! let listener: SocketAddr = "198.51.100.1:3478".parse().unwrap();
//! let from = FiveTuple::udp(client, listener);
//!
//! // A client's Binding request...
//! let mut request = Vec::new();
//! MessageWriter::new(&mut request, Class::Request, Method::BINDING, TransactionId([1; 12]));
//! let forward = server.handle_input(now, from, &request);
//! assert!(forward.is_none());
//!
//! // ...and the shell's loop: carry out every command, then arm the timer.
//! while let Some(command) = server.poll_command() {
//!     match command {
//!         Command::SendToClient { to, bytes } => {
//!             let response = Message::decode(&bytes).unwrap();
//!             assert_eq!(response.class(), Class::SuccessResponse);
//!             assert_eq!(to, from); // socket.send_to(&bytes, to.client.addr())
//!         }
//!         Command::SendToPeer { relay, peer, bytes } => { /* relay socket send_to */ }
//!         Command::CreateRelay { id, family, port } => {
//!             // Bind a socket from the relay port range, then:
//!             let relay = RelaySocket::new("198.51.100.1:49152".parse().unwrap());
//!             server.relay_bound(now, id, relay);
//!         }
//!         Command::FreeRelay { id, relay } => { /* close that socket */ }
//!     }
//! }
//! let next_wakeup: Option<Instant> = server.poll_timeout();
//! server.handle_timeout(now + Duration::from_secs(1));
//! ```
//!
//! # Safe defaults
//!
//! [`Config::new`] sets a limit on everything a client can make the server hold: allocations
//! in total and per user, permissions and channels per allocation, bandwidth per
//! allocation, and a per-source rate limit on unauthenticated requests in a bounded table.
//! [`PeerPolicy::default`] refuses relaying to loopback, private, shared, link-local,
//! multicast, broadcast, unspecified and reserved addresses and to the server's own
//! addresses (403), except to live relay sockets of this same server.
//!
//! # Layers
//!
//! - Wire: [`Message`] (decode, validate, verify), [`MessageWriter`] (encode into a
//!   caller's buffer), [`Attribute`], [`ChannelData`], [`framing`].
//! - Credentials: [`Credentials`] (static users, TURN REST shared secret), [`NonceIssuer`].
//! - Policy and limits: [`PeerPolicy`], [`TokenBucket`], [`SourceLimiter`].
//! - The state machine: [`Server`], [`Command`], [`Forward`], [`Counters`].
//!
//! [`Instant`]: std::time::Instant
#![forbid(unsafe_code)]

mod addr;
mod allocation;
pub mod attributes;
mod channel_data;
mod command;
mod config;
mod counters;
mod credentials;
mod decode_error;
mod error_code;
pub mod framing;
pub mod integrity;
mod message;
mod nonce;
mod policy;
mod ratelimit;
mod server;
mod wire;
mod writer;

pub use addr::{ClientSocket, FiveTuple, PeerSocket, RelaySocket, Transport};
pub use allocation::AllocationId;
pub use attributes::{Attribute, AttributeError, AttributeType, UnknownAttributes};
pub use channel_data::{is_channel_data, ChannelData, ChannelDataError, CHANNEL_DATA_HEADER_LEN};
pub use command::{Command, Forward, PortRequest};
pub use config::Config;
pub use counters::Counters;
pub use credentials::{
    rest_credentials, rest_password, userhash, CredentialError, Credentials, LongTermKey,
};
pub use decode_error::{
    DecodeError, DecodeErrorKind, Disposition, ErrorReply, UnknownList, MAX_UNKNOWN_LISTED,
};
pub use error_code::ErrorCode;
pub use message::{
    message_type, split_message_type, Class, Header, IntegrityAlgorithm, IntegrityError, Message,
    Method, TransactionId, HEADER_LEN, MAGIC_COOKIE,
};
pub use nonce::{NonceIssuer, NonceStatus, NONCE_LEN};
pub use policy::{Cidr, CidrParseError, DenyReason, PeerPolicy};
pub use ratelimit::{SourceLimit, SourceLimiter, TokenBucket};
pub use server::Server;
pub use wire::{AddressFamily, ChannelNumber, Protocol};
pub use writer::MessageWriter;
