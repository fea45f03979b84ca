//! Every error path: each refused with the right code, and nothing relayed.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::{error_code, is_success, Client, Harness};
use switchboard_turn::{
    rest_credentials, AddressFamily, Attribute, AttributeType, ChannelData, ChannelNumber, Cidr,
    Class, Command, ErrorCode, IntegrityAlgorithm, Message, MessageWriter, Method, PeerPolicy,
    Protocol, SourceLimit, TransactionId,
};

const PEER: &str = "93.184.216.34:5000";

fn peer() -> SocketAddr {
    PEER.parse().unwrap()
}

fn no_relay_commands(cmds: &[Command]) -> bool {
    !cmds
        .iter()
        .any(|c| matches!(c, Command::CreateRelay { .. } | Command::SendToPeer { .. }))
}

#[test]
fn wrong_password_is_401_and_counted() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "not-her-password");
    let resp = h.allocate_raw(&mut c, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::UNAUTHENTICATED));
    let msg = Message::decode(&resp).unwrap();
    assert!(msg.get(AttributeType::NONCE).is_some() && msg.get(AttributeType::REALM).is_some());
    assert!(
        !msg.has_integrity(),
        "a 401 is not signed with a key the client may not have"
    );
    assert_eq!(h.server.counters().auth_failures, 1);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn unknown_user_is_401() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "mallory", "x");
    assert_eq!(
        error_code(&h.allocate_raw(&mut c, &[])),
        Some(ErrorCode::UNAUTHENTICATED)
    );
    assert_eq!(h.server.counters().auth_failures, 1);
}

#[test]
fn wrong_realm_is_401() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(Protocol::UDP)],
    );
    c.learn(&first);
    c.realm = Some("other.realm".into());
    let resp = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(Protocol::UDP)],
    );
    assert_eq!(error_code(&resp), Some(ErrorCode::UNAUTHENTICATED));
}

#[test]
fn expired_rest_username_is_401() {
    let mut h = Harness::new(common::config());
    let (user, pass) = rest_credentials(common::SECRET, "carol", common::UNIX_START - 1);
    let mut c = Client::new("198.51.100.7:40000", &user, &pass);
    let resp = h.allocate_raw(&mut c, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::UNAUTHENTICATED));
    assert_eq!(h.server.counters().auth_failures, 1);
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn rest_username_expires_while_time_passes() {
    let mut h = Harness::new(common::config());
    let (user, pass) = rest_credentials(common::SECRET, "carol", common::UNIX_START + 100);
    let mut c = Client::new("198.51.100.7:40000", &user, &pass);
    h.allocate(&mut c);
    h.advance(Duration::from_secs(101));
    let resp = h.request(&mut c, Method::REFRESH, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::UNAUTHENTICATED));
}

#[test]
fn rest_password_signed_with_another_secret_is_401() {
    let mut h = Harness::new(common::config());
    let (user, pass) = rest_credentials(b"other secret", "carol", common::UNIX_START + 3600);
    let mut c = Client::new("198.51.100.7:40000", &user, &pass);
    assert_eq!(
        error_code(&h.allocate_raw(&mut c, &[])),
        Some(ErrorCode::UNAUTHENTICATED)
    );
}

#[test]
fn stale_nonce_is_438_with_a_fresh_nonce() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    assert!(is_success(
        &h.allocate_raw(&mut c, &[Attribute::Lifetime(3600)])
    ));
    h.advance(Duration::from_secs(601));
    let old = c.nonce.clone();
    let resp = h.request(&mut c, Method::REFRESH, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::STALE_NONCE));
    c.learn(&resp);
    assert_ne!(c.nonce, old);
    assert!(is_success(&h.request(&mut c, Method::REFRESH, &[])));
}

#[test]
fn forged_nonce_is_438() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    c.realm = Some(common::REALM.into());
    c.nonce = Some("0000000000000000000000000000000000000000".into());
    let resp = h.allocate_raw(&mut c, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::STALE_NONCE));
}

