//! Session behaviour in simulated time: an `Instant` advanced by hand, never a sleep.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::{Duration, Instant};

use bytes::Bytes;
use switchboard_engineio::{
    CloseReason, Config, EncodedPacket, EngineError, Event, Handshake, Message, Protocol,
    RequestError, SendError, Session, Transmit, TransportKind, WsFrame, WsInput,
};

const SID: &str = "AAAAAAAAAAAAAAAAAAAA";

fn handshake(transport: TransportKind, protocol: Protocol) -> Handshake {
    Handshake {
        transport,
        protocol,
        b64: false,
    }
}

fn open(transport: TransportKind, protocol: Protocol, config: &Config) -> (Session, Instant) {
    let now = Instant::now();
    let mut s = Session::new(now, SID.into(), handshake(transport, protocol), config);
    match s.poll_transmit() {
        Some(Transmit::Poll(r)) => assert!(r.body.starts_with(b"0") || r.body.contains(&b'0')),
        Some(Transmit::Ws {
            frame: WsFrame::Text(t),
            ..
        }) => assert!(t.starts_with(b"0{")),
        other => panic!("no open packet: {other:?}"),
    }
    (s, now)
}

fn polling() -> (Session, Instant) {
    open(TransportKind::Polling, Protocol::V4, &Config::default())
}

fn poll_body(s: &mut Session) -> Option<Bytes> {
    match s.poll_transmit() {
        Some(Transmit::Poll(r)) => Some(r.body),
        None => None,
        other => panic!("expected a poll response, got {other:?}"),
    }
}

fn transmits(s: &mut Session) -> Vec<Transmit> {
    std::iter::from_fn(|| s.poll_transmit()).collect()
}

fn events(s: &mut Session) -> Vec<Event> {
    std::iter::from_fn(|| s.poll_event()).collect()
}

fn text(t: &'static str) -> Transmit {
    Transmit::Ws {
        frame: WsFrame::Text(Bytes::from_static(t.as_bytes())),
        compress: true,
    }
}

#[test]
fn handshake_open_packet() {
    let config = Config::default();
    let now = Instant::now();
    let mut s = Session::new(
        now,
        SID.into(),
        handshake(TransportKind::Polling, Protocol::V4),
        &config,
    );
    let body = poll_body(&mut s).unwrap();
    assert_eq!(
        std::str::from_utf8(&body).unwrap(),
        r#"0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":["websocket"],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
    );
    let mut ws = Session::new(
        now,
        SID.into(),
        handshake(TransportKind::WebSocket, Protocol::V4),
        &config,
    );
    assert_eq!(
        ws.poll_transmit(),
        Some(text(
            r#"0{"sid":"AAAAAAAAAAAAAAAAAAAA","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}"#
        ))
    );
    // No websocket transport, or no upgrades: nothing to upgrade to.
    let mut no_ws = config;
    no_ws.transports.websocket = false;
    let mut s = Session::new(
        now,
        SID.into(),
        handshake(TransportKind::Polling, Protocol::V4),
        &no_ws,
    );
    assert!(poll_body(&mut s)
        .unwrap()
        .windows(14)
        .any(|w| w == b"\"upgrades\":[],"));
    // v3: length-prefixed.
    let mut v3config = config;
    v3config.allow_eio3 = true;
    let mut s = Session::new(
        now,
        SID.into(),
        handshake(TransportKind::Polling, Protocol::V3),
        &v3config,
    );
    let body = poll_body(&mut s).unwrap();
    assert!(body.starts_with(b"118:0{\"sid\""), "{body:?}");
}

