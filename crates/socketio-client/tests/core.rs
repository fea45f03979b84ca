//! The sans-IO client core, frame by frame, with time passed in.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_socketio_client::{
    ClientCore, Codec, CoreEvent, CoreLimits, DisconnectReason, Frame, Map, SendError, Value,
};
use switchboard_socketio_parser::{msgpack, Packet};

const OPEN: &str =
    r#"0{"sid":"eio1","upgrades":[],"pingInterval":300,"pingTimeout":200,"maxPayload":1000}"#;

fn texts(core: &mut ClientCore) -> Vec<String> {
    std::iter::from_fn(|| core.poll_transmit())
        .map(|frame| match frame {
            Frame::Text(text) => text,
            Frame::Binary(bytes) => format!("<{} bytes>", bytes.len()),
        })
        .collect()
}

fn events(core: &mut ClientCore) -> Vec<CoreEvent> {
    std::iter::from_fn(|| core.poll_event()).collect()
}

fn event(name: &str, args: Vec<Value>) -> Packet {
    Packet::event("/", name, args, None)
}

/// A core whose socket of `/` asked to connect and whose session just opened.
fn opened(now: Instant) -> ClientCore {
    let mut core = ClientCore::new(CoreLimits::default(), Codec::Text);
    core.connect("/");
    core.transport_opened();
    core.handle_text(now, OPEN);
    core
}

