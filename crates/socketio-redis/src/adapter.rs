//! One namespace's adapter: carries operations out on this server's sockets through the
//! [`LocalNamespace`] and forwards them to the other servers over Redis; carries out what
//! the other servers forward.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use switchboard_socketio::adapter::{
    Adapter, AdapterError, AdapterFuture, BroadcastAcks, BroadcastOptions, BroadcastPacket,
    LocalNamespace, RecoveredSession, RoomEvent, ServerAcks, Session, SocketInfo,
};
use switchboard_socketio::{Room, ServerAck, ServerEvent, Value};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use crate::bus::{lock, Bus, QueueFull};
use crate::wire::cluster::{self, Incoming};
use crate::wire::{
    self, Answer, Channels, IncomingRequest, Outgoing, RemoteBroadcast, Request, RequestType,
    Response, Target,
};
use crate::SubscriptionMode;

/// The longest this server gathers acknowledgements for another server's broadcast, whatever
/// timeout that server asked for.
const MAX_REMOTE_ACK_WAIT: Duration = Duration::from_secs(600);

/// Which of Node's Redis adapters this one speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dialect {
    /// `createAdapter` of `@socket.io/redis-adapter`.
    Classic,
    /// `createShardedAdapter` of `@socket.io/redis-adapter`.
    Sharded,
    /// `createAdapter` of `@socket.io/redis-streams-adapter`.
    Streams,
}

/// A `fetchSockets` waiting for the other servers.
struct PendingFetch {
    /// Answers still expected.
    remaining: usize,
    sockets: Vec<SocketInfo>,
    done: Option<oneshot::Sender<Vec<SocketInfo>>>,
}

/// What the other servers send back for a broadcast with acknowledgements, or for a
/// server-side event that asked for answers.
enum AckEvent {
    /// A server asked this many of its sockets.
    ClientCount(usize),
    /// One socket's answer, or one server's.
    Ack(Value),
}

/// The adapter of one namespace (made by [`crate::RedisAdapterFactory`]).
pub struct NamespaceAdapter {
    /// Itself, for the futures of requests (which outlive the borrow they start from).
    me: std::sync::Weak<NamespaceAdapter>,
    bus: Arc<Bus>,
    local: LocalNamespace,
    channels: Channels,
    fetches: Mutex<HashMap<String, PendingFetch>>,
    acks: Mutex<HashMap<String, mpsc::UnboundedSender<AckEvent>>>,
    /// The sharded adapter's dynamic modes: rooms the application holds members of outside
    /// Socket.IO ([`crate::RedisAdapterFactory::follow_room`]), counted. The lock also orders
    /// every decision to follow or unfollow a room's channel.
    interests: Mutex<HashMap<Room, usize>>,
    /// The streams adapter: the namespace's stream.
    stream: String,
}

impl std::fmt::Debug for NamespaceAdapter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceAdapter")
            .field("nsp", &self.local.name())
            .field("uid", &self.bus.uid)
            .finish_non_exhaustive()
    }
}

fn unavailable(_: QueueFull) -> AdapterError {
    AdapterError::Unavailable("the queue of messages for Redis is full".into())
}

fn redis_error(e: &redis::RedisError) -> AdapterError {
    AdapterError::Unavailable(format!("redis: {e}"))
}

