//! A connection's queue of what the hub hands it.
//!
//! A bounded Tokio channel would do, but it allocates its shared state (cache-padded) and a
//! first block of 32 slots when created, about 2.5 KiB that every idle socket would keep for
//! as long as it is open. This queue holds only what is queued: nothing while the connection
//! is idle.
use std::collections::VecDeque;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::Notify;

use crate::link::Outbound;

/// Why [`OutboxSender::try_send_all`] refused what it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TrySendError {
    /// The queue has no room for all of it.
    Full,
    /// The connection is gone.
    Closed,
}

struct State {
    items: VecDeque<Outbound>,
    sender_alive: bool,
    receiver_alive: bool,
}

struct Inner {
    state: Mutex<State>,
    /// Wakes the receiver: something was queued, or the sender is gone.
    notify: Notify,
    capacity: usize,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here panics while holding the lock, and the state stays consistent anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// A queue of at most `capacity` items (at least one), with one sender and one receiver.
pub(crate) fn outbox(capacity: usize) -> (OutboxSender, OutboxReceiver) {
    let inner = Arc::new(Inner {
        state: Mutex::new(State {
            items: VecDeque::new(),
            sender_alive: true,
            receiver_alive: true,
        }),
        notify: Notify::new(),
        capacity: capacity.max(1),
    });
    (
        OutboxSender {
            inner: inner.clone(),
        },
        OutboxReceiver { inner },
    )
}

/// The hub's end.
pub(crate) struct OutboxSender {
    inner: Arc<Inner>,
}

impl OutboxSender {
    /// Queues `item` unless the queue is full or the receiver is gone; never waits.
    #[cfg(test)]
    pub(crate) fn try_send(&self, item: Outbound) -> Result<(), TrySendError> {
        self.try_send_all(std::iter::once(item))
    }

    /// Queues all of `items`, or none of them when they do not all fit or the receiver is
    /// gone; never waits. One lock and one wake-up for the lot: the receiver takes them in one
    /// turn, and writes them to its socket at once.
    pub(crate) fn try_send_all<I>(&self, items: I) -> Result<(), TrySendError>
    where
        I: IntoIterator<Item = Outbound>,
        I::IntoIter: ExactSizeIterator,
    {
        let items = items.into_iter();
        {
            let mut state = self.inner.lock();
            if !state.receiver_alive {
                return Err(TrySendError::Closed);
            }
            if state.items.len() + items.len() > self.inner.capacity {
                return Err(TrySendError::Full);
            }
            state.items.extend(items);
        }
        self.inner.notify.notify_one();
        Ok(())
    }
}

impl Drop for OutboxSender {
    fn drop(&mut self) {
        self.inner.lock().sender_alive = false;
        self.inner.notify.notify_one();
    }
}

/// The connection's end.
pub(crate) struct OutboxReceiver {
    inner: Arc<Inner>,
}

impl OutboxReceiver {
    /// The next item; `None` once the queue is empty and the sender gone. Cancel-safe: an
    /// item is only taken when this returns it.
    pub(crate) async fn recv(&mut self) -> Option<Outbound> {
        loop {
            {
                let mut state = self.inner.lock();
                if let Some(item) = Self::take(&mut state) {
                    return Some(item);
                }
                if !state.sender_alive {
                    return None;
                }
            }
            // A wake-up from between the check and here is kept as a permit, so none is lost.
            self.inner.notify.notified().await;
        }
    }

    /// Up to `max` of the items queued now, in order, taken under one lock (a burst is
    /// handled in one turn). When that is all of them, the queue's buffer goes with them, so
    /// an idle connection keeps none.
    pub(crate) fn try_recv_up_to(&mut self, max: usize) -> VecDeque<Outbound> {
        let mut state = self.inner.lock();
        if state.items.len() <= max {
            std::mem::take(&mut state.items)
        } else {
            state.items.drain(..max).collect()
        }
    }

