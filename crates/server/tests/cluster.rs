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
use redis_process::{Redis, RedisCluster};
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

/// A Socket.IO client (raw Engine.IO over WebSocket) in `room` of namespace `/`, and the
/// server's CONNECT answer.
fn join_sio(port: u16, room: &str) -> (RawClient, Value) {
    let mut c = RawClient::connect(port, "/socket.io/?EIO=4&transport=websocket", "").0;
    assert!(next_text(&mut c).starts_with("0{"));
    c.send_text("40");
    let answer = next_text(&mut c);
    let connected = serde_json::from_str(answer.strip_prefix("40").unwrap()).unwrap();
    c.send_text(&format!("421{}", json!(["subscribe", room])));
    assert_eq!(next_text(&mut c), "431[true]");
    (c, connected)
}

fn subscribe_sio(port: u16, room: &str) -> RawClient {
    join_sio(port, room).0
}

/// Waits, up to 10 s, until `done` holds.
fn eventually(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !done() {
        assert!(std::time::Instant::now() < deadline, "{what}");
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

fn next_text(c: &mut RawClient) -> String {
    let (op, bytes) = c.read_message();
    assert_eq!(op, 1, "a text message");
    String::from_utf8(bytes).unwrap()
}

/// Waits until `servers` follow `room`'s channel: the sharded adapter subscribes to it a
/// moment after the room got its first member on a server (a `/ws` subscriber counts).
fn followed_by(
    shard_subscribers: &dyn Fn(&str) -> usize,
    sharded: bool,
    room: &str,
    servers: usize,
) {
    if !sharded {
        return;
    }
    let channel = format!("socket.io#/#{room}#");
    eventually(&format!("{room} followed by {servers}"), || {
        shard_subscribers(&channel) == servers
    });
}

/// `SHARDNUMSUB` of a channel on `redis`.
fn on(redis: &Redis) -> impl Fn(&str) -> usize + '_ {
    |channel| redis.subscribers("SHARDNUMSUB", channel)
}

#[test]
fn rooms_span_servers_over_redis_on_both_transports() {
    let Some(redis) = Redis::start() else { return };
    rooms_span_servers(&on(&redis), &["--redis-url", &redis.url()]);
}

#[test]
fn rooms_span_servers_over_the_sharded_adapter() {
    let Some(redis) = Redis::start() else { return };
    rooms_span_servers(
        &on(&redis),
        &["--redis-url", &redis.url(), "--redis-sharded", "dynamic"],
    );
}

/// On a Redis Cluster of three primaries, from one seed: `/ws` and Socket.IO rooms span
/// servers on the sharded adapter (each room's channel on the node owning its slot) and on the
/// streams adapter.
#[test]
fn rooms_span_servers_over_a_redis_cluster() {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let seed = cluster.urls()[1].clone();
    let count = |channel: &str| cluster.subscribers("SHARDNUMSUB", channel);
    for adapter in [&["--redis-sharded", "dynamic"][..], &["--redis-streams"]] {
        let mut args = vec!["--redis-url", seed.as_str(), "--redis-cluster"];
        args.extend_from_slice(adapter);
        rooms_span_servers(&count, &args);
    }
}

#[test]
fn rooms_span_servers_over_the_streams_adapter() {
    let Some(redis) = Redis::start() else { return };
    rooms_span_servers(
        &on(&redis),
        &["--redis-url", &redis.url(), "--redis-streams"],
    );
}

/// `rediss://`, with a private CA, a client certificate and an ACL user's password: the
/// sharded adapter's own subscriber connection and redis-rs's connections both take them.
#[test]
fn rooms_span_servers_over_tls() {
    let Some(redis) = Redis::start_tls() else {
        return;
    };
    let file = |name: &str| redis.tls_file(name).to_str().unwrap().to_owned();
    let (ca, cert, key) = (file("ca.pem"), file("client.pem"), file("client.key"));
    let url = redis.tls_url("s3cret");
    rooms_span_servers(
        &on(&redis),
        &[
            "--redis-url",
            &url,
            "--redis-sharded",
            "dynamic",
            "--redis-tls-ca",
            &ca,
            "--redis-tls-cert",
            &cert,
            "--redis-tls-key",
            &key,
        ],
    );
}

fn rooms_span_servers(shard_subscribers: &dyn Fn(&str) -> usize, args: &[&str]) {
    let sharded = args.contains(&"--redis-sharded");
    let a = Server::start(args);
    let b = Server::start(args);
    let mut ws_a = subscribe_ws(a.port, "lobby");
    let mut ws_b = subscribe_ws(b.port, "lobby");
    let mut sio_b = subscribe_sio(b.port, "lobby");
    let mut sio_a = subscribe_sio(a.port, "lobby");
    followed_by(shard_subscribers, sharded, "lobby", 2);

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
    followed_by(shard_subscribers, sharded, "solo", 1);
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
    followed_by(shard_subscribers, sharded, "solo", 0);
}

/// An EVENT's arguments, from its text frame.
fn event(text: &str) -> Vec<Value> {
    let json = text
        .strip_prefix("42")
        .unwrap_or_else(|| panic!("an EVENT, got {text}"));
    serde_json::from_str(json).unwrap()
}

/// A room `message` with its stream offset: `(data, offset)`.
fn message_with_offset(text: &str) -> (Value, String) {
    let args = event(text);
    assert_eq!(args.len(), 4, "message, data, room, offset: {text}");
    assert_eq!((&args[0], &args[2]), (&json!("message"), &json!("lobby")));
    let offset = args[3].as_str().unwrap().to_owned();
    let is_entry_id = offset
        .split_once('-')
        .is_some_and(|(ms, seq)| ms.parse::<u64>().is_ok() && seq.parse::<u64>().is_ok());
    assert!(is_entry_id, "the stream entry id as the offset: {offset}");
    (args[1].clone(), offset)
}

/// A Socket.IO client in room `lobby` on a server with connection-state recovery, and what
/// it needs to recover.
struct Roamer {
    client: RawClient,
    sid: String,
    pid: String,
    /// Of a first message, which a `/ws` publisher sent.
    offset: String,
}

fn roamer_in_lobby(port: u16, publisher: &mut RawClient) -> Roamer {
    let (mut client, connected) = join_sio(port, "lobby");
    publisher.send_text(r#"{"type":"publish","room":"lobby","data":"seen"}"#);
    let (data, offset) = message_with_offset(&next_text(&mut client));
    assert_eq!(data, json!("seen"));
    Roamer {
        client,
        sid: connected["sid"].as_str().unwrap().to_owned(),
        pid: connected["pid"].as_str().unwrap().to_owned(),
        offset,
    }
}

/// Comes back with `pid` and the last `offset` seen: the CONNECT answer's socket id and the
/// `missed` room messages that came with it (Node sends them before the answer, we after).
fn recover(port: u16, pid: &str, offset: &str, missed: usize) -> (RawClient, String, Vec<Value>) {
    let mut c = RawClient::connect(port, "/socket.io/?EIO=4&transport=websocket", "").0;
    assert!(next_text(&mut c).starts_with("0{"));
    c.send_text(&format!("40{}", json!({ "pid": pid, "offset": offset })));
    let mut messages = Vec::new();
    let mut sid = None;
    while sid.is_none() || messages.len() < missed {
        let text = next_text(&mut c);
        match text.strip_prefix("40") {
            Some(json) => {
                let answer: Value = serde_json::from_str(json).unwrap();
                sid = Some(answer["sid"].as_str().unwrap().to_owned());
            }
            None => messages.push(message_with_offset(&text).0),
        }
    }
    (c, sid.unwrap(), messages)
}

/// Waits until Redis holds the session of `pid`.
fn session_kept(redis: &Redis, pid: &str) -> String {
    let key = format!("sio:session:{pid}");
    eventually(&format!("{key} kept"), || redis.exists(&key));
    key
}

const RECOVERING_STREAMS: [&str; 3] = ["--redis-streams", "--socketio-recovery", "30"];

#[test]
fn a_socketio_client_recovers_on_another_server_over_the_streams_adapter() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    let args = [&["--redis-url", &url][..], &RECOVERING_STREAMS].concat();
    let a = Server::start(&args);
    let b = Server::start(&args);
    // A /ws subscriber on each server sees every publish to the room, which so is in the
    // stream by then.
    let mut ws_a = subscribe_ws(a.port, "lobby");
    let mut ws_b = subscribe_ws(b.port, "lobby");
    let mut publisher = subscribe_sio(a.port, "publishers");

    let Roamer {
        client: roamer,
        sid,
        pid,
        offset,
    } = roamer_in_lobby(a.port, &mut ws_b);
    next_json(&mut ws_a);

    // The connection drops; server a keeps the session in Redis.
    drop(roamer);
    let session = session_kept(&redis, &pid);

    // Missed meanwhile, from both servers and both transports; one for another room.
    ws_b.send_text(r#"{"type":"publish","room":"elsewhere","data":"not its room"}"#);
    ws_b.send_text(r#"{"type":"publish","room":"lobby","data":"missed 1"}"#);
    assert_eq!(next_json(&mut ws_a)["data"], "missed 1");
    publisher.send_text(r#"422["publish","lobby","missed 2"]"#);
    assert_eq!(next_text(&mut publisher), "432[true]");
    assert_eq!(next_json(&mut ws_b)["data"], "missed 2");
    ws_a.send_text(r#"{"type":"publish","room":"lobby","data":"missed 3"}"#);
    assert_eq!(next_json(&mut ws_b)["data"], "missed 3");

    // Back, on the server it never was on: the same socket, and what it missed, in order.
    let (mut back, back_sid, missed) = recover(b.port, &pid, &offset, 3);
    assert_eq!(back_sid, sid, "the same socket id");
    assert_eq!(
        missed,
        [json!("missed 1"), json!("missed 2"), json!("missed 3")]
    );
    assert!(!redis.exists(&session), "a session is restored once");

    // Its room came back with it: a live publish is the next thing it gets.
    ws_a.send_text(r#"{"type":"publish","room":"lobby","data":"live"}"#);
    assert_eq!(message_with_offset(&next_text(&mut back)).0, json!("live"));
}

#[test]
fn a_stopped_server_leaves_its_socketio_sessions_to_the_others() {
    let Some(redis) = Redis::start() else { return };
    let url = redis.url();
    // A shutdown timeout well past the wait below: a stop that only ends at its timeout fails.
    let args = [
        &["--redis-url", &url, "--shutdown-timeout", "30"][..],
        &RECOVERING_STREAMS,
    ]
    .concat();
    let mut a = Server::start(&args);
    let b = Server::start(&args);
    let mut ws_b = subscribe_ws(b.port, "lobby");
    let Roamer {
        client: mut roamer,
        sid,
        pid,
        offset,
    } = roamer_in_lobby(a.port, &mut ws_b);

    // A rolling restart: a stops gracefully, and its session is in Redis when it has exited.
    let status = a.terminate(std::time::Duration::from_secs(5));
    assert!(status.is_some_and(|s| s.success()), "{status:?}");
    assert!(
        redis.exists(&format!("sio:session:{pid}")),
        "the session was sent before the process exited"
    );
    // The client was not told to stay away (a DISCONNECT would stop it reconnecting): its
    // connection just closed.
    loop {
        match roamer.read_frame() {
            Some(frame) if frame.opcode == 1 => {
                assert!(!frame.payload.starts_with(b"41"), "told to leave");
            }
            Some(frame) if frame.opcode == 8 => break,
            Some(_) => {}
            None => break,
        }
    }

    // In the stream before the client is back, so that it comes from the replay.
    let entries = redis.stream_len("socket.io");
    ws_b.send_text(r#"{"type":"publish","room":"lobby","data":"missed"}"#);
    eventually("the publish appended", || {
        redis.stream_len("socket.io") != entries
    });
    let (_, back_sid, missed) = recover(b.port, &pid, &offset, 1);
    assert_eq!(back_sid, sid);
    assert_eq!(missed, [json!("missed")]);
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
