//! Packet types and the single-packet codec shared by both protocol revisions.

use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use base64::engine::DecodePaddingMode;
use base64::{alphabet, Engine as _};
use bytes::Bytes;

use crate::error::DecodeError;

/// Standard base64 for encoding; decoding accepts input with or without padding.
pub(crate) const BASE64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The revision of the Engine.IO protocol a session speaks (the `EIO` query parameter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// Engine.IO 3 (Socket.IO v2 clients): client pings, length-prefixed polling payloads.
    V3,
    /// Engine.IO 4 and later: server pings, record-separated polling payloads.
    V4,
}

/// The seven packet types, with their wire digit as discriminant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PacketType {
    /// `0`: handshake, server to client.
    Open = 0,
    /// `1`: the session ends.
    Close = 1,
    /// `2`: heartbeat request (server to client in v4, client to server in v3), or upgrade probe.
    Ping = 2,
    /// `3`: heartbeat answer.
    Pong = 3,
    /// `4`: application data.
    Message = 4,
    /// `5`: the client switches to the new transport.
    Upgrade = 5,
    /// `6`: nothing; ends a long-polling cycle.
    Noop = 6,
}

impl PacketType {
    /// The type for a wire digit value (0–6).
    pub fn from_u8(value: u8) -> Option<Self> {
        Some(match value {
            0 => Self::Open,
            1 => Self::Close,
            2 => Self::Ping,
            3 => Self::Pong,
            4 => Self::Message,
            5 => Self::Upgrade,
            6 => Self::Noop,
            _ => return None,
        })
    }

    /// The ASCII digit of this type.
    pub fn digit(self) -> u8 {
        b'0' + self as u8
    }
}

/// Application data: UTF-8 text or bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// A text message.
    Text(String),
    /// A binary message.
    Binary(Bytes),
}

/// One decoded Engine.IO packet.
///
/// Data after the type digit of `close`, `upgrade` and `noop` packets carries no meaning and is
/// dropped when decoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// Handshake; the data is the JSON of [`crate::Handshake`].
    Open(String),
    /// End of the session.
    Close,
    /// Ping, possibly with data (`probe` during an upgrade).
    Ping(String),
    /// Pong, possibly with data (`probe` during an upgrade).
    Pong(String),
    /// Application data.
    Message(Message),
    /// Transport upgrade.
    Upgrade,
    /// No operation.
    Noop,
}

impl Packet {
    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        match self {
            Packet::Open(_) => PacketType::Open,
            Packet::Close => PacketType::Close,
            Packet::Ping(_) => PacketType::Ping,
            Packet::Pong(_) => PacketType::Pong,
            Packet::Message(_) => PacketType::Message,
            Packet::Upgrade => PacketType::Upgrade,
            Packet::Noop => PacketType::Noop,
        }
    }

    /// A text message packet.
    pub fn text(data: impl Into<String>) -> Self {
        Packet::Message(Message::Text(data.into()))
    }

    /// A binary message packet.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Packet::Message(Message::Binary(data.into()))
    }

    /// Decodes the text form `<type digit><data>`, or a base64 binary message: `b<base64>` in
    /// v4, `b4<base64>` in v3.
    ///
    /// This is a WebSocket text frame, one segment of a v4 polling payload, and (without the
    /// length prefix) one packet of a v3 string payload.
    pub fn decode_text(input: &str, protocol: Protocol) -> Result<Packet, DecodeError> {
        let bytes = input.as_bytes();
        let Some(&first) = bytes.first() else {
            return Err(DecodeError::Empty);
        };
        // A non-ASCII first byte is no type; slicing after it would split a character.
        let Some(data) = input.get(1..).filter(|_| first.is_ascii()) else {
            return Err(DecodeError::UnknownType(first));
        };
        if first == b'b' {
            return match protocol {
                Protocol::V4 => Ok(Packet::binary(decode_base64(data)?)),
                Protocol::V3 => Self::decode_v3_base64(data),
            };
        }
        Self::from_type_and_text(first, data)
    }

    /// Decodes a v3 base64 packet body (after the `b`): `4<base64>`; only messages are binary.
    fn decode_v3_base64(input: &str) -> Result<Packet, DecodeError> {
        match input.as_bytes().first() {
            Some(b'4') => Ok(Packet::binary(decode_base64(&input[1..])?)),
            Some(&other) => Err(DecodeError::UnknownType(other)),
            None => Err(DecodeError::Empty),
        }
    }

    pub(crate) fn from_type_and_text(digit: u8, data: &str) -> Result<Packet, DecodeError> {
        let kind = digit
            .checked_sub(b'0')
            .and_then(PacketType::from_u8)
            .ok_or(DecodeError::UnknownType(digit))?;
        Ok(match kind {
            PacketType::Open => Packet::Open(data.to_owned()),
            PacketType::Close => Packet::Close,
            PacketType::Ping => Packet::Ping(data.to_owned()),
            PacketType::Pong => Packet::Pong(data.to_owned()),
            PacketType::Message => Packet::text(data),
            PacketType::Upgrade => Packet::Upgrade,
            PacketType::Noop => Packet::Noop,
        })
    }

    /// Encodes the text form: `<type digit><data>`, or `b<base64>` for a binary message (v4).
    pub fn encode_text(&self) -> String {
        let (digit, data) = match self {
            Packet::Message(Message::Binary(bytes)) => {
                let mut out = String::with_capacity(1 + bytes.len().div_ceil(3) * 4);
                out.push('b');
                BASE64.encode_string(bytes, &mut out);
                return out;
            }
            Packet::Open(d) | Packet::Ping(d) | Packet::Pong(d) => (self.packet_type(), d.as_str()),
            Packet::Message(Message::Text(d)) => (PacketType::Message, d.as_str()),
            Packet::Close | Packet::Upgrade | Packet::Noop => (self.packet_type(), ""),
        };
        let mut out = String::with_capacity(1 + data.len());
        out.push(char::from(digit.digit()));
        out.push_str(data);
        out
    }
}

pub(crate) fn decode_base64(data: &str) -> Result<Bytes, DecodeError> {
    BASE64
        .decode(data)
        .map(Bytes::from)
        .map_err(|_| DecodeError::InvalidBase64)
}
