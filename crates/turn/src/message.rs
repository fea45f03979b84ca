//! The STUN message: header, transaction id, and a validated zero-copy view of a decoded
//! message (RFC 8489 §5, §6).

use std::fmt;

use crate::attributes::{Attribute, AttributeError, AttributeType};
use crate::decode_error::{DecodeError, DecodeErrorKind, UnknownList};
use crate::integrity;

/// The fixed magic cookie in every RFC 5389/8489 message.
pub const MAGIC_COOKIE: u32 = 0x2112_A442;
/// Length of the STUN header in bytes.
pub const HEADER_LEN: usize = 20;

/// A STUN method (12 bits; higher bits are dropped when encoding). Unknown values round-trip.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Method(pub u16);

impl Method {
    /// Binding (RFC 8489).
    pub const BINDING: Self = Self(0x001);
    /// Allocate (RFC 8656).
    pub const ALLOCATE: Self = Self(0x003);
    /// Refresh (RFC 8656).
    pub const REFRESH: Self = Self(0x004);
    /// Send (RFC 8656, indication only).
    pub const SEND: Self = Self(0x006);
    /// Data (RFC 8656, indication only).
    pub const DATA: Self = Self(0x007);
    /// CreatePermission (RFC 8656).
    pub const CREATE_PERMISSION: Self = Self(0x008);
    /// ChannelBind (RFC 8656).
    pub const CHANNEL_BIND: Self = Self(0x009);
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = match *self {
            Self::BINDING => "Binding",
            Self::ALLOCATE => "Allocate",
            Self::REFRESH => "Refresh",
            Self::SEND => "Send",
            Self::DATA => "Data",
            Self::CREATE_PERMISSION => "CreatePermission",
            Self::CHANNEL_BIND => "ChannelBind",
            Self(other) => return write!(f, "method {other:#05x}"),
        };
        f.write_str(name)
    }
}

/// A STUN message class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Class {
    /// A request, answered by a response.
    Request,
    /// An indication, never answered.
    Indication,
    /// A success response.
    SuccessResponse,
    /// An error response.
    ErrorResponse,
}

impl Class {
    const fn bits(self) -> u16 {
        match self {
            Self::Request => 0b00,
            Self::Indication => 0b01,
            Self::SuccessResponse => 0b10,
            Self::ErrorResponse => 0b11,
        }
    }

    const fn from_bits(bits: u16) -> Self {
        match bits & 0b11 {
            0b00 => Self::Request,
            0b01 => Self::Indication,
            0b10 => Self::SuccessResponse,
            _ => Self::ErrorResponse,
        }
    }
}

/// Packs class and method into the 14-bit message type field.
#[must_use]
pub const fn message_type(class: Class, method: Method) -> u16 {
    let m = method.0 & 0x0FFF;
    let c = class.bits();
    (m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
}

/// Splits the 14-bit message type field into class and method.
#[must_use]
pub const fn split_message_type(t: u16) -> (Class, Method) {
    let m = (t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80);
    let c = ((t >> 4) & 1) | ((t >> 7) & 2);
    (Class::from_bits(c), Method(m))
}

/// The 96-bit transaction id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TransactionId(pub [u8; 12]);

impl TransactionId {
    /// The raw bytes.
    #[must_use]
    pub const fn as_bytes(&self) -> &[u8; 12] {
        &self.0
    }
}

/// A parsed STUN header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// The message class.
    pub class: Class,
    /// The message method.
    pub method: Method,
    /// The transaction id.
    pub transaction_id: TransactionId,
    /// The length field: bytes after the header.
    pub length: u16,
}

impl Header {
    /// Parses the 20-byte header. Returns `None` unless the bytes look like an RFC 5389+
    /// STUN header (top two bits zero, magic cookie).
    #[must_use]
    pub fn parse(bytes: &[u8]) -> Option<Self> {
        let h: &[u8; HEADER_LEN] = bytes.get(..HEADER_LEN)?.try_into().ok()?;
        let typ = u16::from_be_bytes([h[0], h[1]]);
        if typ & 0xC000 != 0 || u32::from_be_bytes([h[4], h[5], h[6], h[7]]) != MAGIC_COOKIE {
            return None;
        }
        let (class, method) = split_message_type(typ);
        let mut tid = [0u8; 12];
        tid.copy_from_slice(&h[8..20]);
        Some(Self {
            class,
            method,
            transaction_id: TransactionId(tid),
            length: u16::from_be_bytes([h[2], h[3]]),
        })
    }
}

/// A decoded, validated STUN message borrowing the input bytes.
///
/// Decoding checks the framing of every attribute and the value of every
/// comprehension-required one; accessors then decode values again on demand (cheap, and no
/// allocation). Attributes after MESSAGE-INTEGRITY are ignored, as RFC 8489 requires, except
/// MESSAGE-INTEGRITY-SHA256 and FINGERPRINT.
#[derive(Clone, Copy, Debug)]
pub struct Message<'a> {
    header: Header,
    raw: &'a [u8],
    counted_end: usize,
    integrity: Option<usize>,
    integrity_sha256: Option<usize>,
    fingerprint: bool,
}

