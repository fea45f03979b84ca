//! The default (text) encoder: `<type>[<n>-][<nsp>,][<id>][<json>]` plus attachments.

use std::cell::Cell;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};

use crate::packet::{ConnectErrorData, Packet, Payload};
use crate::value::Value;

/// One encoded packet: a text message, then one binary message per attachment, in order.
///
/// Cloning is cheap (two reference counts), so a broadcast encodes once and clones per
/// recipient.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Encoded {
    /// The text message, UTF-8 (send it as an Engine.IO text message).
    pub text: Bytes,
    /// The binary attachments (send each as an Engine.IO binary message after the text).
    pub attachments: Arc<[Bytes]>,
}

impl Encoded {
    /// The text message as `&str` (validated on each call; it is always UTF-8).
    #[must_use]
    pub fn text_str(&self) -> &str {
        std::str::from_utf8(&self.text).unwrap_or_default()
    }
}

/// Encodes a packet for the default parser.
///
/// An EVENT/ACK whose arguments contain [`Value::Binary`] becomes BINARY_EVENT/BINARY_ACK:
/// each binary, depth first, is replaced by `{"_placeholder":true,"num":N}` and returned in
/// [`Encoded::attachments`]. The namespace is omitted for `/`. JSON is written straight into
/// the output buffer.
#[must_use]
pub fn encode(packet: &Packet) -> Encoded {
    let mut attachments = Vec::new();
    if let Some(args) = packet.args() {
        args.iter().for_each(|a| a.collect_binary(&mut attachments));
    }
    let mut out: Vec<u8> = Vec::with_capacity(64);
    let mut head = String::with_capacity(16);
    let kind = packet.kind();
    let _ = write!(head, "{}", kind as u8);
    if kind.is_binary() {
        let _ = write!(head, "{}-", attachments.len());
    }
    out.extend_from_slice(head.as_bytes());
    if packet.nsp() != "/" {
        out.extend_from_slice(packet.nsp().as_bytes());
        out.push(b',');
    }
    if let Some(id) = packet.id() {
        head.clear();
        let _ = write!(head, "{id}");
        out.extend_from_slice(head.as_bytes());
    }
    let next = Cell::new(0usize);
    match &packet.payload {
        Payload::Connect(None) | Payload::Disconnect => {}
        Payload::Connect(Some(map)) | Payload::ConnectError(ConnectErrorData::Object(map)) => {
            write_json(&mut out, map);
        }
        Payload::ConnectError(ConnectErrorData::Message(m)) => write_json(&mut out, m),
        Payload::Event { name, args, .. } => {
            out.push(b'[');
            write_json(&mut out, name);
            for arg in args {
                out.push(b',');
                write_json(
                    &mut out,
                    &Placeholders {
                        value: arg,
                        next: &next,
                    },
                );
            }
            out.push(b']');
        }
        Payload::Ack { args, .. } => {
            out.push(b'[');
            for (i, arg) in args.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json(
                    &mut out,
                    &Placeholders {
                        value: arg,
                        next: &next,
                    },
                );
            }
            out.push(b']');
        }
    }
    Encoded {
        text: Bytes::from(out),
        attachments: attachments.into(),
    }
}

fn write_json<T: Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing to a Vec cannot fail, and every key of a Value is a string.
    let _ = serde_json::to_writer(out, value);
}

/// Serializes a value with every binary replaced by the next placeholder.
struct Placeholders<'a> {
    value: &'a Value,
    next: &'a Cell<usize>,
}

impl Serialize for Placeholders<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.value {
            Value::Binary(_) => {
                let num = self.next.get();
                self.next.set(num + 1);
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("_placeholder", &true)?;
                m.serialize_entry("num", &num)?;
                m.end()
            }
            Value::Array(items) => {
                let mut seq = s.serialize_seq(Some(items.len()))?;
                for value in items {
                    seq.serialize_element(&Placeholders {
                        value,
                        next: self.next,
                    })?;
                }
                seq.end()
            }
            Value::Object(map) => {
                let mut m = s.serialize_map(Some(map.len()))?;
                for (k, value) in map {
                    m.serialize_entry(
                        k,
                        &Placeholders {
                            value,
                            next: self.next,
                        },
                    )?;
                }
                m.end()
            }
            other => other.serialize(s),
        }
    }
}
