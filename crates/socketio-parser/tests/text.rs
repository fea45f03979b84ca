//! Vectors from socket.io-parser's tests (test/parser.js, test/buffer.js, test/arraybuffer.js)
//! and from the socket.io-protocol README, plus this crate's stricter rules.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use switchboard_socketio_parser::{
    encode, ConnectErrorData, Decoder, Limits, Map, Packet, PacketKind, ParseError, Payload,
    ProtocolVersion, Value,
};

fn obj(pairs: &[(&str, Value)]) -> Map {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect()
}

fn bin(b: &'static [u8]) -> Value {
    Value::Binary(Bytes::from_static(b))
}

fn decode_all(text: &str, attachments: &[Bytes]) -> Result<Packet, ParseError> {
    let mut d = Decoder::new(Limits::default());
    let mut out = d.decode_text(text)?;
    for a in attachments {
        assert!(out.is_none());
        out = d.decode_binary(a.clone())?;
    }
    Ok(out.expect("complete packet"))
}

/// Encodes, checks the text, decodes, checks the round trip.
fn check(packet: &Packet, text: &str, attachments: &[&[u8]]) {
    let e = encode(packet);
    assert_eq!(e.text_str(), text);
    let atts: Vec<Bytes> = attachments
        .iter()
        .map(|a| Bytes::copy_from_slice(a))
        .collect();
    assert_eq!(&*e.attachments, &atts[..]);
    assert_eq!(&decode_all(text, &atts).unwrap(), packet);
}

fn err(text: &str) -> ParseError {
    Decoder::new(Limits::default())
        .decode_text(text)
        .unwrap_err()
}

