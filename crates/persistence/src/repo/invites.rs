use chrono::{DateTime, Utc};
use diesel::prelude::*;
use huddle_domain::event_log::{LogEntry, Logged};
use huddle_domain::repository::{InviteRepository, NewInvite, RepoResult};
use huddle_domain::{Invite, InviteRecord, Member, Role, RoomId, UserId};

use super::event_log::log;
use super::rooms::load_member;
use super::DieselRepository;
use crate::error::{db_err, map_err};
use crate::models::{now_micros, InviteRow, NewInviteRow, NewMemberRow};
use crate::schema::{invites, room_members, rooms};

impl InviteRepository for DieselRepository {
    fn create_invite(&self, new: NewInvite) -> RepoResult<Invite> {
        let row = NewInviteRow {
            code: &new.code,
            room_id: new.room_id,
            created_by: new.created_by,
            created_at: now_micros(),
            expires_at: new.expires_at.timestamp_micros(),
            max_uses: new.max_uses,
        };
        let mut conn = self.conn()?;
        diesel::insert_into(invites::table)
            .values(&row)
            .execute(&mut *conn)
            .map_err(map_err("record"))?;
        invites::table
            .find(&new.code)
            .select(InviteRow::as_select())
            .first(&mut *conn)
            .map(|r| InviteRecord::from(r).invite)
            .map_err(db_err)
    }

    fn invite_by_code(&self, code: &str) -> RepoResult<Option<InviteRecord>> {
        invites::table
            .find(code)
            .select(InviteRow::as_select())
            .first(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(Into::into))
            .map_err(db_err)
    }

    fn live_invites(&self, room_id: RoomId, now: DateTime<Utc>) -> RepoResult<Vec<Invite>> {
        let rows: Vec<InviteRow> = invites::table
            .filter(invites::room_id.eq(room_id))
            .filter(invites::revoked_at.is_null())
            .filter(invites::expires_at.gt(now.timestamp_micros()))
            .filter(
                invites::max_uses
                    .is_null()
                    .or(invites::uses.nullable().lt(invites::max_uses)),
            )
            .order((invites::created_at.desc(), invites::code.asc()))
            .select(InviteRow::as_select())
            .load(&mut *self.conn()?)
            .map_err(db_err)?;
        Ok(rows
            .into_iter()
            .map(|r| InviteRecord::from(r).invite)
            .collect())
    }

    fn revoke_invite(&self, room_id: RoomId, code: &str) -> RepoResult<bool> {
        diesel::update(
            invites::table
                .find(code)
                .filter(invites::room_id.eq(room_id))
                .filter(invites::revoked_at.is_null()),
        )
        .set(invites::revoked_at.eq(now_micros()))
        .execute(&mut *self.conn()?)
        .map(|n| n > 0)
        .map_err(db_err)
    }

    fn redeem_invite(
        &self,
        code: &str,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> RepoResult<Option<Logged<Member>>> {
        self.conn()?
            .transaction(|c| {
                // One conditional update both checks and spends a use, so concurrent accepts
                // can never admit more people than `max_uses`.
                let room_id: Option<i64> = diesel::update(
                    invites::table
                        .find(code)
                        .filter(invites::revoked_at.is_null())
                        .filter(invites::expires_at.gt(now.timestamp_micros()))
                        .filter(
                            invites::max_uses
                                .is_null()
                                .or(invites::uses.nullable().lt(invites::max_uses)),
                        ),
                )
                .set(invites::uses.eq(invites::uses + 1))
                .returning(invites::room_id)
                .get_result(c)
                .optional()?;
                let Some(room_id) = room_id else {
                    return Ok(None);
                };
                // A member already: the unique key refuses, and the use is rolled back.
                let joined_at = now_micros();
                diesel::insert_into(room_members::table)
                    .values(NewMemberRow {
                        room_id,
                        user_id,
                        role: Role::Member.as_str(),
                        joined_at,
                    })
                    .execute(c)?;
                diesel::update(rooms::table.find(room_id))
                    .set(rooms::member_count.eq(rooms::member_count + 1))
                    .execute(c)?;
                let joined = LogEntry::MemberJoined {
                    user_id,
                    role: Role::Member,
                };
                let event_seq = log(c, room_id, &joined, joined_at)?;
                let value =
                    load_member(c, room_id, user_id)?.ok_or(diesel::result::Error::NotFound)?;
                Ok(Some(Logged { value, event_seq }))
            })
            .map_err(map_err("member"))
    }
}
