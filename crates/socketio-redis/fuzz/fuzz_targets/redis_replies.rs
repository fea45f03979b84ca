//! Whatever Redis (or whoever sits where Redis should be) sends the sharded adapter's
//! subscriber: the RESP decoder must return, never panic, take nothing from an incomplete
//! reply, and decode the same replies whether the bytes come at once or in two pieces.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // A small limit, so that bulk strings over it are reached too.
    switchboard_socketio_redis::fuzz_decode_replies(data, 256);
});
