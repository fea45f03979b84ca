//! One allocation: its relay, lifetime, permissions and channels (RFC 8656 §2.2, §9, §12).

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::addr::{FiveTuple, PeerSocket, RelaySocket};
use crate::command::PortRequest;
use crate::credentials::LongTermKey;
use crate::message::{IntegrityAlgorithm, TransactionId};
use crate::ratelimit::TokenBucket;
use crate::wire::{AddressFamily, ChannelNumber};

/// Identifies an allocation between the server core and its shell.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AllocationId(pub u64);

impl fmt::Display for AllocationId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "allocation#{}", self.0)
    }
}

/// A permission for one peer IP address.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Permission {
    pub(crate) expires: Instant,
    /// The policy denies this IP; only peers that are live relay sockets of this server
    /// may be reached through the permission.
    pub(crate) relay_only: bool,
}

/// A channel binding. Usable while `now < expires`; kept reserved for the cooldown after.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Channel {
    pub(crate) peer: PeerSocket,
    pub(crate) expires: Instant,
}

/// How the Allocate is answered (when the relay is bound, and on retransmissions).
#[derive(Clone, Copy, Debug)]
pub(crate) struct AllocateReply {
    pub(crate) algorithm: IntegrityAlgorithm,
    pub(crate) fingerprint: bool,
}

/// Waiting for the shell to bind a relay, or relaying.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RelayState {
    Pending,
    Bound(RelaySocket),
}

#[derive(Debug)]
pub(crate) struct Allocation {
    pub(crate) five_tuple: FiveTuple,
    pub(crate) username: Box<str>,
    pub(crate) key: LongTermKey,
    pub(crate) family: AddressFamily,
    pub(crate) relay: RelayState,
    pub(crate) allocate_tid: TransactionId,
    pub(crate) allocate_reply: AllocateReply,
    pub(crate) port_request: PortRequest,
    pub(crate) reservation_token: Option<[u8; 8]>,
    pub(crate) lifetime: Duration,
    pub(crate) expires: Instant,
    pub(crate) permissions: HashMap<IpAddr, Permission>,
    pub(crate) channels: HashMap<ChannelNumber, Channel>,
    pub(crate) channel_by_peer: HashMap<PeerSocket, ChannelNumber>,
    pub(crate) bandwidth: Option<TokenBucket>,
    /// The deadline this allocation is filed under in the server's timer set.
    pub(crate) deadline: Instant,
}

impl Allocation {
    pub(crate) fn relay(&self) -> Option<RelaySocket> {
        match self.relay {
            RelayState::Bound(r) => Some(r),
            RelayState::Pending => None,
        }
    }

    /// The earliest time something in this allocation expires.
    pub(crate) fn next_deadline(&self, cooldown: Duration) -> Instant {
        let perms = self.permissions.values().map(|p| p.expires);
        let chans = self.channels.values().map(|c| after(c.expires, cooldown));
        perms.chain(chans).fold(self.expires, Instant::min)
    }

    /// Drops expired permissions and channels whose cooldown has passed.
    pub(crate) fn expire_children(&mut self, now: Instant, cooldown: Duration) {
        self.permissions.retain(|_, p| p.expires > now);
        let before = self.channels.len();
        self.channels
            .retain(|_, c| after(c.expires, cooldown) > now);
        if self.channels.len() != before {
            let channels = &self.channels;
            self.channel_by_peer
                .retain(|_, ch| channels.contains_key(ch));
        }
    }

    /// The live permission covering `peer`'s IP, if any.
    pub(crate) fn permission(&self, peer: PeerSocket, now: Instant) -> Option<Permission> {
        self.permissions
            .get(&peer.ip())
            .filter(|p| p.expires > now)
            .copied()
    }

    /// The peer of a usable channel.
    pub(crate) fn channel_peer(&self, channel: ChannelNumber, now: Instant) -> Option<PeerSocket> {
        self.channels
            .get(&channel)
            .filter(|c| c.expires > now)
            .map(|c| c.peer)
    }

    /// The usable channel bound to `peer`.
    pub(crate) fn peer_channel(&self, peer: PeerSocket, now: Instant) -> Option<ChannelNumber> {
        let ch = *self.channel_by_peer.get(&peer)?;
        self.channels
            .get(&ch)
            .filter(|c| c.expires > now)
            .map(|_| ch)
    }

    /// Charges `bytes` against the bandwidth limit; false when over it.
    pub(crate) fn charge(&mut self, now: Instant, bytes: usize) -> bool {
        match &mut self.bandwidth {
            Some(bucket) => bucket.try_take(now, bytes as u64),
            None => true,
        }
    }
}

/// `t + d`, saturating far in the future instead of panicking on overflow.
pub(crate) fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .or_else(|| t.checked_add(Duration::from_secs(1 << 32)))
        .unwrap_or(t)
}

/// A relay socket the shell holds for a later Allocate with RESERVATION-TOKEN.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Reservation {
    pub(crate) relay: RelaySocket,
    pub(crate) owner: AllocationId,
    pub(crate) expires: Instant,
}
