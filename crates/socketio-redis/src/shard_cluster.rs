//! The sharded adapter's subscriber on a Redis Cluster: a redis-rs `ClusterConnection`, which
//! sends each `SSUBSCRIBE` to the node owning the channel's slot and follows `MOVED`.
//!
//! redis-rs 1.8 resubscribes by itself after a node's connection comes back, but with all of
//! that node's shard channels in one `SSUBSCRIBE`, which Redis refuses (`CROSSSLOT`) when they
//! hash to different slots, as our channels do, and the refusal is not reported. So this task
//! keeps the channels wanted itself and subscribes to them again, one `SSUBSCRIBE` per channel
//! as Node does, after every lost connection. When a slot moves to another node, Redis drops
//! its channels' subscriptions (an unasked `SUNSUBSCRIBE`): redis-rs subscribes again on the
//! new owner, and so does this task, in case it did not (a second `SSUBSCRIBE` of a channel
//! changes nothing).

use std::collections::{BTreeSet, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
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

impl ClusterShardSubscriber {
    /// Connects to the cluster and starts the task, which sends every message to `messages`.
    pub(crate) async fn connect(
        deployment: &Deployment,
        config: &RedisAdapterConfig,
        messages: impl Fn(ShardMessage) + Send + Sync + 'static,
    ) -> Result<Self, RedisError> {
        let (commands, rx) = mpsc::unbounded_channel();
        let news = commands.clone();
        let pushes = std::sync::Arc::new(move |push: PushInfo| {
            on_push(push, &messages, &news);
            Ok::<(), redis::aio::SendError>(())
        });
        let conn = deployment
            .open(config, Which::Subscriber, Some(pushes))
            .await?;
        tokio::spawn(run(conn, rx, config.reconnect_max_delay));
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
    let mut data = push.data.into_iter().map(|value| match value {
        redis::Value::BulkString(b) => Some(Bytes::from(b)),
        redis::Value::SimpleString(s) => Some(Bytes::from(s)),
        _ => None,
    });
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
    /// In order, so that a pass retries the same way each time.
    to_subscribe: BTreeSet<String>,
    waiting: HashMap<String, Vec<oneshot::Sender<()>>>,
}

impl Wanted {
    fn apply(&mut self, command: Command) -> Option<String> {
        match command {
            Command::Subscribe { channel, done } => {
                if self.channels.insert(channel.clone()) || self.to_subscribe.contains(&channel) {
                    self.to_subscribe.insert(channel.clone());
                    self.waiting.entry(channel).or_default().push(done);
                } else {
                    let _ = done.send(());
                }
                None
            }
            Command::Unsubscribe(channel) => {
                self.to_subscribe.remove(&channel);
                self.waiting.remove(&channel);
                self.channels.remove(&channel).then_some(channel)
            }
            Command::Dropped(channel) => {
                if self.channels.contains(&channel) {
                    debug!(channel, "redis adapter: Redis dropped a shard subscription");
                    self.to_subscribe.insert(channel);
                }
                None
            }
            Command::Lost => {
                self.to_subscribe.extend(self.channels.iter().cloned());
                None
            }
        }
    }
}

async fn run(mut conn: Conn, mut commands: mpsc::UnboundedReceiver<Command>, max_delay: Duration) {
    let Conn::Cluster(cluster) = &mut conn else {
        return;
    };
    let mut wanted = Wanted::default();
    let first_pause = Duration::from_millis(50);
    let mut pause = first_pause;
    // After a failed subscription: when to try again.
    let mut retry_at: Option<Instant> = None;
    loop {
        let due = !wanted.to_subscribe.is_empty() && retry_at.is_none_or(|at| Instant::now() >= at);
        // Commands queued come first, so that a channel subscribed to and left again
        // meanwhile costs nothing.
        let command = match (due, retry_at) {
            (true, _) => match commands.try_recv() {
                Ok(command) => Some(command),
                Err(mpsc::error::TryRecvError::Disconnected) => None,
                Err(mpsc::error::TryRecvError::Empty) => {
                    let Some(channel) = wanted.to_subscribe.pop_first() else {
                        continue;
                    };
                    match cluster.ssubscribe(&channel).await {
                        Ok(()) => {
                            (pause, retry_at) = (first_pause, None);
                            for done in wanted.waiting.remove(&channel).unwrap_or_default() {
                                let _ = done.send(());
                            }
                        }
                        Err(e) => {
                            warn!(channel, error = %e, "redis adapter: subscribing to a shard channel failed; retrying");
                            wanted.to_subscribe.insert(channel);
                            retry_at = Some(Instant::now() + pause);
                            pause = (pause * 2).min(max_delay);
                        }
                    }
                    continue;
                }
            },
            (false, Some(at)) if !wanted.to_subscribe.is_empty() => tokio::select! {
                command = commands.recv() => command,
                () = tokio::time::sleep_until(at) => {
                    retry_at = None;
                    continue;
                }
            },
            (false, _) => commands.recv().await,
        };
        let Some(command) = command else { return };
        if let Some(channel) = wanted.apply(command) {
            if let Err(e) = cluster.sunsubscribe(&channel).await {
                debug!(channel, error = %e, "redis adapter: unsubscribing from a shard channel failed");
            }
        }
    }
}
