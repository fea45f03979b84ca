//! Two `switchboard serve --redis-url` processes sharing a private `redis-server`: a room's
//! messages reach its `/ws` subscribers and its Socket.IO members on both servers, whichever
//! transport and server published them. A server whose Redis cannot be reached does not start.
//!
//! Skipped without `redis-server` unless `SWITCHBOARD_INTEROP` is set (scripts/test.sh).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
#[path = "../../socketio-redis/tests/redis_process/mod.rs"]
mod redis_process;

use std::process::{Command, Stdio};

use common::{RawClient, Server};
use redis_process::Redis;
use serde_json::{json, Value};

fn subscribe_ws(port: u16, room: &str) -> RawClient {
    let mut c = RawClient::connect(port, "/ws", "").0;
    c.send_text(&json!({ "type": "subscribe", "room": room }).to_string());
    // The reply to a bad request comes after the subscription is in place.
    c.send_text("sync");
    let (_, reply) = c.read_message();
    assert_eq!(
        serde_json::from_slice::<Value>(&reply).unwrap()["type"],
        "error"
    );
    c
}

fn next_json(c: &mut RawClient) -> Value {
    let (op, bytes) = c.read_message();
    assert_eq!(op, 1, "a text message");
    serde_json::from_slice(&bytes).unwrap()
}

/// A Socket.IO client (raw Engine.IO over WebSocket) in `room` of namespace `/`.
fn subscribe_sio(port: u16, room: &str) -> RawClient {
    let mut c = RawClient::connect(port, "/socket.io/?EIO=4&transport=websocket", "").0;
    assert!(next_text(&mut c).starts_with("0{"));
    c.send_text("40");
    assert!(next_text(&mut c).starts_with("40{"));
    c.send_text(&format!("421{}", json!(["subscribe", room])));
    assert_eq!(next_text(&mut c), "431[true]");
    c
}

fn next_text(c: &mut RawClient) -> String {
    let (op, bytes) = c.read_message();
    assert_eq!(op, 1, "a text message");
    String::from_utf8(bytes).unwrap()
}

/// Waits until `servers` follow `room`'s channel: the sharded adapter subscribes to it a
/// moment after the room got its first member on a server (a `/ws` subscriber counts).
fn followed_by(redis: &Redis, sharded: bool, room: &str, servers: usize) {
    if !sharded {
        return;
    }
    let channel = format!("socket.io#/#{room}#");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while redis.subscribers("SHARDNUMSUB", &channel) != servers {
        assert!(
            std::time::Instant::now() < deadline,
            "{room} followed by {servers}"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

#[test]
fn rooms_span_servers_over_redis_on_both_transports() {
    rooms_span_servers(&[]);
}

#[test]
fn rooms_span_servers_over_the_sharded_adapter() {
    rooms_span_servers(&["--redis-sharded", "dynamic"]);
}

fn rooms_span_servers(adapter: &[&str]) {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    let sharded = !adapter.is_empty();
    let a = Server::start(&[&["--redis-url", &url][..], adapter].concat());
    let b = Server::start(&[&["--redis-url", &url][..], adapter].concat());
    let mut ws_a = subscribe_ws(a.port, "lobby");
    let mut ws_b = subscribe_ws(b.port, "lobby");
    let mut sio_b = subscribe_sio(b.port, "lobby");
    let mut sio_a = subscribe_sio(a.port, "lobby");
    followed_by(&redis, sharded, "lobby", 2);

    // A /ws publish on b.
    ws_b.send_text(r#"{"type":"publish","room":"lobby","data":{"n":1}}"#);
    let message = json!({ "type": "message", "room": "lobby", "data": { "n": 1 } });
    assert_eq!(next_json(&mut ws_a), message);
    assert_eq!(next_text(&mut sio_b), r#"42["message",{"n":1},"lobby"]"#);
    assert_eq!(next_text(&mut sio_a), r#"42["message",{"n":1},"lobby"]"#);

    // A Socket.IO publish on a.
    sio_a.send_text(r#"422["publish","lobby","hi"]"#);
    assert_eq!(next_text(&mut sio_a), "432[true]");
    let message = json!({ "type": "message", "room": "lobby", "data": "hi" });
    assert_eq!(next_json(&mut ws_a), message);
    assert_eq!(next_json(&mut ws_b), message);
    assert_eq!(next_text(&mut sio_b), r#"42["message","hi","lobby"]"#);

    // A room with /ws subscribers only, on one server: no Socket.IO member anywhere.
    let mut solo_a = subscribe_ws(a.port, "solo");
    followed_by(&redis, sharded, "solo", 1);
    ws_b.send_text(r#"{"type":"publish","room":"solo","data":2}"#);
    let solo = json!({ "type": "message", "room": "solo", "data": 2 });
    assert_eq!(next_json(&mut solo_a), solo);

    // Nothing else arrived: a last publish from a is the next thing everyone else sees.
    ws_a.send_text(r#"{"type":"publish","room":"lobby","data":"last"}"#);
    let message = json!({ "type": "message", "room": "lobby", "data": "last" });
    assert_eq!(next_json(&mut ws_b), message);
    assert_eq!(next_text(&mut sio_a), r#"42["message","last","lobby"]"#);
    assert_eq!(next_text(&mut sio_b), r#"42["message","last","lobby"]"#);

    // Once its last subscriber left, a server stops following the room.
    drop(solo_a);
    followed_by(&redis, sharded, "solo", 0);
}

#[test]
fn a_server_whose_redis_is_unreachable_does_not_start() {
    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--redis-url", &format!("redis://127.0.0.1:{port}/")])
        .stdin(Stdio::null())
        .output()
        .expect("run switchboard");
    assert!(!out.status.success());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("listening"), "{stdout}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cannot connect to Redis"), "{stderr}");
}
