//! The Redis event bus. Publishing serves this process's connections at once, then sends the
//! event to Redis for the others; a subscriber task follows the channels this process's
//! connections need and feeds what other processes publish into the local hub.
use std::collections::{HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use huddle_domain::{DomainEvent, RoomId, UserId};
use huddle_realtime::{BusEvent, EventBus, HubHandle};
use tokio::sync::mpsc;

use crate::codec::{Envelope, Head, WireEvent};
use crate::conn::SharedRedis;
use crate::lag;
use crate::presence::Presence;
use crate::ClusterConfig;

/// How many recent event ids a process remembers to drop duplicates (an event can arrive on a
/// room channel and a user channel).
const RECENT_IDS: usize = 8192;

struct Inner {
    config: ClusterConfig,
    redis: SharedRedis,
    hub: HubHandle,
    next_id: AtomicU64,
    outbox: mpsc::UnboundedSender<(Vec<String>, String)>,
    presence: mpsc::UnboundedSender<PresenceCommand>,
    interest: Mutex<HashSet<String>>,
    interest_changes: mpsc::UnboundedSender<(String, bool)>,
}

enum PresenceCommand {
    Changed {
        user_id: UserId,
        online: bool,
        room_ids: Vec<RoomId>,
    },
    Leave(tokio::sync::oneshot::Sender<()>),
}

/// The cross-process [`EventBus`]. Cheap to clone.
#[derive(Clone)]
pub struct RedisBus {
    inner: Arc<Inner>,
}

impl RedisBus {
    /// Starts the publisher, subscriber and presence tasks on the current Tokio runtime.
    pub fn start(config: ClusterConfig, redis: SharedRedis, hub: HubHandle) -> Self {
        let (outbox, outbox_rx) = mpsc::unbounded_channel();
        let (presence, presence_rx) = mpsc::unbounded_channel();
        let (interest_changes, interest_rx) = mpsc::unbounded_channel();
        let inner = Arc::new(Inner {
            config: config.clone(),
            redis: redis.clone(),
            hub,
            next_id: AtomicU64::new(1),
            outbox,
            presence,
            interest: Mutex::new(HashSet::from([
                config.sessions_channel(),
                config.lag_channel(),
            ])),
            interest_changes,
        });
        tokio::spawn(publisher(redis.clone(), outbox_rx));
        tokio::spawn(lag::reporter(
            redis.clone(),
            inner.hub.send_gate().clone(),
            config.lag_channel(),
            config.node_id.clone(),
        ));
        tokio::spawn(subscriber(inner.clone(), interest_rx));
        tokio::spawn(presence_task(
            inner.clone(),
            Presence::new(config, redis),
            presence_rx,
        ));
        tracing::info!(node = %inner.config.node_id, prefix = %inner.config.prefix, "cluster bus on Redis");
        Self { inner }
    }

    pub fn node_id(&self) -> &str {
        &self.inner.config.node_id
    }

    /// On shutdown: announces this process's users offline (where no other process holds
    /// them) without waiting for the lease to lapse.
    pub async fn leave(&self) {
        let (tx, rx) = tokio::sync::oneshot::channel();
        if self.inner.presence.send(PresenceCommand::Leave(tx)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(3), rx).await;
        }
    }
}

impl Inner {
    fn channels(&self, event: &BusEvent) -> Vec<String> {
        match event {
            BusEvent::Domain(DomainEvent::MemberJoined {
                room_id, member, ..
            }) => vec![
                self.config.room_channel(*room_id),
                self.config.user_channel(member.user.id),
            ],
            BusEvent::Domain(e) => vec![self.config.room_channel(e.room_id())],
            BusEvent::Typing { room_id, .. } => vec![self.config.room_channel(*room_id)],
            BusEvent::Presence { room_ids, .. } => room_ids
                .iter()
                .map(|r| self.config.room_channel(*r))
                .collect(),
            BusEvent::SessionsEnded { .. } => vec![self.config.sessions_channel()],
        }
    }

    /// Local connections first, then the other processes.
    fn broadcast(&self, event: BusEvent) {
        let channels = self.channels(&event);
        self.hub.deliver(event.clone());
        if channels.is_empty() {
            return;
        }
        let envelope = Envelope {
            origin: self.config.node_id.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            event: WireEvent::from(event),
        };
        match serde_json::to_string(&envelope) {
            Ok(payload) => {
                let _ = self.outbox.send((channels, payload));
            }
            Err(e) => tracing::error!(error = %e, "could not encode a bus event"),
        }
    }

    fn watch(&self, channel: String, on: bool) {
        let mut interest = self.interest.lock().unwrap_or_else(|p| p.into_inner());
        let changed = if on {
            interest.insert(channel.clone())
        } else {
            interest.remove(&channel)
        };
        if changed {
            let _ = self.interest_changes.send((channel, on));
        }
    }
}

impl EventBus for RedisBus {
    fn publish(&self, event: BusEvent) {
        match event {
            // Whether a user came online or went offline is for the whole cluster to decide.
            BusEvent::Presence {
                user_id,
                online,
                room_ids,
            } => {
                let _ = self.inner.presence.send(PresenceCommand::Changed {
                    user_id,
                    online,
                    room_ids,
                });
            }
            other => self.inner.broadcast(other),
        }
    }

    fn watch_room(&self, room_id: RoomId, watching: bool) {
        self.inner
            .watch(self.inner.config.room_channel(room_id), watching);
    }

