//! Benchmark only: a floor for `switchboard bench --mode sio-broadcast`, the least work any
//! Socket.IO server could do for it. Not a Socket.IO server: it answers the Engine.IO open and
//! the Socket.IO CONNECT with fixed strings, never pings, parses nothing, and relays every
//! `42…` text frame it receives, framed once, to every other connection. What is left is what
//! no server can skip: reading the sender's frame, queueing one shared frame per receiver,
//! waking each receiver's task, and its writes.
//!
//! One thread, one task per connection, no locks (`Rc`, `RefCell`), like the leanest possible
//! event loop. Its deliveries per server CPU-second bound what switchboard or socketioxide could
//! reach on the same machine (see bench/socketio-ceiling.sh).
//!
//!     cargo run --release -p bench-broadcast-floor -- [ADDR]

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::poll_fn;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Poll, Waker};

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use switchboard_ws::{Event, Message, PreparedMessage};
use switchboard_ws_tokio::{upgrade, Transport, WebSocket};
use tokio::net::{TcpListener, TcpStream};

/// One connection as the others see it: frames to write, and its task's waker.
#[derive(Default)]
struct Member {
    queue: RefCell<Vec<Arc<PreparedMessage>>>,
    waker: RefCell<Option<Waker>>,
    woken: Cell<bool>,
}

impl Member {
    fn push(&self, frame: &Arc<PreparedMessage>) {
        self.queue.borrow_mut().push(Arc::clone(frame));
        if !self.woken.replace(true) {
            if let Some(waker) = self.waker.borrow().as_ref() {
                waker.wake_by_ref();
            }
        }
    }
}

type Members = Rc<RefCell<Vec<Rc<Member>>>>;

/// Receivers are cold in the cache; the fan-out asks for the next ones early, as switchboard's
/// does, so that the floor is not slower for want of it.
const PREFETCH_AHEAD: usize = 8;

fn prefetch<T>(ptr: *const T) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch reads no memory architecturally and cannot fault, for any address.
    unsafe {
        std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(ptr.cast());
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = ptr;
}

/// The Engine.IO open packet: pings an hour apart, so none come during a run.
const OPEN: &str = concat!(
    r#"0{"sid":"floor","upgrades":[],"pingInterval":3600000,"#,
    r#""pingTimeout":3600000,"maxPayload":1000000}"#
);
const CONNECT: &str = r#"40{"sid":"floor"}"#;

async fn relay<S: Transport>(mut ws: WebSocket<S>, members: Members) {
    let me = Rc::new(Member::default());
    members.borrow_mut().push(Rc::clone(&me));
    let _ = ws.queue(Message::text(OPEN));
    poll_fn(|cx| loop {
        let mut progressed = false;
        while let Poll::Ready(event) = ws.poll_next_event(cx) {
            progressed = true;
            match event {
                Ok(Some(Event::Message(Message::Text(text)))) => {
                    let bytes = text.as_str().as_bytes();
                    if bytes.starts_with(b"40") {
                        let _ = ws.queue(Message::text(CONNECT));
                    } else if bytes.starts_with(b"42") {
                        let frame = Arc::new(PreparedMessage::new(Message::Text(text)));
                        let members = members.borrow();
                        for (i, member) in members.iter().enumerate() {
                            if let Some(ahead) = members.get(i + PREFETCH_AHEAD) {
                                prefetch(Rc::as_ptr(ahead));
                            }
                            if !Rc::ptr_eq(member, &me) {
                                member.push(&frame);
                            }
                        }
                    }
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => return Poll::Ready(()),
            }
        }
        me.woken.set(false);
        {
            let mut waker = me.waker.borrow_mut();
            if !waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                *waker = Some(cx.waker().clone());
            }
        }
        for frame in me.queue.borrow_mut().drain(..) {
            let _ = ws.queue_prepared(&frame);
        }
        if ws.buffered_amount() > 0 {
            match ws.poll_flush(cx) {
                Poll::Ready(Ok(())) => progressed = true,
                Poll::Ready(Err(_)) => return Poll::Ready(()),
                Poll::Pending => {}
            }
        }
        if !progressed {
            return Poll::Pending;
        }
    })
    .await;
    members.borrow_mut().retain(|m| !Rc::ptr_eq(m, &me));
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:3000".into());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listener = TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        let members: Members = Rc::default();
        loop {
            let (tcp, _) = listener.accept().await?;
            let _ = tcp.set_nodelay(true);
            let members = Rc::clone(&members);
            tokio::task::spawn_local(async move {
                let service = service_fn(move |mut req| {
                    let members = Rc::clone(&members);
                    let answer =
                        match upgrade::accept(&mut req, &Default::default(), Default::default()) {
                            Ok((response, pending)) => {
                                tokio::task::spawn_local(async move {
                                    if let Ok(ws) = pending.finish::<TcpStream>().await {
                                        relay(ws, members).await;
                                    }
                                });
                                response.map(|()| String::new())
                            }
                            Err(e) => upgrade::error_response(&e),
                        };
                    async move { Ok::<_, Infallible>(answer) }
                });
                let _ = http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), service)
                    .with_upgrades()
                    .await;
            });
        }
    })
}
