//! Application state shared by every handler: a database pool, a channel, a counter. Put it
//! in once with [`crate::SocketIo::insert_state`], take it in any handler with [`State`] or
//! [`crate::Socket::state`]: no clone into every closure, no global.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use switchboard_socketio::{Ack, Config, Socket, SocketIo, State};
//!
//! #[derive(Clone, Default)]
//! struct Stats { messages: Arc<AtomicU64> }
//!
//! let io = SocketIo::new(Config::default());
//! io.insert_state(Stats::default());
//! io.ns("/", |socket: Socket| async move {
//!     socket.on("chat", |State(stats): State<Stats>, ack: Ack| async move {
//!         let n = stats.messages.fetch_add(1, Ordering::Relaxed) + 1;
//!         ack.send(&n);
//!     });
//! });
//! ```

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::RwLock;

use crate::adapter::{read, write};
use crate::handler::{FromEvent, Incoming};
use crate::socket::Socket;

/// Values by type, one of each.
#[derive(Default)]
pub(crate) struct StateMap {
    values: RwLock<HashMap<TypeId, Box<dyn Any + Send + Sync>>>,
}

impl StateMap {
    pub(crate) fn insert<T: Clone + Send + Sync + 'static>(&self, value: T) {
        write(&self.values).insert(TypeId::of::<T>(), Box::new(value));
    }

    pub(crate) fn get<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        read(&self.values)
            .get(&TypeId::of::<T>())
            .and_then(|value| value.downcast_ref::<T>())
            .cloned()
    }
}

/// The application's value of type `T` ([`crate::SocketIo::insert_state`]), cloned: keep it
/// cheap to clone (an `Arc`, a pool handle). A handler asking for a type never inserted is
/// not called, and the omission is logged as a warning.
#[derive(Debug, Clone)]
pub struct State<T>(pub T);

impl<T: Clone + Send + Sync + 'static> FromEvent for State<T> {
    fn from_event(socket: &Socket, _: &mut Incoming) -> Option<Self> {
        let value = socket.state::<T>();
        if value.is_none() {
            tracing::warn!(
                state = std::any::type_name::<T>(),
                "a handler asks for state that was never inserted; it is not called"
            );
        }
        value.map(State)
    }
}
