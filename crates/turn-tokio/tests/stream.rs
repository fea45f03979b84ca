//! TCP and TLS over real sockets on loopback: framing (padded ChannelData, frames split
//! across reads), disconnects free the allocation, idle and invalid connections are closed,
//! the connection limit, and bounded send queues for a client that stops reading.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{config, eventually, peer_recv, start, Client, Link, REALM};
use switchboard_turn::{Attribute, AttributeType, ChannelData, Credentials, Message, Method};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpStream, UdpSocket};

fn creds() -> Credentials {
    Credentials::new(REALM).with_user("alice", "pw")
}

/// Allocate, permission, Send/Data indications and a channel both ways over `client`.
async fn relay_both_ways(client: &mut Client, relay_range: std::ops::RangeInclusive<u16>) {
    let relay = client.allocate().await.unwrap();
    assert!(relay_range.contains(&relay.port()));
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    assert_eq!(client.permit(peer_addr).await, None);
    client.send_indication(peer_addr, b"hello").await;
    assert_eq!(peer_recv(&peer).await, Some((b"hello".to_vec(), relay)));
    peer.send_to(b"data indication", relay).await.unwrap();
    let data = client.recv().await;
    let msg = Message::decode(&data).unwrap();
    assert_eq!(msg.method(), Method::DATA);
    assert_eq!(
        msg.get(AttributeType::DATA),
        Some(Attribute::Data(b"data indication"))
    );

    assert_eq!(client.bind_channel(0x4001, peer_addr).await, None);
    // Five payload bytes: padded to eight on a stream.
    client.channel_data(0x4001, b"12345").await;
    assert_eq!(peer_recv(&peer).await, Some((b"12345".to_vec(), relay)));
    peer.send_to(b"abcde", relay).await.unwrap();
    let frame = client.recv().await;
    let expected_len = if client.is_stream() { 12 } else { 9 };
    assert_eq!(frame.len(), expected_len, "{frame:?}");
    assert_eq!(ChannelData::decode(&frame).unwrap().payload, b"abcde");
}

