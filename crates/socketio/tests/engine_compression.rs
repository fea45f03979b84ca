//! Node's `httpCompression` (polling answers gzip'd or deflated from a threshold on, as
//! `lib/transports/polling.ts` does) and `perMessageDeflate` (off by default; when on, the
//! websocket transport accepts the client's offer and compresses from 1024 bytes on).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod engine_common;

use bytes::Bytes;
use engine_common::*;
use http::header;
use switchboard_engineio::{payload, v3, CloseReason, EncodedPacket, Message, Packet};
use switchboard_socketio::engine::{
    ConnHandle, Cors, Engine, EngineApp, EngineConfig, HttpCompression, RequestInfo,
};

// ---- httpCompression ------------------------------------------------------------------

#[tokio::test]
async fn polling_payloads_are_gzipped_by_default_at_the_threshold() {
    let engine = engine(EngineConfig::default());
    let (sid, _) = handshake(&engine, &[]).await;
    // "4" + 1023 bytes: exactly the 1024-byte threshold, which Node compresses.
    let text = "x".repeat(1023);
    let accept = [("accept-encoding", "gzip, deflate, br")];
    let response = echo_back(&engine, &sid, 4, EncodedPacket::text(&text), &accept).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "text/plain; charset=UTF-8"
    );
    assert_eq!(vary(response.headers()), ["Accept-Encoding"]);
    let compressed = body(response).await;
    assert!(compressed.len() < 100, "{} bytes", compressed.len());
    assert_eq!(gunzip(&compressed), format!("4{text}").into_bytes());

    // One byte less: below the threshold, sent as it is.
    let text = "x".repeat(1022);
    let response = echo_back(&engine, &sid, 4, EncodedPacket::text(&text), &accept).await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body(response).await, format!("4{text}"));
}

#[tokio::test]
async fn deflate_is_used_when_preferred_and_nothing_without_accept_encoding() {
    let engine = engine(EngineConfig::default());
    let (sid, _) = handshake(&engine, &[]).await;
    let text = "hello ".repeat(400);
    let response = echo_back(
        &engine,
        &sid,
        4,
        EncodedPacket::text(&text),
        &[("accept-encoding", "deflate, gzip;q=0.5")],
    )
    .await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "deflate");
    assert_eq!(
        inflate_zlib(&body(response).await),
        format!("4{text}").into_bytes()
    );

    for accept in [&[][..], &[("accept-encoding", "identity, br")][..]] {
        let response = echo_back(&engine, &sid, 4, EncodedPacket::text(&text), accept).await;
        assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
        assert_eq!(body(response).await, format!("4{text}"));
    }
}

