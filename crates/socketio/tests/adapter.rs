//! Broadcast operators and the adapter behind them: acknowledgements gathered from every
//! receiver, fetchSockets and its remote actions, socketsJoin/Leave, disconnectSockets,
//! and two servers joined by a cluster adapter written against the public trait.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{serve, Client, WAIT};
use serde_json::json;
use switchboard_socketio::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastAcks, BroadcastOptions, BroadcastPacket,
    LocalNamespace, RecoveredSession, ServerAcks, Session, SocketInfo,
};
use switchboard_socketio::{
    Ack, AckError, Args, Config, EmitError, RecoveryConfig, Room, RoomEvent, ServerAck,
    ServerEvent, Socket, SocketIo, State, Value,
};
use switchboard_ws_tokio::{connect, ClientConfig};

/// A server whose sockets join the room named by a `join` event.
fn server() -> SocketIo {
    server_with(SocketIo::new(Config::default()))
}

fn server_with(io: SocketIo) -> SocketIo {
    io.ns("/", |socket: Socket| async move {
        socket.on("join", |socket: Socket, Args(args): Args| async move {
            if let Some(room) = args.first().and_then(Value::as_str) {
                socket.join(room.to_owned());
            }
            let _ = socket.emit("joined", &true);
        });
    });
    io
}

async fn join(client: &mut Client, room: &str) {
    client.emit(None, "join", json!([room])).await;
    assert_eq!(client.next().await.event(), "joined");
}

/// Answers the next event, which must be `event`, with `answer`.
async fn answer(client: &mut Client, event: &str, answer: serde_json::Value) {
    let got = client.next().await;
    assert_eq!(got.event(), event);
    client.ack(got.id.expect("an ack id"), answer).await;
}

#[tokio::test]
async fn broadcast_gathers_an_acknowledgement_from_every_receiver() {
    let io = server();
    let addr = serve(io.clone()).await;
    let mut clients = Vec::new();
    for _ in 0..3 {
        let mut c = Client::connect(addr).await;
        join(&mut c, "r").await;
        clients.push(c);
    }
    let mut outsider = Client::connect(addr).await;

    let asked = tokio::spawn({
        let io = io.clone();
        async move {
            io.to("r")
                .timeout(WAIT)
                .emit_with_ack::<_, String>("question", &1)
                .await
        }
    });
    for (i, c) in clients.iter_mut().enumerate() {
        answer(c, "question", json!([format!("answer {i}")])).await;
    }
    let mut answers = asked.await.expect("task").expect("every answer");
    answers.sort();
    assert_eq!(answers, ["answer 0", "answer 1", "answer 2"]);
    assert!(outsider.quiet_for(Duration::from_millis(100)).await);
}

#[tokio::test]
async fn missing_acknowledgements_time_out_with_the_answers_that_came() {
    let io = server();
    let addr = serve(io.clone()).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;

    let asked = tokio::spawn({
        let io = io.clone();
        async move {
            io.broadcast()
                .timeout(Duration::from_millis(300))
                .emit_args_with_ack("question", vec![])
                .await
        }
    });
    answer(&mut a, "question", json!(["yes"])).await;
    let silent = b.next().await;
    assert_eq!(silent.event(), "question");
    let acks = asked.await.expect("task").expect("adapter");
    assert_eq!(acks.expected, 2);
    assert_eq!(acks.responses, vec![vec![Value::from("yes")]]);
    assert!(!acks.complete());

    // The typed form reports the timeout; a late answer is ignored.
    let typed = tokio::spawn({
        let io = io.clone();
        async move {
            io.broadcast()
                .timeout(Duration::from_millis(200))
                .emit_with_ack::<_, String>("again", &())
                .await
        }
    });
    let late = a.next().await;
    assert_eq!(typed.await.expect("task"), Err(AckError::Timeout));
    a.ack(late.id.expect("id"), json!(["late"])).await;
    a.emit(Some(1), "join", json!(["x"])).await;
    assert_eq!(
        a.next().await.event(),
        "joined",
        "the connection still works"
    );
}

