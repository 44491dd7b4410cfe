//! The writers' shared queue. A writer claims a batch of rooms no other writer is storing: all
//! of their queued messages, in arrival order, while messages of rooms in flight wait for their
//! writer to finish. So a room's messages are stored one batch after another, in order, as with
//! a writer per room, but a busy room holds up only itself, and a batch takes every room that
//! is free instead of a fixed share of them.
//!
//! A second writer starts a batch beside a running one only once enough messages wait
//! ([`Rules::parallel_from`]): a batch's cost is largely per statement, so a lone writer that
//! takes in everything queued during its last commit stores more per core than two that race
//! for every message; the second one is for a backlog the first cannot absorb (its next batch
//! would only start after its commit's round trip and flush).
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// A message waiting for a writer: what the queue needs to know of it.
pub(super) trait Queued {
    fn room(&self) -> i64;
}

/// How writers take batches.
#[derive(Debug, Clone, Copy)]
pub(super) struct Rules {
    /// The most messages one batch takes.
    pub max_batch: usize,
    /// How many messages of free rooms must wait before a writer starts a batch while another
    /// writer's batch is running.
    pub parallel_from: usize,
}

/// The queue's state, under the lock.
struct State<J> {
    jobs: VecDeque<J>,
    /// Per room, how many of its messages are queued.
    queued: HashMap<i64, usize>,
    /// Rooms in a batch being stored.
    busy: HashSet<i64>,
    /// Queued messages of rooms not in `busy`: what a writer could take now.
    claimable: usize,
    /// Writers storing a batch now.
    writing: usize,
    /// No more messages will come: writers finish the queue and stop.
    closed: bool,
}

/// The queue the writer threads take their batches from.
pub(super) struct Queue<J> {
    state: Mutex<State<J>>,
    ready: Condvar,
    rules: Rules,
}

/// A batch taken by a writer: its rooms stay claimed until it is handed back with
/// [`Queue::finish`].
pub(super) struct Claim<J> {
    pub jobs: Vec<J>,
    rooms: Vec<i64>,
}

impl<J: Queued> Queue<J> {
    pub(super) fn new(rules: Rules) -> Self {
        Self {
            state: Mutex::new(State {
                jobs: VecDeque::new(),
                queued: HashMap::new(),
                busy: HashSet::new(),
                claimable: 0,
                writing: 0,
                closed: false,
            }),
            ready: Condvar::new(),
            rules: Rules {
                max_batch: rules.max_batch.max(1),
                parallel_from: rules.parallel_from.max(1),
            },
        }
    }

