//! Two switchboard servers joined by the Redis adapter through a real `redis-server` (started
//! per test on a free port): broadcasts, rooms, `local`, `fetchSockets`, remote joins and
//! disconnections, broadcasts with acknowledgements, server-side events, garbage on the
//! channels, a Redis restart, and connections that a proxy in between forgets. Each runs on the
//! classic adapter, the sharded one and the streams one (`name::classic`, `name::sharded`,
//! `name::streams`). Node's adapters on the other side are
//! tests/interop/node/socketio-redis.test.mjs.
//!
//! Needs `redis-server` on the PATH; skipped without it unless `SWITCHBOARD_INTEROP` is set
//! (scripts/test.sh sets it and installs Redis).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../socketio/tests/common/mod.rs"]
mod common;
mod redis_process;
#[macro_use]
mod two_servers;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{serve, Client, WAIT};
use redis_process::{Forgetful, Redis};
use serde_json::json;
use switchboard_socketio::{AckError, Config, EmitError, ServerEvent, Socket, SocketIo, Value};
use switchboard_socketio_redis::{RedisAdapterConfig, RedisAdapterFactory};
use two_servers::{client, emit_until_heard, expect_event, join_auth_room, ns, Kind};

/// A server on the Redis adapter whose sockets join `auth.room` and keep `auth.name` as data.
async fn server(redis: &Redis, kind: Kind) -> (SocketIo, SocketAddr) {
    let (io, addr, _) = server_with(redis, kind.config()).await;
    (io, addr)
}

/// A factory connected to `redis` (one server of the cluster).
async fn factory(redis: &Redis, config: RedisAdapterConfig) -> Arc<RedisAdapterFactory> {
    factory_at(&redis.url(), config).await
}

async fn factory_at(url: &str, config: RedisAdapterConfig) -> Arc<RedisAdapterFactory> {
    RedisAdapterFactory::connect(url, config)
        .await
        .expect("redis")
}

/// The next value a listener sent, within [`WAIT`].
async fn next<T>(rx: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("the listener lives")
}

async fn server_with(
    redis: &Redis,
    config: RedisAdapterConfig,
) -> (SocketIo, SocketAddr, Arc<RedisAdapterFactory>) {
    server_at(&redis.url(), config).await
}

/// [`server_with`] on the Redis at `url`.
async fn server_at(
    url: &str,
    config: RedisAdapterConfig,
) -> (SocketIo, SocketAddr, Arc<RedisAdapterFactory>) {
    let adapters = factory_at(url, config).await;
    let io = SocketIo::with_adapter(Config::default(), adapters.clone());
    io.ns("/", join_auth_room);
    tokio::time::timeout(WAIT, adapters.subscribed())
        .await
        .expect("subscribed in time");
    let addr = serve(io.clone()).await;
    (io, addr, adapters)
}

const QUIET: Duration = Duration::from_millis(300);

on_every_adapter!(broadcasts_reach_both_servers_with_rooms_except_and_local);
async fn broadcasts_reach_both_servers_with_rooms_except_and_local(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, a_addr) = server(&redis, kind).await;
    let (_b, b_addr) = server(&redis, kind).await;
    let mut a_red = client(a_addr, "a-red", Some("red")).await;
    let mut b_red = client(b_addr, "b-red", Some("red")).await;
    let mut b_blue = client(b_addr, "b-blue", Some("blue")).await;

    ns(&a).emit("all", &1).unwrap();
    for c in [&mut a_red, &mut b_red, &mut b_blue] {
        expect_event(c, "all", json!([1])).await;
    }

    ns(&a).to("red").emit("red", &2).unwrap();
    ns(&a).except("red").emit("not-red", &3).unwrap();
    // Two rooms: a socket in both gets it once; a socket id is a room.
    ns(&a)
        .to(vec!["blue", b_red.id.as_str()])
        .emit("two", &4)
        .unwrap();
    expect_event(&mut a_red, "red", json!([2])).await;
    expect_event(&mut b_red, "red", json!([2])).await;
    expect_event(&mut b_red, "two", json!([4])).await;
    expect_event(&mut b_blue, "not-red", json!([3])).await;
    expect_event(&mut b_blue, "two", json!([4])).await;

    // `local`: this server's sockets only; the next broadcast is the first the others see.
    ns(&a).local().emit("local", &5).unwrap();
    ns(&a).emit("after", &6).unwrap();
    expect_event(&mut a_red, "local", json!([5])).await;
    expect_event(&mut a_red, "after", json!([6])).await;
    expect_event(&mut b_red, "after", json!([6])).await;
    expect_event(&mut b_blue, "after", json!([6])).await;

    // Binary crosses as msgpack `bin`, reaching the client as an attachment.
    ns(&a)
        .to("blue")
        .emit_args(
            "bin",
            vec![Value::Binary(bytes::Bytes::from_static(&[1, 2, 3]))],
        )
        .unwrap();
    let text = b_blue.next_text().await;
    assert!(
        text.starts_with(r#"451-["bin",{"_placeholder":true,"num":0}]"#),
        "{text}"
    );
    assert!(a_red.quiet_for(QUIET).await && b_red.quiet_for(QUIET).await);
}

