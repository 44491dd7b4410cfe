use chrono::{DateTime, Utc};

use super::{MemberRow, MemoryRepository};
use crate::entities::*;
use crate::error::RepoError;
use crate::event_log::{LogEntry, Logged};
use crate::repository::{InviteRepository, NewInvite, RepoResult};

impl InviteRepository for MemoryRepository {
    fn create_invite(&self, new: NewInvite) -> RepoResult<Invite> {
        let mut s = self.lock()?;
        if !s.rooms.contains_key(&new.room_id) || !s.users.contains_key(&new.created_by) {
            return Err(RepoError::NotFound);
        }
        if s.invites.contains_key(&new.code) {
            return Err(RepoError::Conflict("record"));
        }
        let invite = Invite {
            code: new.code.clone(),
            room_id: new.room_id,
            created_by: new.created_by,
            created_at: s.now(),
            expires_at: super::stored_time(new.expires_at),
            max_uses: new.max_uses,
            uses: 0,
        };
        s.invites.insert(
            new.code,
            InviteRecord {
                invite: invite.clone(),
                revoked_at: None,
            },
        );
        Ok(invite)
    }

    fn invite_by_code(&self, code: &str) -> RepoResult<Option<InviteRecord>> {
        Ok(self.lock()?.invites.get(code).cloned())
    }

    fn live_invites(&self, room_id: RoomId, now: DateTime<Utc>) -> RepoResult<Vec<Invite>> {
        let s = self.lock()?;
        let mut live: Vec<Invite> = s
            .invites
            .values()
            .filter(|r| r.invite.room_id == room_id && r.revoked_at.is_none())
            .filter(|r| !r.invite.is_spent(now))
            .map(|r| r.invite.clone())
            .collect();
        live.sort_by_key(|i| std::cmp::Reverse(i.created_at));
        Ok(live)
    }

    fn revoke_invite(&self, room_id: RoomId, code: &str) -> RepoResult<bool> {
        let mut s = self.lock()?;
        let now = s.now();
        match s.invites.get_mut(code) {
            Some(r) if r.invite.room_id == room_id && r.revoked_at.is_none() => {
                r.revoked_at = Some(now);
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn redeem_invite(
        &self,
        code: &str,
        user_id: UserId,
        now: DateTime<Utc>,
    ) -> RepoResult<Option<Logged<Member>>> {
        let mut s = self.lock()?;
        let Some(record) = s.invites.get(code) else {
            return Ok(None);
        };
        if record.revoked_at.is_some() || record.invite.is_spent(now) {
            return Ok(None);
        }
        let room_id = record.invite.room_id;
        if !s.users.contains_key(&user_id) || !s.rooms.contains_key(&room_id) {
            return Err(RepoError::NotFound);
        }
        if s.members.contains_key(&(room_id, user_id)) {
            return Err(RepoError::Conflict("member"));
        }
        let joined_at = s.now();
        s.members.insert(
            (room_id, user_id),
            MemberRow {
                role: Role::Member,
                joined_at,
            },
        );
        if let Some(room) = s.rooms.get_mut(&room_id) {
            room.member_count += 1;
        }
        if let Some(r) = s.invites.get_mut(code) {
            r.invite.uses += 1;
        }
        let event_seq = s.log_at(
            room_id,
            LogEntry::MemberJoined {
                user_id,
                role: Role::Member,
            },
            joined_at,
        );
        Ok(s.member(room_id, user_id)?
            .map(|value| Logged { value, event_seq }))
    }
}
