//! Two switchboard servers joined by the Redis adapter through a Redis Cluster of three
//! primaries (started per test on free ports): broadcasts to rooms whose channels live on
//! different nodes, `fetchSockets` and broadcast acknowledgements (servers counted on every
//! node), then a node restarting and a slot moving to another node under the subscriptions.
//! Each runs on the classic adapter, the sharded one and the streams one. Node's adapters on
//! a cluster are in tests/interop/node/socketio-redis.test.mjs.
//!
//! Needs `redis-server` and `redis-cli` on the PATH; skipped without them unless
//! `SWITCHBOARD_INTEROP` is set (scripts/test.sh sets it and installs Redis).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

#[path = "../../socketio/tests/common/mod.rs"]
mod common;
mod redis_process;
#[macro_use]
mod two_servers;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::{serve, WAIT};
use redis_process::RedisCluster;
use serde_json::json;
use switchboard_socketio::{Config, SocketIo, Value};
use switchboard_socketio_redis::{RedisAdapterConfig, RedisAdapterFactory};
use two_servers::{client, emit_until_heard, expect_event, join_auth_room, ns, Kind};

/// The adapter's settings on a cluster: the streams adapter spreads namespaces over two
/// streams, which may live on different nodes.
fn config(kind: Kind) -> RedisAdapterConfig {
    let mut config = kind.config();
    if let Some(streams) = &mut config.streams {
        streams.stream_count = 2;
    }
    config
}

/// A server on the cluster that `seed` belongs to (one node's URL is enough: the others are
/// learnt from it), running [`join_auth_room`].
async fn server_on(seed: &str, config: RedisAdapterConfig) -> (SocketIo, SocketAddr) {
    let adapters = RedisAdapterFactory::connect_cluster([seed], config)
        .await
        .expect("the cluster");
    let io = SocketIo::with_adapter(Config::default(), adapters.clone());
    io.ns("/", join_auth_room);
    tokio::time::timeout(WAIT, adapters.subscribed())
        .await
        .expect("subscribed in time");
    let addr = serve(io.clone()).await;
    (io, addr)
}

async fn server(cluster: &RedisCluster, kind: Kind) -> (SocketIo, SocketAddr) {
    server_on(&cluster.urls()[0], config(kind)).await
}

/// How long a test waits for the cluster to carry broadcasts again.
const SETTLE: Duration = Duration::from_secs(20);

/// One room per node: each room's sharded channel (`socket.io#/#room#`) hashes to a slot of a
/// different node.
fn room_per_node(cluster: &RedisCluster) -> Vec<String> {
    let mut rooms: Vec<Option<String>> = vec![None; cluster.nodes.len()];
    for n in 0.. {
        let room = format!("room-{n}");
        let node = cluster.owner(cluster.slot(&format!("socket.io#/#{room}#")));
        rooms[node].get_or_insert(room);
        if rooms.iter().all(Option::is_some) {
            break;
        }
    }
    rooms.into_iter().map(Option::unwrap).collect()
}