#[tokio::test]
async fn a_receiver_that_disconnects_ends_the_wait_early() {
    let io = server();
    let addr = serve(io.clone()).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let started = tokio::time::Instant::now();
    let asked = tokio::spawn({
        let io = io.clone();
        async move {
            io.broadcast()
                .timeout(Duration::from_secs(30))
                .emit_args_with_ack("question", vec![])
                .await
        }
    });
    answer(&mut a, "question", json!([1])).await;
    assert_eq!(b.next().await.event(), "question");
    b.send("41").await; // leaves the namespace without answering
    let acks = asked.await.expect("task").expect("adapter");
    assert_eq!(acks.responses.len(), 1);
    assert_eq!(acks.expected, 2);
    assert!(started.elapsed() < WAIT, "did not wait for the timeout");
}

#[tokio::test]
async fn fetch_sockets_describes_them_and_acts_on_them() {
    let io = SocketIo::new(Config::default());
    io.ns("/", |socket: Socket| async move {
        let _ = socket.set_data(&json!({ "user": socket.id() }));
        socket.join("lobby");
        let _ = socket.emit("ready", &());
    });
    let addr = serve(io.clone()).await;
    let mut a = Client::connect(addr).await;
    assert_eq!(a.next().await.event(), "ready");
    let mut b = Client::connect(addr).await;
    assert_eq!(b.next().await.event(), "ready");

    let mut found = io.to("lobby").fetch_sockets().await.expect("fetch");
    found.sort_by(|x, y| x.id().cmp(y.id()));
    let mut ids = vec![a.id.clone(), b.id.clone()];
    ids.sort();
    assert_eq!(found.iter().map(|s| s.id()).collect::<Vec<_>>(), ids);
    for socket in &found {
        let data: serde_json::Value = socket.data().expect("data");
        assert_eq!(data, json!({ "user": socket.id() }));
        assert!(socket.rooms().contains("lobby"));
        assert!(socket.rooms().contains(socket.id()));
    }

    // Act on one of them through the adapter.
    let remote_a = found.iter().find(|s| s.id() == a.id).expect("a is found");
    remote_a.emit("private", &"for a").expect("emit");
    let got = a.next().await;
    assert_eq!(got.data, json!(["private", "for a"]));
    assert!(b.quiet_for(Duration::from_millis(100)).await);

    remote_a.join("vip").expect("join");
    let vip = io.to("vip").fetch_sockets().await.expect("fetch");
    assert_eq!(vip.len(), 1);
    assert_eq!(vip[0].id(), a.id);
    remote_a.leave("vip").expect("leave");
    assert!(io
        .to("vip")
        .fetch_sockets()
        .await
        .expect("fetch")
        .is_empty());

    remote_a.disconnect(false).expect("disconnect");
    assert_eq!(a.next().await.kind, '1', "told it left the namespace");
    let left = io.to("lobby").fetch_sockets().await.expect("fetch");
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id(), b.id);
}

#[tokio::test]
async fn sockets_join_leave_and_disconnect_by_selection() {
    let io = server();
    let addr = serve(io.clone()).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    join(&mut a, "red").await;
    join(&mut b, "blue").await;

    io.to("red").join("team").expect("socketsJoin");
    io.to("team").emit("hello", &"team").expect("emit");
    assert_eq!(a.next().await.data, json!(["hello", "team"]));
    assert!(b.quiet_for(Duration::from_millis(100)).await);

    io.broadcast()
        .except("blue")
        .leave("team")
        .expect("socketsLeave");
    assert!(!io.to("team").has_receivers());

    io.to("blue").disconnect(true).expect("disconnectSockets");
    // As Node: the client is told (it does not reconnect by itself), then the connection ends.
    assert_eq!(b.next().await.kind, '1', "a DISCONNECT packet first");
    assert!(b.closed().await, "the whole connection was closed");
    io.broadcast().emit("still", &"here").expect("emit");
    assert_eq!(a.next().await.data, json!(["still", "here"]));
}

