//! A session's inbox: what request handlers (polling requests, upgrades) and the application
//! (packets, close) hand to the session's task. One small allocation per session, nothing
//! queued while idle (a pair of channels cost ~3 KiB per session even when empty).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Waker};

use bytes::Bytes;
use http::Response;
use switchboard_engineio::{CloseReason, EncodedPacket};
use tokio::sync::oneshot;

use super::compression::Encoding;
use super::lane::{self, Flusher, RawFd};
use super::Body;

/// A WebSocket of a session.
pub(crate) type Ws = switchboard_ws_tokio::WebSocket<switchboard_ws_tokio::BoxTransport>;

/// What request handlers hand to a session's task.
pub(crate) enum Input {
    /// A polling GET, answered through `respond` (its payload compressed with `encoding`).
    Poll {
        respond: oneshot::Sender<Response<Body>>,
        encoding: Option<Encoding>,
    },
    /// A polling POST and its body.
    Post {
        body: Bytes,
        binary: bool,
        respond: oneshot::Sender<Response<Body>>,
    },
    /// A WebSocket for this session (an upgrade).
    Upgrade { ws: Box<Ws> },
}

/// What the application sends a session.
#[derive(Debug, Clone)]
pub(crate) enum Outgoing {
    /// A packet (possibly shared with many sessions).
    Packet(EncodedPacket),
    /// Close the session once the packets queued before are out.
    Close(CloseReason),
}

/// Why something could not be handed to a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SendError {
    /// Not queued: the session's queue is full (a send that is not volatile then closes the
    /// session: it does not keep up), or, for a volatile send, its transport is backed up.
    Full,
    /// The session is gone.
    Closed,
}

/// Inputs a session holds before further requests are refused (the protocol allows one GET,
/// one POST and one upgrade at a time; the rest are errors anyway).
const MAX_INPUTS: usize = 8;

#[derive(Default)]
struct State {
    inputs: VecDeque<Input>,
    packets: VecDeque<Outgoing>,
    /// The task's waker, kept from one wait to the next (no clone per wake-up).
    waker: Option<Waker>,
    /// The task has ended: everything is refused.
    closed: bool,
    /// Close at once, without flushing (a slow consumer).
    kill: Option<CloseReason>,
    /// The task left the packets here at its last take (its transport is backed up): packets
    /// wait without waking it, and fill the queue if the transport stays backed up.
    held: bool,
    /// A close is queued: the packets before it are handed over even to a backed-up task,
    /// so that the close is not stuck behind them (they are bounded by the queue's limit).
    closing: bool,
    /// Frames written for the sleeping task (see [`lane`]).
    lane: Lane,
}

/// A mailbox's lane: while open, packets are framed here and written by the flusher.
#[derive(Default)]
struct Lane {
    /// The socket, while the lane is open: the task sleeps with nothing queued on it.
    fd: Option<RawFd>,
    /// Frames not yet written, oldest first: the task queues them ahead of all else when it
    /// takes over.
    bytes: Vec<u8>,
    /// Listed with the flusher.
    listed: bool,
}

/// Where a mailbox's lane is written, when lanes are on.
struct Lanes {
    flusher: Arc<Flusher>,
    shard: usize,
    /// Most bytes a lane holds before the task takes over.
    max_bytes: usize,
}

/// The shared inbox.
pub(crate) struct Mailbox {
    limit: usize,
    state: Mutex<State>,
    /// The task waits for the mailbox: the next arrival wakes it (held packets aside, see
    /// `State::held`). False while it works: it takes again before it sleeps, so arrivals
    /// meanwhile need no wake-up. Set and swapped under the lock; cleared without it when the
    /// task starts work, where a sender that still sees it set merely wakes the task once more.
    listening: AtomicBool,
    /// The session runs over WebSocket (from the start, or since its upgrade).
    websocket: AtomicBool,
    lanes: Option<Lanes>,
}

