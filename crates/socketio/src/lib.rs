//! A Socket.IO server (protocol v5, and v4 for Socket.IO 2 clients) on tokio and hyper, over
//! Engine.IO long-polling and WebSocket and the upgrade between them.
//!
//! The Engine.IO protocol lives in the sans-IO `switchboard-engineio` crate; [`engine`] is its
//! shell: HTTP answers, WebSocket upgrades and one task per session.

pub mod engine;
