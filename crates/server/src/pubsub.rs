//! `/ws`: publish/subscribe over rooms with a small JSON protocol (docs/pubsub.md).
//!
//! Requests: `{"type":"subscribe","room":R}`, `{"type":"unsubscribe","room":R}`,
//! `{"type":"publish","room":R,"data":ANY}`. Every other subscriber of R receives
//! `{"type":"message","room":R,"data":ANY}`; bad requests get `{"type":"error","message":…}`
//! and the connection stays open.

use std::collections::HashSet;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use switchboard_ws::{CloseCode, Event, Message, PreparedMessage};
use switchboard_ws_tokio::{Stream, WebSocket};
use tracing::debug;

use crate::app::App;
use crate::rooms::{next_member_id, MemberHandle, MemberId};

/// Longest room name accepted, in bytes.
pub(crate) const MAX_ROOM_NAME: usize = 256;

/// Messages taken from the queue per wake-up, to amortise the select.
const DRAIN_BATCH: usize = 64;

#[derive(Deserialize)]
struct Request<'a> {
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    room: Option<&'a RawValue>,
    /// Present (even as `null`) or absent; `Option<&RawValue>` alone would read `null` as absent.
    #[serde(borrow, default, deserialize_with = "present")]
    data: Option<&'a RawValue>,
}

fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<&'de RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

#[derive(Serialize)]
struct Outgoing<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    room: &'a str,
    data: &'a RawValue,
}

/// The JSON of an error reply.
pub(crate) fn error_json(message: &str) -> String {
    #[derive(Serialize)]
    struct ErrorReply<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        message: &'a str,
    }
    let reply = ErrorReply {
        kind: "error",
        message,
    };
    serde_json::to_string(&reply)
        .unwrap_or_else(|_| String::from(r#"{"type":"error","message":"error"}"#))
}

/// One parsed, valid request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Action {
    Subscribe(String),
    Unsubscribe(String),
    /// The room, the ready-to-send `message` JSON, and the `data` JSON alone.
    Publish(String, String, String),
}

/// Parses a request, or explains what is wrong with it.
pub(crate) fn parse_request(text: &str) -> Result<Action, String> {
    let request: Request<'_> =
        serde_json::from_str(text).map_err(|e| format!("invalid JSON: {e}"))?;
    let kind = request.kind.ok_or("missing \"type\"")?;
    let kind = kind.as_str();
    let room_raw = request.room.ok_or("missing \"room\"")?;
    let room: String =
        serde_json::from_str(room_raw.get()).map_err(|_| "\"room\" must be a string")?;
    if room.is_empty() || room.len() > MAX_ROOM_NAME {
        return Err(format!("\"room\" must be 1 to {MAX_ROOM_NAME} bytes"));
    }
    match kind {
        "subscribe" => Ok(Action::Subscribe(room)),
        "unsubscribe" => Ok(Action::Unsubscribe(room)),
        "publish" => {
            let data = request.data.ok_or("missing \"data\"")?;
            let json = serde_json::to_string(&Outgoing {
                kind: "message",
                room: &room,
                data,
            })
            .map_err(|e| format!("cannot encode: {e}"))?;
            Ok(Action::Publish(room, json, data.get().to_owned()))
        }
        other => Err(format!("unknown type {other:?}")),
    }
}

/// Serves one `/ws` connection until it closes.
pub(crate) async fn serve(mut ws: WebSocket<Stream>, app: Arc<App>) {
    let id = next_member_id();
    let (handle, mut queue, slow) = MemberHandle::new(app.config.send_queue);
    let mut session = Session {
        id,
        handle,
        rooms: HashSet::new(),
        app: app.clone(),
    };
    // Both futures are created once: re-creating them per message would register and
    // unregister this task with a shared waiter list every time.
    let mut shutdown = app.shutdown.clone();
    let shutdown = shutdown.changed();
    tokio::pin!(shutdown);
    let slow = slow.notified();
    tokio::pin!(slow);
    let mut closing = false;
    let send_buffer = app.config.send_buffer;
    loop {
        if !closing && ws.buffered_amount() >= send_buffer {
            // Backpressure: write out before taking more from the queue (which meanwhile fills
            // and, if this peer does not read, marks it a slow consumer). Input waits too.
            tokio::select! {
                written = ws.flush() => if written.is_err() { break },
                _ = &mut shutdown => closing = shut_down(&mut ws),
                _ = &mut slow => closing = drop_slow_consumer(&mut ws, &mut session),
            }
            continue;
        }
        tokio::select! {
            _ = &mut shutdown, if !closing => closing = shut_down(&mut ws),
            _ = &mut slow, if !closing => closing = drop_slow_consumer(&mut ws, &mut session),
            event = ws.next_event() => match event {
                Ok(Some(Event::Message(Message::Text(text)))) => {
                    if let Err(reason) = session.handle(&text) {
                        let _ = ws.queue(Message::text(error_json(&reason)));
                    }
                }
                Ok(Some(Event::Message(Message::Binary(_)))) => {
                    let _ = ws.queue(Message::text(error_json("binary messages are not part of the /ws protocol")));
                }
                Ok(Some(Event::Closed(info))) => {
                    debug!(member = id, code = info.code.0, reason = %info.reason, error = ?info.error, "/ws closed");
                    session.leave_all();
                }
                Ok(Some(_)) => {}
                Ok(None) => break,
                Err(err) => {
                    debug!(member = id, %err, "/ws transport error");
                    break;
                }
            },
            Some(message) = queue.recv(), if !closing => {
                let _ = ws.queue_prepared(&message);
                for _ in 1..DRAIN_BATCH {
                    if ws.buffered_amount() >= send_buffer {
                        break;
                    }
                    match queue.try_recv() {
                        Ok(message) => { let _ = ws.queue_prepared(&message); }
                        Err(_) => break,
                    }
                }
            }
        }
    }
    session.leave_all();
}

