//! The storage boundary. Implementations are blocking (Diesel); callers run them off the async
//! executor. Each method is one transaction, so no caller can leave half a change behind.
use chrono::{DateTime, Utc};

use crate::entities::*;
use crate::error::RepoError;
use crate::event_log::{LogSlice, Logged, LoggedEntry};
use crate::search::{MessageSearch, SearchHit};

pub type RepoResult<T> = Result<T, RepoError>;

#[derive(Debug, Clone)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub password_hash: String,
}

#[derive(Debug, Clone, Default)]
pub struct ProfilePatch {
    pub display_name: Option<String>,
    pub bio: Option<String>,
}

#[derive(Debug, Clone)]
pub struct NewRefreshToken {
    pub user_id: UserId,
    pub family_id: String,
    pub token_hash: String,
    pub expires_at: DateTime<Utc>,
}

/// A login's session with its first refresh token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub user_agent: Option<String>,
    /// Its `family_id` is the session's id.
    pub first_token: NewRefreshToken,
}

/// Which sessions to end.
#[derive(Debug, Clone, Copy)]
pub enum SessionFilter<'a> {
    /// One session, by id; with `user_id`, only if it is that user's.
    One {
        id: &'a str,
        user_id: Option<UserId>,
    },
    /// Every session of the user, except `except`.
    AllOf {
        user_id: UserId,
        except: Option<&'a str>,
    },
}

#[derive(Debug, Clone)]
pub struct NewRoom {
    pub name: String,
    pub description: String,
    pub is_private: bool,
    pub owner_id: UserId,
}

/// A direct conversation: its people (the creator among them, ascending ids, no repeats) and
/// the key that makes it unique, so opening it twice finds the same room.
#[derive(Debug, Clone)]
pub struct NewDirect {
    pub creator: UserId,
    pub members: Vec<UserId>,
    pub key: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectOpened {
    /// As it is after the call (member count included).
    pub room: Room,
    pub created: bool,
    /// The people made members by this call: everyone when created, else who had left.
    pub added: Vec<Logged<Member>>,
}

#[derive(Debug, Clone, Default)]
pub struct RoomPatch {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_private: Option<bool>,
}

/// Which rooms a listing shows to `viewer`.
#[derive(Debug, Clone)]
pub struct RoomQuery {
    pub viewer: UserId,
    /// Only rooms of this kind.
    pub kind: Option<RoomKind>,
    /// Case-insensitive substring of the name.
    pub name_contains: Option<String>,
    /// Only rooms the viewer is a member of.
    pub only_joined: bool,
    /// Keyset pagination: rooms with an id above this.
    pub after_id: Option<RoomId>,
    pub limit: usize,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub room_id: RoomId,
    pub author_id: UserId,
    pub body: String,
    pub client_msg_id: Option<String>,
    /// A message of the same room this one answers; checked by the store (refused with
    /// `SendRefusal::BadReply`).
    pub reply_to: Option<MessageId>,
    /// What the body mentions; the store keeps the room's members among them, and `@room`
    /// only from an owner or admin.
    pub mentions: crate::mentions::Mentioned,
    /// Files already in the object store, attached in the same transaction as the message.
    pub attachments: Vec<NewAttachment>,
}

/// An uploaded file to attach to a new message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAttachment {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

impl NewMessage {
    /// Whether storing it needs more than the room and the author: a quoted message to check,
    /// names to look up, or files to attach.
    pub fn needs_lookups(&self) -> bool {
        self.reply_to.is_some() || !self.mentions.is_empty() || !self.attachments.is_empty()
    }
}

/// Whether a send stored something new or found the earlier send with the same `client_msg_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stored {
    Created(Message),
    Existing(Message),
}

impl Stored {
    pub fn message(&self) -> &Message {
        match self {
            Stored::Created(m) | Stored::Existing(m) => m,
        }
    }