impl NamespaceAdapter {
    pub(crate) fn new(bus: Arc<Bus>, local: LocalNamespace) -> Arc<Self> {
        let channels = Channels::new(&bus.config.key, local.name(), &bus.uid);
        let stream = bus
            .config
            .streams
            .as_ref()
            .map(|streams| crate::streams::stream_of(streams, local.name()))
            .unwrap_or_default();
        let adapter = Arc::new_cyclic(|me| Self {
            me: me.clone(),
            bus: Arc::clone(&bus),
            local,
            channels,
            fetches: Mutex::default(),
            acks: Mutex::default(),
            interests: Mutex::default(),
            stream,
        });
        bus.register(&adapter);
        if let Some(SubscriptionMode::Dynamic | SubscriptionMode::DynamicPrivate) =
            bus.config.sharded
        {
            // Weak: the namespace's rooms hold the listener, and must not hold the adapter.
            let me = Arc::downgrade(&adapter);
            adapter.local.watch_rooms(move |event| {
                let Some(adapter) = me.upgrade() else { return };
                let interests = lock(&adapter.interests);
                match event {
                    RoomEvent::Created(room) if adapter.has_room_channel(room) => {
                        adapter
                            .bus
                            .follow_room(&adapter, adapter.channels.room(room));
                    }
                    RoomEvent::Deleted(room)
                        if !interests.contains_key(room) && **room != *adapter.bus.uid =>
                    {
                        adapter
                            .bus
                            .unfollow_room(&adapter, &adapter.channels.room(room));
                    }
                    _ => {}
                }
            });
        }
        adapter
    }

    /// The application holds members of `room` outside Socket.IO: in the sharded adapter's
    /// dynamic modes, its channel is followed until as many [`Self::unfollow_room`] calls.
    pub(crate) fn follow_room(self: &Arc<Self>, room: &str) {
        if !matches!(
            self.bus.config.sharded,
            Some(SubscriptionMode::Dynamic | SubscriptionMode::DynamicPrivate)
        ) {
            return;
        }
        if room == self.bus.uid {
            return; // the channel of this server's answers
        }
        let mut interests = lock(&self.interests);
        let count = interests.entry(Room::from(room)).or_default();
        *count += 1;
        if *count == 1 {
            self.bus.follow_room(self, self.channels.room(room));
        }
    }

    /// Undoes one [`Self::follow_room`].
    pub(crate) fn unfollow_room(&self, room: &str) {
        if room == self.bus.uid {
            return;
        }
        let mut interests = lock(&self.interests);
        let Some(count) = interests.get_mut(room) else {
            return;
        };
        *count -= 1;
        if *count > 0 {
            return;
        }
        interests.remove(room);
        // Socket.IO members keep it followed (a room event comes once they are gone).
        if !(self.local.has_room(room) && self.has_room_channel(room)) {
            self.bus.unfollow_room(self, &self.channels.room(room));
        }
    }

    /// `packet` with `offset` appended, when connection-state recovery keeps it (Node's
    /// `addOffsetIfNecessary`: an event without acknowledgement, not volatile).
    fn with_offset(
        &self,
        packet: &BroadcastPacket,
        opts: &BroadcastOptions,
        offset: Option<&str>,
    ) -> Option<BroadcastPacket> {
        let offset = offset.filter(|_| self.local.recovery().is_some() && !opts.flags.volatile)?;
        let mut packet = packet.clone();
        packet.args.push(Value::from(offset));
        Some(packet)
    }

    /// Sends `request` to the other servers and applies `effect` to this server's sockets: at
    /// once, or (the streams adapter, for what goes through the stream) once the entry is
    /// appended, as Node does, so that this server applies its own changes in stream order too.
    fn request_then(
        &self,
        request: &Outgoing<'_>,
        effect: impl FnOnce() + Send + 'static,
    ) -> Result<(), AdapterError> {
        if self.dialect() == Dialect::Streams {
            let message = cluster::request(request);
            if !message.ephemeral() {
                let entry = message.entry(&self.bus.uid, self.local.name());
                let then = Box::new(move |_id: Option<String>| effect());
                let stream = self.stream.clone();
                return self
                    .bus
                    .append(stream, entry, Some(then))
                    .map_err(unavailable);
            }
        }
        effect();
        self.request(request)
    }

    /// The sharded adapter's dynamic modes: whether `room` has a channel of its own (Node's
    /// `shouldUseASeparateNamespace`: a socket's own room only in `DynamicPrivate`).
    fn has_room_channel(&self, room: &str) -> bool {
        // A room named after this server would be its answers' channel.
        if room == self.bus.uid {
            return false;
        }
        match self.bus.config.sharded {
            Some(SubscriptionMode::DynamicPrivate) => true,
            Some(SubscriptionMode::Dynamic) => self.local.socket(room).is_none(),
            Some(SubscriptionMode::Static) | None => false,
        }
    }

