//! The sans-IO client: one Engine.IO connection carrying the sockets of any number of
//! namespaces (Node's `Manager` and its `Socket`s), with no I/O and no clock of its own.
//!
//! The shell feeds it transport frames ([`ClientCore::handle_text`],
//! [`ClientCore::handle_binary`]), failed attempts ([`ClientCore::connect_failed`]), transport ends
//! ([`ClientCore::transport_closed`]) and time ([`ClientCore::handle_timeout`]), and the
//! application's requests ([`ClientCore::connect`], [`ClientCore::send`],
//! [`ClientCore::disconnect`]). After each call it drains [`ClientCore::poll_transmit`] (frames
//! to write) and [`ClientCore::poll_event`] (what the application hears), and sleeps until
//! [`ClientCore::poll_timeout`].

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde::Deserialize;
use switchboard_engineio::{Message, Packet as EnginePacket, Protocol};
use switchboard_socketio_parser::{
    encode, msgpack, ConnectErrorData, Decoder, Limits, Map, Packet, Payload, Value,
};

use crate::reason::DisconnectReason;

/// One Engine.IO packet in transport form: a WebSocket frame, or one segment of a polling
/// payload (binary as `b<base64>` there).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// A text frame: one Engine.IO packet in its text form (`4…` for a message).
    Text(String),
    /// A binary frame: one binary Engine.IO message (a Socket.IO attachment).
    Binary(Bytes),
}

/// How Socket.IO packets are written (the server must use the same; Node's `parser` option).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Codec {
    /// Node's default parser: JSON text, each binary value a separate binary message.
    #[default]
    Text,
    /// `socket.io-msgpack-parser`: each packet one binary message, binary values inline.
    MsgPack,
}

/// The server's Engine.IO handshake (the `open` packet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// The Engine.IO session id (not a socket's id).
    pub sid: String,
    /// Transports the session may upgrade to.
    pub upgrades: Vec<String>,
    /// How often the server pings.
    pub ping_interval: Duration,
    /// How long the server waits for the pong.
    pub ping_timeout: Duration,
    /// The largest message the server accepts, in bytes.
    pub max_payload: u64,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenData {
    sid: String,
    #[serde(default)]
    upgrades: Vec<String>,
    ping_interval: u64,
    ping_timeout: u64,
    #[serde(default)]
    max_payload: Option<u64>,
}

/// What the application hears from the connection.
#[derive(Debug, Clone, PartialEq)]
pub enum CoreEvent {
    /// The Engine.IO handshake completed.
    Opened(Handshake),
    /// A namespace accepted its socket. `recovered` when the server restored the previous
    /// session's id, rooms and missed packets (connection-state recovery).
    Connected {
        /// The namespace.
        nsp: String,
        /// The socket's id in that namespace.
        sid: String,
        /// Whether the previous session was recovered.
        recovered: bool,
    },
    /// A socket could not connect: the namespace refused it (middleware error, unknown
    /// namespace), and it stays disconnected until connected again; or the connection
    /// attempt failed, and it is `retrying` if the shell tries again.
    ConnectError {
        /// The namespace.
        nsp: String,
        /// The error's message.
        message: String,
        /// The error's `data`, if the server gave any.
        data: Option<Value>,
        /// Whether the socket is still waiting for a connection (a failed attempt), rather
        /// than refused or given up on.
        retrying: bool,
    },
    /// An event from the server.
    Event {
        /// The namespace.
        nsp: String,
        /// The event name.
        name: String,
        /// Its arguments.
        args: Vec<Value>,
        /// The id to acknowledge it with, when the server asked for an acknowledgement.
        id: Option<u64>,
    },
    /// The server acknowledged one of our events.
    Ack {
        /// The namespace.
        nsp: String,
        /// The id our event carried.
        id: u64,
        /// The acknowledgement's arguments.
        args: Vec<Value>,
    },
    /// A connected socket was disconnected.
    Disconnected {
        /// The namespace.
        nsp: String,
        /// Why, with Node's reason strings.
        reason: DisconnectReason,
    },
    /// The Engine.IO connection ended (every connected socket has had its `Disconnected`).
    Closed(DisconnectReason),
}

