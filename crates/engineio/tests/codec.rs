//! Codec vectors from engine.io-parser's tests (v4: `test/index.ts`, `test/node.ts` of 5.2.x;
//! v3: `test/parser.js`, `test/node/index.js` of 2.2.x), round trips and proptests.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_engineio::{
    payload, v3, DecodeError, EncodedPacket, Message, Packet, Protocol, WsFrame,
};

fn enc(packets: &[Packet]) -> Vec<EncodedPacket> {
    packets.iter().map(EncodedPacket::from_packet).collect()
}

// ----- v4 -----

#[test]
fn v4_single_string_packet() {
    let p = Packet::text("test");
    assert_eq!(p.encode_text(), "4test");
    assert_eq!(Packet::decode_text("4test", Protocol::V4), Ok(p));
}

#[test]
fn v4_malformed_packets() {
    assert_eq!(
        Packet::decode_text("", Protocol::V4),
        Err(DecodeError::Empty)
    );
    assert_eq!(
        Packet::decode_text("a123", Protocol::V4),
        Err(DecodeError::UnknownType(b'a'))
    );
    assert_eq!(
        Packet::decode_text("94103", Protocol::V4),
        Err(DecodeError::UnknownType(b'9'))
    );
    assert_eq!(
        Packet::decode_text("b!!!", Protocol::V4),
        Err(DecodeError::InvalidBase64)
    );
}

#[test]
fn v4_binary_as_base64() {
    let p = Packet::binary(vec![1u8, 2, 3, 4]);
    assert_eq!(p.encode_text(), "bAQIDBA==");
    assert_eq!(
        Packet::decode_text("bAQIDBA==", Protocol::V4),
        Ok(p.clone())
    );
    // Unpadded base64 is accepted too (Node's Buffer.from is lenient).
    assert_eq!(Packet::decode_text("bAQIDBA", Protocol::V4), Ok(p));
}

#[test]
fn v4_payload_all_packet_types() {
    let packets = vec![
        Packet::Open(String::new()),
        Packet::Close,
        Packet::Ping("probe".into()),
        Packet::Pong("probe".into()),
        Packet::text("test"),
    ];
    let body = payload::encode_payload(&enc(&packets));
    assert_eq!(&body[..], b"0\x1e1\x1e2probe\x1e3probe\x1e4test");
    assert_eq!(payload::decode_payload(&body), Ok(packets));
}

#[test]
fn v4_payload_text_and_binary() {
    // engine.io-protocol test-suite: "4hello\x1ebAQIDBA=="
    let packets = vec![Packet::text("hello"), Packet::binary(vec![1u8, 2, 3, 4])];
    let body = payload::encode_payload(&enc(&packets));
    assert_eq!(&body[..], b"4hello\x1ebAQIDBA==");
    assert_eq!(payload::decode_payload(&body), Ok(packets));
}

#[test]
fn v4_malformed_payloads() {
    for bad in [
        &b"{"[..],
        b"{}",
        b"[\"a123\", \"a456\"]",
        b"",
        b"4ok\x1e",
        b"\xff",
    ] {
        assert!(payload::decode_payload(bad).is_err(), "{bad:?}");
    }
    let mut out = Vec::new();
    assert!(payload::decode_payload_into(b"4a\x1e4b\x1ex", &mut out).is_err());
    assert_eq!(out, vec![Packet::text("a"), Packet::text("b")]);
}

#[test]
fn v4_ws_frames() {
    let text = EncodedPacket::text("héllo");
    assert_eq!(
        text.to_ws_frame(Protocol::V4, false),
        WsFrame::Text(Bytes::from_static("4héllo".as_bytes()))
    );
    let bin = EncodedPacket::binary(vec![1u8, 2, 3]);
    assert_eq!(
        bin.to_ws_frame(Protocol::V4, true),
        WsFrame::Binary(Bytes::from_static(&[1, 2, 3]))
    );
}

// ----- v3 -----

#[test]
fn v3_packets() {
    for p in [
        Packet::Open("{\"some\":\"json\"}".into()),
        Packet::Close,
        Packet::Ping("1".into()),
        Packet::Pong("1".into()),
        Packet::text("aaa"),
        Packet::text("utf8 — string"),
        Packet::Upgrade,
    ] {
        assert_eq!(Packet::decode_text(&p.encode_text(), Protocol::V3), Ok(p));
    }
    assert_eq!(Packet::text("€€€").encode_text(), "4€€€");
    assert_eq!(Packet::text("").encode_text(), "4");
    assert!(Packet::decode_text(":::", Protocol::V3).is_err());
    assert!(Packet::decode_text("94103", Protocol::V3).is_err());
    // A base64 packet in v3 carries its type: b4<base64>.
    assert_eq!(
        Packet::decode_text("b4AQIDBA==", Protocol::V3),
        Ok(Packet::binary(vec![1u8, 2, 3, 4]))
    );
}

#[test]
fn v3_string_payload_counts_utf16_units() {
    let packets = vec![Packet::text("€€€"), Packet::text("α")];
    let body = v3::encode_string_payload(&enc(&packets));
    assert_eq!(std::str::from_utf8(&body).unwrap(), "4:4€€€2:4α");
    assert_eq!(v3::decode_payload(&body, false), Ok(packets));
    // An astral character counts two UTF-16 units.
    let astral = vec![Packet::text("𝌆")];
    let body = v3::encode_string_payload(&enc(&astral));
    assert_eq!(std::str::from_utf8(&body).unwrap(), "3:4𝌆");
    assert_eq!(v3::decode_payload(&body, false), Ok(astral));
    // A length that splits the surrogate pair is refused.
    assert!(v3::decode_payload("2:4𝌆".as_bytes(), false).is_err());
}

