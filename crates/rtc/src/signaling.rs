//! The signaling state machine: call rooms, their participants, and where each message goes.
//! No I/O and no clock: the shell passes connections in as opaque ids and time as `now`, and
//! sends the [`Outbound`] events it gets back.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::Value as Json;

use crate::error::{ErrorCode, RtcError};

/// The shell's handle for one signaling connection (the Socket.IO socket id, say).
pub type ConnId = Arc<str>;

/// A participant's id: distinct from connection ids, kept across reconnections.
pub type ParticipantId = Arc<str>;

/// Limits and timers, with defaults for calls of a few people.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignalingConfig {
    /// Most participants in one room (those coming back after a drop count too).
    pub max_participants: usize,
    /// How long a participant whose connection dropped keeps its place.
    pub grace: Duration,
    /// Largest `signal` payload, serialized.
    pub max_signal_bytes: usize,
    /// Largest `meta`, serialized.
    pub max_meta_bytes: usize,
    /// Signals one participant may send per [`signal_window`](Self::signal_window).
    pub max_signals: u32,
    /// The window [`max_signals`](Self::max_signals) counts over.
    pub signal_window: Duration,
    /// Signals kept for a participant that is away, oldest dropped first.
    pub max_queued_signals: usize,
}

impl Default for SignalingConfig {
    fn default() -> Self {
        Self {
            max_participants: 16,
            grace: Duration::from_secs(30),
            max_signal_bytes: 64 * 1024,
            max_meta_bytes: 4096,
            max_signals: 300,
            signal_window: Duration::from_secs(10),
            max_queued_signals: 256,
        }
    }
}

/// What a client asks for when it joins.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JoinRequest {
    /// The room name.
    pub room: String,
    /// A display name.
    pub name: String,
    /// Anything the other participants should know (JSON).
    pub meta: Json,
    /// The resume token of an earlier join, to take that place back.
    pub resume: Option<String>,
}

/// A participant as the others see it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PeerInfo {
    /// Its participant id.
    pub id: ParticipantId,
    /// Its display name.
    pub name: String,
    /// Its metadata.
    pub meta: Json,
}

/// The answer to a successful join.
#[derive(Debug, Clone, PartialEq)]
pub struct Joined {
    /// The participant id.
    pub id: ParticipantId,
    /// The secret token to take this place back after a dropped connection.
    pub resume: String,
    /// The room.
    pub room: String,
    /// The other participants, in the order they joined.
    pub peers: Vec<PeerInfo>,
    /// Whether an earlier place was taken back.
    pub resumed: bool,
}

/// Why a participant left.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LeaveReason {
    /// It asked to leave.
    Left,
    /// It left the namespace or its connection was closed on purpose.
    Disconnected,
    /// Its connection dropped and it did not come back within the grace period.
    Timeout,
}

/// An event for one connection.
#[derive(Debug, Clone, PartialEq)]
pub struct Outbound {
    /// The connection to send it to.
    pub to: ConnId,
    /// The event.
    pub event: Event,
}

/// Events the server sends.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// `peer-joined`.
    PeerJoined(PeerInfo),
    /// `peer-left`.
    PeerLeft {
        /// Who left.
        id: ParticipantId,
        /// Why.
        reason: LeaveReason,
    },
    /// `peer-away`: a participant's connection dropped; it keeps its place for the grace
    /// period (signals to it are kept).
    PeerAway {
        /// Who.
        id: ParticipantId,
    },
    /// `peer-back`: a participant that was away resumed its place.
    PeerBack {
        /// Who.
        id: ParticipantId,
    },
    /// `signal`: a message from another participant.
    Signal {
        /// Its sender.
        from: ParticipantId,
        /// What it sent, untouched.
        data: Json,
    },
}