    fn watch_user(&self, user_id: UserId, watching: bool) {
        self.inner
            .watch(self.inner.config.user_channel(user_id), watching);
    }
}

/// Publishes queued events, as many per round trip as are waiting.
async fn publisher(redis: SharedRedis, mut outbox: mpsc::UnboundedReceiver<(Vec<String>, String)>) {
    let mut batch = Vec::new();
    while outbox.recv_many(&mut batch, 256).await > 0 {
        let mut pipe = redis::pipe();
        for (channels, payload) in batch.drain(..) {
            for channel in channels {
                pipe.cmd("PUBLISH").arg(channel).arg(&payload).ignore();
            }
        }
        // While Redis is down the batch is dropped: other processes catch messages up from
        // the database (gap fill, resync) and clients with `sync`.
        redis
            .run("publish", |mut c| async move {
                pipe.query_async::<()>(&mut c).await
            })
            .await;
    }
}

/// Follows the channels of local interest and feeds other processes' events to the hub.
/// Reconnects with backoff; after an outage, has the hub catch up from the database.
async fn subscriber(inner: Arc<Inner>, mut changes: mpsc::UnboundedReceiver<(String, bool)>) {
    let health = inner.redis.health();
    let mut backoff = Duration::from_millis(100);
    let mut first = true;
    let mut recent: VecDeque<(String, u64)> = VecDeque::with_capacity(RECENT_IDS);
    let mut seen: HashSet<(String, u64)> = HashSet::with_capacity(RECENT_IDS);
    let lag_channel = inner.config.lag_channel();
    let gate = inner.hub.send_gate().clone();
    loop {
        match inner.redis.client().get_async_pubsub().await {
            Err(e) => health.report(false, "subscribe", Some(&e)),
            Ok(pubsub) => {
                let (mut sink, mut stream) = pubsub.split();
                // Changes queued before this point are in the snapshot.
                while changes.try_recv().is_ok() {}
                let channels: Vec<String> = inner
                    .interest
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .iter()
                    .cloned()
                    .collect();
                let mut ok = true;
                for channel in &channels {
                    if let Err(e) = sink.subscribe(channel).await {
                        health.report(false, "subscribe", Some(&e));
                        ok = false;
                        break;
                    }
                }
                if ok {
                    health.report(true, "subscribe", None);
                    backoff = Duration::from_millis(100);
                    if !first {
                        // Events published while we were away are gone; messages are not.
                        inner.hub.resync();
                    }
                    first = false;
                    loop {
                        tokio::select! {
                            msg = stream.next() => {
                                let Some(msg) = msg else { break };
                                if msg.get_channel_name() == lag_channel {
                                    match lag::decode(msg.get_payload_bytes()) {
                                        Some((node, _)) if node == inner.config.node_id => {}
                                        Some((node, lag)) => gate.record_remote(node, lag),
                                        None => tracing::warn!("undecodable lag report"),
                                    }
                                    continue;
                                }
                                // Our own events come back too: skipped before their
                                // event is parsed.
                                match Head::decode(msg.get_payload_bytes()) {
                                    Ok(head) if head.origin == inner.config.node_id => {}
                                    Ok(head) => {
                                        let key = (head.origin.to_string(), head.id);
                                        if seen.contains(&key) {
                                            continue;
                                        }
                                        let event = match head.event() {
                                            Ok(event) => event,
                                            Err(e) => {
                                                tracing::warn!(error = %e, "undecodable bus event");
                                                continue;
                                            }
                                        };
                                        if recent.len() == RECENT_IDS {
                                            if let Some(old) = recent.pop_front() {
                                                seen.remove(&old);
                                            }
                                        }
                                        recent.push_back(key.clone());
                                        seen.insert(key);
                                        inner.hub.deliver(event.into());
                                    }
                                    Err(e) => tracing::warn!(error = %e, "undecodable bus event"),
                                }
                            }
                            change = changes.recv() => {
                                let Some((channel, on)) = change else { return };
                                let result = if on {
                                    sink.subscribe(&channel).await
                                } else {
                                    sink.unsubscribe(&channel).await
                                };
                                if let Err(e) = result {
                                    health.report(false, "subscribe", Some(&e));
                                    break;
                                }
                            }
                        }
                    }
                    health.report(false, "subscription lost", None);
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

async fn presence_task(
    inner: Arc<Inner>,
    mut presence: Presence,
    mut commands: mpsc::UnboundedReceiver<PresenceCommand>,
) {
    let mut tick = tokio::time::interval(presence.tick_interval());
    loop {
        tokio::select! {
            cmd = commands.recv() => match cmd {
                None => return,
                Some(PresenceCommand::Changed { user_id, online, room_ids }) => {
                    let announce = if online {
                        presence.online(user_id, room_ids.clone()).await
                    } else {
                        presence.offline(user_id).await
                    };
                    if announce {
                        inner.broadcast(BusEvent::Presence { user_id, online, room_ids });
                    }
                }
                Some(PresenceCommand::Leave(done)) => {
                    for (user_id, online, room_ids) in presence.leave().await {
                        inner.broadcast(BusEvent::Presence { user_id, online, room_ids });
                    }
                    let _ = done.send(());
                }
            },
            _ = tick.tick() => {
                for (user_id, online, room_ids) in presence.tick().await {
                    inner.broadcast(BusEvent::Presence { user_id, online, room_ids });
                }
            }
        }
    }
}
