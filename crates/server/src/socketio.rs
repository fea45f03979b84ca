//! Socket.IO in `switchboard serve`, at `/socket.io/`, sharing the room model of `/ws`.
//!
//! Namespace `/` offers the same three operations as the `/ws` JSON protocol, as events:
//! `subscribe` (room), `unsubscribe` (room), `publish` (room, data). A publish reaches the other
//! members of the room on both transports: Socket.IO sockets get the event `message` with
//! arguments `(data, room)`, `/ws` subscribers the usual `{"type":"message","room":…,"data":…}`.
//! A `/ws` publish reaches Socket.IO members of the room the same way. See docs/pubsub.md.
//!
//! With `--redis-url`, Socket.IO runs on the Redis adapter (Node's format) and the bridge spans
//! every server: each publish goes out as a Socket.IO broadcast to the room, and a broadcast
//! from another server that is a room's `message` reaches this server's `/ws` subscribers too.
//!
//! Namespace `/rtc` serves WebRTC signaling (crate::rtc, docs/rtc.md).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use switchboard_socketio::adapter::{BroadcastOptions, BroadcastPacket};
use switchboard_socketio::engine::{Cookie, Cors, HttpCompression, OnConnectionError};
use switchboard_socketio::{Ack, Args, Codec, Config, RecoveryConfig, Socket, SocketIo, Value};
use switchboard_socketio_redis::RedisAdapterFactory;
use switchboard_ws::{Message, PreparedMessage};

use crate::config::{ServeConfig, SocketIoParser};
use crate::pubsub::MAX_ROOM_NAME;
use crate::rooms::Rooms;

/// The server's Socket.IO instance, with the room bridge on namespace `/`, on the Redis
/// adapter when `redis` is given.
pub(crate) fn build(
    config: &ServeConfig,
    rooms: Arc<Rooms>,
    redis: Option<&Arc<RedisAdapterFactory>>,
    refused: Arc<[AtomicU64; 6]>,
) -> SocketIo {
    let mut sio = Config::default();
    // Counted for /metrics, by Node's error code; the engine logs each at debug level.
    sio.engine.on_connection_error = Some(OnConnectionError::new(move |error| {
        if let Some(count) = refused.get(usize::from(error.error.code())) {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }));
    if let Some(origins) = &config.allowed_origins {
        sio.engine.cors = Some(Cors {
            origins: origins.clone(),
            ..Cors::default()
        });
    }
    sio.codec = match config.socketio_parser {
        SocketIoParser::Text => Codec::Text,
        SocketIoParser::Msgpack => Codec::MsgPack,
    };
    sio.engine.http_compression = config
        .socketio_http_compression
        .then(HttpCompression::default);
    sio.engine.per_message_deflate = config
        .socketio_per_message_deflate
        .then(switchboard_ws::DeflateConfig::default);
    sio.engine.cookie = config.socketio_cookie.as_deref().map(Cookie::named);
    sio.connection_state_recovery = config.socketio_recovery.map(|duration| RecoveryConfig {
        max_disconnection_duration: duration,
        ..RecoveryConfig::default()
    });
    // One slow-consumer policy for every connection the server holds.
    sio.engine.outgoing_queue = config.send_queue;
    sio.engine.send_buffer = config.send_buffer;
    let io = match redis {
        Some(redis) => {
            let bridged = Arc::clone(&rooms);
            redis.on_remote_broadcast(move |nsp, packet, opts| {
                remote_to_ws(&bridged, nsp, packet, opts);
            });
            SocketIo::with_adapter(sio, Arc::clone(redis) as _)
        }
        None => SocketIo::new(sio),
    };
    if let Some(redis) = redis {
        // The sharded adapter (dynamic modes) follows a room's channel while the room has
        // members here: `/ws` subscribers count too. Weak: the factory's listener holds rooms.
        let redis = Arc::downgrade(redis);
        rooms.on_occupancy(move |room, occupied| {
            let Some(redis) = redis.upgrade() else { return };
            if occupied {
                redis.follow_room("/", room);
            } else {
                redis.unfollow_room("/", room);
            }
        });
    }
    io.ns("/", move |socket: Socket| {
        let rooms = Arc::clone(&rooms);
        async move { room_events(&socket, rooms) }
    });
    switchboard_rtc::RtcSignaling::attach(&io, config.rtc.config(config.turn.as_ref()));
    io
}

/// A room name from an event argument, within the `/ws` protocol's limits.
fn room_name(args: &[Value]) -> Option<String> {
    match args.first() {
        Some(Value::String(room)) if !room.is_empty() && room.len() <= MAX_ROOM_NAME => {
            Some(room.clone())
        }
        _ => None,
    }
}

fn room_events(socket: &Socket, rooms: Arc<Rooms>) {
    socket.on(
        "subscribe",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            match room_name(&args) {
                Some(room) => {
                    socket.join(room);
                    ack.send(&true);
                }
                None => ack.send(&false),
            }
        },
    );
    socket.on(
        "unsubscribe",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            match room_name(&args) {
                Some(room) => {
                    socket.leave(room);
                    ack.send(&true);
                }
                None => ack.send(&false),
            }
        },
    );
    socket.on(
        "publish",
        move |socket: Socket, Args(mut args): Args, ack: Ack| {
            let rooms = Arc::clone(&rooms);
            async move {
                let Some(room) = room_name(&args) else {
                    return ack.send(&false);
                };
                let data = if args.len() > 1 {
                    args.swap_remove(1)
                } else {
                    Value::Null
                };
                publish_to_ws(&rooms, &room, &data);
                let sent = socket
                    .to(room.as_str())
                    .emit_args("message", vec![data, Value::String(room)]);
                ack.send(&sent.is_ok());
            }
        },
    );
}

