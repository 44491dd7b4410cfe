//! One followed room in the hub: which connections follow it here, and its message order.
//! Messages are released in `seq` order; a missing one is waited for a moment
//! ([`RealtimeConfig::gap_wait`](crate::config::RealtimeConfig::gap_wait)), then read from the
//! database, and skipped only when the database lacks it too, so a room is never held forever.
use std::collections::HashSet;

use huddle_domain::{DomainEvent, Message, RoomId};

use crate::link::ConnId;
use crate::protocol::{self, Frame};
use crate::sequencer::Sequencer;

/// Messages released in order: each one's seq, with its event seq and frame.
pub(crate) type Released = Vec<(i64, (i64, Frame))>;

/// A read of the database for a room's missing messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GapRead {
    pub after: i64,
    pub limit: usize,
    /// The last seq the read is for (see [`RoomState::filled`]).
    pub missing_up_to: i64,
}

pub(crate) struct RoomState {
    pub conns: HashSet<ConnId>,
    sequencer: Sequencer<(i64, Frame)>,
    /// A gap check is scheduled or its read is running: at most one at a time per room.
    gap_check_pending: bool,
}

impl RoomState {
    /// `last_seq`: the newest seq the followers have (from the database), if known.
    pub(crate) fn new(last_seq: Option<i64>) -> Self {
        Self {
            conns: HashSet::new(),
            sequencer: Sequencer::new(last_seq),
            gap_check_pending: false,
        }
    }

    /// A live message: what it releases.
    pub(crate) fn offer(&mut self, seq: i64, event_seq: i64, frame: Frame) -> Released {
        self.sequencer.offer(seq, (event_seq, frame))
    }

    /// The highest seq released, for a catch-up read after a bus outage.
    pub(crate) fn released_up_to(&self) -> Option<i64> {
        self.sequencer.released_up_to()
    }

    /// Whether to schedule a gap check now: something waits on a gap and no check is pending.
    pub(crate) fn wants_gap_check(&mut self) -> bool {
        if self.sequencer.gap().is_none() || self.gap_check_pending {
            return false;
        }
        self.gap_check_pending = true;
        true
    }

    /// The scheduled check: the read to make if the gap is still there.
    pub(crate) fn gap_read(&mut self) -> Option<GapRead> {
        let Some((after, before)) = self.sequencer.gap() else {
            self.gap_check_pending = false;
            return None;
        };
        self.gap_check_pending = true;
        Some(GapRead {
            after,
            limit: usize::try_from(before - after - 1).unwrap_or(1).max(1),
            missing_up_to: before - 1,
        })
    }

    /// Messages read from the database: what they release. When the read was for a gap
    /// (`missing_up_to`) and that gap is still open, the database does not have it either:
    /// it is skipped. Only that gap; a newer one gets its own wait.
    pub(crate) fn filled(
        &mut self,
        room_id: RoomId,
        messages: Vec<Message>,
        missing_up_to: Option<i64>,
    ) -> Released {
        self.gap_check_pending = false;
        let mut ready = Vec::new();
        for m in messages {
            let (seq, event_seq) = (m.seq, m.event_seq);
            let frame = protocol::event_frame(&DomainEvent::MessageCreated {
                room_id,
                message: m,
                event_seq,
            });
            ready.extend(self.sequencer.offer(seq, (event_seq, frame)));
        }
        let still_missing = missing_up_to
            .is_some_and(|upto| self.sequencer.released_up_to().is_some_and(|r| r < upto));
        if still_missing {
            tracing::warn!(room_id, "gap not in the database either; skipping it");
            ready.extend(self.sequencer.skip_gap());
        }
        ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing;

    fn seqs(r: &Released) -> Vec<i64> {
        r.iter().map(|(s, _)| *s).collect()
    }

    fn f(seq: i64) -> Frame {
        Frame::from(seq.to_string())
    }

    #[test]
    fn a_gap_is_checked_once_then_read_then_filled() {
        let mut room = RoomState::new(Some(1));
        assert_eq!(seqs(&room.offer(2, 2, f(2))), [2]);
        assert!(!room.wants_gap_check(), "no gap");
        assert!(room.offer(5, 5, f(5)).is_empty());
        assert!(room.wants_gap_check());
        assert!(!room.wants_gap_check(), "one check at a time");
        assert_eq!(
            room.gap_read(),
            Some(GapRead {
                after: 2,
                limit: 2,
                missing_up_to: 4
            })
        );
        assert!(!room.wants_gap_check(), "its read is running");
        let read = testing::messages(7, 3..=4);
        let released = room.filled(7, read, Some(4));
        assert_eq!(seqs(&released), [3, 4, 5]);
        assert!(released[0].1 .1.contains("\"message.created\""));
        assert_eq!(room.released_up_to(), Some(5));
        assert!(!room.wants_gap_check());
    }

    #[test]
    fn a_gap_the_database_lacks_is_skipped_but_a_newer_one_waits() {
        let mut room = RoomState::new(Some(0));
        assert!(room.offer(3, 3, f(3)).is_empty());
        assert!(room.wants_gap_check());
        let read = room.gap_read().unwrap();
        assert_eq!((read.after, read.missing_up_to), (0, 2));
        // The database has 1 only: 2 is skipped, 3 goes out.
        let released = room.filled(7, testing::messages(7, 1..=1), Some(read.missing_up_to));
        assert_eq!(seqs(&released), [1, 3]);

        let mut room = RoomState::new(Some(0));
        assert!(room.offer(2, 2, f(2)).is_empty());
        assert!(room.wants_gap_check());
        assert!(room.offer(9, 9, f(9)).is_empty());
        // The read for 1 finds it; the gap before 9 is newer and is not skipped.
        let released = room.filled(7, testing::messages(7, 1..=1), Some(1));
        assert_eq!(seqs(&released), [1, 2]);
        assert!(room.wants_gap_check(), "the newer gap gets its own wait");
    }

    #[test]
    fn a_check_finding_the_gap_closed_reads_nothing() {
        let mut room = RoomState::new(Some(0));
        assert!(room.offer(2, 2, f(2)).is_empty());
        assert!(room.wants_gap_check());
        assert_eq!(seqs(&room.offer(1, 1, f(1))), [1, 2]);
        assert_eq!(room.gap_read(), None);
        assert!(!room.wants_gap_check());
    }

    #[test]
    fn a_catch_up_read_never_skips() {
        let mut room = RoomState::new(Some(0));
        assert!(room.offer(3, 3, f(3)).is_empty());
        let released = room.filled(7, testing::messages(7, 1..=1), None);
        assert_eq!(seqs(&released), [1]);
        assert_eq!(room.released_up_to(), Some(1));
    }
}
