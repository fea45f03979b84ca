//! Packets encoded once, shared by many sessions.

use base64::Engine as _;
use bytes::{BufMut, Bytes, BytesMut};

use crate::packet::{Message, Packet, PacketType, Protocol, BASE64};

/// A packet in its wire form, cheap to clone: encode a broadcast once, then push clones of
/// the same value into every session with [`Session::send`](crate::Session::send).
///
/// A text packet holds the bytes of `<type digit><data>` (for a message: `4<data>`), usable
/// as is as a WebSocket text frame and as a v4 polling segment. A binary message holds the
/// raw bytes, which the polling path base64-encodes behind a `b`.
///
/// Packets may be compressed (permessage-deflate, HTTP compression) unless
/// [`without_compression`](Self::without_compression) says otherwise, as Node's
/// `socket.send(data, { compress: false })`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EncodedPacket {
    bytes: Bytes,
    binary: bool,
    compress: bool,
}

impl EncodedPacket {
    /// A text message: `4<data>`.
    #[must_use]
    pub fn text(data: &str) -> Self {
        let mut buf = BytesMut::with_capacity(1 + data.len());
        buf.put_u8(PacketType::Message.digit());
        buf.put_slice(data.as_bytes());
        Self {
            bytes: buf.freeze(),
            binary: false,
            compress: true,
        }
    }

    /// A text message already in wire form: `message` is `4<data>` (the caller wrote the type
    /// digit, so a broadcast is built in one buffer and never copied). Handed back when it does
    /// not start with `4`.
    pub fn from_message_text(message: String) -> Result<Self, String> {
        if !message.starts_with('4') {
            return Err(message);
        }
        Ok(Self {
            bytes: Bytes::from(message),
            binary: false,
            compress: true,
        })
    }

    /// A binary message; the bytes are kept as they are (no copy).
    #[must_use]
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self {
            bytes: data.into(),
            binary: true,
            compress: true,
        }
    }

    /// A message of either kind.
    #[must_use]
    pub fn message(message: &Message) -> Self {
        match message {
            Message::Text(t) => Self::text(t),
            Message::Binary(b) => Self::binary(b.clone()),
        }
    }

    /// Any packet.
    #[must_use]
    pub fn from_packet(packet: &Packet) -> Self {
        match packet {
            Packet::Message(m) => Self::message(m),
            other => Self {
                bytes: Bytes::from(other.encode_text()),
                binary: false,
                compress: true,
            },
        }
    }

    pub(crate) fn control(kind: PacketType, data: &str) -> Self {
        let mut buf = BytesMut::with_capacity(1 + data.len());
        buf.put_u8(kind.digit());
        buf.put_slice(data.as_bytes());
        Self {
            bytes: buf.freeze(),
            binary: false,
            compress: true,
        }
    }

    /// The same packet, never compressed: a WebSocket sends it without permessage-deflate, and
    /// a polling response made only of such packets is not HTTP-compressed (Node compresses a
    /// polling payload when any of its packets allows it).
    #[must_use]
    pub fn without_compression(mut self) -> Self {
        self.compress = false;
        self
    }

    /// Whether the packet may be compressed.
    pub fn compress(&self) -> bool {
        self.compress
    }

    /// Whether this is a binary message.
    pub fn is_binary(&self) -> bool {
        self.binary
    }

    /// The wire bytes: `<digit><data>` for text, the raw data for a binary message.
    pub fn as_bytes(&self) -> &Bytes {
        &self.bytes
    }

    /// The packet's type.
    pub fn packet_type(&self) -> PacketType {
        if self.binary {
            return PacketType::Message;
        }
        self.bytes
            .first()
            .and_then(|d| PacketType::from_u8(d.wrapping_sub(b'0')))
            .unwrap_or(PacketType::Message)
    }

    /// The WebSocket frame carrying this packet for a session of the given revision.
    ///
    /// `b64` is the session's `b64` query flag: a v3 client that cannot receive binary frames
    /// gets `b4<base64>` text instead. v4 always sends binary frames.
    pub fn to_ws_frame(&self, protocol: Protocol, b64: bool) -> WsFrame {
        self.clone().into_ws_frame(protocol, b64)
    }

    /// [`to_ws_frame`](Self::to_ws_frame), consuming the packet: no reference count is
    /// taken on bytes this session alone holds.
    #[must_use]
    pub fn into_ws_frame(self, protocol: Protocol, b64: bool) -> WsFrame {
        if !self.binary {
            return WsFrame::Text(self.bytes);
        }
        match protocol {
            Protocol::V4 => WsFrame::Binary(self.bytes),
            Protocol::V3 if b64 => {
                let mut s = String::from("b4");
                BASE64.encode_string(&self.bytes, &mut s);
                WsFrame::Text(Bytes::from(s))
            }
            Protocol::V3 => {
                let mut buf = BytesMut::with_capacity(1 + self.bytes.len());
                buf.put_u8(PacketType::Message as u8);
                buf.put_slice(&self.bytes);
                WsFrame::Binary(buf.freeze())
            }
        }
    }

    /// Appends the v4 polling form: the text bytes, or `b<base64>`.
    pub(crate) fn write_v4_segment(&self, out: &mut Vec<u8>) {
        if self.binary {
            out.push(b'b');
            let start = out.len();
            out.resize(
                start + base64::encoded_len(self.bytes.len(), true).unwrap_or(0),
                0,
            );
            let written = BASE64
                .encode_slice(&self.bytes, &mut out[start..])
                .unwrap_or(0);
            out.truncate(start + written);
        } else {
            out.extend_from_slice(&self.bytes);
        }
    }
}

/// One WebSocket message to send. Text payloads are valid UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WsFrame {
    /// A text frame.
    Text(Bytes),
    /// A binary frame.
    Binary(Bytes),
}
