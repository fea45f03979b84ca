//! Socket.IO packets on the wire (Node's default parser): encoding once into Engine.IO
//! packets, and decoding with binary attachments reassembled.
//!
//! `<type>[<attachments>-][<nsp>,][<id>][<json>]`; binary values are replaced by
//! `{"_placeholder":true,"num":N}` and sent as the following Engine.IO binary messages.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::sync::Arc;

use bytes::Bytes;
use switchboard_engineio::{EncodedPacket, Message};

use switchboard_socketio_parser::{
    msgpack, parse_event, parse_json, plain_prefix_len, ConnectErrorData, First, Packet, Payload,
};

use crate::namespace::ConnectError;
use crate::value::{Map, Value};

/// The packet format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Codec {
    /// Node's default parser (JSON text plus binary attachments).
    #[default]
    Text,
    /// `socket.io-msgpack-parser`'s format: each packet one binary message, binary values
    /// inline.
    MsgPack,
}

/// The Socket.IO protocol revision of a client: 5 (Socket.IO 3 and 4, Engine.IO 4) or 4
/// (Socket.IO 2, Engine.IO 3). They differ in CONNECT and CONNECT_ERROR only.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Protocol {
    V4,
    V5,
}

impl Protocol {
    pub(crate) fn of(engine: switchboard_engineio::Protocol) -> Self {
        match engine {
            switchboard_engineio::Protocol::V3 => Protocol::V4,
            switchboard_engineio::Protocol::V4 => Protocol::V5,
        }
    }
}

/// One Socket.IO packet as Engine.IO packets (the text, then its attachments), shared.
#[derive(Debug, Clone)]
pub(crate) enum Packets {
    /// No attachments: the common case, without a shared slice to allocate.
    One(EncodedPacket),
    /// The text and its attachments.
    Many(Arc<[EncodedPacket]>),
}

impl Packets {
    pub(crate) fn iter(&self) -> impl Iterator<Item = &EncodedPacket> {
        self.as_slice().iter()
    }

    pub(crate) fn as_slice(&self) -> &[EncodedPacket] {
        match self {
            Packets::One(packet) => std::slice::from_ref(packet),
            Packets::Many(packets) => packets,
        }
    }

    /// The same packets, compressed or not (`compress` false: never).
    pub(crate) fn compressed(self, compress: bool) -> Self {
        if compress {
            return self;
        }
        match self {
            Packets::One(packet) => Packets::One(packet.without_compression()),
            Packets::Many(packets) => Packets::Many(
                packets
                    .iter()
                    .map(|p| p.clone().without_compression())
                    .collect(),
            ),
        }
    }
}

const CONNECT: u8 = 0;
const DISCONNECT: u8 = 1;
const EVENT: u8 = 2;
const ACK: u8 = 3;
const CONNECT_ERROR: u8 = 4;
const BINARY_EVENT: u8 = 5;
const BINARY_ACK: u8 = 6;

/// Events the client may not send (Node's `RESERVED_EVENTS`).
const RESERVED: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// Starts a packet's text: the Engine.IO message digit `4`, then the Socket.IO header.
fn header(out: &mut String, kind: u8, attachments: usize, nsp: &str, id: Option<u64>) {
    out.push('4');
    out.push(char::from(b'0' + kind));
    // Writing to a String cannot fail.
    if attachments > 0 {
        push_u64(out, attachments as u64);
        out.push('-');
    }
    if nsp != "/" {
        out.push_str(nsp);
        out.push(',');
    }
    if let Some(id) = id {
        push_u64(out, id);
    }
}

/// Writes `n` in decimal (without `fmt`'s machinery, which costs more than the digits on
/// every acknowledgement).
fn push_u64(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    for &d in &digits[at..] {
        out.push(char::from(d));
    }
}

