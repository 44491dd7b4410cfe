use std::ops::Bound;

use super::{next, MemberRow, MemoryRepository};
use crate::entities::*;
use crate::error::RepoError;
use crate::event_log::{LogEntry, Logged};
use crate::repository::{
    DirectOpened, NewDirect, NewRoom, RepoResult, RoomPatch, RoomQuery, RoomRepository,
};

impl RoomRepository for MemoryRepository {
    fn create_room(&self, new: NewRoom) -> RepoResult<Room> {
        let mut s = self.lock()?;
        if !s.users.contains_key(&new.owner_id) {
            return Err(RepoError::NotFound);
        }
        let now = s.now();
        let id = next(&mut s.last_ids.room);
        let room = Room {
            id,
            name: new.name,
            description: new.description,
            is_private: new.is_private,
            kind: RoomKind::Group,
            owner_id: new.owner_id,
            member_count: 1,
            last_seq: 0,
            created_at: now,
            updated_at: now,
        };
        s.rooms.insert(id, room.clone());
        s.members.insert(
            (id, new.owner_id),
            MemberRow {
                role: Role::Owner,
                joined_at: now,
            },
        );
        s.log_at(
            id,
            LogEntry::MemberJoined {
                user_id: new.owner_id,
                role: Role::Owner,
            },
            now,
        );
        Ok(room)
    }

    fn room_by_id(&self, id: RoomId) -> RepoResult<Option<Room>> {
        Ok(self.lock()?.rooms.get(&id).cloned())
    }

    fn open_direct(&self, new: NewDirect) -> RepoResult<DirectOpened> {
        let mut s = self.lock()?;
        if new.members.iter().any(|u| !s.users.contains_key(u)) {
            return Err(RepoError::NotFound);
        }
        let now = s.now();
        let (id, created) = match s.directs.get(&new.key) {
            Some(&id) => (id, false),
            None => {
                let id = next(&mut s.last_ids.room);
                let room = Room {
                    id,
                    name: new.name,
                    description: String::new(),
                    is_private: true,
                    kind: RoomKind::Direct,
                    owner_id: new.creator,
                    member_count: 0,
                    last_seq: 0,
                    created_at: now,
                    updated_at: now,
                };
                s.rooms.insert(id, room);
                s.directs.insert(new.key, id);
                (id, true)
            }
        };
        let mut added = Vec::new();
        for user in new.members {
            if let std::collections::btree_map::Entry::Vacant(slot) = s.members.entry((id, user)) {
                slot.insert(MemberRow {
                    role: Role::Member,
                    joined_at: now,
                });
                if let Some(room) = s.rooms.get_mut(&id) {
                    room.member_count += 1;
                }
                let event_seq = s.log_at(
                    id,
                    LogEntry::MemberJoined {
                        user_id: user,
                        role: Role::Member,
                    },
                    now,
                );
                if let Some(value) = s.member(id, user)? {
                    added.push(Logged { value, event_seq });
                }
            }
        }
        let room = s.rooms.get(&id).cloned().ok_or(RepoError::NotFound)?;
        Ok(DirectOpened {
            room,
            created,
            added,
        })
    }

    /// The name filter lowercases both sides as Rust does, like PostgreSQL's `lower` (SQLite's
    /// lowers ASCII only).
    fn list_rooms(&self, query: RoomQuery) -> RepoResult<Vec<Room>> {
        let s = self.lock()?;
        let needle = query.name_contains.as_deref().map(str::to_lowercase);
        let from = query.after_id.map_or(Bound::Unbounded, Bound::Excluded);
        Ok(s.rooms
            .range((from, Bound::Unbounded))
            .map(|(_, room)| room)
            .filter(|room| {
                let joined = s.members.contains_key(&(room.id, query.viewer));
                if query.only_joined {
                    joined
                } else {
                    joined || !room.is_private
                }
            })
            .filter(|room| {
                needle
                    .as_deref()
                    .is_none_or(|n| room.name.to_lowercase().contains(n))
            })
            .filter(|room| query.kind.is_none_or(|k| room.kind == k))
            .take(query.limit)
            .cloned()
            .collect())
    }

    fn update_room(&self, id: RoomId, patch: RoomPatch) -> RepoResult<Logged<Room>> {
        let mut s = self.lock()?;
        if !s.rooms.contains_key(&id) {
            return Err(RepoError::NotFound);
        }
        let now = s.now();
        let room = s.rooms.get_mut(&id).ok_or(RepoError::NotFound)?;
        if let Some(name) = patch.name {
            room.name = name;
        }
        if let Some(description) = patch.description {
            room.description = description;
        }
        if let Some(is_private) = patch.is_private {
            room.is_private = is_private;
        }
        room.updated_at = now;
        let value = room.clone();
        let event_seq = s.log(id, LogEntry::RoomUpdated);
        Ok(Logged { value, event_seq })
    }

