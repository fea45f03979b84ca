//! The rooms index of one namespace on this server: room → members and member → rooms, so
//! joins, leaves and fan-out never scan every socket.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::socket::Room;

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
}

#[derive(Debug, Default)]
struct RoomsInner {
    members: HashMap<Room, HashSet<Arc<str>>>,
    of_socket: HashMap<Arc<str>, HashSet<Room>>,
}

impl RoomsInner {
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
    pub(crate) fn join(&self, id: &Arc<str>, rooms: &[Room], mut events: Events<'_>) {
        let mut inner = write(&self.inner);
        for room in rooms {
            let members = match inner.members.get_mut(room) {
                Some(members) => members,
                None => {
                    record(&mut events, || RoomEvent::Created(Arc::clone(room)));
                    inner.members.entry(Arc::clone(room)).or_default()
                }
            };
            if !members.insert(Arc::clone(id)) {
                continue;
            }
            record(&mut events, || RoomEvent::Joined {
                room: Arc::clone(room),
                id: Arc::clone(id),
            });
            inner
                .of_socket
                .entry(Arc::clone(id))
                .or_default()
                .insert(Arc::clone(room));
        }
    }

    pub(crate) fn leave(&self, id: &Arc<str>, rooms: &[Room], mut events: Events<'_>) {
        let mut inner = write(&self.inner);
        for room in rooms {
            if inner.members.get_mut(room).is_some_and(|m| m.remove(id)) {
                inner.remove_member(room, id, &mut events);
            }
            if let Some(of) = inner.of_socket.get_mut(id) {
                of.remove(room);
            }
        }
    }

    pub(crate) fn leave_all(&self, id: &Arc<str>, mut events: Events<'_>) {
        let mut inner = write(&self.inner);
        let Some(rooms) = inner.of_socket.remove(id) else {
            return;
        };
        for room in rooms {
            if inner.members.get_mut(&room).is_some_and(|m| m.remove(id)) {
                inner.remove_member(&room, id, &mut events);
            }
        }
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
        rooms.join(&a, &[room("x"), room("y")], None);
        rooms.join(&b, &[room("y")], None);
        assert_eq!(
            rooms.members(&[room("y")]),
            HashSet::from([a.clone(), b.clone()])
        );
        assert_eq!(rooms.members(&[room("x"), room("y")]).len(), 2);
        rooms.leave(&a, &[room("y")], None);
        assert_eq!(rooms.members(&[room("y")]), HashSet::from([b.clone()]));
        assert_eq!(rooms.rooms_of("a"), HashSet::from([room("x")]));
        rooms.leave_all(&b, None);
        assert!(rooms.members(&[room("y")]).is_empty());
        assert_eq!(rooms.all(), HashSet::from([room("x")]));
        rooms.leave_all(&a, None);
        assert!(rooms.all().is_empty(), "empty rooms are dropped");
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
        let mut events = Vec::new();
        rooms.join(&a, &[x.clone(), y.clone()], Some(&mut events));
        assert_eq!(
            events,
            [
                Created(x.clone()),
                joined(&x, &a),
                Created(y.clone()),
                joined(&y, &a)
            ]
        );
        // An existing room, and a room the socket is already in: one event.
        events.clear();
        rooms.join(&b, std::slice::from_ref(&y), Some(&mut events));
        rooms.join(&a, std::slice::from_ref(&y), Some(&mut events));
        assert_eq!(events, [joined(&y, &b)]);
        // Leaving a room others are in, then one it is not in: nothing deleted.
        events.clear();
        rooms.leave(&a, &[y.clone(), room("z")], Some(&mut events));
        assert_eq!(events, [left(&y, &a)]);
        events.clear();
        rooms.leave_all(&b, Some(&mut events));
        assert_eq!(events, [left(&y, &b), Deleted(y.clone())]);
        events.clear();
        rooms.leave_all(&a, Some(&mut events));
        rooms.leave_all(&a, Some(&mut events));
        assert_eq!(events, [left(&x, &a), Deleted(x.clone())]);
    }
}
