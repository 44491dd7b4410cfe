use super::MemoryRepository;
use crate::entities::*;
use crate::error::RepoError;
use crate::repository::{ReadRepository, RepoResult};

impl ReadRepository for MemoryRepository {
    fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: i64) -> RepoResult<Option<i64>> {
        let mut s = self.lock()?;
        if !s.rooms.contains_key(&room_id) || !s.users.contains_key(&user_id) {
            return Err(RepoError::NotFound);
        }
        let mark = s.reads.entry((room_id, user_id)).or_insert(0);
        if seq > *mark {
            *mark = seq;
            Ok(Some(seq))
        } else {
            Ok(None)
        }
    }

    fn shared_read_marks(&self, room_id: RoomId) -> RepoResult<Vec<ReadMark>> {
        let s = self.lock()?;
        Ok(s.reads
            .range((room_id, UserId::MIN)..=(room_id, UserId::MAX))
            .filter(|((_, user), _)| {
                s.members.contains_key(&(room_id, *user)) && !s.private_reads.contains(user)
            })
            .map(|(&(_, user_id), &last_read_seq)| ReadMark {
                user_id,
                last_read_seq,
            })
            .collect())
    }

    fn unread(&self, user_id: UserId, room_ids: &[RoomId]) -> RepoResult<Vec<Unread>> {
        let s = self.lock()?;
        Ok(room_ids
            .iter()
            .map(|&room_id| {
                let last_read_seq = s.reads.get(&(room_id, user_id)).copied().unwrap_or(0);
                let unread = s.messages.values().filter(|m| {
                    m.room_id == room_id
                        && m.seq > last_read_seq
                        && m.author_id != user_id
                        && !m.deleted
                });
                let (mut unread_count, mut mention_count) = (0, 0);
                for m in unread {
                    unread_count += 1;
                    if m.mentions_room || m.mentions.contains(&user_id) {
                        mention_count += 1;
                    }
                }
                Unread {
                    room_id,
                    last_read_seq,
                    unread_count,
                    mention_count,
                }
            })
            .collect())
    }

    fn shares_read_receipts(&self, user_id: UserId) -> RepoResult<bool> {
        let s = self.lock()?;
        if !s.users.contains_key(&user_id) {
            return Err(RepoError::NotFound);
        }
        Ok(!s.private_reads.contains(&user_id))
    }

    fn set_shares_read_receipts(&self, user_id: UserId, share: bool) -> RepoResult<()> {
        let mut s = self.lock()?;
        if !s.users.contains_key(&user_id) {
            return Err(RepoError::NotFound);
        }
        if share {
            s.private_reads.remove(&user_id);
        } else {
            s.private_reads.insert(user_id);
        }
        Ok(())
    }
}
