//! Namespaces: their sockets, their rooms index, their middleware and connection handler.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use crate::handler::ErasedHandler;
use crate::socket::{Room, Socket};
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

/// One namespace.
pub struct Namespace {
    name: String,
    pub(crate) setup: NamespaceSetup,
    pub(crate) codec: Codec,
    sockets: RwLock<HashMap<Arc<str>, Socket>>,
    rooms: Rooms,
    ack_ids: AtomicU64,
}

impl std::fmt::Debug for Namespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Namespace")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Namespace {
    pub(crate) fn new(name: String, setup: NamespaceSetup, codec: Codec) -> Self {
        Self {
            name,
            setup,
            codec,
            sockets: RwLock::new(HashMap::new()),
            rooms: Rooms::default(),
            ack_ids: AtomicU64::new(0),
        }
    }

    /// The namespace's name (`/`, `/chat`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Connected sockets.
    pub fn len(&self) -> usize {
        read(&self.sockets).len()
    }

    /// Whether no socket is connected.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    pub(crate) fn rooms(&self) -> &Rooms {
        &self.rooms
    }

    /// Adds a socket that passed the middleware; it joins the room of its own id.
    pub(crate) fn add(&self, socket: &Socket) {
        let id = Arc::clone(&socket.inner.id);
        write(&self.sockets).insert(Arc::clone(&id), socket.clone());
        self.rooms.join(&id, vec![Arc::clone(&id)]);
    }

    pub(crate) fn remove(&self, socket: &Socket) {
        write(&self.sockets).remove(&socket.inner.id);
        self.rooms.leave_all(&socket.inner.id);
    }

    /// Calls `f` on every socket selected by `rooms` (all when empty) minus those in
    /// `except` (rooms or socket ids, which are rooms too).
    pub(crate) fn for_each_target(
        &self,
        rooms: &[Room],
        except: &[Room],
        mut f: impl FnMut(&Socket),
    ) {
        let sockets = read(&self.sockets);
        let excluded = self.rooms.members(except);
        if rooms.is_empty() {
            for (id, socket) in sockets.iter() {
                if !excluded.contains(id) {
                    f(socket);
                }
            }
        } else {
            for id in self.rooms.members(rooms) {
                if excluded.contains(&id) {
                    continue;
                }
                if let Some(socket) = sockets.get(&id) {
                    f(socket);
                }
            }
        }
    }

    /// Runs the middleware in order; the first refusal wins.
    pub(crate) fn run_middleware(&self, socket: &Socket) -> BoxFuture2 {
        let middleware = self.setup.middleware.clone();
        let socket = socket.clone();
        Box::pin(async move {
            for m in middleware {
                m(socket.clone()).await?;
            }
            Ok(())
        })
    }
}

pub(crate) type BoxFuture2 =
    std::pin::Pin<Box<dyn Future<Output = Result<(), ConnectError>> + Send + 'static>>;

/// The rooms index: room → members and member → rooms, so joins, leaves and fan-out never
/// scan every socket.
#[derive(Debug, Default)]
pub(crate) struct Rooms {
    inner: RwLock<RoomsInner>,
}

#[derive(Debug, Default)]
struct RoomsInner {
    members: HashMap<Room, HashSet<Arc<str>>>,
    of_socket: HashMap<Arc<str>, HashSet<Room>>,
}

impl Rooms {
    pub(crate) fn join(&self, id: &Arc<str>, rooms: Vec<Room>) {
        let mut inner = write(&self.inner);
        for room in rooms {
            inner
                .members
                .entry(Arc::clone(&room))
                .or_default()
                .insert(Arc::clone(id));
            inner
                .of_socket
                .entry(Arc::clone(id))
                .or_default()
                .insert(room);
        }
    }

    pub(crate) fn leave(&self, id: &Arc<str>, rooms: &[Room]) {
        let mut inner = write(&self.inner);
        for room in rooms {
            if let Some(members) = inner.members.get_mut(room) {
                members.remove(id);
                if members.is_empty() {
                    inner.members.remove(room);
                }
            }
            if let Some(of) = inner.of_socket.get_mut(id) {
                of.remove(room);
            }
        }
    }

    pub(crate) fn leave_all(&self, id: &Arc<str>) {
        let rooms: Vec<Room> = read(&self.inner)
            .of_socket
            .get(id)
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        self.leave(id, &rooms);
        write(&self.inner).of_socket.remove(id);
    }

    pub(crate) fn rooms_of(&self, id: &str) -> HashSet<Room> {
        read(&self.inner)
            .of_socket
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// The members of any of `rooms`.
    pub(crate) fn members(&self, rooms: &[Room]) -> HashSet<Arc<str>> {
        let inner = read(&self.inner);
        let mut out = HashSet::new();
        for room in rooms {
            if let Some(members) = inner.members.get(room) {
                out.extend(members.iter().cloned());
            }
        }
        out
    }
}

fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}
