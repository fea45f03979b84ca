//! Feeds arbitrary bytes to the HTTP request parser and handshake validation (server side),
//! and to the response check (client side).
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchboard_ws::handshake::{
    accept_request, parse_request, ClientHandshake, ClientOptions, ServerPolicy, DEFAULT_MAX_HEAD_SIZE,
};
use switchboard_ws::DeflateConfig;

fuzz_target!(|data: &[u8]| {
    let policy = ServerPolicy {
        allowed_origins: Some(vec![String::from("http://example.com")]),
        subprotocols: vec![String::from("chat")],
        deflate: Some(DeflateConfig::default()),
    };
    if let Ok(Some((head, used))) = parse_request(data, DEFAULT_MAX_HEAD_SIZE) {
        assert!(used <= data.len());
        if let Ok(accepted) = accept_request(&head.method, &head, &policy) {
            let _ = accepted.response_bytes();
        }
    }
    let options = ClientOptions {
        protocols: vec![String::from("chat")],
        deflate: Some(DeflateConfig::default()),
        headers: Vec::new(),
    };
    let (client, _) = ClientHandshake::new("example.com", "/", options);
    let _ = client.parse_response(data, DEFAULT_MAX_HEAD_SIZE);
});
