//! The tokio shell around [`switchboard_turn`]: a UDP listener, relay sockets bound from a
//! port range, and the core's timer. One task owns the protocol core; each relay socket has a
//! reader task that hands peer datagrams to it over a bounded channel.
//!
//! The protocol lives in `switchboard_turn`; this crate only moves bytes and timers.
//!
//! ```no_run
//! use switchboard_turn::Credentials;
//! use switchboard_turn_tokio::{ShellConfig, TurnServer};
//!
//! # async fn example() -> std::io::Result<()> {
//! let credentials = Credentials::new("example.org").with_user("alice", "secret");
//! let config = ShellConfig::new(credentials, "203.0.113.10".parse().unwrap())?;
//! let server = TurnServer::bind(config).await?;
//! let handle = server.handle();
//! tokio::spawn(server.run());
//! // ... later:
//! println!("{:?}", handle.counters());
//! handle.shutdown();
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod config;
mod relay;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use switchboard_turn::{AddressFamily, Command, Counters, FiveTuple, Server, Transport};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

pub use config::{ShellConfig, DEFAULT_PORT};
pub use switchboard_turn as protocol;

use relay::{PeerPacket, RelayPool};

/// A bound, not yet running, TURN server.
pub struct TurnServer {
    server: Server,
    listener: UdpSocket,
    local: SocketAddr,
    pool: RelayPool,
    peer_rx: mpsc::Receiver<PeerPacket>,
    counters: watch::Sender<Counters>,
    shutdown: Arc<watch::Sender<bool>>,
    max_datagram: usize,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("local", &self.local)
            .finish_non_exhaustive()
    }
}

/// Reads counters from, and stops, a running [`TurnServer`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Handle {
    counters: watch::Receiver<Counters>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Handle {
    /// The latest counters.
    #[must_use]
    pub fn counters(&self) -> Counters {
        *self.counters.borrow()
    }

    /// Asks the server to stop; [`TurnServer::run`] then returns.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

impl TurnServer {
    /// Binds the UDP listener. The families offered in Allocate are those of the configured
    /// relay addresses; the listener and relay addresses are added to the peer policy's
    /// server addresses (loopback ones only when loopback peers are not allowed).
    pub async fn bind(config: ShellConfig) -> io::Result<Self> {
        let ShellConfig {
            listen,
            relay_addresses,
            relay_ports,
            max_datagram,
            peer_queue,
            mut turn,
        } = config;
        if relay_ports.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty relay port range",
            ));
        }
        let listener = UdpSocket::bind(listen).await?;
        let local = listener.local_addr()?;
        let (tx, peer_rx) = mpsc::channel(peer_queue.max(1));
        let pool = RelayPool::new(relay_addresses.clone(), relay_ports, tx, max_datagram);
        turn.relay_ipv4 &= pool.offers(AddressFamily::IPV4);
        turn.relay_ipv6 &= pool.offers(AddressFamily::IPV6);
        let allow_loopback = turn.policy.allow_loopback;
        for ip in relay_addresses.iter().copied().chain([local.ip()]) {
            let skip = ip.is_unspecified() || (allow_loopback && ip.is_loopback());
            if !skip && !turn.policy.server_addresses.contains(&ip) {
                turn.policy.server_addresses.push(ip);
            }
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let server = Server::new(turn, std_now(), unix);
        let (counters, _) = watch::channel(server.counters());
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            server,
            listener,
            local,
            pool,
            peer_rx,
            counters,
            shutdown: Arc::new(shutdown),
            max_datagram,
        })
    }

    /// The listener's address.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// A handle for counters and shutdown.
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle {
            counters: self.counters.subscribe(),
            shutdown: Arc::clone(&self.shutdown),
        }
    }

    /// Runs until [`Handle::shutdown`] or a listener error.
    pub async fn run(mut self) -> io::Result<()> {
        let mut shutdown = self.shutdown.subscribe();
        let mut buf = vec![0u8; self.max_datagram];
        loop {
            let deadline = self.server.poll_timeout().map(Instant::from_std);
            tokio::select! {
                _ = shutdown.changed() => break,
                received = self.listener.recv_from(&mut buf) => {
                    let (n, from) = match received {
                        Ok(r) => r,
                        Err(e) if e.kind() == io::ErrorKind::ConnectionReset => continue,
                        Err(e) => return Err(e),
                    };
                    let now = std_now();
                    let tuple = FiveTuple::udp(from, self.local);
                    if let Some(fwd) = self.server.handle_input(now, tuple, &buf[..n]) {
                        if let Some(socket) = self.pool.socket(&fwd.relay) {
                            if let Err(e) = socket.send_to(fwd.payload, fwd.peer.addr()).await {
                                tracing::debug!(peer = %fwd.peer, error = %e, "relay send failed");
                            }
                        }
                    }
                    self.drain(now).await;
                }
                Some(packet) = self.peer_rx.recv() => {
                    let now = std_now();
                    self.server.handle_peer_input(now, packet.relay, packet.peer, &packet.data);
                    self.drain(now).await;
                }
                () = sleep_until(deadline), if deadline.is_some() => {
                    let now = std_now();
                    self.server.handle_timeout(now);
                    self.drain(now).await;
                }
            }
            let counters = self.server.counters();
            self.counters.send_if_modified(|c| {
                let changed = *c != counters;
                *c = counters;
                changed
            });
        }
        Ok(())
    }

    /// Carries out every queued command.
    async fn drain(&mut self, now: std::time::Instant) {
        while let Some(command) = self.server.poll_command() {
            match command {
                Command::SendToClient { to, bytes } => {
                    if to.transport == Transport::Udp {
                        if let Err(e) = self.listener.send_to(&bytes, to.client.addr()).await {
                            tracing::debug!(client = %to.client, error = %e, "send to client failed");
                        }
                    }
                }
                Command::SendToPeer { relay, peer, bytes } => {
                    if let Some(socket) = self.pool.socket(&relay) {
                        if let Err(e) = socket.send_to(&bytes, peer.addr()).await {
                            tracing::debug!(%peer, error = %e, "relay send failed");
                        }
                    }
                }
                Command::CreateRelay { id, family, port } => match self.pool.bind(family, port) {
                    Ok(relay) => self.server.relay_bound(now, id, relay),
                    Err(e) => {
                        tracing::warn!(%id, error = %e, "cannot bind a relay socket");
                        self.server.relay_failed(now, id);
                    }
                },
                Command::FreeRelay { relay, .. } => self.pool.free(relay),
            }
        }
        tracing::trace!(relays = self.pool.len(), "drained");
    }
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