impl std::fmt::Debug for Mailbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailbox")
            .field("limit", &self.limit)
            .finish_non_exhaustive()
    }
}

/// What the task takes out in one go. Its buffers are swapped with the inbox's, so neither
/// side allocates per message once both have some capacity.
#[derive(Default)]
pub(crate) struct Taken {
    pub(crate) inputs: VecDeque<Input>,
    pub(crate) packets: VecDeque<Outgoing>,
    pub(crate) kill: Option<CloseReason>,
    /// Frames the lane had not written when the task took over: they go out first.
    pub(crate) lane: Vec<u8>,
}

impl Taken {
    pub(crate) fn is_empty(&self) -> bool {
        self.inputs.is_empty()
            && self.packets.is_empty()
            && self.kill.is_none()
            && self.lane.is_empty()
    }
}

/// Whether the task takes the waiting packets ([`Mailbox::take`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packets {
    /// Its transport has room: hand them over.
    Take,
    /// Its transport is backed up: leave them (they wake nobody meanwhile).
    Leave,
}

/// Capacity an emptied buffer keeps: bursts do not leave idle sessions holding memory.
const KEEP_CAPACITY: usize = 16;

fn trim<T>(buffer: &mut VecDeque<T>) {
    if buffer.capacity() > KEEP_CAPACITY {
        buffer.shrink_to(KEEP_CAPACITY);
    }
}