    /// Where the sharded adapter publishes a broadcast without acknowledgements (Node's
    /// `computeChannel`): a one-room broadcast goes to the room's channel in the dynamic
    /// modes, unless (in `Dynamic`) the room looks like a socket id, which has none.
    fn shard_broadcast_channel(&self, opts: &BroadcastOptions) -> String {
        match (self.bus.config.sharded, opts.rooms.as_slice()) {
            (Some(SubscriptionMode::DynamicPrivate), [room]) => self.channels.room(room),
            (Some(SubscriptionMode::Dynamic), [room]) if room.len() != 20 => {
                self.channels.room(room)
            }
            _ => self.channels.broadcast.clone(),
        }
    }

    fn dialect(&self) -> Dialect {
        match (&self.bus.config.sharded, &self.bus.config.streams) {
            (Some(_), _) => Dialect::Sharded,
            (None, Some(_)) => Dialect::Streams,
            (None, None) => Dialect::Classic,
        }
    }

    /// `self` as an `Arc`; there is one as long as the adapter can be called.
    fn self_arc(&self) -> Result<Arc<Self>, AdapterError> {
        self.me
            .upgrade()
            .ok_or_else(|| AdapterError::Unavailable("the adapter is shutting down".into()))
    }

    pub(crate) fn channels(&self) -> &Channels {
        &self.channels
    }

    fn request(&self, request: &Outgoing<'_>) -> Result<(), AdapterError> {
        let (uid, nsp) = (&self.bus.uid, self.local.name());
        let queued = match self.dialect() {
            Dialect::Classic => {
                let body = wire::encode_request(uid, request);
                self.bus.publish(self.channels.request.clone(), body)
            }
            Dialect::Sharded => {
                let body = cluster::request(request).pubsub(uid, nsp);
                self.bus.publish(self.channels.broadcast.clone(), body)
            }
            Dialect::Streams => {
                let message = cluster::request(request);
                if message.ephemeral() {
                    let body = message.msgpack(uid, nsp);
                    self.bus.publish(self.channels.broadcast.clone(), body)
                } else {
                    self.bus
                        .append(self.stream.clone(), message.entry(uid, nsp), None)
                }
            }
        };
        queued.map_err(unavailable)
    }

    fn answer(&self, requester: Option<&str>, answer: &Answer<'_>) {
        let (uid, nsp) = (&self.bus.uid, self.local.name());
        // The cluster adapters' requests always name their requester.
        let to_requester = |frame: fn(cluster::ClusterOut, &str, &str) -> Bytes| {
            requester
                .zip(cluster::answer(answer))
                .map(|(requester, message)| {
                    (
                        self.channels.shard_response(requester),
                        frame(message, uid, nsp),
                    )
                })
        };
        let message = match self.dialect() {
            Dialect::Classic => {
                let specific = self.bus.config.publish_on_specific_response_channel;
                let channel = self.channels.response_for(
                    requester.unwrap_or_default(),
                    specific && requester.is_some(),
                );
                Some((channel, wire::encode_answer(answer)))
            }
            Dialect::Sharded => to_requester(cluster::ClusterOut::pubsub),
            Dialect::Streams => to_requester(cluster::ClusterOut::msgpack),
        };
        let Some((channel, body)) = message else {
            return;
        };
        if self.bus.publish(channel, body).is_err() {
            warn!("redis adapter: an answer was dropped, the queue for Redis is full");
        }
    }

    /// Other servers in the cluster (those subscribed to the namespace's requests).
    async fn other_servers(&self) -> Result<usize, AdapterError> {
        let channel = match self.dialect() {
            Dialect::Classic => &self.channels.request,
            Dialect::Sharded | Dialect::Streams => &self.channels.broadcast,
        };
        let all = self
            .bus
            .subscribers(channel)
            .await
            .map_err(|e| redis_error(&e))?;
        Ok(all.saturating_sub(1))
    }

