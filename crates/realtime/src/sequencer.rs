//! Per-room ordering. Messages can reach the hub out of `seq` order (two stores commit in one
//! order and publish in the other; in a cluster, two nodes publish independently). Seqs are
//! gap-free, so the sequencer releases a message only when all before it have gone out, and
//! reports a gap for the hub to fill from the database.
use std::collections::BTreeMap;

#[derive(Debug)]
pub(crate) struct Sequencer<T> {
    /// The next seq to release; `None` until the first message fixes it.
    next: Option<i64>,
    pending: BTreeMap<i64, T>,
}

impl<T> Sequencer<T> {
    /// `last_seq`: the newest seq already out (from the database), if known.
    pub(crate) fn new(last_seq: Option<i64>) -> Self {
        Self {
            next: last_seq.map(|s| s + 1),
            pending: BTreeMap::new(),
        }
    }

    /// Takes a message; returns those now releasable, in order. Seqs already released are
    /// dropped (duplicates).
    pub(crate) fn offer(&mut self, seq: i64, item: T) -> Vec<(i64, T)> {
        let next = *self.next.get_or_insert(seq);
        if seq < next {
            return Vec::new();
        }
        self.pending.insert(seq, item);
        self.drain()
    }

    fn drain(&mut self) -> Vec<(i64, T)> {
        let mut out = Vec::new();
        while let Some(next) = self.next {
            match self.pending.remove(&next) {
                Some(item) => {
                    out.push((next, item));
                    self.next = Some(next + 1);
                }
                None => break,
            }
        }
        out
    }

    /// The missing seqs `(after, before)`, exclusive, when something waits on a gap.
    pub(crate) fn gap(&self) -> Option<(i64, i64)> {
        let first = *self.pending.keys().next()?;
        let next = self.next?;
        Some((next - 1, first))
    }

    /// The highest seq released so far, if any is known.
    pub(crate) fn released_up_to(&self) -> Option<i64> {
        self.next.map(|n| n - 1)
    }

    /// Gives up on the current gap (the database did not have it either) and releases
    /// what waits behind it.
    pub(crate) fn skip_gap(&mut self) -> Vec<(i64, T)> {
        if let Some(first) = self.pending.keys().next().copied() {
            self.next = Some(first);
        }
        self.drain()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seqs<T>(v: Vec<(i64, T)>) -> Vec<i64> {
        v.into_iter().map(|(s, _)| s).collect()
    }

    #[test]
    fn in_order_passes_through() {
        let mut s = Sequencer::new(Some(0));
        assert_eq!(seqs(s.offer(1, ())), vec![1]);
        assert_eq!(seqs(s.offer(2, ())), vec![2]);
        assert_eq!(s.gap(), None);
    }

    #[test]
    fn out_of_order_is_held_then_released_in_order() {
        let mut s = Sequencer::new(Some(4));
        assert!(s.offer(7, ()).is_empty());
        assert!(s.offer(6, ()).is_empty());
        assert_eq!(s.gap(), Some((4, 6)));
        assert_eq!(seqs(s.offer(5, ())), vec![5, 6, 7]);
        assert_eq!(s.gap(), None);
    }

    #[test]
    fn duplicates_and_old_are_dropped() {
        let mut s = Sequencer::new(Some(3));
        assert!(s.offer(2, ()).is_empty());
        assert_eq!(seqs(s.offer(4, ())), vec![4]);
        assert!(s.offer(4, ()).is_empty());
    }

    #[test]
    fn unknown_start_takes_the_first_seen() {
        let mut s = Sequencer::new(None);
        assert_eq!(seqs(s.offer(10, ())), vec![10]);
        assert!(s.offer(12, ()).is_empty());
        assert_eq!(s.gap(), Some((10, 12)));
    }

    #[test]
    fn skipping_a_gap_releases_the_rest() {
        let mut s = Sequencer::new(Some(0));
        assert!(s.offer(3, ()).is_empty());
        assert!(s.offer(4, ()).is_empty());
        assert_eq!(seqs(s.skip_gap()), vec![3, 4]);
        assert_eq!(seqs(s.offer(5, ())), vec![5]);
    }
}
