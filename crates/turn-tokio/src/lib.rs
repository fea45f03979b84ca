//! The tokio shell around [`switchboard_turn`]: UDP, TCP and TLS listeners, relay sockets
//! bound from a port range, and the core's timer. One task owns the protocol core; each relay
//! socket has a reader task that hands peer datagrams to it over a bounded channel, and each
//! TCP or TLS connection has one task that frames its byte stream (STUN messages and padded
//! ChannelData) and hands whole frames to the core, also over a bounded channel.
//!
//! The protocol lives in `switchboard_turn`; this crate only moves bytes and timers.
//!
//! ```no_run
//! use switchboard_turn::Credentials;
//! use switchboard_turn_tokio::{ShellConfig, TurnServer};
//!
//! # async fn example() -> std::io::Result<()> {
//! let credentials = Credentials::new("example.org").with_user("alice", "secret");
//! let mut config = ShellConfig::new(credentials, "203.0.113.10".parse().unwrap())?;
//! config.listen = "203.0.113.10:3478".parse().unwrap(); // UDP
//! config.tcp_listen = Some("203.0.113.10:3478".parse().unwrap()); // TCP
//! // config.tls = Some(rustls_server_config); // TLS on config.tls_listen (port 5349)
//! let server = TurnServer::bind(config).await?;
//! let handle = server.handle();
//! tokio::spawn(server.run());
//! // ... later:
//! println!("{:?} over {} connections", handle.counters(), handle.connections());
//! handle.shutdown();
//! # Ok(())
//! # }
//! ```
//!
//! # Streams
//!
//! Over TCP and TLS the allocation belongs to the connection: when it closes, the core is
//! told ([`switchboard_turn::Server::connection_closed`]) and the allocation and its relay
//! are freed at once. A connection that has no allocation and sends nothing for
//! [`StreamLimits::idle_timeout`] is closed. Messages for a connection whose send queue is
//! full are dropped and counted in `dropped_packets`, as a datagram would be lost; see
//! [`StreamLimits`] for every bound.
#![forbid(unsafe_code)]

mod config;
mod per_ip;
mod relay;
mod stream;

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_turn::framing::{frame_length, Frame};
use switchboard_turn::{AddressFamily, Command, Counters, FiveTuple, Forward, Server, Transport};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

pub use config::{ShellConfig, StreamLimits, DEFAULT_PORT, DEFAULT_TLS_PORT};
pub use switchboard_turn as protocol;

use relay::{PeerPacket, RelayPool};
use stream::{StreamEvent, StreamListener};

/// A bound, not yet running, TURN server.
pub struct TurnServer {
    server: Server,
    listener: UdpSocket,
    local: SocketAddr,
    tcp_local: Option<SocketAddr>,
    tls_local: Option<SocketAddr>,
    stream_listeners: Vec<StreamListener>,
    stream_tx: mpsc::Sender<StreamEvent>,
    stream_rx: mpsc::Receiver<StreamEvent>,
    connections: HashMap<FiveTuple, Connection>,
    open_connections: Arc<AtomicUsize>,
    limits: StreamLimits,
    /// Messages for stream clients dropped because their queue was full.
    stream_dropped: u64,
    pool: RelayPool,
    peer_rx: mpsc::Receiver<PeerPacket>,
    /// The latest counters, for [`Handle::counters`]: a plain lock, written once per loop
    /// turn (a watch channel would wake its receivers for every relayed packet).
    counters: Arc<Mutex<Counters>>,
    shutdown: Arc<watch::Sender<bool>>,
    max_datagram: usize,
}

/// The core task's side of one TCP or TLS connection.
#[derive(Debug)]
struct Connection {
    tx: mpsc::Sender<Vec<u8>>,
    last_input: Instant,
}

impl std::fmt::Debug for TurnServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TurnServer")
            .field("local", &self.local)
            .field("tcp_local", &self.tcp_local)
            .field("tls_local", &self.tls_local)
            .finish_non_exhaustive()
    }
}

/// Reads counters from, and stops, a running [`TurnServer`]. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Handle {
    counters: Arc<Mutex<Counters>>,
    connections: Arc<AtomicUsize>,
    shutdown: Arc<watch::Sender<bool>>,
}

impl Handle {
    /// The latest counters. `dropped_packets` includes messages dropped because a TCP or TLS
    /// client's send queue was full.
    #[must_use]
    pub fn counters(&self) -> Counters {
        *self.counters.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// TCP and TLS connections open now.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.connections.load(Ordering::Relaxed)
    }

    /// Asks the server to stop; [`TurnServer::run`] then returns, closing every connection.
    pub fn shutdown(&self) {
        self.shutdown.send_replace(true);
    }
}

