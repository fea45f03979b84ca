//! The v3 HTTP long-polling payloads (Engine.IO 3, Socket.IO v2 clients).
//!
//! Two formats, as in `engine.io-parser` 2.2.x (copied into the Node server as
//! `lib/parser-v3/`):
//!
//! - string: `<length>:<packet>` repeated, where the length counts UTF-16 code units (a
//!   JavaScript string's `length`), binary messages as `b4<base64>`;
//! - binary (XHR2, `application/octet-stream`): per packet a kind byte (`0` string, `1`
//!   binary), the decimal digits of the length as bytes 0–9, a `0xff` separator, then the
//!   packet: a string packet as UTF-8 (the length counts bytes), a binary one as the type byte
//!   `4` followed by the data.
//!
//! The server answers in the binary format when the client did not ask for `b64` and the
//! response holds a binary message, in the string format otherwise.

use base64::Engine as _;
use bytes::Bytes;

use crate::encoded::EncodedPacket;
use crate::error::DecodeError;
use crate::packet::{Packet, PacketType, Protocol, BASE64};

/// Node refuses binary length prefixes longer than this many digits.
const MAX_LENGTH_DIGITS: usize = 310;

/// Encodes a v3 response body; returns the body and whether it is binary
/// (`application/octet-stream`) rather than text (`text/plain; charset=UTF-8`).
pub fn encode_payload<'a>(
    packets: impl IntoIterator<Item = &'a EncodedPacket> + Clone,
    b64: bool,
) -> (Bytes, bool) {
    let has_binary = packets.clone().into_iter().any(EncodedPacket::is_binary);
    if !b64 && has_binary {
        (encode_binary_payload(packets), true)
    } else {
        (encode_string_payload(packets), false)
    }
}

/// Encodes the string format; binary messages become `b4<base64>`. No packets: `0:`.
pub fn encode_string_payload<'a>(packets: impl IntoIterator<Item = &'a EncodedPacket>) -> Bytes {
    let mut out = String::new();
    let mut any = false;
    for packet in packets {
        any = true;
        if packet.is_binary() {
            let mut s = String::from("b4");
            BASE64.encode_string(packet.as_bytes(), &mut s);
            push_string_packet(&mut out, &s);
        } else {
            // Text packets are built from `&str`: always UTF-8.
            let text = String::from_utf8_lossy(packet.as_bytes());
            push_string_packet(&mut out, &text);
        }
    }
    if !any {
        out.push_str("0:");
    }
    Bytes::from(out)
}

fn push_string_packet(out: &mut String, packet: &str) {
    let units: usize = packet.chars().map(char::len_utf16).sum();
    out.push_str(&units.to_string());
    out.push(':');
    out.push_str(packet);
}

/// Encodes the binary (XHR2) format.
pub fn encode_binary_payload<'a>(packets: impl IntoIterator<Item = &'a EncodedPacket>) -> Bytes {
    let mut out = Vec::new();
    for packet in packets {
        let bytes = packet.as_bytes();
        let (kind, len) = if packet.is_binary() {
            (1u8, bytes.len() + 1)
        } else {
            (0u8, bytes.len())
        };
        out.push(kind);
        out.extend(len.to_string().bytes().map(|d| d - b'0'));
        out.push(0xff);
        if packet.is_binary() {
            out.push(PacketType::Message as u8);
        }
        out.extend_from_slice(bytes);
    }
    Bytes::from(out)
}

/// Decodes a v3 POST body: the binary format when the request's content type was
/// `application/octet-stream`, the string format otherwise.
pub fn decode_payload(input: &[u8], binary: bool) -> Result<Vec<Packet>, DecodeError> {
    let mut out = Vec::new();
    decode_payload_into(input, binary, &mut out)?;
    Ok(out)
}

