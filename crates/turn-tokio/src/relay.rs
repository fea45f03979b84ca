//! Relay sockets: bound from the port range, each watched by a small task that, when
//! datagrams are ready, takes the core's lock and hands them to it in place.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::{Arc, Mutex, Weak};

use switchboard_turn::{AddressFamily, PortRequest, RelaySocket};
use tokio::net::UdpSocket;
use tokio::task::JoinHandle;

use crate::shared::{lock, Core};

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
    /// Sockets held for a later Allocate with RESERVATION-TOKEN; not read.
    reserved: HashMap<RelaySocket, UdpSocket>,
    /// The core the readers hand datagrams to (weak: the core owns this pool).
    core: Weak<Mutex<Core>>,
    max_datagram: usize,
}

/// How many ports one bind attempt tries before giving up.
const MAX_BIND_TRIES: usize = 256;

impl RelayPool {
    pub(crate) fn new(
        addresses: Vec<IpAddr>,
        ports: RangeInclusive<u16>,
        core: Weak<Mutex<Core>>,
        max_datagram: usize,
    ) -> Self {
        let cursor = *ports.start();
        Self {
            addresses,
            ports,
            cursor,
            relays: HashMap::new(),
            reserved: HashMap::new(),
            core,
            max_datagram,
        }
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

    /// Binds a relay socket as the core asks (any port, an even port with or without the
    /// next one reserved, or a reserved socket) and starts its reader.
    pub(crate) fn bind(
        &mut self,
        family: AddressFamily,
        port: PortRequest,
    ) -> io::Result<RelaySocket> {
        let (relay, socket) = match port {
            PortRequest::Reserved(relay) => {
                let socket = self.reserved.remove(&relay).ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "no such reserved relay socket")
                })?;
                (relay, socket)
            }
            PortRequest::Any => self.bind_free(family, false)?,
            PortRequest::Even { reserve_next } => {
                let (relay, socket) = self.bind_free(family, true)?;
                if reserve_next {
                    let next = SocketAddr::new(relay.ip(), relay.addr().port() + 1);
                    match bind_udp(next) {
                        Ok(s) => {
                            self.reserved.insert(RelaySocket::new(next), s);
                        }
                        Err(e) => return Err(e),
                    }
                }
                (relay, socket)
            }
        };
        let socket = Arc::new(socket);
        let reader = tokio::spawn(read_loop(
            Arc::clone(&socket),
            relay,
            Weak::clone(&self.core),
            self.max_datagram,
        ));
        self.relays.insert(relay, Relay { socket, reader });
        Ok(relay)
    }

    /// Binds the next free port of `family` (an even one below the range end when `even`).
    fn bind_free(
        &mut self,
        family: AddressFamily,
        even: bool,
    ) -> io::Result<(RelaySocket, UdpSocket)> {
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
            let port = self.next_port();
            if even && (!port.is_multiple_of(2) || port == u16::MAX || port >= *self.ports.end()) {
                continue;
            }
            let relay = RelaySocket::new(SocketAddr::new(ip, port));
            if self.relays.contains_key(&relay) || self.reserved.contains_key(&relay) {
                continue;
            }
            match bind_udp(relay.addr()) {
                Ok(socket) => return Ok((relay, socket)),
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
        self.reserved.remove(&relay);
    }

    /// The socket of a live relay.
    pub(crate) fn socket(&self, relay: &RelaySocket) -> Option<&Arc<UdpSocket>> {
        self.relays.get(relay).map(|r| &r.socket)
    }
}

impl Drop for RelayPool {
    fn drop(&mut self) {
        for r in self.relays.values() {
            r.reader.abort();
        }
    }
}

fn bind_udp(addr: SocketAddr) -> io::Result<UdpSocket> {
    let socket = std::net::UdpSocket::bind(addr)?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket)
}

/// Waits until `socket` is readable, then lets the core read it; ends when the socket fails
/// or the core is gone (and is aborted when the relay is freed).
async fn read_loop(
    socket: Arc<UdpSocket>,
    relay: RelaySocket,
    core: Weak<Mutex<Core>>,
    max_datagram: usize,
) {
    loop {
        if let Err(e) = socket.readable().await {
            tracing::debug!(%relay, error = %e, "relay socket failed");
            return;
        }
        let Some(shared) = core.upgrade() else {
            return;
        };
        let mut guard = lock(&shared);
        let read = guard.read_relay(&socket, relay, max_datagram);
        guard.publish_counters();
        if let Err(e) = read {
            tracing::debug!(%relay, error = %e, "relay socket read failed");
            return;
        }
    }
}
