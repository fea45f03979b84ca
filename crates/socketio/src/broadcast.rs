//! Broadcasting: `to`/`in`/`except` select the receivers, `volatile`, `compress`, `local` and
//! `timeout` shape the delivery; the namespace's adapter carries it out (encoded once per server, the
//! same bytes queued for every receiver).

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ack::{decode_first, AckError};
use crate::adapter::{AdapterError, BroadcastAcks, BroadcastOptions, BroadcastPacket, SocketInfo};
use crate::namespace::Namespace;
use crate::socket::{EmitError, Handshake, Room, Socket};
use crate::value::{from_value, to_value, Value};

/// Rooms given to `to`, `except`, `join`, ...: a name, or several.
pub trait IntoRooms {
    /// The rooms.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self)]
    }
}

impl IntoRooms for Room {
    fn into_rooms(self) -> Vec<Room> {
        vec![self]
    }
}

impl<T: IntoRooms> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.into_iter().flat_map(IntoRooms::into_rooms).collect()
    }
}

impl<const N: usize> IntoRooms for [&str; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(*r)).collect()
    }
}

/// Selects receivers in one namespace and sends to them, through the namespace's adapter
/// (so on every server of a cluster unless [`local`](Self::local)). Built by
/// [`crate::SocketIo::to`], [`Socket::broadcast`], [`Socket::to`], ...
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    ns: Arc<Namespace>,
    opts: BroadcastOptions,
    timeout: Option<Duration>,
}

/// Default time to wait for acknowledgements of a broadcast (Node has none; a bound keeps
/// waiters from living forever).
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(30);

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        Self {
            ns,
            opts: BroadcastOptions::default(),
            timeout: None,
        }
    }

    pub(crate) fn except_socket(mut self, id: &Arc<str>) -> Self {
        self.opts.except.push(Arc::clone(id));
        self
    }

    /// Only sockets in these rooms (added to earlier ones).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.rooms.extend(rooms.into_rooms());
        self
    }

    /// Same as [`to`](Self::to).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Not sockets in these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.opts.except.extend(rooms.into_rooms());
        self
    }

    /// Receivers whose queue is full miss the packet instead of being disconnected.
    pub fn volatile(mut self) -> Self {
        self.opts.flags.volatile = true;
        self
    }

    /// With `false`, packets go out uncompressed (no permessage-deflate, no HTTP compression
    /// of a polling payload holding only such packets), as Node's `compress(false)`.
    pub fn compress(mut self, compress: bool) -> Self {
        self.opts.flags.uncompressed = !compress;
        self
    }

    /// Only this server's sockets (with a cluster adapter; the default adapter has no
    /// other servers).
    pub fn local(mut self) -> Self {
        self.opts.flags.local = true;
        self
    }

    /// How long [`emit_with_ack`](Self::emit_with_ack) waits for acknowledgements.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Sends `event` with one argument to every selected socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.emit_args(event, vec![value])
    }

    /// Sends `event` with these arguments to every selected socket; encoded once per
    /// server.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let packet = BroadcastPacket {
            event: event.to_owned(),
            args,
        };
        self.ns
            .adapter
            .broadcast(packet, self.opts.clone())
            .map_err(EmitError::Adapter)
    }

    /// Sends `event` with one argument and waits for every receiver's acknowledgement
    /// (at most the [`timeout`](Self::timeout), 30 s by default); each answer's first
    /// argument is decoded as `R`. Fails with [`AckError::Timeout`] when some receiver did
    /// not answer in time (see [`emit_args_with_ack`](Self::emit_args_with_ack) for the
    /// answers that did come).
    pub async fn emit_with_ack<T, R>(&self, event: &str, data: &T) -> Result<Vec<R>, AckError>
    where
        T: Serialize + ?Sized,
        R: DeserializeOwned,
    {
        let value = to_value(data).map_err(|e| AckError::Decode(e.to_string()))?;
        let acks = self
            .emit_args_with_ack(event, vec![value])
            .await
            .map_err(|e| AckError::Adapter(e.to_string()))?;
        if !acks.complete() {
            return Err(AckError::Timeout);
        }
        acks.responses.into_iter().map(decode_first).collect()
    }

    /// Sends `event` with these arguments and gathers the receivers' acknowledgements
    /// until every one answered, disconnected, or the [`timeout`](Self::timeout) passed.
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Result<BroadcastAcks, AdapterError> {
        let packet = BroadcastPacket {
            event: event.to_owned(),
            args,
        };
        let timeout = self.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        self.ns
            .adapter
            .broadcast_with_ack(packet, self.opts.clone(), timeout)
            .await
    }

    /// Whether any socket of this server is selected (cheap: no packet is built).
    pub fn has_receivers(&self) -> bool {
        let mut any = false;
        self.ns.local.for_each(&self.opts, |_| any = true);
        any
    }

    /// The selected sockets of this server (Node's `io.local.fetchSockets()`, without
    /// waiting).
    pub fn sockets(&self) -> Vec<Socket> {
        self.ns.local.select(&self.opts)
    }

    /// The selected sockets on every server (Node's `fetchSockets`): act on them with
    /// [`RemoteSocket`]'s methods wherever they are connected.
    pub async fn fetch_sockets(&self) -> Result<Vec<RemoteSocket>, AdapterError> {
        let infos = self.ns.adapter.fetch_sockets(self.opts.clone()).await?;
        Ok(infos
            .into_iter()
            .map(|info| RemoteSocket {
                info,
                ns: Arc::clone(&self.ns),
            })
            .collect())
    }

    /// Makes the selected sockets join `rooms` (Node's `socketsJoin`).
    pub fn join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.ns
            .adapter
            .add_sockets(self.opts.clone(), rooms.into_rooms())
    }

    /// Makes the selected sockets leave `rooms` (Node's `socketsLeave`).
    pub fn leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.ns
            .adapter
            .del_sockets(self.opts.clone(), rooms.into_rooms())
    }

    /// Disconnects the selected sockets (Node's `disconnectSockets`); with `close`, their
    /// whole connections.
    pub fn disconnect(&self, close: bool) -> Result<(), AdapterError> {
        self.ns.adapter.disconnect_sockets(self.opts.clone(), close)
    }
}

