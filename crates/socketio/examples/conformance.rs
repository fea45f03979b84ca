//! A Socket.IO server that behaves as the official socket.io-protocol test suite expects
//! (`test-suite/` of github.com/socketio/socket.io-protocol), plus the namespaces and events
//! the interop tests in tests/interop use. Prints `listening on http://ADDR` when ready.
//!
//!     cargo run --release -p switchboard-socketio --example conformance [ADDR] [--polling-only]
//!         [--recovery]   (connection-state recovery on)
//!         [--msgpack]    (socket.io-msgpack-parser's format instead of the default parser)
//!         [--cookie]     (Engine.IO `cookie`: `io=<sid>` set on handshakes)
//!         [--http-compression off]   (Engine.IO `httpCompression` off; on by default)
//!         [--per-message-deflate]    (Engine.IO `perMessageDeflate` on; off by default)
//!         [--deny-header NAME]       (Engine.IO `allowRequest` refusing handshakes that
//!                                     carry header NAME, its value as the reason)
//!         [--ping-interval MS] [--ping-timeout MS]   (instead of the suite's 300 and 200)
//!
//! Suite behaviour: ping interval 300 ms, timeout 200 ms, maxPayload 1,000,000; on connect emit
//! `auth` with the CONNECT payload (20 ms later, see [`GREETING_DELAY`]); `message` →
//! `message-back` with every argument; `message-with-ack` → acknowledged with the same
//! arguments; `/custom` only emits `auth`; other namespaces are refused (`Invalid namespace`).
//!
//! Interop extras: `/dynamic-<anything>` (a dynamic namespace); `/restricted` (middleware that
//! refuses without `auth.token == "secret"`, with data); on `/`: `ask` (the server asks the
//! client for an acknowledgement and emits `asked` with the answer), `join` / `to-room`
//! (rooms), `disconnect-me` (the server closes the connection), `leave-namespace` (the server
//! disconnects the socket), `volume` (the server emits a payload of the requested size),
//! `poll-room` (the server asks every socket of a room for an acknowledgement and acks the
//! requester with `{complete, answers}`), `room-members` (acks with the ids of a room's sockets, by
//! fetchSockets), `forbidden` (refused by a per-packet middleware, whose error the server
//! emits back as `refused`), `file` (the server emits `file` with a serde struct whose
//! `bytes::Bytes` field must arrive as binary), `transport` (acks with the transport the
//! server sees: `polling` or `websocket`).
//!
//! `GET /sessions` answers the number of open Engine.IO sessions, for tests that check none is
//! left behind; `GET /namespaces/<name>` the sockets of namespace `/<name>`, or 404 when it does
//! not exist (with `--cleanup-namespaces`, an empty dynamic namespace is removed).

use std::convert::Infallible;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_socketio::engine::{AllowRequest, Cookie, Cors, RemoteAddr, RequestInfo};
use switchboard_socketio::{
    Ack, Args, Codec, Config, ConnectError, Data, PacketError, RecoveryConfig, Socket, SocketIo,
    Value,
};
use tokio::net::{TcpListener, TcpStream};

/// How long after the CONNECT answer `auth` is emitted.
///
/// For the suite as published in github.com/socketio/socket.io-protocol: its client is `ws`,
/// which emits every message of one TCP read synchronously, and it attaches its listener for
/// the next message only after the previous one resolved a promise, so a message that
/// arrives in the same read as the CONNECT answer is lost. Node's server writes `auth` one
/// event-loop turn after the CONNECT answer, which is usually late enough (32, 31 and 32 of 32
/// tests here); written at once, `auth` shares the CONNECT answer's read every time. The
/// suite's newer copy (docs/socket.io-protocol/v5-test-suite in github.com/socketio/socket.io)
/// buffers messages and needs no delay.
const GREETING_DELAY: Duration = Duration::from_millis(20);

fn greet(socket: &Socket) {
    let auth = match &socket.handshake().auth {
        Value::Null => Value::Object(Default::default()),
        other => other.clone(),
    };
    let socket = socket.clone();
    tokio::spawn(async move {
        tokio::time::sleep(GREETING_DELAY).await;
        let _ = socket.emit_args("auth", vec![auth]);
    });
}

