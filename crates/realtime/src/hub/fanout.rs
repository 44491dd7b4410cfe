//! Fan-out: putting frames on connections' queues. Never waits: a connection whose queue has
//! no room is cut (1013, it reconnects and syncs) rather than slow the hub and everyone else,
//! and a batch goes onto a queue whole or not at all, so a connection never gets half of it.
//!
//! Messages a turn of the hub releases are staged and sent when the turn ends, so that each
//! connection takes a room's messages of a whole batch commit in one queue push, one wake-up
//! and one socket write.
use std::sync::atomic::Ordering;

use huddle_domain::RoomId;

use crate::bus::EventBus;
use crate::hub::registry::Registry;
use crate::hub::room::Released;
use crate::link::{ConnId, Outbound};
use crate::outbox::TrySendError;
use crate::protocol::{self, Frame};

/// Messages released in this turn, per room, rooms in the order they first had one.
#[derive(Default)]
pub(crate) struct Staged(Vec<(RoomId, Released)>);

impl Staged {
    pub(crate) fn stage(&mut self, room_id: RoomId, ready: Released) {
        if ready.is_empty() {
            return;
        }
        match self.0.iter_mut().find(|(r, _)| *r == room_id) {
            Some((_, staged)) => staged.extend(ready),
            None => self.0.push((room_id, ready)),
        }
    }

    pub(crate) fn take(&mut self) -> Vec<(RoomId, Released)> {
        std::mem::take(&mut self.0)
    }
}

/// Sends the staged messages: per room, all of them to each of its connections at once.
pub(crate) fn flush(staged: &mut Staged, registry: &mut Registry, bus: &dyn EventBus) {
    for (room_id, ready) in staged.take() {
        let started = std::time::Instant::now();
        let targets = registry.room_conns(room_id, None);
        send_all_to(
            registry,
            &targets,
            |_| {
                ready
                    .iter()
                    .map(|(seq, (event_seq, frame))| Outbound::Message {
                        room_id,
                        seq: *seq,
                        event_seq: *event_seq,
                        frame: frame.clone(),
                    })
            },
            bus,
        );
        let took = started.elapsed();
        for _ in &ready {
            huddle_metrics::record_broadcast(took);
        }
    }
}

/// The frame to every connection following the room.
pub(crate) fn broadcast(
    registry: &mut Registry,
    room_id: RoomId,
    frame: Frame,
    bus: &dyn EventBus,
) {
    let targets = registry.room_conns(room_id, None);
    frame_to(registry, &targets, frame, bus);
}

/// A logged change of the room (see [`Outbound::Change`]) to every connection following it;
/// `now` get it as a plain frame, never held.
pub(crate) fn change(
    registry: &mut Registry,
    room_id: RoomId,
    seq: i64,
    event_seq: i64,
    frame: &Frame,
    now: &[ConnId],
    bus: &dyn EventBus,
) {
    let targets = registry.room_conns(room_id, None);
    send_to(
        registry,
        &targets,
        |conn| {
            if now.contains(&conn) {
                Outbound::Frame(frame.clone())
            } else {
                Outbound::Change {
                    room_id,
                    seq,
                    event_seq,
                    frame: frame.clone(),
                }
            }
        },
        bus,
    );
}

/// One frame, shared, to each target.
pub(crate) fn frame_to(
    registry: &mut Registry,
    targets: &[ConnId],
    frame: Frame,
    bus: &dyn EventBus,
) {
    send_to(registry, targets, |_| Outbound::Frame(frame.clone()), bus);
}

/// Queues an item per target; unregisters connections whose queue is full or gone.
pub(crate) fn send_to(
    registry: &mut Registry,
    targets: &[ConnId],
    item: impl Fn(ConnId) -> Outbound,
    bus: &dyn EventBus,
) {
    send_all_to(registry, targets, |conn| std::iter::once(item(conn)), bus);
}

/// Queues items per target, each target's in one go; unregisters connections whose queue has
/// no room for them or is gone.
fn send_all_to<I>(
    registry: &mut Registry,
    targets: &[ConnId],
    items: impl Fn(ConnId) -> I,
    bus: &dyn EventBus,
) where
    I: IntoIterator<Item = Outbound>,
    I::IntoIter: ExactSizeIterator,
{
    let cut = queue(registry, targets, items);
    for conn in cut {
        registry.remove(conn, bus);
    }
}

