//! Session id → the session task's input queue, shared by every worker thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::mpsc;

use super::task::Input;

/// Live sessions. A plain lock: it is touched on handshakes, polling requests and closes,
/// never per WebSocket message.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<Arc<str>, mpsc::Sender<Input>>>,
}

impl Registry {
    pub(crate) fn insert(&self, sid: Arc<str>, tx: mpsc::Sender<Input>) {
        self.lock().insert(sid, tx);
    }

    pub(crate) fn get(&self, sid: &str) -> Option<mpsc::Sender<Input>> {
        self.lock().get(sid).cloned()
    }

    pub(crate) fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, mpsc::Sender<Input>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
