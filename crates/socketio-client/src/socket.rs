//! [`Socket`]: one namespace's socket, what the application emits with and listens on.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;
use switchboard_socketio_parser::{
    from_first_arg, from_value, to_value, Packet, Value, RESERVED_EVENTS,
};
use tokio::sync::{mpsc, oneshot, watch};

use crate::core::SendError;
use crate::manager::Manager;
use crate::reason::DisconnectReason;

type BoxFuture = Pin<Box<dyn Future<Output = ()> + Send>>;
type EventHandler = Arc<dyn Fn(Event) -> BoxFuture + Send + Sync>;
type AnyHandler = Arc<dyn Fn(&str, &[Value]) + Send + Sync>;
type Listener<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Where a socket stands.
#[derive(Debug, Clone, PartialEq)]
pub enum Status {
    /// Not asked to connect yet.
    Idle,
    /// Waiting for its connection (first time, or reconnecting after a loss).
    Connecting,
    /// Connected.
    Connected(Connected),
    /// The last attempt failed (see [`ConnectError::retrying`]).
    ConnectFailed(ConnectError),
    /// Disconnected, and why.
    Disconnected(DisconnectReason),
}

/// A socket's connection, as the server accepted it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connected {
    /// The socket's id (Node's `socket.id`), the same on both sides.
    pub id: String,
    /// Whether the server recovered the previous session: same id, same rooms, and the
    /// packets missed meanwhile (connection-state recovery; Node's `socket.recovered`).
    pub recovered: bool,
}

/// Why a socket could not connect (Node's `connect_error`).
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The message: a middleware's error, `Invalid namespace`, or why the connection
    /// attempt failed.
    pub message: String,
    /// The `data` the server's middleware attached, if any.
    pub data: Option<Value>,
    /// True when the connection attempt failed and the client keeps trying; false when the
    /// server refused the socket (or reconnection gave up): then only
    /// [`Socket::connect`] tries again.
    pub retrying: bool,
}

impl std::fmt::Display for ConnectError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for ConnectError {}

/// Why an emit was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EmitError {
    /// The data does not serialize.
    Serialize(String),
    /// The event name is kept by Socket.IO for itself (`connect`, `disconnect`, …).
    Reserved(String),
    /// The socket refused the packet (not connecting, or a limit is reached).
    Send(SendError),
}

impl std::fmt::Display for EmitError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            EmitError::Serialize(e) => write!(f, "data does not serialize: {e}"),
            EmitError::Reserved(name) => write!(f, "\"{name}\" is a reserved event name"),
            EmitError::Send(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for EmitError {}

/// Why an acknowledgement did not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// The emit itself was refused.
    Emit(EmitError),
    /// No answer within the timeout.
    Timeout,
    /// The socket disconnected before the answer came.
    Disconnected,
    /// The answer did not decode as the expected type.
    Decode(String),
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::Emit(e) => e.fmt(f),
            AckError::Timeout => f.write_str("acknowledgement timed out"),
            AckError::Disconnected => f.write_str("socket disconnected before acknowledging"),
            AckError::Decode(e) => write!(f, "acknowledgement does not decode: {e}"),
        }
    }
}

impl std::error::Error for AckError {}

/// An event from the server, as a handler receives it.
#[derive(Debug)]
pub struct Event {
    /// The event name.
    pub name: String,
    /// Its arguments.
    pub args: Vec<Value>,
    ack: Option<AckSender>,
}

impl Event {
    /// Argument `index` decoded as `T` (`null` when there is no such argument).
    ///
    /// # Errors
    /// The argument does not decode as `T`.
    pub fn arg<T: DeserializeOwned>(&self, index: usize) -> Result<T, String> {
        let value = self.args.get(index).cloned().unwrap_or(Value::Null);
        from_value(value).map_err(|e| e.to_string())
    }

    /// Whether the server asked for an acknowledgement.
    #[must_use]
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// The acknowledgement the server asked for, to send now or later (`None` if it asked
    /// for none, or it was taken already).
    pub fn take_ack(&mut self) -> Option<AckSender> {
        self.ack.take()
    }
}

/// Answers one event whose sender asked for an acknowledgement. Sending consumes it.
#[derive(Debug)]
pub struct AckSender {
    socket: Socket,
    id: u64,
}

