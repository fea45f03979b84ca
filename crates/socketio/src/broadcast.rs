//! Broadcasting: `to`/`in`/`except` select the receivers, `volatile` and `timeout` shape the
//! delivery; the packet is encoded once and the same bytes queued for every receiver.

use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;

use crate::ack::AckError;
use crate::namespace::Namespace;
use crate::socket::{EmitError, Room, Socket};
use crate::value::{to_value, Value};
use crate::wire;

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

/// Selects receivers in one namespace and sends to them. Built by [`crate::SocketIo::to`],
/// [`Socket::broadcast`], [`Socket::to`], ...
#[derive(Debug, Clone)]
pub struct BroadcastOperator {
    ns: Arc<Namespace>,
    rooms: Vec<Room>,
    except: Vec<Room>,
    volatile: bool,
    timeout: Option<Duration>,
}

/// Default time to wait for acknowledgements of a broadcast (Node has none; a bound keeps
/// waiters from living forever).
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(30);

impl BroadcastOperator {
    pub(crate) fn new(ns: Arc<Namespace>) -> Self {
        Self {
            ns,
            rooms: Vec::new(),
            except: Vec::new(),
            volatile: false,
            timeout: None,
        }
    }

    pub(crate) fn except_socket(mut self, id: &Arc<str>) -> Self {
        self.except.push(Arc::clone(id));
        self
    }

    /// Only sockets in these rooms (added to earlier ones).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.rooms.extend(rooms.into_rooms());
        self
    }

    /// Same as [`to`](Self::to).
    pub fn within(self, rooms: impl IntoRooms) -> Self {
        self.to(rooms)
    }

    /// Not sockets in these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.except.extend(rooms.into_rooms());
        self
    }

    /// Receivers whose queue is full miss the packet instead of being disconnected.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// Only this server's sockets (every broadcast is local until a cluster adapter exists).
    pub fn local(self) -> Self {
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
        self.emit_args(event, vec![value]);
        Ok(())
    }

    /// Sends `event` with these arguments to every selected socket. Encoded once.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) {
        let packets = wire::event(self.ns.name(), event, args, None, self.ns.codec);
        self.ns
            .for_each_target(&self.rooms, &self.except, |socket| {
                self.deliver(socket, &packets)
            });
    }

    fn deliver(&self, socket: &Socket, packets: &wire::Packets) {
        if !socket.connected() {
            return;
        }
        if self.volatile {
            socket.send_volatile(packets);
        } else {
            let _ = socket.send_packets(packets);
        }
    }

    /// Sends `event` with these arguments and gathers every receiver's acknowledgement (or
    /// why it did not come), one entry per receiver.
    pub async fn emit_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
    ) -> Vec<(Socket, Result<Vec<Value>, AckError>)> {
        let id = self.ns.next_ack_id();
        let packets = wire::event(self.ns.name(), event, args, Some(id), self.ns.codec);
        let mut waiting = Vec::new();
        self.ns
            .for_each_target(&self.rooms, &self.except, |socket| {
                if socket.connected() {
                    let answer = socket.inner.acks.register(id);
                    self.deliver(socket, &packets);
                    waiting.push((socket.clone(), answer));
                }
            });
        let deadline = tokio::time::Instant::now() + self.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let mut out = Vec::with_capacity(waiting.len());
        for (socket, answer) in waiting {
            let result = match tokio::time::timeout_at(deadline, answer).await {
                Ok(Ok(args)) => Ok(args),
                Ok(Err(_)) => Err(AckError::Disconnected),
                Err(_) => {
                    socket.inner.acks.forget(id);
                    Err(AckError::Timeout)
                }
            };
            out.push((socket, result));
        }
        out
    }

    /// Whether any socket is selected (cheap: no packet is built).
    pub fn has_receivers(&self) -> bool {
        let mut any = false;
        self.ns
            .for_each_target(&self.rooms, &self.except, |_| any = true);
        any
    }

    /// The selected sockets (Node's `fetchSockets`).
    pub fn sockets(&self) -> Vec<Socket> {
        let mut out = Vec::new();
        self.ns
            .for_each_target(&self.rooms, &self.except, |s| out.push(s.clone()));
        out
    }

    /// Makes the selected sockets join `rooms` (Node's `socketsJoin`).
    pub fn join(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        for socket in self.sockets() {
            socket.join(rooms.clone());
        }
    }

    /// Makes the selected sockets leave `rooms` (Node's `socketsLeave`).
    pub fn leave(&self, rooms: impl IntoRooms) {
        let rooms = rooms.into_rooms();
        for socket in self.sockets() {
            socket.leave(rooms.clone());
        }
    }

    /// Disconnects the selected sockets (Node's `disconnectSockets`); with `close`, their
    /// whole connections.
    pub fn disconnect(&self, close: bool) {
        for socket in self.sockets() {
            if close {
                socket.close_connection();
            } else {
                socket.disconnect();
            }
        }
    }
}
