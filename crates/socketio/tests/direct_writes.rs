//! Packets for sleeping WebSocket sessions, written by the shared writer (`direct_writes`, on
//! by default): every receiver gets every broadcast whole and in order, with the answers to
//! its own emits among them (its task takes its socket over for those, and gives it back),
//! also when it stops reading for a while; and a disconnect arrives after what was broadcast
//! before it.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod common;

use std::time::Duration;

use common::{serve, Client};
use serde_json::json;
use switchboard_socketio::{Ack, Args, Config, Socket, SocketIo};

const RECEIVERS: usize = 4;
const BROADCASTS: u64 = 600;
/// Within the 4 KiB a lane takes per packet. A burst of them fills a sleeping receiver's lane
/// (64 KiB) over and over, so its task takes over and gives the socket back again and again.
const SIZE: usize = 4000;
/// Every this many broadcasts a receiver emits an `echo` and waits for its answer.
const ECHO_EVERY: u64 = 25;

fn server() -> SocketIo {
    let config = Config::default();
    assert!(config.engine.direct_writes, "on by default");
    let io = SocketIo::new(config);
    io.ns("/", |socket: Socket| async move {
        socket.on("burst", |socket: Socket| async move {
            let filler = "x".repeat(SIZE);
            for i in 0..BROADCASTS {
                socket.broadcast().emit("seq", &(i, &filler)).unwrap();
            }
            socket.broadcast().emit("end", &true).unwrap();
        });
        socket.on("finish", |socket: Socket| async move {
            socket.broadcast().emit("last", &true).unwrap();
            socket.broadcast().disconnect(false).unwrap();
        });
        socket.on("echo", |Args(args): Args, ack: Ack| async move {
            ack.send_args(args);
        });
    });
    io
}

/// Reads until `end` and the answers to all its echoes, checking the order; returns the
/// sequence numbers seen and how many echoes were answered.
async fn receive(client: &mut Client, pause_at: Option<u64>) -> (Vec<u64>, usize) {
    let mut seen = Vec::new();
    let mut echo_id = 0;
    // Echoes not answered yet, oldest first: answers come in order, behind the broadcasts
    // queued before them.
    let mut waiting = std::collections::VecDeque::new();
    let (mut answered, mut ended) = (0, false);
    while !(ended && waiting.is_empty()) {
        let packet = client.next().await;
        match (packet.kind, packet.event()) {
            ('2', "seq") => {
                let n = packet.data[1][0].as_u64().expect("a sequence number");
                assert_eq!(
                    packet.data[1][1].as_str().map(str::len),
                    Some(SIZE),
                    "whole"
                );
                seen.push(n);
                if Some(n) == pause_at {
                    // Not reading: the server's writes to this socket stop short.
                    tokio::time::sleep(Duration::from_millis(300)).await;
                }
                if (n + 1) % ECHO_EVERY == 0 {
                    echo_id += 1;
                    waiting.push_back((echo_id, n));
                    client.emit(Some(echo_id), "echo", json!([n])).await;
                }
            }
            ('3', _) => {
                let (id, n) = waiting.pop_front().expect("an echo to answer");
                assert_eq!((packet.id, packet.data), (Some(id), json!([n])));
                answered += 1;
            }
            ('2', "end") => {
                assert_eq!(
                    seen.len() as u64,
                    BROADCASTS,
                    "end comes after every broadcast"
                );
                ended = true;
            }
            other => panic!("unexpected packet {other:?}: {packet:?}"),
        }
    }
    (seen, answered)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broadcasts_arrive_whole_and_in_order_among_answers_and_before_a_disconnect() {
    let addr = serve(server()).await;
    let mut receivers = Vec::new();
    for i in 0..RECEIVERS {
        let client = Client::connect(addr).await;
        let pause_at = (i % 2 == 0).then_some(40 + i as u64);
        receivers.push(tokio::spawn(async move {
            let mut client = client;
            let result = receive(&mut client, pause_at).await;
            (client, result)
        }));
    }
    let mut sender = Client::connect(addr).await;
    sender.emit(None, "burst", json!([])).await;
    let mut clients = Vec::new();
    for receiver in receivers {
        let (client, (seen, answered)) = tokio::time::timeout(Duration::from_secs(60), receiver)
            .await
            .expect("every receiver done in time")
            .expect("no receiver failed");
        assert_eq!(seen, (0..BROADCASTS).collect::<Vec<_>>());
        assert_eq!(
            answered as u64,
            BROADCASTS / ECHO_EVERY,
            "every echo answered"
        );
        clients.push(client);
    }
    // Every receiver sleeps with nothing to write now: the last broadcast and the disconnect
    // behind it go through the writer, in that order.
    sender.emit(None, "finish", json!([])).await;
    for client in &mut clients {
        assert_eq!(client.next().await.event(), "last");
        assert_eq!(client.next().await.kind, '1', "then the disconnect");
    }
}
