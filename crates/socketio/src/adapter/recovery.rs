//! Connection-state recovery on one server: the sessions of sockets that lost their
//! connection, and the packets broadcast since, for as long as they may come back.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::time::Instant;

use super::{BroadcastOptions, BroadcastPacket, RecoveredSession, Session};
use crate::value::Value;

/// Connection-state recovery settings (Node's `connectionStateRecovery`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecoveryConfig {
    /// How long a disconnected socket's state is kept (Node's default: 2 minutes).
    pub max_disconnection_duration: Duration,
    /// Whether a recovered socket skips the namespace's middleware (Node's default: yes).
    pub skip_middlewares: bool,
    /// Most packets kept per namespace for sockets to catch up on; older ones are dropped
    /// first (a socket that missed a dropped packet starts a new session instead).
    pub max_buffered_packets: usize,
    /// Most bytes those packets may hold, as their strings and binary values count (64 MiB);
    /// past it, too, the oldest are dropped first.
    pub max_buffered_bytes: usize,
}

impl Default for RecoveryConfig {
    fn default() -> Self {
        Self {
            max_disconnection_duration: Duration::from_secs(120),
            skip_middlewares: true,
            max_buffered_packets: 10_000,
            max_buffered_bytes: 64 << 20,
        }
    }
}

/// Sessions and packets of one namespace, kept in memory.
#[derive(Debug)]
pub(crate) struct SessionStore {
    config: RecoveryConfig,
    state: Mutex<StoreState>,
}

#[derive(Debug, Default)]
struct StoreState {
    /// Packets in offset order; offsets are consecutive numbers.
    packets: VecDeque<Stored>,
    /// What `packets` hold, as [`weight`] counts it.
    bytes: usize,
    next_offset: u64,
    sessions: HashMap<Arc<str>, (Session, Instant)>,
    /// Session ids in the order they were persisted, to expire them cheaply.
    expiry: VecDeque<(Instant, Arc<str>)>,
}

#[derive(Debug)]
struct Stored {
    offset: u64,
    at: Instant,
    bytes: usize,
    packet: BroadcastPacket,
    opts: BroadcastOptions,
}

impl SessionStore {
    pub(crate) fn new(config: RecoveryConfig) -> Self {
        Self {
            config,
            state: Mutex::new(StoreState::default()),
        }
    }

    /// Gives `packet` the next offset (appended to its arguments, where the client reads
    /// it) and keeps a copy for sockets that come back.
    pub(crate) fn record(&self, packet: &mut BroadcastPacket, opts: &BroadcastOptions) {
        let now = Instant::now();
        let mut state = self.lock();
        self.expire(&mut state, now);
        let offset = state.next_offset;
        state.next_offset += 1;
        packet.args.push(Value::String(offset_string(offset)));
        let bytes = packet.event.len() + packet.args.iter().map(weight).sum::<usize>();
        state.bytes += bytes;
        state.packets.push_back(Stored {
            offset,
            at: now,
            bytes,
            packet: packet.clone(),
            opts: opts.clone(),
        });
        while state.packets.len() > self.config.max_buffered_packets
            || state.bytes > self.config.max_buffered_bytes
        {
            state.drop_oldest();
        }
    }

    /// Keeps a disconnected socket's session.
    pub(crate) fn persist(&self, session: Session) {
        let now = Instant::now();
        let mut state = self.lock();
        self.expire(&mut state, now);
        let pid = Arc::clone(&session.pid);
        state.expiry.push_back((now, Arc::clone(&pid)));
        state.sessions.insert(pid, (session, now));
    }

    /// The session `pid` with the packets it missed after `offset`; `None` when the
    /// session expired or is unknown, or when a packet it missed is no longer kept.
    pub(crate) fn restore(&self, pid: &str, offset: &str) -> Option<RecoveredSession> {
        let now = Instant::now();
        let mut state = self.lock();
        self.expire(&mut state, now);
        let (session, _) = state.sessions.remove(pid)?;
        let offset = parse_offset(offset)?;
        let first = state
            .packets
            .front()
            .map_or(state.next_offset, |p| p.offset);
        // Every packet after `offset` must still be here.
        if offset.checked_add(1)? < first || offset >= state.next_offset {
            return None;
        }
        let missed = state
            .packets
            .iter()
            .filter(|p| p.offset > offset && reaches(&session, &p.opts))
            .map(|p| p.packet.clone())
            .collect();
        Some(RecoveredSession { session, missed })
    }

