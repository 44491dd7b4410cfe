//! What one connection has been sent, per room, so that live delivery and `sync` replay
//! together give each message exactly once, and in order whenever the client syncs right
//! after `ready` (live messages are held until the replay has gone out). Edits and deletes of
//! a held room's messages are held with them, so they never overtake the message they change.
//!
//! A room resumed from its event log (`sync` with `since_events`) is replayed by `event_seq`,
//! every kind of event alike: held live events already replayed are dropped, the rest follow
//! in log order, and a live copy of a replayed event arriving later is dropped too.
use huddle_domain::RoomId;

use crate::protocol::Frame;

#[derive(Debug, Default)]
struct RoomDelivery {
    /// The seqs sent, as sorted disjoint inclusive ranges. Live sends extend the top one and
    /// replays fill in below, so there are rarely more than two.
    sent: Vec<(i64, i64)>,
    /// Live frames held back during a replay.
    held: Option<Vec<Held>>,
    /// Set when the room was resumed from its log: every event up to this one was replayed
    /// (or the client had it).
    replayed_through: Option<i64>,
}

/// A held live frame: a `message.created`, or a change (edit, delete) of the message with
/// that seq.
#[derive(Debug)]
struct Held {
    seq: i64,
    event_seq: i64,
    change: bool,
    frame: Frame,
}

impl RoomDelivery {
    /// Whether the event was in a replay of the room's log (or before it).
    fn replayed(&self, event_seq: i64) -> bool {
        self.replayed_through
            .is_some_and(|through| event_seq > 0 && event_seq <= through)
    }

    fn was_sent(&self, seq: i64) -> bool {
        self.sent.iter().any(|(lo, hi)| (*lo..=*hi).contains(&seq))
    }

    fn highest(&self) -> Option<i64> {
        self.sent.last().map(|(_, hi)| *hi)
    }

    /// Counts every seq up to `seq` as sent.
    fn mark_through(&mut self, seq: i64) {
        if seq < 1 {
            return;
        }
        self.sent.retain(|(_, hi)| *hi > seq);
        match self.sent.first_mut() {
            Some((lo, _)) if *lo <= seq + 1 => *lo = 1,
            _ => self.sent.insert(0, (1, seq)),
        }
    }

    fn mark(&mut self, seq: i64) {
        // The live path: the next seq extends the top range (or starts one above it), with
        // no search and no allocation.
        match self.sent.last_mut() {
            Some((_, hi)) if seq == *hi + 1 => {
                *hi = seq;
                return;
            }
            Some((_, hi)) if seq > *hi + 1 => {
                self.sent.push((seq, seq));
                return;
            }
            None => {
                self.sent.push((seq, seq));
                return;
            }
            _ => {}
        }
        if self.was_sent(seq) {
            return;
        }
        let at = self.sent.partition_point(|(lo, _)| *lo < seq);
        self.sent.insert(at, (seq, seq));
        // Merge with neighbours that now touch.
        let mut merged: Vec<(i64, i64)> = Vec::with_capacity(self.sent.len());
        for (lo, hi) in self.sent.drain(..) {
            match merged.last_mut() {
                Some((_, last_hi)) if lo <= *last_hi + 1 => *last_hi = (*last_hi).max(hi),
                _ => merged.push((lo, hi)),
            }
        }
        self.sent = merged;
    }
}

fn room_mut(rooms: &mut [(RoomId, RoomDelivery)], room: RoomId) -> Option<&mut RoomDelivery> {
    let at = rooms.binary_search_by_key(&room, |(r, _)| *r).ok()?;
    Some(&mut rooms[at].1)
}

#[derive(Debug, Default)]
pub(crate) struct Delivery {
    /// Sorted by room id. A user is in few rooms, and a hash table's spare buckets would cost
    /// each idle connection more than its rooms do.
    rooms: Vec<(RoomId, RoomDelivery)>,
    held_count: usize,
}

impl Delivery {
    /// Starts with `rooms`, each held until released or synced when `hold` is set.
    pub(crate) fn new(rooms: impl IntoIterator<Item = RoomId>, hold: bool) -> Self {
        let mut rooms: Vec<(RoomId, RoomDelivery)> = rooms
            .into_iter()
            .map(|r| {
                (
                    r,
                    RoomDelivery {
                        sent: Vec::new(),
                        held: hold.then(Vec::new),
                        replayed_through: None,
                    },
                )
            })
            .collect();
        rooms.sort_unstable_by_key(|(r, _)| *r);
        rooms.dedup_by_key(|(r, _)| *r);
        rooms.shrink_to_fit();
        Self {
            rooms,
            held_count: 0,
        }
    }

