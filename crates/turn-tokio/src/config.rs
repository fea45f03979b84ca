//! Shell configuration: where to listen and which addresses and ports relays use.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use switchboard_turn::{Config, Credentials};

/// Default STUN/TURN port over UDP and TCP (RFC 8489).
pub const DEFAULT_PORT: u16 = 3478;

/// Default STUN/TURN port over TLS (RFC 8489).
pub const DEFAULT_TLS_PORT: u16 = 5349;

/// What the shell binds, plus the core's [`Config`].
#[derive(Clone, Debug)]
pub struct ShellConfig {
    /// The UDP listener address (default `0.0.0.0:3478`).
    pub listen: SocketAddr,
    /// The TCP listener address (default `0.0.0.0:3478`); `None` for no TCP listener.
    pub tcp_listen: Option<SocketAddr>,
    /// The TLS listener address (default `0.0.0.0:5349`); it listens only when
    /// [`ShellConfig::tls`] is set.
    pub tls_listen: Option<SocketAddr>,
    /// The rustls configuration of the TLS listener. Its ALPN list should be empty or name
    /// `stun.turn` (RFC 7443).
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// Addresses relay sockets bind to, at most one per family; their families are the
    /// families offered in Allocate. Must be specific addresses (not `0.0.0.0`): they are
    /// sent to clients as XOR-RELAYED-ADDRESS.
    pub relay_addresses: Vec<IpAddr>,
    /// Relay ports (default `49152..=65535`).
    pub relay_ports: RangeInclusive<u16>,
    /// Largest datagram read, in bytes.
    pub max_datagram: usize,
    /// Receive and send buffer asked of the kernel for the UDP listener, in bytes (default
    /// 2 MiB; Linux caps it at `net.core.rmem_max`/`wmem_max` and doubles it). Every client
    /// shares this one socket, so the kernel's ~200 KiB default overflows in bursts.
    pub listener_buffer: usize,
    /// Stream limits (TCP and TLS connections).
    pub streams: StreamLimits,
    /// The protocol core's configuration.
    pub turn: Config,
}

/// Limits on TCP and TLS connections, each with a default.
#[derive(Clone, Debug)]
pub struct StreamLimits {
    /// Open TCP and TLS connections together; more are closed at accept (default 10000).
    pub max_connections: usize,
    /// Open TCP and TLS connections from one IP address; more are closed at accept
    /// (default 256: one per allocation, many clients behind one NAT).
    pub max_connections_per_ip: usize,
    /// Messages queued for one connection; when full, further messages to it (relayed data
    /// and responses alike) are dropped and counted, as a UDP path would lose them
    /// (default 512).
    pub send_queue: usize,
    /// Bytes taken from the queue and not yet written before a connection stops taking more
    /// (default 256 KiB).
    pub send_buffer: usize,
    /// A connection without an allocation that sends nothing for this long is closed
    /// (default 60 s).
    pub idle_timeout: Duration,
    /// Time allowed for a TLS handshake (default 10 s).
    pub handshake_timeout: Duration,
    /// Framed input queued from all connections to the core before readers wait
    /// (default 4096).
    pub input_queue: usize,
}

impl Default for StreamLimits {
    fn default() -> Self {
        Self {
            max_connections: 10_000,
            max_connections_per_ip: 256,
            send_queue: 512,
            send_buffer: 256 << 10,
            idle_timeout: Duration::from_secs(60),
            handshake_timeout: Duration::from_secs(10),
            input_queue: 4096,
        }
    }
}

impl ShellConfig {
    /// A configuration relaying on `relay_address`, with a fresh random nonce secret, UDP and
    /// TCP on port 3478 of every interface and no TLS.
    pub fn new(credentials: Credentials, relay_address: IpAddr) -> io::Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            tcp_listen: Some(SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT))),
            tls_listen: Some(SocketAddr::from(([0, 0, 0, 0], DEFAULT_TLS_PORT))),
            tls: None,
            relay_addresses: vec![relay_address],
            relay_ports: 49152..=65535,
            max_datagram: 65_536,
            listener_buffer: 2 << 20,
            streams: StreamLimits::default(),
            turn: Config::new(credentials, secret),
        })
    }
}