#[test]
fn first_ping_at_exactly_ping_interval_then_timeout() {
    let (mut s, t0) = polling();
    let interval = Duration::from_secs(25);
    assert_eq!(s.poll_timeout(), Some(t0 + interval));
    s.handle_timeout(t0 + interval - Duration::from_millis(1));
    s.handle_poll(t0).unwrap();
    assert_eq!(s.poll_transmit(), None);
    s.handle_timeout(t0 + interval);
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"2"));
    let pong_deadline = t0 + interval + Duration::from_secs(20);
    assert_eq!(s.poll_timeout(), Some(pong_deadline));
    s.handle_poll(t0 + interval).unwrap();
    s.handle_timeout(pong_deadline);
    // The parked GET gets a close packet.
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"1"));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::PingTimeout)]
    );
    assert_eq!(s.poll_timeout(), None);
}

#[test]
fn pong_reschedules_next_ping_from_the_pong() {
    let (mut s, t0) = polling();
    let t1 = t0 + Duration::from_secs(25);
    s.handle_timeout(t1);
    let t2 = t1 + Duration::from_secs(3);
    s.handle_post(t2, b"3", false).unwrap();
    // Node: pingIntervalTimer.refresh() on pong.
    assert_eq!(s.poll_timeout(), Some(t2 + Duration::from_secs(25)));
    assert!(!s.is_closed());
}

#[test]
fn ws_heartbeat() {
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    let t1 = t0 + Duration::from_secs(25);
    s.handle_timeout(t1);
    assert_eq!(s.poll_transmit(), Some(text("2")));
    s.handle_ws_message(t1, WsInput::Text("3"));
    s.handle_timeout(t1 + Duration::from_secs(20));
    assert!(!s.is_closed());
    s.handle_timeout(t1 + Duration::from_secs(25));
    assert_eq!(s.poll_transmit(), Some(text("2")));
    s.handle_timeout(t1 + Duration::from_secs(45));
    assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::PingTimeout)]
    );
}

#[test]
fn v4_client_ping_is_a_transport_error() {
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    s.handle_ws_message(t0, WsInput::Text("2"));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
}

#[test]
fn v3_heartbeat_is_client_driven() {
    let config = Config {
        allow_eio3: true,
        ..Config::default()
    };
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V3, &config);
    // No server ping: the only deadline is the client's ping, interval + timeout away.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(45)));
    let t1 = t0 + Duration::from_secs(30);
    s.handle_post(t1, b"1:2", false).unwrap();
    s.handle_poll(t1).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"1:3"));
    assert_eq!(s.poll_timeout(), Some(t1 + Duration::from_secs(45)));
    s.handle_timeout(t1 + Duration::from_secs(44));
    assert!(!s.is_closed());
    s.handle_timeout(t1 + Duration::from_secs(45));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::PingTimeout)]
    );
    // A pong from a v3 client is the wrong direction.
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V3, &config);
    s.handle_post(t0, b"1:3", false).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
}

#[test]
fn v3_binary_over_polling_and_ws() {
    let config = Config {
        allow_eio3: true,
        ..Config::default()
    };
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V3, &config);
    s.send(EncodedPacket::binary(vec![1u8, 2])).unwrap();
    s.send(EncodedPacket::text("a")).unwrap();
    s.handle_poll(t0).unwrap();
    match s.poll_transmit() {
        Some(Transmit::Poll(r)) => {
            assert!(r.binary);
            assert_eq!(r.content_type(), "application/octet-stream");
            assert_eq!(&r.body[..], &[1, 3, 0xff, 4, 1, 2, 0, 2, 0xff, b'4', b'a']);
        }
        other => panic!("{other:?}"),
    }
    // A binary POST body in the XHR2 format.
    s.handle_post(t0, &[1, 3, 0xff, 4, 9, 8], true).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Binary(Bytes::from_static(&[9, 8])))]
    );
    let (mut ws, t0) = open(TransportKind::WebSocket, Protocol::V3, &config);
    ws.handle_ws_message(t0, WsInput::Binary(&Bytes::from_static(&[4, 7])));
    assert_eq!(
        events(&mut ws),
        vec![Event::Message(Message::Binary(Bytes::from_static(&[7])))]
    );
    ws.handle_ws_message(t0, WsInput::Text("2"));
    assert_eq!(ws.poll_transmit(), Some(text("3")));
}

