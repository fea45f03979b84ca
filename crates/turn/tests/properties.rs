//! Property tests: the decoders never panic, encode→decode round-trips, and the server
//! survives arbitrary input.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use proptest::prelude::*;
use switchboard_turn::framing::{frame_length, Frame};
use switchboard_turn::{
    AddressFamily, Attribute, AttributeType, ChannelData, ChannelNumber, Class, ErrorCode,
    FiveTuple, IntegrityAlgorithm, Message, MessageWriter, Method, PeerSocket, Protocol,
    RelaySocket, TransactionId, UnknownAttributes,
};

/// An attribute with owned data, for generating.
#[derive(Clone, Debug, PartialEq)]
enum Owned {
    Mapped(SocketAddr),
    XorMapped(SocketAddr),
    XorPeer(SocketAddr),
    XorRelayed(SocketAddr),
    Username(String),
    UserHash([u8; 32]),
    Realm(String),
    Nonce(String),
    Software(String),
    Error(u16, String),
    Unknown(Vec<u8>),
    Channel(u16),
    Lifetime(u32),
    Data(Vec<u8>),
    Transport(u8),
    Family(u8),
    Additional(u8),
    EvenPort(bool),
    Token([u8; 8]),
    Other(u16, Vec<u8>),
}

impl Owned {
    fn borrow(&self) -> Attribute<'_> {
        match self {
            Self::Mapped(a) => Attribute::MappedAddress(*a),
            Self::XorMapped(a) => Attribute::XorMappedAddress(*a),
            Self::XorPeer(a) => Attribute::XorPeerAddress(*a),
            Self::XorRelayed(a) => Attribute::XorRelayedAddress(*a),
            Self::Username(s) => Attribute::Username(s),
            Self::UserHash(h) => Attribute::UserHash(h),
            Self::Realm(s) => Attribute::Realm(s),
            Self::Nonce(s) => Attribute::Nonce(s),
            Self::Software(s) => Attribute::Software(s),
            Self::Error(c, s) => Attribute::ErrorCode(ErrorCode(*c), s),
            Self::Unknown(v) => {
                Attribute::UnknownAttributes(UnknownAttributes::from_bytes(v).unwrap())
            }
            Self::Channel(n) => Attribute::ChannelNumber(ChannelNumber(*n)),
            Self::Lifetime(s) => Attribute::Lifetime(*s),
            Self::Data(d) => Attribute::Data(d),
            Self::Transport(p) => Attribute::RequestedTransport(Protocol(*p)),
            Self::Family(f) => Attribute::RequestedAddressFamily(AddressFamily(*f)),
            Self::Additional(f) => Attribute::AdditionalAddressFamily(AddressFamily(*f)),
            Self::EvenPort(r) => Attribute::EvenPort(*r),
            Self::Token(t) => Attribute::ReservationToken(t),
            Self::Other(t, v) => Attribute::Other(AttributeType(*t), v),
        }
    }
}