impl AckSender {
    /// Acknowledges with one argument.
    ///
    /// # Errors
    /// The data does not serialize, or the socket refused the packet.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.send_args(vec![value])
    }

    /// Acknowledges with these arguments (none, one or several).
    ///
    /// # Errors
    /// The socket refused the packet (it disconnected meanwhile, or a limit is reached).
    pub fn send_args(self, args: Vec<Value>) -> Result<(), EmitError> {
        let packet = Packet::ack(self.socket.nsp(), self.id, args);
        self.socket.send_packet(&packet, false)
    }
}

/// An acknowledgement waited for; see `Socket::emit_args_with_ack`.
struct PendingAck<'a> {
    socket: &'a Socket,
    id: u64,
}

impl Drop for PendingAck<'_> {
    fn drop(&mut self) {
        let inner = &self.socket.inner;
        lock(&inner.acks).remove(&self.id);
        inner.manager.cancel(&inner.nsp, self.id);
    }
}

/// One namespace's socket (Node's client `Socket`). Cheap to clone: clones share it.
///
/// Register handlers, then [`connect`](Self::connect). The socket stays until
/// [`disconnect`](Self::disconnect) (or [`Manager::close`]); while it is wanted, the
/// manager reconnects it after a lost connection, and [`emit`](Self::emit)s made meanwhile
/// wait for it, as in Node.
#[derive(Clone)]
pub struct Socket {
    inner: Arc<Inner>,
}

struct Inner {
    nsp: String,
    manager: Manager,
    handlers: RwLock<HashMap<String, EventHandler>>,
    any: RwLock<Vec<AnyHandler>>,
    on_connect: RwLock<Vec<Listener<Connected>>>,
    on_connect_error: RwLock<Vec<Listener<ConnectError>>>,
    on_disconnect: RwLock<Vec<Listener<DisconnectReason>>>,
    status: watch::Sender<Status>,
    acks: Mutex<HashMap<u64, oneshot::Sender<Vec<Value>>>>,
    next_ack: AtomicU64,
    /// Events on their way to their handlers, run in order by a task of their own.
    queue: Mutex<Option<mpsc::Sender<(EventHandler, Event)>>>,
    /// The last string that ended an event the application took: where a recovery resumes
    /// if a later event cannot be taken.
    last_offset: Mutex<Option<String>>,
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("nsp", &self.inner.nsp)
            .field("status", &*self.inner.status.borrow())
            .finish_non_exhaustive()
    }
}

fn read<T: ?Sized>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(PoisonError::into_inner)
}

fn write<T: ?Sized>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(PoisonError::into_inner)
}

