//! Acknowledgements both ways: [`Ack`] answers a client that asked for one; [`AckError`] is
//! what waiting for a client's answer can end with.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};

use crate::socket::Socket;
use crate::value::{to_value, Value};

/// Answers the client's acknowledgement request for one event. Sending consumes it; when the
/// client asked for none, sending does nothing.
#[derive(Debug)]
pub struct Ack {
    target: Option<(Socket, u64)>,
}

impl Ack {
    pub(crate) fn new(socket: Socket, id: u64) -> Self {
        Self {
            target: Some((socket, id)),
        }
    }

    pub(crate) fn none() -> Self {
        Self { target: None }
    }

    /// Whether the client asked for an acknowledgement.
    pub fn requested(&self) -> bool {
        self.target.is_some()
    }

    /// Acknowledges with one argument.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) {
        match to_value(data) {
            Ok(value) => self.send_args(vec![value]),
            Err(e) => tracing::warn!(error = %e, "acknowledgement does not serialize"),
        }
    }

    /// Acknowledges with these arguments (none, one or several).
    pub fn send_args(self, args: Vec<Value>) {
        if let Some((socket, id)) = self.target {
            socket.send_ack(id, args);
        }
    }
}

/// Why an acknowledgement did not come.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AckError {
    /// No answer within the timeout.
    Timeout,
    /// The socket disconnected first (or was never connected).
    Disconnected,
    /// The answer did not decode as the expected type.
    Decode(String),
    /// The adapter could not reach the other servers.
    Adapter(String),
    /// The event name is kept by Socket.IO for itself (see [`crate::EmitError::Reserved`]).
    Reserved(String),
}

impl std::fmt::Display for AckError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            AckError::Timeout => f.write_str("acknowledgement timed out"),
            AckError::Disconnected => f.write_str("socket disconnected before acknowledging"),
            AckError::Decode(e) => write!(f, "acknowledgement does not decode: {e}"),
            AckError::Adapter(e) => write!(f, "adapter failed: {e}"),
            AckError::Reserved(name) => write!(f, "\"{name}\" is a reserved event name"),
        }
    }
}

impl std::error::Error for AckError {}

/// An acknowledgement's first argument decoded as `R` (`null` when it has none), as
/// `emitWithAck` resolves with.
pub(crate) fn decode_first<R: serde::de::DeserializeOwned>(
    args: Vec<Value>,
) -> Result<R, AckError> {
    switchboard_socketio_parser::from_first_arg(args).map_err(|e| AckError::Decode(e.to_string()))
}

/// Acknowledgements a socket waits for, by packet id.
#[derive(Debug, Default)]
pub(crate) struct PendingAcks {
    waiting: Mutex<HashMap<u64, Waiter>>,
}

/// Who waits for an answer: one emit, or a broadcast gathering many sockets' answers.
#[derive(Debug)]
enum Waiter {
    One(oneshot::Sender<Vec<Value>>),
    Many(mpsc::UnboundedSender<Vec<Value>>),
}

impl PendingAcks {
    pub(crate) fn register(&self, id: u64) -> oneshot::Receiver<Vec<Value>> {
        let (tx, rx) = oneshot::channel();
        self.lock().insert(id, Waiter::One(tx));
        rx
    }

    /// Waits for answer `id` on behalf of a broadcast, which gathers answers on `tx`.
    pub(crate) fn register_many(&self, id: u64, tx: mpsc::UnboundedSender<Vec<Value>>) {
        self.lock().insert(id, Waiter::Many(tx));
    }

    pub(crate) fn forget(&self, id: u64) {
        self.lock().remove(&id);
    }

    /// Delivers the client's answer; unknown ids (late or forged) are ignored.
    pub(crate) fn resolve(&self, id: u64, args: Vec<Value>) {
        match self.lock().remove(&id) {
            Some(Waiter::One(tx)) => {
                let _ = tx.send(args);
            }
            Some(Waiter::Many(tx)) => {
                let _ = tx.send(args);
            }
            None => {}
        }
    }

    /// Drops every waiter: they see [`AckError::Disconnected`].
    pub(crate) fn clear(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Waiter>> {
        self.waiting.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
