//! A Redis adapter for [`switchboard_socketio`]: several servers share their namespaces'
//! broadcasts and socket queries through Redis, in the wire format of Node's adapters: the
//! classic one of [`@socket.io/redis-adapter`](https://github.com/socketio/socket.io-redis-adapter)
//! 8.x (`createAdapter`, pub/sub) by default, its sharded one (`createShardedAdapter`, Redis 7's
//! sharded Pub/Sub) with [`RedisAdapterConfig::sharded`], or
//! [`@socket.io/redis-streams-adapter`](https://github.com/socketio/socket.io-redis-streams-adapter)
//! 0.3 (a Redis stream, with connection-state recovery across servers) with
//! [`RedisAdapterConfig::streams`]. Switchboard servers and Node servers can therefore serve
//! one application side by side.
//!
//! ```no_run
//! # async fn run() -> Result<(), redis::RedisError> {
//! use switchboard_socketio::{Config, SocketIo};
//! use switchboard_socketio_redis::{RedisAdapterConfig, RedisAdapterFactory};
//!
//! let adapters = RedisAdapterFactory::connect("redis://127.0.0.1/", RedisAdapterConfig::default()).await?;
//! let io = SocketIo::with_adapter(Config::default(), adapters.clone());
//! io.ns("/", |socket: switchboard_socketio::Socket| async move {
//!     // `io.emit` here reaches every server's sockets.
//! });
//! adapters.subscribed().await; // the namespaces made so far now hear the other servers
//! # Ok(()) }
//! ```
//!
//! What crosses servers, as in Node: broadcasts (rooms, `except`, `volatile`, `compress`),
//! broadcasts with acknowledgements, `fetchSockets`, `socketsJoin`, `socketsLeave`,
//! `disconnectSockets`, server-side events (`serverSideEmit`, with or without answers:
//! [`switchboard_socketio::SocketIo::server_events`]); and this server answers Node's
//! `allSockets` and `allRooms` requests. Connection-state recovery across servers needs the
//! streams adapter (as in Node): it keeps sessions in Redis, and the stream keeps what the
//! sockets missed; with the pub/sub adapters a session stays on the server that kept it.
//!
//! The sharded adapter, in a dynamic [`SubscriptionMode`], sends a broadcast to one room on
//! that room's channel, which a server subscribes to while the room has members there:
//!
//! ```no_run
//! # async fn run() -> Result<(), redis::RedisError> {
//! use switchboard_socketio_redis::{RedisAdapterConfig, RedisAdapterFactory, SubscriptionMode};
//!
//! let config = RedisAdapterConfig {
//!     sharded: Some(SubscriptionMode::Dynamic),
//!     ..RedisAdapterConfig::default()
//! };
//! let adapters = RedisAdapterFactory::connect("redis://127.0.0.1/", config).await?;
//! # Ok(()) }
//! ```
//!
//! On a Redis Cluster, any adapter: one node's URL is enough, the others are learnt from it.
//!
//! ```no_run
//! # async fn run() -> Result<(), redis::RedisError> {
//! use switchboard_socketio_redis::{RedisAdapterConfig, RedisAdapterFactory};
//!
//! let nodes = ["redis://10.0.0.1:6379", "redis://10.0.0.2:6379"];
//! let adapters = RedisAdapterFactory::connect_cluster(nodes, RedisAdapterConfig::default()).await?;
//! # Ok(()) }
//! ```
//!
//! Delivery is Redis pub/sub's: at most once. Messages published while Redis is unreachable
//! are lost (logged); both connections reconnect by themselves and the subscriptions are
//! restored.

mod adapter;
mod bus;
mod conn;
mod resp;
mod shard;
mod shard_cluster;
mod streams;
mod wire;

use std::sync::Arc;
use std::time::Duration;

use redis::{IntoConnectionInfo, RedisError};
use switchboard_socketio::adapter::{
    Adapter, AdapterFactory, BroadcastOptions, BroadcastPacket, LocalNamespace,
};

/// Called with each broadcast another server published: its namespace, packet and options.
pub type RemoteBroadcastListener =
    Arc<dyn Fn(&str, &BroadcastPacket, &BroadcastOptions) + Send + Sync>;

pub use adapter::NamespaceAdapter;
/// The certificates of [`RedisAdapterConfig::tls`], redis-rs's own.
pub use redis::{ClientTlsConfig, TlsCertificates};