on_every_adapter!(servers_reach_each_other_over_tls);
/// `rediss://` with a private CA, a client certificate (Redis asks for one in TLS mode) and an
/// ACL user's password: broadcasts and requests cross; without the CA, without the client
/// certificate, or with a wrong password, the adapter does not connect.
async fn servers_reach_each_other_over_tls(kind: Kind) {
    let Some(redis) = Redis::start_tls() else {
        return;
    };
    let read = |name: &str| std::fs::read(redis.tls_file(name)).unwrap();
    let certificates = redis::TlsCertificates {
        client_tls: Some(redis::ClientTlsConfig {
            client_cert: read("client.pem"),
            client_key: read("client.key"),
        }),
        root_cert: Some(read("ca.pem")),
    };
    let url = redis.tls_url("s3cret");
    let with = |certificates: redis::TlsCertificates| RedisAdapterConfig {
        tls: Some(certificates),
        ..kind.config()
    };
    let (a, _, _) = server_at(&url, with(certificates.clone())).await;
    let (_b, b_addr, _) = server_at(&url, with(certificates.clone())).await;
    let mut b_one = client(b_addr, "b-one", Some("red")).await;
    ns(&a).emit("all", &1).unwrap();
    expect_event(&mut b_one, "all", json!([1])).await;
    let found = ns(&a).fetch_sockets().await.unwrap();
    let ids: Vec<_> = found.iter().map(|s| s.id().to_owned()).collect();
    assert_eq!(ids, [b_one.id.clone()]);

    let unknown_ca = redis::TlsCertificates {
        root_cert: None,
        ..certificates.clone()
    };
    let err = refused_at_once(&url, with(unknown_ca)).await;
    assert!(err.to_string().contains("certificate"), "{err}");
    let no_client_certificate = redis::TlsCertificates {
        client_tls: None,
        ..certificates.clone()
    };
    // rustls reports Redis' alert (CertificateRequired); refused at once either way.
    refused_at_once(&url, with(no_client_certificate)).await;
    let err = refused_at_once(&redis.tls_url("guess"), with(certificates)).await;
    assert!(err.to_string().contains("WRONGPASS"), "{err}");
}

/// Connecting fails for good: at once, not after the connection managers' retries (seconds).
async fn refused_at_once(url: &str, config: RedisAdapterConfig) -> redis::RedisError {
    let started = Instant::now();
    let err = RedisAdapterFactory::connect(url, config)
        .await
        .expect_err("refused");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    err
}

on_every_adapter!(fetch_sockets_describes_the_other_servers_sockets);
async fn fetch_sockets_describes_the_other_servers_sockets(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, a_addr) = server(&redis, kind).await;
    let (b, b_addr) = server(&redis, kind).await;
    let a_one = client(a_addr, "a-one", Some("red")).await;
    let b_one = client(b_addr, "b-one", Some("red")).await;
    let b_two = client(b_addr, "b-two", None).await;

    let mut found = ns(&a).fetch_sockets().await.unwrap();
    found.sort_by(|x, y| x.id().cmp(y.id()));
    let mut ids = vec![a_one.id.clone(), b_one.id.clone(), b_two.id.clone()];
    ids.sort();
    assert_eq!(found.iter().map(|s| s.id()).collect::<Vec<_>>(), ids);
    let remote = found.iter().find(|s| s.id() == b_one.id).unwrap();
    assert!(remote.rooms().contains("red") && remote.rooms().contains(b_one.id.as_str()));
    assert_eq!(remote.info().data, Value::from(json!({ "name": "b-one" })));
    let shake = remote.handshake();
    assert!(shake.uri().to_string().contains("transport=websocket"));
    assert_eq!(shake.query("EIO").as_deref(), Some("4"));
    assert_eq!(
        shake.auth.as_object().unwrap()["name"],
        Value::from("b-one")
    );
    assert!(shake.headers().contains_key("host"));

    let in_red = ns(&b).to("red").fetch_sockets().await.unwrap();
    assert_eq!(in_red.len(), 2);
    let except_red = ns(&b).except("red").fetch_sockets().await.unwrap();
    assert_eq!(except_red.len(), 1);
    assert_eq!(except_red[0].id(), b_two.id);
    assert_eq!(ns(&b).local().fetch_sockets().await.unwrap().len(), 2);
}