/// Reads the attribute header at `at` within `raw[..end]`: (type, value range, next offset).
fn attribute_at(raw: &[u8], at: usize, end: usize) -> Option<(AttributeType, usize, usize, usize)> {
    let h = raw.get(at..at.checked_add(4)?)?;
    let typ = AttributeType(u16::from_be_bytes([h[0], h[1]]));
    let len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let value_start = at + 4;
    let value_end = value_start + len;
    let next = value_start + ((len + 3) & !3);
    (next <= end).then_some((typ, value_start, value_end, next))
}

impl<'a> Message<'a> {
    /// Decodes and validates one STUN message occupying exactly `bytes`.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, DecodeError> {
        let fail = |kind, header| Err(DecodeError { kind, header });
        if bytes.len() < HEADER_LEN {
            return fail(DecodeErrorKind::Truncated, None);
        }
        let Some(header) = Header::parse(bytes) else {
            return fail(DecodeErrorKind::NotStun, None);
        };
        let end = HEADER_LEN + usize::from(header.length);
        if !header.length.is_multiple_of(4) || bytes.len() > end {
            return fail(DecodeErrorKind::BadLength, Some(header));
        }
        if bytes.len() < end {
            return fail(DecodeErrorKind::Truncated, Some(header));
        }
        let tid = header.transaction_id;
        let mut msg = Self {
            header,
            raw: bytes,
            counted_end: end,
            integrity: None,
            integrity_sha256: None,
            fingerprint: false,
        };
        let mut unknown = UnknownList::default();
        let mut invalid = None;
        let mut at = HEADER_LEN;
        while at < end {
            let Some((typ, vs, ve, next)) = attribute_at(bytes, at, end) else {
                return fail(DecodeErrorKind::AttributeOverrun, Some(header));
            };
            if msg.fingerprint {
                return fail(DecodeErrorKind::AttributeAfterFingerprint, Some(header));
            }
            let value = &bytes[vs..ve];
            let after_integrity = msg.integrity.is_some() || msg.integrity_sha256.is_some();
            match typ {
                AttributeType::FINGERPRINT => {
                    let expected = integrity::fingerprint(&bytes[..at]);
                    if value != expected.to_be_bytes() {
                        return fail(DecodeErrorKind::BadFingerprint, Some(header));
                    }
                    msg.fingerprint = true;
                    if !after_integrity {
                        msg.counted_end = at;
                    }
                }
                AttributeType::MESSAGE_INTEGRITY if !after_integrity => {
                    if let Err(e) = Attribute::decode(typ, value, &tid) {
                        invalid.get_or_insert((typ, e));
                    }
                    msg.integrity = Some(at);
                    msg.counted_end = at;
                }
                AttributeType::MESSAGE_INTEGRITY_SHA256 if msg.integrity_sha256.is_none() => {
                    if let Err(e) = Attribute::decode(typ, value, &tid) {
                        invalid.get_or_insert((typ, e));
                    }
                    msg.integrity_sha256 = Some(at);
                    if !after_integrity {
                        msg.counted_end = at;
                    }
                }
                _ if after_integrity => {}
                _ if !typ.is_understood() => unknown.push(typ),
                _ if typ.is_comprehension_required() => {
                    if let Err(e) = Attribute::decode(typ, value, &tid) {
                        invalid.get_or_insert((typ, e));
                    }
                }
                _ => {}
            }
            at = next;
        }
        if !unknown.is_empty() {
            return fail(DecodeErrorKind::UnknownAttributes(unknown), Some(header));
        }
        if let Some((t, e)) = invalid {
            return fail(DecodeErrorKind::InvalidAttribute(t, e), Some(header));
        }
        Ok(msg)
    }

    /// The header.
    #[must_use]
    pub const fn header(&self) -> &Header {
        &self.header
    }

    /// The message class.
    #[must_use]
    pub const fn class(&self) -> Class {
        self.header.class
    }

    /// The message method.
    #[must_use]
    pub const fn method(&self) -> Method {
        self.header.method
    }

    /// The transaction id.
    #[must_use]
    pub const fn transaction_id(&self) -> TransactionId {
        self.header.transaction_id
    }

    /// The whole message as received.
    #[must_use]
    pub const fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }

    /// True when the message carried a (valid) FINGERPRINT.
    #[must_use]
    pub const fn has_fingerprint(&self) -> bool {
        self.fingerprint
    }

    /// True when the message carries MESSAGE-INTEGRITY or MESSAGE-INTEGRITY-SHA256.
    #[must_use]
    pub const fn has_integrity(&self) -> bool {
        self.integrity.is_some() || self.integrity_sha256.is_some()
    }

    /// The raw attributes that count (those before any integrity attribute), in order.
    pub fn raw_attributes(&self) -> impl Iterator<Item = (AttributeType, &'a [u8])> + 'a {
        let (raw, end) = (self.raw, self.counted_end);
        let mut at = HEADER_LEN;
        std::iter::from_fn(move || {
            let (typ, vs, ve, next) = attribute_at(raw, at, end)?;
            at = next;
            Some((typ, &raw[vs..ve]))
        })
    }

    /// The attributes that count, decoded. Values that fail to decode (only possible for
    /// comprehension-optional types) are yielded as errors.
    pub fn attributes(
        &self,
    ) -> impl Iterator<Item = (AttributeType, Result<Attribute<'a>, AttributeError>)> + 'a {
        let tid = self.header.transaction_id;
        self.raw_attributes()
            .map(move |(t, v)| (t, Attribute::decode(t, v, &tid)))
    }

    /// The first attribute of type `typ` that counts, decoded; `None` when absent or
    /// undecodable.
    #[must_use]
    pub fn get(&self, typ: AttributeType) -> Option<Attribute<'a>> {
        let (_, value) = self.raw_attributes().find(|(t, _)| *t == typ)?;
        Attribute::decode(typ, value, &self.header.transaction_id).ok()
    }

    /// Checks MESSAGE-INTEGRITY-SHA256 if present, otherwise MESSAGE-INTEGRITY, with `key`
    /// (for the long-term mechanism, MD5(username:realm:password)). Comparison is
    /// constant-time.
    pub fn verify_integrity(&self, key: &[u8]) -> Result<IntegrityAlgorithm, IntegrityError> {
        if let Some(at) = self.integrity_sha256 {
            let mac = self.attribute_value(at).ok_or(IntegrityError::Missing)?;
            return integrity::verify_sha256(self.raw, at, key, mac)
                .then_some(IntegrityAlgorithm::Sha256)
                .ok_or(IntegrityError::Mismatch);
        }
        if let Some(at) = self.integrity {
            let mac = self.attribute_value(at).ok_or(IntegrityError::Missing)?;
            return integrity::verify_sha1(self.raw, at, key, mac)
                .then_some(IntegrityAlgorithm::Sha1)
                .ok_or(IntegrityError::Mismatch);
        }
        Err(IntegrityError::Missing)
    }

    fn attribute_value(&self, at: usize) -> Option<&'a [u8]> {
        let (_, vs, ve, _) = attribute_at(self.raw, at, self.raw.len())?;
        self.raw.get(vs..ve)
    }
}

