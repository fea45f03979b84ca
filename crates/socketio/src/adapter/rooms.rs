//! The rooms index of one namespace on this server: room → members and member → rooms, so
//! joins, leaves and fan-out never scan every socket.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, RwLock};

use crate::socket::Room;

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
    pub(crate) fn join(&self, id: &Arc<str>, rooms: &[Room]) {
        let mut inner = write(&self.inner);
        for room in rooms {
            inner
                .members
                .entry(Arc::clone(room))
                .or_default()
                .insert(Arc::clone(id));
            inner
                .of_socket
                .entry(Arc::clone(id))
                .or_default()
                .insert(Arc::clone(room));
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
        let mut inner = write(&self.inner);
        let Some(rooms) = inner.of_socket.remove(id) else {
            return;
        };
        for room in rooms {
            if let Some(members) = inner.members.get_mut(&room) {
                members.remove(id);
                if members.is_empty() {
                    inner.members.remove(&room);
                }
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
        rooms.join(&a, &[room("x"), room("y")]);
        rooms.join(&b, &[room("y")]);
        assert_eq!(
            rooms.members(&[room("y")]),
            HashSet::from([a.clone(), b.clone()])
        );
        assert_eq!(rooms.members(&[room("x"), room("y")]).len(), 2);
        rooms.leave(&a, &[room("y")]);
        assert_eq!(rooms.members(&[room("y")]), HashSet::from([b.clone()]));
        assert_eq!(rooms.rooms_of("a"), HashSet::from([room("x")]));
        rooms.leave_all(&b);
        assert!(rooms.members(&[room("y")]).is_empty());
        assert_eq!(rooms.all(), HashSet::from([room("x")]));
        rooms.leave_all(&a);
        assert!(rooms.all().is_empty(), "empty rooms are dropped");
        assert!(rooms.rooms_of("a").is_empty());
    }
}