#[test]
fn nonce_from_another_address_is_438() {
    let mut h = Harness::new(common::config());
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut a);
    let mut b = Client::new("198.51.100.99:40000", "alice", "alice-pw");
    b.realm = a.realm.clone();
    b.nonce = a.nonce.clone();
    assert_eq!(
        error_code(&h.allocate_raw(&mut b, &[])),
        Some(ErrorCode::STALE_NONCE)
    );
}

#[test]
fn integrity_without_username_is_400() {
    let mut h = Harness::new(common::config());
    let mut buf = Vec::new();
    let mut w = MessageWriter::new(
        &mut buf,
        Class::Request,
        Method::ALLOCATE,
        TransactionId([3; 12]),
    );
    w.attribute(&Attribute::RequestedTransport(Protocol::UDP))
        .unwrap();
    w.message_integrity(b"key");
    let c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let (_, cmds) = h.input(c.five_tuple, &buf);
    let resp = common::response_for(&cmds, c.five_tuple, TransactionId([3; 12])).unwrap();
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
}

#[test]
fn second_allocate_on_same_five_tuple_is_437() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    let resp = h.allocate_raw(&mut c, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::ALLOCATION_MISMATCH));
    assert_eq!(
        Message::decode(&resp)
            .unwrap()
            .verify_integrity(c.key().as_bytes()),
        Ok(IntegrityAlgorithm::Sha1)
    );
}

#[test]
fn requests_without_allocation_are_437() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(&mut c, Method::REFRESH, &[]);
    assert_eq!(error_code(&first), Some(ErrorCode::UNAUTHENTICATED));
    c.learn(&first);
    for method in [Method::REFRESH, Method::CREATE_PERMISSION] {
        let resp = h.request(&mut c, method, &[Attribute::XorPeerAddress(peer())]);
        assert_eq!(error_code(&resp), Some(ErrorCode::ALLOCATION_MISMATCH));
    }
}

#[test]
fn another_user_on_the_allocation_five_tuple_is_441() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    c.username = "bob".into();
    c.password = "bob-pw".into();
    let resp = h.request(&mut c, Method::REFRESH, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::WRONG_CREDENTIALS));
}

#[test]
fn requested_transport_must_be_udp() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(&mut c, Method::ALLOCATE, &[]);
    c.learn(&first);
    let resp = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(Protocol::TCP)],
    );
    assert_eq!(
        error_code(&resp),
        Some(ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL)
    );
    let resp = h.request(&mut c, Method::ALLOCATE, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
    assert_eq!(h.server.allocation_count(), 0);
}

#[test]
fn unsupported_address_family_is_440() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(
        &mut c,
        &[Attribute::RequestedAddressFamily(AddressFamily(3))],
    );
    assert_eq!(
        error_code(&resp),
        Some(ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
    );

    let mut config = common::config();
    config.relay_ipv6 = false;
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(
        &mut c,
        &[Attribute::RequestedAddressFamily(AddressFamily::IPV6)],
    );
    assert_eq!(
        error_code(&resp),
        Some(ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED)
    );
}

#[test]
fn refresh_with_other_family_is_443() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    let resp = h.request(
        &mut c,
        Method::REFRESH,
        &[Attribute::RequestedAddressFamily(AddressFamily::IPV6)],
    );
    assert_eq!(
        error_code(&resp),
        Some(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH)
    );
}

#[test]
fn per_user_quota_is_486() {
    let mut config = common::config();
    config.max_allocations_per_user = 2;
    let mut h = Harness::new(config);
    for port in [40000, 40001] {
        let mut c = Client::new(&format!("198.51.100.7:{port}"), "alice", "alice-pw");
        h.allocate(&mut c);
    }
    let mut c = Client::new("198.51.100.7:40002", "alice", "alice-pw");
    let resp = h.allocate_raw(&mut c, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::ALLOCATION_QUOTA_REACHED));
    // Another user is not affected.
    let mut b = Client::new("198.51.100.7:40003", "bob", "bob-pw");
    h.allocate(&mut b);
    assert_eq!(h.server.allocation_count(), 3);
}

