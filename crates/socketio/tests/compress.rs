//! Node's per-emit `compress` flag: `socket.compress(false)` and `io.compress(false)` send
//! without permessage-deflate (and without HTTP compression over polling), while the default
//! emits are compressed; seen on the raw frames' RSV1 bit.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;
mod engine_common;

use engine_common::{Inflater, RawWs, DEFLATE_OFFER};
use switchboard_socketio::engine::EngineConfig;
use switchboard_socketio::{Config, Socket, SocketIo};

const RSV1: u8 = 0x40;

#[tokio::test]
async fn compress_false_emits_skip_permessage_deflate_on_sockets_and_broadcasts() {
    let io = SocketIo::new(Config {
        engine: EngineConfig {
            per_message_deflate: Some(switchboard_ws::DeflateConfig::default()),
            ..EngineConfig::default()
        },
        ..Config::default()
    });
    let big = "compressible ".repeat(200);
    let payload = big.clone();
    io.ns("/", move |socket: Socket| {
        let big = payload.clone();
        async move {
            socket.emit("default", &big).unwrap();
            socket.compress(false).emit("plain", &big).unwrap();
            socket.compress(true).emit("explicit", &big).unwrap();
            socket
                .namespace()
                .compress(false)
                .emit("bc-plain", &big)
                .unwrap();
            socket.namespace().emit("bc-default", &big).unwrap();
            socket
                .volatile()
                .compress(false)
                .emit("volatile-plain", &big)
                .unwrap();
        }
    });
    let addr = common::serve(io).await;
    let mut ws = RawWs::connect_to(addr, "/socket.io/", DEFLATE_OFFER).await;
    assert!(ws.head.starts_with("HTTP/1.1 101"), "{}", ws.head);
    let _open = ws.frame().await;
    ws.send_text("40").await;
    let connected = ws.frame().await;
    assert!(connected.payload.starts_with(b"40{"));

    let mut inflater = Inflater::new();
    let expected = [
        ("default", true),
        ("plain", false),
        ("explicit", true),
        ("bc-plain", false),
        ("bc-default", true),
        ("volatile-plain", false),
    ];
    for (event, compressed) in expected {
        let frame = ws.frame().await;
        assert_eq!(frame.first & RSV1 != 0, compressed, "{event}: RSV1");
        let text = if compressed {
            inflater.inflate(&frame.payload)
        } else {
            frame.payload
        };
        let packet: serde_json::Value =
            serde_json::from_slice(text.strip_prefix(b"42").expect("an event")).unwrap();
        assert_eq!(packet, serde_json::json!([event, big]), "{event}");
    }
}
