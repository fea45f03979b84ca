//! [`Manager`]: one connection to a server, shared by the sockets of its namespaces, and the
//! task that drives it: connect (through [`transport`]), hand the sans-IO [`ClientCore`]'s
//! events to the sockets, reconnect with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use switchboard_engineio::TransportKind;
use switchboard_socketio_parser::{Map, Packet};
use tokio::sync::{watch, Notify};

use crate::backoff::{random_unit, Backoff};
use crate::config::ClientConfig;
use crate::core::{ClientCore, CoreEvent, SendError};
use crate::reason::DisconnectReason;
use crate::socket::{ConnectError, Connected, Socket};
use crate::transport;
use crate::url::{ServerUrl, UrlError};

/// One connection to a Socket.IO server, multiplexing the sockets of its namespaces (Node's
/// client `Manager`). Cheap to clone: clones share it.
///
/// The connection opens when a socket first asks for it, and closes with
/// [`close`](Self::close) or when its last socket disconnects. After a loss it reconnects
/// with backoff, unless [`ClientConfig::reconnection`] is off. Its task runs only while a
/// socket wants the connection. [`close`](Self::close) is final, and lets go of the sockets'
/// handlers too: a handler holding a clone of its socket keeps the socket, and so the manager,
/// in memory until then.
#[derive(Clone)]
pub struct Manager {
    shared: Arc<Shared>,
}

pub(crate) struct Shared {
    /// The Engine.IO URLs, one per transport (`ws://` form, see `ServerUrl::engine_url`).
    pub(crate) websocket_url: String,
    pub(crate) polling_url: String,
    pub(crate) config: ClientConfig,
    core: Mutex<ClientCore>,
    /// Wakes the task: a socket wants the connection, or queued frames, or a close.
    pub(crate) wake: Notify,
    /// The transport the session runs on now.
    pub(crate) transport: watch::Sender<Option<TransportKind>>,
    sockets: Mutex<HashMap<String, Socket>>,
    /// Set by `close`: the task ends.
    closed: AtomicBool,
    /// Whether the task runs.
    running: AtomicBool,
    /// Set while one thread hands the core's events to the sockets; the others leave theirs
    /// to it, so that sockets hear events in the order the core made them.
    dispatching: AtomicBool,
    /// The runtime of the latest `connect`, where the task and the handlers run.
    runtime: Mutex<Option<tokio::runtime::Handle>>,
}

impl std::fmt::Debug for Manager {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("url", &self.shared.websocket_url)
            .finish_non_exhaustive()
    }
}

impl Manager {
    /// A manager for the server at `url` (`http`, `https`, `ws` or `wss`; a path in it is
    /// ignored here: see [`crate::socket`]). Nothing connects until a socket asks.
    ///
    /// # Errors
    /// The URL is not one.
    pub fn new(url: &str, config: ClientConfig) -> Result<Self, UrlError> {
        let url = ServerUrl::parse(url)?;
        Ok(Self {
            shared: Arc::new(Shared {
                websocket_url: url.engine_url(&config.path, &config.query, "websocket"),
                polling_url: url.engine_url(&config.path, &config.query, "polling"),
                transport: watch::Sender::new(None),
                core: Mutex::new({
                    let mut core = ClientCore::new(config.limits, config.codec);
                    core.set_reconnection(config.reconnection);
                    core
                }),
                config,
                wake: Notify::new(),
                sockets: Mutex::default(),
                closed: AtomicBool::new(false),
                running: AtomicBool::new(false),
                dispatching: AtomicBool::new(false),
                runtime: Mutex::new(None),
            }),
        })
    }

    /// The socket of namespace `nsp` (the same one each time for the same namespace).
    /// Register its handlers, then [`Socket::connect`] it.
    #[must_use]
    pub fn socket(&self, nsp: &str) -> Socket {
        let nsp = normalize_nsp(nsp);
        if self.shared.closed() {
            // It cannot connect: not kept.
            return Socket::new(self.clone(), nsp);
        }
        lock(&self.shared.sockets)
            .entry(nsp.clone())
            .or_insert_with(|| Socket::new(self.clone(), nsp))
            .clone()
    }