#[test]
fn quota_frees_up_when_an_allocation_is_deleted() {
    let mut config = common::config();
    config.max_allocations_per_user = 1;
    let mut h = Harness::new(config);
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut a);
    assert!(is_success(&h.request(
        &mut a,
        Method::REFRESH,
        &[Attribute::Lifetime(0)]
    )));
    let mut b = Client::new("198.51.100.7:40001", "alice", "alice-pw");
    h.allocate(&mut b);
}

#[test]
fn total_quota_is_508() {
    let mut config = common::config();
    config.max_allocations = 1;
    let mut h = Harness::new(config);
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut a);
    let mut b = Client::new("198.51.100.8:40000", "bob", "bob-pw");
    let resp = h.allocate_raw(&mut b, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
}

#[test]
fn relay_bind_failure_is_508() {
    let mut h = Harness::new(common::config());
    h.auto_bind = false;
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(Protocol::UDP)],
    );
    c.learn(&first);
    let (tid, req) = c.request(
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(Protocol::UDP)],
    );
    let (_, cmds) = h.input(c.five_tuple, &req);
    let [Command::CreateRelay { id, .. }] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    h.server.relay_failed(h.now, *id);
    let cmds = h.drain();
    let resp = common::response_for(&cmds, c.five_tuple, tid).unwrap();
    assert_eq!(error_code(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
    assert_eq!(h.server.allocation_count(), 0);
    // A relay reported late for the dropped allocation is handed back.
    let late = switchboard_turn::RelaySocket::new("192.0.2.1:50000".parse().unwrap());
    h.server.relay_bound(h.now, *id, late);
    assert_eq!(
        h.drain(),
        vec![Command::FreeRelay {
            id: *id,
            relay: late
        }]
    );
}

#[test]
fn denied_peers_are_403_and_nothing_is_relayed() {
    let denied = [
        "127.0.0.1:5000",
        "10.1.2.3:5000",
        "172.16.0.1:5000",
        "172.31.255.255:5000",
        "192.168.1.1:5000",
        "100.64.0.1:5000",
        "169.254.169.254:80",
        "224.0.0.1:5000",
        "255.255.255.255:5000",
        "0.0.0.0:5000",
        "240.0.0.1:5000",
        "192.0.2.1:5000", // the server's own listener address (and a reserved range)
    ];
    let denied_v6 = [
        "[::1]:5000",
        "[::]:5000",
        "[fe80::1]:5000",
        "[fc00::1]:5000",
        "[fd12:3456::1]:5000",
        "[ff02::1]:5000",
        "[::ffff:127.0.0.1]:5000",
        "[::ffff:10.0.0.1]:5000",
        "[64:ff9b::a00:1]:5000",
        "[2002:c0a8:0101::1]:5000",
    ];
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    let mut c6 = Client::new("198.51.100.7:40001", "alice", "alice-pw");
    let relay6 = common::relayed_address(&h.allocate_raw(
        &mut c6,
        &[Attribute::RequestedAddressFamily(AddressFamily::IPV6)],
    ))
    .unwrap();
    for (client, list) in [(&mut c, &denied[..]), (&mut c6, &denied_v6[..])] {
        for p in list {
            let p: SocketAddr = p.parse().unwrap();
            assert_eq!(
                error_code(&h.create_permission(client, p)),
                Some(ErrorCode::FORBIDDEN),
                "{p}"
            );
            assert_eq!(
                error_code(&h.channel_bind(client, 0x4000, p)),
                Some(ErrorCode::FORBIDDEN),
                "{p}"
            );
            let (fwd, cmds) = h.input(client.five_tuple, &client.send_indication(p, b"attack"));
            assert!(fwd.is_none() && no_relay_commands(&cmds), "{p}");
            let r = if p.is_ipv4() { relay } else { relay6 };
            assert!(h.peer_input(r, p, b"in").is_none());
        }
    }
    assert_eq!(
        h.server.counters().peers_denied,
        2 * (denied.len() + denied_v6.len()) as u64
    );
    assert_eq!(h.server.counters().packets_to_peers, 0);
}

#[test]
fn one_denied_peer_fails_the_whole_create_permission() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    let resp = h.request(
        &mut c,
        Method::CREATE_PERMISSION,
        &[
            Attribute::XorPeerAddress(peer()),
            Attribute::XorPeerAddress("10.0.0.1:1".parse().unwrap()),
        ],
    );
    assert_eq!(error_code(&resp), Some(ErrorCode::FORBIDDEN));
    assert!(h.peer_input(relay, peer(), b"x").is_none());
}

