//! Users and rooms over Huddle's REST API: each user registered once, its access token reused
//! for every connection and request of the run.
use std::sync::Arc;

use futures_util::stream::{self, StreamExt, TryStreamExt};
use serde_json::{json, Value};

use crate::Result;

/// Requests in flight at once while setting up.
const PARALLEL: usize = 32;

#[derive(Debug, Clone)]
pub struct User {
    pub id: i64,
    pub token: String,
}

#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub client: reqwest::Client,
}

impl Api {
    pub fn new(base: &str) -> Result<Self> {
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(256)
                .build()?,
        })
    }

    pub fn ws_url(&self) -> String {
        format!("{}/api/v1/ws", self.base.replacen("http", "ws", 1))
    }

    /// Socket.IO over WebSocket from the start (`transports: ["websocket"]`).
    pub fn socketio_url(&self) -> String {
        format!(
            "{}/socket.io/?EIO=4&transport=websocket",
            self.base.replacen("http", "ws", 1)
        )
    }

    async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Result<Value> {
        let mut req = self.client.post(format!("{}{path}", self.base)).json(&body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        let resp = req.send().await?;
        let status = resp.status();
        let text = resp.text().await?;
        if !status.is_success() {
            return Err(format!("POST {path}: {status}: {text}").into());
        }
        Ok(serde_json::from_str(&text)?)
    }

    /// Registers `count` users named `{prefix}{i}`.
    pub async fn register_users(&self, prefix: &str, count: usize) -> Result<Vec<User>> {
        let api = Arc::new(self.clone());
        stream::iter(0..count)
            .map(|i| {
                let api = api.clone();
                let name = format!("{prefix}{i}");
                async move {
                    let v = api
                        .post(
                            "/api/v1/auth/register",
                            None,
                            json!({"username": name, "password": "bench-password"}),
                        )
                        .await?;
                    let id = v["user"]["id"].as_i64().ok_or("register: no user id")?;
                    let token = v["access_token"]
                        .as_str()
                        .ok_or("register: no access token")?
                        .to_owned();
                    Ok::<_, crate::Error>(User { id, token })
                }
            })
            .buffered(PARALLEL)
            .try_collect()
            .await
    }

    pub async fn create_room(&self, owner: &User, name: &str) -> Result<i64> {
        let v = self
            .post("/api/v1/rooms", Some(&owner.token), json!({"name": name}))
            .await?;
        Ok(v["id"].as_i64().ok_or("create room: no id")?)
    }

    /// Moves `user`'s read mark in `room` to `seq` (`PUT /rooms/{id}/read`).
    pub async fn mark_read(&self, user: &User, room: i64, seq: i64) -> Result<()> {
        let path = format!("/api/v1/rooms/{room}/read");
        let resp = self
            .client
            .put(format!("{}{path}", self.base))
            .bearer_auth(&user.token)
            .json(&json!({ "seq": seq }))
            .send()
            .await?;
        let status = resp.status();
        if !status.is_success() {
            return Err(format!("PUT {path}: {status}: {}", resp.text().await?).into());
        }
        Ok(())
    }

    /// Makes every `(user, room)` pair a membership (joining a room one owns is harmless).
    pub async fn join_all(&self, pairs: Vec<(User, i64)>) -> Result<()> {
        let api = Arc::new(self.clone());
        stream::iter(pairs)
            .map(|(user, room)| {
                let api = api.clone();
                async move {
                    api.post(
                        &format!("/api/v1/rooms/{room}/join"),
                        Some(&user.token),
                        json!({}),
                    )
                    .await
                    .map(drop)
                }
            })
            .buffer_unordered(PARALLEL)
            .try_collect::<()>()
            .await
    }

    /// `rooms` rooms of `per_room` users each, the first of each group owning the room.
    /// Returns the rooms and, per room, its members.
    pub async fn rooms_of(
        &self,
        users: &[User],
        rooms: usize,
        name: &str,
    ) -> Result<Vec<(i64, Vec<User>)>> {
        let per_room = users.len() / rooms.max(1);
        let mut out = Vec::with_capacity(rooms);
        let mut joins = Vec::new();
        for r in 0..rooms {
            let members: Vec<User> = users[r * per_room..(r + 1) * per_room].to_vec();
            let Some(owner) = members.first() else {
                return Err("not enough users for the rooms".into());
            };
            let id = self.create_room(owner, &format!("{name}-{r}")).await?;
            joins.extend(members.iter().skip(1).map(|u| (u.clone(), id)));
            out.push((id, members));
        }
        self.join_all(joins).await?;
        Ok(out)
    }
}
