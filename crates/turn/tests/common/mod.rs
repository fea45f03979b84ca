//! A small client-side helper and harness that drive the server in simulated time.
#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use switchboard_turn::{
    Attribute, AttributeType, Class, Command, Config, Credentials, ErrorCode, FiveTuple,
    LongTermKey, Message, MessageWriter, Method, PeerSocket, PortRequest, Protocol, RelaySocket,
    Server, TransactionId,
};

pub const REALM: &str = "switchboard.test";
pub const SECRET: &[u8] = b"rest-shared-secret";
pub const UNIX_START: u64 = 1_700_000_000;

pub fn listener() -> SocketAddr {
    "192.0.2.1:3478".parse().unwrap()
}

pub fn config() -> Config {
    let credentials = Credentials::new(REALM)
        .with_user("alice", "alice-pw")
        .with_user("bob", "bob-pw")
        .with_shared_secret(SECRET);
    let mut config = Config::new(credentials, [7; 32]);
    config.bandwidth_per_allocation = None;
    config
}

/// A TURN client's view: credentials, learned realm and nonce.
#[derive(Debug)]
pub struct Client {
    pub five_tuple: FiveTuple,
    pub username: String,
    pub password: String,
    pub realm: Option<String>,
    pub nonce: Option<String>,
    pub sha256: bool,
    counter: u32,
}

impl Client {
    pub fn new(addr: &str, username: &str, password: &str) -> Self {
        Self::with_tuple(
            FiveTuple::udp(addr.parse().unwrap(), listener()),
            username,
            password,
        )
    }

    pub fn with_tuple(five_tuple: FiveTuple, username: &str, password: &str) -> Self {
        Self {
            five_tuple,
            username: username.into(),
            password: password.into(),
            realm: None,
            nonce: None,
            sha256: false,
            counter: 0,
        }
    }

    pub fn tid(&mut self) -> TransactionId {
        self.counter += 1;
        let mut t = [0xAB; 12];
        t[..4].copy_from_slice(&self.counter.to_be_bytes());
        let port = self.five_tuple.client.addr().port().to_be_bytes();
        t[4..6].copy_from_slice(&port);
        TransactionId(t)
    }

    pub fn key(&self) -> LongTermKey {
        LongTermKey::derive(
            &self.username,
            self.realm.as_deref().unwrap_or(REALM),
            &self.password,
        )
    }

    /// A request with `attrs`, signed when the realm and nonce are known.
    pub fn request(&mut self, method: Method, attrs: &[Attribute<'_>]) -> (TransactionId, Vec<u8>) {
        let tid = self.tid();
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, Class::Request, method, tid);
        for a in attrs {
            w.attribute(a).unwrap();
        }
        if let (Some(realm), Some(nonce)) = (self.realm.clone(), self.nonce.clone()) {
            w.attribute(&Attribute::Username(&self.username)).unwrap();
            w.attribute(&Attribute::Realm(&realm)).unwrap();
            w.attribute(&Attribute::Nonce(&nonce)).unwrap();
            let key = self.key();
            if self.sha256 {
                w.message_integrity_sha256(key.as_bytes());
            } else {
                w.message_integrity(key.as_bytes());
            }
        }
        w.fingerprint();
        (tid, buf)
    }

    pub fn send_indication(&mut self, peer: SocketAddr, data: &[u8]) -> Vec<u8> {
        let tid = self.tid();
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, Class::Indication, Method::SEND, tid);
        w.attribute(&Attribute::XorPeerAddress(peer)).unwrap();
        w.attribute(&Attribute::Data(data)).unwrap();
        buf
    }

    /// Learns REALM and NONCE from a 401/438 answer.
    pub fn learn(&mut self, response: &[u8]) {
        let msg = Message::decode(response).unwrap();
        if let Some(Attribute::Realm(r)) = msg.get(AttributeType::REALM) {
            self.realm = Some(r.to_owned());
        }
        if let Some(Attribute::Nonce(n)) = msg.get(AttributeType::NONCE) {
            self.nonce = Some(n.to_owned());
        }
    }
}

pub fn error_code(bytes: &[u8]) -> Option<ErrorCode> {
    let msg = Message::decode(bytes).unwrap();
    match msg.get(AttributeType::ERROR_CODE) {
        Some(Attribute::ErrorCode(code, _)) => Some(code),
        _ => None,
    }
}

/// A `Forward` with its payload copied out.
pub type Forwarded = (RelaySocket, PeerSocket, Vec<u8>);

/// The server plus simulated time and a fake relay port allocator.
pub struct Harness {
    pub server: Server,
    pub now: Instant,
    pub auto_bind: bool,
    next_port: u16,
    pub relay_ip: std::net::IpAddr,
}

impl Harness {
    pub fn new(config: Config) -> Self {
        let now = Instant::now();
        Self {
            server: Server::new(config, now, UNIX_START),
            now,
            auto_bind: true,
            next_port: 49152,
            relay_ip: "192.0.2.1".parse().unwrap(),
        }
    }