    pub(crate) fn add_room(&mut self, room: RoomId) {
        if let Err(at) = self.rooms.binary_search_by_key(&room, |(r, _)| *r) {
            self.rooms.insert(at, (room, RoomDelivery::default()));
        }
    }

    pub(crate) fn remove_room(&mut self, room: RoomId) {
        if let Ok(at) = self.rooms.binary_search_by_key(&room, |(r, _)| *r) {
            let (_, r) = self.rooms.remove(at);
            self.held_count -= r.held.map_or(0, |h| h.len());
        }
    }

    pub(crate) fn rooms(&self) -> Vec<RoomId> {
        self.rooms.iter().map(|(r, _)| *r).collect()
    }

    /// Messages waiting in holds, to bound a connection's memory.
    pub(crate) fn held_count(&self) -> usize {
        self.held_count
    }

    /// A live `message.created`: the frame to send now, if any.
    pub(crate) fn live(
        &mut self,
        room: RoomId,
        seq: i64,
        event_seq: i64,
        frame: Frame,
    ) -> Option<Frame> {
        let r = room_mut(&mut self.rooms, room)?;
        if r.was_sent(seq) || r.highest().is_some_and(|hi| seq < hi) || r.replayed(event_seq) {
            return None;
        }
        if let Some(held) = &mut r.held {
            held.push(Held {
                seq,
                event_seq,
                change: false,
                frame,
            });
            self.held_count += 1;
            return None;
        }
        r.mark(seq);
        Some(frame)
    }

    /// Any other live event of the room: a change of the message with `seq` (0: of the room
    /// itself). The frame to send now, if any. While the room is held it waits behind the held
    /// messages, so it never comes before the message it changes.
    pub(crate) fn change(
        &mut self,
        room: RoomId,
        seq: i64,
        event_seq: i64,
        frame: Frame,
    ) -> Option<Frame> {
        let Some(r) = room_mut(&mut self.rooms, room) else {
            return Some(frame);
        };
        if r.replayed(event_seq) {
            return None;
        }
        match &mut r.held {
            Some(held) => {
                held.push(Held {
                    seq,
                    event_seq,
                    change: true,
                    frame,
                });
                self.held_count += 1;
                None
            }
            None => Some(frame),
        }
    }

    /// Holds a room's live messages while its replay of what follows `since` runs. The client
    /// has every seq up to `since` already, so none of those is sent again, held or not.
    pub(crate) fn hold(&mut self, room: RoomId, since: i64) {
        if let Some(r) = room_mut(&mut self.rooms, room) {
            r.held.get_or_insert_with(Vec::new);
            r.mark_through(since);
        }
    }

    /// Holds a room's live events while its log is replayed from after `since_event`.
    pub(crate) fn hold_events(&mut self, room: RoomId, since_event: i64) {
        if let Some(r) = room_mut(&mut self.rooms, room) {
            r.held.get_or_insert_with(Vec::new);
            r.replayed_through = Some(r.replayed_through.unwrap_or(0).max(since_event));
        }
    }

    /// A replayed event of the room's log (`seq` for a `message.created`): the frame to send,
    /// unless it is a message this connection already had.
    pub(crate) fn replayed_event(
        &mut self,
        room: RoomId,
        seq: Option<i64>,
        event_seq: i64,
        frame: Frame,
    ) -> Option<Frame> {
        let r = room_mut(&mut self.rooms, room)?;
        r.replayed_through = Some(r.replayed_through.unwrap_or(0).max(event_seq));
        if let Some(seq) = seq {
            if r.was_sent(seq) {
                return None;
            }
            r.mark(seq);
        }
        Some(frame)
    }

    /// A replayed message: the frame to send, unless this connection already had it.
    pub(crate) fn replayed(&mut self, room: RoomId, seq: i64, frame: Frame) -> Option<Frame> {
        let r = room_mut(&mut self.rooms, room)?;
        if r.was_sent(seq) {
            return None;
        }
        r.mark(seq);
        Some(frame)
    }