/// Like [`decode_payload`], pushing packets to `out` until the first error.
pub fn decode_payload_into(
    input: &[u8],
    binary: bool,
    out: &mut Vec<Packet>,
) -> Result<(), DecodeError> {
    if binary {
        decode_binary_payload_into(input, out)
    } else {
        decode_string_payload_into(input, out)
    }
}

/// Decodes the string format.
pub fn decode_string_payload_into(input: &[u8], out: &mut Vec<Packet>) -> Result<(), DecodeError> {
    let mut rest = std::str::from_utf8(input).map_err(|_| DecodeError::InvalidUtf8)?;
    if rest.is_empty() {
        return Err(DecodeError::Empty);
    }
    while !rest.is_empty() {
        let colon = rest.find(':').ok_or(DecodeError::InvalidLength)?;
        let digits = &rest[..colon];
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(DecodeError::InvalidLength);
        }
        let units: usize = digits.parse().map_err(|_| DecodeError::InvalidLength)?;
        rest = &rest[colon + 1..];
        let end = utf16_prefix_len(rest, units).ok_or(DecodeError::InvalidLength)?;
        let (packet, tail) = rest.split_at(end);
        rest = tail;
        if !packet.is_empty() {
            out.push(Packet::decode_text(packet, Protocol::V3)?);
        }
    }
    Ok(())
}

/// The byte length of the prefix of `s` that is exactly `units` UTF-16 code units long.
fn utf16_prefix_len(s: &str, units: usize) -> Option<usize> {
    let mut count = 0;
    for (i, c) in s.char_indices() {
        if count == units {
            return Some(i);
        }
        count += c.len_utf16();
        if count > units {
            return None; // the length splits a surrogate pair
        }
    }
    (count == units).then_some(s.len())
}

/// Decodes the binary (XHR2) format.
pub fn decode_binary_payload_into(input: &[u8], out: &mut Vec<Packet>) -> Result<(), DecodeError> {
    let mut rest = input;
    if rest.is_empty() {
        return Err(DecodeError::Empty);
    }
    while let Some((&kind, tail)) = rest.split_first() {
        let sep = tail
            .iter()
            .take(MAX_LENGTH_DIGITS + 1)
            .position(|&b| b == 0xff)
            .ok_or(DecodeError::InvalidLength)?;
        let digits = &tail[..sep];
        if digits.is_empty() || digits.iter().any(|&d| d > 9) {
            return Err(DecodeError::InvalidLength);
        }
        let mut len: usize = 0;
        for &d in digits {
            len = len
                .checked_mul(10)
                .and_then(|l| l.checked_add(usize::from(d)))
                .ok_or(DecodeError::InvalidLength)?;
        }
        let body = &tail[sep + 1..];
        if body.len() < len {
            return Err(DecodeError::InvalidLength);
        }
        let (packet, after) = body.split_at(len);
        rest = after;
        if kind == 0 {
            let text = std::str::from_utf8(packet).map_err(|_| DecodeError::InvalidUtf8)?;
            out.push(Packet::decode_text(text, Protocol::V3)?);
        } else {
            out.push(decode_binary_packet(packet)?);
        }
    }
    Ok(())
}

/// Decodes a v3 binary packet (a binary WebSocket frame, or a binary payload entry): the type
/// byte `4`, then the data.
pub fn decode_binary_packet(input: &[u8]) -> Result<Packet, DecodeError> {
    check_binary_type(input)?;
    Ok(Packet::binary(Bytes::copy_from_slice(&input[1..])))
}

/// [`decode_binary_packet`] on shared bytes: the message's data is a slice of them, no copy.
pub fn decode_binary_message(input: &Bytes) -> Result<Packet, DecodeError> {
    check_binary_type(input)?;
    Ok(Packet::binary(input.slice(1..)))
}

/// Only messages (type `4`) are binary.
fn check_binary_type(input: &[u8]) -> Result<(), DecodeError> {
    match input.first() {
        Some(4) => Ok(()),
        Some(&other) => Err(DecodeError::UnknownType(other)),
        None => Err(DecodeError::Empty),
    }
}
