//! The Redis side, shared by every namespace's adapter: a publishing connection fed by an
//! ordered queue, and a subscribing connection whose messages are routed to the namespace they
//! belong to. The publisher is a redis-rs `ConnectionManager` over RESP3, and so is the classic
//! adapter's subscriber: they reconnect by themselves when their socket fails, and the
//! subscriber resubscribes after a reconnection. A watchdog replaces either when it goes silent
//! without failing (see [`watchdog`]). The sharded adapter's subscriber is [`ShardSubscriber`],
//! which does all that itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock, Weak};
use std::time::Duration;

use bytes::Bytes;
use redis::cluster_routing::Slot as HashSlot;
use redis::{PushInfo, PushKind, RedisError};
use tokio::sync::{mpsc, Notify};
use tracing::{debug, error, warn};

use crate::adapter::NamespaceAdapter;
use crate::conn::{Conn, Deployment, Target, Which};
use crate::shard::{ShardMessage, ShardSubscriber};
use crate::shard_cluster::ClusterShardSubscriber;
use crate::wire::Channels;
use crate::RedisAdapterConfig;

/// What a subscribed channel carries for its namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Route {
    /// The classic adapter's requests.
    Request,
    /// Answers to this server's requests.
    Response,
    /// The sharded adapter's messages of every kind (its namespace channel and room channels).
    Message,
}

/// Where the subscriber sends each message.
#[derive(Default)]
struct Routes {
    /// Broadcast patterns (`{key}#{nsp}#*`) of the classic adapter.
    patterns: HashMap<String, Weak<NamespaceAdapter>>,
    /// Every other channel.
    channels: HashMap<String, (Weak<NamespaceAdapter>, Route)>,
}

/// What the subscriber received: a push from redis-rs (classic), or a shard channel's message.
enum Received {
    Push(PushInfo),
    Shard(ShardMessage),
}

/// The subscribing connection.
enum Subscriber {
    /// The classic adapter's, which the watchdog may replace.
    PubSub(Slot),
    /// The sharded adapter's.
    Shard(Shards),
}

/// The sharded adapter's subscriber: our own connection to one server, or redis-rs's to a
/// cluster.
enum Shards {
    Single(ShardSubscriber),
    Cluster(ClusterShardSubscriber),
}

impl Shards {
    fn subscribe(&self, channel: String) -> tokio::sync::oneshot::Receiver<()> {
        match self {
            Self::Single(subscriber) => subscriber.subscribe(channel),
            Self::Cluster(subscriber) => subscriber.subscribe(channel),
        }
    }

    fn unsubscribe(&self, channel: String) {
        match self {
            Self::Single(subscriber) => subscriber.unsubscribe(channel),
            Self::Cluster(subscriber) => subscriber.unsubscribe(channel),
        }
    }
}

/// A connection the watchdog may replace: each use takes a clone (a few reference counts).
struct Slot(RwLock<Conn>);

impl Slot {
    fn new(conn: Conn) -> Self {
        Self(RwLock::new(conn))
    }