#[test]
fn polling_get_parked_then_answered_with_everything_queued() {
    let (mut s, t0) = polling();
    s.handle_poll(t0).unwrap();
    assert_eq!(s.poll_transmit(), None);
    s.send(EncodedPacket::text("a")).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"4a"));
    // Nothing pending: packets wait for the next GET, then all go at once.
    s.send(EncodedPacket::text("b")).unwrap();
    s.send(EncodedPacket::binary(vec![1u8, 2, 3, 4])).unwrap();
    s.send(EncodedPacket::text("c")).unwrap();
    assert_eq!(s.poll_transmit(), None);
    s.handle_poll(t0).unwrap();
    assert_eq!(
        poll_body(&mut s).unwrap(),
        Bytes::from_static(b"4b\x1ebAQIDBA==\x1e4c")
    );
}

#[test]
fn post_delivers_messages() {
    let (mut s, t0) = polling();
    s.handle_post_start(t0).unwrap();
    s.handle_post(t0, b"4test1\x1e4test2\x1ebAQIDBA==", false)
        .unwrap();
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Message::Text("test1".into())),
            Event::Message(Message::Text("test2".into())),
            Event::Message(Message::Binary(Bytes::from_static(&[1, 2, 3, 4]))),
        ]
    );
}

#[test]
fn concurrent_get_closes_the_session() {
    let (mut s, t0) = polling();
    s.handle_poll(t0).unwrap();
    let err = s.handle_poll(t0).unwrap_err();
    assert_eq!(err, RequestError::Overlap);
    assert_eq!(err.status(), 400);
    assert!(err.closes_session());
    // The first GET is answered with a close packet (test-suite: "1").
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"1"));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
    // Later requests: unknown session.
    assert_eq!(
        s.handle_poll(t0),
        Err(RequestError::Engine(EngineError::UnknownSid))
    );
}

#[test]
fn concurrent_post_closes_the_session() {
    let (mut s, t0) = polling();
    s.handle_post_start(t0).unwrap();
    assert_eq!(s.handle_post_start(t0), Err(RequestError::Overlap));
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
}

#[test]
fn aborted_requests_are_transport_errors() {
    let (mut s, t0) = polling();
    s.handle_poll(t0).unwrap();
    s.handle_poll_aborted(t0);
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
    let (mut s, t0) = polling();
    s.handle_post_start(t0).unwrap();
    s.handle_post_aborted(t0);
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
}

#[test]
fn post_over_max_http_buffer_size_is_413_and_session_lives() {
    let config = Config {
        max_http_buffer_size: 10,
        ..Config::default()
    };
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V4, &config);
    let err = s.handle_post(t0, b"4012345678901", false).unwrap_err();
    assert_eq!(err, RequestError::PayloadTooLarge);
    assert_eq!(err.status(), 413);
    assert!(!s.is_closed());
    s.handle_post(t0, b"4ok", false).unwrap();
    assert_eq!(
        events(&mut s),
        vec![Event::Message(Message::Text("ok".into()))]
    );
}

#[test]
fn bad_post_body_is_a_parse_error() {
    let (mut s, t0) = polling();
    s.handle_poll(t0).unwrap();
    let err = s.handle_post(t0, b"4fine\x1eabc", false).unwrap_err();
    assert!(matches!(err, RequestError::Parse(_)));
    assert_eq!(err.status(), 400);
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"1"));
    assert_eq!(
        events(&mut s),
        vec![
            Event::Message(Message::Text("fine".into())),
            Event::Closed(CloseReason::ParseError)
        ]
    );
    // Binary content on v4 polling.
    let (mut s, t0) = polling();
    assert_eq!(
        s.handle_post(t0, &[1, 2], true),
        Err(RequestError::InvalidContent)
    );
    assert!(s.is_closed());
}

