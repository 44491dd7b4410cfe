//! Who is connected here: each connection with its user, queue, kill switch, rooms and
//! session; each user's connections; each followed room's connections. Owned by the hub task
//! alone, so it needs no lock.
//!
//! It also keeps what follows from those maps in step with them: the bus is told which rooms
//! and users this process follows (a cluster bus subscribes to only those), and a user's first
//! connection here and last one going are published as presence.
use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;

use huddle_domain::{RoomId, UserId};

use crate::bus::{BusEvent, EventBus};
use crate::hub::handle::{HubHandle, HubStats};
use crate::hub::room::RoomState;
use crate::link::{ConnId, Kill};
use crate::outbox::OutboxSender;

pub(crate) struct ConnEntry {
    pub user_id: UserId,
    pub tx: OutboxSender,
    pub kill: Arc<Kill>,
    pub rooms: HashSet<RoomId>,
    /// The login its token belongs to: the socket closes when that session ends.
    pub session_id: Arc<str>,
}

pub(crate) struct Registry {
    /// Where the counters and the online set are published.
    handle: HubHandle,
    conns: HashMap<ConnId, ConnEntry>,
    users: HashMap<UserId, HashSet<ConnId>>,
    rooms: HashMap<RoomId, RoomState>,
}

impl Registry {
    pub(crate) fn new(handle: HubHandle) -> Self {
        Self {
            handle,
            conns: HashMap::new(),
            users: HashMap::new(),
            rooms: HashMap::new(),
        }
    }

    /// Adds a connection following `rooms` (each with its last seq when known); its user's
    /// first connection here brings the user online.
    pub(crate) fn add(
        &mut self,
        conn: ConnId,
        entry: ConnEntry,
        rooms: HashMap<RoomId, Option<i64>>,
        bus: &dyn EventBus,
    ) {
        let user_id = entry.user_id;
        let mut room_ids = HashSet::with_capacity(rooms.len());
        for (room_id, last_seq) in rooms {
            self.follow(room_id, conn, last_seq, bus);
            room_ids.insert(room_id);
        }
        let presence_rooms: Vec<RoomId> = room_ids.iter().copied().collect();
        self.conns.insert(
            conn,
            ConnEntry {
                rooms: room_ids,
                ..entry
            },
        );
        self.handle
            .stats()
            .connections
            .fetch_add(1, Ordering::Relaxed);
        let user_conns = self.users.entry(user_id).or_default();
        user_conns.insert(conn);
        if user_conns.len() == 1 {
            self.handle.set_online(user_id, true);
            bus.watch_user(user_id, true);
            self.handle
                .stats()
                .users_online
                .fetch_add(1, Ordering::Relaxed);
            bus.publish(BusEvent::Presence {
                user_id,
                online: true,
                room_ids: presence_rooms,
            });
        }
    }

    /// Removes a connection (nothing if it is gone already); its user's last here goes offline.
    pub(crate) fn remove(&mut self, conn: ConnId, bus: &dyn EventBus) {
        let Some(entry) = self.conns.remove(&conn) else {
            return;
        };
        self.handle
            .stats()
            .connections
            .fetch_sub(1, Ordering::Relaxed);
        for room_id in &entry.rooms {
            self.unfollow(*room_id, conn, bus);
        }
        if let Some(user_conns) = self.users.get_mut(&entry.user_id) {
            user_conns.remove(&conn);
            if user_conns.is_empty() {
                self.users.remove(&entry.user_id);
                self.handle.set_online(entry.user_id, false);
                bus.watch_user(entry.user_id, false);
                self.handle
                    .stats()
                    .users_online
                    .fetch_sub(1, Ordering::Relaxed);
                bus.publish(BusEvent::Presence {
                    user_id: entry.user_id,
                    online: false,
                    room_ids: entry.rooms.into_iter().collect(),
                });
            }
        }
    }

    pub(crate) fn stats(&self) -> &HubStats {
        self.handle.stats()
    }

    pub(crate) fn entry(&self, conn: ConnId) -> Option<&ConnEntry> {
        self.conns.get(&conn)
    }

    pub(crate) fn entry_mut(&mut self, conn: ConnId) -> Option<&mut ConnEntry> {
        self.conns.get_mut(&conn)
    }

    pub(crate) fn room_mut(&mut self, room_id: RoomId) -> Option<&mut RoomState> {
        self.rooms.get_mut(&room_id)
    }

    /// Each followed room with the highest seq released in it, where known.
    pub(crate) fn released(&self) -> Vec<(RoomId, i64)> {
        self.rooms
            .iter()
            .filter_map(|(id, r)| r.released_up_to().map(|s| (*id, s)))
            .collect()
    }

