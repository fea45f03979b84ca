//! TURN requests: Allocate, Refresh, CreatePermission, ChannelBind (RFC 8656 §7, §9, §11),
//! and the shell's answers to `CreateRelay`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::auth::Authed;
use super::{Server, Signer, Txn};
use crate::addr::{PeerSocket, RelaySocket};
use crate::allocation::{
    after, AllocateReply, Allocation, AllocationId, Channel, Permission, RelayState,
};
use crate::attributes::{Attribute, AttributeType};
use crate::command::{Command, PortRequest};
use crate::error_code::ErrorCode;
use crate::message::{Class, Message, Method};
use crate::ratelimit::TokenBucket;
use crate::wire::{AddressFamily, ChannelNumber, Protocol};

/// The name quotas count allocations under: for TURN REST usernames (`expiry:user`) the
/// user part, so fresh credentials for the same user share one quota.
pub(super) fn quota_key(username: &str) -> &str {
    match username.split_once(':') {
        Some((expiry, user))
            if !expiry.is_empty() && expiry.bytes().all(|b| b.is_ascii_digit()) =>
        {
            user
        }
        _ => username,
    }
}

fn secs(d: Duration) -> u32 {
    u32::try_from(d.as_secs()).unwrap_or(u32::MAX)
}

impl Server {
    pub(super) fn allocate(&mut self, now: Instant, txn: &Txn, msg: &Message<'_>) {
        let Some(authed) = self.authenticate(now, txn, msg) else {
            return;
        };
        let signer = authed.signer();
        if let Some(&id) = self.by_five_tuple.get(&txn.to) {
            let retransmit = self
                .allocations
                .get(&id)
                .is_some_and(|a| a.allocate_tid == txn.tid);
            if !retransmit {
                self.error(txn, signer, ErrorCode::ALLOCATION_MISMATCH);
            } else if self
                .allocations
                .get(&id)
                .and_then(Allocation::relay)
                .is_some()
            {
                self.allocate_success(now, id);
            }
            return;
        }
        match msg.get(AttributeType::REQUESTED_TRANSPORT) {
            Some(Attribute::RequestedTransport(Protocol::UDP)) => {}
            Some(_) => return self.error(txn, signer, ErrorCode::UNSUPPORTED_TRANSPORT_PROTOCOL),
            None => return self.error(txn, signer, ErrorCode::BAD_REQUEST),
        }
        let even_port = match msg.get(AttributeType::EVEN_PORT) {
            Some(Attribute::EvenPort(reserve_next)) => Some(reserve_next),
            _ => None,
        };
        let token = match msg.get(AttributeType::RESERVATION_TOKEN) {
            Some(Attribute::ReservationToken(t)) => Some(*t),
            _ => None,
        };
        if token.is_some()
            && (even_port.is_some() || msg.get(AttributeType::REQUESTED_ADDRESS_FAMILY).is_some())
        {
            return self.error(txn, signer, ErrorCode::BAD_REQUEST);
        }
        let reserved = token
            .and_then(|t| self.reservations.get(&t))
            .filter(|r| r.expires > now)
            .map(|r| r.relay);
        let family = match (reserved, msg.get(AttributeType::REQUESTED_ADDRESS_FAMILY)) {
            (Some(relay), _) => AddressFamily::of(&relay.addr()),
            (None, Some(Attribute::RequestedAddressFamily(f))) => f,
            _ => AddressFamily::IPV4,
        };
        if msg.get(AttributeType::REQUESTED_ADDRESS_FAMILY).is_some()
            && msg.get(AttributeType::ADDITIONAL_ADDRESS_FAMILY).is_some()
        {
            return self.error(txn, signer, ErrorCode::BAD_REQUEST);
        }
        let offered = match family {
            AddressFamily::IPV4 => self.config.relay_ipv4,
            AddressFamily::IPV6 => self.config.relay_ipv6,
            _ => false,
        };
        if !offered {
            return self.error(txn, signer, ErrorCode::ADDRESS_FAMILY_NOT_SUPPORTED);
        }
        let user_count = self
            .per_user
            .get(quota_key(&authed.username))
            .copied()
            .unwrap_or(0);
        if user_count >= self.config.max_allocations_per_user {
            return self.error(txn, signer, ErrorCode::ALLOCATION_QUOTA_REACHED);
        }
        if self.allocations.len() >= self.config.max_allocations {
            return self.error(txn, signer, ErrorCode::INSUFFICIENT_CAPACITY);
        }
        let requested = match msg.get(AttributeType::LIFETIME) {
            Some(Attribute::Lifetime(s)) => Duration::from_secs(u64::from(s)),
            _ => self.config.default_lifetime,
        };
        let lifetime = requested
            .min(self.config.max_lifetime)
            .max(self.config.default_lifetime);
        let port = match (token, even_port) {
            (Some(t), _) => match reserved {
                Some(relay) => {
                    self.reservations.remove(&t);
                    PortRequest::Reserved(relay)
                }
                None => return self.error(txn, signer, ErrorCode::INSUFFICIENT_CAPACITY),
            },
            (None, Some(reserve_next)) => PortRequest::Even { reserve_next },
            (None, None) => PortRequest::Any,
        };
        self.create_allocation(now, txn, msg, authed, (family, port), lifetime);
    }

