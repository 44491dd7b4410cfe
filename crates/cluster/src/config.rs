use std::time::Duration;

#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub redis_url: String,
    /// Starts every key and channel, e.g. `huddle`.
    pub prefix: String,
    /// This process's name in the cluster; random per start unless set.
    pub node_id: String,
    /// A process whose lease is this old is dead; its users go offline.
    pub presence_lease: Duration,
}

impl ClusterConfig {
    pub fn new(redis_url: impl Into<String>, prefix: impl Into<String>) -> Self {
        Self {
            redis_url: redis_url.into(),
            prefix: prefix.into(),
            node_id: random_node_id(),
            presence_lease: Duration::from_secs(15),
        }
    }

    pub(crate) fn key(&self, parts: &[&str]) -> String {
        let mut k = self.prefix.clone();
        for p in parts {
            k.push(':');
            k.push_str(p);
        }
        k
    }

    pub(crate) fn room_channel(&self, room_id: i64) -> String {
        self.key(&["room", &room_id.to_string()])
    }

    /// Every process follows it: ended sessions must be refused everywhere.
    pub(crate) fn sessions_channel(&self) -> String {
        self.key(&["sessions"])
    }

    /// Every process follows it: each process's fan-out lag, for every process's send gate.
    pub(crate) fn lag_channel(&self) -> String {
        self.key(&["lag"])
    }

    pub(crate) fn user_channel(&self, user_id: i64) -> String {
        self.key(&["user", &user_id.to_string()])
    }
}

fn random_node_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}
