//! A sans-IO Engine.IO server core (protocol v4, and v3 for Socket.IO v2 clients).
//!
//! Nothing here touches a socket, spawns a task or reads the clock: requests, WebSocket
//! messages and [`Instant`]s go in, HTTP answers, WebSocket frames and events come out. A
//! shell moves the bytes: it classifies each HTTP request with [`classify`], keeps a map from
//! session id to [`Session`], and after every call drains [`Session::poll_transmit`] and
//! [`Session::poll_event`], then sleeps until [`Session::poll_timeout`].
//!
//! ```
//! use std::time::{Duration, Instant};
//! use switchboard_engineio::{
//!     classify, generate_sid, Config, EncodedPacket, Event, Message, RequestKind, Session,
//!     Transmit,
//! };
//!
//! let config = Config::default();
//! let start = Instant::now();
//! let mut now = start;
//!
//! // A handshake GET opens a session; the open packet answers it.
//! let RequestKind::Handshake(handshake) =
//!     classify("GET", "EIO=4&transport=polling", false, &config).unwrap()
//! else {
//!     unreachable!()
//! };
//! let mut session = Session::new(now, generate_sid(), handshake, &config);
//! let Some(Transmit::Poll(open)) = session.poll_transmit() else { unreachable!() };
//! assert!(open.body.starts_with(b"0{\"sid\":"));
//!
//! // The client posts a message; the application answers through the next GET.
//! session.handle_post(now, b"4hello", false).unwrap();
//! assert_eq!(session.poll_event(), Some(Event::Message(Message::Text("hello".into()))));
//! session.send(EncodedPacket::text("world")).unwrap();
//! session.handle_poll(now).unwrap();
//! let Some(Transmit::Poll(reply)) = session.poll_transmit() else { unreachable!() };
//! assert_eq!(&reply.body[..], b"4world");
//!
//! // Time passes: the shell wakes the session at its deadline; a ping is due.
//! session.handle_poll(now).unwrap();
//! now = session.poll_timeout().unwrap();
//! assert_eq!(now, start + Duration::from_secs(25));
//! session.handle_timeout(now);
//! let Some(Transmit::Poll(ping)) = session.poll_transmit() else { unreachable!() };
//! assert_eq!(&ping.body[..], b"2");
//! ```
//!
//! [`Instant`]: std::time::Instant
#![forbid(unsafe_code)]

mod close;
mod config;
mod encoded;
mod error;
mod packet;
pub mod payload;
mod request;
mod session;
mod sid;
pub mod v3;

pub use close::CloseReason;
pub use config::{Config, Transports};
pub use encoded::{EncodedPacket, WsFrame};
pub use error::{DecodeError, EngineError, RequestError, SendError};
pub use packet::{Message, Packet, PacketType, Protocol};
pub use request::{classify, Handshake, Query, RequestKind, TransportKind};
pub use session::{
    Event, PollResponse, Session, Transmit, WsInput, POST_OK_BODY, POST_OK_CONTENT_TYPE,
};
pub use sid::{generate_sid, sid_from_bytes};
