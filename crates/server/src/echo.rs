//! `/ws/echo`: sends every message back unchanged, for conformance runs and benchmarks.

use std::sync::Arc;

use switchboard_ws::{CloseCode, Event};
use switchboard_ws_tokio::{Stream, WebSocket};
use tracing::debug;

use crate::app::App;

/// Serves one echo connection until it closes.
pub(crate) async fn serve(mut ws: WebSocket<Stream>, app: Arc<App>) {
    let mut shutdown = app.shutdown.clone();
    let shutdown = shutdown.changed();
    tokio::pin!(shutdown);
    let mut closing = false;
    let send_buffer = app.config.send_buffer;
    loop {
        // A peer that sends faster than it reads stops being read until its echoes drain.
        if ws.buffered_amount() > send_buffer && ws.flush().await.is_err() {
            break;
        }
        tokio::select! {
            _ = &mut shutdown, if !closing => {
                closing = true;
                let _ = ws.start_close(CloseCode::GOING_AWAY, "server shutting down");
            }
            event = ws.next_event() => match event {
                Ok(Some(Event::Message(message))) => {
                    let _ = ws.queue(message);
                }
                Ok(Some(Event::Closed(info))) => {
                    debug!(code = info.code.0, reason = %info.reason, error = ?info.error, "echo closed");
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    debug!(%err, "echo transport error");
                    break;
                }
            }
        }
    }
}
