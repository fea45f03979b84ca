//! The messages of Node's `@socket.io/redis-adapter` (8.x, the classic pub/sub adapter), with
//! no I/O: channel names, and each message as bytes and back.
//!
//! - A broadcast is msgpack (notepack.io) `[uid, packet, opts]` on `{key}#{nsp}#`, or on
//!   `{key}#{nsp}#{room}#` when it targets exactly one room. `packet` is Node's
//!   `{type: 2, data: [event, ...args], nsp}`; `opts` is `{rooms, except, flags}`.
//! - Requests go to `{key}-request#{nsp}#` as JSON, except a broadcast asking for
//!   acknowledgements, which is msgpack (its packet may hold binary).
//! - Responses go to `{key}-response#{nsp}#` (or `…#{uid}#`, the requester's own channel, with
//!   `publishOnSpecificResponseChannel`), as JSON, except each acknowledgement (msgpack).
//!
//! Received messages may be either encoding: JSON starts with `{`, anything else is msgpack.
//!
//! The sharded adapter's messages are in [`cluster`].

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use switchboard_engineio::Protocol;
use switchboard_socketio::adapter::{
    BroadcastFlags, BroadcastOptions, BroadcastPacket, SocketInfo,
};
use switchboard_socketio::engine::RequestInfo;
use switchboard_socketio::{Handshake, Room};
use switchboard_socketio_parser::{msgpack, Map, Value};

pub(crate) mod cluster;

/// The Socket.IO EVENT packet type, as Node's packets carry it.
const EVENT: u64 = 2;

/// What a message between servers asks for, numbered as Node's `RequestType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RequestType {
    /// The ids of the sockets in some rooms (`io.allSockets()`, Socket.IO 3).
    Sockets = 0,
    /// Every room with a member.
    AllRooms = 1,
    /// Sockets join rooms (`socketsJoin`).
    RemoteJoin = 2,
    /// Sockets leave rooms (`socketsLeave`).
    RemoteLeave = 3,
    /// Sockets are disconnected (`disconnectSockets`).
    RemoteDisconnect = 4,
    /// Sockets are described (`fetchSockets`).
    RemoteFetch = 5,
    /// An event for the other servers (`serverSideEmit`).
    ServerSideEmit = 6,
    /// A broadcast asking every receiver for an acknowledgement.
    Broadcast = 7,
    /// How many sockets a server asked for an acknowledgement.
    BroadcastClientCount = 8,
    /// One receiver's acknowledgement.
    BroadcastAck = 9,
}

impl RequestType {
    fn from_value(value: &Value) -> Option<Self> {
        Some(match value.as_u64()? {
            0 => Self::Sockets,
            1 => Self::AllRooms,
            2 => Self::RemoteJoin,
            3 => Self::RemoteLeave,
            4 => Self::RemoteDisconnect,
            5 => Self::RemoteFetch,
            6 => Self::ServerSideEmit,
            7 => Self::Broadcast,
            8 => Self::BroadcastClientCount,
            9 => Self::BroadcastAck,
            _ => return None,
        })
    }
}

/// Why a message from Redis was ignored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum WireError {
    /// Neither JSON nor msgpack, or not the expected shape.
    Malformed(&'static str),
}

impl std::fmt::Display for WireError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            WireError::Malformed(why) => write!(f, "malformed message: {why}"),
        }
    }
}

/// The channels of one namespace.
#[derive(Debug, Clone)]
pub(crate) struct Channels {
    /// Broadcasts: this, then a room and `#` for a one-room broadcast.
    pub(crate) broadcast: String,
    /// Requests of every server.
    pub(crate) request: String,
    /// Responses (to whichever server asked).
    pub(crate) response: String,
    /// Responses meant for this server alone.
    pub(crate) own_response: String,
}

impl Channels {
    pub(crate) fn new(key: &str, nsp: &str, uid: &str) -> Self {
        let response = format!("{key}-response#{nsp}#");
        Self {
            broadcast: Self::namespace(key, nsp),
            request: format!("{key}-request#{nsp}#"),
            own_response: format!("{response}{uid}#"),
            response,
        }
    }

    /// The namespace's own channel (`broadcast`), alone: what finds its adapter.
    pub(crate) fn namespace(key: &str, nsp: &str) -> String {
        format!("{key}#{nsp}#")
    }

    /// The pattern every broadcast channel of the namespace matches.
    pub(crate) fn broadcast_pattern(&self) -> String {
        format!("{}*", self.broadcast)
    }

    /// Where a broadcast selecting `opts` is published.
    pub(crate) fn broadcast_for(&self, opts: &BroadcastOptions) -> String {
        match opts.rooms.as_slice() {
            [room] => self.room(room),
            _ => self.broadcast.clone(),
        }
    }

    /// The channel of a one-room broadcast.
    pub(crate) fn room(&self, room: &str) -> String {
        format!("{}{room}#", self.broadcast)
    }

    /// The room a broadcast channel names, `None` for the namespace-wide channel or one that
    /// is not a broadcast channel of this namespace.
    pub(crate) fn room_of<'a>(&self, channel: &'a str) -> Option<&'a str> {
        channel
            .strip_prefix(self.broadcast.as_str())?
            .strip_suffix('#')
    }

    /// The sharded adapter's channel for answers to `uid` (Node's `responseChannel`).
    pub(crate) fn shard_response(&self, uid: &str) -> String {
        format!("{}{uid}#", self.broadcast)
    }

    /// Where the answer to a request from `requester` goes.
    pub(crate) fn response_for(&self, requester: &str, specific: bool) -> String {
        if specific {
            format!("{}{requester}#", self.response)
        } else {
            self.response.clone()
        }
    }
}

/// Decodes a message body: JSON when it starts with `{`, msgpack otherwise.
pub(crate) fn decode_body(body: &Bytes) -> Result<Value, WireError> {
    if body.first() == Some(&b'{') {
        serde_json::from_slice(body).map_err(|_| WireError::Malformed("invalid JSON"))
    } else {
        msgpack::decode_value(body).map_err(|_| WireError::Malformed("invalid msgpack"))
    }
}