/// Which integrity attribute authenticated a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum IntegrityAlgorithm {
    /// MESSAGE-INTEGRITY (HMAC-SHA1).
    Sha1,
    /// MESSAGE-INTEGRITY-SHA256 (HMAC-SHA256).
    Sha256,
}

/// Why integrity verification failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IntegrityError {
    /// The message carries no integrity attribute.
    Missing,
    /// The HMAC does not match the key.
    Mismatch,
}

impl fmt::Display for IntegrityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "no MESSAGE-INTEGRITY",
            Self::Mismatch => "MESSAGE-INTEGRITY mismatch",
        })
    }
}

impl std::error::Error for IntegrityError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_type_packing_matches_rfc() {
        // RFC 8489 §5: Binding request 0x0001, success 0x0101, error 0x0111, indication 0x0011.
        assert_eq!(message_type(Class::Request, Method::BINDING), 0x0001);
        assert_eq!(
            message_type(Class::SuccessResponse, Method::BINDING),
            0x0101
        );
        assert_eq!(message_type(Class::ErrorResponse, Method::BINDING), 0x0111);
        assert_eq!(message_type(Class::Indication, Method::SEND), 0x0016);
        assert_eq!(message_type(Class::Indication, Method::DATA), 0x0017);
        assert_eq!(message_type(Class::Request, Method::ALLOCATE), 0x0003);
        for t in 0..0x4000u16 {
            let (c, m) = split_message_type(t);
            assert_eq!(message_type(c, m), t);
        }
    }

    #[test]
    fn lying_lengths_are_rejected() {
        let mut msg = vec![0x00, 0x01, 0x00, 0x08, 0x21, 0x12, 0xA4, 0x42];
        msg.extend_from_slice(&[0; 12]);
        msg.extend_from_slice(&[0x80, 0x22, 0x00, 0x05, b'a', b'b', b'c', b'd']);
        // Attribute claims 5 bytes; its padding would run past the message.
        let e = Message::decode(&msg).err().map(|e| e.kind);
        assert_eq!(e, Some(DecodeErrorKind::AttributeOverrun));
        // Header length larger than the datagram.
        msg[3] = 0x0C;
        assert_eq!(
            Message::decode(&msg).err().map(|e| e.kind),
            Some(DecodeErrorKind::Truncated)
        );
        // Header length not a multiple of four.
        msg[3] = 0x07;
        assert_eq!(
            Message::decode(&msg).err().map(|e| e.kind),
            Some(DecodeErrorKind::BadLength)
        );
        // Trailing bytes after the message.
        msg[3] = 0x04;
        assert_eq!(
            Message::decode(&msg).err().map(|e| e.kind),
            Some(DecodeErrorKind::BadLength)
        );
        // Bad magic cookie.
        msg[3] = 0x08;
        msg[4] = 0;
        assert_eq!(
            Message::decode(&msg).err().map(|e| e.kind),
            Some(DecodeErrorKind::NotStun)
        );
    }
}