    fn get(&self) -> Conn {
        self.0
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn set(&self, conn: Conn) {
        *self.0.write().unwrap_or_else(PoisonError::into_inner) = conn;
    }
}

/// Where the subscriber's messages go: a bounded queue to the router. A server that cannot
/// keep up drops messages (counted, logged) rather than queue without end; pub/sub delivery
/// is at most once anyway.
#[derive(Clone)]
struct PushQueue {
    queue: mpsc::Sender<Received>,
    dropped: Arc<AtomicU64>,
}

impl PushQueue {
    /// Queues a message for the router; false once the router is gone.
    fn offer(&self, received: Received) -> bool {
        match self.queue.try_send(received) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
                if n.is_power_of_two() {
                    warn!(
                        dropped = n,
                        "redis adapter: messages from Redis dropped, too many queued"
                    );
                }
                true
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    }
}

impl redis::aio::AsyncPushSender for PushQueue {
    fn send(&self, push: PushInfo) -> Result<(), redis::aio::SendError> {
        if self.offer(Received::Push(push)) {
            Ok(())
        } else {
            Err(redis::aio::SendError)
        }
    }
}

/// The connections and this server's identity in the cluster.
pub(crate) struct Bus {
    /// This server's id, as Node's adapters make them.
    pub(crate) uid: String,
    pub(crate) config: RedisAdapterConfig,
    /// To open a connection again (the watchdog's replacements, stream readers).
    redis: Deployment,
    pushes: PushQueue,
    /// For PUBLISH (the publisher task) and the other commands (`PUBSUB NUMSUB`).
    commands: Arc<Slot>,
    subscriber: Subscriber,
    publish: mpsc::UnboundedSender<Publication>,
    /// Publications queued and not yet sent, bounded by `config.max_queued_publishes`.
    queued: Arc<AtomicUsize>,
    routes: RwLock<Routes>,
    /// Subscriptions asked for and not yet confirmed, and a wake-up when that reaches zero.
    subscribing: AtomicUsize,
    subscribed: Notify,
    /// Held while (un)subscribing, so that each decision to unsubscribe and the commands
    /// that follow cannot interleave with a subscription of the same channels.
    subscriptions: tokio::sync::Mutex<()>,
    pub(crate) runtime: tokio::runtime::Handle,
    /// Told of every broadcast from another server, after local delivery.
    pub(crate) remote_listener: RwLock<Option<crate::RemoteBroadcastListener>>,
}

/// What the publisher sends, in the order queued.
pub(crate) enum Publication {
    /// `PUBLISH` (or `SPUBLISH`) `payload` on `channel`.
    Message { channel: String, payload: Bytes },
    /// `XADD` an entry of these fields to `stream` (Node's streams adapter); `then` is told
    /// the entry's id, or `None` when it was not appended.
    Entry {
        stream: String,
        fields: Vec<(&'static str, Bytes)>,
        then: Option<AfterAppend>,
    },
    /// `SET key value PX ttl_ms`: a disconnected socket's session (the streams adapter).
    Session {
        key: String,
        value: Bytes,
        ttl_ms: u64,
    },
    /// No command: told once everything queued before it is done with ([`Bus::flush`]).
    Flush(tokio::sync::oneshot::Sender<()>),
}

/// What to do once an entry is appended (or could not be), with its id.
pub(crate) type AfterAppend = Box<dyn FnOnce(Option<String>) + Send>;

/// Why a message could not be queued for Redis.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct QueueFull;

impl Bus {
    /// Connects both connections (RESP3 whatever the URL says) and starts the publisher and
    /// the router. Must be called within a tokio runtime.
    pub(crate) async fn connect(
        target: Target,
        config: RedisAdapterConfig,
    ) -> Result<Arc<Self>, RedisError> {
        if let Some(streams) = &config.streams {
            if streams.block_time.is_zero() || streams.block_time > Duration::from_secs(3600) {
                return Err(RedisError::from((
                    redis::ErrorKind::InvalidClientConfig,
                    "the streams adapter's block_time must be between 1 ms and an hour",
                )));
            }
        }
        if config.sharded.is_some() && config.streams.is_some() {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the streams adapter does not take `sharded` (sharded pub/sub for its requests \
                 is not supported)",
            )));
        }
        let redis = match &target {
            Target::Single(info) => Deployment::single((**info).clone(), &config)?,
            Target::Cluster(seeds) => Deployment::cluster(seeds.clone(), &config)?,
        };
        let (queue, push_rx) = mpsc::channel::<Received>(config.max_queued_received.max(1));
        let pushes = PushQueue {
            queue,
            dropped: Arc::default(),
        };
        // One attempt first: a certificate or password Redis refuses fails here at once, where
        // the connection managers would try again for seconds; anything else (Redis not
        // listening yet, a name not resolving yet, Redis loading) is left to their retries.
        if let Err(e) = redis.probe(&config).await {
            if refused_for_good(&e) {
                return Err(e);
            }
        }
        let commands = Arc::new(Slot::new(
            redis
                .open(&config, Which::Commands, None::<PushQueue>)
                .await?,
        ));
        let subscriber = if config.sharded.is_some() {
            check_sharded_pubsub(&mut commands.get()).await?;
            let pushes = pushes.clone();
            let messages = move |message| {
                pushes.offer(Received::Shard(message));
            };
            Subscriber::Shard(match target {
                Target::Single(info) => {
                    Shards::Single(ShardSubscriber::connect(*info, &config, messages).await?)
                }
                Target::Cluster(_) => Shards::Cluster(
                    ClusterShardSubscriber::connect(&redis, &config, messages).await?,
                ),
            })
        } else {
            Subscriber::PubSub(Slot::new(
                redis
                    .open(&config, Which::Subscriber, Some(pushes.clone()))
                    .await?,
            ))
        };
        let (publish, publish_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        let heartbeat = config.heartbeat_interval;
        let bus = Arc::new(Self {
            // Node's classic adapter names a server with 6 alphanumerics; its cluster adapters
            // (the sharded one), with 16 hex digits.
            uid: if config.sharded.is_some() || config.streams.is_some() {
                crate::random_hex_id()
            } else {
                crate::random_id()
            },
            config,
            redis,
            pushes,
            commands: Arc::clone(&commands),
            subscriber,
            publish,
            queued: Arc::clone(&queued),
            routes: RwLock::default(),
            subscribing: AtomicUsize::new(0),
            subscribed: Notify::new(),
            subscriptions: tokio::sync::Mutex::new(()),
            runtime: tokio::runtime::Handle::current(),
            remote_listener: RwLock::new(None),
        });
        let verb = if bus.config.sharded.is_some() {
            "SPUBLISH"
        } else {
            "PUBLISH"
        };
        let max_len = bus.config.streams.as_ref().map_or(0, |s| s.max_len);
        let cluster = bus.redis.is_cluster();
        tokio::spawn(publisher(
            commands, publish_rx, queued, verb, max_len, cluster,
        ));
        if let Some(streams) = &bus.config.streams {
            for stream in crate::streams::all_streams(streams) {
                // A connection of its own: a blocking read holds up the commands behind it.
                let mut reader = bus.open_reader().await?;
                // From the entry last appended now: what comes after `connect` returns is read.
                let from = crate::streams::last_id(&mut reader, &stream).await?;
                tokio::spawn(crate::streams::read(
                    Arc::downgrade(&bus),
                    reader,
                    stream,
                    from,
                ));
            }
        }
        tokio::spawn(router(Arc::downgrade(&bus), push_rx));
        if let Some(interval) = heartbeat.filter(|interval| !interval.is_zero()) {
            tokio::spawn(watchdog(Arc::downgrade(&bus), interval));
        }
        Ok(bus)
    }

