//! One namespace's sockets and rooms on this server, and the operations every adapter
//! carries out on them.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use tokio::sync::mpsc;

use super::rooms::{read, write, RoomEvent, Rooms};
use super::{BroadcastOptions, BroadcastPacket, RecoveryConfig, SocketInfo};
use crate::server_events::{ServerEvent, ServerListeners};
use crate::socket::{Room, Socket};
use crate::value::Value;
use crate::wire::{self, Codec};

/// How far ahead of the receiver being served a broadcast prefetches the next receivers'
/// sockets, and (once those arrived) their mailboxes.
const PREFETCH_SOCKET_AHEAD: usize = 16;
const PREFETCH_MAILBOX_AHEAD: usize = 8;

/// A namespace's sockets and rooms on this server. Adapters get one per namespace and
/// carry out operations on this server's sockets through it (those from other servers
/// included). Cheap to clone.
#[derive(Clone)]
pub struct LocalNamespace {
    state: Arc<LocalState>,
}

struct LocalState {
    name: String,
    codec: Codec,
    recovery: Option<RecoveryConfig>,
    sockets: RwLock<HashMap<Arc<str>, Socket>>,
    rooms: Rooms,
    ack_ids: AtomicU64,
    server_listeners: Arc<ServerListeners>,
    room_listener: RwLock<Option<RoomListener>>,
    /// The adapter's own listener ([`LocalNamespace::watch_rooms`]), told before the
    /// application's.
    adapter_room_listener: RwLock<Option<RoomListener>>,
    /// Some task is telling the listener the queued room changes.
    telling: AtomicBool,
}

/// Told of every change in the namespace's rooms on this server.
pub(crate) type RoomListener = Arc<dyn Fn(&RoomEvent) + Send + Sync>;

impl std::fmt::Debug for LocalNamespace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalNamespace")
            .field("name", &self.state.name)
            .finish_non_exhaustive()
    }
}

impl LocalNamespace {
    pub(crate) fn new(
        name: String,
        codec: Codec,
        recovery: Option<RecoveryConfig>,
        server_listeners: Arc<ServerListeners>,
    ) -> Self {
        Self {
            state: Arc::new(LocalState {
                name,
                codec,
                recovery,
                sockets: RwLock::new(HashMap::new()),
                rooms: Rooms::default(),
                ack_ids: AtomicU64::new(0),
                server_listeners,
                room_listener: RwLock::new(None),
                adapter_room_listener: RwLock::new(None),
                telling: AtomicBool::new(false),
            }),
        }
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.state.name
    }

    /// The connection-state recovery settings, when it is enabled.
    pub fn recovery(&self) -> Option<RecoveryConfig> {
        self.state.recovery
    }

    /// How many sockets are connected to this server.
    pub fn len(&self) -> usize {
        read(&self.state.sockets).len()
    }

    /// Whether no socket is connected to this server.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every room with a member on this server (socket ids included).
    pub fn rooms(&self) -> HashSet<Room> {
        self.state.rooms.all()
    }

    /// Whether `room` has a member on this server (a socket id is a room of its own).
    pub fn has_room(&self, room: &str) -> bool {
        self.state.rooms.contains(room)
    }

    /// An event another server sent this namespace: runs this server's listener of it
    /// ([`crate::ServerEvents::on`]) on a task of its own; without one, the event is dropped.
    pub fn server_event(&self, event: ServerEvent) {
        self.state
            .server_listeners
            .dispatch(&self.state.name, event);
    }

    /// The local socket with this id.
    pub fn socket(&self, id: &str) -> Option<Socket> {
        read(&self.state.sockets).get(id).cloned()
    }

    pub(crate) fn codec(&self) -> Codec {
        self.state.codec
    }

