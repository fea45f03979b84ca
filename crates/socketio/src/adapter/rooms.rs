//! The rooms index of one namespace on this server: room → members and member → rooms, so
//! joins, leaves and fan-out never scan every socket.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, RwLock};

use crate::socket::{lock, Room};

/// A change in a namespace's rooms on this server (the events of Node's adapters). A
/// socket's id is a room of its own, so connecting and disconnecting make these too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoomEvent {
    /// The room got its first member (`create-room`).
    Created(Room),
    /// A socket joined the room (`join-room`).
    Joined {
        /// The room.
        room: Room,
        /// The socket's id.
        id: Room,
    },
    /// A socket left the room (`leave-room`).
    Left {
        /// The room.
        room: Room,
        /// The socket's id.
        id: Room,
    },
    /// The room lost its last member (`delete-room`).
    Deleted(Room),
}

/// Where the changes a call makes are written, when somebody listens.
type Events<'a> = Option<&'a mut Vec<RoomEvent>>;

fn record(events: &mut Events<'_>, event: impl FnOnce() -> RoomEvent) {
    if let Some(events) = events {
        events.push(event());
    }
}

#[derive(Debug, Default)]
pub(crate) struct Rooms {
    inner: RwLock<RoomsInner>,
    /// Changes not yet told to the listener, in the order they were made: each call queues
    /// its own before it lets go of the rooms.
    pending: Mutex<VecDeque<RoomEvent>>,
}

#[derive(Debug, Default)]
struct RoomsInner {
    members: HashMap<Room, HashSet<Arc<str>>>,
    of_socket: HashMap<Arc<str>, HashSet<Room>>,
}

impl RoomsInner {
    fn join(&mut self, id: &Arc<str>, rooms: &[Room], events: &mut Events<'_>) {
        for room in rooms {
            let members = match self.members.get_mut(room) {
                Some(members) => members,
                None => {
                    record(events, || RoomEvent::Created(Arc::clone(room)));
                    self.members.entry(Arc::clone(room)).or_default()
                }
            };
            if !members.insert(Arc::clone(id)) {
                continue;
            }
            record(events, || RoomEvent::Joined {
                room: Arc::clone(room),
                id: Arc::clone(id),
            });
            self.of_socket
                .entry(Arc::clone(id))
                .or_default()
                .insert(Arc::clone(room));
        }
    }

    fn leave(&mut self, id: &Arc<str>, rooms: &[Room], events: &mut Events<'_>) {
        for room in rooms {
            if self.members.get_mut(room).is_some_and(|m| m.remove(id)) {
                self.remove_member(room, id, events);
            }
            if let Some(of) = self.of_socket.get_mut(id) {
                of.remove(room);
            }
        }
    }

    fn leave_all(&mut self, id: &Arc<str>, events: &mut Events<'_>) {
        let Some(rooms) = self.of_socket.remove(id) else {
            return;
        };
        for room in rooms {
            if self.members.get_mut(&room).is_some_and(|m| m.remove(id)) {
                self.remove_member(&room, id, events);
            }
        }
    }

    /// `id` was just taken out of `room`'s members: records it, and drops the room if empty.
    fn remove_member(&mut self, room: &Room, id: &Arc<str>, events: &mut Events<'_>) {
        record(events, || RoomEvent::Left {
            room: Arc::clone(room),
            id: Arc::clone(id),
        });
        if self.members.get(room).is_some_and(HashSet::is_empty) {
            self.members.remove(room);
            record(events, || RoomEvent::Deleted(Arc::clone(room)));
        }
    }
}