on_every_adapter!(remote_joins_leaves_and_disconnections);
async fn remote_joins_leaves_and_disconnections(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, _a_addr) = server(&redis, kind).await;
    let (b, b_addr) = server(&redis, kind).await;
    let mut one = client(b_addr, "one", Some("red")).await;
    let mut two = client(b_addr, "two", None).await;

    // From server a, to sockets on server b only.
    ns(&a).to("red").join("green").unwrap();
    match kind {
        // The streams adapter appends the join and the broadcast to one stream, in order.
        Kind::Classic | Kind::Streams => {
            ns(&a).to("green").emit("green", &1).unwrap();
            expect_event(&mut one, "green", json!([1])).await;
        }
        // It follows the new room's channel a moment after the join (as Node's does): until
        // then, broadcasts to it miss b.
        Kind::Sharded => {
            emit_until_heard(&ns(&a).to("green"), &mut one, "green", WAIT).await;
        }
    }
    assert!(two.quiet_for(QUIET).await);

    ns(&a).to("green").leave("green").unwrap();
    ns(&a).to("green").emit("green", &2).unwrap();
    ns(&a).emit("all", &3).unwrap();
    expect_event(&mut one, "all", json!([3])).await;
    expect_event(&mut two, "all", json!([3])).await;

    ns(&a).to("red").disconnect(false).unwrap();
    let got = one.next().await;
    assert_eq!(got.kind, '1', "a DISCONNECT packet, got {got:?}");
    // With `close`, as Node: the client is told, then the connection closes.
    ns(&a).except("red").disconnect(true).unwrap();
    let got = two.next().await;
    assert_eq!(got.kind, '1', "a DISCONNECT packet, got {got:?}");
    assert!(two.closed().await);
    // Both are gone from server b.
    let deadline = Instant::now() + WAIT;
    while !ns(&b).local().sockets().is_empty() {
        assert!(Instant::now() < deadline, "sockets still connected");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

on_every_adapter!(broadcast_acknowledgements_are_gathered_across_servers);
async fn broadcast_acknowledgements_are_gathered_across_servers(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, a_addr) = server(&redis, kind).await;
    let (_b, b_addr) = server(&redis, kind).await;
    let mut clients = [
        client(a_addr, "a", None).await,
        client(b_addr, "b1", None).await,
        client(b_addr, "b2", None).await,
    ];
    let asking = tokio::spawn({
        let a = a.clone();
        async move {
            ns(&a)
                .timeout(Duration::from_secs(3))
                .emit_args_with_ack("question", vec![Value::from(7)])
                .await
        }
    });
    for (i, c) in clients.iter_mut().enumerate() {
        let got = c.next().await;
        assert_eq!(got.data, json!(["question", 7]));
        c.ack(got.id.unwrap(), json!([i, "extra"])).await;
    }
    let acks = asking.await.unwrap().unwrap();
    assert!(acks.complete(), "{acks:?}");
    assert_eq!(acks.expected, 3);
    let mut firsts: Vec<Value> = acks.responses.iter().map(|r| r[0].clone()).collect();
    firsts.sort_by_key(|v| v.as_u64());
    assert_eq!(firsts, vec![Value::from(0), Value::from(1), Value::from(2)]);

    // One receiver on b stays silent: the broadcast times out with the other answers.
    let asking = tokio::spawn({
        let a = a.clone();
        async move {
            ns(&a)
                .timeout(Duration::from_millis(500))
                .emit_args_with_ack("question", vec![Value::from(8)])
                .await
        }
    });
    for c in clients.iter_mut().take(2) {
        let got = c.next().await;
        c.ack(got.id.unwrap(), json!(["ok"])).await;
    }
    let acks = asking.await.unwrap().unwrap();
    assert!(!acks.complete());
    assert_eq!((acks.responses.len(), acks.expected), (2, 3));
}

/// Listens for `hello` (reporting `[server, args]` on `heard`) and answers `ping` with the
/// server's name and its argument.
fn listen(io: &SocketIo, name: &'static str, heard: &tokio::sync::mpsc::UnboundedSender<Value>) {
    let events = io.server_events("/");
    let tx = heard.clone();
    events.on("hello", move |event: ServerEvent| {
        let _ = tx.send(Value::Array(vec![
            Value::from(name),
            Value::Array(event.args().to_vec()),
        ]));
        async {}
    });
    events.on("ping", move |event: ServerEvent| async move {
        let n: u64 = event.data().unwrap();
        event.ack(&json!({ "server": name, "n": n }));
    });
}