#[test]
fn connect_with_auth() {
    let p = Packet::connect("/woot", Some(obj(&[("token", "123".into())])));
    check(&p, r#"0/woot,{"token":"123"}"#, &[]);
    assert_eq!(p.kind(), PacketKind::Connect);
}

#[test]
fn connect_default_and_server_sid() {
    check(&Packet::connect("/", None), "0", &[]);
    check(
        &Packet::connect_ok(ProtocolVersion::V5, "/admin", "oSO0OpakMV_3jnilAAAA"),
        r#"0/admin,{"sid":"oSO0OpakMV_3jnilAAAA"}"#,
        &[],
    );
    // "0/admin" without the comma: the namespace runs to the end (Node does the same).
    assert_eq!(
        decode_all("0/admin", &[]).unwrap(),
        Packet::connect("/admin", None)
    );
}

#[test]
fn disconnect() {
    check(&Packet::disconnect("/woot"), "1/woot,", &[]);
    check(&Packet::disconnect("/"), "1", &[]);
}

#[test]
fn events() {
    check(
        &Packet::event("/", "a", vec![1.into(), Value::Object(Map::new())], None),
        r#"2["a",1,{}]"#,
        &[],
    );
    check(
        &Packet::event(
            "/test",
            "a",
            vec![1.into(), Value::Object(Map::new())],
            Some(1),
        ),
        r#"2/test,1["a",1,{}]"#,
        &[],
    );
    check(
        &Packet::event("/", "foo", vec![], Some(12)),
        r#"212["foo"]"#,
        &[],
    );
    check(
        &Packet::event("/admin", "bar", vec![], None),
        r#"2/admin,["bar"]"#,
        &[],
    );
}

#[test]
fn integer_event_name_becomes_text() {
    // parser.js: "encodes an event (with an integer as event name)": [1, "a", {}].
    let p = decode_all(r#"2[1,"a",{}]"#, &[]).unwrap();
    assert_eq!(p.event_name(), Some("1"));
    assert_eq!(p.args().unwrap().len(), 2);
}

#[test]
fn acks() {
    check(
        &Packet::ack(
            "/",
            123,
            vec!["a".into(), 1.into(), Value::Object(Map::new())],
        ),
        r#"3123["a",1,{}]"#,
        &[],
    );
    check(
        &Packet::ack("/admin", 13, vec!["bar".into()]),
        r#"3/admin,13["bar"]"#,
        &[],
    );
    check(&Packet::ack("/", 12, vec![]), "312[]", &[]);
}

#[test]
fn connect_errors() {
    check(
        &Packet::connect_error("/", ConnectErrorData::Message("Unauthorized".into())),
        r#"4"Unauthorized""#,
        &[],
    );
    check(
        &Packet::connect_error_message(ProtocolVersion::V5, "/", "Unauthorized"),
        r#"4{"message":"Unauthorized"}"#,
        &[],
    );
    check(
        &Packet::connect_error_message(ProtocolVersion::V4, "/admin", "Not authorized"),
        r#"4/admin,"Not authorized""#,
        &[],
    );
}

#[test]
fn binary_event_buffer() {
    // buffer.js "encodes a Buffer".
    let p = Packet::event("/cool", "a", vec![bin(b"abc")], Some(23));
    check(
        &p,
        r#"51-/cool,23["a",{"_placeholder":true,"num":0}]"#,
        &[b"abc"],
    );
    assert_eq!(p.kind(), PacketKind::BinaryEvent);
}

#[test]
fn binary_event_nested() {
    // buffer.js "encodes a nested Buffer": ["a", { b: ["c", Buffer] }].
    let inner = Value::Array(vec!["c".into(), bin(b"abc")]);
    let p = Packet::event(
        "/cool",
        "a",
        vec![Value::Object(obj(&[("b", inner)]))],
        Some(23),
    );
    check(
        &p,
        r#"51-/cool,23["a",{"b":["c",{"_placeholder":true,"num":0}]}]"#,
        &[b"abc"],
    );
}

#[test]
fn binary_ack() {
    // buffer.js "encodes a binary ack with Buffer".
    let p = Packet::ack(
        "/back",
        127,
        vec!["a".into(), bin(b"xxx"), Value::Object(Map::new())],
    );
    check(
        &p,
        r#"61-/back,127["a",{"_placeholder":true,"num":0},{}]"#,
        &[b"xxx"],
    );
    assert_eq!(p.kind(), PacketKind::BinaryAck);
    // README: BINARY_ACK with id 15.
    check(
        &Packet::ack("/", 15, vec!["bar".into(), bin(&[1, 2, 3, 4])]),
        r#"61-15["bar",{"_placeholder":true,"num":0}]"#,
        &[&[1, 2, 3, 4]],
    );
}

#[test]
fn multiple_attachments_and_deep_arraybuffers() {
    // README: two attachments in /admin.
    check(
        &Packet::event("/admin", "baz", vec![bin(&[1, 2]), bin(&[3, 4])], None),
        r#"52-/admin,["baz",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#,
        &[&[1, 2], &[3, 4]],
    );
    // arraybuffer.js "encodes ArrayBuffers deep in JSON" and "deep binary JSON with nulls".
    let deep = Value::Object(obj(&[
        ("a", "hi".into()),
        ("b", Value::Object(obj(&[("why", bin(&[0; 3]))]))),
        (
            "c",
            Value::Object(obj(&[
                ("a", "bye".into()),
                ("b", Value::Object(obj(&[("a", bin(&[0; 6]))]))),
            ])),
        ),
    ]));
    check(
        &Packet::event("/deep", "a", vec![deep], Some(999)),
        r#"52-/deep,999["a",{"a":"hi","b":{"why":{"_placeholder":true,"num":0}},"c":{"a":"bye","b":{"a":{"_placeholder":true,"num":1}}}}]"#,
        &[&[0; 3], &[0; 6]],
    );
    let nulls = Value::Object(obj(&[
        ("a", "b".into()),
        ("c", 4.into()),
        ("e", Value::Object(obj(&[("g", Value::Null)]))),
        ("h", bin(&[0; 9])),
    ]));
    check(
        &Packet::event("/", "a", vec![nulls], Some(600)),
        r#"51-600["a",{"a":"b","c":4,"e":{"g":null},"h":{"_placeholder":true,"num":0}}]"#,
        &[&[0; 9]],
    );
}

#[test]
fn binary_with_zero_attachments_is_immediate() {
    let p = Decoder::new(Limits::default())
        .decode_text(r#"50-["a"]"#)
        .unwrap();
    assert_eq!(p, Some(Packet::event("/", "a", vec![], None)));
}

#[test]
fn placeholder_in_plain_packet_stays_an_object() {
    let p = decode_all(r#"2["a",{"_placeholder":true,"num":0}]"#, &[]).unwrap();
    let arg = &p.args().unwrap()[0];
    assert_eq!(
        arg.as_object().unwrap().get("num"),
        Some(&Value::from(0u64))
    );
}

#[test]
fn invalid_payloads_from_parser_js() {
    assert!(matches!(
        err(r#"442["some","data""#),
        ParseError::InvalidJson(_)
    ));
    assert_eq!(
        err(r#"0/admin,"invalid""#),
        ParseError::InvalidConnectPayload
    );
    assert_eq!(err("0[]"), ParseError::InvalidConnectPayload);
    assert_eq!(err("1/admin,{}"), ParseError::UnexpectedPayload);
    assert!(matches!(
        err(r#"2/admin,"invalid"#),
        ParseError::InvalidJson(_)
    ));
    assert_eq!(err("2/admin,{}"), ParseError::InvalidEventPayload);
    assert_eq!(
        err(r#"2[{"toString":"foo"}]"#),
        ParseError::InvalidEventName
    );
    assert_eq!(err(r#"2[true,"foo"]"#), ParseError::InvalidEventName);
    assert_eq!(err(r#"2[null,"bar"]"#), ParseError::InvalidEventName);
    assert_eq!(
        err(r#"2["connect"]"#),
        ParseError::ReservedEventName("connect".into())
    );
    assert_eq!(
        err(r#"2["disconnect","123"]"#),
        ParseError::ReservedEventName("disconnect".into())
    );
    assert_eq!(err("999"), ParseError::UnknownPacketType);
    assert_eq!(err("5"), ParseError::InvalidAttachmentCount);
}

#[test]
fn stricter_than_node() {
    assert_eq!(err(""), ParseError::Empty);
    assert_eq!(err("7"), ParseError::UnknownPacketType);
    assert_eq!(err("x"), ParseError::UnknownPacketType);
    assert_eq!(err(r#"5-["a"]"#), ParseError::InvalidAttachmentCount);
    assert_eq!(err(r#"5a-["a"]"#), ParseError::InvalidAttachmentCount);
    assert_eq!(err("2"), ParseError::InvalidEventPayload);
    assert_eq!(err("2[]"), ParseError::InvalidEventName);
    assert_eq!(err("3"), ParseError::InvalidAckPayload);
    assert_eq!(err(r#"3["a"]"#), ParseError::MissingAckId);
    assert_eq!(err(r#"3{}"#), ParseError::InvalidAckPayload);
    assert_eq!(err("4"), ParseError::InvalidConnectErrorPayload);
    assert_eq!(err("41"), ParseError::UnexpectedAckId);
    assert_eq!(err("4[1]"), ParseError::InvalidConnectErrorPayload);
    assert_eq!(err("01"), ParseError::UnexpectedAckId);
    assert_eq!(
        err(r#"218446744073709551616["a"]"#),
        ParseError::InvalidAckId
    );
    // u64::MAX is a valid id.
    let p = decode_all(r#"218446744073709551615["a"]"#, &[]).unwrap();
    assert_eq!(p.id(), Some(u64::MAX));
}

#[test]
fn attachment_errors_from_buffer_js() {
    let mut d = Decoder::new(Limits::default());
    assert_eq!(
        d.decode_text(r#"51-["hello",{"_placeholder":true,"num":"splice"}]"#),
        Err(ParseError::InvalidPlaceholder)
    );
    assert_eq!(
        d.decode_text(r#"51-["hello",{"_placeholder":true,"num":1}]"#),
        Err(ParseError::InvalidPlaceholder)
    );
    assert_eq!(
        d.decode_binary(Bytes::from_static(b"world")),
        Err(ParseError::UnexpectedBinary)
    );
    assert_eq!(
        d.decode_text(r#"51-["hello",{"_placeholder":true,"num":0}]"#),
        Ok(None)
    );
    assert!(d.is_awaiting_attachments());
    assert_eq!(
        d.decode_text(r#"2["hello"]"#),
        Err(ParseError::UnexpectedText)
    );
    assert!(!d.is_awaiting_attachments());
}

#[test]
fn attachment_errors_stricter_than_node() {
    assert_eq!(
        err(r#"52-["a",{"_placeholder":true,"num":0},{"_placeholder":true,"num":0}]"#),
        ParseError::DuplicatePlaceholder(0)
    );
    assert_eq!(
        err(r#"52-["a",{"_placeholder":true,"num":0}]"#),
        ParseError::UnusedAttachment(1)
    );
    assert_eq!(
        err(r#"50-["a",{"_placeholder":true,"num":0}]"#),
        ParseError::InvalidPlaceholder
    );
    assert_eq!(
        err(r#"51-["a",{"_placeholder":true,"num":0.5}]"#),
        ParseError::InvalidPlaceholder
    );
    assert_eq!(
        err(r#"511-["a"]"#),
        ParseError::TooManyAttachments {
            announced: 11,
            max: 10
        }
    );
    assert_eq!(
        err(r#"599999999999999999999999-["a"]"#),
        ParseError::TooManyAttachments {
            announced: usize::MAX,
            max: 10
        }
    );
    let mut d = Decoder::new(Limits { max_attachments: 2 });
    assert!(d.decode_text(r#"53-["a"]"#).is_err());
}

#[test]
fn reset_resumes_decoding() {
    // parser.js "should resume decoding after calling destroy()".
    let mut d = Decoder::new(Limits::default());
    assert_eq!(
        d.decode_text(r#"51-["hello",{"_placeholder":true,"num":0}]"#),
        Ok(None)
    );
    d.reset();
    let p = d.decode_text(r#"2["hello"]"#).unwrap().unwrap();
    assert_eq!(p.event_name(), Some("hello"));
}

#[test]
fn numbers_round_trip() {
    let args = vec![
        Value::from(u64::MAX),
        Value::from(i64::MIN),
        Value::from(1.5),
        Value::from(-0.25),
        Value::from(1e300),
        Value::from(f64::NAN),
    ];
    let p = Packet::event("/", "n", args, None);
    let e = encode(&p);
    assert_eq!(
        e.text_str(),
        r#"2["n",18446744073709551615,-9223372036854775808,1.5,-0.25,1e+300,null]"#
    );
    assert_eq!(decode_all(e.text_str(), &[]).unwrap(), p);
}

#[test]
fn encoded_clone_shares_buffers() {
    let e = encode(&Packet::event("/", "a", vec![bin(b"x")], None));
    let c = e.clone();
    assert_eq!(c.text.as_ptr(), e.text.as_ptr());
    assert!(std::sync::Arc::ptr_eq(&c.attachments, &e.attachments));
}

#[test]
fn protocol_v4() {
    let mut d = Decoder::with_version(Limits::default(), ProtocolVersion::V4);
    // The client's CONNECT carries its query in the namespace.
    let p = d
        .decode_text("0/admin?token=1234&uid=abcd,")
        .unwrap()
        .unwrap();
    assert_eq!(
        p.namespace_and_query(),
        ("/admin", Some("token=1234&uid=abcd"))
    );
    assert_eq!(p.payload, Payload::Connect(None));
    // The server's CONNECT has no data.
    assert_eq!(
        encode(&Packet::connect_ok(ProtocolVersion::V4, "/admin", "x")).text_str(),
        "0/admin,"
    );
    // ERROR with a plain string.
    let p = d
        .decode_text(r#"4/admin,"Not authorized""#)
        .unwrap()
        .unwrap();
    assert_eq!(
        p.payload,
        Payload::ConnectError(ConnectErrorData::Message("Not authorized".into()))
    );
    // socket.io-parser 3.x does not check reserved names.
    assert!(d.decode_text(r#"2["disconnect"]"#).unwrap().is_some());
}

#[test]
fn namespace_normalized() {
    assert_eq!(Packet::disconnect("").nsp(), "/");
    assert_eq!(Packet::disconnect("chat").nsp(), "/chat");
}
