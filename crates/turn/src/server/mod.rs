//! The TURN server state machine: drive API, allocation table and timers.

mod auth;
mod relay;
mod requests;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::addr::{FiveTuple, RelaySocket};
use crate::allocation::{after, Allocation, AllocationId, Reservation};
use crate::attributes::{Attribute, AttributeError};
use crate::channel_data;
use crate::command::{Command, Forward};
use crate::config::Config;
use crate::counters::Counters;
use crate::credentials::LongTermKey;
use crate::decode_error::{DecodeError, Disposition};
use crate::error_code::ErrorCode;
use crate::message::{Class, IntegrityAlgorithm, Message, Method, TransactionId};
use crate::nonce::NonceIssuer;
use crate::ratelimit::SourceLimiter;
use crate::writer::MessageWriter;

/// How long a port reserved by EVEN-PORT stays reserved (RFC 8656 suggests 30 s).
const RESERVATION_LIFETIME: Duration = Duration::from_secs(30);

/// A sans-IO STUN/TURN server. See the crate documentation for the drive contract.
#[derive(Debug)]
pub struct Server {
    config: Config,
    nonces: NonceIssuer,
    epoch: Instant,
    unix_at_epoch: u64,
    allocations: HashMap<AllocationId, Allocation>,
    by_five_tuple: HashMap<FiveTuple, AllocationId>,
    by_relay: HashMap<RelaySocket, AllocationId>,
    per_user: HashMap<Box<str>, usize>,
    deadlines: BTreeSet<(Instant, AllocationId)>,
    reservations: HashMap<[u8; 8], Reservation>,
    reservation_queue: VecDeque<(Instant, [u8; 8])>,
    reservations_made: u64,
    commands: VecDeque<Command>,
    counters: Counters,
    limiter: SourceLimiter,
    next_id: u64,
    tid_state: u64,
}

/// How to address the answer to one request.
#[derive(Clone, Copy, Debug)]
struct Txn {
    to: FiveTuple,
    method: Method,
    tid: TransactionId,
    fingerprint: bool,
}

/// The key and algorithm that sign a response.
type Signer = Option<(LongTermKey, IntegrityAlgorithm)>;

impl Server {
    /// A server with no allocations. `now` and `unix_now` (seconds since the Unix epoch) are
    /// read by the shell at the same moment; the core derives Unix time from `Instant`s
    /// afterwards (resync with [`Server::set_unix_time`]).
    #[must_use]
    pub fn new(config: Config, now: Instant, unix_now: u64) -> Self {
        let nonces = NonceIssuer::new(config.nonce_secret);
        let limiter = SourceLimiter::new(config.unauthenticated_limit, now);
        let seed = config.nonce_secret[..8]
            .iter()
            .fold(0x9E37_79B9_7F4A_7C15u64, |acc, b| {
                acc.rotate_left(8) ^ u64::from(*b)
            });
        Self {
            config,
            nonces,
            epoch: now,
            unix_at_epoch: unix_now,
            allocations: HashMap::new(),
            by_five_tuple: HashMap::new(),
            by_relay: HashMap::new(),
            per_user: HashMap::new(),
            deadlines: BTreeSet::new(),
            reservations: HashMap::new(),
            reservation_queue: VecDeque::new(),
            reservations_made: 0,
            commands: VecDeque::new(),
            counters: Counters::default(),
            limiter,
            next_id: 1,
            tid_state: seed,
        }
    }

    /// Resynchronises the Unix clock (for example after the wall clock was stepped).
    pub fn set_unix_time(&mut self, now: Instant, unix_now: u64) {
        self.epoch = now;
        self.unix_at_epoch = unix_now;
    }

    /// Unix time (seconds) at `now`, as derived from the last synchronisation.
    #[must_use]
    pub fn unix_time(&self, now: Instant) -> u64 {
        self.unix_at_epoch
            .saturating_add(now.saturating_duration_since(self.epoch).as_secs())
    }

    /// The configuration.
    #[must_use]
    pub const fn config(&self) -> &Config {
        &self.config
    }

    /// The counters.
    #[must_use]
    pub const fn counters(&self) -> Counters {
        self.counters
    }

    /// Number of allocations (pending or bound).
    #[must_use]
    pub fn allocation_count(&self) -> usize {
        self.allocations.len()
    }

    /// The allocation of a 5-tuple, if any.
    #[must_use]
    pub fn allocation_of(&self, five_tuple: &FiveTuple) -> Option<AllocationId> {
        self.by_five_tuple.get(five_tuple).copied()
    }