    /// The room's connections here, but those of `except_user` (who need not hear of their
    /// own typing or presence).
    pub(crate) fn room_conns(&self, room_id: RoomId, except_user: Option<UserId>) -> Vec<ConnId> {
        let Some(room) = self.rooms.get(&room_id) else {
            return Vec::new();
        };
        room.conns
            .iter()
            .copied()
            .filter(|c| {
                except_user.is_none() || self.conns.get(c).map(|e| e.user_id) != except_user
            })
            .collect()
    }

    pub(crate) fn user_conns(&self, user_id: UserId) -> Vec<ConnId> {
        self.users
            .get(&user_id)
            .map(|c| c.iter().copied().collect())
            .unwrap_or_default()
    }

    /// The user joined the room: each of their connections follows it now. Returns them.
    pub(crate) fn joined(
        &mut self,
        user_id: UserId,
        room_id: RoomId,
        bus: &dyn EventBus,
    ) -> Vec<ConnId> {
        let user_conns = self.user_conns(user_id);
        for c in &user_conns {
            self.follow(room_id, *c, None, bus);
        }
        for c in &user_conns {
            if let Some(entry) = self.conns.get_mut(c) {
                entry.rooms.insert(room_id);
            }
        }
        user_conns
    }

    /// These connections no longer follow the room (their user left it).
    pub(crate) fn left(&mut self, conns: &[ConnId], room_id: RoomId, bus: &dyn EventBus) {
        for c in conns {
            if let Some(entry) = self.conns.get_mut(c) {
                entry.rooms.remove(&room_id);
            }
            self.unfollow(room_id, *c, bus);
        }
    }

    /// The room is gone: no connection follows it, `conns` (its followers) included.
    pub(crate) fn deleted(&mut self, conns: &[ConnId], room_id: RoomId, bus: &dyn EventBus) {
        for c in conns {
            if let Some(entry) = self.conns.get_mut(c) {
                entry.rooms.remove(&room_id);
            }
        }
        if self.rooms.remove(&room_id).is_some() {
            bus.watch_room(room_id, false);
        }
    }

    /// Kills the user's connections of the session with `code`.
    pub(crate) fn kill_session(&self, user_id: UserId, session_id: &str, code: u16) {
        let Some(conns) = self.users.get(&user_id) else {
            return;
        };
        for conn in conns {
            if let Some(entry) = self.conns.get(conn) {
                if *entry.session_id == *session_id {
                    entry.kill.kill(code);
                }
            }
        }
    }

    fn follow(&mut self, room_id: RoomId, conn: ConnId, last_seq: Option<i64>, bus: &dyn EventBus) {
        let room = self.rooms.entry(room_id).or_insert_with(|| {
            bus.watch_room(room_id, true);
            RoomState::new(last_seq)
        });
        room.conns.insert(conn);
    }

