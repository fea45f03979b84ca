//! Adapters: how a namespace's broadcasts and socket queries reach sockets, on this server
//! and (with a cluster adapter) on every server of a cluster.
//!
//! Every namespace keeps its own sockets and rooms in a [`LocalNamespace`]; an [`Adapter`]
//! decides where an operation goes. [`MemoryAdapter`], the default, serves this server's
//! sockets only. A cluster adapter (Redis, for example) does the same for this server's
//! sockets through the [`LocalNamespace`] it was given, and forwards the operation to the
//! other servers, which carry it out on theirs with [`BroadcastFlags::local`] set:
//!
//! * [`Adapter::broadcast`] returns at once: remote delivery is queued, in order, by the
//!   adapter (as Node's adapters publish without waiting).
//! * [`Adapter::broadcast_with_ack`] gathers acknowledgements from every server: each tells
//!   how many sockets it reached, then sends their answers, until the timeout.
//! * [`Adapter::fetch_sockets`] and friends are requests answered by each server within the
//!   adapter's own request timeout.
//! * [`Adapter::add_all`], [`Adapter::del`] and [`Adapter::del_all`] tell the adapter of room
//!   changes of local sockets (a sharded adapter subscribes to room channels there).
//! * [`Adapter::server_side_emit`] and [`Adapter::server_side_emit_with_ack`] carry events
//!   between the servers themselves (Node's `serverSideEmit`); a cluster adapter hands those
//!   it receives to [`LocalNamespace::server_event`].
//!
//! What crosses servers is plain data ([`BroadcastPacket`], [`BroadcastOptions`],
//! [`SocketInfo`]), so a wire format such as Node's `@socket.io/redis-adapter` can carry it.

mod local;
mod memory;
mod recovery;
mod rooms;

use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

pub use local::{LocalAcks, LocalNamespace};
pub use memory::MemoryAdapter;
pub use recovery::RecoveryConfig;
pub(crate) use recovery::SessionStore;
pub use rooms::RoomEvent;
pub(crate) use rooms::{read, write};

use crate::socket::{Handshake, Room};
use crate::value::Value;

/// A boxed future an adapter answers with.
pub type AdapterFuture<T> = Pin<Box<dyn Future<Output = Result<T, AdapterError>> + Send>>;

/// Routes a namespace's broadcasts and socket queries. See the [module docs](self).
pub trait Adapter: Send + Sync + 'static {
    /// Sends `packet` to the sockets `opts` selects. Local delivery happens before this
    /// returns; remote delivery is queued.
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError>;

    /// Sends `packet` asking every receiver for an acknowledgement, and gathers the answers
    /// that arrive within `timeout`.
    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<BroadcastAcks>;

    /// The sockets `opts` selects, on every server.
    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<Vec<SocketInfo>>;

    /// Makes the sockets `opts` selects join `rooms`.
    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError>;

    /// Makes the sockets `opts` selects leave `rooms`.
    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError>;

    /// Disconnects the sockets `opts` selects; with `close`, their whole connections.
    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError>;

    /// A local socket joined `rooms` (already recorded in the [`LocalNamespace`]).
    fn add_all(&self, _id: &str, _rooms: &[Room]) {}

    /// A local socket left `rooms`.
    fn del(&self, _id: &str, _rooms: &[Room]) {}

    /// A local socket left every room (it disconnected).
    fn del_all(&self, _id: &str) {}

    /// Sends an event to the other servers of the cluster, for their listeners of this
    /// namespace ([`crate::ServerEvents::on`]); not to this server's. The default: there are
    /// no other servers, so nothing to do.
    fn server_side_emit(&self, _packet: BroadcastPacket) -> Result<(), AdapterError> {
        Ok(())
    }

    /// Sends an event to the other servers asking each for one answer, gathered until the
    /// adapter's request timeout. The default: no other servers, so no answer to wait for.
    fn server_side_emit_with_ack(&self, _packet: BroadcastPacket) -> AdapterFuture<ServerAcks> {
        Box::pin(async { Ok(ServerAcks::default()) })
    }

    /// Keeps the state of a socket whose connection was lost, for connection-state
    /// recovery (called only when it is enabled).
    fn persist_session(&self, _session: Session) {}

    /// The state of the socket whose private id is `pid` and the packets it missed after
    /// `offset`, or `None` when it cannot be recovered (then it starts afresh).
    fn restore_session(
        &self,
        _pid: &str,
        _offset: &str,
    ) -> AdapterFuture<Option<RecoveredSession>> {
        Box::pin(async { Ok(None) })
    }

    /// Resolves once what this adapter queued for other servers (broadcasts, kept sessions)
    /// has gone out: [`SocketIo::close`](crate::SocketIo::close) waits for it before a
    /// process exits. The default: nothing is queued.
    fn flush(&self) -> AdapterFuture<()> {
        Box::pin(async { Ok(()) })
    }

    /// The namespace was removed from its server (an empty dynamic namespace, with
    /// [`Config::cleanup_empty_child_namespaces`](crate::Config)): stop listening to the
    /// other servers for it (Node's `adapter.close()`). Called once, on the task whose
    /// socket left last (maybe while this adapter handles a request), so it must not block.
    /// A new adapter for the same name may exist already: tear down what belongs to this
    /// instance only. A handle still held elsewhere may broadcast through the adapter
    /// afterwards; `flush` is not called after it. The default: nothing to stop.
    fn close(&self) {}
}

