//! Emitting on one socket, with Node's per-emit flags: `socket.volatile.emit(...)` and
//! `socket.compress(false).emit(...)`.

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::ack::{decode_first, AckError};
use crate::adapter::{BroadcastFlags, BroadcastOptions, BroadcastPacket};
use crate::socket::{EmitError, Socket};
use crate::value::{to_value, Value};
use crate::wire;

/// Sends to one socket with delivery flags. Built by [`Socket::volatile`] and
/// [`Socket::compress`]; the flags apply to the emits made through it.
#[derive(Debug, Clone, Copy)]
pub struct SocketEmitter<'a> {
    socket: &'a Socket,
    flags: BroadcastFlags,
}

impl<'a> SocketEmitter<'a> {
    pub(crate) fn new(socket: &'a Socket) -> Self {
        Self {
            socket,
            flags: BroadcastFlags::default(),
        }
    }

    /// Drops the packets rather than queueing them when the connection does not keep up.
    pub fn volatile(mut self) -> Self {
        self.flags.volatile = true;
        self
    }

    /// With `false`, the packets go out uncompressed.
    pub fn compress(mut self, compress: bool) -> Self {
        self.flags.uncompressed = !compress;
        self
    }

    /// Sends `event` with one argument.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        let value = to_value(data).map_err(|e| EmitError::Serialize(e.to_string()))?;
        self.emit_args(event, vec![value])
    }

    /// Sends `event` with these arguments.
    pub fn emit_args(&self, event: &str, args: Vec<Value>) -> Result<(), EmitError> {
        let socket = self.socket;
        if !socket.connected() {
            return Err(EmitError::Disconnected);
        }
        if socket.inner.pid.is_some() {
            // Through the adapter, which keeps it for a recovery should the connection drop.
            let packet = BroadcastPacket {
                event: event.to_owned(),
                args,
            };
            let only_me = BroadcastOptions {
                rooms: vec![Arc::clone(&socket.inner.id)],
                flags: self.flags,
                ..BroadcastOptions::default()
            };
            return socket
                .inner
                .ns
                .adapter
                .broadcast(packet, only_me)
                .map_err(EmitError::Adapter);
        }
        socket.notify_outgoing(event, &args);
        self.send(wire::event(
            socket.nsp(),
            event,
            &args,
            None,
            socket.codec(),
        ))
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
        let args = self.emit_args_with_ack(event, vec![value], timeout).await?;
        decode_first(args)
    }

    /// Sends `event` with these arguments and waits (at most `timeout`) for the client's
    /// acknowledgement arguments.
    pub async fn emit_args_with_ack(
        &self,
        event: &str,
        args: Vec<Value>,
        timeout: Duration,
    ) -> Result<Vec<Value>, AckError> {
        let socket = self.socket;
        if !socket.connected() {
            return Err(AckError::Disconnected);
        }
        let id = socket.inner.ns.local.next_ack_id();
        let answer = socket.inner.acks.register(id);
        socket.notify_outgoing(event, &args);
        let packets = wire::event(socket.nsp(), event, &args, Some(id), socket.codec());
        if self.send(packets).is_err() {
            socket.inner.acks.forget(id);
            return Err(AckError::Disconnected);
        }
        match tokio::time::timeout(timeout, answer).await {
            Ok(Ok(args)) => Ok(args),
            Ok(Err(_)) => Err(AckError::Disconnected),
            Err(_) => {
                socket.inner.acks.forget(id);
                Err(AckError::Timeout)
            }
        }
    }

    fn send(&self, packets: wire::Packets) -> Result<(), EmitError> {
        let packets = packets.compressed(!self.flags.uncompressed);
        self.socket.send_own_packets(packets, self.flags.volatile)
    }
}