/// Settings of the adapter, named after Node's options where it has them.
#[derive(Debug, Clone)]
pub struct RedisAdapterConfig {
    /// Prefix of every channel (Node's `key`): `socket.io`.
    pub key: String,
    /// How long a request (`fetchSockets`) waits for the other servers (Node's
    /// `requestsTimeout`): 5 s. Also how long a Redis command may take.
    pub requests_timeout: Duration,
    /// Answer each request on the requester's own channel rather than the shared one (Node's
    /// `publishOnSpecificResponseChannel`; off by default, as in Node, which needs every Node
    /// server of the cluster to understand it: 8.2 or later).
    pub publish_on_specific_response_channel: bool,
    /// Messages waiting to be published before broadcasts fail with
    /// [`AdapterError::Unavailable`](switchboard_socketio::adapter::AdapterError): 65,536.
    pub max_queued_publishes: usize,
    /// Messages received from Redis and not yet handled before further ones are dropped (a
    /// server that cannot keep up; logged): 65,536.
    pub max_queued_received: usize,
    /// How long connecting to Redis may take: 5 s.
    pub connect_timeout: Duration,
    /// The longest wait between two reconnection attempts: 2 s.
    pub reconnect_max_delay: Duration,
    /// How often each Redis connection is checked with a PING: 5 s. One not answered within
    /// `requests_timeout` is replaced, so a connection that went silent without failing (a
    /// NAT or load balancer in between forgot it) costs about `heartbeat_interval +
    /// requests_timeout` of the cluster's messages, not hours. `None` (or zero) turns it off
    /// (Node's adapter leaves this to the Redis client's `pingInterval`, off by default).
    pub heartbeat_interval: Option<Duration>,
    /// Speak Node's sharded adapter (`createShardedAdapter`, on Redis 7's sharded Pub/Sub:
    /// `SPUBLISH`/`SSUBSCRIBE`), with its subscription mode, instead of the classic one
    /// (`createAdapter`, the default: `None`). Every server of a cluster must speak the same.
    /// `key` is its `channelPrefix`.
    pub sharded: Option<SubscriptionMode>,
    /// The largest message the sharded adapter's subscriber accepts from Redis (a larger one
    /// closes that connection, which is opened again): 64 MiB.
    pub max_message_size: usize,
    /// Speak Node's streams adapter (`@socket.io/redis-streams-adapter` 0.3, `createAdapter`)
    /// instead: broadcasts and room changes go through a Redis stream, which every server
    /// reads in order and which outlives a lost connection, and requests and answers through
    /// pub/sub. `None` (the default) for the pub/sub adapters. Not with `sharded`. `key` is its
    /// `channelPrefix`.
    pub streams: Option<StreamsConfig>,
    /// For a `rediss://` URL: PEM root certificates to trust instead of the Mozilla roots (a
    /// private CA, a self-signed Redis) and a client certificate for a Redis that asks for one
    /// (`tls-auth-clients`, on by default in Redis' TLS mode). `None`: the Mozilla roots, no
    /// client certificate. Not with a `redis://` URL.
    pub tls: Option<redis::TlsCertificates>,
}

/// The settings of Node's streams adapter, named after its options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamsConfig {
    /// The stream (`streamName`): `socket.io`.
    pub stream_name: String,
    /// How many streams the namespaces are spread over (`streamCount`): 1. With more, a
    /// namespace's stream is `{stream_name}-{i}`, `i` from its name as Node hashes it.
    pub stream_count: u32,
    /// About how many entries a stream keeps (`maxLen`, trimmed with `MAXLEN ~`): 10,000.
    pub max_len: u64,
    /// Most entries read at once (`readCount`): 100.
    pub read_count: u32,
    /// How long a read waits for new entries before asking again (`blockTimeInMs`): 5 s.
    pub block_time: Duration,
    /// Prefix of the keys that keep disconnected sockets' sessions for connection-state
    /// recovery (`sessionKeyPrefix`): `sio:session:`.
    pub session_key_prefix: String,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        Self {
            stream_name: "socket.io".into(),
            stream_count: 1,
            max_len: 10_000,
            read_count: 100,
            block_time: Duration::from_secs(5),
            session_key_prefix: "sio:session:".into(),
        }
    }
}

/// Which channels the sharded adapter subscribes to (Node's `subscriptionMode`). Every server
/// of a cluster must use the same.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum SubscriptionMode {
    /// One channel per namespace: every server receives every broadcast (`"static"`).
    Static,
    /// A channel per room too, subscribed while the room has members on this server, so that
    /// a broadcast to one room reaches only the servers with members in it; socket ids' own
    /// rooms go through the namespace's channel (`"dynamic"`, the default).
    #[default]
    Dynamic,
    /// As `Dynamic`, with a channel for each socket id's own room too
    /// (`"dynamic-private"`).
    DynamicPrivate,
}

