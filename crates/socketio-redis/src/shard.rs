//! The sharded adapter's subscriber: one connection of its own, in RESP2 subscribe mode, that
//! holds the shard channels (`SSUBSCRIBE`) the namespaces want and hands their messages to the
//! router.
//!
//! redis-rs 1.8 does not serve here: it offers `SSUBSCRIBE` on cluster connections only, and a
//! `SUNSUBSCRIBE` sent as a plain command leaves its multiplexed connection waiting for a reply
//! that was taken as a push (its own code says so, redis-rs issue 2533), which would pair every
//! later reply with the wrong command. A subscribed connection needs little: commands out,
//! confirmations, messages and pongs in ([`crate::resp`]).
//!
//! The task keeps the set of channels wanted. After a lost connection it connects again (with
//! backoff) and subscribes to all of them; a PING every `heartbeat_interval` not answered
//! within `requests_timeout` counts as lost (a NAT or proxy in between forgot the connection).

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redis::{ConnectionAddr, ConnectionInfo, RedisError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::resp::{self, Decoder, Reply};
use crate::RedisAdapterConfig;

/// A message from a shard channel: the channel and the payload.
pub(crate) type ShardMessage = (Bytes, Bytes);

enum Command {
    Subscribe {
        channel: String,
        /// Told once Redis confirmed the subscription.
        done: Option<oneshot::Sender<()>>,
    },
    Unsubscribe(String),
}

/// The handle of the subscriber task; the task ends when the handle is dropped.
pub(crate) struct ShardSubscriber {
    commands: mpsc::UnboundedSender<Command>,
}

impl ShardSubscriber {
    /// Connects (failing as [`crate::RedisAdapterFactory::connect`] does when Redis cannot be
    /// reached) and starts the task, which sends every message to `messages`.
    pub(crate) async fn connect(
        info: ConnectionInfo,
        config: &RedisAdapterConfig,
        messages: impl Fn(ShardMessage) + Send + Sync + 'static,
    ) -> Result<Self, RedisError> {
        let link = Link::new(info, config)?;
        let stream = link.open().await?;
        let (commands, rx) = mpsc::unbounded_channel();
        tokio::spawn(run(link, stream, rx, messages));
        Ok(Self { commands })
    }

    /// Subscribes to `channel` (again after every reconnection, until unsubscribed); the
    /// receiver is told once Redis confirmed it.
    pub(crate) fn subscribe(&self, channel: String) -> oneshot::Receiver<()> {
        let (done, confirmed) = oneshot::channel();
        let _ = self.commands.send(Command::Subscribe {
            channel,
            done: Some(done),
        });
        confirmed
    }

    /// Unsubscribes from `channel`.
    pub(crate) fn unsubscribe(&self, channel: String) {
        let _ = self.commands.send(Command::Unsubscribe(channel));
    }
}

/// How to reach Redis.
struct Link {
    host: String,
    port: u16,
    username: Option<String>,
    password: Option<String>,
    connect_timeout: Duration,
    requests_timeout: Duration,
    heartbeat: Option<Duration>,
    reconnect_max_delay: Duration,
    decoder: Decoder,
}

impl Link {
    fn new(info: ConnectionInfo, config: &RedisAdapterConfig) -> Result<Self, RedisError> {
        let ConnectionAddr::Tcp(host, port) = info.addr().clone() else {
            return Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the sharded Redis adapter connects over TCP only (redis://host:port)",
            )));
        };
        let settings = info.redis_settings();
        Ok(Self {
            host,
            port,
            username: settings.username().map(str::to_owned),
            password: settings.password().map(str::to_owned),
            connect_timeout: config.connect_timeout,
            requests_timeout: config.requests_timeout,
            heartbeat: config.heartbeat_interval.filter(|i| !i.is_zero()),
            reconnect_max_delay: config.reconnect_max_delay,
            decoder: Decoder {
                max_bulk: config.max_message_size,
            },
        })
    }

    /// A connection, authenticated when the URL has a password.
    async fn open(&self) -> Result<Connection, RedisError> {
        let io = |e: std::io::Error| RedisError::from(e);
        let tcp = tokio::time::timeout(
            self.connect_timeout,
            TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
        .map_err(io)?;
        tcp.set_nodelay(true).map_err(io)?;
        let mut conn = Connection {
            tcp,
            input: BytesMut::with_capacity(16 * 1024),
            output: BytesMut::new(),
            decoder: self.decoder,
        };
        if let Some(password) = &self.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &self.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            resp::command(&mut conn.output, &args);
            let reply = tokio::time::timeout(self.requests_timeout, async {
                conn.flush().await?;
                conn.next().await
            })
            .await
            .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))??;
            if let Reply::Error(e) = reply {
                return Err(RedisError::from((
                    redis::ErrorKind::AuthenticationFailed,
                    "AUTH refused",
                    String::from_utf8_lossy(&e).into_owned(),
                )));
            }
        }
        Ok(conn)
    }
}