#[test]
fn configuration_can_allow_loopback_and_listed_networks() {
    let mut config = common::config();
    config.policy = PeerPolicy {
        allow: vec!["10.0.0.0/8".parse::<Cidr>().unwrap()],
        allow_loopback: true,
        ..PeerPolicy::default()
    };
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    assert!(is_success(
        &h.create_permission(&mut c, "127.0.0.1:5000".parse().unwrap())
    ));
    assert!(is_success(
        &h.create_permission(&mut c, "10.9.8.7:5000".parse().unwrap())
    ));
    assert_eq!(
        error_code(&h.create_permission(&mut c, "192.168.0.1:1".parse().unwrap())),
        Some(ErrorCode::FORBIDDEN)
    );
}

#[test]
fn configured_deny_list_and_server_addresses() {
    let mut config = common::config();
    config.policy.deny = vec!["93.184.216.0/24".parse().unwrap()];
    config.policy.server_addresses = vec!["8.8.4.4".parse().unwrap()];
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    assert_eq!(
        error_code(&h.create_permission(&mut c, peer())),
        Some(ErrorCode::FORBIDDEN)
    );
    assert_eq!(
        error_code(&h.create_permission(&mut c, "8.8.4.4:53".parse().unwrap())),
        Some(ErrorCode::FORBIDDEN)
    );
    assert!(is_success(
        &h.create_permission(&mut c, "8.8.8.8:53".parse().unwrap())
    ));
}

#[test]
fn channel_bind_rules() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    let other: SocketAddr = "93.184.216.35:6000".parse().unwrap();
    for bad in [0x0000, 0x3FFF, 0x5000, 0x7FFF, 0xFFFF] {
        assert_eq!(
            error_code(&h.channel_bind(&mut c, bad, peer())),
            Some(ErrorCode::BAD_REQUEST),
            "{bad:#x}"
        );
    }
    assert!(is_success(&h.channel_bind(&mut c, 0x4FFF, peer())));
    // Channel to another peer, or peer to another channel: 400.
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x4FFF, other)),
        Some(ErrorCode::BAD_REQUEST)
    );
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x4000, peer())),
        Some(ErrorCode::BAD_REQUEST)
    );
    // Missing attributes: 400.
    let resp = h.request(
        &mut c,
        Method::CHANNEL_BIND,
        &[Attribute::XorPeerAddress(other)],
    );
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
    let resp = h.request(
        &mut c,
        Method::CHANNEL_BIND,
        &[Attribute::ChannelNumber(ChannelNumber(0x4001))],
    );
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
    // Family mismatch: 443.
    let v6: SocketAddr = "[2606:2800:220:1::1]:5000".parse().unwrap();
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x4001, v6)),
        Some(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH)
    );
    // Rebinding the same pair refreshes it.
    assert!(is_success(&h.channel_bind(&mut c, 0x4FFF, peer())));
}

#[test]
fn create_permission_without_peer_is_400() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    let resp = h.request(&mut c, Method::CREATE_PERMISSION, &[]);
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
}

#[test]
fn permission_and_channel_limits_are_508() {
    let mut config = common::config();
    config.max_permissions_per_allocation = 2;
    config.max_channels_per_allocation = 1;
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    assert!(is_success(&h.channel_bind(
        &mut c,
        0x4000,
        "93.184.216.1:1".parse().unwrap()
    )));
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x4001, "93.184.216.2:1".parse().unwrap())),
        Some(ErrorCode::INSUFFICIENT_CAPACITY)
    );
    assert!(is_success(
        &h.create_permission(&mut c, "93.184.216.2:1".parse().unwrap())
    ));
    assert_eq!(
        error_code(&h.create_permission(&mut c, "93.184.216.3:1".parse().unwrap())),
        Some(ErrorCode::INSUFFICIENT_CAPACITY)
    );
}

