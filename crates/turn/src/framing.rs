//! Splitting a byte stream (TCP, TLS) into STUN and ChannelData messages (RFC 8656 §12.4).

use crate::message::HEADER_LEN;

/// What the start of a stream buffer holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet to tell the length.
    Incomplete,
    /// A complete frame of this many bytes (including ChannelData padding) is available once
    /// the buffer holds that many; the caller checks `buf.len() >= len`.
    Length(usize),
    /// The stream carries neither STUN nor ChannelData: close the connection.
    Invalid,
}

/// Tells how long the first frame in a stream buffer is. STUN messages are
/// `20 + length` bytes; ChannelData is `4 + length` rounded up to a multiple of four.
#[must_use]
pub fn frame_length(buf: &[u8]) -> Frame {
    let [first, _, l0, l1, ..] = buf else {
        return Frame::Incomplete;
    };
    let len = usize::from(u16::from_be_bytes([*l0, *l1]));
    match first & 0xC0 {
        0x00 if len.is_multiple_of(4) => Frame::Length(HEADER_LEN + len),
        0x40 => Frame::Length(4 + ((len + 3) & !3)),
        _ => Frame::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_stun_and_padded_channel_data() {
        assert_eq!(frame_length(&[0, 1, 0]), Frame::Incomplete);
        assert_eq!(frame_length(&[0x00, 0x01, 0x00, 0x08]), Frame::Length(28));
        assert_eq!(frame_length(&[0x00, 0x01, 0x00, 0x07]), Frame::Invalid);
        assert_eq!(frame_length(&[0x40, 0x00, 0x00, 0x05]), Frame::Length(12));
        assert_eq!(frame_length(&[0x40, 0x00, 0x00, 0x00]), Frame::Length(4));
        assert_eq!(frame_length(&[0x80, 0x00, 0x00, 0x04]), Frame::Invalid);
        assert_eq!(frame_length(&[0xC0, 0x00, 0x00, 0x04]), Frame::Invalid);
    }
}
