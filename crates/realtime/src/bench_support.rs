//! Entry points for the Criterion benchmarks in `crates/bench` into code that is otherwise
//! private to this crate: event serialisation, client frame parsing, and one hub fan-out. Not
//! an API; nothing else should use it.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use huddle_domain::repository::RepoResult;
use huddle_domain::{DomainEvent, EndedSession, Message, RepoError, RoomCursor, RoomId};

use crate::bus::{BusEvent, EventBus};
use crate::config::RealtimeConfig;
use crate::hub::handle::HubCommand;
use crate::hub::store::HubStore;
use crate::hub::Hub;
use crate::link::Kill;
use crate::outbox::{outbox, OutboxReceiver};
use crate::protocol;
use crate::protocol::Frame;

/// Serialises an event into its frame, once for all receivers, as the hub does.
pub fn event_frame(event: &DomainEvent) -> Frame {
    protocol::event_frame(event)
}

/// Parses a client frame as the socket does; true when it is a valid frame.
pub fn parse_client_frame(text: &str) -> bool {
    protocol::parse(text).1.is_ok()
}

/// A hub with `connections` registered in one room, driven synchronously: each
/// [`FanoutRig::deliver`] hands it one `message.created` and empties every connection's queue.
pub struct FanoutRig {
    hub: Hub,
    receivers: Vec<OutboxReceiver>,
    bus: NullBus,
    store: Arc<dyn HubStore>,
    message: Message,
}

impl FanoutRig {
    pub fn new(connections: usize, message: Message) -> Self {
        let (_handle, mut hub) = Hub::new(&RealtimeConfig::default());
        let bus = NullBus;
        let store: Arc<dyn HubStore> = Arc::new(NoStore);
        let mut receivers = Vec::with_capacity(connections);
        for conn in 0..connections {
            let (tx, rx) = outbox(16);
            receivers.push(rx);
            let id = conn as u64 + 1;
            hub.handle_command(
                HubCommand::Register {
                    conn: id,
                    user_id: id as i64,
                    rooms: vec![RoomCursor {
                        room_id: message.room_id,
                        last_seq: message.seq - 1,
                        last_event_seq: message.seq - 1,
                    }],
                    since_epoch: 0,
                    tx,
                    kill: Arc::new(Kill::default()),
                    session_id: Arc::from(format!("s{id}")),
                },
                &bus,
                &store,
            );
        }
        Self {
            hub,
            receivers,
            bus,
            store,
            message,
        }
    }

    /// Delivers the next message of the room; returns how many connections received it.
    pub fn deliver(&mut self) -> usize {
        let message = self.message.clone();
        self.message.seq += 1;
        self.message.event_seq += 1;
        let event = DomainEvent::MessageCreated {
            room_id: message.room_id,
            event_seq: message.event_seq,
            message,
        };
        self.hub.handle_command(
            HubCommand::Deliver(BusEvent::Domain(event)),
            &self.bus,
            &self.store,
        );
        self.hub.flush(&self.bus);
        self.receivers
            .iter_mut()
            .map(|rx| rx.try_recv_up_to(usize::MAX).len())
            .sum()
    }
}

struct NullBus;

impl EventBus for NullBus {
    fn publish(&self, _event: BusEvent) {}
}

/// The hub reads the database only to fill gaps, which a rig never has.
struct NoStore;

impl HubStore for NoStore {
    fn messages_after(&self, _: RoomId, _: i64, _: usize) -> RepoResult<Vec<Message>> {
        Err(RepoError::Unavailable("no database in benchmarks".into()))
    }

    fn sessions_ended_since(&self, _: DateTime<Utc>) -> RepoResult<Vec<EndedSession>> {
        Err(RepoError::Unavailable("no database in benchmarks".into()))
    }
}