    /// Messages from Redis dropped so far because too many were waiting.
    pub(crate) fn dropped(&self) -> u64 {
        self.pushes.dropped.load(Ordering::Relaxed)
    }

    /// The connection to check, `None` for the shard subscriber (which checks itself).
    fn connection(&self, which: Which) -> Option<Conn> {
        match (which, &self.subscriber) {
            (Which::Commands, _) => Some(self.commands.get()),
            (Which::Subscriber, Subscriber::PubSub(slot)) => Some(slot.get()),
            (Which::Subscriber, Subscriber::Shard(_))
            | (Which::Reader | Which::ShardSubscriber, _) => None,
        }
    }

    /// The classic subscriber (`None` for the sharded adapter).
    fn pubsub(&self) -> Option<&Slot> {
        match &self.subscriber {
            Subscriber::PubSub(slot) => Some(slot),
            Subscriber::Shard(_) => None,
        }
    }

    /// Opens `which` again and puts the new connection in the old one's place; the
    /// subscriber's channels are subscribed to on the new one first.
    async fn replace(&self, which: Which) -> Result<(), RedisError> {
        let pushes = (which == Which::Subscriber).then(|| self.pushes.clone());
        let mut fresh = self.redis.open(&self.config, which, pushes).await?;
        match which {
            Which::Commands => self.commands.set(fresh),
            Which::Reader | Which::ShardSubscriber => {}
            Which::Subscriber => {
                let Some(slot) = self.pubsub() else {
                    return Ok(());
                };
                // No (un)subscription may run meanwhile: it would go to the old connection.
                let _in_order = self.subscriptions.lock().await;
                let (patterns, channels) = {
                    let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
                    let patterns: Vec<String> = routes.patterns.keys().cloned().collect();
                    let channels: Vec<String> = routes.channels.keys().cloned().collect();
                    (patterns, channels)
                };
                for pattern in &patterns {
                    fresh.psubscribe(pattern).await?;
                }
                if !channels.is_empty() {
                    fresh.subscribe(&channels).await?;
                }
                slot.set(fresh);
            }
        }
        Ok(())
    }

    /// Queues `payload` for `channel`; messages go out in the order they were queued.
    pub(crate) fn publish(&self, channel: String, payload: Bytes) -> Result<(), QueueFull> {
        self.queue(Publication::Message { channel, payload })
    }

