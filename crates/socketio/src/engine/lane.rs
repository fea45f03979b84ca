//! Direct writes to sleeping WebSocket sessions.
//!
//! A session task that has nothing left to write and sleeps opens its mailbox's *lane*: packets
//! sent to it are then framed straight into a small buffer of the mailbox, and a [`Flusher`]
//! writes that buffer to the socket, without waking the task. A broadcast to 10,000 sockets
//! thus costs 10,000 buffer appends and, per receiver, one `send(2)` carrying every frame that
//! gathered meanwhile, instead of a task wake-up and poll per receiver (the relay with no task
//! per connection reaches 1.4× the one with tasks: BENCHMARKS.md, "Direct writes to sleeping
//! sessions").
//!
//! The task takes over again whenever it has anything to do: it shuts the lane under the
//! mailbox lock before it touches its WebSocket, and queues what the lane had not written yet
//! ahead of everything else. The flusher hands over too, when the socket does not take all
//! (the task then waits for it to drain, with its own back-pressure), and so does a sender
//! whose packet is over [`MAX_PACKET`] or would make the lane hold more than [`MAX_BYTES`]
//! (or `send_buffer`, if smaller).
//!
//! Only whole frames a session would write the same way itself go through a lane: Linux,
//! plain TCP, Engine.IO 4, no permessage-deflate
//! ([`switchboard_ws_tokio::WebSocket::direct_fd`]).

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::{Poll, Waker};

use switchboard_engineio::EncodedPacket;
use switchboard_ws::{FrameHeader, OpCode, MAX_HEADER_LEN};

use super::mailbox::Mailbox;

#[cfg(unix)]
pub(crate) use std::os::fd::RawFd;
/// Lanes never open off unix: nothing hands out a descriptor there.
#[cfg(not(unix))]
pub(crate) type RawFd = i32;

/// Whether lanes can open here: where `send(2)` takes `MSG_NOSIGNAL`, so that a write to a
/// socket whose peer is gone cannot raise SIGPIPE in an application that did not ignore it.
pub(crate) const SUPPORTED: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Largest payload a lane takes: a larger one is shared by reference on the task's path
/// rather than copied per receiver (as `switchboard_ws::Connection` copies up to 4 KiB).
pub(crate) const MAX_PACKET: usize = 4096;

/// Most bytes a lane holds (less when `send_buffer` is smaller) before the task takes over: a
/// burst larger than this goes the task's way, with its back-pressure and queue limit.
pub(crate) const MAX_BYTES: usize = 64 * 1024;

/// Mailboxes one turn of a flusher writes before it lets other tasks run (the sender of a
/// broadcast among them, whose next messages then gather in the lanes it has not reached).
const BATCH: usize = 512;

/// The header of the WebSocket frame an Engine.IO 4 session writes for `packet` (a server's
/// frame: unmasked, uncompressed, unfragmented).
fn header(packet: &EncodedPacket) -> FrameHeader {
    FrameHeader {
        fin: true,
        rsv1: false,
        rsv2: false,
        rsv3: false,
        opcode: if packet.is_binary() {
            OpCode::BINARY
        } else {
            OpCode::TEXT
        },
        mask: None,
        payload_len: packet.as_bytes().len() as u64,
    }
}

/// Appends `packet` as the frame an Engine.IO 4 session writes for it.
pub(crate) fn append_frame(out: &mut Vec<u8>, packet: &EncodedPacket) {
    let payload = packet.as_bytes();
    let mut head = [0u8; MAX_HEADER_LEN];
    let len = header(packet).encode(&mut head);
    out.reserve(len + payload.len());
    out.extend_from_slice(&head[..len]);
    out.extend_from_slice(payload);
}

/// The bytes `packets` take as frames, if every payload is small enough for a lane.
pub(crate) fn frames_len(packets: &[EncodedPacket]) -> Option<usize> {
    packets.iter().try_fold(0, |total, packet| {
        let len = packet.as_bytes().len();
        let head = header(packet).encode(&mut [0u8; MAX_HEADER_LEN]);
        (len <= MAX_PACKET).then_some(total + head + len)
    })
}

/// Writes what the socket takes now, without blocking.
///
/// # Safety
///
/// `fd` must be an open lane's, read under its mailbox's lock, which the caller still holds.
/// The session task owning the WebSocket (and through it the socket) shuts the lane under
/// that lock before it uses, replaces or drops that WebSocket, and when the task itself is
/// dropped; so while the lock is held the descriptor is open and is still that socket.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) unsafe fn write_now(fd: RawFd, bytes: &[u8]) -> std::io::Result<usize> {
    use rustix::net::{send, SendFlags};
    // SAFETY: this function's contract: the descriptor stays open for the whole call.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    loop {
        match send(fd, bytes, SendFlags::DONTWAIT | SendFlags::NOSIGNAL) {
            Err(rustix::io::Errno::INTR) => continue,
            result => return result.map_err(std::io::Error::from),
        }
    }
}

/// Lanes do not open here ([`SUPPORTED`]); nothing calls this.
///
/// # Safety
///
/// None needed; `unsafe` only to match the supported platforms' signature.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(crate) unsafe fn write_now(_fd: RawFd, _bytes: &[u8]) -> std::io::Result<usize> {
    Err(std::io::ErrorKind::Unsupported.into())
}