/// How many binary values `value` holds, and how long its JSON is: exact but for non-integer
/// numbers and binary placeholders (upper bounds there). A buffer sized exactly becomes
/// `Bytes` without a second allocation for the reference count.
fn measure(value: &Value) -> (usize, usize) {
    match value {
        Value::Null | Value::Bool(true) => (0, 4),
        Value::Bool(false) => (0, 5),
        Value::Number(n) => match (n.as_u64(), n.as_i64()) {
            (Some(u), _) => (0, decimal_len(u)),
            (None, Some(i)) => (0, 1 + decimal_len(i.unsigned_abs())),
            // The longest an f64 prints, `-1.7976931348623157e308` and the like.
            _ => (0, 24),
        },
        Value::String(s) => (0, escaped_len(s)),
        Value::Array(items) => items
            .iter()
            .fold((0, 1 + items.len().max(1)), |(b, l), item| {
                let (bi, li) = measure(item);
                (b + bi, l + li)
            }),
        Value::Object(map) => map
            .iter()
            .fold((0, 1 + map.len().max(1)), |(b, l), (key, item)| {
                let (bi, li) = measure(item);
                (b + bi, l + escaped_len(key) + 1 + li)
            }),
        Value::Binary(_) => (1, r#"{"_placeholder":true,"num":}"#.len() + 20),
    }
}

/// The number of decimal digits of `n`.
fn decimal_len(n: u64) -> usize {
    n.checked_ilog10().map_or(1, |digits| digits as usize + 1)
}

/// The length of `s` written by [`write_str`], quotes included.
fn escaped_len(s: &str) -> usize {
    let bytes = s.as_bytes();
    let mut len = s.len() + 2;
    let mut at = plain_prefix_len(bytes);
    while let Some(&b) = bytes.get(at) {
        len += match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 1,
            _ => 5,
        };
        at += 1;
        at += plain_prefix_len(&bytes[at..]);
    }
    len
}

/// The length of what [`header`] writes.
fn header_len(attachments: usize, nsp: &str, id: Option<u64>) -> usize {
    let attachments = if attachments > 0 {
        decimal_len(attachments as u64) + 1
    } else {
        0
    };
    let nsp = if nsp == "/" { 0 } else { nsp.len() + 1 };
    2 + attachments + nsp + id.map_or(0, decimal_len)
}

fn finish(text: String, attachments: Vec<Bytes>) -> Packets {
    // `header` wrote the leading `4`, so this cannot fail; the fallback copies.
    let first =
        EncodedPacket::from_message_text(text).unwrap_or_else(|text| EncodedPacket::text(&text));
    if attachments.is_empty() {
        return Packets::One(first);
    }
    let mut packets = Vec::with_capacity(1 + attachments.len());
    packets.push(first);
    packets.extend(attachments.into_iter().map(EncodedPacket::binary));
    Packets::Many(packets.into())
}

/// Writes `value` as JSON, binary replaced by placeholders (collected in `attachments`).
fn write_json(out: &mut String, value: &Value, attachments: &mut Vec<Bytes>) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match n.as_u64() {
            Some(u) => push_u64(out, u),
            None => {
                let _ = write!(out, "{n}");
            }
        },
        Value::String(s) => write_str(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_json(out, item, attachments);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(out, key);
                out.push(':');
                write_json(out, item, attachments);
            }
            out.push('}');
        }
        Value::Binary(bytes) => {
            let _ = write!(
                out,
                r#"{{"_placeholder":true,"num":{}}}"#,
                attachments.len()
            );
            attachments.push(bytes.clone());
        }
    }
}

/// Writes `s` as a JSON string, escaped as `JSON.stringify` does: `"` and `\`, and control
/// characters (short forms where JSON has them, `\u00XX` otherwise).
fn write_str(out: &mut String, s: &str) {
    out.push('"');
    let bytes = s.as_bytes();
    let mut at = 0;
    loop {
        let run = at;
        at += plain_prefix_len(&bytes[at..]);
        out.push_str(&s[run..at]);
        let Some(&b) = bytes.get(at) else { break };
        // `b` is ASCII, so `at + 1` is a character boundary.
        at += 1;
        let short = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            _ => {
                let _ = write!(out, "\\u{b:04x}");
                continue;
            }
        };
        out.push_str(short);
    }
    out.push('"');
}

/// A packet whose payload is one JSON value, written in one buffer.
fn data_packet(kind: (u8, u8), nsp: &str, id: Option<u64>, data: &Value) -> Packets {
    let (binaries, len) = measure(data);
    let kind = if binaries == 0 { kind.0 } else { kind.1 };
    let mut text = String::with_capacity(header_len(binaries, nsp, id) + len);
    header(&mut text, kind, binaries, nsp, id);
    let mut attachments = Vec::with_capacity(binaries);
    write_json(&mut text, data, &mut attachments);
    finish(text, attachments)
}