    /// A stream (TCP/TLS) connection closed: its allocation, if any, is deleted (RFC 8656
    /// §3.1) and its relay freed.
    pub fn connection_closed(&mut self, _now: Instant, five_tuple: FiveTuple) {
        if let Some(id) = self.by_five_tuple.get(&five_tuple).copied() {
            self.remove_allocation(id);
        }
    }

    /// The next side effect for the shell. Drain until `None` after every `handle_*` call.
    #[must_use]
    pub fn poll_command(&mut self) -> Option<Command> {
        self.commands.pop_front()
    }

    /// When [`Server::handle_timeout`] should next be called, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        let allocations = self.deadlines.first().map(|(t, _)| *t);
        let reservations = self.reservation_queue.front().map(|(t, _)| *t);
        match (allocations, reservations) {
            (Some(a), Some(r)) => Some(a.min(r)),
            (a, r) => a.or(r),
        }
    }

    /// Expires allocations, permissions and channels due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(&(t, token)) = self.reservation_queue.front() {
            if t > now {
                break;
            }
            self.reservation_queue.pop_front();
            if let Some(r) = self.reservations.remove(&token) {
                self.commands.push_back(Command::FreeRelay {
                    id: r.owner,
                    relay: r.relay,
                });
            }
        }
        let cooldown = self.config.channel_cooldown;
        while let Some(&(t, id)) = self.deadlines.first() {
            if t > now {
                break;
            }
            self.deadlines.remove(&(t, id));
            let Some(a) = self.allocations.get_mut(&id) else {
                continue;
            };
            if a.expires <= now {
                self.remove_allocation(id);
            } else {
                a.expire_children(now, cooldown);
                a.deadline = a.next_deadline(cooldown);
                self.deadlines.insert((a.deadline, id));
            }
        }
    }

    /// Handles one datagram (UDP) or one framed message (TCP/TLS, see
    /// [`crate::framing::frame_length`]) from a client.
    ///
    /// ChannelData for a bound channel is the hot path: its forward target is returned,
    /// borrowing the payload from `bytes`, and nothing is queued. Everything else (answers,
    /// Send indications, relay requests) is queued for [`Server::poll_command`].
    #[must_use = "a returned Forward must be sent to the peer"]
    pub fn handle_input<'b>(
        &mut self,
        now: Instant,
        from: FiveTuple,
        bytes: &'b [u8],
    ) -> Option<Forward<'b>> {
        if channel_data::is_channel_data(bytes) {
            return self.client_channel_data(now, from, bytes);
        }
        match Message::decode(bytes) {
            Ok(msg) => self.handle_message(now, from, &msg),
            Err(e) => self.handle_decode_error(now, from, &e),
        }
        None
    }

    fn handle_message(&mut self, now: Instant, from: FiveTuple, msg: &Message<'_>) {
        let txn = Txn {
            to: from,
            method: msg.method(),
            tid: msg.transaction_id(),
            fingerprint: msg.has_fingerprint(),
        };
        match (msg.class(), msg.method()) {
            (Class::Request, Method::BINDING) => self.binding(now, &txn),
            (Class::Request, Method::ALLOCATE) => self.allocate(now, &txn, msg),
            (Class::Request, Method::REFRESH) => self.refresh(now, &txn, msg),
            (Class::Request, Method::CREATE_PERMISSION) => self.create_permission(now, &txn, msg),
            (Class::Request, Method::CHANNEL_BIND) => self.channel_bind(now, &txn, msg),
            (Class::Request, _) => {
                if self.admit_unauthenticated(now, from.client.ip()) {
                    self.error(&txn, None, ErrorCode::BAD_REQUEST);
                }
            }
            (Class::Indication, Method::SEND) => self.send_indication(now, from, msg),
            _ => self.counters.dropped_packets += 1,
        }
    }

    fn handle_decode_error(&mut self, now: Instant, from: FiveTuple, e: &DecodeError) {
        let Disposition::Answer(reply) = e.disposition() else {
            self.counters.dropped_packets += 1;
            return;
        };
        if !self.admit_unauthenticated(now, from.client.ip()) {
            return;
        }
        let txn = Txn {
            to: from,
            method: reply.method,
            tid: reply.transaction_id,
            fingerprint: false,
        };
        self.reply(&txn, Class::ErrorResponse, None, |_, w| {
            w.attribute(&Attribute::ErrorCode(reply.code, reply.code.reason()))?;
            if !reply.unknown.is_empty() {
                w.unknown_attributes(reply.unknown.as_slice())?;
            }
            Ok(())
        });
    }

    /// Charges one unauthenticated request from `ip`; false (and counted) when over the limit.
    fn admit_unauthenticated(&mut self, now: Instant, ip: IpAddr) -> bool {
        if self.limiter.allow(now, ip) {
            true
        } else {
            self.counters.rate_limited += 1;
            self.counters.dropped_packets += 1;
            false
        }
    }

    /// Builds a response with `write`, adds SOFTWARE, integrity and fingerprint, and queues it.
    fn reply(
        &mut self,
        txn: &Txn,
        class: Class,
        signer: Signer,
        write: impl FnOnce(&Self, &mut MessageWriter<'_>) -> Result<(), AttributeError>,
    ) {
        let mut bytes = Vec::with_capacity(128);
        let mut w = MessageWriter::new(&mut bytes, class, txn.method, txn.tid);
        if write(self, &mut w).is_err() {
            return;
        }
        if let Some(software) = &self.config.software {
            if w.attribute(&Attribute::Software(software)).is_err() {
                return;
            }
        }
        match signer {
            Some((key, IntegrityAlgorithm::Sha1)) => w.message_integrity(key.as_bytes()),
            Some((key, IntegrityAlgorithm::Sha256)) => w.message_integrity_sha256(key.as_bytes()),
            None => {}
        }
        if txn.fingerprint {
            w.fingerprint();
        }
        self.commands
            .push_back(Command::SendToClient { to: txn.to, bytes });
    }

    /// Queues an error response.
    fn error(&mut self, txn: &Txn, signer: Signer, code: ErrorCode) {
        self.reply(txn, Class::ErrorResponse, signer, |_, w| {
            w.attribute(&Attribute::ErrorCode(code, code.reason()))
        });
    }

    fn binding(&mut self, now: Instant, txn: &Txn) {
        if !self.admit_unauthenticated(now, txn.to.client.ip()) {
            return;
        }
        let mapped = txn.to.client.addr();
        self.reply(txn, Class::SuccessResponse, None, |_, w| {
            w.attribute(&Attribute::XorMappedAddress(mapped))
        });
    }

    fn next_id(&mut self) -> AllocationId {
        let id = AllocationId(self.next_id);
        self.next_id += 1;
        id
    }

    /// A fresh transaction id for indications the server originates (splitmix64; not
    /// security relevant).
    fn next_tid(&mut self) -> TransactionId {
        let mut out = [0u8; 12];
        for chunk in out.chunks_mut(6) {
            self.tid_state = self.tid_state.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.tid_state;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_be_bytes()[..6]);
        }
        TransactionId(out)
    }

    /// Records that the shell holds `relay` for a later Allocate; returns the token.
    fn reserve(&mut self, now: Instant, owner: AllocationId, relay: RelaySocket) -> [u8; 8] {
        self.reservations_made += 1;
        let token = self.nonces.reservation_token(self.reservations_made);
        let expires = after(now, RESERVATION_LIFETIME);
        self.reservations.insert(
            token,
            Reservation {
                relay,
                owner,
                expires,
            },
        );
        self.reservation_queue.push_back((expires, token));
        token
    }

    /// Re-files an allocation under its next deadline.
    fn reschedule(&mut self, id: AllocationId) {
        let cooldown = self.config.channel_cooldown;
        let Some(a) = self.allocations.get_mut(&id) else {
            return;
        };
        let next = a.next_deadline(cooldown);
        if next != a.deadline || !self.deadlines.contains(&(next, id)) {
            self.deadlines.remove(&(a.deadline, id));
            a.deadline = next;
            self.deadlines.insert((next, id));
        }
    }

    /// Deletes an allocation and asks the shell to free its relay.
    fn remove_allocation(&mut self, id: AllocationId) {
        let Some(a) = self.allocations.remove(&id) else {
            return;
        };
        self.by_five_tuple.remove(&a.five_tuple);
        self.deadlines.remove(&(a.deadline, id));
        if let Some(relay) = a.relay() {
            self.by_relay.remove(&relay);
            self.commands.push_back(Command::FreeRelay { id, relay });
        }
        let quota_key = requests::quota_key(&a.username);
        if let Some(n) = self.per_user.get_mut(quota_key) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_user.remove(quota_key);
            }
        }
        self.counters.allocations_active = self.counters.allocations_active.saturating_sub(1);
    }
}