#[test]
fn v3_empty_payload_is_zero_colon() {
    assert_eq!(&v3::encode_string_payload(&[])[..], b"0:");
}

#[test]
fn v3_string_payload_with_binary_as_base64() {
    let packets = vec![
        Packet::binary(vec![0u8, 1, 2, 3, 4]),
        Packet::text("hello 亜"),
    ];
    let (body, binary) = v3::encode_payload(&enc(&packets), true);
    assert!(!binary);
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        "10:b4AAECAwQ=8:4hello 亜"
    );
    assert_eq!(v3::decode_payload(&body, false), Ok(packets));
}

#[test]
fn v3_bad_payloads() {
    // From test/parser.js "decoding error handling".
    for bad in ["1!", "", "))", "1:", "3:99:", "1:aa", "1:a2:b"] {
        assert!(v3::decode_payload(bad.as_bytes(), false).is_err(), "{bad}");
    }
    assert!(v3::decode_payload(&[64], true).is_err());
}

#[test]
fn v3_binary_payload() {
    let first: Vec<u8> = (0..5).collect();
    let second: Vec<u8> = (5..9).collect();
    let packets = vec![
        Packet::binary(first.clone()),
        Packet::text("hello 亜"),
        Packet::Close,
    ];
    let (body, binary) = v3::encode_payload(&enc(&packets), false);
    assert!(binary);
    // kind 1, length 6 (type byte + 5), 0xff, type 4, data
    assert_eq!(&body[..9], &[1, 6, 0xff, 4, 0, 1, 2, 3, 4]);
    // kind 0, length 10 (UTF-8 bytes of "4hello 亜"), 0xff
    assert_eq!(&body[9..13], &[0, 1, 0, 0xff]);
    assert_eq!(v3::decode_payload(&body, true), Ok(packets));

    let two = vec![Packet::binary(first), Packet::binary(second)];
    let (body, _) = v3::encode_payload(&enc(&two), false);
    assert_eq!(v3::decode_payload(&body, true), Ok(two));
}

#[test]
fn v3_ws_frames() {
    let bin = EncodedPacket::binary(vec![1u8, 2]);
    assert_eq!(
        bin.to_ws_frame(Protocol::V3, false),
        WsFrame::Binary(Bytes::from_static(&[4, 1, 2]))
    );
    assert_eq!(
        bin.to_ws_frame(Protocol::V3, true),
        WsFrame::Text(Bytes::from_static(b"b4AQI="))
    );
    assert_eq!(
        v3::decode_binary_packet(&[4, 1, 2]),
        Ok(Packet::binary(vec![1u8, 2]))
    );
    assert!(v3::decode_binary_packet(&[]).is_err());
    assert!(v3::decode_binary_packet(&[9]).is_err());
}

// ----- properties -----

fn packet_strategy() -> impl Strategy<Value = Packet> {
    prop_oneof![
        ".*".prop_map(Packet::Open),
        Just(Packet::Close),
        ".*".prop_map(Packet::Ping),
        ".*".prop_map(Packet::Pong),
        ".*".prop_map(Packet::text),
        proptest::collection::vec(any::<u8>(), 0..64).prop_map(Packet::binary),
        Just(Packet::Upgrade),
        Just(Packet::Noop),
    ]
}

/// Text that cannot contain the v4 record separator (Node's clients never send it raw).
fn no_separator(p: &Packet) -> bool {
    match p {
        Packet::Open(s) | Packet::Ping(s) | Packet::Pong(s) | Packet::Message(Message::Text(s)) => {
            !s.contains('\x1e')
        }
        _ => true,
    }
}

proptest! {
    #[test]
    fn decoding_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = payload::decode_payload(&bytes);
        let _ = v3::decode_payload(&bytes, false);
        let _ = v3::decode_payload(&bytes, true);
        let _ = v3::decode_binary_packet(&bytes);
        if let Ok(s) = std::str::from_utf8(&bytes) {
            let _ = Packet::decode_text(s, Protocol::V4);
            let _ = Packet::decode_text(s, Protocol::V3);
        }
    }

    #[test]
    fn v4_payload_round_trip(packets in proptest::collection::vec(packet_strategy(), 1..8)) {
        prop_assume!(packets.iter().all(no_separator));
        let body = payload::encode_payload(&enc(&packets));
        prop_assert_eq!(payload::decode_payload(&body), Ok(packets));
    }

    #[test]
    fn v3_payload_round_trip(packets in proptest::collection::vec(packet_strategy(), 1..8), b64: bool) {
        // v3 binary payloads only carry binary messages, not binary control packets.
        let (body, binary) = v3::encode_payload(&enc(&packets), b64);
        prop_assert_eq!(v3::decode_payload(&body, binary), Ok(packets));
    }

    #[test]
    fn text_packet_round_trip(p in packet_strategy(), v3: bool) {
        let protocol = if v3 { Protocol::V3 } else { Protocol::V4 };
        let text = match (&p, protocol) {
            (Packet::Message(Message::Binary(b)), Protocol::V3) => {
                use base64::Engine as _;
                format!("b4{}", base64::engine::general_purpose::STANDARD.encode(b))
            }
            _ => p.encode_text(),
        };
        prop_assert_eq!(Packet::decode_text(&text, protocol), Ok(p));
    }
}