#[tokio::test]
async fn tcp_relays_padded_channel_data_and_a_disconnect_frees_the_relay() {
    let (handle, task, _, tcp, _) = start(config(creds(), 54000..=54099)).await;
    let tcp = tcp.unwrap();
    let mut client = Client::tcp(tcp, "alice", "pw").await;
    relay_both_ways(&mut client, 54000..=54099).await;

    // Two frames in one write, then one frame split across two writes.
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();
    assert_eq!(client.bind_channel(0x4002, peer_addr).await, None);
    let mut two = Vec::new();
    for payload in [&b"one"[..], b"two!"] {
        ChannelData {
            channel: switchboard_turn::ChannelNumber(0x4002),
            payload,
        }
        .encode(true, &mut two);
    }
    client.send_raw(&two).await;
    assert_eq!(peer_recv(&peer).await.unwrap().0, b"one");
    assert_eq!(peer_recv(&peer).await.unwrap().0, b"two!");
    let mut split = Vec::new();
    ChannelData {
        channel: switchboard_turn::ChannelNumber(0x4002),
        payload: b"split across writes",
    }
    .encode(true, &mut split);
    client.send_raw(&split[..7]).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    client.send_raw(&split[7..]).await;
    assert_eq!(peer_recv(&peer).await.unwrap().0, b"split across writes");

    assert_eq!(handle.counters().allocations_active, 1);
    assert_eq!(handle.connections(), 1);
    drop(client);
    assert!(eventually(|| handle.counters().allocations_active == 0).await);
    assert!(eventually(|| handle.connections() == 0).await);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn tls_relays_both_ways() {
    let dir = std::env::temp_dir().join(format!("sb-turn-tls-{}", std::process::id()));
    common::make_certificates(&dir);
    let (server_tls, client_tls) = common::tls_configs(&dir);
    let mut cfg = config(creds(), 54100..=54199);
    cfg.tls = Some(server_tls);
    let (handle, task, _, _, tls) = start(cfg).await;
    let tcp = TcpStream::connect(tls.unwrap()).await.unwrap();
    let connector = tokio_rustls::TlsConnector::from(client_tls);
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
    let stream = connector.connect(name, tcp).await.unwrap();
    let mut client = Client::new(Link::Stream(Box::new(stream), Vec::new()), "alice", "pw");
    relay_both_ways(&mut client, 54100..=54199).await;
    drop(client);
    assert!(eventually(|| handle.counters().allocations_active == 0).await);
    handle.shutdown();
    task.await.unwrap().unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn invalid_bytes_close_the_connection_and_others_carry_on() {
    let (handle, task, udp, tcp, _) = start(config(creds(), 54200..=54299)).await;
    let tcp = tcp.unwrap();
    let mut bad = Client::tcp(tcp, "alice", "pw").await;
    bad.send_raw(&[0xC0, 0, 0, 4, 1, 2, 3, 4]).await;
    assert_eq!(bad.recv_opt().await, None);
    let mut good = Client::udp(udp, "alice", "pw").await;
    assert!(good.allocate().await.is_ok());
    assert!(eventually(|| handle.connections() == 0).await);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn silent_connections_without_an_allocation_are_closed() {
    let mut cfg = config(creds(), 54300..=54399);
    cfg.streams.idle_timeout = Duration::from_millis(200);
    let (handle, task, _, tcp, _) = start(cfg).await;
    let tcp = tcp.unwrap();
    // Binding over TCP answers with the client's address, then the idle one is closed.
    let mut idle = Client::tcp(tcp, "alice", "pw").await;
    let resp = idle.request(Method::BINDING, &[]).await;
    assert!(matches!(
        Message::decode(&resp)
            .unwrap()
            .get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(a)) if a.ip().is_loopback()
    ));
    let mut allocated = Client::tcp(tcp, "alice", "pw").await;
    allocated.allocate().await.unwrap();
    assert_eq!(idle.recv_opt().await, None, "idle connection was closed");
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(handle.connections(), 1, "the allocated one stays");
    assert!(allocated
        .permit("127.0.0.1:9".parse().unwrap())
        .await
        .is_none());
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_beyond_the_limit_are_closed_at_accept() {
    let mut cfg = config(creds(), 54400..=54499);
    cfg.streams.max_connections = 1;
    let (handle, task, _, tcp, _) = start(cfg).await;
    let tcp = tcp.unwrap();
    let mut first = Client::tcp(tcp, "alice", "pw").await;
    first.allocate().await.unwrap();
    let mut second = TcpStream::connect(tcp).await.unwrap();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), second.read(&mut byte))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "second connection closed");
    assert_eq!(handle.connections(), 1);
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn connections_beyond_the_per_ip_limit_are_closed_and_the_slot_comes_back() {
    let mut cfg = config(creds(), 54600..=54699);
    cfg.streams.max_connections_per_ip = 2;
    let (handle, task, _, tcp, _) = start(cfg).await;
    let tcp = tcp.unwrap();
    let mut first = Client::tcp(tcp, "alice", "pw").await;
    first.allocate().await.unwrap();
    let mut second = Client::tcp(tcp, "alice", "pw").await;
    second.allocate().await.unwrap();
    let mut third = TcpStream::connect(tcp).await.unwrap();
    let mut byte = [0u8; 1];
    let n = tokio::time::timeout(Duration::from_secs(5), third.read(&mut byte))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0, "a third connection from 127.0.0.1 is closed");
    assert_eq!(handle.connections(), 2);
    // When one closes, its slot is free again.
    drop(first);
    assert!(eventually(|| handle.connections() == 1).await);
    let mut again = Client::tcp(tcp, "alice", "pw").await;
    again.allocate().await.unwrap();
    handle.shutdown();
    task.await.unwrap().unwrap();
}

#[tokio::test]
async fn a_client_that_stops_reading_loses_messages_not_memory() {
    let mut cfg = config(creds(), 54500..=54599);
    cfg.streams.send_queue = 4;
    cfg.streams.send_buffer = 4096;
    cfg.turn.bandwidth_per_allocation = None;
    let (handle, task, udp, tcp, _) = start(cfg).await;
    let mut stuck = Client::tcp(tcp.unwrap(), "alice", "pw").await;
    let relay = stuck.allocate().await.unwrap();
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(
        stuck.bind_channel(0x4000, peer.local_addr().unwrap()).await,
        None
    );
    // The client reads nothing more; the peer sends far more than socket buffers hold.
    let payload = vec![0x55u8; 1200];
    for i in 0..40_000 {
        peer.send_to(&payload, relay).await.unwrap();
        if i % 256 == 0 {
            tokio::task::yield_now().await;
            if handle.counters().dropped_packets > 0 {
                break;
            }
        }
    }
    assert!(eventually(|| handle.counters().dropped_packets > 0).await);
    // The server still answers others.
    let mut other = Client::udp(udp, "alice", "pw").await;
    assert!(other.allocate().await.is_ok());
    handle.shutdown();
    task.await.unwrap().unwrap();
    drop(stuck);
}
