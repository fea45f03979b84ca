//! Session id → the session task's input queue, shared by every worker thread; and, for a
//! moment, the sessions a polling client just closed.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use switchboard_engineio::PollResponse;

use super::mailbox::Mailbox;

/// How long a GET overtaken by its client's close is still answered (see
/// [`Session::overtaken_poll_answer`](switchboard_engineio::Session::overtaken_poll_answer)):
/// the two requests were sent together, so the GET is late by a network hiccup at most.
const OVERTAKEN_POLL_GRACE: Duration = Duration::from_secs(2);

/// At most this many closed sessions are remembered (a burst of closes beyond it gets Node's
/// answer, 400, for its overtaken GETs).
const MAX_CLOSED: usize = 1024;

/// Live sessions. A plain lock: it is touched on handshakes, polling requests and closes,
/// never per WebSocket message.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    sessions: Mutex<Sessions>,
}

#[derive(Debug, Default)]
struct Sessions {
    live: HashMap<Arc<str>, Arc<Mailbox>>,
    /// Sessions the client closed over polling with no GET waiting: the answer for the GET
    /// the close overtook, and until when it is given.
    closed: HashMap<Arc<str>, (Instant, PollResponse)>,
    /// Set by [`Registry::shut_down`]: sessions registered later are closed at once.
    shut_down: bool,
}

impl Registry {
    /// Registers a session; false once the registry is shut down (the caller closes it: the
    /// lock orders this against [`Registry::shut_down`], so no session escapes both).
    pub(crate) fn insert(&self, sid: Arc<str>, mailbox: Arc<Mailbox>) -> bool {
        let mut sessions = self.lock();
        sessions.live.insert(sid, mailbox);
        !sessions.shut_down
    }

    /// Whether [`Registry::shut_down`] was called.
    pub(crate) fn is_shut_down(&self) -> bool {
        self.lock().shut_down
    }

    /// Every live session's inbox, to close them; from now on [`Registry::insert`] says the
    /// new session must close too.
    pub(crate) fn shut_down(&self) -> Vec<Arc<Mailbox>> {
        let mut sessions = self.lock();
        sessions.shut_down = true;
        sessions.live.values().cloned().collect()
    }

    pub(crate) fn get(&self, sid: &str) -> Option<Arc<Mailbox>> {
        self.lock().live.get(sid).cloned()
    }

    /// Forgets an ended session; `overtaken_poll` is the answer its client's overtaken GET
    /// gets, if it arrives soon.
    pub(crate) fn remove(&self, sid: &Arc<str>, overtaken_poll: Option<PollResponse>) {
        let mut sessions = self.lock();
        sessions.live.remove(sid);
        if let Some(answer) = overtaken_poll {
            sessions.remember_closed(Arc::clone(sid), answer, Instant::now());
        }
    }

    /// The answer for a GET on a session its client has just closed (once).
    pub(crate) fn take_overtaken_poll(&self, sid: &str) -> Option<PollResponse> {
        self.lock().take_closed(sid, Instant::now())
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().live.len()
    }

    fn lock(&self) -> MutexGuard<'_, Sessions> {
        self.sessions.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Sessions {
    fn remember_closed(&mut self, sid: Arc<str>, answer: PollResponse, now: Instant) {
        if self.closed.len() >= MAX_CLOSED {
            self.closed.retain(|_, (until, _)| *until > now);
        }
        if self.closed.len() < MAX_CLOSED {
            self.closed
                .insert(sid, (now + OVERTAKEN_POLL_GRACE, answer));
        }
    }

    fn take_closed(&mut self, sid: &str, now: Instant) -> Option<PollResponse> {
        match self.closed.remove(sid) {
            Some((until, answer)) if until > now => Some(answer),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn noop() -> PollResponse {
        PollResponse {
            body: Bytes::from_static(b"6"),
            binary: false,
            compress: false,
        }
    }

    #[test]
    fn an_overtaken_get_is_answered_once_and_only_during_the_grace() {
        let t0 = Instant::now();
        let mut sessions = Sessions::default();
        sessions.remember_closed(Arc::from("a"), noop(), t0);
        sessions.remember_closed(Arc::from("b"), noop(), t0);
        assert_eq!(sessions.take_closed("a", t0), Some(noop()));
        assert_eq!(sessions.take_closed("a", t0), None, "once");
        assert_eq!(sessions.take_closed("unknown", t0), None);
        assert_eq!(
            sessions.take_closed("b", t0 + OVERTAKEN_POLL_GRACE),
            None,
            "too late"
        );
    }

    #[test]
    fn closed_sessions_are_bounded_and_the_expired_make_room() {
        let t0 = Instant::now();
        let mut sessions = Sessions::default();
        for i in 0..MAX_CLOSED + 10 {
            sessions.remember_closed(Arc::from(i.to_string()), noop(), t0);
        }
        assert_eq!(sessions.closed.len(), MAX_CLOSED);
        let later = t0 + OVERTAKEN_POLL_GRACE;
        sessions.remember_closed(Arc::from("late"), noop(), later);
        assert_eq!(sessions.closed.len(), 1, "the expired ones were dropped");
        assert_eq!(sessions.take_closed("late", later), Some(noop()));
    }
}
