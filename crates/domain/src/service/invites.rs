//! Invite links: owners and admins make, list and revoke them; anyone signed in who holds a
//! code may look at the room it opens and join it.
use chrono::{DateTime, TimeDelta, Utc};

use super::{ChatService, DomainResult};
use crate::entities::*;
use crate::error::{DomainError, ErrorCode, RepoError};
use crate::event_log::Logged;
use crate::events::DomainEvent;
use crate::repository::NewInvite;
use crate::validation::{
    INVITES_PER_ROOM_MAX, INVITE_TTL_DEFAULT_S, INVITE_TTL_MAX_S, INVITE_TTL_MIN_S, INVITE_USES_MAX,
};

/// What the creator of an invite may choose.
#[derive(Debug, Clone, Copy, Default)]
pub struct InviteInput {
    /// Seconds until it expires; a week when absent.
    pub expires_in_s: Option<i64>,
    /// How many people it may admit; unlimited (until it expires) when absent.
    pub max_uses: Option<i64>,
}

fn expired() -> DomainError {
    DomainError::conflict(
        ErrorCode::InviteExpired,
        "this invite has expired or been used up",
    )
}

/// A code that cannot be an invite's is answered like an unknown one, without a look-up.
fn plausible(code: &str) -> DomainResult<&str> {
    let ok = (1..=64).contains(&code.len())
        && code
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if ok {
        Ok(code)
    } else {
        Err(DomainError::NotFound("invite"))
    }
}

impl ChatService {
    /// `code` is the new invite's secret, made by the caller from a CSPRNG (the domain does no
    /// I/O, randomness included).
    pub fn create_invite(
        &self,
        actor: UserId,
        room_id: RoomId,
        input: InviteInput,
        code: String,
    ) -> DomainResult<Invite> {
        self.manager_role(actor, room_id)?;
        let ttl = input.expires_in_s.unwrap_or(INVITE_TTL_DEFAULT_S);
        if !(INVITE_TTL_MIN_S..=INVITE_TTL_MAX_S).contains(&ttl) {
            return Err(DomainError::validation(
                "expires_in_s",
                format!("expires_in_s must be {INVITE_TTL_MIN_S}-{INVITE_TTL_MAX_S} seconds"),
            ));
        }
        if let Some(max) = input.max_uses {
            if !(1..=INVITE_USES_MAX).contains(&max) {
                return Err(DomainError::validation(
                    "max_uses",
                    format!("max_uses must be 1-{INVITE_USES_MAX}"),
                ));
            }
        }
        let now = Utc::now();
        if self.repo.live_invites(room_id, now)?.len() >= INVITES_PER_ROOM_MAX {
            return Err(DomainError::conflict(
                ErrorCode::Conflict,
                format!(
                    "a room may have at most {INVITES_PER_ROOM_MAX} live invites; revoke one first"
                ),
            ));
        }
        Ok(self.repo.create_invite(NewInvite {
            code,
            room_id,
            created_by: actor,
            expires_at: now + TimeDelta::seconds(ttl),
            max_uses: input.max_uses,
        })?)
    }

    pub fn list_invites(&self, actor: UserId, room_id: RoomId) -> DomainResult<Vec<Invite>> {
        self.manager_role(actor, room_id)?;
        Ok(self.repo.live_invites(room_id, Utc::now())?)
    }

    pub fn revoke_invite(&self, actor: UserId, room_id: RoomId, code: &str) -> DomainResult<()> {
        self.manager_role(actor, room_id)?;
        if self.repo.revoke_invite(room_id, plausible(code)?)? {
            Ok(())
        } else {
            Err(DomainError::NotFound("invite"))
        }
    }

    /// The invite behind a code, if it is not revoked (revoked and unknown read the same).
    fn unrevoked(&self, code: &str) -> DomainResult<Invite> {
        match self.repo.invite_by_code(plausible(code)?)? {
            Some(InviteRecord {
                invite,
                revoked_at: None,
            }) => Ok(invite),
            _ => Err(DomainError::NotFound("invite")),
        }
    }

    pub fn preview_invite(&self, code: &str) -> DomainResult<InvitePreview> {
        let invite = self.unrevoked(code)?;
        if invite.is_spent(Utc::now()) {
            return Err(expired());
        }
        let room = self
            .repo
            .room_by_id(invite.room_id)?
            .ok_or(DomainError::NotFound("invite"))?;
        Ok(InvitePreview {
            room: RoomPreview {
                id: room.id,
                name: room.name,
                description: room.description,
                member_count: room.member_count,
            },
            expires_at: invite.expires_at,
        })
    }

    /// Joins the invite's room. Someone already in it gets their membership back and spends
    /// no use, so opening a link twice is harmless.
    pub fn accept_invite(&self, actor: UserId, code: &str) -> DomainResult<Member> {
        let invite = self.unrevoked(code)?;
        let existing =
            |room_id| -> DomainResult<Option<Member>> { Ok(self.repo.member(room_id, actor)?) };
        if let Some(member) = existing(invite.room_id)? {
            return Ok(member);
        }
        let now: DateTime<Utc> = Utc::now();
        if invite.is_spent(now) {
            return Err(expired());
        }
        match self.repo.redeem_invite(&invite.code, actor, now) {
            Ok(Some(Logged {
                value: member,
                event_seq,
            })) => {
                self.events.publish(DomainEvent::MemberJoined {
                    room_id: invite.room_id,
                    member: member.clone(),
                    event_seq,
                });
                Ok(member)
            }
            // Revoked, expired or used up since the look-up: say which.
            Ok(None) => {
                self.unrevoked(code)?;
                Err(expired())
            }
            Err(RepoError::Conflict(_)) => {
                existing(invite.room_id)?.ok_or(DomainError::NotFound("invite"))
            }
            Err(e) => Err(e.into()),
        }
    }
}