impl Rooms {
    /// Makes a change under the write lock; with `record`, queues what it changed before
    /// letting go of the rooms, so that changes are queued in the order they were made.
    fn change(&self, record: bool, f: impl FnOnce(&mut RoomsInner, &mut Events<'_>)) {
        let mut inner = write(&self.inner);
        let mut events = record.then(Vec::new);
        f(&mut inner, &mut events.as_mut());
        if let Some(events) = events.filter(|e| !e.is_empty()) {
            lock(&self.pending).extend(events);
        }
    }

    /// The oldest change not yet told, if any.
    pub(crate) fn next_event(&self) -> Option<RoomEvent> {
        lock(&self.pending).pop_front()
    }

    /// Whether changes wait to be told.
    pub(crate) fn has_events(&self) -> bool {
        !lock(&self.pending).is_empty()
    }

    /// Joins `id` to `rooms`; with `record`, queues the changes (see [`Self::next_event`]).
    pub(crate) fn join(&self, id: &Arc<str>, rooms: &[Room], record: bool) {
        self.change(record, |inner, events| inner.join(id, rooms, events));
    }

    /// Takes `id` out of `rooms`; with `record`, queues the changes.
    pub(crate) fn leave(&self, id: &Arc<str>, rooms: &[Room], record: bool) {
        self.change(record, |inner, events| inner.leave(id, rooms, events));
    }

    /// Takes `id` out of every room; with `record`, queues the changes.
    pub(crate) fn leave_all(&self, id: &Arc<str>, record: bool) {
        self.change(record, |inner, events| inner.leave_all(id, events));
    }

    pub(crate) fn rooms_of(&self, id: &str) -> HashSet<Room> {
        read(&self.inner)
            .of_socket
            .get(id)
            .cloned()
            .unwrap_or_default()
    }

    /// Every room with a member.
    pub(crate) fn all(&self) -> HashSet<Room> {
        read(&self.inner).members.keys().cloned().collect()
    }

    /// Whether `room` has a member.
    pub(crate) fn contains(&self, room: &str) -> bool {
        read(&self.inner).members.contains_key(room)
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

pub(crate) fn read<T>(lock: &RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) fn write<T>(lock: &RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room(name: &str) -> Room {
        Arc::from(name)
    }

    #[test]
    fn members_follow_joins_and_leaves() {
        let rooms = Rooms::default();
        let (a, b) = (room("a"), room("b"));
        rooms.join(&a, &[room("x"), room("y")], false);
        rooms.join(&b, &[room("y")], false);
        assert_eq!(
            rooms.members(&[room("y")]),
            HashSet::from([a.clone(), b.clone()])
        );
        assert_eq!(rooms.members(&[room("x"), room("y")]).len(), 2);
        rooms.leave(&a, &[room("y")], false);
        assert_eq!(rooms.members(&[room("y")]), HashSet::from([b.clone()]));
        assert_eq!(rooms.rooms_of("a"), HashSet::from([room("x")]));
        rooms.leave_all(&b, false);
        assert!(rooms.members(&[room("y")]).is_empty());
        assert_eq!(rooms.all(), HashSet::from([room("x")]));
        rooms.leave_all(&a, false);
        assert!(rooms.all().is_empty(), "empty rooms are dropped");
        assert!(!rooms.has_events(), "nothing recorded without asking");
        assert!(rooms.rooms_of("a").is_empty());
    }

    #[test]
    fn changes_are_recorded_in_node_s_order() {
        use RoomEvent::{Created, Deleted, Joined, Left};
        let rooms = Rooms::default();
        let (a, b, x, y) = (room("a"), room("b"), room("x"), room("y"));
        let joined = |r: &Room, id: &Room| Joined {
            room: r.clone(),
            id: id.clone(),
        };
        let left = |r: &Room, id: &Room| Left {
            room: r.clone(),
            id: id.clone(),
        };
        let drain = || std::iter::from_fn(|| rooms.next_event()).collect::<Vec<_>>();
        rooms.join(&a, &[x.clone(), y.clone()], true);
        assert_eq!(
            drain(),
            [
                Created(x.clone()),
                joined(&x, &a),
                Created(y.clone()),
                joined(&y, &a)
            ]
        );
        // An existing room, and a room the socket is already in: one event.
        rooms.join(&b, std::slice::from_ref(&y), true);
        rooms.join(&a, std::slice::from_ref(&y), true);
        assert_eq!(drain(), [joined(&y, &b)]);
        // Leaving a room others are in, then one it is not in: nothing deleted.
        rooms.leave(&a, &[y.clone(), room("z")], true);
        assert_eq!(drain(), [left(&y, &a)]);
        rooms.leave_all(&b, true);
        assert_eq!(drain(), [left(&y, &b), Deleted(y.clone())]);
        rooms.leave_all(&a, true);
        rooms.leave_all(&a, true);
        assert_eq!(drain(), [left(&x, &a), Deleted(x.clone())]);
        assert!(!rooms.has_events());
    }
}