on_every_adapter!(server_side_events_reach_the_other_servers_and_gather_their_answers);
async fn server_side_events_reach_the_other_servers_and_gather_their_answers(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let config = RedisAdapterConfig {
        requests_timeout: Duration::from_millis(700),
        ..kind.config()
    };
    let (a, _, _) = server_with(&redis, config.clone()).await;
    let (b, _, _) = server_with(&redis, config.clone()).await;
    let (c, _, _) = server_with(&redis, config).await;
    let (heard_tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    for (io, name) in [(&a, "a"), (&b, "b"), (&c, "c")] {
        listen(io, name, &heard_tx);
    }
    // Every other server hears it once, with all its arguments; the sender does not.
    a.server_events("/")
        .emit_args("hello", vec![Value::from("world"), Value::from(1)])
        .unwrap();
    let mut got = Vec::new();
    for _ in 0..2 {
        got.push(next(&mut heard).await);
    }
    got.sort_by_key(|v| v.as_array().unwrap()[0].as_str().map(str::to_owned));
    assert_eq!(
        Value::Array(got),
        Value::from(json!([["b", ["world", 1]], ["c", ["world", 1]]]))
    );

    // One answer per other server.
    let mut answers: Vec<serde_json::Value> = b
        .server_events("/")
        .emit_with_ack("ping", &7)
        .await
        .unwrap();
    answers.sort_by_key(|v| v["server"].as_str().map(str::to_owned));
    assert_eq!(
        answers,
        vec![
            json!({"server": "a", "n": 7}),
            json!({"server": "c", "n": 7})
        ]
    );

    // A server that never answers: a timeout, with the answers that came.
    c.server_events("/")
        .on("ping", |_event: ServerEvent| async {});
    let started = Instant::now();
    let acks = a
        .server_events("/")
        .emit_args_with_ack("ping", vec![Value::from(8)])
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "{:?}",
        started.elapsed()
    );
    assert!(!acks.complete());
    assert_eq!(acks.expected, 2);
    assert_eq!(
        acks.responses,
        vec![Value::from(json!({"server": "b", "n": 8}))]
    );
    let err = a
        .server_events("/")
        .emit_with_ack::<_, Value>("ping", &9)
        .await
        .unwrap_err();
    assert_eq!(err, AckError::Timeout);

    // The sender never heard its own `hello` (it would have come before the answers).
    assert!(heard.try_recv().is_err());
    // Reserved names are refused before anything is sent.
    assert_eq!(
        a.server_events("/").emit("connection", &1),
        Err(EmitError::Reserved("connection".into()))
    );
    let err = a
        .server_events("/")
        .emit_with_ack::<_, Value>("connect", &1)
        .await
        .unwrap_err();
    assert_eq!(err, AckError::Reserved("connect".into()));
    assert!(heard.try_recv().is_err());
}

on_every_adapter!(server_side_events_of_a_namespace_stay_in_it);
async fn server_side_events_of_a_namespace_stay_in_it(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, _, a_adapters) = server_with(&redis, kind.config()).await;
    let (b, _, b_adapters) = server_with(&redis, kind.config()).await;
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    // `server_events` makes the namespace, so its adapter hears the other servers.
    b.server_events("/admin")
        .on("hello", move |event: ServerEvent| {
            let _ = tx.send(event.args().to_vec());
            async {}
        });
    let admin = a.server_events("admin");
    assert_eq!(admin.namespace(), "/admin");
    a_adapters.subscribed().await;
    b_adapters.subscribed().await;
    a.server_events("/").emit("hello", &"main").unwrap();
    admin.emit("hello", &"admin").unwrap();
    let got = next(&mut heard).await;
    assert_eq!(got, vec![Value::from("admin")]);
    assert!(tokio::time::timeout(QUIET, heard.recv()).await.is_err());
}

on_every_adapter!(a_namespace_used_before_its_setup_keeps_hearing_the_cluster);
async fn a_namespace_used_before_its_setup_keeps_hearing_the_cluster(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, _) = server(&redis, kind).await;
    let adapters = factory(&redis, kind.config()).await;
    let b = SocketIo::with_adapter(Config::default(), adapters.clone());
    // "/" is made by a broadcast before the application sets it up. To a room nobody joins:
    // the streams adapter delivers its own broadcasts once appended, which may be after the
    // client below has connected.
    b.to("nobody").emit("early", &0).unwrap();
    b.ns("/", |socket: Socket| async move { socket.join("late") });
    adapters.subscribed().await;
    let mut c = client(serve(b.clone()).await, "c", None).await;
    ns(&a).to("late").emit("hello", &1).unwrap();
    expect_event(&mut c, "hello", json!([1])).await;
}

on_every_adapter!(dropping_a_server_keeps_the_channels_another_took_over);
async fn dropping_a_server_keeps_the_channels_another_took_over(kind: Kind) {
    // Two `SocketIo` on one factory (the docs ask for one each): the second's adapter takes
    // the channels of "/" over; dropping the first must not take them from it.
    let Some(redis) = Redis::start() else { return };
    let (a, _) = server(&redis, kind).await;
    let adapters = factory(&redis, kind.config()).await;
    let first = SocketIo::with_adapter(Config::default(), adapters.clone());
    first.ns("/", |_: Socket| async {});
    let second = SocketIo::with_adapter(Config::default(), adapters.clone());
    second.ns("/", |_: Socket| async {});
    adapters.subscribed().await;
    drop(first);
    let mut c = client(serve(second.clone()).await, "c", None).await;
    ns(&a).emit("hello", &1).unwrap();
    expect_event(&mut c, "hello", json!([1])).await;
}

