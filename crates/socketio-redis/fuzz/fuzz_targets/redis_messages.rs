//! Whatever another server (or anyone with access to Redis) publishes: every decoder of the
//! adapter's messages must return, never panic, and what decodes as a broadcast must encode
//! back to a message that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    switchboard_socketio_redis::fuzz_decode(data);
});
