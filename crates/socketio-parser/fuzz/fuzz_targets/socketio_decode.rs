//! Feeds arbitrary bytes to the msgpack decoder, and, split at 0xff bytes into messages
//! (a leading 0x00 marks a binary message, anything else a text message), to one text
//! Decoder; every decoded packet is re-encoded and must decode to itself.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_socketio_parser::{encode, msgpack, Decoder, Limits, Packet, ProtocolVersion};

fn round_trip_text(p: &Packet) {
    let e = encode(p);
    let mut d = Decoder::with_version(
        Limits {
            max_attachments: usize::MAX,
        },
        ProtocolVersion::V4,
    );
    let mut out = d.decode_text(e.text_str());
    for a in e.attachments.iter() {
        out = d.decode_binary(a.clone());
    }
    assert_eq!(
        out.as_ref().ok().and_then(Option::as_ref),
        Some(p),
        "text round trip"
    );
}

fuzz_target!(|data: &[u8]| {
    if let Ok(p) = msgpack::decode(data) {
        assert_eq!(msgpack::decode(&msgpack::encode(&p)).ok(), Some(p));
    }
    let version = if data.first() == Some(&b'4') {
        ProtocolVersion::V4
    } else {
        ProtocolVersion::V5
    };
    let mut decoder = Decoder::with_version(Limits { max_attachments: 4 }, version);
    for message in data.split(|&b| b == 0xff) {
        let result = match message.split_first() {
            Some((0, rest)) => decoder.decode_binary(Bytes::copy_from_slice(rest)),
            _ => match std::str::from_utf8(message) {
                Ok(text) => decoder.decode_text(text),
                Err(_) => continue,
            },
        };
        if let Ok(Some(p)) = result {
            round_trip_text(&p);
            let _ = msgpack::decode(&msgpack::encode(&p));
        }
    }
});
