//! `Config::cleanup_empty_child_namespaces` (Node's `cleanupEmptyChildNamespaces`): a dynamic
//! namespace goes once its last socket has left, refused and abandoned joins included, and
//! comes back fresh when a client joins its name again; static namespaces, and every namespace
//! without the option, stay.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use common::{serve, Client, WAIT};
use http_body_util::{BodyExt, Full};
use switchboard_socketio::{Ack, Config, ConnectError, Socket, SocketIo, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, Semaphore};

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
    sockets_become(io, name, None, "removed").await;
}

/// Waits until namespace `name` has `want` sockets (`None`: no namespace), a disconnection
/// being on its way; fails after [`WAIT`] saying `what` did not happen.
async fn sockets_become(io: &SocketIo, name: &str, want: Option<usize>, what: &str) {
    let deadline = Instant::now() + WAIT;
    while sockets_in(io, name) != want {
        assert!(
            Instant::now() < deadline,
            "{name}: {what} ({:?} sockets)",
            sockets_in(io, name)
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
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

/// A client joins namespace `name` and leaves it: the namespace stays, empty.
async fn stays_when_its_socket_left(cleanup: bool, name: &str) {
    let (io, mut rx) = server(cleanup);
    let addr = serve(io.clone()).await;
    let (mut client, _) = Client::connect_to(addr, name, None).await;
    client.leave().await;
    assert_eq!(left(&mut rx).await, name);
    assert_eq!(sockets_in(&io, name), Some(0));
}

#[tokio::test]
async fn without_the_option_an_empty_dynamic_namespace_stays() {
    stays_when_its_socket_left(false, "/dynamic-101").await;
}

#[tokio::test]
async fn a_static_namespace_stays_when_empty() {
    stays_when_its_socket_left(true, "/chat").await;
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
/// land in the namespace the server keeps, not in one just removed. The joiner's session is
/// open before the race, so its CONNECT and the leaver's DISCONNECT arrive together, on two
/// sessions the two runtime threads serve at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn joins_racing_the_last_leave_land_in_the_kept_namespace() {
    let (io, _rx) = server(true);
    let addr = serve(io.clone()).await;
    for round in 0..100 {
        let (mut leaving, _) = Client::connect_to(addr, "/dynamic-race", None).await;
        let mut joining = Client::open(addr, "/dynamic-race").await;
        let ((), answer) = tokio::join!(leaving.leave(), joining.join(None));
        assert!(
            answer.starts_with("40/dynamic-race,"),
            "joined, got {answer}"
        );
        // The leaver's DISCONNECT may still be in flight: wait until only the joiner is left.
        let what = format!("round {round}: the joiner is not in the kept namespace");
        sockets_become(&io, "/dynamic-race", Some(1), &what).await;
        joining.leave().await;
        gone(&io, "/dynamic-race").await;
    }
}

/// A server whose dynamic namespaces hold each join in middleware until `gate` opens (one
/// permit per join), and say when a join reached it; `whoami` is acknowledged with the
/// socket's id.
fn gated_server() -> (SocketIo, Arc<Semaphore>, Arc<Semaphore>) {
    let io = SocketIo::new(Config {
        cleanup_empty_child_namespaces: true,
        ..Config::default()
    });
    let gate = Arc::new(Semaphore::new(0));
    let reached = Arc::new(Semaphore::new(0));
    let (g, r) = (Arc::clone(&gate), Arc::clone(&reached));
    io.dynamic_namespace(|name| name.starts_with("/dynamic-"))
        .with(move |_: Socket| {
            let (gate, reached) = (Arc::clone(&g), Arc::clone(&r));
            async move {
                reached.add_permits(1);
                gate.acquire().await.expect("gate open").forget();
                Ok(())
            }
        })
        .on_connect(|socket: Socket| async move {
            socket.on("whoami", |socket: Socket, ack: Ack| async move {
                ack.send(socket.id());
            });
        });
    (io, gate, reached)
}

async fn reached(joins: &Semaphore) {
    tokio::time::timeout(WAIT, joins.acquire())
        .await
        .expect("the join reaches the middleware")
        .expect("open")
        .forget();
}

#[tokio::test]
async fn a_socket_in_middleware_keeps_the_namespace_its_last_member_left() {
    let (io, gate, reached_middleware) = gated_server();
    let addr = serve(io.clone()).await;
    gate.add_permits(1);
    let (mut member, _) = Client::connect_to(addr, "/dynamic-5", None).await;
    reached(&reached_middleware).await;
    let mut joiner = Client::open(addr, "/dynamic-5").await;
    joiner.send("40/dynamic-5,").await;
    reached(&reached_middleware).await;
    member.leave().await;
    sockets_become(&io, "/dynamic-5", Some(0), "the member never left").await;
    gate.add_permits(1);
    let answer = joiner.next_text().await;
    assert!(answer.starts_with("40/dynamic-5,"), "joined, got {answer}");
    let ids: Vec<String> = io
        .of("/dynamic-5")
        .expect("kept for the joiner")
        .sockets()
        .iter()
        .map(|s| s.id().to_owned())
        .collect();
    let sid: serde_json::Value = serde_json::from_str(&answer["40/dynamic-5,".len()..]).unwrap();
    assert_eq!(ids, [sid["sid"].as_str().unwrap()]);
}

#[tokio::test]
async fn a_second_connect_while_the_first_is_joining_leaves_one_socket() {
    let (io, gate, reached_middleware) = gated_server();
    let addr = serve(io.clone()).await;
    let mut client = Client::open(addr, "/dynamic-2").await;
    client.send("40/dynamic-2,").await;
    client.send("40/dynamic-2,").await;
    reached(&reached_middleware).await;
    reached(&reached_middleware).await;
    gate.add_permits(2);
    let mut ids = Vec::new();
    for _ in 0..2 {
        let answer = client.next_text().await;
        let body = answer
            .strip_prefix("40/dynamic-2,")
            .unwrap_or_else(|| panic!("joined, got {answer}"));
        let body: serde_json::Value = serde_json::from_str(body).unwrap();
        ids.push(body["sid"].as_str().unwrap().to_owned());
    }
    // Packets reach the socket the client was told of last.
    client.send(r#"42/dynamic-2,1["whoami"]"#).await;
    assert_eq!(
        client.next_text().await,
        format!(r#"43/dynamic-2,1["{}"]"#, ids[1])
    );
    sockets_become(&io, "/dynamic-2", Some(1), "the earlier socket stays").await;
    client.leave().await;
    gone(&io, "/dynamic-2").await;
}

/// One long-polling request to `io`, answered within [`WAIT`]; the answer's body as text.
async fn polling(io: &SocketIo, method: &str, sid: Option<&str>, body: &str) -> String {
    let sid = sid.map(|sid| format!("&sid={sid}")).unwrap_or_default();
    let req = http::Request::builder()
        .method(method)
        .uri(format!("/socket.io/?EIO=4&transport=polling{sid}"))
        .body(Full::new(Bytes::from(body.to_owned())))
        .unwrap();
    let response = tokio::time::timeout(WAIT, io.handle::<TcpStream, _>(req))
        .await
        .expect("an answer in time");
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn a_join_that_finishes_after_its_session_closed_is_not_accepted() {
    let (io, gate, reached_middleware) = gated_server();
    let open = polling(&io, "GET", None, "").await;
    let handshake: serde_json::Value = serde_json::from_str(&open[1..]).unwrap();
    let sid = handshake["sid"].as_str().unwrap().to_owned();
    // CONNECT and the Engine.IO close in one body: the session ends with the join pending.
    polling(&io, "POST", Some(&sid), "40/dynamic-3,\u{1e}1").await;
    reached(&reached_middleware).await;
    let deadline = Instant::now() + WAIT;
    while io.sessions() != 0 {
        assert!(Instant::now() < deadline, "the session never closed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gate.add_permits(1);
    gone(&io, "/dynamic-3").await;
}
