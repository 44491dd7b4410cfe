use std::ops::Bound;

use chrono::{DateTime, Utc};

use super::{MemoryRepository, State};
use crate::entities::*;
use crate::event_log::{LogEntry, LogSlice, LoggedEntry};
use crate::repository::{EventLogRepository, RepoResult};

impl State {
    /// Logs a change to the room: its next `event_seq`, as the database's row lock hands it out.
    pub(super) fn log(&mut self, room_id: RoomId, entry: LogEntry) -> i64 {
        let at = self.now();
        self.log_at(room_id, entry, at)
    }

    /// [`log`](Self::log) at the time of the change itself (a member's `joined_at`).
    pub(super) fn log_at(&mut self, room_id: RoomId, entry: LogEntry, at: DateTime<Utc>) -> i64 {
        let offset = self.event_offsets.entry(room_id).or_default();
        *offset += 1;
        let event_seq = self.last_event_seq(room_id);
        self.log.insert((room_id, event_seq), (at, entry));
        event_seq
    }

    pub(super) fn last_event_seq(&self, room_id: RoomId) -> i64 {
        let last_seq = self.rooms.get(&room_id).map_or(0, |r| r.last_seq);
        last_seq + self.event_offsets.get(&room_id).copied().unwrap_or(0)
    }
}

impl EventLogRepository for MemoryRepository {
    fn log_after(
        &self,
        room_id: RoomId,
        after: i64,
        limit: usize,
    ) -> RepoResult<LogSlice<LoggedEntry>> {
        let s = self.lock()?;
        if after < s.log_floors.get(&room_id).copied().unwrap_or(0) {
            return Ok(LogSlice::Reset);
        }
        let mut items: Vec<LoggedEntry> = s
            .log
            .range((
                Bound::Excluded((room_id, after)),
                Bound::Included((room_id, i64::MAX)),
            ))
            .take(limit + 1)
            .map(|(&(_, event_seq), (at, entry))| LoggedEntry {
                event_seq,
                at: *at,
                entry: entry.clone(),
            })
            .collect();
        let created = s
            .by_seq
            .range((
                Bound::Included((room_id, i64::MIN)),
                Bound::Included((room_id, i64::MAX)),
            ))
            .rev()
            .filter_map(|(_, id)| s.messages.get(id).map(|m| (*id, m)))
            .take_while(|(_, m)| m.event_seq > after);
        items.extend(created.map(|(id, m)| LoggedEntry {
            event_seq: m.event_seq,
            at: m.created_at,
            entry: LogEntry::MessageCreated { message_id: id },
        }));
        items.sort_by_key(|e| e.event_seq);
        let has_more = items.len() > limit;
        items.truncate(limit);
        Ok(LogSlice::Entries { items, has_more })
    }

    fn prune_log(&self, before: DateTime<Utc>) -> RepoResult<u64> {
        let mut s = self.lock()?;
        let doomed: Vec<(RoomId, i64)> = s
            .log
            .iter()
            .filter(|(_, (at, _))| *at < before)
            .map(|(key, _)| *key)
            .collect();
        for (room_id, event_seq) in &doomed {
            s.log.remove(&(*room_id, *event_seq));
            let floor = s.log_floors.entry(*room_id).or_default();
            *floor = (*floor).max(*event_seq);
        }
        Ok(doomed.len() as u64)
    }
}