    /// Queues an entry for `stream`, in order with the messages.
    pub(crate) fn append(
        &self,
        stream: String,
        fields: Vec<(&'static str, Bytes)>,
        then: Option<AfterAppend>,
    ) -> Result<(), QueueFull> {
        self.queue(Publication::Entry {
            stream,
            fields,
            then,
        })
    }

    /// Queues a disconnected socket's session, kept `ttl_ms` (the streams adapter).
    pub(crate) fn keep_session(
        &self,
        key: String,
        value: Bytes,
        ttl_ms: u64,
    ) -> Result<(), QueueFull> {
        self.queue(Publication::Session { key, value, ttl_ms })
    }

    /// Waits until everything queued so far was sent to Redis (or given up on): before a
    /// process exits, so that the last broadcasts and the sessions of the sockets it closed
    /// are not lost. Bound it with a timeout: it waits as long as Redis cannot be reached.
    pub(crate) async fn flush(&self) {
        // A marker through the same queue, outside the limit: it comes out after everything
        // queued before it, in order.
        let (done, flushed) = tokio::sync::oneshot::channel();
        if self.publish.send(Publication::Flush(done)).is_ok() {
            let _ = flushed.await;
        }
    }

    /// Queues `publication`; one that cannot be has its `then` told `None` at once.
    fn queue(&self, publication: Publication) -> Result<(), QueueFull> {
        let refused =
            if self.queued.fetch_add(1, Ordering::Relaxed) >= self.config.max_queued_publishes {
                Some(publication)
            } else {
                self.publish.send(publication).err().map(|e| e.0)
            };
        let Some(publication) = refused else {
            return Ok(());
        };
        self.queued.fetch_sub(1, Ordering::Relaxed);
        if let Publication::Entry {
            then: Some(then), ..
        } = publication
        {
            then(None);
        }
        Err(QueueFull)
    }

    /// How many servers subscribe to `channel` (`PUBSUB NUMSUB`, or `SHARDNUMSUB` for the
    /// sharded adapter), this one included.
    pub(crate) async fn subscribers(&self, channel: &str) -> Result<usize, RedisError> {
        let which = if self.config.sharded.is_some() {
            "SHARDNUMSUB"
        } else {
            "NUMSUB"
        };
        self.commands.get().subscribers(which, channel).await
    }

    /// Routes the namespace's channels to `adapter` and subscribes to them.
    pub(crate) fn register(self: &Arc<Self>, adapter: &Arc<NamespaceAdapter>) {
        let channels = adapter.channels();
        if let Subscriber::Shard(subscriber) = &self.subscriber {
            let exact = [
                (channels.broadcast.clone(), Route::Message),
                (channels.shard_response(&self.uid), Route::Response),
            ];
            self.route_channels(adapter, &exact);
            // Both channels are confirmed (or the namespace went away) before `subscribed()`.
            let confirmations: Vec<_> = exact
                .into_iter()
                .map(|(channel, _)| subscriber.subscribe(channel))
                .collect();
            self.subscribing.fetch_add(1, Ordering::SeqCst);
            let bus = Arc::clone(self);
            self.runtime.spawn(async move {
                for confirmed in confirmations {
                    let _ = confirmed.await;
                }
                bus.one_subscribed();
            });
            return;
        }
        let (pattern, exact) = self.pubsub_channels(channels);
        if let Some(pattern) = &pattern {
            self.routes
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .patterns
                .insert(pattern.clone(), Arc::downgrade(adapter));
        }
        self.route_channels(adapter, &exact);
        self.subscribing.fetch_add(1, Ordering::SeqCst);
        let bus = Arc::clone(self);
        let names: Vec<String> = exact.into_iter().map(|(c, _)| c).collect();
        self.runtime.spawn(async move {
            // Until it holds (Redis may be down right now) or the namespace is gone; once in
            // place, the connection manager restores it after every reconnection. Each
            // attempt takes the lock and the connection anew: between two attempts the
            // watchdog may put a new subscriber in place of a silent one.
            let mut pause = Duration::from_millis(50);
            loop {
                let result = {
                    let _in_order = bus.subscriptions.lock().await;
                    let registered = bus.is_routed(pattern.as_deref(), &names[0]);
                    let (true, Some(slot)) = (registered, bus.pubsub()) else {
                        break;
                    };
                    let mut conn = slot.get();
                    async {
                        if let Some(pattern) = &pattern {
                            conn.psubscribe(pattern).await?;
                        }
                        conn.subscribe(&names).await
                    }
                    .await
                };
                let Err(e) = result else { break };
                warn!(error = %e, ?pattern, "redis adapter: subscribing failed; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(bus.config.reconnect_max_delay);
            }
            bus.one_subscribed();
        });
    }

    /// The pub/sub subscriber's pattern and channels for a namespace: the classic adapter's
    /// broadcast pattern, request and response channels; the streams adapter's namespace
    /// channel and this server's own, for answers.
    fn pubsub_channels(&self, channels: &Channels) -> (Option<String>, Vec<(String, Route)>) {
        if self.config.streams.is_some() {
            let exact = vec![
                (channels.broadcast.clone(), Route::Message),
                (channels.shard_response(&self.uid), Route::Response),
            ];
            return (None, exact);
        }
        let exact = vec![
            (channels.request.clone(), Route::Request),
            (channels.response.clone(), Route::Response),
            (channels.own_response.clone(), Route::Response),
        ];
        (Some(channels.broadcast_pattern()), exact)
    }

    fn route_channels(&self, adapter: &Arc<NamespaceAdapter>, channels: &[(String, Route)]) {
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        for (channel, route) in channels {
            routes
                .channels
                .insert(channel.clone(), (Arc::downgrade(adapter), *route));
        }
    }

    fn one_subscribed(&self) {
        if self.subscribing.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.subscribed.notify_waiters();
        }
    }

    /// Whether a namespace still listens on the broadcast `pattern` (the classic adapter), or
    /// on `channel` (the streams adapter, which has no pattern).
    fn is_routed(&self, pattern: Option<&str>, channel: &str) -> bool {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        match pattern {
            Some(pattern) => routes.patterns.contains_key(pattern),
            None => routes.channels.contains_key(channel),
        }
    }

    /// The sharded adapter: subscribes to a room's `channel` for `adapter` (a room got its
    /// first member here).
    pub(crate) fn follow_room(&self, adapter: &Arc<NamespaceAdapter>, channel: String) {
        let Subscriber::Shard(subscriber) = &self.subscriber else {
            return;
        };
        self.route_channels(adapter, &[(channel.clone(), Route::Message)]);
        // Confirmation is not awaited: until it comes, the room's broadcasts from other
        // servers are missed, as with Node's adapter.
        drop(subscriber.subscribe(channel));
    }

    /// The sharded adapter: unsubscribes from a room's `channel` that `adapter` follows (the
    /// room lost its last member here).
    pub(crate) fn unfollow_room(&self, adapter: &NamespaceAdapter, channel: &str) {
        let Subscriber::Shard(subscriber) = &self.subscriber else {
            return;
        };
        {
            let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
            if !routes
                .channels
                .get(channel)
                .is_some_and(|(weak, _)| std::ptr::eq(weak.as_ptr(), adapter))
            {
                return;
            }
            routes.channels.remove(channel);
        }
        subscriber.unsubscribe(channel.to_owned());
    }

    /// A new connection for a stream reader.
    pub(crate) async fn open_reader(&self) -> Result<Conn, RedisError> {
        self.redis
            .open(&self.config, Which::Reader, None::<PushQueue>)
            .await
    }

    /// The commands connection, for a one-off command.
    pub(crate) fn commands(&self) -> Conn {
        self.commands.get()
    }

    /// The adapter of namespace `nsp` on this server, if it has one.
    pub(crate) fn adapter_of(&self, nsp: &str) -> Option<Arc<NamespaceAdapter>> {
        // Once per stream entry: the one channel name, not all of the namespace's.
        let main = Channels::namespace(&self.config.key, nsp);
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        routes.channels.get(&main)?.0.upgrade()
    }

    /// Forgets `adapter`'s channels (it is closed or being dropped) and unsubscribes from
    /// them, unless another adapter of the namespace took them over (a second `SocketIo` on
    /// this factory). Does nothing the second time.
    pub(crate) fn unregister(self: &Arc<Self>, adapter: &NamespaceAdapter) {
        let ours = |weak: &Weak<NamespaceAdapter>| std::ptr::eq(weak.as_ptr(), adapter);
        if let Subscriber::Shard(subscriber) = &self.subscriber {
            let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
            let mine: Vec<String> = routes
                .channels
                .iter()
                .filter(|(_, (weak, _))| ours(weak))
                .map(|(channel, _)| channel.clone())
                .collect();
            for channel in mine {
                routes.channels.remove(&channel);
                subscriber.unsubscribe(channel);
            }
            return;
        }
        let (pattern, exact) = self.pubsub_channels(adapter.channels());
        let names: Vec<String> = exact.into_iter().map(|(c, _)| c).collect();
        {
            let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
            let owner = match &pattern {
                Some(pattern) => routes.patterns.get(pattern),
                None => routes.channels.get(&names[0]).map(|(weak, _)| weak),
            };
            if !owner.is_some_and(ours) {
                return;
            }
            if let Some(pattern) = &pattern {
                routes.patterns.remove(pattern);
            }
            for name in &names {
                if routes
                    .channels
                    .get(name)
                    .is_some_and(|(weak, _)| ours(weak))
                {
                    routes.channels.remove(name);
                }
            }
        }
        let bus = Arc::clone(self);
        self.runtime.spawn(async move {
            let _in_order = bus.subscriptions.lock().await;
            // An adapter of the same namespace registered meanwhile: its subscription, made
            // before or after this point, must stand.
            if bus.is_routed(pattern.as_deref(), &names[0]) {
                return;
            }
            let Some(slot) = bus.pubsub() else { return };
            let mut conn = slot.get();
            if let Some(pattern) = &pattern {
                let _ = conn.punsubscribe(pattern).await;
            }
            let _ = conn.unsubscribe(&names).await;
        });
    }

    /// Waits until every subscription asked for so far is in place.
    pub(crate) async fn subscribed(&self) {
        loop {
            let notified = self.subscribed.notified();
            if self.subscribing.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }

    fn route(
        &self,
        pattern: Option<&str>,
        channel: &str,
    ) -> Option<(Arc<NamespaceAdapter>, Option<Route>)> {
        let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
        match pattern {
            Some(pattern) => Some((routes.patterns.get(pattern)?.upgrade()?, None)),
            None => {
                let (adapter, route) = routes.channels.get(channel)?;
                Some((adapter.upgrade()?, Some(*route)))
            }
        }
    }
}

/// Whether Redis, or the TLS handshake, refused this client for what it is (its password, its
/// certificate, its settings): trying again changes nothing.
fn refused_for_good(e: &RedisError) -> bool {
    if matches!(
        e.kind(),
        redis::ErrorKind::AuthenticationFailed | redis::ErrorKind::InvalidClientConfig
    ) || matches!(e.code(), Some("WRONGPASS" | "NOPERM" | "NOAUTH" | "DENIED"))
    {
        return true;
    }
    // tokio-rustls reports a failed handshake as an io::Error around a rustls::Error, which
    // redis-rs keeps behind an Arc.
    let source = std::error::Error::source(e);
    let io = source.and_then(|source| {
        source.downcast_ref::<std::io::Error>().or_else(|| {
            source
                .downcast_ref::<Arc<dyn std::error::Error + Send + Sync>>()
                .and_then(|inner| inner.downcast_ref::<std::io::Error>())
        })
    });
    io.and_then(std::io::Error::get_ref)
        .is_some_and(|inner| inner.is::<rustls::Error>())
}

/// Replaces a connection that stopped answering.
///
/// A `ConnectionManager` reconnects when its socket fails, but a connection can go silent
/// without failing: a NAT or a load balancer in between forgot it, or Redis closed its side
/// and the close never arrived. Commands then time out one after another, and the
/// subscriber, which never writes, hears nothing for good (TCP keepalive, where on, notices
/// after hours). A PING on each connection every `interval` finds it: one that is not
/// answered within `requests_timeout` is replaced.
async fn watchdog(bus: Weak<Bus>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(bus) = bus.upgrade() else { return };
        // Both at once: a fault that silences one usually silences the other, and the
        // subscriber's replacement may wait for a subscription in flight.
        tokio::join!(check(&bus, Which::Subscriber), check(&bus, Which::Commands));
    }
}

/// PINGs one connection and replaces it when the answer does not come in time.
async fn check(bus: &Bus, which: Which) {
    let Some(mut conn) = bus.connection(which) else {
        return;
    };
    let timeout = bus.config.requests_timeout;
    let e = match tokio::time::timeout(timeout, conn.ping()).await {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(_) => std::io::Error::from(std::io::ErrorKind::TimedOut).into(),
    };
    // Other failures (Redis down, refusing) are the connection manager's to retry; but the
    // pub/sub subscriber of a cluster is on one node, and moves to another when that one is
    // away (not when it merely refuses PING, an ACL say).
    let away = e.is_io_error()
        || e.is_connection_dropped()
        || e.is_connection_refusal()
        || matches!(e.code(), Some("LOADING" | "MASTERDOWN" | "BUSY"));
    let moves = which == Which::Subscriber && bus.redis.is_cluster() && away;
    if !e.is_timeout() && !moves {
        return;
    }
    // Let go of the old connection first: while both are subscribed, messages come twice.
    drop(conn);
    warn!(connection = ?which, error = %e, "redis adapter: PING failed; connecting again");
    if let Err(e) = bus.replace(which).await {
        warn!(connection = ?which, error = %e, "redis adapter: connecting again failed");
    }
}

/// Sends queued messages in order, as pipelines of whatever is queued, on whichever
/// connection the slot holds at the time. On a cluster a pipeline stays within one slot: the
/// batch is split by slot (plain `PUBLISH`es, which have none, together to one node), and the
/// pipelines go to their nodes at once, so messages keep their order per slot.
async fn publisher(
    commands: Arc<Slot>,
    mut queue: mpsc::UnboundedReceiver<Publication>,
    queued: Arc<AtomicUsize>,
    verb: &'static str,
    max_len: u64,
    cluster: bool,
) {
    let mut batch = Vec::new();
    while queue.recv_many(&mut batch, 512).await > 0 {
        let conn = commands.get();
        let mut replies: Vec<Option<redis::RedisResult<redis::Value>>> =
            batch.iter().map(|_| None).collect();
        let groups = pipelines(&batch, verb, max_len, cluster);
        // One pipeline (always, on one server) is sent from here; several, each from a task.
        let mut results = Vec::with_capacity(groups.len());
        if groups.len() == 1 {
            for (slot, indices, pipe) in groups {
                results.push((indices, conn.clone().send(pipe, slot).await));
            }
        } else {
            let mut sending = tokio::task::JoinSet::new();
            for (slot, indices, pipe) in groups {
                let mut conn = conn.clone();
                sending.spawn(async move { (indices, conn.send(pipe, slot).await) });
            }
            while let Some(done) = sending.join_next().await {
                results.extend(done.ok());
            }
        }
        for (indices, sent) in results {
            match sent {
                Ok(each) => {
                    for (i, result) in indices.into_iter().zip(each) {
                        replies[i] = Some(result);
                    }
                }
                // The connection reconnects on the next command; what this pipeline held is
                // lost, as a broadcast to a server that is down would be.
                Err(e) => {
                    warn!(error = %e, lost = indices.len(), "redis adapter: publishing failed")
                }
            }
        }
        let mut sent = 0;
        for (publication, reply) in batch.drain(..).zip(replies) {
            if let Publication::Flush(done) = publication {
                let _ = done.send(());
                continue;
            }
            sent += 1;
            if let Some(Err(e)) = &reply {
                warn!(error = %e, "redis adapter: Redis refused a message");
            }
            if let Publication::Entry {
                then: Some(then), ..
            } = publication
            {
                let id = reply
                    .and_then(Result::ok)
                    .and_then(|r| redis::from_redis_value::<String>(r).ok());
                // The callback delivers to this server's sockets (and so runs the
                // application's listeners): a panic there costs that delivery only.
                let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| then(id)));
                if ran.is_err() {
                    error!("redis adapter: delivering after an append panicked; carrying on");
                }
            }
        }
        queued.fetch_sub(sent, Ordering::Relaxed);
    }
}

