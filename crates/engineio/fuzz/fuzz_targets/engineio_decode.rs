//! Feeds arbitrary bytes to the v4 and v3 payload decoders, and to live sessions (v4 and v3,
//! polling and WebSocket, and an upgrade candidate) as POST bodies and WebSocket messages.
#![no_main]

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use libfuzzer_sys::fuzz_target;
use switchboard_engineio::{
    payload, v3, Config, EncodedPacket, Handshake, Packet, Protocol, Session, TransportKind,
    WsInput,
};

fn base() -> &'static Instant {
    static T: OnceLock<Instant> = OnceLock::new();
    T.get_or_init(Instant::now)
}

fn session(transport: TransportKind, protocol: Protocol, b64: bool) -> Session {
    let config = Config {
        allow_eio3: true,
        max_http_buffer_size: 4096,
        ..Config::default()
    };
    let handshake = Handshake {
        transport,
        protocol,
        b64,
    };
    Session::new(*base(), "fuzz".into(), handshake, &config)
}

fn drain(s: &mut Session) {
    while s.poll_transmit().is_some() {}
    while s.poll_event().is_some() {}
}

fuzz_target!(|data: &[u8]| {
    let now = *base();
    let (&selector, body) = data.split_first().unwrap_or((&0, &[]));

    let _ = payload::decode_payload(body);
    let _ = v3::decode_payload(body, false);
    let _ = v3::decode_payload(body, true);
    let _ = v3::decode_binary_packet(body);
    if let Ok(text) = std::str::from_utf8(body) {
        let _ = Packet::decode_text(text, Protocol::V4);
        let _ = Packet::decode_text(text, Protocol::V3);
    }

    let protocol = if selector & 1 == 0 { Protocol::V4 } else { Protocol::V3 };
    let b64 = selector & 2 != 0;

    // Polling: the body as a POST, then a GET and some time.
    let mut s = session(TransportKind::Polling, protocol, b64);
    drain(&mut s);
    let _ = s.handle_post(now, body, selector & 4 != 0);
    let _ = s.send(EncodedPacket::binary(body.to_vec()));
    let _ = s.handle_poll(now);
    s.handle_timeout(now + Duration::from_secs(30));
    drain(&mut s);

    // Polling requests and timers at increasing times, in any order: deadlines due by a
    // request run first, and a close overtaking a GET leaves one answer for it.
    let mut s = session(TransportKind::Polling, protocol, b64);
    let mut at = now;
    for &b in body.iter().take(64) {
        at += Duration::from_millis(u64::from(b) * 20);
        match b % 4 {
            0 => drop(s.handle_poll(at)),
            1 => drop(s.handle_post(at, b"3", false)),
            2 => drop(s.handle_post(at, b"1", false)),
            _ => s.handle_timeout(at),
        }
        let _ = s.overtaken_poll_answer();
        drain(&mut s);
    }

    // WebSocket: the body split into messages at 0x00 bytes.
    let mut s = session(TransportKind::WebSocket, protocol, b64);
    for chunk in body.split(|&b| b == 0) {
        let shared = bytes::Bytes::copy_from_slice(chunk);
        let input = match std::str::from_utf8(chunk) {
            Ok(text) if selector & 8 == 0 => WsInput::Text(text),
            _ => WsInput::Binary(&shared),
        };
        s.handle_ws_message(now, input);
    }
    drain(&mut s);

    // Upgrade candidate: the same messages on a polling session's candidate WebSocket.
    let mut s = session(TransportKind::Polling, protocol, b64);
    let _ = s.handle_ws_upgrade(now);
    for chunk in body.split(|&b| b == 0) {
        if let Ok(text) = std::str::from_utf8(chunk) {
            s.handle_ws_message(now, WsInput::Text(text));
        }
        let _ = s.handle_poll(now);
        let _ = s.send(EncodedPacket::text("x"));
        drain(&mut s);
    }
});
