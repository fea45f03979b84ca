//! A Socket.IO server on a free loopback port, and a minimal client speaking the protocol over
//! the websocket transport (text packets only) to drive it from tests.

#![allow(
    dead_code,
    unreachable_pub,
    missing_docs,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::net::SocketAddr;
use std::time::Duration;

use switchboard_socketio::SocketIo;
use switchboard_ws::Message;
use switchboard_ws_tokio::{connect, ClientConfig, Stream, WebSocket};
use tokio::net::TcpListener;

/// How long a test waits for anything before failing.
pub const WAIT: Duration = Duration::from_secs(5);

/// Serves `io` on a free loopback port until the test's runtime ends.
pub async fn serve(io: SocketIo) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move { io.serve(listener).await });
    addr
}

/// An event or acknowledgement the client received.
#[derive(Debug, Clone, PartialEq)]
pub struct Received {
    /// The packet type digit (`2` event, `3` ack, `1` disconnect).
    pub kind: char,
    /// The acknowledgement id, if any.
    pub id: Option<u64>,
    /// The JSON payload (`[event, ...args]` for events), `Null` when none.
    pub data: serde_json::Value,
}

impl Received {
    /// The event name.
    pub fn event(&self) -> &str {
        self.data[0].as_str().unwrap_or_default()
    }
}

/// One Socket.IO client connected to one namespace over the websocket transport.
pub struct Client {
    ws: WebSocket<Stream>,
    /// The socket id the server gave.
    pub id: String,
    /// The packet prefix of its namespace: empty for `/`, `/name,` otherwise.
    nsp: String,
}

impl Client {
    /// Connects and joins namespace `/`.
    pub async fn connect(addr: SocketAddr) -> Self {
        Self::connect_with(addr, None).await.0
    }

    /// Connects and joins namespace `/` with a CONNECT payload (`auth`); returns the
    /// server's CONNECT answer too.
    pub async fn connect_with(
        addr: SocketAddr,
        auth: Option<serde_json::Value>,
    ) -> (Self, serde_json::Value) {
        Self::connect_to(addr, "/", auth).await
    }

    /// Connects and joins namespace `nsp` with a CONNECT payload; returns the server's
    /// CONNECT answer too.
    pub async fn connect_to(
        addr: SocketAddr,
        nsp: &str,
        auth: Option<serde_json::Value>,
    ) -> (Self, serde_json::Value) {
        let (mut client, connected) = Self::request_join(addr, nsp, auth).await;
        let body = connected
            .strip_prefix("40")
            .and_then(|rest| rest.strip_prefix(client.nsp.as_str()))
            .unwrap_or_else(|| panic!("CONNECT answer, got {connected}"));
        let body: serde_json::Value = serde_json::from_str(body).expect("CONNECT json");
        client.id = body["sid"].as_str().expect("sid").to_owned();
        (client, body)
    }

    /// Opens a session and asks to join namespace `nsp` with a CONNECT payload; returns the
    /// server's answer as sent (`40…` accepted, `44…` refused), unchecked.
    pub async fn request_join(
        addr: SocketAddr,
        nsp: &str,
        auth: Option<serde_json::Value>,
    ) -> (Self, String) {
        let mut client = Self::open(addr, nsp).await;
        let answer = client.join(auth).await;
        (client, answer)
    }

    /// Opens a session for namespace `nsp` without joining it yet (see [`Client::join`]).
    pub async fn open(addr: SocketAddr, nsp: &str) -> Self {
        let url = format!("ws://{addr}/socket.io/?EIO=4&transport=websocket");
        let (ws, _) = connect(&url, ClientConfig::default())
            .await
            .expect("websocket connect");
        let mut client = Self {
            ws,
            id: String::new(),
            nsp: if nsp == "/" {
                String::new()
            } else {
                format!("{nsp},")
            },
        };
        let open = client.next_text().await;
        assert!(open.starts_with("0{"), "open packet, got {open}");
        client
    }

    /// Asks to join the namespace with a CONNECT payload; returns the server's answer as sent.
    pub async fn join(&mut self, auth: Option<serde_json::Value>) -> String {
        let auth = auth.map(|a| a.to_string()).unwrap_or_default();
        self.send(&format!("40{}{auth}", self.nsp)).await;
        self.next_text().await
    }

    /// Leaves the namespace (a DISCONNECT packet); the session stays open.
    pub async fn leave(&mut self) {
        self.send(&format!("41{}", self.nsp)).await;
    }

    /// Drops the connection without a goodbye (the server sees the transport close).
    pub async fn drop_connection(self) {
        let Self { ws, .. } = self;
        drop(ws);
    }

    /// Sends one raw Engine.IO text message.
    pub async fn send(&mut self, text: &str) {
        self.ws.send(Message::text(text)).await.expect("send");
    }

    /// Emits `event` with JSON arguments, asking for an acknowledgement with `id`.
    pub async fn emit(&mut self, id: Option<u64>, event: &str, args: serde_json::Value) {
        let mut all = vec![serde_json::Value::from(event)];
        all.extend(args.as_array().cloned().unwrap_or_default());
        let id = id.map(|id| id.to_string()).unwrap_or_default();
        self.send(&format!(
            "42{}{id}{}",
            self.nsp,
            serde_json::Value::from(all)
        ))
        .await;
    }

    /// Acknowledges packet `id` with JSON arguments.
    pub async fn ack(&mut self, id: u64, args: serde_json::Value) {
        self.send(&format!("43{}{id}{args}", self.nsp)).await;
    }

    /// The next text message (pings are answered and skipped).
    pub async fn next_text(&mut self) -> String {
        loop {
            let message = tokio::time::timeout(WAIT, self.ws.recv())
                .await
                .expect("a message in time")
                .expect("connection open")
                .expect("no error");
            let Message::Text(text) = message else {
                panic!("unexpected binary message");
            };
            if text.as_str() == "2" {
                self.send("3").await;
                continue;
            }
            return text.as_str().to_owned();
        }
    }

    /// The next Socket.IO packet.
    pub async fn next(&mut self) -> Received {
        let text = self.next_text().await;
        parse(&text, &self.nsp).unwrap_or_else(|| panic!("a Socket.IO packet, got {text}"))
    }

    /// Whether nothing arrives within `wait` (pings aside).
    pub async fn quiet_for(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.next_text()).await.is_err()
    }

    /// Waits until the server closes the connection; true if it did within [`WAIT`].
    pub async fn closed(&mut self) -> bool {
        tokio::time::timeout(WAIT, async {
            loop {
                match self.ws.recv().await {
                    Some(Ok(Message::Text(text))) if text.as_str() == "2" => {
                        let _ = self.ws.send(Message::text("3")).await;
                    }
                    Some(Ok(_)) => {}
                    _ => return,
                }
            }
        })
        .await
        .is_ok()
    }
}

/// Parses `4<type>[<nsp>,][<id>][<json>]` (no attachments).
fn parse(text: &str, nsp: &str) -> Option<Received> {
    let rest = text.strip_prefix('4')?;
    let kind = rest.chars().next()?;
    let rest = rest[1..].strip_prefix(nsp)?;
    let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
    let id = (digits > 0).then(|| rest[..digits].parse().ok()).flatten();
    let json = &rest[digits..];
    let data = if json.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::from_str(json).ok()?
    };
    Some(Received { kind, id, data })
}
