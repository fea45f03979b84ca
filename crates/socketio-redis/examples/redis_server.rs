//! A Socket.IO server on the Redis adapter, for the interop test against Node's
//! `@socket.io/redis-adapter` (tests/interop/node/socketio-redis.test.mjs). Node's twin is
//! tests/interop/node/redis-node-server.mjs; both behave as follows, on namespace `/`:
//!
//! - On connection, unless the socket was recovered, `socket.data = {name: auth.name ?? null}`,
//!   and the socket joins `auth.room` when it is a string.
//! - Each event below ends with an acknowledgement. `opts` is
//!   `{to?: [rooms], except?: [rooms], local?: bool, volatile?: bool}`, applied to the
//!   namespace as `io.to(to).except(except)` and `.local` / `.volatile`:
//!   - `join(room)`, `leave(room)`: this socket; answers `true`.
//!   - `emit(opts, payload)`: `message` with `payload` to the selected sockets; `true`.
//!   - `fetch(opts)`: `fetchSockets()` as `[{id, rooms (sorted), data}]` sorted by id.
//!   - `sockets-join(opts, rooms)`, `sockets-leave(opts, rooms)`,
//!     `disconnect-sockets(opts, close)`: as Node's methods of those names; `true`.
//!   - `ask(opts, payload, timeoutMs)`: `question` with `payload` to the selected sockets,
//!     gathering acknowledgements: `{timedOut, responses}` (each answer's first argument,
//!     sorted by their JSON).
//!   - `server-emit(args)`: the server-side event `sse-hello` with these arguments to the
//!     other servers; `true`.
//!   - `server-ask(event, payload)`: the server-side event `event` with `payload`, gathering
//!     one answer per other server (the adapter's 5 s timeout): `{timedOut, responses}`.
//!   - `server-heard()`: the argument lists of the `sse-hello` events this server heard,
//!     oldest first; the list is emptied.
//! - It answers the other servers' `sse-ping` with `{pong: payload}` and never answers
//!   `sse-silent`.
//! - It is also the benchmark application of bench/ (bench/socketio-redis.sh): `echo` is
//!   acknowledged with its arguments, `broadcast` relayed to every other socket of the cluster.
//!
//! A third argument (`static`, `dynamic` or `dynamic-private`) makes it the sharded adapter in
//! that subscription mode, as Node's twin then uses `createShardedAdapter`; `streams` makes it
//! the streams adapter with connection-state recovery on, as Node's twin then uses
//! `@socket.io/redis-streams-adapter`. Several Redis URLs, comma-separated, are nodes of a Redis
//! Cluster (`connect_cluster`; Node's twin then uses node-redis's `createCluster`).
//!
//! One thread, like Node.
//!     cargo run -p switchboard-socketio-redis --example redis_server -- 127.0.0.1:0 redis://127.0.0.1:6379/ [dynamic]

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::json;
use switchboard_socketio::engine::RemoteAddr;
use switchboard_socketio::{
    Ack, Args, BroadcastOperator, Config, RecoveryConfig, ServerEvent, Socket, SocketIo, Value,
};
use switchboard_socketio_redis::{
    RedisAdapterConfig, RedisAdapterFactory, StreamsConfig, SubscriptionMode,
};
use tokio::net::{TcpListener, TcpStream};

fn rooms(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .unwrap_or_default()
        .iter()
        .filter_map(|v| v.as_str().map(str::to_owned))
        .collect()
}

/// The namespace narrowed by `opts`.
fn select(socket: &Socket, opts: Option<&Value>) -> BroadcastOperator {
    let opts = opts.and_then(Value::as_object);
    let field = |name: &str| opts.and_then(|o| o.get(name));
    let mut op = socket.namespace();
    let to = rooms(field("to"));
    if !to.is_empty() {
        op = op.to(to);
    }
    let except = rooms(field("except"));
    if !except.is_empty() {
        op = op.except(except);
    }
    if matches!(field("local"), Some(Value::Bool(true))) {
        op = op.local();
    }
    if matches!(field("volatile"), Some(Value::Bool(true))) {
        op = op.volatile();
    }
    op
}