/// Writes the lanes of the mailboxes listed with it, from a task per shard (one shard per
/// core, so that lanes are written on every worker).
pub(crate) struct Flusher {
    shards: Box<[Shard]>,
}

#[derive(Default)]
struct Shard {
    state: Mutex<ShardState>,
}

#[derive(Default)]
struct ShardState {
    /// Mailboxes whose lanes have bytes to write, in the order they got them.
    queue: VecDeque<Arc<Mailbox>>,
    /// The shard's task, asleep for want of work.
    waker: Option<Waker>,
    /// The shard's task exists.
    running: bool,
}

impl Shard {
    fn lock(&self) -> MutexGuard<'_, ShardState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for Flusher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Flusher")
            .field("shards", &self.shards.len())
            .finish()
    }
}

impl Flusher {
    /// A flusher with one shard per available core.
    pub(crate) fn new() -> Arc<Self> {
        let cores = std::thread::available_parallelism().map_or(1, usize::from);
        Arc::new(Self {
            shards: (0..cores.min(64)).map(|_| Shard::default()).collect(),
        })
    }

    /// The shard for sessions created on this thread, its task started on this thread's
    /// runtime if it has none yet: with a runtime per worker thread (`switchboard serve`) and
    /// no more workers than cores, each worker writes the lanes of its own sessions (with
    /// more, some share a shard, written from the runtime that started it).
    pub(crate) fn shard_here(self: &Arc<Self>) -> usize {
        static THREADS: AtomicUsize = AtomicUsize::new(0);
        thread_local! {
            static THREAD: usize = THREADS.fetch_add(1, Ordering::Relaxed);
        }
        let shard = THREAD.with(|n| *n) % self.shards.len();
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            self.start(&runtime, shard);
        }
        shard
    }

    /// Starts shard `shard`'s task on `runtime` unless it has one.
    fn start(self: &Arc<Self>, runtime: &tokio::runtime::Handle, shard: usize) {
        {
            let mut state = self.shards[shard].lock();
            if state.running {
                return;
            }
            state.running = true;
        }
        // Made before the task is spawned: a task dropped unpolled (its runtime shutting
        // down) still marks the shard as without one.
        let running = Running {
            flusher: Arc::downgrade(self),
            shard,
        };
        runtime.spawn(run(running));
    }

    /// Lists `mailbox` (its lane has bytes and was not listed) with shard `shard`, starting
    /// the shard's task if it has none (it was dropped with its runtime). Outside a runtime
    /// the lane is written at once.
    pub(crate) fn push(self: &Arc<Self>, shard: usize, mailbox: Arc<Mailbox>) {
        let mut state = self.shards[shard].lock();
        state.queue.push_back(mailbox);
        if let Some(waker) = state.waker.take() {
            drop(state);
            waker.wake();
            return;
        }
        if state.running {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                drop(state);
                self.start(&runtime, shard);
            }
            Err(_) => {
                let queued = std::mem::take(&mut state.queue);
                drop(state);
                for mailbox in queued {
                    mailbox.flush_lane();
                }
            }
        }
    }
}

impl Drop for Flusher {
    /// Wakes the sleeping shard tasks, which then find the flusher gone and end.
    fn drop(&mut self) {
        for shard in self.shards.iter() {
            if let Some(waker) = shard.lock().waker.take() {
                waker.wake();
            }
        }
    }
}

/// Marks the shard's task gone however it ends (a runtime shutting down drops it), so that
/// the next push starts another.
struct Running {
    flusher: Weak<Flusher>,
    shard: usize,
}

impl Drop for Running {
    /// Also writes what is still listed: those lanes are not listed again until written, and
    /// nothing else would write them before the next push starts another task.
    fn drop(&mut self) {
        if let Some(flusher) = self.flusher.upgrade() {
            let listed = {
                let mut state = flusher.shards[self.shard].lock();
                state.running = false;
                state.waker = None;
                std::mem::take(&mut state.queue)
            };
            for mailbox in listed {
                mailbox.flush_lane();
            }
        }
    }
}

/// A shard's task: writes the listed lanes, `BATCH` at a time, letting other tasks run after
/// each batch, and sleeps when none are left. It ends once the flusher is gone.
async fn run(running: Running) {
    let (flusher, shard) = (running.flusher.clone(), running.shard);
    let mut batch = Vec::with_capacity(BATCH);
    loop {
        let listed = poll_fn(|cx| {
            let Some(flusher) = flusher.upgrade() else {
                return Poll::Ready(None);
            };
            let mut state = flusher.shards[shard].lock();
            if state.queue.is_empty() {
                if !state
                    .waker
                    .as_ref()
                    .is_some_and(|w| w.will_wake(cx.waker()))
                {
                    state.waker = Some(cx.waker().clone());
                }
                return Poll::Pending;
            }
            let n = state.queue.len().min(BATCH);
            batch.extend(state.queue.drain(..n));
            Poll::Ready(Some(()))
        })
        .await;
        if listed.is_none() {
            return;
        }
        for mailbox in batch.drain(..) {
            mailbox.flush_lane();
        }
        tokio::task::yield_now().await;
    }
}
