//! Cluster-wide presence. Redis keeps, per user, the set of processes holding a connection
//! of theirs, and per process the users it holds (with their rooms, for the announcement).
//! A process renews a lease; when a lease lapses (the process died), another process takes a
//! short reaper lock and announces that process's users offline unless another process still
//! holds them.
use std::collections::{HashMap, HashSet};
use std::time::Duration;

use huddle_domain::presence::{OnlineFuture, PresenceDirectory};
use huddle_domain::{RoomId, UserId};
use huddle_realtime::HubHandle;
use redis::Script;

use crate::conn::SharedRedis;
use crate::ClusterConfig;

const ADD: &str = r"
redis.call('SADD', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
return redis.call('SCARD', KEYS[1])";

const REMOVE: &str = r"
redis.call('SREM', KEYS[1], ARGV[1])
redis.call('HDEL', KEYS[2], ARGV[2])
return redis.call('SCARD', KEYS[1])";

/// The presence book of one process.
pub struct Presence {
    config: ClusterConfig,
    redis: SharedRedis,
    /// Users with a connection here, and their rooms: what to re-register if Redis loses it.
    local: HashMap<UserId, Vec<RoomId>>,
    add: Script,
    remove: Script,
}

/// A change to announce: a user online or offline cluster-wide, with their rooms.
pub(crate) type Announcement = (UserId, bool, Vec<RoomId>);

impl Presence {
    pub(crate) fn new(config: ClusterConfig, redis: SharedRedis) -> Self {
        Self {
            config,
            redis,
            local: HashMap::new(),
            add: Script::new(ADD),
            remove: Script::new(REMOVE),
        }
    }

    fn user_key(&self, user_id: UserId) -> String {
        self.config.key(&["presence", &user_id.to_string()])
    }

    fn node_users_key(&self, node: &str) -> String {
        self.config.key(&["node", node, "users"])
    }

    fn lease_key(&self, node: &str) -> String {
        self.config.key(&["lease", node])
    }

    /// A user's first local connection opened. Returns whether to announce them online: when
    /// no other process had them, or when Redis cannot tell.
    pub(crate) async fn online(&mut self, user_id: UserId, rooms: Vec<RoomId>) -> bool {
        self.local.insert(user_id, rooms.clone());
        let count = self.register(user_id, &rooms).await;
        count.is_none_or(|n| n <= 1)
    }

    async fn register(&self, user_id: UserId, rooms: &[RoomId]) -> Option<i64> {
        let keys = (
            self.user_key(user_id),
            self.node_users_key(&self.config.node_id),
        );
        let rooms = serde_json::to_string(rooms).unwrap_or_else(|_| "[]".into());
        let node = self.config.node_id.clone();
        let script = self.add.clone();
        self.redis
            .run("presence", |mut c| async move {
                script
                    .key(keys.0)
                    .key(keys.1)
                    .arg(node)
                    .arg(user_id)
                    .arg(rooms)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await
    }

    /// A user's last local connection closed. Returns whether to announce them offline: when
    /// no other process holds them, or when Redis cannot tell.
    pub(crate) async fn offline(&mut self, user_id: UserId) -> bool {
        self.local.remove(&user_id);
        let node = self.config.node_id.clone();
        self.unregister(&node, user_id).await.is_none_or(|n| n == 0)
    }

    async fn unregister(&self, node: &str, user_id: UserId) -> Option<i64> {
        let keys = (self.user_key(user_id), self.node_users_key(node));
        let node = node.to_owned();
        let script = self.remove.clone();
        self.redis
            .run("presence", |mut c| async move {
                script
                    .key(keys.0)
                    .key(keys.1)
                    .arg(node)
                    .arg(user_id)
                    .invoke_async::<i64>(&mut c)
                    .await
            })
            .await
    }

    /// Renews this process's lease, re-registers its users if Redis lost them (a restart), and
    /// reaps processes whose lease lapsed. Returns the users to announce offline.
    pub(crate) async fn tick(&mut self) -> Vec<Announcement> {
        let me = self.config.node_id.clone();
        let lease_ms = u64::try_from(self.config.presence_lease.as_millis()).unwrap_or(15_000);
        let ttl_ms = u64::try_from(self.lease_ttl().as_millis()).unwrap_or(11_250);
        let (lease_key, nodes_key, users_key) = (
            self.lease_key(&me),
            self.config.key(&["nodes"]),
            self.node_users_key(&me),
        );
        let renewed = self
            .redis
            .run("lease", |mut c| {
                let me = me.clone();
                async move {
                    redis::pipe()
                        .cmd("SET")
                        .arg(&lease_key)
                        .arg(1)
                        .arg("PX")
                        .arg(ttl_ms)
                        .ignore()
                        .cmd("SADD")
                        .arg(&nodes_key)
                        .arg(&me)
                        .ignore()
                        .cmd("HLEN")
                        .arg(&users_key)
                        .query_async::<(usize,)>(&mut c)
                        .await
                }
            })
            .await;
        let Some((registered,)) = renewed else {
            return Vec::new();
        };
        if registered != self.local.len() {
            tracing::info!(
                local = self.local.len(),
                registered,
                "re-registering presence"
            );
            for (user, rooms) in &self.local {
                self.register(*user, rooms).await;
            }
        }
        self.reap(lease_ms).await
    }

    async fn reap(&self, lease_ms: u64) -> Vec<Announcement> {
        let nodes_key = self.config.key(&["nodes"]);
        let Some(nodes) = self
            .redis
            .run("reap", |mut c| async move {
                redis::cmd("SMEMBERS")
                    .arg(&nodes_key)
                    .query_async::<Vec<String>>(&mut c)
                    .await
            })
            .await
        else {
            return Vec::new();
        };
        let mut gone = Vec::new();
        let me = self.config.node_id.clone();
        for node in nodes.into_iter().filter(|n| *n != me) {
            let lease_key = self.lease_key(&node);
            let lock_key = self.config.key(&["reap", &node]);
            let me = self.config.node_id.clone();
            let claimed = self
                .redis
                .run("reap", |mut c| async move {
                    let alive: bool = redis::cmd("EXISTS")
                        .arg(&lease_key)
                        .query_async(&mut c)
                        .await?;
                    if alive {
                        return Ok(false);
                    }
                    let lock: Option<String> = redis::cmd("SET")
                        .arg(&lock_key)
                        .arg(&me)
                        .arg("NX")
                        .arg("PX")
                        .arg(lease_ms)
                        .query_async(&mut c)
                        .await?;
                    Ok(lock.is_some())
                })
                .await;
            if claimed == Some(true) {
                gone.extend(self.reap_node(&node).await);
            }
        }
        gone
    }

    async fn reap_node(&self, node: &str) -> Vec<Announcement> {
        let users_key = self.node_users_key(node);
        let users: HashMap<String, String> = self
            .redis
            .run("reap", |mut c| {
                let users_key = users_key.clone();
                async move {
                    redis::cmd("HGETALL")
                        .arg(&users_key)
                        .query_async(&mut c)
                        .await
                }
            })
            .await
            .unwrap_or_default();
        tracing::warn!(
            node,
            users = users.len(),
            "a process's lease lapsed: its users go offline"
        );
        let mut gone = Vec::new();
        for (user, rooms) in users {
            let Ok(user_id) = user.parse::<UserId>() else {
                continue;
            };
            let rooms: Vec<RoomId> = serde_json::from_str(&rooms).unwrap_or_default();
            if self.unregister(node, user_id).await == Some(0) && !self.local.contains_key(&user_id)
            {
                gone.push((user_id, false, rooms));
            }
        }
        let nodes_key = self.config.key(&["nodes"]);
        let node = node.to_owned();
        self.redis
            .run("reap", |mut c| async move {
                redis::pipe()
                    .cmd("DEL")
                    .arg(&users_key)
                    .ignore()
                    .cmd("SREM")
                    .arg(&nodes_key)
                    .arg(&node)
                    .ignore()
                    .query_async::<()>(&mut c)
                    .await
            })
            .await;
        gone
    }

    /// How often to renew the lease and look for lapsed ones: a quarter of the lease.
    pub(crate) fn tick_interval(&self) -> Duration {
        (self.config.presence_lease / 4).max(Duration::from_millis(100))
    }

    /// How long a renewal keeps the lease: the lease less one tick. A process that dies lets
    /// its key lapse at most this long after, and another process notices within one tick
    /// more, so its users are offline for the others within `presence_lease`. A live process
    /// keeps its lease through a stall of up to half the lease.
    pub(crate) fn lease_ttl(&self) -> Duration {
        self.config
            .presence_lease
            .saturating_sub(self.tick_interval())
            .max(Duration::from_millis(100))
    }

    /// On shutdown: leave the cluster at once instead of waiting for the lease to lapse.
    pub(crate) async fn leave(&mut self) -> Vec<Announcement> {
        let users: Vec<(UserId, Vec<RoomId>)> = self.local.drain().collect();
        let mut gone = Vec::new();
        for (user, rooms) in users {
            let node = self.config.node_id.clone();
            if self.unregister(&node, user).await.is_none_or(|n| n == 0) {
                gone.push((user, false, rooms));
            }
        }
        gone
    }
}

/// Who is online across the cluster, for the REST API: a user with a connection on any
/// process. Falls back to this process's connections while Redis is unreachable.
pub struct ClusterPresence {
    config: ClusterConfig,
    redis: SharedRedis,
    local: HubHandle,
}

impl ClusterPresence {
    pub fn new(config: ClusterConfig, redis: SharedRedis, local: HubHandle) -> Self {
        Self {
            config,
            redis,
            local,
        }
    }
}

impl PresenceDirectory for ClusterPresence {
    fn online_among<'a>(&'a self, users: &'a [UserId]) -> OnlineFuture<'a> {
        Box::pin(async move {
            if users.is_empty() {
                return HashSet::new();
            }
            let keys: Vec<String> = users
                .iter()
                .map(|u| self.config.key(&["presence", &u.to_string()]))
                .collect();
            let counts = self
                .redis
                .run("presence lookup", |mut c| async move {
                    let mut pipe = redis::pipe();
                    for k in &keys {
                        pipe.cmd("SCARD").arg(k);
                    }
                    pipe.query_async::<Vec<i64>>(&mut c).await
                })
                .await;
            match counts {
                Some(counts) => users
                    .iter()
                    .zip(counts)
                    .filter(|(u, n)| *n > 0 || self.local.is_online_here(**u))
                    .map(|(u, _)| *u)
                    .collect(),
                None => self.local.online_among(users).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(lease: Duration) -> Presence {
        let mut config = ClusterConfig::new("redis://127.0.0.1:1", "t");
        config.presence_lease = lease;
        Presence::new(config, SharedRedis::new("redis://127.0.0.1:1").unwrap())
    }

    #[test]
    fn a_dead_process_is_noticed_within_the_lease() {
        for ms in [2_000, 4_000, 15_000, 60_000] {
            let p = presence(Duration::from_millis(ms));
            // Worst case: the key lapses `lease_ttl` after the last renewal, and the next
            // look comes at most one tick later.
            assert_eq!(
                p.lease_ttl() + p.tick_interval(),
                Duration::from_millis(ms),
                "lease {ms} ms"
            );
            // A live process renews at least twice within one key lifetime.
            assert!(p.lease_ttl() >= 2 * p.tick_interval(), "lease {ms} ms");
        }
    }
}
