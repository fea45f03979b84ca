//! The client against Node's `socket.io` server (npm 4.8, `tests/interop/node/
//! sio-rust-client-server.mjs`) and against switchboard's, with the same handlers: every
//! scenario runs against both. Node's needs `node` and `tests/interop/node_modules`
//! (`scripts/install-test-deps.sh`); without them its half is skipped, unless
//! `SWITCHBOARD_INTEROP` is set, which makes a missing peer a failure.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use switchboard_socketio as server;
use switchboard_socketio_client::{
    socket, AckError, ClientConfig, Codec, DisconnectReason, EmitError, Event, Manager, Map,
    SendError, Socket, Status, TransportKind, Value,
};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// How long a test waits for anything before failing.
const WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Peer {
    Node,
    Switchboard,
}

/// A running server; Node's process is killed when this drops.
struct Server {
    url: String,
    _node: Option<tokio::process::Child>,
    /// switchboard's, to count its sessions (Node's answers `GET /sessions`).
    io: Option<server::SocketIo>,
}

impl Server {
    /// The open Engine.IO sessions.
    async fn sessions(&self) -> usize {
        if let Some(io) = &self.io {
            return io.sessions();
        }
        self.get("/sessions").await.trim().parse().unwrap()
    }

    /// Why the server says socket `id` disconnected (empty while it has not).
    async fn disconnect_reason(&self, id: &str) -> String {
        if self.io.is_some() {
            return reasons().get(id).cloned().unwrap_or_default();
        }
        self.get(&format!("/reason/{id}")).await
    }

    /// The body of a GET to Node's script.
    async fn get(&self, path: &str) -> String {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.url.trim_start_matches("http://");
        let mut tcp = TcpStream::connect(addr).await.unwrap();
        tcp.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes())
            .await
            .unwrap();
        let mut response = String::new();
        tcp.read_to_string(&mut response).await.unwrap();
        let (_, body) = response.split_once("\r\n\r\n").unwrap();
        body.to_owned()
    }

    /// Waits until the server has no session left: the client's goodbye reached it.
    async fn no_session_left(&self, case: &str) {
        let deadline = tokio::time::Instant::now() + WAIT;
        while self.sessions().await != 0 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{case}: a session is left on the server"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn interop_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/interop")
}

/// The servers to run a scenario against: switchboard's always, Node's when it can run.
fn peers() -> Vec<Peer> {
    let node_ready = interop_dir().join("node_modules/socket.io").is_dir()
        && std::process::Command::new("node")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
    if node_ready {
        vec![Peer::Node, Peer::Switchboard]
    } else if std::env::var_os("SWITCHBOARD_INTEROP").is_some() {
        panic!("SWITCHBOARD_INTEROP is set but node or tests/interop/node_modules is missing");
    } else {
        eprintln!("skipping Node's socket.io: no node or no tests/interop/node_modules");
        vec![Peer::Switchboard]
    }
}

/// How a server runs besides the handlers.
#[derive(Debug, Clone, Copy, Default)]
struct Options {
    /// Connection-state recovery on.
    recovery: bool,
    /// `socket.io-msgpack-parser`'s format instead of the default parser.
    msgpack: bool,
    /// Node's script only: how long the client has to answer a ping (10 s when `None`).
    ping_timeout_ms: Option<u64>,
    /// Time between pings (300 ms when `None`).
    ping_interval_ms: Option<u64>,
}

async fn start(peer: Peer, options: Options) -> Server {
    match peer {
        Peer::Node => start_node(options).await,
        Peer::Switchboard => start_switchboard(options).await,
    }
}

async fn start_node(options: Options) -> Server {
    let mut command = tokio::process::Command::new("node");
    command
        .arg(interop_dir().join("node/sio-rust-client-server.mjs"))
        .current_dir(interop_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true);
    if options.recovery {
        command.arg("--recovery");
    }
    if options.msgpack {
        command.arg("--msgpack");
    }
    if let Some(ms) = options.ping_timeout_ms {
        command.arg("--ping-timeout").arg(ms.to_string());
    }
    if let Some(ms) = options.ping_interval_ms {
        command.arg("--ping-interval").arg(ms.to_string());
    }
    let mut child = command.spawn().expect("node starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = tokio::time::timeout(Duration::from_secs(15), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if let Some(url) = line.strip_prefix("listening on ") {
                return url.to_owned();
            }
        }
        panic!("node exited before listening");
    })
    .await
    .expect("node's server listens within 15 s");
    Server {
        url,
        _node: Some(child),
        io: None,
    }
}

