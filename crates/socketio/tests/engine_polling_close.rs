//! The client closes a polling session with a `close` packet in a POST: the GET it sent before
//! gets a noop whichever of the two requests the server sees first (a browser sends them on
//! separate connections, so the POST can overtake the GET); later GETs get Node's 400. And a
//! POST whose body never ends is closed with 408.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod engine_common;

use bytes::Bytes;
use engine_common::*;
use http::{Response, StatusCode};
use switchboard_socketio::engine::{Body, Engine, EngineConfig};

/// An echo engine with one polling session; the query string of its requests.
async fn polling_session() -> (Engine<Echo>, String) {
    let engine = engine(EngineConfig::default());
    let (sid, _) = handshake(&engine, &[]).await;
    (engine, format!("EIO=4&transport=polling&sid={sid}"))
}

async fn assert_is_noop(response: Response<Body>) {
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(body(response).await, Bytes::from_static(b"6"));
}

async fn get_after_close_is_unknown(engine: &Engine<Echo>, query: &str) {
    let late = call(engine, "GET", query, &[], "").await;
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert_eq!(
        body(late).await,
        Bytes::from_static(br#"{"code":1,"message":"Session ID unknown"}"#)
    );
}

#[tokio::test]
async fn a_waiting_get_gets_the_noop_and_the_next_one_400() {
    let (engine, query) = polling_session().await;
    let waiting = tokio::spawn({
        let engine = engine.clone();
        let query = query.clone();
        async move { body(call(&engine, "GET", &query, &[], "").await).await }
    });
    // The GET is parked before the close arrives (its task runs first on this thread).
    tokio::task::yield_now().await;
    let closed = call(&engine, "POST", &query, &[], "1").await;
    assert_eq!(closed.status(), StatusCode::OK);
    assert_eq!(waiting.await.unwrap(), Bytes::from_static(b"6"));
    get_after_close_is_unknown(&engine, &query).await;
}

#[tokio::test]
async fn a_get_overtaken_by_the_close_gets_the_noop_and_the_next_one_400() {
    let (engine, query) = polling_session().await;
    let closed = call(&engine, "POST", &query, &[], "1").await;
    assert_eq!(closed.status(), StatusCode::OK);
    let overtaken = call(&engine, "GET", &query, &[], "").await;
    assert_is_noop(overtaken).await;
    get_after_close_is_unknown(&engine, &query).await;
}

#[tokio::test]
async fn a_get_handed_in_right_behind_the_close_gets_the_noop_and_the_next_one_400() {
    let (engine, query) = polling_session().await;
    // Both reach the session's inbox before its task runs, the POST first.
    let (closed, overtaken) = tokio::join!(
        call(&engine, "POST", &query, &[], "1"),
        call(&engine, "GET", &query, &[], ""),
    );
    assert_eq!(closed.status(), StatusCode::OK);
    assert_is_noop(overtaken).await;
    get_after_close_is_unknown(&engine, &query).await;
}

#[tokio::test]
async fn a_session_that_ended_otherwise_leaves_no_answer() {
    let (engine, query) = polling_session().await;
    // Not a packet: the session closes with a parse error.
    let _ = call(&engine, "POST", &query, &[], "x").await;
    get_after_close_is_unknown(&engine, &query).await;
}

/// A POST body that never completes is answered 408 once the session's heartbeat would have
/// failed (Node's `requestTimeout` answers 408 too), rather than held open for as long as the
/// sender likes.
#[tokio::test(start_paused = true)]
async fn a_post_body_that_never_completes_gets_408_at_the_heartbeat_deadline() {
    let config = EngineConfig::default();
    let deadline = config.protocol.ping_interval + config.protocol.ping_timeout;
    let engine = engine(config);
    let (sid, _) = handshake(&engine, &[]).await;

    // Four bytes of a body announced as forty, and then nothing.
    let req = http::Request::post(format!("/engine.io/?EIO=4&transport=polling&sid={sid}"))
        .header(http::header::CONTENT_LENGTH, "40")
        .body(Stalled(Some(Bytes::from_static(b"4hel"))))
        .unwrap();
    let started = tokio::time::Instant::now();
    let answer = engine.handle::<tokio::net::TcpStream, _>(req);
    let response = tokio::time::timeout(deadline * 2, answer)
        .await
        .expect("an answer, not a request held open");
    assert_eq!(response.status(), StatusCode::REQUEST_TIMEOUT);
    assert_eq!(
        started.elapsed(),
        deadline,
        "answered at the deadline, not before"
    );
}

/// A request body that sends its first bytes and then stalls for good.
struct Stalled(Option<Bytes>);

impl hyper::body::Body for Stalled {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.0.take() {
            Some(bytes) => std::task::Poll::Ready(Some(Ok(hyper::body::Frame::data(bytes)))),
            None => std::task::Poll::Pending,
        }
    }
}