    /// Whether a message on `channel` can be left undecoded: a room's channel, for a room
    /// without members here, and nobody else listening to broadcasts.
    fn nobody_in_room_of(&self, channel: &str, listener: bool) -> bool {
        !listener
            && self
                .channels
                .room_of(channel)
                .is_some_and(|room| !self.local.has_room(room))
    }

    fn remote_listener(&self) -> Option<crate::RemoteBroadcastListener> {
        self.bus
            .remote_listener
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// A broadcast another server published (the classic adapter).
    pub(crate) fn on_broadcast(&self, channel: &str, body: &Bytes) {
        let listener = self.remote_listener();
        if self.nobody_in_room_of(channel, listener.is_some()) {
            return;
        }
        match wire::decode_broadcast(body) {
            Ok(b) => self.deliver(b, listener, None),
            Err(e) => debug!(error = %e, channel, "redis adapter: broadcast ignored"),
        }
    }

    /// A message of the sharded adapter, or one of the streams adapter's over pub/sub: a
    /// broadcast, a request or an answer.
    pub(crate) fn on_message(self: &Arc<Self>, channel: &str, body: &Bytes) {
        let listener = self.remote_listener();
        if self.nobody_in_room_of(channel, listener.is_some()) {
            return;
        }
        match cluster::decode(body) {
            Ok(message) => self.dispatch(message, listener, None),
            Err(e) => debug!(error = %e, channel, "redis adapter: message ignored"),
        }
    }

    /// An entry of the streams adapter's stream; its id is a broadcast's offset.
    pub(crate) fn on_stream_entry(self: &Arc<Self>, entry: &crate::streams::Entry) {
        let message = match cluster::decode_entry(&entry.fields) {
            Ok(message) => message,
            Err(e) => return debug!(error = %e, id = entry.id, "redis adapter: entry ignored"),
        };
        self.dispatch(message, self.remote_listener(), Some(&entry.id));
    }

    /// Carries out another server's message; `offset`, a stream entry's id, is a broadcast's
    /// offset.
    fn dispatch(
        self: &Arc<Self>,
        message: cluster::ClusterMessage,
        listener: Option<crate::RemoteBroadcastListener>,
        offset: Option<&str>,
    ) {
        if message.uid == self.bus.uid || message.nsp != self.local.name() {
            return;
        }
        match message.body {
            Incoming::Broadcast(b) => self.deliver(b, listener, offset),
            Incoming::Request(request) => self.carry_out(request),
            Incoming::Response(response) => self.take_response(response),
            Incoming::Ignored => {}
        }
    }

    /// Delivers another server's broadcast to this server's sockets, then tells the listener
    /// (of the broadcast as sent: without the offset the sockets get).
    fn deliver(
        &self,
        b: RemoteBroadcast,
        listener: Option<crate::RemoteBroadcastListener>,
        offset: Option<&str>,
    ) {
        if b.uid == self.bus.uid || b.nsp != self.local.name() {
            return;
        }
        let with_offset = self.with_offset(&b.packet, &b.opts, offset);
        self.local
            .broadcast(with_offset.as_ref().unwrap_or(&b.packet), &b.opts);
        if let Some(listener) = listener {
            listener(self.local.name(), &b.packet, &b.opts);
        }
    }

    /// A request another server (or this one) published (the classic adapter).
    pub(crate) fn on_request(self: &Arc<Self>, body: &Bytes) {
        match wire::decode_request(body) {
            Ok(incoming) => self.carry_out(incoming),
            Err(e) => debug!(error = %e, "redis adapter: request ignored"),
        }
    }

    fn carry_out(self: &Arc<Self>, incoming: IncomingRequest) {
        // This server carried out its own requests when it made them.
        if incoming.uid.as_deref() == Some(self.bus.uid.as_str()) {
            return;
        }
        let from = incoming.uid.as_deref();
        match incoming.request {
            Request::Sockets { request_id, rooms } => {
                let opts = BroadcastOptions {
                    rooms,
                    ..BroadcastOptions::default()
                };
                let ids = self
                    .local
                    .fetch_sockets(&opts)
                    .into_iter()
                    .map(|s| s.id)
                    .collect();
                self.answer(
                    from,
                    &Answer::SocketIds {
                        request_id: &request_id,
                        ids,
                    },
                );
            }
            Request::AllRooms { request_id } => {
                let rooms = self.local.rooms().into_iter().collect();
                self.answer(
                    from,
                    &Answer::Rooms {
                        request_id: &request_id,
                        rooms,
                    },
                );
            }
            Request::Join {
                request_id,
                target,
                rooms,
            } => {
                self.on_target(from, request_id, target, |local, opts| {
                    local.add_sockets(opts, &rooms);
                });
            }
            Request::Leave {
                request_id,
                target,
                rooms,
            } => {
                self.on_target(from, request_id, target, |local, opts| {
                    local.del_sockets(opts, &rooms);
                });
            }
            Request::Disconnect {
                request_id,
                target,
                close,
            } => {
                self.on_target(from, request_id, target, |local, opts| {
                    local.disconnect_sockets(opts, close);
                });
            }
            Request::Fetch { request_id, opts } => {
                let sockets = self.local.fetch_sockets(&opts);
                self.answer(
                    from,
                    &Answer::Sockets {
                        request_id: &request_id,
                        sockets: &sockets,
                    },
                );
            }
            Request::ServerSideEmit { request_id, packet } => {
                let ack = request_id.map(|request_id| {
                    // Weak: a listener that keeps the event does not keep the adapter.
                    let adapter = Arc::downgrade(self);
                    let from = from.map(str::to_owned);
                    ServerAck::new(move |value| {
                        let Some(adapter) = adapter.upgrade() else {
                            return;
                        };
                        adapter.answer(
                            from.as_deref(),
                            &Answer::ServerSideEmit {
                                request_id: &request_id,
                                value: &value,
                            },
                        );
                    })
                });
                self.local
                    .server_event(ServerEvent::new(packet.event, packet.args, ack));
            }
            Request::BroadcastWithAck {
                request_id,
                packet,
                nsp,
                opts,
                timeout,
            } => {
                if nsp != self.local.name() {
                    return;
                }
                let mut acks = self.local.broadcast_with_ack(&packet, &opts);
                let count = acks.count();
                self.answer(
                    from,
                    &Answer::ClientCount {
                        request_id: &request_id,
                        count,
                    },
                );
                if count == 0 {
                    return;
                }
                // The requester stops listening after its timeout; so does this server (within
                // reason: the timeout is the requester's word).
                let wait = timeout
                    .unwrap_or(self.bus.config.requests_timeout)
                    .min(MAX_REMOTE_ACK_WAIT);
                let adapter = Arc::clone(self);
                let from = from.map(str::to_owned);
                tokio::spawn(async move {
                    let deadline = tokio::time::Instant::now() + wait;
                    while let Ok(Some(args)) = tokio::time::timeout_at(deadline, acks.next()).await
                    {
                        adapter.answer(
                            from.as_deref(),
                            &Answer::Ack {
                                request_id: &request_id,
                                first: args.first(),
                            },
                        );
                    }
                });
            }
        }
    }

    /// A join, leave or disconnect for selected sockets, or for one socket by id (answered).
    fn on_target(
        &self,
        from: Option<&str>,
        request_id: Option<String>,
        target: Target,
        act: impl FnOnce(&LocalNamespace, &BroadcastOptions),
    ) {
        match target {
            Target::Selected(opts) => act(&self.local, &opts),
            Target::Socket { sid } => {
                if self.local.socket(&sid).is_none() {
                    return;
                }
                let opts = BroadcastOptions {
                    rooms: vec![Room::from(sid.as_str())],
                    ..BroadcastOptions::default()
                };
                act(&self.local, &opts);
                if let Some(request_id) = request_id {
                    self.answer(
                        from,
                        &Answer::Done {
                            request_id: &request_id,
                        },
                    );
                }
            }
        }
    }

    /// An answer to a request of this server's (or of another's, ignored).
    pub(crate) fn on_response(&self, body: &Bytes) {
        let response = if self.dialect() != Dialect::Classic {
            match cluster::decode(body).map(|m| m.body) {
                Ok(Incoming::Response(response)) => Ok(response),
                Ok(_) => Err(wire::WireError::Malformed("not an answer")),
                Err(e) => Err(e),
            }
        } else {
            wire::decode_response(body)
        };
        match response {
            Ok(response) => self.take_response(response),
            Err(e) => debug!(error = %e, "redis adapter: response ignored"),
        }
    }

    fn take_response(&self, response: Response) {
        if let Some(acks) = lock(&self.acks).get(&response.request_id) {
            let event = match response.kind {
                Some(RequestType::BroadcastClientCount) => {
                    response.client_count().map(AckEvent::ClientCount)
                }
                Some(RequestType::BroadcastAck) => Some(AckEvent::Ack(response.ack())),
                Some(RequestType::ServerSideEmit) => Some(AckEvent::Ack(response.server_answer())),
                _ => None,
            };
            if let Some(event) = event {
                let _ = acks.send(event);
            }
            return;
        }
        let mut fetches = lock(&self.fetches);
        let Some(pending) = fetches.get_mut(&response.request_id) else {
            return;
        };
        pending.remaining = pending.remaining.saturating_sub(1);
        pending
            .sockets
            .extend(response.sockets().unwrap_or_default());
        if pending.remaining == 0 {
            if let Some(pending) = fetches.remove(&response.request_id) {
                if let Some(done) = pending.done {
                    let _ = done.send(pending.sockets);
                }
            }
        }
    }
}

impl Drop for NamespaceAdapter {
    fn drop(&mut self) {
        // After `close`, finds nothing left of this adapter to unregister.
        self.bus.unregister(self);
    }
}

/// Removes a pending entry however its future ends (answered, timed out or dropped).
struct Forget<'a, T> {
    map: &'a Mutex<HashMap<String, T>>,
    id: &'a str,
}