impl Event {
    /// The Socket.IO event name.
    pub fn name(&self) -> &'static str {
        match self {
            Event::PeerJoined(_) => "peer-joined",
            Event::PeerLeft { .. } => "peer-left",
            Event::PeerAway { .. } => "peer-away",
            Event::PeerBack { .. } => "peer-back",
            Event::Signal { .. } => "signal",
        }
    }

    /// The event's payload.
    pub fn payload(&self) -> Json {
        match self {
            Event::PeerJoined(peer) => serde_json::json!(peer),
            Event::PeerLeft { id, reason } => serde_json::json!({ "id": id, "reason": reason }),
            Event::PeerAway { id } | Event::PeerBack { id } => serde_json::json!({ "id": id }),
            Event::Signal { from, data } => serde_json::json!({ "from": from, "data": data }),
        }
    }
}

#[derive(Debug)]
struct Participant {
    info: PeerInfo,
    resume: String,
    room: String,
    /// `None` while its connection is lost (in the grace period).
    conn: Option<ConnId>,
    away_since: Option<Instant>,
    queued: VecDeque<(ParticipantId, Json)>,
    window_start: Instant,
    window_count: u32,
}

/// Every room and participant of one server.
#[derive(Debug, Default)]
pub struct Signaling {
    config: SignalingConfig,
    /// Room → participants in join order.
    rooms: HashMap<String, Vec<ParticipantId>>,
    participants: HashMap<ParticipantId, Participant>,
    by_conn: HashMap<ConnId, ParticipantId>,
    by_resume: HashMap<String, ParticipantId>,
}

impl Signaling {
    /// Empty, with these limits.
    pub fn new(config: SignalingConfig) -> Self {
        Self {
            config,
            ..Self::default()
        }
    }

    /// The limits in force.
    pub fn config(&self) -> &SignalingConfig {
        &self.config
    }

    /// How many participants `room` has (away ones included).
    pub fn room_size(&self, room: &str) -> usize {
        self.rooms.get(room).map_or(0, Vec::len)
    }

    /// The participant id of connection `conn`, if it is in a room.
    pub fn participant_of(&self, conn: &str) -> Option<&ParticipantId> {
        self.by_conn.get(conn)
    }

    /// Joins `conn` to a room (or gives it back its place, with `resume`). `new_id` and
    /// `new_token` are fresh random strings for a new participant.
    pub fn join(
        &mut self,
        conn: ConnId,
        request: JoinRequest,
        new_id: ParticipantId,
        new_token: String,
        now: Instant,
    ) -> Result<(Joined, Vec<Outbound>), RtcError> {
        if self.by_conn.contains_key(&conn) {
            return Err(RtcError::new(
                ErrorCode::AlreadyJoined,
                "leave the room first",
            ));
        }
        validate_room(&request.room)?;
        if request.name.chars().count() > 64 {
            return Err(RtcError::new(
                ErrorCode::BadRequest,
                "name over 64 characters",
            ));
        }
        if serialized_len(&request.meta) > self.config.max_meta_bytes {
            return Err(RtcError::new(ErrorCode::BadRequest, "meta too large"));
        }
        if let Some(resumed) = self.resume(&conn, &request, now) {
            return Ok(resumed);
        }
        if self.room_size(&request.room) >= self.config.max_participants {
            return Err(RtcError::new(ErrorCode::RoomFull, "the room is full"));
        }
        let info = PeerInfo {
            id: Arc::clone(&new_id),
            name: request.name,
            meta: request.meta,
        };
        let peers = self.peers_of(&request.room, &new_id);
        let out = self.tell_room(&request.room, &new_id, &Event::PeerJoined(info.clone()));
        self.participants.insert(
            Arc::clone(&new_id),
            Participant {
                info,
                resume: new_token.clone(),
                room: request.room.clone(),
                conn: Some(Arc::clone(&conn)),
                away_since: None,
                queued: VecDeque::new(),
                window_start: now,
                window_count: 0,
            },
        );
        self.rooms
            .entry(request.room.clone())
            .or_default()
            .push(Arc::clone(&new_id));
        self.by_conn.insert(conn, Arc::clone(&new_id));
        self.by_resume
            .insert(new_token.clone(), Arc::clone(&new_id));
        let joined = Joined {
            id: new_id,
            resume: new_token,
            room: request.room,
            peers,
            resumed: false,
        };
        Ok((joined, out))
    }

