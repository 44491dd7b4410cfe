//! The hub: one task per process that owns the connection registry and fans events out.
//!
//! Everything that changes the registry or delivers an event is a command on one channel, so
//! the registry needs no lock and registration, membership changes and deliveries happen in a
//! single well-defined order. Each event is serialised once; each connection gets it through a
//! bounded queue, and a connection whose queue is full is cut (1013) instead of slowing the
//! others or growing memory.
//!
//! This module is the task and its dispatch; the parts it drives are below it:
//! [`registry`] (who follows what), [`room`] (a room's message order and gaps),
//! [`membership`] (changes racing a connect), [`fanout`] (queueing, staging a turn's messages)
//! and [`store`] (reads from the database, off the task). [`handle`] is how the rest of the
//! crate talks to it.
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use huddle_auth::Revocations;
use huddle_domain::{DomainEvent, Message, Repository, RoomCursor, RoomId, UserId};

use crate::bus::{BusEvent, EventBus};
use crate::config::RealtimeConfig;
use crate::link::{ConnId, Outbound};
use crate::protocol::{self, Frame};

mod fanout;
pub(crate) mod handle;
mod membership;
mod registry;
mod room;
pub(crate) mod store;
#[cfg(test)]
mod tests;

use fanout::Staged;
use handle::{HubCommand, HubQueue};
pub use handle::{HubHandle, HubStats};
use membership::{MembershipLog, MEMBERSHIP_LOG};
use registry::{ConnEntry, Registry};
use room::Released;
use store::{HubStore, RepoStore};

/// Most messages read per room when catching up after a bus outage; clients `sync` for more.
const REPLAY_LIMIT: usize = 1000;

/// The most commands one turn of the hub handles before it sends what they released.
const TURN: usize = 256;

pub struct Hub {
    rx: HubQueue,
    handle: HubHandle,
    config: RealtimeConfig,
    registry: Registry,
    membership: MembershipLog,
    /// Sent when the turn ends ([`Hub::flush`]).
    staged: Staged,
    /// Sessions ended recently; shared with the auth service, which refuses their tokens.
    revocations: Arc<Revocations>,
}

impl Hub {
    pub fn new(config: &RealtimeConfig) -> (HubHandle, Hub) {
        let (handle, rx) = HubHandle::with_lag_limit(config.fanout_lag_limit);
        let hub = Hub {
            rx,
            handle: handle.clone(),
            config: config.clone(),
            registry: Registry::new(handle.clone()),
            membership: MembershipLog::new(MEMBERSHIP_LOG),
            staged: Staged::default(),
            revocations: Arc::new(Revocations::new(std::time::Duration::from_secs(15 * 60))),
        };
        (handle, hub)
    }

    /// Shares the auth service's set of ended sessions: the hub records the endings the bus
    /// brings from other nodes there, and closes the sockets of ended sessions.
    pub fn with_revocations(mut self, revocations: Arc<Revocations>) -> Self {
        self.revocations = revocations;
        self
    }

    /// Runs the hub on the current Tokio runtime until the process ends.
    pub fn spawn(
        self,
        bus: Arc<dyn EventBus>,
        repo: Arc<dyn Repository>,
    ) -> tokio::task::JoinHandle<()> {
        let store: Arc<dyn HubStore> = Arc::new(RepoStore(repo));
        tokio::spawn(self.run(bus, store))
    }

    async fn run(mut self, bus: Arc<dyn EventBus>, store: Arc<dyn HubStore>) {
        while let Some((sent, cmd)) = self.rx.recv_stamped().await {
            // How long the oldest command of the turn waited is how far fan-out runs behind.
            let waited = sent.elapsed();
            // A batch commit publishes its messages back to back: take in what is queued
            // already, then send it together.
            self.handle_command(cmd, &*bus, &store);
            for _ in 1..TURN {
                match self.rx.try_recv_stamped() {
                    Ok((_, cmd)) => self.handle_command(cmd, &*bus, &store),
                    Err(_) => break,
                }
            }
            self.flush(&*bus);
            // Caught up: nothing waits. (Checked now, not from the turn's last take: a turn
            // that took exactly what was queued must not leave the gate shut.)
            let lag = if self.rx.is_empty() {
                Duration::ZERO
            } else {
                waited
            };
            self.handle.send_gate().record_local(lag);
        }
    }