#[test]
fn client_close_over_polling() {
    let (mut s, t0) = polling();
    s.handle_poll(t0).unwrap();
    s.handle_post(t0, b"1", false).unwrap();
    // test-suite: the pending GET gets a noop.
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"6"));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportClose)]
    );
    assert_eq!(s.send(EncodedPacket::text("x")), Err(SendError::Closed));
    // That GET got its noop: nothing is kept for a later one.
    assert_eq!(s.overtaken_poll_answer(), None);
}

#[test]
fn a_request_after_the_pong_deadline_finds_the_session_closed_before_the_timer_fires() {
    let config = Config::default();
    let (mut s, t0) = polling();
    let after_deadline = t0 + config.ping_interval + config.ping_timeout;
    // The shell's timer has not fired for the ping nor the deadline: the GET comes first.
    assert_eq!(
        s.handle_poll(after_deadline),
        Err(RequestError::Engine(EngineError::UnknownSid))
    );
    assert!(events(&mut s).contains(&Event::Closed(CloseReason::PingTimeout)));
    let (mut s, t0) = polling();
    assert!(s
        .handle_post(t0 + config.ping_interval + config.ping_timeout, b"3", false)
        .is_err());
    assert!(events(&mut s).contains(&Event::Closed(CloseReason::PingTimeout)));
    // Before the deadline, a GET when the ping is due gets the ping at once.
    let (mut s, t0) = polling();
    s.handle_poll(t0 + config.ping_interval).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"2"));
}

#[test]
fn a_get_overtaken_by_the_clients_close_gets_the_noop_it_would_have_got() {
    // (A GET that was waiting: see `client_close_over_polling`.) No GET waiting: the answer
    // is kept for the one the close overtook.
    let (mut s, t0) = polling();
    s.handle_post(t0, b"1", false).unwrap();
    assert_eq!(poll_body(&mut s), None);
    let answer = s
        .overtaken_poll_answer()
        .expect("an answer for the overtaken GET");
    assert_eq!(answer.body, Bytes::from_static(b"6"));
    // That GET handed to the machine itself gets the noop, once; the next gets 400.
    s.handle_poll(t0).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"6"));
    assert_eq!(s.overtaken_poll_answer(), None);
    assert_eq!(
        s.handle_poll(t0),
        Err(RequestError::Engine(EngineError::UnknownSid))
    );
    // v3 frames it as a v3 payload.
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V3, &Config::default());
    s.handle_post(t0, b"1:1", false).unwrap();
    assert_eq!(
        s.overtaken_poll_answer().map(|a| a.body),
        Some(Bytes::from_static(b"1:6"))
    );
    // Other ends leave nothing: a parse error, a ping timeout, the server's close.
    let (mut s, t0) = polling();
    let _ = s.handle_post(t0, b"x", false);
    assert!(s.is_closed());
    assert_eq!(s.overtaken_poll_answer(), None);
    let (mut s, t0) = polling();
    s.handle_timeout(t0 + Duration::from_secs(3600));
    s.handle_timeout(t0 + Duration::from_secs(7200));
    assert!(s.is_closed());
    assert_eq!(s.overtaken_poll_answer(), None);
    let (mut s, t0) = polling();
    s.close(t0);
    assert_eq!(s.overtaken_poll_answer(), None);
}

#[test]
fn client_close_over_websocket() {
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    s.handle_ws_message(t0, WsInput::Text("1"));
    assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportClose)]
    );
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    s.handle_ws_closed(t0);
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportClose)]
    );
}

#[test]
fn server_close_over_polling_goes_with_the_next_get() {
    let (mut s, t0) = polling();
    s.send(EncodedPacket::text("bye")).unwrap();
    s.close(t0);
    assert_eq!(s.send(EncodedPacket::text("late")), Err(SendError::Closed));
    assert!(!s.is_closed());
    // No more pings while closing; the close timeout (30 s) is the only deadline.
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(30)));
    s.handle_poll(t0).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"4bye\x1e1"));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::ForcedClose)]
    );
}

