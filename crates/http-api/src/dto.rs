//! Request and response bodies that are not domain entities. Entities (user, room, member,
//! message) serialise as themselves.
use huddle_domain::search::SearchHit;
use huddle_domain::{Invite, Member, Message, Room, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

#[derive(Debug, Deserialize, ToSchema)]
pub struct RegisterRequest {
    pub username: String,
    pub password: String,
    pub display_name: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct LoginRequest {
    pub username: String,
    pub password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionResponse {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

impl From<huddle_auth::Session> for SessionResponse {
    fn from(s: huddle_auth::Session) -> Self {
        Self {
            user: s.user,
            access_token: s.access_token,
            refresh_token: s.refresh_token,
            token_type: "Bearer".into(),
            expires_in: s.expires_in,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateProfileRequest {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    /// Whether the room's members see how far you have read (read receipts).
    pub share_read_receipts: Option<bool>,
}

/// The caller's own profile, with their settings.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Me {
    #[serde(flatten)]
    pub user: User,
    pub share_read_receipts: bool,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct MarkReadRequest {
    /// The seq of the last message read; the mark never moves back.
    pub seq: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ReadMarkList {
    pub items: Vec<huddle_domain::ReadMark>,
    /// Always null: one page holds every member who shares.
    pub next_cursor: Option<String>,
}

/// A room in a list; with `mine=true`, also the caller's read state in it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomListItem {
    #[serde(flatten)]
    pub room: Room,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_read_seq: Option<i64>,
    /// Messages by others, not deleted, after `last_read_seq`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread_count: Option<i64>,
    /// Of those, the ones that mention the caller (by name, or `@room`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mention_count: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct ChangePasswordRequest {
    pub current_password: String,
    pub new_password: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateRoomRequest {
    pub name: String,
    pub description: Option<String>,
    pub is_private: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct UpdateRoomRequest {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_private: Option<bool>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct AddMemberRequest {
    /// The user to add; or give `username` instead.
    pub user_id: Option<i64>,
    /// The user to add, by username (case-insensitive); or give `user_id` instead.
    pub username: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct SetRoleRequest {
    /// `admin` or `member`.
    pub role: String,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct PostMessageRequest {
    pub body: String,
    /// The client's id for this send; a retry with the same id stores nothing new.
    pub client_msg_id: Option<String>,
    /// The id of a message of the same room that this one answers.
    pub reply_to: Option<i64>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct EditMessageRequest {
    pub body: String,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListRoomsQuery {
    /// Case-insensitive part of the room name.
    pub q: Option<String>,
    /// Only rooms the caller is a member of.
    pub mine: Option<bool>,
    /// Only rooms of this kind: `group` or `direct`.
    pub kind: Option<String>,
    pub cursor: Option<String>,
    /// 1-100, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListUsersQuery {
    /// Case-insensitive start of the username or the display name; empty or absent lists
    /// everyone.
    pub q: Option<String>,
    pub cursor: Option<String>,
    /// 1-100, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    pub cursor: Option<String>,
    /// 1-100, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// The newest messages below this seq.
    pub before_seq: Option<i64>,
    /// The oldest messages above this seq.
    pub after_seq: Option<i64>,
    /// 1-200, default 50.
    pub limit: Option<i64>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// Web-search syntax: words, "phrases", -exclusions; 1-200 characters, at least one word.
    pub q: String,
    /// Only this room (the caller must be a member).
    pub room_id: Option<i64>,
    /// Only this author's messages.
    pub author_id: Option<i64>,
    /// Only messages sent after this time (RFC 3339).
    pub after: Option<chrono::DateTime<chrono::Utc>>,
    /// Only messages sent before this time (RFC 3339).
    pub before: Option<chrono::DateTime<chrono::Utc>>,
    pub cursor: Option<String>,
    /// 1-50, default 20.
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SearchResults {
    /// Best first.
    pub items: Vec<SearchHit>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct RoomList {
    pub items: Vec<RoomListItem>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct OpenDirectRequest {
    /// The other people: 1-8 usernames (the caller's own and repeats are ignored).
    pub usernames: Vec<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct CreateInviteRequest {
    /// Seconds until it expires: 60-2592000 (30 days), default 604800 (a week).
    pub expires_in_s: Option<i64>,
    /// How many people it may admit: 1-1000; absent, unlimited until it expires.
    pub max_uses: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InviteList {
    pub items: Vec<Invite>,
    /// Always null: a room has at most 100 live invites, all on one page.
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct UserList {
    pub items: Vec<User>,
    pub next_cursor: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberEntry>,
    pub next_cursor: Option<String>,
}

/// A member as listed: the member object plus whether they are connected right now.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberEntry {
    #[serde(flatten)]
    pub member: Member,
    /// An open connection on any server process (the live updates are `presence` events).
    pub online: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MessageHistory {
    /// Ascending by seq.
    pub items: Vec<Message>,
    /// Whether more messages lie beyond this page in the direction paged.
    pub has_more: bool,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable machine-readable code, e.g. `validation_failed`.
    pub code: String,
    pub message: String,
    /// The offending field, where one is at fault.
    pub field: Option<String>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    /// Per dependency: `ok`, `degraded` or `down`.
    pub checks: std::collections::BTreeMap<String, String>,
}

/// One of the caller's sessions (logins), as `GET /users/me/sessions` lists them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    /// The `sid` its access tokens carry.
    pub id: String,
    pub created_at: chrono::DateTime<chrono::Utc>,
    /// The login or the latest token refresh.
    pub last_used_at: chrono::DateTime<chrono::Utc>,
    /// The `User-Agent` it logged in with, if any.
    pub user_agent: Option<String>,
    /// Whether the calling access token belongs to it.
    pub current: bool,
}

impl SessionInfo {
    pub fn new(s: huddle_domain::SessionRecord, current_id: &str) -> Self {
        Self {
            current: s.id == current_id,
            id: s.id,
            created_at: s.created_at,
            last_used_at: s.last_used_at,
            user_agent: s.user_agent,
        }
    }
}
