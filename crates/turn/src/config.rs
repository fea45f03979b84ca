//! Server configuration, with safe defaults for every limit.

use std::time::Duration;

use crate::credentials::Credentials;
use crate::policy::PeerPolicy;
use crate::ratelimit::SourceLimit;

/// Everything the server core needs to know up front. Build with [`Config::new`] and adjust
/// fields; every limit has a default. `Debug` leaves the nonce secret out.
#[derive(Clone)]
pub struct Config {
    /// Users, shared secret and realm.
    pub credentials: Credentials,
    /// Secret for stateless nonces: 32 random bytes from the shell, new on every start.
    pub nonce_secret: [u8; 32],
    /// How long a nonce stays valid before requests using it get 438 Stale Nonce.
    pub nonce_lifetime: Duration,
    /// Sent as SOFTWARE in responses when set.
    pub software: Option<String>,
    /// Allocation lifetime when the client asks for none or for less (RFC 8656: 600 s).
    pub default_lifetime: Duration,
    /// The longest allocation lifetime granted (RFC 8656: 3600 s).
    pub max_lifetime: Duration,
    /// Permission lifetime (RFC 8656: 300 s).
    pub permission_lifetime: Duration,
    /// Channel binding lifetime (RFC 8656: 600 s).
    pub channel_lifetime: Duration,
    /// How long an expired channel number and peer stay reserved (RFC 8656: 300 s).
    pub channel_cooldown: Duration,
    /// Which peers relays may reach.
    pub policy: PeerPolicy,
    /// Allocations in total; beyond this Allocate gets 508 Insufficient Capacity.
    pub max_allocations: usize,
    /// Allocations per username; beyond this Allocate gets 486 Allocation Quota Reached.
    pub max_allocations_per_user: usize,
    /// Permissions per allocation; beyond this CreatePermission gets 508.
    pub max_permissions_per_allocation: usize,
    /// Channels per allocation; beyond this ChannelBind gets 508.
    pub max_channels_per_allocation: usize,
    /// Relayed bytes per second per allocation, both directions together; `None` for no
    /// limit. Excess packets are dropped and counted.
    pub bandwidth_per_allocation: Option<u64>,
    /// Burst allowance of the bandwidth bucket, in bytes.
    pub bandwidth_burst: u64,
    /// Per-source limit on requests that are not (yet) authenticated.
    pub unauthenticated_limit: SourceLimit,
    /// Also accept channel numbers `0x5000..=0x7FFE` (RFC 5766's range) in ChannelBind.
    /// Off by default: RFC 8656 reserves them for DTLS-SRTP demultiplexing (RFC 7983).
    pub legacy_channel_numbers: bool,
    /// Offer IPv4 relays.
    pub relay_ipv4: bool,
    /// Offer IPv6 relays.
    pub relay_ipv6: bool,
}

impl Config {
    /// A configuration with safe defaults.
    #[must_use]
    pub fn new(credentials: Credentials, nonce_secret: [u8; 32]) -> Self {
        Self {
            credentials,
            nonce_secret,
            nonce_lifetime: Duration::from_secs(600),
            software: None,
            default_lifetime: Duration::from_secs(600),
            max_lifetime: Duration::from_secs(3600),
            permission_lifetime: Duration::from_secs(300),
            channel_lifetime: Duration::from_secs(600),
            channel_cooldown: Duration::from_secs(300),
            policy: PeerPolicy::default(),
            max_allocations: 10_000,
            max_allocations_per_user: 10,
            max_permissions_per_allocation: 64,
            max_channels_per_allocation: 64,
            bandwidth_per_allocation: Some(2_000_000),
            bandwidth_burst: 500_000,
            unauthenticated_limit: SourceLimit::default(),
            legacy_channel_numbers: false,
            relay_ipv4: true,
            relay_ipv6: true,
        }
    }
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("credentials", &self.credentials)
            .field("nonce_secret", &"..")
            .field("nonce_lifetime", &self.nonce_lifetime)
            .field("software", &self.software)
            .field("default_lifetime", &self.default_lifetime)
            .field("max_lifetime", &self.max_lifetime)
            .field("permission_lifetime", &self.permission_lifetime)
            .field("channel_lifetime", &self.channel_lifetime)
            .field("channel_cooldown", &self.channel_cooldown)
            .field("policy", &self.policy)
            .field("max_allocations", &self.max_allocations)
            .field("max_allocations_per_user", &self.max_allocations_per_user)
            .field(
                "max_permissions_per_allocation",
                &self.max_permissions_per_allocation,
            )
            .field(
                "max_channels_per_allocation",
                &self.max_channels_per_allocation,
            )
            .field("bandwidth_per_allocation", &self.bandwidth_per_allocation)
            .field("bandwidth_burst", &self.bandwidth_burst)
            .field("unauthenticated_limit", &self.unauthenticated_limit)
            .field("legacy_channel_numbers", &self.legacy_channel_numbers)
            .field("relay_ipv4", &self.relay_ipv4)
            .field("relay_ipv6", &self.relay_ipv6)
            .finish()
    }
}
