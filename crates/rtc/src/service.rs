//! The signaling served on a Socket.IO namespace: events in, [`Signaling`] decides, events
//! out; timers for participants whose connection dropped.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde::Deserialize;
use serde_json::{json, Value as Json};
use switchboard_socketio::{Ack, DisconnectReason, Socket, SocketIo, TryData};

use crate::error::{ErrorCode, RtcError};
use crate::ice::{host_of, IceConfig};
use crate::signaling::{JoinRequest, Outbound, Signaling, SignalingConfig};

/// Where and how signaling is served.
#[derive(Debug, Clone)]
pub struct RtcConfig {
    /// The Socket.IO namespace (`/rtc`).
    pub namespace: String,
    /// Limits and the grace period.
    pub signaling: SignalingConfig,
    /// The ICE servers participants get.
    pub ice: IceConfig,
}

impl Default for RtcConfig {
    fn default() -> Self {
        Self {
            namespace: "/rtc".into(),
            signaling: SignalingConfig::default(),
            ice: IceConfig::default(),
        }
    }
}

type Authorizer = Arc<
    dyn Fn(Socket, JoinRequest) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send>>
        + Send
        + Sync,
>;

/// Sets signaling up before it is attached to a server.
pub struct RtcBuilder {
    config: RtcConfig,
    authorize: Option<Authorizer>,
}

impl RtcBuilder {
    /// Decides whether a join may proceed (after the request is checked, before the room
    /// is touched); an `Err` reaches the client as `forbidden` with its message.
    pub fn authorize<F, Fut>(mut self, hook: F) -> Self
    where
        F: Fn(Socket, JoinRequest) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), String>> + Send + 'static,
    {
        self.authorize = Some(Arc::new(move |socket, request| {
            Box::pin(hook(socket, request))
        }));
        self
    }

    /// Serves signaling on `io`.
    pub fn attach(self, io: &SocketIo) -> RtcSignaling {
        let rtc = RtcSignaling {
            inner: Arc::new(Inner {
                state: Mutex::new(Signaling::new(self.config.signaling)),
                ice: self.config.ice,
                authorize: self.authorize,
                io: io.clone(),
                namespace: self.config.namespace.clone(),
            }),
        };
        let handle = rtc.clone();
        io.ns(&self.config.namespace, move |socket: Socket| {
            let rtc = handle.clone();
            async move { rtc.bind(&socket) }
        });
        rtc
    }
}

/// Signaling served on a Socket.IO namespace. Cheap to clone.
#[derive(Clone)]
pub struct RtcSignaling {
    inner: Arc<Inner>,
}

struct Inner {
    state: Mutex<Signaling>,
    ice: IceConfig,
    authorize: Option<Authorizer>,
    io: SocketIo,
    namespace: String,
}

impl std::fmt::Debug for RtcSignaling {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RtcSignaling")
            .field("namespace", &self.inner.namespace)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct JoinPayload {
    room: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    meta: Json,
    #[serde(default)]
    resume: Option<String>,
}

#[derive(Deserialize)]
struct SignalPayload {
    to: String,
    #[serde(default)]
    data: Json,
}

impl RtcSignaling {
    /// A builder with these settings.
    pub fn builder(config: RtcConfig) -> RtcBuilder {
        RtcBuilder {
            config,
            authorize: None,
        }
    }

    /// Serves signaling on `io` with these settings and no authorization hook.
    pub fn attach(io: &SocketIo, config: RtcConfig) -> Self {
        Self::builder(config).attach(io)
    }

    /// How many participants `room` has (those in their grace period included).
    pub fn room_size(&self, room: &str) -> usize {
        self.state().room_size(room)
    }