on_every_adapter!(garbage_on_the_channels_harms_nothing);
async fn garbage_on_the_channels_harms_nothing(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, _) = server(&redis, kind).await;
    let (b, b_addr, b_adapters) = server_with(&redis, kind.config()).await;
    // In a room, so that the sharded adapter subscribes to the room's channel.
    let mut listener = client(b_addr, "l", Some("red")).await;
    let (verb, channels) = match kind {
        Kind::Classic => (
            "PUBLISH",
            vec![
                "socket.io#/#".to_owned(),
                "socket.io#/#red#".to_owned(),
                "socket.io-request#/#".to_owned(),
                "socket.io-response#/#".to_owned(),
            ],
        ),
        Kind::Sharded => (
            "SPUBLISH",
            vec![
                "socket.io#/#".to_owned(),
                "socket.io#/#red#".to_owned(),
                format!("socket.io#/#{}#", b_adapters.uid()),
            ],
        ),
        Kind::Streams => (
            "PUBLISH",
            vec![
                "socket.io#/#".to_owned(),
                format!("socket.io#/#{}#", b_adapters.uid()),
            ],
        ),
    };
    if kind == Kind::Streams {
        // And entries in the stream, as anyone could append them.
        for fields in [
            &[][..],
            &[("nsp", &b"/"[..])],
            &[("nsp", b"/"), ("uid", b"x"), ("type", b"3")],
            &[
                ("nsp", b"/"),
                ("uid", b"x"),
                ("type", b"x"),
                ("data", b"{}"),
            ],
            &[
                ("nsp", b"/"),
                ("uid", b"x"),
                ("type", b"3"),
                ("data", b"!!"),
            ],
            &[("nsp", b"/"), ("uid", b"x"), ("type", b"3"), ("data", b"{")],
            &[
                ("nsp", b"/"),
                ("uid", b"x"),
                ("type", b"4"),
                ("data", b"{\"opts\":1}"),
            ],
            &[
                ("nsp", b"\xff"),
                ("uid", b"x"),
                ("type", b"3"),
                ("data", b"{}"),
            ],
        ] {
            redis.xadd("socket.io", fields);
        }
    }
    emit_until_heard(&ns(&a).to("red"), &mut listener, "subscribed", WAIT).await;
    for channel in &channels {
        for payload in [
            &b""[..],
            b"{",
            b"{\"type\":99}",
            b"{\"type\":5}",
            b"{\"type\":3,\"uid\":\"x\",\"nsp\":\"/\"}",
            b"{\"type\":3,\"uid\":\"x\",\"nsp\":\"/\",\"data\":{\"packet\":{\"type\":2,\"data\":[]}}}",
            b"{\"type\":8,\"uid\":\"x\",\"nsp\":\"/\",\"data\":{\"requestId\":\"r\",\"sockets\":[1]}}",
            b"{\"type\":11,\"uid\":\"x\",\"nsp\":\"/\",\"data\":{\"clientCount\":-1}}",
            // Numbers too large for a Duration or a clock.
            b"{\"type\":3,\"uid\":\"x\",\"nsp\":\"/\",\"data\":{\"packet\":{\"type\":2,\"data\":[\"e\"]},\"requestId\":\"r\",\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{\"timeout\":1e300}}}}",
            b"{\"type\":7,\"uid\":\"x\",\"requestId\":\"r\",\"packet\":{\"type\":2,\"data\":[\"e\"]},\"opts\":{\"rooms\":[],\"except\":[],\"flags\":{\"timeout\":1e300}}}",
            b"{\"type\":8,\"uid\":\"x\",\"nsp\":\"/\",\"data\":{\"requestId\":\"r\",\"sockets\":[{\"id\":\"s\",\"handshake\":{\"issued\":1e300}}]}}",
            b"\x93\xa1x",
            b"\x93\xa1x\x80\x80",
            b"\xc1",
            b"[1,2,3]",
        ] {
            redis.publish(verb, channel, payload);
        }
    }
    ns(&a).emit("still", &true).unwrap();
    // The well-formed ones with absurd numbers are delivered (`e`) before it.
    loop {
        let got = listener.next().await;
        if got.event() != "e" {
            assert_eq!(got.data, json!(["still", true]));
            break;
        }
    }
    assert_eq!(ns(&a).fetch_sockets().await.unwrap().len(), 1);
    assert_eq!(ns(&b).fetch_sockets().await.unwrap().len(), 1);
}

