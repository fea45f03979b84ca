//! Connection state machine tests: RFC 6455 §5.7 frames, fragmentation, UTF-8, close, limits,
//! keep-alive and permessage-deflate, driven with byte strings and simulated time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_ws::{
    apply_mask, CloseCode, Config, Connection, DeflateParams, Event, Initiator, Message,
    PreparedMessage, ProtocolError, Role,
};

fn server() -> (Connection, Instant) {
    let now = Instant::now();
    (
        Connection::new(Role::Server, Config::default(), None, now),
        now,
    )
}

/// A client-to-server frame with a fixed mask.
fn masked(first: u8, payload: &[u8]) -> Vec<u8> {
    let key = [0x37, 0xfa, 0x21, 0x3d];
    let mut out = vec![first];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=0xffff => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    let mut body = payload.to_vec();
    apply_mask(&mut body, key, 0);
    out.extend_from_slice(&body);
    out
}

fn events(conn: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| conn.poll_event()).collect()
}

fn transmitted(conn: &mut Connection) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(bytes) = conn.poll_transmit() {
        out.extend_from_slice(&bytes);
    }
    out
}

fn closed_with(events: &[Event]) -> Option<CloseCode> {
    events.iter().find_map(|e| match e {
        Event::Closed(info) => Some(info.code),
        _ => None,
    })
}

/// The close code in the close frame at the end of `bytes` (an unmasked server frame).
fn sent_close_code(bytes: &[u8]) -> Option<u16> {
    let pos = bytes.iter().rposition(|&b| b == 0x88)?;
    let code = bytes.get(pos + 2..pos + 4)?;
    Some(u16::from_be_bytes([code[0], code[1]]))
}

#[test]
fn rfc6455_5_7_single_frame_masked_text_from_a_client() {
    let (mut conn, now) = server();
    conn.handle_input(
        now,
        &[
            0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
        ],
    );
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn rfc6455_5_7_unmasked_frames_at_a_client() {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default(), None, now);
    // Fragmented unmasked text "Hel" + "lo", then an unmasked ping with "Hello".
    client.handle_input(now, &[0x01, 0x03, 0x48, 0x65, 0x6c]);
    client.handle_input(now, &[0x80, 0x02, 0x6c, 0x6f]);
    client.handle_input(now, &[0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]);
    assert_eq!(
        events(&mut client),
        vec![
            Event::Message(Message::text("Hello")),
            Event::Ping(Bytes::from_static(b"Hello"))
        ]
    );
    // The automatic pong is masked, with the same payload.
    let pong = transmitted(&mut client);
    assert_eq!(&pong[..2], &[0x8a, 0x85]);
    let mut body = pong[6..].to_vec();
    apply_mask(&mut body, [pong[2], pong[3], pong[4], pong[5]], 0);
    assert_eq!(body, b"Hello");
}

#[test]
fn rfc6455_5_7_server_sends_unmasked_frames() {
    let (mut conn, _) = server();
    conn.send(Message::text("Hello")).unwrap();
    assert_eq!(
        transmitted(&mut conn),
        [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f]
    );
    conn.send(Message::binary(vec![0u8; 256])).unwrap();
    assert_eq!(&transmitted(&mut conn)[..4], &[0x82, 0x7e, 0x01, 0x00]);
    conn.send(Message::binary(vec![0u8; 65536])).unwrap();
    let big = transmitted(&mut conn);
    assert_eq!(&big[..10], &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]);
    assert_eq!(big.len(), 65546);
}

#[test]
fn byte_at_a_time_input_reassembles_every_frame() {
    let (mut conn, now) = server();
    let mut wire = masked(0x81, "κόσμε".as_bytes());
    wire.extend(masked(0x82, &vec![7u8; 70_000]));
    for byte in &wire {
        conn.handle_input(now, std::slice::from_ref(byte));
    }
    assert_eq!(
        events(&mut conn),
        vec![
            Event::Message(Message::text("κόσμε")),
            Event::Message(Message::binary(vec![7u8; 70_000]))
        ]
    );
}

#[test]
fn control_frames_interleave_with_fragments() {
    let (mut conn, now) = server();
    let mut wire = masked(0x01, b"frag1 ");
    wire.extend(masked(0x89, b"ping"));
    wire.extend(masked(0x00, b"frag2 "));
    wire.extend(masked(0x8a, b"pong"));
    wire.extend(masked(0x80, b"frag3"));
    conn.handle_input(now, &wire);
    assert_eq!(
        events(&mut conn),
        vec![
            Event::Ping(Bytes::from_static(b"ping")),
            Event::Pong(Bytes::from_static(b"pong")),
            Event::Message(Message::text("frag1 frag2 frag3")),
        ]
    );
    assert_eq!(transmitted(&mut conn), [0x8a, 0x04, b'p', b'i', b'n', b'g']);
}

