//! Signaling served on a Socket.IO server in-process, through a real connection: the join
//! authorization hook, and answers to events sent without an acknowledgement.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

#[path = "../../socketio/tests/common/mod.rs"]
mod common;

use common::{serve, Client};
use serde_json::json;
use switchboard_rtc::{RtcConfig, RtcSignaling};
use switchboard_socketio::{Config, Socket, SocketIo};

fn server() -> (SocketIo, RtcSignaling) {
    let io = SocketIo::new(Config::default());
    let rtc = RtcSignaling::builder(RtcConfig::default())
        .authorize(|socket: Socket, request| async move {
            let auth: serde_json::Value =
                switchboard_socketio::value::from_value(socket.handshake().auth.clone())
                    .unwrap_or_default();
            if request.room.starts_with("private-") && auth["token"] != "let-me-in" {
                Err("members only".to_owned())
            } else {
                Ok(())
            }
        })
        .attach(&io);
    (io, rtc)
}

#[tokio::test]
async fn the_authorization_hook_decides_joins() {
    let (io, rtc) = server();
    let addr = serve(io).await;
    let (mut stranger, _) = Client::connect_to(addr, "/rtc", None).await;
    stranger
        .emit(
            Some(1),
            "join",
            json!([{ "room": "private-club", "name": "s" }]),
        )
        .await;
    let answer = stranger.next().await;
    assert_eq!(answer.id, Some(1));
    assert_eq!(
        answer.data,
        json!([{ "ok": false, "error": { "code": "forbidden", "message": "members only" } }])
    );
    assert_eq!(rtc.room_size("private-club"), 0, "the room was not touched");

    let (mut member, _) =
        Client::connect_to(addr, "/rtc", Some(json!({ "token": "let-me-in" }))).await;
    member
        .emit(
            Some(2),
            "join",
            json!([{ "room": "private-club", "name": "m" }]),
        )
        .await;
    let answer = member.next().await;
    assert_eq!(answer.data[0]["ok"], true);
    assert_eq!(
        answer.data[0]["iceServers"],
        json!([]),
        "no TURN configured"
    );
    assert_eq!(rtc.room_size("private-club"), 1);
}

#[tokio::test]
async fn refusals_without_an_ack_come_as_rtc_error_events() {
    let (io, _) = server();
    let addr = serve(io).await;
    let (mut client, _) = Client::connect_to(addr, "/rtc", None).await;
    client.emit(None, "leave", json!([])).await;
    let error = client.next().await;
    assert_eq!(
        error.data,
        json!(["rtc-error", { "event": "leave", "code": "not-joined", "message": "not in a room" }])
    );
    client.emit(None, "signal", json!(["not an object"])).await;
    let error = client.next().await;
    assert_eq!(error.data[1]["code"], "bad-request");
}