on_every_adapter!(a_server_applies_its_own_operations_in_the_order_made);
/// A broadcast and then a disconnection of the same sockets, on the server that made them:
/// its sockets get the broadcast first. With connection-state recovery the streams adapter
/// delivers a broadcast once appended (to know its offset), so it must apply the
/// disconnection then too.
async fn a_server_applies_its_own_operations_in_the_order_made(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let mut servers = Vec::new();
    for _ in 0..2 {
        let adapters = factory(&redis, kind.config()).await;
        let config = Config {
            connection_state_recovery: Some(switchboard_socketio::RecoveryConfig::default()),
            ..Config::default()
        };
        let io = SocketIo::with_adapter(config, adapters.clone());
        io.ns("/", |socket: Socket| async move {
            socket.join("doomed");
        });
        tokio::time::timeout(WAIT, adapters.subscribed())
            .await
            .expect("subscribed in time");
        let addr = serve(io.clone()).await;
        servers.push((io, addr));
    }
    let mut here = client(servers[0].1, "here", None).await;
    let mut there = client(servers[1].1, "there", None).await;
    if kind == Kind::Sharded {
        // Both servers follow the room's channel a moment after its first member came.
        let deadline = Instant::now() + WAIT;
        while redis.subscribers("SHARDNUMSUB", "socket.io#/#doomed#") < 2 {
            assert!(Instant::now() < deadline, "the room's channel not followed");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    let a = &servers[0].0;
    ns(a).to("doomed").emit("last words", &1).unwrap();
    ns(a).to("doomed").disconnect(false).unwrap();
    for c in [&mut here, &mut there] {
        let got = c.next().await;
        assert_eq!(
            (got.event(), &got.data[1]),
            ("last words", &json!(1)),
            "the broadcast first (an offset may follow), got {got:?}"
        );
        let got = c.next().await;
        assert_eq!(got.kind, '1', "then a DISCONNECT packet, got {got:?}");
    }
}

on_every_adapter!(a_panicking_listener_of_remote_broadcasts_costs_one_message);
async fn a_panicking_listener_of_remote_broadcasts_costs_one_message(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, _) = server(&redis, kind).await;
    let (_b, b_addr, b_adapters) = server_with(&redis, kind.config()).await;
    let (heard, mut rx) = tokio::sync::mpsc::unbounded_channel();
    b_adapters.on_remote_broadcast(move |_nsp, packet, _opts| {
        assert_ne!(packet.event, "boom", "the listener panics on this one");
        let _ = heard.send(packet.event.clone());
    });
    let mut listener = client(b_addr, "l", None).await;
    ns(&a).emit("boom", &1).unwrap();
    expect_event(&mut listener, "boom", json!([1])).await;
    // The panic came after local delivery; b's next messages from Redis still arrive.
    ns(&a).emit("after", &2).unwrap();
    expect_event(&mut listener, "after", json!([2])).await;
    assert_eq!(next(&mut rx).await, "after");
}

/// The sharded adapter's subscriber takes messages up to `max_message_size`: a larger one
/// costs it its connection, which it opens again, subscribing to every channel anew.
#[tokio::test]
async fn a_message_over_the_limit_costs_the_shard_subscriber_its_connection_only() {
    let Some(redis) = Redis::start() else { return };
    let (a, a_addr) = server(&redis, Kind::Sharded).await;
    let small = RedisAdapterConfig {
        max_message_size: 4096,
        ..Kind::Sharded.config()
    };
    let (b, b_addr, _) = server_with(&redis, small).await;
    let mut listener = client(b_addr, "l", Some("red")).await;
    let mut on_a = client(a_addr, "on-a", None).await;
    emit_until_heard(&ns(&a).to("red"), &mut listener, "before", WAIT).await;

    let big = "x".repeat(8192);
    ns(&a).emit("big", &big).unwrap();
    // b dropped it with its connection; once subscribed again, it hears both channels.
    let skipped = emit_until_heard(&ns(&a), &mut listener, "after", WAIT).await;
    assert!(!skipped.iter().any(|e| e == "big"), "{skipped:?}");
    emit_until_heard(&ns(&a).to("red"), &mut listener, "in red", WAIT).await;
    emit_until_heard(&ns(&b), &mut on_a, "from b", WAIT).await;
    // Messages up to the limit pass.
    let fits = "y".repeat(2048);
    ns(&a).emit("fits", &fits).unwrap();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            let packet = listener.next().await;
            if packet.event() == "fits" {
                return packet;
            }
        }
    })
    .await
    .expect("the message within the limit");
    assert_eq!(got.data, json!(["fits", fits]));
}

on_every_adapter!(broadcasts_flow_again_after_redis_restarts);
async fn broadcasts_flow_again_after_redis_restarts(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let port = redis.port;
    let (a, _) = server(&redis, kind).await;
    let (_b, b_addr) = server(&redis, kind).await;
    let mut listener = client(b_addr, "l", None).await;
    ns(&a).emit("before", &1).unwrap();
    expect_event(&mut listener, "before", json!([1])).await;

    redis.stop();
    let redis = Redis::start_on(port).expect("redis again");
    // Both servers reconnect and resubscribe by themselves; broadcast until one arrives.
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut n = 0u64;
    loop {
        n += 1;
        let _ = ns(&a).emit("after", &n);
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(200), listener.next()).await {
            assert_eq!(got.event(), "after");
            break;
        }
        assert!(Instant::now() < deadline, "no broadcast after the restart");
    }
    drop(redis);
}

on_every_adapter!(a_single_server_answers_alone);
async fn a_single_server_answers_alone(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, a_addr) = server(&redis, kind).await;
    let one = client(a_addr, "one", None).await;
    // No other server subscribes: fetchSockets does not wait for anyone.
    let started = Instant::now();
    let found = ns(&a).fetch_sockets().await.unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].id(), one.id);
    assert!(started.elapsed() < Duration::from_secs(1));
}