fn json(value: &Value) -> Bytes {
    // A `Value` always serializes (map keys are strings).
    Bytes::from(serde_json::to_vec(value).unwrap_or_default())
}

fn object<const N: usize>(pairs: [(&str, Value); N]) -> Value {
    Value::Object(pairs.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
}

fn strings<'a>(items: impl IntoIterator<Item = &'a Room>) -> Value {
    Value::Array(items.into_iter().map(|r| Value::from(&**r)).collect())
}

/// `[event, ...args]`, as Node's packets and server-side events carry an event.
fn event_data(packet: &BroadcastPacket) -> Value {
    let mut data = Vec::with_capacity(packet.args.len() + 1);
    data.push(Value::from(packet.event.as_str()));
    data.extend(packet.args.iter().cloned());
    Value::Array(data)
}

/// The event of `[event, ...args]`.
fn decode_event_data(data: Option<&Value>) -> Result<BroadcastPacket, WireError> {
    let Some([Value::String(event), args @ ..]) = data.and_then(Value::as_array) else {
        return Err(WireError::Malformed("event data is not [name, ...args]"));
    };
    Ok(BroadcastPacket {
        event: event.clone(),
        args: args.to_vec(),
    })
}

/// Node's packet object for an event.
fn packet_value(nsp: &str, packet: &BroadcastPacket) -> Value {
    object([
        ("type", Value::from(EVENT)),
        ("data", event_data(packet)),
        ("nsp", Value::from(nsp)),
    ])
}

/// `{rooms, except}`, and `flags` when given.
fn opts_value(opts: &BroadcastOptions, timeout: Option<Duration>, with_flags: bool) -> Value {
    let mut map = Map::new();
    map.insert("rooms".into(), strings(&opts.rooms));
    let except: HashSet<&Room> = opts.except.iter().collect();
    map.insert("except".into(), strings(except));
    if with_flags {
        let mut flags = Map::new();
        if opts.flags.volatile {
            flags.insert("volatile".into(), Value::Bool(true));
        }
        if opts.flags.uncompressed {
            flags.insert("compress".into(), Value::Bool(false));
        }
        if let Some(timeout) = timeout {
            let ms = u64::try_from(timeout.as_millis()).unwrap_or(u64::MAX);
            flags.insert("timeout".into(), Value::from(ms));
        }
        map.insert("flags".into(), Value::Object(flags));
    }
    Value::Object(map)
}

/// A broadcast for the other servers.
pub(crate) fn encode_broadcast(
    uid: &str,
    nsp: &str,
    packet: &BroadcastPacket,
    opts: &BroadcastOptions,
) -> Bytes {
    msgpack::encode_value(&Value::Array(vec![
        Value::from(uid),
        packet_value(nsp, packet),
        opts_value(opts, None, true),
    ]))
}

/// A broadcast another server published.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RemoteBroadcast {
    /// The publishing server.
    pub(crate) uid: String,
    /// Its namespace.
    pub(crate) nsp: String,
    /// The event.
    pub(crate) packet: BroadcastPacket,
    /// Whom it is for, with the `local` flag set: it is carried out on this server only.
    pub(crate) opts: BroadcastOptions,
}

pub(crate) fn decode_broadcast(body: &Bytes) -> Result<RemoteBroadcast, WireError> {
    let value = decode_body(body)?;
    let Some([uid, packet, opts]) = value.as_array() else {
        return Err(WireError::Malformed("a broadcast is [uid, packet, opts]"));
    };
    let uid = uid
        .as_str()
        .ok_or(WireError::Malformed("uid is not a string"))?;
    let (nsp, packet) = decode_packet(packet)?;
    Ok(RemoteBroadcast {
        uid: uid.to_owned(),
        nsp,
        packet,
        opts: decode_opts(Some(opts))?,
    })
}

/// Node's packet object: an EVENT with a string name; `nsp` is `/` when absent (as Node
/// reads it).
fn decode_packet(packet: &Value) -> Result<(String, BroadcastPacket), WireError> {
    let packet = packet
        .as_object()
        .ok_or(WireError::Malformed("packet is not an object"))?;
    if packet.get("type").and_then(Value::as_u64) != Some(EVENT) {
        return Err(WireError::Malformed("packet is not an event"));
    }
    let nsp = match packet.get("nsp") {
        None => "/",
        Some(nsp) => nsp
            .as_str()
            .ok_or(WireError::Malformed("nsp is not a string"))?,
    };
    Ok((nsp.to_owned(), decode_event_data(packet.get("data"))?))
}

/// Rooms as Node sends them: strings, or numbers (a `Set` may hold numeric rooms).
fn rooms(value: Option<&Value>) -> Result<Vec<Room>, WireError> {
    match value {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                Value::String(s) => Ok(Room::from(s.as_str())),
                Value::Number(n) => Ok(Room::from(n.to_string())),
                _ => Err(WireError::Malformed("a room is not a string")),
            })
            .collect(),
        Some(_) => Err(WireError::Malformed("rooms are not an array")),
    }
}

fn decode_opts(opts: Option<&Value>) -> Result<BroadcastOptions, WireError> {
    let Some(opts) = opts.and_then(Value::as_object) else {
        return Err(WireError::Malformed("opts is not an object"));
    };
    let flags = opts.get("flags").and_then(Value::as_object);
    let flag = |name: &str| flags.and_then(|f| f.get(name));
    Ok(BroadcastOptions {
        rooms: rooms(opts.get("rooms"))?,
        except: rooms(opts.get("except"))?,
        flags: BroadcastFlags {
            local: true,
            volatile: matches!(flag("volatile"), Some(Value::Bool(true))),
            uncompressed: matches!(flag("compress"), Some(Value::Bool(false))),
        },
    })
}

