//! The transports a session runs on: opening one (the Engine.IO handshake over WebSocket or
//! long-polling), moving frames between it and the core until the session ends, and the
//! upgrade from polling to WebSocket (`2probe`, `3probe`, polling paused, `5`), as
//! `engine.io-client` does.

use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use bytes::Bytes;
use switchboard_engineio::TransportKind;
use switchboard_ws::{CloseCode, Event as WsEvent, Message};
use switchboard_ws_tokio::{connect, Stream, WebSocket};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::core::{ClientCore, Frame};
use crate::manager::Shared;
use crate::polling::{self, HttpConn, Target};
use crate::reason::DisconnectReason;

/// An open session, on the transport it opened with.
pub(crate) enum Session {
    WebSocket(Box<WebSocket<Stream>>),
    Polling(PollingSession),
}

/// A session opened over long-polling.
pub(crate) struct PollingSession {
    target: Arc<Target>,
    sid: Arc<str>,
    get: Option<HttpConn>,
}

fn now() -> std::time::Instant {
    Instant::now().into_std()
}

/// Opens a session on the first of `config.transports` (handshake included), within
/// `config.timeout`.
pub(crate) async fn open(shared: &Shared) -> Result<Session, String> {
    let config = &shared.config;
    let opening = async {
        match config.transports.first() {
            Some(TransportKind::Polling) => open_polling(shared).await.map(Session::Polling),
            Some(TransportKind::WebSocket) => open_websocket(shared)
                .await
                .map(|ws| Session::WebSocket(Box::new(ws))),
            None => Err("no transport configured".to_owned()),
        }
    };
    tokio::time::timeout(config.timeout, opening)
        .await
        .map_err(|_| "timeout".to_owned())?
}

/// Runs a session until it ends (upgrading it from polling when it may).
pub(crate) async fn run(shared: &Shared, session: Session) {
    let ws = match session {
        Session::WebSocket(ws) => ws,
        Session::Polling(polling) => match run_polling(shared, polling).await {
            Some(ws) => ws,
            None => return,
        },
    };
    shared
        .transport
        .send_replace(Some(TransportKind::WebSocket));
    run_websocket(shared, *ws).await;
}

/// The WebSocket's handshake options: the configured ones and the extra headers.
fn websocket_config(shared: &Shared) -> switchboard_ws_tokio::ClientConfig {
    let config = &shared.config;
    let mut websocket = config.websocket.clone();
    websocket
        .options
        .headers
        .extend(config.headers.iter().cloned());
    websocket.handshake_timeout = config.timeout;
    websocket
}

async fn open_websocket(shared: &Shared) -> Result<WebSocket<Stream>, String> {
    let (mut ws, _) = connect(&shared.websocket_url, websocket_config(shared))
        .await
        .map_err(|e| format!("websocket error: {e}"))?;
    shared.core().transport_opened();
    // The server's first frame is the `open` packet.
    loop {
        let event = ws.next_event().await;
        let mut core = shared.core();
        if !feed_websocket(&mut core, event) {
            continue;
        }
        if core.is_open() {
            shared
                .transport
                .send_replace(Some(TransportKind::WebSocket));
            return Ok(ws);
        }
        if !core.has_transport() {
            // Whatever the core heard (a closed stream, a bad handshake) is no open session.
            return Err("websocket error: no Engine.IO handshake".to_owned());
        }
    }
}

async fn open_polling(shared: &Shared) -> Result<PollingSession, String> {
    let config = &shared.config;
    let target = Arc::new(Target::new(
        &shared.polling_url,
        config.headers.clone(),
        config.websocket.tls.clone(),
        config.websocket.config.max_message_size,
    )?);
    let mut get = None;
    let body = polling::request(&mut get, &target, None, None).await?;
    let mut core = shared.core();
    core.transport_opened();
    feed_payload(&mut core, &body);
    let Some(handshake) = core.handshake().filter(|_| core.is_open()) else {
        core.transport_closed(DisconnectReason::ParseError);
        return Err("xhr poll error: no Engine.IO handshake".to_owned());
    };
    let sid = Arc::from(handshake.sid.as_str());
    shared.transport.send_replace(Some(TransportKind::Polling));
    Ok(PollingSession { target, sid, get })
}

/// Hands one WebSocket event to the core; false when it carried nothing for it.
fn feed_websocket(core: &mut ClientCore, event: std::io::Result<Option<WsEvent>>) -> bool {
    match event {
        Ok(Some(WsEvent::Message(Message::Text(text)))) => core.handle_text(now(), text.as_str()),
        Ok(Some(WsEvent::Message(Message::Binary(bytes)))) => core.handle_binary(now(), bytes),
        Ok(Some(WsEvent::Ping(_) | WsEvent::Pong(_))) => return false,
        Ok(Some(WsEvent::Closed(_)) | None) => {
            core.transport_closed(DisconnectReason::TransportClose);
        }
        Err(e) => {
            tracing::debug!(error = %e, "WebSocket failed");
            core.transport_closed(DisconnectReason::TransportError);
        }
    }
    true
}

