//! The membership changes the hub handled lately, so a connection that read its rooms from
//! the database while a join or kick was under way still ends up with the right rooms.
//!
//! A connecting socket reads the hub's epoch, then its rooms; between the two reads and its
//! registration, changes may have happened that the rooms read may or may not include. Applying
//! the logged changes since that epoch on top, in order, gives the right outcome either way,
//! and the connection is told of each change that makes a difference.
use std::collections::{HashMap, VecDeque};

use huddle_domain::{RoomCursor, RoomId, UserId};

use crate::link::Outbound;
use crate::protocol::Frame;

/// Membership changes remembered: far more than can happen while one socket sets up.
pub(crate) const MEMBERSHIP_LOG: usize = 10_000;

/// A membership change: `user_id` joined or left `room_id` (`None`: everyone left, the room
/// was deleted), with the frame that told the room.
struct MembershipChange {
    epoch: u64,
    user_id: Option<UserId>,
    room_id: RoomId,
    joined: bool,
    frame: Frame,
}

pub(crate) struct MembershipLog {
    changes: VecDeque<MembershipChange>,
    /// The newest epoch dropped from the log.
    floor: u64,
    capacity: usize,
}

/// A registering connection's rooms, with the logged changes applied.
#[derive(Debug)]
pub(crate) struct CatchUp {
    /// Each room followed, with its last seq when it came from the database read.
    pub cursors: HashMap<RoomId, Option<i64>>,
    /// What to tell the connection, in order: the frames of the changes that made a
    /// difference, and the rooms added or removed.
    pub items: Vec<Outbound>,
    /// Changes since the epoch were dropped from the log: the rooms may be wrong, and the
    /// connection must start over.
    pub incomplete: bool,
}

impl MembershipLog {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            changes: VecDeque::new(),
            floor: 0,
            capacity,
        }
    }

    /// Logs a change; returns its epoch, which the hub then publishes.
    pub(crate) fn record(
        &mut self,
        user_id: Option<UserId>,
        room_id: RoomId,
        joined: bool,
        frame: Frame,
    ) -> u64 {
        let epoch = self.changes.back().map_or(self.floor, |c| c.epoch) + 1;
        self.changes.push_back(MembershipChange {
            epoch,
            user_id,
            room_id,
            joined,
            frame,
        });
        while self.changes.len() > self.capacity {
            if let Some(old) = self.changes.pop_front() {
                self.floor = old.epoch;
            }
        }
        epoch
    }

    /// `user_id`'s rooms as read after epoch `since_epoch`, with the changes since applied.
    pub(crate) fn catch_up(
        &self,
        user_id: UserId,
        rooms: &[RoomCursor],
        since_epoch: u64,
    ) -> CatchUp {
        let mut cursors: HashMap<RoomId, Option<i64>> = rooms
            .iter()
            .map(|c| (c.room_id, Some(c.last_seq)))
            .collect();
        let mut items: Vec<Outbound> = Vec::new();
        for change in self
            .changes
            .iter()
            .filter(|c| c.epoch > since_epoch && c.user_id.is_none_or(|u| u == user_id))
        {
            let had = cursors.contains_key(&change.room_id);
            if change.joined && !had {
                cursors.insert(change.room_id, None);
                items.push(Outbound::RoomAdded(change.room_id));
                items.push(Outbound::Frame(change.frame.clone()));
            } else if !change.joined && had {
                cursors.remove(&change.room_id);
                items.push(Outbound::Frame(change.frame.clone()));
                items.push(Outbound::RoomRemoved(change.room_id));
            }
        }
        CatchUp {
            cursors,
            items,
            incomplete: since_epoch < self.floor,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(room_id: RoomId, last_seq: i64) -> RoomCursor {
        RoomCursor {
            room_id,
            last_seq,
            last_event_seq: last_seq,
        }
    }

    fn describe(items: &[Outbound]) -> Vec<String> {
        items
            .iter()
            .map(|i| match i {
                Outbound::Frame(f) => f.to_string(),
                Outbound::RoomAdded(r) => format!("+{r}"),
                Outbound::RoomRemoved(r) => format!("-{r}"),
                other => format!("{other:?}"),
            })
            .collect()
    }

    #[test]
    fn changes_since_the_epoch_apply_on_top_of_the_read() {
        let mut log = MembershipLog::new(100);
        assert_eq!(log.record(Some(1), 5, true, "old join".into()), 1);
        let since = 1;
        assert_eq!(log.record(Some(1), 6, true, "join 6".into()), 2);
        assert_eq!(log.record(Some(2), 7, true, "bob joins 7".into()), 3);
        assert_eq!(log.record(Some(1), 5, false, "leave 5".into()), 4);
        assert_eq!(log.record(None, 8, false, "8 deleted".into()), 5);
        // Read before the join of 6 and the leave of 5; 8 deleted since.
        let up = log.catch_up(1, &[cursor(5, 10), cursor(8, 3)], since);
        assert_eq!(
            describe(&up.items),
            ["+6", "join 6", "leave 5", "-5", "8 deleted", "-8"]
        );
        assert_eq!(up.cursors, HashMap::from([(6, None)]));
        assert!(!up.incomplete);
    }

    #[test]
    fn changes_the_read_already_has_make_no_difference() {
        let mut log = MembershipLog::new(100);
        log.record(Some(1), 6, true, "join 6".into());
        log.record(Some(1), 9, false, "leave 9".into());
        // The read came after both: it has 6 and not 9.
        let up = log.catch_up(1, &[cursor(6, 2)], 0);
        assert!(up.items.is_empty());
        assert_eq!(up.cursors, HashMap::from([(6, Some(2))]));
    }

    #[test]
    fn a_log_overrun_since_the_epoch_is_reported() {
        let mut log = MembershipLog::new(2);
        for room in 1..=3 {
            log.record(Some(9), room, true, "x".into());
        }
        assert!(log.catch_up(1, &[], 0).incomplete, "epoch 1 was dropped");
        assert!(!log.catch_up(1, &[], 1).incomplete);
        assert_eq!(log.record(Some(9), 4, true, "x".into()), 4, "epochs go on");
    }
}
