//! Namespaces: their middleware and connection handler, their sockets, their adapter.

use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock, Weak};

use crate::adapter::{Adapter, LocalNamespace};
use crate::handler::ErasedHandler;
use crate::io::IoInner;
use crate::socket::Socket;
use crate::state::StateMap;
use crate::value::Value;
use crate::wire::Codec;

/// Refuses a connection: the client's `connect_error` gets `message` and `data`.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectError {
    /// The error's message (`err.message` on the client).
    pub message: String,
    /// Extra data (`err.data` on the client).
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            data: None,
        }
    }

    /// Adds data for the client.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}

/// A connection middleware, run in order before the connection handler.
pub(crate) type Middleware = Arc<
    dyn Fn(Socket) -> std::pin::Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send>>
        + Send
        + Sync,
>;

/// What a namespace does with connections: set up once, shared by its instances.
#[derive(Clone)]
pub(crate) struct NamespaceSetup {
    pub(crate) on_connect: ErasedHandler,
    pub(crate) middleware: Vec<Middleware>,
}

/// One namespace: what it does with connections, its sockets on this server, and the
/// adapter its broadcasts go through.
pub struct Namespace {
    /// Replaced when the application sets the namespace up again; its sockets, rooms and
    /// adapter stay.
    setup: RwLock<Arc<NamespaceSetup>>,
    /// The application's state, shared by every namespace of the server.
    pub(crate) state: Arc<StateMap>,
    pub(crate) local: LocalNamespace,
    pub(crate) adapter: Arc<dyn Adapter>,
    /// Sockets joining (in middleware) or connected. Raised only under the server's lock
    /// of its namespaces, which removal holds while it checks for zero.
    pub(crate) members: AtomicUsize,
    /// The server, which removes the namespace once empty when it is `removable`.
    io: Weak<IoInner>,
    /// A dynamic namespace with [`crate::Config::cleanup_empty_child_namespaces`]; cleared
    /// when the application sets the namespace up by its name (`io.ns`): then it stays.
    removable: AtomicBool,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name())
            .finish_non_exhaustive()
    }
}

impl Namespace {
    /// A namespace of server `io`; `removable` once empty (see [`Namespace::leave`]).
    pub(crate) fn new(
        name: String,
        setup: NamespaceSetup,
        io: &Arc<IoInner>,
        removable: bool,
    ) -> Self {
        let config = &io.config;
        let local = LocalNamespace::new(
            name,
            config.codec,
            config.connection_state_recovery,
            Arc::clone(&io.server_listeners),
        );
        let adapter = io.adapters.create(local.clone());
        Self {
            setup: RwLock::new(Arc::new(setup)),
            state: Arc::clone(&io.state),
            local,
            adapter,
            members: AtomicUsize::new(0),
            io: Arc::downgrade(io),
            removable: AtomicBool::new(removable),
        }
    }

    /// Whether the namespace goes once empty (see [`Namespace::leave`]).
    pub(crate) fn removable(&self) -> bool {
        self.removable.load(Ordering::Acquire)
    }

    /// Keeps the namespace when it empties: the application set it up by name.
    pub(crate) fn keep(&self) {
        self.removable.store(false, Ordering::Release);
    }

    /// A member (a joining or connected socket) left: the last one out removes a removable
    /// namespace.
    pub(crate) fn leave(self: &Arc<Self>) {
        let before = self.members.fetch_sub(1, Ordering::AcqRel);
        debug_assert_ne!(before, 0, "a namespace member left twice");
        if before != 1 || !self.removable() {
            return;
        }
        if let Some(io) = self.io.upgrade() {
            io.remove_if_empty(self);
        }
    }

    /// What the namespace does with connections now.
    pub(crate) fn setup(&self) -> Arc<NamespaceSetup> {
        Arc::clone(&crate::adapter::read(&self.setup))
    }

    /// New middleware and connection handler for the connections to come (Node's
    /// `io.of(name)` gives the existing namespace too).
    pub(crate) fn set_up(&self, setup: NamespaceSetup) {
        *crate::adapter::write(&self.setup) = Arc::new(setup);
    }

    /// The namespace's name (`/`, `/chat`, ...).
    pub fn name(&self) -> &str {
        self.local.name()
    }

    /// Sockets connected to this server.
    pub fn len(&self) -> usize {
        self.local.len()
    }

    /// Whether no socket is connected to this server.
    pub fn is_empty(&self) -> bool {
        self.local.is_empty()
    }

    pub(crate) fn codec(&self) -> Codec {
        self.local.codec()
    }

    /// Runs the middleware in order; the first refusal wins.
    pub(crate) fn run_middleware(&self, socket: &Socket) -> MiddlewareFuture {
        let middleware = self.setup().middleware.clone();
        let socket = socket.clone();
        Box::pin(async move {
            for m in middleware {
                m(socket.clone()).await?;
            }
            Ok(())
        })
    }
}

pub(crate) type MiddlewareFuture =
    std::pin::Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send + 'static>>;