#[test]
fn the_handshake_opens_the_session_and_connects_the_waiting_sockets() {
    let now = Instant::now();
    let mut core = ClientCore::new(CoreLimits::default(), Codec::Text);
    let mut auth = Map::new();
    auth.insert("token".into(), Value::from("t"));
    core.set_auth("/admin", Some(auth));
    core.connect("/admin");
    core.connect("/");
    assert!(core.wants_connection());
    assert!(texts(&mut core).is_empty(), "nothing before a transport");
    core.transport_opened();
    core.handle_text(now, OPEN);
    assert!(core.is_open());
    // `/` first, then the others.
    assert_eq!(texts(&mut core), ["40", r#"40/admin,{"token":"t"}"#]);
    let CoreEvent::Opened(handshake) = &events(&mut core)[0] else {
        panic!("opened first")
    };
    assert_eq!(handshake.sid, "eio1");
    assert_eq!(handshake.ping_interval, Duration::from_millis(300));
    assert_eq!(handshake.max_payload, 1000);

    core.handle_text(now, r#"40{"sid":"s1"}"#);
    assert_eq!(
        events(&mut core),
        [CoreEvent::Connected {
            nsp: "/".into(),
            sid: "s1".into(),
            recovered: false
        }]
    );
    assert!(core.is_connected("/"));
    assert!(!core.is_connected("/admin"));
}

#[test]
fn pings_get_pongs_and_a_missing_ping_ends_the_session_at_interval_plus_timeout() {
    let start = Instant::now();
    let mut core = opened(start);
    core.handle_text(start, r#"40{"sid":"s1"}"#);
    let _ = (texts(&mut core), events(&mut core));
    assert_eq!(
        core.poll_timeout(),
        Some(start + Duration::from_millis(500))
    );

    let ping_at = start + Duration::from_millis(300);
    core.handle_text(ping_at, "2");
    assert_eq!(texts(&mut core), ["3"]);
    let deadline = ping_at + Duration::from_millis(500);
    assert_eq!(core.poll_timeout(), Some(deadline));

    core.handle_timeout(deadline - Duration::from_millis(1));
    assert!(core.is_open(), "not yet");
    core.handle_timeout(deadline);
    assert!(!core.is_open());
    assert_eq!(
        events(&mut core),
        [
            CoreEvent::Disconnected {
                nsp: "/".into(),
                reason: DisconnectReason::PingTimeout
            },
            CoreEvent::Closed(DisconnectReason::PingTimeout)
        ]
    );
    assert!(
        core.wants_connection(),
        "a lost socket waits for the reconnection"
    );
}

#[test]
fn emits_wait_for_the_connection_in_order_and_volatile_ones_are_dropped() {
    let now = Instant::now();
    let mut core = ClientCore::new(
        CoreLimits {
            max_buffered_packets: 2,
            ..CoreLimits::default()
        },
        Codec::Text,
    );
    assert_eq!(
        core.send(&event("a", vec![]), false),
        Err(SendError::Inactive),
        "a socket never asked to connect"
    );
    core.connect("/");
    core.send(&event("a", vec![]), false).unwrap();
    core.send(&event("dropped", vec![]), true).unwrap();
    core.send(
        &event("b", vec![Value::Binary(Bytes::from_static(b"xy"))]),
        false,
    )
    .unwrap();
    assert_eq!(
        core.send(&event("c", vec![]), false),
        Err(SendError::BufferFull)
    );
    core.transport_opened();
    core.handle_text(now, OPEN);
    assert_eq!(texts(&mut core), ["40"], "held until the namespace accepts");
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    assert_eq!(
        texts(&mut core),
        [
            r#"42["a"]"#,
            r#"451-["b",{"_placeholder":true,"num":0}]"#,
            "<2 bytes>"
        ]
    );
}

#[test]
fn a_refusal_carries_message_and_data_and_deactivates_the_socket() {
    let now = Instant::now();
    let mut core = opened(now);
    let _ = (texts(&mut core), events(&mut core));
    core.handle_text(
        now,
        r#"44{"message":"not authorized","data":{"reason":"bad token"}}"#,
    );
    let mut data = Map::new();
    data.insert("reason".into(), Value::from("bad token"));
    assert_eq!(
        events(&mut core),
        [CoreEvent::ConnectError {
            nsp: "/".into(),
            message: "not authorized".into(),
            data: Some(Value::Object(data)),
            retrying: false
        }]
    );
    assert!(!core.wants_connection());
    assert_eq!(
        core.send(&event("a", vec![]), false),
        Err(SendError::Inactive)
    );
    // Connecting again asks again.
    core.connect("/");
    assert_eq!(texts(&mut core), ["40"]);
}

#[test]
fn a_server_disconnect_ends_the_socket_without_reconnection() {
    let now = Instant::now();
    let mut core = opened(now);
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    let _ = (texts(&mut core), events(&mut core));
    core.handle_text(now, "41");
    assert_eq!(
        events(&mut core),
        [CoreEvent::Disconnected {
            nsp: "/".into(),
            reason: DisconnectReason::IoServerDisconnect
        }]
    );
    assert!(!core.wants_connection());
    assert!(
        core.is_open(),
        "the session itself stays until the shell closes it"
    );
}

#[test]
fn a_recovering_socket_sends_its_pid_and_last_offset_and_learns_whether_it_recovered() {
    let now = Instant::now();
    let mut core = opened(now);
    core.handle_text(now, r#"40{"sid":"s1","pid":"p1"}"#);
    core.handle_text(now, r#"42["news","a","off-1"]"#);
    core.handle_text(now, r#"42["news","b","off-2"]"#);
    let _ = (texts(&mut core), events(&mut core));
    core.transport_closed(DisconnectReason::TransportClose);
    let _ = events(&mut core);

    core.transport_opened();
    core.handle_text(now, OPEN);
    assert_eq!(texts(&mut core), [r#"40{"pid":"p1","offset":"off-2"}"#]);
    core.handle_text(now, r#"40{"sid":"s1","pid":"p1"}"#);
    assert_eq!(
        events(&mut core)[1],
        CoreEvent::Connected {
            nsp: "/".into(),
            sid: "s1".into(),
            recovered: true
        }
    );

    // The server forgot the session: a new pid, not recovered, and the old offset is dropped.
    core.transport_closed(DisconnectReason::TransportClose);
    core.transport_opened();
    core.handle_text(now, OPEN);
    core.handle_text(now, r#"40{"sid":"s2","pid":"p2"}"#);
    assert!(events(&mut core).contains(&CoreEvent::Connected {
        nsp: "/".into(),
        sid: "s2".into(),
        recovered: false
    }));
    core.transport_closed(DisconnectReason::TransportClose);
    core.transport_opened();
    core.handle_text(now, OPEN);
    assert_eq!(texts(&mut core), [r#"40{"pid":"p2"}"#]);
}

#[test]
fn binary_events_and_acks_are_assembled_from_their_attachments() {
    let now = Instant::now();
    let mut core = opened(now);
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    let _ = (texts(&mut core), events(&mut core));
    core.handle_text(now, r#"451-7["file",{"_placeholder":true,"num":0}]"#);
    assert!(events(&mut core).is_empty(), "waits for the attachment");
    core.handle_binary(now, Bytes::from_static(b"\x00\xff"));
    core.handle_text(now, r#"433["ok"]"#);
    assert_eq!(
        events(&mut core),
        [
            CoreEvent::Event {
                nsp: "/".into(),
                name: "file".into(),
                args: vec![Value::Binary(Bytes::from_static(b"\x00\xff"))],
                id: Some(7)
            },
            CoreEvent::Ack {
                nsp: "/".into(),
                id: 3,
                args: vec![Value::from("ok")]
            }
        ]
    );
}

#[test]
fn garbage_from_the_server_closes_the_session_as_a_parse_error() {
    for garbage in ["", "9", "4{", "46", r#"42"not an array""#] {
        let now = Instant::now();
        let mut core = opened(now);
        core.handle_text(now, r#"40{"sid":"s1"}"#);
        let _ = (texts(&mut core), events(&mut core));
        core.handle_text(now, garbage);
        assert!(!core.is_open(), "{garbage:?}");
        assert_eq!(
            events(&mut core).last(),
            Some(&CoreEvent::Closed(DisconnectReason::ParseError)),
            "{garbage:?}"
        );
    }
    // An attachment nobody announced, and a handshake that is not one.
    let now = Instant::now();
    let mut core = opened(now);
    core.handle_binary(now, Bytes::from_static(b"x"));
    assert!(!core.is_open());
    let mut core = ClientCore::new(CoreLimits::default(), Codec::Text);
    core.connect("/");
    core.transport_opened();
    core.handle_text(now, r#"0{"sid":1}"#);
    assert!(!core.is_open() && !core.has_transport());
}

#[test]
fn events_before_the_connect_come_after_it_and_other_namespaces_are_ignored() {
    // Node's server sends a recovered socket's missed packets before answering its CONNECT.
    let now = Instant::now();
    let mut core = opened(now);
    let _ = (texts(&mut core), events(&mut core));
    core.handle_text(now, r#"42["missed","m1","off-9"]"#);
    core.handle_text(now, r#"40/other,{"sid":"x"}"#);
    core.handle_text(now, r#"42/other,["stray"]"#);
    assert!(events(&mut core).is_empty());
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    assert_eq!(
        events(&mut core),
        [
            CoreEvent::Connected {
                nsp: "/".into(),
                sid: "s1".into(),
                recovered: false
            },
            CoreEvent::Event {
                nsp: "/".into(),
                name: "missed".into(),
                args: vec![Value::from("m1"), Value::from("off-9")],
                id: None
            }
        ]
    );
    assert!(core.is_open());
}

#[test]
fn close_disconnects_every_socket_and_sends_the_close_packet() {
    let now = Instant::now();
    let mut core = opened(now);
    core.connect("/chat");
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    core.handle_text(now, r#"40/chat,{"sid":"s2"}"#);
    let _ = (texts(&mut core), events(&mut core));
    core.close();
    assert_eq!(texts(&mut core), ["41", "41/chat,", "1"]);
    let events = events(&mut core);
    assert_eq!(events.len(), 3, "{events:?}");
    assert_eq!(
        events[2],
        CoreEvent::Closed(DisconnectReason::IoClientDisconnect)
    );
    assert!(!core.has_transport() && !core.wants_connection());
}

#[test]
fn a_failed_attempt_tells_the_waiting_sockets_whether_it_retries() {
    let mut core = ClientCore::new(CoreLimits::default(), Codec::Text);
    core.connect("/");
    core.connect_failed("websocket error: refused", true);
    assert_eq!(
        events(&mut core),
        [CoreEvent::ConnectError {
            nsp: "/".into(),
            message: "websocket error: refused".into(),
            data: None,
            retrying: true
        }]
    );
    assert!(core.wants_connection());
    core.connect_failed("gave up reconnecting", false);
    let _ = events(&mut core);
    assert!(!core.wants_connection());
}

#[test]
fn the_msgpack_codec_writes_one_binary_message_per_packet_and_refuses_text() {
    let now = Instant::now();
    let mut core = ClientCore::new(CoreLimits::default(), Codec::MsgPack);
    core.connect("/");
    core.transport_opened();
    core.handle_text(now, OPEN);
    let Some(Frame::Binary(connect)) = core.poll_transmit() else {
        panic!("a binary CONNECT")
    };
    assert_eq!(
        msgpack::decode(&connect).unwrap(),
        Packet::connect("/", None)
    );
    let accepted = msgpack::encode(&Packet::connect_ok(
        switchboard_socketio_parser::ProtocolVersion::V5,
        "/",
        "s1",
    ));
    core.handle_binary(now, accepted);
    let args = vec![
        Value::Binary(bytes::Bytes::from_static(b"\x00\x01")),
        Value::from(7),
    ];
    core.send(&Packet::event("/", "file", args.clone(), Some(2)), false)
        .unwrap();
    let Some(Frame::Binary(sent)) = core.poll_transmit() else {
        panic!("one binary message")
    };
    assert_eq!(
        core.poll_transmit(),
        None,
        "binary values inline, no attachments"
    );
    assert_eq!(
        msgpack::decode(&sent).unwrap(),
        Packet::event("/", "file", args.clone(), Some(2))
    );
    let _ = events(&mut core);
    core.handle_binary(now, msgpack::encode(&Packet::ack("/", 2, args.clone())));
    assert_eq!(
        events(&mut core),
        [CoreEvent::Ack {
            nsp: "/".into(),
            id: 2,
            args
        }]
    );
    core.handle_text(now, r#"42["text"]"#);
    assert_eq!(
        events(&mut core).last(),
        Some(&CoreEvent::Closed(DisconnectReason::ParseError))
    );
}

#[test]
fn an_emit_taken_back_while_waiting_for_the_connection_never_goes_out() {
    let now = Instant::now();
    let mut core = ClientCore::new(CoreLimits::default(), Codec::Text);
    core.connect("/");
    core.send(&Packet::event("/", "late", vec![], Some(4)), false)
        .unwrap();
    core.send(&event("kept", vec![]), false).unwrap();
    assert!(core.is_buffered("/", 4));
    assert!(core.cancel("/", 4), "its ack timed out");
    assert!(!core.is_buffered("/", 4));
    assert!(!core.cancel("/", 4));
    core.transport_opened();
    core.handle_text(now, OPEN);
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    assert_eq!(texts(&mut core), ["40", r#"42["kept"]"#]);
}

#[test]
fn pongs_are_bare_and_bounded_by_the_send_queue() {
    let now = Instant::now();
    let mut core = ClientCore::new(
        CoreLimits {
            max_queued_frames: 3,
            ..CoreLimits::default()
        },
        Codec::Text,
    );
    core.connect("/");
    core.transport_opened();
    core.handle_text(now, OPEN);
    for _ in 0..10 {
        core.handle_text(now, "2junk");
    }
    // The CONNECT and the pongs that fit; the server's own timeout decides past that.
    assert_eq!(texts(&mut core), ["40", "3", "3"]);
}

#[test]
fn taking_back_a_timed_out_emit_leaves_a_buffered_answer_with_the_same_id_alone() {
    let now = Instant::now();
    let mut core = opened(now);
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    let _ = (texts(&mut core), events(&mut core));
    core.transport_closed(DisconnectReason::TransportClose);
    // While away: an answer to the server's event 0, and our own event 0.
    core.send(&Packet::ack("/", 0, vec![Value::from("reply")]), false)
        .unwrap();
    core.send(&Packet::event("/", "mine", vec![], Some(0)), false)
        .unwrap();
    assert!(core.cancel("/", 0));
    assert!(!core.is_buffered("/", 0));
    core.transport_opened();
    core.handle_text(now, OPEN);
    core.handle_text(now, r#"40{"sid":"s2"}"#);
    assert_eq!(texts(&mut core), ["40", r#"430["reply"]"#]);
}

#[test]
fn without_reconnection_a_lost_session_leaves_its_sockets_inactive_before_anyone_hears() {
    let now = Instant::now();
    let mut core = ClientCore::new(CoreLimits::default(), Codec::Text);
    core.set_reconnection(false);
    core.connect("/");
    core.connect("/pending");
    core.transport_opened();
    core.handle_text(now, OPEN);
    core.handle_text(now, r#"40{"sid":"s1"}"#);
    let _ = (texts(&mut core), events(&mut core));
    core.transport_closed(DisconnectReason::TransportClose);
    assert!(!core.wants_connection(), "decided as it failed");
    assert_eq!(
        events(&mut core),
        [
            CoreEvent::Disconnected {
                nsp: "/".into(),
                reason: DisconnectReason::TransportClose
            },
            // Still waiting for its CONNECT's answer: it hears why it will not come.
            CoreEvent::ConnectError {
                nsp: "/pending".into(),
                message: "transport close".into(),
                data: None,
                retrying: false
            },
            CoreEvent::Closed(DisconnectReason::TransportClose)
        ]
    );
    // A listener that connects again holds.
    core.connect("/");
    assert!(core.wants_connection());
}

#[test]
fn an_application_that_falls_behind_resumes_after_the_last_event_it_took() {
    let now = Instant::now();
    let mut core = opened(now);
    core.handle_text(now, r#"40{"sid":"s1","pid":"p1"}"#);
    core.handle_text(now, r#"42["news","a","off-1"]"#);
    core.handle_text(now, r#"42["news","b","off-2"]"#);
    core.handle_text(now, r#"42["news","c","off-3"]"#);
    let _ = texts(&mut core);
    // The shell took the Connected event and `a`; `b` did not fit.
    assert!(matches!(core.poll_event(), Some(CoreEvent::Opened(_))));
    assert!(matches!(
        core.poll_event(),
        Some(CoreEvent::Connected { .. })
    ));
    assert!(matches!(core.poll_event(), Some(CoreEvent::Event { .. })));
    assert!(matches!(core.poll_event(), Some(CoreEvent::Event { .. })));
    core.overflowed("/", Some("off-1".into()));
    let rest = events(&mut core);
    assert!(
        !rest.iter().any(|e| matches!(e, CoreEvent::Event { .. })),
        "`c` is not handed over after `b` was dropped: {rest:?}"
    );
    assert!(!core.is_open());
    core.transport_opened();
    core.handle_text(now, OPEN);
    assert_eq!(texts(&mut core), [r#"40{"pid":"p1","offset":"off-1"}"#]);
}
