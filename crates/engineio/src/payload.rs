//! The v4 HTTP long-polling payload: packets joined by the record separator `\x1e`, binary
//! messages as `b<base64>`.

use bytes::Bytes;

use crate::encoded::EncodedPacket;
use crate::error::DecodeError;
use crate::packet::{Packet, Protocol};

/// The record separator between packets of a v4 payload.
pub const SEPARATOR: u8 = 0x1e;

/// Encodes packets into one v4 payload (a UTF-8 response body, `text/plain; charset=UTF-8`).
pub fn encode_payload<'a>(packets: impl IntoIterator<Item = &'a EncodedPacket>) -> Bytes {
    let mut out = Vec::new();
    for (i, packet) in packets.into_iter().enumerate() {
        if i > 0 {
            out.push(SEPARATOR);
        }
        packet.write_v4_segment(&mut out);
    }
    Bytes::from(out)
}

/// Decodes a v4 payload into packets; the first bad packet fails the whole payload.
pub fn decode_payload(input: &[u8]) -> Result<Vec<Packet>, DecodeError> {
    let mut out = Vec::new();
    decode_payload_into(input, &mut out)?;
    Ok(out)
}

/// Decodes a v4 payload, pushing packets to `out` until the first bad one.
///
/// On error, `out` holds the packets before the bad one: Node delivers those before closing.
pub fn decode_payload_into(input: &[u8], out: &mut Vec<Packet>) -> Result<(), DecodeError> {
    let text = std::str::from_utf8(input).map_err(|_| DecodeError::InvalidUtf8)?;
    for segment in text.split(char::from(SEPARATOR)) {
        out.push(Packet::decode_text(segment, Protocol::V4)?);
    }
    Ok(())
}