/// A request this server sends.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing<'a> {
    /// `fetchSockets`.
    Fetch {
        request_id: &'a str,
        opts: &'a BroadcastOptions,
    },
    /// `socketsJoin`.
    Join {
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    },
    /// `socketsLeave`.
    Leave {
        opts: &'a BroadcastOptions,
        rooms: &'a [Room],
    },
    /// `disconnectSockets`.
    Disconnect {
        opts: &'a BroadcastOptions,
        close: bool,
    },
    /// `serverSideEmit`, with a request id when an answer is asked for (`WithAck`).
    ServerSideEmit {
        request_id: Option<&'a str>,
        packet: &'a BroadcastPacket,
    },
    /// A broadcast asking for acknowledgements (msgpack: the packet may hold binary).
    BroadcastWithAck {
        request_id: &'a str,
        nsp: &'a str,
        packet: &'a BroadcastPacket,
        opts: &'a BroadcastOptions,
        timeout: Duration,
    },
}

pub(crate) fn encode_request(uid: &str, request: &Outgoing<'_>) -> Bytes {
    let uid = Value::from(uid);
    let kind = |t: RequestType| Value::from(t as u64);
    match *request {
        Outgoing::Fetch { request_id, opts } => json(&object([
            ("uid", uid),
            ("requestId", Value::from(request_id)),
            ("type", kind(RequestType::RemoteFetch)),
            ("opts", opts_value(opts, None, false)),
        ])),
        Outgoing::Join { opts, rooms } | Outgoing::Leave { opts, rooms } => {
            let t = match request {
                Outgoing::Join { .. } => RequestType::RemoteJoin,
                _ => RequestType::RemoteLeave,
            };
            json(&object([
                ("uid", uid),
                ("type", kind(t)),
                ("opts", opts_value(opts, None, false)),
                ("rooms", strings(rooms)),
            ]))
        }
        Outgoing::Disconnect { opts, close } => json(&object([
            ("uid", uid),
            ("type", kind(RequestType::RemoteDisconnect)),
            ("opts", opts_value(opts, None, false)),
            ("close", Value::Bool(close)),
        ])),
        Outgoing::ServerSideEmit { request_id, packet } => {
            let mut map = Map::new();
            map.insert("uid".into(), uid);
            if let Some(request_id) = request_id {
                map.insert("requestId".into(), Value::from(request_id));
            }
            map.insert("type".into(), kind(RequestType::ServerSideEmit));
            map.insert("data".into(), event_data(packet));
            json(&Value::Object(map))
        }
        Outgoing::BroadcastWithAck {
            request_id,
            nsp,
            packet,
            opts,
            timeout,
        } => msgpack::encode_value(&object([
            ("uid", uid),
            ("requestId", Value::from(request_id)),
            ("type", kind(RequestType::Broadcast)),
            ("packet", packet_value(nsp, packet)),
            ("opts", opts_value(opts, Some(timeout), true)),
        ])),
    }
}

/// Whom a remote join, leave or disconnect is for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Target {
    /// The sockets these options select (Node 4.x servers).
    Selected(BroadcastOptions),
    /// One socket by id (Socket.IO 3 servers' `remoteJoin`), answered when done.
    Socket { sid: String },
}

/// A request from another server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Request {
    Sockets {
        request_id: String,
        rooms: Vec<Room>,
    },
    AllRooms {
        request_id: String,
    },
    Join {
        request_id: Option<String>,
        target: Target,
        rooms: Vec<Room>,
    },
    Leave {
        request_id: Option<String>,
        target: Target,
        rooms: Vec<Room>,
    },
    Disconnect {
        request_id: Option<String>,
        target: Target,
        close: bool,
    },
    Fetch {
        request_id: String,
        opts: BroadcastOptions,
    },
    ServerSideEmit {
        /// Present when the sender waits for an answer.
        request_id: Option<String>,
        packet: BroadcastPacket,
    },
    BroadcastWithAck {
        request_id: String,
        packet: BroadcastPacket,
        nsp: String,
        opts: BroadcastOptions,
        timeout: Option<Duration>,
    },
}

/// A request and the server that sent it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct IncomingRequest {
    /// The requester (absent from some Socket.IO 3 requests).
    pub(crate) uid: Option<String>,
    pub(crate) request: Request,
}

pub(crate) fn decode_request(body: &Bytes) -> Result<IncomingRequest, WireError> {
    let value = decode_body(body)?;
    let map = value
        .as_object()
        .ok_or(WireError::Malformed("a request is an object"))?;
    let field = |name: &str| map.get(name);
    let string = |name: &str| field(name).and_then(Value::as_str).map(str::to_owned);
    let request_id = || string("requestId").ok_or(WireError::Malformed("no requestId"));
    let kind = field("type")
        .and_then(RequestType::from_value)
        .ok_or(WireError::Malformed("unknown request type"))?;
    let target = || -> Result<Target, WireError> {
        match field("opts") {
            Some(opts) if !matches!(opts, Value::Null) => {
                Ok(Target::Selected(decode_opts(Some(opts))?))
            }
            _ => Ok(Target::Socket {
                sid: string("sid").ok_or(WireError::Malformed("neither opts nor sid"))?,
            }),
        }
    };
    // A by-id join or leave names one `room`; a selecting one, `rooms`.
    let join_rooms = || -> Result<Vec<Room>, WireError> {
        match string("room") {
            Some(room) if field("rooms").is_none() => Ok(vec![Room::from(room)]),
            _ => rooms(field("rooms")),
        }
    };
    let request = match kind {
        RequestType::Sockets => Request::Sockets {
            request_id: request_id()?,
            rooms: rooms(field("rooms"))?,
        },
        RequestType::AllRooms => Request::AllRooms {
            request_id: request_id()?,
        },
        RequestType::RemoteJoin => Request::Join {
            request_id: string("requestId"),
            target: target()?,
            rooms: join_rooms()?,
        },
        RequestType::RemoteLeave => Request::Leave {
            request_id: string("requestId"),
            target: target()?,
            rooms: join_rooms()?,
        },
        RequestType::RemoteDisconnect => Request::Disconnect {
            request_id: string("requestId"),
            target: target()?,
            close: matches!(field("close"), Some(Value::Bool(true))),
        },
        RequestType::RemoteFetch => Request::Fetch {
            request_id: request_id()?,
            opts: decode_opts(field("opts"))?,
        },
        RequestType::ServerSideEmit => Request::ServerSideEmit {
            request_id: string("requestId"),
            packet: decode_event_data(field("data"))?,
        },
        RequestType::Broadcast => {
            let (nsp, packet) =
                decode_packet(field("packet").ok_or(WireError::Malformed("no packet"))?)?;
            let timeout = field("opts")
                .and_then(Value::as_object)
                .and_then(|o| o.get("flags"))
                .and_then(Value::as_object)
                .and_then(|f| f.get("timeout"))
                .and_then(millis);
            Request::BroadcastWithAck {
                request_id: request_id()?,
                packet,
                nsp,
                opts: decode_opts(field("opts"))?,
                timeout,
            }
        }
        RequestType::BroadcastClientCount | RequestType::BroadcastAck => {
            return Err(WireError::Malformed("a response on the request channel"))
        }
    };
    Ok(IncomingRequest {
        uid: string("uid"),
        request,
    })
}

