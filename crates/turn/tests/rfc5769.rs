//! RFC 5769 test vectors: each must decode and verify exactly.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;

use switchboard_turn::{
    Attribute, AttributeType, Class, IntegrityAlgorithm, IntegrityError, LongTermKey, Message,
    MessageWriter, Method, TransactionId,
};

fn hex(s: &str) -> Vec<u8> {
    let s: String = s.split_whitespace().collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

const TID: [u8; 12] = [
    0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
];
const SHORT_TERM_PASSWORD: &str = "VOkJxbRl1RmTxUk/WvJxBt";

fn sample_request() -> Vec<u8> {
    hex("00010058 2112a442 b7e7a701 bc34d686 fa87dfae
         80220010 5354554e 20746573 7420636c 69656e74
         00240004 6e0001ff
         80290008 932ff9b1 51263b36
         00060009 6576746a 3a683676 59202020
         00080014 9aeaa70c bfd8cb56 781ef2b5 b2d3f249 c1b571a2
         80280004 e57a3bcf")
}

fn ipv4_response() -> Vec<u8> {
    hex("0101003c 2112a442 b7e7a701 bc34d686 fa87dfae
         8022000b 74657374 20766563 746f7220
         00200008 0001a147 e112a643
         00080014 2b91f599 fd9e90c3 8c7489f9 2af9ba53 f06be7d7
         80280004 c07d4c96")
}

fn ipv6_response() -> Vec<u8> {
    hex("01010048 2112a442 b7e7a701 bc34d686 fa87dfae
         8022000b 74657374 20766563 746f7220
         00200014 0002a147 0113a9fa a5d3f179 bc25f4b5 bed2b9d9
         00080014 a382954e 4be67bf1 1784c97c 8292c275 bfe3ed41
         80280004 c8fb0b4c")
}

fn long_term_request() -> Vec<u8> {
    hex("00010060 2112a442 78ad3433 c6ad72c0 29da412e
         00060012 e3839ee3 8388e383 aae38383 e382afe3 82b90000
         0015001c 662f2f34 39396b39 35346436 4f4c3334 6f4c3946 53547679 36347341
         0014000b 6578616d 706c652e 6f726700
         00080014 f6702465 6dd64a3e 02b8e071 2e85c9a2 8ca89666")
}

#[test]
fn sample_request_decodes_and_verifies() {
    let bytes = sample_request();
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg.class(), Class::Request);
    assert_eq!(msg.method(), Method::BINDING);
    assert_eq!(msg.transaction_id(), TransactionId(TID));
    assert!(msg.has_fingerprint());
    assert_eq!(
        msg.get(AttributeType::SOFTWARE),
        Some(Attribute::Software("STUN test client"))
    );
    assert_eq!(
        msg.get(AttributeType::USERNAME),
        Some(Attribute::Username("evtj:h6vY"))
    );
    assert_eq!(
        msg.get(AttributeType::PRIORITY),
        Some(Attribute::Other(
            AttributeType::PRIORITY,
            &[0x6e, 0x00, 0x01, 0xff]
        ))
    );
    assert_eq!(
        msg.verify_integrity(SHORT_TERM_PASSWORD.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
    assert_eq!(
        msg.verify_integrity(b"wrong"),
        Err(IntegrityError::Mismatch)
    );
}

#[test]
fn sample_request_with_one_flipped_bit_fails_fingerprint() {
    let mut bytes = sample_request();
    bytes[30] ^= 0x01;
    assert!(Message::decode(&bytes).is_err());
}

#[test]
fn ipv4_response_decodes_and_verifies() {
    let bytes = ipv4_response();
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(msg.method(), Method::BINDING);
    assert_eq!(
        msg.get(AttributeType::SOFTWARE),
        Some(Attribute::Software("test vector"))
    );
    let mapped: SocketAddr = "192.0.2.1:32853".parse().unwrap();
    assert_eq!(
        msg.get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(mapped))
    );
    assert_eq!(
        msg.verify_integrity(SHORT_TERM_PASSWORD.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
}

#[test]
fn ipv6_response_decodes_and_verifies() {
    let bytes = ipv6_response();
    let msg = Message::decode(&bytes).unwrap();
    let mapped: SocketAddr = "[2001:db8:1234:5678:11:2233:4455:6677]:32853"
        .parse()
        .unwrap();
    assert_eq!(
        msg.get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(mapped))
    );
    assert_eq!(
        msg.verify_integrity(SHORT_TERM_PASSWORD.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
}

#[test]
fn long_term_request_decodes_and_verifies() {
    let bytes = long_term_request();
    let msg = Message::decode(&bytes).unwrap();
    let username = "\u{30DE}\u{30C8}\u{30EA}\u{30C3}\u{30AF}\u{30B9}";
    assert_eq!(
        msg.get(AttributeType::USERNAME),
        Some(Attribute::Username(username))
    );
    assert_eq!(
        msg.get(AttributeType::NONCE),
        Some(Attribute::Nonce("f//499k954d6OL34oL9FSTvy64sA"))
    );
    assert_eq!(
        msg.get(AttributeType::REALM),
        Some(Attribute::Realm("example.org"))
    );
    // The password "The\u{00AD}M\u{00AA}tr\u{2168}" after SASLprep.
    let key = LongTermKey::derive(username, "example.org", "TheMatrIX");
    assert_eq!(
        key.as_bytes(),
        &[
            0xe8, 0xca, 0x7a, 0xd5, 0x9d, 0x5e, 0xb0, 0x51, 0x8e, 0x31, 0x29, 0x11, 0xd2, 0xda,
            0xb2, 0xa9
        ]
    );
    assert_eq!(
        msg.verify_integrity(key.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
}

/// Re-encoding the IPv4 response with our writer gives the same bytes once the vector's
/// space padding is replaced by our zero padding, and the same MAC/CRC are recomputed.
#[test]
fn writer_reproduces_ipv4_response_modulo_padding() {
    let mut buf = Vec::new();
    let mut w = MessageWriter::new(
        &mut buf,
        Class::SuccessResponse,
        Method::BINDING,
        TransactionId(TID),
    );
    w.attribute(&Attribute::Software("test vector")).unwrap();
    w.attribute(&Attribute::XorMappedAddress(
        "192.0.2.1:32853".parse().unwrap(),
    ))
    .unwrap();
    w.message_integrity(SHORT_TERM_PASSWORD.as_bytes());
    w.fingerprint();
    let mut expected = ipv4_response();
    expected[20 + 4 + 11] = 0; // padding byte of SOFTWARE
    assert_eq!(buf[..20 + 16 + 12], expected[..20 + 16 + 12]);
    let msg = Message::decode(&buf).unwrap();
    assert_eq!(
        msg.verify_integrity(SHORT_TERM_PASSWORD.as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
}

#[test]
fn truncating_any_vector_is_rejected_without_panic() {
    for v in [
        sample_request(),
        ipv4_response(),
        ipv6_response(),
        long_term_request(),
    ] {
        for len in 0..v.len() {
            assert!(
                Message::decode(&v[..len]).is_err(),
                "prefix of {len} bytes accepted"
            );
        }
    }
}