/// Queues items per target, each target's in one go. Returns the connections to unregister:
/// those whose queue had no room (killed with 1013) or is gone.
fn queue<I>(registry: &Registry, targets: &[ConnId], items: impl Fn(ConnId) -> I) -> Vec<ConnId>
where
    I: IntoIterator<Item = Outbound>,
    I::IntoIter: ExactSizeIterator,
{
    let stats = registry.stats();
    let mut cut = Vec::new();
    let mut sent = 0;
    for conn in targets {
        let Some(entry) = registry.entry(*conn) else {
            continue;
        };
        let items = items(*conn).into_iter();
        let n = items.len() as u64;
        match entry.tx.try_send_all(items) {
            Ok(()) => sent += n,
            Err(TrySendError::Full) => {
                stats.queue_drops.fetch_add(1, Ordering::Relaxed);
                stats.slow_consumer_closes.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    conn,
                    user_id = entry.user_id,
                    "slow consumer: closing with 1013"
                );
                entry.kill.kill(protocol::CLOSE_TRY_AGAIN_LATER);
                cut.push(*conn);
            }
            Err(TrySendError::Closed) => cut.push(*conn),
        }
    }
    stats.deliveries.fetch_add(sent, Ordering::Relaxed);
    cut
}

#[cfg(test)]
mod tests {
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    use futures_util::FutureExt;

    use super::*;
    use crate::hub::handle::HubHandle;
    use crate::hub::registry::ConnEntry;
    use crate::link::Kill;
    use crate::outbox::{outbox, OutboxReceiver};
    use crate::testing::RecordingBus;

    fn with_conns(capacities: &[usize]) -> (Registry, Vec<(OutboxReceiver, Arc<Kill>)>) {
        let bus = RecordingBus::default();
        let mut registry = Registry::new(HubHandle::new().0);
        let mut ends = Vec::new();
        for (i, cap) in capacities.iter().enumerate() {
            let (tx, rx) = outbox(*cap);
            let kill = Arc::new(Kill::default());
            let entry = ConnEntry {
                user_id: 1,
                tx,
                kill: kill.clone(),
                rooms: HashSet::new(),
                session_id: Arc::from("s"),
            };
            registry.add(i as ConnId, entry, HashMap::new(), &bus);
            ends.push((rx, kill));
        }
        (registry, ends)
    }

    fn frames(n: usize) -> impl Fn(ConnId) -> Vec<Outbound> {
        move |_| {
            (0..n)
                .map(|i| Outbound::Frame(Frame::from(i.to_string())))
                .collect()
        }
    }

    #[test]
    fn a_batch_goes_whole_and_a_full_queue_is_cut_with_1013() {
        let (registry, mut ends) = with_conns(&[4, 2]);
        let cut = queue(&registry, &[0, 1, 7], frames(3));
        let stats = registry.stats();
        assert_eq!(cut, [1], "no room for three: cut, the unknown 7 skipped");
        assert_eq!(ends[0].0.try_recv_up_to(10).len(), 3);
        assert!(ends[1].0.try_recv_up_to(10).is_empty(), "none of the batch");
        assert_eq!(ends[1].1.wait().now_or_never(), Some(1013));
        assert_eq!(ends[0].1.wait().now_or_never(), None);
        assert_eq!(stats.deliveries.load(Ordering::Relaxed), 3);
        assert_eq!(stats.queue_drops.load(Ordering::Relaxed), 1);
        assert_eq!(stats.slow_consumer_closes.load(Ordering::Relaxed), 1);
    }

    #[test]
    fn a_gone_connection_is_cut_without_a_kill() {
        let (registry, mut ends) = with_conns(&[4]);
        let (rx, kill) = ends.remove(0);
        drop(rx);
        assert_eq!(queue(&registry, &[0], frames(1)), [0]);
        let stats = registry.stats();
        assert_eq!(kill.wait().now_or_never(), None);
        assert_eq!(stats.slow_consumer_closes.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn staging_keeps_each_rooms_messages_together_in_first_seen_order() {
        let f = |s: i64| (s, (s, Frame::from(s.to_string())));
        let mut staged = Staged::default();
        staged.stage(2, vec![f(1)]);
        staged.stage(1, vec![]);
        staged.stage(1, vec![f(7)]);
        staged.stage(2, vec![f(2), f(3)]);
        let taken: Vec<(RoomId, Vec<i64>)> = staged
            .take()
            .into_iter()
            .map(|(r, v)| (r, v.into_iter().map(|(s, _)| s).collect()))
            .collect();
        assert_eq!(taken, [(2, vec![1, 2, 3]), (1, vec![7])]);
        assert!(staged.take().is_empty());
    }
}