/// A non-negative number of milliseconds (JavaScript numbers may be floats).
fn millis(value: &Value) -> Option<Duration> {
    let Value::Number(n) = value else { return None };
    if let Some(ms) = n.as_u64() {
        return Some(Duration::from_millis(ms));
    }
    let ms = n.as_f64()?;
    // `try_`: a finite float can still be too large for a Duration (`1e300`).
    Duration::try_from_secs_f64(ms / 1000.0).ok()
}

/// A response this server sends.
#[derive(Debug, Clone)]
pub(crate) enum Answer<'a> {
    /// The ids of the sockets in some rooms.
    SocketIds { request_id: &'a str, ids: Vec<Room> },
    /// Every room with a member here.
    Rooms {
        request_id: &'a str,
        rooms: Vec<Room>,
    },
    /// The described sockets.
    Sockets {
        request_id: &'a str,
        sockets: &'a [SocketInfo],
    },
    /// Done (a Socket.IO 3 remote join, leave or disconnect).
    Done { request_id: &'a str },
    /// How many sockets were asked for an acknowledgement.
    ClientCount { request_id: &'a str, count: usize },
    /// A server's answer to a server-side event.
    ServerSideEmit {
        request_id: &'a str,
        value: &'a Value,
    },
    /// One acknowledgement: its first argument, as Node's adapter forwards it.
    Ack {
        request_id: &'a str,
        first: Option<&'a Value>,
    },
}

pub(crate) fn encode_answer(answer: &Answer<'_>) -> Bytes {
    match answer {
        Answer::SocketIds { request_id, ids } => json(&object([
            ("requestId", Value::from(*request_id)),
            ("sockets", strings(ids)),
        ])),
        Answer::Rooms { request_id, rooms } => json(&object([
            ("requestId", Value::from(*request_id)),
            ("rooms", strings(rooms)),
        ])),
        Answer::Sockets {
            request_id,
            sockets,
        } => json(&object([
            ("requestId", Value::from(*request_id)),
            (
                "sockets",
                Value::Array(sockets.iter().map(socket_value).collect()),
            ),
        ])),
        Answer::Done { request_id } => json(&object([("requestId", Value::from(*request_id))])),
        Answer::ClientCount { request_id, count } => json(&object([
            (
                "type",
                Value::from(RequestType::BroadcastClientCount as u64),
            ),
            ("requestId", Value::from(*request_id)),
            ("clientCount", Value::from(*count as u64)),
        ])),
        Answer::ServerSideEmit { request_id, value } => json(&object([
            ("type", Value::from(RequestType::ServerSideEmit as u64)),
            ("requestId", Value::from(*request_id)),
            ("data", (*value).clone()),
        ])),
        Answer::Ack { request_id, first } => {
            let mut map = Map::new();
            map.insert("type".into(), Value::from(RequestType::BroadcastAck as u64));
            map.insert("requestId".into(), Value::from(*request_id));
            // An acknowledgement without arguments is `undefined` in Node: no key at all.
            if let Some(first) = first {
                map.insert("packet".into(), (*first).clone());
            }
            msgpack::encode_value(&Value::Object(map))
        }
    }
}

/// A response from another server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Response {
    pub(crate) request_id: String,
    pub(crate) kind: Option<RequestType>,
    pub(crate) body: Map,
}

impl Response {
    /// The described sockets of a fetch answer (malformed entries are skipped).
    pub(crate) fn sockets(&self) -> Option<Vec<SocketInfo>> {
        let items = self.body.get("sockets")?.as_array()?;
        Some(items.iter().filter_map(decode_socket).collect())
    }

    pub(crate) fn client_count(&self) -> Option<usize> {
        self.body
            .get("clientCount")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok())
    }

    /// An acknowledgement's value (`null` when the client answered with nothing).
    pub(crate) fn ack(&self) -> Value {
        self.body.get("packet").cloned().unwrap_or(Value::Null)
    }

    /// A server's answer to a server-side event (`null` when it answered with nothing).
    pub(crate) fn server_answer(&self) -> Value {
        self.body.get("data").cloned().unwrap_or(Value::Null)
    }
}

pub(crate) fn decode_response(body: &Bytes) -> Result<Response, WireError> {
    let Value::Object(map) = decode_body(body)? else {
        return Err(WireError::Malformed("a response is an object"));
    };
    let request_id = map
        .get("requestId")
        .and_then(Value::as_str)
        .ok_or(WireError::Malformed("no requestId"))?
        .to_owned();
    Ok(Response {
        request_id,
        kind: map.get("type").and_then(RequestType::from_value),
        body: map,
    })
}

