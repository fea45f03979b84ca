//! Full flows driving the server with the client helper in simulated time.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{error_code, is_success, relayed_address, Client, Harness};
use switchboard_turn::{
    rest_credentials, AddressFamily, Attribute, AttributeType, ChannelData, ChannelNumber, Class,
    Command, ErrorCode, FiveTuple, IntegrityAlgorithm, Message, Method, PeerSocket, Transport,
};

const PEER: &str = "93.184.216.34:5000";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

fn lifetime(bytes: &[u8]) -> Option<u32> {
    match Message::decode(bytes).unwrap().get(AttributeType::LIFETIME) {
        Some(Attribute::Lifetime(s)) => Some(s),
        _ => None,
    }
}

#[test]
fn binding_request_gets_xor_mapped_address() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.request(&mut c, Method::BINDING, &[]);
    let msg = Message::decode(&resp).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert!(
        msg.has_fingerprint(),
        "request had FINGERPRINT, so the response has one"
    );
    assert_eq!(
        msg.get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(
            "198.51.100.7:40000".parse().unwrap()
        ))
    );
}

#[test]
fn allocate_with_401_dance() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(
            switchboard_turn::Protocol::UDP,
        )],
    );
    assert_eq!(error_code(&first), Some(ErrorCode::UNAUTHENTICATED));
    let msg = Message::decode(&first).unwrap();
    assert_eq!(
        msg.get(AttributeType::REALM),
        Some(Attribute::Realm(common::REALM))
    );
    assert!(matches!(msg.get(AttributeType::NONCE), Some(Attribute::Nonce(n)) if n.len() == 40));
    assert_eq!(
        h.server.counters().auth_failures,
        0,
        "a bare challenge is not a failure"
    );
    c.learn(&first);

    let (tid, req) = c.request(
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(
            switchboard_turn::Protocol::UDP,
        )],
    );
    let (_, cmds) = h.input(c.five_tuple, &req);
    assert!(matches!(
        cmds[0],
        Command::CreateRelay {
            family: AddressFamily::IPV4,
            port: switchboard_turn::PortRequest::Any,
            ..
        }
    ));
    let resp = common::response_for(&cmds, c.five_tuple, tid).unwrap();
    let msg = Message::decode(&resp).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(
        msg.verify_integrity(c.key().as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
    assert_eq!(
        msg.get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(c.five_tuple.client.addr()))
    );
    assert_eq!(lifetime(&resp), Some(600));
    let relay = relayed_address(&resp).unwrap();
    assert_eq!(relay.addr(), "192.0.2.1:49152".parse().unwrap());
    assert_eq!(h.server.allocation_count(), 1);
    assert_eq!(h.server.counters().allocations_active, 1);
}

#[test]
fn allocate_with_sha256_integrity_is_answered_with_sha256() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    c.sha256 = true;
    let resp = h.allocate_raw(&mut c, &[]);
    let msg = Message::decode(&resp).unwrap();
    assert_eq!(msg.class(), Class::SuccessResponse);
    assert_eq!(
        msg.verify_integrity(c.key().as_bytes()),
        Ok(IntegrityAlgorithm::Sha256)
    );
}

#[test]
fn allocate_with_rest_credentials() {
    let mut h = Harness::new(common::config());
    let (user, pass) = rest_credentials(common::SECRET, "carol", common::UNIX_START + 3600);
    let mut c = Client::new("198.51.100.8:40000", &user, &pass);
    h.allocate(&mut c);
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn lifetime_is_clamped() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut c, &[Attribute::Lifetime(7200)]);
    assert_eq!(lifetime(&resp), Some(3600));
    let mut d = Client::new("198.51.100.7:40001", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut d, &[Attribute::Lifetime(10)]);
    assert_eq!(lifetime(&resp), Some(600));
}