#[tokio::test]
async fn packet_middleware_changes_or_refuses_events() {
    let io = SocketIo::new(Config::default());
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&refusals);
    io.ns("/", move |socket: Socket| {
        let seen = Arc::clone(&seen);
        async move {
            socket.use_middleware(|_socket, mut event| async move {
                if event.event == "forbidden" {
                    return Err(switchboard_socketio::PacketError::new("not allowed"));
                }
                event.args.push(Value::from("stamped"));
                Ok(event)
            });
            socket.on_error(move |_socket: Socket, error| {
                let seen = Arc::clone(&seen);
                async move { seen.lock().expect("lock").push(error.message) }
            });
            socket.on("echo", |socket: Socket, Args(args): Args| async move {
                let _ = socket.emit_args("echo", args);
            });
            socket.on("forbidden", |socket: Socket| async move {
                let _ = socket.emit("reached", &true);
            });
        }
    });
    let addr = serve(io.clone()).await;
    let mut c = Client::connect(addr).await;
    c.emit(None, "forbidden", json!([])).await;
    c.emit(None, "echo", json!([1])).await;
    let got = c.next().await;
    assert_eq!(
        got.data,
        json!(["echo", 1, "stamped"]),
        "refused event never reached its handler"
    );
    assert_eq!(*refusals.lock().expect("lock"), ["not allowed"]);
}

#[tokio::test]
async fn outgoing_listener_sees_direct_emits_and_broadcasts() {
    let io = SocketIo::new(Config::default());
    let outgoing = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&outgoing);
    io.ns("/", move |socket: Socket| {
        let seen = Arc::clone(&seen);
        async move {
            socket.on_any_outgoing(move |_socket, event, args| {
                seen.lock()
                    .expect("lock")
                    .push((event.to_owned(), args.to_vec()));
            });
            let _ = socket.emit("welcome", &1);
        }
    });
    let addr = serve(io.clone()).await;
    let mut c = Client::connect(addr).await;
    assert_eq!(c.next().await.event(), "welcome");
    io.broadcast().emit("news", &2).expect("emit");
    assert_eq!(c.next().await.event(), "news");
    assert_eq!(
        *outgoing.lock().expect("lock"),
        [
            ("welcome".to_owned(), vec![num(1)]),
            ("news".to_owned(), vec![num(2)])
        ]
    );
}

/// An in-process "cluster": each server's adapter carries operations out on its own
/// sockets and on every other server's, as a Redis adapter does over the network.
#[derive(Default)]
struct Bus {
    servers: Mutex<Vec<LocalNamespace>>,
    /// Sessions kept for connection-state recovery, by private id, for any server to restore.
    sessions: Mutex<HashMap<String, Session>>,
    /// Sessions kept and flushes, in order.
    log: Mutex<Vec<String>>,
}

struct BusAdapter {
    me: usize,
    bus: Arc<Bus>,
}

impl BusAdapter {
    /// The servers an operation reaches: this one, and the others unless `local`.
    fn targets(&self, opts: &BroadcastOptions) -> Vec<LocalNamespace> {
        let servers = self.bus.servers.lock().expect("lock");
        servers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i == self.me || !opts.flags.local)
            .map(|(_, s)| s.clone())
            .collect()
    }

    /// Every server but this one.
    fn others(&self) -> Vec<LocalNamespace> {
        let servers = self.bus.servers.lock().expect("lock");
        servers
            .iter()
            .enumerate()
            .filter(|(i, _)| *i != self.me)
            .map(|(_, s)| s.clone())
            .collect()
    }
}