fn suite_handlers(socket: &Socket) {
    socket.on("message", |socket: Socket, Args(args): Args| async move {
        let _ = socket.emit_args("message-back", args);
    });
    socket.on(
        "message-with-ack",
        |Args(args): Args, ack: Ack| async move { ack.send_args(args) },
    );
}

fn interop_handlers(socket: &Socket) {
    socket.use_middleware(|_socket, event| async move {
        if event.event == "forbidden" {
            Err(PacketError::new("forbidden event"))
        } else {
            Ok(event)
        }
    });
    socket.on_error(|socket: Socket, error: PacketError| async move {
        let _ = socket.emit("refused", &error.message);
    });
    socket.on("file", |socket: Socket| async move {
        #[derive(serde::Serialize)]
        struct File {
            name: &'static str,
            data: bytes::Bytes,
        }
        let file = File {
            name: "hello.bin",
            data: bytes::Bytes::from_static(&[0, 1, 2, 255]),
        };
        let _ = socket.emit("file", &file);
    });
    socket.on(
        "poll-room",
        |socket: Socket, Data(room): Data<String>, ack: Ack| async move {
            let answers = socket
                .to(room)
                .timeout(Duration::from_secs(5))
                .emit_args_with_ack("poll", vec![])
                .await;
            match answers {
                Ok(acks) => {
                    #[derive(serde::Serialize)]
                    struct Polled {
                        complete: bool,
                        answers: Vec<Vec<Value>>,
                    }
                    ack.send(&Polled {
                        complete: acks.complete(),
                        answers: acks.responses,
                    });
                }
                Err(e) => ack.send(&e.to_string()),
            }
        },
    );
    socket.on("transport", |socket: Socket, ack: Ack| async move {
        ack.send(socket.transport().as_str());
    });
    socket.on(
        "room-members",
        |socket: Socket, Data(room): Data<String>, ack: Ack| async move {
            match socket.namespace().to(room).fetch_sockets().await {
                Ok(found) => {
                    let mut ids: Vec<&str> = found.iter().map(|s| s.id()).collect();
                    ids.sort_unstable();
                    ack.send(&ids);
                }
                Err(e) => ack.send(&e.to_string()),
            }
        },
    );
    socket.on("ask", |socket: Socket, Args(args): Args| async move {
        let answer = socket
            .emit_args_with_ack("question", args, Duration::from_secs(5))
            .await;
        let reply = match answer {
            Ok(args) => Value::Array(args),
            Err(e) => Value::String(e.to_string()),
        };
        let _ = socket.emit_args("asked", vec![reply]);
    });
    socket.on(
        "join",
        |socket: Socket, Data(room): Data<String>, ack: Ack| async move {
            socket.join(room);
            ack.send(&true);
        },
    );
    socket.on(
        "to-room",
        |socket: Socket, Data((room, text)): Data<(String, String)>| async move {
            let _ = socket.to(room).emit("room-message", &text);
        },
    );
    // A request header of the handshake, for clients checking what reached the server.
    socket.on(
        "header",
        |socket: Socket, Data(name): Data<String>, ack: Ack| async move {
            let value = socket
                .handshake()
                .headers()
                .get(name.as_str())
                .and_then(|v| v.to_str().ok());
            ack.send(&value);
        },
    );
    socket.on("disconnect-me", |socket: Socket| async move {
        socket.close_connection();
    });
    socket.on("leave-namespace", |socket: Socket| async move {
        socket.disconnect();
    });
    socket.on(
        "volume",
        |socket: Socket, Data(size): Data<usize>| async move {
            let _ = socket.emit("volume", &"x".repeat(size.min(4_000_000)));
        },
    );
    // Node's `socket.compress(false).emit(...)`.
    socket.on(
        "message-uncompressed",
        |socket: Socket, Args(args): Args| async move {
            let _ = socket.compress(false).emit_args("message-back", args);
        },
    );
}

/// An empty answer with `code`.
fn status(code: hyper::StatusCode) -> hyper::Response<switchboard_socketio::engine::Body> {
    let mut response = hyper::Response::new(Default::default());
    *response.status_mut() = code;
    response
}

/// The value after flag `name`, if the flag is given.
fn flag_value(name: &str) -> Option<String> {
    let mut args = std::env::args().skip_while(|a| a != name);
    args.next()?;
    args.next()
}