#[test]
fn a_stopping_server_ends_a_polling_session_at_once_with_or_without_a_get() {
    let config = Config {
        ping_timeout: Duration::from_secs(60),
        ping_interval: Duration::from_secs(60),
        ..Config::default()
    };
    // No GET parked: the session ends now rather than after the 30 s close timeout (a
    // stopping server's connections may never carry another GET), as Node discards it.
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V4, &config);
    s.send(EncodedPacket::text("undelivered")).unwrap();
    s.close_with(t0, CloseReason::ServerShuttingDown);
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::ServerShuttingDown)]
    );
    assert_eq!(s.poll_timeout(), None);
    assert_eq!(
        CloseReason::ServerShuttingDown.as_str(),
        "server shutting down"
    );

    // A GET parked: it takes the close packet.
    let (mut s, t0) = open(TransportKind::Polling, Protocol::V4, &config);
    s.handle_poll(t0).unwrap();
    s.close_with(t0, CloseReason::ServerShuttingDown);
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"1"));
    assert!(s.is_closed());
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::ServerShuttingDown)]
    );
}

#[test]
fn server_close_over_websocket() {
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    s.send(EncodedPacket::text("bye")).unwrap();
    s.close(t0);
    assert_eq!(transmits(&mut s), vec![text("4bye"), Transmit::CloseWs]);
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::ForcedClose)]
    );
}

#[test]
fn queue_overflow() {
    let config = Config {
        max_queued_packets: 2,
        ..Config::default()
    };
    let (mut s, _) = open(TransportKind::WebSocket, Protocol::V4, &config);
    let shared = EncodedPacket::text("x");
    s.send(shared.clone()).unwrap();
    s.send(shared.clone()).unwrap();
    assert_eq!(s.send(shared.clone()), Err(SendError::QueueFull));
    assert_eq!(s.queued(), 2);
    assert!(s.poll_transmit().is_some());
    s.send(shared).unwrap();
    assert!(!s.is_closed());
}

#[test]
fn shared_packet_across_sessions() {
    let packet = EncodedPacket::text("fan-out");
    let (mut a, t0) = polling();
    let (mut b, _) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    a.send(packet.clone()).unwrap();
    b.send(packet.clone()).unwrap();
    a.handle_poll(t0).unwrap();
    let body = poll_body(&mut a).unwrap();
    let Some(Transmit::Ws {
        frame: WsFrame::Text(frame),
        ..
    }) = b.poll_transmit()
    else {
        panic!()
    };
    assert_eq!(body, frame);
    // Same allocation for the WebSocket frame.
    assert_eq!(frame.as_ptr(), packet.as_bytes().as_ptr());
}

fn upgrade_to_probe(s: &mut Session, now: Instant) {
    s.handle_ws_upgrade(now).unwrap();
    s.handle_ws_message(now, WsInput::Text("2probe"));
    assert_eq!(s.poll_transmit(), Some(text("3probe")));
    assert_eq!(s.poll_event(), Some(Event::Upgrading));
}

#[test]
fn upgrade_happy_path() {
    let (mut s, t0) = polling();
    s.handle_poll(t0).unwrap();
    upgrade_to_probe(&mut s, t0);
    // The pending GET is released with a noop.
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"6"));
    // A message sent meanwhile waits for the next transport.
    s.send(EncodedPacket::text("queued")).unwrap();
    s.handle_ws_message(t0, WsInput::Text("5"));
    assert_eq!(s.poll_event(), Some(Event::Upgraded));
    assert_eq!(s.transport(), TransportKind::WebSocket);
    assert_eq!(s.poll_transmit(), Some(text("4queued")));
    s.handle_ws_message(t0, WsInput::Text("4hello"));
    assert_eq!(
        s.poll_event(),
        Some(Event::Message(Message::Text("hello".into())))
    );
    s.send(EncodedPacket::text("hi")).unwrap();
    assert_eq!(s.poll_transmit(), Some(text("4hi")));
    // Polling requests after the upgrade: 400 "Bad request", session unaffected.
    let err = s.handle_poll(t0).unwrap_err();
    assert_eq!(err, RequestError::Engine(EngineError::BadRequest));
    assert_eq!(&err.body()[..], br#"{"code":3,"message":"Bad request"}"#);
    assert_eq!(
        s.handle_post(t0, b"4x", false),
        Err(RequestError::Engine(EngineError::BadRequest))
    );
    // A second WebSocket for the same sid is refused.
    assert_eq!(s.handle_ws_upgrade(t0), Err(EngineError::BadRequest));
    assert!(!s.is_closed());
    // Heartbeat continues on the websocket.
    s.handle_timeout(t0 + Duration::from_secs(25));
    assert_eq!(s.poll_transmit(), Some(text("2")));
}

