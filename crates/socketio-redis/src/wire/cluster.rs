//! The messages of Node's sharded Redis adapter (`createShardedAdapter` of
//! `@socket.io/redis-adapter` 8.x), which are those of `socket.io-adapter`'s `ClusterAdapter`:
//! `{type, data, uid, nsp}`, with no I/O.
//!
//! - Everything goes to `{key}#{nsp}#`, except a broadcast without acknowledgements to exactly
//!   one room, which goes to that room's channel `{key}#{nsp}#{room}#` in the dynamic
//!   subscription modes, and answers, which go to the requester's `{key}#{nsp}#{uid}#`.
//! - A message is JSON, or msgpack (notepack.io) when its data holds binary (only the types
//!   that may: broadcasts, acknowledgements, fetch answers and server-side events).
//! - Decoded messages become the same requests, broadcasts and responses as the classic
//!   adapter's ([`super::Request`], [`super::RemoteBroadcast`], [`super::Response`]), so one
//!   adapter carries out both.

use bytes::Bytes;
use switchboard_socketio::adapter::{BroadcastOptions, BroadcastPacket};
use switchboard_socketio_parser::{msgpack, Map, Value};

use super::{
    decode_body, decode_event_data, decode_opts, decode_packet, event_data, millis, object,
    opts_value, rooms, socket_value, strings, Answer, IncomingRequest, Outgoing, RemoteBroadcast,
    Request, RequestType, Response, Target, WireError, EVENT,
};

/// `socket.io-adapter`'s `MessageType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MessageType {
    InitialHeartbeat = 1,
    Heartbeat = 2,
    Broadcast = 3,
    SocketsJoin = 4,
    SocketsLeave = 5,
    DisconnectSockets = 6,
    FetchSockets = 7,
    FetchSocketsResponse = 8,
    ServerSideEmit = 9,
    ServerSideEmitResponse = 10,
    BroadcastClientCount = 11,
    BroadcastAck = 12,
    AdapterClose = 13,
}

impl MessageType {
    fn from_value(value: &Value) -> Option<Self> {
        use MessageType as T;
        Some(match value.as_u64()? {
            1 => T::InitialHeartbeat,
            2 => T::Heartbeat,
            3 => T::Broadcast,
            4 => T::SocketsJoin,
            5 => T::SocketsLeave,
            6 => T::DisconnectSockets,
            7 => T::FetchSockets,
            8 => T::FetchSocketsResponse,
            9 => T::ServerSideEmit,
            10 => T::ServerSideEmitResponse,
            11 => T::BroadcastClientCount,
            12 => T::BroadcastAck,
            13 => T::AdapterClose,
            _ => return None,
        })
    }

    /// Whether Node encodes this type as msgpack when its data holds binary.
    fn may_hold_binary(self) -> bool {
        matches!(
            self,
            MessageType::Broadcast
                | MessageType::BroadcastAck
                | MessageType::FetchSocketsResponse
                | MessageType::ServerSideEmit
                | MessageType::ServerSideEmitResponse
        )
    }
}

/// What a message asks of this server.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Incoming {
    /// Deliver a broadcast (no acknowledgements asked).
    Broadcast(RemoteBroadcast),
    /// Carry out a request and, for some, answer it.
    Request(IncomingRequest),
    /// An answer to a request.
    Response(Response),
    /// Heartbeats and goodbyes of the adapters that count servers by them (the sharded one
    /// counts subscribers instead).
    Ignored,
}

/// A message from another server of the namespace `nsp`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClusterMessage {
    pub(crate) uid: String,
    pub(crate) nsp: String,
    pub(crate) body: Incoming,
}

/// A message from pub/sub: JSON or msgpack.
pub(crate) fn decode(body: &Bytes) -> Result<ClusterMessage, WireError> {
    from_value(&decode_body(body)?)
}