impl Adapter for BusAdapter {
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        for server in self.targets(&opts) {
            server.broadcast(&packet, &opts);
        }
        Ok(())
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<BroadcastAcks> {
        let mut pending: Vec<_> = self
            .targets(&opts)
            .iter()
            .map(|server| server.broadcast_with_ack(&packet, &opts))
            .collect();
        Box::pin(async move {
            let mut out = BroadcastAcks {
                expected: pending.iter().map(|acks| acks.count()).sum(),
                ..BroadcastAcks::default()
            };
            let deadline = tokio::time::Instant::now() + timeout;
            for acks in &mut pending {
                while let Ok(Some(args)) = tokio::time::timeout_at(deadline, acks.next()).await {
                    out.responses.push(args);
                }
            }
            Ok(out)
        })
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<Vec<SocketInfo>> {
        let found = self
            .targets(&opts)
            .iter()
            .flat_map(|server| server.fetch_sockets(&opts))
            .collect();
        Box::pin(async move { Ok(found) })
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        for server in self.targets(&opts) {
            server.add_sockets(&opts, &rooms);
        }
        Ok(())
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        for server in self.targets(&opts) {
            server.del_sockets(&opts, &rooms);
        }
        Ok(())
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        for server in self.targets(&opts) {
            server.disconnect_sockets(&opts, close);
        }
        Ok(())
    }

    fn server_side_emit(&self, packet: BroadcastPacket) -> Result<(), AdapterError> {
        for server in self.others() {
            server.server_event(ServerEvent::new(&packet.event, packet.args.clone(), None));
        }
        Ok(())
    }

    fn server_side_emit_with_ack(&self, packet: BroadcastPacket) -> AdapterFuture<ServerAcks> {
        let others = self.others();
        let (tx, mut answers) = tokio::sync::mpsc::unbounded_channel();
        for server in &others {
            let tx = tx.clone();
            let ack = ServerAck::new(move |value| {
                let _ = tx.send(value);
            });
            server.server_event(ServerEvent::new(
                &packet.event,
                packet.args.clone(),
                Some(ack),
            ));
        }
        Box::pin(async move {
            let mut out = ServerAcks {
                expected: others.len(),
                ..ServerAcks::default()
            };
            let deadline = tokio::time::Instant::now() + Duration::from_millis(300);
            while out.responses.len() < out.expected {
                match tokio::time::timeout_at(deadline, answers.recv()).await {
                    Ok(Some(value)) => out.responses.push(value),
                    _ => break,
                }
            }
            Ok(out)
        })
    }

    fn persist_session(&self, session: Session) {
        self.bus
            .log
            .lock()
            .unwrap()
            .push(format!("kept {}", session.sid));
        let pid = session.pid.to_string();
        self.bus.sessions.lock().unwrap().insert(pid, session);
    }

    fn restore_session(&self, pid: &str, _offset: &str) -> AdapterFuture<Option<RecoveredSession>> {
        let session = self.bus.sessions.lock().unwrap().remove(pid);
        Box::pin(async move {
            Ok(session.map(|session| RecoveredSession {
                session,
                missed: Vec::new(),
            }))
        })
    }

    fn flush(&self) -> AdapterFuture<()> {
        self.bus.log.lock().unwrap().push("flushed".into());
        Box::pin(async { Ok(()) })
    }
}

/// One Engine.IO polling request on a connection of its own (`sid` empty for the handshake):
/// its status and body.
async fn http(addr: std::net::SocketAddr, method: &str, sid: &str, body: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let sid = if sid.is_empty() {
        String::new()
    } else {
        format!("&sid={sid}")
    };
    let request = format!(
        "{method} /socket.io/?EIO=4&transport=polling{sid} HTTP/1.1\r\nHost: test\r\n\
         Content-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut tcp = tokio::net::TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(WAIT, tcp.read_to_end(&mut response))
        .await
        .expect("answered in time")
        .expect("read");
    let response = String::from_utf8_lossy(&response);
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .expect("a status line");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    (status, body.to_owned())
}

fn clustered(bus: &Arc<Bus>) -> SocketIo {
    clustered_with(bus, Config::default())
}

fn clustered_with(bus: &Arc<Bus>, config: Config) -> SocketIo {
    let bus = Arc::clone(bus);
    let factory = move |local: LocalNamespace| {
        let mut servers = bus.servers.lock().expect("lock");
        servers.push(local);
        Arc::new(BusAdapter {
            me: servers.len() - 1,
            bus: Arc::clone(&bus),
        }) as Arc<dyn Adapter>
    };
    server_with(SocketIo::with_adapter(config, Arc::new(factory)))
}

#[tokio::test]
async fn close_keeps_every_session_before_the_adapter_flushes_and_clients_recover_elsewhere() {
    let bus = Arc::new(Bus::default());
    let recovering = || Config {
        connection_state_recovery: Some(RecoveryConfig::default()),
        ..Config::default()
    };
    let (one, two) = (
        clustered_with(&bus, recovering()),
        clustered_with(&bus, recovering()),
    );
    let (addr_one, addr_two) = (serve(one.clone()).await, serve(two.clone()).await);
    let (mut a, connected) = Client::connect_with(addr_one, None).await;
    let pid = connected["pid"].as_str().expect("a pid").to_owned();
    let b = Client::connect(addr_one).await;
    join(&mut a, "room").await;
    // A polling client between two polls: connected, no GET parked.
    let (_, open) = http(addr_one, "GET", "", "").await;
    let sid = open.split('"').nth(3).expect("the sid").to_owned();
    let (status, _) = http(addr_one, "POST", &sid, "40").await;
    assert_eq!(status, 200);
    let deadline = tokio::time::Instant::now() + WAIT;
    while one.broadcast().fetch_sockets().await.expect("fetch").len() < 3 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the polling socket connects"
        );
        tokio::task::yield_now().await;
    }