/// A socket found by [`BroadcastOperator::fetch_sockets`], on this server or another:
/// its description, and actions carried out through the adapter wherever it is connected.
#[derive(Debug, Clone)]
pub struct RemoteSocket {
    info: SocketInfo,
    ns: Arc<Namespace>,
}

impl RemoteSocket {
    /// The socket id.
    pub fn id(&self) -> &str {
        &self.info.id
    }

    /// Its rooms when it was fetched.
    pub fn rooms(&self) -> &HashSet<Room> {
        &self.info.rooms
    }

    /// What it sent when it connected.
    pub fn handshake(&self) -> &Handshake {
        &self.info.handshake
    }

    /// Its application data when it was fetched, decoded as `T`.
    pub fn data<T: DeserializeOwned>(&self) -> Result<T, crate::value::Error> {
        from_value(self.info.data.clone())
    }

    /// Everything known about it.
    pub fn info(&self) -> &SocketInfo {
        &self.info
    }

    fn only(&self) -> BroadcastOperator {
        BroadcastOperator::new(Arc::clone(&self.ns)).to(Arc::clone(&self.info.id))
    }

    /// Sends it `event` with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.only().emit(event, data)
    }

    /// Makes it join `rooms`.
    pub fn join(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.only().join(rooms)
    }

    /// Makes it leave `rooms`.
    pub fn leave(&self, rooms: impl IntoRooms) -> Result<(), AdapterError> {
        self.only().leave(rooms)
    }

    /// Disconnects it; with `close`, its whole connection.
    pub fn disconnect(&self, close: bool) -> Result<(), AdapterError> {
        self.only().disconnect(close)
    }
}