/// The batch's commands as pipelines, each with the indices of its publications in the batch
/// and its slot: one pipeline, or on a cluster one per slot (of the shard channel, the stream
/// or the key) and one of plain `PUBLISH`es (no slot).
fn pipelines(
    batch: &[Publication],
    verb: &str,
    max_len: u64,
    cluster: bool,
) -> Vec<(Option<HashSlot>, Vec<usize>, redis::Pipeline)> {
    let mut groups: HashMap<Option<HashSlot>, (Vec<usize>, redis::Pipeline)> = HashMap::new();
    for (i, publication) in batch.iter().enumerate() {
        let key = match publication {
            // A plain PUBLISH reaches every node from any: on a cluster, all of them go to one
            // node, in one pipeline, in order.
            Publication::Message { channel, .. } => (verb == "SPUBLISH").then_some(channel),
            Publication::Entry { stream, .. } => Some(stream),
            Publication::Session { key, .. } => Some(key),
            Publication::Flush(_) => continue,
        };
        let slot = if cluster {
            key.map(|key| crate::conn::slot_of(key))
        } else {
            None
        };
        let (indices, pipe) = groups
            .entry(slot)
            .or_insert_with(|| (Vec::new(), redis::pipe()));
        indices.push(i);
        match publication {
            Publication::Message { channel, payload } => {
                pipe.cmd(verb).arg(channel).arg(&payload[..]);
            }
            Publication::Entry { stream, fields, .. } => {
                let xadd = pipe.cmd("XADD").arg(stream).arg("MAXLEN").arg("~");
                let xadd = xadd.arg(max_len).arg("*");
                for (name, value) in fields {
                    xadd.arg(*name).arg(&value[..]);
                }
            }
            Publication::Session { key, value, ttl_ms } => {
                pipe.cmd("SET")
                    .arg(key)
                    .arg(&value[..])
                    .arg("PX")
                    .arg(*ttl_ms);
            }
            Publication::Flush(_) => {}
        }
    }
    groups
        .into_iter()
        .map(|(slot, (indices, pipe))| (slot, indices, pipe))
        .collect()
}