    /// Closes the connection: every socket disconnects (`io client disconnect`) and the
    /// connection is not opened again, even by [`Socket::connect`].
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::SeqCst);
        self.shared.core().close();
        self.shared.pump();
        self.shared.wake.notify_one();
    }

    /// Whether the Engine.IO session is open now.
    #[must_use]
    pub fn is_open(&self) -> bool {
        self.shared.core().is_open()
    }

    /// The transport the session runs on now (Node's `manager.engine.transport.name`):
    /// polling until an upgrade completes, then WebSocket; `None` without a session.
    #[must_use]
    pub fn transport(&self) -> Option<TransportKind> {
        *self.shared.transport.borrow()
    }

    /// Watches [`transport`](Self::transport): each change, as it happens (an upgrade, a
    /// lost session, a new one).
    #[must_use]
    pub fn watch_transport(&self) -> watch::Receiver<Option<TransportKind>> {
        self.shared.transport.subscribe()
    }

    /// Connects `socket`; see [`Socket::connect`]. False when it cannot (the socket has been
    /// told why).
    pub(crate) fn connect_socket(&self, socket: &Socket) -> bool {
        let nsp = socket.nsp();
        let refuse = |message: &str| {
            let error = ConnectError {
                message: message.to_owned(),
                data: None,
                retrying: false,
            };
            socket.on_connect_failed(error);
            false
        };
        if self.shared.closed() {
            return refuse("the manager is closed");
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return refuse("connect() was called outside a tokio runtime");
        };
        *lock(&self.shared.runtime) = Some(runtime.clone());
        self.shared.core().connect(nsp);
        if !self.shared.running.swap(true, Ordering::SeqCst) {
            runtime.spawn(drive(Arc::clone(&self.shared)));
        }
        self.shared.wake.notify_one();
        true
    }

    pub(crate) fn set_auth(&self, nsp: &str, auth: Option<Map>) {
        self.shared.core().set_auth(nsp, auth);
    }

    pub(crate) fn cancel(&self, nsp: &str, id: u64) {
        self.shared.core().cancel(nsp, id);
    }

    pub(crate) fn is_buffered(&self, nsp: &str, id: u64) -> bool {
        self.shared.core().is_buffered(nsp, id)
    }

    pub(crate) fn is_active(&self, nsp: &str) -> bool {
        self.shared.core().is_active(nsp)
    }

    pub(crate) fn max_pending_events(&self) -> usize {
        self.shared.config.max_pending_events
    }

    pub(crate) fn disconnect_socket(&self, nsp: &str) {
        {
            let mut core = self.shared.core();
            core.disconnect(nsp);
            if !core.wants_connection() {
                // The last socket left: the connection goes too, as in Node.
                core.close();
            }
        }
        self.shared.pump();
        self.shared.wake.notify_one();
    }

    pub(crate) fn send(&self, packet: &Packet, volatile: bool) -> Result<(), SendError> {
        self.shared.core().send(packet, volatile)?;
        self.shared.wake.notify_one();
        Ok(())
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn normalize_nsp(nsp: &str) -> String {
    if nsp.starts_with('/') {
        nsp.to_owned()
    } else {
        format!("/{nsp}")
    }
}

impl Shared {
    pub(crate) fn core(&self) -> MutexGuard<'_, ClientCore> {
        lock(&self.core)
    }

    pub(crate) fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Hands the core's events to the sockets, in order, with no lock held (listeners may
    /// emit or disconnect). A thread that finds another one at it leaves its events to it.
    pub(crate) fn pump(&self) {
        loop {
            if self.dispatching.swap(true, Ordering::AcqRel) {
                return;
            }
            loop {
                // Not in a `while let`: the lock must not be held while the socket listens.
                let next = self.core().poll_event();
                let Some(event) = next else { break };
                self.dispatch(event);
            }
            if self.closed() {
                // The last events (the sockets' `io client disconnect`) are out.
                self.release();
            }
            self.dispatching.store(false, Ordering::Release);
            // Events queued after the last look by a thread that found us at work, or a
            // close that came meanwhile: another round.
            let closed_now = self.closed() && !lock(&self.sockets).is_empty();
            if !self.core().has_events() && !closed_now {
                return;
            }
        }
    }

    fn dispatch(&self, event: CoreEvent) {
        let nsp = match &event {
            CoreEvent::Opened(handshake) => {
                tracing::debug!(sid = %handshake.sid, "Engine.IO session open");
                return;
            }
            CoreEvent::Closed(reason) => {
                tracing::debug!(%reason, "Engine.IO session closed");
                return;
            }
            CoreEvent::Connected { nsp, .. }
            | CoreEvent::ConnectError { nsp, .. }
            | CoreEvent::Event { nsp, .. }
            | CoreEvent::Ack { nsp, .. }
            | CoreEvent::Disconnected { nsp, .. } => nsp.clone(),
        };
        let Some(socket) = lock(&self.sockets).get(&nsp).cloned() else {
            return;
        };
        match event {
            CoreEvent::Connected { sid, recovered, .. } => {
                socket.on_connected(Connected { id: sid, recovered })
            }
            CoreEvent::ConnectError {
                message,
                data,
                retrying,
                ..
            } => socket.on_connect_failed(ConnectError {
                message,
                data,
                retrying,
            }),
            CoreEvent::Event { name, args, id, .. } => {
                let runtime = lock(&self.runtime).clone();
                let taken = runtime.is_some_and(|rt| socket.on_event(&rt, name, args, id));
                if !taken {
                    // The application is `max_pending_events` behind: rather than hold what
                    // the server sends without bound, the connection goes, and a recovery (if
                    // the server keeps sessions) resumes after the last event taken.
                    tracing::warn!(%nsp, "event handlers fell behind; closing the connection");
                    self.core().overflowed(&nsp, socket.last_offset());
                    self.wake.notify_one();
                }
            }
            CoreEvent::Ack { id, args, .. } => socket.on_ack(id, args),
            CoreEvent::Disconnected { reason, .. } => socket.on_disconnected(reason),
            CoreEvent::Opened(_) | CoreEvent::Closed(_) => {}
        }
    }

    /// Resolves once the manager is closed.
    async fn closing(&self) {
        while !self.closed() {
            self.wake.notified().await;
        }
    }

    /// Whether a socket wants the connection (never once the manager is closed).
    fn wanted(&self) -> bool {
        !self.closed() && self.core().wants_connection()
    }

    /// A closed manager lets go of its sockets, and they of their handlers: handlers that
    /// hold a clone of their socket would otherwise keep the socket, and the socket its
    /// manager, alive for good.
    fn release(&self) {
        let sockets: Vec<Socket> = lock(&self.sockets).drain().map(|(_, s)| s).collect();
        for socket in sockets {
            socket.release();
        }
    }
}

