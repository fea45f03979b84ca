//! ChannelData messages (RFC 8656 §12.4): a 4-byte header (channel number, length) and the
//! application data, padded to a multiple of four bytes over stream transports.

use crate::wire::ChannelNumber;

/// Length of the ChannelData header.
pub const CHANNEL_DATA_HEADER_LEN: usize = 4;

/// A ChannelData message borrowing its payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChannelData<'a> {
    /// The channel the data travels on.
    pub channel: ChannelNumber,
    /// The application data.
    pub payload: &'a [u8],
}

/// Why bytes are not a ChannelData message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChannelDataError {
    /// Fewer than four bytes.
    Truncated,
    /// The first two bits are not `01`.
    NotChannelData,
    /// The length field is larger than the bytes that follow.
    LengthOverrun,
}

impl std::fmt::Display for ChannelDataError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Truncated => "ChannelData shorter than its header",
            Self::NotChannelData => "not a ChannelData message",
            Self::LengthOverrun => "ChannelData length runs past the input",
        })
    }
}

impl std::error::Error for ChannelDataError {}

/// True when `bytes` starts like a ChannelData message (first two bits `01`) rather than a
/// STUN message (first two bits `00`).
#[must_use]
pub fn is_channel_data(bytes: &[u8]) -> bool {
    bytes.first().is_some_and(|b| b & 0xC0 == 0x40)
}

impl<'a> ChannelData<'a> {
    /// Decodes a ChannelData message. Bytes after the payload (padding) are ignored. The
    /// channel number is returned as sent; whether it is bound is the server's business.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, ChannelDataError> {
        let [a, b, l0, l1, rest @ ..] = bytes else {
            return Err(ChannelDataError::Truncated);
        };
        if a & 0xC0 != 0x40 {
            return Err(ChannelDataError::NotChannelData);
        }
        let len = usize::from(u16::from_be_bytes([*l0, *l1]));
        let payload = rest.get(..len).ok_or(ChannelDataError::LengthOverrun)?;
        Ok(Self {
            channel: ChannelNumber(u16::from_be_bytes([*a, *b])),
            payload,
        })
    }

    /// The 4-byte header for `payload_len` bytes on `channel`, or `None` when the payload is
    /// longer than 65535 bytes.
    #[must_use]
    pub fn header(channel: ChannelNumber, payload_len: usize) -> Option<[u8; 4]> {
        let len = u16::try_from(payload_len).ok()?.to_be_bytes();
        let ch = channel.0.to_be_bytes();
        Some([ch[0], ch[1], len[0], len[1]])
    }

    /// Appends the message to `out`, padded to four bytes when `pad` (stream transports).
    /// Returns false (and writes nothing) when the payload is longer than 65535 bytes.
    pub fn encode(&self, pad: bool, out: &mut Vec<u8>) -> bool {
        let Some(header) = Self::header(self.channel, self.payload.len()) else {
            return false;
        };
        out.extend_from_slice(&header);
        out.extend_from_slice(self.payload);
        if pad {
            let padded = (self.payload.len() + 3) & !3;
            out.resize(out.len() + padded - self.payload.len(), 0);
        }
        true
    }
}
