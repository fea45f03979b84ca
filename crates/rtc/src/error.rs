//! Refusals, with the codes clients see.

use serde::Serialize;

/// Why a request was refused (the `code` clients see).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorCode {
    /// A payload of the wrong shape, a bad room name, `name` or `meta` too long.
    BadRequest,
    /// The join authorization hook refused.
    Forbidden,
    /// The room is full.
    RoomFull,
    /// `join` while in a room.
    AlreadyJoined,
    /// `leave` or `signal` outside a room.
    NotJoined,
    /// `signal` to an id that is not in the sender's room.
    UnknownPeer,
    /// `signal` data too large.
    TooLarge,
    /// Too many signals in the window.
    RateLimited,
}

/// A refusal: a code and a message for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RtcError {
    /// The code.
    pub code: ErrorCode,
    /// What went wrong.
    pub message: String,
}

impl RtcError {
    /// A refusal.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }
}

impl std::fmt::Display for RtcError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

impl std::error::Error for RtcError {}