/// A socket as Node's adapter describes it: `{id, handshake, rooms, data}`.
fn socket_value(info: &SocketInfo) -> Value {
    let mut rooms: Vec<&Room> = info.rooms.iter().collect();
    rooms.sort();
    object([
        ("id", Value::from(&*info.id)),
        ("handshake", handshake_value(&info.handshake)),
        ("rooms", strings(rooms)),
        ("data", info.data.clone()),
    ])
}

/// Node's `socket.handshake`.
fn handshake_value(handshake: &Handshake) -> Value {
    let mut headers = Map::new();
    for name in handshake.headers().keys() {
        let values: Vec<&str> = handshake
            .headers()
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .collect();
        headers.insert(name.as_str().to_owned(), Value::from(values.join(", ")));
    }
    let query: Map = handshake
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k.to_owned(), Value::from(v))
        })
        .collect();
    let issued = handshake
        .issued()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let address = handshake
        .remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default();
    object([
        ("headers", Value::Object(headers)),
        ("time", Value::from(js_date(issued).as_str())),
        ("address", Value::from(address.as_str())),
        (
            "xdomain",
            Value::Bool(handshake.headers().contains_key(http::header::ORIGIN)),
        ),
        (
            "secure",
            Value::Bool(handshake.uri().scheme_str() == Some("https")),
        ),
        (
            "issued",
            Value::from(u64::try_from(issued.as_millis()).unwrap_or(u64::MAX)),
        ),
        ("url", Value::from(handshake.uri().to_string().as_str())),
        ("query", Value::Object(query)),
        ("auth", handshake.auth.clone()),
    ])
}

/// A socket another server described; `None` when it has no id.
fn decode_socket(value: &Value) -> Option<SocketInfo> {
    let map = value.as_object()?;
    let id = Room::from(map.get("id")?.as_str()?);
    let rooms = map
        .get("rooms")
        .and_then(|r| rooms(Some(r)).ok())
        .unwrap_or_default()
        .into_iter()
        .collect();
    let empty = Map::new();
    let shake = map
        .get("handshake")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let mut headers = http::HeaderMap::new();
    for (name, value) in shake
        .get("headers")
        .and_then(Value::as_object)
        .unwrap_or(&empty)
    {
        let (Ok(name), Some(Ok(value))) = (
            http::HeaderName::from_bytes(name.as_bytes()),
            value.as_str().map(http::HeaderValue::from_str),
        ) else {
            continue;
        };
        headers.append(name, value);
    }
    let uri: http::Uri = shake
        .get("url")
        .and_then(Value::as_str)
        .and_then(|u| u.parse().ok())
        .unwrap_or_default();
    let eio = shake
        .get("query")
        .and_then(Value::as_object)
        .and_then(|q| q.get("EIO"))
        .and_then(Value::as_str);
    let issued = shake
        .get("issued")
        .and_then(millis)
        .and_then(|since| UNIX_EPOCH.checked_add(since))
        .unwrap_or(UNIX_EPOCH);
    let remote_addr = shake
        .get("address")
        .and_then(Value::as_str)
        .and_then(|a| a.parse::<IpAddr>().ok())
        .map(|ip| SocketAddr::new(ip, 0));
    let request = RequestInfo {
        headers,
        uri,
        protocol: if eio == Some("3") {
            Protocol::V3
        } else {
            Protocol::V4
        },
        remote_addr,
        issued,
    };
    let auth = shake.get("auth").cloned().unwrap_or(Value::Null);
    Some(SocketInfo {
        id,
        rooms,
        handshake: Handshake::new(auth, request),
        data: map.get("data").cloned().unwrap_or(Value::Null),
    })
}

/// `Date.prototype.toString()` of a UTC clock, as Node's `handshake.time` reads:
/// `Sun Dec 06 2026 18:45:00 GMT+0000 (Coordinated Universal Time)`.
fn js_date(since_epoch: Duration) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = since_epoch.as_secs();
    let days = secs / 86_400;
    let (h, m, s) = (secs % 86_400 / 3600, secs % 3600 / 60, secs % 60);
    let (year, month, day) = civil_from_days(days);
    format!(
        "{} {} {day:02} {year} {h:02}:{m:02}:{s:02} GMT+0000 (Coordinated Universal Time)",
        DAYS[(days % 7) as usize],
        MONTHS[(month - 1) as usize],
    )
}

