//! Node's handshake options: `cookie` (the session id in a cookie on the handshake answer)
//! and `allowRequest` (the application refuses handshakes before any session exists), as in
//! `lib/server.ts` (`verify()`, `handshake()`, `abortRequest()`, `abortUpgrade()`), and the
//! `connection_error` hook told of every refused request.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod engine_common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use engine_common::*;
use http::{header, Request, StatusCode};
use http_body_util::Full;
use switchboard_engineio::EncodedPacket;
use switchboard_socketio::engine::{
    AllowRequest, Cookie, EngineConfig, OnConnectionError, RemoteAddr, RequestInfo,
};
use switchboard_socketio::{Config, SocketIo};
use tokio::net::TcpStream;

// ---- cookie ---------------------------------------------------------------------------

#[tokio::test]
async fn no_cookie_by_default() {
    let engine = engine(EngineConfig::default());
    let (_, open) = handshake(&engine, &[]).await;
    assert!(open.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn the_polling_handshake_sets_the_cookie_and_later_requests_do_not() {
    let engine = engine(EngineConfig {
        cookie: Some(Cookie::default()),
        ..EngineConfig::default()
    });
    let (sid, open) = handshake(&engine, &[]).await;
    let cookies: Vec<_> = open.headers().get_all(header::SET_COOKIE).iter().collect();
    assert_eq!(
        cookies,
        [format!("io={sid}; Path=/; HttpOnly; SameSite=Lax").as_str()]
    );
    let response = echo_back(&engine, &sid, 4, EncodedPacket::text("hi"), &[]).await;
    assert!(response.headers().get(header::SET_COOKIE).is_none());

    let named = self::engine(EngineConfig {
        cookie: Some(Cookie::named("lb")),
        ..EngineConfig::default()
    });
    let (sid, open) = handshake(&named, &[]).await;
    assert_eq!(
        open.headers()[header::SET_COOKIE],
        format!("lb={sid}; Path=/; HttpOnly; SameSite=Lax").as_str()
    );
}

#[tokio::test]
async fn an_invalid_cookie_name_sets_no_cookie() {
    let engine = engine(EngineConfig {
        cookie: Some(Cookie::named("bad name")),
        ..EngineConfig::default()
    });
    let (_, open) = handshake(&engine, &[]).await;
    assert!(open.headers().get(header::SET_COOKIE).is_none());
}

#[tokio::test]
async fn a_websocket_only_handshake_carries_the_cookie_on_its_101() {
    let addr = serve(engine(EngineConfig {
        cookie: Some(Cookie::default()),
        ..EngineConfig::default()
    }))
    .await;
    let mut ws = RawWs::connect(addr, "").await;
    assert!(ws.head.starts_with("HTTP/1.1 101"), "{}", ws.head);
    let cookies: Vec<String> = ws
        .header("set-cookie")
        .into_iter()
        .map(String::from)
        .collect();
    assert_eq!(cookies.len(), 1, "{}", ws.head);
    let open = ws.frame().await;
    let open: serde_json::Value =
        serde_json::from_slice(open.payload.strip_prefix(b"0").unwrap()).unwrap();
    let sid = open["sid"].as_str().unwrap();
    assert_eq!(
        cookies[0],
        format!("io={sid}; Path=/; HttpOnly; SameSite=Lax")
    );
}

// ---- allowRequest ---------------------------------------------------------------------

/// A hook refusing requests with an `x-deny` header (its value as the message), counting
/// calls and remembering the remote addresses it saw.
fn deny_header(calls: Arc<AtomicUsize>, seen: Arc<Mutex<Vec<SocketAddr>>>) -> AllowRequest {
    AllowRequest::new(move |request: &RequestInfo| {
        calls.fetch_add(1, Ordering::SeqCst);
        if let Some(addr) = request.remote_addr {
            seen.lock().unwrap().push(addr);
        }
        let deny = request
            .headers
            .get("x-deny")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        async move {
            // A real hook would look something up; make sure awaiting works.
            tokio::task::yield_now().await;
            match deny {
                Some(message) => Err(message),
                None => Ok(()),
            }
        }
    })
}

#[tokio::test]
async fn a_refused_polling_handshake_gets_403_and_no_session() {
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let engine = engine(EngineConfig {
        allow_request: Some(deny_header(Arc::clone(&calls), Arc::clone(&seen))),
        ..EngineConfig::default()
    });
    let refused = call(
        &engine,
        "GET",
        "EIO=4&transport=polling",
        &[("x-deny", "")],
        "",
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(refused.headers()[header::CONTENT_TYPE], "application/json");
    assert_eq!(body(refused).await, r#"{"code":4,"message":"Forbidden"}"#);
    let refused = call(
        &engine,
        "GET",
        "EIO=4&transport=polling",
        &[("x-deny", "Thou shall not pass")],
        "",
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(
        body(refused).await,
        r#"{"code":4,"message":"Thou shall not pass"}"#
    );
    assert_eq!(engine.sessions(), 0);

    // Accepted: a session, and the hook saw the remote address the server passed on.
    let peer: SocketAddr = "192.0.2.7:4567".parse().unwrap();
    let mut req = Request::get("/engine.io/?EIO=4&transport=polling")
        .body(Full::new(Bytes::new()))
        .unwrap();
    req.extensions_mut().insert(RemoteAddr(peer));
    let accepted = engine.handle::<TcpStream, _>(req).await;
    assert_eq!(accepted.status(), StatusCode::OK);
    assert_eq!(engine.sessions(), 1);
    assert_eq!(*seen.lock().unwrap(), [peer]);

    // Requests of an existing session are not asked again (Node asks on handshakes only).
    let before = calls.load(Ordering::SeqCst);
    let open = String::from_utf8(body(accepted).await.to_vec()).unwrap();
    let sid = open.split("\"sid\":\"").nth(1).unwrap()[..20].to_owned();
    let response = echo_back(&engine, &sid, 4, EncodedPacket::text("hi"), &[]).await;
    assert_eq!(body(response).await, "4hi");
    assert_eq!(calls.load(Ordering::SeqCst), before);
}

#[tokio::test]
async fn the_hook_runs_before_the_protocol_revision_is_checked() {
    let calls = Arc::new(AtomicUsize::new(0));
    let engine = engine(EngineConfig {
        allow_request: Some(deny_header(Arc::clone(&calls), Arc::default())),
        ..EngineConfig::default()
    });
    // Refused v3 handshake: 403, as Node (allowRequest in verify(), the version later).
    let refused = call(
        &engine,
        "GET",
        "EIO=3&transport=polling",
        &[("x-deny", "")],
        "",
    )
    .await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // Allowed v3 handshake on a v4-only server: code 5.
    let unsupported = call(&engine, "GET", "EIO=3&transport=polling", &[], "").await;
    assert_eq!(unsupported.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body(unsupported).await,
        r#"{"code":5,"message":"Unsupported protocol version"}"#
    );
    // Bad requests are refused before the hook is asked.
    let unknown = call(&engine, "GET", "EIO=4&transport=pigeon", &[], "").await;
    assert_eq!(unknown.status(), StatusCode::BAD_REQUEST);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

const UPGRADE: [(&str, &str); 4] = [
    ("connection", "Upgrade"),
    ("upgrade", "websocket"),
    ("sec-websocket-version", "13"),
    ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
];

#[tokio::test]
async fn a_refused_websocket_handshake_gets_nodes_400_before_the_upgrade() {
    let engine = engine(EngineConfig {
        allow_request: Some(deny_header(Arc::default(), Arc::default())),
        ..EngineConfig::default()
    });
    for (message, expected) in [("", "Forbidden"), ("go away", "go away")] {
        let mut headers = UPGRADE.to_vec();
        headers.push(("x-deny", message));
        let refused = call(&engine, "GET", "EIO=4&transport=websocket", &headers, "").await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
        assert_eq!(refused.headers()[header::CONTENT_TYPE], "text/html");
        assert_eq!(refused.headers()[header::CONNECTION], "close");
        assert!(refused
            .headers()
            .get(header::SEC_WEBSOCKET_ACCEPT)
            .is_none());
        assert_eq!(body(refused).await, expected);
    }
    let allowed = call(&engine, "GET", "EIO=4&transport=websocket", &UPGRADE, "").await;
    assert_eq!(allowed.status(), StatusCode::SWITCHING_PROTOCOLS);
}

#[tokio::test]
async fn socketio_config_carries_the_hook() {
    let mut config = Config::default();
    config.engine.allow_request = Some(AllowRequest::new(|request: &RequestInfo| {
        let token = request.uri.query().unwrap_or_default().contains("token=ok");
        async move {
            if token {
                Ok(())
            } else {
                Err("no token".into())
            }
        }
    }));
    let io = SocketIo::new(config);
    let ask = |query: &'static str| {
        let io = io.clone();
        async move {
            let req = Request::get(format!("/socket.io/?EIO=4&transport=polling{query}"))
                .body(Full::new(Bytes::new()))
                .unwrap();
            io.handle::<TcpStream, _>(req).await
        }
    };
    let refused = ask("").await;
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert_eq!(body(refused).await, r#"{"code":4,"message":"no token"}"#);
    assert_eq!(ask("&token=ok").await.status(), StatusCode::OK);
    assert_eq!(io.sessions(), 1);
}

// ---- connection_error ------------------------------------------------------------------

#[tokio::test]
async fn refused_requests_reach_the_connection_error_hook() {
    type Seen = (u8, String, String, String);
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let record = Arc::clone(&seen);
    let engine = engine(EngineConfig {
        allow_request: Some(deny_header(Arc::default(), Arc::default())),
        on_connection_error: Some(OnConnectionError::new(move |refused| {
            record.lock().unwrap().push((
                refused.error.code(),
                refused.message.clone(),
                refused.method.to_string(),
                refused.uri.query().unwrap_or_default().to_owned(),
            ));
        })),
        ..EngineConfig::default()
    });
    let deny = [("x-deny", "go away")];
    /// Method, query, headers, then the answer's status, the code and message reported.
    type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], u16, u8, &'a str);
    let no_version = [("connection", "Upgrade"), ("upgrade", "websocket")];
    let cases: [Case<'_>; 8] = [
        (
            "GET",
            "EIO=4&transport=pigeon",
            &[],
            400,
            0,
            "Transport unknown",
        ),
        (
            "GET",
            "EIO=4&transport=polling&sid=nope",
            &[],
            400,
            1,
            "Session ID unknown",
        ),
        (
            "POST",
            "EIO=4&transport=polling&sid=nope",
            &[],
            400,
            1,
            "Session ID unknown",
        ),
        (
            "POST",
            "EIO=4&transport=polling",
            &[],
            400,
            2,
            "Bad handshake method",
        ),
        (
            "GET",
            "EIO=5&transport=polling",
            &[],
            400,
            5,
            "Unsupported protocol version",
        ),
        ("GET", "EIO=4&transport=polling", &deny, 403, 4, "go away"),
        (
            "GET",
            "EIO=4&transport=websocket&sid=nope",
            &UPGRADE,
            400,
            1,
            "Session ID unknown",
        ),
        (
            "GET",
            "EIO=4&transport=websocket",
            &no_version,
            400,
            3,
            "missing Sec-WebSocket-Version",
        ),
    ];
    for (method, query, headers, status, _, _) in cases {
        let answer = call(&engine, method, query, headers, "").await;
        assert_eq!(answer.status().as_u16(), status, "{method} {query}");
    }
    let want: Vec<Seen> = cases
        .iter()
        .map(|(method, query, _, _, code, message)| {
            (
                *code,
                (*message).to_owned(),
                (*method).to_owned(),
                (*query).to_owned(),
            )
        })
        .collect();
    assert_eq!(*seen.lock().unwrap(), want);

    // Accepted requests are not reported.
    let (sid, _) = handshake(&engine, &[]).await;
    let response = echo_back(&engine, &sid, 4, EncodedPacket::text("hi"), &[]).await;
    assert_eq!(body(response).await, "4hi");
    assert_eq!(seen.lock().unwrap().len(), cases.len());
}
