//! The room model: which connections are in which room, and fan-out of encoded messages.
//!
//! A message is encoded once into a [`PreparedMessage`] and the same `Arc` is queued for every
//! member. Each member has a bounded queue; a member whose queue is full is a slow consumer: it
//! is told to close (1008) rather than let memory grow.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use switchboard_ws::PreparedMessage;
use tokio::sync::{mpsc, Notify};

/// Identifies one connection across rooms.
pub(crate) type MemberId = u64;

static NEXT_MEMBER: AtomicU64 = AtomicU64::new(1);

/// A fresh member id.
pub(crate) fn next_member_id() -> MemberId {
    NEXT_MEMBER.fetch_add(1, Ordering::Relaxed)
}

/// How a room reaches one member's connection task.
#[derive(Debug, Clone)]
pub(crate) struct MemberHandle {
    tx: mpsc::Sender<Arc<PreparedMessage>>,
    slow: Arc<Notify>,
}

impl MemberHandle {
    /// A handle and the receiving ends its connection task listens on.
    pub(crate) fn new(
        queue_len: usize,
    ) -> (Self, mpsc::Receiver<Arc<PreparedMessage>>, Arc<Notify>) {
        let (tx, rx) = mpsc::channel(queue_len);
        let slow = Arc::new(Notify::new());
        (
            Self {
                tx,
                slow: slow.clone(),
            },
            rx,
            slow,
        )
    }
}

/// What one publish did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Delivery {
    /// Members the message was queued for.
    pub(crate) queued: usize,
    /// Members skipped because their queue was full (now told to close).
    pub(crate) slow: usize,
}

type Shard = HashMap<Arc<str>, HashMap<MemberId, MemberHandle>>;

/// Room → members, sharded by room name so unrelated rooms do not contend.
pub(crate) struct Rooms {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Told when a room gets its first member (`true`) and loses its last (`false`).
    occupancy: OnceLock<OccupancyListener>,
}

/// See [`Rooms::on_occupancy`].
type OccupancyListener = Box<dyn Fn(&str, bool) + Send + Sync>;

impl std::fmt::Debug for Rooms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rooms").finish_non_exhaustive()
    }
}

const SHARDS: usize = 16;

impl Default for Rooms {
    fn default() -> Self {
        Self {
            shards: (0..SHARDS).map(|_| Mutex::new(Shard::new())).collect(),
            hasher: RandomState::new(),
            occupancy: OnceLock::new(),
        }
    }
}

impl Rooms {
    fn shard(&self, room: &str) -> MutexGuard<'_, Shard> {
        let index = (self.hasher.hash_one(room) as usize) % SHARDS;
        // A panic while holding the lock cannot leave the map half-updated (every update is a
        // single insert or remove), so a poisoned lock is still safe to use.
        self.shards[index]
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Calls `listener` when a room gets its first member (`true`) and when it loses its last
    /// (`false`), in that order for each room (it runs under the room's lock: keep it short).
    /// Set once; later calls are ignored.
    pub(crate) fn on_occupancy(&self, listener: impl Fn(&str, bool) + Send + Sync + 'static) {
        let _ = self.occupancy.set(Box::new(listener));
    }

    /// Adds `id` to `room`. Returns false when it was already a member.
    pub(crate) fn join(&self, room: &str, id: MemberId, handle: &MemberHandle) -> bool {
        let mut shard = self.shard(room);
        let members = match shard.get_mut(room) {
            Some(members) => members,
            None => {
                if let Some(listener) = self.occupancy.get() {
                    listener(room, true);
                }
                shard.entry(Arc::from(room)).or_default()
            }
        };
        members.insert(id, handle.clone()).is_none()
    }

    /// Removes `id` from `room`; empty rooms are dropped.
    pub(crate) fn leave(&self, room: &str, id: MemberId) -> bool {
        let mut shard = self.shard(room);
        let Some(members) = shard.get_mut(room) else {
            return false;
        };
        let removed = members.remove(&id).is_some();
        if members.is_empty() {
            shard.remove(room);
            if let Some(listener) = self.occupancy.get() {
                listener(room, false);
            }
        }
        removed
    }

    /// Number of members in `room`.
    #[cfg(test)]
    pub(crate) fn len(&self, room: &str) -> usize {
        self.shard(room).get(room).map_or(0, HashMap::len)
    }

    /// Queues `message` for every member of `room` except `except`.
    pub(crate) fn publish(
        &self,
        room: &str,
        except: Option<MemberId>,
        message: &Arc<PreparedMessage>,
    ) -> Delivery {
        let shard = self.shard(room);
        let mut delivery = Delivery::default();
        let Some(members) = shard.get(room) else {
            return delivery;
        };
        for (id, member) in members {
            if Some(*id) == except {
                continue;
            }
            match member.tx.try_send(Arc::clone(message)) {
                Ok(()) => delivery.queued += 1,
                Err(mpsc::error::TrySendError::Full(_)) => {
                    member.slow.notify_one();
                    delivery.slow += 1;
                }
                // The connection is on its way out and will leave its rooms.
                Err(mpsc::error::TrySendError::Closed(_)) => {}
            }
        }
        delivery
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use switchboard_ws::Message;

    #[test]
    fn publish_reaches_members_but_the_sender_and_flags_slow_ones() {
        let rooms = Rooms::default();
        let (a, mut rx_a, _) = MemberHandle::new(4);
        let (b, mut rx_b, _) = MemberHandle::new(4);
        let (c, _rx_c_never_read, slow_c) = MemberHandle::new(1);
        assert!(rooms.join("r", 1, &a));
        assert!(!rooms.join("r", 1, &a));
        rooms.join("r", 2, &b);
        rooms.join("r", 3, &c);
        rooms.join("other", 2, &b);
        let message = Arc::new(PreparedMessage::new(Message::text("hi")));
        assert_eq!(
            rooms.publish("r", Some(1), &message),
            Delivery { queued: 2, slow: 0 }
        );
        assert!(rx_a.try_recv().is_err());
        let got = rx_b.try_recv().unwrap();
        assert!(
            Arc::ptr_eq(&got, &message),
            "the same encoded bytes reach every member"
        );
        // Member 3's queue of one is full now.
        assert_eq!(
            rooms.publish("r", Some(1), &message),
            Delivery { queued: 1, slow: 1 }
        );
        let notified = slow_c.notified();
        futures_lite_check(notified);
        assert!(rooms.leave("r", 2));
        assert!(!rooms.leave("r", 2));
        assert_eq!(rooms.len("r"), 2);
        rooms.leave("r", 1);
        rooms.leave("r", 3);
        assert_eq!(rooms.len("r"), 0);
        assert_eq!(rooms.len("other"), 1);
    }

    /// A stored `notify_one` permit makes the next `notified()` complete at once.
    fn futures_lite_check(notified: tokio::sync::futures::Notified<'_>) {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        rt.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(1), notified)
                .await
                .unwrap();
        });
    }
}
