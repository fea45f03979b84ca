//! The sharded adapter's subscriber on a Redis Cluster: a redis-rs `ClusterConnection`, which
//! sends each `SSUBSCRIBE` to the node owning the channel's slot and follows `MOVED`.
//!
//! redis-rs 1.8 resubscribes by itself after a node's connection comes back, but with all of
//! that node's shard channels in one `SSUBSCRIBE`, which Redis refuses (`CROSSSLOT`) when they
//! hash to different slots, as our channels do, and the refusal is not reported. So this task
//! keeps the channels wanted itself and subscribes to them again, one `SSUBSCRIBE` per channel
//! as Node does, after every lost connection. When a slot moves to another node, Redis drops
//! its channels' subscriptions (an unasked `SUNSUBSCRIBE`): this task subscribes to it again,
//! which redis-rs sends to the new owner (should redis-rs have done so too, a second
//! `SSUBSCRIBE` of a channel changes nothing). A channel whose node is away waits for its own
//! retry while the others go ahead.
//!
//! Every `heartbeat_interval` it PINGs every primary; when one does not answer within
//! `requests_timeout` (a node's connection that went silent without failing: a NAT or a load
//! balancer in between forgot it), the whole connection is replaced and every channel
//! subscribed to again.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::Duration;

use redis::cluster_async::ClusterConnection;
use redis::{PushInfo, PushKind, RedisError};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tracing::{debug, warn};

use crate::conn::{Conn, Deployment, Which};
use crate::shard::ShardMessage;
use crate::RedisAdapterConfig;

enum Command {
    Subscribe {
        channel: String,
        /// Told once Redis confirmed the subscription.
        done: oneshot::Sender<()>,
    },
    Unsubscribe(String),
    /// Redis dropped this channel's subscription (its slot moved to another node).
    Dropped(String),
    /// A node's connection was lost: every channel is subscribed to again.
    Lost,
}

/// The handle of the subscriber task; the task ends when the handle is dropped.
pub(crate) struct ClusterShardSubscriber {
    commands: mpsc::UnboundedSender<Command>,
}

/// How the task opens its connection (again).
struct Link<P> {
    deployment: Deployment,
    config: RedisAdapterConfig,
    pushes: P,
}

impl<P: redis::aio::AsyncPushSender + Clone> Link<P> {
    async fn open(&self) -> Result<ClusterConnection, RedisError> {
        match self
            .deployment
            .open(
                &self.config,
                Which::ShardSubscriber,
                Some(self.pushes.clone()),
            )
            .await?
        {
            Conn::Cluster(conn) => Ok(conn),
            Conn::Single(_) => Err(RedisError::from((
                redis::ErrorKind::InvalidClientConfig,
                "the cluster subscriber needs a Redis Cluster",
            ))),
        }
    }
}

impl ClusterShardSubscriber {
    /// Connects to the cluster and starts the task, which sends every message to `messages`.
    pub(crate) async fn connect(
        deployment: &Deployment,
        config: &RedisAdapterConfig,
        messages: impl Fn(ShardMessage) + Send + Sync + 'static,
    ) -> Result<Self, RedisError> {
        let (commands, rx) = mpsc::unbounded_channel();
        // News from the connection's pushes come on a channel of their own: the connection
        // holds its sender, and the task must still end once the handle's is dropped.
        let (news, news_rx) = mpsc::unbounded_channel();
        let pushes = std::sync::Arc::new(move |push: PushInfo| {
            on_push(push, &messages, &news);
            Ok::<(), redis::aio::SendError>(())
        });
        let link = Link {
            deployment: deployment.clone(),
            config: config.clone(),
            pushes,
        };
        let conn = link.open().await?;
        tokio::spawn(run(link, conn, rx, news_rx));
        Ok(Self { commands })
    }

    /// Subscribes to `channel` (again whenever Redis drops it, until unsubscribed); the
    /// receiver is told once Redis confirmed it.
    pub(crate) fn subscribe(&self, channel: String) -> oneshot::Receiver<()> {
        let (done, confirmed) = oneshot::channel();
        let _ = self.commands.send(Command::Subscribe { channel, done });
        confirmed
    }

    /// Unsubscribes from `channel`.
    pub(crate) fn unsubscribe(&self, channel: String) {
        let _ = self.commands.send(Command::Unsubscribe(channel));
    }
}

/// Messages go to `messages`; news of a dropped subscription or a lost connection to the task.
fn on_push(
    push: PushInfo,
    messages: &impl Fn(ShardMessage),
    news: &mpsc::UnboundedSender<Command>,
) {
    let mut data = push.data.into_iter().map(crate::bus::bulk_bytes);
    match push.kind {
        PushKind::SMessage => {
            if let (Some(Some(channel)), Some(Some(payload))) = (data.next(), data.next()) {
                messages((channel, payload));
            }
        }
        PushKind::SUnsubscribe => {
            if let Some(Some(channel)) = data.next() {
                if let Ok(channel) = String::from_utf8(channel.to_vec()) {
                    let _ = news.send(Command::Dropped(channel));
                }
            }
        }
        PushKind::Disconnection => {
            let _ = news.send(Command::Lost);
        }
        _ => {}
    }
}

