//! One Engine.IO connection seen from Socket.IO: its sockets (one per namespace joined), the
//! packet decoder, and the handler futures it runs. Lives in the session's task.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Waker};

use switchboard_engineio::Message;
use tokio::time::Sleep;

use crate::adapter::RecoveredSession;
use crate::engine::{ConnHandle, RequestInfo};
use crate::handler::{BoxFuture, Incoming};
use crate::io::IoInner;
use crate::namespace::ConnectError;
use crate::namespace::Namespace;
use crate::reason::DisconnectReason;
use crate::socket::{lock, Handshake, Socket, SocketIdentity};
use crate::value::Value;
use crate::wire::{self, Decoded, WireDecoder};

/// Lets sockets (from any task) hand work to their connection's task.
#[derive(Clone, Default)]
pub(crate) struct Spawner {
    shared: Arc<Mutex<SpawnQueue>>,
}

#[derive(Default)]
struct SpawnQueue {
    futures: Vec<BoxFuture>,
    /// Sockets connected by a finished middleware chain, to be registered.
    attached: Vec<Socket>,
    /// Namespaces the server disconnected.
    detached: Vec<String>,
    /// Disconnect every namespace, then close the connection (Node's `disconnect(true)`).
    close_all: bool,
    /// The connection is gone: a join that finishes now is refused by [`Spawner::attach`].
    closed: bool,
    waker: Option<Waker>,
}

impl Spawner {
    /// Runs `future` on the connection's task.
    pub(crate) fn spawn(&self, future: BoxFuture) {
        let mut queue = lock(&self.shared);
        queue.futures.push(future);
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
    }

    /// Registers a socket whose join finished; false when the connection has closed
    /// meanwhile (then the socket must not be accepted).
    fn attach(&self, socket: Socket) -> bool {
        let mut queue = lock(&self.shared);
        if queue.closed {
            return false;
        }
        queue.attached.push(socket);
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
        true
    }

    /// Forgets the socket of namespace `nsp` (disconnected by the server).
    pub(crate) fn detach(&self, nsp: &str) {
        let mut queue = lock(&self.shared);
        queue.detached.push(nsp.to_owned());
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
    }

    /// Disconnects every socket of the connection from its namespace (each client socket
    /// is told, as in Node), then closes the connection.
    pub(crate) fn disconnect_and_close(&self) {
        let mut queue = lock(&self.shared);
        queue.close_all = true;
        if let Some(waker) = queue.waker.take() {
            waker.wake();
        }
    }
}

impl std::fmt::Debug for Spawner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Spawner")
    }
}

pub(crate) struct Client {
    io: Arc<IoInner>,
    conn: ConnHandle,
    request: Arc<RequestInfo>,
    decoder: WireDecoder,
    protocol: wire::Protocol,
    /// By namespace (see [`Client::socket_in`] for the lookup every packet makes).
    sockets: HashMap<String, Socket>,
    /// The one socket when `sockets` holds exactly one (nearly always), found without
    /// touching the map.
    only: Option<Socket>,
    spawner: Spawner,
    running: Vec<BoxFuture>,
    /// Closes the connection when no namespace is joined in time (`connectTimeout`).
    connect_deadline: Option<Pin<Box<Sleep>>>,
}

impl Client {
    pub(crate) fn new(io: Arc<IoInner>, conn: ConnHandle, request: &RequestInfo) -> Self {
        let protocol = wire::Protocol::of(request.protocol);
        let decoder = WireDecoder::new(io.config.codec, protocol, io.config.max_attachments);
        let connect_deadline = Some(Box::pin(tokio::time::sleep(io.config.connect_timeout)));
        Self {
            io,
            conn,
            request: Arc::new(request.clone()),
            decoder,
            protocol,
            sockets: HashMap::new(),
            only: None,
            spawner: Spawner::default(),
            running: Vec::new(),
            connect_deadline,
        }
    }

    pub(crate) fn message(&mut self, message: Message) {
        match self.decoder.decode(&message) {
            Ok(None) => {}
            Ok(Some(packet)) => self.packet(packet),
            Err(e) => {
                tracing::debug!(sid = %self.conn.sid(), error = %e, "bad Socket.IO packet: closing");
                self.conn.close();
            }
        }
    }

    /// The socket joined to namespace `nsp`. Nearly every client joins one namespace: its
    /// socket is kept apart and found by comparing the name, which lives in the namespace
    /// shared by all its sockets (hot in the cache), so the lookup touches neither the map
    /// nor a key of its own (at 1,000 sockets each is a cache miss per packet). The map keeps
    /// SipHash because a client fills it with names it picks (dynamic namespaces).
    fn socket_in(&self, nsp: &str) -> Option<&Socket> {
        debug_assert!(self.only_is_current(), "`only` out of step with the map");
        match &self.only {
            Some(socket) => (socket.nsp() == nsp).then_some(socket),
            None => self.sockets.get(nsp),
        }
    }

