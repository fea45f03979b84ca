//! A comparison server for `switchboard bench`, built the way tokio-tungstenite's examples
//! build one: split each socket, one forwarding task per connection with an unbounded queue,
//! and broadcast by looping over the room's senders (each receiver frames its own copy).
//!
//! Usage: `bench-tungstenite-server [--listen 127.0.0.1:3001]`

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::handshake::server::{Request, Response};
use tokio_tungstenite::tungstenite::Message;

type Rooms = Arc<Mutex<HashMap<String, HashMap<u64, mpsc::UnboundedSender<Message>>>>>;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let mut listen = String::from("127.0.0.1:3001");
    while let Some(arg) = args.next() {
        if arg == "--listen" {
            listen = args.next().unwrap_or(listen);
        }
    }
    let listener = TcpListener::bind(&listen).await?;
    println!("switchboard listening on http://{}", listener.local_addr()?);
    let rooms = Rooms::default();
    loop {
        let (tcp, _) = listener.accept().await?;
        tcp.set_nodelay(true)?;
        tokio::spawn(handle(tcp, rooms.clone()));
    }
}

// The callback type is fixed by tokio-tungstenite: its error variant is an HTTP response.
#[allow(clippy::result_large_err)]
async fn handle(tcp: TcpStream, rooms: Rooms) {
    let mut path = String::new();
    let callback = |req: &Request, resp: Response| {
        path = req.uri().path().to_owned();
        Ok(resp)
    };
    let Ok(ws) = tokio_tungstenite::accept_hdr_async(tcp, callback).await else {
        return;
    };
    if path == "/ws" {
        pubsub(ws, rooms).await;
    } else {
        let (mut sink, mut stream) = ws.split();
        while let Some(Ok(msg)) = stream.next().await {
            if (msg.is_text() || msg.is_binary()) && sink.send(msg).await.is_err() {
                break;
            }
        }
    }
}

async fn pubsub(ws: tokio_tungstenite::WebSocketStream<TcpStream>, rooms: Rooms) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let (mut sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = rx.recv().await {
            if sink.send(msg).await.is_err() {
                break;
            }
        }
    });
    let mut joined = Vec::new();
    while let Some(Ok(msg)) = stream.next().await {
        let Message::Text(text) = msg else { continue };
        let Ok(request) = serde_json::from_str::<serde_json::Value>(text.as_str()) else {
            let _ = tx.send(Message::text(
                r#"{"type":"error","message":"invalid JSON"}"#,
            ));
            continue;
        };
        let room = request["room"].as_str().unwrap_or_default().to_owned();
        match request["type"].as_str() {
            Some("subscribe") if !room.is_empty() => {
                rooms
                    .lock()
                    .unwrap()
                    .entry(room.clone())
                    .or_default()
                    .insert(id, tx.clone());
                joined.push(room);
            }
            Some("unsubscribe") => {
                if let Some(members) = rooms.lock().unwrap().get_mut(&room) {
                    members.remove(&id);
                }
            }
            Some("publish") if !room.is_empty() => {
                let out =
                    serde_json::json!({"type": "message", "room": room, "data": request["data"]})
                        .to_string();
                let rooms = rooms.lock().unwrap();
                if let Some(members) = rooms.get(&room) {
                    for (member, sender) in members {
                        if *member != id {
                            let _ = sender.send(Message::text(out.clone()));
                        }
                    }
                }
            }
            _ => {
                let _ = tx.send(Message::text(r#"{"type":"error","message":"bad request"}"#));
            }
        }
    }
    let mut rooms = rooms.lock().unwrap();
    for room in joined {
        if let Some(members) = rooms.get_mut(&room) {
            members.remove(&id);
        }
    }
    writer.abort();
}