#[test]
fn ipv6_allocation() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(
        &mut c,
        &[Attribute::RequestedAddressFamily(AddressFamily::IPV6)],
    );
    let relay = relayed_address(&resp).unwrap();
    assert!(relay.addr().is_ipv6());
    let v6_peer: SocketAddr = "[2606:2800:220:1::1]:5000".parse().unwrap();
    assert!(is_success(&h.create_permission(&mut c, v6_peer)));
    // An IPv4 peer on an IPv6 relay is a family mismatch.
    assert_eq!(
        error_code(&h.create_permission(&mut c, peer())),
        Some(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH)
    );
}

#[test]
fn retransmitted_allocate_gets_the_same_success() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(
            switchboard_turn::Protocol::UDP,
        )],
    );
    c.learn(&first);
    let (tid, req) = c.request(
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(
            switchboard_turn::Protocol::UDP,
        )],
    );
    let (_, cmds) = h.input(c.five_tuple, &req);
    let a = relayed_address(&common::response_for(&cmds, c.five_tuple, tid).unwrap()).unwrap();
    let (_, cmds) = h.input(c.five_tuple, &req);
    assert!(!cmds
        .iter()
        .any(|c| matches!(c, Command::CreateRelay { .. })));
    let b = relayed_address(&common::response_for(&cmds, c.five_tuple, tid).unwrap()).unwrap();
    assert_eq!(a, b);
}

#[test]
fn send_indication_reaches_peer_and_peer_data_comes_back_as_data_indication() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(is_success(&h.create_permission(&mut c, peer())));

    let ind = c.send_indication(peer(), b"hello peer");
    let (fwd, cmds) = h.input(c.five_tuple, &ind);
    assert!(fwd.is_none());
    assert_eq!(
        cmds,
        vec![Command::SendToPeer {
            relay,
            peer: PeerSocket::new(peer()),
            bytes: b"hello peer".to_vec()
        }]
    );

    let (to, bytes) = h.peer_input(relay, peer(), b"hello client").unwrap();
    assert_eq!(to, c.five_tuple);
    let msg = Message::decode(&bytes).unwrap();
    assert_eq!(
        (msg.class(), msg.method()),
        (Class::Indication, Method::DATA)
    );
    assert_eq!(
        msg.get(AttributeType::XOR_PEER_ADDRESS),
        Some(Attribute::XorPeerAddress(peer()))
    );
    assert_eq!(
        msg.get(AttributeType::DATA),
        Some(Attribute::Data(b"hello client"))
    );

    let counters = h.server.counters();
    assert_eq!(
        (counters.packets_to_peers, counters.bytes_to_peers),
        (1, 10)
    );
    assert_eq!(
        (counters.packets_to_clients, counters.bytes_to_clients),
        (1, 12)
    );
}

#[test]
fn peer_data_without_permission_is_dropped() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(h.peer_input(relay, peer(), b"unsolicited").is_none());
    let ind = c.send_indication(peer(), b"no permission");
    let (_, cmds) = h.input(c.five_tuple, &ind);
    assert!(cmds.is_empty());
    assert_eq!(h.server.counters().dropped_no_permission, 2);
}

#[test]
fn channel_data_between_two_allocations_stays_inside_the_server() {
    let mut h = Harness::new(common::config());
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut b = Client::new("198.51.100.8:40000", "bob", "bob-pw");
    let ra = h.allocate(&mut a);
    let rb = h.allocate(&mut b);
    assert!(is_success(&h.channel_bind(&mut a, 0x4001, rb.addr())));
    let frame = |channel: u16, payload: &[u8]| {
        let mut out = Vec::new();
        ChannelData {
            channel: ChannelNumber(channel),
            payload,
        }
        .encode(false, &mut out);
        out
    };
    // b has no permission for a's relay yet: b's allocation drops it, nothing leaves.
    let (fwd, cmds) = h.input(a.five_tuple, &frame(0x4001, b"early"));
    assert_eq!((fwd, cmds), (None, vec![]));
    assert_eq!(h.server.counters().dropped_no_permission, 1);

    assert!(is_success(&h.channel_bind(&mut b, 0x4002, ra.addr())));
    let (fwd, cmds) = h.input(a.five_tuple, &frame(0x4001, b"to b"));
    assert_eq!(
        fwd, None,
        "nothing for the shell to send from a relay socket"
    );
    assert_eq!(
        cmds,
        vec![Command::SendToClient {
            to: b.five_tuple,
            bytes: frame(0x4002, b"to b")
        }]
    );
    let (fwd, cmds) = h.input(b.five_tuple, &frame(0x4002, b"to a"));
    assert_eq!(fwd, None);
    assert_eq!(
        cmds,
        vec![Command::SendToClient {
            to: a.five_tuple,
            bytes: frame(0x4001, b"to a")
        }]
    );
    assert_eq!(h.server.counters().relayed_internally, 3);
}