/// The Engine.IO options Node has, from the command line.
fn engine_options(config: &mut Config) {
    if std::env::args().any(|a| a == "--cookie") {
        config.engine.cookie = Some(Cookie::default());
    }
    if flag_value("--http-compression").as_deref() == Some("off") {
        config.engine.http_compression = None;
    }
    if std::env::args().any(|a| a == "--per-message-deflate") {
        config.engine.per_message_deflate = Some(switchboard_ws::DeflateConfig::default());
    }
    let millis = |name| flag_value(name).and_then(|v| v.parse().ok());
    if let Some(ms) = millis("--ping-interval") {
        config.engine.protocol.ping_interval = Duration::from_millis(ms);
    }
    if let Some(ms) = millis("--ping-timeout") {
        config.engine.protocol.ping_timeout = Duration::from_millis(ms);
    }
    if let Some(header) = flag_value("--deny-header") {
        config.engine.allow_request = Some(AllowRequest::new(move |request: &RequestInfo| {
            let refusal = request
                .headers
                .get(header.as_str())
                .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            async move { refusal.map_or(Ok(()), Err) }
        }));
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args
        .next()
        .filter(|a| !a.starts_with("--"))
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let mut config = Config::default();
    config.engine.protocol.ping_interval = Duration::from_millis(300);
    config.engine.protocol.ping_timeout = Duration::from_millis(200);
    config.engine.cors = Some(Cors::default());
    if std::env::args().any(|a| a == "--polling-only") {
        config.engine.protocol.transports.websocket = false;
    }
    if std::env::args().any(|a| a == "--msgpack") {
        config.codec = Codec::MsgPack;
    }
    if std::env::args().any(|a| a == "--recovery") {
        config.connection_state_recovery = Some(RecoveryConfig::default());
    }
    if std::env::args().any(|a| a == "--cleanup-namespaces") {
        config.cleanup_empty_child_namespaces = true;
    }
    engine_options(&mut config);
    let io = SocketIo::new(config);
    io.ns("/", |socket: Socket| async move {
        greet(&socket);
        suite_handlers(&socket);
        interop_handlers(&socket);
    });
    io.ns("/custom", |socket: Socket| async move { greet(&socket) });
    io.dynamic_namespace(|name| name.starts_with("/dynamic-"))
        .on_connect(|socket: Socket| async move {
            greet(&socket);
            let name = socket.nsp().to_owned();
            let _ = socket.emit("namespace", &name);
        });
    io.namespace("/restricted")
        .with(|socket: Socket| async move {
            let token = match &socket.handshake().auth {
                Value::Object(map) => map.get("token").cloned(),
                _ => None,
            };
            if token == Some(Value::String("secret".into())) {
                Ok(())
            } else {
                Err(ConnectError::new("not authorized").with_data(Value::Object(
                    [("reason".to_owned(), Value::String("missing token".into()))]
                        .into_iter()
                        .collect(),
                )))
            }
        })
        .on_connect(|socket: Socket| async move { greet(&socket) });

    let listener = TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    loop {
        let (tcp, peer) = listener.accept().await?;
        let _ = tcp.set_nodelay(true);
        let io = io.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let io = io.clone();
                req.extensions_mut().insert(RemoteAddr(peer));
                async move {
                    if req.uri().path().starts_with("/socket.io") {
                        Ok::<_, Infallible>(io.handle::<TcpStream, _>(req).await)
                    } else if req.uri().path() == "/sessions" {
                        // Open Engine.IO sessions, for tests checking that none is left over.
                        Ok(hyper::Response::new(io.sessions().to_string().into()))
                    } else if let Some(name) = req.uri().path().strip_prefix("/namespaces/") {
                        // Namespace `/name`: its socket count here, 404 when it does not exist.
                        Ok(match io.of(name) {
                            Some(ns) => hyper::Response::new(ns.sockets().len().to_string().into()),
                            None => status(hyper::StatusCode::NOT_FOUND),
                        })
                    } else if req.uri().path() == "/" {
                        // A blank page: an http:// origin for browser tests.
                        let page = "<!doctype html><title>conformance</title>";
                        Ok(hyper::Response::new(
                            bytes::Bytes::from_static(page.as_bytes()).into(),
                        ))
                    } else {
                        Ok(status(hyper::StatusCode::NOT_FOUND))
                    }
                }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