    /// Gives `conn` the place the resume token names, if it is in the same room. The old
    /// connection, if the server has not noticed it died, is forgotten.
    fn resume(
        &mut self,
        conn: &ConnId,
        request: &JoinRequest,
        now: Instant,
    ) -> Option<(Joined, Vec<Outbound>)> {
        let id = self.by_resume.get(request.resume.as_deref()?)?.clone();
        let participant = self.participants.get_mut(&id)?;
        if participant.room != request.room {
            return None;
        }
        if let Some(old) = participant.conn.replace(Arc::clone(conn)) {
            self.by_conn.remove(&old);
        }
        participant.away_since = None;
        participant.window_start = now;
        participant.window_count = 0;
        let queued: Vec<_> = participant.queued.drain(..).collect();
        let joined = Joined {
            id: Arc::clone(&id),
            resume: participant.resume.clone(),
            room: participant.room.clone(),
            peers: Vec::new(),
            resumed: true,
        };
        self.by_conn.insert(Arc::clone(conn), Arc::clone(&id));
        let mut out: Vec<Outbound> = queued
            .into_iter()
            .map(|(from, data)| Outbound {
                to: Arc::clone(conn),
                event: Event::Signal { from, data },
            })
            .collect();
        let back = Event::PeerBack {
            id: Arc::clone(&id),
        };
        out.extend(self.tell_room(&joined.room, &id, &back));
        let peers = self.peers_of(&joined.room, &id);
        Some((Joined { peers, ..joined }, out))
    }

    /// `conn` leaves its room on request.
    pub fn leave(&mut self, conn: &str) -> Result<Vec<Outbound>, RtcError> {
        let id = self
            .by_conn
            .get(conn)
            .cloned()
            .ok_or_else(|| RtcError::new(ErrorCode::NotJoined, "not in a room"))?;
        Ok(self.remove(&id, LeaveReason::Left))
    }

    /// Relays `data` from `conn`'s participant to participant `to` of the same room.
    pub fn signal(
        &mut self,
        conn: &str,
        to: &str,
        data: Json,
        now: Instant,
    ) -> Result<Vec<Outbound>, RtcError> {
        let from = self
            .by_conn
            .get(conn)
            .cloned()
            .ok_or_else(|| RtcError::new(ErrorCode::NotJoined, "not in a room"))?;
        let config = &self.config;
        let sender = self
            .participants
            .get_mut(&from)
            .ok_or_else(|| RtcError::new(ErrorCode::NotJoined, "not in a room"))?;
        if now.duration_since(sender.window_start) >= config.signal_window {
            sender.window_start = now;
            sender.window_count = 0;
        }
        if sender.window_count >= config.max_signals {
            return Err(RtcError::new(ErrorCode::RateLimited, "too many signals"));
        }
        sender.window_count += 1;
        if serialized_len(&data) > config.max_signal_bytes {
            return Err(RtcError::new(ErrorCode::TooLarge, "signal data too large"));
        }
        let room = sender.room.clone();
        let max_queued = config.max_queued_signals;
        let target = self
            .participants
            .get_mut(to)
            .filter(|p| p.room == room && p.info.id != from)
            .ok_or_else(|| RtcError::new(ErrorCode::UnknownPeer, "no such peer in your room"))?;
        match &target.conn {
            Some(conn) => Ok(vec![Outbound {
                to: Arc::clone(conn),
                event: Event::Signal { from, data },
            }]),
            None => {
                if target.queued.len() >= max_queued {
                    target.queued.pop_front();
                }
                target.queued.push_back((from, data));
                Ok(Vec::new())
            }
        }
    }