#[test]
fn protocol_violations_close_with_the_right_code() {
    let cases: Vec<(Vec<u8>, u16)> = vec![
        (vec![0x81, 0x05, b'H', b'e', b'l', b'l', b'o'], 1002), // unmasked from a client
        (masked(0x83, b""), 1002),                              // reserved opcode
        (masked(0x8b, b""), 1002),                              // reserved control opcode
        (masked(0xc1, b"x"), 1002),                             // RSV1 without deflate
        (masked(0xa1, b"x"), 1002),                             // RSV2
        (masked(0x09, b""), 1002),                              // fragmented ping
        (masked(0x89, &[0u8; 126]), 1002),                      // ping over 125 bytes
        (masked(0x80, b"x"), 1002),                             // continuation with nothing
        ([masked(0x01, b"a"), masked(0x81, b"b")].concat(), 1002), // new message mid-fragment
        (masked(0x81, &[0xce, 0xba, 0xff]), 1007),              // invalid UTF-8
        (masked(0x88, &[0x03]), 1002),                          // one-byte close
        (masked(0x88, &[0x03, 0xe7]), 1002),                    // close code 999
        (masked(0x88, &[0x03, 0xed]), 1002),                    // close code 1005
        (masked(0x88, &[0x03, 0xe8, 0xff]), 1007),              // close reason not UTF-8
    ];
    for (wire, code) in cases {
        let (mut conn, now) = server();
        conn.handle_input(now, &wire);
        let evs = events(&mut conn);
        assert_eq!(closed_with(&evs), Some(CloseCode(code)), "{wire:x?}");
        assert_eq!(
            sent_close_code(&transmitted(&mut conn)),
            Some(code),
            "{wire:x?}"
        );
        assert!(conn.is_closed());
        // Nothing more is read or sent after the failure.
        conn.handle_input(now, &masked(0x81, b"late"));
        assert_eq!(events(&mut conn), vec![]);
        assert!(conn.send(Message::text("x")).is_err());
    }
}

#[test]
fn invalid_utf8_fails_fast_before_the_final_fragment() {
    let (mut conn, now) = server();
    conn.handle_input(
        now,
        &masked(
            0x01,
            &[
                0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5,
            ],
        ),
    );
    assert_eq!(events(&mut conn), vec![]);
    conn.handle_input(now, &masked(0x00, &[0xf4, 0x90, 0x80, 0x80]));
    assert_eq!(
        closed_with(&events(&mut conn)),
        Some(CloseCode::INVALID_PAYLOAD)
    );
}

#[test]
fn a_code_point_split_across_fragments_is_accepted() {
    let (mut conn, now) = server();
    let text = "κόσμε".as_bytes();
    conn.handle_input(now, &masked(0x01, &text[..3]));
    conn.handle_input(now, &masked(0x00, &text[3..6]));
    conn.handle_input(now, &masked(0x80, &text[6..]));
    assert_eq!(
        events(&mut conn),
        vec![Event::Message(Message::text("κόσμε"))]
    );
}

#[test]
fn oversized_frames_and_messages_close_with_1009_before_the_payload_arrives() {
    let config = Config {
        max_frame_size: 1000,
        max_message_size: 1500,
        ..Config::default()
    };
    let now = Instant::now();
    let mut conn = Connection::new(Role::Server, config.clone(), None, now);
    // Only the header of a 2000-byte frame: rejected at once.
    conn.handle_input(now, &masked(0x82, &[0u8; 2000])[..8]);
    assert_eq!(
        closed_with(&events(&mut conn)),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );

    let mut conn = Connection::new(Role::Server, config, None, now);
    conn.handle_input(now, &masked(0x02, &[0u8; 1000]));
    conn.handle_input(now, &masked(0x80, &[0u8; 600]));
    assert_eq!(
        closed_with(&events(&mut conn)),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );
    assert_eq!(sent_close_code(&transmitted(&mut conn)), Some(1009));
}

