//! Feeds arbitrary bytes to the STUN/ChannelData decoders and to a server that holds one
//! live allocation with a channel, so the authenticated relay paths are reached too.
#![no_main]

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_turn::framing::frame_length;
use switchboard_turn::{
    Attribute, ChannelData, ChannelNumber, Class, Command, Config, Credentials, FiveTuple,
    LongTermKey, Message, MessageWriter, Method, PeerSocket, Protocol, RelaySocket, Server,
    TransactionId, Transport,
};

const REALM: &str = "fuzz";

fn base() -> &'static Instant {
    static T: OnceLock<Instant> = OnceLock::new();
    T.get_or_init(Instant::now)
}

fn client() -> FiveTuple {
    FiveTuple::udp(
        SocketAddr::from(([198, 51, 100, 1], 40000)),
        SocketAddr::from(([192, 0, 2, 1], 3478)),
    )
}

fn peer() -> PeerSocket {
    PeerSocket::new(SocketAddr::from(([93, 184, 216, 34], 5000)))
}

fn signed(method: Method, nonce: &str, tid: u8, attrs: &[Attribute<'_>]) -> Vec<u8> {
    let mut buf = Vec::new();
    let mut w = MessageWriter::new(&mut buf, Class::Request, method, TransactionId([tid; 12]));
    for a in attrs {
        let _ = w.attribute(a);
    }
    let _ = w.attribute(&Attribute::Username("alice"));
    let _ = w.attribute(&Attribute::Realm(REALM));
    let _ = w.attribute(&Attribute::Nonce(nonce));
    w.message_integrity(LongTermKey::derive("alice", REALM, "pw").as_bytes());
    buf
}

fn drain(server: &mut Server, now: Instant) -> Option<String> {
    let mut nonce = None;
    while let Some(c) = server.poll_command() {
        match c {
            Command::CreateRelay { id, .. } => {
                server.relay_bound(
                    now,
                    id,
                    RelaySocket::new(SocketAddr::from(([192, 0, 2, 1], 50000))),
                );
            }
            Command::SendToClient { bytes, .. } => {
                if let Ok(m) = Message::decode(&bytes) {
                    if let Some(Attribute::Nonce(n)) = m.get(switchboard_turn::AttributeType::NONCE)
                    {
                        nonce = Some(n.to_owned());
                    }
                }
            }
            _ => {}
        }
    }
    nonce
}

/// A server with one allocation (channel 0x4000 bound to the peer).
fn server(now: Instant) -> Server {
    let creds = Credentials::new(REALM).with_user("alice", "pw");
    let mut server = Server::new(Config::new(creds, [9; 32]), now, 1_700_000_000);
    let udp = [Attribute::RequestedTransport(Protocol::UDP)];
    let mut bare = Vec::new();
    MessageWriter::new(
        &mut bare,
        Class::Request,
        Method::ALLOCATE,
        TransactionId([1; 12]),
    );
    let _ = server.handle_input(now, client(), &bare);
    let nonce = drain(&mut server, now).unwrap_or_default();
    let _ = server.handle_input(now, client(), &signed(Method::ALLOCATE, &nonce, 2, &udp));
    drain(&mut server, now);
    let bind = [
        Attribute::ChannelNumber(ChannelNumber(0x4000)),
        Attribute::XorPeerAddress(peer().addr()),
    ];
    let _ = server.handle_input(
        now,
        client(),
        &signed(Method::CHANNEL_BIND, &nonce, 3, &bind),
    );
    drain(&mut server, now);
    server
}

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = Message::decode(data) {
        let _ = m.attributes().count();
        let _ = m.verify_integrity(b"key");
    } else if let Err(e) = Message::decode(data) {
        let _ = e.disposition();
    }
    let _ = ChannelData::decode(data);
    let _ = frame_length(data);

    let now = *base();
    let mut server = server(now);
    // The input split into pieces: client datagrams, peer datagrams, time steps.
    let mut t = now;
    for (i, chunk) in data.split(|b| *b == 0xFF).enumerate() {
        match i % 3 {
            0 => {
                let _ = server.handle_input(t, client(), chunk);
            }
            1 => {
                let relay = RelaySocket::new(SocketAddr::from(([192, 0, 2, 1], 50000)));
                server.handle_peer_input(t, relay, peer(), chunk);
            }
            _ => {
                let tcp = FiveTuple {
                    transport: Transport::Tcp,
                    ..client()
                };
                let _ = server.handle_input(t, tcp, chunk);
                t += Duration::from_secs(u64::from(chunk.first().copied().unwrap_or(0)));
                server.handle_timeout(t);
            }
        }
        while server.poll_command().is_some() {}
    }
    assert!(server.allocation_count() <= 1);
});
