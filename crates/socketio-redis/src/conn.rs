//! The Redis deployment the adapter talks to, one server or a Redis Cluster, and its
//! connections: the rest of the crate sends commands through [`Conn`] and does not care which.
//!
//! On one server each connection is a redis-rs `ConnectionManager`. On a cluster it is a
//! redis-rs `ClusterConnection`, which keeps a connection to each node, sends each command to
//! the node that owns its key's slot, follows `MOVED` redirections and reconnects by itself.
//! What differs in a cluster, as in Node's adapters on a cluster client:
//!
//! - a pipeline must stay within one slot ([`slot_of`] groups the publisher's batches), and
//!   plain `PUBLISH`es, which any node takes, go together to one ([`Conn::send`]);
//! - servers are counted on every node (`PUBSUB NUMSUB` and `SHARDNUMSUB` count a node's own
//!   subscribers only), and the counts added up ([`Conn::subscribers`]);
//! - plain pub/sub messages reach every node, so the pub/sub subscriber is a
//!   `ConnectionManager` to one primary ([`Cluster::open_pubsub`]).

use std::time::Duration;

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::cluster::{ClusterClient, ClusterClientBuilder, ClusterConfig};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{
    MultipleNodeRoutingInfo, ResponsePolicy, Route, RoutingInfo, SingleNodeRoutingInfo, Slot,
    SlotAddr,
};
use redis::{
    Cmd, ConnectionInfo, IntoConnectionInfo, Pipeline, ProtocolVersion, RedisError, RedisFuture,
    Value,
};

use crate::RedisAdapterConfig;

/// What a connection is for, which sets its timeouts and whether it receives pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Which {
    Commands,
    /// The pub/sub subscriber (classic and streams adapters): on a cluster, a connection to
    /// one primary, as Node's is (plain pub/sub messages reach every node).
    Subscriber,
    /// The sharded adapter's subscriber on a cluster: each channel on its slot's node.
    ShardSubscriber,
    /// A stream reader of the streams adapter (its reads block).
    Reader,
}

/// Where the adapter connects: one server, or some nodes of a cluster (its seeds).
pub(crate) enum Target {
    Single(Box<ConnectionInfo>),
    Cluster(Vec<ConnectionInfo>),
}

/// One Redis server or a cluster, able to open connections.
#[derive(Clone)]
#[allow(clippy::large_enum_variant)] // A few per adapter factory.
pub(crate) enum Deployment {
    Single(redis::Client),
    Cluster(Cluster),
}

/// A Redis Cluster's clients.
#[derive(Clone)]
pub(crate) struct Cluster {
    /// For commands and the sharded subscriber: a request, retries and redirections included,
    /// ends within `requests_timeout`.
    client: ClusterClient,
    /// For stream readers, whose reads block: [`read_timeout`].
    readers: ClusterClient,
    /// The first seed: how to reach one node (credentials, TLS) for the pub/sub subscriber.
    template: ConnectionInfo,
    tls: Option<redis::TlsCertificates>,
    /// The primaries last learnt, for when no seed answers (the one seed given is the node
    /// that went away).
    known: std::sync::Arc<std::sync::Mutex<Vec<(String, u16)>>>,
}

impl Deployment {
    /// One server at `info`, spoken to over RESP3.
    pub(crate) fn single(
        info: ConnectionInfo,
        config: &RedisAdapterConfig,
    ) -> Result<Self, RedisError> {
        if matches!(
            info.addr(),
            redis::ConnectionAddr::TcpTls { insecure: true, .. }
        ) {
            return Err(insecure_refused());
        }
        let info = resp3(info);
        Ok(Self::Single(match &config.tls {
            Some(certificates) => redis::Client::build_with_tls(info, certificates.clone())?,
            None => redis::Client::open(info)?,
        }))
    }

