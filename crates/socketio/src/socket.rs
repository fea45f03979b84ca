//! A connected socket: one client in one namespace.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ack::{AckError, PendingAcks};
use crate::broadcast::BroadcastOperator;
use crate::engine::ConnHandle;
use crate::handler::{erase, ErasedHandler, Handler, Incoming};
use crate::namespace::Namespace;
use crate::reason::DisconnectReason;
use crate::value::{from_value, to_value, Value};
use crate::wire;

/// A room name.
pub type Room = Arc<str>;

/// What the client sent when it connected.
#[derive(Debug, Clone)]
pub struct Handshake {
    /// The CONNECT payload (`auth` on the client), `Value::Null` when none.
    pub auth: Value,
    /// The Engine.IO handshake request, shared by every socket of the connection.
    pub(crate) request: Arc<crate::engine::RequestInfo>,
}

impl Handshake {
    /// Headers of the Engine.IO handshake request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.request.headers
    }

    /// The URI of the Engine.IO handshake request (path and query).
    pub fn uri(&self) -> &http::Uri {
        &self.request.uri
    }

    /// A query parameter of the handshake request (not percent-decoded).
    pub fn query(&self, name: &str) -> Option<String> {
        self.request.uri.query()?.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            (k == name).then(|| v.to_owned())
        })
    }
}

/// A handler called when the socket disconnects.
pub(crate) type DisconnectHandler =
    Arc<dyn Fn(Socket, DisconnectReason) -> crate::handler::BoxFuture + Send + Sync>;

pub(crate) struct SocketInner {
    pub(crate) id: Arc<str>,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) conn: ConnHandle,
    pub(crate) handshake: Handshake,
    handlers: Mutex<HashMap<String, ErasedHandler>>,
    any_handler: Mutex<Option<ErasedHandler>>,
    disconnect_handler: Mutex<Option<DisconnectHandler>>,
    pub(crate) acks: PendingAcks,
    pub(crate) connected: AtomicBool,
    /// Handler futures to start, picked up by the connection's task (which runs them).
    pub(crate) spawner: crate::client::Spawner,
    protocol: wire::Protocol,
}

/// One client connected to one namespace. Cheap to clone; every method works from any task.
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<SocketInner>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("id", &self.inner.id)
            .field("nsp", &self.inner.ns.name())
            .finish_non_exhaustive()
    }
}

impl Socket {
    pub(crate) fn new(
        id: Arc<str>,
        ns: Arc<Namespace>,
        conn: ConnHandle,
        handshake: Handshake,
        spawner: crate::client::Spawner,
        protocol: wire::Protocol,
    ) -> Self {
        Self {
            inner: Arc::new(SocketInner {
                id,
                ns,
                conn,
                handshake,
                handlers: Mutex::new(HashMap::new()),
                any_handler: Mutex::new(None),
                disconnect_handler: Mutex::new(None),
                acks: PendingAcks::default(),
                connected: AtomicBool::new(false),
                spawner,
                protocol,
            }),
        }
    }

    /// The socket id (distinct from the Engine.IO session id, as in Node).
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// The namespace's name.
    pub fn nsp(&self) -> &str {
        self.inner.ns.name()
    }

