//! Shell configuration: where to listen and which addresses and ports relays use.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;

use switchboard_turn::{Config, Credentials};

/// Default STUN/TURN port (RFC 8489).
pub const DEFAULT_PORT: u16 = 3478;

/// What the shell binds, plus the core's [`Config`].
#[derive(Clone, Debug)]
pub struct ShellConfig {
    /// The UDP listener address (default `0.0.0.0:3478`).
    pub listen: SocketAddr,
    /// Addresses relay sockets bind to, at most one per family; their families are the
    /// families offered in Allocate. Must be specific addresses (not `0.0.0.0`): they are
    /// sent to clients as XOR-RELAYED-ADDRESS.
    pub relay_addresses: Vec<IpAddr>,
    /// Relay ports (default `49152..=65535`).
    pub relay_ports: RangeInclusive<u16>,
    /// Largest datagram read, in bytes.
    pub max_datagram: usize,
    /// Peer datagrams queued between relay sockets and the core before relay sockets wait.
    pub peer_queue: usize,
    /// The protocol core's configuration.
    pub turn: Config,
}

impl ShellConfig {
    /// A configuration relaying on `relay_address`, with a fresh random nonce secret.
    pub fn new(credentials: Credentials, relay_address: IpAddr) -> io::Result<Self> {
        let mut secret = [0u8; 32];
        getrandom::getrandom(&mut secret).map_err(|e| io::Error::other(e.to_string()))?;
        Ok(Self {
            listen: SocketAddr::from(([0, 0, 0, 0], DEFAULT_PORT)),
            relay_addresses: vec![relay_address],
            relay_ports: 49152..=65535,
            max_datagram: 65_536,
            peer_queue: 4096,
            turn: Config::new(credentials, secret),
        })
    }
}