/// Why a packet was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// The socket is not connecting or connected (never connected, disconnected by either
    /// side, or refused): connect it again first.
    Inactive,
    /// The socket is waiting for its connection and already holds its limit of packets.
    BufferFull,
    /// The connection has more queued for the transport than its limit.
    QueueFull,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SendError::Inactive => "the socket is not connected or connecting",
            SendError::BufferFull => "the socket's buffer for its connection is full",
            SendError::QueueFull => "the connection's send queue is full",
        })
    }
}

impl std::error::Error for SendError {}

/// Limits of one connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CoreLimits {
    /// Packets a socket keeps while it waits for its connection (Node keeps any number).
    pub max_buffered_packets: usize,
    /// Frames queued for the transport before sends are refused.
    pub max_queued_frames: usize,
    /// Decoder limits (attachments per packet).
    pub parser: Limits,
}

impl Default for CoreLimits {
    fn default() -> Self {
        Self {
            max_buffered_packets: 1024,
            max_queued_frames: 8192,
            parser: Limits::default(),
        }
    }
}

/// The Engine.IO connection's state.
#[derive(Debug)]
enum Engine {
    /// No transport.
    Closed,
    /// A transport is up; the server's `open` packet has not come yet.
    Opening,
    /// The session is open; the server must ping before `ping_deadline`.
    Open {
        handshake: Handshake,
        ping_deadline: Instant,
    },
}

/// One namespace's socket.
#[derive(Debug, Default)]
struct Socket {
    /// The application wants it connected: set by `connect`, cleared by a disconnect from
    /// either side and by a refusal. An active socket is connected again after a reconnection.
    active: bool,
    /// Its id while connected.
    sid: Option<String>,
    /// What CONNECT carries (besides the recovery fields).
    auth: Option<Map>,
    /// The private session id the server gave for connection-state recovery.
    pid: Option<String>,
    /// The offset of the last event received, sent back to recover from it.
    offset: Option<String>,
    /// Packets sent before the socket was connected, in order, each as its frames, with the
    /// ack id of those that carry one (so that a timed-out emit can be taken back).
    buffer: VecDeque<(Option<u64>, Vec<Frame>)>,
    /// Events received before its CONNECT was answered: Node's server sends the packets a
    /// recovered socket missed before the CONNECT. They are delivered after `Connected`.
    early: Vec<(String, Vec<Value>, Option<u64>)>,
}

/// The sans-IO Socket.IO client: see the module documentation.
#[derive(Debug)]
pub struct ClientCore {
    limits: CoreLimits,
    codec: Codec,
    /// Whether the shell reconnects after a lost session (see `set_reconnection`).
    reconnection: bool,
    /// Whether the last session ended by `close` (not lost): no reconnection delay then.
    closed_by_client: bool,
    engine: Engine,
    decoder: Decoder,
    sockets: HashMap<String, Socket>,
    transmit: VecDeque<Frame>,
    events: VecDeque<CoreEvent>,
}