/// switchboard's server with the handlers of the Node script.
async fn start_switchboard(options: Options) -> Server {
    let mut config = server::Config::default();
    config.engine.protocol.ping_interval =
        Duration::from_millis(options.ping_interval_ms.unwrap_or(300));
    // Pings every 300 ms, but 10 s to answer: a session the client left without a goodbye
    // outlives every wait of these tests.
    config.engine.protocol.ping_timeout = Duration::from_secs(10);
    if options.recovery {
        config.connection_state_recovery = Some(server::RecoveryConfig::default());
    }
    if options.msgpack {
        config.codec = server::Codec::MsgPack;
    }
    let io = server::SocketIo::new(config);
    io.ns(
        "/",
        |socket: server::Socket| async move { handlers(&socket) },
    );
    io.namespace("/admin")
        .with(|socket: server::Socket| async move {
            let token = match &socket.handshake().auth {
                server::Value::Object(map) => map.get("token").cloned(),
                _ => None,
            };
            if token == Some(server::Value::String("secret".into())) {
                Ok(())
            } else {
                let mut data = Map::new();
                data.insert("reason".into(), Value::from("bad token"));
                Err(server::ConnectError::new("not authorized").with_data(Value::Object(data)))
            }
        })
        .on_connect(|socket: server::Socket| async move { handlers(&socket) });

    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let serving = io.clone();
    tokio::spawn(async move { serving.serve(listener).await });
    Server {
        url: format!("http://{addr}"),
        _node: None,
        io: Some(io),
    }
}

/// Why each socket of switchboard's servers disconnected, by id, as the server saw it.
fn reasons() -> std::sync::MutexGuard<'static, std::collections::HashMap<String, String>> {
    static REASONS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<String, String>>,
    > = std::sync::OnceLock::new();
    REASONS.get_or_init(Default::default).lock().unwrap()
}

fn handlers(socket: &server::Socket) {
    use server::{Ack, Args, Data};
    socket.on_disconnect(|socket: server::Socket, reason| async move {
        reasons().insert(socket.id().to_owned(), reason.as_str().to_owned());
    });
    let mut welcome = Map::new();
    welcome.insert("id".into(), Value::from(socket.id()));
    welcome.insert("nsp".into(), Value::from(socket.nsp()));
    welcome.insert("auth".into(), socket.handshake().auth.clone());
    let _ = socket.emit("welcome", &Value::Object(welcome));
    socket.on("echo", |Args(args): Args, ack: Ack| async move {
        ack.send_args(args)
    });
    socket.on("transport", |socket: server::Socket, ack: Ack| async move {
        ack.send(socket.transport().as_str());
    });
    socket.on(
        "header",
        |socket: server::Socket, Data(name): Data<String>, ack: Ack| async move {
            let value = socket.handshake().headers().get(name.as_str());
            ack.send(&value.and_then(|v| v.to_str().ok()));
        },
    );
    socket.on(
        "burst",
        |socket: server::Socket, Data(n): Data<u64>| async move {
            for i in 0..n {
                let _ = socket.emit("seq", &i);
            }
        },
    );
    socket.on(
        "ask",
        |socket: server::Socket, Args(mut args): Args| async move {
            let event = match args.first() {
                Some(Value::String(event)) => event.clone(),
                _ => return,
            };
            args.remove(0);
            let answer = match socket
                .emit_args_with_ack(&event, args, Duration::from_secs(5))
                .await
            {
                Ok(mut reply) if !reply.is_empty() => reply.swap_remove(0),
                Ok(_) => Value::Null,
                Err(e) => Value::from(format!("no answer: {e}")),
            };
            let _ = socket.emit("answered", &answer);
        },
    );
    socket.on("binary", |ack: Ack| async move {
        let mut nested = Map::new();
        nested.insert(
            "nested".into(),
            Value::Array(vec![Value::Binary(Bytes::from_static(b"xyz"))]),
        );
        ack.send_args(vec![
            Value::Binary(Bytes::from_static(&[0, 1, 254, 255])),
            Value::Object(nested),
        ]);
    });
    socket.on(
        "join",
        |socket: server::Socket, Data(room): Data<String>, ack: Ack| async move {
            socket.join(room);
            ack.send(&true);
        },
    );
    socket.on(
        "to-room",
        |socket: server::Socket, Args(mut args): Args| async move {
            if let Some(Value::String(room)) = args.first().cloned() {
                args.remove(0);
                let _ = socket.namespace().to(room).emit_args("news", args);
            }
        },
    );
    socket.on("disconnect-me", |socket: server::Socket| async move {
        socket.disconnect();
    });
    socket.on(
        "drop-then-send",
        |socket: server::Socket, Data((room, message)): Data<(String, String)>| async move {
            socket.on_disconnect(move |socket: server::Socket, _| {
                let (room, message) = (room.clone(), message.clone());
                async move {
                    let _ = socket.namespace().to(room).emit("news", &message);
                }
            });
            socket.close_connection();
        },
    );
}

/// The transports each scenario runs over: long-polling alone, WebSocket alone, and Node's
/// default (polling, then the upgrade to WebSocket).
const TRANSPORTS: [(&str, &[TransportKind]); 3] = [
    ("polling", &[TransportKind::Polling]),
    ("websocket", &[TransportKind::WebSocket]),
    (
        "upgrade",
        &[TransportKind::Polling, TransportKind::WebSocket],
    ),
];

/// A client config over `transports` that comes back quickly after a loss.
fn quick(transports: &[TransportKind]) -> ClientConfig {
    ClientConfig {
        transports: transports.to_vec(),
        reconnection_delay: Duration::from_millis(50),
        reconnection_delay_max: Duration::from_millis(200),
        timeout: WAIT,
        ..ClientConfig::default()
    }
}