    pub fn into_message(self) -> Message {
        match self {
            Stored::Created(m) | Stored::Existing(m) => m,
        }
    }
}

/// A window of a room's history, by `seq`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryWindow {
    /// The newest `limit` messages.
    Latest,
    /// The newest `limit` messages with seq below this.
    Before(i64),
    /// The oldest `limit` messages with seq above this.
    After(i64),
}

/// A page of the user directory.
#[derive(Debug, Clone)]
pub struct UserQuery {
    /// Case-insensitive prefix of the username or of the display name; `None` lists everyone.
    pub prefix: Option<String>,
    /// Keyset pagination: users with an id above this, in id order.
    pub after_id: Option<UserId>,
    pub limit: usize,
}

pub trait UserRepository {
    /// Fails with `Conflict("username")` when the name is taken (case-insensitively).
    fn create_user(&self, new: NewUser) -> RepoResult<User>;
    fn user_by_id(&self, id: UserId) -> RepoResult<Option<User>>;
    /// The directory: users matching the query, by id.
    fn search_users(&self, query: UserQuery) -> RepoResult<Vec<User>>;
    fn credentials_by_username(&self, username: &str) -> RepoResult<Option<UserCredentials>>;
    fn credentials_by_id(&self, id: UserId) -> RepoResult<Option<UserCredentials>>;
    fn update_profile(&self, id: UserId, patch: ProfilePatch) -> RepoResult<User>;
    /// Sets the hash and ends every session of the user except `keep_session`, in one
    /// transaction. Returns the sessions it ended.
    fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> RepoResult<Vec<EndedSession>>;
}