#[test]
fn unknown_comprehension_required_attribute_is_420_listing_it() {
    let mut h = Harness::new(common::config());
    let c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut buf = Vec::new();
    let tid = TransactionId([9; 12]);
    let mut w = MessageWriter::new(&mut buf, Class::Request, Method::ALLOCATE, tid);
    w.raw_attribute(AttributeType(0x7777), b"?").unwrap();
    w.raw_attribute(AttributeType::DONT_FRAGMENT, &[]).unwrap();
    w.raw_attribute(AttributeType(0xC001), b"optional is fine")
        .unwrap();
    let (_, cmds) = h.input(c.five_tuple, &buf);
    let resp = common::response_for(&cmds, c.five_tuple, tid).unwrap();
    assert_eq!(error_code(&resp), Some(ErrorCode::UNKNOWN_ATTRIBUTE));
    let msg = Message::decode(&resp).unwrap();
    let Some(Attribute::UnknownAttributes(list)) = msg.get(AttributeType::UNKNOWN_ATTRIBUTES)
    else {
        panic!("no UNKNOWN-ATTRIBUTES")
    };
    assert_eq!(
        list.iter().collect::<Vec<_>>(),
        vec![AttributeType(0x7777), AttributeType::DONT_FRAGMENT]
    );
}

#[test]
fn unknown_optional_attribute_is_ignored() {
    let mut h = Harness::new(common::config());
    let c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut buf = Vec::new();
    let tid = TransactionId([9; 12]);
    let mut w = MessageWriter::new(&mut buf, Class::Request, Method::BINDING, tid);
    w.raw_attribute(AttributeType(0xC001), b"optional").unwrap();
    let (_, cmds) = h.input(c.five_tuple, &buf);
    assert!(is_success(
        &common::response_for(&cmds, c.five_tuple, tid).unwrap()
    ));
}

#[test]
fn malformed_known_attribute_in_request_is_400_and_in_indication_dropped() {
    let mut h = Harness::new(common::config());
    let c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    for class in [Class::Request, Class::Indication] {
        let mut buf = Vec::new();
        let tid = TransactionId([5; 12]);
        let mut w = MessageWriter::new(&mut buf, class, Method::SEND, tid);
        w.raw_attribute(AttributeType::XOR_PEER_ADDRESS, &[0, 9, 0, 0, 1, 2, 3, 4])
            .unwrap();
        let (_, cmds) = h.input(c.five_tuple, &buf);
        match class {
            Class::Request => {
                let resp = common::response_for(&cmds, c.five_tuple, tid).unwrap();
                assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
            }
            _ => assert!(cmds.is_empty()),
        }
    }
}

#[test]
fn unknown_method_request_is_400() {
    let mut h = Harness::new(common::config());
    let c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut buf = Vec::new();
    MessageWriter::new(
        &mut buf,
        Class::Request,
        Method(0x0FF),
        TransactionId([1; 12]),
    );
    let (_, cmds) = h.input(c.five_tuple, &buf);
    let resp = common::response_for(&cmds, c.five_tuple, TransactionId([1; 12])).unwrap();
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
}

#[test]
fn garbage_responses_and_truncated_input_are_dropped_silently() {
    let mut h = Harness::new(common::config());
    let c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut response = Vec::new();
    MessageWriter::new(
        &mut response,
        Class::SuccessResponse,
        Method::BINDING,
        TransactionId([1; 12]),
    );
    for input in [
        &b""[..],
        b"\x00",
        b"GET / HTTP/1.1\r\n\r\n",
        &response,
        &[0x40, 0, 0, 9, 1],
    ] {
        let (fwd, cmds) = h.input(c.five_tuple, input);
        assert!(fwd.is_none() && cmds.is_empty());
    }
    assert_eq!(h.server.counters().dropped_packets, 5);
}

