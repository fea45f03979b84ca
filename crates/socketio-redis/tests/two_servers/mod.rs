//! What the tests of two servers on the Redis adapter share: the application on `/`, clients,
//! and waiting for broadcasts.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use serde_json::json;
use switchboard_socketio::{BroadcastOperator, Socket, SocketIo, Value};
use switchboard_socketio_redis::{RedisAdapterConfig, StreamsConfig, SubscriptionMode};

use crate::common::Client;

/// Which adapter a test runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Node's `createAdapter` (pub/sub).
    Classic,
    /// Node's `createShardedAdapter` (sharded pub/sub), in its default dynamic mode.
    Sharded,
    /// Node's `@socket.io/redis-streams-adapter`.
    Streams,
}

impl Kind {
    /// The adapter's default settings.
    pub fn config(self) -> RedisAdapterConfig {
        match self {
            Kind::Classic => RedisAdapterConfig::default(),
            Kind::Sharded => RedisAdapterConfig {
                sharded: Some(SubscriptionMode::Dynamic),
                ..RedisAdapterConfig::default()
            },
            Kind::Streams => RedisAdapterConfig {
                streams: Some(StreamsConfig::default()),
                ..RedisAdapterConfig::default()
            },
        }
    }
}

/// Runs the test function `name(kind)` on every adapter (`Kind` in scope at the crate root), as `name::classic`,
/// `name::sharded` and `name::streams`, with the given `#[tokio::test]` arguments.
macro_rules! on_every_adapter {
    ($name:ident $(, $($runtime:tt)*)?) => {
        mod $name {
            #[tokio::test$(($($runtime)*))?]
            async fn classic() {
                super::$name(super::Kind::Classic).await;
            }

            #[tokio::test$(($($runtime)*))?]
            async fn sharded() {
                super::$name(super::Kind::Sharded).await;
            }

            #[tokio::test$(($($runtime)*))?]
            async fn streams() {
                super::$name(super::Kind::Streams).await;
            }
        }
    };
}

/// The application on `/`: a socket joins `auth.room` and keeps `{name: auth.name}` as data.
pub async fn join_auth_room(socket: Socket) {
    let auth = socket.handshake().auth.as_object();
    if let Some(room) = auth.and_then(|a| a.get("room")).and_then(Value::as_str) {
        socket.join(room.to_owned());
    }
    let name = auth.and_then(|a| a.get("name")).cloned();
    socket.set_data(&json!({ "name": name })).unwrap();
}

/// A client of `/` with `{name, room}` as its auth.
pub async fn client(addr: SocketAddr, name: &str, room: Option<&str>) -> Client {
    Client::connect_with(addr, Some(json!({ "name": name, "room": room })))
        .await
        .0
}

pub fn ns(io: &SocketIo) -> BroadcastOperator {
    io.of("/").expect("namespace /")
}

/// Asserts the next packet is event `event` with `args`.
pub async fn expect_event(client: &mut Client, event: &str, args: serde_json::Value) {
    let got = client.next().await;
    let mut want = vec![json!(event)];
    want.extend(args.as_array().cloned().unwrap_or_default());
    assert_eq!(got.data, json!(want), "client {}", client.id);
}

/// Emits through `from` until `to` hears it (subscriptions and reconnections take their time);
/// returns the other events `to` heard meanwhile.
pub async fn emit_until_heard(
    from: &BroadcastOperator,
    to: &mut Client,
    event: &str,
    within: Duration,
) -> Vec<String> {
    let mut skipped = Vec::new();
    let deadline = Instant::now() + within;
    let mut n = 0u64;
    loop {
        n += 1;
        let _ = from.emit(event, &n);
        // Late copies of an earlier event may come first: skip them.
        let window = Instant::now() + Duration::from_millis(200);
        while let Ok(got) = tokio::time::timeout_at(window.into(), to.next()).await {
            if got.event() == event {
                return skipped;
            }
            skipped.push(got.event().to_owned());
        }
        assert!(
            Instant::now() < deadline,
            "{event}: nothing heard in {within:?}"
        );
    }
}