    /// The cluster that `seeds` (some of its nodes) belong to; every seed must have the first
    /// one's TLS mode (and credentials, when it has them).
    pub(crate) fn cluster(
        seeds: Vec<ConnectionInfo>,
        config: &RedisAdapterConfig,
    ) -> Result<Self, RedisError> {
        let insecure = seeds.iter().any(|s| {
            matches!(
                s.addr(),
                redis::ConnectionAddr::TcpTls { insecure: true, .. }
            )
        });
        if insecure {
            return Err(insecure_refused());
        }
        let seeds: Vec<ConnectionInfo> = seeds.into_iter().map(resp3).collect();
        let Some(template) = seeds.first().cloned() else {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "a Redis cluster needs the URL of at least one of its nodes",
            )));
        };
        let tls = matches!(template.addr(), redis::ConnectionAddr::TcpTls { .. });
        if config.tls.is_some() && !tls {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "RedisAdapterConfig::tls is set, but the cluster's URLs are not rediss://",
            )));
        }
        let client = |overall: Duration| {
            let mut builder = ClusterClientBuilder::new(seeds.clone())
                .use_protocol(ProtocolVersion::RESP3)
                .connection_timeout(config.connect_timeout)
                // Bounded as a whole, retries and redirections included (an attempt on its
                // own is given longer: see `Cluster::open`).
                .overall_response_timeout(Some(overall))
                .retries(6)
                .max_retry_wait(
                    u64::try_from(config.reconnect_max_delay.as_millis()).unwrap_or(2_000),
                );
            if let Some(certificates) = &config.tls {
                builder = builder.certs(certificates.clone());
            }
            builder.build()
        };
        Ok(Self::Cluster(Cluster {
            client: client(config.requests_timeout)?,
            readers: client(read_timeout(config))?,
            template,
            tls: config.tls.clone(),
            known: std::sync::Arc::default(),
        }))
    }

    pub(crate) fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Opens a connection for `which`; the subscriber's pushes (messages, and news of lost
    /// connections) go to `pushes`, and after a reconnection its subscriptions are made again.
    pub(crate) async fn open(
        &self,
        config: &RedisAdapterConfig,
        which: Which,
        pushes: Option<impl redis::aio::AsyncPushSender + Clone>,
    ) -> Result<Conn, RedisError> {
        match self {
            Self::Single(client) => {
                let response_timeout = match which {
                    Which::Reader => read_timeout(config),
                    _ => config.requests_timeout,
                };
                open_single(client, config, response_timeout, pushes).await
            }
            Self::Cluster(cluster) => match which {
                Which::Subscriber => cluster.open_pubsub(config, pushes).await,
                Which::Commands | Which::ShardSubscriber => {
                    cluster
                        .open(&cluster.client, config.requests_timeout, config, pushes)
                        .await
                }
                Which::Reader => {
                    cluster
                        .open(&cluster.readers, read_timeout(config), config, pushes)
                        .await
                }
            },
        }
    }

    /// One connection, made and dropped, to learn whether Redis takes this client at all.
    pub(crate) async fn probe(&self, config: &RedisAdapterConfig) -> Result<(), RedisError> {
        match self {
            Self::Single(client) => {
                let settings = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.requests_timeout));
                client
                    .get_multiplexed_async_connection_with_config(&settings)
                    .await
                    .map(drop)
            }
            // A cluster connection asks a seed for the slots at once, which a refused password
            // or certificate fails.
            Self::Cluster(cluster) => cluster
                .open(
                    &cluster.client,
                    config.requests_timeout,
                    config,
                    None::<NoPushes>,
                )
                .await
                .map(drop),
        }
    }
}

/// A `ConnectionManager` to one server: it reconnects by itself and, with `pushes`,
/// resubscribes after each reconnection.
async fn open_single(
    client: &redis::Client,
    config: &RedisAdapterConfig,
    response_timeout: Duration,
    pushes: Option<impl redis::aio::AsyncPushSender + Clone>,
) -> Result<Conn, RedisError> {
    let mut settings = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(config.connect_timeout))
        .set_response_timeout(Some(response_timeout))
        .set_max_delay(config.reconnect_max_delay);
    if let Some(pushes) = pushes {
        settings = settings
            .set_push_sender(pushes)
            .set_automatic_resubscription();
    }
    Ok(Conn::Single(
        client.get_connection_manager_with_config(settings).await?,
    ))
}