#[test]
fn channel_bind_then_channel_data_both_ways() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(is_success(&h.channel_bind(&mut c, 0x4001, peer())));

    let mut frame = Vec::new();
    ChannelData {
        channel: ChannelNumber(0x4001),
        payload: b"via channel",
    }
    .encode(false, &mut frame);
    let (fwd, cmds) = h.input(c.five_tuple, &frame);
    assert!(cmds.is_empty(), "the hot path queues nothing");
    assert_eq!(
        fwd,
        Some((relay, PeerSocket::new(peer()), b"via channel".to_vec()))
    );

    // ChannelBind also installed a permission, and peer data now comes as ChannelData.
    let (_, bytes) = h.peer_input(relay, peer(), b"back").unwrap();
    assert_eq!(bytes, [0x40, 0x01, 0x00, 0x04, b'b', b'a', b'c', b'k']);
    let cd = ChannelData::decode(&bytes).unwrap();
    assert_eq!(cd.payload, b"back");

    // Refreshing the same binding is fine.
    assert!(is_success(&h.channel_bind(&mut c, 0x4001, peer())));
}

#[test]
fn channel_data_is_padded_over_tcp() {
    let mut h = Harness::new(common::config());
    let tuple = FiveTuple {
        client: switchboard_turn::ClientSocket::new("198.51.100.7:40000".parse().unwrap()),
        server: common::listener(),
        transport: Transport::Tcp,
    };
    let mut c = Client::with_tuple(tuple, "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(is_success(&h.channel_bind(&mut c, 0x4000, peer())));
    let (_, bytes) = h.peer_input(relay, peer(), b"12345").unwrap();
    assert_eq!(bytes.len(), 12);
    assert_eq!(&bytes[..4], &[0x40, 0x00, 0x00, 0x05]);
    assert_eq!(&bytes[9..], &[0, 0, 0]);
    // Padded ChannelData from the client is accepted too.
    let (fwd, _) = h.input(c.five_tuple, &bytes);
    assert_eq!(fwd.unwrap().2, b"12345");
}

#[test]
fn refresh_extends_and_zero_frees() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    let resp = h.request(&mut c, Method::REFRESH, &[Attribute::Lifetime(1200)]);
    assert_eq!(lifetime(&resp), Some(1200));

    let (tid, req) = c.request(Method::REFRESH, &[Attribute::Lifetime(0)]);
    let (_, cmds) = h.input(c.five_tuple, &req);
    assert!(cmds.contains(&Command::FreeRelay {
        id: switchboard_turn::AllocationId(1),
        relay
    }));
    let resp = common::response_for(&cmds, c.five_tuple, tid).unwrap();
    assert!(is_success(&resp));
    assert_eq!(lifetime(&resp), Some(0));
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.server.counters().allocations_active, 0);
    assert_eq!(h.server.poll_timeout(), None, "nothing left to time out");

    // The relay is gone: peer data is dropped and further requests get 437.
    assert!(h.peer_input(relay, peer(), b"late").is_none());
    assert_eq!(
        error_code(&h.create_permission(&mut c, peer())),
        Some(ErrorCode::ALLOCATION_MISMATCH)
    );
}