    // Well within the 30 s a polling session would wait for its GET when closed otherwise.
    tokio::time::timeout(WAIT, one.close())
        .await
        .expect("close resolves once every session ended");
    // Resolved after every socket was kept (as lost connections, which may recover) and
    // then the adapter flushed.
    let mut log = bus.log.lock().unwrap().clone();
    assert_eq!(log.pop().as_deref(), Some("flushed"), "{log:?}");
    assert_eq!(log.len(), 3, "{log:?}");
    for id in [&a.id, &b.id] {
        assert!(log.contains(&format!("kept {id}")), "{log:?}");
    }
    assert_eq!(one.sessions(), 0);

    // Handshakes reaching the closed server are refused: the client tries again elsewhere.
    let (status, _) = http(addr_one, "GET", "", "").await;
    assert_eq!(status, 503);
    let url = format!("ws://{addr_one}/socket.io/?EIO=4&transport=websocket");
    assert!(connect(&url, ClientConfig::default()).await.is_err());
    assert_eq!(one.sessions(), 0);

    // The client recovers on the other server: same socket, same room.
    let (back, _) =
        Client::connect_with(addr_two, Some(json!({ "pid": pid, "offset": "0" }))).await;
    assert_eq!(back.id, a.id);
    assert!(two.to("room").has_receivers());
}

#[tokio::test]
async fn a_cluster_adapter_reaches_the_other_servers_sockets() {
    let bus = Arc::new(Bus::default());
    let (one, two) = (clustered(&bus), clustered(&bus));
    let mut a = Client::connect(serve(one.clone()).await).await;
    let mut b = Client::connect(serve(two.clone()).await).await;
    join(&mut a, "room").await;
    join(&mut b, "room").await;

    // A broadcast from server one reaches server two's socket; `local` does not.
    one.to("room").emit("hi", &"all").expect("emit");
    assert_eq!(a.next().await.data, json!(["hi", "all"]));
    assert_eq!(b.next().await.data, json!(["hi", "all"]));
    one.to("room").local().emit("hi", &"local").expect("emit");
    assert_eq!(a.next().await.data, json!(["hi", "local"]));
    assert!(b.quiet_for(Duration::from_millis(100)).await);

    // Acknowledgements come back from both servers.
    let asked = tokio::spawn({
        let one = one.clone();
        async move {
            one.to("room")
                .timeout(WAIT)
                .emit_with_ack::<_, String>("who", &())
                .await
        }
    });
    answer(&mut a, "who", json!(["a"])).await;
    answer(&mut b, "who", json!(["b"])).await;
    let mut who = asked.await.expect("task").expect("answers");
    who.sort();
    assert_eq!(who, ["a", "b"]);

    // fetchSockets sees both; acting on the remote one goes through the adapter.
    let found = one.to("room").fetch_sockets().await.expect("fetch");
    assert_eq!(found.len(), 2);
    let remote_b = found.iter().find(|s| s.id() == b.id).expect("b found");
    remote_b.emit("direct", &"to b").expect("emit");
    assert_eq!(b.next().await.data, json!(["direct", "to b"]));
    one.broadcast()
        .disconnect(false)
        .expect("disconnectSockets");
    assert_eq!(a.next().await.kind, '1');
    assert_eq!(b.next().await.kind, '1');
    assert!(two
        .to("room")
        .fetch_sockets()
        .await
        .expect("fetch")
        .is_empty());
}

fn num(n: i64) -> Value {
    switchboard_socketio::value::to_value(&n).expect("a number")
}

