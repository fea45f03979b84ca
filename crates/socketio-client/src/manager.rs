//! [`Manager`]: one connection to a server, shared by the sockets of its namespaces, and the
//! task that drives it: connect, move frames between the WebSocket and the sans-IO
//! [`ClientCore`], keep time, reconnect with backoff.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::time::Duration;

use switchboard_socketio_parser::{Encoded, Map};
use switchboard_ws::{CloseCode, Event as WsEvent, Message};
use switchboard_ws_tokio::{connect, Stream, WebSocket};
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::backoff::{random_unit, Backoff};
use crate::config::ClientConfig;
use crate::core::{ClientCore, CoreEvent, Frame, SendError};
use crate::reason::DisconnectReason;
use crate::socket::{ConnectError, Connected, Socket};
use crate::url::{ServerUrl, UrlError};

/// One connection to a Socket.IO server, multiplexing the sockets of its namespaces (Node's
/// client `Manager`). Cheap to clone: clones share it.
///
/// The connection opens when a socket first asks for it, and closes with
/// [`close`](Self::close) or when its last socket disconnects. After a loss it reconnects
/// with backoff, unless [`ClientConfig::reconnection`] is off.
#[derive(Clone)]
pub struct Manager {
    shared: Arc<Shared>,
}

struct Shared {
    websocket_url: String,
    config: ClientConfig,
    core: Mutex<ClientCore>,
    /// Wakes the task: a socket wants the connection, or queued frames, or a close.
    wake: Notify,
    sockets: Mutex<HashMap<String, Socket>>,
    /// Set by `close`: the task ends.
    closed: AtomicBool,
    /// Whether the task runs.
    running: AtomicBool,
    /// Set while one thread hands the core's events to the sockets; the others leave theirs
    /// to it, so that sockets hear events in the order the core made them.
    dispatching: AtomicBool,
    /// The runtime of the task, where handlers run.
    runtime: OnceLock<tokio::runtime::Handle>,
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
        let websocket_url = url.websocket_url(&config.path, &config.query);
        Ok(Self {
            shared: Arc::new(Shared {
                websocket_url,
                core: Mutex::new(ClientCore::new(config.limits)),
                config,
                wake: Notify::new(),
                sockets: Mutex::default(),
                closed: AtomicBool::new(false),
                running: AtomicBool::new(false),
                dispatching: AtomicBool::new(false),
                runtime: OnceLock::new(),
            }),
        })
    }

    /// The socket of namespace `nsp` (the same one each time for the same namespace).
    /// Register its handlers, then [`Socket::connect`] it.
    #[must_use]
    pub fn socket(&self, nsp: &str) -> Socket {
        let nsp = normalize_nsp(nsp);
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

    pub(crate) fn connect_socket(&self, nsp: &str, auth: Option<Map>) {
        if self.shared.closed.load(Ordering::SeqCst) {
            let error = ConnectError {
                message: "the manager is closed".to_owned(),
                data: None,
                retrying: false,
            };
            self.socket(nsp).on_connect_failed(error);
            return;
        }
        self.shared.core().connect(nsp, auth);
        if !self.shared.running.swap(true, Ordering::SeqCst) {
            let runtime = self
                .shared
                .runtime
                .get_or_init(tokio::runtime::Handle::current);
            runtime.spawn(drive(Arc::clone(&self.shared)));
        }
        self.shared.wake.notify_one();
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

    pub(crate) fn send(&self, nsp: &str, packet: Encoded, volatile: bool) -> Result<(), SendError> {
        self.shared.core().send(nsp, packet, volatile)?;
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

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

impl Shared {
    fn core(&self) -> MutexGuard<'_, ClientCore> {
        lock(&self.core)
    }

    fn closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// Hands the core's events to the sockets, in order, with no lock held (listeners may
    /// emit or disconnect). A thread that finds another one at it leaves its events to it.
    fn pump(&self) {
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
            self.dispatching.store(false, Ordering::Release);
            // Events queued after the last look, by a thread that found us at work.
            if !self.core().has_events() {
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
                if let Some(runtime) = self.runtime.get() {
                    socket.on_event(runtime, name, args, id);
                }
            }
            CoreEvent::Ack { id, args, .. } => socket.on_ack(id, args),
            CoreEvent::Disconnected { reason, .. } => socket.on_disconnected(reason),
            CoreEvent::Opened(_) | CoreEvent::Closed(_) => {}
        }
    }

    /// Waits until a socket wants the connection; false once the manager is closed.
    async fn wanted(&self) -> bool {
        loop {
            if self.closed() {
                return false;
            }
            if self.core().wants_connection() {
                return true;
            }
            self.wake.notified().await;
        }
    }
}

/// The manager's task: connect while sockets want it, reconnect with backoff after losses.
async fn drive(shared: Arc<Shared>) {
    let config = &shared.config;
    let mut backoff = Backoff::new(
        config.reconnection_delay,
        config.reconnection_delay_max,
        config.randomization_factor,
    );
    while shared.wanted().await {
        let failure = match open(&shared).await {
            Ok(ws) => {
                run(&shared, ws).await;
                backoff.reset();
                None
            }
            Err(message) => Some(message),
        };
        if shared.closed() {
            break;
        }
        if failure.is_none() && !shared.core().wants_connection() {
            // Its last socket left: no reconnection, until one asks again.
            continue;
        }
        let exhausted = config
            .reconnection_attempts
            .is_some_and(|most| backoff.attempts() >= most);
        let retrying = config.reconnection && !exhausted;
        match (&failure, retrying) {
            (Some(message), _) => shared.core().connect_failed(message, retrying),
            (None, false) => shared.core().connect_failed("gave up reconnecting", false),
            (None, true) => {}
        }
        shared.pump();
        if !retrying {
            continue;
        }
        let delay = backoff.next_delay(random_unit());
        tracing::debug!(?delay, attempt = backoff.attempts(), "reconnecting");
        let closed = async {
            while !shared.closed() {
                shared.wake.notified().await;
            }
        };
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = closed => break,
        }
    }
    // Closed: a closed manager connects no socket again, so the task is not needed again.
    shared.running.store(false, Ordering::SeqCst);
}