    fn create_allocation(
        &mut self,
        now: Instant,
        txn: &Txn,
        msg: &Message<'_>,
        authed: Authed,
        (family, port_request): (AddressFamily, PortRequest),
        lifetime: Duration,
    ) {
        let id = self.next_id();
        let bandwidth = self
            .config
            .bandwidth_per_allocation
            .map(|rate| TokenBucket::new(rate, self.config.bandwidth_burst.max(rate / 10), now));
        let expires = after(now, lifetime);
        let allocate_reply = AllocateReply {
            algorithm: authed.algorithm,
            fingerprint: msg.has_fingerprint(),
        };
        *self
            .per_user
            .entry(Box::from(quota_key(&authed.username)))
            .or_insert(0) += 1;
        self.allocations.insert(
            id,
            Allocation {
                five_tuple: txn.to,
                username: authed.username,
                key: authed.key,
                family,
                relay: RelayState::Pending,
                allocate_tid: txn.tid,
                allocate_reply,
                port_request,
                reservation_token: None,
                lifetime,
                expires,
                permissions: HashMap::new(),
                channels: HashMap::new(),
                channel_by_peer: HashMap::new(),
                bandwidth,
                deadline: expires,
            },
        );
        self.deadlines.insert((expires, id));
        self.by_five_tuple.insert(txn.to, id);
        self.counters.allocations_active += 1;
        self.counters.allocations_created += 1;
        self.commands.push_back(Command::CreateRelay {
            id,
            family,
            port: port_request,
        });
    }

    /// The shell bound the relay socket for allocation `id`: the pending Allocate is answered.
    /// A relay for an allocation that no longer waits for one is handed back with
    /// `Command::FreeRelay`; a relay of the wrong family, or one already in use by another
    /// allocation (a shell bug), fails the Allocate with 508.
    pub fn relay_bound(&mut self, now: Instant, id: AllocationId, relay: RelaySocket) {
        let pending = self
            .allocations
            .get(&id)
            .filter(|a| matches!(a.relay, RelayState::Pending));
        let family_ok = pending.is_some_and(|a| {
            AddressFamily::of(&relay.addr()) == a.family
                && match a.port_request {
                    PortRequest::Any => true,
                    PortRequest::Even { .. } => relay.addr().port().is_multiple_of(2),
                    PortRequest::Reserved(r) => r == relay,
                }
        });
        let pending = pending.is_some();
        let in_use = self.by_relay.contains_key(&relay);
        if !pending || !family_ok || in_use {
            if !in_use {
                self.commands.push_back(Command::FreeRelay { id, relay });
            }
            if pending {
                self.relay_failed(now, id);
            }
            return;
        }
        let mut reserve = None;
        if let Some(a) = self.allocations.get_mut(&id) {
            a.relay = RelayState::Bound(relay);
            a.expires = after(now, a.lifetime);
            if a.port_request == (PortRequest::Even { reserve_next: true }) {
                let next = relay.addr().port().saturating_add(1);
                reserve = Some(RelaySocket::new(SocketAddr::new(relay.ip(), next)));
            }
        }
        if let Some(next) = reserve {
            let token = self.reserve(now, id, next);
            if let Some(a) = self.allocations.get_mut(&id) {
                a.reservation_token = Some(token);
            }
        }
        self.by_relay.insert(relay, id);
        self.reschedule(id);
        self.allocate_success(now, id);
    }

