//! The default adapter: this server's sockets only.

use std::sync::Arc;
use std::time::Duration;

use super::{
    Adapter, AdapterError, AdapterFactory, AdapterFuture, BroadcastAcks, BroadcastOptions,
    BroadcastPacket, LocalNamespace, RecoveredSession, Session, SessionStore, SocketInfo,
};
use crate::socket::Room;

/// Serves one server's sockets: every operation is carried out on the [`LocalNamespace`].
/// The default adapter of [`crate::SocketIo::new`].
#[derive(Debug)]
pub struct MemoryAdapter {
    local: LocalNamespace,
    /// Sessions and packets kept when connection-state recovery is on.
    sessions: Option<SessionStore>,
}

impl MemoryAdapter {
    /// The adapter of the namespace `local` stands for.
    pub fn new(local: LocalNamespace) -> Self {
        let sessions = local.recovery().map(SessionStore::new);
        Self { local, sessions }
    }

    /// A factory making one per namespace (pass to [`crate::SocketIo::with_adapter`]).
    pub fn factory() -> Arc<dyn AdapterFactory> {
        Arc::new(|local| Arc::new(MemoryAdapter::new(local)) as Arc<dyn Adapter>)
    }
}

impl Adapter for MemoryAdapter {
    fn broadcast(
        &self,
        mut packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        // Volatile packets are not worth catching up on (as in Node).
        if let (Some(sessions), false) = (&self.sessions, opts.flags.volatile) {
            sessions.record(&mut packet, &opts);
        }
        self.local.broadcast(&packet, &opts);
        Ok(())
    }

    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<BroadcastAcks> {
        let acks = self.local.broadcast_with_ack(&packet, &opts);
        Box::pin(async move { Ok(acks.gather(timeout).await) })
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<Vec<SocketInfo>> {
        let sockets = self.local.fetch_sockets(&opts);
        Box::pin(async move { Ok(sockets) })
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.local.add_sockets(&opts, &rooms);
        Ok(())
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        self.local.del_sockets(&opts, &rooms);
        Ok(())
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        self.local.disconnect_sockets(&opts, close);
        Ok(())
    }

    fn persist_session(&self, session: Session) {
        if let Some(sessions) = &self.sessions {
            sessions.persist(session);
        }
    }

    fn restore_session(&self, pid: &str, offset: &str) -> AdapterFuture<Option<RecoveredSession>> {
        let restored = self
            .sessions
            .as_ref()
            .and_then(|sessions| sessions.restore(pid, offset));
        Box::pin(async move { Ok(restored) })
    }
}