on_every_adapter!(servers_share_rooms_queries_and_acknowledgements_over_a_cluster);
async fn servers_share_rooms_queries_and_acknowledgements_over_a_cluster(kind: Kind) {
    let Some(cluster) = RedisCluster::start() else {
        return;
    };
    let rooms = room_per_node(&cluster);
    let (a, a_addr) = server(&cluster, kind).await;
    let (b, b_addr) = server(&cluster, kind).await;
    let mut on_b = Vec::new();
    for (i, room) in rooms.iter().enumerate() {
        on_b.push(client(b_addr, &format!("b{i}"), Some(room)).await);
    }
    // The sharded adapter follows a room's channel a moment after its first member joins, as
    // Node's does: wait until each room hears a.
    if kind == Kind::Sharded {
        for (room, member) in rooms.iter().zip(&mut on_b) {
            emit_until_heard(&ns(&a).to(room.as_str()), member, "hello", SETTLE).await;
        }
    }
    let mut on_a = client(a_addr, "a", Some(&rooms[0])).await;

    ns(&a).emit("all", &1).unwrap();
    for c in on_b.iter_mut().chain([&mut on_a]) {
        expect_event(c, "all", json!([1])).await;
    }
    // A room on each node, and all but one room.
    for (i, room) in rooms.iter().enumerate() {
        ns(&a).to(room.as_str()).emit("room", &i).unwrap();
        expect_event(&mut on_b[i], "room", json!([i])).await;
    }
    expect_event(&mut on_a, "room", json!([0])).await;
    ns(&b)
        .except(rooms[0].as_str())
        .emit("not-first", &2)
        .unwrap();
    for c in &mut on_b[1..] {
        expect_event(c, "not-first", json!([2])).await;
    }
    assert!(on_a.quiet_for(Duration::from_millis(300)).await);
    assert!(on_b[0].quiet_for(Duration::from_millis(1)).await);

    // Several channels (slots, nodes) in one tick: broadcasts to every room and a request
    // leave in one batch of the publisher, split by slot.
    // (The request is queued when fetch_sockets is first polled, before this task yields to
    // the publisher.)
    for (i, room) in rooms.iter().enumerate() {
        ns(&a).to(room.as_str()).emit("burst", &i).unwrap();
    }
    ns(&a).emit("burst-all", &0).unwrap();
    let everyone = ns(&a);
    assert_eq!(
        everyone.fetch_sockets().await.unwrap().len(),
        rooms.len() + 1
    );
    // In the order emitted: the classic adapter sends every plain PUBLISH to one node, the
    // streams adapter appends both to the namespace's stream. The sharded one publishes each
    // on its own channel's node, so only the order per channel holds, as with Node's.
    let burst = |i: usize| vec![json!(["burst", i]), json!(["burst-all", 0])];
    for (i, c) in on_b.iter_mut().chain([&mut on_a]).enumerate() {
        let mut got = vec![c.next().await.data, c.next().await.data];
        if kind == Kind::Sharded {
            got.sort_by_key(|v| v[0].as_str().map(str::len));
        }
        assert_eq!(got, burst(i % rooms.len()), "client {}", c.id);
    }

    // fetchSockets sees the other server's sockets, with their rooms and data.
    let found = ns(&a).fetch_sockets().await.unwrap();
    assert_eq!(found.len(), rooms.len() + 1);
    let far = found.iter().find(|s| s.id() == on_b[2].id).unwrap();
    assert!(far.rooms().contains(rooms[2].as_str()));
    assert_eq!(far.info().data, Value::from(json!({ "name": "b2" })));

    // Acknowledgements from both servers: the servers were counted across the nodes (a count
    // too low ends the broadcast early, too high waits out the timeout).
    let asking = tokio::spawn({
        let a = a.clone();
        async move {
            ns(&a)
                .timeout(Duration::from_secs(5))
                .emit_args_with_ack("question", vec![Value::from(7)])
                .await
        }
    });
    for c in on_b.iter_mut().chain([&mut on_a]) {
        let got = c.next().await;
        assert_eq!(got.data, json!(["question", 7]));
        c.ack(got.id.unwrap(), json!([c.id.clone()])).await;
    }
    let acks = asking.await.unwrap().unwrap();
    assert!(acks.complete(), "{acks:?}");
    assert_eq!(acks.expected, rooms.len() + 1);
}

on_every_adapter!(subscriptions_survive_a_node_restart_and_a_slot_moving);
async fn subscriptions_survive_a_node_restart_and_a_slot_moving(kind: Kind) {
    let Some(mut cluster) = RedisCluster::start() else {
        return;
    };
    let rooms = room_per_node(&cluster);
    let (a, _) = server(&cluster, kind).await;
    let (_b, b_addr) = server(&cluster, kind).await;
    let mut members = Vec::new();
    for (i, room) in rooms.iter().enumerate() {
        members.push(client(b_addr, &format!("b{i}"), Some(room)).await);
    }
    for (room, member) in rooms.iter().zip(&mut members) {
        emit_until_heard(&ns(&a).to(room.as_str()), member, "before", SETTLE).await;
    }

    // Every node in turn goes away and comes back: each room hears a again, whichever node
    // its channel (or the namespace's channels, or the stream) lives on.
    for node in 0..cluster.nodes.len() {
        cluster.restart(node);
        for (room, member) in rooms.iter().zip(&mut members) {
            emit_until_heard(&ns(&a).to(room.as_str()), member, "after-restart", SETTLE).await;
        }
        // Requests and their answers cross again too, whichever node their channels are on.
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let found = ns(&a).fetch_sockets().await.map(|f| f.len());
            if found == Ok(members.len()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "fetchSockets after a restart: {found:?}"
            );
        }
        // Each broadcast arrives once: no subscription was left on two nodes.
        ns(&a).emit("once", &node).unwrap();
        ns(&a).emit("marker", &node).unwrap();
        for member in &mut members {
            loop {
                let got = member.next().await;
                if got.event() == "once" {
                    break;
                }
            }
            expect_event(member, "marker", json!([node])).await;
        }
    }

    // A room channel's slot moves to another node: Redis drops the subscriptions there, and
    // the sharded adapter subscribes again on the new owner.
    let slot = cluster.slot(&format!("socket.io#/#{}#", rooms[1]));
    cluster.move_slot(slot, 2);
    emit_until_heard(
        &ns(&a).to(rooms[1].as_str()),
        &mut members[1],
        "after-move",
        SETTLE,
    )
    .await;
    // It keeps working: each broadcast now arrives at once.
    for n in 0..5 {
        ns(&a).to(rooms[1].as_str()).emit("steady", &n).unwrap();
    }
    let mut steady = Vec::new();
    while steady.len() < 5 {
        let got = members[1].next().await;
        if got.event() == "steady" {
            steady.push(got.data[1].clone());
        }
    }
    assert_eq!(steady, (0..5).map(|n| json!(n)).collect::<Vec<_>>());
}