    /// The shell could not bind a relay for allocation `id`: the Allocate is answered with
    /// 508 Insufficient Capacity and the allocation dropped.
    pub fn relay_failed(&mut self, _now: Instant, id: AllocationId) {
        let Some(a) = self.allocations.get(&id) else {
            return;
        };
        if !matches!(a.relay, RelayState::Pending) {
            return;
        }
        let (txn, signer) = allocate_txn(a);
        self.error(&txn, signer, ErrorCode::INSUFFICIENT_CAPACITY);
        self.remove_allocation(id);
    }

    /// Answers the Allocate of a bound allocation (also used for retransmissions).
    fn allocate_success(&mut self, now: Instant, id: AllocationId) {
        let Some(a) = self.allocations.get(&id) else {
            return;
        };
        let Some(relay) = a.relay() else {
            return;
        };
        let (txn, signer) = allocate_txn(a);
        let lifetime = secs(a.expires.saturating_duration_since(now));
        let mapped = a.five_tuple.client.addr();
        let token = a.reservation_token;
        self.reply(&txn, Class::SuccessResponse, signer, |_, w| {
            w.attribute(&Attribute::XorRelayedAddress(relay.addr()))?;
            w.attribute(&Attribute::Lifetime(lifetime))?;
            if let Some(token) = &token {
                w.attribute(&Attribute::ReservationToken(token))?;
            }
            w.attribute(&Attribute::XorMappedAddress(mapped))
        });
    }

    /// Authenticates a request that needs the client's allocation; answers 437/441 itself.
    fn authed_allocation(
        &mut self,
        now: Instant,
        txn: &Txn,
        msg: &Message<'_>,
    ) -> Option<(AllocationId, Signer)> {
        let authed = self.authenticate(now, txn, msg)?;
        let signer = authed.signer();
        let Some(a) = self
            .by_five_tuple
            .get(&txn.to)
            .and_then(|id| self.allocations.get(id))
        else {
            self.error(txn, signer, ErrorCode::ALLOCATION_MISMATCH);
            return None;
        };
        if a.username != authed.username {
            self.error(txn, signer, ErrorCode::WRONG_CREDENTIALS);
            return None;
        }
        if a.relay().is_none() {
            self.error(txn, signer, ErrorCode::ALLOCATION_MISMATCH);
            return None;
        }
        self.by_five_tuple.get(&txn.to).map(|id| (*id, signer))
    }

