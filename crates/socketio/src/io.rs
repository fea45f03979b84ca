//! The server handle: namespaces, broadcast, and the Engine.IO glue.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::task::Context;
use std::time::Duration;

use http::{Request, Response};
use switchboard_engineio::{CloseReason, Message};
use switchboard_ws_tokio::Transport;

use crate::adapter::{read, write, AdapterFactory, MemoryAdapter, RecoveryConfig, RoomEvent};
use crate::broadcast::{BroadcastOperator, IntoRooms};
use crate::client::Client;
use crate::engine::{Body, ConnHandle, Engine, EngineApp, EngineConfig, RequestInfo};
use crate::handler::{erase, Handler};
use crate::namespace::{ConnectError, Middleware, Namespace, NamespaceSetup};
use crate::server_events::{ServerEvents, ServerListeners};
use crate::socket::Socket;
use crate::state::StateMap;
use crate::wire::Codec;

/// Server settings, with Node's defaults.
#[derive(Debug, Clone)]
pub struct Config {
    /// Engine.IO settings (ping interval, timeouts, `maxHttpBufferSize`, transports, CORS...).
    pub engine: EngineConfig,
    /// A client that joins no namespace within this time is disconnected (Node's
    /// `connectTimeout`, 45 s).
    pub connect_timeout: Duration,
    /// The packet format: Node's default parser, or `socket.io-msgpack-parser`'s.
    pub codec: Codec,
    /// Most binary attachments in one packet.
    pub max_attachments: usize,
    /// Connection-state recovery (Node's `connectionStateRecovery`, off by default): a
    /// client whose connection drops gets its socket id, rooms, data and the packets it
    /// missed back when it reconnects in time.
    pub connection_state_recovery: Option<RecoveryConfig>,
    /// Removes a dynamic namespace once its last socket has left (Node's
    /// `cleanupEmptyChildNamespaces`, off by default), closing its adapter: without it, every
    /// name a client ever joined keeps a namespace and an adapter (with Redis, its
    /// subscriptions) for the server's life. A socket still in middleware counts as a
    /// member. What the namespace held goes with it, as in Node: its room listener, its
    /// adapter's hearing of other servers ([`SocketIo::server_events`]), and with
    /// connection-state recovery the sessions the in-memory adapter kept. A client joining
    /// the name again, or `io.to`/`server_events` using it, makes a fresh namespace (one no
    /// socket ever joins stays). Namespaces set up by name (`io.ns`) stay, and none is
    /// removed once [`SocketIo::shutdown`] has begun.
    pub cleanup_empty_child_namespaces: bool,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            engine: EngineConfig::default(),
            connect_timeout: Duration::from_secs(45),
            codec: Codec::Text,
            max_attachments: 10,
            connection_state_recovery: None,
            cleanup_empty_child_namespaces: false,
        }
    }
}

/// Decides whether a dynamic namespace name is served.
type NamespaceMatcher = Arc<dyn Fn(&str) -> bool + Send + Sync>;

pub(crate) struct IoInner {
    pub(crate) config: Config,
    pub(crate) adapters: Arc<dyn AdapterFactory>,
    namespaces: RwLock<HashMap<String, Arc<Namespace>>>,
    dynamic: RwLock<Vec<(NamespaceMatcher, NamespaceSetup)>>,
    pub(crate) server_listeners: Arc<ServerListeners>,
    pub(crate) state: Arc<StateMap>,
    /// Set by [`SocketIo::shutdown`]: namespaces stay, for `close` to flush their adapters.
    shutting_down: AtomicBool,
}

impl IoInner {
    /// Namespace `name` for a socket that is joining it, created from a matching dynamic
    /// pattern when needed. The socket counts among the namespace's members (so an empty
    /// dynamic namespace is not removed under it) until the claim is dropped or handed to
    /// the connected socket.
    pub(crate) fn claim_namespace(self: &Arc<Self>, name: &str) -> Option<NamespaceClaim> {
        // Counted under the map's lock, which removal holds while it checks the count.
        let count = |ns: &Arc<Namespace>| {
            ns.members.fetch_add(1, Ordering::AcqRel);
            NamespaceClaim::new(Arc::clone(ns))
        };
        self.lookup(name, count)
    }

    /// The namespace named `name`, created from a matching dynamic pattern when needed.
    fn namespace_for(self: &Arc<Self>, name: &str) -> Option<Arc<Namespace>> {
        self.lookup(name, Arc::clone)
    }

