//! Limits and timers of a connection.

use std::time::Duration;

/// Settings of one connection. Every limit has a default; all are configurable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Largest frame payload accepted; a larger frame closes with 1009.
    pub max_frame_size: usize,
    /// Largest message accepted (after decompression); a larger one closes with 1009.
    pub max_message_size: usize,
    /// After this long without input, send a keep-alive ping (`None`: never).
    pub ping_interval: Option<Duration>,
    /// After a keep-alive ping, close with 1001 if nothing arrives within this time.
    pub pong_timeout: Duration,
    /// After sending a close frame, wait this long for the peer's before giving up.
    pub close_timeout: Duration,
    /// Messages shorter than this are sent uncompressed, even with permessage-deflate.
    pub compression_threshold: usize,
    /// zlib level (0–9) for compressed messages.
    pub compression_level: u32,
}

/// 16 MiB: large enough for the Autobahn suite's biggest messages.
pub const DEFAULT_MAX_MESSAGE_SIZE: usize = 16 * 1024 * 1024;

impl Default for Config {
    fn default() -> Self {
        Self {
            max_frame_size: DEFAULT_MAX_MESSAGE_SIZE,
            max_message_size: DEFAULT_MAX_MESSAGE_SIZE,
            ping_interval: Some(Duration::from_secs(30)),
            pong_timeout: Duration::from_secs(30),
            close_timeout: Duration::from_secs(5),
            compression_threshold: 1024,
            compression_level: 1,
        }
    }
}