/// The proleptic Gregorian date `days` after 1970-01-01 (Howard Hinnant's algorithm).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    //! Byte for byte against messages captured from Node's `@socket.io/redis-adapter` 8.3.0
    //! (socket.io 4.8.3, node-redis 4.7.1) with `redis-cli psubscribe '*'`.
    #![allow(clippy::unwrap_used)]

    use super::*;

    fn hex(s: &str) -> Bytes {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect::<Vec<u8>>()
            .into()
    }

    fn value(json: &str) -> Value {
        serde_json::from_str(json).unwrap()
    }

    fn rooms(names: &[&str]) -> Vec<Room> {
        names.iter().map(|&r| Room::from(r)).collect()
    }

    fn opts(to: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms(to),
            except: rooms(except),
            flags: BroadcastFlags::default(),
        }
    }

    /// `io.emit("message", {text: "héllo 😀", n: [1, 2.5, -3], nested: {ok: true, none: null}})`
    const TO_ALL: &str = "93a679416e6d753883a47479706502a46461746192a76d65737361676583a474657874\
        ab68c3a96c6c6f20f09f9880a16e9301cb4004000000000000fda66e657374656482a26f6bc3a46e6f6e65c0\
        a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380";

    fn to_all_packet() -> BroadcastPacket {
        BroadcastPacket {
            event: "message".into(),
            args: vec![value(
                r#"{"text":"héllo 😀","n":[1,2.5,-3],"nested":{"ok":true,"none":null}}"#,
            )],
        }
    }

    #[test]
    fn a_broadcast_is_node_s_bytes_both_ways() {
        let node = hex(TO_ALL);
        assert_eq!(
            encode_broadcast("yAnmu8", "/", &to_all_packet(), &opts(&[], &[])),
            node
        );
        let got = decode_broadcast(&node).unwrap();
        assert_eq!(got.uid, "yAnmu8");
        assert_eq!(got.nsp, "/");
        assert_eq!(got.packet, to_all_packet());
        let mut local = opts(&[], &[]);
        local.flags.local = true;
        assert_eq!(got.opts, local);
    }

    #[test]
    fn flags_rooms_and_except_are_node_s() {
        // io.volatile.emit("message", "volatile")
        let volatile = hex(
            "93a679416e6d753883a47479706502a46461746192a76d657373616765a8766f6c6174696c65a36e7370\
             a12f83a5726f6f6d7390a665786365707490a5666c61677381a8766f6c6174696c65c3",
        );
        let packet = BroadcastPacket {
            event: "message".into(),
            args: vec![Value::from("volatile")],
        };
        let mut o = opts(&[], &[]);
        o.flags.volatile = true;
        assert_eq!(encode_broadcast("yAnmu8", "/", &packet, &o), volatile);
        assert!(decode_broadcast(&volatile).unwrap().opts.flags.volatile);

        // io.to(["red", "blue"]).emit("message", {opts: {to: ["red", "blue"]}})
        let two_rooms = hex(
            "93a679416e6d753883a47479706502a46461746192a76d65737361676581a46f70747381a2746f92a372\
             6564a4626c7565a36e7370a12f83a5726f6f6d7392a3726564a4626c7565a665786365707490a566\
             6c61677380",
        );
        let packet = BroadcastPacket {
            event: "message".into(),
            args: vec![value(r#"{"opts":{"to":["red","blue"]}}"#)],
        };
        let o = opts(&["red", "blue"], &[]);
        assert_eq!(encode_broadcast("yAnmu8", "/", &packet, &o), two_rooms);
        assert_eq!(decode_broadcast(&two_rooms).unwrap().opts.rooms, o.rooms);

        // io.except("red").emit("message", {opts: {except: ["red"]}})
        let except = hex(
            "93a679416e6d753883a47479706502a46461746192a76d65737361676581a46f70747381a6657863657074\
             91a3726564a36e7370a12f83a5726f6f6d7390a665786365707491a3726564a5666c61677380",
        );
        let decoded = decode_broadcast(&except).unwrap();
        assert_eq!(decoded.opts.except, rooms(&["red"]));
        assert_eq!(
            encode_broadcast("yAnmu8", "/", &decoded.packet, &opts(&[], &["red", "red"])),
            except,
            "except is deduplicated, as Node's Set"
        );
    }

    #[test]
    fn one_room_goes_on_the_room_s_channel() {
        let channels = Channels::new("socket.io", "/", "yAnmu8");
        assert_eq!(
            channels.broadcast_for(&opts(&["red"], &[])),
            "socket.io#/#red#"
        );
        assert_eq!(
            channels.broadcast_for(&opts(&["a", "b"], &[])),
            "socket.io#/#"
        );
        assert_eq!(channels.broadcast_for(&opts(&[], &["a"])), "socket.io#/#");
        assert_eq!(channels.room_of("socket.io#/#red#"), Some("red"));
        assert_eq!(channels.room_of("socket.io#/#"), None);
        assert_eq!(channels.room_of("socket.io#/chat#red#"), None);
        assert_eq!(channels.broadcast_pattern(), "socket.io#/#*");
        assert_eq!(channels.request, "socket.io-request#/#");
        assert_eq!(channels.response, "socket.io-response#/#");
        assert_eq!(channels.own_response, "socket.io-response#/#yAnmu8#");
        assert_eq!(channels.response_for("abc", false), "socket.io-response#/#");
        assert_eq!(
            channels.response_for("abc", true),
            "socket.io-response#/#abc#"
        );
    }

    #[test]
    fn binary_arguments_are_msgpack_bin() {
        let mut bytes = hex(
            "93a679416e6d753883a47479706502a46461746192a76d65737361676583a46b696e64a662696e617279\
             a5736d616c6cc404000102ffa66e657374656481a3626967c5012c",
        )
        .to_vec();
        bytes.extend([7u8; 300]);
        bytes.extend_from_slice(&hex(
            "a36e7370a12f83a5726f6f6d7390a665786365707490a5666c61677380",
        ));
        let node = Bytes::from(bytes);
        let got = decode_broadcast(&node).unwrap();
        let arg = got.packet.args[0].as_object().unwrap();
        assert_eq!(
            arg["small"].as_binary().map(|b| &b[..]),
            Some(&[0, 1, 2, 255][..])
        );
        let nested = arg["nested"].as_object().unwrap();
        assert_eq!(nested["big"].as_binary().map(Bytes::len), Some(300));
        assert_eq!(
            encode_broadcast("yAnmu8", "/", &got.packet, &opts(&[], &[])),
            node
        );
    }

    #[test]
    fn requests_are_node_s_json() {
        let uid = "yAnmu8";
        let fetch = encode_request(
            uid,
            &Outgoing::Fetch {
                request_id: "FstPjr",
                opts: &opts(&["lobby", "red"], &[]),
            },
        );
        assert_eq!(
            &fetch[..],
            br#"{"uid":"yAnmu8","requestId":"FstPjr","type":5,"opts":{"rooms":["lobby","red"],"except":[]}}"#
        );
        let join = encode_request(
            uid,
            &Outgoing::Join {
                opts: &opts(&["sel"], &[]),
                rooms: &rooms(&["x", "y"]),
            },
        );
        assert_eq!(
            &join[..],
            br#"{"uid":"yAnmu8","type":2,"opts":{"rooms":["sel"],"except":[]},"rooms":["x","y"]}"#
        );
        let leave = encode_request(
            uid,
            &Outgoing::Leave {
                opts: &opts(&["x"], &["0Ww3g4S5s12mXZjFAAAK"]),
                rooms: &rooms(&["x", "y"]),
            },
        );
        assert_eq!(
            &leave[..],
            br#"{"uid":"yAnmu8","type":3,"opts":{"rooms":["x"],"except":["0Ww3g4S5s12mXZjFAAAK"]},"rooms":["x","y"]}"#
        );
        let disconnect = encode_request(
            uid,
            &Outgoing::Disconnect {
                opts: &opts(&["doomed"], &[]),
                close: false,
            },
        );
        assert_eq!(
            &disconnect[..],
            br#"{"uid":"yAnmu8","type":4,"opts":{"rooms":["doomed"],"except":[]},"close":false}"#
        );
        // And they read back as Node's.
        for (bytes, kind) in [
            (&join, "join"),
            (&leave, "leave"),
            (&disconnect, "disconnect"),
        ] {
            let got = decode_request(bytes).unwrap();
            assert_eq!(got.uid.as_deref(), Some(uid), "{kind}");
        }
        assert_eq!(
            decode_request(&fetch).unwrap().request,
            Request::Fetch {
                request_id: "FstPjr".into(),
                opts: BroadcastOptions {
                    flags: BroadcastFlags {
                        local: true,
                        ..BroadcastFlags::default()
                    },
                    ..opts(&["lobby", "red"], &[])
                },
            }
        );
    }

    #[test]
    fn a_broadcast_with_acks_and_its_answers_are_node_s() {
        // io.to("q").timeout(5000).emit("question", {n: 1, bin: <09 08 07>}, cb)
        let node = hex(
            "85a3756964a679416e6d7538a9726571756573744964a6495a76424867a47479706507a67061636b6574\
             83a47479706502a46461746192a87175657374696f6e82a16e01a362696ec403090807a36e7370a12f\
             a46f70747383a5726f6f6d7391a171a665786365707490a5666c61677381a774696d656f7574cd1388",
        );
        let packet = BroadcastPacket {
            event: "question".into(),
            args: vec![Value::Object(
                [
                    ("n".to_owned(), Value::from(1)),
                    (
                        "bin".to_owned(),
                        Value::Binary(Bytes::from_static(&[9, 8, 7])),
                    ),
                ]
                .into_iter()
                .collect(),
            )],
        };
        let request = Outgoing::BroadcastWithAck {
            request_id: "IZvBHg",
            nsp: "/",
            packet: &packet,
            opts: &opts(&["q"], &[]),
            timeout: Duration::from_secs(5),
        };
        assert_eq!(encode_request("yAnmu8", &request), node);
        let got = decode_request(&node).unwrap();
        let Request::BroadcastWithAck {
            request_id,
            packet: decoded,
            timeout,
            opts: o,
            ..
        } = got.request
        else {
            panic!("{got:?}")
        };
        assert_eq!(
            (request_id.as_str(), &decoded, timeout),
            ("IZvBHg", &packet, Some(Duration::from_secs(5)))
        );
        assert_eq!(o.rooms, rooms(&["q"]));

        let count = encode_answer(&Answer::ClientCount {
            request_id: "IZvBHg",
            count: 2,
        });
        assert_eq!(
            &count[..],
            br#"{"type":8,"requestId":"IZvBHg","clientCount":2}"#
        );
        assert_eq!(decode_response(&count).unwrap().client_count(), Some(2));

        let ack = hex(
            "83a47479706509a9726571756573744964a6495a76424867a67061636b657482a466726f6db4754242\
             51364d6f4a4d635971676c4e5641414152a77061796c6f616482a16e01a362696ec403090807",
        );
        let first = Value::Object(
            [
                ("from".to_owned(), Value::from("uBBQ6MoJMcYqglNVAAAR")),
                ("payload".to_owned(), packet.args[0].clone()),
            ]
            .into_iter()
            .collect(),
        );
        assert_eq!(
            encode_answer(&Answer::Ack {
                request_id: "IZvBHg",
                first: Some(&first),
            }),
            ack
        );
        let response = decode_response(&ack).unwrap();
        assert_eq!(response.kind, Some(RequestType::BroadcastAck));
        assert_eq!(response.ack(), first);
    }

    #[test]
    fn a_fetch_answer_from_node_describes_its_sockets() {
        let node = br#"{"requestId":"bdsWBE","sockets":[{"id":"zLcc9rvNe3KtFsc3AAAI","handshake":{"headers":{"sec-websocket-version":"13","connection":"Upgrade","upgrade":"websocket","host":"127.0.0.1:40079"},"time":"Sun Dec 06 2026 18:24:27 GMT+0000 (Coordinated Universal Time)","address":"127.0.0.1","xdomain":false,"secure":false,"issued":1796581467389,"url":"/socket.io/?EIO=4&transport=websocket","query":{"EIO":"4","transport":"websocket"},"auth":{}},"rooms":["zLcc9rvNe3KtFsc3AAAI","red","blue"],"data":{"name":null}}]}"#;
        let response = decode_response(&Bytes::from_static(node)).unwrap();
        assert_eq!(response.request_id, "bdsWBE");
        let sockets = response.sockets().unwrap();
        let [socket] = sockets.as_slice() else {
            panic!("{sockets:?}")
        };
        assert_eq!(&*socket.id, "zLcc9rvNe3KtFsc3AAAI");
        assert_eq!(socket.rooms.len(), 3);
        assert!(socket.rooms.contains("red"));
        assert_eq!(socket.data, value(r#"{"name":null}"#));
        let shake = &socket.handshake;
        assert_eq!(shake.headers()["host"], "127.0.0.1:40079");
        assert_eq!(shake.query("transport").as_deref(), Some("websocket"));
        assert_eq!(shake.protocol(), Protocol::V4);
        assert_eq!(
            shake.remote_addr().map(|a| a.ip().to_string()).as_deref(),
            Some("127.0.0.1")
        );
        assert_eq!(
            shake.issued(),
            UNIX_EPOCH + Duration::from_millis(1_796_581_467_389)
        );
        assert_eq!(shake.auth, value("{}"));

        // Ours reads back the same, with Node's `time` for the same instant.
        let answer = encode_answer(&Answer::Sockets {
            request_id: "bdsWBE",
            sockets: &sockets,
        });
        let again = decode_response(&answer).unwrap();
        let text = std::str::from_utf8(&answer).unwrap();
        assert!(
            text.contains(
                r#""time":"Sun Dec 06 2026 18:24:27 GMT+0000 (Coordinated Universal Time)""#
            ),
            "{text}"
        );
        assert!(text.contains(r#""rooms":["blue","red","zLcc9rvNe3KtFsc3AAAI"]"#));
        assert_eq!(
            again.sockets().unwrap()[0].handshake.issued(),
            shake.issued()
        );
    }

    #[test]
    fn socket_io_3_requests_by_socket_id_are_understood() {
        let join = br#"{"uid":"old123","requestId":"r1","type":2,"sid":"abc","room":"red"}"#;
        assert_eq!(
            decode_request(&Bytes::from_static(join)).unwrap().request,
            Request::Join {
                request_id: Some("r1".into()),
                target: Target::Socket { sid: "abc".into() },
                rooms: rooms(&["red"]),
            }
        );
        let sockets = br#"{"uid":"old123","requestId":"r2","type":0,"rooms":["red"]}"#;
        assert_eq!(
            decode_request(&Bytes::from_static(sockets))
                .unwrap()
                .request,
            Request::Sockets {
                request_id: "r2".into(),
                rooms: rooms(&["red"]),
            }
        );
    }

    #[test]
    fn server_side_events_and_their_answers_are_node_s() {
        // io.serverSideEmit("hello", "world", 1, {x: [true, null]})
        let node = br#"{"uid":"ce62SZ","type":6,"data":["hello","world",1,{"x":[true,null]}]}"#;
        let hello = BroadcastPacket {
            event: "hello".into(),
            args: vec![
                value(r#""world""#),
                value("1"),
                value(r#"{"x":[true,null]}"#),
            ],
        };
        let ours = encode_request(
            "ce62SZ",
            &Outgoing::ServerSideEmit {
                request_id: None,
                packet: &hello,
            },
        );
        assert_eq!(&ours[..], &node[..]);
        assert_eq!(
            decode_request(&ours).unwrap(),
            IncomingRequest {
                uid: Some("ce62SZ".into()),
                request: Request::ServerSideEmit {
                    request_id: None,
                    packet: hello,
                },
            }
        );

        // await io.serverSideEmitWithAck("ping", {a: 1}), answered with cb({pong: arg})
        let node = br#"{"uid":"ce62SZ","requestId":"agSHLX","type":6,"data":["ping",{"a":1}]}"#;
        let ping = BroadcastPacket {
            event: "ping".into(),
            args: vec![value(r#"{"a":1}"#)],
        };
        let ours = encode_request(
            "ce62SZ",
            &Outgoing::ServerSideEmit {
                request_id: Some("agSHLX"),
                packet: &ping,
            },
        );
        assert_eq!(&ours[..], &node[..]);
        assert_eq!(
            decode_request(&ours).unwrap().request,
            Request::ServerSideEmit {
                request_id: Some("agSHLX".into()),
                packet: ping,
            }
        );
        let node = br#"{"type":6,"requestId":"agSHLX","data":{"pong":{"a":1}}}"#;
        let answer = value(r#"{"pong":{"a":1}}"#);
        let ours = encode_answer(&Answer::ServerSideEmit {
            request_id: "agSHLX",
            value: &answer,
        });
        assert_eq!(&ours[..], &node[..]);
        let response = decode_response(&ours).unwrap();
        assert_eq!(response.kind, Some(RequestType::ServerSideEmit));
        assert_eq!(response.server_answer(), answer);

        // cb() answers `undefined`: no data at all.
        let node = br#"{"type":6,"requestId":"C7aCAN"}"#;
        let response = decode_response(&Bytes::from_static(node)).unwrap();
        assert_eq!(response.server_answer(), Value::Null);

        // Data that is not [name, ...args].
        for body in [
            &br#"{"uid":"a","type":6}"#[..],
            br#"{"uid":"a","type":6,"data":[]}"#,
            br#"{"uid":"a","type":6,"data":[1,2]}"#,
            br#"{"uid":"a","type":6,"data":"ping"}"#,
        ] {
            assert!(
                decode_request(&Bytes::from_static(body)).is_err(),
                "{body:?}"
            );
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        for body in [
            &b""[..],
            b"{",
            b"{}",
            b"{\"type\":5}",
            b"{\"type\":99,\"requestId\":\"x\"}",
            b"{\"type\":8,\"requestId\":\"x\"}",
            b"\x93\xa1x\x80\x80",
            b"\xc1",
        ] {
            let body = Bytes::copy_from_slice(body);
            assert!(decode_request(&body).is_err(), "{body:?}");
            assert!(decode_broadcast(&body).is_err(), "{body:?}");
        }
        // A packet that is not an event, an event name that is not a string.
        let ack_packet = hex("93a178 82a474797065 03 a464617461 90 80");
        assert!(decode_broadcast(&ack_packet).is_err());
        let numeric_event = hex("93a178 82a474797065 02 a464617461 91 01 80");
        assert!(decode_broadcast(&numeric_event).is_err());
    }

    #[test]
    fn dates_read_as_javascript_writes_them() {
        assert_eq!(
            js_date(Duration::ZERO),
            "Thu Jan 01 1970 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
        assert_eq!(
            js_date(Duration::from_secs(951_782_400)),
            "Tue Feb 29 2000 00:00:00 GMT+0000 (Coordinated Universal Time)"
        );
    }
}