impl<T> Drop for Forget<'_, T> {
    fn drop(&mut self) {
        lock(self.map).remove(self.id);
    }
}

impl Adapter for NamespaceAdapter {
    fn broadcast(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
    ) -> Result<(), AdapterError> {
        let remote = if opts.flags.local {
            Ok(())
        } else {
            let (uid, nsp) = (&self.bus.uid, self.local.name());
            match self.dialect() {
                Dialect::Classic => {
                    let body = wire::encode_broadcast(uid, nsp, &packet, &opts);
                    let channel = self.channels.broadcast_for(&opts);
                    self.bus.publish(channel, body).map_err(unavailable)
                }
                Dialect::Sharded => {
                    let body = cluster::broadcast(&packet, &opts).pubsub(uid, nsp);
                    let channel = self.shard_broadcast_channel(&opts);
                    self.bus.publish(channel, body).map_err(unavailable)
                }
                Dialect::Streams => {
                    // This server's sockets get it once the entry is appended (in stream
                    // order, with its id as the offset when recovery keeps it), or without an
                    // offset when it could not be, as Node's do.
                    let entry = cluster::broadcast(&packet, &opts).entry(uid, nsp);
                    let me = self.me.clone();
                    let then = Box::new(move |id: Option<String>| {
                        let Some(adapter) = me.upgrade() else { return };
                        let with_offset = adapter.with_offset(&packet, &opts, id.as_deref());
                        adapter
                            .local
                            .broadcast(with_offset.as_ref().unwrap_or(&packet), &opts);
                    });
                    let stream = self.stream.clone();
                    return self
                        .bus
                        .append(stream, entry, Some(then))
                        .map_err(unavailable);
                }
            }
        };
        self.local.broadcast(&packet, &opts);
        remote
    }