impl Cluster {
    /// A cluster connection of `client`: it connects to the seeds, learns the slots, then
    /// connects to every primary, each step within `connect_timeout`.
    async fn open(
        &self,
        client: &ClusterClient,
        overall: Duration,
        config: &RedisAdapterConfig,
        pushes: Option<impl redis::aio::AsyncPushSender + Clone>,
    ) -> Result<Conn, RedisError> {
        // Each attempt given longer than the whole (the client's overall timeout): a slow
        // answer is not asked for again, which would publish twice, before the whole gives up.
        let mut settings = ClusterConfig::new()
            .set_connection_timeout(config.connect_timeout)
            .set_response_timeout(overall * 2);
        if let Some(pushes) = pushes {
            settings = settings.set_push_sender(pushes);
        }
        let within = config.connect_timeout * 2 + config.requests_timeout;
        let conn = tokio::time::timeout(within, client.get_async_connection_with_config(settings))
            .await
            .map_err(|_| {
                RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the Redis cluster's nodes did not all answer in time",
                ))
            })??;
        Ok(Conn::Cluster(conn))
    }

    /// The pub/sub subscriber: a connection to one primary, taken at random as Node's cluster
    /// clients take theirs (a plain `PUBLISH` reaches every node), the next one when it cannot
    /// be reached. One node's connection, unlike a cluster connection's subscriptions, which
    /// redis-rs moves to each channel's slot owner and can leave on two nodes at once.
    async fn open_pubsub(
        &self,
        config: &RedisAdapterConfig,
        pushes: Option<impl redis::aio::AsyncPushSender + Clone>,
    ) -> Result<Conn, RedisError> {
        let learnt = match self
            .open(
                &self.client,
                config.requests_timeout,
                config,
                None::<NoPushes>,
            )
            .await
        {
            Ok(Conn::Cluster(mut cluster)) => primaries(&mut cluster).await,
            Ok(Conn::Single(_)) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        let known = || {
            self.known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone()
        };
        let mut primaries = match learnt {
            Ok(primaries) if !primaries.is_empty() => {
                *self
                    .known
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = primaries.clone();
                primaries
            }
            Ok(_) => known(),
            Err(e) => {
                let known = known();
                if known.is_empty() {
                    return Err(e);
                }
                known
            }
        };
        if primaries.is_empty() {
            return Err(RedisError::from((
                redis::ErrorKind::ClusterConnectionNotFound,
                "the Redis cluster has no primary",
            )));
        }
        let first = rand::random_range(0..primaries.len());
        primaries.rotate_left(first);
        let mut last = None;
        for (host, port) in primaries {
            let addr = match self.template.addr().clone() {
                redis::ConnectionAddr::TcpTls {
                    insecure,
                    tls_params,
                    ..
                } => redis::ConnectionAddr::TcpTls {
                    host,
                    port,
                    insecure,
                    tls_params,
                },
                _ => redis::ConnectionAddr::Tcp(host, port),
            };
            let info = self.template.clone().set_addr(addr);
            let client = match &self.tls {
                Some(certificates) => redis::Client::build_with_tls(info, certificates.clone())?,
                None => redis::Client::open(info)?,
            };
            // A connection manager's first connect is tried again several times: a node that
            // does not answer costs one attempt's time here, then the next node is tried.
            let attempt = open_single(&client, config, config.requests_timeout, pushes.clone());
            match tokio::time::timeout(config.connect_timeout + config.requests_timeout, attempt)
                .await
            {
                Ok(Ok(conn)) => return Ok(conn),
                Ok(Err(e)) => last = Some(e),
                Err(_) => {
                    last = Some(RedisError::from(std::io::Error::from(
                        std::io::ErrorKind::TimedOut,
                    )))
                }
            }
        }
        Err(last.unwrap_or_else(|| {
            RedisError::from((
                redis::ErrorKind::ClusterConnectionNotFound,
                "no primary to subscribe on",
            ))
        }))
    }
}

