//! The shell over real UDP sockets on loopback: allocate, permission, Send/Data indications,
//! channels both ways, refresh 0 frees the relay, counters, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_turn::{
    Attribute, AttributeType, ChannelData, ChannelNumber, Class, Credentials, ErrorCode,
    LongTermKey, Message, MessageWriter, Method, Protocol, TransactionId,
};
use switchboard_turn_tokio::{ShellConfig, TurnServer};
use tokio::net::UdpSocket;
use tokio::time::timeout;

const REALM: &str = "shell.test";

struct TestClient {
    socket: UdpSocket,
    server: SocketAddr,
    nonce: Option<String>,
    key: LongTermKey,
    counter: u8,
}

impl TestClient {
    async fn recv(&self) -> Vec<u8> {
        let mut buf = vec![0u8; 2048];
        let n = timeout(Duration::from_secs(5), self.socket.recv(&mut buf))
            .await
            .expect("timed out")
            .unwrap();
        buf.truncate(n);
        buf
    }

    async fn request(&mut self, method: Method, attrs: &[Attribute<'_>]) -> Vec<u8> {
        self.counter += 1;
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(
            &mut buf,
            Class::Request,
            method,
            TransactionId([self.counter; 12]),
        );
        for a in attrs {
            w.attribute(a).unwrap();
        }
        if let Some(nonce) = &self.nonce {
            w.attribute(&Attribute::Username("alice")).unwrap();
            w.attribute(&Attribute::Realm(REALM)).unwrap();
            w.attribute(&Attribute::Nonce(nonce)).unwrap();
            w.message_integrity(self.key.as_bytes());
        }
        self.socket.send_to(&buf, self.server).await.unwrap();
        self.recv().await
    }
}

fn code(bytes: &[u8]) -> Option<ErrorCode> {
    match Message::decode(bytes)
        .unwrap()
        .get(AttributeType::ERROR_CODE)
    {
        Some(Attribute::ErrorCode(c, _)) => Some(c),
        _ => None,
    }
}

#[tokio::test]
async fn relays_over_real_udp_sockets() {
    let creds = Credentials::new(REALM).with_user("alice", "pw");
    let mut config = ShellConfig::new(creds, "127.0.0.1".parse().unwrap()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.tcp_listen = None;
    config.relay_ports = 52000..=52999;
    config.turn.policy.allow_loopback = true;
    let server = TurnServer::bind(config).await.unwrap();
    let server_addr = server.local_addr();
    let handle = server.handle();
    let task = tokio::spawn(server.run());

    let mut client = TestClient {
        socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
        server: server_addr,
        nonce: None,
        key: LongTermKey::derive("alice", REALM, "pw"),
        counter: 0,
    };
    let peer = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let peer_addr = peer.local_addr().unwrap();

    // Binding.
    let resp = client.request(Method::BINDING, &[]).await;
    let mapped = client.socket.local_addr().unwrap();
    assert_eq!(
        Message::decode(&resp)
            .unwrap()
            .get(AttributeType::XOR_MAPPED_ADDRESS),
        Some(Attribute::XorMappedAddress(mapped))
    );

    // Allocate: 401, then success.
    let udp = [Attribute::RequestedTransport(Protocol::UDP)];
    let resp = client.request(Method::ALLOCATE, &udp).await;
    assert_eq!(code(&resp), Some(ErrorCode::UNAUTHENTICATED));
    if let Some(Attribute::Nonce(n)) = Message::decode(&resp).unwrap().get(AttributeType::NONCE) {
        client.nonce = Some(n.to_owned());
    }
    let resp = client.request(Method::ALLOCATE, &udp).await;
    let Some(Attribute::XorRelayedAddress(relay)) = Message::decode(&resp)
        .unwrap()
        .get(AttributeType::XOR_RELAYED_ADDRESS)
    else {
        panic!("allocate failed: {:?}", code(&resp));
    };
    assert!((52000..=52999).contains(&relay.port()));

    // Permission, then a Send indication reaches the peer from the relay address.
    let resp = client
        .request(
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(peer_addr)],
        )
        .await;
    assert_eq!(code(&resp), None);
    let mut ind = Vec::new();
    let mut w = MessageWriter::new(
        &mut ind,
        Class::Indication,
        Method::SEND,
        TransactionId([99; 12]),
    );
    w.attribute(&Attribute::XorPeerAddress(peer_addr)).unwrap();
    w.attribute(&Attribute::Data(b"to peer")).unwrap();
    client.socket.send_to(&ind, server_addr).await.unwrap();
    let mut buf = [0u8; 1500];
    let (n, from) = timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&buf[..n], from), (&b"to peer"[..], relay));

    // The peer answers; the client gets a Data indication.
    peer.send_to(b"to client", relay).await.unwrap();
    let data = client.recv().await;
    let msg = Message::decode(&data).unwrap();
    assert_eq!(msg.method(), Method::DATA);
    assert_eq!(
        msg.get(AttributeType::DATA),
        Some(Attribute::Data(b"to client"))
    );

    // Channel both ways.
    let resp = client
        .request(
            Method::CHANNEL_BIND,
            &[
                Attribute::ChannelNumber(ChannelNumber(0x4000)),
                Attribute::XorPeerAddress(peer_addr),
            ],
        )
        .await;
    assert_eq!(code(&resp), None);
    let mut frame = Vec::new();
    ChannelData {
        channel: ChannelNumber(0x4000),
        payload: b"fast path",
    }
    .encode(false, &mut frame);
    client.socket.send_to(&frame, server_addr).await.unwrap();
    let (n, _) = timeout(Duration::from_secs(5), peer.recv_from(&mut buf))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buf[..n], b"fast path");
    peer.send_to(b"back", relay).await.unwrap();
    let data = client.recv().await;
    assert_eq!(ChannelData::decode(&data).unwrap().payload, b"back");

    // Refresh 0 frees the relay: the port is closed, and data to it goes nowhere.
    let resp = client
        .request(Method::REFRESH, &[Attribute::Lifetime(0)])
        .await;
    assert_eq!(code(&resp), None);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        std::net::UdpSocket::bind(relay).is_ok(),
        "relay port was released"
    );

    let counters = handle.counters();
    assert_eq!(counters.allocations_active, 0);
    assert_eq!(counters.allocations_created, 1);
    assert_eq!(counters.packets_to_peers, 2);
    assert_eq!(counters.packets_to_clients, 2);

    handle.shutdown();
    timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn even_port_reservation_over_real_sockets() {
    let creds = Credentials::new(REALM).with_user("alice", "pw");
    let mut config = ShellConfig::new(creds, "127.0.0.1".parse().unwrap()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.tcp_listen = None;
    config.relay_ports = 53000..=53999;
    let server = TurnServer::bind(config).await.unwrap();
    let server_addr = server.local_addr();
    let handle = server.handle();
    let task = tokio::spawn(server.run());
    let mut clients = Vec::new();
    for _ in 0..2 {
        clients.push(TestClient {
            socket: UdpSocket::bind("127.0.0.1:0").await.unwrap(),
            server: server_addr,
            nonce: None,
            key: LongTermKey::derive("alice", REALM, "pw"),
            counter: 0,
        });
    }
    let mut relays = Vec::new();
    let mut token = None;
    for c in &mut clients {
        let mut attrs = vec![Attribute::RequestedTransport(Protocol::UDP)];
        let t: Option<[u8; 8]> = token;
        match &t {
            Some(t) => attrs.push(Attribute::ReservationToken(t)),
            None => attrs.push(Attribute::EvenPort(true)),
        }
        let resp = c.request(Method::ALLOCATE, &attrs).await;
        if let Some(Attribute::Nonce(n)) = Message::decode(&resp).unwrap().get(AttributeType::NONCE)
        {
            c.nonce = Some(n.to_owned());
        }
        let resp = c.request(Method::ALLOCATE, &attrs).await;
        let msg = Message::decode(&resp).unwrap();
        let Some(Attribute::XorRelayedAddress(relay)) = msg.get(AttributeType::XOR_RELAYED_ADDRESS)
        else {
            panic!("allocate failed: {:?}", code(&resp));
        };
        if let Some(Attribute::ReservationToken(t)) = msg.get(AttributeType::RESERVATION_TOKEN) {
            token = Some(*t);
        }
        relays.push(relay);
    }
    assert_eq!(relays[0].port() % 2, 0);
    assert_eq!(relays[1].port(), relays[0].port() + 1);
    assert_eq!(handle.counters().allocations_active, 2);
    handle.shutdown();
    timeout(Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
}