#[test]
fn get_during_upgrade_returns_noop_or_packets() {
    let (mut s, t0) = polling();
    upgrade_to_probe(&mut s, t0);
    s.handle_poll(t0).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"6"));
    s.send(EncodedPacket::text("m")).unwrap();
    s.handle_poll(t0).unwrap();
    assert_eq!(poll_body(&mut s).unwrap(), Bytes::from_static(b"4m"));
}

#[test]
fn upgrade_timeout_closes_candidate_only() {
    let (mut s, t0) = polling();
    s.handle_ws_upgrade(t0).unwrap();
    assert!(s.is_upgrading());
    assert_eq!(s.poll_timeout(), Some(t0 + Duration::from_secs(10)));
    // A second candidate while one is pending is refused.
    assert_eq!(s.handle_ws_upgrade(t0), Err(EngineError::BadRequest));
    s.handle_timeout(t0 + Duration::from_secs(10));
    assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs));
    assert!(!s.is_upgrading());
    assert!(!s.is_closed());
    assert_eq!(s.transport(), TransportKind::Polling);
    // A new attempt is possible.
    s.handle_ws_upgrade(t0 + Duration::from_secs(11)).unwrap();
}

#[test]
fn other_packets_on_the_candidate_abort_the_upgrade() {
    for bad in ["4hello", "2", "3probe", "x", "1"] {
        let (mut s, t0) = polling();
        s.handle_ws_upgrade(t0).unwrap();
        s.handle_ws_message(t0, WsInput::Text(bad));
        assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs), "{bad}");
        assert!(!s.is_upgrading());
        assert!(!s.is_closed());
        assert_eq!(s.poll_event(), None);
    }
}

#[test]
fn candidate_websocket_closing_keeps_the_session() {
    let (mut s, t0) = polling();
    upgrade_to_probe(&mut s, t0);
    s.handle_ws_closed(t0);
    assert!(!s.is_upgrading());
    assert!(!s.is_closed());
    s.handle_ws_message(t0, WsInput::Text("5"));
    assert_eq!(s.transport(), TransportKind::Polling);
}

#[test]
fn session_close_before_the_probe_closes_the_candidate() {
    let (mut s, t0) = polling();
    s.handle_ws_upgrade(t0).unwrap();
    s.close(t0);
    assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs));
    assert_eq!(s.handle_ws_upgrade(t0), Err(EngineError::BadRequest));
}

#[test]
fn session_close_after_the_probe_finishes_the_upgrade_then_closes() {
    // The client has paused polling and waits to send `5`: closing the candidate would leave
    // it with neither transport until its ping timeout.
    let (mut s, t0) = polling();
    upgrade_to_probe(&mut s, t0);
    s.send(EncodedPacket::text("last")).unwrap();
    s.close(t0);
    assert_eq!(s.poll_transmit(), None);
    assert!(!s.is_closed());
    s.handle_ws_message(t0, WsInput::Text("5"));
    assert_eq!(s.transport(), TransportKind::WebSocket);
    assert_eq!(s.poll_transmit(), Some(text("4last")));
    assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs));
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.poll_event(), Some(Event::Upgraded));
    assert_eq!(
        s.poll_event(),
        Some(Event::Closed(CloseReason::ForcedClose))
    );
    assert!(s.is_closed());
}

