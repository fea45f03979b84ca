//! Events between the servers of a cluster: Node's `serverSideEmit`, `serverSideEmitWithAck`
//! and the listeners a namespace has for them. They travel through the namespace's adapter to
//! every other server, never to clients and never to the sending server's own listeners.
//!
//! ```
//! # use switchboard_socketio::{Config, ServerEvent, SocketIo};
//! # async fn demo() {
//! let io = SocketIo::new(Config::default());
//! let events = io.server_events("/");
//! events.on("ping", |event: ServerEvent| async move {
//!     event.ack(&"pong");
//! });
//! // One answer per other server (none with the default, one-server adapter).
//! let answers: Vec<String> = events.emit_with_ack("ping", &()).await.unwrap_or_default();
//! # }
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, RwLock};

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ack::AckError;
use crate::adapter::{AdapterError, BroadcastPacket, ServerAcks};
use crate::handler::{decode_args, BoxFuture};
use crate::io::IoInner;
use crate::socket::EmitError;
use crate::value::{from_value, to_value, Value};

/// Event names a namespace keeps for itself (Node's namespace `RESERVED_EVENTS`): a Node
/// server would hand them to its connection listeners.
const RESERVED: [&str; 3] = ["connect", "connection", "new_namespace"];

/// An event another server sent this one.
pub struct ServerEvent {
    event: String,
    args: Vec<Value>,
    ack: Option<ServerAck>,
}

impl std::fmt::Debug for ServerEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEvent")
            .field("event", &self.event)
            .field("args", &self.args)
            .field("wants_ack", &self.ack.is_some())
            .finish()
    }
}

impl ServerEvent {
    /// An event named `event` with these arguments; `ack`, when the sender asked for an
    /// answer. Adapters make these for [`crate::adapter::LocalNamespace::server_event`].
    pub fn new(event: impl Into<String>, args: Vec<Value>, ack: Option<ServerAck>) -> Self {
        Self {
            event: event.into(),
            args,
            ack,
        }
    }

    /// The event's name.
    pub fn event(&self) -> &str {
        &self.event
    }

    /// Its arguments.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The arguments decoded as `T`: a single argument as `T` itself, several as a sequence
    /// (as [`crate::Data`] does for client events).
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, crate::value::Error> {
        decode_args(&mut self.args.clone())
    }

    /// Whether the sender waits for an answer.
    pub fn wants_ack(&self) -> bool {
        self.ack.is_some()
    }

    /// Answers the sender with one value (Node's acknowledgement of a server-side event takes
    /// one argument). Nothing happens when no answer was asked for.
    pub fn ack<T: Serialize + ?Sized>(self, value: &T) {
        match to_value(value) {
            Ok(value) => self.ack_value(value),
            Err(e) => tracing::warn!(error = %e, "server event answer does not serialize"),
        }
    }

    /// Answers the sender with `value`.
    pub fn ack_value(self, value: Value) {
        if let Some(ack) = self.ack {
            (ack.0)(value);
        }
    }
}

/// How an adapter carries a server's answer back to the server that asked.
pub struct ServerAck(Box<dyn FnOnce(Value) + Send>);

impl ServerAck {
    /// An answer sent by `send`.
    pub fn new(send: impl FnOnce(Value) + Send + 'static) -> Self {
        Self(Box::new(send))
    }
}

impl std::fmt::Debug for ServerAck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ServerAck")
    }
}

type ServerHandler = Arc<dyn Fn(ServerEvent) -> BoxFuture + Send + Sync>;

/// Every namespace's listeners for server-side events, by namespace and event name. Kept
/// by the server rather than by each namespace, so listeners outlive a namespace being set
/// up again and can be added before it exists.
#[derive(Default)]
pub(crate) struct ServerListeners {
    by_namespace: RwLock<HashMap<String, HashMap<String, ServerHandler>>>,
}

impl ServerListeners {
    fn set(&self, namespace: &str, event: String, handler: ServerHandler) {
        crate::adapter::write(&self.by_namespace)
            .entry(namespace.to_owned())
            .or_default()
            .insert(event, handler);
    }