/// Opens the WebSocket and waits for the Engine.IO `open` packet, both within
/// `config.timeout`.
async fn open(shared: &Shared) -> Result<WebSocket<Stream>, String> {
    let config = &shared.config;
    tokio::time::timeout(config.timeout, open_session(shared))
        .await
        .map_err(|_| "timeout".to_owned())?
}

async fn open_session(shared: &Shared) -> Result<WebSocket<Stream>, String> {
    let config = &shared.config;
    let mut websocket = config.websocket.clone();
    websocket
        .options
        .headers
        .extend(config.headers.iter().cloned());
    websocket.handshake_timeout = config.timeout;
    let (mut ws, _) = connect(&shared.websocket_url, websocket)
        .await
        .map_err(|e| format!("websocket error: {e}"))?;
    shared.core().transport_opened();
    // The server's first frame is the `open` packet.
    loop {
        let event = ws.next_event().await;
        let mut core = shared.core();
        match event {
            Ok(Some(WsEvent::Message(Message::Text(text)))) => {
                core.handle_text(now(), text.as_str());
            }
            Ok(Some(WsEvent::Message(Message::Binary(bytes)))) => core.handle_binary(now(), bytes),
            Ok(Some(WsEvent::Ping(_) | WsEvent::Pong(_))) => continue,
            Ok(Some(WsEvent::Closed(_)) | None) => {
                core.transport_closed(DisconnectReason::TransportClose);
            }
            Err(_) => core.transport_closed(DisconnectReason::TransportError),
        }
        if core.is_open() {
            return Ok(ws);
        }
        if !core.has_transport() {
            // Whatever the core heard (a closed stream, a bad handshake) is no open session.
            return Err("websocket error: no Engine.IO handshake".to_owned());
        }
    }
}

/// Runs an open session until it ends.
async fn run(shared: &Shared, mut ws: WebSocket<Stream>) {
    loop {
        let (deadline, finished) = {
            let mut core = shared.core();
            if core.has_transport() && !core.wants_connection() {
                // Every socket left, or was refused or sent away by the server: as in Node,
                // the connection closes with the last one.
                core.close();
            }
            while ws.buffered_amount() < shared.config.send_buffer {
                let queued = match core.poll_transmit() {
                    Some(Frame::Text(text)) => ws.queue(Message::text(text)),
                    Some(Frame::Binary(bytes)) => ws.queue(Message::Binary(bytes)),
                    None => break,
                };
                if queued.is_err() {
                    core.transport_closed(DisconnectReason::TransportError);
                }
            }
            (core.poll_timeout(), !core.has_transport())
        };
        shared.pump();
        if finished {
            // Whatever is queued (a DISCONNECT, the `close` packet) goes out with the close.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), ws.close(CloseCode::NORMAL, "")).await;
            return;
        }
        let sleep = async {
            match deadline {
                Some(deadline) => tokio::time::sleep_until(Instant::from_std(deadline)).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            event = ws.next_event() => {
                let mut core = shared.core();
                match event {
                    Ok(Some(WsEvent::Message(Message::Text(text)))) => core.handle_text(now(), text.as_str()),
                    Ok(Some(WsEvent::Message(Message::Binary(bytes)))) => core.handle_binary(now(), bytes),
                    Ok(Some(WsEvent::Ping(_) | WsEvent::Pong(_))) => {}
                    Ok(Some(WsEvent::Closed(_)) | None) => core.transport_closed(DisconnectReason::TransportClose),
                    Err(e) => {
                        tracing::debug!(error = %e, "WebSocket failed");
                        core.transport_closed(DisconnectReason::TransportError);
                    }
                }
            }
            () = shared.wake.notified() => {}
            () = sleep => shared.core().handle_timeout(now()),
        }
    }
}