    /// `conn`'s connection dropped: its participant keeps its place for the grace period,
    /// and the room is told it is away.
    pub fn connection_lost(&mut self, conn: &str, now: Instant) -> Vec<Outbound> {
        let Some(id) = self.by_conn.remove(conn) else {
            return Vec::new();
        };
        let Some(participant) = self.participants.get_mut(&id) else {
            return Vec::new();
        };
        participant.conn = None;
        participant.away_since = Some(now);
        let room = participant.room.clone();
        self.tell_room(
            &room,
            &id,
            &Event::PeerAway {
                id: Arc::clone(&id),
            },
        )
    }

    /// `conn` went away on purpose: its participant leaves at once.
    pub fn connection_closed(&mut self, conn: &str) -> Vec<Outbound> {
        match self.by_conn.get(conn).cloned() {
            Some(id) => self.remove(&id, LeaveReason::Disconnected),
            None => Vec::new(),
        }
    }

    /// Removes the participants whose grace period is over.
    pub fn expire(&mut self, now: Instant) -> Vec<Outbound> {
        let grace = self.config.grace;
        let expired: Vec<ParticipantId> = self
            .participants
            .values()
            .filter(|p| {
                p.away_since
                    .is_some_and(|at| now.duration_since(at) >= grace)
            })
            .map(|p| Arc::clone(&p.info.id))
            .collect();
        expired
            .iter()
            .flat_map(|id| self.remove(id, LeaveReason::Timeout))
            .collect()
    }

    /// When the next grace period ends, if any participant is away.
    pub fn next_expiry(&self) -> Option<Instant> {
        self.participants
            .values()
            .filter_map(|p| p.away_since)
            .min()
            .map(|at| at + self.config.grace)
    }

    fn remove(&mut self, id: &ParticipantId, reason: LeaveReason) -> Vec<Outbound> {
        let Some(participant) = self.participants.remove(id) else {
            return Vec::new();
        };
        if let Some(conn) = &participant.conn {
            self.by_conn.remove(conn);
        }
        self.by_resume.remove(&participant.resume);
        if let Some(members) = self.rooms.get_mut(&participant.room) {
            members.retain(|m| m != id);
            if members.is_empty() {
                self.rooms.remove(&participant.room);
            }
        }
        let left = Event::PeerLeft {
            id: Arc::clone(id),
            reason,
        };
        self.tell_room(&participant.room, id, &left)
    }

    /// The participants of `room` other than `except`.
    fn peers_of(&self, room: &str, except: &ParticipantId) -> Vec<PeerInfo> {
        self.rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter(|id| *id != except)
            .filter_map(|id| self.participants.get(id))
            .map(|p| p.info.clone())
            .collect()
    }

    /// `event` for every connected participant of `room` but `except`.
    fn tell_room(&self, room: &str, except: &ParticipantId, event: &Event) -> Vec<Outbound> {
        self.rooms
            .get(room)
            .into_iter()
            .flatten()
            .filter(|id| *id != except)
            .filter_map(|id| self.participants.get(id)?.conn.clone())
            .map(|to| Outbound {
                to,
                event: event.clone(),
            })
            .collect()
    }
}

/// Room names: 1–64 characters out of `A–Z a–z 0–9 _ - . : @`.
pub fn validate_room(room: &str) -> Result<(), RtcError> {
    let valid = !room.is_empty()
        && room.len() <= 64
        && room
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.:@".contains(&b));
    if valid {
        Ok(())
    } else {
        Err(RtcError::new(
            ErrorCode::BadRequest,
            "room names are 1-64 characters of A-Z a-z 0-9 _ - . : @",
        ))
    }
}

fn serialized_len(value: &Json) -> usize {
    serde_json::to_vec(value).map_or(usize::MAX, |v| v.len())
}
