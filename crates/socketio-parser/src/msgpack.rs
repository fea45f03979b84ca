//! The msgpack codec, compatible with `socket.io-msgpack-parser` (which uses notepack.io).
//!
//! Each packet is one binary message holding the map `{type, data, nsp, id}` (`data` and
//! `id` only when present). Types are 0..=4: an event with binary is still EVENT, its bytes
//! are msgpack `bin` values inside `data`; there are no attachments.

use bytes::Bytes;

use crate::error::ParseError;
use crate::mpack::{
    write_array_len, write_bin, write_bool, write_f64, write_map_len, write_nil, write_sint,
    write_str, write_uint, Marker,
};
use crate::packet::{ConnectErrorData, Packet, PacketKind, Payload, ProtocolVersion};
use crate::value::{Map, Value};
use crate::value_de::MAX_DEPTH;

/// Encodes a packet as one msgpack message.
///
/// Numbers are written as notepack.io writes them (the smallest int format for integers),
/// except that an `f64` is always a float 64, even when integral, so it decodes as a float.
#[must_use]
pub fn encode(packet: &Packet) -> Bytes {
    let id = packet.id();
    let nsp = packet.nsp();
    match &packet.payload {
        Payload::Connect(None) => frame(PacketKind::Connect, nsp, id, None::<fn(&mut Vec<u8>)>),
        Payload::Connect(Some(map)) => frame(
            PacketKind::Connect,
            nsp,
            id,
            Some(|out: &mut Vec<u8>| write_map(out, map)),
        ),
        Payload::Disconnect => frame(PacketKind::Disconnect, nsp, id, None::<fn(&mut Vec<u8>)>),
        Payload::Event { name, args, .. } => encode_event(nsp, name, args, id),
        Payload::Ack { args, .. } => encode_ack(nsp, id.unwrap_or(0), args),
        Payload::ConnectError(ConnectErrorData::Object(map)) => frame(
            PacketKind::ConnectError,
            nsp,
            id,
            Some(|out: &mut Vec<u8>| write_map(out, map)),
        ),
        Payload::ConnectError(ConnectErrorData::Message(m)) => frame(
            PacketKind::ConnectError,
            nsp,
            id,
            Some(|out: &mut Vec<u8>| write_str(out, m)),
        ),
    }
}

/// Encodes an EVENT from borrowed arguments (a broadcast encodes once without building a
/// [`Packet`]).
#[must_use]
pub fn encode_event(nsp: &str, name: &str, args: &[Value], id: Option<u64>) -> Bytes {
    frame(
        PacketKind::Event,
        nsp,
        id,
        Some(|out: &mut Vec<u8>| {
            write_array_len(out, args.len() + 1);
            write_str(out, name);
            args.iter().for_each(|v| write_value(out, v));
        }),
    )
}

/// Encodes an ACK from borrowed arguments.
#[must_use]
pub fn encode_ack(nsp: &str, id: u64, args: &[Value]) -> Bytes {
    frame(
        PacketKind::Ack,
        nsp,
        Some(id),
        Some(|out: &mut Vec<u8>| {
            write_array_len(out, args.len());
            args.iter().for_each(|v| write_value(out, v));
        }),
    )
}

/// Encodes one value as notepack.io would (for messages between servers, such as Node's
/// Redis adapter's, which carry values outside a packet).
#[must_use]
pub fn encode_value(value: &Value) -> Bytes {
    let mut out = Vec::with_capacity(64);
    write_value(&mut out, value);
    Bytes::from(out)
}

/// Decodes one msgpack value filling all of `data`; binary values are slices of `data`. A
/// top-level `undefined` decodes as `null`; inside a map it is absent, as in [`decode`].
///
/// # Errors
/// Malformed msgpack, trailing bytes, nesting deeper than [`MAX_DEPTH`].
pub fn decode_value(data: &Bytes) -> Result<Value, ParseError> {
    let mut reader = Reader {
        buf: data,
        pos: 0,
        owner: Some(data),
    };
    let value = reader.value(1)?.unwrap_or(Value::Null);
    if reader.pos != reader.buf.len() {
        return Err(ParseError::InvalidMsgpack("trailing bytes"));
    }
    Ok(value)
}

/// The map `{type, data?, nsp, id?}`, `data` written by `data`.
fn frame(
    kind: PacketKind,
    nsp: &str,
    id: Option<u64>,
    data: Option<impl FnOnce(&mut Vec<u8>)>,
) -> Bytes {
    let mut out = Vec::with_capacity(64);
    write_map_len(
        &mut out,
        2 + usize::from(data.is_some()) + usize::from(id.is_some()),
    );
    write_str(&mut out, "type");
    write_uint(&mut out, kind as u64);
    if let Some(data) = data {
        write_str(&mut out, "data");
        data(&mut out);
    }
    write_str(&mut out, "nsp");
    write_str(&mut out, nsp);
    if let Some(id) = id {
        write_str(&mut out, "id");
        write_uint(&mut out, id);
    }
    Bytes::from(out)
}

