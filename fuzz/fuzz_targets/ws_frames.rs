//! Feeds arbitrary bytes, in arbitrary read sizes, to server and client connections with and
//! without permessage-deflate. The connection may close; it may never panic, and what it
//! buffers stays within one frame of the configured limits.
#![no_main]

use std::time::Instant;

use libfuzzer_sys::fuzz_target;
use switchboard_ws::{Config, Connection, DeflateParams, Event, Role};

fuzz_target!(|data: &[u8]| {
    let Some((&control, input)) = data.split_first() else {
        return;
    };
    let role = if control & 1 == 0 { Role::Server } else { Role::Client };
    let deflate = (control & 2 != 0).then_some(DeflateParams {
        server_no_context_takeover: control & 4 != 0,
        client_no_context_takeover: control & 8 != 0,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    });
    let chunk = usize::from(control >> 4) * 7 + 1;
    let config = Config {
        max_frame_size: 4096,
        max_message_size: 8192,
        ..Config::default()
    };
    let now = Instant::now();
    let mut conn = Connection::new(role, config, deflate, now);
    for piece in input.chunks(chunk) {
        conn.handle_input(now, piece);
        while let Some(event) = conn.poll_event() {
            if let Event::Message(message) = event {
                assert!(message.payload().len() <= 8192);
            }
        }
        while conn.poll_transmit().is_some() {}
        assert!(conn.read_hint() <= 4096 + 14);
    }
    conn.handle_timeout(now + std::time::Duration::from_secs(3600));
});
