//! `Config::cleanup_empty_child_namespaces` (Node's `cleanupEmptyChildNamespaces`): a dynamic
//! namespace goes once its last socket has left, refused and abandoned joins included, and
//! comes back fresh when a client joins its name again; static namespaces, and every namespace
//! without the option, stay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{serve, Client, WAIT};
use switchboard_socketio::{Config, ConnectError, Socket, SocketIo, Value};
use tokio::sync::{mpsc, Notify};

/// A server whose `/dynamic-*` namespaces report each disconnection on the returned channel
/// (sent from the disconnect handler, which runs after the socket has left its namespace).
fn server(cleanup: bool) -> (SocketIo, mpsc::UnboundedReceiver<String>) {
    let io = SocketIo::new(Config {
        cleanup_empty_child_namespaces: cleanup,
        ..Config::default()
    });
    let (left, rx) = mpsc::unbounded_channel();
    let on_connect = move |socket: Socket| {
        let left = left.clone();
        async move {
            socket.on_disconnect(move |socket: Socket, _| {
                let left = left.clone();
                async move {
                    let _ = left.send(socket.nsp().to_owned());
                }
            });
        }
    };
    io.dynamic_namespace(|name| name.starts_with("/dynamic-"))
        .on_connect(on_connect.clone());
    io.ns("/chat", on_connect);
    (io, rx)
}

async fn left(rx: &mut mpsc::UnboundedReceiver<String>) -> String {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("a disconnection in time")
        .expect("the server lives")
}

fn sockets_in(io: &SocketIo, name: &str) -> Option<usize> {
    io.of(name).map(|ns| ns.sockets().len())
}

