//! The hub driven command by command, as its task would, with queues in place of sockets and
//! a recording bus: ordering, gaps, membership, sessions, slow consumers.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use huddle_domain::repository::RepoResult;
use huddle_domain::{DomainEvent, EndedSession, Member, Message, Role, RoomCursor, RoomId, UserId};

use super::handle::HubCommand;
use super::store::HubStore;
use super::Hub;
use crate::bus::BusEvent;
use crate::config::RealtimeConfig;
use crate::link::{ConnId, Kill, Outbound};
use crate::outbox::{outbox, OutboxReceiver};
use crate::testing::{self, RecordingBus};

mod membership;

/// A store holding one room's messages.
struct Store(Vec<Message>);

impl HubStore for Store {
    fn messages_after(
        &self,
        room_id: RoomId,
        after: i64,
        limit: usize,
    ) -> RepoResult<Vec<Message>> {
        Ok(self
            .0
            .iter()
            .filter(|m| m.room_id == room_id && m.seq > after)
            .take(limit)
            .cloned()
            .collect())
    }

    fn sessions_ended_since(&self, _: DateTime<Utc>) -> RepoResult<Vec<EndedSession>> {
        Ok(Vec::new())
    }
}

struct Rig {
    hub: Hub,
    bus: RecordingBus,
    store: Arc<dyn HubStore>,
}

/// A connection as the hub sees it: its queue's far end and its kill switch.
struct Conn {
    rx: OutboxReceiver,
    kill: Arc<Kill>,
}

impl Conn {
    /// Everything queued, each described briefly: a frame's type (and seq or body), or a room
    /// change.
    fn take(&mut self) -> Vec<String> {
        self.rx
            .try_recv_up_to(usize::MAX)
            .into_iter()
            .map(|o| match o {
                Outbound::Frame(f) => kind(&f),
                Outbound::Message { seq, .. } => format!("message {seq}"),
                Outbound::Change { seq: 0, frame, .. } => kind(&frame),
                Outbound::Change { seq, frame, .. } => format!("{} {seq}", kind(&frame)),
                Outbound::RoomAdded(r) => format!("+room {r}"),
                Outbound::RoomRemoved(r) => format!("-room {r}"),
            })
            .collect()
    }

    fn killed(&self) -> Option<u16> {
        self.kill.wait().now_or_never()
    }
}

fn kind(frame: &str) -> String {
    let v: serde_json::Value = serde_json::from_str(frame).unwrap();
    v["type"].as_str().unwrap().to_owned()
}

impl Rig {
    fn new(store: Vec<Message>) -> Self {
        let config = RealtimeConfig {
            gap_wait: Duration::from_millis(10),
            ..RealtimeConfig::default()
        };
        let (_handle, hub) = Hub::new(&config);
        Self {
            hub,
            bus: RecordingBus::default(),
            store: Arc::new(Store(store)),
        }
    }

    fn run(&mut self, cmd: HubCommand) {
        self.hub.handle_command(cmd, &self.bus, &self.store);
    }

    /// Ends the turn, as the task does once its queue is empty.
    fn flush(&mut self) {
        self.hub.flush(&self.bus);
    }

    fn connect(&mut self, conn: ConnId, user_id: UserId, rooms: &[(RoomId, i64)]) -> Conn {
        self.connect_with(conn, user_id, rooms, 0, 64, "s")
    }

    fn connect_with(
        &mut self,
        conn: ConnId,
        user_id: UserId,
        rooms: &[(RoomId, i64)],
        since_epoch: u64,
        queue: usize,
        session: &str,
    ) -> Conn {
        let (tx, rx) = outbox(queue);
        let kill = Arc::new(Kill::default());
        self.run(HubCommand::Register {
            conn,
            user_id,
            rooms: rooms
                .iter()
                .map(|(room_id, last_seq)| RoomCursor {
                    room_id: *room_id,
                    last_seq: *last_seq,
                    last_event_seq: *last_seq,
                })
                .collect(),
            since_epoch,
            tx,
            kill: kill.clone(),
            session_id: Arc::from(session),
        });
        Conn { rx, kill }
    }

    fn deliver(&mut self, event: DomainEvent) {
        self.run(HubCommand::Deliver(BusEvent::Domain(event)));
    }