    pub(crate) fn next_ack_id(&self) -> u64 {
        self.state.ack_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// Replaces the listener of room changes ([`crate::SocketIo::on_room_event`]).
    pub(crate) fn set_room_listener(&self, listener: RoomListener) {
        *write(&self.state.room_listener) = Some(listener);
    }

    /// Calls `listener` for every change in the namespace's rooms on this server, as
    /// [`crate::SocketIo::on_room_event`] does for the application (whose listener it does
    /// not replace; this one is told first), replacing an earlier one. For adapters that
    /// follow the rooms, such as a sharded one that subscribes to a channel per room while the
    /// room has members here. It runs on the task that changed the rooms: keep it short.
    pub fn watch_rooms(&self, listener: impl Fn(&RoomEvent) + Send + Sync + 'static) {
        *write(&self.state.adapter_room_listener) = Some(Arc::new(listener));
    }

    /// Makes a change to the rooms, then tells the listeners, if any, of what changed once
    /// the rooms are unlocked (they may look at them, or change them).
    fn change_rooms(&self, change: impl FnOnce(&Rooms, bool)) {
        let adapter = read(&self.state.adapter_room_listener).clone();
        let application = read(&self.state.room_listener).clone();
        if adapter.is_none() && application.is_none() {
            return change(&self.state.rooms, false);
        }
        change(&self.state.rooms, true);
        self.tell_room_events(&|event: &RoomEvent| {
            for listener in [&adapter, &application].into_iter().flatten() {
                listener(event);
            }
        });
    }

    /// Tells the listener every queued change, one task at a time, so that it hears them in
    /// the order they were made even when sockets on several tasks change rooms at once. A
    /// task that finds another telling leaves its changes to it (which is also how a
    /// listener that changes rooms itself hears its own changes: after the current one).
    fn tell_room_events(&self, listener: &(dyn Fn(&RoomEvent) + Send + Sync)) {
        struct Told<'a>(&'a AtomicBool);
        impl Drop for Told<'_> {
            fn drop(&mut self) {
                self.0.store(false, Ordering::Release);
            }
        }
        let rooms = &self.state.rooms;
        loop {
            if self.state.telling.swap(true, Ordering::AcqRel) {
                return;
            }
            {
                // Cleared however the listener returns, a panic included.
                let _told = Told(&self.state.telling);
                while let Some(event) = rooms.next_event() {
                    listener(&event);
                }
            }
            // A change queued after the last look, by a task that saw this one telling.
            if !rooms.has_events() {
                return;
            }
        }
    }

    /// Adds a socket that passed the middleware; it joins the room of its own id.
    pub(crate) fn add(&self, socket: &Socket) {
        let id = Arc::clone(&socket.inner.id);
        write(&self.state.sockets).insert(Arc::clone(&id), socket.clone());
        self.change_rooms(|rooms, record| rooms.join(&id, &[Arc::clone(&id)], record));
    }

    pub(crate) fn remove(&self, socket: &Socket) {
        write(&self.state.sockets).remove(&socket.inner.id);
        self.change_rooms(|rooms, record| rooms.leave_all(&socket.inner.id, record));
    }

    pub(crate) fn join(&self, id: &Arc<str>, rooms: &[Room]) {
        self.change_rooms(|all, record| all.join(id, rooms, record));
    }

    pub(crate) fn leave(&self, id: &Arc<str>, rooms: &[Room]) {
        self.change_rooms(|all, record| all.leave(id, rooms, record));
    }

    pub(crate) fn rooms_of(&self, id: &str) -> HashSet<Room> {
        self.state.rooms.rooms_of(id)
    }

    /// Calls `f` on every connected socket `opts` selects.
    ///
    /// A broadcast's cost is memory latency: each receiver's socket and mailbox sit on cache
    /// lines nobody touched since its last packet. So the receivers are listed first (touching
    /// only the sockets map), excluded sockets are matched by identity rather than by hashing
    /// their ids (whose bytes are elsewhere), and the walk prefetches the receivers ahead.
    pub(crate) fn for_each(&self, opts: &BroadcastOptions, mut f: impl FnMut(&Socket)) {
        let sockets = read(&self.state.sockets);
        // Nearly always empty or the sender alone (`socket.broadcast()`): a binary search of a
        // sorted list costs a compare or two per receiver, where hashing each receiver's
        // identity cost a tenth of a broadcast's instructions.
        let mut excluded: Vec<*const ()> = self
            .state
            .rooms
            .members(&opts.except)
            .iter()
            .filter_map(|id| sockets.get(id))
            .map(Socket::identity)
            .collect();
        excluded.sort_unstable();
        let is_excluded = |socket: &Socket| excluded.binary_search(&socket.identity()).is_ok();
        let selected: Vec<&Socket> = if opts.rooms.is_empty() {
            sockets.values().filter(|s| !is_excluded(s)).collect()
        } else {
            let members = self.state.rooms.members(&opts.rooms);
            members
                .iter()
                .filter_map(|id| sockets.get(id))
                .filter(|s| !is_excluded(s))
                .collect()
        };
        for (i, socket) in selected.iter().enumerate() {
            if let Some(ahead) = selected.get(i + PREFETCH_SOCKET_AHEAD) {
                ahead.prefetch();
            }
            if let Some(ahead) = selected.get(i + PREFETCH_MAILBOX_AHEAD) {
                ahead.prefetch_mailbox();
            }
            if socket.connected() {
                f(socket);
            }
        }
    }

    /// The selected sockets, cloned out so no lock is held while acting on them.
    pub(crate) fn select(&self, opts: &BroadcastOptions) -> Vec<Socket> {
        let mut out = Vec::new();
        self.for_each(opts, |s| out.push(s.clone()));
        out
    }

    /// Sends `packet` to the selected sockets of this server, encoded once; returns how
    /// many it was queued for.
    pub fn broadcast(&self, packet: &BroadcastPacket, opts: &BroadcastOptions) -> usize {
        let packets = wire::event(
            self.name(),
            &packet.event,
            &packet.args,
            None,
            self.state.codec,
        )
        .compressed(!opts.flags.uncompressed);
        let mut count = 0;
        let mut listening = Vec::new();
        self.for_each(opts, |socket| {
            deliver(socket, &packets, opts.flags.volatile);
            if socket.has_outgoing_listener() {
                listening.push(socket.clone());
            }
            count += 1;
        });
        // Outside the sockets lock: a listener may broadcast or join rooms itself.
        for socket in listening {
            socket.notify_outgoing(&packet.event, &packet.args);
        }
        count
    }

    /// Sends `packet` to the selected sockets of this server asking each for an
    /// acknowledgement; the answers come through the returned [`LocalAcks`].
    pub fn broadcast_with_ack(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
    ) -> LocalAcks {
        let id = self.next_ack_id();
        let packets = wire::event(
            self.name(),
            &packet.event,
            &packet.args,
            Some(id),
            self.state.codec,
        )
        .compressed(!opts.flags.uncompressed);
        let (tx, rx) = mpsc::unbounded_channel();
        let mut asked = Vec::new();
        self.for_each(opts, |socket| {
            socket.inner.acks.register_many(id, tx.clone());
            deliver(socket, &packets, opts.flags.volatile);
            asked.push(socket.clone());
        });
        for socket in asked.iter().filter(|s| s.has_outgoing_listener()) {
            socket.notify_outgoing(&packet.event, &packet.args);
        }
        LocalAcks { id, rx, asked }
    }

    /// Describes the selected sockets of this server.
    pub fn fetch_sockets(&self, opts: &BroadcastOptions) -> Vec<SocketInfo> {
        self.select(opts).iter().map(Socket::info).collect()
    }

    /// Makes the selected sockets of this server join `rooms`.
    pub fn add_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for socket in self.select(opts) {
            socket.join(rooms.to_vec());
        }
    }

    /// Makes the selected sockets of this server leave `rooms`.
    pub fn del_sockets(&self, opts: &BroadcastOptions, rooms: &[Room]) {
        for socket in self.select(opts) {
            socket.leave(rooms.to_vec());
        }
    }

    /// Disconnects the selected sockets of this server; with `close`, their connections too
    /// (each client is told first, as Node's `disconnectSockets(true)`).
    pub fn disconnect_sockets(&self, opts: &BroadcastOptions, close: bool) {
        for socket in self.select(opts) {
            if close {
                socket.disconnect_and_close();
            } else {
                socket.disconnect();
            }
        }
    }
}

