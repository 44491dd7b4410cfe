//! Rows as stored, and their conversion to domain entities.
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use huddle_domain::{
    Invite, InviteRecord, Member, Message, RefreshTokenRecord, Role, Room, RoomKind, SessionRecord,
    User,
};

use crate::schema::*;

pub(crate) fn now_micros() -> i64 {
    Utc::now().timestamp_micros()
}

pub(crate) fn to_time(micros: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(micros).unwrap_or_default()
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = users)]
pub(crate) struct UserRow {
    pub id: i64,
    pub username: String,
    pub display_name: String,
    pub bio: String,
    pub created_at: i64,
}

impl From<UserRow> for User {
    fn from(r: UserRow) -> Self {
        User {
            id: r.id,
            username: r.username,
            display_name: r.display_name,
            bio: r.bio,
            created_at: to_time(r.created_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = users)]
pub(crate) struct NewUserRow<'a> {
    pub username: &'a str,
    pub username_lower: &'a str,
    pub display_name: &'a str,
    pub bio: &'a str,
    pub password_hash: &'a str,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(AsChangeset)]
#[diesel(table_name = users)]
pub(crate) struct UserChanges {
    pub display_name: Option<String>,
    pub bio: Option<String>,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct RefreshTokenRow {
    pub id: i64,
    pub user_id: i64,
    pub family_id: String,
    pub expires_at: i64,
    pub spent_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

impl From<RefreshTokenRow> for RefreshTokenRecord {
    fn from(r: RefreshTokenRow) -> Self {
        RefreshTokenRecord {
            id: r.id,
            user_id: r.user_id,
            family_id: r.family_id,
            expires_at: to_time(r.expires_at),
            spent_at: r.spent_at.map(to_time),
            revoked_at: r.revoked_at.map(to_time),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = refresh_tokens)]
pub(crate) struct NewRefreshTokenRow<'a> {
    pub user_id: i64,
    pub family_id: &'a str,
    pub token_hash: &'a str,
    pub created_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = sessions)]
pub(crate) struct SessionRow {
    pub id: String,
    pub user_id: i64,
    pub user_agent: Option<String>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

impl From<SessionRow> for SessionRecord {
    fn from(r: SessionRow) -> Self {
        SessionRecord {
            id: r.id,
            user_id: r.user_id,
            user_agent: r.user_agent,
            created_at: to_time(r.created_at),
            last_used_at: to_time(r.last_used_at),
            expires_at: to_time(r.expires_at),
            revoked_at: r.revoked_at.map(to_time),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = sessions)]
pub(crate) struct NewSessionRow<'a> {
    pub id: &'a str,
    pub user_id: i64,
    pub user_agent: Option<&'a str>,
    pub created_at: i64,
    pub last_used_at: i64,
    pub expires_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = rooms)]
pub(crate) struct RoomRow {
    pub id: i64,
    pub name: String,
    pub description: String,
    pub is_private: bool,
    pub owner_id: i64,
    pub member_count: i64,
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub kind: String,
}

impl From<RoomRow> for Room {
    fn from(r: RoomRow) -> Self {
        Room {
            id: r.id,
            name: r.name,
            description: r.description,
            is_private: r.is_private,
            kind: RoomKind::parse(&r.kind).unwrap_or(RoomKind::Group),
            owner_id: r.owner_id,
            member_count: r.member_count,
            last_seq: r.last_seq,
            created_at: to_time(r.created_at),
            updated_at: to_time(r.updated_at),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = rooms)]
pub(crate) struct NewRoomRow<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub is_private: bool,
    pub owner_id: i64,
    pub member_count: i64,
    pub last_seq: i64,
    pub created_at: i64,
    pub updated_at: i64,
    pub kind: &'a str,
    pub direct_key: Option<&'a str>,
}

#[derive(AsChangeset)]
#[diesel(table_name = rooms)]
pub(crate) struct RoomChanges {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_private: Option<bool>,
    pub updated_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = room_members)]
pub(crate) struct MemberRow {
    pub role: String,
    pub joined_at: i64,
}

pub(crate) fn to_member((m, u): (MemberRow, UserRow)) -> Member {
    Member {
        user: u.into(),
        // The column has a CHECK constraint; an unknown value can only be a plain member.
        role: Role::parse(&m.role).unwrap_or(Role::Member),
        joined_at: to_time(m.joined_at),
    }
}

#[derive(Insertable)]
#[diesel(table_name = room_members)]
pub(crate) struct NewMemberRow<'a> {
    pub room_id: i64,
    pub user_id: i64,
    pub role: &'a str,
    pub joined_at: i64,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = messages)]
pub(crate) struct MessageRow {
    pub id: i64,
    pub room_id: i64,
    pub seq: i64,
    pub body: String,
    pub client_msg_id: Option<String>,
    pub created_at: i64,
    pub edited_at: Option<i64>,
    pub deleted: bool,
    pub event_seq: i64,
    pub reply_to: Option<i64>,
    pub mentions_room: bool,
}

/// The message of a row; `reply_to` is filled afterwards from `reply_to_id` (see
/// `repo::messages::with_previews`).
pub(crate) fn to_message((m, u): (MessageRow, UserRow)) -> Message {
    Message {
        id: m.id,
        room_id: m.room_id,
        seq: m.seq,
        author: u.into(),
        body: m.body,
        client_msg_id: m.client_msg_id,
        created_at: to_time(m.created_at),
        edited_at: m.edited_at.map(to_time),
        deleted: m.deleted,
        reactions: Vec::new(),
        event_seq: m.event_seq,
        reply_to: None,
        reply_to_id: m.reply_to,
        mentions: Vec::new(),
        mentions_room: m.mentions_room,
        attachments: Vec::new(),
    }
}

#[derive(Insertable)]
#[diesel(table_name = messages)]
// Explicit NULLs, so many rows can go in one INSERT on SQLite too (no DEFAULT there).
#[diesel(treat_none_as_default_value = false)]
pub(crate) struct NewMessageRow<'a> {
    pub room_id: i64,
    pub seq: i64,
    pub author_id: i64,
    pub body: &'a str,
    pub client_msg_id: Option<&'a str>,
    pub created_at: i64,
    pub deleted: bool,
    pub event_seq: i64,
    pub reply_to: Option<i64>,
    pub mentions_room: bool,
}

#[derive(Queryable, Selectable)]
#[diesel(table_name = invites)]
pub(crate) struct InviteRow {
    pub code: String,
    pub room_id: i64,
    pub created_by: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: Option<i64>,
    pub uses: i64,
    pub revoked_at: Option<i64>,
}

impl From<InviteRow> for InviteRecord {
    fn from(r: InviteRow) -> Self {
        InviteRecord {
            invite: Invite {
                code: r.code,
                room_id: r.room_id,
                created_by: r.created_by,
                created_at: to_time(r.created_at),
                expires_at: to_time(r.expires_at),
                max_uses: r.max_uses,
                uses: r.uses,
            },
            revoked_at: r.revoked_at.map(to_time),
        }
    }
}

#[derive(Insertable)]
#[diesel(table_name = invites)]
pub(crate) struct NewInviteRow<'a> {
    pub code: &'a str,
    pub room_id: i64,
    pub created_by: i64,
    pub created_at: i64,
    pub expires_at: i64,
    pub max_uses: Option<i64>,
}