/// A stream entry of Node's streams adapter: its fields `uid`, `nsp`, `type` (decimal) and
/// `data` (JSON, or base64 of msgpack).
pub(crate) fn decode_entry(fields: &[(Bytes, Bytes)]) -> Result<ClusterMessage, WireError> {
    let field = |name: &[u8]| fields.iter().find(|(k, _)| k == name).map(|(_, v)| v);
    let text = |name: &[u8]| {
        field(name)
            .and_then(|v| std::str::from_utf8(v).ok())
            .ok_or(WireError::Malformed("a field is missing or not text"))
    };
    let kind: u64 = text(b"type")?
        .parse()
        .map_err(|_| WireError::Malformed("type is not a number"))?;
    let mut message = object([
        ("uid", Value::from(text(b"uid")?)),
        ("nsp", Value::from(text(b"nsp")?)),
        ("type", Value::from(kind)),
    ]);
    if let (Some(data), Value::Object(map)) = (field(b"data"), &mut message) {
        let data = if data.first() == Some(&b'{') {
            decode_body(data)?
        } else {
            use base64::Engine as _;
            let packed = base64::engine::general_purpose::STANDARD
                .decode(data)
                .map_err(|_| WireError::Malformed("data is neither JSON nor base64"))?;
            msgpack::decode_value(&Bytes::from(packed))
                .map_err(|_| WireError::Malformed("invalid msgpack"))?
        };
        map.insert("data".into(), data);
    }
    from_value(&message)
}

fn from_value(value: &Value) -> Result<ClusterMessage, WireError> {
    let message = value
        .as_object()
        .ok_or(WireError::Malformed("a message is an object"))?;
    let string = |map: &Map, name: &str| map.get(name).and_then(Value::as_str).map(str::to_owned);
    let uid = string(message, "uid").ok_or(WireError::Malformed("no uid"))?;
    let nsp = string(message, "nsp").ok_or(WireError::Malformed("no nsp"))?;
    let kind = message
        .get("type")
        .and_then(MessageType::from_value)
        .ok_or(WireError::Malformed("unknown message type"))?;
    let empty = Map::new();
    let data = match message.get("data") {
        Some(Value::Object(data)) => data,
        None | Some(Value::Null) => &empty,
        Some(_) => return Err(WireError::Malformed("data is not an object")),
    };
    let field = |name: &str| data.get(name);
    let request_id = || string(data, "requestId").ok_or(WireError::Malformed("no requestId"));
    let selected = || decode_opts(field("opts")).map(Target::Selected);
    let request = |request| {
        Incoming::Request(IncomingRequest {
            uid: Some(uid.clone()),
            request,
        })
    };
    let response = |kind: Option<RequestType>, body: Map| -> Result<Incoming, WireError> {
        Ok(Incoming::Response(Response {
            request_id: request_id()?,
            kind,
            body,
        }))
    };
    use MessageType as T;
    let body = match kind {
        T::InitialHeartbeat | T::Heartbeat | T::AdapterClose => Incoming::Ignored,
        T::Broadcast => {
            let packet = field("packet").ok_or(WireError::Malformed("no packet"))?;
            // The message names the namespace; Node's packet usually does not.
            let (_, packet) = decode_packet(packet)?;
            let opts = decode_opts(field("opts"))?;
            match string(data, "requestId") {
                None => Incoming::Broadcast(RemoteBroadcast {
                    uid: uid.clone(),
                    nsp: nsp.clone(),
                    packet,
                    opts,
                }),
                Some(request_id) => {
                    let timeout = field("opts")
                        .and_then(Value::as_object)
                        .and_then(|o| o.get("flags"))
                        .and_then(Value::as_object)
                        .and_then(|f| f.get("timeout"))
                        .and_then(millis);
                    request(Request::BroadcastWithAck {
                        request_id,
                        packet,
                        nsp: nsp.clone(),
                        opts,
                        timeout,
                    })
                }
            }
        }
        T::SocketsJoin => request(Request::Join {
            request_id: None,
            target: selected()?,
            rooms: rooms(field("rooms"))?,
        }),
        T::SocketsLeave => request(Request::Leave {
            request_id: None,
            target: selected()?,
            rooms: rooms(field("rooms"))?,
        }),
        T::DisconnectSockets => request(Request::Disconnect {
            request_id: None,
            target: selected()?,
            close: matches!(field("close"), Some(Value::Bool(true))),
        }),
        T::FetchSockets => request(Request::Fetch {
            request_id: request_id()?,
            opts: decode_opts(field("opts"))?,
        }),
        T::ServerSideEmit => request(Request::ServerSideEmit {
            request_id: string(data, "requestId"),
            packet: decode_event_data(field("packet"))?,
        }),
        T::FetchSocketsResponse => response(None, data.clone())?,
        T::BroadcastClientCount => response(Some(RequestType::BroadcastClientCount), data.clone())?,
        T::BroadcastAck => response(Some(RequestType::BroadcastAck), data.clone())?,
        T::ServerSideEmitResponse => {
            // The classic adapter names a server's answer `data`; this one, `packet`.
            let mut body = data.clone();
            if let Some(answer) = body.shift_remove("packet") {
                body.insert("data".into(), answer);
            }
            response(Some(RequestType::ServerSideEmit), body)?
        }
    };
    Ok(ClusterMessage { uid, nsp, body })
}