    /// Calls `found` on namespace `name` (created from a matching dynamic pattern when
    /// needed) while the namespaces are locked.
    fn lookup<T>(
        self: &Arc<Self>,
        name: &str,
        found: impl FnOnce(&Arc<Namespace>) -> T,
    ) -> Option<T> {
        if let Some(ns) = read(&self.namespaces).get(name) {
            return Some(found(ns));
        }
        let setup = read(&self.dynamic)
            .iter()
            .find(|(matches, _)| matches(name))
            .map(|(_, setup)| setup.clone())?;
        Some(self.create(name, setup, true, found))
    }

    /// Calls `found` on namespace `name`, made with `setup` unless another task made it
    /// first, while the namespaces are locked; `child` when made from a dynamic pattern
    /// (removable once empty, with [`Config::cleanup_empty_child_namespaces`]).
    fn create<T>(
        self: &Arc<Self>,
        name: &str,
        setup: NamespaceSetup,
        child: bool,
        found: impl FnOnce(&Arc<Namespace>) -> T,
    ) -> T {
        let removable = child && self.config.cleanup_empty_child_namespaces;
        let mut namespaces = write(&self.namespaces);
        let ns = namespaces
            .entry(name.to_owned())
            .or_insert_with(|| Arc::new(Namespace::new(name.to_owned(), setup, self, removable)));
        found(ns)
    }

    /// The namespace named `name`, created when it does not exist yet (as Node's `io.of`):
    /// from a matching dynamic pattern, or else with a connection handler that does nothing.
    pub(crate) fn namespace_or_create(self: &Arc<Self>, name: &str) -> Arc<Namespace> {
        if let Some(ns) = self.namespace_for(name) {
            return ns;
        }
        let setup = NamespaceSetup {
            on_connect: erase(|| async {}),
            middleware: Vec::new(),
        };
        self.create(name, setup, false, Arc::clone)
    }

    /// Removes `ns` if it is still this server's namespace of its name and has no member
    /// (none joined since its last one left), then closes its adapter.
    pub(crate) fn remove_if_empty(&self, ns: &Arc<Namespace>) {
        if self.shutting_down.load(Ordering::Acquire) {
            return;
        }
        let removed = {
            let mut namespaces = write(&self.namespaces);
            let current = namespaces
                .get(ns.name())
                .is_some_and(|found| Arc::ptr_eq(found, ns));
            let empty = ns.removable() && ns.members.load(Ordering::Acquire) == 0;
            current && empty && namespaces.remove(ns.name()).is_some()
        };
        if removed {
            tracing::debug!(nsp = ns.name(), "empty dynamic namespace removed");
            ns.adapter.close();
        }
    }
}

/// A joining socket's place among its namespace's members: given back when dropped (the
/// socket was refused, or its session ended while it was joining), unless handed to the
/// connected socket, which gives it back when it disconnects.
pub(crate) struct NamespaceClaim {
    ns: Arc<Namespace>,
    handed_over: bool,
}

impl NamespaceClaim {
    fn new(ns: Arc<Namespace>) -> Self {
        Self {
            ns,
            handed_over: false,
        }
    }

    pub(crate) fn namespace(&self) -> &Arc<Namespace> {
        &self.ns
    }

    /// The socket connected: [`Socket::closed`] gives the place back.
    pub(crate) fn hand_to_socket(mut self) {
        self.handed_over = true;
    }
}

impl Drop for NamespaceClaim {
    fn drop(&mut self) {
        if !self.handed_over {
            self.ns.leave();
        }
    }
}

/// A Socket.IO server. Cheap to clone; register namespaces with [`SocketIo::ns`], route
/// requests under `/socket.io/` to [`SocketIo::handle`] (or use [`crate::SocketIoLayer`]).
#[derive(Clone)]
pub struct SocketIo {
    inner: Arc<IoInner>,
    engine: Engine<SioApp>,
}

impl std::fmt::Debug for SocketIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SocketIo").finish_non_exhaustive()
    }
}

/// Configures one namespace: middleware, then the connection handler.
pub struct NamespaceBuilder {
    io: SocketIo,
    target: NamespaceTarget,
    middleware: Vec<Middleware>,
}

enum NamespaceTarget {
    Static(String),
    Dynamic(NamespaceMatcher),
}