/// Forwards each `event` the socket receives (its arguments) to a channel.
fn collect(socket: &Socket, event: &str) -> mpsc::UnboundedReceiver<Vec<Value>> {
    let (tx, rx) = mpsc::unbounded_channel();
    socket.on(event, move |event: Event| {
        let _ = tx.send(event.args);
        async {}
    });
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Vec<Value>>, what: &str) -> Vec<Value> {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
        .unwrap_or_else(|| panic!("channel closed waiting for {what}"))
}

/// Waits until the client's session runs on the transport `transports` lead to (WebSocket
/// after an upgrade), and checks that the server sees the same one.
async fn on_expected_transport(socket: &Socket, transports: &[TransportKind], case: &str) {
    let expected = if transports.contains(&TransportKind::WebSocket) {
        TransportKind::WebSocket
    } else {
        TransportKind::Polling
    };
    let mut transport = socket.manager().watch_transport();
    tokio::time::timeout(WAIT, transport.wait_for(|t| *t == Some(expected)))
        .await
        .unwrap_or_else(|_| panic!("{case}: never on {expected:?}"))
        .unwrap();
    let seen = socket
        .emit_args_with_ack("transport", vec![], WAIT)
        .await
        .unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(
        seen,
        vec![Value::from(expected.as_str())],
        "{case}: the server's view"
    );
}

async fn connected(socket: &Socket) -> String {
    let connected = tokio::time::timeout(WAIT, socket.wait_connected())
        .await
        .expect("connects in time")
        .expect("connects");
    connected.id
}

fn json(value: serde_json::Value) -> Value {
    Value::from(value)
}

#[tokio::test]
async fn events_and_acknowledgements_both_ways() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let socket = socket(&server.url, quick(transports)).unwrap();
            socket
                .set_auth(&serde_json::json!({"token": "ünïcødé ✓"}))
                .unwrap();
            let mut welcome = collect(&socket, "welcome");
            let mut answered = collect(&socket, "answered");
            socket.on("question", |mut event: Event| async move {
                let ack = event.take_ack().expect("the server asked for an answer");
                let mut reply = vec![Value::from("answer")];
                reply.extend(event.args);
                ack.send_args(reply).unwrap();
            });
            socket.connect();
            let id = connected(&socket).await;
            assert_eq!(socket.id().as_deref(), Some(id.as_str()), "{case}");
            on_expected_transport(&socket, transports, &case).await;

            let greeting = next(&mut welcome, "welcome").await;
            assert_eq!(
                greeting,
                vec![json(
                    serde_json::json!({"id": id, "nsp": "/", "auth": {"token": "ünïcødé ✓"}})
                )],
                "{case}"
            );

            let args = vec![
                Value::from("text ✓ 🎉"),
                Value::from(42),
                json(serde_json::json!({"nested": [true, null, 1.5]})),
            ];
            let back = socket
                .emit_args_with_ack("echo", args.clone(), WAIT)
                .await
                .unwrap();
            assert_eq!(back, args, "{case}");
            let one: String = socket.emit_with_ack("echo", "one", WAIT).await.unwrap();
            assert_eq!(one, "one");
            // Past both servers' compression threshold (1 KB): over polling the answer comes
            // back compressed, as the client asks on every polling request.
            let asked: Option<String> = socket
                .emit_with_ack("header", "accept-encoding", WAIT)
                .await
                .unwrap();
            let polled = transports.contains(&TransportKind::Polling);
            assert_eq!(
                asked.as_deref(),
                polled.then_some("gzip, deflate"),
                "{case}: the handshake's Accept-Encoding"
            );
            let long = "long ✓ ".repeat(4096);
            let back: String = socket.emit_with_ack("echo", &long, WAIT).await.unwrap();
            assert_eq!(back, long, "{case}");

            socket
                .emit_args(
                    "ask",
                    vec![Value::from("question"), Value::from("from the server?")],
                )
                .unwrap();
            assert_eq!(
                next(&mut answered, "answered").await,
                vec![Value::from("answer")],
                "{case}: the server gets the client's acknowledgement"
            );

            assert_eq!(
                socket.emit("connect", &1),
                Err(EmitError::Reserved("connect".into()))
            );
            socket.disconnect();
            assert_eq!(
                tokio::time::timeout(WAIT, socket.wait_disconnected())
                    .await
                    .unwrap(),
                DisconnectReason::IoClientDisconnect
            );
            assert_eq!(
                socket.emit("echo", &1),
                Err(EmitError::Send(SendError::Inactive)),
                "{case}: a disconnected socket refuses emits"
            );
            server.no_session_left(&case).await;
            assert_eq!(
                server.disconnect_reason(&id).await,
                "client namespace disconnect",
                "{case}: the client's goodbye reached the server"
            );
        }
    }
}