struct Connection {
    tcp: TcpStream,
    input: BytesMut,
    output: BytesMut,
    decoder: Decoder,
}

impl Connection {
    fn queue(&mut self, verb: &[u8], channel: &str) {
        resp::command(&mut self.output, &[verb, channel.as_bytes()]);
    }

    async fn flush(&mut self) -> Result<(), RedisError> {
        if !self.output.is_empty() {
            self.tcp.write_all(&self.output).await?;
            self.output.clear();
        }
        Ok(())
    }

    /// The next reply. Cancel-safe: what was read stays in `input`.
    async fn next(&mut self) -> Result<Reply, RedisError> {
        loop {
            match self.decoder.decode(&mut self.input) {
                Ok(Some(reply)) => return Ok(reply),
                Ok(None) => {}
                Err(e) => {
                    return Err(RedisError::from((
                        redis::ErrorKind::Parse,
                        "bad reply from Redis",
                        e.to_string(),
                    )))
                }
            }
            if self.tcp.read_buf(&mut self.input).await? == 0 {
                return Err(RedisError::from(std::io::Error::from(
                    std::io::ErrorKind::UnexpectedEof,
                )));
            }
        }
    }
}

/// What the task keeps across connections.
struct Wanted {
    channels: HashSet<String>,
    /// Channels not yet confirmed on the current connection, and who waits for them.
    waiting: HashMap<String, Vec<oneshot::Sender<()>>>,
}

impl Wanted {
    /// Applies a command, queueing what Redis must be told on `conn` (when connected; a new
    /// connection is told every wanted channel anyway).
    fn apply(&mut self, command: Command, conn: Option<&mut Connection>) {
        match command {
            Command::Subscribe { channel, done } => {
                let new = self.channels.insert(channel.clone());
                if !new && !self.waiting.contains_key(&channel) {
                    // Subscribed and confirmed already.
                    if let Some(done) = done {
                        let _ = done.send(());
                    }
                    return;
                }
                let waiters = self.waiting.entry(channel.clone()).or_default();
                waiters.extend(done);
                if let (true, Some(conn)) = (new, conn) {
                    conn.queue(b"SSUBSCRIBE", &channel);
                }
            }
            Command::Unsubscribe(channel) => {
                if self.channels.remove(&channel) {
                    self.waiting.remove(&channel);
                    if let Some(conn) = conn {
                        conn.queue(b"SUNSUBSCRIBE", &channel);
                    }
                }
            }
        }
    }
}

/// Why a connection's session ended.
enum End {
    /// Every handle is gone.
    Closed,
    /// The connection failed; connect again.
    Lost(RedisError),
}