    /// The answers of every receiver on every server, until `timeout`. A server that did not
    /// say in time how many sockets it asked counts as one receiver that did not answer, so
    /// [`BroadcastAcks::complete`] is false then (Node reports a timeout there too).
    fn broadcast_with_ack(
        &self,
        packet: BroadcastPacket,
        opts: BroadcastOptions,
        timeout: Duration,
    ) -> AdapterFuture<BroadcastAcks> {
        let mut local = self.local.broadcast_with_ack(&packet, &opts);
        if opts.flags.local {
            return Box::pin(async move { Ok(local.gather(timeout).await) });
        }
        let mut out = BroadcastAcks {
            responses: Vec::with_capacity(local.count()),
            expected: local.count(),
        };
        let request_id = crate::random_id();
        let (tx, mut remote) = mpsc::unbounded_channel();
        lock(&self.acks).insert(request_id.clone(), tx);
        let sent = self.request(&Outgoing::BroadcastWithAck {
            request_id: &request_id,
            nsp: self.local.name(),
            packet: &packet,
            opts: &opts,
            timeout,
        });
        let this = self.self_arc();
        Box::pin(async move {
            let this = this?;
            let _forget = Forget {
                map: &this.acks,
                id: &request_id,
            };
            sent?;
            let deadline = tokio::time::Instant::now() + timeout;
            let servers = tokio::time::timeout_at(deadline, this.other_servers())
                .await
                .unwrap_or(Err(AdapterError::Timeout))?;
            // Servers that said how many they asked; this server's answers can still come.
            let mut counted = 0;
            let mut local_open = out.expected > 0;
            loop {
                if counted == servers && out.responses.len() >= out.expected {
                    break;
                }
                let event = tokio::select! {
                    args = local.next(), if local_open => match args {
                        Some(args) => { out.responses.push(args); continue; }
                        None => { local_open = false; continue; }
                    },
                    event = tokio::time::timeout_at(deadline, remote.recv()) => event,
                };
                match event {
                    Ok(Some(AckEvent::ClientCount(n))) => {
                        counted += 1;
                        out.expected += n;
                    }
                    Ok(Some(AckEvent::Ack(value))) => out.responses.push(vec![value]),
                    Ok(None) | Err(_) => break,
                }
            }
            out.expected += servers.saturating_sub(counted);
            Ok(out)
        })
    }