#[tokio::test]
async fn binary_arguments_both_ways() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let socket = socket(&server.url, quick(transports)).unwrap();
            socket.connect();
            connected(&socket).await;

            let blob = Bytes::from((0..=255u8).cycle().take(3000).collect::<Vec<u8>>());
            let mut nested = Map::new();
            nested.insert(
                "inner".into(),
                Value::Array(vec![
                    Value::Binary(Bytes::from_static(b"\0\x01")),
                    Value::Null,
                ]),
            );
            let args = vec![
                Value::from("with binary"),
                Value::Binary(blob),
                Value::Object(nested),
            ];
            let back = socket
                .emit_args_with_ack("echo", args.clone(), WAIT)
                .await
                .unwrap();
            assert_eq!(back, args, "{case}: binary attachments round-trip in place");

            let made = socket
                .emit_args_with_ack("binary", vec![], WAIT)
                .await
                .unwrap();
            let mut nested = Map::new();
            nested.insert(
                "nested".into(),
                Value::Array(vec![Value::Binary(Bytes::from_static(b"xyz"))]),
            );
            assert_eq!(
                made,
                vec![
                    Value::Binary(Bytes::from_static(&[0, 1, 254, 255])),
                    Value::Object(nested)
                ],
                "{case}: binary made by the server"
            );
            socket.disconnect();
        }
    }
}

#[tokio::test]
async fn the_msgpack_parser_carries_events_binary_and_acks_both_ways() {
    for peer in peers() {
        let server = start(
            peer,
            Options {
                msgpack: true,
                ..Options::default()
            },
        )
        .await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label} with msgpack");
            let socket = socket(
                &server.url,
                ClientConfig {
                    codec: Codec::MsgPack,
                    ..quick(transports)
                },
            )
            .unwrap();
            let mut answered = collect(&socket, "answered");
            socket.on("question", |mut event: Event| async move {
                let ack = event.take_ack().expect("an acknowledgement is asked for");
                ack.send_args(event.args).unwrap();
            });
            socket.connect();
            let id = connected(&socket).await;
            on_expected_transport(&socket, transports, &case).await;

            let mut nested = Map::new();
            nested.insert(
                "bytes".into(),
                Value::Binary(Bytes::from_static(&[0, 255, 7])),
            );
            let args = vec![
                Value::from("ünïcødé ✓"),
                Value::from(-3),
                Value::Object(nested),
                Value::Binary(Bytes::from(vec![9u8; 2000])),
            ];
            let back = socket
                .emit_args_with_ack("echo", args.clone(), WAIT)
                .await
                .unwrap();
            assert_eq!(back, args, "{case}");

            socket
                .emit_args("ask", vec![Value::from("question"), Value::from("bin?")])
                .unwrap();
            assert_eq!(
                next(&mut answered, &case).await,
                vec![Value::from("bin?")],
                "{case}: the server gets the client's acknowledgement"
            );
            socket.disconnect();
            server.no_session_left(&case).await;
            assert_eq!(
                server.disconnect_reason(&id).await,
                "client namespace disconnect",
                "{case}"
            );
        }
    }
}

#[tokio::test]
async fn namespaces_share_one_connection_and_middleware_errors_carry_their_data() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let manager = Manager::new(&server.url, quick(transports)).unwrap();
            let main = manager.socket("/");
            let admin = manager.socket("admin");
            assert_eq!(admin.nsp(), "/admin");

            let errors = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let seen = std::sync::Arc::clone(&errors);
            admin.on_connect_error(move |error| seen.lock().unwrap().push(error.clone()));
            admin
                .set_auth(&serde_json::json!({"token": "wrong"}))
                .unwrap();
            main.connect();
            admin.connect();
            let main_id = connected(&main).await;
            let refusal = tokio::time::timeout(WAIT, admin.wait_connected())
                .await
                .unwrap()
                .unwrap_err();
            assert_eq!(refusal.message, "not authorized", "{case}");
            assert_eq!(
                refusal.data,
                Some(json(serde_json::json!({"reason": "bad token"}))),
                "{case}"
            );
            assert!(!refusal.retrying, "{case}: a refusal is not retried");
            assert_eq!(errors.lock().unwrap().len(), 1);
            assert!(main.connected(), "{case}: the refusal leaves / connected");

            admin
                .set_auth(&serde_json::json!({"token": "secret"}))
                .unwrap();
            let mut welcome = collect(&admin, "welcome");
            admin.connect();
            let admin_id = connected(&admin).await;
            assert_ne!(admin_id, main_id, "{case}: one id per namespace");
            let greeting = next(&mut welcome, "welcome").await;
            assert_eq!(
                greeting[0].as_object().unwrap()["nsp"],
                Value::from("/admin")
            );
            let pong: String = admin.emit_with_ack("echo", "admin", WAIT).await.unwrap();
            assert_eq!(pong, "admin");

            // Leaving one namespace keeps the connection for the other.
            admin.disconnect();
            let still: String = main.emit_with_ack("echo", "still", WAIT).await.unwrap();
            assert_eq!(still, "still", "{case}");
            main.disconnect();
        }
    }
}

