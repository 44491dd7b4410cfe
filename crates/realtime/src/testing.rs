//! Fixtures for the crate's unit tests: a bus that records what it is told, and entities to
//! feed the hub with. No database, no socket.
use std::sync::Mutex;

use huddle_domain::{Message, RoomId, User, UserId};

use crate::bus::{BusEvent, EventBus};

/// What a bus was asked to follow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Watch {
    Room(RoomId, bool),
    User(UserId, bool),
}

#[derive(Default)]
pub(crate) struct RecordingBus {
    events: Mutex<Vec<BusEvent>>,
    watches: Mutex<Vec<Watch>>,
}

impl RecordingBus {
    pub(crate) fn take_events(&self) -> Vec<BusEvent> {
        std::mem::take(&mut *self.events.lock().unwrap())
    }

    pub(crate) fn take_watches(&self) -> Vec<Watch> {
        std::mem::take(&mut *self.watches.lock().unwrap())
    }

    /// The presence events published so far (user, online, rooms told), kept.
    pub(crate) fn presence(&self) -> Vec<(UserId, bool, Vec<RoomId>)> {
        self.events
            .lock()
            .unwrap()
            .iter()
            .filter_map(|e| match e {
                BusEvent::Presence {
                    user_id,
                    online,
                    room_ids,
                } => Some((*user_id, *online, room_ids.clone())),
                _ => None,
            })
            .collect()
    }
}

impl EventBus for RecordingBus {
    fn publish(&self, event: BusEvent) {
        self.events.lock().unwrap().push(event);
    }

    fn watch_room(&self, room_id: RoomId, watching: bool) {
        self.watches
            .lock()
            .unwrap()
            .push(Watch::Room(room_id, watching));
    }

    fn watch_user(&self, user_id: UserId, watching: bool) {
        self.watches
            .lock()
            .unwrap()
            .push(Watch::User(user_id, watching));
    }
}

pub(crate) fn user(id: UserId) -> User {
    User {
        id,
        username: format!("user{id}"),
        display_name: format!("User {id}"),
        bio: String::new(),
        created_at: chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap_or_default(),
    }
}

/// Messages of a room with the seqs given (ids equal to the seqs), by user 1.
pub(crate) fn messages(room_id: RoomId, seqs: impl IntoIterator<Item = i64>) -> Vec<Message> {
    seqs.into_iter()
        .map(|seq| Message {
            id: seq,
            room_id,
            seq,
            author: user(1),
            body: format!("m{seq}"),
            client_msg_id: None,
            created_at: chrono::DateTime::from_timestamp(1_700_000_000 + seq, 0)
                .unwrap_or_default(),
            edited_at: None,
            deleted: false,
            reactions: Vec::new(),
            event_seq: seq,
            reply_to: None,
            reply_to_id: None,
            mentions: Vec::new(),
            mentions_room: false,
            attachments: Vec::new(),
        })
        .collect()
}