/// Hands each message the subscriber receives to its namespace's adapter.
async fn router(bus: Weak<Bus>, mut received: mpsc::Receiver<Received>) {
    while let Some(received) = received.recv().await {
        let Some(bus) = bus.upgrade() else { return };
        // A panic (in the application's listener of remote broadcasts, say) costs that
        // message, not every later one.
        let routed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            route_one(&bus, received);
        }));
        if routed.is_err() {
            error!("redis adapter: handling a message from Redis panicked; carrying on");
        }
    }
}

/// Hands one message to its namespace's adapter.
fn route_one(bus: &Bus, received: Received) {
    let (pattern, channel, payload) = match received {
        Received::Shard((channel, payload)) => (None, channel, payload),
        Received::Push(push) => {
            let mut data = push.data.into_iter().map(bulk_bytes);
            let (pattern, channel, payload) = match push.kind {
                PushKind::Message => (None, data.next(), data.next()),
                PushKind::PMessage => (data.next().flatten(), data.next(), data.next()),
                PushKind::Disconnection => {
                    return warn!("redis adapter: subscriber connection lost; reconnecting");
                }
                _ => return,
            };
            let (Some(Some(channel)), Some(Some(payload))) = (channel, payload) else {
                return;
            };
            (pattern, channel, payload)
        }
    };
    let Ok(channel) = std::str::from_utf8(&channel) else {
        return;
    };
    let pattern = match pattern.as_deref().map(std::str::from_utf8) {
        Some(Ok(p)) => Some(p),
        Some(Err(_)) => return,
        None => None,
    };
    let Some((adapter, route)) = bus.route(pattern, channel) else {
        return debug!(channel, "redis adapter: message for no namespace");
    };
    match route {
        None => adapter.on_broadcast(channel, &payload),
        Some(Route::Request) => adapter.on_request(&payload),
        Some(Route::Response) => adapter.on_response(&payload),
        Some(Route::Message) => adapter.on_message(channel, &payload),
    }
}