impl NamespaceBuilder {
    /// Runs `middleware` for every connection before the handler; an `Err` refuses the
    /// connection and reaches the client as `connect_error` with its message and data.
    pub fn with<F, Fut>(mut self, middleware: F) -> Self
    where
        F: Fn(Socket) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), ConnectError>> + Send + 'static,
    {
        self.middleware
            .push(Arc::new(move |socket| Box::pin(middleware(socket))));
        self
    }

    /// Sets the connection handler and starts serving the namespace.
    pub fn on_connect<H: Handler<T>, T>(self, handler: H) {
        let setup = NamespaceSetup {
            on_connect: erase(handler),
            middleware: self.middleware,
        };
        let inner = &self.io.inner;
        match self.target {
            NamespaceTarget::Static(name) => {
                // An existing namespace (made by `io.to`, `server_events`, or an earlier
                // setup) keeps its sockets and its adapter: replacing it would leave two
                // adapters of one namespace, and its sockets in neither's rooms.
                let mut namespaces = write(&inner.namespaces);
                match namespaces.get(&name) {
                    Some(ns) => {
                        ns.set_up(setup);
                        ns.keep();
                    }
                    None => {
                        let ns = Arc::new(Namespace::new(name.clone(), setup, inner, false));
                        namespaces.insert(name, ns);
                    }
                }
            }
            NamespaceTarget::Dynamic(matcher) => write(&inner.dynamic).push((matcher, setup)),
        }
    }
}

impl SocketIo {
    /// A server with these settings and the in-memory adapter (one server).
    pub fn new(config: Config) -> Self {
        Self::with_adapter(config, MemoryAdapter::factory())
    }

    /// A server with these settings whose namespaces get their adapters from `adapters`
    /// (a cluster adapter, for example).
    pub fn with_adapter(config: Config, adapters: Arc<dyn AdapterFactory>) -> Self {
        let engine_config = config.engine.clone();
        let inner = Arc::new(IoInner {
            config,
            adapters,
            namespaces: RwLock::new(HashMap::new()),
            dynamic: RwLock::new(Vec::new()),
            server_listeners: Arc::default(),
            state: Arc::default(),
            shutting_down: AtomicBool::new(false),
        });
        let engine = Engine::new(
            engine_config,
            SioApp {
                io: Arc::clone(&inner),
            },
        );
        Self { inner, engine }
    }