/// The argument lists of the `sse-hello` events heard from the other servers.
type Heard = Arc<Mutex<Vec<Value>>>;

/// This server's listeners of the other servers' events.
fn listen_to_servers(io: &SocketIo, heard: &Heard) {
    let events = io.server_events("/");
    let heard = Arc::clone(heard);
    events.on("sse-hello", move |event: ServerEvent| {
        let args = Value::Array(event.args().to_vec());
        heard.lock().unwrap_or_else(|e| e.into_inner()).push(args);
        async {}
    });
    events.on("sse-ping", |event: ServerEvent| async move {
        let payload = event.args().first().cloned().unwrap_or(Value::Null);
        let mut answer = switchboard_socketio_parser::Map::new();
        answer.insert("pong".into(), payload);
        event.ack_value(Value::Object(answer));
    });
    events.on("sse-silent", |_event: ServerEvent| async {});
}

/// A client's commands for server-side events.
fn server_event_commands(socket: &Socket, io: &SocketIo, heard: &Heard) {
    let events = io.server_events("/");
    socket.on("server-emit", {
        let events = events.clone();
        move |Args(args): Args, ack: Ack| {
            let events = events.clone();
            async move {
                let list = args.first().and_then(Value::as_array).unwrap_or_default();
                ack.send(&events.emit_args("sse-hello", list.to_vec()).is_ok());
            }
        }
    });
    socket.on("server-ask", move |Args(args): Args, ack: Ack| {
        let events = events.clone();
        async move {
            let event = args.first().and_then(Value::as_str).unwrap_or_default();
            let payload = args.get(1).cloned().unwrap_or(Value::Null);
            match events.emit_args_with_ack(event, vec![payload]).await {
                Ok(acks) => {
                    let timed_out = !acks.complete();
                    let mut responses = acks.responses;
                    responses.sort_by_cached_key(|v| serde_json::to_string(v).unwrap_or_default());
                    ack.send(&json!({ "timedOut": timed_out, "responses": responses }));
                }
                Err(e) => ack.send(&json!({ "error": e.to_string() })),
            }
        }
    });
    let heard = Arc::clone(heard);
    socket.on("server-heard", move |ack: Ack| {
        let list = std::mem::take(&mut *heard.lock().unwrap_or_else(|e| e.into_inner()));
        async move { ack.send(&list) }
    });
}

