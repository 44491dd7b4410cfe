//! Replaying a room's log to a member who was away: every change since the point they name, as
//! the same events live delivery sends.
use std::collections::HashMap;

use super::{ChatService, DomainResult};
use crate::entities::*;
use crate::event_log::{LogEntry, LogPage, LogSlice};
use crate::events::DomainEvent;

impl ChatService {
    /// The room's events after `after`, oldest first, at most `limit`, for a member. Messages
    /// are shown as they are now, with `viewer`'s reactions; an entry whose message or user is
    /// gone is skipped.
    pub fn events_after(
        &self,
        actor: UserId,
        room_id: RoomId,
        after: i64,
        limit: usize,
    ) -> DomainResult<LogPage> {
        self.member_role(actor, room_id)?;
        let (entries, has_more) = match self.repo.log_after(room_id, after.max(0), limit)? {
            LogSlice::Reset => return Ok(LogSlice::Reset),
            LogSlice::Entries { items, has_more } => (items, has_more),
        };
        let mut ids: Vec<MessageId> = entries
            .iter()
            .filter_map(|e| e.entry.message_id())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        let mut messages = self.repo.messages_by_ids(room_id, &ids)?;
        self.with_reactions(actor, &mut messages)?;
        let messages: HashMap<MessageId, Message> =
            messages.into_iter().map(|m| (m.id, m)).collect();
        let room = if entries.iter().any(|e| e.entry == LogEntry::RoomUpdated) {
            self.repo.room_by_id(room_id)?
        } else {
            None
        };
        let mut users: HashMap<UserId, Option<User>> = HashMap::new();
        let mut items = Vec::with_capacity(entries.len());
        for logged in entries {
            let event_seq = logged.event_seq;
            let message = logged.entry.message_id().and_then(|id| messages.get(&id));
            let event = match logged.entry {
                LogEntry::MessageCreated { .. } => message.map(|m| DomainEvent::MessageCreated {
                    room_id,
                    message: m.clone(),
                    event_seq,
                }),
                LogEntry::MessageUpdated { .. } => message.map(|m| DomainEvent::MessageUpdated {
                    room_id,
                    message: m.clone(),
                    event_seq,
                }),
                LogEntry::MessageDeleted { message_id } => {
                    message.map(|m| DomainEvent::MessageDeleted {
                        room_id,
                        message_id,
                        seq: m.seq,
                        event_seq,
                    })
                }
                LogEntry::ReactionAdded {
                    message_id,
                    user_id,
                    emoji,
                } => message.map(|m| DomainEvent::ReactionAdded {
                    room_id,
                    message_id,
                    seq: m.seq,
                    emoji,
                    user_id,
                    event_seq,
                }),
                LogEntry::ReactionRemoved {
                    message_id,
                    user_id,
                    emoji,
                } => message.map(|m| DomainEvent::ReactionRemoved {
                    room_id,
                    message_id,
                    seq: m.seq,
                    emoji,
                    user_id,
                    event_seq,
                }),
                LogEntry::MemberJoined { user_id, role } => {
                    let user = match users.get(&user_id) {
                        Some(known) => known.clone(),
                        None => {
                            let found = self.repo.user_by_id(user_id)?;
                            users.insert(user_id, found.clone());
                            found
                        }
                    };
                    user.map(|user| DomainEvent::MemberJoined {
                        room_id,
                        member: Member {
                            user,
                            role,
                            joined_at: logged.at,
                        },
                        event_seq,
                    })
                }
                LogEntry::MemberLeft { user_id } => Some(DomainEvent::MemberLeft {
                    room_id,
                    user_id,
                    event_seq,
                }),
                LogEntry::RoomUpdated => room.as_ref().map(|room| DomainEvent::RoomUpdated {
                    room: room.clone(),
                    event_seq,
                }),
            };
            items.extend(event);
        }
        Ok(LogSlice::Entries { items, has_more })
    }

    /// Forgets logged changes older than `retention`, for the server's periodic clean-up.
    pub fn prune_event_log(&self, retention: std::time::Duration) -> DomainResult<u64> {
        let retention = chrono::TimeDelta::from_std(retention).unwrap_or(chrono::TimeDelta::MAX);
        let before = chrono::Utc::now()
            .checked_sub_signed(retention)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::MIN_UTC);
        Ok(self.repo.prune_log(before)?)
    }
}