    fn fetch_sockets(&self, opts: BroadcastOptions) -> AdapterFuture<Vec<SocketInfo>> {
        let mut sockets = self.local.fetch_sockets(&opts);
        if opts.flags.local {
            return Box::pin(async move { Ok(sockets) });
        }
        let this = self.self_arc();
        Box::pin(async move {
            let this = this?;
            let servers = this.other_servers().await?;
            if servers == 0 {
                return Ok(sockets);
            }
            let request_id = crate::random_id();
            let (done, answered) = oneshot::channel();
            lock(&this.fetches).insert(
                request_id.clone(),
                PendingFetch {
                    remaining: servers,
                    sockets: Vec::new(),
                    done: Some(done),
                },
            );
            let _forget = Forget {
                map: &this.fetches,
                id: &request_id,
            };
            this.request(&Outgoing::Fetch {
                request_id: &request_id,
                opts: &opts,
            })?;
            match tokio::time::timeout(this.bus.config.requests_timeout, answered).await {
                Ok(Ok(remote)) => {
                    sockets.extend(remote);
                    Ok(sockets)
                }
                _ => Err(AdapterError::Timeout),
            }
        })
    }

    fn server_side_emit(&self, packet: BroadcastPacket) -> Result<(), AdapterError> {
        self.request(&Outgoing::ServerSideEmit {
            request_id: None,
            packet: &packet,
        })
    }

    /// One answer from each other server subscribed to the namespace, within the request
    /// timeout (counting the servers included).
    fn server_side_emit_with_ack(&self, packet: BroadcastPacket) -> AdapterFuture<ServerAcks> {
        let this = self.self_arc();
        Box::pin(async move {
            let this = this?;
            let deadline = tokio::time::Instant::now() + this.bus.config.requests_timeout;
            let servers = tokio::time::timeout_at(deadline, this.other_servers())
                .await
                .unwrap_or(Err(AdapterError::Timeout))?;
            let mut out = ServerAcks {
                responses: Vec::with_capacity(servers),
                expected: servers,
            };
            if servers == 0 {
                return Ok(out);
            }
            let request_id = crate::random_id();
            let (tx, mut answers) = mpsc::unbounded_channel();
            lock(&this.acks).insert(request_id.clone(), tx);
            let _forget = Forget {
                map: &this.acks,
                id: &request_id,
            };
            this.request(&Outgoing::ServerSideEmit {
                request_id: Some(&request_id),
                packet: &packet,
            })?;
            while out.responses.len() < servers {
                match tokio::time::timeout_at(deadline, answers.recv()).await {
                    Ok(Some(AckEvent::Ack(value))) => out.responses.push(value),
                    Ok(Some(AckEvent::ClientCount(_))) => {}
                    Ok(None) | Err(_) => break,
                }
            }
            Ok(out)
        })
    }