/// Delivers a Socket.IO publish to the room's `/ws` subscribers (binary as arrays of bytes:
/// the `/ws` protocol is JSON).
fn publish_to_ws(rooms: &Rooms, room: &str, data: &Value) {
    #[derive(serde::Serialize)]
    struct Outgoing<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        room: &'a str,
        data: serde_json::Value,
    }
    let message = Outgoing {
        kind: "message",
        room,
        data: switchboard_socketio::value::into_json(data.clone()),
    };
    if let Ok(json) = serde_json::to_string(&message) {
        let prepared = Arc::new(PreparedMessage::new(Message::text(json)));
        rooms.publish(room, None, &prepared);
    }
}

/// A broadcast from another server: a room's `message` (what the bridge sends) goes to this
/// server's `/ws` subscribers of the room.
fn remote_to_ws(rooms: &Rooms, nsp: &str, packet: &BroadcastPacket, opts: &BroadcastOptions) {
    if nsp != "/" || packet.event != "message" {
        return;
    }
    if let ([data, Value::String(room)], [target]) = (packet.args.as_slice(), opts.rooms.as_slice())
    {
        if **target == **room {
            publish_to_ws(rooms, room, data);
        }
    }
}

/// Delivers a `/ws` publish (its `data` JSON) to the room's Socket.IO members. Unless
/// `unseen` members may exist (on other servers, or disconnected and able to recover what they
/// missed), a room with no member here is skipped before anything is encoded.
pub(crate) fn publish_from_ws(io: &SocketIo, room: &str, data: &str, unseen: bool) {
    let receivers = io.to(room);
    if !unseen && !receivers.has_receivers() {
        return;
    }
    let data = serde_json::from_str(data)
        .map(switchboard_socketio::value::from_json)
        .unwrap_or(Value::Null);
    if let Err(e) = receivers.emit_args("message", vec![data, Value::String(room.to_owned())]) {
        tracing::warn!(room, error = %e, "publish to Socket.IO members failed");
    }
}