#[test]
fn session_close_after_the_probe_ends_when_the_upgrade_never_comes() {
    let (mut s, t0) = polling();
    upgrade_to_probe(&mut s, t0);
    s.close(t0);
    let deadline = s.poll_timeout().unwrap();
    assert!(deadline <= t0 + Duration::from_secs(30));
    s.handle_timeout(deadline);
    let mut later = deadline;
    while !s.is_closed() {
        later = s.poll_timeout().unwrap();
        s.handle_timeout(later);
    }
    assert!(later <= t0 + Duration::from_secs(30));
    assert!(transmits(&mut s).contains(&Transmit::CloseWs));
}

#[test]
fn oversized_ws_frame_is_a_transport_error() {
    let config = Config {
        max_http_buffer_size: 4,
        ..Config::default()
    };
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &config);
    s.handle_ws_message(t0, WsInput::Binary(&Bytes::from_static(&[0; 5])));
    assert_eq!(
        events(&mut s),
        vec![Event::Closed(CloseReason::TransportError)]
    );
}

#[test]
fn bad_ws_frame_is_a_parse_error() {
    let (mut s, t0) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    s.handle_ws_message(t0, WsInput::Text("abc"));
    assert_eq!(s.poll_transmit(), Some(Transmit::CloseWs));
    assert_eq!(events(&mut s), vec![Event::Closed(CloseReason::ParseError)]);
    // Inputs after close are refused or ignored cleanly.
    s.handle_ws_message(t0, WsInput::Text("4x"));
    s.handle_timeout(t0 + Duration::from_secs(100));
    s.close(t0);
    assert_eq!(s.poll_event(), None);
    assert_eq!(s.poll_transmit(), None);
    assert_eq!(s.handle_ws_upgrade(t0), Err(EngineError::UnknownSid));
}

#[test]
fn the_compress_flag_reaches_websocket_frames_and_polling_responses() {
    let plain = EncodedPacket::text("a").without_compression();
    assert!(!plain.compress());
    let (mut ws, _) = open(TransportKind::WebSocket, Protocol::V4, &Config::default());
    ws.send(plain.clone()).unwrap();
    ws.send(EncodedPacket::text("b")).unwrap();
    assert_eq!(
        transmits(&mut ws),
        vec![
            Transmit::Ws {
                frame: WsFrame::Text(Bytes::from_static(b"4a")),
                compress: false,
            },
            text("4b"),
        ]
    );
    // Polling (as Node): compressible when any packet of the payload is.
    let (mut poll, t0) = polling();
    poll.send(plain.clone()).unwrap();
    poll.handle_poll(t0).unwrap();
    match poll.poll_transmit() {
        Some(Transmit::Poll(r)) => assert!(!r.compress, "only uncompressed packets"),
        other => panic!("{other:?}"),
    }
    poll.send(plain).unwrap();
    poll.send(EncodedPacket::text("b")).unwrap();
    poll.handle_poll(t0).unwrap();
    match poll.poll_transmit() {
        Some(Transmit::Poll(r)) => assert!(r.compress, "one packet allows it"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn binary_websocket_messages_are_not_copied() {
    let data = Bytes::from(vec![4u8; 64 * 1024]);
    for protocol in [Protocol::V4, Protocol::V3] {
        let (mut ws, t0) = open(TransportKind::WebSocket, protocol, &Config::default());
        ws.handle_ws_message(t0, WsInput::Binary(&data));
        let Some(Event::Message(Message::Binary(got))) = ws.poll_event() else {
            panic!("a binary message")
        };
        // v4: the message is the frame; v3: the frame after its type byte `4`.
        let skip = usize::from(protocol == Protocol::V3);
        assert_eq!(got.len(), data.len() - skip);
        assert_eq!(
            got.as_ptr(),
            data[skip..].as_ptr(),
            "{protocol:?}: shared, not copied"
        );
    }
}