    /// Handles one command. New messages are staged until [`Hub::flush`]; anything else
    /// sends what is staged first, so a connection gets everything in the order it happened.
    pub(crate) fn handle_command(
        &mut self,
        cmd: HubCommand,
        bus: &dyn EventBus,
        store: &Arc<dyn HubStore>,
    ) {
        let stages_messages = matches!(
            cmd,
            HubCommand::GapFilled { .. }
                | HubCommand::Deliver(BusEvent::Domain(DomainEvent::MessageCreated { .. }))
        );
        if !stages_messages {
            self.flush(bus);
        }
        match cmd {
            HubCommand::Register {
                conn,
                user_id,
                rooms,
                since_epoch,
                tx,
                kill,
                session_id,
            } => {
                if self.revocations.is_ended(&session_id) {
                    // Ended between the token check and now.
                    kill.kill(protocol::CLOSE_UNAUTHENTICATED);
                }
                let entry = ConnEntry {
                    user_id,
                    tx,
                    kill,
                    rooms: Default::default(),
                    session_id,
                };
                self.register(conn, entry, &rooms, since_epoch, bus);
            }
            HubCommand::Unregister { conn } => self.registry.remove(conn, bus),
            HubCommand::Reauthed { conn, session_id } => {
                if let Some(entry) = self.registry.entry_mut(conn) {
                    if self.revocations.is_ended(&session_id) {
                        entry.kill.kill(protocol::CLOSE_UNAUTHENTICATED);
                    }
                    entry.session_id = session_id;
                }
            }
            HubCommand::Typing { conn, room_id } => {
                if let Some(c) = self.registry.entry(conn) {
                    if c.rooms.contains(&room_id) {
                        bus.publish(BusEvent::Typing {
                            room_id,
                            user_id: c.user_id,
                        });
                    }
                }
            }
            HubCommand::Deliver(event) => self.deliver(event, bus),
            HubCommand::GapCheck { room_id } => self.check_gap(room_id, store),
            HubCommand::Resync => {
                let rooms = self.registry.released();
                tracing::info!(
                    rooms = rooms.len(),
                    "catching followed rooms up from the database"
                );
                store::reload_ended_sessions(&self.handle, store, self.revocations.window());
                for (room_id, after) in rooms {
                    store::fill(&self.handle, store, room_id, after, REPLAY_LIMIT, None);
                }
            }
            HubCommand::GapFilled {
                room_id,
                messages,
                missing_up_to,
            } => self.gap_filled(room_id, messages, missing_up_to),
        }
    }

    /// Registers a connection with its rooms as read plus the membership changes since.
    fn register(
        &mut self,
        conn: ConnId,
        entry: ConnEntry,
        rooms: &[RoomCursor],
        since_epoch: u64,
        bus: &dyn EventBus,
    ) {
        let user_id = entry.user_id;
        let catch_up = self.membership.catch_up(user_id, rooms, since_epoch);
        // Counted as its user's before anything is queued for it: a connection cut while
        // catching up is then unregistered whole, and its user does not stay online here.
        self.registry.add(conn, entry, catch_up.cursors, bus);
        if catch_up.incomplete {
            // Set-up took so long that the changes since are no longer known: start over.
            tracing::warn!(
                conn,
                user_id,
                "membership log overrun during connect; closing with 1013"
            );
            if let Some(entry) = self.registry.entry(conn) {
                entry.kill.kill(protocol::CLOSE_TRY_AGAIN_LATER);
            }
        }
        for item in catch_up.items {
            fanout::send_to(&mut self.registry, &[conn], |_| item.clone(), bus);
        }
    }