#[tokio::test]
async fn broadcasts_skip_every_member_of_excluded_rooms_small_or_large() {
    // Twelve sockets: the first ten join "many", the first three also join "few".
    let io = SocketIo::new(Config::default());
    let joined = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&joined);
    io.ns("/", move |socket: Socket| {
        let counter = Arc::clone(&counter);
        async move {
            let n = {
                let mut n = counter.lock().expect("counter");
                *n += 1;
                *n
            };
            if n <= 10 {
                socket.join("many");
            }
            if n <= 3 {
                socket.join("few");
            }
            let _ = socket.emit("ready", &());
        }
    });
    let addr = serve(io.clone()).await;
    let mut clients = Vec::new();
    for _ in 0..12 {
        let mut c = Client::connect(addr).await;
        assert_eq!(c.next().await.event(), "ready");
        clients.push(c);
    }
    let ids = |range: std::ops::Range<usize>| {
        let mut ids: Vec<String> = clients[range].iter().map(|c| c.id.clone()).collect();
        ids.sort();
        ids
    };
    let outside = |room: &'static str| {
        let io = io.clone();
        async move {
            let sockets = io.broadcast().except(room).fetch_sockets().await;
            let mut ids: Vec<String> = sockets
                .expect("fetch")
                .iter()
                .map(|s| s.id().to_owned())
                .collect();
            ids.sort();
            ids
        }
    };
    assert_eq!(outside("many").await, ids(10..12));
    assert_eq!(outside("few").await, ids(3..12));
    // And an emit reaches exactly those outside the large excluded room.
    io.broadcast()
        .except("many")
        .emit("hello", &1)
        .expect("emit");
    for (i, c) in clients.iter_mut().enumerate() {
        if i >= 10 {
            assert_eq!(c.next().await.event(), "hello");
        } else {
            assert!(c.quiet_for(Duration::from_millis(50)).await, "socket {i}");
        }
    }
}

#[tokio::test]
async fn server_events_with_the_memory_adapter_have_no_other_server_to_reach() {
    let io = server();
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel::<()>();
    io.server_events("/")
        .on("hello", move |event: ServerEvent| {
            let _ = tx.send(());
            async move { event.ack(&"answer") }
        });
    let events = io.server_events("/");
    events.emit("hello", &1).expect("emit");
    let answers: Vec<String> = tokio::time::timeout(WAIT, events.emit_with_ack("hello", &2))
        .await
        .expect("at once")
        .expect("no answers to wait for");
    assert!(answers.is_empty());
    assert_eq!(
        events.emit("new_namespace", &1),
        Err(EmitError::Reserved("new_namespace".into()))
    );
    // Its own listener never hears this server's events.
    tokio::task::yield_now().await;
    assert!(heard.try_recv().is_err());
}

#[tokio::test]
async fn a_cluster_adapter_carries_server_events_to_the_other_servers() {
    let bus = Arc::new(Bus::default());
    let (one, two, three) = (clustered(&bus), clustered(&bus), clustered(&bus));
    let (tx, mut heard) = tokio::sync::mpsc::unbounded_channel();
    for (io, name) in [(&one, "one"), (&two, "two"), (&three, "three")] {
        let tx = tx.clone();
        io.server_events("/").on("ping", move |event: ServerEvent| {
            let _ = tx.send((name, event.wants_ack()));
            let (a, b): (i64, String) = event.data().expect("two arguments");
            async move { event.ack(&format!("{name}:{a}:{b}")) }
        });
    }
    let events = one.server_events("/");
    events
        .emit_args("ping", vec![num(1), Value::from("x")])
        .expect("emit");
    let mut got = vec![next(&mut heard).await, next(&mut heard).await];
    got.sort_unstable();
    assert_eq!(got, [("three", false), ("two", false)]);

    let mut answers: Vec<String> = events
        .emit_with_ack("ping", &(2, "y"))
        .await
        .expect("answers");
    answers.sort();
    assert_eq!(answers, ["three:2:y", "two:2:y"]);

    // A server whose listener does not answer: the others' answers, marked incomplete.
    three
        .server_events("/")
        .on("ping", |_event: ServerEvent| async {});
    let acks = events
        .emit_args_with_ack("ping", vec![num(3), Value::from("z")])
        .await
        .expect("acks");
    assert_eq!((acks.expected, acks.responses.len()), (2, 1));
    assert!(!acks.complete());
    assert_eq!(
        events.emit_with_ack::<_, String>("ping", &(4, "w")).await,
        Err(AckError::Timeout)
    );
}

#[tokio::test]
async fn setting_a_namespace_up_again_keeps_its_sockets_and_adapter() {
    let io = server();
    let mut first = Client::connect(serve(io.clone()).await).await;
    join(&mut first, "room").await;
    // A new connection handler (Node's `io.of("/").on("connection")` on the same namespace).
    io.ns("/", |socket: Socket| async move {
        let _ = socket.emit("second-handler", &true);
    });
    let mut second = Client::connect(serve(io.clone()).await).await;
    assert_eq!(second.next().await.data, json!(["second-handler", true]));
    // The socket connected before is still in the namespace and its rooms.
    io.to("room").emit("still", &"here").expect("emit");
    assert_eq!(first.next().await.data, json!(["still", "here"]));
    io.broadcast().emit("all", &2).expect("emit");
    assert_eq!(first.next().await.data, json!(["all", 2]));
    assert_eq!(second.next().await.data, json!(["all", 2]));
    assert_eq!(io.broadcast().sockets().len(), 2);
}