    pub(super) fn refresh(&mut self, now: Instant, txn: &Txn, msg: &Message<'_>) {
        let Some((id, signer)) = self.authed_allocation(now, txn, msg) else {
            return;
        };
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        if let Some(Attribute::RequestedAddressFamily(f)) =
            msg.get(AttributeType::REQUESTED_ADDRESS_FAMILY)
        {
            if f != a.family {
                return self.error(txn, signer, ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
            }
        }
        let lifetime = match msg.get(AttributeType::LIFETIME) {
            Some(Attribute::Lifetime(s)) => Duration::from_secs(u64::from(s)),
            _ => self.config.default_lifetime,
        }
        .min(self.config.max_lifetime);
        if lifetime.is_zero() {
            self.remove_allocation(id);
        } else {
            a.lifetime = lifetime;
            a.expires = after(now, lifetime);
            self.reschedule(id);
        }
        self.reply(txn, Class::SuccessResponse, signer, |_, w| {
            w.attribute(&Attribute::Lifetime(secs(lifetime)))
        });
    }

    /// Checks a peer for an allocation of `family`: `Ok(relay_only)` or the error to answer.
    fn check_peer(&mut self, family: AddressFamily, peer: PeerSocket) -> Result<bool, ErrorCode> {
        if AddressFamily::of(&peer.addr()) != family {
            return Err(ErrorCode::PEER_ADDRESS_FAMILY_MISMATCH);
        }
        match self.config.policy.check(peer.ip()) {
            Ok(()) => Ok(false),
            Err(_) if self.by_relay.contains_key(&RelaySocket::new(peer.addr())) => Ok(true),
            Err(_) => {
                self.counters.peers_denied += 1;
                Err(ErrorCode::FORBIDDEN)
            }
        }
    }

    pub(super) fn create_permission(&mut self, now: Instant, txn: &Txn, msg: &Message<'_>) {
        let Some((id, signer)) = self.authed_allocation(now, txn, msg) else {
            return;
        };
        let Some(family) = self.allocations.get(&id).map(|a| a.family) else {
            return;
        };
        let mut peers = Vec::new();
        for (_, attr) in msg.attributes() {
            if let Ok(Attribute::XorPeerAddress(addr)) = attr {
                let peer = PeerSocket::new(addr);
                match self.check_peer(family, peer) {
                    Ok(relay_only) => peers.push((peer, relay_only)),
                    Err(code) => return self.error(txn, signer, code),
                }
            }
        }
        if peers.is_empty() {
            return self.error(txn, signer, ErrorCode::BAD_REQUEST);
        }
        let max = self.config.max_permissions_per_allocation;
        let expires = after(now, self.config.permission_lifetime);
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        let mut new_ips: Vec<_> = peers
            .iter()
            .map(|(p, _)| p.ip())
            .filter(|ip| !a.permissions.contains_key(ip))
            .collect();
        new_ips.sort_unstable();
        new_ips.dedup();
        if a.permissions.len() + new_ips.len() > max {
            return self.error(txn, signer, ErrorCode::INSUFFICIENT_CAPACITY);
        }
        for (peer, relay_only) in peers {
            a.permissions.insert(
                peer.ip(),
                Permission {
                    expires,
                    relay_only,
                },
            );
        }
        self.reschedule(id);
        self.reply(txn, Class::SuccessResponse, signer, |_, _| Ok(()));
    }

    pub(super) fn channel_bind(&mut self, now: Instant, txn: &Txn, msg: &Message<'_>) {
        let Some((id, signer)) = self.authed_allocation(now, txn, msg) else {
            return;
        };
        let channel = match msg.get(AttributeType::CHANNEL_NUMBER) {
            Some(Attribute::ChannelNumber(n))
                if n.is_valid() || (self.config.legacy_channel_numbers && n.is_valid_rfc5766()) =>
            {
                n
            }
            _ => return self.error(txn, signer, ErrorCode::BAD_REQUEST),
        };
        let peer = match msg.get(AttributeType::XOR_PEER_ADDRESS) {
            Some(Attribute::XorPeerAddress(addr)) => PeerSocket::new(addr),
            _ => return self.error(txn, signer, ErrorCode::BAD_REQUEST),
        };
        let Some(family) = self.allocations.get(&id).map(|a| a.family) else {
            return;
        };
        let relay_only = match self.check_peer(family, peer) {
            Ok(r) => r,
            Err(code) => return self.error(txn, signer, code),
        };
        let (max, chan_life) = (
            self.config.max_channels_per_allocation,
            self.config.channel_lifetime,
        );
        let (max_perms, perm_expires) = (
            self.config.max_permissions_per_allocation,
            after(now, self.config.permission_lifetime),
        );
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        if let Some(code) = bind_conflict(a, channel, peer, max, max_perms) {
            return self.error(txn, signer, code);
        }
        a.channels.insert(
            channel,
            Channel {
                peer,
                expires: after(now, chan_life),
            },
        );
        a.channel_by_peer.insert(peer, channel);
        a.permissions.insert(
            peer.ip(),
            Permission {
                expires: perm_expires,
                relay_only,
            },
        );
        self.reschedule(id);
        self.reply(txn, Class::SuccessResponse, signer, |_, _| Ok(()));
    }
}

/// The ChannelBind rules (RFC 8656 §11.2): a channel stays with its peer and a peer with its
/// channel, including during the cooldown after expiry; and the per-allocation limits.
fn bind_conflict(
    a: &Allocation,
    channel: ChannelNumber,
    peer: PeerSocket,
    max_channels: usize,
    max_permissions: usize,
) -> Option<ErrorCode> {
    if a.channels.get(&channel).is_some_and(|c| c.peer != peer) {
        return Some(ErrorCode::BAD_REQUEST);
    }
    if a.channel_by_peer.get(&peer).is_some_and(|c| *c != channel) {
        return Some(ErrorCode::BAD_REQUEST);
    }
    let new_channel = !a.channels.contains_key(&channel);
    let new_permission = !a.permissions.contains_key(&peer.ip());
    if (new_channel && a.channels.len() >= max_channels)
        || (new_permission && a.permissions.len() >= max_permissions)
    {
        return Some(ErrorCode::INSUFFICIENT_CAPACITY);
    }
    None
}

/// The Allocate transaction that created `a`, and how its answer is signed.
fn allocate_txn(a: &Allocation) -> (Txn, Signer) {
    let reply = a.allocate_reply;
    let txn = Txn {
        to: a.five_tuple,
        method: Method::ALLOCATE,
        tid: a.allocate_tid,
        fingerprint: reply.fingerprint,
    };
    (txn, Some((a.key, reply.algorithm)))
}