    fn message(&mut self, room_id: RoomId, seq: i64) {
        let message = testing::messages(room_id, [seq]).remove(0);
        self.deliver(DomainEvent::MessageCreated {
            room_id,
            event_seq: message.event_seq,
            message,
        });
    }

    /// The next command the hub sent itself (a gap check, a read's result).
    async fn next_own_command(&mut self) -> HubCommand {
        tokio::time::timeout(Duration::from_secs(5), self.hub.rx.recv())
            .await
            .expect("in time")
            .expect("open")
    }
}

fn member(user_id: UserId) -> Member {
    Member {
        user: testing::user(user_id),
        role: Role::Member,
        joined_at: DateTime::from_timestamp(1_700_000_000, 0).unwrap(),
    }
}

#[tokio::test]
async fn a_room_goes_out_in_seq_order_one_batch_per_turn() {
    let mut rig = Rig::new(Vec::new());
    let mut a = rig.connect(1, 10, &[(5, 0)]);
    let mut b = rig.connect(2, 11, &[(5, 0)]);
    rig.message(5, 2);
    rig.message(5, 1);
    rig.message(5, 3);
    assert!(a.take().is_empty(), "staged until the turn ends");
    rig.flush();
    assert_eq!(a.take(), ["message 1", "message 2", "message 3"]);
    assert_eq!(b.take(), ["message 1", "message 2", "message 3"]);
    rig.message(5, 3);
    rig.message(6, 1);
    rig.flush();
    assert!(a.take().is_empty(), "a duplicate, and a room not followed");
    assert_eq!(rig.hub.handle.stats().deliveries.load(Ordering::Relaxed), 6);
}

#[test]
fn anything_but_a_message_sends_what_was_staged_first() {
    let mut rig = Rig::new(Vec::new());
    let mut a = rig.connect(1, 10, &[(5, 0)]);
    rig.message(5, 1);
    rig.deliver(DomainEvent::MessageDeleted {
        room_id: 5,
        message_id: 1,
        seq: 1,
        event_seq: 2,
    });
    rig.deliver(DomainEvent::RoomDeleted { room_id: 5 });
    assert_eq!(
        a.take(),
        ["message 1", "message.deleted 1", "room.deleted", "-room 5"]
    );
    rig.message(5, 2);
    rig.flush();
    assert!(a.take().is_empty(), "the room is no longer followed");
}

#[tokio::test]
async fn a_gap_is_waited_for_then_read_from_the_store() {
    let mut rig = Rig::new(testing::messages(5, 1..=3));
    let mut a = rig.connect(1, 10, &[(5, 0)]);
    rig.message(5, 3);
    rig.flush();
    assert!(a.take().is_empty(), "1 and 2 are missing");
    let check = rig.next_own_command().await;
    assert!(matches!(check, HubCommand::GapCheck { room_id: 5 }));
    rig.run(check);
    let filled = rig.next_own_command().await;
    assert!(matches!(
        &filled,
        HubCommand::GapFilled { room_id: 5, messages, missing_up_to: Some(2) }
            if messages.len() == 2
    ));
    rig.run(filled);
    rig.flush();
    assert_eq!(a.take(), ["message 1", "message 2", "message 3"]);
    assert_eq!(rig.hub.handle.stats().gap_fills.load(Ordering::Relaxed), 1);
}

#[tokio::test]
async fn after_an_outage_every_followed_room_is_read_past_what_went_out() {
    let mut rig = Rig::new(testing::messages(5, 1..=4));
    let mut a = rig.connect(1, 10, &[(5, 0)]);
    rig.message(5, 1);
    rig.flush();
    assert_eq!(a.take(), ["message 1"]);
    rig.run(HubCommand::Resync);
    let filled = rig.next_own_command().await;
    assert!(matches!(
        &filled,
        HubCommand::GapFilled {
            room_id: 5,
            missing_up_to: None,
            ..
        }
    ));
    rig.run(filled);
    rig.flush();
    assert_eq!(a.take(), ["message 2", "message 3", "message 4"]);
}