#[tokio::test]
async fn disconnecting_listeners_see_the_rooms_and_reach_their_other_members() {
    let io = SocketIo::new(Config::default());
    let (tx, mut seen) = tokio::sync::mpsc::unbounded_channel::<(String, usize)>();
    io.ns("/", move |socket: Socket| {
        let tx = tx.clone();
        async move {
            socket.join(["red", "blue"]);
            let before = tx.clone();
            socket.on_disconnecting(move |socket: &Socket, reason| {
                let mut rooms: Vec<String> = socket
                    .rooms()
                    .iter()
                    .filter(|room| &***room != socket.id())
                    .map(|room| room.to_string())
                    .collect();
                rooms.sort();
                let left = json!({ "id": socket.id(), "rooms": rooms });
                socket.to(rooms).emit("left", &left).expect("emit");
                assert!(
                    socket.connected(),
                    "still connected while disconnecting, as in Node"
                );
                let _ = before.send((reason.to_string(), socket.rooms().len()));
            });
            socket.on_disconnect(move |socket: Socket, reason| {
                // Too late to join anything: the socket is gone.
                socket.join("ghost");
                let _ = tx.send((format!("after {reason}"), socket.rooms().len()));
                async {}
            });
        }
    });
    let addr = serve(io.clone()).await;
    let a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    let a_id = a.id.clone();

    // The connection drops: a's rooms (its own, red, blue) are still there for the listener,
    // and b, in both, hears once who left; then the disconnect handler sees no rooms.
    a.drop_connection().await;
    let got = b.next().await;
    assert_eq!(
        got.data,
        json!(["left", { "id": a_id, "rooms": ["blue", "red"] }])
    );
    let first = next(&mut seen).await;
    assert_eq!(first, ("transport close".to_owned(), 3));
    let second = next(&mut seen).await;
    assert_eq!(second, ("after transport close".to_owned(), 0));

    // A server-side disconnect runs it too, once.
    io.broadcast().disconnect(false).expect("disconnect");
    let first = next(&mut seen).await;
    assert_eq!(first, ("server namespace disconnect".to_owned(), 3));
    let second = next(&mut seen).await;
    assert_eq!(second.1, 0);
    assert!(seen.try_recv().is_err());
}

/// The next value a listener sent, within [`WAIT`].
async fn next<T>(events: &mut tokio::sync::mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the listener lives")
}

#[tokio::test]
async fn room_events_follow_connections_joins_and_disconnections() {
    let io = server();
    let (tx, mut events) = tokio::sync::mpsc::unbounded_channel::<String>();
    let io_in_listener = io.clone();
    io.on_room_event("/", move |event: &RoomEvent| {
        // The rooms are unlocked: the listener may look at them (at "red": a socket's own
        // room changes while it connects, before it counts as connected).
        let members = |room: &Room| match &**room {
            "red" => io_in_listener.to("red").sockets().len().to_string(),
            _ => "-".into(),
        };
        let line = match event {
            RoomEvent::Created(room) => format!("create {room}"),
            RoomEvent::Joined { room, id } => format!("join {room} {id} ({})", members(room)),
            RoomEvent::Left { room, id } => format!("leave {room} {id} ({})", members(room)),
            RoomEvent::Deleted(room) => format!("delete {room}"),
        };
        let _ = tx.send(line);
    });
    let addr = serve(io.clone()).await;
    let mut a = Client::connect(addr).await;
    let id = a.id.clone();
    assert_eq!(next(&mut events).await, format!("create {id}"));
    assert_eq!(next(&mut events).await, format!("join {id} {id} (-)"));
    join(&mut a, "red").await;
    assert_eq!(next(&mut events).await, "create red");
    assert_eq!(next(&mut events).await, format!("join red {id} (1)"));
    join(&mut a, "red").await; // already in: nothing
    let mut b = Client::connect(addr).await;
    let b_id = b.id.clone();
    assert_eq!(next(&mut events).await, format!("create {b_id}"));
    assert_eq!(next(&mut events).await, format!("join {b_id} {b_id} (-)"));
    join(&mut b, "red").await;
    assert_eq!(next(&mut events).await, format!("join red {b_id} (2)"));

    // Disconnections leave every room; a room is deleted with its last member.
    a.drop_connection().await;
    let mut left = vec![
        next(&mut events).await,
        next(&mut events).await,
        next(&mut events).await,
    ];
    let mut want = vec![
        format!("leave {id} {id} (-)"),
        format!("delete {id}"),
        format!("leave red {id} (1)"),
    ];
    left.sort();
    want.sort();
    assert_eq!(left, want);
    io.to("red").leave("red").expect("socketsLeave");
    assert_eq!(next(&mut events).await, format!("leave red {b_id} (0)"));
    assert_eq!(next(&mut events).await, "delete red");
    b.drop_connection().await;
    assert_eq!(next(&mut events).await, format!("leave {b_id} {b_id} (-)"));
    assert_eq!(next(&mut events).await, format!("delete {b_id}"));
    assert!(events.try_recv().is_err());
}

