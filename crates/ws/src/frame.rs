//! Frame header codec (RFC 6455 §5.2).

use crate::error::ProtocolError;

/// A frame opcode. Unknown values are kept so the connection can reject them by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OpCode(pub u8);

impl OpCode {
    /// Continuation of a fragmented message.
    pub const CONTINUATION: Self = Self(0x0);
    /// A text data frame.
    pub const TEXT: Self = Self(0x1);
    /// A binary data frame.
    pub const BINARY: Self = Self(0x2);
    /// The close control frame.
    pub const CLOSE: Self = Self(0x8);
    /// The ping control frame.
    pub const PING: Self = Self(0x9);
    /// The pong control frame.
    pub const PONG: Self = Self(0xA);

    /// Control frames have the high bit of the opcode set.
    pub fn is_control(self) -> bool {
        self.0 & 0x8 != 0
    }

    /// Whether RFC 6455 defines this opcode.
    pub fn is_defined(self) -> bool {
        matches!(self.0, 0x0..=0x2 | 0x8..=0xA)
    }
}

/// Largest payload a control frame may carry.
pub const MAX_CONTROL_PAYLOAD: usize = 125;

/// Largest frame header: 2 bytes, an 8-byte extended length and a 4-byte mask.
pub const MAX_HEADER_LEN: usize = 14;

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// Final fragment of a message.
    pub fin: bool,
    /// RSV1: set on the first frame of a compressed message (RFC 7692).
    pub rsv1: bool,
    /// RSV2: no extension of ours uses it.
    pub rsv2: bool,
    /// RSV3: no extension of ours uses it.
    pub rsv3: bool,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, present on every client-to-server frame.
    pub mask: Option<[u8; 4]>,
    /// Payload length in bytes.
    pub payload_len: u64,
}

impl FrameHeader {
    /// Parses a header from the start of `buf`. Returns `Ok(None)` when more bytes are needed,
    /// otherwise the header and its encoded length.
    pub fn parse(buf: &[u8]) -> Result<Option<(Self, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let masked = b1 & 0x80 != 0;
        let (payload_len, mut len) = match b1 & 0x7f {
            126 => {
                let Some(ext) = buf.get(2..4) else {
                    return Ok(None);
                };
                (u64::from(u16::from_be_bytes([ext[0], ext[1]])), 4)
            }
            127 => {
                let Some(ext) = buf.get(2..10) else {
                    return Ok(None);
                };
                let mut bytes = [0u8; 8];
                bytes.copy_from_slice(ext);
                let value = u64::from_be_bytes(bytes);
                if value >> 63 != 0 {
                    return Err(ProtocolError::InvalidLength);
                }
                (value, 10)
            }
            short => (u64::from(short), 2),
        };
        let mask = if masked {
            let Some(key) = buf.get(len..len + 4) else {
                return Ok(None);
            };
            len += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        let header = FrameHeader {
            fin: b0 & 0x80 != 0,
            rsv1: b0 & 0x40 != 0,
            rsv2: b0 & 0x20 != 0,
            rsv3: b0 & 0x10 != 0,
            opcode: OpCode(b0 & 0x0f),
            mask,
            payload_len,
        };
        Ok(Some((header, len)))
    }

    /// Encodes the header into `out`, returning the number of bytes written (at most
    /// [`MAX_HEADER_LEN`]). Uses the shortest length encoding, as the RFC requires.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (u8::from(self.fin) << 7)
            | (u8::from(self.rsv1) << 6)
            | (u8::from(self.rsv2) << 5)
            | (u8::from(self.rsv3) << 4)
            | (self.opcode.0 & 0x0f);
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut len = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xffff => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[len..len + 4].copy_from_slice(&key);
            len += 4;
        }
        len
    }

    /// Appends the encoded header to `out`.
    pub fn write_to(&self, out: &mut bytes::BytesMut) {
        let mut buf = [0u8; MAX_HEADER_LEN];
        let len = self.encode(&mut buf);
        out.extend_from_slice(&buf[..len]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(opcode: OpCode, len: u64, mask: Option<[u8; 4]>) -> FrameHeader {
        FrameHeader {
            fin: true,
            rsv1: false,
            rsv2: false,
            rsv3: false,
            opcode,
            mask,
            payload_len: len,
        }
    }

    #[test]
    fn rfc6455_section_5_7_headers() {
        // Single-frame unmasked text "Hello".
        let (h, n) = FrameHeader::parse(&[0x81, 0x05, 0x48]).unwrap().unwrap();
        assert_eq!(
            (h.opcode, h.fin, h.payload_len, h.mask, n),
            (OpCode::TEXT, true, 5, None, 2)
        );
        // Masked "Hello".
        let (h, n) = FrameHeader::parse(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d])
            .unwrap()
            .unwrap();
        assert_eq!((h.mask, n), (Some([0x37, 0xfa, 0x21, 0x3d]), 6));
        // Fragmented "Hel" + "lo".
        let (h, _) = FrameHeader::parse(&[0x01, 0x03]).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode), (false, OpCode::TEXT));
        let (h, _) = FrameHeader::parse(&[0x80, 0x02]).unwrap().unwrap();
        assert_eq!((h.fin, h.opcode), (true, OpCode::CONTINUATION));
        // 256 bytes binary in a single unmasked frame.
        let (h, n) = FrameHeader::parse(&[0x82, 0x7E, 0x01, 0x00])
            .unwrap()
            .unwrap();
        assert_eq!((h.opcode, h.payload_len, n), (OpCode::BINARY, 256, 4));
        // 64 KiB binary in a single unmasked frame.
        let bytes = [0x82, 0x7F, 0, 0, 0, 0, 0, 0x01, 0x00, 0x00];
        let (h, n) = FrameHeader::parse(&bytes).unwrap().unwrap();
        assert_eq!((h.payload_len, n), (65536, 10));
    }

    #[test]
    fn incomplete_headers_ask_for_more() {
        for partial in [
            &[][..],
            &[0x81],
            &[0x82, 0x7E, 0x01],
            &[0x82, 0x7F, 0, 0],
            &[0x81, 0x85, 0x37],
        ] {
            assert_eq!(FrameHeader::parse(partial).unwrap(), None, "{partial:?}");
        }
    }

    #[test]
    fn length_with_high_bit_is_rejected() {
        let bytes = [0x82, 0x7F, 0x80, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            FrameHeader::parse(&bytes),
            Err(ProtocolError::InvalidLength)
        );
    }

    #[test]
    fn encode_uses_minimal_lengths_and_round_trips() {
        for len in [0u64, 1, 125, 126, 127, 0xffff, 0x10000, 1 << 40] {
            for mask in [None, Some([9, 8, 7, 6])] {
                let h = header(OpCode::BINARY, len, mask);
                let mut buf = [0u8; MAX_HEADER_LEN];
                let n = h.encode(&mut buf);
                let expected = match len {
                    0..=125 => 2,
                    126..=0xffff => 4,
                    _ => 10,
                } + if mask.is_some() { 4 } else { 0 };
                assert_eq!(n, expected);
                assert_eq!(FrameHeader::parse(&buf[..n]).unwrap(), Some((h, n)));
            }
        }
    }
}