#[test]
fn allocation_expires_by_time() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(h.server.poll_timeout().is_some());
    h.advance(Duration::from_secs(599));
    assert!(h.drain().is_empty());
    assert_eq!(h.server.allocation_count(), 1);
    h.advance(Duration::from_secs(2));
    assert_eq!(
        h.drain(),
        vec![Command::FreeRelay {
            id: switchboard_turn::AllocationId(1),
            relay
        }]
    );
    assert_eq!(h.server.allocation_count(), 0);
    assert_eq!(h.server.poll_timeout(), None);
}

#[test]
fn permissions_expire_after_300_seconds_unless_refreshed() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(is_success(&h.create_permission(&mut c, peer())));
    h.advance(Duration::from_secs(299));
    assert!(h.peer_input(relay, peer(), b"ok").is_some());
    h.advance(Duration::from_secs(2));
    assert!(h.peer_input(relay, peer(), b"late").is_none());
    // The nonce is still fresh (600 s); refreshing the permission restores relaying.
    assert!(is_success(&h.create_permission(&mut c, peer())));
    assert!(h.peer_input(relay, peer(), b"again").is_some());
}

#[test]
fn channels_expire_and_stay_reserved_for_the_cooldown() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    let other: SocketAddr = "93.184.216.35:6000".parse().unwrap();
    assert!(is_success(&h.channel_bind(&mut c, 0x4000, peer())));
    // Keep the allocation, the permission and the nonce alive but let the channel lapse.
    assert!(is_success(&h.request(
        &mut c,
        Method::REFRESH,
        &[Attribute::Lifetime(3600)]
    )));
    for _ in 0..2 {
        h.advance(Duration::from_secs(290));
        assert!(is_success(&h.create_permission(&mut c, peer())));
    }
    h.advance(Duration::from_secs(30)); // 610 s: the channel is expired
    let mut frame = Vec::new();
    ChannelData {
        channel: ChannelNumber(0x4000),
        payload: b"x",
    }
    .encode(false, &mut frame);
    let (fwd, _) = h.input(c.five_tuple, &frame);
    assert!(fwd.is_none());
    // Peer data now arrives as a Data indication.
    let (_, bytes) = h.peer_input(relay, peer(), b"y").unwrap();
    assert!(Message::decode(&bytes).is_ok());
    // During the cooldown the number cannot move to another peer (the nonce went stale).
    let resp = h.channel_bind(&mut c, 0x4000, other);
    assert_eq!(error_code(&resp), Some(ErrorCode::STALE_NONCE));
    c.learn(&resp);
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x4000, other)),
        Some(ErrorCode::BAD_REQUEST)
    );
    // After the cooldown it can.
    h.advance(Duration::from_secs(301));
    assert!(is_success(&h.channel_bind(&mut c, 0x4000, other)));
}

#[test]
fn relaying_between_two_allocations_of_this_server_is_allowed() {
    // The relay addresses (192.0.2.1, a reserved range) are denied as peers by policy, but a
    // live relay socket of this server is TURN-to-TURN traffic and allowed.
    let mut h = Harness::new(common::config());
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut b = Client::new("198.51.100.8:40000", "bob", "bob-pw");
    let ra = h.allocate(&mut a);
    let rb = h.allocate(&mut b);
    assert!(is_success(&h.create_permission(&mut a, rb.addr())));
    assert!(is_success(&h.create_permission(&mut b, ra.addr())));
    // The peer is a relay socket of this server: the data goes straight to b's allocation,
    // which hands it to b as a Data indication from a's relay address, as the kernel would.
    let (_, cmds) = h.input(a.five_tuple, &a.send_indication(rb.addr(), b"hi b"));
    let [Command::SendToClient { to, bytes }] = cmds.as_slice() else {
        panic!("expected one message for b, got {cmds:?}");
    };
    assert_eq!(*to, b.five_tuple);
    let msg = Message::decode(bytes).unwrap();
    assert_eq!(msg.method(), Method::DATA);
    assert_eq!(
        msg.get(AttributeType::XOR_PEER_ADDRESS),
        Some(Attribute::XorPeerAddress(ra.addr()))
    );
    assert_eq!(msg.get(AttributeType::DATA), Some(Attribute::Data(b"hi b")));
    let counters = h.server.counters();
    assert_eq!(counters.relayed_internally, 1);
    assert_eq!(
        (counters.packets_to_peers, counters.packets_to_clients),
        (1, 1)
    );
    // Peer data arriving from outside on b's relay socket is accepted too.
    assert!(h.peer_input(rb, ra.addr(), b"hi b").is_some());
    // Another port on the same (denied) address is not a relay: refused.
    let other_port = SocketAddr::new(rb.addr().ip(), 22);
    assert_eq!(
        error_code(&h.create_permission(&mut a, other_port)),
        Some(ErrorCode::FORBIDDEN)
    );
    let (_, cmds) = h.input(a.five_tuple, &a.send_indication(other_port, b"ssh?"));
    assert!(cmds.is_empty());
}