    /// Ends a room's hold: the held messages not yet sent, in seq order, each followed by the
    /// held changes of it (in the order they came).
    pub(crate) fn release(&mut self, room: RoomId) -> Vec<Frame> {
        let Some(r) = room_mut(&mut self.rooms, room) else {
            return Vec::new();
        };
        let Some(mut held) = r.held.take() else {
            return Vec::new();
        };
        self.held_count -= held.len();
        if r.replayed_through.is_some() {
            // Resumed from the log: what the replay did not give, in log order.
            held.retain(|h| !r.replayed(h.event_seq));
            held.sort_by_key(|h| h.event_seq);
        } else {
            // Stable: changes of one message keep their order, after the message itself.
            held.sort_by_key(|h| (h.seq, h.change));
        }
        let mut out = Vec::with_capacity(held.len());
        for Held {
            seq, change, frame, ..
        } in held
        {
            if change {
                out.push(frame);
            } else if !r.was_sent(seq) && r.highest().is_none_or(|hi| seq > hi) {
                r.mark(seq);
                out.push(frame);
            }
        }
        out
    }

    pub(crate) fn release_all(&mut self) -> Vec<Frame> {
        let rooms = self.rooms();
        rooms.into_iter().flat_map(|r| self.release(r)).collect()
    }

    #[cfg(test)]
    fn holding(&self) -> bool {
        self.rooms.iter().any(|(_, r)| r.held.is_some())
    }