#[derive(Clone, Default)]
struct Counter(Arc<std::sync::atomic::AtomicU64>);

#[tokio::test]
async fn application_state_reaches_every_handler() {
    let io = SocketIo::new(Config::default());
    io.insert_state(Counter::default());
    io.ns("/", |socket: Socket| async move {
        // In the connection handler, through the socket.
        let counter: Counter = socket.state().expect("inserted");
        counter
            .0
            .fetch_add(100, std::sync::atomic::Ordering::Relaxed);
        socket.on(
            "count",
            |State(counter): State<Counter>, ack: Ack| async move {
                let n = counter.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
                ack.send(&n);
            },
        );
        // A type never inserted: the handler is not called.
        socket.on("missing", |State(_): State<String>, ack: Ack| async move {
            ack.send(&"called");
        });
    });
    let addr = serve(io.clone()).await;
    let mut a = Client::connect(addr).await;
    let mut b = Client::connect(addr).await;
    a.emit(Some(1), "count", json!([])).await;
    assert_eq!(a.next().await.data, json!([201]));
    b.emit(Some(1), "count", json!([])).await;
    assert_eq!(b.next().await.data, json!([202]));
    a.emit(Some(2), "missing", json!([])).await;
    assert!(a.quiet_for(Duration::from_millis(200)).await);
    // Replaced for the handlers that run from now on.
    io.insert_state(Counter(Arc::new(std::sync::atomic::AtomicU64::new(7))));
    b.emit(Some(2), "count", json!([])).await;
    assert_eq!(b.next().await.data, json!([8]));
}

/// Emits `event` asking for an acknowledgement with `id`; the answer's arguments.
async fn ask(c: &mut Client, id: u64, event: &str) -> serde_json::Value {
    c.emit(Some(id), event, json!([])).await;
    c.next().await.data
}

#[tokio::test]
async fn once_off_and_off_any_forget_handlers() {
    let io = SocketIo::new(Config::default());
    io.ns("/", |socket: Socket| async move {
        socket.once("first", |ack: Ack| async move { ack.send(&"once") });
        socket.on("again", |ack: Ack| async move { ack.send(&"again") });
        socket.on_any(|Args(args): Args, ack: Ack| async move {
            ack.send(&json!([
                "any",
                args.first().cloned().unwrap_or(Value::Null)
            ]));
        });
        socket.on("stop", |socket: Socket, ack: Ack| async move {
            let had = socket.off("again");
            socket.off_any();
            ack.send(&(had, socket.off("again")));
        });
    });
    let mut c = Client::connect(serve(io.clone()).await).await;
    assert_eq!(ask(&mut c, 1, "first").await, json!(["once"]));
    // Gone after one call: the catch-all takes it now.
    assert_eq!(ask(&mut c, 2, "first").await, json!([["any", "first"]]));
    assert_eq!(ask(&mut c, 3, "again").await, json!(["again"]));
    // off says whether there was a handler; off_any leaves nothing to answer.
    assert_eq!(ask(&mut c, 4, "stop").await, json!([[true, false]]));
    c.emit(Some(5), "again", json!([])).await;
    assert!(c.quiet_for(Duration::from_millis(200)).await);
}