    /// The streams adapter keeps the session in Redis (`SET … PX`) for any server to restore;
    /// the others keep none.
    fn persist_session(&self, session: Session) {
        let (Some(streams), Some(recovery)) = (&self.bus.config.streams, self.local.recovery())
        else {
            return;
        };
        let key = format!("{}{}", streams.session_key_prefix, session.pid);
        let value = crate::streams::encode_session(&session);
        let ttl =
            u64::try_from(recovery.max_disconnection_duration.as_millis()).unwrap_or(u64::MAX);
        // Through the publisher, as Node sends it on the client its entries go on: in order
        // with them, and flushed with them before a server exits.
        if self.bus.keep_session(key, value, ttl.max(1)).is_err() {
            warn!(sid = %session.sid, "redis adapter: a session could not be kept, too many messages queued");
        }
    }

    /// Unsubscribes from the namespace's channels now, rather than when the last handle to
    /// the adapter goes.
    fn close(&self) {
        self.bus.unregister(self);
    }

    /// Every namespace's publications share one queue: this waits for all of it.
    fn flush(&self) -> AdapterFuture<()> {
        let bus = Arc::clone(&self.bus);
        Box::pin(async move {
            bus.flush().await;
            Ok(())
        })
    }

    /// The streams adapter: the session from Redis (taken, so that it is restored once) and
    /// the broadcasts after `offset` in the stream that reached its rooms.
    fn restore_session(&self, pid: &str, offset: &str) -> AdapterFuture<Option<RecoveredSession>> {
        let Some(streams) = self.bus.config.streams.clone() else {
            return Box::pin(async { Ok(None) });
        };
        let key = format!("{}{pid}", streams.session_key_prefix);
        let max_missed = self.local.recovery().map_or(0, |r| r.max_buffered_packets);
        let (offset, stream, nsp) = (
            offset.to_owned(),
            self.stream.clone(),
            self.local.name().to_owned(),
        );
        let mut conn = self.bus.commands();
        Box::pin(async move {
            crate::streams::restore(&mut conn, &key, &stream, &nsp, &offset, max_missed)
                .await
                .map_err(|e| redis_error(&e))
        })
    }

    fn add_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        if opts.flags.local {
            self.local.add_sockets(&opts, &rooms);
            return Ok(());
        }
        let request = Outgoing::Join {
            opts: &opts,
            rooms: &rooms,
        };
        let (local, o, r) = (self.local.clone(), opts.clone(), rooms.clone());
        self.request_then(&request, move || local.add_sockets(&o, &r))
    }

    fn del_sockets(&self, opts: BroadcastOptions, rooms: Vec<Room>) -> Result<(), AdapterError> {
        if opts.flags.local {
            self.local.del_sockets(&opts, &rooms);
            return Ok(());
        }
        let request = Outgoing::Leave {
            opts: &opts,
            rooms: &rooms,
        };
        let (local, o, r) = (self.local.clone(), opts.clone(), rooms.clone());
        self.request_then(&request, move || local.del_sockets(&o, &r))
    }

    fn disconnect_sockets(&self, opts: BroadcastOptions, close: bool) -> Result<(), AdapterError> {
        if opts.flags.local {
            self.local.disconnect_sockets(&opts, close);
            return Ok(());
        }
        let request = Outgoing::Disconnect { opts: &opts, close };
        let (local, o) = (self.local.clone(), opts.clone());
        self.request_then(&request, move || local.disconnect_sockets(&o, close))
    }
}