/// The cluster's primaries, as redis-rs resolved their addresses (announced hostnames, IPs,
/// endpoints it maps): the nodes a PING to every primary went to.
async fn primaries(conn: &mut ClusterConnection) -> Result<Vec<(String, u16)>, RedisError> {
    let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None));
    let replies = conn.route_command(redis::cmd("PING"), routing).await?;
    let Value::Map(by_node) = replies else {
        return Ok(Vec::new());
    };
    Ok(by_node
        .into_iter()
        .filter_map(|(address, _)| {
            let address = redis::from_redis_value::<String>(address).ok()?;
            let (host, port) = address.rsplit_once(':')?;
            Some((host.trim_matches(['[', ']']).to_owned(), port.parse().ok()?))
        })
        .collect())
}

/// The type of "no push sender".
#[derive(Clone)]
pub(crate) struct NoPushes;

impl redis::aio::AsyncPushSender for NoPushes {
    fn send(&self, _: redis::PushInfo) -> Result<(), redis::aio::SendError> {
        Ok(())
    }
}

/// `rediss://…#insecure` (no certificate check) refused.
pub(crate) fn insecure_refused() -> RedisError {
    RedisError::from((
        redis::ErrorKind::InvalidClientConfig,
        "rediss:// with #insecure (no certificate check) is not supported: trust the server's \
         certificate with RedisAdapterConfig::tls instead",
    ))
}

/// How long a stream read may take: it blocks up to `block_time`, then gets
/// `requests_timeout` to answer.
pub(crate) fn read_timeout(config: &RedisAdapterConfig) -> Duration {
    let block = config
        .streams
        .as_ref()
        .map_or(Duration::ZERO, |s| s.block_time);
    block + config.requests_timeout
}

/// `info` speaking RESP3, whatever its URL said (pushes need it).
fn resp3(info: ConnectionInfo) -> ConnectionInfo {
    let settings = info
        .redis_settings()
        .clone()
        .set_protocol(ProtocolVersion::RESP3);
    info.set_redis_settings(settings)
}

/// Parses each seed of a cluster.
pub(crate) fn seeds<T: IntoConnectionInfo>(
    seeds: impl IntoIterator<Item = T>,
) -> Result<Vec<ConnectionInfo>, RedisError> {
    let seeds = seeds
        .into_iter()
        .map(IntoConnectionInfo::into_connection_info)
        .collect::<Result<Vec<_>, _>>()?;
    if seeds.is_empty() {
        return Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "a Redis cluster needs the URL of at least one of its nodes",
        )));
    }
    Ok(seeds)
}

/// The cluster slot of `key` (hash tags included), to keep a pipeline within one slot.
pub(crate) fn slot_of(key: &str) -> Slot {
    Slot::for_key(key)
}

/// A connection to one server or to a cluster; clones share it.
#[derive(Clone)]
pub(crate) enum Conn {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(conn) => conn.req_packed_command(cmd),
            Self::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(conn) => conn.req_packed_commands(pipeline, offset, count),
            Self::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(conn) => conn.get_db(),
            Self::Cluster(conn) => conn.get_db(),
        }
    }
}