#[test]
fn a_slow_connection_is_cut_alone_and_goes_offline() {
    let mut rig = Rig::new(Vec::new());
    let mut fast = rig.connect(1, 10, &[(5, 0)]);
    let mut slow = rig.connect_with(2, 11, &[(5, 0)], 0, 2, "s");
    rig.bus.take_events();
    for seq in 1..=3 {
        rig.message(5, seq);
    }
    rig.flush();
    assert_eq!(fast.take().len(), 3);
    assert!(slow.take().is_empty(), "all of the batch or none");
    assert_eq!(slow.killed(), Some(1013));
    let stats = rig.hub.handle.stats();
    assert_eq!(stats.slow_consumer_closes.load(Ordering::Relaxed), 1);
    assert_eq!(stats.connections.load(Ordering::Relaxed), 1);
    assert!(!rig.hub.handle.is_online_here(11));
    assert_eq!(rig.bus.presence(), [(11, false, vec![5])]);
    // Its own Unregister comes later and changes nothing.
    rig.run(HubCommand::Unregister { conn: 2 });
    assert_eq!(
        rig.hub.handle.stats().connections.load(Ordering::Relaxed),
        1
    );
}

#[test]
fn typing_and_presence_skip_the_users_own_connections() {
    let mut rig = Rig::new(Vec::new());
    let mut ann = rig.connect(1, 10, &[(5, 0)]);
    let mut ann2 = rig.connect(2, 10, &[(5, 0)]);
    let mut bob = rig.connect(3, 11, &[(5, 0)]);
    rig.bus.take_events();
    rig.run(HubCommand::Typing {
        conn: 1,
        room_id: 5,
    });
    rig.run(HubCommand::Typing {
        conn: 1,
        room_id: 6,
    });
    let events = rig.bus.take_events();
    assert_eq!(
        events,
        [BusEvent::Typing {
            room_id: 5,
            user_id: 10
        }],
        "only in a room of the connection"
    );
    for event in events {
        rig.run(HubCommand::Deliver(event));
    }
    rig.run(HubCommand::Deliver(BusEvent::Presence {
        user_id: 10,
        online: true,
        room_ids: vec![5, 5],
    }));
    assert_eq!(bob.take(), ["typing", "presence"], "once each");
    assert!(ann.take().is_empty() && ann2.take().is_empty());
}

#[test]
fn an_ended_session_closes_its_sockets_with_4401() {
    let mut rig = Rig::new(Vec::new());
    let a = rig.connect_with(1, 10, &[], 0, 8, "s1");
    let b = rig.connect_with(2, 10, &[], 0, 8, "s2");
    rig.run(HubCommand::Deliver(BusEvent::SessionsEnded {
        sessions: vec![(10, "s1".into())],
    }));
    assert_eq!((a.killed(), b.killed()), (Some(4401), None));
    assert!(rig.hub.revocations.is_ended("s1"));
    // A socket registering with a session ended meanwhile, or re-authenticating into one.
    let c = rig.connect_with(3, 10, &[], 0, 8, "s1");
    assert_eq!(c.killed(), Some(4401));
    rig.run(HubCommand::Reauthed {
        conn: 2,
        session_id: Arc::from("s1"),
    });
    assert_eq!(b.killed(), Some(4401));
}

#[tokio::test(flavor = "current_thread")]
async fn the_hub_reports_how_long_its_queue_waited() {
    let config = RealtimeConfig {
        fanout_lag_limit: Some(Duration::from_millis(100)),
        ..RealtimeConfig::default()
    };
    let (handle, hub) = Hub::new(&config);
    let gate = handle.send_gate().clone();
    // More than a turn's commands, waiting longer than the limit before the hub runs.
    let queue = |handle: &super::HubHandle| {
        for room_id in 0..2 * super::TURN as RoomId {
            handle.send(HubCommand::GapCheck { room_id });
        }
    };
    queue(&handle);
    std::thread::sleep(Duration::from_millis(150));
    let bus = Arc::new(crate::LocalBus::new(handle.clone()));
    let task = hub.spawn(
        bus,
        Arc::new(huddle_domain::memory::MemoryRepository::new()),
    );
    tokio::time::timeout(Duration::from_secs(5), async {
        while gate.times_shut() == 0 || !gate.is_open() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("shut by the first turn, open once the queue was empty");
    assert_eq!(gate.local(), Duration::ZERO);
    // The same commands, handled as they come: nothing waits long, the gate stays open.
    queue(&handle);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!((gate.times_shut(), gate.local()), (1, Duration::ZERO));
    task.abort();
}
