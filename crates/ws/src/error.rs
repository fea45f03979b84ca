//! Errors, split by who is to blame, each mapped to the close code it sends.

use std::fmt;

use crate::close::CloseCode;

/// The peer broke the protocol. Each violation names itself and maps to a close code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtocolError {
    /// A 64-bit payload length with its most significant bit set.
    InvalidLength,
    /// An opcode RFC 6455 does not define.
    UnknownOpcode(u8),
    /// RSV bits set that no negotiated extension gives a meaning.
    ReservedBits,
    /// A control frame with FIN clear.
    FragmentedControl,
    /// A control frame with more than 125 payload bytes.
    ControlTooLong,
    /// A server received an unmasked frame.
    UnmaskedFrame,
    /// A client received a masked frame.
    MaskedFrame,
    /// A continuation frame with no message in progress.
    UnexpectedContinuation,
    /// A new data frame while a fragmented message was still in progress.
    ExpectedContinuation,
    /// A frame payload larger than the configured frame limit.
    FrameTooLarge,
    /// A message (after decompression) larger than the configured message limit.
    MessageTooLarge,
    /// Text (or a close reason) that is not valid UTF-8.
    InvalidUtf8,
    /// A close frame with a one-byte payload.
    InvalidClosePayload,
    /// A close frame whose code may not appear on the wire.
    InvalidCloseCode(u16),
    /// A compressed message that fails to inflate.
    InvalidCompressedData,
    /// The peer did not answer a keep-alive ping in time.
    KeepAliveTimeout,
}

impl ProtocolError {
    /// The close code sent to the peer for this violation.
    pub fn close_code(self) -> CloseCode {
        match self {
            ProtocolError::InvalidUtf8 => CloseCode::INVALID_PAYLOAD,
            ProtocolError::FrameTooLarge | ProtocolError::MessageTooLarge => {
                CloseCode::MESSAGE_TOO_BIG
            }
            ProtocolError::KeepAliveTimeout => CloseCode::GOING_AWAY,
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProtocolError::InvalidLength => f.write_str("payload length has its top bit set"),
            ProtocolError::UnknownOpcode(op) => write!(f, "unknown opcode {op:#x}"),
            ProtocolError::ReservedBits => f.write_str("reserved bits set"),
            ProtocolError::FragmentedControl => f.write_str("fragmented control frame"),
            ProtocolError::ControlTooLong => f.write_str("control frame payload over 125 bytes"),
            ProtocolError::UnmaskedFrame => f.write_str("unmasked frame from a client"),
            ProtocolError::MaskedFrame => f.write_str("masked frame from a server"),
            ProtocolError::UnexpectedContinuation => f.write_str("continuation with no message"),
            ProtocolError::ExpectedContinuation => {
                f.write_str("new message before the previous one finished")
            }
            ProtocolError::FrameTooLarge => f.write_str("frame too large"),
            ProtocolError::MessageTooLarge => f.write_str("message too large"),
            ProtocolError::InvalidUtf8 => f.write_str("invalid UTF-8"),
            ProtocolError::InvalidClosePayload => f.write_str("close payload of one byte"),
            ProtocolError::InvalidCloseCode(code) => write!(f, "close code {code} not allowed"),
            ProtocolError::InvalidCompressedData => f.write_str("invalid compressed data"),
            ProtocolError::KeepAliveTimeout => f.write_str("keep-alive timeout"),
        }
    }
}

impl std::error::Error for ProtocolError {}

/// The caller used the connection in a way its state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The close handshake has begun; no more data may be sent.
    Closing,
    /// A control frame payload over 125 bytes.
    ControlTooLong,
    /// A close code that may not be sent on the wire.
    InvalidCloseCode(u16),
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::Closing => f.write_str("connection is closing"),
            SendError::ControlTooLong => f.write_str("control payload over 125 bytes"),
            SendError::InvalidCloseCode(code) => write!(f, "close code {code} may not be sent"),
        }
    }
}

impl std::error::Error for SendError {}