/// Fails unless Redis has sharded Pub/Sub (7.0 and later), rather than let every subscription
/// fail later.
async fn check_sharded_pubsub(conn: &mut Conn) -> Result<(), RedisError> {
    match conn
        .subscribers("SHARDNUMSUB", "socket.io-version-check")
        .await
    {
        Ok(_) => Ok(()),
        Err(e) if matches!(e.kind(), redis::ErrorKind::Server(_)) => Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "the sharded adapter needs sharded Pub/Sub (Redis 7.0 or later)",
            e.to_string(),
        ))),
        Err(e) => Err(e),
    }
}

/// A bulk or simple string's bytes.
pub(crate) fn bulk_bytes(value: redis::Value) -> Option<Bytes> {
    match value {
        redis::Value::BulkString(b) => Some(Bytes::from(b)),
        redis::Value::SimpleString(s) => Some(Bytes::from(s)),
        _ => None,
    }
}

/// Locks a mutex, ignoring poison (the data behind it is plain).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn message(channel: &str) -> Publication {
        Publication::Message {
            channel: channel.into(),
            payload: Bytes::from_static(b"x"),
        }
    }

    fn entry(stream: &str) -> Publication {
        Publication::Entry {
            stream: stream.into(),
            fields: vec![("nsp", Bytes::from_static(b"/"))],
            then: None,
        }
    }

    fn session(key: &str) -> Publication {
        Publication::Session {
            key: key.into(),
            value: Bytes::from_static(b"s"),
            ttl_ms: 1,
        }
    }

    /// Each group's slot and the indices it carries, sorted by first index.
    fn groups(
        batch: &[Publication],
        verb: &str,
        cluster: bool,
    ) -> Vec<(Option<HashSlot>, Vec<usize>)> {
        let mut groups: Vec<_> = pipelines(batch, verb, 10, cluster)
            .into_iter()
            .map(|(slot, indices, pipe)| {
                assert_eq!(pipe.cmd_iter().count(), indices.len());
                (slot, indices)
            })
            .collect();
        groups.sort_by_key(|(_, indices)| indices[0]);
        groups
    }

    #[test]
    fn one_pipeline_in_order_on_one_server() {
        let (done, _) = tokio::sync::oneshot::channel();
        let batch = [
            message("a"),
            entry("s"),
            Publication::Flush(done),
            session("k"),
        ];
        assert_eq!(
            groups(&batch, "PUBLISH", false),
            vec![(None, vec![0, 1, 3])]
        );
    }

    #[test]
    fn a_cluster_batch_splits_by_slot_and_plain_publishes_stay_together() {
        let slot = crate::conn::slot_of;
        // "a" and "b" hash to different slots; "{a}x" to a's.
        assert_ne!(slot("a"), slot("b"));
        let batch = [
            message("a"),
            entry("b"),
            message("b"),
            session("{a}x"),
            message("c"),
        ];
        assert_eq!(
            groups(&batch, "PUBLISH", true),
            vec![
                (None, vec![0, 2, 4]),
                (Some(slot("b")), vec![1]),
                (Some(slot("a")), vec![3]),
            ]
        );
        // Shard channels go to their slots' nodes, one pipeline per slot, in order within.
        assert_eq!(
            groups(&batch, "SPUBLISH", true),
            vec![
                (Some(slot("a")), vec![0, 3]),
                (Some(slot("b")), vec![1, 2]),
                (Some(slot("c")), vec![4]),
            ]
        );
    }
}
