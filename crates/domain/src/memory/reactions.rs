use std::collections::HashMap;

use super::{MemoryRepository, ReactionRow};
use crate::entities::*;
use crate::error::RepoError;
use crate::event_log::LogEntry;
use crate::repository::{ReactionRepository, RepoResult};
use crate::validation::REACTIONS_PER_MESSAGE_MAX;

impl ReactionRepository for MemoryRepository {
    fn add_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> RepoResult<Option<i64>> {
        let mut s = self.lock()?;
        if !s.users.contains_key(&user_id) {
            return Err(RepoError::NotFound);
        }
        let Some(room_id) = s.messages.get(&message_id).map(|m| m.room_id) else {
            return Err(RepoError::NotFound);
        };
        let on_message = || s.reactions.iter().filter(|r| r.message_id == message_id);
        if on_message().any(|r| r.user_id == user_id && r.emoji == emoji) {
            return Ok(None);
        }
        let mut emojis: Vec<&str> = on_message().map(|r| r.emoji.as_str()).collect();
        emojis.sort_unstable();
        emojis.dedup();
        if !emojis.contains(&emoji) && emojis.len() >= REACTIONS_PER_MESSAGE_MAX {
            return Err(RepoError::Conflict("reactions"));
        }
        s.reactions.push(ReactionRow {
            message_id,
            user_id,
            emoji: emoji.to_owned(),
        });
        Ok(Some(s.log(
            room_id,
            LogEntry::ReactionAdded {
                message_id,
                user_id,
                emoji: emoji.to_owned(),
            },
        )))
    }

    fn remove_reaction(
        &self,
        message_id: MessageId,
        user_id: UserId,
        emoji: &str,
    ) -> RepoResult<Option<i64>> {
        let mut s = self.lock()?;
        let before = s.reactions.len();
        s.reactions
            .retain(|r| !(r.message_id == message_id && r.user_id == user_id && r.emoji == emoji));
        let Some(room_id) = s.messages.get(&message_id).map(|m| m.room_id) else {
            return Ok(None);
        };
        if s.reactions.len() == before {
            return Ok(None);
        }
        Ok(Some(s.log(
            room_id,
            LogEntry::ReactionRemoved {
                message_id,
                user_id,
                emoji: emoji.to_owned(),
            },
        )))
    }

    fn reactions(
        &self,
        message_ids: &[MessageId],
        viewer: UserId,
    ) -> RepoResult<HashMap<MessageId, Vec<Reaction>>> {
        let s = self.lock()?;
        let mut out: HashMap<MessageId, Vec<Reaction>> = HashMap::new();
        for r in s
            .reactions
            .iter()
            .filter(|r| message_ids.contains(&r.message_id))
        {
            let list = out.entry(r.message_id).or_default();
            let i = match list.iter().position(|x| x.emoji == r.emoji) {
                Some(i) => i,
                None => {
                    list.push(Reaction {
                        emoji: r.emoji.clone(),
                        count: 0,
                        user_ids: Vec::new(),
                        me: false,
                    });
                    list.len() - 1
                }
            };
            let entry = &mut list[i];
            entry.count += 1;
            entry.me |= r.user_id == viewer;
            if entry.user_ids.len() < REACTION_USERS_SHOWN {
                entry.user_ids.push(r.user_id);
            }
        }
        Ok(out)
    }
}