/// Hands each packet of a polling payload to the core.
fn feed_payload(core: &mut ClientCore, body: &[u8]) {
    match polling::segments(body) {
        Ok(segments) => {
            for segment in segments {
                core.handle_text(now(), segment);
                if !core.has_transport() {
                    break;
                }
            }
        }
        Err(e) => {
            tracing::debug!(error = %e, "bad polling payload");
            core.transport_closed(DisconnectReason::ParseError);
        }
    }
}

/// Takes queued frames for one POST, at most the server's `maxPayload` bytes (but always at
/// least one frame), as one payload.
fn take_payload(core: &mut ClientCore) -> Option<Bytes> {
    let max = core.handshake().map_or(usize::MAX, |h| {
        usize::try_from(h.max_payload).unwrap_or(usize::MAX)
    });
    let mut frames = Vec::new();
    let mut size = 0;
    while let Some(next) = core.peek_transmit() {
        let len = polling::encoded_len(next) + 1;
        if !frames.is_empty() && size + len > max {
            break;
        }
        size += len;
        frames.extend(core.poll_transmit());
    }
    (!frames.is_empty()).then(|| polling::payload(&frames))
}

/// Runs an open WebSocket session until it ends.
async fn run_websocket(shared: &Shared, mut ws: WebSocket<Stream>) {
    let send_buffer = shared.config.send_buffer;
    loop {
        let (deadline, finished, held) = {
            let mut core = shared.core();
            if core.has_transport() && !core.wants_connection() {
                // Every socket left, or was refused or sent away by the server: as in Node,
                // the connection closes with the last one.
                core.close();
            }
            while ws.buffered_amount() < send_buffer {
                let queued = match core.poll_transmit() {
                    Some(Frame::Text(text)) => ws.queue(Message::text(text)),
                    Some(Frame::Binary(bytes)) => ws.queue(Message::Binary(bytes)),
                    None => break,
                };
                if queued.is_err() {
                    core.transport_closed(DisconnectReason::TransportError);
                }
            }
            (
                core.poll_timeout(),
                !core.has_transport(),
                core.peek_transmit().is_some(),
            )
        };
        shared.pump();
        if finished {
            // Whatever is queued (a DISCONNECT, the `close` packet) goes out with the close.
            let _ =
                tokio::time::timeout(Duration::from_secs(1), ws.close(CloseCode::NORMAL, "")).await;
            return;
        }
        // Reading drives the writes too; with frames held back (the socket's buffer was
        // full), it also ends once the buffer has drained below `send_buffer`, to refill it.
        let next = std::future::poll_fn(|cx| match ws.poll_next_event(cx) {
            Poll::Ready(event) => Poll::Ready(Some(event)),
            Poll::Pending if held && ws.buffered_amount() < send_buffer => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        });
        tokio::select! {
            event = next => {
                if let Some(event) = event {
                    feed_websocket(&mut shared.core(), event);
                }
            }
            () = shared.wake.notified() => {}
            () = sleep_until(deadline) => shared.core().handle_timeout(now()),
        }
    }
}

async fn sleep_until(deadline: Option<std::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(Instant::from_std(deadline)).await,
        None => std::future::pending().await,
    }
}

/// What the polling session's request tasks report.
enum Polled {
    Got(Option<HttpConn>, Result<Bytes, String>),
    Posted(Option<HttpConn>, Result<Bytes, String>),
    Probed(Result<Box<WebSocket<Stream>>, String>),
}