on_every_adapter!(a_namespace_made_while_redis_is_down_subscribes_once_it_is_back);
async fn a_namespace_made_while_redis_is_down_subscribes_once_it_is_back(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let port = redis.port;
    // Short reconnection delays: the connection manager gives up on a command sooner, so the
    // subscription fails while Redis is down and the adapter must try it again.
    let quick = RedisAdapterConfig {
        reconnect_max_delay: Duration::from_millis(100),
        requests_timeout: Duration::from_millis(500),
        ..kind.config()
    };
    let (a, a_addr) = server(&redis, kind).await;
    let (b, b_addr, b_adapters) = server_with(&redis, quick).await;
    for io in [&a, &b] {
        io.dynamic_namespace(|name| name.starts_with("/dyn"))
            .on_connect(|_socket: Socket| async {});
    }
    redis.stop();
    // Namespace /dyn comes to be on b now: it is not subscribed while Redis is away.
    let (mut listener, _) = Client::connect_to(b_addr, "/dyn", None).await;
    let waiting = tokio::time::timeout(Duration::from_secs(3), b_adapters.subscribed()).await;
    assert!(waiting.is_err(), "subscribed() returned with Redis down");
    let redis = Redis::start_on(port).expect("redis again");
    tokio::time::timeout(Duration::from_secs(20), b_adapters.subscribed())
        .await
        .expect("subscribed once Redis is back");
    let (_sender, _) = Client::connect_to(a_addr, "/dyn", None).await;
    let dyn_a = a.of("/dyn").expect("namespace /dyn on a");
    // a's own /dyn subscription may still be on its way: emit until one arrives.
    let deadline = Instant::now() + WAIT;
    let mut n = 0u64;
    loop {
        n += 1;
        let _ = dyn_a.emit("hello", &n);
        if let Ok(got) = tokio::time::timeout(Duration::from_millis(200), listener.next()).await {
            assert_eq!(got.event(), "hello");
            break;
        }
        assert!(Instant::now() < deadline, "/dyn on b never heard a");
    }
    drop(redis);
}