    fn state(&self) -> std::sync::MutexGuard<'_, Signaling> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn bind(&self, socket: &Socket) {
        let rtc = self.clone();
        socket.on(
            "join",
            move |socket: Socket, TryData(payload): TryData<JoinPayload>, ack: Ack| {
                let rtc = rtc.clone();
                async move {
                    let result = match payload {
                        Ok(payload) => rtc.join(&socket, payload).await,
                        Err(e) => Err(bad_request(e)),
                    };
                    match result {
                        Ok((answer, pending)) => {
                            rtc.answer(&socket, "join", ack, Ok(answer));
                            // After the answer: signals queued for a resumed place.
                            rtc.deliver(pending);
                        }
                        Err(e) => rtc.answer(&socket, "join", ack, Err(e)),
                    }
                }
            },
        );
        let rtc = self.clone();
        socket.on("leave", move |socket: Socket, ack: Ack| {
            let rtc = rtc.clone();
            async move {
                let result = rtc.state().leave(socket.id());
                let result = result.map(|out| {
                    rtc.deliver(out);
                    json!({})
                });
                rtc.answer(&socket, "leave", ack, result);
            }
        });
        let rtc = self.clone();
        socket.on(
            "signal",
            move |socket: Socket, TryData(payload): TryData<SignalPayload>, ack: Ack| {
                let rtc = rtc.clone();
                async move {
                    let result = payload.map_err(bad_request).and_then(|p| {
                        rtc.state()
                            .signal(socket.id(), &p.to, p.data, Instant::now())
                    });
                    let result = result.map(|out| {
                        rtc.deliver(out);
                        json!({})
                    });
                    rtc.answer(&socket, "signal", ack, result);
                }
            },
        );
        let rtc = self.clone();
        socket.on_disconnect(move |socket: Socket, reason: DisconnectReason| {
            let rtc = rtc.clone();
            async move { rtc.disconnected(&socket, reason) }
        });
    }

    async fn join(
        &self,
        socket: &Socket,
        payload: JoinPayload,
    ) -> Result<(Json, Vec<Outbound>), RtcError> {
        let request = JoinRequest {
            room: payload.room,
            name: payload.name,
            meta: payload.meta,
            resume: payload.resume,
        };
        crate::signaling::validate_room(&request.room)?;
        if let Some(authorize) = &self.inner.authorize {
            authorize(socket.clone(), request.clone())
                .await
                .map_err(|message| RtcError::new(ErrorCode::Forbidden, message))?;
        }
        let new_id = switchboard_engineio::generate_sid();
        let new_token = switchboard_engineio::generate_sid();
        let (joined, out) = self.state().join(
            Arc::from(socket.id()),
            request,
            Arc::from(new_id),
            new_token,
            Instant::now(),
        )?;
        let host = socket
            .handshake()
            .headers()
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .map_or("127.0.0.1", host_of);
        let now_unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let ice_servers = self.inner.ice.servers_for(host, &joined.id, now_unix);
        let answer = json!({
            "id": joined.id,
            "resume": joined.resume,
            "room": joined.room,
            "peers": joined.peers,
            "resumed": joined.resumed,
            "iceServers": ice_servers,
        });
        Ok((answer, out))
    }

    fn disconnected(&self, socket: &Socket, reason: DisconnectReason) {
        if reason.is_recoverable() {
            let out = self.state().connection_lost(socket.id(), Instant::now());
            self.deliver(out);
            let rtc = self.clone();
            let grace = self.state().config().grace;
            tokio::spawn(async move {
                tokio::time::sleep(grace).await;
                let out = rtc.state().expire(Instant::now());
                rtc.deliver(out);
            });
        } else {
            let out = self.state().connection_closed(socket.id());
            self.deliver(out);
        }
    }

    /// Sends each event to its connection.
    fn deliver(&self, out: Vec<Outbound>) {
        if out.is_empty() {
            return;
        }
        let Some(ns) = self.inner.io.of(&self.inner.namespace) else {
            return;
        };
        // Signaling state is this server's own: its participants are all local sockets, even
        // when Socket.IO runs on a cluster adapter (no message for other servers).
        for Outbound { to, event } in out {
            if let Err(e) = ns
                .clone()
                .local()
                .to(to)
                .emit(event.name(), &event.payload())
            {
                tracing::debug!(error = %e, "signaling event not sent");
            }
        }
    }

    /// Acknowledges with `{ok: true, ...}` or the refusal; a refusal of an event sent
    /// without an acknowledgement becomes an `rtc-error` event.
    fn answer(&self, socket: &Socket, event: &str, ack: Ack, result: Result<Json, RtcError>) {
        match result {
            Ok(mut body) => {
                if let Json::Object(map) = &mut body {
                    map.insert("ok".into(), Json::Bool(true));
                }
                ack.send(&body);
            }
            Err(error) => {
                tracing::debug!(socket = %socket.id(), event, %error, "signaling request refused");
                if ack.requested() {
                    ack.send(&json!({ "ok": false, "error": error }));
                } else {
                    let _ = socket.emit(
                        "rtc-error",
                        &json!({ "event": event, "code": error.code, "message": error.message }),
                    );
                }
            }
        }
    }
}

fn bad_request(error: impl std::fmt::Display) -> RtcError {
    RtcError::new(ErrorCode::BadRequest, format!("bad payload: {error}"))
}