fn std_now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Aborts a task when dropped.
struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

impl TurnServer {
    /// Binds the UDP listener, the TCP listener (when [`ShellConfig::tcp_listen`] is set) and
    /// the TLS listener (when [`ShellConfig::tls`] and [`ShellConfig::tls_listen`] are set).
    /// The families offered in Allocate are those of the configured relay addresses; the
    /// listener and relay addresses are added to the peer policy's server addresses
    /// (loopback ones only when loopback peers are not allowed).
    pub async fn bind(config: ShellConfig) -> io::Result<Self> {
        let ShellConfig {
            listen,
            tcp_listen,
            tls_listen,
            tls,
            relay_addresses,
            relay_ports,
            max_datagram,
            peer_queue,
            listener_buffer,
            streams: limits,
            mut turn,
        } = config;
        if relay_ports.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "empty relay port range",
            ));
        }
        let listener = bind_listener(listen, listener_buffer)?;
        let local = listener.local_addr()?;
        let mut stream_listeners = Vec::new();
        let mut tcp_local = None;
        if let Some(addr) = tcp_listen {
            let l = stream::bind_tcp(addr)?;
            tcp_local = Some(l.local_addr()?);
            stream_listeners.push(StreamListener {
                listener: l,
                tls: None,
            });
        }
        let mut tls_local = None;
        if let (Some(addr), Some(tls)) = (tls_listen, tls) {
            let l = stream::bind_tcp(addr)?;
            tls_local = Some(l.local_addr()?);
            stream_listeners.push(StreamListener {
                listener: l,
                tls: Some(TlsAcceptor::from(tls)),
            });
        }
        let (tx, peer_rx) = mpsc::channel(peer_queue.max(1));
        let (stream_tx, stream_rx) = mpsc::channel(limits.input_queue.max(1));
        let pool = RelayPool::new(relay_addresses.clone(), relay_ports, tx, max_datagram);
        turn.relay_ipv4 &= pool.offers(AddressFamily::IPV4);
        turn.relay_ipv6 &= pool.offers(AddressFamily::IPV6);
        let allow_loopback = turn.policy.allow_loopback;
        let listener_ips = [Some(local), tcp_local, tls_local];
        for ip in relay_addresses
            .iter()
            .copied()
            .chain(listener_ips.iter().flatten().map(SocketAddr::ip))
        {
            let skip = ip.is_unspecified() || (allow_loopback && ip.is_loopback());
            if !skip && !turn.policy.server_addresses.contains(&ip) {
                turn.policy.server_addresses.push(ip);
            }
        }
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let server = Server::new(turn, std_now(), unix);
        let counters = Arc::new(Mutex::new(server.counters()));
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            server,
            listener,
            local,
            tcp_local,
            tls_local,
            stream_listeners,
            stream_tx,
            stream_rx,
            connections: HashMap::new(),
            open_connections: Arc::new(AtomicUsize::new(0)),
            limits,
            stream_dropped: 0,
            pool,
            peer_rx,
            counters,
            shutdown: Arc::new(shutdown),
            max_datagram,
        })
    }

    /// The UDP listener's address.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The TCP listener's address, if one listens.
    #[must_use]
    pub const fn tcp_local_addr(&self) -> Option<SocketAddr> {
        self.tcp_local
    }

    /// The TLS listener's address, if one listens.
    #[must_use]
    pub const fn tls_local_addr(&self) -> Option<SocketAddr> {
        self.tls_local
    }

    /// A handle for counters and shutdown.
    #[must_use]
    pub fn handle(&self) -> Handle {
        Handle {
            counters: Arc::clone(&self.counters),
            connections: Arc::clone(&self.open_connections),
            shutdown: Arc::clone(&self.shutdown),
        }
    }

    /// Runs until [`Handle::shutdown`] or a UDP listener error. Returning closes every
    /// connection and relay socket.
    pub async fn run(mut self) -> io::Result<()> {
        let mut shutdown = self.shutdown.subscribe();
        let permits = Arc::new(Semaphore::new(self.limits.max_connections));
        let per_ip = per_ip::PerIpLimit::new(self.limits.max_connections_per_ip);
        let _accept_loops: Vec<AbortOnDrop> = std::mem::take(&mut self.stream_listeners)
            .into_iter()
            .map(|l| {
                AbortOnDrop(tokio::spawn(stream::accept_loop(
                    l,
                    self.stream_tx.clone(),
                    self.limits.clone(),
                    Arc::clone(&permits),
                    Arc::clone(&per_ip),
                )))
            })
            .collect();
        let sweep_every =
            (self.limits.idle_timeout / 2).clamp(Duration::from_millis(10), Duration::from_secs(5));
        let mut sweep = tokio::time::interval(sweep_every);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
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
                        forward(&self.pool, fwd).await;
                    }
                    self.drain(now).await;
                }
                Some(packet) = self.peer_rx.recv() => {
                    let now = std_now();
                    self.server.handle_peer_input(now, packet.relay, packet.peer, &packet.data);
                    self.drain(now).await;
                }
                Some(event) = self.stream_rx.recv() => self.stream_event(event).await,
                () = sleep_until(deadline), if deadline.is_some() => {
                    let now = std_now();
                    self.server.handle_timeout(now);
                    self.drain(now).await;
                }
                _ = sweep.tick(), if !self.connections.is_empty() => self.close_idle(),
            }
            let mut counters = self.server.counters();
            counters.dropped_packets += self.stream_dropped;
            *self.counters.lock().unwrap_or_else(PoisonError::into_inner) = counters;
        }
        Ok(())
    }

    /// Handles what a connection task reports.
    async fn stream_event(&mut self, event: StreamEvent) {
        match event {
            StreamEvent::Opened { tuple, tx } => {
                let last_input = Instant::now();
                self.connections
                    .insert(tuple, Connection { tx, last_input });
                self.open_connections
                    .store(self.connections.len(), Ordering::Relaxed);
            }
            StreamEvent::Frames { tuple, bytes } => {
                let now = Instant::now();
                if let Some(c) = self.connections.get_mut(&tuple) {
                    c.last_input = now;
                }
                let now = now.into_std();
                let mut rest = bytes.as_slice();
                // The connection task sends whole frames only.
                while let Frame::Length(n) = frame_length(rest) {
                    let Some((frame, tail)) = rest.split_at_checked(n) else {
                        break;
                    };
                    rest = tail;
                    if let Some(fwd) = self.server.handle_input(now, tuple, frame) {
                        forward(&self.pool, fwd).await;
                    }
                    self.drain(now).await;
                }
            }
            StreamEvent::Closed { tuple } => {
                self.connections.remove(&tuple);
                self.open_connections
                    .store(self.connections.len(), Ordering::Relaxed);
                let now = std_now();
                self.server.connection_closed(now, tuple);
                self.drain(now).await;
            }
        }
    }

    /// Closes connections that have no allocation and have been silent too long. Dropping
    /// the sender ends the connection task, which then reports `Closed`.
    fn close_idle(&mut self) {
        let now = Instant::now();
        let timeout = self.limits.idle_timeout;
        let server = &self.server;
        self.connections.retain(|tuple, c| {
            server.allocation_of(tuple).is_some() || now.duration_since(c.last_input) < timeout
        });
    }

    /// Carries out every queued command.
    async fn drain(&mut self, now: std::time::Instant) {
        while let Some(command) = self.server.poll_command() {
            match command {
                Command::SendToClient { to, bytes } => match to.transport {
                    Transport::Udp => {
                        if let Err(e) = self.listener.send_to(&bytes, to.client.addr()).await {
                            tracing::debug!(client = %to.client, error = %e, "send to client failed");
                        }
                    }
                    Transport::Tcp | Transport::Tls => {
                        let sent = self.connections.get(&to).map(|c| c.tx.try_send(bytes));
                        if let Some(Err(mpsc::error::TrySendError::Full(_))) = sent {
                            self.stream_dropped += 1;
                        }
                    }
                },
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

/// Sends client data the core routed on the hot path.
async fn forward(pool: &RelayPool, fwd: Forward<'_>) {
    if let Some(socket) = pool.socket(&fwd.relay) {
        if let Err(e) = socket.send_to(fwd.payload, fwd.peer.addr()).await {
            tracing::debug!(peer = %fwd.peer, error = %e, "relay send failed");
        }
    }
}

/// Binds the UDP listener with larger kernel buffers; failing to enlarge them only logs.
fn bind_listener(addr: SocketAddr, buffer: usize) -> io::Result<UdpSocket> {
    use socket2::{Domain, Protocol, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    for (what, result) in [
        ("receive", socket.set_recv_buffer_size(buffer)),
        ("send", socket.set_send_buffer_size(buffer)),
    ] {
        if let Err(e) = result {
            tracing::warn!(error = %e, buffer, "cannot set the UDP listener's {what} buffer");
        }
    }
    socket.bind(&addr.into())?;
    socket.set_nonblocking(true)?;
    UdpSocket::from_std(socket.into())
}

async fn sleep_until(deadline: Option<Instant>) {
    match deadline {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