#[test]
fn peer_initiated_close_is_echoed() {
    let (mut conn, now) = server();
    let mut payload = 4000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(b"bye");
    conn.handle_input(now, &masked(0x88, &payload));
    let evs = events(&mut conn);
    match &evs[..] {
        [Event::Closed(info)] => {
            assert_eq!(
                (info.code, info.reason.as_str(), info.initiator),
                (CloseCode(4000), "bye", Initiator::Remote)
            );
        }
        other => panic!("unexpected {other:?}"),
    }
    assert_eq!(transmitted(&mut conn), [0x88, 0x02, 0x0f, 0xa0]);
}

#[test]
fn empty_close_is_answered_with_an_empty_close() {
    let (mut conn, now) = server();
    conn.handle_input(now, &masked(0x88, b""));
    assert_eq!(closed_with(&events(&mut conn)), Some(CloseCode::NO_STATUS));
    assert_eq!(transmitted(&mut conn), [0x88, 0x00]);
}

#[test]
fn local_close_waits_for_the_peer_then_times_out() {
    let (mut conn, now) = server();
    conn.close(now, CloseCode::GOING_AWAY, "shutdown").unwrap();
    assert_eq!(sent_close_code(&transmitted(&mut conn)), Some(1001));
    assert!(conn.send(Message::text("late")).is_err());
    // Data arriving after our close is dropped; the peer's close completes the handshake.
    conn.handle_input(now, &masked(0x81, b"ignored"));
    conn.handle_input(now, &masked(0x88, &1001u16.to_be_bytes()));
    match &events(&mut conn)[..] {
        [Event::Closed(info)] => assert_eq!(
            (info.code, info.initiator),
            (CloseCode::GOING_AWAY, Initiator::Local)
        ),
        other => panic!("unexpected {other:?}"),
    }

    let (mut conn, now) = server();
    conn.close(now, CloseCode::NORMAL, "").unwrap();
    let deadline = conn.poll_timeout().unwrap();
    assert_eq!(deadline, now + Config::default().close_timeout);
    conn.handle_timeout(deadline);
    assert_eq!(closed_with(&events(&mut conn)), Some(CloseCode::ABNORMAL));
    assert!(conn.close(now, CloseCode(1005), "").is_err());
}

#[test]
fn closing_with_a_reserved_code_is_refused() {
    let (mut conn, now) = server();
    assert!(conn.close(now, CloseCode::NO_STATUS, "").is_err());
    assert!(conn
        .close(now, CloseCode::NORMAL, &"x".repeat(124))
        .is_err());
    assert!(conn.is_open());
}

#[test]
fn keep_alive_pings_when_idle_and_closes_without_an_answer() {
    let (mut conn, start) = server();
    let interval = Config::default().ping_interval.unwrap();
    assert_eq!(conn.poll_timeout(), Some(start + interval));
    conn.handle_timeout(start + interval);
    assert_eq!(transmitted(&mut conn), [0x89, 0x00]);
    // Any input counts as life.
    let later = start + interval + Duration::from_secs(1);
    conn.handle_input(later, &masked(0x8a, b""));
    let _ = events(&mut conn);
    assert_eq!(conn.poll_timeout(), Some(later + interval));
    conn.handle_timeout(later + interval);
    let _ = transmitted(&mut conn);
    let deadline = conn.poll_timeout().unwrap();
    conn.handle_timeout(deadline);
    let evs = events(&mut conn);
    assert_eq!(closed_with(&evs), Some(CloseCode::GOING_AWAY));
    assert!(
        matches!(&evs[..], [Event::Closed(info)] if info.error == Some(ProtocolError::KeepAliveTimeout))
    );
}

fn deflate_pair(takeover: bool) -> (Connection, Connection, Instant) {
    let params = DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let now = Instant::now();
    let config = Config {
        compression_threshold: 0,
        ..Config::default()
    };
    (
        Connection::new(Role::Server, config.clone(), Some(params), now),
        Connection::new(Role::Client, config, Some(params), now),
        now,
    )
}

fn pump(from: &mut Connection, to: &mut Connection, now: Instant) -> Vec<Event> {
    let bytes = transmitted(from);
    to.handle_input(now, &bytes);
    events(to)
}