pub trait TokenRepository {
    /// Stores a new session and its first refresh token.
    fn start_session(&self, new: NewSession) -> RepoResult<()>;
    fn refresh_token_by_hash(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>>;
    /// Marks `spent_id` spent, stores its successor and marks the session used, atomically.
    /// Returns false, storing nothing, when the token was already spent or revoked (a
    /// concurrent reuse).
    fn rotate_refresh_token(&self, spent_id: i64, successor: NewRefreshToken) -> RepoResult<bool>;
    /// Ends the matching live sessions and their refresh tokens. Returns the sessions it ended
    /// (none that had ended before), so the caller can tell every node.
    fn end_sessions(&self, which: SessionFilter<'_>) -> RepoResult<Vec<EndedSession>>;
    /// The user's sessions that are neither ended nor expired, newest first.
    fn live_sessions(&self, user_id: UserId) -> RepoResult<Vec<SessionRecord>>;
    /// Sessions ended at or after `since`: what a starting node must refuse.
    fn sessions_ended_since(&self, since: DateTime<Utc>) -> RepoResult<Vec<EndedSession>>;
}

pub trait RoomRepository {
    /// Creates the room with its owner as the first member.
    fn create_room(&self, new: NewRoom) -> RepoResult<Room>;
    fn room_by_id(&self, id: RoomId) -> RepoResult<Option<Room>>;
    /// The direct conversation of exactly these people: created with all of them as members,
    /// or found, re-admitting any of them who left. One transaction, so two people opening it
    /// at once get the same room.
    fn open_direct(&self, new: NewDirect) -> RepoResult<DirectOpened>;
    fn list_rooms(&self, query: RoomQuery) -> RepoResult<Vec<Room>>;
    fn update_room(&self, id: RoomId, patch: RoomPatch) -> RepoResult<Logged<Room>>;
    /// Deletes the room with its members and messages.
    fn delete_room(&self, id: RoomId) -> RepoResult<()>;
    fn role_of(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Role>>;
    /// The room with the user's role in it (`None` when not a member); `None` when there is no
    /// such room. Nearly every request about a room asks both first, so a database answers
    /// them with one statement instead of two round trips.
    fn room_with_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> RepoResult<Option<(Room, Option<Role>)>>;
    fn member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Member>>;
    /// Fails with `Conflict("member")` when already a member.
    fn add_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> RepoResult<Logged<Member>>;
    /// The logged leave's `event_seq`; `None` when the user was not a member.
    fn remove_member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<i64>>;
    fn set_role(&self, room_id: RoomId, user_id: UserId, role: Role) -> RepoResult<Member>;
    /// Members ordered by user id, keyset-paginated.
    fn list_members(
        &self,
        room_id: RoomId,
        after_user: Option<UserId>,
        limit: usize,
    ) -> RepoResult<Vec<Member>>;
    /// Every room the user belongs to, with its last seq and last event seq.
    fn rooms_of_user(&self, user_id: UserId) -> RepoResult<Vec<RoomCursor>>;
}

/// Called once with the outcome of a [`MessageRepository::submit_message`]. It may run on the
/// storage's own thread: it must be cheap and must never block.
pub type StoreDone = Box<dyn FnOnce(RepoResult<Stored>) + Send>;

pub trait MessageRepository {
    /// Stores the message with the room's next seq, in one transaction; a repeated
    /// `(room, author, client_msg_id)` returns the first message instead. The author must be a
    /// member of the room, checked in the same transaction: otherwise nothing is stored (no seq
    /// is used) and the answer is `RepoError::Refused` saying why.
    fn store_message(&self, new: NewMessage) -> RepoResult<Stored>;
    /// [`store_message`](Self::store_message), answered through `done` instead of a return
    /// value. Implementations that can queue the work override this so that it returns at once
    /// (callable from async code); this default stores on the caller's thread, blocking it.
    fn submit_message(&self, new: NewMessage, done: StoreDone) {
        done(self.store_message(new));
    }
    fn message_by_id(&self, room_id: RoomId, id: MessageId) -> RepoResult<Option<Message>>;
    /// The room's messages with these ids (the others are skipped), in seq order.
    fn messages_by_ids(&self, room_id: RoomId, ids: &[MessageId]) -> RepoResult<Vec<Message>>;
    /// Ascending by seq.
    fn history(
        &self,
        room_id: RoomId,
        window: HistoryWindow,
        limit: usize,
    ) -> RepoResult<Vec<Message>>;
    fn edit_message(
        &self,
        room_id: RoomId,
        id: MessageId,
        body: &str,
    ) -> RepoResult<Logged<Message>>;
    /// Blanks the body and sets `deleted`, keeping the seq.
    fn delete_message(&self, room_id: RoomId, id: MessageId) -> RepoResult<Logged<Message>>;
    /// Live (not deleted) messages of the viewer's rooms matching the search, best first.
    fn search_messages(&self, search: MessageSearch) -> RepoResult<Vec<SearchHit>>;
}

pub trait ReactionRepository {
    /// Adds the reaction unless the user already made it; refuses a new emoji on a message that
    /// has [`validation::REACTIONS_PER_MESSAGE_MAX`](crate::validation::REACTIONS_PER_MESSAGE_MAX)
    /// already (`Conflict("reactions")`). One transaction. The logged change's `event_seq`,
    /// `None` when nothing changed.
    fn add_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> RepoResult<Option<i64>>;
    /// The logged change's `event_seq`; `None` when there was no such reaction to remove.
    fn remove_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> RepoResult<Option<i64>>;
    /// The reactions to each of these messages, each message's in order of their first use,
    /// with `me` for `viewer`. Messages without reactions are absent.
    fn reactions(
        &self,
        message_ids: &[MessageId],
        viewer: UserId,
    ) -> RepoResult<std::collections::HashMap<MessageId, Vec<Reaction>>>;
}

pub trait ReadRepository {
    /// Moves the user's read mark in the room forward to `seq`, never back. The mark after the
    /// call if it moved, `None` if it was already there or beyond.
    fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: i64) -> RepoResult<Option<i64>>;
    /// The marks of the room's members who share read receipts, by user id.
    fn shared_read_marks(&self, room_id: RoomId) -> RepoResult<Vec<ReadMark>>;
    /// The user's unread state in each of these rooms (a room never read counts from 0).
    fn unread(&self, user_id: UserId, room_ids: &[RoomId]) -> RepoResult<Vec<Unread>>;
    fn shares_read_receipts(&self, user_id: UserId) -> RepoResult<bool>;
    fn set_shares_read_receipts(&self, user_id: UserId, share: bool) -> RepoResult<()>;
}

pub trait HealthCheck {
    fn ping(&self) -> RepoResult<()>;
}

/// Everything the services need from storage, as one object.
#[derive(Debug, Clone)]
pub struct NewInvite {
    pub code: String,
    pub room_id: RoomId,
    pub created_by: UserId,
    pub expires_at: DateTime<Utc>,
    pub max_uses: Option<i64>,
}

pub trait InviteRepository {
    fn create_invite(&self, new: NewInvite) -> RepoResult<Invite>;
    /// Revoked ones too: the caller tells "revoked" from "unknown" by `revoked_at`.
    fn invite_by_code(&self, code: &str) -> RepoResult<Option<InviteRecord>>;
    /// The room's invites that can still admit someone at `now`, newest first.
    fn live_invites(&self, room_id: RoomId, now: DateTime<Utc>) -> RepoResult<Vec<Invite>>;
    /// Whether an unrevoked invite of that room was revoked.
    fn revoke_invite(&self, room_id: RoomId, code: &str) -> RepoResult<bool>;
    /// Spends one use and adds the user as a member, in one transaction, if the invite is
    /// still live at `now`; `None` if it is not (revoked, expired or used up meanwhile).
    /// `Conflict("member")` if the user is already a member, spending nothing.
    fn redeem_invite(
        &self,
        code: &str,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> RepoResult<Option<Logged<Member>>>;
}

/// Each room's event log (see [`crate::event_log`]). Every change the other traits make to a
/// room is logged by them, in the same transaction; this reads and prunes the log.
pub trait EventLogRepository {
    /// The room's log after `after`, oldest first, at most `limit` entries: message creations
    /// (from the messages) and every other logged change. [`LogSlice::Reset`] when entries
    /// after `after` were pruned.
    fn log_after(
        &self,
        room_id: RoomId,
        after: i64,
        limit: usize,
    ) -> RepoResult<LogSlice<LoggedEntry>>;
    /// Forgets the entries logged before `before`, in every room (messages stay: they are
    /// history). How many were forgotten.
    fn prune_log(&self, before: DateTime<Utc>) -> RepoResult<u64>;
}

/// Where files live and which are to go. Attachments are written with their message
/// ([`NewMessage::attachments`]); deleting the message or its room moves their ids to the
/// trash in the same transaction, and whoever holds the object store empties it.
pub trait FileRepository {
    /// A live attachment with its room, its `url` made as for a message read.
    fn file(&self, id: &str) -> RepoResult<Option<crate::files::StoredFile>>;
    /// Up to `limit` ids of files whose message or room is gone, oldest first.
    fn file_trash(&self, limit: usize) -> RepoResult<Vec<String>>;
    /// Forgets trash whose objects are deleted.
    fn forget_file_trash(&self, ids: &[String]) -> RepoResult<()>;
}

pub trait Repository:
    UserRepository
    + TokenRepository
    + RoomRepository
    + MessageRepository
    + InviteRepository
    + ReactionRepository
    + ReadRepository
    + EventLogRepository
    + FileRepository
    + HealthCheck
    + Send
    + Sync
{
}

impl<T> Repository for T where
    T: UserRepository
        + TokenRepository
        + RoomRepository
        + MessageRepository
        + InviteRepository
        + ReactionRepository
        + ReadRepository
        + EventLogRepository
        + FileRepository
        + HealthCheck
        + Send
        + Sync
{
}