fn deliver(socket: &Socket, packets: &wire::Packets, volatile: bool) {
    if volatile {
        socket.send_volatile(packets);
    } else {
        let _ = socket.send_packets(packets);
    }
}

/// The acknowledgements of a broadcast on this server, as they arrive. Dropping it stops
/// waiting: the receivers' pending entries are forgotten.
#[derive(Debug)]
pub struct LocalAcks {
    id: u64,
    rx: mpsc::UnboundedReceiver<Vec<Value>>,
    asked: Vec<Socket>,
}

impl LocalAcks {
    /// How many sockets were asked.
    pub fn count(&self) -> usize {
        self.asked.len()
    }

    /// The next answer; `None` once every receiver answered or disconnected.
    pub async fn next(&mut self) -> Option<Vec<Value>> {
        self.rx.recv().await
    }

    /// Every answer that arrives within `timeout` (all of this server's part of a broadcast).
    pub async fn gather(mut self, timeout: std::time::Duration) -> super::BroadcastAcks {
        let mut out = super::BroadcastAcks {
            responses: Vec::with_capacity(self.count()),
            expected: self.count(),
        };
        let deadline = tokio::time::Instant::now() + timeout;
        while out.responses.len() < out.expected {
            match tokio::time::timeout_at(deadline, self.next()).await {
                Ok(Some(args)) => out.responses.push(args),
                // Every other receiver disconnected, or time is up.
                Ok(None) | Err(_) => break,
            }
        }
        out
    }
}

