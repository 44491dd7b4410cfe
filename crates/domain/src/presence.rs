//! Who is online, as a boundary: the realtime gateway knows it for one process, Redis for a
//! cluster; the REST API only asks.
use std::collections::HashSet;
use std::future::Future;
use std::pin::Pin;

use crate::UserId;

pub type OnlineFuture<'a> = Pin<Box<dyn Future<Output = HashSet<UserId>> + Send + 'a>>;

pub trait PresenceDirectory: Send + Sync {
    /// Which of `users` have an open connection now.
    fn online_among<'a>(&'a self, users: &'a [UserId]) -> OnlineFuture<'a>;
}
