//! The `switchboard serve` binary end to end: HTTP routes, handshake refusals, /ws pub/sub,
//! TLS, and graceful shutdown.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "../../../tests/support/certificates.rs"]
mod certificates;
mod common;

use std::process::Command;
use std::time::Duration;

use common::{http_request, RawClient, Server, KEY};
use switchboard_ws::Message;
use switchboard_ws_tokio::{connect, ClientConfig};

fn upgrade_head(port: u16, path: &str, extra: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {KEY}\r\n{extra}\r\n"
    )
}

#[test]
fn healthz_metrics_and_unknown_paths() {
    let server = Server::start(&[]);
    let (status, text) = http_request(server.port, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    assert!(text.ends_with("ok\n"), "{text}");
    let (status, _) = http_request(server.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 200);
    let (status, _) = http_request(server.port, "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(status, 404);

    // Socket.IO requests refused before a session, counted by Node's error code.
    for query in ["EIO=4&transport=polling&sid=nope", "EIO=4&transport=pigeon"] {
        let head = format!("GET /socket.io/?{query} HTTP/1.1\r\nHost: x\r\n\r\n");
        let (status, _) = http_request(server.port, &head);
        assert_eq!(status, 400, "{query}");
    }
    let (_, metrics) = http_request(server.port, "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    for (code, count) in [(0, 1), (1, 1), (4, 0)] {
        let line =
            format!("switchboard_socketio_requests_refused_total{{code=\"{code}\"}} {count}\n");
        assert!(metrics.contains(&line), "{line} in\n{metrics}");
    }
}

#[test]
fn handshake_refusals_carry_the_right_status() {
    let server = Server::start(&["--allowed-origin", "http://good.example"]);
    let port = server.port;
    let v13 = "Sec-WebSocket-Version: 13\r\n";
    let cases = [
        (upgrade_head(port, "/ws", "Sec-WebSocket-Version: 8\r\n"), 426),
        (upgrade_head(port, "/ws", ""), 400),
        (upgrade_head(port, "/ws", &format!("{v13}Origin: http://evil.example\r\n")), 403),
        (
            format!("GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{v13}\r\n"),
            400,
        ),
        (
            format!(
                "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n{v13}\
                 Sec-WebSocket-Key: tooshort\r\n\r\n"
            ),
            400,
        ),
        ("GET /ws HTTP/1.1\r\nHost: x\r\n\r\n".to_owned(), 400),
        (upgrade_head(port, "/ws", &format!("{v13}X-Big: {}\r\n", "a".repeat(20_000))), 431),
    ];
    for (head, status) in cases {
        let (got, text) = http_request(port, &head);
        assert_eq!(got, status, "{}\n---\n{text}", &head[..head.len().min(200)]);
        if status == 426 {
            assert!(
                text.to_ascii_lowercase()
                    .contains("sec-websocket-version: 13"),
                "{text}"
            );
        }
    }
    // The allowed origin gets through.
    let (_c, head) = RawClient::connect(port, "/ws", "Origin: http://good.example\r\n");
    assert!(head.starts_with("HTTP/1.1 101"));
}

fn subscribe_and_sync(c: &mut RawClient, room: &str) {
    c.send_text(&format!(r#"{{"type":"subscribe","room":"{room}"}}"#));
    c.send_text("sync");
    let (_, reply) = c.read_message();
    let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
    assert_eq!(reply["type"], "error");
}

#[test]
fn pubsub_delivers_to_every_other_subscriber_and_reports_errors() {
    let server = Server::start(&[]);
    let mut a = RawClient::connect(server.port, "/ws", "").0;
    let mut b = RawClient::connect(server.port, "/ws", "").0;
    let mut c = RawClient::connect(server.port, "/ws", "").0;
    subscribe_and_sync(&mut a, "lobby");
    subscribe_and_sync(&mut b, "lobby");
    subscribe_and_sync(&mut c, "other");
    a.send_text(r#"{"type":"publish","room":"lobby","data":{"n":[1,2,3],"s":"é"}}"#);
    let (op, got) = b.read_message();
    assert_eq!(op, 1);
    let got: serde_json::Value = serde_json::from_slice(&got).unwrap();
    assert_eq!(
        got,
        serde_json::json!({"type":"message","room":"lobby","data":{"n":[1,2,3],"s":"é"}})
    );
    // The publisher and the other room got nothing: their next reply is to their own request.
    for client in [&mut a, &mut c] {
        client.send_text(r#"{"type":"nonsense","room":"x"}"#);
        let (_, reply) = client.read_message();
        let reply: serde_json::Value = serde_json::from_slice(&reply).unwrap();
        assert_eq!(reply["type"], "error");
        assert!(reply["message"].as_str().unwrap().contains("unknown type"));
    }
    // Binary frames are refused politely; the connection stays usable.
    b.send_frame(true, 0, 2, b"\x00\x01");
    let (_, reply) = b.read_message();
    assert!(String::from_utf8_lossy(&reply).contains("binary"));
    // Unsubscribe stops delivery.
    b.send_text(r#"{"type":"unsubscribe","room":"lobby"}"#);
    b.send_text("sync");
    b.read_message();
    a.send_text(r#"{"type":"publish","room":"lobby","data":1}"#);
    b.send_text("sync");
    let (_, reply) = b.read_message();
    assert!(String::from_utf8_lossy(&reply).contains("\"error\""));
}

#[tokio::test]
async fn our_client_talks_to_our_server_over_tls() {
    let dir = std::env::temp_dir().join(format!("sb-tls-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (ca, cert, key) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    certificates::make_test_certificates(&dir);
    let server = Server::start(&[
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]);
    let config = ClientConfig {
        tls: Some(switchboard_ws_tokio::tls::client_config(Some(&ca)).unwrap()),
        ..ClientConfig::default()
    };
    let url = format!("wss://localhost:{}/ws/echo", server.port);
    let (mut ws, _) = connect(&url, config).await.unwrap();
    ws.send(Message::text("over TLS")).await.unwrap();
    let echoed = tokio::time::timeout(Duration::from_secs(5), ws.recv())
        .await
        .unwrap();
    assert_eq!(echoed.unwrap().unwrap(), Message::text("over TLS"));
    ws.close(switchboard_ws::CloseCode::NORMAL, "")
        .await
        .unwrap();
    let _ = std::fs::remove_dir_all(dir);
}

#[test]
fn sigterm_closes_websockets_with_1001_and_exits() {
    let mut server = Server::start(&["--shutdown-timeout", "5"]);
    let mut clients: Vec<RawClient> = (0..3).map(|_| RawClient::echo(server.port)).collect();
    let mut subscriber = RawClient::connect(server.port, "/ws", "").0;
    subscribe_and_sync(&mut subscriber, "r");
    clients.push(subscriber);
    let _ = Command::new("kill")
        .args(["-TERM", &server.child.id().to_string()])
        .status();
    for c in &mut clients {
        assert_eq!(c.expect_close(), Some(1001));
        // Complete the close handshake as a well-behaved client.
        c.send_frame(true, 0, 8, &1001u16.to_be_bytes());
    }
    let status = server
        .terminate(Duration::from_secs(8))
        .expect("server exits within the timeout");
    assert!(status.success(), "{status:?}");
    // Nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", server.port)).is_err());
}

#[test]
fn a_slow_consumer_is_closed_with_1008_and_others_carry_on() {
    let server = Server::start(&["--send-queue", "64", "--send-buffer", "65536"]);
    let mut slow = RawClient::connect(server.port, "/ws", "").0;
    let mut healthy = RawClient::connect(server.port, "/ws", "").0;
    let mut publisher = RawClient::connect(server.port, "/ws", "").0;
    subscribe_and_sync(&mut slow, "firehose");
    subscribe_and_sync(&mut healthy, "firehose");
    // `slow` stops reading now. Publish far more than its queue, buffer and the kernel's
    // socket buffers can hold, while `healthy` keeps reading.
    let payload = "p".repeat(4096);
    let (batch, total) = (40, 3000);
    let (progress_tx, progress_rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for got in 1..=total {
            let (_, body) = healthy.read_message();
            assert!(body.starts_with(br#"{"type":"message""#));
            let _ = progress_tx.send(got);
        }
    });
    for i in 0..total {
        publisher.send_text(&format!(
            r#"{{"type":"publish","room":"firehose","data":"{i}{payload}"}}"#
        ));
        // Keep the healthy subscriber within one batch of the publisher: it is slower than the
        // server (a debug-build test client), and that is not what this test is about.
        if (i + 1) % batch == 0 {
            while progress_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("healthy keeps up")
                < i + 1
            {}
        }
    }
    reader
        .join()
        .expect("the healthy subscriber got every message");
    // The slow one, once it reads again, finds its queue was cut off with 1008.
    assert_eq!(slow.expect_close(), Some(1008));
    // The publisher is unaffected.
    publisher.send_text("ping?");
    let (_, reply) = publisher.read_message();
    assert!(String::from_utf8_lossy(&reply).contains("\"error\""));
}