/// The manager's task: connect while sockets want it, reconnect with backoff after losses.
/// It ends when no socket wants the connection (a socket that asks again starts another), so
/// a manager whose sockets all left holds no task.
async fn drive(shared: Arc<Shared>) {
    loop {
        connect_while_wanted(&shared).await;
        shared.running.store(false, Ordering::SeqCst);
        // A socket may have asked between the last look and the flag: carry on for it, unless
        // `connect_socket` saw the flag down and started another task.
        if !shared.wanted() || shared.running.swap(true, Ordering::SeqCst) {
            return;
        }
    }
}

async fn connect_while_wanted(shared: &Shared) {
    let config = &shared.config;
    let mut backoff = Backoff::new(
        config.reconnection_delay,
        config.reconnection_delay_max,
        config.randomization_factor,
    );
    while shared.wanted() {
        let opened = tokio::select! {
            opened = transport::open(shared) => opened,
            () = shared.closing() => {
                // An attempt cut short may have got as far as a session: it is dropped.
                shared.core().transport_closed(DisconnectReason::IoClientDisconnect);
                shared.transport.send_replace(None);
                break;
            }
        };
        let failure = match opened {
            Ok(session) => {
                transport::run(shared, session).await;
                shared.transport.send_replace(None);
                backoff.reset();
                None
            }
            Err(message) => Some(message),
        };
        if shared.closed() {
            break;
        }
        if failure.is_none() && shared.core().closed_by_client() {
            // Its last socket left: no reconnection, until one asks again (at once if one
            // already has, meanwhile).
            continue;
        }
        let exhausted = config
            .reconnection_attempts
            .is_some_and(|most| backoff.attempts() >= most);
        let retrying = config.reconnection && !exhausted;
        match (&failure, retrying) {
            (Some(message), _) => shared.core().connect_failed(message, retrying),
            // The session was lost and reconnection is off: the sockets have heard
            // `disconnect`, and stay so until connected again (Node says no more either).
            // The session was lost and reconnection is off: the core left the sockets
            // inactive as it failed (a listener may have connected one again since).
            (None, false) => {}
            (None, true) => {}
        }
        shared.pump();
        if !retrying {
            continue;
        }
        let delay = backoff.next_delay(random_unit());
        tracing::debug!(?delay, attempt = backoff.attempts(), "reconnecting");
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shared.closing() => break,
        }
    }
}