    fn deliver(&mut self, event: BusEvent, bus: &dyn EventBus) {
        match event {
            BusEvent::SessionsEnded { sessions } => self.end_sessions(&sessions),
            BusEvent::Domain(event) => self.deliver_domain(event, bus),
            BusEvent::Typing { room_id, user_id } => {
                let frame = protocol::typing_frame(room_id, user_id);
                let targets = self.registry.room_conns(room_id, Some(user_id));
                fanout::frame_to(&mut self.registry, &targets, frame, bus);
            }
            BusEvent::Presence {
                user_id,
                online,
                room_ids,
            } => {
                let frame = protocol::presence_frame(user_id, online);
                let mut targets: Vec<ConnId> = room_ids
                    .iter()
                    .flat_map(|r| self.registry.room_conns(*r, Some(user_id)))
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                fanout::frame_to(&mut self.registry, &targets, frame, bus);
            }
        }
    }

    fn deliver_domain(&mut self, event: DomainEvent, bus: &dyn EventBus) {
        let room_id = event.room_id();
        match &event {
            DomainEvent::MessageCreated {
                message, event_seq, ..
            } => {
                let Some(room) = self.registry.room_mut(room_id) else {
                    return;
                };
                let ready = room.offer(message.seq, *event_seq, protocol::event_frame(&event));
                self.staged.stage(room_id, ready);
                self.arm_gap_check(room_id);
                if message.mentions_room || !message.mentions.is_empty() {
                    self.notify_mentioned(room_id, message, bus);
                }
            }
            DomainEvent::MemberJoined {
                member, event_seq, ..
            } => {
                let user_conns = self.registry.joined(member.user.id, room_id, bus);
                if !user_conns.is_empty() {
                    fanout::send_to(
                        &mut self.registry,
                        &user_conns,
                        |_| Outbound::RoomAdded(room_id),
                        bus,
                    );
                }
                let frame = protocol::event_frame(&event);
                fanout::change(&mut self.registry, room_id, 0, *event_seq, &frame, &[], bus);
                self.log_membership(Some(member.user.id), room_id, true, frame);
            }
            DomainEvent::MemberLeft {
                user_id, event_seq, ..
            } => {
                let frame = protocol::event_frame(&event);
                // The leaver's own sockets are about to drop the room: told at once, not
                // queued behind a resume of a room they no longer follow.
                let leaver = self.registry.user_conns(*user_id);
                fanout::change(
                    &mut self.registry,
                    room_id,
                    0,
                    *event_seq,
                    &frame,
                    &leaver,
                    bus,
                );
                self.log_membership(Some(*user_id), room_id, false, frame);
                let user_conns = self.registry.user_conns(*user_id);
                fanout::send_to(
                    &mut self.registry,
                    &user_conns,
                    |_| Outbound::RoomRemoved(room_id),
                    bus,
                );
                self.registry.left(&user_conns, room_id, bus);
            }
            DomainEvent::RoomDeleted { .. } => {
                let frame = protocol::event_frame(&event);
                fanout::broadcast(&mut self.registry, room_id, frame.clone(), bus);
                self.log_membership(None, room_id, false, frame);
                let targets = self.registry.room_conns(room_id, None);
                fanout::send_to(
                    &mut self.registry,
                    &targets,
                    |_| Outbound::RoomRemoved(room_id),
                    bus,
                );
                self.registry.deleted(&targets, room_id, bus);
            }
            // A change to a message goes out in the message's place: after the message itself.
            DomainEvent::MessageUpdated {
                message: Message { seq, .. },
                event_seq,
                ..
            }
            | DomainEvent::MessageDeleted { seq, event_seq, .. }
            | DomainEvent::ReactionAdded { seq, event_seq, .. }
            | DomainEvent::ReactionRemoved { seq, event_seq, .. } => {
                let frame = protocol::event_frame(&event);
                fanout::change(
                    &mut self.registry,
                    room_id,
                    *seq,
                    *event_seq,
                    &frame,
                    &[],
                    bus,
                );
            }
            // Shared read marks are receipts for the room; private ones go to the reader's own
            // sockets only, to keep their devices in step.
            DomainEvent::ReadUpdated {
                user_id, shared, ..
            } => {
                let frame = protocol::event_frame(&event);
                if *shared {
                    fanout::broadcast(&mut self.registry, room_id, frame, bus);
                } else {
                    let targets = self.registry.user_conns(*user_id);
                    fanout::send_to(
                        &mut self.registry,
                        &targets,
                        |_| Outbound::Frame(frame.clone()),
                        bus,
                    );
                }
            }
            DomainEvent::RoomUpdated { event_seq, .. } => {
                let frame = protocol::event_frame(&event);
                fanout::change(&mut self.registry, room_id, 0, *event_seq, &frame, &[], bus);
            }
        }
    }

