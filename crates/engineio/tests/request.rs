//! Request classification and the HTTP error answers, against Node's `verify()`/`handshake()`.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use switchboard_engineio::{
    classify, generate_sid, sid_from_bytes, Config, EngineError, Handshake, Protocol, Query,
    RequestKind, TransportKind,
};

fn config() -> Config {
    Config::default()
}

#[test]
fn handshakes() {
    assert_eq!(
        classify("GET", "EIO=4&transport=polling&t=abc", false, &config()),
        Ok(RequestKind::Handshake(Handshake {
            transport: TransportKind::Polling,
            protocol: Protocol::V4,
            b64: false,
        }))
    );
    assert_eq!(
        classify("GET", "EIO=4&transport=websocket", true, &config()),
        Ok(RequestKind::Handshake(Handshake {
            transport: TransportKind::WebSocket,
            protocol: Protocol::V4,
            b64: false,
        }))
    );
}

#[test]
fn protocol_version() {
    // Anything but "4" is v3 (Node: `req._query.EIO === "4" ? 4 : 3`), refused by default.
    for q in [
        "transport=polling",
        "EIO=abc&transport=polling",
        "EIO=3&transport=polling",
    ] {
        assert_eq!(
            classify("GET", q, false, &config()),
            Err(EngineError::UnsupportedProtocolVersion),
            "{q}"
        );
    }
    let mut c = config();
    c.allow_eio3 = true;
    assert_eq!(
        classify("GET", "EIO=3&transport=polling&b64=1", false, &c),
        Ok(RequestKind::Handshake(Handshake {
            transport: TransportKind::Polling,
            protocol: Protocol::V3,
            b64: true,
        }))
    );
}

#[test]
fn errors_in_node_order() {
    let c = config();
    assert_eq!(
        classify("GET", "EIO=4", false, &c),
        Err(EngineError::UnknownTransport)
    );
    assert_eq!(
        classify("GET", "EIO=4&transport=abc", false, &c),
        Err(EngineError::UnknownTransport)
    );
    assert_eq!(
        classify("PUT", "EIO=4&transport=polling", false, &c),
        Err(EngineError::BadHandshakeMethod)
    );
    assert_eq!(
        classify("POST", "EIO=4&transport=polling", false, &c),
        Err(EngineError::BadHandshakeMethod)
    );
    // WebSocket handshake without an upgrade.
    assert_eq!(
        classify("GET", "EIO=4&transport=websocket", false, &c),
        Err(EngineError::BadRequest)
    );
    // JSONP is not supported.
    assert_eq!(
        classify("GET", "EIO=4&transport=polling&j=0", false, &c),
        Err(EngineError::BadRequest)
    );
    // A disabled transport is unknown.
    let mut no_ws = c;
    no_ws.transports.websocket = false;
    assert_eq!(
        classify("GET", "EIO=4&transport=websocket", true, &no_ws),
        Err(EngineError::UnknownTransport)
    );
}

#[test]
fn existing_sessions() {
    let c = config();
    let sid = "ab-_cd";
    assert_eq!(
        classify("GET", "EIO=4&transport=polling&sid=ab-_cd", false, &c),
        Ok(RequestKind::Poll { sid: sid.into() })
    );
    assert_eq!(
        classify("POST", "EIO=4&transport=polling&sid=ab-_cd", false, &c),
        Ok(RequestKind::Post { sid: sid.into() })
    );
    assert_eq!(
        classify("GET", "EIO=4&transport=websocket&sid=ab-_cd", true, &c),
        Ok(RequestKind::Upgrade { sid: sid.into() })
    );
    assert_eq!(
        classify("GET", "EIO=4&transport=websocket&sid=ab-_cd", false, &c),
        Err(EngineError::BadRequest)
    );
    assert_eq!(
        classify("DELETE", "EIO=4&transport=polling&sid=x", false, &c),
        Err(EngineError::BadRequest)
    );
}

#[test]
fn error_bodies() {
    let all = [
        (
            EngineError::UnknownTransport,
            400,
            r#"{"code":0,"message":"Transport unknown"}"#,
        ),
        (
            EngineError::UnknownSid,
            400,
            r#"{"code":1,"message":"Session ID unknown"}"#,
        ),
        (
            EngineError::BadHandshakeMethod,
            400,
            r#"{"code":2,"message":"Bad handshake method"}"#,
        ),
        (
            EngineError::BadRequest,
            400,
            r#"{"code":3,"message":"Bad request"}"#,
        ),
        (
            EngineError::Forbidden,
            403,
            r#"{"code":4,"message":"Forbidden"}"#,
        ),
        (
            EngineError::UnsupportedProtocolVersion,
            400,
            r#"{"code":5,"message":"Unsupported protocol version"}"#,
        ),
    ];
    for (e, status, body) in all {
        assert_eq!(e.status(), status);
        assert_eq!(e.json_body(), body);
    }
}

#[test]
fn a_refusal_message_replaces_forbidden_and_is_json_escaped() {
    assert_eq!(
        EngineError::Forbidden.json_body_with_message("Thou shall not pass"),
        r#"{"code":4,"message":"Thou shall not pass"}"#
    );
    assert_eq!(
        EngineError::Forbidden.json_body_with_message(""),
        EngineError::Forbidden.json_body()
    );
    let body = EngineError::Forbidden.json_body_with_message("say \"no\"\n\u{1}");
    let parsed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(parsed["message"], "say \"no\"\n\u{1}");
    assert_eq!(parsed["code"], 4);
}

#[test]
fn query_parsing() {
    let q = Query::parse("sid=a%2Bb&EIO=4&sid=second&b64=&transport=polling");
    assert_eq!(q.sid.as_deref(), Some("a+b"));
    assert_eq!(q.eio.as_deref(), Some("4"));
    assert_eq!(q.b64.as_deref(), Some(""));
    // Malformed escapes stay as they are.
    assert_eq!(Query::parse("sid=%zz%").sid.as_deref(), Some("%zz%"));
}

#[test]
fn session_ids() {
    assert_eq!(sid_from_bytes(&[0xff; 15]), "____________________");
    let a = generate_sid();
    let b = generate_sid();
    assert_eq!(a.len(), 20);
    assert_ne!(a, b);
    assert!(a
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'-' || c == b'_'));
}