fn write_map(out: &mut Vec<u8>, map: &Map) {
    write_map_len(out, map.len());
    for (k, v) in map {
        write_str(out, k);
        write_value(out, v);
    }
}

fn write_value(out: &mut Vec<u8>, value: &Value) {
    match value {
        Value::Null => write_nil(out),
        Value::Bool(b) => write_bool(out, *b),
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                write_sint(out, i);
            } else {
                write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => write_str(out, s),
        Value::Binary(b) => write_bin(out, b),
        Value::Array(items) => {
            write_array_len(out, items.len());
            items.iter().for_each(|v| write_value(out, v));
        }
        Value::Object(map) => write_map(out, map),
    }
}

/// Decodes one msgpack message. Binary values are copied out of `data`.
///
/// # Errors
/// Malformed msgpack, and the same payload rules as the text codec (protocol v5).
pub fn decode(data: &[u8]) -> Result<Packet, ParseError> {
    Reader {
        buf: data,
        pos: 0,
        owner: None,
    }
    .packet()
}

/// Decodes one msgpack message; binary values are slices of `data`, not copies.
///
/// # Errors
/// As [`decode`].
pub fn decode_bytes(data: &Bytes) -> Result<Packet, ParseError> {
    Reader {
        buf: data,
        pos: 0,
        owner: Some(data),
    }
    .packet()
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    owner: Option<&'a Bytes>,
}

const TRUNCATED: ParseError = ParseError::InvalidMsgpack("truncated");

impl<'a> Reader<'a> {
    fn packet(mut self) -> Result<Packet, ParseError> {
        let len = match self.marker()? {
            Marker::FixMap(n) => usize::from(n),
            Marker::Map16 => self.uint(2)?,
            Marker::Map32 => self.uint(4)?,
            _ => return Err(ParseError::InvalidMsgpack("packet is not a map")),
        };
        let (mut kind, mut nsp, mut data, mut id) = (None, None, None, None);
        for _ in 0..len {
            let key = self.key()?;
            let value = self.value(1)?;
            // Unknown keys (socket.io-client adds `options`) are ignored; a repeated key
            // keeps the last value, as JavaScript does.
            match key {
                "type" => kind = value,
                "nsp" => nsp = value,
                "data" => data = value,
                "id" => id = value,
                _ => {}
            }
        }
        if self.pos != self.buf.len() {
            return Err(ParseError::InvalidMsgpack("trailing bytes"));
        }
        let kind = kind
            .as_ref()
            .and_then(Value::as_u64)
            .filter(|&t| t <= PacketKind::ConnectError as u64)
            .and_then(|t| u8::try_from(t).ok())
            .and_then(PacketKind::from_u8)
            .ok_or(ParseError::UnknownPacketType)?;
        let Some(Value::String(nsp)) = nsp else {
            return Err(ParseError::InvalidNamespace);
        };
        let id = match id {
            None => None,
            Some(v) => Some(ack_id(&v).ok_or(ParseError::InvalidAckId)?),
        };
        Packet::from_parts(kind, nsp, id, data, ProtocolVersion::V5)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], ParseError> {
        let end = self.pos.checked_add(n).ok_or(TRUNCATED)?;
        let bytes = self.buf.get(self.pos..end).ok_or(TRUNCATED)?;
        self.pos = end;
        Ok(bytes)
    }

    fn marker(&mut self) -> Result<Marker, ParseError> {
        Ok(Marker::from_u8(self.take(1)?[0]))
    }

    /// A big-endian unsigned length or value of `n` (1, 2, 4 or 8) bytes.
    fn uint(&mut self, n: usize) -> Result<usize, ParseError> {
        let v = self
            .take(n)?
            .iter()
            .fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
        usize::try_from(v).map_err(|_| TRUNCATED)
    }

