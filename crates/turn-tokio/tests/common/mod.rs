//! A minimal TURN client over UDP, TCP or TLS for the shell's tests.
#![allow(clippy::unwrap_used, clippy::expect_used, dead_code, unreachable_pub)]

#[path = "../../../../tests/support/certificates.rs"]
mod certificates;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use switchboard_turn::framing::{frame_length, Frame};
use switchboard_turn::{
    Attribute, AttributeType, ChannelData, ChannelNumber, Class, Credentials, ErrorCode,
    LongTermKey, Message, MessageWriter, Method, Protocol, TransactionId,
};
use switchboard_turn_tokio::{ShellConfig, TurnServer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::timeout;

pub const REALM: &str = "shell.test";
pub const WAIT: Duration = Duration::from_secs(5);

/// A shell on loopback with ephemeral ports (UDP and TCP), loopback peers allowed.
pub fn config(creds: Credentials, ports: std::ops::RangeInclusive<u16>) -> ShellConfig {
    let mut config = ShellConfig::new(creds, "127.0.0.1".parse().unwrap()).unwrap();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.tcp_listen = Some("127.0.0.1:0".parse().unwrap());
    config.tls_listen = Some("127.0.0.1:0".parse().unwrap());
    config.relay_ports = ports;
    config.turn.policy.allow_loopback = true;
    config
}

pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

pub enum Link {
    Udp(UdpSocket, SocketAddr),
    Stream(Box<dyn Io>, Vec<u8>),
}

pub struct Client {
    pub link: Link,
    pub username: String,
    pub nonce: Option<String>,
    pub key: LongTermKey,
    counter: u32,
}

impl Client {
    pub async fn udp(server: SocketAddr, username: &str, password: &str) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        Self::new(Link::Udp(socket, server), username, password)
    }

    pub async fn tcp(server: SocketAddr, username: &str, password: &str) -> Self {
        let tcp = TcpStream::connect(server).await.unwrap();
        tcp.set_nodelay(true).unwrap();
        Self::new(Link::Stream(Box::new(tcp), Vec::new()), username, password)
    }

    pub fn new(link: Link, username: &str, password: &str) -> Self {
        Self {
            link,
            username: username.to_owned(),
            nonce: None,
            key: LongTermKey::derive(username, REALM, password),
            counter: 0,
        }
    }

    pub fn is_stream(&self) -> bool {
        matches!(self.link, Link::Stream(..))
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        match &mut self.link {
            Link::Udp(s, server) => {
                s.send_to(bytes, *server).await.unwrap();
            }
            Link::Stream(s, _) => {
                s.write_all(bytes).await.unwrap();
                s.flush().await.unwrap();
            }
        }
    }

    /// The next datagram or frame, or `None` when the stream closed.
    pub async fn recv_opt(&mut self) -> Option<Vec<u8>> {
        match &mut self.link {
            Link::Udp(s, _) => {
                let mut buf = vec![0u8; 65_536];
                let n = timeout(WAIT, s.recv(&mut buf))
                    .await
                    .expect("timed out")
                    .unwrap();
                buf.truncate(n);
                Some(buf)
            }
            Link::Stream(s, buf) => loop {
                if let Frame::Length(n) = frame_length(buf) {
                    if buf.len() >= n {
                        let rest = buf.split_off(n);
                        return Some(std::mem::replace(buf, rest));
                    }
                }
                let mut chunk = [0u8; 4096];
                match timeout(WAIT, s.read(&mut chunk)).await.expect("timed out") {
                    Ok(0) | Err(_) => return None,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            },
        }
    }

    pub async fn recv(&mut self) -> Vec<u8> {
        self.recv_opt().await.expect("connection closed")
    }

    pub async fn request(&mut self, method: Method, attrs: &[Attribute<'_>]) -> Vec<u8> {
        self.counter += 1;
        let mut tid = [7u8; 12];
        tid[..4].copy_from_slice(&self.counter.to_be_bytes());
        let mut buf = Vec::new();
        let mut w = MessageWriter::new(&mut buf, Class::Request, method, TransactionId(tid));
        for a in attrs {
            w.attribute(a).unwrap();
        }
        if let Some(nonce) = &self.nonce {
            w.attribute(&Attribute::Username(&self.username)).unwrap();
            w.attribute(&Attribute::Realm(REALM)).unwrap();
            w.attribute(&Attribute::Nonce(nonce)).unwrap();
            w.message_integrity(self.key.as_bytes());
        }
        self.send_raw(&buf).await;
        loop {
            let resp = self.recv().await;
            // Skip data that may arrive between requests.
            if let Ok(m) = Message::decode(&resp) {
                if m.transaction_id() == TransactionId(tid) {
                    return resp;
                }
            }
        }
    }

    /// Allocate with the 401 round trip: the relayed address, or the error code.
    pub async fn allocate(&mut self) -> Result<SocketAddr, ErrorCode> {
        let udp = [Attribute::RequestedTransport(Protocol::UDP)];
        let mut resp = self.request(Method::ALLOCATE, &udp).await;
        if code(&resp) == Some(ErrorCode::UNAUTHENTICATED) && self.nonce.is_none() {
            if let Some(Attribute::Nonce(n)) =
                Message::decode(&resp).unwrap().get(AttributeType::NONCE)
            {
                self.nonce = Some(n.to_owned());
            }
            resp = self.request(Method::ALLOCATE, &udp).await;
        }
        match Message::decode(&resp)
            .unwrap()
            .get(AttributeType::XOR_RELAYED_ADDRESS)
        {
            Some(Attribute::XorRelayedAddress(relay)) => Ok(relay),
            _ => Err(code(&resp).expect("neither relay nor error")),
        }
    }

    pub async fn permit(&mut self, peer: SocketAddr) -> Option<ErrorCode> {
        let resp = self
            .request(
                Method::CREATE_PERMISSION,
                &[Attribute::XorPeerAddress(peer)],
            )
            .await;
        code(&resp)
    }

    pub async fn bind_channel(&mut self, channel: u16, peer: SocketAddr) -> Option<ErrorCode> {
        let resp = self
            .request(
                Method::CHANNEL_BIND,
                &[
                    Attribute::ChannelNumber(ChannelNumber(channel)),
                    Attribute::XorPeerAddress(peer),
                ],
            )
            .await;
        code(&resp)
    }

    pub async fn channel_data(&mut self, channel: u16, payload: &[u8]) {
        let mut frame = Vec::new();
        ChannelData {
            channel: ChannelNumber(channel),
            payload,
        }
        .encode(self.is_stream(), &mut frame);
        self.send_raw(&frame).await;
    }

    pub async fn send_indication(&mut self, peer: SocketAddr, payload: &[u8]) {
        let mut ind = Vec::new();
        let mut w = MessageWriter::new(
            &mut ind,
            Class::Indication,
            Method::SEND,
            TransactionId([99; 12]),
        );
        w.attribute(&Attribute::XorPeerAddress(peer)).unwrap();
        w.attribute(&Attribute::Data(payload)).unwrap();
        self.send_raw(&ind).await;
    }
}

pub fn code(bytes: &[u8]) -> Option<ErrorCode> {
    match Message::decode(bytes)
        .unwrap()
        .get(AttributeType::ERROR_CODE)
    {
        Some(Attribute::ErrorCode(c, _)) => Some(c),
        _ => None,
    }
}

pub async fn peer_recv(peer: &UdpSocket) -> Option<(Vec<u8>, SocketAddr)> {
    let mut buf = vec![0u8; 65_536];
    match timeout(Duration::from_millis(500), peer.recv_from(&mut buf)).await {
        Ok(Ok((n, from))) => {
            buf.truncate(n);
            Some((buf, from))
        }
        _ => None,
    }
}

/// Starts a server; returns its handle, join handle and the bound server for addresses.
pub async fn start(
    config: ShellConfig,
) -> (
    switchboard_turn_tokio::Handle,
    tokio::task::JoinHandle<std::io::Result<()>>,
    SocketAddr,
    Option<SocketAddr>,
    Option<SocketAddr>,
) {
    let server = TurnServer::bind(config).await.unwrap();
    let (udp, tcp, tls) = (
        server.local_addr(),
        server.tcp_local_addr(),
        server.tls_local_addr(),
    );
    let handle = server.handle();
    let task = tokio::spawn(server.run());
    (handle, task, udp, tcp, tls)
}

/// Polls `cond` every 10 ms for up to five seconds.
pub async fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    for _ in 0..500 {
        if cond() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    cond()
}

/// A throwaway CA (`ca.pem`) and a certificate for `localhost` and 127.0.0.1 it signed
/// (`cert.pem`, `key.pem`), made with the openssl command.
pub fn make_certificates(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    certificates::make_test_certificates(dir);
}

/// rustls server and client configurations from [`make_certificates`]' files.
pub fn tls_configs(dir: &Path) -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(dir.join("cert.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(dir.join("key.pem")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server = rustls::ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    for ca in CertificateDer::pem_file_iter(dir.join("ca.pem")).unwrap() {
        roots.add(ca.unwrap()).unwrap();
    }
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
}