#[tokio::test]
async fn compression_can_be_turned_off_or_given_another_threshold() {
    let off = engine(EngineConfig {
        http_compression: None,
        ..EngineConfig::default()
    });
    let (sid, _) = handshake(&off, &[]).await;
    let text = "y".repeat(5000);
    let response = echo_back(
        &off,
        &sid,
        4,
        EncodedPacket::text(&text),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert!(response.headers().get(header::VARY).is_none());
    assert_eq!(body(response).await.len(), 5001);

    // Threshold 0 (Node's "should set threshold"): even the open packet is compressed.
    let eager = engine(EngineConfig {
        http_compression: Some(HttpCompression {
            threshold: 0,
            level: 1,
        }),
        ..EngineConfig::default()
    });
    let (sid, open) = handshake(&eager, &[("accept-encoding", "gzip")]).await;
    assert_eq!(open.headers()[header::CONTENT_ENCODING], "gzip");
    let response = echo_back(
        &eager,
        &sid,
        4,
        EncodedPacket::text("hi"),
        &[("accept-encoding", "gzip")],
    )
    .await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    assert_eq!(gunzip(&body(response).await), b"4hi");
}

#[tokio::test]
async fn binary_payloads_are_compressed_in_v3_and_v4_alike() {
    let data: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
    let accept = [("accept-encoding", "gzip")];

    // v4: binary travels as base64 text (`b…`), compressed like any text payload.
    let v4 = engine(EngineConfig::default());
    let (sid, _) = handshake(&v4, &[]).await;
    let response = echo_back(&v4, &sid, 4, EncodedPacket::binary(data.clone()), &accept).await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let plain = gunzip(&body(response).await);
    assert_eq!(
        payload::decode_payload(&plain).unwrap(),
        [Packet::binary(Bytes::from(data.clone()))]
    );

    // v3 without b64: an XHR2 binary payload (application/octet-stream), compressed too.
    let mut config = EngineConfig::default();
    config.protocol.allow_eio3 = true;
    let v3_engine = engine(config);
    let open = call(&v3_engine, "GET", "EIO=3&transport=polling", &[], "").await;
    let open = String::from_utf8(body(open).await.to_vec()).unwrap();
    let sid = open.split("\"sid\":\"").nth(1).unwrap()[..20].to_owned();
    let response = echo_back(
        &v3_engine,
        &sid,
        3,
        EncodedPacket::binary(data.clone()),
        &accept,
    )
    .await;
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let plain = gunzip(&body(response).await);
    assert_eq!(
        v3::decode_payload(&plain, true).unwrap(),
        [Packet::binary(Bytes::from(data))]
    );
}

#[tokio::test]
async fn cors_and_compression_both_vary() {
    let engine = engine(EngineConfig {
        cors: Some(Cors::default()),
        ..EngineConfig::default()
    });
    let (sid, _) = handshake(&engine, &[]).await;
    let response = echo_back(
        &engine,
        &sid,
        4,
        EncodedPacket::text(&"z".repeat(2000)),
        &[("accept-encoding", "gzip"), ("origin", "http://a.example")],
    )
    .await;
    assert_eq!(response.headers()[header::CONTENT_ENCODING], "gzip");
    let mut varies = vary(response.headers());
    varies.sort();
    assert_eq!(varies, ["Accept-Encoding", "Origin"]);
}

/// Echoes messages flagged not to be compressed (Node's `compress: false`).
struct EchoUncompressed;

impl EngineApp for EchoUncompressed {
    type Session = ConnHandle;

    fn open(&self, conn: ConnHandle, _request: &RequestInfo) -> ConnHandle {
        conn
    }

    fn message(&self, conn: &mut ConnHandle, message: Message) {
        let _ = conn.send(EncodedPacket::message(&message).without_compression());
    }

    fn close(&self, _conn: ConnHandle, _reason: CloseReason) {}
}

#[tokio::test]
async fn polling_payloads_of_uncompressed_packets_are_sent_as_they_are() {
    let engine = Engine::new(EngineConfig::default(), EchoUncompressed);
    let (sid, _) = handshake(&engine, &[]).await;
    let query = format!("EIO=4&transport=polling&sid={sid}");
    let text = "4".to_owned() + &"y".repeat(4000);
    let post = payload::encode_payload([&EncodedPacket::text(&text[1..])]);
    let posted = call(&engine, "POST", &query, &[], post).await;
    assert_eq!(posted.status(), http::StatusCode::OK);
    let response = call(&engine, "GET", &query, &[("accept-encoding", "gzip")], "").await;
    assert!(response.headers().get(header::CONTENT_ENCODING).is_none());
    assert_eq!(body(response).await, text);
}

// ---- perMessageDeflate --------------------------------------------------------------

#[tokio::test]
async fn per_message_deflate_is_declined_by_default() {
    let addr = serve(engine(EngineConfig::default())).await;
    let mut ws = RawWs::connect(addr, DEFLATE_OFFER).await;
    assert!(ws.head.starts_with("HTTP/1.1 101"), "{}", ws.head);
    assert!(ws.header("sec-websocket-extensions").is_empty());
    let _open = ws.frame().await;
    let text = "4".to_owned() + &"abc".repeat(1000);
    ws.send_text(&text).await;
    let echo = ws.frame().await;
    assert_eq!(echo.first, 0x81, "FIN, no RSV1, text");
    assert_eq!(echo.payload, text.as_bytes());
}

#[tokio::test]
async fn per_message_deflate_compresses_messages_from_the_threshold_on() {
    let addr = serve(engine(EngineConfig {
        per_message_deflate: Some(switchboard_ws::DeflateConfig::default()),
        ..EngineConfig::default()
    }))
    .await;
    let mut ws = RawWs::connect(addr, DEFLATE_OFFER).await;
    assert!(ws.head.starts_with("HTTP/1.1 101"), "{}", ws.head);
    let extensions = ws.header("sec-websocket-extensions");
    assert_eq!(extensions.len(), 1);
    assert!(
        extensions[0].starts_with("permessage-deflate"),
        "{extensions:?}"
    );
    // The open packet is small: sent as it is.
    let open = ws.frame().await;
    assert_eq!(open.first, 0x81);

    let mut inflater = Inflater::new();
    for round in 0..2 {
        // A large compressible message comes back compressed (RSV1 set), twice: the second
        // one through the kept context.
        let text = format!("4{round}") + &"compressible ".repeat(400);
        ws.send_text(&text).await;
        let echo = ws.frame().await;
        assert_eq!(echo.first, 0xC1, "FIN, RSV1, text");
        assert!(echo.payload.len() < text.len() / 10);
        assert_eq!(inflater.inflate(&echo.payload), text.as_bytes());
    }
    // Below Node's 1024-byte threshold: plain.
    let small = "4".to_owned() + &"s".repeat(1000);
    ws.send_text(&small).await;
    let echo = ws.frame().await;
    assert_eq!(echo.first, 0x81);
    assert_eq!(echo.payload, small.as_bytes());
}