impl Conn {
    /// Sends `pipe`, whose commands are all of `slot` (`None`: commands without one, which any
    /// node takes), and returns each command's own result, so that one failing (an XADD refused
    /// for memory, say) fails only its own publication.
    pub(crate) async fn send(
        &mut self,
        mut pipe: Pipeline,
        slot: Option<Slot>,
    ) -> Result<Vec<redis::RedisResult<Value>>, RedisError> {
        let (Self::Cluster(conn), None) = (&mut *self, slot) else {
            return pipe.ignore_errors().query_async(self).await;
        };
        // To one node (slot 0's primary), where redis-rs would route each by its channel.
        let count = pipe.cmd_iter().count();
        let route = SingleNodeRoutingInfo::SpecificNode(Route::new(0, SlotAddr::Master));
        let replies = conn.route_pipeline(pipe, 0, count, route).await?;
        Ok(replies
            .into_iter()
            .map(|reply| match reply {
                Value::ServerError(e) => Err(e.into()),
                reply => Ok(reply),
            })
            .collect())
    }

    pub(crate) async fn subscribe(&mut self, channels: &[String]) -> Result<(), RedisError> {
        match self {
            Self::Single(conn) => conn.subscribe(channels).await,
            Self::Cluster(conn) => conn.subscribe(channels).await,
        }
    }

    pub(crate) async fn psubscribe(&mut self, pattern: &str) -> Result<(), RedisError> {
        match self {
            Self::Single(conn) => conn.psubscribe(pattern).await,
            Self::Cluster(conn) => conn.psubscribe(pattern).await,
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channels: &[String]) -> Result<(), RedisError> {
        match self {
            Self::Single(conn) => conn.unsubscribe(channels).await,
            Self::Cluster(conn) => conn.unsubscribe(channels).await,
        }
    }

    pub(crate) async fn punsubscribe(&mut self, pattern: &str) -> Result<(), RedisError> {
        match self {
            Self::Single(conn) => conn.punsubscribe(pattern).await,
            Self::Cluster(conn) => conn.punsubscribe(pattern).await,
        }
    }

    /// A PING, on a cluster to every primary: fails (by timeout) when any connection went
    /// silent.
    pub(crate) async fn ping(&mut self) -> Result<(), RedisError> {
        match self {
            Self::Single(conn) => redis::cmd("PING").query_async(conn).await,
            Self::Cluster(conn) => {
                let routing = RoutingInfo::MultiNode((
                    MultipleNodeRoutingInfo::AllMasters,
                    Some(ResponsePolicy::AllSucceeded),
                ));
                conn.route_command(redis::cmd("PING"), routing)
                    .await
                    .map(drop)
            }
        }
    }

    /// How many clients subscribe to `channel`: `PUBSUB {which} channel` (`NUMSUB`, or
    /// `SHARDNUMSUB`), on a cluster asked of every node and added up, as Node's adapters do.
    pub(crate) async fn subscribers(
        &mut self,
        which: &str,
        channel: &str,
    ) -> Result<usize, RedisError> {
        let mut cmd = redis::cmd("PUBSUB");
        cmd.arg(which).arg(channel);
        match self {
            Self::Single(conn) => Ok(count_of(cmd.query_async(conn).await?)),
            Self::Cluster(conn) => {
                // Without a response policy, each node's own reply, by its address.
                let routing = RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllNodes, None));
                let replies = conn.route_command(cmd, routing).await?;
                // A node's error (a Redis without the command, one loading) fails the count
                // rather than count that node's subscribers as none.
                let replies = match replies {
                    Value::Map(by_node) => by_node.into_iter().map(|(_, n)| n).collect(),
                    one => vec![one],
                };
                replies.into_iter().try_fold(0, |sum, reply| match reply {
                    Value::ServerError(e) => Err(RedisError::from(e)),
                    reply => Ok(sum + count_of(reply)),
                })
            }
        }
    }
}

/// The count of a `PUBSUB NUMSUB`-like reply for one channel: `[channel, count]` (RESP2) or
/// `{channel: count}` (RESP3); 0 for anything else.
fn count_of(reply: Value) -> usize {
    let count = match reply {
        Value::Array(items) => items.get(1).cloned(),
        Value::Map(pairs) => pairs.into_iter().next().map(|(_, n)| n),
        _ => None,
    };
    count
        .and_then(|n| redis::from_redis_value::<usize>(n).ok())
        .unwrap_or(0)
}
