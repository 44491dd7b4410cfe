//! Read state: how far each member has read, their unread counts, and read receipts for
//! those who share them.
use super::{ChatService, DomainResult};
use crate::entities::*;
use crate::error::DomainError;
use crate::events::DomainEvent;

impl ChatService {
    /// Moves the caller's read mark forward to `seq` (past the newest message counts as the
    /// newest; going back changes nothing). The room's state for the caller after it.
    pub fn mark_read(&self, actor: UserId, room_id: RoomId, seq: i64) -> DomainResult<Unread> {
        if seq < 0 {
            return Err(DomainError::validation("seq", "seq must be 0 or more"));
        }
        let (room, _) = self.member_role(actor, room_id)?;
        let seq = seq.min(room.last_seq);
        if let Some(last_read_seq) = self.repo.mark_read(room_id, actor, seq)? {
            self.events.publish(DomainEvent::ReadUpdated {
                room_id,
                user_id: actor,
                last_read_seq,
                shared: self.repo.shares_read_receipts(actor)?,
            });
        }
        self.unread_of(actor, &[room_id])?
            .pop()
            .ok_or(DomainError::NotFound("room"))
    }

    /// The caller's unread state in these rooms (the caller's own rooms; callers pass those).
    pub fn unread_of(&self, actor: UserId, room_ids: &[RoomId]) -> DomainResult<Vec<Unread>> {
        Ok(self.repo.unread(actor, room_ids)?)
    }

    /// Read receipts: how far each member who shares them has read.
    pub fn read_marks(&self, actor: UserId, room_id: RoomId) -> DomainResult<Vec<ReadMark>> {
        self.member_role(actor, room_id)?;
        Ok(self.repo.shared_read_marks(room_id)?)
    }

    pub fn shares_read_receipts(&self, actor: UserId) -> DomainResult<bool> {
        Ok(self.repo.shares_read_receipts(actor)?)
    }

    pub fn set_shares_read_receipts(&self, actor: UserId, share: bool) -> DomainResult<()> {
        Ok(self.repo.set_shares_read_receipts(actor, share)?)
    }
}