    /// Runs the listener of `namespace` for the event on its own task. Without one, the
    /// event is dropped (a sender waiting for an answer times out, as with Node).
    pub(crate) fn dispatch(&self, namespace: &str, event: ServerEvent) {
        let handler = crate::adapter::read(&self.by_namespace)
            .get(namespace)
            .and_then(|events| events.get(&event.event))
            .cloned();
        let Some(handler) = handler else {
            tracing::debug!(namespace, event = %event.event, "server event without a listener");
            return;
        };
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(handler(event));
            }
            Err(_) => tracing::warn!("server event outside a tokio runtime; dropped"),
        }
    }
}

/// Server-side events of one namespace: listen to those the other servers send, and send
/// them yours. Got from [`crate::SocketIo::server_events`]; cheap to clone.
#[derive(Clone)]
pub struct ServerEvents {
    io: Arc<IoInner>,
    namespace: String,
}

impl std::fmt::Debug for ServerEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerEvents")
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl ServerEvents {
    pub(crate) fn new(io: Arc<IoInner>, namespace: String) -> Self {
        Self { io, namespace }
    }

    /// The namespace's name.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// Calls `handler` for each `event` another server sends (replacing an earlier listener
    /// of that event). A handler that wants to answer calls [`ServerEvent::ack`].
    pub fn on<F, Fut>(&self, event: impl Into<String>, handler: F)
    where
        F: Fn(ServerEvent) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = ()> + Send + 'static,
    {
        let handler: ServerHandler = Arc::new(move |event| Box::pin(handler(event)));
        self.io
            .server_listeners
            .set(&self.namespace, event.into(), handler);
    }

    /// Sends `event` with one argument to the other servers' listeners (Node's
    /// `serverSideEmit`). JSON only, as with Node's adapter: binary values arrive as arrays of
    /// numbers.
    #[doc(alias = "serverSideEmit")]
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.emit_args(event, vec![value])
    }

    /// Sends `event` with these arguments to the other servers' listeners.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let packet = server_packet(event, args)?;
        self.io
            .namespace_or_create(&self.namespace)
            .adapter
            .server_side_emit(packet)
            .map_err(EmitError::Adapter)
    }

    /// Sends `event` with one argument and waits for each other server's answer, decoded as
    /// `R` (Node's `serverSideEmitWithAck`), until the adapter's request timeout. Fails with
    /// [`AckError::Timeout`] when some server did not answer (see
    /// [`emit_args_with_ack`](Self::emit_args_with_ack) for the answers that did come).
    #[doc(alias = "serverSideEmitWithAck")]
    pub async fn emit_with_ack<T, R>(&self, event: &str, data: &T) -> Result<Vec<R>, AckError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let value = to_value(data).map_err(|e| AckError::Decode(e.to_string()))?;
        let acks = match self.emit_args_with_ack(event, vec![value]).await {
            Ok(acks) => acks,
            Err(EmitError::Adapter(AdapterError::Timeout)) => return Err(AckError::Timeout),
            Err(EmitError::Reserved(name)) => return Err(AckError::Reserved(name)),
            Err(e) => return Err(AckError::Adapter(e.to_string())),
        };
        if !acks.complete() {
            return Err(AckError::Timeout);
        }
        acks.responses
            .into_iter()
            .map(|value| from_value(value).map_err(|e| AckError::Decode(e.to_string())))
            .collect()
    }

    /// Sends `event` with these arguments and gathers the other servers' answers until
    /// each answered or the adapter's request timeout passed.
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<ServerAcks, EmitError> {
        let packet = server_packet(event, args)?;
        let adapter = Arc::clone(&self.io.namespace_or_create(&self.namespace).adapter);
        adapter
            .server_side_emit_with_ack(packet)
            .await
            .map_err(EmitError::Adapter)
    }
}

fn server_packet(event: &str, args: Vec<Value>) -> Result<BroadcastPacket, EmitError> {
    if RESERVED.contains(&event) {
        return Err(EmitError::Reserved(event.to_owned()));
    }
    Ok(BroadcastPacket {
        event: event.to_owned(),
        args,
    })
}
