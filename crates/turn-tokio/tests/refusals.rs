//! Refusals over real sockets, each with its exact STUN error code and nothing relayed:
//! wrong password (401), expired TURN REST username (401), relay to a denied address (403),
//! allocation quota per user (486) and in total (508).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use common::{config, peer_recv, start, Client, REALM};
use switchboard_turn::{rest_credentials, Credentials, ErrorCode};
use tokio::net::UdpSocket;

const SECRET: &[u8] = b"rest secret";

fn creds() -> Credentials {
    Credentials::new(REALM)
        .with_user("alice", "pw")
        .with_user("bob", "pw")
        .with_shared_secret(SECRET)
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

#[tokio::test]
async fn wrong_password_is_refused_with_401_over_udp_and_tcp() {
    let (handle, task, udp, tcp, _) = start(config(creds(), 55000..=55099)).await;
    let mut over_udp = Client::udp(udp, "alice", "wrong").await;
    assert_eq!(over_udp.allocate().await, Err(ErrorCode::UNAUTHENTICATED));
    let mut over_tcp = Client::tcp(tcp.unwrap(), "alice", "wrong").await;
    assert_eq!(over_tcp.allocate().await, Err(ErrorCode::UNAUTHENTICATED));
    let mut unknown = Client::udp(udp, "mallory", "pw").await;
    assert_eq!(unknown.allocate().await, Err(ErrorCode::UNAUTHENTICATED));
    let c = handle.counters();
    assert_eq!(c.allocations_created, 0);
    assert!(c.auth_failures >= 3, "{c:?}");
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn expired_rest_username_is_refused_with_401() {
    let (handle, task, udp, _, _) = start(config(creds(), 55100..=55199)).await;
    let (user, pass) = rest_credentials(SECRET, "carol", unix_now() - 60);
    let mut expired = Client::udp(udp, &user, &pass).await;
    assert_eq!(expired.allocate().await, Err(ErrorCode::UNAUTHENTICATED));
    let (user, pass) = rest_credentials(SECRET, "carol", unix_now() + 3600);
    let mut valid = Client::udp(udp, &user, &pass).await;
    assert!(valid.allocate().await.is_ok());
    let (user, _) = rest_credentials(SECRET, "carol", unix_now() + 3600);
    let mut forged = Client::udp(udp, &user, "bm90IHRoZSBwYXNzd29yZA==").await;
    assert_eq!(forged.allocate().await, Err(ErrorCode::UNAUTHENTICATED));
    assert_eq!(handle.counters().allocations_created, 1);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn relay_to_denied_addresses_is_refused_with_403_and_nothing_is_relayed() {
    let mut cfg = config(creds(), 55200..=55299);
    cfg.turn.policy.allow_loopback = false;
    let (handle, task, udp, _, _) = start(cfg).await;
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    let mut client = Client::udp(udp, "alice", "pw").await;
    client.allocate().await.unwrap();
    for denied in [
        peer_addr.to_string(),
        "10.1.2.3:5000".to_owned(),
        "192.168.1.1:5000".to_owned(),
        "172.16.0.1:5000".to_owned(),
        "169.254.1.1:5000".to_owned(),
        "224.0.0.1:5000".to_owned(),
        "0.0.0.0:5000".to_owned(),
    ] {
        let addr = denied.parse().unwrap();
        assert_eq!(
            client.permit(addr).await,
            Some(ErrorCode::FORBIDDEN),
            "{denied}"
        );
        assert_eq!(
            client.bind_channel(0x4000, addr).await,
            Some(ErrorCode::FORBIDDEN),
            "{denied}"
        );
    }
    client.send_indication(peer_addr, b"must not arrive").await;
    client.channel_data(0x4000, b"must not arrive").await;
    assert_eq!(peer_recv(&peer).await, None);
    let c = handle.counters();
    assert_eq!((c.packets_to_peers, c.bytes_to_peers), (0, 0));
    assert!(c.peers_denied >= 14, "{c:?}");
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn allocation_quotas_are_refused_with_486_and_508() {
    let mut cfg = config(creds(), 55300..=55399);
    cfg.turn.max_allocations_per_user = 2;
    cfg.turn.max_allocations = 5;
    let (handle, task, udp, tcp, _) = start(cfg).await;
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut c = Client::udp(udp, "alice", "pw").await;
        c.allocate().await.unwrap();
        held.push(c);
    }
    let mut third = Client::tcp(tcp.unwrap(), "alice", "pw").await;
    assert_eq!(
        third.allocate().await,
        Err(ErrorCode::ALLOCATION_QUOTA_REACHED)
    );
    // Fresh REST usernames for one user share that user's quota.
    for expected in [Ok(()), Ok(()), Err(ErrorCode::ALLOCATION_QUOTA_REACHED)] {
        let (user, pass) = rest_credentials(SECRET, "dave", unix_now() + 600);
        let mut c = Client::udp(udp, &user, &pass).await;
        assert_eq!(c.allocate().await.map(|_| ()), expected);
        held.push(c);
    }
    // Five in total: the next user is over the server's capacity.
    let mut bob = Client::udp(udp, "bob", "pw").await;
    assert!(bob.allocate().await.is_ok());
    let mut bob2 = Client::udp(udp, "bob", "pw").await;
    assert_eq!(bob2.allocate().await, Err(ErrorCode::INSUFFICIENT_CAPACITY));
    assert_eq!(handle.counters().allocations_active, 5);
    handle.shutdown();
    task.await.unwrap().unwrap();
}
