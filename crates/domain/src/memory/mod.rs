//! [`MemoryRepository`]: every trait of [`Repository`](crate::Repository) over plain data
//! structures behind one mutex, for unit tests and examples that need storage without a
//! database. Compiled for this crate's own tests and, for other crates, with the feature
//! `memory`.
//!
//! It keeps the documented contracts of [`crate::repository`]; where those leave something
//! open, it does what the Diesel implementation does:
//!
//! - Every method is one critical section, checked before anything changes, so it is as atomic
//!   as the database's transaction: a refusal changes nothing.
//! - Ids count up from 1 per table and are never reused.
//! - Times are truncated to microseconds, as the database stores them, and never repeat nor go
//!   backwards: each change is stamped later than the one before, so "newest first" is exact.
//! - A missing row a write refers to (a room's owner, a member's room or user, a session's user)
//!   answers [`RepoError::NotFound`] like a foreign key; a second row with a unique value (a
//!   session id, a refresh-token hash) answers `Conflict("record")`.
//! - [`MessageRepository::submit_message`](crate::repository::MessageRepository::submit_message)
//!   answers before it returns, on the caller's thread, after the lock is released: the callback
//!   may use the repository.
//!
//! [`MemoryRepository::set_unavailable`] makes every call fail as a lost database would, for
//! testing what callers do then.
mod event_log;
mod files;
mod invites;
mod messages;
mod reactions;
mod reads;
mod rooms;
mod sessions;
mod users;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};

use crate::entities::*;
use crate::error::RepoError;
use crate::repository::{HealthCheck, RepoResult};

/// An in-memory [`Repository`](crate::Repository). Cheap to create: one per test.
#[derive(Debug, Default)]
pub struct MemoryRepository {
    state: Mutex<State>,
    unavailable: AtomicBool,
}

impl MemoryRepository {
    pub fn new() -> Self {
        Self::default()
    }

    /// While `down`, every call answers `RepoError::Unavailable`, as when the database cannot
    /// be reached; the data is kept for when it comes back.
    pub fn set_unavailable(&self, down: bool) {
        self.unavailable.store(down, Ordering::SeqCst);
    }

    /// The state, for one operation. A poisoned lock is taken anyway: every operation checks
    /// before it changes anything, so a panic cannot have left a change half done.
    fn lock(&self) -> RepoResult<MutexGuard<'_, State>> {
        if self.unavailable.load(Ordering::SeqCst) {
            return Err(RepoError::Unavailable(
                "the in-memory repository is switched off".into(),
            ));
        }
        Ok(self.state.lock().unwrap_or_else(|p| p.into_inner()))
    }
}

impl HealthCheck for MemoryRepository {
    fn ping(&self) -> RepoResult<()> {
        self.lock().map(drop)
    }
}

/// The tables. Maps keyed by id keep id order, which is the order every listing uses.
#[derive(Debug, Default)]
struct State {
    /// The latest time handed out, so that the next one is later.
    clock: Option<DateTime<Utc>>,
    last_ids: LastIds,
    users: BTreeMap<UserId, UserRow>,
    /// Lowercased username -> id: the case-insensitive unique key.
    usernames: HashMap<String, UserId>,
    rooms: BTreeMap<RoomId, Room>,
    /// Keyed by room then user: a room's members are one range, ordered by user id.
    members: BTreeMap<(RoomId, UserId), MemberRow>,
    messages: BTreeMap<MessageId, MessageRow>,
    /// (room, seq) -> message: a room's history is one range, in seq order.
    by_seq: BTreeMap<(RoomId, i64), MessageId>,
    /// (room, author, client_msg_id) -> message: the idempotency key of sends.
    by_client_id: HashMap<(RoomId, UserId, String), MessageId>,
    /// In the order they were started.
    sessions: Vec<SessionRecord>,
    tokens: Vec<TokenRow>,
    /// By code; in creation order within a room comes from `created_at`.
    invites: BTreeMap<String, InviteRecord>,
    /// A direct conversation's key -> its room: the unique key of direct conversations.
    directs: HashMap<String, RoomId>,
    /// In the order they were made.
    reactions: Vec<ReactionRow>,
    /// (room, user) -> the last seq read.
    reads: BTreeMap<(RoomId, UserId), i64>,
    /// Users who keep their read state to themselves.
    private_reads: std::collections::HashSet<UserId>,
    /// Per room: the changes other than message creations logged so far. A message's
    /// `event_seq` is its seq plus this, when it is stored.
    event_offsets: HashMap<RoomId, i64>,
    /// (room, event_seq) -> a logged change other than a message's creation.
    log: BTreeMap<(RoomId, i64), (DateTime<Utc>, crate::event_log::LogEntry)>,
    /// Per room: the newest event_seq pruned.
    log_floors: HashMap<RoomId, i64>,
    /// Ids of files whose message or room is gone, oldest first.
    file_trash: Vec<String>,
}

