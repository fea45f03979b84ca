//! A connected socket: one client in one namespace.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ack::{AckError, PendingAcks};
use crate::adapter::{AdapterError, Session, SocketInfo};
use crate::broadcast::BroadcastOperator;
use crate::emitter::SocketEmitter;
use crate::engine::ConnHandle;
use crate::fnv::FnvBuild;
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
    /// A handshake as another server describes it (for cluster adapters).
    pub fn new(auth: Value, request: crate::engine::RequestInfo) -> Self {
        Self {
            auth,
            request: Arc::new(request),
        }
    }

    /// Headers of the Engine.IO handshake request.
    pub fn headers(&self) -> &http::HeaderMap {
        &self.request.headers
    }

    /// The URI of the Engine.IO handshake request (path and query).
    pub fn uri(&self) -> &http::Uri {
        &self.request.uri
    }

    /// The client's address, when the server knew it.
    pub fn remote_addr(&self) -> Option<std::net::SocketAddr> {
        self.request.remote_addr
    }

    /// The Engine.IO protocol revision the client spoke.
    pub fn protocol(&self) -> switchboard_engineio::Protocol {
        self.request.protocol
    }

    /// When the handshake request arrived.
    pub fn issued(&self) -> std::time::SystemTime {
        self.request.issued
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

/// A handler of one event, and whether it is for the next event only (`once`).
struct EventHandler {
    handler: ErasedHandler,
    once: bool,
}

/// A listener called as the socket disconnects, before it leaves its rooms.
type DisconnectingListener = Box<dyn FnOnce(&Socket, DisconnectReason) + Send>;

/// A handler called with a per-packet middleware's refusal.
type ErrorHandler = Arc<dyn Fn(Socket, PacketError) -> crate::handler::BoxFuture + Send + Sync>;

/// A per-packet middleware ([`Socket::use_middleware`]).
type PacketMiddleware = Arc<
    dyn Fn(
            Socket,
            IncomingEvent,
        ) -> std::pin::Pin<
            Box<dyn std::future::Future<Output = Result<IncomingEvent, PacketError>> + Send>,
        > + Send
        + Sync,
>;

/// A listener of every event sent to the socket ([`Socket::on_any_outgoing`]).
type OutgoingListener = Arc<dyn Fn(&Socket, &str, &[Value]) + Send + Sync>;

/// An event from the client as per-packet middleware sees it (and may change it).
#[derive(Debug, Clone, PartialEq)]
pub struct IncomingEvent {
    /// The event name.
    pub event: String,
    /// Its arguments.
    pub args: Vec<Value>,
}

/// Why a per-packet middleware refused an event; given to [`Socket::on_error`].
#[derive(Debug, Clone, PartialEq)]
pub struct PacketError {
    /// What went wrong.
    pub message: String,
}

impl PacketError {
    /// A refusal with this message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }
}

impl std::fmt::Display for PacketError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for PacketError {}

/// Who a new socket is: a fresh id, or the id and private session id of a recovered one.
#[derive(Debug, Clone)]
pub(crate) struct SocketIdentity {
    pub(crate) id: Arc<str>,
    /// The private session id, when connection-state recovery is on.
    pub(crate) pid: Option<Arc<str>>,
    pub(crate) recovered: bool,
}

pub(crate) struct SocketInner {
    pub(crate) id: Arc<str>,
    pub(crate) pid: Option<Arc<str>>,
    recovered: bool,
    pub(crate) ns: Arc<Namespace>,
    pub(crate) conn: ConnHandle,
    pub(crate) handshake: Handshake,
    handlers: Mutex<HashMap<String, EventHandler, FnvBuild>>,
    any_handler: Mutex<Option<ErasedHandler>>,
    disconnect_handler: Mutex<Option<DisconnectHandler>>,
    disconnecting: Mutex<Option<DisconnectingListener>>,
    error_handler: Mutex<Option<ErrorHandler>>,
    packet_middleware: Mutex<Vec<PacketMiddleware>>,
    outgoing: Mutex<Option<OutgoingListener>>,
    has_outgoing: AtomicBool,
    data: Mutex<Value>,
    pub(crate) acks: PendingAcks,
    pub(crate) connected: AtomicBool,
    /// The socket is disconnecting or gone: set once, first thing, when it closes (while
    /// `connected` stays true for the `disconnecting` listener, as in Node).
    closing: AtomicBool,
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
        identity: SocketIdentity,
        ns: Arc<Namespace>,
        conn: ConnHandle,
        handshake: Handshake,
        spawner: crate::client::Spawner,
        protocol: wire::Protocol,
    ) -> Self {
        Self {
            inner: Arc::new(SocketInner {
                id: identity.id,
                pid: identity.pid,
                recovered: identity.recovered,
                ns,
                conn,
                handshake,
                handlers: Mutex::new(HashMap::default()),
                any_handler: Mutex::new(None),
                disconnect_handler: Mutex::new(None),
                disconnecting: Mutex::new(None),
                error_handler: Mutex::new(None),
                packet_middleware: Mutex::new(Vec::new()),
                outgoing: Mutex::new(None),
                has_outgoing: AtomicBool::new(false),
                data: Mutex::new(Value::Null),
                acks: PendingAcks::default(),
                connected: AtomicBool::new(false),
                closing: AtomicBool::new(false),
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

    /// Whether this socket came back after losing its connection and got its id, rooms,
    /// data and missed packets back (connection-state recovery).
    pub fn recovered(&self) -> bool {
        self.inner.recovered
    }

    pub(crate) fn pid(&self) -> Option<&str> {
        self.inner.pid.as_deref()
    }

    /// The application's state of type `T` ([`crate::SocketIo::insert_state`]), cloned.
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        self.inner.ns.state.get()
    }

    /// The transport its connection runs over now (Node's `socket.conn.transport.name`):
    /// `Polling` until an upgrade to `WebSocket` completes.
    pub fn transport(&self) -> crate::engine::TransportKind {
        self.inner.conn.transport()
    }

    /// Whether the socket is still connected.
    pub fn connected(&self) -> bool {
        self.inner.connected.load(Ordering::Acquire)
    }

    /// This socket object's identity (no memory of it is read).
    pub(crate) fn identity(&self) -> *const () {
        Arc::as_ptr(&self.inner).cast()
    }

    /// Starts loading the socket's state into the cache (see [`crate::prefetch`]).
    pub(crate) fn prefetch(&self) {
        crate::prefetch::prefetch(Arc::as_ptr(&self.inner));
    }

    /// Starts loading all of the socket's state into the cache, every line of it.
    pub(crate) fn prefetch_whole(&self) {
        crate::prefetch::prefetch_object(Arc::as_ptr(&self.inner));
    }

    /// Starts loading the connection's mailbox into the cache; best after
    /// [`prefetch`](Self::prefetch) had time to bring in the socket.
    pub(crate) fn prefetch_mailbox(&self) {
        self.inner.conn.prefetch();
    }

    /// Calls `handler` for every `event` from the client (replacing an earlier one).
    pub fn on<H: Handler<T>, T>(&self, event: impl Into<String>, handler: H) {
        self.set_handler(event.into(), erase(handler), false);
    }

    /// Calls `handler` for the next `event` from the client only (Node's `socket.once`):
    /// it is forgotten as that event arrives, whether or not its arguments suit it.
    pub fn once<H: Handler<T>, T>(&self, event: impl Into<String>, handler: H) {
        self.set_handler(event.into(), erase(handler), true);
    }

    fn set_handler(&self, event: String, handler: ErasedHandler, once: bool) {
        lock(&self.inner.handlers).insert(event, EventHandler { handler, once });
    }

    /// Forgets the handler of `event` (Node's `socket.off(event)`); whether there was one.
    pub fn off(&self, event: &str) -> bool {
        lock(&self.inner.handlers).remove(event).is_some()
    }

    /// Calls `handler` for events no [`on`](Self::on) handler takes; [`crate::Args`] then
    /// holds the event name first.
    pub fn on_any<H: Handler<T>, T>(&self, handler: H) {
        *lock(&self.inner.any_handler) = Some(erase(handler));
    }

    /// Forgets the [`on_any`](Self::on_any) handler (Node's `socket.offAny()`).
    pub fn off_any(&self) {
        lock(&self.inner.any_handler).take();
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

    /// Calls `listener` once as the socket disconnects, before it leaves its rooms (Node's
    /// `disconnecting` event): [`rooms`](Self::rooms) still lists them, and
    /// [`to`](Self::to) reaches their other members, to tell them who left, and the socket
    /// still counts as [`connected`](Self::connected), as in Node. It runs at once, on the
    /// task that disconnects the socket: keep it short (spawn anything slow). The
    /// [`on_disconnect`](Self::on_disconnect) handler runs after it.
    pub fn on_disconnecting<F>(&self, listener: F)
    where
        F: FnOnce(&Socket, DisconnectReason) + Send + 'static,
    {
        *lock(&self.inner.disconnecting) = Some(Box::new(listener));
    }

    /// Runs `middleware` on every event from the client before its handler, after the
    /// middleware registered earlier (Node's `socket.use`). It may change the event; an
    /// `Err` drops the event and goes to the [`on_error`](Self::on_error) handler.
    pub fn use_middleware<F, Fut>(&self, middleware: F)
    where
        F: Fn(Socket, IncomingEvent) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<IncomingEvent, PacketError>> + Send + 'static,
    {
        lock(&self.inner.packet_middleware).push(Arc::new(move |socket, event| {
            Box::pin(middleware(socket, event))
        }));
    }

    /// Calls `handler` when a per-packet middleware refuses an event (Node's `error`
    /// event of the server-side socket). Without one, refusals are logged at debug level.
    pub fn on_error<F, Fut>(&self, handler: F)
    where
        F: Fn(Socket, PacketError) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        *lock(&self.inner.error_handler) = Some(Arc::new(move |socket, error| {
            Box::pin(handler(socket, error))
        }));
    }

    /// Calls `listener` with every event sent to this socket, directly or by a broadcast,
    /// before it is queued (Node's `onAnyOutgoing`). It runs on the sending task: keep it
    /// short.
    pub fn on_any_outgoing<F>(&self, listener: F)
    where
        F: Fn(&Socket, &str, &[Value]) + Send + Sync + 'static,
    {
        *lock(&self.inner.outgoing) = Some(Arc::new(listener));
        self.inner.has_outgoing.store(true, Ordering::Release);
    }

    /// Forgets the [`on_any_outgoing`](Self::on_any_outgoing) listener (Node's
    /// `socket.offAnyOutgoing()`).
    pub fn off_any_outgoing(&self) {
        self.inner.has_outgoing.store(false, Ordering::Release);
        lock(&self.inner.outgoing).take();
    }

    /// Attaches application data to the socket (Node's `socket.data`), visible to
    /// [`crate::BroadcastOperator::fetch_sockets`] on every server.
    pub fn set_data<T: Serialize + ?Sized>(&self, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        *lock(&self.inner.data) = value;
        Ok(())
    }

    /// The application data, decoded as `T` (`Value::Null` until [`set_data`](Self::set_data)).
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, crate::value::Error> {
        from_value(lock(&self.inner.data).clone())
    }

    /// Sends `event` with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emitter().emit(event, data)
    }

    /// Sends `event` with these arguments.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.emitter().emit_args(event, args)
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
        self.emitter().emit_with_ack(event, data, timeout).await
    }

    /// Sends `event` with these arguments and waits (at most `timeout`) for the client's
    /// acknowledgement arguments.
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        self.emitter()
            .emit_args_with_ack(event, args, timeout)
            .await
    }

    /// Emits through the returned emitter are dropped rather than queued when the connection
    /// does not keep up (Node's `socket.volatile.emit(...)`).
    pub fn volatile(&self) -> SocketEmitter<'_> {
        self.emitter().volatile()
    }

    /// With `false`, emits through the returned emitter go out uncompressed (Node's
    /// `socket.compress(false).emit(...)`).
    pub fn compress(&self, compress: bool) -> SocketEmitter<'_> {
        self.emitter().compress(compress)
    }

    fn emitter(&self) -> SocketEmitter<'_> {
        SocketEmitter::new(self)
    }

    /// Joins rooms. A socket that is disconnecting or gone joins nothing (a handler that
    /// joins after an `await` may find its socket gone).
    pub fn join(&self, rooms: impl crate::broadcast::IntoRooms) {
        if self.inner.closing.load(Ordering::SeqCst) {
            return;
        }
        let rooms = rooms.into_rooms();
        self.inner.ns.local.join(&self.inner.id, &rooms);
        // A close that ran meanwhile has left every room already, or leaves these too: the
        // rooms' lock orders the two, and the close set `closing` before it left them.
        if self.inner.closing.load(Ordering::SeqCst) {
            self.inner.ns.local.leave(&self.inner.id, &rooms);
            return;
        }
        self.inner.ns.adapter.add_all(&self.inner.id, &rooms);
    }

    /// Leaves rooms.
    pub fn leave(&self, rooms: impl crate::broadcast::IntoRooms) {
        let rooms = rooms.into_rooms();
        self.inner.ns.local.leave(&self.inner.id, &rooms);
        self.inner.ns.adapter.del(&self.inner.id, &rooms);
    }

    /// The rooms this socket is in (its own id's room included).
    pub fn rooms(&self) -> HashSet<Room> {
        self.inner.ns.local.rooms_of(&self.inner.id)
    }

    /// This socket as any server describes it.
    pub fn info(&self) -> SocketInfo {
        SocketInfo {
            id: Arc::clone(&self.inner.id),
            rooms: self.rooms(),
            handshake: self.inner.handshake.clone(),
            data: lock(&self.inner.data).clone(),
        }
    }

    /// Every socket of the namespace, this one included (Node's `socket.nsp`).
    pub fn namespace(&self) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.inner.ns))
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
        if self.connected() && !self.inner.closing.load(Ordering::SeqCst) {
            let packets = wire::disconnect(self.nsp(), self.inner.ns.codec());
            let _ = self.send_packets(&packets);
            self.inner.spawner.detach(self.nsp());
            self.closed(DisconnectReason::ServerNamespaceDisconnect);
        }
    }

    /// Closes the whole connection (every namespace of this client) without a word to the
    /// client, as Node's `socket.conn.close()`: the client sees `transport close` and
    /// reconnects by itself.
    pub fn close_connection(&self) {
        self.inner.conn.close();
    }

    /// Node's `socket.disconnect(true)`: the socket of each namespace of this client is
    /// disconnected (reason `server namespace disconnect`; the client is told, and does not
    /// reconnect by itself), then the connection is closed.
    pub fn disconnect_and_close(&self) {
        self.inner.spawner.disconnect_and_close();
    }

    pub(crate) fn codec(&self) -> wire::Codec {
        self.inner.ns.codec()
    }

    pub(crate) fn protocol(&self) -> wire::Protocol {
        self.inner.protocol
    }

    pub(crate) fn restore_data(&self, data: Value) {
        *lock(&self.inner.data) = data;
    }

    pub(crate) fn has_outgoing_listener(&self) -> bool {
        self.inner.has_outgoing.load(Ordering::Acquire)
    }

    /// Tells the outgoing listener, if any, of an event about to be sent.
    pub(crate) fn notify_outgoing(&self, event: &str, args: &[Value]) {
        if !self.has_outgoing_listener() {
            return;
        }
        let listener = lock(&self.inner.outgoing).clone();
        if let Some(listener) = listener {
            listener(self, event, args);
        }
    }

    pub(crate) fn mark_connected(&self) {
        self.inner.connected.store(true, Ordering::Release);
    }

    /// Queues packets, all or (the connection backed up or its queue full) none.
    pub(crate) fn send_volatile(&self, packets: &wire::Packets) {
        let _ = self.inner.conn.send_volatile_all(packets.as_slice());
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

    /// Queues packets built for this socket alone: the common single packet is moved, not
    /// shared (no reference count to take and drop).
    pub(crate) fn send_own_packets(
        &self,
        packets: wire::Packets,
        volatile: bool,
    ) -> Result<(), EmitError> {
        let wire::Packets::One(packet) = packets else {
            if volatile {
                self.send_volatile(&packets);
                return Ok(());
            }
            return self.send_packets(&packets);
        };
        let sent = if volatile {
            // A full queue drops the packet and keeps the connection.
            let _ = self.inner.conn.send_volatile(packet);
            Ok(())
        } else {
            self.inner.conn.send(packet)
        };
        sent.map_err(|_| EmitError::Disconnected)
    }

    pub(crate) fn send_ack(&self, id: u64, args: Vec<Value>) {
        if self.connected() {
            let packets = wire::ack(self.nsp(), id, args, self.inner.ns.codec());
            let _ = self.send_own_packets(packets, false);
        }
    }

    /// Dispatches an event from the client to its handler: the future to run on the
    /// connection's task (which polls it right away).
    pub(crate) fn dispatch(
        &self,
        event: Cow<'_, str>,
        args: Vec<Value>,
        ack: Option<u64>,
    ) -> Option<crate::handler::BoxFuture> {
        let middleware = lock(&self.inner.packet_middleware).clone();
        if middleware.is_empty() {
            return self.call_handler(event, args, ack);
        }
        let socket = self.clone();
        let mut incoming = IncomingEvent {
            event: event.into_owned(),
            args,
        };
        Some(Box::pin(async move {
            for m in middleware {
                match m(socket.clone(), incoming).await {
                    Ok(passed) => incoming = passed,
                    Err(error) => {
                        socket.refused(error).await;
                        return;
                    }
                }
            }
            let event = Cow::Owned(incoming.event);
            if let Some(handler) = socket.call_handler(event, incoming.args, ack) {
                handler.await;
            }
        }))
    }

    async fn refused(&self, error: PacketError) {
        let handler = lock(&self.inner.error_handler).clone();
        match handler {
            Some(handler) => handler(self.clone(), error).await,
            None => tracing::debug!(socket = %self.id(), %error, "event refused by middleware"),
        }
    }

    fn call_handler(
        &self,
        event: Cow<'_, str>,
        args: Vec<Value>,
        ack: Option<u64>,
    ) -> Option<crate::handler::BoxFuture> {
        let ack = ack.map(|id| crate::ack::Ack::new(self.clone(), id));
        let handler = {
            let mut handlers = lock(&self.inner.handlers);
            match handlers.get(&*event) {
                Some(found) if found.once => handlers.remove(&*event).map(|h| h.handler),
                Some(found) => Some(Arc::clone(&found.handler)),
                None => None,
            }
        };
        let future = match handler {
            Some(handler) => handler(self.clone(), Incoming { args, ack }),
            None => {
                let Some(any) = lock(&self.inner.any_handler).clone() else {
                    tracing::trace!(socket = %self.id(), %event, "no handler");
                    return None;
                };
                let mut all = Vec::with_capacity(args.len() + 1);
                all.push(Value::String(event.into_owned()));
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
        if !self.connected() || self.inner.closing.swap(true, Ordering::SeqCst) {
            return;
        }
        // Taken out first: the listener may use this socket's locks. As in Node, the socket
        // is still connected while it runs.
        let disconnecting = lock(&self.inner.disconnecting).take();
        if let Some(listener) = disconnecting {
            listener(self, reason);
        }
        self.inner.connected.store(false, Ordering::Release);
        if let (Some(pid), true) = (&self.inner.pid, reason.is_recoverable()) {
            self.inner.ns.adapter.persist_session(Session {
                sid: Arc::clone(&self.inner.id),
                pid: Arc::clone(pid),
                rooms: self.rooms().into_iter().collect(),
                data: lock(&self.inner.data).clone(),
            });
        }
        self.inner.ns.local.remove(self);
        self.inner.ns.adapter.del_all(&self.inner.id);
        // The place its namespace claim gave it (`NamespaceClaim::hand_to_socket`).
        self.inner.ns.leave();
        self.inner.acks.clear();
        if let Some(handler) = lock(&self.inner.disconnect_handler).take() {
            self.inner.spawner.spawn(handler(self.clone(), reason));
        }
        lock(&self.inner.handlers).clear();
        lock(&self.inner.any_handler).take();
        lock(&self.inner.error_handler).take();
        lock(&self.inner.packet_middleware).clear();
        lock(&self.inner.outgoing).take();
    }
}

/// Why an emit did not go out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The data does not serialize.
    Serialize(String),
    /// The socket is disconnected (or its connection's queue overflowed and it was closed).
    Disconnected,
    /// The adapter could not reach the other servers.
    Adapter(AdapterError),
    /// The event name is kept by Socket.IO for itself (server-side events: `connect`,
    /// `connection`, `new_namespace`).
    Reserved(String),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::Serialize(e) => write!(f, "data does not serialize: {e}"),
            EmitError::Disconnected => f.write_str("socket disconnected"),
            EmitError::Adapter(e) => e.fmt(f),
            EmitError::Reserved(name) => write!(f, "\"{name}\" is a reserved event name"),
        }
    }
}

impl std::error::Error for EmitError {}

pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