    #[cfg(test)]
    fn sent(&self, room: RoomId) -> &[(i64, i64)] {
        self.rooms
            .iter()
            .find(|(r, _)| *r == room)
            .map_or(&[], |(_, d)| &d.sent)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(s: &str) -> Frame {
        Frame::from(s)
    }

    fn texts(v: Vec<Frame>) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn live_without_hold_goes_straight_out_once() {
        let mut d = Delivery::new([1], false);
        assert_eq!(d.live(1, 5, 0, f("5")).as_deref(), Some("5"));
        assert_eq!(d.live(1, 5, 0, f("5")), None);
        assert_eq!(
            d.live(1, 4, 0, f("4")),
            None,
            "older than what was sent live"
        );
        assert_eq!(d.live(2, 1, 0, f("x")), None, "not this connection's room");
    }

    #[test]
    fn sync_after_ready_gives_every_message_once_in_order() {
        // Ready said last_seq 10; the client had 7; 11 and 12 arrive live before the replay.
        let mut d = Delivery::new([1], true);
        assert_eq!(d.live(1, 11, 0, f("11")), None);
        assert_eq!(d.live(1, 12, 0, f("12")), None);
        let mut out = Vec::new();
        for s in 8..=12 {
            out.extend(d.replayed(1, s, f(&s.to_string())));
        }
        out.extend(d.release(1));
        assert_eq!(texts(out), vec!["8", "9", "10", "11", "12"]);
        assert_eq!(d.live(1, 13, 0, f("13")).as_deref(), Some("13"));
        assert_eq!(d.held_count(), 0);
    }

    #[test]
    fn held_messages_past_the_replay_follow_it() {
        let mut d = Delivery::new([1], true);
        d.live(1, 14, 0, f("14"));
        d.live(1, 13, 0, f("13"));
        let mut out: Vec<Frame> = (11..=12)
            .filter_map(|s| d.replayed(1, s, f(&s.to_string())))
            .collect();
        out.extend(d.release(1));
        assert_eq!(texts(out), vec!["11", "12", "13", "14"]);
    }

    #[test]
    fn late_sync_does_not_repeat_live_messages() {
        let mut d = Delivery::new([1], false);
        assert!(d.live(1, 11, 0, f("11")).is_some());
        d.hold(1, 0);
        let out: Vec<Frame> = (9..=11)
            .filter_map(|s| d.replayed(1, s, f(&s.to_string())))
            .collect();
        assert_eq!(texts(out), vec!["9", "10"]);
        assert!(d.release(1).is_empty());
    }

    #[test]
    fn changes_of_held_messages_wait_behind_them() {
        let mut d = Delivery::new([1], true);
        assert_eq!(d.live(1, 5, 0, f("c5")), None);
        assert_eq!(d.change(1, 5, 0, f("u5")), None);
        assert_eq!(d.live(1, 6, 0, f("c6")), None);
        assert_eq!(d.change(1, 5, 0, f("d5")), None);
        assert_eq!(d.change(1, 3, 0, f("u3")), None);
        assert_eq!(d.held_count(), 5);
        // The replay sent 3..=5 already: their changes still follow, in order.
        let mut out: Vec<Frame> = (3..=5)
            .filter_map(|s| d.replayed(1, s, f(&format!("r{s}"))))
            .collect();
        out.extend(d.release(1));
        assert_eq!(texts(out), vec!["r3", "r4", "r5", "u3", "u5", "d5", "c6"]);
        assert_eq!(d.held_count(), 0);
        // Not held: straight through; unknown room: straight through.
        assert_eq!(d.change(1, 6, 0, f("u6")).as_deref(), Some("u6"));
        assert_eq!(d.change(9, 1, 0, f("x")).as_deref(), Some("x"));
    }

    #[test]
    fn what_the_client_has_is_not_sent_again() {
        // Held live 2..=4 before the client said it has up to 3.
        let mut d = Delivery::new([1], true);
        for s in 2..=4 {
            assert_eq!(d.live(1, s, 0, f(&s.to_string())), None);
        }
        d.hold(1, 3);
        assert_eq!(d.replayed(1, 3, f("3")), None);
        assert_eq!(texts(d.release(1)), vec!["4"]);
        assert_eq!(d.live(1, 5, 0, f("5")).as_deref(), Some("5"));
        // A since below what was sent merges with it.
        let mut d = Delivery::new([1], false);
        assert!(d.live(1, 7, 0, f("7")).is_some());
        d.hold(1, 6);
        assert_eq!(d.sent(1), vec![(1, 7)]);
        assert!(d.release(1).is_empty());
        let mut d = Delivery::new([1], false);
        assert!(d.live(1, 9, 0, f("9")).is_some());
        d.hold(1, 4);
        assert_eq!(d.sent(1), vec![(1, 4), (9, 9)]);
        d.hold(1, 12);
        assert_eq!(d.sent(1), vec![(1, 12)]);
    }

    #[test]
    fn a_resume_from_the_log_gives_every_event_once_in_log_order() {
        // The client has events up to 10. Live before its sync: a reaction (event 11), a
        // message (seq 6, event 12) and a join (event 13).
        let mut d = Delivery::new([1], true);
        assert_eq!(d.change(1, 5, 11, f("r11")), None);
        assert_eq!(d.live(1, 6, 12, f("m12")), None);
        assert_eq!(d.change(1, 0, 13, f("j13")), None);
        d.hold_events(1, 10);
        // The replay read up to 12: the join committed after its read.
        let mut out: Vec<Frame> = Vec::new();
        out.extend(d.replayed_event(1, None, 11, f("R11")));
        out.extend(d.replayed_event(1, Some(6), 12, f("M12")));
        out.extend(d.release(1));
        assert_eq!(texts(out), vec!["R11", "M12", "j13"]);
        assert_eq!(d.held_count(), 0);
        // A late live copy of a replayed event is dropped; anything newer goes out.
        assert_eq!(d.change(1, 5, 11, f("r11")), None);
        assert_eq!(d.live(1, 6, 12, f("m12")), None);
        assert_eq!(d.change(1, 6, 14, f("u14")).as_deref(), Some("u14"));
        assert_eq!(d.live(1, 7, 15, f("m15")).as_deref(), Some("m15"));
    }

    #[test]
    fn held_events_past_the_replay_follow_in_log_order() {
        let mut d = Delivery::new([1], true);
        d.hold_events(1, 3);
        assert_eq!(d.change(1, 0, 6, f("e6")), None);
        assert_eq!(d.live(1, 3, 5, f("m5")), None);
        assert_eq!(d.change(1, 2, 2, f("old")), None, "the client had it");
        assert_eq!(d.held_count(), 2);
        assert_eq!(texts(d.release(1)), vec!["m5", "e6"]);
        // A room resumed by messages only keeps the old order: changes after their message.
        let mut d = Delivery::new([1], true);
        d.hold(1, 0);
        assert_eq!(d.change(1, 1, 9, f("u1")), None);
        assert_eq!(d.live(1, 1, 8, f("m1")), None);
        assert_eq!(texts(d.release(1)), vec!["m1", "u1"]);
    }

    #[test]
    fn removing_a_room_forgets_its_hold() {
        let mut d = Delivery::new([1, 2], true);
        d.live(1, 1, 0, f("a"));
        d.live(2, 1, 0, f("b"));
        assert_eq!(d.held_count(), 2);
        d.remove_room(1);
        assert_eq!(d.held_count(), 1);
        assert_eq!(texts(d.release_all()), vec!["b"]);
        assert!(!d.holding());
    }
}
