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
//!
//! Over TLS (`rediss://`) it trusts and presents the certificates redis-rs's connections do
//! ([`RedisAdapterConfig::tls`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use redis::{ClientTlsConfig, ConnectionAddr, ConnectionInfo, RedisError, TlsCertificates};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
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
    /// For `rediss://`: the client settings and the name the certificate must carry.
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
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
        let invalid = |message: &'static str| {
            RedisError::from((redis::ErrorKind::InvalidClientConfig, message))
        };
        let (host, port, tls) = match info.addr().clone() {
            ConnectionAddr::Tcp(host, port) => (host, port, None),
            ConnectionAddr::TcpTls { insecure: true, .. } => {
                return Err(crate::conn::insecure_refused())
            }
            ConnectionAddr::TcpTls { host, port, .. } => {
                let name = ServerName::try_from(host.clone())
                    .map_err(|_| invalid("the Redis host is not a valid TLS server name"))?;
                let connector = tokio_rustls::TlsConnector::from(tls_config(config.tls.as_ref())?);
                (host, port, Some((connector, name)))
            }
            _ => {
                return Err(invalid(
                    "the sharded Redis adapter connects over TCP or TLS only (redis:// or \
                     rediss://), not a Unix socket",
                ))
            }
        };
        let settings = info.redis_settings();
        Ok(Self {
            host,
            port,
            tls,
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
        let stream: Box<dyn Stream> = match &self.tls {
            None => Box::new(tcp),
            Some((connector, name)) => Box::new(
                tokio::time::timeout(self.connect_timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| io(std::io::ErrorKind::TimedOut.into()))?
                    .map_err(io)?,
            ),
        };
        let mut conn = Connection {
            stream,
            input: BytesMut::with_capacity(16 * 1024),
            decoder: self.decoder,
            out: Outbox::default(),
        };
        if let Some(password) = &self.password {
            let mut args: Vec<&[u8]> = vec![b"AUTH"];
            if let Some(user) = &self.username {
                args.push(user.as_bytes());
            }
            args.push(password.as_bytes());
            resp::command(&mut conn.out.output, &args);
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

/// The client side of TLS as redis-rs sets it up for the same [`TlsCertificates`]: the root
/// certificates given, or else the Mozilla roots, and the client certificate if any.
fn tls_config(
    certificates: Option<&TlsCertificates>,
) -> Result<Arc<rustls::ClientConfig>, RedisError> {
    let bad = |what: &str, e: &dyn std::fmt::Display| {
        RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "bad TLS settings",
            format!("{what}: {e}"),
        ))
    };
    let mut roots = rustls::RootCertStore::empty();
    match certificates.and_then(|c| c.root_cert.as_deref()) {
        Some(pem) => {
            for cert in CertificateDer::pem_slice_iter(pem) {
                let cert = cert.map_err(|e| bad("root certificate", &e))?;
                roots.add(cert).map_err(|e| bad("root certificate", &e))?;
            }
        }
        None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match certificates.and_then(|c| c.client_tls.as_ref()) {
        Some(ClientTlsConfig {
            client_cert,
            client_key,
        }) => {
            let chain = CertificateDer::pem_slice_iter(client_cert)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad("client certificate", &e))?;
            let key =
                PrivateKeyDer::from_pem_slice(client_key).map_err(|e| bad("client key", &e))?;
            builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| bad("client certificate", &e))?
        }
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// A connection's byte stream: TCP, or TLS over it.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}

impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

struct Connection {
    stream: Box<dyn Stream>,
    input: BytesMut,
    decoder: Decoder,
    out: Outbox,
}

/// Commands to write, and those written whose reply has not come yet.
#[derive(Debug, Default)]
struct Outbox {
    output: BytesMut,
    /// Oldest first: Redis answers in order, so an error reply (which names no channel) is
    /// the oldest one's.
    sent: VecDeque<Sent>,
}

/// A command awaiting its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Sent {
    Subscribe(String),
    Unsubscribe(String),
    Ping,
}

impl Outbox {
    fn subscribe(&mut self, channel: &str) {
        resp::command(&mut self.output, &[b"SSUBSCRIBE", channel.as_bytes()]);
        self.sent.push_back(Sent::Subscribe(channel.to_owned()));
    }

    fn unsubscribe(&mut self, channel: &str) {
        resp::command(&mut self.output, &[b"SUNSUBSCRIBE", channel.as_bytes()]);
        self.sent.push_back(Sent::Unsubscribe(channel.to_owned()));
    }

    fn ping(&mut self) {
        resp::command(&mut self.output, &[b"PING"]);
        self.sent.push_back(Sent::Ping);
    }

    /// Takes the oldest command awaiting a reply when it is `expected` (a confirmation Redis
    /// sends unasked, as a cluster node does when a slot moves, is not a reply).
    fn answered(&mut self, expected: &Sent) -> bool {
        if self.sent.front() == Some(expected) {
            self.sent.pop_front();
            true
        } else {
            false
        }
    }
}

impl Connection {
    async fn flush(&mut self) -> Result<(), RedisError> {
        if !self.out.output.is_empty() {
            self.stream.write_all(&self.out.output).await?;
            // TLS may hold the last record back until flushed.
            self.stream.flush().await?;
            self.out.output.clear();
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
            if self.stream.read_buf(&mut self.input).await? == 0 {
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
    fn apply(&mut self, command: Command, conn: Option<&mut Outbox>) {
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
                    conn.subscribe(&channel);
                }
            }
            Command::Unsubscribe(channel) => {
                if self.channels.remove(&channel) {
                    self.waiting.remove(&channel);
                    if let Some(conn) = conn {
                        conn.unsubscribe(&channel);
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
    /// The connection failed; connect again. `answered`: Redis replied to something on it
    /// (else the next attempt waits longer: something accepts connections and drops them).
    Lost { error: RedisError, answered: bool },
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
    let first_pause = Duration::from_millis(50);
    let mut pause = first_pause;
    loop {
        match session(&link, &mut conn, &mut commands, &mut wanted, &messages).await {
            End::Closed => return,
            End::Lost { error, answered } => {
                if answered {
                    warn!(error = %error, "redis adapter: shard subscriber lost; reconnecting");
                    pause = first_pause;
                } else {
                    debug!(error = %error, "redis adapter: shard subscriber lost again");
                }
            }
        }
        // Commands keep coming while Redis is away: they change what is subscribed to next.
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
            pause = (pause * 2).min(link.reconnect_max_delay);
            match link.open().await {
                Ok(conn) => break conn,
                Err(e) => debug!(error = %e, "redis adapter: shard subscriber: connecting failed"),
            }
        };
    }
}

fn timed_out(what: &str) -> RedisError {
    RedisError::from(std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        what.to_owned(),
    ))
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
        conn.out.subscribe(channel);
    }
    let mut pings = link.heartbeat.map(|every| {
        let mut ticks = tokio::time::interval_at(Instant::now() + every, every);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks
    });
    let mut pong_due: Option<Instant> = None;
    let mut answered = false;
    loop {
        // A Redis that stopped reading would hold the write for good.
        let error = match tokio::time::timeout(link.requests_timeout, conn.flush()).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e),
            Err(_) => Some(timed_out("writing to Redis timed out")),
        };
        if let Some(error) = error {
            return End::Lost { error, answered };
        }
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => wanted.apply(command, Some(&mut conn.out)),
                None => return End::Closed,
            },
            reply = conn.next() => match reply {
                Ok(reply) => {
                    answered = true;
                    if on_reply(reply, &mut conn.out, wanted, messages) {
                        pong_due = None;
                    }
                }
                Err(error) => return End::Lost { error, answered },
            },
            _ = async { pings.as_mut()?.tick().await; Some(()) }, if pings.is_some() && pong_due.is_none() => {
                conn.out.ping();
                pong_due = Some(Instant::now() + link.requests_timeout);
            }
            () = async { if let Some(due) = pong_due { tokio::time::sleep_until(due).await } }, if pong_due.is_some() => {
                return End::Lost { error: timed_out("no answer to PING"), answered };
            }
        }
    }
}

