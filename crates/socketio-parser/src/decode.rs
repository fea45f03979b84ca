//! The default (text) decoder: a text message, then its binary attachments.

use bytes::Bytes;

use crate::error::ParseError;
use crate::json::parse_json;
use crate::packet::{Packet, PacketKind, ProtocolVersion};
use crate::value::Value;

/// Bounds on what a peer may send. Message sizes are bounded by the Engine.IO layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Most attachments one BINARY_EVENT/BINARY_ACK may announce (default 10).
    pub max_attachments: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_attachments: 10,
        }
    }
}

/// A binary packet whose text has arrived, waiting for its attachments.
#[derive(Debug)]
struct Pending {
    packet: Packet,
    expected: usize,
    received: Vec<Bytes>,
}

/// Decodes the messages of one connection. Stateful: the attachments of a binary packet
/// arrive as separate binary messages after its text.
#[derive(Debug)]
pub struct Decoder {
    limits: Limits,
    version: ProtocolVersion,
    pending: Option<Pending>,
}

impl Decoder {
    /// A protocol v5 decoder.
    #[must_use]
    pub fn new(limits: Limits) -> Self {
        Self::with_version(limits, ProtocolVersion::V5)
    }

    /// A decoder for the given protocol revision.
    #[must_use]
    pub fn with_version(limits: Limits, version: ProtocolVersion) -> Self {
        Self {
            limits,
            version,
            pending: None,
        }
    }

    /// True while attachments of a binary packet are awaited.
    #[must_use]
    pub fn is_awaiting_attachments(&self) -> bool {
        self.pending.is_some()
    }

    /// Forgets a partly received packet (Node's `destroy`).
    pub fn reset(&mut self) {
        self.pending = None;
    }

    /// Decodes a text message. `Ok(None)` means a binary packet now awaits its attachments.
    ///
    /// # Errors
    /// Any violation of the format or of the payload rules; a text message while
    /// attachments are awaited. The decoder is reset.
    pub fn decode_text(&mut self, text: &str) -> Result<Option<Packet>, ParseError> {
        if self.pending.take().is_some() {
            return Err(ParseError::UnexpectedText);
        }
        let (packet, attachments) = parse_text(text, self.limits, self.version)?;
        let Some(expected) = attachments else {
            return Ok(Some(packet));
        };
        check_placeholders(&packet, expected)?;
        if expected == 0 {
            return Ok(Some(packet));
        }
        self.pending = Some(Pending {
            packet,
            expected,
            received: Vec::with_capacity(expected),
        });
        Ok(None)
    }

    /// Decodes a binary message: the next attachment of the awaited packet. Returns the
    /// packet, placeholders replaced, once its last attachment has arrived.
    ///
    /// # Errors
    /// [`ParseError::UnexpectedBinary`] when no attachment is awaited.
    pub fn decode_binary(&mut self, data: Bytes) -> Result<Option<Packet>, ParseError> {
        let Some(pending) = self.pending.as_mut() else {
            return Err(ParseError::UnexpectedBinary);
        };
        pending.received.push(data);
        if pending.received.len() < pending.expected {
            return Ok(None);
        }
        let Some(Pending {
            mut packet,
            received,
            ..
        }) = self.pending.take()
        else {
            return Err(ParseError::UnexpectedBinary);
        };
        if let Some(args) = packet.args_mut() {
            args.iter_mut().for_each(|a| fill(a, &received));
        }
        Ok(Some(packet))
    }
}

/// Parses the text of one packet; for a binary type, also returns its attachment count.
fn parse_text(
    text: &str,
    limits: Limits,
    version: ProtocolVersion,
) -> Result<(Packet, Option<usize>), ParseError> {
    let b = text.as_bytes();
    let first = *b.first().ok_or(ParseError::Empty)?;
    let kind = first
        .checked_sub(b'0')
        .and_then(PacketKind::from_u8)
        .ok_or(ParseError::UnknownPacketType)?;
    let mut i = 1;

    let mut attachments = None;
    if kind.is_binary() {
        let end = i + b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
        if end == i || b.get(end) != Some(&b'-') {
            return Err(ParseError::InvalidAttachmentCount);
        }
        let announced = text[i..end].parse::<usize>().unwrap_or(usize::MAX);
        if announced > limits.max_attachments {
            return Err(ParseError::TooManyAttachments {
                announced,
                max: limits.max_attachments,
            });
        }
        attachments = Some(announced);
        i = end + 1;
    }

    let nsp = if b.get(i) == Some(&b'/') {
        let end = b[i..]
            .iter()
            .position(|&c| c == b',')
            .map_or(b.len(), |p| i + p);
        let nsp = text[i..end].to_owned();
        i = (end + 1).min(b.len());
        nsp
    } else {
        "/".to_owned()
    };

    let mut id = None;
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 {
        id = Some(
            text[i..i + digits]
                .parse::<u64>()
                .map_err(|_| ParseError::InvalidAckId)?,
        );
        i += digits;
    }

    let data = if i < b.len() {
        let value: Value =
            parse_json(&text[i..]).map_err(|e| ParseError::InvalidJson(e.to_string()))?;
        Some(value)
    } else {
        None
    };
    let packet = Packet::from_parts(kind, nsp, id, data, version)?;
    Ok((packet, attachments))
}

/// The `num` of an object Node treats as a placeholder (`_placeholder === true`).
fn placeholder(value: &Value) -> Option<Option<usize>> {
    let Value::Object(map) = value else {
        return None;
    };
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(
        map.get("num")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok()),
    )
}

/// Checks that the placeholders of a binary packet number its attachments exactly once each.
fn check_placeholders(packet: &Packet, expected: usize) -> Result<(), ParseError> {
    let mut seen = vec![false; expected];
    if let Some(args) = packet.args() {
        for arg in args {
            walk(arg, &mut seen)?;
        }
    }
    match seen.iter().position(|s| !s) {
        Some(unused) => Err(ParseError::UnusedAttachment(unused)),
        None => Ok(()),
    }
}

fn walk(value: &Value, seen: &mut [bool]) -> Result<(), ParseError> {
    if let Some(num) = placeholder(value) {
        let num = num.ok_or(ParseError::InvalidPlaceholder)?;
        let slot = seen.get_mut(num).ok_or(ParseError::InvalidPlaceholder)?;
        if *slot {
            return Err(ParseError::DuplicatePlaceholder(num));
        }
        *slot = true;
        return Ok(());
    }
    match value {
        Value::Array(items) => items.iter().try_for_each(|v| walk(v, seen)),
        Value::Object(map) => map.values().try_for_each(|v| walk(v, seen)),
        _ => Ok(()),
    }
}

/// Replaces every (already checked) placeholder by its attachment.
fn fill(value: &mut Value, received: &[Bytes]) {
    if let Some(Some(num)) = placeholder(value) {
        if let Some(b) = received.get(num) {
            *value = Value::Binary(b.clone());
        }
        return;
    }
    match value {
        Value::Array(items) => items.iter_mut().for_each(|v| fill(v, received)),
        Value::Object(map) => map.values_mut().for_each(|v| fill(v, received)),
        _ => {}
    }
}