impl Default for RedisAdapterConfig {
    fn default() -> Self {
        Self {
            key: "socket.io".into(),
            requests_timeout: Duration::from_secs(5),
            publish_on_specific_response_channel: false,
            max_queued_publishes: 65_536,
            max_queued_received: 65_536,
            connect_timeout: Duration::from_secs(5),
            reconnect_max_delay: Duration::from_secs(2),
            heartbeat_interval: Some(Duration::from_secs(5)),
            sharded: None,
            max_message_size: 64 << 20,
            streams: None,
            tls: None,
        }
    }
}

/// Makes a [`NamespaceAdapter`] for each namespace, all sharing two Redis connections. Pass
/// it to [`SocketIo::with_adapter`](switchboard_socketio::SocketIo::with_adapter), one factory
/// per `SocketIo`: what one factory serves is one server of the cluster (one
/// [`uid`](Self::uid)), and a server does not hear itself.
pub struct RedisAdapterFactory {
    bus: Arc<bus::Bus>,
}

impl std::fmt::Debug for RedisAdapterFactory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisAdapterFactory")
            .field("uid", &self.bus.uid)
            .finish_non_exhaustive()
    }
}

impl RedisAdapterFactory {
    /// Connects to Redis at `url`: `redis://[user:password@]host:port/db`, or
    /// `rediss://…` for TLS (see [`RedisAdapterConfig::tls`]). The publishing connection and
    /// the classic adapter's subscriber speak RESP3 whatever the URL says, which needs Redis 6
    /// or later; the sharded adapter needs Redis 7, and its subscriber speaks RESP2.
    ///
    /// # Errors
    /// The URL is invalid, Redis could not be reached within `connect_timeout` (a certificate
    /// refused either way included), `tls` is set for a `redis://` URL, or (for
    /// [`RedisAdapterConfig::sharded`]) Redis has no sharded Pub/Sub or the URL is a Unix
    /// socket (the classic adapter takes Unix sockets). `rediss://…/#insecure`, which skips
    /// the certificate check, is refused.
    pub async fn connect(
        url: impl IntoConnectionInfo,
        config: RedisAdapterConfig,
    ) -> Result<Arc<Self>, RedisError> {
        let target = conn::Target::Single(Box::new(url.into_connection_info()?));
        Ok(Arc::new(Self {
            bus: bus::Bus::connect(target, config).await?,
        }))
    }

    /// Connects to the Redis Cluster that `nodes` belong to (one is enough; the others are
    /// found from it): `redis://[user:password@]host:port`, or `rediss://…`, with the same
    /// credentials and scheme for each. Every adapter works on a cluster, as Node's do on a
    /// cluster client: the classic one (its subscriber on one primary, as plain pub/sub
    /// reaches every node), the sharded one (each channel on the node that owns its slot,
    /// subscribed to again when the slot moves), and the streams one (each stream on its own
    /// node). Servers are counted on every node, replicas included. Needs Redis 6 (7 for the
    /// sharded adapter) on every node. Every URL must have the first one's scheme, database and
    /// (when it has them) credentials, which every node is connected to with; over TLS, each
    /// node's certificate must be valid for the address the cluster gives for it.
    ///
    /// # Errors
    /// As [`Self::connect`]; also when `nodes` is empty, its URLs differ in scheme, or a node
    /// is a Unix socket.
    pub async fn connect_cluster<T: IntoConnectionInfo>(
        nodes: impl IntoIterator<Item = T>,
        config: RedisAdapterConfig,
    ) -> Result<Arc<Self>, RedisError> {
        let target = conn::Target::Cluster(conn::seeds(nodes)?);
        Ok(Arc::new(Self {
            bus: bus::Bus::connect(target, config).await?,
        }))
    }

    /// This server's id in the cluster, like Node's: 6 alphanumerics for the classic adapter,
    /// 16 hex digits for the sharded and streams ones.
    pub fn uid(&self) -> &str {
        &self.bus.uid
    }

