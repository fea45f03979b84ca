//! The data path: Send indications and ChannelData from clients, and peer datagrams
//! arriving on relay sockets (RFC 8656 §10, §12).

use std::time::Instant;

use super::Server;
use crate::addr::{FiveTuple, PeerSocket, RelaySocket};
use crate::attributes::{Attribute, AttributeType};
use crate::channel_data::ChannelData;
use crate::command::{Command, Forward};
use crate::message::{Class, Message, Method};
use crate::writer::MessageWriter;

/// Why relay data was not forwarded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Drop {
    /// No allocation, no bound relay, or a malformed message.
    Unroutable,
    /// No live permission or channel covers the peer.
    NoPermission,
    /// Over the allocation's bandwidth.
    Bandwidth,
}

impl Server {
    fn count_drop(&mut self, why: Drop) {
        self.counters.dropped_packets += 1;
        match why {
            Drop::Unroutable => {}
            Drop::NoPermission => self.counters.dropped_no_permission += 1,
            Drop::Bandwidth => self.counters.dropped_bandwidth += 1,
        }
    }

    /// Decides where client relay data to `peer` goes, charging bandwidth. Allocates nothing.
    fn route_to_peer(
        &mut self,
        now: Instant,
        from: &FiveTuple,
        peer: Option<PeerSocket>,
        channel: Option<crate::wire::ChannelNumber>,
        len: usize,
    ) -> Result<(RelaySocket, PeerSocket), Drop> {
        let id = self.by_five_tuple.get(from).ok_or(Drop::Unroutable)?;
        let a = self.allocations.get_mut(id).ok_or(Drop::Unroutable)?;
        let relay = a.relay().ok_or(Drop::Unroutable)?;
        let peer = match (peer, channel) {
            (Some(p), _) => p,
            (None, Some(ch)) => a.channel_peer(ch, now).ok_or(Drop::NoPermission)?,
            (None, None) => return Err(Drop::Unroutable),
        };
        let perm = a.permission(peer, now).ok_or(Drop::NoPermission)?;
        if perm.relay_only && !self.by_relay.contains_key(&RelaySocket::new(peer.addr())) {
            return Err(Drop::NoPermission);
        }
        if !a.charge(now, len) {
            return Err(Drop::Bandwidth);
        }
        self.counters.packets_to_peers += 1;
        self.counters.bytes_to_peers += len as u64;
        Ok((relay, peer))
    }

    /// ChannelData from a client: the hot path.
    pub(super) fn client_channel_data<'b>(
        &mut self,
        now: Instant,
        from: FiveTuple,
        bytes: &'b [u8],
    ) -> Option<Forward<'b>> {
        let Ok(cd) = ChannelData::decode(bytes) else {
            self.count_drop(Drop::Unroutable);
            return None;
        };
        match self.route_to_peer(now, &from, None, Some(cd.channel), cd.payload.len()) {
            Ok((relay, peer)) if self.deliver_internally(now, relay, peer, cd.payload) => None,
            Ok((relay, peer)) => Some(Forward {
                relay,
                peer,
                payload: cd.payload,
            }),
            Err(why) => {
                self.count_drop(why);
                None
            }
        }
    }

    /// A Send indication from a client.
    pub(super) fn send_indication(&mut self, now: Instant, from: FiveTuple, msg: &Message<'_>) {
        let (Some(Attribute::XorPeerAddress(peer)), Some(Attribute::Data(data))) = (
            msg.get(AttributeType::XOR_PEER_ADDRESS),
            msg.get(AttributeType::DATA),
        ) else {
            return self.count_drop(Drop::Unroutable);
        };
        match self.route_to_peer(now, &from, Some(PeerSocket::new(peer)), None, data.len()) {
            Ok((relay, peer)) if self.deliver_internally(now, relay, peer, data) => {}
            Ok((relay, peer)) => {
                self.commands.push_back(Command::SendToPeer {
                    relay,
                    peer,
                    bytes: data.to_vec(),
                });
            }
            Err(why) => self.count_drop(why),
        }
    }

    /// Relay data whose peer is a live relay socket of this server (two clients relaying to
    /// each other through it, the usual relay-to-relay ICE pair) goes straight to that
    /// allocation, as if it had arrived from `relay`: the kernel would deliver it to that same
    /// socket, so nothing observable changes, and it saves a send and a receive per packet.
    /// Returns false when `peer` is not one of ours.
    fn deliver_internally(
        &mut self,
        now: Instant,
        relay: RelaySocket,
        peer: PeerSocket,
        payload: &[u8],
    ) -> bool {
        let target = RelaySocket::new(peer.addr());
        if !self.by_relay.contains_key(&target) {
            return false;
        }
        self.counters.relayed_internally += 1;
        self.handle_peer_input(now, target, PeerSocket::new(relay.addr()), payload);
        true
    }

    /// Handles a datagram that `peer` sent to relay socket `relay`. When a permission covers
    /// the peer, a ChannelData message (if a channel is bound) or a Data indication is queued
    /// for the client.
    pub fn handle_peer_input(
        &mut self,
        now: Instant,
        relay: RelaySocket,
        peer: PeerSocket,
        bytes: &[u8],
    ) {
        let relay_peer = self.by_relay.contains_key(&RelaySocket::new(peer.addr()));
        let Some(a) = self
            .by_relay
            .get(&relay)
            .and_then(|id| self.allocations.get_mut(id))
        else {
            return self.count_drop(Drop::Unroutable);
        };
        match a.permission(peer, now) {
            Some(p) if !p.relay_only || relay_peer => {}
            _ => return self.count_drop(Drop::NoPermission),
        }
        if !a.charge(now, bytes.len()) {
            return self.count_drop(Drop::Bandwidth);
        }
        let to = a.five_tuple;
        let channel = a.peer_channel(peer, now);
        let mut out = Vec::with_capacity(bytes.len() + 36);
        let encoded = match channel {
            Some(channel) => ChannelData {
                channel,
                payload: bytes,
            }
            .encode(to.transport.is_stream(), &mut out),
            None => {
                let tid = self.next_tid();
                let mut w = MessageWriter::new(&mut out, Class::Indication, Method::DATA, tid);
                w.attribute(&Attribute::XorPeerAddress(peer.addr())).is_ok()
                    && w.attribute(&Attribute::Data(bytes)).is_ok()
            }
        };
        if !encoded {
            return self.count_drop(Drop::Unroutable);
        }
        self.counters.packets_to_clients += 1;
        self.counters.bytes_to_clients += bytes.len() as u64;
        self.commands
            .push_back(Command::SendToClient { to, bytes: out });
    }
}