/// The channels wanted, and those still to be subscribed to (again).
#[derive(Default)]
struct Wanted {
    channels: HashSet<String>,
    /// Channels to subscribe to (again), in the order asked; one that failed waits until its
    /// time in `not_before` while the others go ahead (they may live on other nodes).
    to_subscribe: VecDeque<String>,
    queued: HashSet<String>,
    not_before: HashMap<String, Instant>,
    /// The last wait of each channel that failed, doubled at each failure.
    backoff: HashMap<String, Duration>,
    waiting: HashMap<String, Vec<oneshot::Sender<()>>>,
}

impl Wanted {
    fn apply(&mut self, command: Command) -> Option<String> {
        match command {
            Command::Subscribe { channel, done } => {
                if self.channels.insert(channel.clone()) || self.queued.contains(&channel) {
                    self.queue(channel.clone());
                    self.waiting.entry(channel).or_default().push(done);
                } else {
                    let _ = done.send(());
                }
                None
            }
            Command::Unsubscribe(channel) => {
                if self.queued.remove(&channel) {
                    self.to_subscribe.retain(|c| *c != channel);
                }
                self.not_before.remove(&channel);
                self.backoff.remove(&channel);
                self.waiting.remove(&channel);
                self.channels.remove(&channel).then_some(channel)
            }
            Command::Dropped(channel) => {
                if self.channels.contains(&channel) {
                    debug!(channel, "redis adapter: Redis dropped a shard subscription");
                    self.queue(channel);
                }
                None
            }
            Command::Lost => {
                let all: Vec<String> = self.channels.iter().cloned().collect();
                for channel in all {
                    self.queue(channel);
                }
                None
            }
        }
    }

    fn queue(&mut self, channel: String) {
        if self.queued.insert(channel.clone()) {
            self.to_subscribe.push_back(channel);
        }
    }

    /// Takes the first channel due at `now` out of the queue; else, when the next one is due.
    fn next_due(&mut self, now: Instant) -> Result<String, Option<Instant>> {
        let mut earliest: Option<Instant> = None;
        for _ in 0..self.to_subscribe.len() {
            let Some(channel) = self.to_subscribe.pop_front() else {
                break;
            };
            match self.not_before.get(&channel) {
                Some(at) if *at > now => {
                    earliest = Some(earliest.map_or(*at, |e| e.min(*at)));
                    self.to_subscribe.push_back(channel);
                }
                _ => {
                    self.queued.remove(&channel);
                    self.not_before.remove(&channel);
                    return Ok(channel);
                }
            }
        }
        Err(earliest)
    }
}

