//! Counters the shell exports as metrics.

/// Plain counters, read with [`crate::Server::counters`]. All are totals since start except
/// `allocations_active`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    /// Allocations that exist now (pending or active).
    pub allocations_active: u64,
    /// Allocations created since start.
    pub allocations_created: u64,
    /// Payload bytes relayed from clients to peers.
    pub bytes_to_peers: u64,
    /// Payload bytes relayed from peers to clients.
    pub bytes_to_clients: u64,
    /// Packets relayed from clients to peers.
    pub packets_to_peers: u64,
    /// Packets relayed from peers to clients.
    pub packets_to_clients: u64,
    /// Of `packets_to_peers`, those whose peer was another allocation's relay socket on this
    /// server, handed over without leaving the process.
    pub relayed_internally: u64,
    /// Requests refused for bad credentials, unknown users or expired REST usernames.
    pub auth_failures: u64,
    /// Requests dropped by the per-source limit on unauthenticated requests.
    pub rate_limited: u64,
    /// CreatePermission and ChannelBind requests refused by the peer policy (403).
    pub peers_denied: u64,
    /// Relay packets dropped because no permission or channel covered the peer.
    pub dropped_no_permission: u64,
    /// Relay packets dropped by the bandwidth limit.
    pub dropped_bandwidth: u64,
    /// All dropped input: malformed, unknown, unauthorised, over a limit.
    pub dropped_packets: u64,
}
