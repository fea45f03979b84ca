//! Sans-IO Socket.IO packets: protocol v5 (Socket.IO 3 and 4) and v4 (Socket.IO 2).
//!
//! Nothing here does I/O. A server layer turns Engine.IO messages into [`Packet`]s with a
//! [`Decoder`] (text codec) or [`msgpack::decode`], and packets into messages with
//! [`encode`] or [`msgpack::encode`].
//!
//! * [`Value`] is JSON plus binary; [`to_value`] and [`from_value`] convert Rust types
//!   (`bytes::Bytes` and `serde_bytes` fields become [`Value::Binary`]).
//! * The text codec (socket.io-parser, the default) writes
//!   `<type>[<attachments>-][<nsp>,][<id>][<json>]`, with each binary replaced by a
//!   `{"_placeholder":true,"num":N}` object and sent as a separate binary message.
//! * The msgpack codec (socket.io-msgpack-parser) writes one binary message per packet.
//!
//! ```
//! use bytes::Bytes;
//! use switchboard_socketio_parser::{encode, Decoder, Limits, Packet, PacketKind, Value};
//!
//! let packet = Packet::event("/admin", "upload", vec![Value::Binary(Bytes::from_static(b"\x01\x02"))], Some(7));
//! let encoded = encode(&packet);
//! assert_eq!(encoded.text_str(), r#"51-/admin,7["upload",{"_placeholder":true,"num":0}]"#);
//!
//! let mut decoder = Decoder::new(Limits::default());
//! assert_eq!(decoder.decode_text(encoded.text_str()).unwrap(), None); // awaits 1 attachment
//! let decoded = decoder.decode_binary(encoded.attachments[0].clone()).unwrap().unwrap();
//! assert_eq!(decoded, packet);
//! assert_eq!(decoded.kind(), PacketKind::BinaryEvent);
//! ```
#![forbid(unsafe_code)]

mod decode;
mod encode;
mod error;
mod json;
mod mpack;
pub mod msgpack;
mod packet;
mod value;
mod value_de;
mod value_error;
mod value_ser;

pub use decode::{Decoder, Limits};
pub use encode::{encode, Encoded};
pub use error::ParseError;
pub use json::{parse_event, parse_json, plain_prefix_len, First, JsonError};
pub use packet::{ConnectErrorData, Packet, PacketKind, Payload, ProtocolVersion, RESERVED_EVENTS};
pub use value::{Map, Number, Value};
pub use value_de::{from_first_arg, from_value, MAX_DEPTH};
pub use value_error::ValueError;
pub use value_ser::to_value;