impl ClientCore {
    /// A client with no transport and no socket, writing packets with `codec`.
    #[must_use]
    pub fn new(limits: CoreLimits, codec: Codec) -> Self {
        Self {
            limits,
            codec,
            reconnection: true,
            closed_by_client: false,
            engine: Engine::Closed,
            decoder: Decoder::new(limits.parser),
            sockets: HashMap::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// Says whether the shell reconnects after a lost session (on by default). When it does
    /// not, a lost session leaves its sockets inactive, decided before the application hears
    /// of the loss, so that a `connect` from its listener holds.
    pub fn set_reconnection(&mut self, on: bool) {
        self.reconnection = on;
    }

    /// Whether any socket wants a connection (so the shell should open, or reopen, one).
    #[must_use]
    pub fn wants_connection(&self) -> bool {
        self.sockets.values().any(|s| s.active)
    }

    /// Whether the Engine.IO session is open.
    #[must_use]
    pub fn is_open(&self) -> bool {
        matches!(self.engine, Engine::Open { .. })
    }

    /// Whether a transport is up (the session may still be opening).
    #[must_use]
    pub fn has_transport(&self) -> bool {
        !matches!(self.engine, Engine::Closed)
    }

    /// Whether the socket of `nsp` wants a connection (connected, or connecting, or waiting
    /// to reconnect).
    #[must_use]
    pub fn is_active(&self, nsp: &str) -> bool {
        self.sockets.get(nsp).is_some_and(|s| s.active)
    }

    /// Whether the socket of `nsp` is connected.
    #[must_use]
    pub fn is_connected(&self, nsp: &str) -> bool {
        self.sockets.get(nsp).is_some_and(|s| s.sid.is_some())
    }

    /// A transport connected; the server's `open` packet comes next.
    pub fn transport_opened(&mut self) {
        self.engine = Engine::Opening;
        self.closed_by_client = false;
        self.decoder.reset();
        self.transmit.clear();
    }

    /// Connects the socket of `nsp` (now if the session is open, else once it opens), with
    /// what [`set_auth`](Self::set_auth) gave in its CONNECT packet. Does nothing to a socket
    /// already connected.
    pub fn connect(&mut self, nsp: &str) {
        let open = self.is_open();
        let socket = self.sockets.entry(nsp.to_owned()).or_default();
        if socket.active && (socket.sid.is_some() || open) {
            // Connected, or its CONNECT already went out on this session.
            return;
        }
        socket.active = true;
        if open {
            self.send_connect(nsp);
        }
    }

    /// Takes back the packet of `nsp`'s socket carrying ack id `id` if it still waits for the
    /// connection (its emit timed out: Node drops it from the send buffer too). True if it
    /// was still there.
    pub fn cancel(&mut self, nsp: &str, id: u64) -> bool {
        let Some(socket) = self.sockets.get_mut(nsp) else {
            return false;
        };
        let before = socket.buffer.len();
        socket.buffer.retain(|(ack, _)| *ack != Some(id));
        socket.buffer.len() != before
    }

    /// Whether the packet of `nsp`'s socket carrying ack id `id` waits for the connection
    /// (its acknowledgement may still come: a disconnection does not end it).
    #[must_use]
    pub fn is_buffered(&self, nsp: &str, id: u64) -> bool {
        self.sockets
            .get(nsp)
            .is_some_and(|s| s.buffer.iter().any(|(ack, _)| *ack == Some(id)))
    }

    /// Replaces what the CONNECT of `nsp`'s socket carries, from its next CONNECT on
    /// (reconnections included).
    pub fn set_auth(&mut self, nsp: &str, auth: Option<Map>) {
        self.sockets.entry(nsp.to_owned()).or_default().auth = auth;
    }

    /// Disconnects the socket of `nsp` (Node's `socket.disconnect()`): a DISCONNECT packet
    /// if it was connected, `Disconnected` with `io client disconnect`, and its buffered
    /// packets dropped. It stays known, and `connect` connects it again.
    pub fn disconnect(&mut self, nsp: &str) {
        let Some(socket) = self.sockets.get_mut(nsp) else {
            return;
        };
        let was_connected = socket.sid.take().is_some();
        socket.active = false;
        socket.buffer.clear();
        socket.early.clear();
        if was_connected {
            if self.is_open() {
                self.queue_packet(&Packet::disconnect(nsp));
            }
            self.events.push_back(CoreEvent::Disconnected {
                nsp: nsp.to_owned(),
                reason: DisconnectReason::IoClientDisconnect,
            });
        }
    }

    /// Closes the whole connection (Node's `manager.close()` / `socket.disconnect()` of the
    /// last socket): every socket disconnects, then the Engine.IO `close` packet is sent.
    /// The shell closes the transport once [`poll_transmit`](Self::poll_transmit) is drained.
    pub fn close(&mut self) {
        for nsp in self.names(|_| true) {
            self.disconnect(&nsp);
        }
        if self.is_open() {
            self.transmit
                .push_back(Frame::Text(EnginePacket::Close.encode_text()));
        }
        if self.has_transport() {
            self.engine = Engine::Closed;
            self.closed_by_client = true;
            self.events
                .push_back(CoreEvent::Closed(DisconnectReason::IoClientDisconnect));
        }
    }

    /// Whether the last session ended by [`close`](Self::close) rather than being lost (a
    /// socket that asks again meanwhile needs no reconnection delay).
    #[must_use]
    pub fn closed_by_client(&self) -> bool {
        self.closed_by_client
    }

    /// Sends a packet of `nsp`'s socket (an event or an acknowledgement): now if it is
    /// connected, else once it is (unless `volatile`, which drops it instead, as Node does
    /// while disconnected).
    ///
    /// # Errors
    /// [`SendError`]: the socket is inactive, or a limit is reached.
    pub fn send(&mut self, packet: &Packet, volatile: bool) -> Result<(), SendError> {
        let connected = self.is_open();
        let codec = self.codec;
        let socket = self
            .sockets
            .get_mut(packet.nsp())
            .ok_or(SendError::Inactive)?;
        if !socket.active {
            return Err(SendError::Inactive);
        }
        if socket.sid.is_none() || !connected {
            if volatile {
                return Ok(());
            }
            if socket.buffer.len() >= self.limits.max_buffered_packets {
                return Err(SendError::BufferFull);
            }
            // Only the application's events wait for an answer; an ACK carries the server's id.
            let ack = match packet.payload {
                Payload::Event { id, .. } => id,
                _ => None,
            };
            socket.buffer.push_back((ack, frames(codec, packet)));
            return Ok(());
        }
        if self.transmit.len() >= self.limits.max_queued_frames {
            if volatile {
                return Ok(());
            }
            return Err(SendError::QueueFull);
        }
        self.queue_packet(packet);
        Ok(())
    }

    /// A text frame arrived from the transport: one Engine.IO packet.
    pub fn handle_text(&mut self, now: Instant, text: &str) {
        match EnginePacket::decode_text(text, Protocol::V4) {
            Ok(packet) => self.on_engine_packet(now, packet),
            Err(e) => {
                tracing::debug!(error = %e, "undecodable Engine.IO packet");
                self.fail(DisconnectReason::ParseError);
            }
        }
    }

    /// A binary frame arrived from the transport: a binary message (an attachment).
    pub fn handle_binary(&mut self, now: Instant, bytes: Bytes) {
        self.on_engine_packet(now, EnginePacket::Message(Message::Binary(bytes)));
    }

    fn on_engine_packet(&mut self, now: Instant, packet: EnginePacket) {
        match (&mut self.engine, packet) {
            (Engine::Closed, _) => {}
            (Engine::Opening, EnginePacket::Open(json)) => self.on_open(now, &json),
            (Engine::Opening, _) => {
                tracing::debug!("Engine.IO packet before the handshake");
                self.fail(DisconnectReason::ParseError);
            }
            (
                Engine::Open {
                    handshake,
                    ping_deadline,
                },
                EnginePacket::Ping(_),
            ) => {
                *ping_deadline = now + handshake.ping_interval + handshake.ping_timeout;
                // A bare pong, as engine.io-client answers. A server that pings faster than
                // the pongs get out gets no more of them: its own timeout decides.
                if self.transmit.len() < self.limits.max_queued_frames {
                    let pong = EnginePacket::Pong(String::new()).encode_text();
                    self.transmit.push_back(Frame::Text(pong));
                }
            }
            (Engine::Open { .. }, EnginePacket::Close) => {
                self.fail(DisconnectReason::TransportClose);
            }
            (Engine::Open { .. }, EnginePacket::Message(message)) => self.on_message(message),
            // A second `open`, stray pongs, `noop`s and upgrades mean nothing on a WebSocket.
            (Engine::Open { .. }, _) => {}
        }
    }

    /// An attempt to open a connection failed before the session opened (the server is
    /// unreachable, refused the WebSocket, or did not answer in time): each socket waiting
    /// for it hears `message`, and stays waiting if `retrying`, else gives up (it is
    /// connected again only by [`connect`](Self::connect)).
    pub fn connect_failed(&mut self, message: &str, retrying: bool) {
        self.transport_closed(DisconnectReason::TransportError);
        for nsp in self.names(|s| s.active) {
            if let Some(socket) = self.sockets.get_mut(&nsp) {
                socket.active = retrying;
            }
            self.events.push_back(CoreEvent::ConnectError {
                nsp,
                message: message.to_owned(),
                data: None,
                retrying,
            });
        }
    }

    /// The transport ended (closed by the server or the network, or failed).
    pub fn transport_closed(&mut self, reason: DisconnectReason) {
        if self.has_transport() {
            self.fail(reason);
        }
    }

    /// Runs the timers due at `now`: the server must ping within its interval and timeout.
    pub fn handle_timeout(&mut self, now: Instant) {
        if let Engine::Open { ping_deadline, .. } = self.engine {
            if now >= ping_deadline {
                self.fail(DisconnectReason::PingTimeout);
            }
        }
    }

    /// When [`handle_timeout`](Self::handle_timeout) should run next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self.engine {
            Engine::Open { ping_deadline, .. } => Some(ping_deadline),
            _ => None,
        }
    }