#[derive(Debug, Default)]
struct LastIds {
    user: i64,
    room: i64,
    message: i64,
    token: i64,
}

fn next(last: &mut i64) -> i64 {
    *last += 1;
    *last
}

#[derive(Debug)]
struct UserRow {
    user: User,
    password_hash: String,
}

#[derive(Debug)]
struct MemberRow {
    role: Role,
    joined_at: DateTime<Utc>,
}

#[derive(Debug)]
struct MessageRow {
    room_id: RoomId,
    seq: i64,
    author_id: UserId,
    body: String,
    client_msg_id: Option<String>,
    created_at: DateTime<Utc>,
    edited_at: Option<DateTime<Utc>>,
    deleted: bool,
    event_seq: i64,
    reply_to: Option<MessageId>,
    mentions: Vec<UserId>,
    mentions_room: bool,
    attachments: Vec<crate::repository::NewAttachment>,
}

#[derive(Debug)]
struct ReactionRow {
    message_id: MessageId,
    user_id: UserId,
    emoji: String,
}

#[derive(Debug)]
struct TokenRow {
    id: i64,
    user_id: UserId,
    family_id: String,
    token_hash: String,
    expires_at: DateTime<Utc>,
    spent_at: Option<DateTime<Utc>>,
    revoked_at: Option<DateTime<Utc>>,
}

/// A time as the database keeps it: whole microseconds.
fn stored_time(t: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(t.timestamp_micros()).unwrap_or_default()
}

impl State {
    /// The time of a change: now, or a microsecond after the previous change if that is not
    /// later.
    fn now(&mut self) -> DateTime<Utc> {
        let mut now = stored_time(Utc::now());
        if let Some(last) = self.clock {
            if now <= last {
                now = last + TimeDelta::microseconds(1);
            }
        }
        self.clock = Some(now);
        now
    }

    /// The profile of a user a row refers to. Every reference is checked when it is written, so
    /// a dangling one is a fault of this module.
    fn user(&self, id: UserId) -> RepoResult<User> {
        self.users
            .get(&id)
            .map(|row| row.user.clone())
            .ok_or_else(|| RepoError::Internal(format!("no user {id}").into()))
    }

    fn member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Member>> {
        let Some(row) = self.members.get(&(room_id, user_id)) else {
            return Ok(None);
        };
        Ok(Some(Member {
            user: self.user(user_id)?,
            role: row.role,
            joined_at: row.joined_at,
        }))
    }

    fn message(&self, id: MessageId) -> RepoResult<Option<Message>> {
        let Some(row) = self.messages.get(&id) else {
            return Ok(None);
        };
        Ok(Some(Message {
            id,
            room_id: row.room_id,
            seq: row.seq,
            author: self.user(row.author_id)?,
            body: row.body.clone(),
            client_msg_id: row.client_msg_id.clone(),
            created_at: row.created_at,
            edited_at: row.edited_at,
            deleted: row.deleted,
            reactions: Vec::new(),
            event_seq: row.event_seq,
            reply_to: match row.reply_to {
                Some(quoted) => self.quoted(quoted)?.map(Box::new),
                None => None,
            },
            reply_to_id: row.reply_to,
            mentions: row.mentions.clone(),
            mentions_room: row.mentions_room,
            attachments: row
                .attachments
                .iter()
                .map(|a| files::attachment(a, &crate::files::PlainLinks))
                .collect(),
        }))
    }

    /// The preview of a quoted message, read from its row (one level: a quote's own quote is
    /// not shown).
    fn quoted(&self, id: MessageId) -> RepoResult<Option<ReplyPreview>> {
        let Some(row) = self.messages.get(&id) else {
            return Ok(None);
        };
        Ok(Some(ReplyPreview {
            id,
            seq: row.seq,
            author: self.user(row.author_id)?,
            body_preview: row.body.chars().take(REPLY_PREVIEW_CHARS).collect(),
            deleted: row.deleted,
        }))
    }
}