impl Mailbox {
    /// An inbox holding at most `limit` outgoing packets, without a lane.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: Mutex::new(State::default()),
            listening: AtomicBool::new(false),
            websocket: AtomicBool::new(false),
            lanes: None,
        }
    }

    /// An inbox whose lane, when its task opens it, is written by `flusher`'s shard `shard`
    /// and holds at most `max_bytes` bytes (see [`lane::MAX_BYTES`]).
    pub(crate) fn with_lane(
        limit: usize,
        flusher: Arc<Flusher>,
        shard: usize,
        max_bytes: usize,
    ) -> Self {
        Self {
            lanes: Some(Lanes {
                flusher,
                shard,
                max_bytes,
            }),
            ..Self::new(limit)
        }
    }

    /// Whether this mailbox's task may open a lane.
    pub(crate) fn has_lane(&self) -> bool {
        self.lanes.is_some()
    }

    /// The session now runs over WebSocket.
    pub(crate) fn set_websocket(&self) {
        self.websocket.store(true, Ordering::Relaxed);
    }

    /// Whether the session runs over WebSocket.
    pub(crate) fn is_websocket(&self) -> bool {
        self.websocket.load(Ordering::Relaxed)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn wake(&self, state: &State) {
        if self.listening.swap(false, Ordering::Relaxed) {
            if let Some(waker) = &state.waker {
                waker.wake_by_ref();
            }
        }
    }

    /// The task starts work: what arrives from now on is taken before it sleeps again, without
    /// waking it (what its own handlers send, above all).
    pub(crate) fn at_work(&self) {
        self.listening.store(false, Ordering::Relaxed);
    }

    /// Queues a packet; when `limit` are waiting the session is killed instead. With the lane
    /// open, the packet's frame goes there instead, and nobody is woken.
    pub(crate) fn send(self: &Arc<Self>, packet: EncodedPacket) -> Result<(), SendError> {
        let state = self.lock();
        if state.closed {
            return Err(SendError::Closed);
        }
        let Some(mut state) = self.onto_lane(state, std::slice::from_ref(&packet), false)? else {
            return Ok(());
        };
        if state.packets.len() >= self.limit {
            if state.kill.is_none() {
                state.kill = Some(CloseReason::TransportError);
                self.wake(&state);
            }
            return Err(SendError::Full);
        }
        state.packets.push_back(Outgoing::Packet(packet));
        if !state.held {
            self.wake(&state);
        }
        Ok(())
    }

    /// Queues `packets` (a message and its binary attachments) all together, or none of them:
    /// not when the queue lacks room for all, nor while the task holds packets back (its
    /// transport is backed up: Node drops volatile packets while the transport is not
    /// writable), so stale ones do not queue behind the backlog. The session lives on.
    pub(crate) fn send_volatile(
        self: &Arc<Self>,
        packets: &[EncodedPacket],
    ) -> Result<(), SendError> {
        let state = self.lock();
        if state.closed {
            return Err(SendError::Closed);
        }
        let Some(mut state) = self.onto_lane(state, packets, true)? else {
            return Ok(());
        };
        if state.held || state.packets.len() + packets.len() > self.limit {
            return Err(SendError::Full);
        }
        state
            .packets
            .extend(packets.iter().cloned().map(Outgoing::Packet));
        self.wake(&state);
        Ok(())
    }

    /// With the lane open, frames `packets` into it and lists it with the flusher (`None`:
    /// done). When they do not fit (a payload above [`lane::MAX_PACKET`], or the lane full:
    /// the flusher is behind), the task takes over and `state` is handed back for the queue;
    /// a volatile send to a full lane is dropped instead, as Node drops volatile packets
    /// while the transport is not writable. With the lane shut, `state` is handed back.
    fn onto_lane<'a>(
        self: &Arc<Self>,
        mut state: MutexGuard<'a, State>,
        packets: &[EncodedPacket],
        volatile: bool,
    ) -> Result<Option<MutexGuard<'a, State>>, SendError> {
        let Some(lanes) = self.lanes.as_ref().filter(|_| state.lane.fd.is_some()) else {
            return Ok(Some(state));
        };
        let room = lanes.max_bytes.saturating_sub(state.lane.bytes.len());
        match lane::frames_len(packets) {
            Some(len) if len <= room => {
                for packet in packets {
                    lane::append_frame(&mut state.lane.bytes, packet);
                }
                if !state.lane.listed {
                    state.lane.listed = true;
                    drop(state);
                    lanes.flusher.push(lanes.shard, Arc::clone(self));
                }
                return Ok(None);
            }
            Some(_) if volatile => return Err(SendError::Full),
            _ => {}
        }
        // The task takes over (it is listening: woken here, whatever the queue path does).
        state.lane.fd = None;
        self.wake(&state);
        Ok(Some(state))
    }

    /// Writes what the lane holds (the flusher's part). What the socket does not take now,
    /// and a failed write, are left to the task, which is woken for them.
    pub(crate) fn flush_lane(&self) {
        let mut state = self.lock();
        state.lane.listed = false;
        let Some(fd) = state.lane.fd else {
            return;
        };
        if state.lane.bytes.is_empty() {
            return;
        }
        // SAFETY: `fd` is the open lane's, read under the mailbox lock held until the end.
        match unsafe { lane::write_now(fd, &state.lane.bytes) } {
            Ok(n) if n == state.lane.bytes.len() => {
                // Freed rather than kept: a burst leaves no memory behind in idle sessions.
                state.lane.bytes = Vec::new();
                return;
            }
            Ok(n) => {
                state.lane.bytes.drain(..n);
            }
            // The task's own write meets the error (or waits for room) and acts on it.
            Err(_) => {}
        }
        state.lane.fd = None;
        self.wake(&state);
    }

    /// The task takes over from its lane (it is about to use its WebSocket): the lane is
    /// shut, and what it had not written is moved to `taken.lane`.
    pub(crate) fn shut_lane(&self, taken: &mut Taken) {
        let mut state = self.lock();
        state.lane.fd = None;
        if !state.lane.bytes.is_empty() {
            std::mem::swap(&mut state.lane.bytes, &mut taken.lane);
        }
    }

    /// Asks the session to close after the packets queued before.
    pub(crate) fn close(&self, reason: CloseReason) {
        let mut state = self.lock();
        if !state.closed {
            // Nothing sent after the close goes out: the lane's bytes wait for the task.
            state.lane.fd = None;
            state.packets.push_back(Outgoing::Close(reason));
            state.closing = true;
            self.wake(&state);
        }
    }

    /// Hands a request to the task; refused when the session is gone or flooded.
    pub(crate) fn input(&self, input: Input) -> Result<(), Input> {
        let mut state = self.lock();
        if state.closed || state.inputs.len() >= MAX_INPUTS {
            return Err(input);
        }
        state.inputs.push_back(input);
        self.wake(&state);
        Ok(())
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// Swaps everything waiting into `taken` (whose buffers must be empty). With `listen`,
    /// when nothing was waiting, the next arrival wakes `cx`; without, arrivals wake nobody
    /// (the task is at work and takes again, listening, before it sleeps). So what a task's
    /// own handlers send costs it no wake-up.
    ///
    /// With [`Packets::Leave`] (the task's transport is backed up) the packets stay, unless a
    /// close is queued among them, and until the next take of them their arrival wakes
    /// nobody: they fill the queue, and a full queue kills the session. Requests and the kill
    /// are taken, and wake it, either way.
    ///
    /// With `lane` (the task's socket, whose WebSocket has nothing queued) the lane opens if
    /// the task is to listen and nothing was waiting; the return value says whether it did.
    /// The task must then not touch that WebSocket until it has [shut](Self::shut_lane) it.
    pub(crate) fn take(
        &self,
        cx: &mut Context<'_>,
        taken: &mut Taken,
        listen: bool,
        packets: Packets,
        lane: Option<RawFd>,
    ) -> bool {
        trim(&mut taken.inputs);
        trim(&mut taken.packets);
        let mut state = self.lock();
        std::mem::swap(&mut state.inputs, &mut taken.inputs);
        let take_packets = packets == Packets::Take || state.closing;
        if take_packets {
            std::mem::swap(&mut state.packets, &mut taken.packets);
            state.closing = false;
        }
        state.held = !take_packets;
        taken.kill = state.kill.take();
        let listening = listen && taken.is_empty();
        self.listening.store(listening, Ordering::Relaxed);
        if listening {
            match &state.waker {
                Some(waker) if waker.will_wake(cx.waker()) => {}
                _ => state.waker = Some(cx.waker().clone()),
            }
        }
        let open_lane = listening && take_packets && self.lanes.is_some() && lane.is_some();
        if open_lane {
            state.lane.fd = lane;
        }
        open_lane
    }

    /// Marks the session ended and hands back the requests still waiting (to be refused).
    pub(crate) fn close_for_good(&self) -> VecDeque<Input> {
        let mut state = self.lock();
        state.closed = true;
        state.packets = VecDeque::new();
        state.lane = Lane::default();
        state.waker = None;
        std::mem::take(&mut state.inputs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::task::Wake;

    struct Count(std::sync::atomic::AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    }

    fn packet() -> EncodedPacket {
        EncodedPacket::text("x")
    }

    /// A waker that counts its wake-ups.
    fn counting_waker() -> (Arc<Count>, Waker) {
        let wakes = Arc::new(Count(0.into()));
        (Arc::clone(&wakes), Waker::from(wakes))
    }

    #[test]
    fn a_full_queue_kills_the_session_but_volatile_packets_are_just_dropped() {
        let mailbox = Arc::new(Mailbox::new(2));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert!(taken.is_empty(), "nothing yet: the waker is registered");
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send_volatile(&[packet()]), Err(SendError::Full));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.packets.len(), 2);
        assert_eq!(taken.kill, None, "a volatile packet does not kill");
        taken.packets.clear();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Err(SendError::Full));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.kill, Some(CloseReason::TransportError));
    }

    #[test]
    fn only_a_listening_task_is_woken_and_once_per_wait() {
        let mailbox = Arc::new(Mailbox::new(8));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        let woken = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);
        // At work: what its own handlers send is taken before it sleeps, without a wake-up.
        mailbox.take(&mut cx, &mut taken, false, Packets::Take, None);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 0);
        // Listening with something waiting: it is handed over, and nothing is registered.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.packets.len(), 1);
        taken.packets.clear();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 0);
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        taken.packets.clear();
        // Listening on an empty mailbox: the first arrival wakes it, the next ones do not.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert!(taken.is_empty());
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.close(CloseReason::ForcedClose);
        assert_eq!(woken(), 1);
        // Woken (by anything) and at work again: arrivals are taken before it sleeps.
        mailbox.take(&mut cx, &mut taken, false, Packets::Take, None);
        taken.packets.clear();
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        mailbox.at_work();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 1);
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.packets.len(), 1);
        taken.packets.clear();
        // Listening again: a request wakes it too.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        let (respond, _answer) = oneshot::channel();
        let poll = Input::Poll {
            respond,
            encoding: None,
        };
        assert!(mailbox.input(poll).is_ok());
        assert_eq!(woken(), 2);
    }

    #[test]
    fn held_packets_wake_nobody_and_fill_the_queue_until_a_kill_wakes_the_task() {
        let mailbox = Arc::new(Mailbox::new(3));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        let woken = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);
        // The transport is backed up: the task listens for requests but leaves packets.
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 0, "a held packet does not wake the task");
        assert_eq!(
            mailbox.send_volatile(&[packet()]),
            Err(SendError::Full),
            "a volatile packet is dropped while packets are held"
        );
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert!(taken.is_empty(), "still held: nothing handed over");
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send_volatile(&[packet()]), Err(SendError::Full));
        assert_eq!(
            woken(),
            0,
            "a dropped volatile packet does not wake it either"
        );
        assert_eq!(mailbox.send(packet()), Err(SendError::Full));
        assert_eq!(woken(), 1, "the kill wakes it");
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert_eq!(taken.kill, Some(CloseReason::TransportError));
        assert!(taken.packets.is_empty());
        // Room again: the held packets come out in order, and arrivals wake it as before.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.packets.len(), 3);
        taken.packets.clear();
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(
            mailbox.send_volatile(&[packet()]),
            Ok(()),
            "volatile is queued again"
        );
        assert_eq!(woken(), 2);
    }

    #[test]
    fn a_volatile_message_with_attachments_is_queued_whole_or_not_at_all() {
        let mailbox = Arc::new(Mailbox::new(3));
        let (_wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        let message = [packet(), packet()];
        assert_eq!(mailbox.send_volatile(&message), Err(SendError::Full));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.packets.len(), 2, "no part of the message was queued");
        assert_eq!(taken.kill, None);
        taken.packets.clear();
        assert_eq!(mailbox.send_volatile(&message), Ok(()));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take, None);
        assert_eq!(taken.packets.len(), 2);
    }

    #[test]
    fn a_close_behind_held_packets_is_handed_over_with_them() {
        let mailbox = Arc::new(Mailbox::new(8));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.close(CloseReason::ForcedClose);
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Still backed up, but the close must not wait behind the packets.
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert_eq!(taken.packets.len(), 3);
        assert!(matches!(
            taken.packets.back(),
            Some(Outgoing::Close(CloseReason::ForcedClose))
        ));
        taken.packets.clear();
        // Handed over, the close no longer makes the next takes take packets.
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert!(taken.packets.is_empty());
    }

    #[test]
    fn a_held_mailbox_still_wakes_the_task_for_requests() {
        let mailbox = Arc::new(Mailbox::new(3));
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert!(taken.is_empty());
        let (respond, _answer) = oneshot::channel();
        let post = Input::Post {
            body: Bytes::from_static(b"4x"),
            binary: false,
            respond,
        };
        assert!(mailbox.input(post).is_ok());
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave, None);
        assert_eq!(taken.inputs.len(), 1);
        assert!(taken.packets.is_empty());
    }

    #[test]
    fn a_closed_mailbox_refuses_everything_and_hands_back_waiting_requests() {
        let mailbox = Arc::new(Mailbox::new(4));
        let (respond, _answer) = oneshot::channel();
        assert!(mailbox
            .input(Input::Poll {
                respond,
                encoding: None
            })
            .is_ok());
        let waiting = mailbox.close_for_good();
        assert_eq!(waiting.len(), 1);
        assert!(mailbox.is_closed());
        assert_eq!(mailbox.send(packet()), Err(SendError::Closed));
        let (respond, _answer) = oneshot::channel();
        assert!(mailbox
            .input(Input::Poll {
                respond,
                encoding: None
            })
            .is_err());
    }

    #[test]
    fn request_floods_are_refused() {
        let mailbox = Arc::new(Mailbox::new(4));
        let mut answers = Vec::new();
        for i in 0..MAX_INPUTS + 2 {
            let (respond, answer) = oneshot::channel();
            answers.push(answer);
            assert_eq!(
                mailbox
                    .input(Input::Poll {
                        respond,
                        encoding: None
                    })
                    .is_ok(),
                i < MAX_INPUTS
            );
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    mod lanes {
        use super::*;
        use std::io::Read;
        use std::os::fd::AsRawFd;
        use std::os::unix::net::UnixStream;
        use std::sync::atomic::Ordering::SeqCst;

        /// The frames of `packets` as the session would write them.
        fn frames(packets: &[EncodedPacket]) -> Vec<u8> {
            let mut out = Vec::new();
            for packet in packets {
                lane::append_frame(&mut out, packet);
            }
            out
        }

        fn read_exactly(from: &mut UnixStream, n: usize) -> Vec<u8> {
            from.set_read_timeout(Some(std::time::Duration::from_secs(10)))
                .unwrap();
            let mut got = vec![0; n];
            from.read_exact(&mut got).unwrap();
            got
        }

        fn lane_mailbox(lane_limit: usize) -> Arc<Mailbox> {
            Arc::new(Mailbox::with_lane(8, Flusher::new(), 0, lane_limit))
        }

        /// A connected pair whose first end, the server's socket, never blocks.
        fn socket_pair() -> (UnixStream, UnixStream) {
            let (socket, peer) = UnixStream::pair().unwrap();
            socket.set_nonblocking(true).unwrap();
            (socket, peer)
        }

        /// Opens `mailbox`'s lane on `socket` (the task's last take before it sleeps).
        fn open(mailbox: &Mailbox, cx: &mut Context<'_>, socket: &UnixStream) {
            let mut taken = Taken::default();
            let fd = Some(socket.as_raw_fd());
            assert!(mailbox.take(cx, &mut taken, true, Packets::Take, fd));
        }

        /// What the task finds when it wakes: the lane's leftovers and the queued packets.
        fn wake_up(mailbox: &Mailbox, cx: &mut Context<'_>) -> Taken {
            let mut taken = Taken::default();
            mailbox.at_work();
            mailbox.shut_lane(&mut taken);
            mailbox.take(cx, &mut taken, false, Packets::Take, None);
            taken
        }

        fn queued(taken: &Taken) -> Vec<EncodedPacket> {
            let packets = taken.packets.iter();
            let packets = packets.filter_map(|p| match p {
                Outgoing::Packet(p) => Some(p.clone()),
                Outgoing::Close(_) => None,
            });
            packets.collect()
        }

        #[test]
        fn a_lane_opens_only_for_a_listening_task_with_room_and_nothing_waiting() {
            let mailbox = lane_mailbox(1 << 20);
            let (socket, _peer) = UnixStream::pair().unwrap();
            let fd = Some(socket.as_raw_fd());
            let (_, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            let mut taken = Taken::default();
            assert!(
                !mailbox.take(&mut cx, &mut taken, false, Packets::Take, fd),
                "at work"
            );
            assert!(
                !mailbox.take(&mut cx, &mut taken, true, Packets::Leave, fd),
                "backed up"
            );
            mailbox.send(packet()).unwrap();
            assert!(
                !mailbox.take(&mut cx, &mut taken, true, Packets::Take, fd),
                "a packet came"
            );
            assert_eq!(taken.packets.len(), 1);
            taken.packets.clear();
            assert!(
                !mailbox.take(&mut cx, &mut taken, true, Packets::Take, None),
                "no socket"
            );
            let unlaned = Arc::new(Mailbox::new(8));
            assert!(
                !unlaned.take(&mut cx, &mut taken, true, Packets::Take, fd),
                "lanes off"
            );
            assert!(mailbox.take(&mut cx, &mut taken, true, Packets::Take, fd));
        }

        #[test]
        fn an_open_lane_is_written_without_waking_the_task_and_in_order() {
            let mailbox = lane_mailbox(1 << 20);
            let (socket, mut peer) = socket_pair();
            let (wakes, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            open(&mailbox, &mut cx, &socket);
            let sent = [
                EncodedPacket::text("first"),
                EncodedPacket::binary(vec![1u8, 2, 3]),
                EncodedPacket::text(&"x".repeat(300)),
            ];
            for packet in &sent {
                mailbox.send(packet.clone()).unwrap();
            }
            mailbox
                .send_volatile(&[EncodedPacket::text("last")])
                .unwrap();
            // No runtime here: the flusher writes at once.
            let want = frames(&[
                sent[0].clone(),
                sent[1].clone(),
                sent[2].clone(),
                EncodedPacket::text("last"),
            ]);
            assert_eq!(read_exactly(&mut peer, want.len()), want);
            assert_eq!(wakes.0.load(SeqCst), 0, "the task slept through it");
        }

        #[test]
        fn what_the_socket_does_not_take_goes_to_the_task_ahead_of_later_packets() {
            let mailbox = lane_mailbox(64 << 20);
            let (socket, mut peer) = socket_pair();
            let (wakes, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            open(&mailbox, &mut cx, &socket);
            // The peer does not read: the socket's buffer fills, and the lane hands over.
            let packet = EncodedPacket::binary(vec![9u8; lane::MAX_PACKET]);
            let mut sent = 0;
            while wakes.0.load(SeqCst) == 0 {
                mailbox.send(packet.clone()).unwrap();
                sent += 1;
                assert!(sent < 100_000, "the socket never filled");
            }
            // Now packets queue up for the task, behind what the lane kept.
            mailbox.send(EncodedPacket::text("after")).unwrap();
            assert_eq!(wakes.0.load(SeqCst), 1);
            let taken = wake_up(&mailbox, &mut cx);
            assert!(!taken.lane.is_empty());
            assert_eq!(queued(&taken), [EncodedPacket::text("after")]);
            // What the socket took and what the lane kept are the frames, whole and in order.
            let whole = frames(&vec![packet; sent]);
            let written = whole.len() - taken.lane.len();
            assert_eq!(read_exactly(&mut peer, written), whole[..written]);
            assert_eq!(taken.lane, whole[written..]);
        }

        #[tokio::test(flavor = "current_thread")]
        async fn a_full_lane_hands_over_and_a_reopened_one_is_written_by_the_flusher_task() {
            let mailbox = lane_mailbox(1000);
            let (socket, mut peer) = socket_pair();
            let (wakes, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            open(&mailbox, &mut cx, &socket);
            // The flusher's task has not run yet (this task has not yielded): frames gather.
            let packet = EncodedPacket::text(&"y".repeat(100));
            for _ in 0..9 {
                mailbox.send(packet.clone()).unwrap();
            }
            assert_eq!(wakes.0.load(SeqCst), 0);
            assert_eq!(
                mailbox.send_volatile(std::slice::from_ref(&packet)),
                Err(SendError::Full),
                "a volatile packet that does not fit is dropped, the lane stays"
            );
            assert_eq!(wakes.0.load(SeqCst), 0);
            mailbox.send(packet.clone()).unwrap();
            assert_eq!(
                wakes.0.load(SeqCst),
                1,
                "past 1000 bytes the task takes over"
            );
            let taken = wake_up(&mailbox, &mut cx);
            assert_eq!(taken.lane, frames(&vec![packet.clone(); 9]));
            assert_eq!(queued(&taken), [packet]);
            // A lane that reopens is written by the flusher's task.
            open(&mailbox, &mut cx, &socket);
            mailbox.send(EncodedPacket::text("z")).unwrap();
            let want = frames(&[EncodedPacket::text("z")]);
            let got = tokio::task::spawn_blocking(move || read_exactly(&mut peer, want.len()))
                .await
                .unwrap();
            assert_eq!(got, frames(&[EncodedPacket::text("z")]));
        }

        #[test]
        fn a_large_packet_is_left_to_the_task_behind_what_the_lane_holds() {
            let mailbox = lane_mailbox(64 << 20);
            let (socket, _peer) = UnixStream::pair().unwrap();
            let (wakes, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            open(&mailbox, &mut cx, &socket);
            let large = EncodedPacket::binary(vec![1u8; lane::MAX_PACKET + 1]);
            mailbox.send(large.clone()).unwrap();
            assert_eq!(wakes.0.load(SeqCst), 1, "the task takes over at once");
            mailbox.send(EncodedPacket::text("then")).unwrap();
            let taken = wake_up(&mailbox, &mut cx);
            assert!(taken.lane.is_empty());
            assert_eq!(queued(&taken), [large, EncodedPacket::text("then")]);
        }

        #[test]
        fn nothing_sent_after_a_close_goes_through_the_lane() {
            let mailbox = lane_mailbox(64 << 20);
            let (socket, _peer) = UnixStream::pair().unwrap();
            let (_, waker) = counting_waker();
            let mut cx = Context::from_waker(&waker);
            open(&mailbox, &mut cx, &socket);
            mailbox.close(CloseReason::ForcedClose);
            mailbox.send(EncodedPacket::text("late")).unwrap();
            let taken = wake_up(&mailbox, &mut cx);
            assert!(taken.lane.is_empty(), "the lane shut with the close");
            assert!(matches!(
                taken.packets.front(),
                Some(Outgoing::Close(CloseReason::ForcedClose))
            ));
            assert_eq!(
                queued(&taken),
                [EncodedPacket::text("late")],
                "behind the close"
            );
        }

        #[test]
        fn lane_frames_are_the_frames_the_connection_writes() {
            use switchboard_ws::{Config, Connection, Role};
            for len in [0, 1, 125, 126, 127, 4095, lane::MAX_PACKET] {
                let text = EncodedPacket::text(&"t".repeat(len.saturating_sub(1)));
                let binary = EncodedPacket::binary(vec![5u8; len]);
                for packet in [text, binary] {
                    let now = std::time::Instant::now();
                    let mut conn = Connection::new(Role::Server, Config::default(), None, now);
                    let bytes = packet.as_bytes().clone();
                    if packet.is_binary() {
                        conn.send_uncompressed(switchboard_ws::Message::Binary(bytes))
                            .unwrap();
                    } else {
                        conn.send_text_bytes(bytes, false).unwrap();
                    }
                    let mut written = Vec::new();
                    while let Some(chunk) = conn.poll_transmit() {
                        written.extend_from_slice(&chunk);
                    }
                    let packets = std::slice::from_ref(&packet);
                    assert_eq!(frames(packets), written, "{len} bytes");
                    assert_eq!(lane::frames_len(packets), Some(written.len()));
                }
            }
        }
    }
}
