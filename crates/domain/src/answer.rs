//! A one-shot answer: the bridge from a repository that completes a command on its own thread
//! (through a callback) to the async edge that must answer the client. Written once here, on
//! `std` alone, so the REST handlers and the socket share it and the domain needs no runtime.
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Waker};

enum Slot<T> {
    Waiting(Option<Waker>),
    Ready(T),
    Taken,
}

/// The sending half: a callback hands its result to [`Reply::send`]. Dropping it unsent
/// resolves the [`Answer`] with the fallback given to [`answer`].
pub struct Reply<T> {
    slot: Arc<Mutex<Slot<T>>>,
    fallback: Option<T>,
}

/// The receiving half: a future of the command's result.
pub struct Answer<T> {
    slot: Arc<Mutex<Slot<T>>>,
}

/// A connected pair. `fallback` is what the answer resolves to if the reply is dropped without
/// being sent (e.g. the writer thread stopped), so an edge never waits forever.
pub fn answer<T>(fallback: T) -> (Reply<T>, Answer<T>) {
    let slot = Arc::new(Mutex::new(Slot::Waiting(None)));
    (
        Reply {
            slot: Arc::clone(&slot),
            fallback: Some(fallback),
        },
        Answer { slot },
    )
}

impl<T> Reply<T> {
    pub fn send(mut self, value: T) {
        self.fill(value);
    }

    fn fill(&mut self, value: T) {
        self.fallback = None;
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        if let Slot::Waiting(waker) = std::mem::replace(&mut *slot, Slot::Ready(value)) {
            drop(slot);
            if let Some(w) = waker {
                w.wake();
            }
        }
    }
}

impl<T> Drop for Reply<T> {
    fn drop(&mut self) {
        if let Some(fallback) = self.fallback.take() {
            self.fill(fallback);
        }
    }
}

impl<T> Future for Answer<T> {
    type Output = T;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Ready(value) => Poll::Ready(value),
            Slot::Waiting(_) => {
                *slot = Slot::Waiting(Some(cx.waker().clone()));
                Poll::Pending
            }
            // Polled again after it resolved: a caller's bug, never done by `.await`.
            Slot::Taken => Poll::Pending,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<T>(a: &mut Answer<T>, waker: &Waker) -> Poll<T> {
        Pin::new(a).poll(&mut Context::from_waker(waker))
    }

    #[test]
    fn a_reply_from_another_thread_wakes_the_waiting_answer() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let (reply, mut answer) = answer::<Result<u32, &str>>(Err("dropped"));
        assert!(poll(&mut answer, &waker).is_pending());
        std::thread::spawn(move || reply.send(Ok(7)))
            .join()
            .unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut answer, &waker), Poll::Ready(Ok(7)));
    }

    #[test]
    fn a_reply_sent_before_the_first_poll_is_ready_at_once() {
        let waker = Waker::from(Arc::new(Count(AtomicUsize::new(0))));
        let (reply, mut answer) = answer("fallback");
        reply.send("sent");
        assert_eq!(poll(&mut answer, &waker), Poll::Ready("sent"));
    }

    #[test]
    fn a_dropped_reply_resolves_with_the_fallback() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(Arc::clone(&count));
        let (reply, mut answer) = answer("fallback");
        assert!(poll(&mut answer, &waker).is_pending());
        drop(reply);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut answer, &waker), Poll::Ready("fallback"));
    }
}
