//! A chat server on axum: Socket.IO mounted with `SocketIoLayer`, typed handlers with serde,
//! rooms, acknowledgements, a middleware that requires a name, and a page at `/` (using the
//! project's browser SDK, served by the example itself, so it works offline).
//!
//!     cargo run -p switchboard-socketio --example axum_chat [ADDR]   # then open http://127.0.0.1:3000
//!
//! Any Socket.IO client works too, for example in Node:
//! `io("http://127.0.0.1:3000", { auth: { name: "ada" } }).emit("join", "lobby", console.log)`.

use axum::response::Html;
use axum::routing::get;
use serde::{Deserialize, Serialize};
use switchboard_socketio::{
    Ack, Config, ConnectError, Data, Socket, SocketIo, SocketIoLayer, Value,
};

/// What a client sends to say something.
#[derive(Debug, Deserialize)]
struct Say {
    room: String,
    text: String,
}

/// What everyone in the room receives.
#[derive(Debug, Serialize)]
struct Said<'a> {
    from: &'a str,
    room: &'a str,
    text: &'a str,
}

/// The name the client gave in its `auth` payload.
fn name_of(socket: &Socket) -> String {
    match &socket.handshake().auth {
        Value::Object(auth) => auth
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("anonymous"),
        _ => "anonymous",
    }
    .to_owned()
}

fn chat(io: &SocketIo) {
    io.namespace("/")
        .with(|socket: Socket| async move {
            match &socket.handshake().auth {
                Value::Object(auth) if auth.get("name").and_then(Value::as_str).is_some() => Ok(()),
                _ => Err(ConnectError::new("a name is required")),
            }
        })
        .on_connect(|socket: Socket| async move {
            socket.on(
                "join",
                |socket: Socket, Data(room): Data<String>, ack: Ack| async move {
                    socket.join(room.as_str());
                    let _ = socket
                        .to(room.as_str())
                        .emit("joined", &(name_of(&socket), room.as_str()));
                    ack.send(&true);
                },
            );
            socket.on(
                "say",
                |socket: Socket, Data(say): Data<Say>, ack: Ack| async move {
                    let from = name_of(&socket);
                    let said = Said {
                        from: &from,
                        room: &say.room,
                        text: &say.text,
                    };
                    let _ = socket.to(say.room.as_str()).emit("said", &said);
                    ack.send(&"delivered");
                },
            );
            // Still in its rooms here: tell them who left.
            socket.on_disconnecting(|socket: &Socket, _reason| {
                let name = name_of(socket);
                for room in socket.rooms() {
                    if &*room != socket.id() {
                        let _ = socket
                            .to(room.clone())
                            .emit("left", &(name.as_str(), &*room));
                    }
                }
            });
            socket.on_disconnect(|socket: Socket, reason| async move {
                log(&format!("{} left ({reason})", name_of(&socket)));
            });
        });
}

/// Examples avoid a logging dependency: plain stderr.
fn log(line: &str) {
    eprintln!("{line}");
}

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>axum chat</title>
<ul id="log"></ul><form id="f"><input id="t" autofocus><button>Say</button></form>
<script type="module">
import { io } from '/sdk/switchboard.js';
const name = prompt('Your name?') || 'guest';
const socket = io({ auth: { name } });
const log = (s) => { const li = document.createElement('li'); li.textContent = s; document.getElementById('log').append(li); };
socket.on('connect', async () => log(`joined lobby: ${await socket.emitWithAck('join', 'lobby')}`));
socket.on('connect_error', (e) => log(`refused: ${e.message}`));
socket.on('said', (m) => log(`${m.from}: ${m.text}`));
socket.on('joined', ([who]) => log(`${who} joined`));
socket.on('left', ([who]) => log(`${who} left`));
document.getElementById('f').onsubmit = async (e) => {
  e.preventDefault();
  const text = document.getElementById('t').value;
  document.getElementById('t').value = '';
  log(`me: ${text} (${await socket.emitWithAck('say', { room: 'lobby', text })})`);
};
</script>"#;

const SDK: &str = include_str!("../../../web/switchboard.js");

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let io = SocketIo::new(Config::default());
    chat(&io);
    let app = axum::Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/sdk/switchboard.js",
            get(|| async { ([("content-type", "text/javascript")], SDK) }),
        )
        .layer(SocketIoLayer::new(io));
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let listener = tokio::net::TcpListener::bind(&addr).await?;
    println!("listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await
}
