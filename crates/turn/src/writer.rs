//! Encoding STUN messages into a caller-provided buffer.

use crate::attributes::{Attribute, AttributeError, AttributeType};
use crate::integrity;
use crate::message::{message_type, Class, Method, TransactionId, HEADER_LEN, MAGIC_COOKIE};

/// Appends one STUN message to a caller-provided `Vec<u8>` (which may already hold other
/// data, and can be reused between messages to avoid allocation).
///
/// Attributes are written in call order; [`MessageWriter::message_integrity`] and
/// [`MessageWriter::fingerprint`] must come last, in that order.
///
/// ```
/// use switchboard_turn::{Attribute, Class, Message, MessageWriter, Method, TransactionId};
///
/// let mut buf = Vec::new();
/// let tid = TransactionId([7; 12]);
/// let mut w = MessageWriter::new(&mut buf, Class::Request, Method::BINDING, tid);
/// w.attribute(&Attribute::Software("demo")).unwrap();
/// w.fingerprint();
/// let msg = Message::decode(&buf).unwrap();
/// assert_eq!(msg.get(switchboard_turn::AttributeType::SOFTWARE), Some(Attribute::Software("demo")));
/// ```
#[derive(Debug)]
pub struct MessageWriter<'b> {
    out: &'b mut Vec<u8>,
    start: usize,
    tid: TransactionId,
}

impl<'b> MessageWriter<'b> {
    /// Starts a message at the end of `out`.
    pub fn new(out: &'b mut Vec<u8>, class: Class, method: Method, tid: TransactionId) -> Self {
        let start = out.len();
        out.extend_from_slice(&message_type(class, method).to_be_bytes());
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&MAGIC_COOKIE.to_be_bytes());
        out.extend_from_slice(tid.as_bytes());
        Self { out, start, tid }
    }

    /// The transaction id being written.
    #[must_use]
    pub const fn transaction_id(&self) -> TransactionId {
        self.tid
    }

    /// Bytes of the message written so far.
    #[must_use]
    pub fn as_bytes(&self) -> &[u8] {
        &self.out[self.start..]
    }

    fn set_length(&mut self, body: usize) {
        // Callers keep `body` within u16 (checked in `attribute`/`raw_attribute`).
        let len = u16::try_from(body).unwrap_or(u16::MAX).to_be_bytes();
        self.out[self.start + 2] = len[0];
        self.out[self.start + 3] = len[1];
    }

    fn body_len(&self) -> usize {
        self.out.len() - self.start - HEADER_LEN
    }

    /// Appends one attribute, padded to four bytes.
    pub fn attribute(&mut self, attr: &Attribute<'_>) -> Result<(), AttributeError> {
        let header_at = self.out.len();
        self.out
            .extend_from_slice(&attr.attribute_type().0.to_be_bytes());
        self.out.extend_from_slice(&[0, 0]);
        let tid = self.tid;
        if let Err(e) = attr.encode_value(&tid, self.out) {
            self.out.truncate(header_at);
            return Err(e);
        }
        self.finish_attribute(header_at)
    }

    /// Appends one attribute with a raw value, padded to four bytes.
    pub fn raw_attribute(
        &mut self,
        typ: AttributeType,
        value: &[u8],
    ) -> Result<(), AttributeError> {
        self.attribute(&Attribute::Other(typ, value))
    }

    /// Appends UNKNOWN-ATTRIBUTES listing `types`.
    pub fn unknown_attributes(&mut self, types: &[AttributeType]) -> Result<(), AttributeError> {
        let header_at = self.out.len();
        self.out
            .extend_from_slice(&AttributeType::UNKNOWN_ATTRIBUTES.0.to_be_bytes());
        self.out.extend_from_slice(&[0, 0]);
        for t in types {
            self.out.extend_from_slice(&t.0.to_be_bytes());
        }
        self.finish_attribute(header_at)
    }

    fn finish_attribute(&mut self, header_at: usize) -> Result<(), AttributeError> {
        let value_len = self.out.len() - header_at - 4;
        let padded = (value_len + 3) & !3;
        let Ok(len16) = u16::try_from(value_len) else {
            self.out.truncate(header_at);
            return Err(AttributeError::TooLong);
        };
        if self.body_len() + (padded - value_len) > usize::from(u16::MAX) - 3 {
            self.out.truncate(header_at);
            return Err(AttributeError::TooLong);
        }
        self.out[header_at + 2..header_at + 4].copy_from_slice(&len16.to_be_bytes());
        self.out.resize(header_at + 4 + padded, 0);
        self.set_length(self.body_len());
        Ok(())
    }

    /// Appends MESSAGE-INTEGRITY (HMAC-SHA1 with `key`).
    pub fn message_integrity(&mut self, key: &[u8]) {
        let at = self.out.len() - self.start;
        self.set_length(at + 24 - HEADER_LEN);
        let mac = integrity::sha1_mac(&self.out[self.start..], at, key).unwrap_or([0; 20]);
        self.out
            .extend_from_slice(&AttributeType::MESSAGE_INTEGRITY.0.to_be_bytes());
        self.out.extend_from_slice(&20u16.to_be_bytes());
        self.out.extend_from_slice(&mac);
        self.set_length(self.body_len());
    }

    /// Appends MESSAGE-INTEGRITY-SHA256 (full 32-byte HMAC-SHA256 with `key`).
    pub fn message_integrity_sha256(&mut self, key: &[u8]) {
        let at = self.out.len() - self.start;
        self.set_length(at + 36 - HEADER_LEN);
        let mac = integrity::sha256_mac(&self.out[self.start..], at, key, 32).unwrap_or([0; 32]);
        self.out
            .extend_from_slice(&AttributeType::MESSAGE_INTEGRITY_SHA256.0.to_be_bytes());
        self.out.extend_from_slice(&32u16.to_be_bytes());
        self.out.extend_from_slice(&mac);
        self.set_length(self.body_len());
    }

    /// Appends FINGERPRINT. Must be the last attribute.
    pub fn fingerprint(&mut self) {
        self.set_length(self.body_len() + 8);
        let crc = integrity::fingerprint(&self.out[self.start..]);
        self.out
            .extend_from_slice(&AttributeType::FINGERPRINT.0.to_be_bytes());
        self.out.extend_from_slice(&4u16.to_be_bytes());
        self.out.extend_from_slice(&crc.to_be_bytes());
    }

    /// Finishes the message, returning its length in bytes.
    pub fn finish(self) -> usize {
        self.out.len() - self.start
    }
}
