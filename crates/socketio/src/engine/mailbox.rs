//! A session's inbox: what request handlers (polling requests, upgrades) and the application
//! (packets, close) hand to the session's task. One small allocation per session, nothing
//! queued while idle (a pair of channels cost ~3 KiB per session even when empty).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::task::{Context, Waker};

use bytes::Bytes;
use http::Response;
use switchboard_engineio::{CloseReason, EncodedPacket};
use tokio::sync::oneshot;

use super::compression::Encoding;
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
}

impl Taken {
    pub(crate) fn is_empty(&self) -> bool {
        self.inputs.is_empty() && self.packets.is_empty() && self.kill.is_none()
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
    /// An inbox holding at most `limit` outgoing packets.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: limit.max(1),
            state: Mutex::new(State::default()),
            listening: AtomicBool::new(false),
            websocket: AtomicBool::new(false),
        }
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

    /// Queues a packet; when `limit` are waiting the session is killed instead.
    pub(crate) fn send(&self, packet: EncodedPacket) -> Result<(), SendError> {
        let mut state = self.lock();
        if state.closed {
            return Err(SendError::Closed);
        }
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
    pub(crate) fn send_volatile(&self, packets: &[EncodedPacket]) -> Result<(), SendError> {
        let mut state = self.lock();
        if state.closed {
            return Err(SendError::Closed);
        }
        if state.held || state.packets.len() + packets.len() > self.limit {
            return Err(SendError::Full);
        }
        state
            .packets
            .extend(packets.iter().cloned().map(Outgoing::Packet));
        self.wake(&state);
        Ok(())
    }

    /// Asks the session to close after the packets queued before.
    pub(crate) fn close(&self, reason: CloseReason) {
        let mut state = self.lock();
        if !state.closed {
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
    pub(crate) fn take(
        &self,
        cx: &mut Context<'_>,
        taken: &mut Taken,
        listen: bool,
        packets: Packets,
    ) {
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
    }

    /// Marks the session ended and hands back the requests still waiting (to be refused).
    pub(crate) fn close_for_good(&self) -> VecDeque<Input> {
        let mut state = self.lock();
        state.closed = true;
        state.packets = VecDeque::new();
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
        let mailbox = Mailbox::new(2);
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert!(taken.is_empty(), "nothing yet: the waker is registered");
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send_volatile(&[packet()]), Err(SendError::Full));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.packets.len(), 2);
        assert_eq!(taken.kill, None, "a volatile packet does not kill");
        taken.packets.clear();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Err(SendError::Full));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.kill, Some(CloseReason::TransportError));
    }

    #[test]
    fn only_a_listening_task_is_woken_and_once_per_wait() {
        let mailbox = Mailbox::new(8);
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        let woken = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);
        // At work: what its own handlers send is taken before it sleeps, without a wake-up.
        mailbox.take(&mut cx, &mut taken, false, Packets::Take);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 0);
        // Listening with something waiting: it is handed over, and nothing is registered.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.packets.len(), 1);
        taken.packets.clear();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 0);
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        taken.packets.clear();
        // Listening on an empty mailbox: the first arrival wakes it, the next ones do not.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert!(taken.is_empty());
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.close(CloseReason::ForcedClose);
        assert_eq!(woken(), 1);
        // Woken (by anything) and at work again: arrivals are taken before it sleeps.
        mailbox.take(&mut cx, &mut taken, false, Packets::Take);
        taken.packets.clear();
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        mailbox.at_work();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 1);
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.packets.len(), 1);
        taken.packets.clear();
        // Listening again: a request wakes it too.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
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
        let mailbox = Mailbox::new(3);
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        let woken = || wakes.0.load(std::sync::atomic::Ordering::SeqCst);
        // The transport is backed up: the task listens for requests but leaves packets.
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(woken(), 0, "a held packet does not wake the task");
        assert_eq!(
            mailbox.send_volatile(&[packet()]),
            Err(SendError::Full),
            "a volatile packet is dropped while packets are held"
        );
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
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
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert_eq!(taken.kill, Some(CloseReason::TransportError));
        assert!(taken.packets.is_empty());
        // Room again: the held packets come out in order, and arrivals wake it as before.
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.packets.len(), 3);
        taken.packets.clear();
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(
            mailbox.send_volatile(&[packet()]),
            Ok(()),
            "volatile is queued again"
        );
        assert_eq!(woken(), 2);
    }

    #[test]
    fn a_volatile_message_with_attachments_is_queued_whole_or_not_at_all() {
        let mailbox = Mailbox::new(3);
        let (_wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        let message = [packet(), packet()];
        assert_eq!(mailbox.send_volatile(&message), Err(SendError::Full));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.packets.len(), 2, "no part of the message was queued");
        assert_eq!(taken.kill, None);
        taken.packets.clear();
        assert_eq!(mailbox.send_volatile(&message), Ok(()));
        mailbox.take(&mut cx, &mut taken, true, Packets::Take);
        assert_eq!(taken.packets.len(), 2);
    }

    #[test]
    fn a_close_behind_held_packets_is_handed_over_with_them() {
        let mailbox = Mailbox::new(8);
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert_eq!(mailbox.send(packet()), Ok(()));
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.close(CloseReason::ForcedClose);
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        // Still backed up, but the close must not wait behind the packets.
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert_eq!(taken.packets.len(), 3);
        assert!(matches!(
            taken.packets.back(),
            Some(Outgoing::Close(CloseReason::ForcedClose))
        ));
        taken.packets.clear();
        // Handed over, the close no longer makes the next takes take packets.
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert!(taken.packets.is_empty());
    }

    #[test]
    fn a_held_mailbox_still_wakes_the_task_for_requests() {
        let mailbox = Mailbox::new(3);
        let (wakes, waker) = counting_waker();
        let mut cx = Context::from_waker(&waker);
        let mut taken = Taken::default();
        assert_eq!(mailbox.send(packet()), Ok(()));
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert!(taken.is_empty());
        let (respond, _answer) = oneshot::channel();
        let post = Input::Post {
            body: Bytes::from_static(b"4x"),
            binary: false,
            respond,
        };
        assert!(mailbox.input(post).is_ok());
        assert_eq!(wakes.0.load(std::sync::atomic::Ordering::SeqCst), 1);
        mailbox.take(&mut cx, &mut taken, true, Packets::Leave);
        assert_eq!(taken.inputs.len(), 1);
        assert!(taken.packets.is_empty());
    }

    #[test]
    fn a_closed_mailbox_refuses_everything_and_hands_back_waiting_requests() {
        let mailbox = Mailbox::new(4);
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
        let mailbox = Mailbox::new(4);
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
}
