//! WebRTC signaling for Switchboard: call rooms on a Socket.IO namespace (`/rtc`), whose
//! participants exchange offers, answers and ICE candidates with one addressed peer at a
//! time, keep their place across a dropped connection, and get the ICE servers to use with
//! short-lived TURN credentials. The protocol is in `docs/rtc.md`.
//!
//! [`Signaling`] is the sans-IO state machine (rooms, participants, routing, limits, grace
//! periods with time passed in); [`RtcSignaling`] serves it on a [`switchboard_socketio::SocketIo`].
//!
//! ```no_run
//! use switchboard_rtc::{RtcConfig, RtcSignaling};
//! use switchboard_socketio::{Config, SocketIo};
//!
//! let io = SocketIo::new(Config::default());
//! let rtc = RtcSignaling::builder(RtcConfig::default())
//!     .authorize(|_socket, request| async move {
//!         if request.room.starts_with("private-") {
//!             Err("private room".to_owned())
//!         } else {
//!             Ok(())
//!         }
//!     })
//!     .attach(&io);
//! # let _ = rtc;
//! ```

mod error;
mod ice;
mod service;
mod signaling;

pub use error::{ErrorCode, RtcError};
pub use ice::{host_of, IceConfig, IceServer, TurnIce};
pub use service::{RtcBuilder, RtcConfig, RtcSignaling};
pub use signaling::{
    validate_room, ConnId, Event, JoinRequest, Joined, LeaveReason, Outbound, ParticipantId,
    PeerInfo, Signaling, SignalingConfig,
};