    /// Starts loading into the cache what a packet from the client touches: called as the
    /// connection's task wakes, before it reads, so that the loads overlap the read (at
    /// 1,000 sockets, each of these is otherwise a cache miss per packet).
    pub(crate) fn warm(&self) {
        if let Some(socket) = &self.only {
            socket.prefetch_whole();
        }
        crate::prefetch::prefetch(Arc::as_ptr(&self.spawner.shared));
        crate::prefetch::prefetch(self.running.as_ptr());
    }

    /// Adds `socket` under its namespace, returning the one it replaces.
    fn insert_socket(&mut self, socket: Socket) -> Option<Socket> {
        let earlier = self.sockets.insert(socket.nsp().to_owned(), socket);
        self.sockets_changed();
        earlier
    }

    fn remove_socket(&mut self, nsp: &str) -> Option<Socket> {
        let removed = self.sockets.remove(nsp);
        self.sockets_changed();
        removed
    }

    /// `only` is the map's one socket, or `None` when the map holds another number.
    fn only_is_current(&self) -> bool {
        match &self.only {
            Some(only) => {
                self.sockets.len() == 1
                    && self
                        .sockets
                        .get(only.nsp())
                        .is_some_and(|socket| socket.identity() == only.identity())
            }
            None => self.sockets.len() != 1,
        }
    }

    fn sockets_changed(&mut self) {
        self.only = match self.sockets.len() {
            1 => self.sockets.values().next().cloned(),
            _ => None,
        };
    }

    fn packet(&mut self, packet: Decoded) {
        match packet {
            Decoded::Connect { nsp, auth } => self.connect(nsp.into_owned(), auth),
            Decoded::Event {
                nsp,
                event,
                args,
                id,
            } => match self.socket_in(&nsp) {
                Some(socket) => {
                    // Run on this task without a round trip through the spawner: polled in
                    // the same wake-up, right after the message is handled.
                    if let Some(future) = socket.dispatch(event, args, id) {
                        self.running.push(future);
                    }
                }
                None => tracing::debug!(%nsp, "event for a namespace not joined"),
            },
            Decoded::Ack { nsp, id, args } => {
                if let Some(socket) = self.socket_in(&nsp) {
                    socket.inner.acks.resolve(id, args);
                }
            }
            Decoded::Disconnect { nsp } => {
                if let Some(socket) = self.remove_socket(&nsp) {
                    socket.closed(DisconnectReason::ClientNamespaceDisconnect);
                }
            }
        }
    }

    fn connect(&mut self, nsp: String, auth: Value) {
        if self.sockets.contains_key(&nsp) {
            tracing::debug!(%nsp, "already connected to this namespace");
            return;
        }
        let Some(claim) = self.io.claim_namespace(&nsp) else {
            let refusal = ConnectError::new("Invalid namespace");
            let packets = wire::connect_error(&nsp, &refusal, self.io.config.codec, self.protocol);
            for p in packets.iter() {
                let _ = self.conn.send(p.clone());
            }
            return;
        };
        let ns = Arc::clone(claim.namespace());
        self.connect_deadline = None;
        let handshake = Handshake {
            auth: auth.clone(),
            request: Arc::clone(&self.request),
        };
        let recovery = ns.local.recovery();
        let fresh = SocketIdentity {
            id: crate::io::socket_id(),
            pid: recovery.map(|_| crate::io::socket_id()),
            recovered: false,
        };
        let restore = recovery.and_then(|_| recovery_request(&auth));
        if restore.is_none() && ns.setup().middleware.is_empty() {
            let socket = self.new_socket(fresh, &ns, handshake);
            self.insert_socket(socket.clone());
            // Handed over first: should the connection handler panic, the place is kept
            // rather than given back twice.
            claim.hand_to_socket();
            accept(socket, auth, None);
            return;
        }
        // Asynchronous: a recovery lookup, the middleware, or both.
        let skip_middleware = recovery.is_some_and(|r| r.skip_middlewares);
        let template = self.new_socket(fresh.clone(), &ns, handshake.clone());
        let (spawner, conn) = (self.spawner.clone(), self.conn.clone());
        let (codec, protocol) = (self.io.config.codec, self.protocol);
        self.spawner.spawn(Box::pin(async move {
            let restored = match restore {
                Some((pid, offset)) => ns
                    .adapter
                    .restore_session(&pid, &offset)
                    .await
                    .unwrap_or_else(|e| {
                        tracing::debug!(error = %e, "session not restored");
                        None
                    }),
                None => None,
            };
            let socket = match &restored {
                Some(found) => Socket::new(
                    SocketIdentity {
                        id: Arc::clone(&found.session.sid),
                        pid: Some(Arc::clone(&found.session.pid)),
                        recovered: true,
                    },
                    Arc::clone(&ns),
                    conn.clone(),
                    handshake,
                    spawner.clone(),
                    protocol,
                ),
                None => template,
            };
            if restored.is_none() || !skip_middleware {
                if let Err(refusal) = ns.run_middleware(&socket).await {
                    // Given back before the client hears of it: an empty dynamic namespace
                    // is gone by then.
                    drop(claim);
                    let packets = wire::connect_error(socket.nsp(), &refusal, codec, protocol);
                    for p in packets.iter() {
                        let _ = conn.send(p.clone());
                    }
                    return;
                }
            }
            if !spawner.attach(socket.clone()) {
                return;
            }
            claim.hand_to_socket();
            accept(socket, auth, restored);
        }));
    }