/// A message to send, before it is framed for its way to the other servers.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ClusterOut {
    kind: MessageType,
    data: Value,
}

impl ClusterOut {
    /// Whether Node would carry this message's data as msgpack.
    fn binary(&self) -> bool {
        self.kind.may_hold_binary() && self.data.has_binary()
    }

    fn whole(self, uid: &str, nsp: &str) -> Value {
        object([
            ("type", Value::from(self.kind as u64)),
            ("data", self.data),
            ("uid", Value::from(uid)),
            ("nsp", Value::from(nsp)),
        ])
    }

    /// `{type, data, uid, nsp}`, in Node's key order: msgpack when the data holds binary and
    /// the type may carry it (as Node's sharded adapter decides), JSON otherwise.
    pub(crate) fn pubsub(self, uid: &str, nsp: &str) -> Bytes {
        if self.binary() {
            msgpack::encode_value(&self.whole(uid, nsp))
        } else {
            super::json(&self.whole(uid, nsp))
        }
    }

    /// The whole message as msgpack, as Node's streams adapter publishes over pub/sub.
    pub(crate) fn msgpack(self, uid: &str, nsp: &str) -> Bytes {
        msgpack::encode_value(&self.whole(uid, nsp))
    }

    /// The fields of a stream entry, as Node's streams adapter appends them: `uid`, `nsp`,
    /// `type` (in decimal) and `data`, JSON or, when it holds binary, base64 of msgpack.
    pub(crate) fn entry(self, uid: &str, nsp: &str) -> Vec<(&'static str, Bytes)> {
        let data = if self.binary() {
            use base64::Engine as _;
            let packed = msgpack::encode_value(&self.data);
            Bytes::from(base64::engine::general_purpose::STANDARD.encode(packed))
        } else {
            super::json(&self.data)
        };
        vec![
            ("uid", Bytes::copy_from_slice(uid.as_bytes())),
            ("nsp", Bytes::copy_from_slice(nsp.as_bytes())),
            ("type", Bytes::from((self.kind as u64).to_string())),
            ("data", data),
        ]
    }

    /// Whether Node's streams adapter sends this over pub/sub rather than the stream
    /// (broadcasts asking for acknowledgements, server-side events, fetches).
    pub(crate) fn ephemeral(&self) -> bool {
        match self.kind {
            MessageType::Broadcast => self
                .data
                .as_object()
                .is_some_and(|d| d.contains_key("requestId")),
            MessageType::ServerSideEmit | MessageType::FetchSockets => true,
            _ => false,
        }
    }
}

/// Node's packet object for an event, as its broadcast operator makes it (the namespace is the
/// message's).
fn packet_value(packet: &BroadcastPacket) -> Value {
    object([("type", Value::from(EVENT)), ("data", event_data(packet))])
}

/// A broadcast without acknowledgements.
pub(crate) fn broadcast(packet: &BroadcastPacket, opts: &BroadcastOptions) -> ClusterOut {
    let data = object([
        ("packet", packet_value(packet)),
        ("opts", opts_value(opts, None, true)),
    ]);
    ClusterOut {
        kind: MessageType::Broadcast,
        data,
    }
}

pub(crate) fn request(request: &Outgoing<'_>) -> ClusterOut {
    let (kind, data) = match *request {
        Outgoing::Fetch { request_id, opts } => (
            MessageType::FetchSockets,
            object([
                ("opts", opts_value(opts, None, true)),
                ("requestId", Value::from(request_id)),
            ]),
        ),
        Outgoing::Join { opts, rooms } => (
            MessageType::SocketsJoin,
            object([
                ("opts", opts_value(opts, None, true)),
                ("rooms", strings(rooms)),
            ]),
        ),
        Outgoing::Leave { opts, rooms } => (
            MessageType::SocketsLeave,
            object([
                ("opts", opts_value(opts, None, true)),
                ("rooms", strings(rooms)),
            ]),
        ),
        Outgoing::Disconnect { opts, close } => (
            MessageType::DisconnectSockets,
            object([
                ("opts", opts_value(opts, None, true)),
                ("close", Value::Bool(close)),
            ]),
        ),
        Outgoing::ServerSideEmit { request_id, packet } => {
            let mut data = Map::new();
            if let Some(request_id) = request_id {
                data.insert("requestId".into(), Value::from(request_id));
            }
            data.insert("packet".into(), event_data(packet));
            (MessageType::ServerSideEmit, Value::Object(data))
        }
        Outgoing::BroadcastWithAck {
            request_id,
            packet,
            opts,
            timeout,
            nsp: _,
        } => (
            MessageType::Broadcast,
            object([
                ("packet", packet_value(packet)),
                ("requestId", Value::from(request_id)),
                ("opts", opts_value(opts, Some(timeout), true)),
            ]),
        ),
    };
    ClusterOut { kind, data }
}