    pub fn advance(&mut self, d: Duration) {
        self.now += d;
        if let Some(t) = self.server.poll_timeout() {
            if t <= self.now {
                self.server.handle_timeout(self.now);
            }
        }
    }

    /// Drains commands; binds relays for `CreateRelay` when `auto_bind`.
    pub fn drain(&mut self) -> Vec<Command> {
        let mut out = Vec::new();
        while let Some(c) = self.server.poll_command() {
            if let Command::CreateRelay { id, family, port } = &c {
                if self.auto_bind {
                    let ip = if *family == switchboard_turn::AddressFamily::IPV6 {
                        "2001:db8::1".parse().unwrap()
                    } else {
                        self.relay_ip
                    };
                    let relay = match port {
                        PortRequest::Reserved(relay) => *relay,
                        PortRequest::Even { .. } => {
                            self.next_port += self.next_port % 2;
                            let p = self.next_port;
                            self.next_port += 2;
                            RelaySocket::new(SocketAddr::new(ip, p))
                        }
                        PortRequest::Any => {
                            let p = self.next_port;
                            self.next_port += 1;
                            RelaySocket::new(SocketAddr::new(ip, p))
                        }
                    };
                    self.server.relay_bound(self.now, *id, relay);
                }
            }
            out.push(c);
        }
        out
    }

    /// Sends bytes from a client; returns forwarded ChannelData (owned) and the commands.
    pub fn input(&mut self, from: FiveTuple, bytes: &[u8]) -> (Option<Forwarded>, Vec<Command>) {
        let fwd = self
            .server
            .handle_input(self.now, from, bytes)
            .map(|f| (f.relay, f.peer, f.payload.to_vec()));
        (fwd, self.drain())
    }

    /// Sends a request and returns the single response to it.
    pub fn request(
        &mut self,
        client: &mut Client,
        method: Method,
        attrs: &[Attribute<'_>],
    ) -> Vec<u8> {
        let (tid, bytes) = client.request(method, attrs);
        let (_, cmds) = self.input(client.five_tuple, &bytes);
        response_for(&cmds, client.five_tuple, tid).expect("no response")
    }

    /// The 401 dance then a successful Allocate; returns the relay.
    pub fn allocate(&mut self, client: &mut Client) -> RelaySocket {
        let resp = self.allocate_raw(client, &[]);
        relayed_address(&resp).expect("allocate failed")
    }

    /// Allocate with extra attributes (after a 401 dance if needed); returns the final answer.
    pub fn allocate_raw(&mut self, client: &mut Client, extra: &[Attribute<'_>]) -> Vec<u8> {
        let mut attrs = vec![Attribute::RequestedTransport(Protocol::UDP)];
        attrs.extend_from_slice(extra);
        let mut resp = self.request(client, Method::ALLOCATE, &attrs);
        if client.nonce.is_none() && error_code(&resp) == Some(ErrorCode::UNAUTHENTICATED) {
            client.learn(&resp);
            resp = self.request(client, Method::ALLOCATE, &attrs);
        }
        resp
    }

    pub fn create_permission(&mut self, client: &mut Client, peer: SocketAddr) -> Vec<u8> {
        self.request(
            client,
            Method::CREATE_PERMISSION,
            &[Attribute::XorPeerAddress(peer)],
        )
    }

    pub fn channel_bind(&mut self, client: &mut Client, channel: u16, peer: SocketAddr) -> Vec<u8> {
        self.request(
            client,
            Method::CHANNEL_BIND,
            &[
                Attribute::ChannelNumber(switchboard_turn::ChannelNumber(channel)),
                Attribute::XorPeerAddress(peer),
            ],
        )
    }

    /// Peer data arriving on a relay; returns the bytes sent to the client, if any.
    pub fn peer_input(
        &mut self,
        relay: RelaySocket,
        peer: SocketAddr,
        data: &[u8],
    ) -> Option<(FiveTuple, Vec<u8>)> {
        self.server
            .handle_peer_input(self.now, relay, PeerSocket::new(peer), data);
        self.drain().into_iter().find_map(|c| match c {
            Command::SendToClient { to, bytes } => Some((to, bytes)),
            _ => None,
        })
    }
}

pub fn response_for(cmds: &[Command], to: FiveTuple, tid: TransactionId) -> Option<Vec<u8>> {
    cmds.iter().find_map(|c| match c {
        Command::SendToClient { to: t, bytes } if *t == to => {
            let msg = Message::decode(bytes).ok()?;
            (msg.transaction_id() == tid).then(|| bytes.clone())
        }
        _ => None,
    })
}

pub fn relayed_address(bytes: &[u8]) -> Option<RelaySocket> {
    let msg = Message::decode(bytes).ok()?;
    if msg.class() != Class::SuccessResponse {
        return None;
    }
    match msg.get(AttributeType::XOR_RELAYED_ADDRESS) {
        Some(Attribute::XorRelayedAddress(a)) => Some(RelaySocket::new(a)),
        _ => None,
    }
}

pub fn is_success(bytes: &[u8]) -> bool {
    Message::decode(bytes)
        .map(|m| m.class() == Class::SuccessResponse)
        .unwrap_or(false)
}