    /// The next frame to write.
    pub fn poll_transmit(&mut self) -> Option<Frame> {
        self.transmit.pop_front()
    }

    /// The frame [`poll_transmit`](Self::poll_transmit) would return, left queued (to size a
    /// polling payload).
    #[must_use]
    pub fn peek_transmit(&self) -> Option<&Frame> {
        self.transmit.front()
    }

    /// The server's handshake, while the session is open.
    #[must_use]
    pub fn handshake(&self) -> Option<&Handshake> {
        match &self.engine {
            Engine::Open { handshake, .. } => Some(handshake),
            _ => None,
        }
    }

    /// The next event for the application.
    pub fn poll_event(&mut self) -> Option<CoreEvent> {
        self.events.pop_front()
    }

    /// Whether events wait for [`poll_event`](Self::poll_event).
    #[must_use]
    pub fn has_events(&self) -> bool {
        !self.events.is_empty()
    }

    fn on_open(&mut self, now: Instant, json: &str) {
        let data: OpenData = match serde_json::from_str(json) {
            Ok(data) => data,
            Err(e) => {
                tracing::debug!(error = %e, "bad Engine.IO handshake");
                return self.fail(DisconnectReason::ParseError);
            }
        };
        let handshake = Handshake {
            sid: data.sid,
            upgrades: data.upgrades,
            ping_interval: Duration::from_millis(data.ping_interval),
            ping_timeout: Duration::from_millis(data.ping_timeout),
            max_payload: data.max_payload.unwrap_or(1_000_000),
        };
        self.engine = Engine::Open {
            ping_deadline: now + handshake.ping_interval + handshake.ping_timeout,
            handshake: handshake.clone(),
        };
        self.events.push_back(CoreEvent::Opened(handshake));
        for nsp in self.names(|s| s.active) {
            self.send_connect(&nsp);
        }
    }

