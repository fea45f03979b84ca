//! Why a STUN message was rejected, and whether the sender is owed an error response.

use std::fmt;

use crate::attributes::{AttributeError, AttributeType};
use crate::error_code::ErrorCode;
use crate::message::{Class, Header, Method, TransactionId};

/// How many unknown comprehension-required attribute types a 420 answer lists at most.
pub const MAX_UNKNOWN_LISTED: usize = 8;

/// A bounded list of attribute types (the unknown comprehension-required attributes of a
/// message). Holds at most [`MAX_UNKNOWN_LISTED`]; more are counted but not kept.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UnknownList {
    types: [AttributeType; MAX_UNKNOWN_LISTED],
    len: usize,
}

impl UnknownList {
    pub(crate) fn push(&mut self, t: AttributeType) {
        if self.len < MAX_UNKNOWN_LISTED && !self.as_slice().contains(&t) {
            self.types[self.len] = t;
            self.len += 1;
        }
    }

    /// The kept types.
    #[must_use]
    pub fn as_slice(&self) -> &[AttributeType] {
        &self.types[..self.len]
    }

    /// True when no type is listed.
    #[must_use]
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// Why a message was rejected. Each variant names one violation by the sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeErrorKind {
    /// Shorter than a header or than its length field says.
    Truncated,
    /// Not a STUN message (top bits or magic cookie).
    NotStun,
    /// The length field is not a multiple of four, or bytes follow the message.
    BadLength,
    /// An attribute's length runs past the end of the message.
    AttributeOverrun,
    /// An attribute follows FINGERPRINT.
    AttributeAfterFingerprint,
    /// FINGERPRINT does not match the message.
    BadFingerprint,
    /// A comprehension-required attribute has a malformed value.
    InvalidAttribute(AttributeType, AttributeError),
    /// Comprehension-required attributes the decoder does not understand.
    UnknownAttributes(UnknownList),
}

/// A rejected message: the violation, and the header if it could be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeError {
    /// What was wrong.
    pub kind: DecodeErrorKind,
    /// The header, when the bytes had a valid one.
    pub header: Option<Header>,
}

/// What to do with a rejected message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Disposition {
    /// Drop it silently (garbage, indications, responses, integrity-breaking damage).
    Drop,
    /// Answer the request with this error response.
    Answer(ErrorReply),
}

/// An error response the server owes for a malformed request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ErrorReply {
    /// The request's method.
    pub method: Method,
    /// The request's transaction id.
    pub transaction_id: TransactionId,
    /// The error code: 400 or 420.
    pub code: ErrorCode,
    /// For 420: the attribute types to list in UNKNOWN-ATTRIBUTES.
    pub unknown: UnknownList,
}

impl DecodeError {
    /// Whether to drop the message or answer it (only requests with a readable header and a
    /// bad or unknown comprehension-required attribute are answered).
    #[must_use]
    pub fn disposition(&self) -> Disposition {
        let Some(h) = self.header.filter(|h| h.class == Class::Request) else {
            return Disposition::Drop;
        };
        let (code, unknown) = match self.kind {
            DecodeErrorKind::InvalidAttribute(..) => {
                (ErrorCode::BAD_REQUEST, UnknownList::default())
            }
            DecodeErrorKind::UnknownAttributes(list) => (ErrorCode::UNKNOWN_ATTRIBUTE, list),
            _ => return Disposition::Drop,
        };
        Disposition::Answer(ErrorReply {
            method: h.method,
            transaction_id: h.transaction_id,
            code,
            unknown,
        })
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            DecodeErrorKind::Truncated => f.write_str("truncated STUN message"),
            DecodeErrorKind::NotStun => f.write_str("not a STUN message"),
            DecodeErrorKind::BadLength => f.write_str("bad STUN length field"),
            DecodeErrorKind::AttributeOverrun => f.write_str("attribute runs past the message"),
            DecodeErrorKind::AttributeAfterFingerprint => {
                f.write_str("attribute after FINGERPRINT")
            }
            DecodeErrorKind::BadFingerprint => f.write_str("FINGERPRINT mismatch"),
            DecodeErrorKind::InvalidAttribute(t, e) => write!(f, "attribute {t}: {e}"),
            DecodeErrorKind::UnknownAttributes(l) => {
                write!(
                    f,
                    "unknown comprehension-required attributes {:?}",
                    l.as_slice()
                )
            }
        }
    }
}

impl std::error::Error for DecodeError {}
