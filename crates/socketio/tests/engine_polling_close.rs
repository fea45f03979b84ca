//! The client closes a polling session with a `close` packet in a POST: the GET it sent before
//! gets a noop whichever of the two requests the server sees first (a browser sends them on
//! separate connections, so the POST can overtake the GET); later GETs get Node's 400.
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