    /// `mention` to the sockets of everyone a new message mentions (the whole room for
    /// `@room`), never its author; after the message itself.
    fn notify_mentioned(&mut self, room_id: RoomId, message: &Message, bus: &dyn EventBus) {
        let author = message.author.id;
        let mut targets = if message.mentions_room {
            self.registry.room_conns(room_id, Some(author))
        } else {
            let following = self.registry.room_conns(room_id, Some(author));
            message
                .mentions
                .iter()
                .filter(|u| **u != author)
                .flat_map(|u| self.registry.user_conns(*u))
                .filter(|c| following.contains(c))
                .collect()
        };
        if targets.is_empty() {
            return;
        }
        targets.sort_unstable();
        targets.dedup();
        self.flush(bus);
        let frame = protocol::mention_frame(room_id, message);
        fanout::frame_to(&mut self.registry, &targets, frame, bus);
    }

    /// Remembers a membership change for connections still setting up, and makes it count.
    fn log_membership(
        &mut self,
        user_id: Option<UserId>,
        room_id: RoomId,
        joined: bool,
        frame: Frame,
    ) {
        let epoch = self.membership.record(user_id, room_id, joined, frame);
        self.handle.set_membership_epoch(epoch);
    }

    /// Records the sessions as ended and closes their sockets here with 4401.
    fn end_sessions(&mut self, sessions: &[(UserId, String)]) {
        let now = chrono::Utc::now();
        self.revocations
            .record(sessions.iter().map(|(_, id)| (id.as_str(), now)));
        for (user_id, session_id) in sessions {
            self.registry
                .kill_session(*user_id, session_id, protocol::CLOSE_UNAUTHENTICATED);
        }
    }

    /// Sends the staged messages: per room, all of them to each of its connections at once.
    pub(crate) fn flush(&mut self, bus: &dyn EventBus) {
        fanout::flush(&mut self.staged, &mut self.registry, bus);
    }

    fn arm_gap_check(&mut self, room_id: RoomId) {
        let Some(room) = self.registry.room_mut(room_id) else {
            return;
        };
        if room.wants_gap_check() {
            store::check_gap_after(&self.handle, room_id, self.config.gap_wait);
        }
    }

    fn check_gap(&mut self, room_id: RoomId, store: &Arc<dyn HubStore>) {
        let Some(room) = self.registry.room_mut(room_id) else {
            return;
        };
        let Some(read) = room.gap_read() else {
            return;
        };
        tracing::debug!(
            room_id,
            after = read.after,
            before = read.missing_up_to + 1,
            "filling a gap from the database"
        );
        store::fill(
            &self.handle,
            store,
            room_id,
            read.after,
            read.limit,
            Some(read.missing_up_to),
        );
    }

    fn gap_filled(&mut self, room_id: RoomId, messages: Vec<Message>, missing_up_to: Option<i64>) {
        let Some(room) = self.registry.room_mut(room_id) else {
            return;
        };
        let ready: Released = room.filled(room_id, messages, missing_up_to);
        self.handle
            .stats()
            .gap_fills
            .fetch_add(1, Ordering::Relaxed);
        self.staged.stage(room_id, ready);
        self.arm_gap_check(room_id);
    }
}