    fn take(state: &mut State) -> Option<Outbound> {
        let item = state.items.pop_front();
        if state.items.is_empty() && state.items.capacity() > 0 {
            // Emptied: an idle connection keeps no buffer from its last burst.
            state.items = VecDeque::new();
        }
        item
    }
}

impl Drop for OutboxReceiver {
    fn drop(&mut self) {
        let mut state = self.inner.lock();
        state.receiver_alive = false;
        // What was queued goes now, not when the hub lets go of the sender.
        state.items = VecDeque::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn frame(s: &str) -> Outbound {
        Outbound::Frame(s.into())
    }

    /// The next item, if one is queued.
    fn next(rx: &mut OutboxReceiver) -> Option<Outbound> {
        rx.try_recv_up_to(1).pop_front()
    }

    fn text(out: Option<Outbound>) -> Option<String> {
        match out {
            Some(Outbound::Frame(f)) => Some(f.to_string()),
            Some(other) => Some(format!("{other:?}")),
            None => None,
        }
    }

    #[test]
    fn bounded_and_in_order() {
        let (tx, mut rx) = outbox(2);
        assert!(tx.try_send(frame("a")).is_ok());
        assert!(tx.try_send(frame("b")).is_ok());
        assert_eq!(tx.try_send(frame("c")), Err(TrySendError::Full));
        assert_eq!(text(next(&mut rx)).as_deref(), Some("a"));
        assert!(tx.try_send(frame("c")).is_ok());
        assert_eq!(text(next(&mut rx)).as_deref(), Some("b"));
        assert_eq!(text(next(&mut rx)).as_deref(), Some("c"));
        assert!(next(&mut rx).is_none());
        assert_eq!(rx.inner.lock().items.capacity(), 0);
    }

    #[test]
    fn a_batch_goes_in_whole_or_not_at_all() {
        let (tx, mut rx) = outbox(3);
        assert!(tx.try_send(frame("a")).is_ok());
        assert_eq!(
            tx.try_send_all([frame("b"), frame("c"), frame("d")]),
            Err(TrySendError::Full),
            "three more do not fit beside one"
        );
        assert!(tx.try_send_all([frame("b"), frame("c")]).is_ok());
        let taken: Vec<_> = rx
            .try_recv_up_to(2)
            .into_iter()
            .map(|o| text(Some(o)))
            .collect();
        assert_eq!(
            taken,
            [Some("a".into()), Some("b".into())],
            "at most two at once"
        );
        assert_eq!(text(next(&mut rx)).as_deref(), Some("c"));
        assert!(rx.try_recv_up_to(5).is_empty());
        assert_eq!(
            rx.inner.lock().items.capacity(),
            0,
            "emptied, the buffer went too"
        );
    }

    #[test]
    fn closed_when_the_receiver_is_gone() {
        let (tx, rx) = outbox(4);
        drop(rx);
        assert_eq!(tx.try_send(frame("a")), Err(TrySendError::Closed));
    }

    #[tokio::test]
    async fn recv_waits_for_an_item_then_ends_with_the_sender() {
        let (tx, mut rx) = outbox(4);
        let waiting = tokio::spawn(async move {
            let first = text(rx.recv().await);
            let second = text(rx.recv().await);
            let end = rx.recv().await.is_none();
            (first, second, end)
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(tx.try_send(frame("a")).is_ok());
        assert!(tx.try_send(frame("b")).is_ok());
        drop(tx);
        let (first, second, end) = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("recv woke up")
            .expect("task ran");
        assert_eq!(first.as_deref(), Some("a"));
        assert_eq!(second.as_deref(), Some("b"));
        assert!(end);
    }

    #[tokio::test]
    async fn a_cancelled_recv_loses_nothing() {
        let (tx, mut rx) = outbox(4);
        assert!(tokio::time::timeout(Duration::from_millis(10), rx.recv())
            .await
            .is_err());
        assert!(tx.try_send(frame("a")).is_ok());
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("recv woke up");
        assert_eq!(text(got).as_deref(), Some("a"));
    }
}