/// Runs a polling session: one GET parked at a time, one POST at a time with what is queued.
/// Returns the WebSocket when the session upgraded to it, `None` when it ended.
async fn run_polling(shared: &Shared, session: PollingSession) -> Option<Box<WebSocket<Stream>>> {
    let PollingSession { target, sid, get } = session;
    let (tx, mut rx) = mpsc::unbounded_channel();
    // The requests and the probe run as tasks, aborted when the session ends.
    let mut tasks = JoinSet::new();
    let (mut get_conn, mut post_conn) = (get, None);
    let (mut get_busy, mut post_busy) = (false, false);
    // A WebSocket that answered the probe, waiting for polling to pause.
    let mut probed: Option<Box<WebSocket<Stream>>> = None;

    let config = &shared.config;
    let (offered, post_timeout) = shared
        .core()
        .handshake()
        .map_or((false, config.timeout), |h| {
            (
                h.upgrades.iter().any(|u| u == "websocket"),
                // A server that takes longer than a heartbeat to answer a POST is not answering:
                // the pongs inside it would be too late anyway.
                h.ping_interval + h.ping_timeout,
            )
        });
    if config.upgrade && offered && config.transports.contains(&TransportKind::WebSocket) {
        let url = format!("{}&sid={sid}", shared.websocket_url);
        let (websocket, timeout, tx) = (websocket_config(shared), config.timeout, tx.clone());
        tasks.spawn(async move {
            let probe = tokio::time::timeout(timeout, probe(url, websocket))
                .await
                .unwrap_or_else(|_| Err("probe timed out".to_owned()));
            let _ = tx.send(Polled::Probed(probe));
        });
    }

    loop {
        let (deadline, finished, body) = {
            let mut core = shared.core();
            if core.has_transport() && !core.wants_connection() {
                core.close();
            }
            let finished = !core.has_transport();
            let body = if finished || post_busy || probed.is_some() {
                None
            } else {
                take_payload(&mut core)
            };
            (core.poll_timeout(), finished, body)
        };
        shared.pump();
        if finished {
            // The last frames (DISCONNECTs, then the `close` packet) after the POST in flight
            // (the server takes one at a time), briefly. The `close` packet goes in a POST of its
            // own, as engine.io-client sends it: Node's server handles a namespace's DISCONNECT
            // on the next tick, and a `close` in the same payload would close the session first
            // (the server would see `transport close` instead of the client leaving).
            let mut frames: Vec<Frame> = {
                let mut core = shared.core();
                std::iter::from_fn(|| core.poll_transmit()).collect()
            };
            let close = frames
                .last()
                .is_some_and(|f| *f == Frame::Text("1".to_owned()))
                .then(|| frames.pop());
            let goodbye = async {
                while post_busy {
                    match rx.recv().await {
                        Some(Polled::Posted(conn, _)) => (post_busy, post_conn) = (false, conn),
                        Some(_) => {}
                        None => return,
                    }
                }
                for body in [
                    (!frames.is_empty()).then(|| polling::payload(&frames)),
                    close.flatten().map(|close| polling::payload(&[close])),
                ]
                .into_iter()
                .flatten()
                {
                    let sent = polling::request(&mut post_conn, &target, Some(&sid), Some(body));
                    if sent.await.is_err() {
                        return;
                    }
                }
            };
            let _ = tokio::time::timeout(Duration::from_secs(1), goodbye).await;
            return None;
        }
        if let Some(body) = body {
            post_busy = true;
            let (mut conn, target, sid, tx) =
                (post_conn.take(), target.clone(), sid.clone(), tx.clone());
            tasks.spawn(async move {
                let post = polling::request(&mut conn, &target, Some(&sid), Some(body));
                let result = tokio::time::timeout(post_timeout, post)
                    .await
                    .unwrap_or_else(|_| Err("xhr post error: no answer".to_owned()));
                let _ = tx.send(Polled::Posted(conn, result));
            });
        }
        if !get_busy && probed.is_none() {
            get_busy = true;
            let (mut conn, target, sid, tx) =
                (get_conn.take(), target.clone(), sid.clone(), tx.clone());
            tasks.spawn(async move {
                let result = polling::request(&mut conn, &target, Some(&sid), None).await;
                let _ = tx.send(Polled::Got(conn, result));
            });
        }
        if !get_busy && !post_busy {
            if let Some(mut ws) = probed.take() {
                // Polling is paused (the server answered the parked GET with a `noop`): the
                // upgrade completes, and what is queued goes over the WebSocket from here on.
                if ws.queue(Message::text("5")).is_ok() {
                    tracing::debug!("upgraded to WebSocket");
                    return Some(ws);
                }
                shared
                    .core()
                    .transport_closed(DisconnectReason::TransportError);
                continue;
            }
        }
        tokio::select! {
            polled = rx.recv() => {
                let Some(polled) = polled else { continue };
                let mut core = shared.core();
                match polled {
                    Polled::Got(conn, Ok(body)) => {
                        (get_busy, get_conn) = (false, conn);
                        feed_payload(&mut core, &body);
                    }
                    Polled::Posted(conn, Ok(_)) => (post_busy, post_conn) = (false, conn),
                    Polled::Got(_, Err(e)) | Polled::Posted(_, Err(e)) => {
                        tracing::debug!(error = %e, "polling request failed");
                        core.transport_closed(DisconnectReason::TransportError);
                    }
                    Polled::Probed(Ok(ws)) => probed = Some(ws),
                    Polled::Probed(Err(e)) => {
                        tracing::debug!(error = %e, "upgrade failed; staying on polling");
                    }
                }
            }
            () = shared.wake.notified() => {}
            () = sleep_until(deadline) => shared.core().handle_timeout(now()),
        }
    }
}

/// Opens the WebSocket of an upgrade and probes it: `2probe` out, `3probe` back.
async fn probe(
    url: String,
    config: switchboard_ws_tokio::ClientConfig,
) -> Result<Box<WebSocket<Stream>>, String> {
    let (mut ws, _) = connect(&url, config)
        .await
        .map_err(|e| format!("websocket error: {e}"))?;
    ws.send(Message::text("2probe"))
        .await
        .map_err(|e| format!("websocket error: {e}"))?;
    loop {
        match ws.next_event().await {
            Ok(Some(WsEvent::Message(Message::Text(text)))) if text.as_str() == "3probe" => {
                return Ok(Box::new(ws));
            }
            Ok(Some(WsEvent::Ping(_) | WsEvent::Pong(_))) => {}
            other => return Err(format!("probe error: {other:?}")),
        }
    }
}