/// Makes the adapter of each namespace (dynamic namespaces are created on demand). Any
/// `Fn(LocalNamespace) -> Arc<dyn Adapter>` is one.
pub trait AdapterFactory: Send + Sync + 'static {
    /// The adapter for the namespace `local` stands for.
    fn create(&self, local: LocalNamespace) -> Arc<dyn Adapter>;
}

impl<F> AdapterFactory for F
where
    F: Fn(LocalNamespace) -> Arc<dyn Adapter> + Send + Sync + 'static,
{
    fn create(&self, local: LocalNamespace) -> Arc<dyn Adapter> {
        self(local)
    }
}

/// An event for many receivers: its name and arguments. Encoded once per server.
#[derive(Debug, Clone, PartialEq)]
pub struct BroadcastPacket {
    /// The event name.
    pub event: String,
    /// Its arguments (binary values travel as attachments).
    pub args: Vec<Value>,
}

/// Which sockets a broadcast or query selects, and how packets are delivered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastOptions {
    /// Sockets in any of these rooms; every socket of the namespace when empty.
    pub rooms: Vec<Room>,
    /// Minus sockets in any of these rooms (a socket id is a room of its own).
    pub except: Vec<Room>,
    /// Delivery flags.
    pub flags: BroadcastFlags,
}

/// How a broadcast is delivered.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct BroadcastFlags {
    /// This server's sockets only.
    pub local: bool,
    /// Receivers whose queue is full miss the packet instead of being disconnected.
    pub volatile: bool,
    /// Packets go out without compression (Node's `compress(false)`): no permessage-deflate
    /// on WebSocket, no HTTP compression for a polling payload made only of such packets.
    pub uncompressed: bool,
}

/// The acknowledgements a broadcast gathered.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct BroadcastAcks {
    /// Each answer's arguments, in arrival order.
    pub responses: Vec<Vec<Value>>,
    /// How many receivers were asked (on the servers that answered in time).
    pub expected: usize,
}

impl BroadcastAcks {
    /// Whether every receiver answered.
    pub fn complete(&self) -> bool {
        self.responses.len() >= self.expected
    }
}

/// The answers the other servers gave to a server-side event.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerAcks {
    /// One value per server that answered, in arrival order (`null` for an answer without
    /// a value).
    pub responses: Vec<Value>,
    /// How many servers were asked.
    pub expected: usize,
}

impl ServerAcks {
    /// Whether every server answered.
    pub fn complete(&self) -> bool {
        self.responses.len() >= self.expected
    }
}

/// A socket as any server of the cluster can describe it (Node's `RemoteSocket` data).
#[derive(Debug, Clone)]
pub struct SocketInfo {
    /// The socket id.
    pub id: Room,
    /// Its rooms, its own id's room included.
    pub rooms: HashSet<Room>,
    /// What it sent when it connected.
    pub handshake: Handshake,
    /// The application's data attached to it ([`crate::Socket::set_data`]).
    pub data: Value,
}

/// A disconnected socket's state, kept for connection-state recovery.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// Its socket id, given back on recovery.
    pub sid: Room,
    /// Its private session id, which only its client knows.
    pub pid: Room,
    /// Its rooms.
    pub rooms: Vec<Room>,
    /// Its application data.
    pub data: Value,
}

/// A session found again, with the packets its socket missed (offsets included).
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveredSession {
    /// The socket's state.
    pub session: Session,
    /// What was broadcast to it while it was away, in order.
    pub missed: Vec<BroadcastPacket>,
}

/// Why an adapter could not carry out an operation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AdapterError {
    /// The other servers could not be reached (the message says why).
    Unavailable(String),
    /// Not every server answered within the request timeout.
    Timeout,
}

impl std::fmt::Display for AdapterError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AdapterError::Unavailable(why) => write!(f, "adapter unavailable: {why}"),
            AdapterError::Timeout => f.write_str("not every server answered in time"),
        }
    }
}

impl std::error::Error for AdapterError {}