fn socket_addr() -> impl Strategy<Value = SocketAddr> {
    prop_oneof![
        (any::<[u8; 4]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
        (any::<[u8; 16]>(), any::<u16>()).prop_map(|(ip, p)| SocketAddr::new(IpAddr::from(ip), p)),
    ]
}

fn text() -> impl Strategy<Value = String> {
    "\\PC{0,40}"
}

fn attribute() -> impl Strategy<Value = Owned> {
    prop_oneof![
        socket_addr().prop_map(Owned::Mapped),
        socket_addr().prop_map(Owned::XorMapped),
        socket_addr().prop_map(Owned::XorPeer),
        socket_addr().prop_map(Owned::XorRelayed),
        text().prop_map(Owned::Username),
        any::<[u8; 32]>().prop_map(Owned::UserHash),
        text().prop_map(Owned::Realm),
        text().prop_map(Owned::Nonce),
        text().prop_map(Owned::Software),
        (300u16..700, text()).prop_map(|(c, s)| Owned::Error(c, s)),
        proptest::collection::vec(any::<u8>(), 0..8).prop_map(|mut v| {
            v.truncate(v.len() & !1);
            Owned::Unknown(v)
        }),
        any::<u16>().prop_map(Owned::Channel),
        any::<u32>().prop_map(Owned::Lifetime),
        proptest::collection::vec(any::<u8>(), 0..200).prop_map(Owned::Data),
        any::<u8>().prop_map(Owned::Transport),
        any::<u8>().prop_map(Owned::Family),
        any::<u8>().prop_map(Owned::Additional),
        any::<bool>().prop_map(Owned::EvenPort),
        any::<[u8; 8]>().prop_map(Owned::Token),
        (
            0xC000u16..=0xFFFF,
            proptest::collection::vec(any::<u8>(), 0..40)
        )
            .prop_map(|(t, v)| Owned::Other(t, v)),
    ]
}

fn class() -> impl Strategy<Value = Class> {
    prop_oneof![
        Just(Class::Request),
        Just(Class::Indication),
        Just(Class::SuccessResponse),
        Just(Class::ErrorResponse)
    ]
}

fn valid_message() -> impl Strategy<Value = Vec<u8>> {
    (
        class(),
        0u16..0x1000,
        any::<[u8; 12]>(),
        proptest::collection::vec(attribute(), 0..8),
    )
        .prop_map(|(class, method, tid, attrs)| {
            let mut buf = Vec::new();
            let mut w = MessageWriter::new(&mut buf, class, Method(method), TransactionId(tid));
            for a in &attrs {
                w.attribute(&a.borrow()).unwrap();
            }
            w.message_integrity(b"key");
            w.fingerprint();
            buf
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decoders_never_panic_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Message::decode(&bytes).map(|m| {
            let _ = m.attributes().count();
            let _ = m.verify_integrity(b"k");
        });
        let _ = Message::decode(&bytes).map_err(|e| e.disposition());
        let _ = ChannelData::decode(&bytes);
        let _ = frame_length(&bytes);
    }

    #[test]
    fn decoder_never_panics_on_damaged_messages(
        msg in valid_message(),
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut bytes = msg;
        for (at, x) in flips {
            let n = bytes.len();
            bytes[at % n] ^= x;
        }
        let cut = cut % (bytes.len() + 1);
        for b in [&bytes[..], &bytes[..cut]] {
            if let Ok(m) = Message::decode(b) {
                let _ = m.attributes().count();
                let _ = m.verify_integrity(b"key");
            }
        }
    }

    #[test]
    fn encode_then_decode_round_trips(
        class in class(),
        method in 0u16..0x1000,
        tid in any::<[u8; 12]>(),
        attrs in proptest::collection::vec(attribute(), 0..10),
        integrity in proptest::option::of(prop_oneof![Just(IntegrityAlgorithm::Sha1), Just(IntegrityAlgorithm::Sha256)]),
        fingerprint in any::<bool>(),
    ) {
        let mut buf = vec![0xEE; 3]; // the writer appends after existing data
        let mut w = MessageWriter::new(&mut buf, class, Method(method), TransactionId(tid));
        for a in &attrs {
            w.attribute(&a.borrow()).unwrap();
        }
        match integrity {
            Some(IntegrityAlgorithm::Sha1) => w.message_integrity(b"secret"),
            Some(IntegrityAlgorithm::Sha256) => w.message_integrity_sha256(b"secret"),
            None => {}
        }
        if fingerprint {
            w.fingerprint();
        }
        let len = w.finish();
        prop_assert_eq!(len, buf.len() - 3);
        let msg = Message::decode(&buf[3..]).unwrap();
        prop_assert_eq!(msg.class(), class);
        prop_assert_eq!(msg.method(), Method(method));
        prop_assert_eq!(msg.transaction_id(), TransactionId(tid));
        prop_assert_eq!(msg.has_fingerprint(), fingerprint);
        let decoded: Vec<_> = msg.attributes().map(|(_, a)| a.unwrap()).collect();
        let expected: Vec<_> = attrs.iter().map(Owned::borrow).collect();
        prop_assert_eq!(decoded, expected);
        match integrity {
            Some(alg) => {
                prop_assert_eq!(msg.verify_integrity(b"secret"), Ok(alg));
                prop_assert!(msg.verify_integrity(b"wrong").is_err());
            }
            None => prop_assert!(msg.verify_integrity(b"secret").is_err()),
        }
    }

    #[test]
    fn channel_data_round_trips(channel in any::<u16>(), payload in proptest::collection::vec(any::<u8>(), 0..300), pad in any::<bool>()) {
        let channel = ChannelNumber(0x4000 | (channel & 0x3FFF));
        let mut buf = Vec::new();
        let encoded = ChannelData { channel, payload: &payload }.encode(pad, &mut buf);
        prop_assert!(encoded);
        if pad {
            prop_assert_eq!(buf.len() % 4, 0);
        }
        prop_assert_eq!(frame_length(&buf), Frame::Length(if pad { buf.len() } else { (buf.len() + 3) & !3 }));
        let cd = ChannelData::decode(&buf).unwrap();
        prop_assert_eq!(cd.channel, channel);
        prop_assert_eq!(cd.payload, &payload[..]);
    }

    /// Arbitrary bytes and valid-looking messages from a few clients and peers, interleaved
    /// with time passing: the server never panics, its allocation count stays within the
    /// quota, and its counters stay consistent.
    #[test]
    fn server_survives_arbitrary_input(
        inputs in proptest::collection::vec(
            (0u8..4, prop_oneof![
                proptest::collection::vec(any::<u8>(), 0..120),
                valid_message(),
            ], 0u64..400),
            1..40,
        ),
    ) {
        let mut config = common::config();
        config.max_allocations = 3;
        let mut h = common::Harness::new(config);
        // One real allocation so relay paths are exercised too.
        let mut c = common::Client::new("198.51.100.7:40000", "alice", "alice-pw");
        let relay = h.allocate(&mut c);
        let _ = h.channel_bind(&mut c, 0x4000, "93.184.216.34:5000".parse().unwrap());
        for (who, bytes, dt) in inputs {
            let from = FiveTuple::udp(SocketAddr::from(([198, 51, 100, who], 40000)), common::listener());
            let _ = h.input(from, &bytes);
            h.server.handle_peer_input(h.now, relay, PeerSocket::new("93.184.216.34:5000".parse().unwrap()), &bytes);
            h.server.relay_bound(h.now, switchboard_turn::AllocationId(u64::from(who)), RelaySocket::new(SocketAddr::from(([192, 0, 2, 1], 60000 + u16::from(who)))));
            let _ = h.drain();
            h.advance(Duration::from_secs(dt));
            prop_assert!(h.server.allocation_count() <= 3);
            prop_assert_eq!(h.server.counters().allocations_active, h.server.allocation_count() as u64);
        }
        h.advance(Duration::from_secs(100_000));
        prop_assert_eq!(h.server.allocation_count(), 0);
        prop_assert_eq!(h.server.poll_timeout(), None);
    }
}
