//! Connection-state recovery: a socket whose connection drops comes back with its id, rooms,
//! data and the packets broadcast to it meanwhile; otherwise it starts afresh.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::sync::Arc;

use tokio::sync::Notify;

use common::{serve, Client};
use serde_json::json;
use switchboard_socketio::{Args, Config, RecoveryConfig, Socket, SocketIo, Value};

/// A server, and a notification for every socket that disconnects.
fn server(recovery: Option<RecoveryConfig>) -> (SocketIo, Arc<Notify>) {
    let io = SocketIo::new(Config {
        connection_state_recovery: recovery,
        ..Config::default()
    });
    let left = Arc::new(Notify::new());
    let notify = Arc::clone(&left);
    io.ns("/", move |socket: Socket| {
        let notify = Arc::clone(&notify);
        async move {
            socket.on_disconnect(move |_, _| {
                let notify = Arc::clone(&notify);
                async move { notify.notify_one() }
            });
            if !socket.recovered() {
                let _ = socket.set_data(&json!({ "name": "ann" }));
                socket.join("news");
            }
            let name: serde_json::Value = socket.data().expect("data");
            let _ = socket.emit_args(
                "hello",
                vec![
                    Value::Bool(socket.recovered()),
                    Value::String(name["name"].to_string()),
                ],
            );
            socket.on("leave", |socket: Socket| async move { socket.disconnect() });
            socket.on("echo", |socket: Socket, Args(args): Args| async move {
                let _ = socket.emit_args("echo", args);
            });
        }
    });
    (io, left)
}

async fn disconnected(left: &Notify) {
    tokio::time::timeout(common::WAIT, left.notified())
        .await
        .expect("the server notices the drop");
}

/// The offset the server appended to an event (its last argument).
fn offset(data: &serde_json::Value) -> String {
    let args = data.as_array().expect("an array");
    args.last()
        .and_then(|v| v.as_str())
        .expect("an offset")
        .to_owned()
}

#[tokio::test]
async fn a_dropped_connection_recovers_its_socket_and_missed_packets() {
    let (io, left) = server(Some(RecoveryConfig::default()));
    let addr = serve(io.clone()).await;
    let (mut first, connected) = Client::connect_with(addr, None).await;
    let pid = connected["pid"].as_str().expect("a pid").to_owned();
    assert_ne!(pid, first.id);
    let hello = first.next().await;
    assert_eq!(hello.data[0], "hello");
    assert_eq!(hello.data[1], false);
    let last_seen = offset(&hello.data);
    let sid = first.id.clone();
    first.drop_connection().await;

    // Broadcast while it is away, once the server saw it leave.
    disconnected(&left).await;
    io.to("news").emit("story", &1).expect("emit");
    io.to("sports").emit("score", &2).expect("emit");
    io.broadcast().emit("all", &3).expect("emit");

    let (mut back, connected) =
        Client::connect_with(addr, Some(json!({ "pid": pid, "offset": last_seen }))).await;
    assert_eq!(back.id, sid, "same socket id");
    assert_eq!(connected["pid"], pid.as_str(), "same private id");
    let story = back.next().await;
    assert_eq!(story.data[0], "story");
    assert_eq!(story.data[1], 1);
    let all = back.next().await;
    assert_eq!(all.data[0], "all", "the room it was not in is skipped");
    let hello = back.next().await;
    assert_eq!(hello.data[0], "hello");
    assert_eq!(hello.data[1], true, "socket.recovered()");
    assert_eq!(hello.data[2], "\"ann\"", "data kept");
    assert!(io.to("news").has_receivers(), "rooms kept");
    back.emit(None, "echo", json!(["x"])).await;
    let echo = back.next().await;
    assert_eq!(echo.data[1], "x");
    assert_ne!(
        offset(&echo.data),
        offset(&story.data),
        "offsets keep counting"
    );

    // It can drop and come back again, with nothing missed this time.
    back.drop_connection().await;
    disconnected(&left).await;
    let (mut again, connected) = Client::connect_with(
        addr,
        Some(json!({ "pid": pid, "offset": offset(&echo.data) })),
    )
    .await;
    assert_eq!(again.id, sid);
    assert_eq!(connected["pid"], pid.as_str());
    let hello = again.next().await;
    assert_eq!(hello.data[0], "hello", "no missed packet before it");
    assert_eq!(hello.data[1], true);
}

#[tokio::test]
async fn leaving_on_purpose_or_unknown_sessions_start_afresh() {
    let (io, left) = server(Some(RecoveryConfig::default()));
    let addr = serve(io).await;
    let (mut first, connected) = Client::connect_with(addr, None).await;
    let pid = connected["pid"].as_str().expect("pid").to_owned();
    let hello = first.next().await;
    let seen = offset(&hello.data);
    first.send("41").await; // leaves the namespace: nothing to recover
    disconnected(&left).await;
    let (mut second, _) =
        Client::connect_with(addr, Some(json!({ "pid": pid, "offset": seen }))).await;
    assert_ne!(second.id, first.id);
    assert_eq!(second.next().await.data[1], false);

    let (mut forged, _) =
        Client::connect_with(addr, Some(json!({ "pid": "forged", "offset": "0" }))).await;
    assert_eq!(forged.next().await.data[1], false);
}

#[tokio::test]
async fn without_recovery_there_is_no_pid_and_no_offset() {
    let (io, _) = server(None);
    let addr = serve(io).await;
    let (mut client, connected) = Client::connect_with(addr, None).await;
    assert!(connected.get("pid").is_none());
    let hello = client.next().await;
    assert_eq!(hello.data, json!(["hello", false, "\"ann\""]));
}