    fn expire(&self, state: &mut StoreState, now: Instant) {
        let keep = self.config.max_disconnection_duration;
        while let Some((at, pid)) = state.expiry.front() {
            if now.duration_since(*at) <= keep {
                break;
            }
            // A session persisted again later has a newer time: keep that one.
            if state.sessions.get(pid).is_some_and(|(_, t)| t == at) {
                state.sessions.remove(pid);
            }
            state.expiry.pop_front();
        }
        while state
            .packets
            .front()
            .is_some_and(|p| now.duration_since(p.at) > keep)
        {
            state.drop_oldest();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, StoreState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl StoreState {
    fn drop_oldest(&mut self) {
        if let Some(oldest) = self.packets.pop_front() {
            self.bytes -= oldest.bytes;
        }
    }
}

/// The bytes a value holds in its strings, binary values and keys, plus a word for each
/// other value: what a kept packet costs, near enough for a bound.
fn weight(value: &Value) -> usize {
    const WORD: usize = std::mem::size_of::<usize>();
    // A stack rather than recursion: the application may build values of any depth.
    let mut total = 0;
    let mut pending = vec![value];
    while let Some(value) = pending.pop() {
        total += match value {
            Value::String(s) => s.len(),
            Value::Binary(b) => b.len(),
            Value::Array(items) => {
                pending.extend(items);
                WORD
            }
            Value::Object(map) => {
                for (key, item) in map {
                    total += key.len();
                    pending.push(item);
                }
                WORD
            }
            Value::Null | Value::Bool(_) | Value::Number(_) => WORD,
        };
    }
    total
}

/// Whether a broadcast with `opts` would have reached the socket of `session`.
fn reaches(session: &Session, opts: &BroadcastOptions) -> bool {
    let member = |room: &crate::socket::Room| session.rooms.contains(room);
    (opts.rooms.is_empty() || opts.rooms.iter().any(member)) && !opts.except.iter().any(member)
}

fn offset_string(offset: u64) -> String {
    format!("{offset:x}")
}

fn parse_offset(offset: &str) -> Option<u64> {
    u64::from_str_radix(offset, 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(pid: &str, rooms: &[&str]) -> Session {
        Session {
            sid: Arc::from("sid"),
            pid: Arc::from(pid),
            rooms: rooms.iter().map(|r| Arc::from(*r)).collect(),
            data: Value::Null,
        }
    }

    fn packet(event: &str) -> BroadcastPacket {
        BroadcastPacket {
            event: event.to_owned(),
            args: Vec::new(),
        }
    }

    fn to(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Arc::from(*r)).collect(),
            except: except.iter().map(|r| Arc::from(*r)).collect(),
            ..BroadcastOptions::default()
        }
    }

    fn offset_of(packet: &BroadcastPacket) -> String {
        packet
            .args
            .last()
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    #[tokio::test(start_paused = true)]
    async fn restores_the_packets_a_session_missed_in_its_rooms() {
        let store = SessionStore::new(RecoveryConfig::default());
        let mut seen = packet("seen");
        store.record(&mut seen, &to(&[], &[]));
        store.persist(session("p", &["sid", "blue"]));
        for (event, opts) in [
            ("all", to(&[], &[])),
            ("blue", to(&["blue"], &[])),
            ("red", to(&["red"], &[])),
            ("not-me", to(&["blue"], &["sid"])),
        ] {
            store.record(&mut packet(event), &opts);
        }
        let restored = store.restore("p", &offset_of(&seen)).expect("restored");
        let events: Vec<_> = restored.missed.iter().map(|p| p.event.as_str()).collect();
        assert_eq!(events, ["all", "blue"]);
        assert_eq!(offset_of(&restored.missed[0]), "1");
        assert!(
            store.restore("p", &offset_of(&seen)).is_none(),
            "restored once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn expired_sessions_are_not_restored() {
        let store = SessionStore::new(RecoveryConfig::default());
        let mut first = packet("first");
        store.record(&mut first, &to(&[], &[]));
        store.persist(session("late", &["sid"]));
        tokio::time::advance(Duration::from_secs(121)).await;
        assert!(store.restore("late", &offset_of(&first)).is_none());
    }

    #[tokio::test(start_paused = true)]
    async fn the_oldest_packets_go_once_their_bytes_pass_the_bound() {
        let config = RecoveryConfig {
            max_buffered_bytes: 2_500,
            ..RecoveryConfig::default()
        };
        let store = SessionStore::new(config);
        let mut seen = packet("p");
        store.record(&mut seen, &to(&[], &[]));
        let mut sent = Vec::new();
        for _ in 0..3 {
            let mut p = packet("p");
            p.args
                .push(Value::Binary(bytes::Bytes::from(vec![0u8; 1_000])));
            store.record(&mut p, &to(&[], &[]));
            sent.push(offset_of(&p));
        }
        // About 1,000 bytes each: the third pushed out the small one and the first big one.
        store.persist(session("behind", &["sid"]));
        assert!(
            store.restore("behind", &offset_of(&seen)).is_none(),
            "it missed a packet no longer kept"
        );
        store.persist(session("caught-up", &["sid"]));
        let restored = store.restore("caught-up", &sent[0]).expect("restored");
        assert_eq!(restored.missed.len(), 2);
        let state = store.lock();
        assert_eq!(
            state.bytes,
            state.packets.iter().map(|p| p.bytes).sum::<usize>()
        );
        assert!(state.bytes <= 2_500);
    }

    #[test]
    fn weight_counts_strings_binary_and_keys() {
        let value = Value::Array(vec![
            Value::String("abc".into()),
            Value::Binary(bytes::Bytes::from_static(&[1, 2])),
            Value::Object([("key".to_owned(), Value::Null)].into_iter().collect()),
        ]);
        let word = std::mem::size_of::<usize>();
        assert_eq!(weight(&value), word + 3 + 2 + word + 3 + word);
    }

    #[tokio::test(start_paused = true)]
    async fn sessions_that_missed_a_dropped_packet_are_not_restored() {
        let config = RecoveryConfig {
            max_buffered_packets: 2,
            ..RecoveryConfig::default()
        };
        let store = SessionStore::new(config);
        let mut sent = Vec::new();
        for _ in 0..4 {
            let mut p = packet("p");
            store.record(&mut p, &to(&[], &[]));
            sent.push(offset_of(&p));
        }
        // Offsets 2 and 3 are kept: a session at 1 can catch up, one at 0 cannot.
        store.persist(session("behind", &["sid"]));
        assert!(store.restore("behind", &sent[0]).is_none());
        store.persist(session("caught-up", &["sid"]));
        let restored = store.restore("caught-up", &sent[1]).expect("restored");
        assert_eq!(restored.missed.len(), 2);
        store.persist(session("bad", &["sid"]));
        assert!(store.restore("bad", "zz").is_none(), "not an offset");
        store.persist(session("ahead", &["sid"]));
        assert!(
            store.restore("ahead", "ff").is_none(),
            "an offset never given"
        );
    }
}