    /// What the client sent when it connected.
    pub fn handshake(&self) -> &Handshake {
        &self.inner.handshake
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// Calls `handler` for every `event` from the client (replacing an earlier one).
    pub fn on<H: Handler<T>, T>(&self, event: impl Into<String>, handler: H) {
        lock(&self.inner.handlers).insert(event.into(), erase(handler));
    }

    /// Calls `handler` for events no [`on`](Self::on) handler takes; [`crate::Args`] then
    /// holds the event name first.
    pub fn on_any<H: Handler<T>, T>(&self, handler: H) {
        *lock(&self.inner.any_handler) = Some(erase(handler));
    }

    /// Calls `handler` once, when the socket disconnects.
    pub fn on_disconnect<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, DisconnectReason) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        *lock(&self.inner.disconnect_handler) = Some(Arc::new(move |socket, reason| {
            Box::pin(handler(socket, reason))
        }));
    }

    /// Sends `event` with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.emit_args(event, vec![value])
    }

    /// Sends `event` with these arguments.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        if !self.connected() {
            return Err(EmitError::Disconnected);
        }
        let packets = wire::event(self.nsp(), event, args, None, self.inner.ns.codec);
        self.send_packets(&packets)
    }

    /// Sends `event` with one argument and waits (at most `timeout`) for the client to
    /// acknowledge it; the acknowledgement's first argument is decoded as `R`.
    pub async fn emit_with_ack<T, R>(
        &self,
        event: &str,
        data: &T,
        timeout: Duration,
    ) -> Result<R, AckError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let value = to_value(data).map_err(|e| AckError::Decode(e.to_string()))?;
        let mut args = self.emit_args_with_ack(event, vec![value], timeout).await?;
        let first = if args.is_empty() {
            Value::Null
        } else {
            args.swap_remove(0)
        };
        from_value(first).map_err(|e| AckError::Decode(e.to_string()))
    }

    /// Sends `event` with these arguments and waits (at most `timeout`) for the client's
    /// acknowledgement arguments.
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        if !self.connected() {
            return Err(AckError::Disconnected);
        }
        let id = self.inner.ns.next_ack_id();
        let answer = self.inner.acks.register(id);
        let packets = wire::event(self.nsp(), event, args, Some(id), self.inner.ns.codec);
        if self.send_packets(&packets).is_err() {
            self.inner.acks.forget(id);
            return Err(AckError::Disconnected);
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => {
                self.inner.acks.forget(id);
                Err(AckError::Timeout)
            }
        }
    }

    /// Joins rooms.
    pub fn join(&self, rooms: impl crate::broadcast::IntoRooms) {
        self.inner
            .ns
            .rooms()
            .join(&self.inner.id, rooms.into_rooms());
    }

    /// Leaves rooms.
    pub fn leave(&self, rooms: impl crate::broadcast::IntoRooms) {
        self.inner
            .ns
            .rooms()
            .leave(&self.inner.id, &rooms.into_rooms());
    }

    /// The rooms this socket is in (its own id's room included).
    pub fn rooms(&self) -> HashSet<Room> {
        self.inner.ns.rooms().rooms_of(&self.inner.id)
    }

    /// Every other socket of the namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.inner.ns)).except_socket(&self.inner.id)
    }

    /// Sockets in `rooms`, this one excepted.
    pub fn to(&self, rooms: impl crate::broadcast::IntoRooms) -> BroadcastOperator {
        self.broadcast().to(rooms)
    }

    /// Disconnects this socket from its namespace (reason `server namespace disconnect`); the
    /// client is told and does not reconnect by itself.
    pub fn disconnect(&self) {
        if self.connected() {
            let packets = wire::disconnect(self.nsp(), self.inner.ns.codec);
            let _ = self.send_packets(&packets);
            self.inner.spawner.detach(self.nsp());
            self.closed(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Closes the whole connection (every namespace of this client), as Node's
    /// `socket.disconnect(true)`.
    pub fn close_connection(&self) {
        self.inner.conn.close();
    }

    pub(crate) fn protocol(&self) -> wire::Protocol {
        self.inner.protocol
    }

    pub(crate) fn mark_connected(&self) {
        self.inner.connected.store(true, Ordering::Release);
    }

    /// Queues packets unless the connection's queue is full (then they are dropped).
    pub(crate) fn send_volatile(&self, packets: &wire::Packets) {
        for packet in packets.iter() {
            if self.inner.conn.send_volatile(packet.clone()).is_err() {
                return;
            }
        }
    }

    pub(crate) fn send_packets(&self, packets: &wire::Packets) -> Result<(), EmitError> {
        for packet in packets.iter() {
            self.inner
                .conn
                .send(packet.clone())
                .map_err(|_| EmitError::Disconnected)?;
        }
        Ok(())
    }

    pub(crate) fn send_ack(&self, id: u64, args: Vec<Value>) {
        if self.connected() {
            let packets = wire::ack(self.nsp(), id, args, self.inner.ns.codec);
            let _ = self.send_packets(&packets);
        }
    }

    /// Dispatches an event from the client to its handler: the future to run on the
    /// connection's task (which polls it right away).
    pub(crate) fn dispatch(
        &self,
        event: String,
        args: Vec<Value>,
        ack: Option<u64>,
    ) -> Option<crate::handler::BoxFuture> {
        let ack = ack.map(|id| crate::ack::Ack::new(self.clone(), id));
        let handler = lock(&self.inner.handlers).get(&event).cloned();
        let future = match handler {
            Some(handler) => handler(self.clone(), Incoming { args, ack }),
            None => {
                let Some(any) = lock(&self.inner.any_handler).clone() else {
                    tracing::trace!(socket = %self.id(), %event, "no handler");
                    return None;
                };
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(Value::String(event));
                all.extend(args);
                any(self.clone(), Incoming { args: all, ack })
            }
        };
        if future.is_none() {
            tracing::debug!(socket = %self.id(), "handler arguments did not match");
        }
        future
    }

    /// Marks the socket disconnected, leaves every room, fails pending acknowledgements and
    /// runs the disconnect handler.
    pub(crate) fn closed(&self, reason: DisconnectReason) {
        if !self.inner.connected.swap(false, Ordering::AcqRel) {
            return;
        }
        self.inner.ns.remove(self);
        self.inner.acks.clear();
        if let Some(handler) = lock(&self.inner.disconnect_handler).take() {
            self.inner.spawner.spawn(handler(self.clone(), reason));
        }
        lock(&self.inner.handlers).clear();
        lock(&self.inner.any_handler).take();
    }
}

/// Why an emit did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The data does not serialize.
    Serialize(String),
    /// The socket is disconnected (or its connection's queue overflowed and it was closed).
    Disconnected,
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::Serialize(e) => write!(f, "data does not serialize: {e}"),
            EmitError::Disconnected => f.write_str("socket disconnected"),
        }
    }
}

impl std::error::Error for EmitError {}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