#[test]
fn channel_data_for_unknown_channel_is_dropped() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    let mut frame = Vec::new();
    ChannelData {
        channel: ChannelNumber(0x4123),
        payload: b"?",
    }
    .encode(false, &mut frame);
    let (fwd, cmds) = h.input(c.five_tuple, &frame);
    assert!(fwd.is_none() && cmds.is_empty());
    // From a 5-tuple without allocation, too.
    let stranger = Client::new("198.51.100.9:1", "x", "y");
    let (fwd, cmds) = h.input(stranger.five_tuple, &frame);
    assert!(fwd.is_none() && cmds.is_empty());
}

#[test]
fn unauthenticated_flood_is_rate_limited_per_source() {
    let mut config = common::config();
    config.unauthenticated_limit = SourceLimit {
        per_second: 1,
        burst: 5,
        max_sources: 4,
    };
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut answered = 0;
    for _ in 0..100 {
        let (_, req) = c.request(
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(Protocol::UDP)],
        );
        let (_, cmds) = h.input(c.five_tuple, &req);
        answered += cmds.len();
    }
    assert_eq!(answered, 5);
    assert_eq!(h.server.counters().rate_limited, 95);
    // Another source is unaffected; and time refills the bucket.
    let mut d = Client::new("198.51.100.8:40000", "alice", "alice-pw");
    assert_eq!(error_code(&h.request(&mut d, Method::BINDING, &[])), None);
    h.advance(Duration::from_secs(2));
    let (_, req) = c.request(Method::BINDING, &[]);
    assert_eq!(h.input(c.five_tuple, &req).1.len(), 1);
    // Many spoofed sources cannot grow the table beyond its bound.
    for i in 0..1000u32 {
        let ip = std::net::Ipv4Addr::from(0x0A00_0000 + i);
        let tuple =
            switchboard_turn::FiveTuple::udp(SocketAddr::new(ip.into(), 1), common::listener());
        let mut s = Client::with_tuple(tuple, "x", "y");
        let (_, req) = s.request(Method::BINDING, &[]);
        let _ = h.input(tuple, &req);
    }
    assert!(h.server.counters().rate_limited > 900);
}

#[test]
fn bandwidth_limit_drops_and_counts_excess() {
    let mut config = common::config();
    config.bandwidth_per_allocation = Some(1000);
    config.bandwidth_burst = 1000;
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(is_success(&h.channel_bind(&mut c, 0x4000, peer())));
    let mut frame = Vec::new();
    ChannelData {
        channel: ChannelNumber(0x4000),
        payload: &[0u8; 400],
    }
    .encode(false, &mut frame);
    let forwarded = (0..5)
        .filter(|_| h.input(c.five_tuple, &frame).0.is_some())
        .count();
    assert_eq!(forwarded, 2);
    assert!(h.peer_input(relay, peer(), &[0u8; 400]).is_none());
    assert_eq!(h.server.counters().dropped_bandwidth, 4);
    h.advance(Duration::from_secs(1));
    assert!(h.input(c.five_tuple, &frame).0.is_some());
}

#[test]
fn rest_credentials_of_one_user_share_the_quota() {
    let mut config = common::config();
    config.max_allocations_per_user = 1;
    let mut h = Harness::new(config);
    let (u1, p1) = rest_credentials(common::SECRET, "carol", common::UNIX_START + 100);
    let (u2, p2) = rest_credentials(common::SECRET, "carol", common::UNIX_START + 200);
    let mut a = Client::new("198.51.100.7:40000", &u1, &p1);
    h.allocate(&mut a);
    let mut b = Client::new("198.51.100.7:40001", &u2, &p2);
    assert_eq!(
        error_code(&h.allocate_raw(&mut b, &[])),
        Some(ErrorCode::ALLOCATION_QUOTA_REACHED)
    );
}