#[test]
fn deflate_round_trips_in_both_directions_with_and_without_takeover() {
    for takeover in [true, false] {
        let (mut server, mut client, now) = deflate_pair(takeover);
        for i in 0..5 {
            let text = format!(
                "{{\"room\":\"lobby\",\"seq\":{i},\"data\":\"{}\"}}",
                "abc".repeat(100)
            );
            client.send(Message::text(text.clone())).unwrap();
            let wire = transmitted(&mut client);
            assert_eq!(wire[0] & 0x40, 0x40, "RSV1 set on a compressed message");
            assert!(wire.len() < text.len());
            server.handle_input(now, &wire);
            assert_eq!(
                events(&mut server),
                vec![Event::Message(Message::text(text.clone()))]
            );
            server.send(Message::text(text.clone())).unwrap();
            assert_eq!(
                pump(&mut server, &mut client, now),
                vec![Event::Message(Message::text(text))]
            );
        }
    }
}

#[test]
fn uncompressed_sends_skip_deflate_and_keep_the_context_usable() {
    for takeover in [true, false] {
        let (mut server, mut client, now) = deflate_pair(takeover);
        let text = "xyz".repeat(200);
        server.send(Message::text(text.clone())).unwrap();
        server
            .send_uncompressed(Message::text(text.clone()))
            .unwrap();
        server.send(Message::text(text.clone())).unwrap();
        let wire = transmitted(&mut server);
        // Three frames: compressed (RSV1), plain (600-byte payload, 16-bit length), compressed.
        assert_eq!(wire[0] & 0x40, 0x40);
        let first_len = 2 + usize::from(wire[1] & 0x7f);
        let plain = &wire[first_len..];
        assert_eq!(plain[0], 0x81, "FIN + text, RSV1 clear");
        assert_eq!(plain[1], 126);
        assert_eq!(
            usize::from(u16::from_be_bytes([plain[2], plain[3]])),
            text.len()
        );
        assert_eq!(&plain[4..4 + text.len()], text.as_bytes());
        assert_eq!(plain[4 + text.len()] & 0x40, 0x40);
        client.handle_input(now, &wire);
        assert_eq!(
            events(&mut client),
            vec![Event::Message(Message::text(text.clone())); 3]
        );
    }
}

#[test]
fn text_bytes_are_sent_as_text_frames_compressed_only_when_allowed() {
    let (mut server, mut client, now) = deflate_pair(true);
    let text = "abc".repeat(200);
    let bytes = bytes::Bytes::from(text.clone());
    server.send_text_bytes(bytes.clone(), true).unwrap();
    server.send_text_bytes(bytes, false).unwrap();
    let wire = transmitted(&mut server);
    assert_eq!(wire[0], 0xc1, "FIN + RSV1 + text");
    let second = &wire[2 + usize::from(wire[1] & 0x7f)..];
    assert_eq!(second[0], 0x81, "FIN + text, RSV1 clear");
    assert_eq!(&second[4..], text.as_bytes());
    client.handle_input(now, &wire);
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text(text)); 2]
    );
}

#[test]
fn rfc7692_hello_from_a_server_decodes_at_a_client() {
    // RFC 7692 §7.2.3.1 framed: a compressed text "Hello" in one frame.
    let (_, mut client, now) = deflate_pair(true);
    client.handle_input(now, &[0xc1, 0x07, 0xf2, 0x48, 0xcd, 0xc9, 0xc9, 0x07, 0x00]);
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text("Hello"))]
    );
    // §7.2.3.2: the second, context-taking-over "Hello".
    client.handle_input(now, &[0xc1, 0x05, 0xf2, 0x00, 0x11, 0x00, 0x00]);
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text("Hello"))]
    );
    // §7.2.3.1 fragmented: compressed "Hello" split over two frames, RSV1 only on the first.
    let (_, mut client, now) = deflate_pair(false);
    client.handle_input(
        now,
        &[
            0x41, 0x03, 0xf2, 0x48, 0xcd, 0x80, 0x04, 0xc9, 0xc9, 0x07, 0x00,
        ],
    );
    assert_eq!(
        events(&mut client),
        vec![Event::Message(Message::text("Hello"))]
    );
}

#[test]
fn decompression_bombs_hit_the_message_limit() {
    let (mut sender, client, now) = deflate_pair(false);
    sender.send(Message::binary(vec![0u8; 4 << 20])).unwrap();
    let wire = transmitted(&mut sender);
    assert!(wire.len() < 64 * 1024);
    let config = Config {
        max_message_size: 1 << 20,
        ..Config::default()
    };
    let mut small = Connection::new(Role::Client, config, client.deflate(), now);
    small.handle_input(now, &wire);
    assert_eq!(
        closed_with(&events(&mut small)),
        Some(CloseCode::MESSAGE_TOO_BIG)
    );
}