/// Handles one reply; true for the answer to a PING.
fn on_reply(
    reply: Reply,
    conn: &mut Outbox,
    wanted: &mut Wanted,
    messages: &impl Fn(ShardMessage),
) -> bool {
    let items = match reply {
        Reply::Array(Some(items)) => items,
        // Outside subscribe mode (no channel subscribed yet), Redis answers PING so.
        Reply::Simple(pong) if pong.eq_ignore_ascii_case(b"PONG") => {
            return conn.answered(&Sent::Ping);
        }
        Reply::Error(e) => {
            refused(conn.sent.pop_front(), &String::from_utf8_lossy(&e), wanted);
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
    let Some(channel) = channel.as_ref().and_then(Reply::bytes) else {
        return kind[..] == *b"pong" && conn.answered(&Sent::Ping);
    };
    let name = || String::from_utf8_lossy(channel).into_owned();
    match &kind[..] {
        b"smessage" => {
            if let Some(payload) = items.next().as_ref().and_then(Reply::bytes) {
                messages((channel.clone(), payload.clone()));
            }
        }
        b"ssubscribe" => {
            let channel = name();
            conn.answered(&Sent::Subscribe(channel.clone()));
            for done in wanted.waiting.remove(&channel).unwrap_or_default() {
                let _ = done.send(());
            }
        }
        b"sunsubscribe" => {
            // Unasked (in a cluster, when the slot moves): subscribe again if still wanted.
            let channel = name();
            let asked = conn.answered(&Sent::Unsubscribe(channel.clone()));
            if !asked && wanted.channels.contains(&channel) {
                conn.subscribe(&channel);
            }
        }
        b"pong" => return conn.answered(&Sent::Ping),
        _ => {}
    }
    false
}

/// Redis refused the oldest command awaiting a reply: logged with its channel. Those waiting
/// for a refused subscription stop waiting; the channel stays wanted, for the next connection.
fn refused(command: Option<Sent>, error: &str, wanted: &mut Wanted) {
    match command {
        Some(Sent::Subscribe(channel)) => {
            warn!(
                channel,
                error, "redis adapter: Redis refused a shard subscription"
            );
            wanted.waiting.remove(&channel);
        }
        Some(Sent::Unsubscribe(channel)) => {
            warn!(
                channel,
                error, "redis adapter: Redis refused to unsubscribe"
            );
        }
        Some(Sent::Ping) | None => warn!(error, "redis adapter: error on the shard subscriber"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Reply {
        Reply::Bulk(Some(Bytes::copy_from_slice(s.as_bytes())))
    }

    fn confirmation(kind: &str, channel: &str) -> Reply {
        Reply::Array(Some(vec![bulk(kind), bulk(channel), Reply::Integer(1)]))
    }

    /// Redis confirms `kind` (`ssubscribe`, `sunsubscribe`) of `channel`.
    fn confirm(out: &mut Outbox, w: &mut Wanted, kind: &str, channel: &str) {
        on_reply(confirmation(kind, channel), out, w, &no_messages);
    }

    fn wanted() -> Wanted {
        Wanted {
            channels: HashSet::new(),
            waiting: HashMap::new(),
        }
    }

    fn subscribe(channel: &str) -> (Command, oneshot::Receiver<()>) {
        let (done, confirmed) = oneshot::channel();
        let command = Command::Subscribe {
            channel: channel.into(),
            done: Some(done),
        };
        (command, confirmed)
    }

    /// What was written, as the commands Redis would read.
    fn written(out: &mut Outbox) -> Vec<Vec<String>> {
        let decoder = Decoder { max_bulk: 1 << 20 };
        let mut commands = Vec::new();
        while let Ok(Some(Reply::Array(Some(items)))) = decoder.decode(&mut out.output) {
            let args = items.iter().filter_map(Reply::bytes);
            commands.push(args.map(|a| String::from_utf8_lossy(a).into()).collect());
        }
        commands
    }

    fn no_messages(_: ShardMessage) {
        panic!("no message expected");
    }

    #[test]
    fn a_subscription_is_confirmed_and_its_messages_pass() {
        let (mut w, mut out) = (wanted(), Outbox::default());
        let (command, mut confirmed) = subscribe("a");
        w.apply(command, Some(&mut out));
        assert_eq!(written(&mut out), vec![vec!["SSUBSCRIBE", "a"]]);
        assert!(confirmed.try_recv().is_err(), "not before Redis confirms");
        confirm(&mut out, &mut w, "ssubscribe", "a");
        assert_eq!(confirmed.try_recv(), Ok(()));
        assert!(out.sent.is_empty());

        let got = std::sync::Mutex::new(Vec::new());
        let message = Reply::Array(Some(vec![bulk("smessage"), bulk("a"), bulk("payload")]));
        on_reply(message, &mut out, &mut w, &|m| got.lock().unwrap().push(m));
        assert_eq!(
            got.into_inner().unwrap(),
            vec![(Bytes::from_static(b"a"), Bytes::from_static(b"payload"))]
        );

        // Asked again once confirmed: answered at once, nothing written.
        let (command, mut again) = subscribe("a");
        w.apply(command, Some(&mut out));
        assert_eq!(again.try_recv(), Ok(()));
        assert!(written(&mut out).is_empty());
    }

    #[test]
    fn unsubscribing_then_subscribing_again_before_the_replies_ends_subscribed() {
        let (mut w, mut out) = (wanted(), Outbox::default());
        w.apply(subscribe("a").0, Some(&mut out));
        confirm(&mut out, &mut w, "ssubscribe", "a");
        w.apply(Command::Unsubscribe("a".into()), Some(&mut out));
        let (command, mut confirmed) = subscribe("a");
        w.apply(command, Some(&mut out));
        assert_eq!(
            written(&mut out),
            vec![
                vec!["SSUBSCRIBE", "a"],
                vec!["SUNSUBSCRIBE", "a"],
                vec!["SSUBSCRIBE", "a"]
            ]
        );
        confirm(&mut out, &mut w, "sunsubscribe", "a");
        // The SUNSUBSCRIBE was asked for: no extra subscription.
        assert!(written(&mut out).is_empty());
        confirm(&mut out, &mut w, "ssubscribe", "a");
        assert_eq!(confirmed.try_recv(), Ok(()));
        assert!(w.channels.contains("a") && out.sent.is_empty());
    }

    #[test]
    fn an_unasked_unsubscription_of_a_wanted_channel_subscribes_again() {
        let (mut w, mut out) = (wanted(), Outbox::default());
        w.apply(subscribe("a").0, Some(&mut out));
        confirm(&mut out, &mut w, "ssubscribe", "a");
        written(&mut out);
        confirm(&mut out, &mut w, "sunsubscribe", "a");
        assert_eq!(written(&mut out), vec![vec!["SSUBSCRIBE", "a"]]);
    }

    #[test]
    fn pongs_count_in_and_out_of_subscribe_mode() {
        let (mut w, mut out) = (wanted(), Outbox::default());
        out.ping();
        let simple = Reply::Simple(Bytes::from_static(b"PONG"));
        assert!(on_reply(simple, &mut out, &mut w, &no_messages));
        out.ping();
        let array = Reply::Array(Some(vec![bulk("pong"), bulk("")]));
        assert!(on_reply(array, &mut out, &mut w, &no_messages));
        assert!(out.sent.is_empty());
        // A pong nobody asked for answers no PING.
        let stray = Reply::Simple(Bytes::from_static(b"PONG"));
        assert!(!on_reply(stray, &mut out, &mut w, &no_messages));
    }

    #[test]
    fn a_refused_subscription_stops_its_waiters_and_stays_wanted() {
        let (mut w, mut out) = (wanted(), Outbox::default());
        let (command, mut confirmed) = subscribe("a");
        w.apply(command, Some(&mut out));
        let (command, mut other) = subscribe("b");
        w.apply(command, Some(&mut out));
        let refusal = Reply::Error(Bytes::from_static(b"NOPERM no access to channel"));
        on_reply(refusal, &mut out, &mut w, &no_messages);
        assert_eq!(
            confirmed.try_recv(),
            Err(oneshot::error::TryRecvError::Closed),
            "the refused one's waiter is let go"
        );
        assert!(other.try_recv().is_err(), "the next one still waits");
        confirm(&mut out, &mut w, "ssubscribe", "b");
        assert_eq!(other.try_recv(), Ok(()));
        assert!(
            w.channels.contains("a"),
            "subscribed again on the next connection"
        );
    }
}