on_every_adapter!(an_empty_dynamic_namespace_stops_listening_to_the_cluster);
async fn an_empty_dynamic_namespace_stops_listening_to_the_cluster(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let (a, a_addr) = server(&redis, kind).await;
    let b_adapters = factory(&redis, kind.config()).await;
    let b = SocketIo::with_adapter(
        Config {
            cleanup_empty_child_namespaces: true,
            ..Config::default()
        },
        b_adapters.clone(),
    );
    for io in [&a, &b] {
        io.dynamic_namespace(|name| name.starts_with("/dyn"))
            .on_connect(|_socket: Socket| async {});
    }
    let b_addr = serve(b.clone()).await;
    // The namespace's own channel: subscribed by every dialect (classic by pattern, so its
    // request channel stands in for it there).
    let (which, channel) = match kind {
        Kind::Classic => ("NUMSUB", "socket.io-request#/dyn-1#"),
        Kind::Sharded => ("SHARDNUMSUB", "socket.io#/dyn-1#"),
        Kind::Streams => ("NUMSUB", "socket.io#/dyn-1#"),
    };
    let subscribers_become = |want: usize| {
        let redis = &redis;
        async move {
            let deadline = Instant::now() + WAIT;
            while redis.subscribers(which, channel) != want {
                assert!(
                    Instant::now() < deadline,
                    "{channel}: never {want} subscribers"
                );
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    };

    let (mut member, _) = Client::connect_to(b_addr, "/dyn-1", None).await;
    subscribers_become(1).await;
    // A handle the application keeps does not keep the subscription: the adapter is closed.
    let kept = b.of("/dyn-1").expect("namespace /dyn-1 on b");
    member.leave().await;
    subscribers_become(0).await;
    assert!(b.of("/dyn-1").is_none(), "removed from b");
    drop(kept);

    // Joined again, the name gets a fresh namespace that hears the cluster.
    let (mut member, _) = Client::connect_to(b_addr, "/dyn-1", None).await;
    tokio::time::timeout(WAIT, b_adapters.subscribed())
        .await
        .expect("subscribed in time");
    let (_sender, _) = Client::connect_to(a_addr, "/dyn-1", None).await;
    let dyn_a = a.of("/dyn-1").expect("namespace /dyn-1 on a");
    emit_until_heard(&dyn_a, &mut member, "hello", WAIT).await;
}

#[tokio::test]
async fn a_custom_key_and_answers_on_the_requester_s_channel() {
    let Some(redis) = Redis::start() else { return };
    let config = || RedisAdapterConfig {
        key: "app-one".into(),
        publish_on_specific_response_channel: true,
        ..RedisAdapterConfig::default()
    };
    let (a, _, _) = server_with(&redis, config()).await;
    let (_b, b_addr, _) = server_with(&redis, config()).await;
    // A server on the default key is another cluster: it neither hears nor answers them.
    let (_other, other_addr) = server(&redis, Kind::Classic).await;
    let mut member = client(b_addr, "member", None).await;
    let mut outsider = client(other_addr, "outsider", None).await;

    let found = ns(&a).fetch_sockets().await.unwrap();
    assert_eq!(
        found.iter().map(|s| s.id()).collect::<Vec<_>>(),
        [member.id.as_str()]
    );
    ns(&a).emit("hi", &1).unwrap();
    expect_event(&mut member, "hi", json!([1])).await;
    assert!(outsider.quiet_for(QUIET).await);
}

on_every_adapter!(
    a_server_that_falls_behind_drops_messages_and_carries_on,
    flavor = "multi_thread",
    worker_threads = 2
);
async fn a_server_that_falls_behind_drops_messages_and_carries_on(kind: Kind) {
    // (The streams adapter's stream holds what it has not read yet: nothing is dropped.)
    let Some(redis) = Redis::start() else { return };
    let (a, _) = server(&redis, kind).await;
    let small = RedisAdapterConfig {
        max_queued_received: 8,
        ..kind.config()
    };
    let (_b, b_addr, b_adapters) = server_with(&redis, small).await;
    let mut listener = client(b_addr, "l", None).await;
    const SENT: u64 = 200;
    if kind == Kind::Streams {
        // The stream holds what b has not read yet (b reads 100 at a time): a burst far over
        // `max_queued_received` arrives whole and in order.
        for n in 0..SENT {
            ns(&a).emit("n", &n).unwrap();
        }
        for n in 0..SENT {
            expect_event(&mut listener, "n", json!([n])).await;
        }
        assert_eq!(b_adapters.dropped_messages(), 0);
        return;
    }
    // Hold b's reader on the first broadcast until a has sent them all.
    let (held_tx, held_rx) = std::sync::mpsc::channel::<()>();
    let (release_tx, release_rx) = std::sync::mpsc::channel::<()>();
    let release_rx = std::sync::Mutex::new(release_rx);
    b_adapters.on_remote_broadcast(move |_, packet, _| {
        if packet.event == "n" && packet.args == [Value::from(0)] {
            let _ = held_tx.send(());
            // Bounded: a worker thread blocked for good could hold up the whole runtime.
            let _ = release_rx.lock().unwrap().recv_timeout(WAIT);
        }
    });
    ns(&a).emit("n", &0).unwrap();
    tokio::task::spawn_blocking(move || held_rx.recv_timeout(WAIT))
        .await
        .unwrap()
        .expect("b's reader holds");
    for n in 1..SENT {
        ns(&a).emit("n", &n).unwrap();
    }
    ns(&a).emit("after", &true).unwrap();
    // Redis pushes them all to b meanwhile: 8 wait, the other 192 are dropped. Then b goes on.
    let deadline = Instant::now() + WAIT;
    while b_adapters.dropped_messages() < SENT - 8 {
        assert!(
            Instant::now() < deadline,
            "{} dropped",
            b_adapters.dropped_messages()
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    release_tx.send(()).unwrap();
    // The held one and the 8 that waited, in order; everything after them was dropped.
    for n in 0..9u64 {
        expect_event(&mut listener, "n", json!([n])).await;
    }
    assert_eq!(b_adapters.dropped_messages(), SENT - 8);
    // b carries on: a later broadcast is the next thing its socket sees.
    ns(&a).emit("later", &true).unwrap();
    expect_event(&mut listener, "later", json!([true])).await;
}

on_every_adapter!(a_server_whose_redis_connections_die_silently_connects_again);
async fn a_server_whose_redis_connections_die_silently_connects_again(kind: Kind) {
    let Some(redis) = Redis::start() else { return };
    let path = Forgetful::start(redis.port).await;
    let watchful = RedisAdapterConfig {
        requests_timeout: Duration::from_millis(500),
        heartbeat_interval: Some(Duration::from_millis(200)),
        ..kind.config()
    };
    let (a, a_addr) = server(&redis, kind).await;
    let (b, b_addr, _) = server_at(&path.url, watchful).await;
    for io in [&a, &b] {
        io.dynamic_namespace(|name| name.starts_with("/dyn"))
            .on_connect(|_socket: Socket| async {});
    }
    let mut on_a = client(a_addr, "on-a", None).await;
    let mut on_b = client(b_addr, "on-b", None).await;
    emit_until_heard(&ns(&a), &mut on_b, "before", WAIT).await;
    emit_until_heard(&ns(&b), &mut on_a, "before", WAIT).await;

    // Redis sees b's connections close; b's sockets stay open and silent. Without a
    // heartbeat b would neither hear the cluster nor reach it again (its subscriber never
    // writes, so TCP alone would not tell it for hours).
    path.forget_all();
    // A namespace made now tries to subscribe on the silent connection first.
    let (mut dyn_on_b, _) = Client::connect_to(b_addr, "/dyn", None).await;
    let within = Duration::from_secs(10);
    emit_until_heard(&ns(&a), &mut on_b, "after", within).await;
    emit_until_heard(&ns(&b), &mut on_a, "after", within).await;
    let (_dyn_on_a, _) = Client::connect_to(a_addr, "/dyn", None).await;
    let dyn_a = a.of("/dyn").expect("namespace /dyn on a");
    emit_until_heard(&dyn_a, &mut dyn_on_b, "dyn", within).await;
}