    /// Calls `listener` with each broadcast another server publishes, once this server's
    /// sockets got it, whether or not any of them was selected: for an application that
    /// delivers broadcasts to other kinds of connections too (`switchboard serve` hands a
    /// room's messages to its `/ws` subscribers). It runs on the task reading from Redis:
    /// keep it short.
    pub fn on_remote_broadcast(
        &self,
        listener: impl Fn(&str, &BroadcastPacket, &BroadcastOptions) + Send + Sync + 'static,
    ) {
        *self
            .bus
            .remote_listener
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(Arc::new(listener));
    }

    /// Tells the sharded adapter (in a dynamic mode) that this server holds members of `room`
    /// in namespace `nsp` outside Socket.IO, such as `switchboard serve`'s `/ws` subscribers:
    /// the room's channel is followed, and so its broadcasts from other servers arrive (for
    /// [`Self::on_remote_broadcast`]), until as many [`Self::unfollow_room`] calls. Without
    /// it, a room's channel is followed only while Socket.IO sockets here are in it. Does
    /// nothing for the classic adapter or the static mode (every server hears every
    /// broadcast), nor for a namespace not made yet.
    pub fn follow_room(&self, nsp: &str, room: &str) {
        if let Some(adapter) = self.bus.adapter_of(nsp) {
            adapter.follow_room(room);
        }
    }

    /// Undoes one [`Self::follow_room`].
    pub fn unfollow_room(&self, nsp: &str, room: &str) {
        if let Some(adapter) = self.bus.adapter_of(nsp) {
            adapter.unfollow_room(room);
        }
    }

    /// How many messages from Redis this server dropped so far because
    /// [`max_queued_received`](RedisAdapterConfig::max_queued_received) were waiting.
    pub fn dropped_messages(&self) -> u64 {
        self.bus.dropped()
    }

    /// Waits until the channels of every namespace made so far are subscribed to: from then
    /// on, what the other servers publish for them arrives here.
    pub async fn subscribed(&self) {
        self.bus.subscribed().await;
    }
}

impl AdapterFactory for RedisAdapterFactory {
    fn create(&self, local: LocalNamespace) -> Arc<dyn Adapter> {
        NamespaceAdapter::new(Arc::clone(&self.bus), local)
    }
}

/// Runs every decoder of messages from other servers on `bytes`, checking that a decoded
/// broadcast encodes back to the same. For the fuzz target; not an API.
#[doc(hidden)]
pub fn fuzz_decode(bytes: &[u8]) {
    let body = bytes::Bytes::copy_from_slice(bytes);
    if let Ok(broadcast) = wire::decode_broadcast(&body) {
        let mut opts = broadcast.opts.clone();
        opts.flags.local = false;
        let again =
            wire::encode_broadcast(&broadcast.uid, &broadcast.nsp, &broadcast.packet, &opts);
        let decoded = wire::decode_broadcast(&again);
        assert_eq!(decoded.as_ref().map(|b| &b.packet), Ok(&broadcast.packet));
    }
    let _ = wire::decode_request(&body);
    if let Ok(response) = wire::decode_response(&body) {
        let _ = (response.sockets(), response.client_count(), response.ack());
    }
    // The sharded adapter's: a decoded broadcast encodes back to the same.
    match wire::cluster::decode(&body).map(|m| m.body) {
        Ok(wire::cluster::Incoming::Broadcast(b)) => {
            let mut opts = b.opts.clone();
            opts.flags.local = false;
            let again = wire::cluster::broadcast(&b.packet, &opts).pubsub(&b.uid, &b.nsp);
            let decoded = wire::cluster::decode(&again).map(|m| m.body);
            assert!(
                matches!(&decoded, Ok(wire::cluster::Incoming::Broadcast(d)) if d.packet == b.packet),
                "{decoded:?}"
            );
        }
        Ok(wire::cluster::Incoming::Response(response)) => {
            let _ = (response.sockets(), response.client_count(), response.ack());
        }
        _ => {}
    }
}

/// Runs the sharded subscriber's reply decoder on `bytes` with a bulk string limit of
/// `max_bulk`. For the fuzz target; not an API.
#[doc(hidden)]
pub fn fuzz_decode_replies(bytes: &[u8], max_bulk: usize) {
    resp::fuzz_decode(bytes, max_bulk);
}

/// A random id of 16 hex digits (the `randomId()` of Node's cluster adapters).
pub(crate) fn random_hex_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

/// A random id of 6 alphanumerics (Node's `uid2(6)`), for servers and requests.
pub(crate) fn random_id() -> String {
    use rand::distr::{Alphanumeric, SampleString};
    Alphanumeric.sample_string(&mut rand::rng(), 6)
}
