//! Decoders never panic; encode then decode gives the packet back.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use proptest::prelude::*;
use switchboard_socketio_parser::{
    encode, msgpack, ConnectErrorData, Decoder, Limits, Map, Packet, Value, RESERVED_EVENTS,
};

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        // Floats serde_json prints and reads back exactly.
        (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
        ".{0,12}".prop_map(Value::String),
        proptest::collection::vec(any::<u8>(), 0..16).prop_map(|b| Value::Binary(Bytes::from(b))),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            proptest::collection::vec(("[a-z]{0,5}", inner), 0..5)
                .prop_map(|kv| Value::Object(kv.into_iter().collect::<Map>())),
        ]
    })
}

fn no_binary(v: &Value) -> bool {
    !v.has_binary()
}

fn plain_map() -> impl Strategy<Value = Map> {
    proptest::collection::vec(
        ("[a-z]{0,5}", value().prop_filter("no binary", no_binary)),
        0..4,
    )
    .prop_map(|kv| kv.into_iter().collect())
}

fn packet() -> impl Strategy<Value = Packet> {
    let nsp = "/[a-z?=]{0,6}";
    let name =
        "[a-zA-Z:]{1,10}".prop_filter("reserved", |n| !RESERVED_EVENTS.contains(&n.as_str()));
    let args = || proptest::collection::vec(value(), 0..5);
    prop_oneof![
        (nsp, proptest::option::of(plain_map())).prop_map(|(n, d)| Packet::connect(n, d)),
        nsp.prop_map(Packet::disconnect),
        (nsp, name, args(), proptest::option::of(any::<u64>()))
            .prop_map(|(n, e, a, id)| Packet::event(n, e, a, id)),
        (nsp, any::<u64>(), args()).prop_map(|(n, id, a)| Packet::ack(n, id, a)),
        (nsp, ".{0,10}").prop_map(|(n, m)| Packet::connect_error(n, ConnectErrorData::Message(m))),
        (nsp, plain_map()).prop_map(|(n, m)| Packet::connect_error(n, ConnectErrorData::Object(m))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn text_round_trip(p in packet()) {
        let e = encode(&p);
        let mut d = Decoder::new(Limits { max_attachments: usize::MAX });
        let mut out = d.decode_text(e.text_str()).unwrap();
        for a in e.attachments.iter() {
            prop_assert!(out.is_none());
            out = d.decode_binary(a.clone()).unwrap();
        }
        prop_assert_eq!(out, Some(p));
    }

    #[test]
    fn msgpack_round_trip(p in packet()) {
        let b = msgpack::encode(&p);
        prop_assert_eq!(&msgpack::decode(&b).unwrap(), &p);
        prop_assert_eq!(msgpack::decode_bytes(&b).unwrap(), p);
    }

    #[test]
    fn text_decoder_never_panics(s in ".{0,64}", t in "[0-6][0-9-]{0,3}[/a-z,]{0,4}[0-9]{0,3}[\\[\\]{}\",:a-z0-9_]{0,24}") {
        let _ = Decoder::new(Limits::default()).decode_text(&s);
        let mut d = Decoder::new(Limits::default());
        if let Ok(None) = d.decode_text(&t) {
            let _ = d.decode_binary(Bytes::from_static(b"x"));
        }
    }

    #[test]
    fn msgpack_decoder_never_panics(b in proptest::collection::vec(any::<u8>(), 0..128)) {
        let _ = msgpack::decode(&b);
        let _ = msgpack::decode_value(&bytes::Bytes::from(b));
    }

    #[test]
    fn msgpack_mutations_never_panic(p in packet(), at in any::<usize>(), byte in any::<u8>()) {
        let mut b = msgpack::encode(&p).to_vec();
        let i = at % b.len();
        b[i] = byte;
        let _ = msgpack::decode(&b);
        b.truncate(i);
        let _ = msgpack::decode(&b);
    }
}