    /// A writer never panics while holding the lock (no callback runs under it), so a poisoned
    /// lock still holds a consistent state.
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queues a message; `Err` gives it back if the queue is closed.
    pub(super) fn push(&self, job: J) -> Result<(), J> {
        let mut s = self.lock();
        if s.closed {
            return Err(job);
        }
        let room = job.room();
        *s.queued.entry(room).or_default() += 1;
        if !s.busy.contains(&room) {
            s.claimable += 1;
        }
        s.jobs.push_back(job);
        let wake = self.can_start(&s);
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Whether an idle writer should take a batch now.
    fn can_start(&self, s: &State<J>) -> bool {
        s.claimable > 0 && (s.writing == 0 || s.claimable >= self.rules.parallel_from)
    }

    /// Waits for a batch to store; `None` once the queue is closed and empty.
    pub(super) fn take(&self) -> Option<Claim<J>> {
        let mut s = self.lock();
        loop {
            if self.can_start(&s) {
                return Some(self.claim(&mut s));
            }
            if s.closed && s.jobs.is_empty() {
                return None;
            }
            s = self.ready.wait(s).unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Takes the queued messages of free rooms, oldest first, up to a batch; the rest keep
    /// their order.
    fn claim(&self, s: &mut State<J>) -> Claim<J> {
        let mut jobs = Vec::new();
        let mut rooms = HashSet::new();
        let mut rest = VecDeque::with_capacity(s.jobs.len());
        while let Some(job) = s.jobs.pop_front() {
            let room = job.room();
            let claimed_here = rooms.contains(&room);
            if jobs.len() == self.rules.max_batch || (s.busy.contains(&room) && !claimed_here) {
                rest.push_back(job);
                continue;
            }
            if !claimed_here {
                rooms.insert(room);
                s.busy.insert(room);
            }
            if let Some(n) = s.queued.get_mut(&room) {
                *n -= 1;
                if *n == 0 {
                    s.queued.remove(&room);
                }
            }
            jobs.push(job);
        }
        s.jobs = rest;
        // What is left of the claimed rooms waits for this batch.
        let left: usize = rooms.iter().filter_map(|r| s.queued.get(r)).sum();
        s.claimable = s.claimable.saturating_sub(jobs.len() + left);
        s.writing += 1;
        Claim {
            jobs,
            rooms: rooms.into_iter().collect(),
        }
    }

    /// Hands a stored batch's rooms back, waking writers for their waiting messages.
    pub(super) fn finish(&self, rooms: Vec<i64>) {
        let mut s = self.lock();
        for room in rooms {
            s.busy.remove(&room);
            s.claimable += s.queued.get(&room).copied().unwrap_or(0);
        }
        s.writing = s.writing.saturating_sub(1);
        drop(s);
        self.ready.notify_all();
    }

    /// No more messages: the writers store what is queued, then stop.
    pub(super) fn close(&self) {
        self.lock().closed = true;
        self.ready.notify_all();
    }
}

impl<J> Claim<J> {
    /// The batch's messages, and its rooms for [`Queue::finish`].
    pub(super) fn into_parts(self) -> (Vec<J>, Vec<i64>) {
        (self.jobs, self.rooms)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, PartialEq)]
    struct Msg(i64, u32);

    impl Queued for Msg {
        fn room(&self) -> i64 {
            self.0
        }
    }

    fn queue(max_batch: usize, parallel_from: usize) -> Queue<Msg> {
        Queue::new(Rules {
            max_batch,
            parallel_from,
        })
    }

    fn push_all(q: &Queue<Msg>, msgs: &[(i64, u32)]) {
        for &(room, n) in msgs {
            q.push(Msg(room, n)).unwrap();
        }
    }

    fn labels(jobs: &[Msg]) -> Vec<u32> {
        jobs.iter().map(|m| m.1).collect()
    }

    #[test]
    fn a_lone_writer_takes_everything_in_order() {
        let q = queue(512, 8);
        push_all(&q, &[(1, 1), (2, 2), (1, 3), (3, 4)]);
        let (jobs, mut rooms) = q.take().unwrap().into_parts();
        assert_eq!(labels(&jobs), [1, 2, 3, 4]);
        rooms.sort_unstable();
        assert_eq!(rooms, [1, 2, 3]);
    }

    #[test]
    fn a_second_writer_waits_for_a_backlog_and_skips_busy_rooms() {
        let q = queue(512, 3);
        push_all(&q, &[(1, 1), (2, 2)]);
        let first = q.take().unwrap();
        // Rooms 1 and 2 are in flight; their new messages wait for that batch.
        push_all(&q, &[(1, 3), (3, 4), (2, 5), (4, 6)]);
        {
            let s = q.lock();
            assert_eq!(s.claimable, 2, "only rooms 3 and 4 are free");
            assert!(!q.can_start(&s), "two free messages are not yet a backlog");
        }
        push_all(&q, &[(5, 7)]);
        let second = q.take().unwrap();
        assert_eq!(labels(&second.jobs), [4, 6, 7]);
        assert_eq!(q.lock().claimable, 0);
        let (_, rooms) = first.into_parts();
        q.finish(rooms);
        assert!(
            !q.can_start(&q.lock()),
            "rooms 1 and 2 are free, but two messages wait while a batch runs"
        );
        let (_, rooms) = second.into_parts();
        q.finish(rooms);
        let third = q.take().unwrap();
        assert_eq!(labels(&third.jobs), [3, 5], "room 1 then room 2, as queued");
    }

    #[test]
    fn a_full_batch_leaves_the_rest_of_its_rooms_claimed() {
        let q = queue(2, 1);
        push_all(&q, &[(1, 1), (1, 2), (1, 3), (2, 4)]);
        let first = q.take().unwrap();
        assert_eq!(labels(&first.jobs), [1, 2]);
        // Message 3 must not overtake 1 and 2 in another writer's batch.
        let second = q.take().unwrap();
        assert_eq!(labels(&second.jobs), [4]);
        assert_eq!(q.lock().claimable, 0);
        let (_, rooms) = first.into_parts();
        q.finish(rooms);
        let (_, rooms) = second.into_parts();
        q.finish(rooms);
        assert_eq!(labels(&q.take().unwrap().jobs), [3]);
    }

    #[test]
    fn closing_lets_the_writers_drain_the_queue_then_stop() {
        let q = queue(512, 1);
        push_all(&q, &[(1, 1)]);
        q.close();
        assert!(
            q.push(Msg(1, 2)).is_err(),
            "nothing is queued after closing"
        );
        let (jobs, rooms) = q.take().unwrap().into_parts();
        assert_eq!(labels(&jobs), [1]);
        q.finish(rooms);
        assert!(q.take().is_none());
    }

    /// Writer threads storing concurrently: every message is stored once, a room is never in
    /// two batches at a time, and each room's messages come out in the order they were queued.
    #[test]
    fn concurrent_writers_keep_each_room_in_order() {
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::sync::Arc;

        let q = Arc::new(queue(7, 2));
        let storing: Arc<Vec<AtomicBool>> =
            Arc::new((0..10).map(|_| AtomicBool::new(false)).collect());
        let stored = Arc::new(Mutex::new(Vec::new()));
        let writers: Vec<_> = (0..3)
            .map(|_| {
                let (q, storing, stored) = (q.clone(), storing.clone(), stored.clone());
                std::thread::spawn(move || {
                    while let Some(claim) = q.take() {
                        let (jobs, rooms) = claim.into_parts();
                        for &r in &rooms {
                            let was =
                                storing[usize::try_from(r).unwrap()].swap(true, Ordering::SeqCst);
                            assert!(!was, "room {r} in two batches at once");
                        }
                        std::thread::yield_now();
                        stored.lock().unwrap().extend(jobs);
                        for &r in &rooms {
                            storing[usize::try_from(r).unwrap()].store(false, Ordering::SeqCst);
                        }
                        q.finish(rooms);
                    }
                })
            })
            .collect();
        for n in 0..5_000u32 {
            q.push(Msg(i64::from(n % 10), n)).unwrap();
        }
        q.close();
        for w in writers {
            w.join().unwrap();
        }
        let stored = stored.lock().unwrap();
        assert_eq!(stored.len(), 5_000);
        for room in 0..10 {
            let order: Vec<u32> = stored.iter().filter(|m| m.0 == room).map(|m| m.1).collect();
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(order, sorted, "room {room}");
            assert_eq!(order.len(), 500);
        }
    }
}