#[tokio::test]
async fn a_server_disconnect_is_final_and_a_lost_connection_comes_back() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");

            let sent_away = socket(&server.url, quick(transports)).unwrap();
            sent_away.connect();
            connected(&sent_away).await;
            sent_away.emit_args("disconnect-me", vec![]).unwrap();
            let reason = tokio::time::timeout(WAIT, sent_away.wait_disconnected())
                .await
                .unwrap();
            assert_eq!(reason, DisconnectReason::IoServerDisconnect, "{case}");
            assert_eq!(
                sent_away.emit("echo", &1),
                Err(EmitError::Send(SendError::Inactive)),
                "{case}: not reconnecting"
            );

            let dropped = socket(&server.url, quick(transports)).unwrap();
            let mut status = dropped.watch_status();
            dropped.connect();
            let first = connected(&dropped).await;
            dropped
                .emit_args(
                    "drop-then-send",
                    vec![Value::from("nowhere"), Value::from("x")],
                )
                .unwrap();
            let reason = tokio::time::timeout(WAIT, dropped.wait_disconnected())
                .await
                .unwrap();
            assert_eq!(reason, DisconnectReason::TransportClose, "{case}");
            // An emit made while away waits for the connection, and its ack still comes.
            let away = dropped.clone();
            let pending = tokio::spawn(async move {
                away.emit_with_ack::<_, String>("echo", "queued while away", WAIT)
                    .await
            });
            let again = tokio::time::timeout(WAIT, async {
                loop {
                    status.changed().await.unwrap();
                    if let Status::Connected(connected) = &*status.borrow() {
                        return connected.clone();
                    }
                }
            })
            .await
            .expect("reconnects by itself");
            assert_ne!(again.id, first, "{case}: a new session without recovery");
            assert!(!again.recovered);
            assert_eq!(
                pending.await.unwrap().unwrap(),
                "queued while away",
                "{case}"
            );
            dropped.disconnect();
        }
    }
}

#[tokio::test]
async fn a_dropped_socket_recovers_its_id_rooms_and_missed_events() {
    for peer in peers() {
        let server = start(
            peer,
            Options {
                recovery: true,
                ..Options::default()
            },
        )
        .await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let socket = socket(&server.url, quick(transports)).unwrap();
            let mut news = collect(&socket, "news");
            socket.connect();
            let id = connected(&socket).await;
            let joined: bool = socket.emit_with_ack("join", "r", WAIT).await.unwrap();
            assert!(joined);
            // A broadcast first: its offset is what the client recovers from.
            socket
                .emit_args("to-room", vec![Value::from("r"), Value::from("before")])
                .unwrap();
            let before = next(&mut news, "the first broadcast").await;
            assert_eq!(before[0], Value::from("before"), "{case}");
            assert!(
                matches!(before.last(), Some(Value::String(_))),
                "{case}: an offset ends it"
            );

            let mut status = socket.watch_status();
            status.borrow_and_update();
            socket
                .emit_args(
                    "drop-then-send",
                    vec![Value::from("r"), Value::from("missed")],
                )
                .unwrap();
            let connected_again = tokio::time::timeout(WAIT, async {
                let mut saw_disconnect = None;
                loop {
                    status.changed().await.unwrap();
                    match &*status.borrow() {
                        Status::Disconnected(reason) => saw_disconnect = Some(*reason),
                        Status::Connected(connected) => return (saw_disconnect, connected.clone()),
                        _ => {}
                    }
                }
            })
            .await
            .expect("reconnects by itself");
            assert_eq!(
                connected_again.0,
                Some(DisconnectReason::TransportClose),
                "{case}"
            );
            assert!(connected_again.1.recovered, "{case}: recovered");
            assert_eq!(connected_again.1.id, id, "{case}: the same id");
            let missed = next(&mut news, &format!("{case}: the missed broadcast")).await;
            assert_eq!(missed[0], Value::from("missed"), "{case}");

            // Still in its room after the recovery.
            socket
                .emit_args("to-room", vec![Value::from("r"), Value::from("after")])
                .unwrap();
            assert_eq!(
                next(&mut news, "a broadcast after").await[0],
                Value::from("after")
            );
            socket.disconnect();
        }
    }
}

