//! The entities as clients see them. Their serde form is the wire form of `docs/API.md`.
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

pub type UserId = i64;
pub type RoomId = i64;
pub type MessageId = i64;

/// A user's public profile. The password hash never lives here (see [`UserCredentials`]), so a
/// `User` can be serialised anywhere without leaking it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub created_at: DateTime<Utc>,
}

/// What login needs: the profile plus the stored bcrypt hash.
#[derive(Debug, Clone)]
pub struct UserCredentials {
    pub user: User,
    pub password_hash: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Room {
    pub id: RoomId,
    pub name: String,
    pub description: String,
    pub is_private: bool,
    /// `group`, or `direct`: a private conversation of fixed people, with no owner powers.
    pub kind: RoomKind,
    pub owner_id: UserId,
    pub member_count: i64,
    /// The `seq` of the newest message, 0 for an empty room.
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A room as listed for one user: the id and where its history ends, so a client knows what to
/// sync.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomCursor {
    pub room_id: RoomId,
    pub last_seq: i64,
    /// The room's newest logged change (see [`crate::event_log`]).
    pub last_event_seq: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum RoomKind {
    Group,
    Direct,
}

impl RoomKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RoomKind::Group => "group",
            RoomKind::Direct => "direct",
        }
    }

    pub fn parse(s: &str) -> Option<RoomKind> {
        match s {
            "group" => Some(RoomKind::Group),
            "direct" => Some(RoomKind::Direct),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    Admin,
    Owner,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Owner => "owner",
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s {
            "owner" => Some(Role::Owner),
            "admin" => Some(Role::Admin),
            "member" => Some(Role::Member),
            _ => None,
        }
    }

    /// Owners and admins manage a room's settings and members.
    pub fn can_manage(self) -> bool {
        matches!(self, Role::Owner | Role::Admin)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Member {
    pub user: User,
    pub role: Role,
    pub joined_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Message {
    pub id: MessageId,
    pub room_id: RoomId,
    /// Per-room position, assigned in the storing transaction: 1, 2, 3... with no gaps.
    pub seq: i64,
    pub author: User,
    /// Empty once deleted.
    pub body: String,
    pub client_msg_id: Option<String>,
    pub created_at: DateTime<Utc>,
    pub edited_at: Option<DateTime<Utc>>,
    pub deleted: bool,
    /// Emoji reactions, each emoji in order of its first use. Filled where a message is read
    /// for someone (history, sync); empty on a message just sent.
    #[serde(default)]
    pub reactions: Vec<Reaction>,
    /// The place of the message's creation in its room's log. Not part of the message on the
    /// wire: the `message.created` event carries it.
    #[serde(skip)]
    pub event_seq: i64,
    /// The message this one answers, as it is now; `null` for a message that answers none.
    #[serde(default)]
    pub reply_to: Option<Box<ReplyPreview>>,
    /// The id behind `reply_to`, as stored: storage reads it, then fills `reply_to`.
    #[serde(skip)]
    pub reply_to_id: Option<MessageId>,
    /// The members mentioned by `@username`, in the order they first appear.
    #[serde(default)]
    pub mentions: Vec<UserId>,
    /// `@room` by an owner or admin: everyone in the room is mentioned.
    #[serde(default)]
    pub mentions_room: bool,
    /// Files sent with the message (its body is then their caption, and may be empty).
    #[serde(default)]
    pub attachments: Vec<crate::files::Attachment>,
}

/// A quoted message, enough to show the quote and jump to it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReplyPreview {
    pub id: MessageId,
    pub seq: i64,
    pub author: User,
    /// The start of the body (at most [`REPLY_PREVIEW_CHARS`] characters); empty once deleted.
    pub body_preview: String,
    pub deleted: bool,
}

/// How much of a quoted body a reply shows.
pub const REPLY_PREVIEW_CHARS: usize = 100;

impl ReplyPreview {
    pub fn of(quoted: &Message) -> Self {
        ReplyPreview {
            id: quoted.id,
            seq: quoted.seq,
            author: quoted.author.clone(),
            body_preview: quoted.body.chars().take(REPLY_PREVIEW_CHARS).collect(),
            deleted: quoted.deleted,
        }
    }
}

/// A stored refresh token. Only the SHA-256 of the token is kept, so a database leak does not
/// hand out sessions.
#[derive(Debug, Clone)]
pub struct RefreshTokenRecord {
    pub id: i64,
    pub user_id: UserId,
    /// Every token issued from one login shares a family; reuse of a spent token revokes it.
    pub family_id: String,
    pub expires_at: DateTime<Utc>,
    pub spent_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// One login: where its refresh tokens rotate, and the `sid` its access tokens name. Ending it
/// ends both at once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub id: String,
    pub user_id: UserId,
    /// As the client sent it at login, trimmed to a few hundred characters.
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
    /// The login or the latest refresh.
    pub last_used_at: DateTime<Utc>,
    /// When its newest refresh token expires; the session is dead after that.
    pub expires_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A session that was just ended, for telling every node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndedSession {
    pub id: String,
    pub user_id: UserId,
    pub revoked_at: DateTime<Utc>,
}

/// An invite link to a room, as its managers see it. The code is the secret: whoever holds it
/// may join until it expires, is used up or is revoked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Invite {
    pub code: String,
    pub room_id: RoomId,
    pub created_by: UserId,
    pub created_at: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// `null`: any number of uses until it expires.
    pub max_uses: Option<i64>,
    pub uses: i64,
}

impl Invite {
    /// Expired or used up: it will never admit anyone again.
    pub fn is_spent(&self, now: DateTime<Utc>) -> bool {
        self.expires_at <= now || self.max_uses.is_some_and(|max| self.uses >= max)
    }
}

/// An invite with what only storage needs to know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InviteRecord {
    pub invite: Invite,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// What an invite shows someone who holds its code, before they join: enough to decide,
/// nothing of the room's members or messages.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct InvitePreview {
    pub room: RoomPreview,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct RoomPreview {
    pub id: RoomId,
    pub name: String,
    pub description: String,
    pub member_count: i64,
}

/// One emoji's reactions to a message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Reaction {
    pub emoji: String,
    pub count: i64,
    /// Who reacted, first come first, at most [`REACTION_USERS_SHOWN`].
    pub user_ids: Vec<UserId>,
    /// Whether the user who asked is among them (always false in live events, which every
    /// member shares; clients use `user_ids` there).
    pub me: bool,
}

/// How many reacting users a [`Reaction`] names.
pub const REACTION_USERS_SHOWN: usize = 20;

/// How far a user has read a room: the seq of the last message they have seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct ReadMark {
    pub user_id: UserId,
    pub last_read_seq: i64,
}

/// A room as one member's unread state: where they stopped and how many messages by others
/// (not deleted) came after.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Unread {
    pub room_id: RoomId,
    pub last_read_seq: i64,
    pub unread_count: i64,
    /// Of those, the messages that mention the user (by name, or `@room`).
    pub mention_count: i64,
}
