//! Feeds what a server could send to the client core: the input, split at 0xff bytes, is a
//! sequence of frames (a leading 0x00 marks a binary frame, 0x01 a time step of that many
//! half-seconds, 0x02 a lost transport and a new one, anything else a text frame), with the
//! text codec or (an odd first byte) msgpack. Sockets of
//! `/` and `/admin` wait for the connection. Whatever comes, the core must not panic, must keep
//! its queues within their limits, and must stay usable: a new transport and a handshake open
//! it again.
#![no_main]

use std::time::{Duration, Instant};

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use switchboard_socketio_client::{ClientCore, Codec, CoreLimits, DisconnectReason};

const OPEN: &str = r#"0{"sid":"s","upgrades":[],"pingInterval":25000,"pingTimeout":20000}"#;

fuzz_target!(|data: &[u8]| {
    let limits = CoreLimits {
        max_buffered_packets: 8,
        max_queued_frames: 64,
        ..CoreLimits::default()
    };
    // An odd first byte picks the msgpack codec.
    let codec = match data.first() {
        Some(b) if b % 2 == 1 => Codec::MsgPack,
        _ => Codec::Text,
    };
    let mut core = ClientCore::new(limits, codec);
    core.connect("/");
    core.connect("/admin");
    let mut now = Instant::now();
    core.transport_opened();
    for frame in data.split(|&b| b == 0xff) {
        match frame.split_first() {
            Some((0x00, rest)) => core.handle_binary(now, Bytes::copy_from_slice(rest)),
            Some((0x01, rest)) => {
                now += Duration::from_millis(u64::from(rest.first().copied().unwrap_or(0)) * 500);
                core.handle_timeout(now);
            }
            Some((0x02, _)) => {
                core.transport_closed(DisconnectReason::TransportClose);
                core.transport_opened();
            }
            _ => {
                if let Ok(text) = std::str::from_utf8(frame) {
                    core.handle_text(now, text);
                }
            }
        }
        let frames = std::iter::from_fn(|| core.poll_transmit()).count();
        assert!(frames <= limits.max_queued_frames + 8, "{frames} frames queued");
        while core.poll_event().is_some() {}
    }
    // Still usable: a new transport and a handshake open a session again.
    core.transport_closed(DisconnectReason::TransportClose);
    core.transport_opened();
    core.handle_text(now, OPEN);
    assert!(core.is_open());
});
