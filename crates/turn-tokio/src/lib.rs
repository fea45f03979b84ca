//! The tokio shell around [`switchboard_turn`]: UDP, TCP and TLS listeners, relay sockets
//! bound from a port range, and the core's timer. The protocol core sits behind one lock
//! with the sockets its commands use: the run loop (UDP listener, timers, streams) and a
//! small task per relay socket each take it when their socket is readable and hand the
//! datagrams to the core in place, so nothing is copied or queued between tasks. Each TCP or
//! TLS connection has one task that frames its byte stream (STUN messages and padded
//! ChannelData) and hands whole frames to the run loop over a bounded channel.
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
mod shared;
mod stream;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use switchboard_turn::{AddressFamily, Counters, Server};
use tokio::net::UdpSocket;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_rustls::TlsAcceptor;

pub use config::{ShellConfig, StreamLimits, DEFAULT_PORT, DEFAULT_TLS_PORT};
pub use switchboard_turn as protocol;

use relay::RelayPool;
use shared::{lock, std_now, Core};
use stream::{StreamEvent, StreamListener};

/// A bound, not yet running, TURN server.
pub struct TurnServer {
    core: Arc<Mutex<Core>>,
    listener: Arc<UdpSocket>,
    local: SocketAddr,
    tcp_local: Option<SocketAddr>,
    tls_local: Option<SocketAddr>,
    stream_listeners: Vec<StreamListener>,
    stream_tx: mpsc::Sender<StreamEvent>,
    stream_rx: mpsc::Receiver<StreamEvent>,
    open_connections: Arc<AtomicUsize>,
    limits: StreamLimits,
    /// The latest counters, for [`Handle::counters`]: a plain lock, written once per batch
    /// of input (a watch channel would wake its receivers for every relayed packet).
    counters: Arc<Mutex<Counters>>,
    shutdown: Arc<watch::Sender<bool>>,
    max_datagram: usize,
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
        let listener = Arc::new(bind_listener(listen, listener_buffer)?);
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
        let (stream_tx, stream_rx) = mpsc::channel(limits.input_queue.max(1));
        let offers = |family| {
            relay_addresses
                .iter()
                .any(|ip| AddressFamily::of(&SocketAddr::new(*ip, 0)) == family)
        };
        turn.relay_ipv4 &= offers(AddressFamily::IPV4);
        turn.relay_ipv6 &= offers(AddressFamily::IPV6);
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
        let open_connections = Arc::new(AtomicUsize::new(0));
        let core = Arc::new_cyclic(|weak| {
            let pool = RelayPool::new(relay_addresses, relay_ports, weak.clone(), max_datagram);
            Mutex::new(Core::new(
                server,
                pool,
                Arc::clone(&listener),
                local,
                Arc::clone(&counters),
                Arc::clone(&open_connections),
            ))
        });
        let (shutdown, _) = watch::channel(false);
        Ok(Self {
            core,
            listener,
            local,
            tcp_local,
            tls_local,
            stream_listeners,
            stream_tx,
            stream_rx,
            open_connections,
            limits,
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
        let timer_moved = Arc::clone(&lock(&self.core).timer_moved);
        loop {
            let (deadline, has_connections) = {
                let core = lock(&self.core);
                let deadline = core.server.poll_timeout().map(Instant::from_std);
                (deadline, core.has_connections())
            };
            tokio::select! {
                _ = shutdown.changed() => break,
                ready = self.listener.readable() => {
                    ready?;
                    lock(&self.core).read_listener(self.max_datagram)?;
                }
                Some(event) = self.stream_rx.recv() => lock(&self.core).stream_event(event),
                () = sleep_until(deadline), if deadline.is_some() => {
                    lock(&self.core).handle_timeout();
                }
                // A relay reader moved the next deadline earlier: compute it again.
                () = timer_moved.notified() => {}
                _ = sweep.tick(), if has_connections => {
                    lock(&self.core).close_idle(self.limits.idle_timeout);
                }
            }
            lock(&self.core).publish_counters();
        }
        Ok(())
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