    /// Makes `value` the application state of type `T`, for every handler of every
    /// namespace ([`crate::State`], [`Socket::state`]); replaces an earlier value of the type.
    /// Not the `SocketIo` itself, nor anything holding it (`ServerEvents`): the server would
    /// hold itself and never be freed.
    pub fn insert_state<T: Clone + Send + Sync + 'static>(&self, value: T) {
        self.inner.state.insert(value);
    }

    /// Serves namespace `name` with `handler` for each connection.
    pub fn ns<H: Handler<T>, T>(&self, name: &str, handler: H) {
        self.namespace(name).on_connect(handler);
    }

    /// A builder for namespace `name` (to add middleware first).
    pub fn namespace(&self, name: &str) -> NamespaceBuilder {
        NamespaceBuilder {
            io: self.clone(),
            target: NamespaceTarget::Static(normalize(name)),
            middleware: Vec::new(),
        }
    }

    /// A builder for every namespace whose name `matches` accepts (Node's dynamic
    /// namespaces, by pattern or predicate); each name gets its own namespace.
    pub fn dynamic_namespace<F>(&self, matches: F) -> NamespaceBuilder
    where
        F: Fn(&str) -> bool + Send + Sync + 'static,
    {
        NamespaceBuilder {
            io: self.clone(),
            target: NamespaceTarget::Dynamic(Arc::new(matches)),
            middleware: Vec::new(),
        }
    }

    /// Namespace `name`, if it exists (a dynamic one once a client has joined it, and with
    /// [`Config::cleanup_empty_child_namespaces`] until its last socket has left).
    pub fn of(&self, name: &str) -> Option<BroadcastOperator> {
        read(&self.inner.namespaces)
            .get(&normalize(name))
            .map(|ns| BroadcastOperator::new(Arc::clone(ns)))
    }

    fn main(&self) -> BroadcastOperator {
        BroadcastOperator::new(self.inner.namespace_or_create("/"))
    }

    /// Events between this server and the other servers of the cluster in namespace `name`
    /// (Node's `io.of(name).serverSideEmit` and `.on`). The namespace is created when it does
    /// not exist yet, as Node's `io.of` does, so its adapter hears the other servers (and
    /// clients can connect to it).
    pub fn server_events(&self, name: &str) -> ServerEvents {
        let name = normalize(name);
        self.inner.namespace_or_create(&name);
        ServerEvents::new(Arc::clone(&self.inner), name)
    }

    /// Calls `listener` for every change in the rooms of namespace `name` on this server
    /// (Node's adapter events `create-room`, `join-room`, `leave-room`, `delete-room`),
    /// replacing an earlier listener. A socket's own id is a room too, so connections and
    /// disconnections show. Events come one at a time, in the order the changes were made,
    /// right after them: on the task that made the change, or on another that was telling
    /// changes at that moment. Keep it short. The namespace is created when it does not
    /// exist yet, and clients can connect to it, as with Node's `io.of`.
    pub fn on_room_event<F>(&self, name: &str, listener: F)
    where
        F: Fn(&RoomEvent) + Send + Sync + 'static,
    {
        self.inner
            .namespace_or_create(&normalize(name))
            .local
            .set_room_listener(Arc::new(listener));
    }

    /// Sockets of the main namespace in `rooms`.
    pub fn to(&self, rooms: impl IntoRooms) -> BroadcastOperator {
        self.main().to(rooms)
    }

    /// Every socket of the main namespace.
    pub fn broadcast(&self) -> BroadcastOperator {
        self.main()
    }

    /// Closes every connection (reason `server shutting down`) and answers later handshakes
    /// `503 Service Unavailable`: for a stop, which cannot be undone. See
    /// [`close`](Self::close) to wait until they are closed.
    pub fn shutdown(&self) {
        self.inner.shutting_down.store(true, Ordering::Release);
        self.engine.shutdown();
    }

    /// Node's `io.close()`: closes every connection (reason `server shutting down`, after
    /// which a client can recover its session when [connection-state
    /// recovery](Config::connection_state_recovery) is on), refuses later handshakes, then
    /// resolves once every session has ended (its sockets disconnected, their
    /// `on_disconnecting` listeners run and their disconnect handlers started: an async
    /// handler may still be running, as in Node) and every namespace's adapter has sent what
    /// was queued for other servers until then (with the streams Redis adapter, the sessions
    /// just kept, so that clients recover on another server). Bound it with a timeout: an
    /// adapter waits as long as its Redis is unreachable.
    pub async fn close(&self) {
        self.shutdown();
        self.engine.closed().await;
        let adapters: Vec<_> = read(&self.inner.namespaces)
            .values()
            .map(|ns| Arc::clone(&ns.adapter))
            .collect();
        for adapter in adapters {
            if let Err(e) = adapter.flush().await {
                tracing::warn!(error = %e, "an adapter could not send what it queued");
            }
        }
    }

    /// Open Engine.IO sessions.
    pub fn sessions(&self) -> usize {
        self.engine.sessions()
    }

    /// Answers one request under the Socket.IO path. `S` is the connection's stream type
    /// (see [`Engine::handle`]).
    pub async fn handle<S, B>(&self, req: Request<B>) -> Response<Body>
    where
        S: Transport,
        B: hyper::body::Body + Send + 'static,
        B::Data: Send,
        B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    {
        self.engine.handle::<S, B>(req).await
    }

    /// Serves every connection `listener` accepts with this server alone (Node's
    /// `io.listen(port)`): HTTP/1.1 with upgrades, each request answered by
    /// [`handle`](Self::handle), with the peer's [`RemoteAddr`](crate::engine::RemoteAddr) for
    /// handshakes. To serve other routes beside it, mount [`SocketIoLayer`](crate::SocketIoLayer)
    /// in an axum or hyper app instead.
    ///
    /// # Errors
    /// Accepting failed (the listener is unusable); a failed connection only ends itself.
    pub async fn serve(&self, listener: tokio::net::TcpListener) -> std::io::Result<()> {
        use hyper::server::conn::http1;
        use hyper::service::service_fn;
        use hyper_util::rt::TokioIo;
        use tokio::net::TcpStream;

        loop {
            let (tcp, peer) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let io = self.clone();
            tokio::spawn(async move {
                let service = service_fn(move |mut req: Request<hyper::body::Incoming>| {
                    let io = io.clone();
                    req.extensions_mut().insert(crate::engine::RemoteAddr(peer));
                    async move {
                        Ok::<_, std::convert::Infallible>(io.handle::<TcpStream, _>(req).await)
                    }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    }
}

/// Node accepts namespace names with or without the leading slash.
fn normalize(name: &str) -> String {
    if name.starts_with('/') {
        name.to_owned()
    } else {
        format!("/{name}")
    }
}

/// A fresh socket id: 20 URL-safe characters, as Engine.IO session ids (but distinct).
pub(crate) fn socket_id() -> Arc<str> {
    Arc::from(switchboard_engineio::generate_sid())
}

/// The Engine.IO application: one [`Client`] per session.
pub(crate) struct SioApp {
    io: Arc<IoInner>,
}

impl EngineApp for SioApp {
    type Session = Client;

    fn open(&self, conn: ConnHandle, request: &RequestInfo) -> Client {
        Client::new(Arc::clone(&self.io), conn, request)
    }

    fn message(&self, client: &mut Client, message: Message) {
        client.message(message);
    }

    fn poll(&self, client: &mut Client, cx: &mut Context<'_>) {
        client.poll(cx);
    }

    fn warm(&self, client: &Client) {
        client.warm();
    }

    fn close(&self, mut client: Client, reason: CloseReason) {
        client.close(reason.into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(cleanup: bool) -> SocketIo {
        let io = SocketIo::new(Config {
            cleanup_empty_child_namespaces: cleanup,
            ..Config::default()
        });
        io.dynamic_namespace(|name| name.starts_with("/dyn-"))
            .on_connect(|| async {});
        io
    }

    fn claim(io: &SocketIo, name: &str) -> NamespaceClaim {
        io.inner.claim_namespace(name).expect("a matching name")
    }

    #[test]
    fn the_last_claim_given_back_removes_the_namespace() {
        let io = server(true);
        let (first, second) = (claim(&io, "/dyn-1"), claim(&io, "/dyn-1"));
        assert!(Arc::ptr_eq(first.namespace(), second.namespace()));
        drop(first);
        assert!(io.of("/dyn-1").is_some(), "a member is left");
        drop(second);
        assert!(io.of("/dyn-1").is_none());
        assert!(
            io.inner.claim_namespace("/other").is_none(),
            "no pattern matches"
        );
    }

    #[test]
    fn a_removal_decided_before_a_new_claim_keeps_the_namespace() {
        // A leaver that counted zero, then lost the lock to a joiner, finds a member.
        let io = server(true);
        let ns = Arc::clone(claim(&io, "/dyn-1").namespace());
        assert!(io.of("/dyn-1").is_none());
        let joiner = claim(&io, "/dyn-1");
        let stale = Arc::clone(joiner.namespace());
        assert!(
            !Arc::ptr_eq(&ns, &stale),
            "a fresh namespace after the removal"
        );
        io.inner.remove_if_empty(&stale);
        assert!(io.of("/dyn-1").is_some(), "kept for the joiner");
        // And a namespace removed earlier never takes the name from its successor.
        io.inner.remove_if_empty(&ns);
        assert!(io.of("/dyn-1").is_some());
    }

    #[test]
    fn claims_racing_on_two_threads_always_hold_the_kept_namespace() {
        let io = server(true);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| {
                    for _ in 0..20_000 {
                        let claim = claim(&io, "/dyn-1");
                        let kept = read(&io.inner.namespaces).get("/dyn-1").cloned();
                        assert!(
                            kept.is_some_and(|kept| Arc::ptr_eq(&kept, claim.namespace())),
                            "a claim on a removed namespace"
                        );
                    }
                });
            }
        });
        assert!(io.of("/dyn-1").is_none());
    }

    #[test]
    fn set_up_by_name_or_shutting_down_keeps_a_dynamic_namespace() {
        let io = server(true);
        let first = claim(&io, "/dyn-1");
        io.ns("/dyn-1", || async {});
        drop(first);
        assert!(io.of("/dyn-1").is_some(), "the application named it");
        let io = server(true);
        let first = claim(&io, "/dyn-2");
        io.shutdown();
        drop(first);
        assert!(
            io.of("/dyn-2").is_some(),
            "kept for close() to flush its adapter"
        );
    }

    #[test]
    fn without_the_option_or_for_a_static_name_nothing_is_removed() {
        let io = server(false);
        drop(claim(&io, "/dyn-1"));
        assert!(io.of("/dyn-1").is_some());
        let io = server(true);
        io.ns("/static", || async {});
        drop(claim(&io, "/static"));
        assert!(io.of("/static").is_some());
    }
}