    fn on_message(&mut self, message: Message) {
        let decoded = match (self.codec, message) {
            (Codec::Text, Message::Text(text)) => self.decoder.decode_text(&text),
            (Codec::Text, Message::Binary(bytes)) => self.decoder.decode_binary(bytes),
            (Codec::MsgPack, Message::Binary(bytes)) => msgpack::decode_bytes(&bytes).map(Some),
            (Codec::MsgPack, Message::Text(_)) => {
                tracing::debug!("a text message, where msgpack packets are binary");
                return self.fail(DisconnectReason::ParseError);
            }
        };
        match decoded {
            Ok(Some(packet)) => self.on_packet(packet),
            Ok(None) => {}
            Err(e) => {
                tracing::debug!(error = %e, "undecodable Socket.IO packet");
                self.fail(DisconnectReason::ParseError);
            }
        }
    }

    fn on_packet(&mut self, packet: Packet) {
        let nsp = packet.nsp().to_owned();
        // Packets for a namespace we did not ask for, or have left, are ignored, as in Node.
        let Some(socket) = self.sockets.get_mut(&nsp).filter(|s| s.active) else {
            return;
        };
        match packet.payload {
            Payload::Connect(data) => {
                let field = |name: &str| {
                    data.as_ref()
                        .and_then(|d| d.get(name))
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                };
                let Some(sid) = field("sid") else {
                    socket.active = false;
                    self.events.push_back(CoreEvent::ConnectError {
                        nsp,
                        message: "the server's CONNECT has no sid: is it a Socket.IO 2 server?"
                            .to_owned(),
                        data: None,
                        retrying: false,
                    });
                    return;
                };
                let pid = field("pid");
                let recovered = pid.is_some() && pid == socket.pid;
                if !recovered {
                    socket.offset = None;
                }
                socket.pid = pid;
                socket.sid = Some(sid.clone());
                let buffered = std::mem::take(&mut socket.buffer);
                let early = std::mem::take(&mut socket.early);
                self.events.push_back(CoreEvent::Connected {
                    nsp: nsp.clone(),
                    sid,
                    recovered,
                });
                for (name, args, id) in early {
                    self.deliver_event(&nsp, name, args, id);
                }
                self.transmit
                    .extend(buffered.into_iter().flat_map(|(_, frames)| frames));
            }
            Payload::ConnectError(data) => {
                socket.active = false;
                socket.sid = None;
                socket.early.clear();
                let (message, data) = match data {
                    ConnectErrorData::Message(message) => (message, None),
                    ConnectErrorData::Object(mut map) => {
                        let message = match map.shift_remove("message") {
                            Some(Value::String(s)) => s,
                            _ => String::from("connection refused"),
                        };
                        (message, map.shift_remove("data"))
                    }
                };
                self.events.push_back(CoreEvent::ConnectError {
                    nsp,
                    message,
                    data,
                    retrying: false,
                });
            }
            Payload::Disconnect => {
                socket.active = false;
                if socket.sid.take().is_some() {
                    self.events.push_back(CoreEvent::Disconnected {
                        nsp,
                        reason: DisconnectReason::IoServerDisconnect,
                    });
                }
            }
            Payload::Event { name, args, id } => {
                if socket.sid.is_some() {
                    self.deliver_event(&nsp, name, args, id);
                } else if socket.early.len() < self.limits.max_buffered_packets {
                    socket.early.push((name, args, id));
                } else {
                    tracing::debug!(%nsp, "too many events before the CONNECT; one dropped");
                }
            }
            Payload::Ack { id, args } => {
                if socket.sid.is_some() {
                    self.events.push_back(CoreEvent::Ack { nsp, id, args });
                }
            }
        }
    }