async fn run(
    link: Link,
    mut conn: Connection,
    mut commands: mpsc::UnboundedReceiver<Command>,
    messages: impl Fn(ShardMessage) + Sync,
) {
    let mut wanted = Wanted {
        channels: HashSet::new(),
        waiting: HashMap::new(),
    };
    loop {
        match session(&link, &mut conn, &mut commands, &mut wanted, &messages).await {
            End::Closed => return,
            End::Lost(e) => warn!(error = %e, "redis adapter: shard subscriber lost; reconnecting"),
        }
        // Commands keep coming while Redis is away: they change what is subscribed to next.
        let mut pause = Duration::from_millis(50);
        conn = loop {
            let wait = tokio::time::sleep(pause);
            tokio::pin!(wait);
            loop {
                tokio::select! {
                    command = commands.recv() => match command {
                        Some(command) => wanted.apply(command, None),
                        None => return,
                    },
                    () = &mut wait => break,
                }
            }
            match link.open().await {
                Ok(conn) => break conn,
                Err(e) => {
                    debug!(error = %e, "redis adapter: shard subscriber: connecting failed");
                    pause = (pause * 2).min(link.reconnect_max_delay);
                }
            }
        };
    }
}

/// Serves one connection: subscribes to every wanted channel, then passes messages on and
/// commands in until the connection fails or the handle is dropped.
async fn session(
    link: &Link,
    conn: &mut Connection,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    wanted: &mut Wanted,
    messages: &impl Fn(ShardMessage),
) -> End {
    // Nothing is confirmed on a new connection.
    for channel in &wanted.channels {
        wanted.waiting.entry(channel.clone()).or_default();
        conn.queue(b"SSUBSCRIBE", channel);
    }
    let mut pings = link.heartbeat.map(|every| {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    let mut pong_due: Option<Instant> = None;
    loop {
        // A Redis that stopped reading would hold the write for good.
        match tokio::time::timeout(link.requests_timeout, conn.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return End::Lost(e),
            Err(_) => {
                return End::Lost(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "writing to Redis timed out",
                )))
            }
        }
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => wanted.apply(command, Some(conn)),
                None => return End::Closed,
            },
            reply = conn.next() => match reply {
                Ok(reply) => {
                    if on_reply(reply, conn, wanted, messages) {
                        pong_due = None;
                    }
                }
                Err(e) => return End::Lost(e),
            },
            _ = async { pings.as_mut()?.tick().await; Some(()) }, if pings.is_some() && pong_due.is_none() => {
                resp::command(&mut conn.output, &[b"PING"]);
                pong_due = Some(Instant::now() + link.requests_timeout);
            }
            () = async { if let Some(due) = pong_due { tokio::time::sleep_until(due).await } }, if pong_due.is_some() => {
                return End::Lost(RedisError::from(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "no answer to PING",
                )));
            }
        }
    }
}

/// Handles one reply; true for a pong.
fn on_reply(
    reply: Reply,
    conn: &mut Connection,
    wanted: &mut Wanted,
    messages: &impl Fn(ShardMessage),
) -> bool {
    let items = match reply {
        Reply::Array(Some(items)) => items,
        Reply::Error(e) => {
            warn!(
                error = %String::from_utf8_lossy(&e),
                "redis adapter: Redis refused a shard subscription (sharded Pub/Sub needs Redis 7)"
            );
            return false;
        }
        other => {
            debug!(reply = ?other, "redis adapter: unexpected reply on the shard subscriber");
            return false;
        }
    };
    let mut items = items.into_iter();
    let (Some(kind), channel) = (items.next(), items.next()) else {
        return false;
    };
    let Some(kind) = kind.bytes() else {
        return false;
    };
    let channel = channel.as_ref().and_then(Reply::bytes);
    match &kind[..] {
        b"smessage" => {
            if let (Some(channel), Some(payload)) =
                (channel, items.next().as_ref().and_then(Reply::bytes))
            {
                messages((channel.clone(), payload.clone()));
            }
        }
        b"ssubscribe" => {
            let channel = channel.map(|c| String::from_utf8_lossy(c).into_owned());
            if let Some(done) = channel.and_then(|c| wanted.waiting.remove(&c)) {
                for done in done {
                    let _ = done.send(());
                }
            }
        }
        b"sunsubscribe" => {
            // Asked for, or (in a cluster, when the slot moves) not: then subscribe again.
            let channel = channel.map(|c| String::from_utf8_lossy(c).into_owned());
            if let Some(channel) = channel.filter(|c| wanted.channels.contains(c)) {
                conn.queue(b"SSUBSCRIBE", &channel);
            }
        }
        b"pong" => return true,
        _ => {}
    }
    false
}