/// Starts the 1001 close on server shutdown. Returns true: the connection is closing.
fn shut_down(ws: &mut WebSocket<Stream>) -> bool {
    let _ = ws.start_close(CloseCode::GOING_AWAY, "server shutting down");
    true
}

/// Applies the slow-consumer policy: out of every room, then closed with 1008.
fn drop_slow_consumer(ws: &mut WebSocket<Stream>, session: &mut Session) -> bool {
    debug!(member = session.id, "closing a slow consumer");
    session.leave_all();
    let _ = ws.start_close(CloseCode::POLICY_VIOLATION, "slow consumer");
    true
}

struct Session {
    id: MemberId,
    handle: MemberHandle,
    rooms: HashSet<String>,
    app: Arc<App>,
}

impl Session {
    fn handle(&mut self, text: &str) -> Result<(), String> {
        match parse_request(text)? {
            Action::Subscribe(room) => {
                if !self.rooms.contains(&room)
                    && self.rooms.len() >= self.app.config.max_rooms_per_connection
                {
                    return Err(format!(
                        "subscribed to the maximum of {} rooms",
                        self.app.config.max_rooms_per_connection
                    ));
                }
                self.app.rooms.join(&room, self.id, &self.handle);
                self.rooms.insert(room);
            }
            Action::Unsubscribe(room) => {
                self.app.rooms.leave(&room, self.id);
                self.rooms.remove(&room);
            }
            Action::Publish(room, json, data) => {
                let message = Arc::new(PreparedMessage::new(Message::text(json)));
                self.app.rooms.publish(&room, Some(self.id), &message);
                // Other servers' members, and members away but recoverable, are not seen
                // here: the publish must go through the adapter for them.
                let config = &self.app.config;
                let unseen = config.redis.is_some() || config.socketio_recovery.is_some();
                crate::socketio::publish_from_ws(&self.app.io, &room, &data, unseen);
            }
        }
        Ok(())
    }

    fn leave_all(&mut self) {
        for room in self.rooms.drain() {
            self.app.rooms.leave(&room, self.id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_parse_and_publish_keeps_data_verbatim() {
        assert_eq!(
            parse_request(r#"{"type":"subscribe","room":"a"}"#),
            Ok(Action::Subscribe("a".into()))
        );
        assert_eq!(
            parse_request(r#"{"room":"a","type":"unsubscribe"}"#),
            Ok(Action::Unsubscribe("a".into()))
        );
        let Ok(Action::Publish(room, json, data)) =
            parse_request(r#"{"type":"publish","room":"r\"1","data":{"x":[1,2.5,"\u00e9"]}}"#)
        else {
            panic!("publish did not parse");
        };
        assert_eq!(room, "r\"1");
        assert_eq!(data, r#"{"x":[1,2.5,"\u00e9"]}"#);
        assert_eq!(
            json,
            r#"{"type":"message","room":"r\"1","data":{"x":[1,2.5,"\u00e9"]}}"#
        );
        let reparsed: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(reparsed["data"]["x"][2], "é");
        let Ok(Action::Publish(_, json, _)) =
            parse_request(r#"{"type":"publish","room":"r","data":null}"#)
        else {
            panic!("null data is data");
        };
        assert_eq!(json, r#"{"type":"message","room":"r","data":null}"#);
    }

    #[test]
    fn bad_requests_are_explained() {
        for (text, needle) in [
            ("not json", "invalid JSON"),
            (r#"{"room":"a"}"#, "missing \"type\""),
            (r#"{"type":"subscribe"}"#, "missing \"room\""),
            (r#"{"type":"subscribe","room":5}"#, "must be a string"),
            (r#"{"type":"subscribe","room":""}"#, "1 to 256"),
            (r#"{"type":"publish","room":"a"}"#, "missing \"data\""),
            (r#"{"type":"dance","room":"a"}"#, "unknown type"),
            ("[1,2]", "invalid JSON"),
        ] {
            let err = parse_request(text).unwrap_err();
            assert!(err.contains(needle), "{text}: {err}");
        }
        assert_eq!(error_json("a\"b"), r#"{"type":"error","message":"a\"b"}"#);
        let long = format!(
            r#"{{"type":"subscribe","room":"{}"}}"#,
            "x".repeat(MAX_ROOM_NAME + 1)
        );
        assert!(parse_request(&long).is_err());
    }
}
