//! The cap on one user's concurrent sockets in this process: a socket past it is closed with
//! 4429 ("too many connections") before it costs a database read, so one account cannot tie
//! up a node's memory with sockets.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use huddle_domain::UserId;

pub(crate) struct UserSlots {
    /// Most sockets per user; 0 means no cap.
    cap: usize,
    counts: Mutex<HashMap<UserId, usize>>,
}

/// One socket's place in its user's count, given back when dropped.
pub(crate) struct Slot {
    slots: Arc<UserSlots>,
    user: UserId,
}

impl UserSlots {
    pub(crate) fn new(cap: usize) -> Arc<Self> {
        Arc::new(Self {
            cap,
            counts: Mutex::new(HashMap::new()),
        })
    }

    /// A slot for `user`, or `None` when the user already holds `cap` sockets here.
    pub(crate) fn acquire(slots: &Arc<Self>, user: UserId) -> Option<Slot> {
        let mut counts = slots.counts.lock().unwrap_or_else(|p| p.into_inner());
        let count = counts.entry(user).or_insert(0);
        if slots.cap > 0 && *count >= slots.cap {
            return None;
        }
        *count += 1;
        Some(Slot {
            slots: slots.clone(),
            user,
        })
    }

    #[cfg(test)]
    fn held(&self, user: UserId) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        counts.get(&user).copied().unwrap_or(0)
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.slots.counts.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = counts.get_mut(&self.user) {
            *count -= 1;
            if *count == 0 {
                // No entry per user who ever connected: the map holds only users online here.
                counts.remove(&self.user);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_user_holds_at_most_cap_slots_and_dropping_frees_one() {
        let slots = UserSlots::new(2);
        let a = UserSlots::acquire(&slots, 1).unwrap();
        let b = UserSlots::acquire(&slots, 1).unwrap();
        assert!(
            UserSlots::acquire(&slots, 1).is_none(),
            "third socket refused"
        );
        // Another user is not affected.
        let other = UserSlots::acquire(&slots, 2).unwrap();
        drop(a);
        let c = UserSlots::acquire(&slots, 1).unwrap();
        assert_eq!(slots.held(1), 2);
        drop((b, c, other));
        assert_eq!(slots.held(1), 0);
        assert!(
            slots.counts.lock().unwrap().is_empty(),
            "no entries left behind"
        );
    }

    #[test]
    fn zero_means_no_cap() {
        let slots = UserSlots::new(0);
        let held: Vec<Slot> = (0..1000)
            .map(|_| UserSlots::acquire(&slots, 7).unwrap())
            .collect();
        assert_eq!(slots.held(7), 1000);
        drop(held);
        assert_eq!(slots.held(7), 0);
    }
}