#[test]
fn relay_reported_twice_is_not_freed_under_the_first_allocation() {
    let mut h = Harness::new(common::config());
    h.auto_bind = false;
    let mut a = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let mut b = Client::new("198.51.100.8:40000", "bob", "bob-pw");
    let relay = switchboard_turn::RelaySocket::new("192.0.2.1:50000".parse().unwrap());
    let mut ids = Vec::new();
    for c in [&mut a, &mut b] {
        let first = h.request(
            c,
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(Protocol::UDP)],
        );
        c.learn(&first);
        let (_, req) = c.request(
            Method::ALLOCATE,
            &[Attribute::RequestedTransport(Protocol::UDP)],
        );
        let (_, cmds) = h.input(c.five_tuple, &req);
        let [Command::CreateRelay { id, .. }] = cmds.as_slice() else {
            panic!("{cmds:?}")
        };
        ids.push(*id);
    }
    h.server.relay_bound(h.now, ids[0], relay);
    assert!(h
        .drain()
        .iter()
        .all(|c| matches!(c, Command::SendToClient { .. })));
    h.server.relay_bound(h.now, ids[1], relay);
    let cmds = h.drain();
    assert!(
        !cmds.iter().any(|c| matches!(c, Command::FreeRelay { .. })),
        "{cmds:?}"
    );
    let Some(Command::SendToClient { bytes, .. }) = cmds.first() else {
        panic!("{cmds:?}")
    };
    assert_eq!(error_code(bytes), Some(ErrorCode::INSUFFICIENT_CAPACITY));
    assert_eq!(h.server.allocation_count(), 1);
}

#[test]
fn config_debug_hides_secrets() {
    let text = format!("{:?}", common::config());
    assert!(
        !text.contains("alice-pw")
            && !text.contains("rest-shared-secret")
            && !text.contains("[7, 7")
    );
}

#[test]
fn even_port_with_reservation_token_is_400_and_unknown_token_is_508() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let resp = h.allocate_raw(
        &mut c,
        &[
            Attribute::EvenPort(false),
            Attribute::ReservationToken(&[1; 8]),
        ],
    );
    assert_eq!(error_code(&resp), Some(ErrorCode::BAD_REQUEST));
    let resp = h.allocate_raw(&mut c, &[Attribute::ReservationToken(&[1; 8])]);
    assert_eq!(error_code(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
}

#[test]
fn shell_binding_an_odd_port_for_even_port_fails_the_allocate() {
    let mut h = Harness::new(common::config());
    h.auto_bind = false;
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let first = h.request(
        &mut c,
        Method::ALLOCATE,
        &[Attribute::RequestedTransport(Protocol::UDP)],
    );
    c.learn(&first);
    let attrs = [
        Attribute::RequestedTransport(Protocol::UDP),
        Attribute::EvenPort(false),
    ];
    let (tid, req) = c.request(Method::ALLOCATE, &attrs);
    let (_, cmds) = h.input(c.five_tuple, &req);
    let [Command::CreateRelay { id, .. }] = cmds.as_slice() else {
        panic!("{cmds:?}")
    };
    let odd = switchboard_turn::RelaySocket::new("192.0.2.1:50001".parse().unwrap());
    h.server.relay_bound(h.now, *id, odd);
    let cmds = h.drain();
    assert!(cmds.contains(&Command::FreeRelay {
        id: *id,
        relay: odd
    }));
    let resp = common::response_for(&cmds, c.five_tuple, tid).unwrap();
    assert_eq!(error_code(&resp), Some(ErrorCode::INSUFFICIENT_CAPACITY));
}

#[test]
fn legacy_channel_numbers_only_when_configured() {
    let mut h = Harness::new(common::config());
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    h.allocate(&mut c);
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x5390, peer())),
        Some(ErrorCode::BAD_REQUEST)
    );

    let mut config = common::config();
    config.legacy_channel_numbers = true;
    let mut h = Harness::new(config);
    let mut c = Client::new("198.51.100.7:40000", "alice", "alice-pw");
    let relay = h.allocate(&mut c);
    assert!(is_success(&h.channel_bind(&mut c, 0x5390, peer())));
    assert!(is_success(&h.channel_bind(
        &mut c,
        0x7FFE,
        "93.184.216.1:1".parse().unwrap()
    )));
    assert_eq!(
        error_code(&h.channel_bind(&mut c, 0x7FFF, "93.184.216.2:1".parse().unwrap())),
        Some(ErrorCode::BAD_REQUEST)
    );
    let (_, bytes) = h.peer_input(relay, peer(), b"x").unwrap();
    assert_eq!(&bytes[..2], &[0x53, 0x90]);
}
