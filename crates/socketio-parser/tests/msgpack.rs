//! Byte vectors for the msgpack codec, derived by hand from notepack.io's encoder
//! (lib/encode.js) for the packets of socket.io-msgpack-parser's tests (test/index.js).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use switchboard_socketio_parser::{
    msgpack, ConnectErrorData, Map, Packet, ParseError, Payload, Value,
};

/// Hex bytes; `'text'` inserts the UTF-8 of text.
fn hx(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut parts = s.split('\'');
    while let Some(hex) = parts.next() {
        for h in hex.split_whitespace() {
            out.push(u8::from_str_radix(h, 16).unwrap());
        }
        match parts.next() {
            Some(text) => out.extend_from_slice(text.as_bytes()),
            None => break,
        }
    }
    out
}

fn obj(pairs: &[(&str, Value)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn both(packet: &Packet, bytes: &[u8]) {
    assert_eq!(&msgpack::encode(packet)[..], bytes, "encode");
    assert_eq!(&msgpack::decode(bytes).unwrap(), packet, "decode");
    assert_eq!(
        &msgpack::decode_bytes(&Bytes::copy_from_slice(bytes)).unwrap(),
        packet
    );
}

#[test]
fn event() {
    // { type: 2, data: ["hello"], nsp: "/" }
    both(
        &Packet::event("/", "hello", vec![], None),
        &hx("83 a4'type' 02 a4'data' 91 a5'hello' a3'nsp' a1'/'"),
    );
}

#[test]
fn binary_event() {
    // "supports binary": { type: 2, data: ["binary", [], { a: "b" }, Buffer.from("asdfasdf")], nsp: "/" }
    let p = Packet::event(
        "/",
        "binary",
        vec![
            Value::Array(vec![]),
            Value::Object(obj(&[("a", "b".into())])),
            Value::Binary(Bytes::from_static(b"asdfasdf")),
        ],
        None,
    );
    both(
        &p,
        &hx(
            "83 a4'type' 02 a4'data' 94 a6'binary' 90 81 a1'a' a1'b' c4 08'asdfasdf' a3'nsp' a1'/'",
        ),
    );
}

#[test]
fn ack_in_both_key_orders() {
    // "supports acknowledgements": { type: 3, data: [42], nsp: "/", id: 0 }
    let p = Packet::ack("/", 0, vec![42.into()]);
    both(
        &p,
        &hx("84 a4'type' 03 a4'data' 91 2a a3'nsp' a1'/' a2'id' 00"),
    );
    // Node's server builds { id, type, data } and then sets nsp.
    let node = hx("84 a2'id' 00 a4'type' 03 a4'data' 91 2a a3'nsp' a1'/'");
    assert_eq!(msgpack::decode(&node).unwrap(), p);
}

#[test]
fn client_event_with_options_and_ack() {
    // socket.io-client: { type: 2, data: ["hi"], options: { compress: true }, id: 1, nsp: "/chat" }
    let b = hx("85 a4'type' 02 a4'data' 91 a2'hi' a7'options' 81 a8'compress' c3 a2'id' 01 a3'nsp' a5'/chat'");
    assert_eq!(
        msgpack::decode(&b).unwrap(),
        Packet::event("/chat", "hi", vec![], Some(1))
    );
}

#[test]
fn connect_and_connect_error() {
    // { type: 0, data: { sid: "abc" }, nsp: "/" }
    both(
        &Packet::connect("/", Some(obj(&[("sid", "abc".into())]))),
        &hx("83 a4'type' 00 a4'data' 81 a3'sid' a3'abc' a3'nsp' a1'/'"),
    );
    // { type: 0, nsp: "/" }
    both(
        &Packet::connect("/", None),
        &hx("82 a4'type' 00 a3'nsp' a1'/'"),
    );
    // { type: 0, data: undefined, nsp: "/" }: notepack writes undefined as fixext 1 type 0.
    assert_eq!(
        msgpack::decode(&hx("83 a4'type' 00 a4'data' d4 00 00 a3'nsp' a1'/'")).unwrap(),
        Packet::connect("/", None)
    );
    // "supports namespace error": { type: 4, data: { message: "invalid" }, nsp: "/" }
    both(
        &Packet::connect_error(
            "/",
            ConnectErrorData::Object(obj(&[("message", "invalid".into())])),
        ),
        &hx("83 a4'type' 04 a4'data' 81 a7'message' a7'invalid' a3'nsp' a1'/'"),
    );
    // { type: 1, nsp: "/chat" }
    both(
        &Packet::disconnect("/chat"),
        &hx("82 a4'type' 01 a3'nsp' a5'/chat'"),
    );
}

#[test]
fn numbers_as_notepack_writes_them() {
    // { type: 2, data: ["n", -1, -33, 200, 70000, 1.5, 2 ** 32, null, true, false], nsp: "/" }
    let p = Packet::event(
        "/",
        "n",
        vec![
            (-1).into(),
            (-33).into(),
            200.into(),
            70000.into(),
            1.5.into(),
            (1u64 << 32).into(),
            Value::Null,
            true.into(),
            false.into(),
        ],
        None,
    );
    both(
        &p,
        &hx(
            "83 a4'type' 02 a4'data' 9a a1'n' ff d0 df cc c8 ce 00 01 11 70 \
             cb 3f f8 00 00 00 00 00 00 cf 00 00 00 01 00 00 00 00 c0 c3 c2 a3'nsp' a1'/'",
        ),
    );
}

#[test]
fn long_strings_use_str8() {
    let name = "x".repeat(40);
    let mut expected = hx("83 a4'type' 02 a4'data' 91 d9 28");
    expected.extend_from_slice(name.as_bytes());
    expected.extend(hx("a3'nsp' a1'/'"));
    both(&Packet::event("/", name, vec![], None), &expected);
}

#[test]
fn browser_arraybuffer_is_binary() {
    // Browser client: { type: 2, data: ["a", Uint8Array.of(1, 2, 3).buffer], nsp: "/" }
    // notepack writes an ArrayBuffer as ext 8 with type 0.
    let b = hx("83 a4'type' 02 a4'data' 92 a1'a' c7 03 00 01 02 03 a3'nsp' a1'/'");
    let p = msgpack::decode(&b).unwrap();
    assert_eq!(
        p.args().unwrap(),
        &[Value::Binary(Bytes::from_static(&[1, 2, 3]))]
    );
}

#[test]
fn undefined_in_array_and_map() {
    // { type: 3, data: [undefined, { a: undefined, b: 1 }], nsp: "/", id: 5 }
    let b = hx(
        "84 a4'type' 03 a4'data' 92 d4 00 00 82 a1'a' d4 00 00 a1'b' 01 a3'nsp' a1'/' a2'id' 05",
    );
    let p = msgpack::decode(&b).unwrap();
    assert_eq!(
        p.payload,
        Payload::Ack {
            id: 5,
            args: vec![Value::Null, Value::Object(obj(&[("b", 1.into())]))]
        }
    );
}

#[test]
fn invalid_packets() {
    let d = |s: &str| msgpack::decode(&hx(s)).unwrap_err();
    assert_eq!(
        d("82 a4'type' 05 a3'nsp' a1'/'"),
        ParseError::UnknownPacketType
    );
    assert_eq!(d("81 a3'nsp' a1'/'"), ParseError::UnknownPacketType);
    assert_eq!(d("82 a4'type' 02 a3'nsp' 01"), ParseError::InvalidNamespace);
    assert_eq!(d("81 a4'type' 01"), ParseError::InvalidNamespace);
    assert_eq!(
        d("82 a4'type' 01 a3'nsp' a1'x'"),
        ParseError::InvalidNamespace
    );
    assert_eq!(
        d("83 a4'type' 02 a4'data' 80 a3'nsp' a1'/'"),
        ParseError::InvalidEventPayload
    );
    assert_eq!(
        d("83 a4'type' 02 a4'data' 90 a3'nsp' a1'/'"),
        ParseError::InvalidEventName
    );
    assert_eq!(
        d("83 a4'type' 00 a4'data' 90 a3'nsp' a1'/'"),
        ParseError::InvalidConnectPayload
    );
    assert_eq!(
        d("83 a4'type' 01 a4'data' 80 a3'nsp' a1'/'"),
        ParseError::UnexpectedPayload
    );
    assert_eq!(
        d("84 a4'type' 02 a4'data' 91 a1'a' a3'nsp' a1'/' a2'id' ff"),
        ParseError::InvalidAckId
    );
    assert_eq!(
        d("83 a4'type' 02 a4'data' 91 a7'connect' a3'nsp' a1'/'"),
        ParseError::ReservedEventName("connect".into())
    );
    assert_eq!(
        d("82 a4'type' 01 a3'nsp' a1'/' 00"),
        ParseError::InvalidMsgpack("trailing bytes")
    );
    assert_eq!(
        d("82 a4'type' 01 a3'nsp' a2'/'"),
        ParseError::InvalidMsgpack("truncated")
    );
    assert_eq!(d("c1"), ParseError::InvalidMsgpack("packet is not a map"));
    assert_eq!(
        d("91 00"),
        ParseError::InvalidMsgpack("packet is not a map")
    );
    assert_eq!(
        d("81 01 01"),
        ParseError::InvalidMsgpack("map key is not a string")
    );
    assert_eq!(
        d("83 a4'type' 02 a4'data' 91 c1 a3'nsp' a1'/'"),
        ParseError::InvalidMsgpack("reserved marker 0xc1")
    );
    // A notepack Date: fixext 8, type 0.
    assert_eq!(
        d("83 a4'type' 02 a4'data' 92 a1'a' d7 00 00 00 00 00 00 00 00 00 a3'nsp' a1'/'"),
        ParseError::UnsupportedExtension(0)
    );
    assert_eq!(
        d("83 a4'type' 02 a4'data' 92 a1'a' d5 07 00 00 a3'nsp' a1'/'"),
        ParseError::UnsupportedExtension(7)
    );
    // A huge announced array with no bytes behind it.
    assert_eq!(
        d("83 a4'type' 02 a4'data' dd ff ff ff ff"),
        ParseError::InvalidMsgpack("truncated")
    );
}

#[test]
fn depth_is_bounded() {
    let mut b = hx("83 a4'type' 02 a4'data' 92 a1'a'");
    b.extend(std::iter::repeat_n(0x91, 200));
    b.push(0xc0);
    b.extend(hx("a3'nsp' a1'/'"));
    assert_eq!(msgpack::decode(&b).unwrap_err(), ParseError::TooDeep);
}

#[test]
fn a_value_alone_round_trips_and_rejects_trailing_bytes() {
    // notepack.io: encode(["abc", {a: 1, b: Buffer.from([1, 2])}, -1])
    let bytes = hx("93 a3 'abc' 82 a1 'a' 01 a1 'b' c4 02 01 02 ff");
    let value = Value::Array(vec![
        Value::from("abc"),
        Value::Object(obj(&[
            ("a", Value::from(1u8)),
            ("b", Value::Binary(Bytes::from_static(&[1, 2]))),
        ])),
        Value::from(-1i8),
    ]);
    assert_eq!(&msgpack::encode_value(&value)[..], &bytes[..]);
    assert_eq!(
        msgpack::decode_value(&Bytes::from(bytes.clone())).unwrap(),
        value
    );
    let mut trailing = bytes;
    trailing.push(0xc0);
    assert_eq!(
        msgpack::decode_value(&Bytes::from(trailing)),
        Err(ParseError::InvalidMsgpack("trailing bytes"))
    );
    // notepack.io writes `undefined` as fixext 1 of type 0.
    assert_eq!(
        msgpack::decode_value(&Bytes::from(hx("d4 00 00"))),
        Ok(Value::Null)
    );
    assert!(msgpack::decode_value(&Bytes::from(hx("92 01"))).is_err());
}