fn on_connect(socket: &Socket) {
    // A recovered socket has its data and rooms back already.
    if !socket.recovered() {
        let auth = socket.handshake().auth.as_object();
        let name = auth.and_then(|a| a.get("name")).cloned();
        let _ = socket.set_data(&json!({ "name": name }));
        if let Some(room) = auth.and_then(|a| a.get("room")).and_then(Value::as_str) {
            socket.join(room.to_owned());
        }
    }
    socket.on("echo", |Args(args): Args, ack: Ack| async move {
        ack.send_args(args);
    });
    socket.on("broadcast", |socket: Socket, Args(args): Args| async move {
        let _ = socket.broadcast().emit_args("broadcast", args);
    });
    socket.on(
        "join",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            if let Some(room) = args.first().and_then(Value::as_str) {
                socket.join(room.to_owned());
            }
            ack.send(&true);
        },
    );
    socket.on(
        "leave",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            if let Some(room) = args.first().and_then(Value::as_str) {
                socket.leave(room.to_owned());
            }
            ack.send(&true);
        },
    );
    socket.on(
        "emit",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            let payload = args.get(1).cloned().unwrap_or(Value::Null);
            let sent = select(&socket, args.first()).emit_args("message", vec![payload]);
            ack.send(&sent.is_ok());
        },
    );
    socket.on(
        "fetch",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            match select(&socket, args.first()).fetch_sockets().await {
                Ok(found) => {
                    let mut list: Vec<serde_json::Value> = found
                        .iter()
                        .map(|s| {
                            let mut rooms: Vec<&str> = s.rooms().iter().map(|r| &**r).collect();
                            rooms.sort_unstable();
                            json!({ "id": s.id(), "rooms": rooms, "data": s.info().data })
                        })
                        .collect();
                    list.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
                    ack.send(&list);
                }
                Err(e) => ack.send(&json!({ "error": e.to_string() })),
            }
        },
    );
    socket.on(
        "sockets-join",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            let done = select(&socket, args.first()).join(rooms(args.get(1)));
            ack.send(&done.is_ok());
        },
    );
    socket.on(
        "sockets-leave",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            let done = select(&socket, args.first()).leave(rooms(args.get(1)));
            ack.send(&done.is_ok());
        },
    );
    socket.on(
        "disconnect-sockets",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            let close = matches!(args.get(1), Some(Value::Bool(true)));
            let done = select(&socket, args.first()).disconnect(close);
            ack.send(&done.is_ok());
        },
    );
    socket.on(
        "ask",
        |socket: Socket, Args(args): Args, ack: Ack| async move {
            let payload = args.get(1).cloned().unwrap_or(Value::Null);
            let ms = args.get(2).and_then(Value::as_u64).unwrap_or(2_000);
            let asked = select(&socket, args.first())
                .timeout(Duration::from_millis(ms))
                .emit_args_with_ack("question", vec![payload])
                .await;
            match asked {
                Ok(acks) => {
                    let timed_out = !acks.complete();
                    let mut responses: Vec<Value> = acks
                        .responses
                        .into_iter()
                        .map(|args| args.into_iter().next().unwrap_or(Value::Null))
                        .collect();
                    responses.sort_by_cached_key(|v| serde_json::to_string(v).unwrap_or_default());
                    // A `Value`, not JSON: binary in the answers stays binary.
                    let mut reply = switchboard_socketio_parser::Map::new();
                    reply.insert("timedOut".into(), Value::Bool(timed_out));
                    reply.insert("responses".into(), Value::Array(responses));
                    ack.send_args(vec![Value::Object(reply)]);
                }
                Err(e) => ack.send(&json!({ "error": e.to_string() })),
            }
        },
    );
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let mut args = std::env::args().skip(1);
    let listen = args.next().unwrap_or_else(|| "127.0.0.1:3000".into());
    let redis_url = args
        .next()
        .unwrap_or_else(|| "redis://127.0.0.1:6379/".into());
    let mut config = RedisAdapterConfig::default();
    let mut sio = Config::default();
    match args.next().as_deref() {
        None => {}
        Some("static") => config.sharded = Some(SubscriptionMode::Static),
        Some("dynamic") => config.sharded = Some(SubscriptionMode::Dynamic),
        Some("dynamic-private") => config.sharded = Some(SubscriptionMode::DynamicPrivate),
        Some("streams") => {
            config.streams = Some(StreamsConfig::default());
            sio.connection_state_recovery = Some(RecoveryConfig::default());
        }
        Some(other) => return Err(format!("unknown adapter {other:?}").into()),
    }
    // Several URLs, comma-separated: nodes of a Redis Cluster.
    let adapters = if redis_url.contains(',') {
        RedisAdapterFactory::connect_cluster(redis_url.split(','), config).await?
    } else {
        RedisAdapterFactory::connect(redis_url.as_str(), config).await?
    };
    let io = SocketIo::with_adapter(sio, adapters.clone());
    let heard = Heard::default();
    listen_to_servers(&io, &heard);
    io.ns("/", {
        let io = io.clone();
        move |socket: Socket| {
            let (io, heard) = (io.clone(), Arc::clone(&heard));
            async move {
                on_connect(&socket);
                server_event_commands(&socket, &io, &heard);
            }
        }
    });
    adapters.subscribed().await;
    let listener = TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let mut terminate = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let interrupt = tokio::signal::ctrl_c();
    tokio::pin!(interrupt);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => accepted?,
            _ = terminate.recv() => return Ok(()),
            _ = &mut interrupt => return Ok(()),
        };
        let _ = tcp.set_nodelay(true);
        let io = io.clone();
        tokio::spawn(async move {
            let service = service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                let io = io.clone();
                req.extensions_mut().insert(RemoteAddr(peer));
                async move { Ok::<_, Infallible>(io.handle::<TcpStream, _>(req).await) }
            });
            let _ = http1::Builder::new()
                .serve_connection(TokioIo::new(tcp), service)
                .with_upgrades()
                .await;
        });
    }
}