#[tokio::test]
async fn a_server_gone_silent_is_noticed_by_its_missing_pings_and_rejoined_when_back() {
    // Node's process is stopped (SIGSTOP), as a hung server or a dead route would be: no
    // ping comes within pingInterval + pingTimeout (300 + 200 ms), attempts meanwhile time out,
    // and once it runs again (SIGCONT) the client is back by itself.
    if !peers().contains(&Peer::Node) {
        return;
    }
    let server = start(
        Peer::Node,
        Options {
            ping_timeout_ms: Some(200),
            ..Options::default()
        },
    )
    .await;
    let pid = server._node.as_ref().and_then(|child| child.id()).unwrap();
    let signal = |name: &str| {
        let status = std::process::Command::new("kill")
            .args([name, &pid.to_string()])
            .status()
            .unwrap();
        assert!(status.success(), "kill {name}");
    };
    for (label, transports) in TRANSPORTS {
        let case = format!("Node over {label}, stopped");
        let socket = socket(
            &server.url,
            ClientConfig {
                timeout: Duration::from_millis(500),
                ..quick(transports)
            },
        )
        .unwrap();
        socket.connect();
        let first = connected(&socket).await;
        on_expected_transport(&socket, transports, &case).await;

        let mut status = socket.watch_status();
        status.borrow_and_update();
        signal("-STOP");
        let lost = tokio::time::timeout(WAIT, socket.wait_disconnected()).await;
        signal("-CONT");
        assert_eq!(lost.ok(), Some(DisconnectReason::PingTimeout), "{case}");
        let back =
            tokio::time::timeout(WAIT, status.wait_for(|s| matches!(s, Status::Connected(_))))
                .await
                .unwrap_or_else(|_| panic!("{case}: never back"))
                .unwrap()
                .clone();
        let Status::Connected(back) = back else {
            unreachable!()
        };
        assert_ne!(back.id, first, "{case}: a new session");
        let pong: String = socket.emit_with_ack("echo", "after", WAIT).await.unwrap();
        assert_eq!(pong, "after", "{case}");
        socket.disconnect();
    }
}

/// switchboard's server on a runtime of its own, so that the test's runtime counts only the
/// client's tasks.
fn switchboard_on_its_own_runtime() -> String {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async move {
            let server = start_switchboard(Options::default()).await;
            tx.send(server.url.clone()).unwrap();
            std::future::pending::<()>().await;
        });
    });
    rx.recv().unwrap()
}

/// Waits until the runtime runs `tasks` tasks.
async fn tasks_settle_at(tasks: usize, case: &str) {
    let metrics = tokio::runtime::Handle::current().metrics();
    let deadline = tokio::time::Instant::now() + WAIT;
    while metrics.num_alive_tasks() != tasks {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{case}: {} tasks alive, {tasks} expected",
            metrics.num_alive_tasks()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_manager_whose_sockets_left_runs_no_task_and_a_closed_one_lets_go_of_its_handlers() {
    let url = switchboard_on_its_own_runtime();
    let idle = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    for (label, transports) in TRANSPORTS {
        let case = format!("over {label}");
        let socket = socket(&url, quick(transports)).unwrap();
        // A handler holding its own socket, as handlers that answer do: a cycle that only
        // closing the manager breaks.
        let token = Arc::new(());
        let held = Arc::downgrade(&token);
        let me = socket.clone();
        socket.on("unused", move |_: Event| {
            let _kept = (&token, &me);
            async {}
        });
        socket.connect();
        connected(&socket).await;
        let _: String = socket.emit_with_ack("echo", "x", WAIT).await.unwrap();

        socket.disconnect();
        tasks_settle_at(idle, &format!("{case}, after the last socket left")).await;
        assert!(
            held.upgrade().is_some(),
            "{case}: a socket may connect again"
        );

        socket.connect();
        connected(&socket).await;
        socket.manager().close();
        tasks_settle_at(idle, &format!("{case}, after close")).await;
        assert!(
            held.upgrade().is_none(),
            "{case}: the closed manager let go of the handler"
        );
        assert_eq!(
            socket.status(),
            Status::Disconnected(DisconnectReason::IoClientDisconnect)
        );
        // A closed manager connects nothing again, and says so.
        socket.connect();
        let refused = tokio::time::timeout(WAIT, socket.wait_connected())
            .await
            .unwrap();
        assert_eq!(
            refused.unwrap_err().message,
            "the manager is closed",
            "{case}"
        );
    }
}

#[tokio::test]
async fn handlers_run_in_order_and_an_application_that_falls_behind_loses_the_connection() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let socket = socket(&server.url, quick(transports)).unwrap();
            // Handlers yield 0, 1 or 2 times before they record: were they run side by side,
            // the order would come out mixed.
            let (tx, mut seen) = mpsc::unbounded_channel();
            socket.on("seq", move |event: Event| {
                let tx = tx.clone();
                async move {
                    let n = event.arg::<u64>(0).unwrap();
                    for _ in 0..n % 3 {
                        tokio::task::yield_now().await;
                    }
                    let _ = tx.send(n);
                }
            });
            socket.connect();
            connected(&socket).await;
            socket.emit("burst", &200).unwrap();
            for expected in 0..200u64 {
                let n = tokio::time::timeout(WAIT, seen.recv())
                    .await
                    .unwrap()
                    .unwrap();
                assert_eq!(n, expected, "{case}: handlers in order");
            }
            socket.disconnect();

            // Handlers stuck, the server sends on: past 16 waiting events the connection goes.
            let slow = socket_with(&server.url, transports, 16);
            let stuck = Arc::new(tokio::sync::Semaphore::new(0));
            let blocker = Arc::clone(&stuck);
            slow.on("seq", move |_: Event| {
                let blocker = Arc::clone(&blocker);
                async move {
                    let _ = blocker.acquire().await;
                }
            });
            slow.connect();
            connected(&slow).await;
            slow.emit("burst", &100).unwrap();
            let reason = tokio::time::timeout(WAIT, slow.wait_disconnected())
                .await
                .unwrap_or_else(|_| panic!("{case}: the connection stays"));
            assert_eq!(reason, DisconnectReason::TransportError, "{case}");
            stuck.close();
            // It reconnects by itself once the handlers catch up.
            connected(&slow).await;
            slow.disconnect();
        }
    }
}