async fn run<P: redis::aio::AsyncPushSender + Clone>(
    link: Link<P>,
    mut conn: ClusterConnection,
    mut commands: mpsc::UnboundedReceiver<Command>,
    mut news: mpsc::UnboundedReceiver<Command>,
) {
    let mut wanted = Wanted::default();
    let heartbeat = link.config.heartbeat_interval.filter(|i| !i.is_zero());
    // A deadline checked before anything else: a run of subscriptions failing against a silent
    // node must not put the check off.
    let mut next_check = heartbeat.map(|every| Instant::now() + every);
    loop {
        if let (Some(at), Some(every)) = (next_check, heartbeat) {
            if Instant::now() >= at {
                check(&link, &mut conn, &mut wanted).await;
                next_check = Some(Instant::now() + every);
                continue;
            }
        }
        // Commands and news queued come first, so that a channel subscribed to and left again
        // meanwhile costs nothing.
        match commands.try_recv() {
            Ok(command) => {
                apply(command, &mut wanted, &mut conn).await;
                continue;
            }
            Err(mpsc::error::TryRecvError::Disconnected) => return,
            Err(mpsc::error::TryRecvError::Empty) => {}
        }
        if let Ok(command) = news.try_recv() {
            apply(command, &mut wanted, &mut conn).await;
            continue;
        }
        let wake = match wanted.next_due(Instant::now()) {
            Ok(channel) => {
                subscribe(
                    &channel,
                    &mut conn,
                    &mut wanted,
                    link.config.reconnect_max_delay,
                )
                .await;
                continue;
            }
            Err(wake) => wake,
        };
        let wake = match (wake, next_check) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let sleep = async {
            match wake {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            command = commands.recv() => match command {
                Some(command) => apply(command, &mut wanted, &mut conn).await,
                None => return,
            },
            Some(command) = news.recv() => apply(command, &mut wanted, &mut conn).await,
            () = sleep => {}
        }
    }
}

/// Subscribes to `channel`; on failure it waits its own backoff (doubling up to `max_delay`)
/// while the other channels go ahead.
async fn subscribe(
    channel: &str,
    conn: &mut ClusterConnection,
    wanted: &mut Wanted,
    max_delay: Duration,
) {
    match conn.ssubscribe(channel).await {
        Ok(()) => {
            wanted.backoff.remove(channel);
            for done in wanted.waiting.remove(channel).unwrap_or_default() {
                let _ = done.send(());
            }
        }
        Err(e) => {
            warn!(channel, error = %e, "redis adapter: subscribing to a shard channel failed; retrying");
            let pause = wanted
                .backoff
                .get(channel)
                .map_or(Duration::from_millis(50), |p| (*p * 2).min(max_delay));
            wanted.backoff.insert(channel.to_owned(), pause);
            wanted
                .not_before
                .insert(channel.to_owned(), Instant::now() + pause);
            wanted.queue(channel.to_owned());
        }
    }
}

/// The heartbeat: when a primary does not answer a PING in time, the connection is replaced
/// and every channel subscribed to again on the new one.
async fn check<P: redis::aio::AsyncPushSender + Clone>(
    link: &Link<P>,
    conn: &mut ClusterConnection,
    wanted: &mut Wanted,
) {
    if answers(conn, link.config.requests_timeout).await {
        return;
    }
    warn!("redis adapter: a Redis Cluster node did not answer PING; connecting again");
    match link.open().await {
        Ok(fresh) => {
            *conn = fresh;
            wanted.apply(Command::Lost);
        }
        Err(e) => warn!(error = %e, "redis adapter: connecting again failed"),
    }
}

/// Whether every primary answers a PING in time (other failures, a node down, are the
/// connection's own to retry).
async fn answers(conn: &mut ClusterConnection, within: Duration) -> bool {
    let mut conn = Conn::Cluster(conn.clone());
    match tokio::time::timeout(within, conn.ping()).await {
        Err(_) => false,
        Ok(Err(e)) => !e.is_timeout(),
        Ok(Ok(())) => true,
    }
}

/// Applies a command; an unsubscription is sent at once.
async fn apply(command: Command, wanted: &mut Wanted, conn: &mut ClusterConnection) {
    if let Some(channel) = wanted.apply(command) {
        if let Err(e) = conn.sunsubscribe(&channel).await {
            debug!(channel, error = %e, "redis adapter: unsubscribing from a shard channel failed");
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn subscribe(wanted: &mut Wanted, channel: &str) -> oneshot::Receiver<()> {
        let (done, confirmed) = oneshot::channel();
        wanted.apply(Command::Subscribe {
            channel: channel.into(),
            done,
        });
        confirmed
    }

    #[test]
    fn a_channel_that_failed_waits_while_the_others_go_ahead() {
        let mut wanted = Wanted::default();
        let _a = subscribe(&mut wanted, "a");
        let _b = subscribe(&mut wanted, "b");
        let now = Instant::now();
        assert_eq!(wanted.next_due(now), Ok("a".into()));
        // "a" failed: it waits a second, and "b" goes first.
        let later = now + Duration::from_secs(1);
        wanted.not_before.insert("a".into(), later);
        wanted.queue("a".into());
        assert_eq!(wanted.next_due(now), Ok("b".into()));
        assert_eq!(wanted.next_due(now), Err(Some(later)));
        assert_eq!(wanted.next_due(later), Ok("a".into()));
        assert_eq!(wanted.next_due(later), Err(None));
    }

    #[test]
    fn a_lost_connection_queues_every_channel_once_and_leaving_unqueues() {
        let mut wanted = Wanted::default();
        let _a = subscribe(&mut wanted, "a");
        let _b = subscribe(&mut wanted, "b");
        wanted.apply(Command::Lost);
        wanted.apply(Command::Dropped("a".into()));
        assert_eq!(wanted.to_subscribe.len(), 2);
        assert_eq!(
            wanted.apply(Command::Unsubscribe("a".into())),
            Some("a".into())
        );
        assert_eq!(wanted.to_subscribe, ["b"]);
        // Dropped by Redis after being left: nothing to do.
        wanted.apply(Command::Dropped("a".into()));
        assert_eq!(wanted.to_subscribe, ["b"]);
        // Subscribing again to a confirmed channel is answered at once.
        let now = Instant::now();
        assert_eq!(wanted.next_due(now), Ok("b".into()));
        let mut again = subscribe(&mut wanted, "b");
        assert_eq!(again.try_recv(), Ok(()));
        assert!(wanted.to_subscribe.is_empty());
    }
}