/// An EVENT (BINARY_EVENT when an argument holds binary).
pub(crate) fn event(
    nsp: &str,
    event: &str,
    args: &[Value],
    id: Option<u64>,
    codec: Codec,
) -> Packets {
    if codec == Codec::MsgPack {
        return binary(msgpack::encode_event(nsp, event, args, id));
    }
    // `[`, the name, a comma and each argument, `]`.
    let (binaries, len) = args
        .iter()
        .fold((0, 2 + escaped_len(event)), |(b, l), arg| {
            let (ba, la) = measure(arg);
            (b + ba, l + 1 + la)
        });
    let kind = if binaries == 0 { EVENT } else { BINARY_EVENT };
    let mut text = String::with_capacity(header_len(binaries, nsp, id) + len);
    header(&mut text, kind, binaries, nsp, id);
    let mut attachments = Vec::with_capacity(binaries);
    text.push('[');
    write_str(&mut text, event);
    for arg in args {
        text.push(',');
        write_json(&mut text, arg, &mut attachments);
    }
    text.push(']');
    finish(text, attachments)
}

/// An ACK (BINARY_ACK when an argument holds binary).
pub(crate) fn ack(nsp: &str, id: u64, args: Vec<Value>, codec: Codec) -> Packets {
    if codec == Codec::MsgPack {
        return binary(msgpack::encode_ack(nsp, id, &args));
    }
    data_packet((ACK, BINARY_ACK), nsp, Some(id), &Value::Array(args))
}

/// The server leaving a namespace.
pub(crate) fn disconnect(nsp: &str, codec: Codec) -> Packets {
    if codec == Codec::MsgPack {
        return binary(msgpack::encode(&Packet::disconnect(nsp)));
    }
    let mut text = String::new();
    header(&mut text, DISCONNECT, 0, nsp, None);
    finish(text, Vec::new())
}

/// The answer to a successful CONNECT: `{"sid":…}` in v5 (with `"pid"`, the private session
/// id, when connection-state recovery is on), nothing in v4.
pub(crate) fn connect(
    nsp: &str,
    sid: &str,
    pid: Option<&str>,
    codec: Codec,
    protocol: Protocol,
) -> Packets {
    if codec == Codec::MsgPack {
        let mut data = Map::new();
        data.insert("sid".into(), Value::from(sid));
        if let Some(pid) = pid {
            data.insert("pid".into(), Value::from(pid));
        }
        return binary(msgpack::encode(&Packet::connect(nsp, Some(data))));
    }
    let mut text = String::new();
    header(&mut text, CONNECT, 0, nsp, None);
    if protocol == Protocol::V5 {
        text.push_str(r#"{"sid":"#);
        write_str(&mut text, sid);
        if let Some(pid) = pid {
            text.push_str(r#","pid":"#);
            write_str(&mut text, pid);
        }
        text.push('}');
    }
    finish(text, Vec::new())
}

/// A refused CONNECT: `{"message":…,"data":…}` in v5, the message as a string in v4.
pub(crate) fn connect_error(
    nsp: &str,
    error: &ConnectError,
    codec: Codec,
    protocol: Protocol,
) -> Packets {
    if codec == Codec::MsgPack {
        let mut data = Map::new();
        data.insert("message".into(), Value::from(error.message.as_str()));
        if let Some(extra) = &error.data {
            data.insert("data".into(), extra.clone());
        }
        let packet = Packet::connect_error(nsp, ConnectErrorData::Object(data));
        return binary(msgpack::encode(&packet));
    }
    let mut text = String::new();
    header(&mut text, CONNECT_ERROR, 0, nsp, None);
    let mut ignored = Vec::new();
    match protocol {
        Protocol::V5 => {
            text.push_str(r#"{"message":"#);
            write_str(&mut text, &error.message);
            if let Some(data) = &error.data {
                text.push_str(r#","data":"#);
                write_json(&mut text, data, &mut ignored);
            }
            text.push('}');
        }
        Protocol::V4 => write_str(&mut text, &error.message),
    }
    finish(text, Vec::new())
}

/// A packet from the client, as the server acts on it. An event's name is borrowed from the
/// message when it can be: the server looks a handler up by it and rarely needs a copy.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decoded<'a> {
    Connect {
        nsp: Nsp,
        auth: Value,
    },
    Disconnect {
        nsp: Nsp,
    },
    Event {
        nsp: Nsp,
        event: Cow<'a, str>,
        args: Vec<Value>,
        id: Option<u64>,
    },
    Ack {
        nsp: Nsp,
        id: u64,
        args: Vec<Value>,
    },
}

#[cfg(test)]
impl Decoded<'_> {
    fn into_owned(self) -> Decoded<'static> {
        match self {
            Decoded::Connect { nsp, auth } => Decoded::Connect { nsp, auth },
            Decoded::Disconnect { nsp } => Decoded::Disconnect { nsp },
            Decoded::Event {
                nsp,
                event,
                args,
                id,
            } => Decoded::Event {
                nsp,
                event: Cow::Owned(event.into_owned()),
                args,
                id,
            },
            Decoded::Ack { nsp, id, args } => Decoded::Ack { nsp, id, args },
        }
    }
}

/// A namespace name from a packet: the main namespace (nearly every packet) costs no
/// allocation.
pub(crate) type Nsp = Cow<'static, str>;

fn nsp_of(name: &str) -> Nsp {
    if name == "/" {
        Cow::Borrowed("/")
    } else {
        Cow::Owned(name.to_owned())
    }
}

/// Why a client's packet is refused (the connection is then closed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DecodeError(pub(crate) &'static str);

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

/// One packet of the msgpack parser.
fn from_msgpack(bytes: &Bytes) -> Result<Decoded<'static>, DecodeError> {
    let packet = msgpack::decode_bytes(bytes).map_err(|_| DecodeError("invalid msgpack packet"))?;
    let nsp = nsp_of(packet.nsp());
    Ok(match packet.payload {
        Payload::Connect(auth) => Decoded::Connect {
            nsp,
            auth: auth.map_or(Value::Null, Value::Object),
        },
        Payload::Disconnect => Decoded::Disconnect { nsp },
        Payload::Event { name, args, id } => Decoded::Event {
            nsp,
            event: event_name(First::Str(Cow::Owned(name)))?,
            args,
            id,
        },
        Payload::Ack { id, args } => Decoded::Ack { nsp, id, args },
        Payload::ConnectError(_) => return Err(DecodeError("CONNECT_ERROR from a client")),
    })
}