    /// The namespaces whose sockets pass `filter`: the main namespace first, then the others
    /// in order, so that what goes out and what the application hears does not depend on a
    /// hash order.
    fn names(&self, filter: impl Fn(&Socket) -> bool) -> Vec<String> {
        let mut names: Vec<String> = self
            .sockets
            .iter()
            .filter(|(_, socket)| filter(socket))
            .map(|(nsp, _)| nsp.clone())
            .collect();
        names.sort_by(|a, b| (a != "/", a).cmp(&(b != "/", b)));
        names
    }

    /// Hands an event of a connected socket to the application.
    fn deliver_event(&mut self, nsp: &str, name: String, args: Vec<Value>, id: Option<u64>) {
        if let Some(socket) = self.sockets.get_mut(nsp) {
            // With recovery on, the server ends each broadcast with its offset (a string);
            // the last one seen is where a recovery resumes. Node's client does the same.
            if socket.pid.is_some() {
                if let Some(Value::String(offset)) = args.last() {
                    socket.offset = Some(offset.clone());
                }
            }
        }
        self.events.push_back(CoreEvent::Event {
            nsp: nsp.to_owned(),
            name,
            args,
            id,
        });
    }

    /// Sends the CONNECT of `nsp`: its auth, plus `pid` and `offset` when it may recover.
    fn send_connect(&mut self, nsp: &str) {
        let Some(socket) = self.sockets.get(nsp) else {
            return;
        };
        let mut data = socket.auth.clone();
        if let Some(pid) = &socket.pid {
            let map = data.get_or_insert_with(Map::new);
            map.insert("pid".to_owned(), Value::from(pid.as_str()));
            if let Some(offset) = &socket.offset {
                map.insert("offset".to_owned(), Value::from(offset.as_str()));
            }
        }
        self.queue_packet(&Packet::connect(nsp, data));
    }