    fn new_socket(
        &self,
        identity: SocketIdentity,
        ns: &Arc<Namespace>,
        handshake: Handshake,
    ) -> Socket {
        Socket::new(
            identity,
            Arc::clone(ns),
            self.conn.clone(),
            handshake,
            self.spawner.clone(),
            self.protocol,
        )
    }

    /// Runs the handler futures and registers what they connected or disconnected.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) {
        if let Some(deadline) = self.connect_deadline.as_mut() {
            if deadline.as_mut().poll(cx).is_ready() {
                tracing::debug!(sid = %self.conn.sid(), "no namespace joined in time: closing");
                self.connect_deadline = None;
                self.conn.close();
            }
        }
        loop {
            let (new, attached, detached, close_all) = {
                let mut queue = lock(&self.spawner.shared);
                queue.waker = Some(cx.waker().clone());
                (
                    std::mem::take(&mut queue.futures),
                    std::mem::take(&mut queue.attached),
                    std::mem::take(&mut queue.detached),
                    std::mem::take(&mut queue.close_all),
                )
            };
            if new.is_empty() && attached.is_empty() && detached.is_empty() && !close_all {
                break;
            }
            for socket in attached {
                // A second CONNECT to a namespace whose first was still joining: the client
                // now holds the later socket, so the earlier one goes.
                if let Some(earlier) = self.insert_socket(socket) {
                    earlier.closed(DisconnectReason::ClientNamespaceDisconnect);
                }
            }
            for nsp in detached {
                self.remove_socket(&nsp);
            }
            if close_all {
                // The DISCONNECT packets go out before the close, which waits for them.
                for socket in self.sockets.values() {
                    socket.disconnect();
                }
                self.conn.close();
            }
            self.running.extend(new);
            self.poll_running(cx);
        }
        self.poll_running(cx);
    }

    fn poll_running(&mut self, cx: &mut Context<'_>) {
        self.running
            .retain_mut(|future| future.as_mut().poll(cx) == Poll::Pending);
    }

    pub(crate) fn close(&mut self, reason: DisconnectReason) {
        let attached = {
            let mut queue = lock(&self.spawner.shared);
            queue.closed = true;
            std::mem::take(&mut queue.attached)
        };
        self.only = None;
        // Joins that finished since the last poll are connected too.
        for socket in attached
            .into_iter()
            .chain(self.sockets.drain().map(|(_, s)| s))
        {
            socket.closed(reason);
        }
        // Disconnect handlers were queued: run them once (they cannot reach the client now).
        // A join among them that finishes later is refused by `attach`.
        let waker = futures_noop_waker();
        let mut cx = Context::from_waker(&waker);
        let queued = std::mem::take(&mut lock(&self.spawner.shared).futures);
        for mut future in queued {
            if future.as_mut().poll(&mut cx).is_pending() {
                tokio::spawn(future);
            }
        }
    }
}

/// The private session id and offset a client sends to recover its socket (both strings,
/// as Node requires).
fn recovery_request(auth: &Value) -> Option<(String, String)> {
    let Value::Object(auth) = auth else {
        return None;
    };
    let pid = auth.get("pid")?.as_str()?;
    let offset = auth.get("offset")?.as_str()?;
    Some((pid.to_owned(), offset.to_owned()))
}

/// Sends the CONNECT answer (and, for a recovered socket, its rooms, data and the packets
/// it missed), marks the socket connected and runs the connection handler.
fn accept(socket: Socket, auth: Value, restored: Option<RecoveredSession>) {
    socket.inner.ns.local.add(&socket);
    let missed = restored.map(|found| {
        socket.join(found.session.rooms);
        socket.restore_data(found.session.data);
        found.missed
    });
    socket.mark_connected();
    let packets = wire::connect(
        socket.nsp(),
        socket.id(),
        socket.pid(),
        socket.inner.ns.codec(),
        socket.protocol(),
    );
    let _ = socket.send_packets(&packets);
    for packet in missed.unwrap_or_default() {
        let packets = wire::event(
            socket.nsp(),
            &packet.event,
            &packet.args,
            None,
            socket.inner.ns.codec(),
        );
        let _ = socket.send_packets(&packets);
    }
    let on_connect = Arc::clone(&socket.inner.ns.setup().on_connect);
    let incoming = Incoming {
        args: vec![auth],
        ack: None,
    };
    if let Some(future) = on_connect(socket.clone(), incoming) {
        socket.inner.spawner.spawn(future);
    }
}

fn futures_noop_waker() -> Waker {
    Waker::noop().clone()
}
