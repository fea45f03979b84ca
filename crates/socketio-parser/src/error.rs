//! Why an incoming message was rejected. One variant per violation by the sender.

use std::fmt;

/// Why a Socket.IO message (text, binary attachment or msgpack) was rejected.
///
/// After any error the peer is misbehaving; the connection should be closed, as Node's
/// server does. The [`Decoder`](crate::Decoder) forgets any partly received packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ParseError {
    /// An empty text message.
    Empty,
    /// The packet type is not one of 0..=6 (0..=4 for msgpack), or is missing.
    UnknownPacketType,
    /// BINARY_EVENT/BINARY_ACK whose attachment count is not digits followed by `-`.
    InvalidAttachmentCount,
    /// More attachments announced than [`Limits::max_attachments`](crate::Limits).
    TooManyAttachments {
        /// The announced count.
        announced: usize,
        /// The configured limit.
        max: usize,
    },
    /// The namespace is missing, not a string, or does not start with `/`.
    InvalidNamespace,
    /// The ack id is not an integer in `0..=u64::MAX`.
    InvalidAckId,
    /// An ack id on a packet type that has none (CONNECT, DISCONNECT, CONNECT_ERROR).
    UnexpectedAckId,
    /// An ACK without an ack id.
    MissingAckId,
    /// The payload is not valid JSON (or nests deeper than 128 levels).
    InvalidJson(String),
    /// The msgpack payload is malformed (truncated, reserved marker, trailing bytes...).
    InvalidMsgpack(&'static str),
    /// The msgpack payload nests deeper than the recursion limit.
    TooDeep,
    /// A msgpack extension type this crate does not map to a value (only ArrayBuffer,
    /// ext type 0, and `undefined`, fixext 1 type 0, are understood).
    UnsupportedExtension(i8),
    /// CONNECT data that is not an object.
    InvalidConnectPayload,
    /// DISCONNECT with a payload.
    UnexpectedPayload,
    /// CONNECT_ERROR data that is neither a string nor an object, or is missing.
    InvalidConnectErrorPayload,
    /// EVENT data that is missing or not an array.
    InvalidEventPayload,
    /// EVENT data whose first element is not a string (or number), or an empty array.
    InvalidEventName,
    /// An event name that Socket.IO reserves (v5): `connect`, `connect_error`,
    /// `disconnect`, `disconnecting`, `newListener`, `removeListener`.
    ReservedEventName(String),
    /// ACK data that is missing or not an array.
    InvalidAckPayload,
    /// A placeholder whose `num` is not an integer below the announced attachment count.
    InvalidPlaceholder,
    /// Two placeholders with the same `num`.
    DuplicatePlaceholder(usize),
    /// An announced attachment that no placeholder refers to.
    UnusedAttachment(usize),
    /// A text message arrived while attachments of a binary packet were awaited.
    UnexpectedText,
    /// A binary message arrived while no attachment was awaited.
    UnexpectedBinary,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Empty => f.write_str("empty packet"),
            Self::UnknownPacketType => f.write_str("unknown packet type"),
            Self::InvalidAttachmentCount => f.write_str("illegal attachments count"),
            Self::TooManyAttachments { announced, max } => {
                write!(f, "too many attachments: {announced} (max {max})")
            }
            Self::InvalidNamespace => f.write_str("invalid namespace"),
            Self::InvalidAckId => f.write_str("invalid ack id"),
            Self::UnexpectedAckId => f.write_str("ack id on a packet type without one"),
            Self::MissingAckId => f.write_str("ack packet without ack id"),
            Self::InvalidJson(e) => write!(f, "invalid JSON payload: {e}"),
            Self::InvalidMsgpack(e) => write!(f, "invalid msgpack: {e}"),
            Self::TooDeep => f.write_str("payload nests too deeply"),
            Self::UnsupportedExtension(t) => write!(f, "unsupported msgpack extension type {t}"),
            Self::InvalidConnectPayload => {
                f.write_str("invalid payload: CONNECT data must be an object")
            }
            Self::UnexpectedPayload => f.write_str("invalid payload: DISCONNECT carries no data"),
            Self::InvalidConnectErrorPayload => {
                f.write_str("invalid payload: CONNECT_ERROR data must be a string or an object")
            }
            Self::InvalidEventPayload => {
                f.write_str("invalid payload: EVENT data must be an array")
            }
            Self::InvalidEventName => {
                f.write_str("invalid payload: EVENT data must start with the event name")
            }
            Self::ReservedEventName(n) => write!(f, "invalid payload: reserved event name {n:?}"),
            Self::InvalidAckPayload => f.write_str("invalid payload: ACK data must be an array"),
            Self::InvalidPlaceholder => f.write_str("illegal attachments: bad placeholder"),
            Self::DuplicatePlaceholder(n) => {
                write!(f, "illegal attachments: placeholder {n} twice")
            }
            Self::UnusedAttachment(n) => write!(f, "illegal attachments: attachment {n} unused"),
            Self::UnexpectedText => f.write_str("got plaintext data when reconstructing a packet"),
            Self::UnexpectedBinary => {
                f.write_str("got binary data when not reconstructing a packet")
            }
        }
    }
}

impl std::error::Error for ParseError {}