    fn queue_packet(&mut self, packet: &Packet) {
        self.transmit.extend(frames(self.codec, packet));
    }

    /// The connection ended: each connected socket is disconnected with `reason` but stays
    /// active, to be connected again after a reconnection.
    ///
    /// A socket still waiting for its CONNECT's answer hears a `ConnectError`. Without
    /// reconnection, a lost session leaves every socket inactive.
    fn fail(&mut self, reason: DisconnectReason) {
        let was_open = self.is_open();
        self.engine = Engine::Closed;
        self.decoder.reset();
        self.transmit.clear();
        let retrying = self.reconnection;
        for nsp in self.names(|s| s.active) {
            let Some(socket) = self.sockets.get_mut(&nsp) else {
                continue;
            };
            let was_connected = socket.sid.take().is_some();
            socket.early.clear();
            if !was_open {
                // A failed attempt: `connect_failed` tells the sockets.
                continue;
            }
            if !retrying {
                socket.active = false;
            }
            self.events.push_back(if was_connected {
                CoreEvent::Disconnected { nsp, reason }
            } else {
                CoreEvent::ConnectError {
                    nsp,
                    message: reason.as_str().to_owned(),
                    data: None,
                    retrying,
                }
            });
        }
        self.events.push_back(CoreEvent::Closed(reason));
    }

    /// The application fell behind on `nsp`'s events (the shell's queue is full): the events
    /// of `nsp` not yet handed over are dropped, the recovery offset goes back to `resume`
    /// (the last event the application took), and the connection is closed, so that a server
    /// that keeps sessions sends the rest again after the reconnection.
    pub fn overflowed(&mut self, nsp: &str, resume: Option<String>) {
        self.events
            .retain(|event| !matches!(event, CoreEvent::Event { nsp: n, .. } if n == nsp));
        if let Some(socket) = self.sockets.get_mut(nsp) {
            if socket.pid.is_some() {
                socket.offset = resume;
            }
        }
        self.transport_closed(DisconnectReason::TransportError);
    }
}

/// A packet's Engine.IO messages: with the text codec, its text (`4…`) then each attachment;
/// with msgpack, one binary message.
fn frames(codec: Codec, packet: &Packet) -> Vec<Frame> {
    match codec {
        Codec::Text => {
            let encoded = encode(packet);
            let mut text = String::with_capacity(encoded.text.len() + 1);
            text.push('4');
            text.push_str(encoded.text_str());
            let mut frames = Vec::with_capacity(1 + encoded.attachments.len());
            frames.push(Frame::Text(text));
            frames.extend(encoded.attachments.iter().cloned().map(Frame::Binary));
            frames
        }
        Codec::MsgPack => vec![Frame::Binary(msgpack::encode(packet))],
    }
}