/// One binary Engine.IO message.
fn binary(bytes: Bytes) -> Packets {
    Packets::One(EncodedPacket::binary(bytes))
}

/// A packet waiting for its attachments.
#[derive(Debug)]
struct Partial {
    kind: u8,
    nsp: Nsp,
    id: Option<u64>,
    json: Value,
    expected: usize,
    attachments: Vec<Bytes>,
}

/// Decodes the packets of one connection (stateful: binary attachments arrive after their
/// packet).
#[derive(Debug)]
pub(crate) struct WireDecoder {
    codec: Codec,
    protocol: Protocol,
    max_attachments: usize,
    partial: Option<Partial>,
}

impl WireDecoder {
    pub(crate) fn new(codec: Codec, protocol: Protocol, max_attachments: usize) -> Self {
        Self {
            codec,
            protocol,
            max_attachments,
            partial: None,
        }
    }

    /// Decodes one Engine.IO message: a packet, `None` while attachments are missing.
    pub(crate) fn decode<'m>(
        &mut self,
        message: &'m Message,
    ) -> Result<Option<Decoded<'m>>, DecodeError> {
        if self.codec == Codec::MsgPack {
            return match message {
                Message::Binary(bytes) => from_msgpack(bytes).map(Some),
                Message::Text(_) => Err(DecodeError("text message with the msgpack parser")),
            };
        }
        match message {
            Message::Text(text) => {
                if self.partial.is_some() {
                    return Err(DecodeError("text packet while attachments were expected"));
                }
                self.decode_text(text)
            }
            Message::Binary(bytes) => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(DecodeError("unexpected binary attachment"));
                };
                partial.attachments.push(bytes.clone());
                if partial.attachments.len() < partial.expected {
                    return Ok(None);
                }
                let Some(partial) = self.partial.take() else {
                    return Ok(None);
                };
                let json = partial.json;
                let value = with_attachments(json, &partial.attachments)?;
                finish_decoded(partial.kind, partial.nsp, partial.id, value).map(Some)
            }
        }
    }

    fn decode_text<'t>(&mut self, text: &'t str) -> Result<Option<Decoded<'t>>, DecodeError> {
        let bytes = text.as_bytes();
        let kind = match bytes.first() {
            Some(b @ b'0'..=b'6') => b - b'0',
            _ => return Err(DecodeError("unknown packet type")),
        };
        let mut at = 1;
        let mut expected = 0usize;
        if kind == BINARY_EVENT || kind == BINARY_ACK {
            let start = at;
            while bytes.get(at).is_some_and(u8::is_ascii_digit) {
                at += 1;
            }
            if at == start || bytes.get(at) != Some(&b'-') {
                return Err(DecodeError("illegal attachments"));
            }
            expected = text[start..at]
                .parse()
                .map_err(|_| DecodeError("illegal attachments"))?;
            if expected == 0 || expected > self.max_attachments {
                return Err(DecodeError("illegal attachments"));
            }
            at += 1;
        }
        let mut nsp = "/";
        if bytes.get(at) == Some(&b'/') {
            let end = text[at..].find(',').map_or(text.len(), |i| at + i);
            nsp = &text[at..end];
            at = (end + 1).min(text.len());
        }
        if self.protocol == Protocol::V4 {
            // Socket.IO 2 sends the handshake query in the namespace: `/nsp?x=y`.
            if let Some(q) = nsp.find('?') {
                nsp = &nsp[..q];
            }
        }
        let nsp = nsp_of(nsp);
        let mut id = None;
        let start = at;
        while bytes.get(at).is_some_and(u8::is_ascii_digit) {
            at += 1;
        }
        if at > start {
            id = Some(
                text[start..at]
                    .parse::<u64>()
                    .map_err(|_| DecodeError("invalid ack id"))?,
            );
        }
        if kind == EVENT && at < text.len() {
            // Nearly every packet: the name stays in the message.
            let (first, args) =
                parse_event(&text[at..]).map_err(|_| DecodeError("invalid payload"))?;
            let event = event_name(first)?;
            return Ok(Some(Decoded::Event {
                nsp,
                event,
                args,
                id,
            }));
        }
        let json = if at < text.len() {
            Some(parse_json(&text[at..]).map_err(|_| DecodeError("invalid payload"))?)
        } else {
            None
        };
        if expected > 0 {
            let json = json.ok_or(DecodeError("invalid payload"))?;
            self.partial = Some(Partial {
                kind,
                nsp,
                id,
                json,
                expected,
                attachments: Vec::with_capacity(expected),
            });
            return Ok(None);
        }
        match json {
            Some(json) => finish_decoded(kind, nsp, id, json).map(Some),
            None => match kind {
                CONNECT => Ok(Some(Decoded::Connect {
                    nsp,
                    auth: Value::Null,
                })),
                DISCONNECT => Ok(Some(Decoded::Disconnect { nsp })),
                _ => Err(DecodeError("invalid payload")),
            },
        }
    }
}