    fn be<const N: usize>(&mut self) -> Result<[u8; N], ParseError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }

    fn str(&mut self, len: usize) -> Result<&'a str, ParseError> {
        std::str::from_utf8(self.take(len)?)
            .map_err(|_| ParseError::InvalidMsgpack("invalid UTF-8"))
    }

    fn bin(&mut self, len: usize) -> Result<Bytes, ParseError> {
        let start = self.pos;
        let bytes = self.take(len)?;
        Ok(match self.owner {
            Some(owner) => owner.slice(start..start + len),
            None => Bytes::copy_from_slice(bytes),
        })
    }

    fn key(&mut self) -> Result<&'a str, ParseError> {
        let len = match self.marker()? {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 => self.uint(1)?,
            Marker::Str16 => self.uint(2)?,
            Marker::Str32 => self.uint(4)?,
            _ => return Err(ParseError::InvalidMsgpack("map key is not a string")),
        };
        self.str(len)
    }

    /// An extension, as notepack.io reads them: ext 8/16/32 of type 0 is an ArrayBuffer
    /// (binary), fixext 1 of type 0 is `undefined` (`None`). Anything else (a Date is fixext 8
    /// of type 0; other types become `[type, buffer]` in notepack) is refused.
    fn ext(&mut self, len: usize, fixed: bool) -> Result<Option<Value>, ParseError> {
        let ty = i8::from_be_bytes(self.be::<1>()?);
        match (ty, fixed, len) {
            (0, false, _) => Ok(Some(Value::Binary(self.bin(len)?))),
            (0, true, 1) => {
                self.take(1)?;
                Ok(None)
            }
            _ => Err(ParseError::UnsupportedExtension(ty)),
        }
    }

    /// One value; `None` for `undefined`.
    fn value(&mut self, depth: usize) -> Result<Option<Value>, ParseError> {
        if depth > MAX_DEPTH {
            return Err(ParseError::TooDeep);
        }
        let v = match self.marker()? {
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(n) => Value::from(n),
            Marker::FixNeg(n) => Value::from(n),
            Marker::U8 => Value::from(u8::from_be_bytes(self.be()?)),
            Marker::U16 => Value::from(u16::from_be_bytes(self.be()?)),
            Marker::U32 => Value::from(u32::from_be_bytes(self.be()?)),
            Marker::U64 => Value::from(u64::from_be_bytes(self.be()?)),
            Marker::I8 => Value::from(i8::from_be_bytes(self.be()?)),
            Marker::I16 => Value::from(i16::from_be_bytes(self.be()?)),
            Marker::I32 => Value::from(i32::from_be_bytes(self.be()?)),
            Marker::I64 => Value::from(i64::from_be_bytes(self.be()?)),
            Marker::F32 => Value::from(f64::from(f32::from_be_bytes(self.be()?))),
            Marker::F64 => Value::from(f64::from_be_bytes(self.be()?)),
            Marker::FixStr(n) => Value::from(self.str(usize::from(n))?),
            Marker::Str8 => {
                let n = self.uint(1)?;
                Value::from(self.str(n)?)
            }
            Marker::Str16 => {
                let n = self.uint(2)?;
                Value::from(self.str(n)?)
            }
            Marker::Str32 => {
                let n = self.uint(4)?;
                Value::from(self.str(n)?)
            }
            Marker::Bin8 => {
                let n = self.uint(1)?;
                Value::Binary(self.bin(n)?)
            }
            Marker::Bin16 => {
                let n = self.uint(2)?;
                Value::Binary(self.bin(n)?)
            }
            Marker::Bin32 => {
                let n = self.uint(4)?;
                Value::Binary(self.bin(n)?)
            }
            Marker::FixArray(n) => self.array(usize::from(n), depth)?,
            Marker::Array16 => {
                let n = self.uint(2)?;
                self.array(n, depth)?
            }
            Marker::Array32 => {
                let n = self.uint(4)?;
                self.array(n, depth)?
            }
            Marker::FixMap(n) => self.map(usize::from(n), depth)?,
            Marker::Map16 => {
                let n = self.uint(2)?;
                self.map(n, depth)?
            }
            Marker::Map32 => {
                let n = self.uint(4)?;
                self.map(n, depth)?
            }
            Marker::FixExt1 => return self.ext(1, true),
            Marker::FixExt2 => return self.ext(2, true),
            Marker::FixExt4 => return self.ext(4, true),
            Marker::FixExt8 => return self.ext(8, true),
            Marker::FixExt16 => return self.ext(16, true),
            Marker::Ext8 => {
                let n = self.uint(1)?;
                return self.ext(n, false);
            }
            Marker::Ext16 => {
                let n = self.uint(2)?;
                return self.ext(n, false);
            }
            Marker::Ext32 => {
                let n = self.uint(4)?;
                return self.ext(n, false);
            }
            Marker::Reserved => return Err(ParseError::InvalidMsgpack("reserved marker 0xc1")),
        };
        Ok(Some(v))
    }

    fn array(&mut self, len: usize, depth: usize) -> Result<Value, ParseError> {
        // Each element takes at least one byte: never reserve more than what is left.
        let mut items = Vec::with_capacity(len.min(self.buf.len() - self.pos));
        for _ in 0..len {
            // `undefined` in an array is `null` once in JSON; keep it so.
            items.push(self.value(depth + 1)?.unwrap_or(Value::Null));
        }
        Ok(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Value, ParseError> {
        let mut map = Map::with_capacity(len.min((self.buf.len() - self.pos) / 2));
        for _ in 0..len {
            let key = self.key()?.to_owned();
            // An `undefined` member is absent, as `JSON.stringify` would drop it.
            if let Some(v) = self.value(depth + 1)? {
                map.insert(key, v);
            }
        }
        Ok(Value::Object(map))
    }
}

/// An ack id: a non-negative integer (an integral float 64 too, as `Number.isInteger`).
fn ack_id(v: &Value) -> Option<u64> {
    let Value::Number(n) = v else { return None };
    if let Some(u) = n.as_u64() {
        return Some(u);
    }
    let f = n.as_f64()?;
    // 2^53: the largest integer a JavaScript number holds exactly.
    (f >= 0.0 && f.fract() == 0.0 && f <= 9_007_199_254_740_992.0).then_some(f as u64)
}