    fn delete_room(&self, id: RoomId) -> RepoResult<()> {
        let mut s = self.lock()?;
        if s.rooms.remove(&id).is_none() {
            return Err(RepoError::NotFound);
        }
        s.members.retain(|(room, _), _| *room != id);
        let gone: Vec<MessageId> = s
            .messages
            .iter()
            .filter(|(_, m)| m.room_id == id)
            .map(|(&mid, _)| mid)
            .collect();
        s.reactions.retain(|r| !gone.contains(&r.message_id));
        let files: Vec<String> = gone
            .iter()
            .filter_map(|mid| s.messages.get(mid))
            .flat_map(|m| m.attachments.iter().map(|a| a.id.clone()))
            .collect();
        s.file_trash.extend(files);
        s.messages.retain(|_, m| m.room_id != id);
        s.by_seq.retain(|(room, _), _| *room != id);
        s.by_client_id.retain(|(room, _, _), _| *room != id);
        s.invites.retain(|_, i| i.invite.room_id != id);
        s.directs.retain(|_, room| *room != id);
        s.reads.retain(|(room, _), _| *room != id);
        s.log.retain(|(room, _), _| *room != id);
        s.event_offsets.remove(&id);
        s.log_floors.remove(&id);
        Ok(())
    }

    fn role_of(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Role>> {
        Ok(self
            .lock()?
            .members
            .get(&(room_id, user_id))
            .map(|m| m.role))
    }

    fn room_with_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> RepoResult<Option<(Room, Option<Role>)>> {
        let s = self.lock()?;
        Ok(s.rooms.get(&room_id).map(|room| {
            let role = s.members.get(&(room_id, user_id)).map(|m| m.role);
            (room.clone(), role)
        }))
    }

    fn member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Member>> {
        self.lock()?.member(room_id, user_id)
    }

    fn add_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> RepoResult<Logged<Member>> {
        let mut s = self.lock()?;
        if !s.rooms.contains_key(&room_id) || !s.users.contains_key(&user_id) {
            return Err(RepoError::NotFound);
        }
        if s.members.contains_key(&(room_id, user_id)) {
            return Err(RepoError::Conflict("member"));
        }
        let joined_at = s.now();
        s.members
            .insert((room_id, user_id), MemberRow { role, joined_at });
        if let Some(room) = s.rooms.get_mut(&room_id) {
            room.member_count += 1;
        }
        let event_seq = s.log_at(room_id, LogEntry::MemberJoined { user_id, role }, joined_at);
        let value = s.member(room_id, user_id)?.ok_or(RepoError::NotFound)?;
        Ok(Logged { value, event_seq })
    }

    fn remove_member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<i64>> {
        let mut s = self.lock()?;
        if s.members.remove(&(room_id, user_id)).is_none() {
            return Ok(None);
        }
        if let Some(room) = s.rooms.get_mut(&room_id) {
            room.member_count -= 1;
        }
        Ok(Some(s.log(room_id, LogEntry::MemberLeft { user_id })))
    }

    fn set_role(&self, room_id: RoomId, user_id: UserId, role: Role) -> RepoResult<Member> {
        let mut s = self.lock()?;
        let row = s
            .members
            .get_mut(&(room_id, user_id))
            .ok_or(RepoError::NotFound)?;
        row.role = role;
        s.member(room_id, user_id)?.ok_or(RepoError::NotFound)
    }

    fn list_members(
        &self,
        room_id: RoomId,
        after_user: Option<UserId>,
        limit: usize,
    ) -> RepoResult<Vec<Member>> {
        let s = self.lock()?;
        let from = after_user.map_or(Bound::Included((room_id, UserId::MIN)), |u| {
            Bound::Excluded((room_id, u))
        });
        s.members
            .range((from, Bound::Included((room_id, UserId::MAX))))
            .take(limit)
            .map(|(&(room, user), _)| s.member(room, user)?.ok_or(RepoError::NotFound))
            .collect()
    }

    fn rooms_of_user(&self, user_id: UserId) -> RepoResult<Vec<RoomCursor>> {
        let s = self.lock()?;
        Ok(s.members
            .keys()
            .filter(|(_, user)| *user == user_id)
            .filter_map(|(room, _)| s.rooms.get(room))
            .map(|room| RoomCursor {
                room_id: room.id,
                last_seq: room.last_seq,
                last_event_seq: s.last_event_seq(room.id),
            })
            .collect())
    }
}
