//! Emoji reactions: any member reacts to a live message, once per emoji.
use super::{ChatService, DomainResult};
use crate::entities::*;
use crate::error::{DomainError, ErrorCode, RepoError};
use crate::events::DomainEvent;
use crate::validation::{self, REACTIONS_PER_MESSAGE_MAX};

impl ChatService {
    /// Adds (`on`) or removes the caller's reaction. Idempotent: doing it twice changes nothing
    /// and announces nothing the second time.
    pub fn react(
        &self,
        actor: UserId,
        room_id: RoomId,
        message_id: MessageId,
        emoji: &str,
        on: bool,
    ) -> DomainResult<()> {
        let emoji = validation::emoji(emoji)?;
        let (_, message) = self.own_message(actor, room_id, message_id)?;
        if message.deleted {
            return Err(DomainError::conflict(
                ErrorCode::Conflict,
                "a deleted message takes no reactions",
            ));
        }
        let changed = if on {
            self.repo
                .add_reaction(message_id, actor, &emoji)
                .map_err(|e| match e {
                    RepoError::Conflict(_) => DomainError::conflict(
                        ErrorCode::Conflict,
                        format!(
                            "a message takes at most {REACTIONS_PER_MESSAGE_MAX} different emoji"
                        ),
                    ),
                    other => other.into(),
                })?
        } else {
            self.repo.remove_reaction(message_id, actor, &emoji)?
        };
        if let Some(event_seq) = changed {
            let (room_id, seq, user_id) = (room_id, message.seq, actor);
            self.events.publish(if on {
                DomainEvent::ReactionAdded {
                    room_id,
                    message_id,
                    seq,
                    emoji,
                    user_id,
                    event_seq,
                }
            } else {
                DomainEvent::ReactionRemoved {
                    room_id,
                    message_id,
                    seq,
                    emoji,
                    user_id,
                    event_seq,
                }
            });
        }
        Ok(())
    }

    /// Fills each message's reactions as `viewer` sees them (`me`).
    pub(super) fn with_reactions(
        &self,
        viewer: UserId,
        messages: &mut [Message],
    ) -> DomainResult<()> {
        let ids: Vec<MessageId> = messages.iter().map(|m| m.id).collect();
        let mut all = self.repo.reactions(&ids, viewer)?;
        for m in messages {
            m.reactions = all.remove(&m.id).unwrap_or_default();
        }
        Ok(())
    }
}
