//! Relay sockets: bound from the port range, each read by its own task that forwards peer
//! datagrams to the core over a bounded channel.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;

use switchboard_turn::{AddressFamily, PeerSocket, RelaySocket};
use tokio::net::UdpSocket;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A datagram a peer sent to a relay socket.
#[derive(Debug)]
pub(crate) struct PeerPacket {
    pub(crate) relay: RelaySocket,
    pub(crate) peer: PeerSocket,
    pub(crate) data: Vec<u8>,
}

struct Relay {
    socket: Arc<UdpSocket>,
    reader: JoinHandle<()>,
}

/// The live relay sockets and the port cursor.
pub(crate) struct RelayPool {
    addresses: Vec<IpAddr>,
    ports: RangeInclusive<u16>,
    cursor: u16,
    relays: HashMap<RelaySocket, Relay>,
    tx: mpsc::Sender<PeerPacket>,
    max_datagram: usize,
}

/// How many ports one bind attempt tries before giving up.
const MAX_BIND_TRIES: usize = 256;

impl RelayPool {
    pub(crate) fn new(
        addresses: Vec<IpAddr>,
        ports: RangeInclusive<u16>,
        tx: mpsc::Sender<PeerPacket>,
        max_datagram: usize,
    ) -> Self {
        let cursor = *ports.start();
        Self {
            addresses,
            ports,
            cursor,
            relays: HashMap::new(),
            tx,
            max_datagram,
        }
    }

    /// True when a relay address of `family` is configured.
    pub(crate) fn offers(&self, family: AddressFamily) -> bool {
        self.addresses
            .iter()
            .any(|ip| AddressFamily::of(&SocketAddr::new(*ip, 0)) == family)
    }

    fn next_port(&mut self) -> u16 {
        let port = self.cursor;
        self.cursor = if port >= *self.ports.end() {
            *self.ports.start()
        } else {
            port + 1
        };
        port
    }

    /// Binds a relay socket of `family` on the next free port and starts its reader.
    pub(crate) fn bind(&mut self, family: AddressFamily) -> io::Result<RelaySocket> {
        let ip = self
            .addresses
            .iter()
            .copied()
            .find(|ip| AddressFamily::of(&SocketAddr::new(*ip, 0)) == family)
            .ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::Unsupported,
                    "no relay address of that family",
                )
            })?;
        let span = usize::from(self.ports.end().saturating_sub(*self.ports.start())) + 1;
        let mut last_err = io::Error::new(io::ErrorKind::AddrInUse, "relay port range exhausted");
        for _ in 0..span.min(MAX_BIND_TRIES) {
            let addr = SocketAddr::new(ip, self.next_port());
            if self.relays.contains_key(&RelaySocket::new(addr)) {
                continue;
            }
            match std::net::UdpSocket::bind(addr).and_then(|s| {
                s.set_nonblocking(true)?;
                UdpSocket::from_std(s)
            }) {
                Ok(socket) => {
                    let relay = RelaySocket::new(addr);
                    let socket = Arc::new(socket);
                    let reader = tokio::spawn(read_loop(
                        Arc::clone(&socket),
                        relay,
                        self.tx.clone(),
                        self.max_datagram,
                    ));
                    self.relays.insert(relay, Relay { socket, reader });
                    return Ok(relay);
                }
                Err(e) => last_err = e,
            }
        }
        Err(last_err)
    }

    /// Closes a relay socket.
    pub(crate) fn free(&mut self, relay: RelaySocket) {
        if let Some(r) = self.relays.remove(&relay) {
            r.reader.abort();
        }
    }

    /// The socket of a live relay.
    pub(crate) fn socket(&self, relay: &RelaySocket) -> Option<&Arc<UdpSocket>> {
        self.relays.get(relay).map(|r| &r.socket)
    }

    /// Number of live relay sockets.
    pub(crate) fn len(&self) -> usize {
        self.relays.len()
    }
}

impl Drop for RelayPool {
    fn drop(&mut self) {
        for r in self.relays.values() {
            r.reader.abort();
        }
    }
}

async fn read_loop(
    socket: Arc<UdpSocket>,
    relay: RelaySocket,
    tx: mpsc::Sender<PeerPacket>,
    max_datagram: usize,
) {
    let mut buf = vec![0u8; max_datagram];
    loop {
        match socket.recv_from(&mut buf).await {
            Ok((n, from)) => {
                let packet = PeerPacket {
                    relay,
                    peer: PeerSocket::new(from),
                    data: buf[..n].to_vec(),
                };
                if tx.send(packet).await.is_err() {
                    return;
                }
            }
            // ICMP errors (port unreachable) surface as recv errors on some systems: ignore.
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => {}
            Err(e) => {
                tracing::debug!(%relay, error = %e, "relay socket read failed");
                return;
            }
        }
    }
}
