//! Session id → the session task's input queue, shared by every worker thread.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use super::mailbox::Mailbox;

/// Live sessions. A plain lock: it is touched on handshakes, polling requests and closes,
/// never per WebSocket message.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<HashMap<Arc<str>, Arc<Mailbox>>>,
}

impl Registry {
    pub(crate) fn insert(&self, sid: Arc<str>, mailbox: Arc<Mailbox>) {
        self.lock().insert(sid, mailbox);
    }

    /// Every live session's inbox (for shutdown).
    pub(crate) fn all(&self) -> Vec<Arc<Mailbox>> {
        self.lock().values().cloned().collect()
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<Mailbox>> {
        self.lock().get(sid).cloned()
    }

    pub(crate) fn remove(&self, sid: &str) {
        self.lock().remove(sid);
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Arc<str>, Arc<Mailbox>>> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