impl Drop for LocalAcks {
    fn drop(&mut self) {
        for socket in &self.asked {
            socket.inner.acks.forget(self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Mutex, PoisonError};

    /// An empty namespace `/`.
    fn namespace() -> LocalNamespace {
        LocalNamespace::new(
            "/".into(),
            Codec::Text,
            None,
            Arc::new(ServerListeners::default()),
        )
    }

    /// An adapter's watcher and the application's listener both hear every change, the
    /// adapter's first; setting one does not replace the other.
    #[test]
    fn the_adapter_s_watcher_and_the_application_s_listener_both_hear() {
        let local = namespace();
        let heard = Arc::new(Mutex::new(Vec::<String>::new()));
        let (a, b) = (Arc::clone(&heard), Arc::clone(&heard));
        local.watch_rooms(move |event| {
            a.lock().unwrap().push(format!("adapter {event:?}"));
        });
        local.set_room_listener(Arc::new(move |event: &RoomEvent| {
            b.lock().unwrap().push(format!("app {event:?}"));
        }));
        let id: Arc<str> = Arc::from("s");
        local.join(&id, &[Arc::from("r")]);
        local.leave(&id, &[Arc::from("r")]);
        let heard = heard.lock().unwrap().clone();
        let want: Vec<String> = [
            r#"Created("r")"#,
            r#"Joined { room: "r", id: "s" }"#,
            r#"Left { room: "r", id: "s" }"#,
            r#"Deleted("r")"#,
        ]
        .iter()
        .flat_map(|e| [format!("adapter {e}"), format!("app {e}")])
        .collect();
        assert_eq!(heard, want);
    }

    /// Sockets on four threads join and leave one room over and over: the listener must
    /// hear a consistent story (created when empty, deleted when emptied, every join and
    /// leave between), which needs the changes told in the order they were made.
    #[test]
    fn room_changes_on_many_threads_are_told_in_order() {
        let local = namespace();
        let members = Arc::new(Mutex::new(None::<usize>));
        let errors = Arc::new(Mutex::new(Vec::<String>::new()));
        let (seen, bad) = (Arc::clone(&members), Arc::clone(&errors));
        local.set_room_listener(Arc::new(move |event: &RoomEvent| {
            // A listener that takes a moment: listeners running side by side would enter
            // the lock below out of order.
            for _ in 0..200 {
                std::hint::spin_loop();
            }
            let mut members = seen.lock().unwrap_or_else(PoisonError::into_inner);
            let wrong = match (event, *members) {
                (RoomEvent::Created(_), None) => {
                    *members = Some(0);
                    None
                }
                (RoomEvent::Joined { .. }, Some(n)) => {
                    *members = Some(n + 1);
                    None
                }
                (RoomEvent::Left { .. }, Some(n)) if n > 0 => {
                    *members = Some(n - 1);
                    None
                }
                (RoomEvent::Deleted(_), Some(0)) => {
                    *members = None;
                    None
                }
                (event, state) => Some(format!("{event:?} with {state:?} members")),
            };
            if let Some(wrong) = wrong {
                bad.lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push(wrong);
            }
        }));
        let room: Room = Arc::from("x");
        let threads: Vec<_> = (0..4)
            .map(|t| {
                let (local, room) = (local.clone(), Arc::clone(&room));
                std::thread::spawn(move || {
                    let id: Arc<str> = Arc::from(format!("socket-{t}"));
                    for _ in 0..2_000 {
                        local.join(&id, std::slice::from_ref(&room));
                        local.leave(&id, std::slice::from_ref(&room));
                    }
                })
            })
            .collect();
        for thread in threads {
            thread.join().expect("no panic");
        }
        let errors = errors.lock().unwrap_or_else(PoisonError::into_inner);
        assert!(
            errors.is_empty(),
            "{} inconsistent, first: {:?}",
            errors.len(),
            errors.first()
        );
        assert_eq!(
            *members.lock().unwrap_or_else(PoisonError::into_inner),
            None
        );
        assert!(!local.has_room("x"));
    }
}