/// Replaces placeholders by the attachments they name.
fn with_attachments(value: Value, attachments: &[Bytes]) -> Result<Value, DecodeError> {
    Ok(match value {
        Value::Object(map) => {
            if map.get("_placeholder") == Some(&Value::Bool(true)) {
                let num = match map.get("num") {
                    Some(Value::Number(n)) => n.as_u64(),
                    _ => None,
                }
                .ok_or(DecodeError("illegal attachments"))?;
                let bytes = usize::try_from(num)
                    .ok()
                    .and_then(|n| attachments.get(n))
                    .ok_or(DecodeError("illegal attachments"))?;
                Value::Binary(bytes.clone())
            } else {
                Value::Object(
                    map.into_iter()
                        .map(|(k, v)| Ok((k, with_attachments(v, attachments)?)))
                        .collect::<Result<_, DecodeError>>()?,
                )
            }
        }
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| with_attachments(v, attachments))
                .collect::<Result<_, _>>()?,
        ),
        other => other,
    })
}

/// An event packet's name: a string that is not reserved, or a number (as Node's parser takes
/// it).
fn event_name(first: First<'_>) -> Result<Cow<'_, str>, DecodeError> {
    let name = match first {
        First::Str(name) => name,
        First::Other(Value::String(name)) => Cow::Owned(name),
        First::Other(Value::Number(n)) => return Ok(Cow::Owned(n.to_string())),
        First::Other(_) => return Err(DecodeError("invalid payload")),
    };
    if RESERVED.contains(&&*name) {
        return Err(DecodeError("reserved event name"));
    }
    Ok(name)
}

/// Validates a packet's payload as Node's parser does and turns it into what the server uses.
fn finish_decoded(
    kind: u8,
    nsp: Nsp,
    id: Option<u64>,
    data: Value,
) -> Result<Decoded<'static>, DecodeError> {
    match kind {
        CONNECT => match data {
            Value::Object(_) => Ok(Decoded::Connect { nsp, auth: data }),
            _ => Err(DecodeError("invalid payload")),
        },
        EVENT | BINARY_EVENT => {
            let Value::Array(mut items) = data else {
                return Err(DecodeError("invalid payload"));
            };
            if items.is_empty() {
                return Err(DecodeError("invalid payload"));
            }
            let event = event_name(First::Other(items.remove(0)))?;
            Ok(Decoded::Event {
                nsp,
                event,
                args: items,
                id,
            })
        }
        ACK | BINARY_ACK => {
            let (Value::Array(args), Some(id)) = (data, id) else {
                return Err(DecodeError("invalid payload"));
            };
            Ok(Decoded::Ack { nsp, id, args })
        }
        // DISCONNECT carries no payload; CONNECT_ERROR only goes to clients.
        _ => Err(DecodeError("invalid payload")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_are_written_as_display_writes_them() {
        for n in [
            0,
            1,
            9,
            10,
            99,
            100,
            12345,
            u64::from(u32::MAX),
            u64::MAX - 1,
            u64::MAX,
        ] {
            let mut out = String::new();
            push_u64(&mut out, n);
            assert_eq!(out, n.to_string());
        }
    }

    #[test]
    fn strings_are_escaped_as_json_stringify_does() {
        // serde_json escapes as JSON.stringify; every ASCII character and some beyond.
        let mut samples: Vec<String> = (0u8..0x80).map(|b| char::from(b).to_string()).collect();
        samples.extend(
            [
                "",
                "plain",
                "a\"b\\c\nd\u{1}e\u{1f}\u{7f}",
                "héllo — \u{2028}\u{2029} 🎉",
                "\"\"\\\\",
            ]
            .map(String::from),
        );
        // Special characters at every offset of the eight-byte words the scanner reads.
        for at in 0..20 {
            for special in ['"', '\\', '\n', '\u{1}', 'é'] {
                let mut s: String = "abcdefghijklmnopqrstu".into();
                s.insert(at, special);
                samples.push(s);
            }
        }
        for s in samples {
            let mut out = String::from("x");
            write_str(&mut out, &s);
            assert_eq!(out[1..], serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    #[test]
    fn packets_are_written_in_one_buffer_sized_up_front() {
        let args = [
            Value::from("a long enough string argument"),
            Value::Array(vec![Value::from(1.5), Value::Null, Value::Bool(true)]),
        ];
        let p = event("/", "ev", &args, Some(12), Codec::Text);
        let text = texts(&p).remove(0);
        assert_eq!(
            String::from_utf8(text).unwrap(),
            r#"4212["ev","a long enough string argument",[1.5,null,true]]"#
        );
    }

    #[test]
    fn measured_lengths_are_exact_but_for_floats_and_binary() {
        let mut object = Map::new();
        object.insert("k\"ey".into(), Value::from(-42));
        object.insert("\u{1}".into(), Value::Array(vec![]));
        object.insert("e".into(), Value::Object(Map::new()));
        let exact = [
            Value::Null,
            Value::Bool(true),
            Value::Bool(false),
            Value::from(0),
            Value::from(9),
            Value::from(10),
            Value::from(u64::MAX),
            Value::from(i64::MIN),
            Value::from("tab\there \"quoted\" \u{1f} é 😀"),
            Value::Array(vec![Value::from("a"), Value::from(1), Value::Array(vec![])]),
            Value::Object(object),
        ];
        for value in &exact {
            let mut out = String::new();
            write_json(&mut out, value, &mut Vec::new());
            assert_eq!(measure(value), (0, out.len()), "{value:?} as {out}");
        }
        for value in [
            Value::from(-1.7976931348623157e308),
            Value::from(5e-324),
            Value::Binary(Bytes::from_static(b"x")),
        ] {
            let mut out = String::new();
            write_json(&mut out, &value, &mut Vec::new());
            assert!(measure(&value).1 >= out.len(), "{value:?} as {out}");
        }
        for (attachments, nsp, id) in [
            (0, "/", None),
            (2, "/admin", Some(0)),
            (12, "/", Some(1234)),
        ] {
            let mut out = String::new();
            header(&mut out, 5, attachments, nsp, id);
            assert_eq!(header_len(attachments, nsp, id), out.len(), "{out}");
        }
    }

    #[test]
    fn msgpack_packets_are_single_binary_messages() {
        let bin = Value::Binary(Bytes::from_static(&[1, 2]));
        let p = event(
            "/chat",
            "up",
            std::slice::from_ref(&bin),
            Some(3),
            Codec::MsgPack,
        );
        let messages: Vec<_> = p.iter().collect();
        assert_eq!(messages.len(), 1, "binary values travel inline");
        assert!(messages[0].is_binary());
        let decoded = msgpack::decode(messages[0].as_bytes()).expect("msgpack");
        assert_eq!(decoded, Packet::event("/chat", "up", vec![bin], Some(3)));

        let p = connect("/", "s", Some("p"), Codec::MsgPack, Protocol::V5);
        let decoded = msgpack::decode(p.iter().next().expect("one").as_bytes()).expect("msgpack");
        let Payload::Connect(Some(data)) = decoded.payload else {
            panic!("a CONNECT with data");
        };
        assert_eq!(data.get("sid"), Some(&Value::from("s")));
        assert_eq!(data.get("pid"), Some(&Value::from("p")));
    }

    #[test]
    fn msgpack_client_packets_decode() {
        let mut decoder = WireDecoder::new(Codec::MsgPack, Protocol::V5, 10);
        let packet = Packet::event("/", "hi", vec![Value::from(1u64)], Some(7));
        let message = Message::Binary(msgpack::encode(&packet));
        let decoded = decoder.decode(&message).expect("decodes");
        assert_eq!(
            decoded,
            Some(Decoded::Event {
                nsp: "/".into(),
                event: "hi".into(),
                args: vec![Value::from(1u64)],
                id: Some(7),
            })
        );
        let reserved = Packet::event("/", "connect", vec![], None);
        assert!(decoder
            .decode(&Message::Binary(msgpack::encode(&reserved)))
            .is_err());
        assert!(decoder.decode(&Message::Text("42[\"x\"]".into())).is_err());
        assert!(decoder
            .decode(&Message::Binary(Bytes::from_static(b"\xc1")))
            .is_err());
    }

    /// The wire bytes of each Engine.IO packet (text ones start with the message digit `4`).
    fn texts(packets: &Packets) -> Vec<Vec<u8>> {
        packets.iter().map(|p| p.as_bytes().to_vec()).collect()
    }

    fn decode_all(messages: Vec<Message>) -> Result<Option<Decoded<'static>>, DecodeError> {
        let mut decoder = WireDecoder::new(Codec::Text, Protocol::V5, 10);
        let mut last = None;
        for m in &messages {
            last = decoder.decode(m)?.map(Decoded::into_owned);
        }
        Ok(last)
    }

    #[test]
    fn events_encode_as_node_does() {
        let p = event("/", "hello", &[Value::from("world")], None, Codec::Text);
        assert_eq!(texts(&p), vec![br#"42["hello","world"]"#.to_vec()]);
        let p = event("/admin", "a", &[], Some(12), Codec::Text);
        assert_eq!(texts(&p), vec![br#"42/admin,12["a"]"#.to_vec()]);
        let bin = Value::Binary(Bytes::from_static(&[1, 2]));
        let p = event("/", "b", &[bin.clone(), bin], None, Codec::Text);
        assert_eq!(
            texts(&p),
            vec![
                br#"452-["b",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#
                    .to_vec(),
                vec![1, 2],
                vec![1, 2],
            ]
        );
        let p = ack("/", 3, vec![Value::Null], Codec::Text);
        assert_eq!(texts(&p), vec![b"433[null]".to_vec()]);
    }

    #[test]
    fn connect_answers_differ_by_protocol() {
        let p = connect("/", "abc", None, Codec::Text, Protocol::V5);
        assert_eq!(texts(&p), vec![br#"40{"sid":"abc"}"#.to_vec()]);
        let p = connect("/", "abc", Some("p"), Codec::Text, Protocol::V5);
        assert_eq!(texts(&p), vec![br#"40{"sid":"abc","pid":"p"}"#.to_vec()]);
        let p = connect("/x", "abc", Some("p"), Codec::Text, Protocol::V4);
        assert_eq!(texts(&p), vec![b"40/x,".to_vec()]);
        let err = ConnectError::new("no").with_data(Value::Bool(true));
        let p = connect_error("/", &err, Codec::Text, Protocol::V5);
        assert_eq!(
            texts(&p),
            vec![br#"44{"message":"no","data":true}"#.to_vec()]
        );
        let p = connect_error("/", &err, Codec::Text, Protocol::V4);
        assert_eq!(texts(&p), vec![br#"44"no""#.to_vec()]);
    }

    #[test]
    fn decodes_packets_and_reassembles_attachments() {
        let m = |s: &str| Message::Text(s.into());
        assert_eq!(
            decode_all(vec![m("0/admin,{\"token\":1}")]),
            Ok(Some(Decoded::Connect {
                nsp: "/admin".into(),
                auth: Value::Object([("token".into(), Value::Number(1.into()))].into()),
            }))
        );
        assert_eq!(
            decode_all(vec![m("0")]),
            Ok(Some(Decoded::Connect {
                nsp: "/".into(),
                auth: Value::Null
            }))
        );
        assert_eq!(
            decode_all(vec![m(r#"2/a,7["ev",1]"#)]),
            Ok(Some(Decoded::Event {
                nsp: "/a".into(),
                event: "ev".into(),
                args: vec![Value::Number(1.into())],
                id: Some(7),
            }))
        );
        let decoded = decode_all(vec![
            m(r#"51-["up",{"_placeholder":true,"num":0}]"#),
            Message::Binary(Bytes::from_static(b"\x00\xff")),
        ]);
        assert_eq!(
            decoded,
            Ok(Some(Decoded::Event {
                nsp: "/".into(),
                event: "up".into(),
                args: vec![Value::Binary(Bytes::from_static(b"\x00\xff"))],
                id: None,
            }))
        );
        // A placeholder-looking object in a plain packet stays an object.
        let Ok(Some(Decoded::Event { args, .. })) =
            decode_all(vec![m(r#"2["x",{"_placeholder":true,"num":0}]"#)])
        else {
            panic!("plain packet with a placeholder-like object");
        };
        assert!(matches!(args[0], Value::Object(_)));
    }

    #[test]
    fn event_names_are_borrowed_unless_escaped_or_numeric() {
        let mut decoder = WireDecoder::new(Codec::Text, Protocol::V5, 10);
        let name = |text: &str, decoder: &mut WireDecoder| {
            let message = Message::Text(text.into());
            match decoder.decode(&message) {
                Ok(Some(Decoded::Event { event, args, .. })) => (
                    matches!(event, Cow::Borrowed(_)),
                    event.into_owned(),
                    args.len(),
                ),
                other => panic!("{text}: {other:?}"),
            }
        };
        assert_eq!(
            name(r#"2["chat",1,2]"#, &mut decoder),
            (true, "chat".into(), 2)
        );
        assert_eq!(
            name(r#"2["a\"b"]"#, &mut decoder),
            (false, "a\"b".into(), 0)
        );
        assert_eq!(name("2[12,true]", &mut decoder), (false, "12".into(), 1));
        assert_eq!(
            name(r#"2/x,3 [ "sp" ] "#, &mut decoder),
            (true, "sp".into(), 0)
        );
    }

    #[test]
    fn refuses_what_node_refuses() {
        let m = |s: &str| Message::Text(s.into());
        for bad in [
            "",
            "7",
            "a",
            "2",
            "2{}",
            "2[]",
            "2[1",
            r#"2["connect"]"#,
            r#"2["disconnecting",1]"#,
            r#"2[{}]"#,
            "2[null]",
            r#"2["a"] x"#,
            r#"2["a",]"#,
            "0[]",
            r#"3["x"]"#,
            "4{}",
            "5-[\"a\"]",
            "51[\"a\"]",
            "599-[\"a\"]",
            "0\"x\"",
        ] {
            assert!(decode_all(vec![m(bad)]).is_err(), "{bad:?} was accepted");
        }
        assert!(decode_all(vec![Message::Binary(Bytes::new())]).is_err());
        // An attachment number out of range.
        assert!(decode_all(vec![
            m(r#"51-["x",{"_placeholder":true,"num":1}]"#),
            Message::Binary(Bytes::new()),
        ])
        .is_err());
    }
}