/// A socket over `transports` whose handlers may fall behind by `max_pending_events`.
fn socket_with(url: &str, transports: &[TransportKind], max_pending_events: usize) -> Socket {
    let config = ClientConfig {
        max_pending_events,
        ..quick(transports)
    };
    socket(url, config).unwrap()
}

#[tokio::test]
async fn large_emits_past_the_send_buffer_all_go_out_without_waiting_for_a_ping() {
    for peer in peers() {
        // Pings 20 s apart: nothing comes in to wake a stalled writer.
        let server = start(
            peer,
            Options {
                ping_interval_ms: Some(20_000),
                ..Options::default()
            },
        )
        .await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let socket = socket(
                &server.url,
                ClientConfig {
                    send_buffer: 16 * 1024,
                    ..quick(transports)
                },
            )
            .unwrap();
            socket.connect();
            connected(&socket).await;
            on_expected_transport(&socket, transports, &case).await;
            // Plain emits: no answer comes back to wake the writer between them.
            let big = Value::Binary(Bytes::from(vec![7u8; 300 * 1024]));
            for _ in 0..4 {
                socket
                    .emit_args("to-room", vec![Value::from("nowhere"), big.clone()])
                    .unwrap();
            }
            let sync: String = socket
                .emit_with_ack("echo", "after 1.2 MB", WAIT)
                .await
                .unwrap_or_else(|e| panic!("{case}: {e}"));
            assert_eq!(sync, "after 1.2 MB", "{case}");
            socket.disconnect();
        }
    }
}

#[tokio::test]
async fn auth_set_while_connected_goes_with_the_next_reconnection() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        for (label, transports) in TRANSPORTS {
            let case = format!("{peer:?} over {label}");
            let socket = socket(&server.url, quick(transports)).unwrap();
            socket
                .set_auth(&serde_json::json!({"token": "first"}))
                .unwrap();
            let mut welcome = collect(&socket, "welcome");
            socket.connect();
            connected(&socket).await;
            let first = next(&mut welcome, &case).await;
            assert_eq!(
                first[0].as_object().unwrap()["auth"],
                json(serde_json::json!({"token": "first"}))
            );

            socket
                .set_auth(&serde_json::json!({"token": "renewed"}))
                .unwrap();
            socket
                .emit_args(
                    "drop-then-send",
                    vec![Value::from("nowhere"), Value::from("x")],
                )
                .unwrap();
            let again = next(&mut welcome, &case).await;
            assert_eq!(
                again[0].as_object().unwrap()["auth"],
                json(serde_json::json!({"token": "renewed"})),
                "{case}: the reconnection carries the new auth"
            );
            socket.disconnect();
        }
    }
}

#[tokio::test]
async fn listeners_may_register_listeners_and_a_panicking_one_harms_nothing_else() {
    let server = start(Peer::Switchboard, Options::default()).await;
    let socket = socket(&server.url, quick(&[TransportKind::WebSocket])).unwrap();
    let (tx, mut connects) = mpsc::unbounded_channel();
    let inner = socket.clone();
    socket.on_connect(move |_| {
        let tx = tx.clone();
        // Registering from inside a listener: the listeners' lock is not held meanwhile.
        inner.on_connect(move |_| {
            let _ = tx.send(());
        });
    });
    socket.on_connect(|_| panic!("a listener that panics"));
    socket.on("welcome", |_: Event| async {
        panic!("a handler that panics")
    });
    socket.connect();
    connected(&socket).await;
    let pong: String = socket
        .emit_with_ack("echo", "still fine", WAIT)
        .await
        .unwrap();
    assert_eq!(pong, "still fine");
    socket
        .emit_args(
            "drop-then-send",
            vec![Value::from("nowhere"), Value::from("x")],
        )
        .unwrap();
    // After the reconnection, the listener registered during the first connect hears it.
    tokio::time::timeout(WAIT, connects.recv())
        .await
        .unwrap()
        .unwrap();
    socket.disconnect();
}

