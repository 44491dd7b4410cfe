//! Direct conversations: one-to-one and small groups, opened by username. They are rooms of
//! kind `direct` (private, no owner powers, no new members), so history, sync, idempotent sends
//! and fan-out are the rooms' own.
use super::{ChatService, DomainResult};
use crate::entities::*;
use crate::error::DomainError;
use crate::events::DomainEvent;
use crate::repository::NewDirect;
use crate::validation::{self, DIRECT_OTHERS_MAX, ROOM_NAME_MAX};

impl ChatService {
    /// Opens the conversation of the caller and these people (1 to
    /// [`DIRECT_OTHERS_MAX`] others; the caller's own name and repeats are ignored). The same
    /// people again, in any order, find the same room: `(room, created)`. Anyone who had left
    /// it is a member again.
    pub fn open_direct(&self, actor: UserId, usernames: &[String]) -> DomainResult<(Room, bool)> {
        let me = self.user(actor)?;
        let mut people = vec![me.clone()];
        for name in usernames {
            let name = validation::username(name).map_err(|e| match e {
                DomainError::Validation { message, .. } => {
                    DomainError::validation("usernames", message)
                }
                other => other,
            })?;
            let user = self
                .repo
                .credentials_by_username(&name)?
                .map(|c| c.user)
                .ok_or_else(|| DomainError::NotFound("user"))?;
            if !people.iter().any(|p| p.id == user.id) {
                people.push(user);
            }
        }
        let others = people.len() - 1;
        if !(1..=DIRECT_OTHERS_MAX).contains(&others) {
            return Err(DomainError::validation(
                "usernames",
                format!("name 1-{DIRECT_OTHERS_MAX} other people"),
            ));
        }
        people.sort_by_key(|p| p.id);
        let key = people
            .iter()
            .map(|p| p.id.to_string())
            .collect::<Vec<_>>()
            .join(",");
        let name: String = people
            .iter()
            .map(|p| p.username.as_str())
            .collect::<Vec<_>>()
            .join(", ")
            .chars()
            .take(ROOM_NAME_MAX)
            .collect();
        let opened = self.repo.open_direct(NewDirect {
            creator: actor,
            members: people.iter().map(|p| p.id).collect(),
            key,
            name,
        })?;
        // Each new member's sockets, on every node, subscribe to the room as on any join.
        for added in opened.added {
            self.events.publish(DomainEvent::MemberJoined {
                room_id: opened.room.id,
                member: added.value,
                event_seq: added.event_seq,
            });
        }
        Ok((opened.room, opened.created))
    }
}