/// Waits until `io` has no namespace `name`.
async fn gone(io: &SocketIo, name: &str) {
    let deadline = Instant::now() + WAIT;
    while io.of(name).is_some() {
        assert!(Instant::now() < deadline, "{name} still there");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn the_last_socket_out_removes_a_dynamic_namespace_and_a_new_one_comes_fresh() {
    let (io, mut rx) = server(true);
    let addr = serve(io.clone()).await;
    let (mut first, _) = Client::connect_to(addr, "/dynamic-101", None).await;
    let (second, _) = Client::connect_to(addr, "/dynamic-101", None).await;
    assert_eq!(sockets_in(&io, "/dynamic-101"), Some(2));

    first.leave().await;
    assert_eq!(left(&mut rx).await, "/dynamic-101");
    assert_eq!(
        sockets_in(&io, "/dynamic-101"),
        Some(1),
        "one socket is left"
    );

    // The last one goes by a dropped connection rather than a DISCONNECT packet.
    second.drop_connection().await;
    assert_eq!(left(&mut rx).await, "/dynamic-101");
    assert!(
        io.of("/dynamic-101").is_none(),
        "removed with its last socket"
    );

    // The name can be joined again: a new namespace, with the pattern's handler, that
    // broadcasts reach.
    let (mut third, _) = Client::connect_to(addr, "/dynamic-101", None).await;
    let ns = io.of("/dynamic-101").expect("created again");
    assert_eq!(ns.sockets().len(), 1);
    ns.emit("hello", &1).unwrap();
    let got = third.next().await;
    assert_eq!(
        (got.event(), &got.data[1]),
        ("hello", &serde_json::json!(1))
    );
    third.leave().await;
    assert_eq!(left(&mut rx).await, "/dynamic-101");
    assert!(io.of("/dynamic-101").is_none());
}

#[tokio::test]
async fn without_the_option_an_empty_dynamic_namespace_stays() {
    let (io, mut rx) = server(false);
    let addr = serve(io.clone()).await;
    let (mut client, _) = Client::connect_to(addr, "/dynamic-101", None).await;
    client.leave().await;
    assert_eq!(left(&mut rx).await, "/dynamic-101");
    assert_eq!(sockets_in(&io, "/dynamic-101"), Some(0));
}

#[tokio::test]
async fn a_static_namespace_stays_when_empty() {
    let (io, mut rx) = server(true);
    let addr = serve(io.clone()).await;
    let (mut client, _) = Client::connect_to(addr, "/chat", None).await;
    client.leave().await;
    assert_eq!(left(&mut rx).await, "/chat");
    assert_eq!(sockets_in(&io, "/chat"), Some(0));
}

/// A server whose dynamic namespaces refuse a client without `auth.pass`.
fn guarded_server() -> SocketIo {
    let io = SocketIo::new(Config {
        cleanup_empty_child_namespaces: true,
        ..Config::default()
    });
    io.dynamic_namespace(|name| name.starts_with("/dynamic-"))
        .with(|socket: Socket| async move {
            match &socket.handshake().auth {
                Value::Object(auth) if auth.contains_key("pass") => Ok(()),
                _ => Err(ConnectError::new("You shall not pass!")),
            }
        })
        .on_connect(|_: Socket| async {});
    io
}

#[tokio::test]
async fn a_refused_client_leaves_no_namespace_behind_and_takes_none_from_others() {
    let io = guarded_server();
    let addr = serve(io.clone()).await;
    let (_refused, answer) = Client::request_join(addr, "/dynamic-7", None).await;
    assert!(answer.starts_with("44/dynamic-7,"), "refused, got {answer}");
    // Given back before the refusal was sent.
    assert!(
        io.of("/dynamic-7").is_none(),
        "the refused join left its namespace"
    );

    let pass = serde_json::json!({ "pass": true });
    let (_member, _) = Client::connect_to(addr, "/dynamic-7", Some(pass)).await;
    let (_refused, answer) = Client::request_join(addr, "/dynamic-7", None).await;
    assert!(answer.starts_with("44/dynamic-7,"), "refused, got {answer}");
    assert_eq!(
        sockets_in(&io, "/dynamic-7"),
        Some(1),
        "the member keeps its namespace"
    );
}

#[tokio::test]
async fn a_session_that_ends_while_joining_gives_its_place_back() {
    let io = SocketIo::new(Config {
        cleanup_empty_child_namespaces: true,
        ..Config::default()
    });
    // Middleware that never answers, and says when it started.
    let started = Arc::new(Notify::new());
    let notify = Arc::clone(&started);
    io.dynamic_namespace(|name| name.starts_with("/dynamic-"))
        .with(move |_: Socket| {
            let notify = Arc::clone(&notify);
            async move {
                notify.notify_one();
                std::future::pending::<Result<(), ConnectError>>().await
            }
        })
        .on_connect(|_: Socket| async {});
    let addr = serve(io.clone()).await;
    let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
    let (mut ws, _) = switchboard_ws_tokio::connect(&url, Default::default())
        .await
        .unwrap();
    let open = ws.recv().await.unwrap().unwrap();
    assert!(matches!(&open, switchboard_ws::Message::Text(t) if t.as_str().starts_with("0{")));
    ws.send(switchboard_ws::Message::text("40/dynamic-9,"))
        .await
        .unwrap();
    tokio::time::timeout(WAIT, started.notified())
        .await
        .expect("the middleware runs");
    assert!(io.of("/dynamic-9").is_some(), "held by the joining socket");
    drop(ws);
    gone(&io, "/dynamic-9").await;
}

/// Joins and leaves racing on one name: a socket that joins while the last one leaves must
/// land in the namespace the server keeps, not in one just removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_the_last_leave_land_in_the_kept_namespace() {
    let (io, _rx) = server(true);
    let addr = serve(io.clone()).await;
    for round in 0..40 {
        let (mut leaving, _) = Client::connect_to(addr, "/dynamic-race", None).await;
        let ((), (mut joined, _)) = tokio::join!(
            leaving.leave(),
            Client::connect_to(addr, "/dynamic-race", None)
        );
        // The leaver's DISCONNECT may still be in flight: wait until only the joiner is left.
        let deadline = Instant::now() + WAIT;
        loop {
            let ids: Vec<String> = io
                .of("/dynamic-race")
                .map(|ns| ns.sockets().iter().map(|s| s.id().to_owned()).collect())
                .unwrap_or_default();
            if ids == [joined.id.clone()] {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "round {round}: the namespace holds {ids:?}, not the joiner {}",
                joined.id
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        joined.leave().await;
        gone(&io, "/dynamic-race").await;
        leaving.drop_connection().await;
    }
}