#[tokio::test]
async fn without_reconnection_a_lost_connection_stays_lost_and_says_so() {
    for peer in peers() {
        let server = start(peer, Options::default()).await;
        let case = format!("{peer:?}");
        let config = ClientConfig {
            reconnection: false,
            ..quick(&[TransportKind::WebSocket])
        };
        let socket = socket(&server.url, config).unwrap();
        let (tx, mut errors) = mpsc::unbounded_channel();
        socket.on_connect_error(move |error| {
            let _ = tx.send(error.clone());
        });
        socket.connect();
        connected(&socket).await;
        socket
            .emit_args(
                "drop-then-send",
                vec![Value::from("nowhere"), Value::from("x")],
            )
            .unwrap();
        let reason = tokio::time::timeout(WAIT, socket.wait_disconnected())
            .await
            .unwrap();
        assert_eq!(reason, DisconnectReason::TransportClose, "{case}");
        let waited = tokio::time::timeout(WAIT, socket.wait_connected())
            .await
            .unwrap_or_else(|_| panic!("{case}: waits for a reconnection that will not come"));
        assert!(waited.is_err(), "{case}");
        assert!(
            errors.try_recv().is_err(),
            "{case}: no connect_error, as in Node"
        );
        // connect() asks again.
        socket.connect();
        connected(&socket).await;

        // Node's usual pattern: connect again from the disconnect listener. It holds.
        let again = socket.clone();
        let (tx, mut lost) = mpsc::unbounded_channel();
        socket.on_disconnect(move |reason| {
            let _ = tx.send(*reason);
            again.connect();
        });
        socket
            .emit_args(
                "drop-then-send",
                vec![Value::from("nowhere"), Value::from("x")],
            )
            .unwrap();
        let reason = tokio::time::timeout(WAIT, lost.recv()).await.unwrap();
        assert_eq!(reason, Some(DisconnectReason::TransportClose), "{case}");
        connected(&socket).await;
        socket.manager().close();
    }
}

#[tokio::test]
async fn connecting_again_right_after_leaving_waits_no_reconnection_delay() {
    let server = start(Peer::Switchboard, Options::default()).await;
    let config = ClientConfig {
        reconnection_delay: Duration::from_secs(30),
        reconnection_delay_max: Duration::from_secs(30),
        ..quick(&[TransportKind::WebSocket])
    };
    let socket = socket(&server.url, config).unwrap();
    socket.connect();
    connected(&socket).await;
    for _ in 0..3 {
        // Before the manager's task has seen the session close.
        socket.disconnect();
        socket.connect();
        connected(&socket).await;
    }
    socket.disconnect();
}

#[tokio::test]
async fn waiting_for_a_connection_ends_when_the_socket_is_given_up_on() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let socket = socket(&url, quick(&[TransportKind::WebSocket])).unwrap();
    let idle = tokio::time::timeout(WAIT, socket.wait_connected())
        .await
        .unwrap();
    assert!(idle.unwrap_err().message.contains("call connect() first"));
    socket.connect();
    let first = tokio::time::timeout(WAIT, socket.wait_connected())
        .await
        .unwrap()
        .unwrap_err();
    assert!(first.retrying, "it keeps trying");
    // A later wait does not return that stale failure at once: it waits for the next one,
    // and ends when the application gives up on the socket.
    let waiter = socket.clone();
    let waiting = tokio::spawn(async move { waiter.wait_connected().await });
    socket.disconnect();
    let ended = tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap();
    assert!(ended.is_err());
    assert_eq!(
        socket.status(),
        Status::Disconnected(DisconnectReason::IoClientDisconnect)
    );

    // The same when the manager closes under a waiter.
    socket.connect();
    let waiter = socket.clone();
    let waiting = tokio::spawn(async move {
        // Past the first failure, to the next.
        let _ = waiter.wait_connected().await;
        waiter.wait_connected().await
    });
    socket.manager().close();
    let ended = tokio::time::timeout(WAIT, waiting).await.unwrap().unwrap();
    assert!(ended.is_err());
}

#[tokio::test]
async fn an_unreachable_server_is_a_connect_error_and_retries_stop_at_the_limit() {
    // A port nothing listens on.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);

    let once = socket(
        &url,
        ClientConfig {
            reconnection: false,
            ..quick(&[TransportKind::WebSocket])
        },
    )
    .unwrap();
    once.connect();
    let error = tokio::time::timeout(WAIT, once.wait_connected())
        .await
        .unwrap()
        .unwrap_err();
    assert!(error.message.starts_with("websocket error"), "{error:?}");
    assert!(!error.retrying);
    assert_eq!(
        once.emit("echo", &1),
        Err(EmitError::Send(SendError::Inactive))
    );

    let limited = socket(
        &url,
        ClientConfig {
            reconnection_attempts: Some(2),
            reconnection_delay: Duration::from_millis(10),
            reconnection_delay_max: Duration::from_millis(20),
            ..quick(&[TransportKind::Polling])
        },
    )
    .unwrap();
    let (tx, mut errors) = mpsc::unbounded_channel();
    limited.on_connect_error(move |error| {
        let _ = tx.send(error.retrying);
    });
    limited.emit("echo", &"refused before connect").unwrap_err();
    limited.connect();
    limited.emit("echo", &"waits").unwrap();
    // The first attempt and two retries fail; the last failure says it gave up.
    let mut retrying = Vec::new();
    for _ in 0..3 {
        let next = tokio::time::timeout(WAIT, errors.recv()).await.unwrap();
        retrying.push(next.unwrap());
    }
    assert_eq!(retrying, vec![true, true, false]);
    assert!(matches!(
        limited.emit_with_ack::<_, String>("echo", "x", WAIT).await,
        Err(AckError::Emit(EmitError::Send(SendError::Inactive)))
    ));
}