fn lock<T: ?Sized>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Socket {
    pub(crate) fn new(manager: Manager, nsp: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                nsp,
                manager,
                handlers: RwLock::default(),
                any: RwLock::default(),
                on_connect: RwLock::default(),
                on_connect_error: RwLock::default(),
                on_disconnect: RwLock::default(),
                status: watch::Sender::new(Status::Idle),
                acks: Mutex::default(),
                next_ack: AtomicU64::new(0),
                queue: Mutex::new(None),
                last_offset: Mutex::new(None),
            }),
        }
    }

    /// The namespace, starting with `/`.
    #[must_use]
    pub fn nsp(&self) -> &str {
        &self.inner.nsp
    }

    /// The manager carrying this socket's connection.
    #[must_use]
    pub fn manager(&self) -> &Manager {
        &self.inner.manager
    }

    /// Where the socket stands now.
    #[must_use]
    pub fn status(&self) -> Status {
        self.inner.status.borrow().clone()
    }

    /// The socket's id while connected (Node's `socket.id`).
    #[must_use]
    pub fn id(&self) -> Option<String> {
        match &*self.inner.status.borrow() {
            Status::Connected(connected) => Some(connected.id.clone()),
            _ => None,
        }
    }

    /// Whether the socket is connected.
    #[must_use]
    pub fn connected(&self) -> bool {
        matches!(&*self.inner.status.borrow(), Status::Connected(_))
    }

    /// Watches the socket's status: each change, as it happens.
    #[must_use]
    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.inner.status.subscribe()
    }

    /// Sets what the CONNECT packet carries (Node's `auth`) from the next CONNECT on,
    /// automatic reconnections included.
    ///
    /// # Errors
    /// `auth` does not serialize to an object.
    pub fn set_auth<T: Serialize + ?Sized>(&self, auth: &T) -> Result<(), EmitError> {
        let auth = match to_value(auth).map_err(|e| EmitError::Serialize(e.to_string()))? {
            Value::Object(map) => Some(map),
            Value::Null => None,
            _ => return Err(EmitError::Serialize("auth must be an object".to_owned())),
        };
        self.inner.manager.set_auth(&self.inner.nsp, auth);
        Ok(())
    }

    /// Calls `handler` for each `event` from the server. The socket's handlers run one after
    /// another, in the order the events came (spawn a task from a handler for work that may
    /// take long); a handler that panics ends only its own run. A handler set again for the
    /// same event replaces the previous one. When the application falls behind by
    /// [`ClientConfig::max_pending_events`](crate::ClientConfig::max_pending_events) events,
    /// the connection is closed (`transport error`) rather than held without bound.
    pub fn on<F, Fut>(&self, event: &str, handler: F)
    where
        F: Fn(Event) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: EventHandler = Arc::new(move |event| Box::pin(handler(event)));
        write(&self.inner.handlers).insert(event.to_owned(), handler);
    }

    /// Calls `listener` with the name and arguments of every event from the server, before
    /// its own handler (Node's `onAny`).
    pub fn on_any(&self, listener: impl Fn(&str, &[Value]) + Send + Sync + 'static) {
        write(&self.inner.any).push(Arc::new(listener));
    }

    /// Calls `listener` each time the socket connects (Node's `connect` event).
    pub fn on_connect(&self, listener: impl Fn(&Connected) + Send + Sync + 'static) {
        write(&self.inner.on_connect).push(Arc::new(listener));
    }

    /// Calls `listener` each time a connection fails or is refused (Node's `connect_error`).
    pub fn on_connect_error(&self, listener: impl Fn(&ConnectError) + Send + Sync + 'static) {
        write(&self.inner.on_connect_error).push(Arc::new(listener));
    }

    /// Calls `listener` each time the socket disconnects (Node's `disconnect`).
    pub fn on_disconnect(&self, listener: impl Fn(&DisconnectReason) + Send + Sync + 'static) {
        write(&self.inner.on_disconnect).push(Arc::new(listener));
    }

    /// Asks for the socket's connection (opening the manager's if needed). Also connects
    /// again a socket that was disconnected or refused.
    pub fn connect(&self) {
        if self.inner.manager.connect_socket(self) {
            // Under the status's own lock: a `Connected` dispatched meanwhile is not
            // overwritten.
            self.inner.status.send_if_modified(|status| {
                let waiting = !matches!(status, Status::Connected(_));
                if waiting {
                    *status = Status::Connecting;
                }
                waiting
            });
        }
    }

    /// Waits until the socket is connected, or until a connection attempt fails or is
    /// refused. Call [`connect`](Self::connect) first.
    ///
    /// # Errors
    /// The [`ConnectError`] of the next failed attempt or refusal (or of the last one, if the
    /// socket no longer tries); an error too when the socket is not connecting at all (never
    /// asked to, or disconnected by either side).
    pub async fn wait_connected(&self) -> Result<Connected, ConnectError> {
        let not_connecting = |why: &str| ConnectError {
            message: format!("the socket is not connecting: {why}"),
            data: None,
            retrying: false,
        };
        let mut status = self.inner.status.subscribe();
        let mut first = true;
        loop {
            let active = self.inner.manager.is_active(&self.inner.nsp);
            match &*status.borrow_and_update() {
                Status::Connected(connected) => return Ok(connected.clone()),
                // An old failure the socket is already retrying past does not count.
                Status::ConnectFailed(error) if !first || !error.retrying => {
                    return Err(error.clone())
                }
                Status::Idle => return Err(not_connecting("call connect() first")),
                Status::Disconnected(reason) if !reason.reconnects() || !active => {
                    return Err(not_connecting(reason.as_str()))
                }
                // Given up on meanwhile (disconnected, the manager closed).
                Status::Connecting | Status::ConnectFailed(_) if !active => {
                    return Err(not_connecting("given up"))
                }
                Status::ConnectFailed(_) | Status::Disconnected(_) | Status::Connecting => {}
            }
            first = false;
            if status.changed().await.is_err() {
                return Err(not_connecting("the socket is gone"));
            }
        }
    }

    /// Waits until the socket disconnects, and says why (at once if it is disconnected now).
    /// It watches the status, which keeps only the latest: a disconnection that a listener
    /// follows at once with [`connect`](Self::connect) may pass unseen here;
    /// [`on_disconnect`](Self::on_disconnect) hears every one.
    pub async fn wait_disconnected(&self) -> DisconnectReason {
        let mut status = self.inner.status.subscribe();
        loop {
            if let Status::Disconnected(reason) = &*status.borrow_and_update() {
                return *reason;
            }
            if status.changed().await.is_err() {
                return DisconnectReason::IoClientDisconnect;
            }
        }
    }

    /// Sends `event` with one argument.
    ///
    /// # Errors
    /// The data does not serialize, the name is reserved, or the socket refused the packet.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.emit_args(event, vec![value])
    }

    /// Sends `event` with these arguments (none, one or several).
    ///
    /// # Errors
    /// The name is reserved, or the socket refused the packet.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.emit_packet(event, args, None, false)
    }

    /// Sends `event` now if the socket is connected, and drops it otherwise, where a plain
    /// emit would wait for the connection (Node's `socket.volatile.emit`).
    ///
    /// # Errors
    /// The name is reserved, or the socket is not connecting or connected.
    pub fn emit_volatile(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        self.emit_packet(event, args, None, true)
    }

    /// Sends `event` with one argument and waits, at most `timeout`, for the server's
    /// acknowledgement, whose first argument is decoded as `R` (Node's
    /// `socket.timeout(ms).emitWithAck(…)`).
    ///
    /// # Errors
    /// [`AckError`].
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
        let value =
            to_value(data).map_err(|e| AckError::Emit(EmitError::Serialize(e.to_string())))?;
        let args = self.emit_args_with_ack(event, vec![value], timeout).await?;
        from_first_arg(args).map_err(|e| AckError::Decode(e.to_string()))
    }

    /// Sends `event` with these arguments and waits, at most `timeout`, for the server's
    /// acknowledgement arguments. A packet waiting for the connection counts against the
    /// timeout.
    ///
    /// # Errors
    /// [`AckError`].
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        let id = self.inner.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        lock(&self.inner.acks).insert(id, tx);
        // Ends the wait however it ends (answer, timeout, the caller dropping this future):
        // the waiter goes, and a packet still waiting for the connection is taken back, so
        // that a timed-out emit is not delivered later (as Node drops it).
        let _pending = PendingAck { socket: self, id };
        self.emit_packet(event, args, Some(id), false)
            .map_err(AckError::Emit)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => Err(AckError::Timeout),
        }
    }

    /// Leaves the namespace: a DISCONNECT packet if connected, `io client disconnect`, and
    /// no reconnection. The manager's connection closes with its last socket.
    pub fn disconnect(&self) {
        self.inner.manager.disconnect_socket(&self.inner.nsp);
        // Its waiting packets are dropped, and with them their acknowledgements; a socket
        // that was not connected has no `disconnect` event (as in Node), but its status says.
        lock(&self.inner.acks).clear();
        self.given_up();
    }

    /// The socket no longer connects: a status that says it is on its way says otherwise now,
    /// and whoever watches looks again.
    fn given_up(&self) {
        self.inner.status.send_modify(|status| {
            if !matches!(status, Status::Disconnected(_)) {
                *status = Status::Disconnected(DisconnectReason::IoClientDisconnect);
            }
        });
    }

    fn emit_packet(
        &self,
        event: &str,
        args: Vec<Value>,
        id: Option<u64>,
        volatile: bool,
    ) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::Reserved(event.to_owned()));
        }
        let packet = Packet::event(self.nsp(), event, args, id);
        self.send_packet(&packet, volatile)
    }

    fn send_packet(&self, packet: &Packet, volatile: bool) -> Result<(), EmitError> {
        self.inner
            .manager
            .send(packet, volatile)
            .map_err(EmitError::Send)
    }

    // What the manager's task calls as the connection's events come.

    pub(crate) fn on_connected(&self, connected: Connected) {
        let status = Status::Connected(connected.clone());
        self.announce(status, &self.inner.on_connect, "connect", &connected);
    }

    pub(crate) fn on_connect_failed(&self, error: ConnectError) {
        let status = Status::ConnectFailed(error.clone());
        self.announce(
            status,
            &self.inner.on_connect_error,
            "connect_error",
            &error,
        );
    }

    pub(crate) fn on_disconnected(&self, reason: DisconnectReason) {
        // Acknowledgements of packets that went out end with `Disconnected` (their senders
        // are dropped); those of packets still waiting for the connection may yet come.
        let manager = &self.inner.manager;
        lock(&self.inner.acks).retain(|id, _| manager.is_buffered(&self.inner.nsp, *id));
        let status = Status::Disconnected(reason);
        self.announce(status, &self.inner.on_disconnect, "disconnect", &reason);
    }

    /// Sets the status, then calls each of `listeners` (Node's event `what`) with `value`,
    /// outside their lock, so that a listener may register another.
    fn announce<T>(
        &self,
        status: Status,
        listeners: &RwLock<Vec<Listener<T>>>,
        what: &str,
        value: &T,
    ) {
        self.inner.status.send_replace(status);
        let listeners = read(listeners).clone();
        for listener in listeners {
            contain(what, || listener(value));
        }
    }

    /// Hands an event to its handler through the socket's queue, where handlers run one
    /// after another. False when the queue is full: the application does not keep up.
    pub(crate) fn on_event(
        &self,
        runtime: &tokio::runtime::Handle,
        name: String,
        args: Vec<Value>,
        id: Option<u64>,
    ) -> bool {
        let offset = match args.last() {
            Some(Value::String(offset)) => Some(offset.clone()),
            _ => None,
        };
        let handler = read(&self.inner.handlers).get(&name).cloned();
        if let Some(handler) = handler {
            let ack = id.map(|id| AckSender {
                socket: self.clone(),
                id,
            });
            let any = read(&self.inner.any).clone();
            let event = Event { name, args, ack };
            let capacity = self.inner.manager.max_pending_events();
            let mut queue = lock(&self.inner.queue);
            if queue.as_ref().is_none_or(mpsc::Sender::is_closed) {
                // The first event, or the queue's task ended (its runtime shut down).
                *queue = Some(start_queue(runtime, capacity));
            }
            // Out of the lock before any listener runs (one may close the manager).
            let sender = queue.clone();
            drop(queue);
            let Some(Ok(permit)) = sender.as_ref().map(mpsc::Sender::try_reserve) else {
                return false;
            };
            // Taken: `onAny` listeners first, as in Node, then the handler's turn.
            for listener in any {
                contain("onAny", || listener(&event.name, &event.args));
            }
            permit.send((handler, event));
        } else {
            let any = read(&self.inner.any).clone();
            for listener in any {
                contain("onAny", || listener(&name, &args));
            }
            tracing::debug!(nsp = %self.inner.nsp, event = %name, "no handler");
        }
        if offset.is_some() {
            *lock(&self.inner.last_offset) = offset;
        }
        true
    }

    /// Where a recovery should resume if the next event cannot be taken.
    pub(crate) fn last_offset(&self) -> Option<String> {
        lock(&self.inner.last_offset).clone()
    }

    /// Forgets every handler and listener, and ends waiting acknowledgements
    /// (`Disconnected`): its manager is closed.
    pub(crate) fn release(&self) {
        self.given_up();
        lock(&self.inner.queue).take();
        write(&self.inner.handlers).clear();
        write(&self.inner.any).clear();
        write(&self.inner.on_connect).clear();
        write(&self.inner.on_connect_error).clear();
        write(&self.inner.on_disconnect).clear();
        lock(&self.inner.acks).clear();
    }

    pub(crate) fn on_ack(&self, id: u64, args: Vec<Value>) {
        if let Some(waiter) = lock(&self.inner.acks).remove(&id) {
            let _ = waiter.send(args);
        }
    }
}

/// A socket's handler queue: a bounded channel and the task that empties it.
fn start_queue(
    runtime: &tokio::runtime::Handle,
    capacity: usize,
) -> mpsc::Sender<(EventHandler, Event)> {
    let (sender, receiver) = mpsc::channel(capacity.max(1));
    runtime.spawn(run_handlers(receiver));
    sender
}

/// Runs each queued event's handler to its end before the next one, each in a task of its own
/// so that a panicking handler ends only itself.
async fn run_handlers(mut queue: mpsc::Receiver<(EventHandler, Event)>) {
    while let Some((handler, event)) = queue.recv().await {
        let name = event.name.clone();
        // The handler is called inside the task too: one that panics before it returns its
        // future ends that task only.
        if let Err(e) = tokio::spawn(async move { handler(event).await }).await {
            tracing::error!(event = %name, error = %e, "an event handler failed");
        }
    }
}

/// Runs a listener of the application; a panic in it is logged, and goes no further (it would
/// otherwise stop the manager's dispatching for good).
fn contain(what: &str, listener: impl FnOnce()) {
    if std::panic::catch_unwind(std::panic::AssertUnwindSafe(listener)).is_err() {
        tracing::error!(listener = what, "a listener panicked");
    }
}