/// An answer, or `None` for those only the classic adapter's requests ask for.
pub(crate) fn answer(answer: &Answer<'_>) -> Option<ClusterOut> {
    let (kind, data) = match answer {
        Answer::Sockets {
            request_id,
            sockets,
        } => (
            MessageType::FetchSocketsResponse,
            object([
                ("requestId", Value::from(*request_id)),
                (
                    "sockets",
                    Value::Array(sockets.iter().map(socket_value).collect()),
                ),
            ]),
        ),
        Answer::ClientCount { request_id, count } => (
            MessageType::BroadcastClientCount,
            object([
                ("requestId", Value::from(*request_id)),
                ("clientCount", Value::from(*count as u64)),
            ]),
        ),
        Answer::ServerSideEmit { request_id, value } => (
            MessageType::ServerSideEmitResponse,
            object([
                ("requestId", Value::from(*request_id)),
                ("packet", (*value).clone()),
            ]),
        ),
        Answer::Ack { request_id, first } => {
            let mut data = Map::new();
            data.insert("requestId".into(), Value::from(*request_id));
            // An acknowledgement without arguments is `undefined` in Node: no key at all.
            if let Some(first) = first {
                data.insert("packet".into(), (*first).clone());
            }
            (MessageType::BroadcastAck, Value::Object(data))
        }
        Answer::SocketIds { .. } | Answer::Rooms { .. } | Answer::Done { .. } => return None,
    };
    Some(ClusterOut { kind, data })
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_socketio::adapter::BroadcastFlags;
    use switchboard_socketio::Room;

    fn encode_broadcast(uid: &str, nsp: &str, p: &BroadcastPacket, o: &BroadcastOptions) -> Bytes {
        broadcast(p, o).pubsub(uid, nsp)
    }

    fn encode_request(uid: &str, nsp: &str, r: &Outgoing<'_>) -> Bytes {
        request(r).pubsub(uid, nsp)
    }

    fn encode_answer(uid: &str, nsp: &str, a: &Answer<'_>) -> Option<Bytes> {
        answer(a).map(|m| m.pubsub(uid, nsp))
    }

    fn opts(rooms: &[&str], except: &[&str]) -> BroadcastOptions {
        BroadcastOptions {
            rooms: rooms.iter().map(|r| Room::from(*r)).collect(),
            except: except.iter().map(|r| Room::from(*r)).collect(),
            flags: BroadcastFlags::default(),
        }
    }

    fn packet(event: &str, args: Vec<Value>) -> BroadcastPacket {
        BroadcastPacket {
            event: event.into(),
            args,
        }
    }

    /// Messages as Node's sharded adapter (8.3.0 on socket.io-adapter 2.5.9) publishes them,
    /// captured with `redis-cli monitor`: ours are the same bytes, and theirs decode.
    #[test]
    fn node_s_messages_both_ways() {
        let uid = "c41799ec5f7b0f7a";
        let broadcast = br#"{"type":3,"data":{"packet":{"type":2,"data":["message",{"n":1}]},"opts":{"rooms":["r1"],"except":["x"],"flags":{"volatile":true}}},"uid":"c41799ec5f7b0f7a","nsp":"/"}"#;
        let message = packet("message", vec![serde_json::json!({"n": 1}).into()]);
        let mut to_r1 = opts(&["r1"], &["x"]);
        to_r1.flags.volatile = true;
        assert_eq!(
            &encode_broadcast(uid, "/", &message, &to_r1)[..],
            &broadcast[..]
        );
        let m = decode(&Bytes::from_static(broadcast)).expect("decodes");
        assert_eq!((m.uid.as_str(), m.nsp.as_str()), (uid, "/"));
        let Incoming::Broadcast(b) = m.body else {
            panic!("a broadcast: {:?}", m.body)
        };
        assert_eq!(
            (&b.packet, &b.opts.rooms, &b.opts.except),
            (&message, &to_r1.rooms, &to_r1.except)
        );
        assert!(b.opts.flags.local && b.opts.flags.volatile);

        // `io.emit("bin", Buffer.from([0, 1]))`: binary makes it msgpack.
        let binary = b"\x84\xa4type\x03\xa4data\x82\xa6packet\x82\xa4type\x02\xa4data\x92\xa3bin\xc4\x02\x00\x01\xa4opts\x83\xa5rooms\x90\xa6except\x90\xa5flags\x80\xa3uid\xb0c41799ec5f7b0f7a\xa3nsp\xa1/";
        let bin = packet("bin", vec![Value::Binary(Bytes::from_static(b"\x00\x01"))]);
        assert_eq!(
            &encode_broadcast(uid, "/", &bin, &opts(&[], &[]))[..],
            &binary[..]
        );
        let Incoming::Broadcast(b) = decode(&Bytes::from_static(binary)).expect("decodes").body
        else {
            panic!("a broadcast")
        };
        assert_eq!(b.packet, bin);

        let fetch = br#"{"type":7,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"requestId":"4ca8a638764be40d"},"uid":"c41799ec5f7b0f7a","nsp":"/"}"#;
        let all = opts(&[], &[]);
        let request = Outgoing::Fetch {
            request_id: "4ca8a638764be40d",
            opts: &all,
        };
        assert_eq!(&encode_request(uid, "/", &request)[..], &fetch[..]);
        assert!(matches!(
            decode(&Bytes::from_static(fetch)).expect("decodes").body,
            Incoming::Request(IncomingRequest { request: Request::Fetch { ref request_id, .. }, .. })
                if request_id == "4ca8a638764be40d"
        ));

        let fetched = br#"{"type":8,"data":{"requestId":"4ca8a638764be40d","sockets":[]},"uid":"20d0e0e7cfd6de2d","nsp":"/"}"#;
        let answer = Answer::Sockets {
            request_id: "4ca8a638764be40d",
            sockets: &[],
        };
        assert_eq!(
            encode_answer("20d0e0e7cfd6de2d", "/", &answer).as_deref(),
            Some(&fetched[..])
        );
        let Incoming::Response(r) = decode(&Bytes::from_static(fetched)).expect("decodes").body
        else {
            panic!("a response")
        };
        assert_eq!(r.sockets().map(|s| s.len()), Some(0));

        let ask = br#"{"type":9,"data":{"requestId":"80fb3eac1847a812","packet":["sse",5]},"uid":"c41799ec5f7b0f7a","nsp":"/"}"#;
        let sse = packet("sse", vec![Value::from(5)]);
        let request = Outgoing::ServerSideEmit {
            request_id: Some("80fb3eac1847a812"),
            packet: &sse,
        };
        assert_eq!(&encode_request(uid, "/", &request)[..], &ask[..]);

        let pong = br#"{"type":10,"data":{"requestId":"80fb3eac1847a812","packet":{"pong":5}},"uid":"20d0e0e7cfd6de2d","nsp":"/"}"#;
        let value = Value::from(serde_json::json!({"pong": 5}));
        let answer = Answer::ServerSideEmit {
            request_id: "80fb3eac1847a812",
            value: &value,
        };
        assert_eq!(
            encode_answer("20d0e0e7cfd6de2d", "/", &answer).as_deref(),
            Some(&pong[..])
        );
        let Incoming::Response(r) = decode(&Bytes::from_static(pong)).expect("decodes").body else {
            panic!("a response")
        };
        assert_eq!(
            (r.kind, r.server_answer()),
            (Some(RequestType::ServerSideEmit), value)
        );

        let join = br#"{"type":4,"data":{"opts":{"rooms":["a","b"],"except":[],"flags":{}},"rooms":["c"]},"uid":"c41799ec5f7b0f7a","nsp":"/"}"#;
        let ab = opts(&["a", "b"], &[]);
        let c = [Room::from("c")];
        assert_eq!(
            &encode_request(
                uid,
                "/",
                &Outgoing::Join {
                    opts: &ab,
                    rooms: &c
                }
            )[..],
            &join[..]
        );

        let disconnect = br#"{"type":6,"data":{"opts":{"rooms":[],"except":[],"flags":{}},"close":true},"uid":"c41799ec5f7b0f7a","nsp":"/"}"#;
        let request = Outgoing::Disconnect {
            opts: &all,
            close: true,
        };
        assert_eq!(&encode_request(uid, "/", &request)[..], &disconnect[..]);
        assert!(matches!(
            decode(&Bytes::from_static(disconnect))
                .expect("decodes")
                .body,
            Incoming::Request(IncomingRequest {
                request: Request::Disconnect { close: true, .. },
                ..
            })
        ));

        let heartbeat = br#"{"type":2,"uid":"u","nsp":"/"}"#;
        assert_eq!(
            decode(&Bytes::from_static(heartbeat)).map(|m| m.body),
            Ok(Incoming::Ignored)
        );
    }

    #[test]
    fn what_we_encode_decodes_to_the_same() {
        let p = packet(
            "ev",
            vec![
                Value::from("a"),
                Value::Binary(Bytes::from_static(b"\x00\x01")),
            ],
        );
        let o = opts(&["room"], &["sid"]);
        let body = encode_broadcast("me", "/", &p, &o);
        assert_ne!(body.first(), Some(&b'{'), "binary makes it msgpack");
        let Incoming::Broadcast(b) = decode(&body).expect("decodes").body else {
            panic!("a broadcast")
        };
        assert_eq!(
            (b.packet, b.opts.rooms, b.opts.except),
            (p.clone(), o.rooms.clone(), o.except.clone())
        );

        let text = packet("ev", vec![Value::from(1)]);
        let body = encode_request(
            "me",
            "/",
            &Outgoing::BroadcastWithAck {
                request_id: "id",
                nsp: "/",
                packet: &text,
                opts: &o,
                timeout: std::time::Duration::from_millis(1500),
            },
        );
        assert_eq!(body.first(), Some(&b'{'), "no binary, JSON");
        let Incoming::Request(IncomingRequest {
            request:
                Request::BroadcastWithAck {
                    request_id,
                    packet,
                    timeout,
                    ..
                },
            uid,
        }) = decode(&body).expect("decodes").body
        else {
            panic!("a broadcast with acks")
        };
        assert_eq!(
            (request_id.as_str(), packet, timeout, uid.as_deref()),
            (
                "id",
                text,
                Some(std::time::Duration::from_millis(1500)),
                Some("me")
            )
        );

        let value = Value::from("pong");
        let body = encode_answer(
            "me",
            "/",
            &Answer::ServerSideEmit {
                request_id: "q",
                value: &value,
            },
        )
        .expect("a cluster answer");
        let Incoming::Response(r) = decode(&body).expect("decodes").body else {
            panic!("a response")
        };
        assert_eq!((r.request_id.as_str(), r.server_answer()), ("q", value));
        assert!(encode_answer("me", "/", &Answer::Done { request_id: "q" }).is_none());
    }

    /// Numbers another server chose: too large for a `Duration` or a clock, they are ignored
    /// rather than panic.
    #[test]
    fn numbers_out_of_range_are_ignored() {
        let ask = br#"{"type":3,"data":{"packet":{"type":2,"data":["e"]},"requestId":"r","opts":{"rooms":[],"except":[],"flags":{"timeout":1e300}}},"uid":"u","nsp":"/"}"#;
        let Incoming::Request(IncomingRequest {
            request: Request::BroadcastWithAck { timeout, .. },
            ..
        }) = decode(&Bytes::from_static(ask)).expect("decodes").body
        else {
            panic!("a broadcast with acks")
        };
        assert_eq!(timeout, None);
        for issued in ["1e300", "18446744073709551615"] {
            let answer = format!(
                r#"{{"type":8,"data":{{"requestId":"r","sockets":[{{"id":"s","handshake":{{"issued":{issued}}}}}]}},"uid":"u","nsp":"/"}}"#
            );
            let Incoming::Response(r) = decode(&Bytes::from(answer)).expect("decodes").body else {
                panic!("a response")
            };
            assert_eq!(r.sockets().map(|s| s.len()), Some(1), "issued {issued}");
        }
    }

    #[test]
    fn malformed_messages_are_errors() {
        for body in [
            &b"{}"[..],
            br#"{"type":3,"uid":"u","nsp":"/","data":{}}"#,
            br#"{"type":99,"uid":"u","nsp":"/"}"#,
            br#"{"type":7,"uid":"u","nsp":"/","data":{"opts":{}}}"#,
            br#"{"type":3,"uid":"u","nsp":"/","data":[]}"#,
            b"\xc1",
        ] {
            assert!(decode(&Bytes::from_static(body)).is_err(), "{body:?}");
        }
    }
}