#[test]
fn prepared_messages_reach_plain_and_compressing_receivers() {
    let prepared = PreparedMessage::new(Message::text("x".repeat(5000)));
    // A plain server connection queues the shared frame as it is.
    let (mut plain, now) = server();
    plain.send_prepared(&prepared).unwrap();
    assert_eq!(transmitted(&mut plain), &prepared.plain_frame()[..]);
    let mut plain_client = Connection::new(Role::Client, Config::default(), None, now);
    plain_client.handle_input(now, prepared.plain_frame());
    assert_eq!(
        events(&mut plain_client),
        vec![Event::Message(Message::text("x".repeat(5000)))]
    );

    // With context takeover, a prepared frame between two own messages still decodes.
    let (mut server, mut client, now) = deflate_pair(true);
    server.send(Message::text("y".repeat(3000))).unwrap();
    server.send_prepared(&prepared).unwrap();
    server.send(Message::text("y".repeat(3000))).unwrap();
    let evs = pump(&mut server, &mut client, now);
    assert_eq!(
        evs,
        vec![
            Event::Message(Message::text("y".repeat(3000))),
            Event::Message(Message::text("x".repeat(5000))),
            Event::Message(Message::text("y".repeat(3000))),
        ]
    );
    // The compressed form is built once and shared.
    let a = prepared.compressed_frame(15).as_ptr();
    let b = prepared.compressed_frame(15).as_ptr();
    assert_eq!(a, b);
}

#[test]
fn client_masks_and_server_unmasks_large_messages() {
    let now = Instant::now();
    let mut client = Connection::new(Role::Client, Config::default(), None, now);
    let mut server = Connection::new(Role::Server, Config::default(), None, now);
    let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
    client.send(Message::binary(data.clone())).unwrap();
    let wire = transmitted(&mut client);
    assert_eq!(wire[1] & 0x80, 0x80);
    server.handle_input(now, &wire);
    assert_eq!(
        events(&mut server),
        vec![Event::Message(Message::binary(data))]
    );
}

#[test]
fn answers_to_messages_before_a_violation_go_out_before_the_close() {
    let (mut conn, now) = server();
    let mut wire = masked(0x81, b"first");
    wire.extend(masked(0xa1, b"bad rsv2"));
    conn.handle_input(now, &wire);
    // The application answers the first message before it takes the Closed event.
    assert_eq!(
        conn.poll_event(),
        Some(Event::Message(Message::text("first")))
    );
    conn.send(Message::text("first")).unwrap();
    assert!(matches!(conn.poll_event(), Some(Event::Closed(_))));
    assert!(conn.send(Message::text("too late")).is_err());
    let out = transmitted(&mut conn);
    assert_eq!(&out[..7], &[0x81, 0x05, b'f', b'i', b'r', b's', b't']);
    assert_eq!(sent_close_code(&out), Some(1002));
    assert!(conn.is_closed());
}

#[test]
fn invalid_utf8_fails_fast_inside_a_frame_that_is_still_arriving() {
    let (mut conn, now) = server();
    let mut text = "κόσμε".as_bytes().to_vec();
    text.extend_from_slice(&[0xf4, 0x90, 0x80, 0x80]);
    text.extend_from_slice(&[b'x'; 1000]);
    let wire = masked(0x81, &text);
    // Header plus the valid part plus the first invalid byte: nothing yet.
    conn.handle_input(now, &wire[..8 + 11]);
    assert_eq!(events(&mut conn), vec![]);
    // The second byte of the bad sequence arrives; 1000 more payload bytes are still due.
    conn.handle_input(now, &wire[8 + 11..8 + 12]);
    assert_eq!(
        closed_with(&events(&mut conn)),
        Some(CloseCode::INVALID_PAYLOAD)
    );
}

#[test]
fn valid_text_arriving_in_pieces_is_unmasked_exactly_once() {
    let (mut conn, now) = server();
    let text = "κόσμε, ".repeat(300);
    let wire = masked(0x81, text.as_bytes());
    for piece in wire.chunks(7) {
        conn.handle_input(now, piece);
    }
    let mut wire = masked(0x01, &text.as_bytes()[..1001]);
    wire.extend(masked(0x89, b"ping"));
    wire.extend(masked(0x80, &text.as_bytes()[1001..]));
    for piece in wire.chunks(13) {
        conn.handle_input(now, piece);
    }
    assert_eq!(
        events(&mut conn),
        vec![
            Event::Message(Message::text(text.clone())),
            Event::Ping(Bytes::from_static(b"ping")),
            Event::Message(Message::text(text)),
        ]
    );
}
