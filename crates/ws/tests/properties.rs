//! Property tests: arbitrary input never panics and stays within limits; arbitrary messages
//! survive any split into reads, with and without compression.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::Instant;

use proptest::prelude::*;
use switchboard_ws::handshake::{
    accept_request, parse_request, ServerPolicy, DEFAULT_MAX_HEAD_SIZE,
};
use switchboard_ws::{
    CloseCode, Config, Connection, DeflateConfig, DeflateParams, Event, Message, Role,
};

fn params() -> DeflateParams {
    DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    }
}

fn message() -> impl Strategy<Value = Message> {
    prop_oneof![
        ".{0,300}".prop_map(Message::text),
        proptest::collection::vec(any::<u8>(), 0..3000).prop_map(Message::binary),
        (0usize..70_000).prop_map(|n| Message::binary(vec![b'z'; n])),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_and_closes_use_wire_codes(
        input in proptest::collection::vec(any::<u8>(), 0..4096),
        chunk in 1usize..64,
        deflate in any::<bool>(),
    ) {
        let now = Instant::now();
        let config = Config { max_frame_size: 1024, max_message_size: 2048, ..Config::default() };
        let mut conn = Connection::new(Role::Server, config, deflate.then(params), now);
        for piece in input.chunks(chunk) {
            conn.handle_input(now, piece);
            while let Some(event) = conn.poll_event() {
                match event {
                    Event::Message(m) => prop_assert!(m.payload().len() <= 2048),
                    Event::Ping(p) | Event::Pong(p) => prop_assert!(p.len() <= 125),
                    Event::Closed(info) => prop_assert!(
                        info.code.is_allowed_on_wire() || info.code == CloseCode::NO_STATUS
                    ),
                }
            }
            while conn.poll_transmit().is_some() {}
            // Nothing is buffered beyond one frame header plus the frame limit.
            prop_assert!(conn.read_hint() <= 1024 + 14);
        }
    }

    #[test]
    fn messages_survive_any_read_split(
        messages in proptest::collection::vec(message(), 1..6),
        chunk in 1usize..5000,
        deflate in any::<bool>(),
    ) {
        let now = Instant::now();
        let config = Config { compression_threshold: 64, ..Config::default() };
        let p = deflate.then(params);
        let mut client = Connection::new(Role::Client, config.clone(), p, now);
        let mut server = Connection::new(Role::Server, config, p, now);
        let mut wire = Vec::new();
        for m in &messages {
            client.send(m.clone()).unwrap();
        }
        while let Some(bytes) = client.poll_transmit() {
            wire.extend_from_slice(&bytes);
        }
        let mut received = Vec::new();
        for piece in wire.chunks(chunk) {
            server.handle_input(now, piece);
            while let Some(event) = server.poll_event() {
                if let Event::Message(m) = event {
                    received.push(m);
                }
            }
        }
        prop_assert_eq!(received, messages);
    }

    #[test]
    fn arbitrary_handshake_bytes_never_panic(input in proptest::collection::vec(any::<u8>(), 0..2048)) {
        if let Ok(Some((head, _))) = parse_request(&input, DEFAULT_MAX_HEAD_SIZE) {
            let policy = ServerPolicy { deflate: Some(DeflateConfig::default()), ..Default::default() };
            let _ = accept_request(&head.method, &head, &policy);
        }
    }

    #[test]
    fn arbitrary_extension_headers_never_panic(value in "[ -~]{0,200}") {
        let raw = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Extensions: {value}\r\n\r\n"
        );
        if let Ok(Some((head, _))) = parse_request(raw.as_bytes(), DEFAULT_MAX_HEAD_SIZE) {
            let policy = ServerPolicy { deflate: Some(DeflateConfig::default()), ..Default::default() };
            if let Ok(accepted) = accept_request("GET", &head, &policy) {
                if let Some(p) = accepted.deflate {
                    prop_assert!((9..=15).contains(&p.server_max_window_bits));
                }
            }
        }
    }
}