    fn unfollow(&mut self, room_id: RoomId, conn: ConnId, bus: &dyn EventBus) {
        if let Some(room) = self.rooms.get_mut(&room_id) {
            room.conns.remove(&conn);
            if room.conns.is_empty() {
                self.rooms.remove(&room_id);
                bus.watch_room(room_id, false);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::outbox::{outbox, OutboxReceiver};
    use crate::testing::{RecordingBus, Watch};

    fn registry() -> Registry {
        Registry::new(HubHandle::new().0)
    }

    fn entry(user_id: UserId, session: &str) -> (ConnEntry, OutboxReceiver) {
        let (tx, rx) = outbox(8);
        let entry = ConnEntry {
            user_id,
            tx,
            kill: Arc::new(Kill::default()),
            rooms: HashSet::new(),
            session_id: Arc::from(session),
        };
        (entry, rx)
    }

    fn connect(r: &mut Registry, conn: ConnId, user: UserId, rooms: &[RoomId], bus: &RecordingBus) {
        let (e, _rx) = entry(user, "s");
        r.add(conn, e, rooms.iter().map(|r| (*r, Some(0))).collect(), bus);
    }

    fn sorted(mut v: Vec<ConnId>) -> Vec<ConnId> {
        v.sort_unstable();
        v
    }

    #[test]
    fn a_users_first_connection_brings_them_online_and_the_last_takes_them_off() {
        let bus = RecordingBus::default();
        let mut r = registry();
        connect(&mut r, 1, 10, &[5], &bus);
        connect(&mut r, 2, 10, &[5, 6], &bus);
        assert!(r.handle.is_online_here(10));
        assert_eq!(r.handle.stats().connections.load(Ordering::Relaxed), 2);
        assert_eq!(r.handle.stats().users_online.load(Ordering::Relaxed), 1);
        assert_eq!(
            bus.presence(),
            [(10, true, vec![5])],
            "published once, for the first connection's rooms"
        );
        assert_eq!(
            bus.take_watches(),
            [
                Watch::Room(5, true),
                Watch::User(10, true),
                Watch::Room(6, true)
            ]
        );
        r.remove(1, &bus);
        assert!(r.handle.is_online_here(10), "one connection left");
        assert!(bus.take_watches().is_empty(), "room 5 still followed");
        r.remove(2, &bus);
        r.remove(2, &bus);
        assert!(!r.handle.is_online_here(10));
        assert_eq!(r.handle.stats().connections.load(Ordering::Relaxed), 0);
        assert_eq!(r.handle.stats().users_online.load(Ordering::Relaxed), 0);
        let offline = bus.presence().pop().unwrap();
        assert_eq!((offline.0, offline.1), (10, false));
        assert_eq!(
            sorted(offline.2.iter().map(|r| *r as u64).collect()),
            [5, 6]
        );
        let mut watches = bus.take_watches();
        watches.sort_by_key(|w| format!("{w:?}"));
        assert_eq!(
            watches,
            [
                Watch::Room(5, false),
                Watch::Room(6, false),
                Watch::User(10, false)
            ]
        );
        assert!(r.released().is_empty(), "no room kept");
    }

    #[test]
    fn a_room_lists_its_connections_but_those_of_the_user_left_out() {
        let bus = RecordingBus::default();
        let mut r = registry();
        connect(&mut r, 1, 10, &[5], &bus);
        connect(&mut r, 2, 11, &[5], &bus);
        connect(&mut r, 3, 11, &[6], &bus);
        assert_eq!(sorted(r.room_conns(5, None)), [1, 2]);
        assert_eq!(r.room_conns(5, Some(11)), [1]);
        assert!(r.room_conns(7, None).is_empty());
        assert_eq!(sorted(r.user_conns(11)), [2, 3]);
        assert!(r.user_conns(12).is_empty());
        let mut released = r.released();
        released.sort_unstable();
        assert_eq!(released, [(5, 0), (6, 0)], "as of the rooms read");
    }

    #[test]
    fn joining_leaving_and_deleting_move_every_connection_of_the_user() {
        let bus = RecordingBus::default();
        let mut r = registry();
        connect(&mut r, 1, 10, &[5], &bus);
        connect(&mut r, 2, 10, &[], &bus);
        connect(&mut r, 3, 11, &[5], &bus);
        bus.take_watches();
        assert_eq!(sorted(r.joined(10, 6, &bus)), [1, 2]);
        assert_eq!(bus.take_watches(), [Watch::Room(6, true)]);
        assert!(r.entry(2).unwrap().rooms.contains(&6));
        assert_eq!(sorted(r.room_conns(6, None)), [1, 2]);

        r.left(&[1, 2], 6, &bus);
        assert!(r.room_conns(6, None).is_empty());
        assert!(!r.entry(1).unwrap().rooms.contains(&6));
        assert_eq!(bus.take_watches(), [Watch::Room(6, false)]);

        let followers = r.room_conns(5, None);
        r.deleted(&followers, 5, &bus);
        assert!(r.entry(1).unwrap().rooms.is_empty());
        assert!(r.entry(3).unwrap().rooms.is_empty());
        assert_eq!(bus.take_watches(), [Watch::Room(5, false)]);
        r.deleted(&[], 5, &bus);
        assert!(bus.take_watches().is_empty(), "told once");
    }

    #[test]
    fn ending_a_session_kills_only_its_connections() {
        let bus = RecordingBus::default();
        let mut r = registry();
        let (a, _ra) = entry(10, "s1");
        let (b, _rb) = entry(10, "s2");
        let (a_kill, b_kill) = (a.kill.clone(), b.kill.clone());
        r.add(1, a, HashMap::new(), &bus);
        r.add(2, b, HashMap::new(), &bus);
        r.kill_session(10, "s1", 4401);
        r.kill_session(11, "s2", 4401);
        use futures_util::FutureExt;
        assert_eq!(a_kill.wait().now_or_never(), Some(4401));
        assert_eq!(b_kill.wait().now_or_never(), None);
        r.entry_mut(2).unwrap().session_id = Arc::from("s1");
        r.kill_session(10, "s1", 4401);
        assert_eq!(b_kill.wait().now_or_never(), Some(4401));
    }
}