#[test]
fn closing_a_tcp_connection_frees_its_allocation() {
    let mut h = Harness::new(common::config());
    let tuple = FiveTuple {
        client: switchboard_turn::ClientSocket::new("198.51.100.7:40000".parse().unwrap()),
        server: common::listener(),
        transport: Transport::Tcp,
    };
    let mut c = Client::with_tuple(tuple, "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    h.server.connection_closed(h.now, tuple);
    assert_eq!(
        h.drain(),
        vec![Command::FreeRelay {
            id: switchboard_turn::AllocationId(1),
            relay
        }]
    );
    assert_eq!(h.server.allocation_count(), 0);
}

fn token(bytes: &[u8]) -> Option<[u8; 8]> {
    match Message::decode(bytes)
        .unwrap()
        .get(AttributeType::RESERVATION_TOKEN)
    {
        Some(Attribute::ReservationToken(t)) => Some(*t),
        _ => None,
    }
}

#[test]
fn even_port_reservation_is_used_by_a_second_allocate() {
    let mut h = Harness::new(common::config());
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut a, &[Attribute::EvenPort(true)]);
    let relay = relayed_address(&resp).unwrap();
    assert_eq!(relay.addr().port() % 2, 0);
    let t = token(&resp).expect("RESERVATION-TOKEN");

    let mut b = Client::new("198.51.100.7:40001", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut b, &[Attribute::ReservationToken(&t)]);
    let second = relayed_address(&resp).unwrap();
    assert_eq!(
        second.addr(),
        SocketAddr::new(relay.ip(), relay.addr().port() + 1)
    );
    // A token works once.
    let mut c = Client::new("198.51.100.7:40002", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut c, &[Attribute::ReservationToken(&t)]);
    assert_eq!(error_code(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
    // EVEN-PORT without R reserves nothing.
    let mut d = Client::new("198.51.100.7:40003", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut d, &[Attribute::EvenPort(false)]);
    assert_eq!(relayed_address(&resp).unwrap().addr().port() % 2, 0);
    assert_eq!(token(&resp), None);
}

#[test]
fn unused_reservation_is_freed_after_30_seconds() {
    let mut h = Harness::new(common::config());
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut a, &[Attribute::EvenPort(true)]);
    let relay = relayed_address(&resp).unwrap();
    let t = token(&resp).unwrap();
    h.advance(Duration::from_secs(31));
    let reserved =
        switchboard_turn::RelaySocket::new(SocketAddr::new(relay.ip(), relay.addr().port() + 1));
    assert_eq!(
        h.drain(),
        vec![Command::FreeRelay {
            id: switchboard_turn::AllocationId(1),
            relay: reserved
        }]
    );
    let mut b = Client::new("198.51.100.7:40001", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut b, &[Attribute::ReservationToken(&t)]);
    assert_eq!(error_code(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
}