on_every_adapter!(servers_reach_each_other_over_a_tls_cluster);
/// Every node speaks TLS (a private CA, client certificates, an ACL user's password): the
/// connections to the nodes learnt from the seed take the same certificates and password.
async fn servers_reach_each_other_over_a_tls_cluster(kind: Kind) {
    let Some(cluster) = RedisCluster::start_tls() else {
        return;
    };
    let read = |name: &str| std::fs::read(cluster.tls_file(name)).unwrap();
    let config = RedisAdapterConfig {
        tls: Some(redis::TlsCertificates {
            client_tls: Some(redis::ClientTlsConfig {
                client_cert: read("client.pem"),
                client_key: read("client.key"),
            }),
            root_cert: Some(read("ca.pem")),
        }),
        ..config(kind)
    };
    let rooms = room_per_node(&cluster);
    let seeds = cluster.tls_urls("s3cret");
    let (a, _) = server_on(&seeds[0], config.clone()).await;
    let (_b, b_addr) = server_on(&seeds[0], config.clone()).await;
    let mut members = Vec::new();
    for room in &rooms {
        let mut member = client(b_addr, "b", Some(room)).await;
        emit_until_heard(&ns(&a).to(room.as_str()), &mut member, "over-tls", SETTLE).await;
        members.push(member);
    }
    let found = ns(&a).fetch_sockets().await.unwrap();
    assert_eq!(found.len(), rooms.len());

    // A wrong password is refused, on the seed as on any node.
    let wrong = cluster.tls_urls("guess");
    let started = Instant::now();
    let refused = RedisAdapterFactory::connect_cluster([wrong[0].clone()], config.clone()).await;
    assert!(refused.is_err());
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

on_every_adapter!(connections_to_the_nodes_that_die_silently_are_replaced);
/// Every connection to every node goes through a proxy that then forgets them all, as a NAT
/// or a load balancer does: the nodes see them close, the servers' ends stay open and hear
/// nothing more. Both servers find out by their heartbeat and connect again.
async fn connections_to_the_nodes_that_die_silently_are_replaced(kind: Kind) {
    let mut pairs = Vec::new();
    let mut proxies = Vec::new();
    for _ in 0..3 {
        let port = redis_process::free_port();
        let proxy = redis_process::Forgetful::start(port).await;
        pairs.push((port, proxy.port));
        proxies.push(proxy);
    }
    // redis-cli reaches the nodes through the proxies, which run on this runtime.
    let starting = tokio::task::spawn_blocking(move || RedisCluster::start_behind(&pairs));
    let Some(cluster) = starting.await.unwrap() else {
        return;
    };
    let watchful = RedisAdapterConfig {
        requests_timeout: Duration::from_millis(500),
        heartbeat_interval: Some(Duration::from_millis(200)),
        ..config(kind)
    };
    let rooms = room_per_node(&cluster);
    let (a, _) = server_on(&proxies[0].url, watchful.clone()).await;
    let (_b, b_addr) = server_on(&proxies[0].url, watchful).await;
    let mut members = Vec::new();
    for room in &rooms {
        let mut member = client(b_addr, "b", Some(room)).await;
        emit_until_heard(&ns(&a).to(room.as_str()), &mut member, "before", SETTLE).await;
        members.push(member);
    }

    for proxy in &proxies {
        proxy.forget_all();
    }
    for (room, member) in rooms.iter().zip(&mut members) {
        emit_until_heard(&ns(&a).to(room.as_str()), member, "after", SETTLE).await;
    }
    // Requests cross again too.
    let found = ns(&a).fetch_sockets().await.unwrap();
    assert_eq!(found.len(), rooms.len());
}
