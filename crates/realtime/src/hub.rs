//! The hub: one task per process that owns the connection registry and fans events out.
//!
//! Everything that changes the registry or delivers an event is a command on one channel, so
//! the registry needs no lock and registration, membership changes and deliveries happen in a
//! single well-defined order. Each event is serialised once; each connection gets it through a
//! bounded queue, and a connection whose queue is full is cut (1013) instead of slowing the
//! others or growing memory.
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU16, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

use huddle_auth::Revocations;
use huddle_domain::presence::{OnlineFuture, PresenceDirectory};
use huddle_domain::repository::HistoryWindow;
use huddle_domain::{DomainEvent, Message, Repository, RoomCursor, RoomId, UserId};
use tokio::sync::{mpsc, Notify};

use crate::bus::{BusEvent, EventBus};
use crate::outbox::{OutboxSender, TrySendError};
use crate::protocol::{self, Frame};
use crate::sequencer::Sequencer;
use crate::RealtimeConfig;

pub(crate) type ConnId = u64;

/// Most messages read per room when catching up after a bus outage; clients `sync` for more.
const REPLAY_LIMIT: usize = 1000;

/// Membership changes remembered for connections still setting up (see [`HubCommand::Register`]).
const MEMBERSHIP_LOG: usize = 10_000;

/// What the hub hands a connection.
#[derive(Debug, Clone)]
pub(crate) enum Outbound {
    /// A ready-made frame.
    Frame(Frame),
    /// A `message.created` frame, with what exactly-once delivery needs to know.
    Message {
        room_id: RoomId,
        seq: i64,
        frame: Frame,
    },
    /// A `message.updated` / `message.deleted` frame of the message with `seq`, which must not
    /// reach the client before that message does.
    MessageChange {
        room_id: RoomId,
        seq: i64,
        frame: Frame,
    },
    /// The connection's user joined or left a room.
    RoomAdded(RoomId),
    RoomRemoved(RoomId),
}

impl Outbound {
    /// About how many bytes it will take on the socket, header included (none when it
    /// carries no frame).
    pub(crate) fn frame_bytes(&self) -> usize {
        match self {
            Outbound::Frame(frame)
            | Outbound::Message { frame, .. }
            | Outbound::MessageChange { frame, .. } => frame.len() + 10,
            Outbound::RoomAdded(_) | Outbound::RoomRemoved(_) => 0,
        }
    }
}

/// Tells a connection task to close with a code, from outside it.
#[derive(Debug, Default)]
pub(crate) struct Kill {
    code: AtomicU16,
    notify: Notify,
}

impl Kill {
    pub(crate) fn kill(&self, code: u16) {
        let _ = self
            .code
            .compare_exchange(0, code, Ordering::SeqCst, Ordering::SeqCst);
        self.notify.notify_one();
    }

    pub(crate) async fn wait(&self) -> u16 {
        loop {
            let code = self.code.load(Ordering::SeqCst);
            if code != 0 {
                return code;
            }
            self.notify.notified().await;
        }
    }
}

pub(crate) enum HubCommand {
    /// A connection with its user's rooms as read from the database after the hub's
    /// membership epoch was `since_epoch`. Membership changes the hub handled after that may
    /// be missing from `rooms`: the hub applies them on top, so a join or kick racing the
    /// connect is not lost (nor a kicked user left following the room).
    Register {
        conn: ConnId,
        user_id: UserId,
        rooms: Vec<RoomCursor>,
        since_epoch: u64,
        tx: OutboxSender,
        kill: Arc<Kill>,
        /// The login its token belongs to: the socket closes when that session ends.
        session_id: Arc<str>,
    },
    Unregister {
        conn: ConnId,
    },
    /// The connection re-authenticated with a token of another session.
    Reauthed {
        conn: ConnId,
        session_id: Arc<str>,
    },
    Typing {
        conn: ConnId,
        room_id: RoomId,
    },
    Deliver(BusEvent),
    GapCheck {
        room_id: RoomId,
    },
    GapFilled {
        room_id: RoomId,
        messages: Vec<Message>,
        /// The last seq the read was for: if it is still missing afterwards, the database does
        /// not have it either and waiting longer is pointless. `None` for catch-up reads.
        missing_up_to: Option<i64>,
    },
    /// Events may have been lost (the bus was down): read every followed room's messages
    /// past what was delivered.
    Resync,
}

/// Counters for metrics and tests.
#[derive(Debug, Default)]
pub struct HubStats {
    pub connections: AtomicU64,
    pub users_online: AtomicU64,
    pub deliveries: AtomicU64,
    pub slow_consumer_closes: AtomicU64,
    /// Events not queued because a connection's outbound queue was full.
    pub queue_drops: AtomicU64,
    pub gap_fills: AtomicU64,
}

/// A cheap, cloneable way to talk to the hub from any thread.
#[derive(Clone)]
pub struct HubHandle {
    tx: mpsc::UnboundedSender<HubCommand>,
    stats: Arc<HubStats>,
    /// How many membership changes (joins, leaves, room deletions) the hub has handled.
    membership_epoch: Arc<AtomicU64>,
    /// Users with a connection in this process. Written only by the hub task; never held
    /// across an await.
    online: Arc<RwLock<HashSet<UserId>>>,
}

impl HubHandle {
    pub(crate) fn send(&self, cmd: HubCommand) {
        // Fails only when the hub has stopped, i.e. the process is going down.
        let _ = self.tx.send(cmd);
    }

    /// An event from the bus, for this process's connections.
    pub fn deliver(&self, event: BusEvent) {
        self.send(HubCommand::Deliver(event));
    }

    /// After a bus outage: catch every followed room up from the database.
    pub fn resync(&self) {
        self.send(HubCommand::Resync);
    }

    pub fn stats(&self) -> &HubStats {
        &self.stats
    }

    /// Read before loading a connecting user's rooms, for [`HubCommand::Register`].
    pub(crate) fn membership_epoch(&self) -> u64 {
        self.membership_epoch.load(Ordering::Acquire)
    }

    /// Whether the user has a connection in this process.
    pub fn is_online_here(&self, user_id: UserId) -> bool {
        self.online
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&user_id)
    }
}

/// A single process's presence: its own connections.
impl PresenceDirectory for HubHandle {
    fn online_among<'a>(&'a self, users: &'a [UserId]) -> OnlineFuture<'a> {
        let online: HashSet<UserId> = users
            .iter()
            .copied()
            .filter(|u| self.is_online_here(*u))
            .collect();
        Box::pin(async move { online })
    }
}

/// A membership change the hub handled: `user_id` joined or left `room_id` (`None`: everyone
/// left, the room was deleted), with the frame that told the room.
struct MembershipChange {
    epoch: u64,
    user_id: Option<UserId>,
    room_id: RoomId,
    joined: bool,
    frame: Frame,
}

struct ConnEntry {
    user_id: UserId,
    tx: OutboxSender,
    kill: Arc<Kill>,
    rooms: HashSet<RoomId>,
    session_id: Arc<str>,
}

struct RoomState {
    conns: HashSet<ConnId>,
    sequencer: Sequencer<Frame>,
    gap_check_pending: bool,
}

impl RoomState {
    fn new(last_seq: Option<i64>) -> Self {
        Self {
            conns: HashSet::new(),
            sequencer: Sequencer::new(last_seq),
            gap_check_pending: false,
        }
    }
}

pub struct Hub {
    rx: mpsc::UnboundedReceiver<HubCommand>,
    handle: HubHandle,
    config: RealtimeConfig,
    conns: HashMap<ConnId, ConnEntry>,
    users: HashMap<UserId, HashSet<ConnId>>,
    rooms: HashMap<RoomId, RoomState>,
    membership_log: VecDeque<MembershipChange>,
    /// The newest epoch dropped from the log.
    log_floor: u64,
    /// Messages released in this turn, per room, rooms in the order they first had one: sent
    /// when the turn ends ([`Hub::flush`]), so that each connection takes a room's messages
    /// of a whole batch commit in one queue push, one wake-up and one socket write.
    staged: Vec<(RoomId, Vec<(i64, Frame)>)>,
    /// Sessions ended recently; shared with the auth service, which refuses their tokens.
    revocations: Arc<Revocations>,
}

/// The most commands one turn of the hub handles before it sends what they released.
const TURN: usize = 256;

impl Hub {
    pub fn new(config: &RealtimeConfig) -> (HubHandle, Hub) {
        let (tx, rx) = mpsc::unbounded_channel();
        let handle = HubHandle {
            tx,
            stats: Arc::new(HubStats::default()),
            membership_epoch: Arc::new(AtomicU64::new(0)),
            online: Arc::new(RwLock::new(HashSet::new())),
        };
        let hub = Hub {
            rx,
            handle: handle.clone(),
            config: config.clone(),
            conns: HashMap::new(),
            users: HashMap::new(),
            rooms: HashMap::new(),
            membership_log: VecDeque::new(),
            log_floor: 0,
            staged: Vec::new(),
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
        tokio::spawn(self.run(bus, repo))
    }

    async fn run(mut self, bus: Arc<dyn EventBus>, repo: Arc<dyn Repository>) {
        while let Some(cmd) = self.rx.recv().await {
            // A batch commit publishes its messages back to back: take in what is queued
            // already, then send it together.
            self.handle_command(cmd, &*bus, &repo);
            for _ in 1..TURN {
                match self.rx.try_recv() {
                    Ok(cmd) => self.handle_command(cmd, &*bus, &repo),
                    Err(_) => break,
                }
            }
            self.flush(&*bus);
        }
    }

    /// Handles one command. New messages are staged until [`Hub::flush`]; anything else
    /// sends what is staged first, so a connection gets everything in the order it happened.
    pub(crate) fn handle_command(
        &mut self,
        cmd: HubCommand,
        bus: &dyn EventBus,
        repo: &Arc<dyn Repository>,
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
                self.register(conn, user_id, rooms, since_epoch, tx, kill, bus);
                if let Some(entry) = self.conns.get_mut(&conn) {
                    entry.session_id = session_id;
                }
            }
            HubCommand::Unregister { conn } => self.unregister(conn, bus),
            HubCommand::Reauthed { conn, session_id } => {
                if let Some(entry) = self.conns.get_mut(&conn) {
                    if self.revocations.is_ended(&session_id) {
                        entry.kill.kill(protocol::CLOSE_UNAUTHENTICATED);
                    }
                    entry.session_id = session_id;
                }
            }
            HubCommand::Typing { conn, room_id } => {
                if let Some(c) = self.conns.get(&conn) {
                    if c.rooms.contains(&room_id) {
                        bus.publish(BusEvent::Typing {
                            room_id,
                            user_id: c.user_id,
                        });
                    }
                }
            }
            HubCommand::Deliver(event) => self.deliver(event, bus),
            HubCommand::GapCheck { room_id } => self.check_gap(room_id, repo),
            HubCommand::Resync => {
                let rooms: Vec<(RoomId, i64)> = self
                    .rooms
                    .iter()
                    .filter_map(|(id, r)| r.sequencer.released_up_to().map(|s| (*id, s)))
                    .collect();
                tracing::info!(
                    rooms = rooms.len(),
                    "catching followed rooms up from the database"
                );
                self.reload_ended_sessions(repo);
                for (room_id, after) in rooms {
                    self.fill(room_id, after, REPLAY_LIMIT, None, repo);
                }
            }
            HubCommand::GapFilled {
                room_id,
                messages,
                missing_up_to,
            } => {
                let Some(room) = self.rooms.get_mut(&room_id) else {
                    return;
                };
                room.gap_check_pending = false;
                let mut ready = Vec::new();
                for m in messages {
                    let seq = m.seq;
                    let frame = protocol::event_frame(&DomainEvent::MessageCreated {
                        room_id,
                        message: m,
                    });
                    ready.extend(room.sequencer.offer(seq, frame));
                }
                // Only give up on the gap this read was for; a newer gap gets its own wait.
                let still_missing = missing_up_to
                    .is_some_and(|upto| room.sequencer.released_up_to().is_some_and(|r| r < upto));
                if still_missing {
                    tracing::warn!(room_id, "gap not in the database either; skipping it");
                    ready.extend(room.sequencer.skip_gap());
                }
                self.handle.stats.gap_fills.fetch_add(1, Ordering::Relaxed);
                self.send_messages(room_id, ready);
                self.arm_gap_check(room_id);
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn register(
        &mut self,
        conn: ConnId,
        user_id: UserId,
        rooms: Vec<RoomCursor>,
        since_epoch: u64,
        tx: OutboxSender,
        kill: Arc<Kill>,
        bus: &dyn EventBus,
    ) {
        // The rooms as read, then the membership changes handled since (they may or may not
        // be in the read; applied in order, the outcome is right either way). The connection
        // starts from the rooms as read, so it is told of each change that makes a difference.
        let mut cursors: HashMap<RoomId, Option<i64>> = rooms
            .iter()
            .map(|c| (c.room_id, Some(c.last_seq)))
            .collect();
        let mut catch_up: Vec<Outbound> = Vec::new();
        for change in self
            .membership_log
            .iter()
            .filter(|c| c.epoch > since_epoch && c.user_id.is_none_or(|u| u == user_id))
        {
            let had = cursors.contains_key(&change.room_id);
            if change.joined && !had {
                cursors.insert(change.room_id, None);
                catch_up.push(Outbound::RoomAdded(change.room_id));
                catch_up.push(Outbound::Frame(change.frame.clone()));
            } else if !change.joined && had {
                cursors.remove(&change.room_id);
                catch_up.push(Outbound::Frame(change.frame.clone()));
                catch_up.push(Outbound::RoomRemoved(change.room_id));
            }
        }
        let log_incomplete = since_epoch < self.log_floor;
        let mut room_ids = HashSet::with_capacity(cursors.len());
        for (room_id, last_seq) in cursors {
            self.join_room_state(room_id, conn, last_seq, bus);
            room_ids.insert(room_id);
        }
        let presence_rooms: Vec<RoomId> = room_ids.iter().copied().collect();
        self.conns.insert(
            conn,
            ConnEntry {
                user_id,
                tx,
                kill,
                rooms: room_ids,
                session_id: Arc::from(""),
            },
        );
        self.handle
            .stats
            .connections
            .fetch_add(1, Ordering::Relaxed);
        if log_incomplete {
            // Set-up took so long that the changes since are no longer known: start over.
            tracing::warn!(
                conn,
                user_id,
                "membership log overrun during connect; closing with 1013"
            );
            if let Some(entry) = self.conns.get(&conn) {
                entry.kill.kill(protocol::CLOSE_TRY_AGAIN_LATER);
            }
        }
        for item in catch_up {
            self.send_to(&[conn], |_| item.clone(), bus);
        }
        let user_conns = self.users.entry(user_id).or_default();
        user_conns.insert(conn);
        if user_conns.len() == 1 {
            self.set_online(user_id, true);
            bus.watch_user(user_id, true);
            self.handle
                .stats
                .users_online
                .fetch_add(1, Ordering::Relaxed);
            bus.publish(BusEvent::Presence {
                user_id,
                online: true,
                room_ids: presence_rooms,
            });
        }
    }

    fn unregister(&mut self, conn: ConnId, bus: &dyn EventBus) {
        let Some(entry) = self.conns.remove(&conn) else {
            return;
        };
        self.handle
            .stats
            .connections
            .fetch_sub(1, Ordering::Relaxed);
        for room_id in &entry.rooms {
            self.leave_room_state(*room_id, conn, bus);
        }
        if let Some(user_conns) = self.users.get_mut(&entry.user_id) {
            user_conns.remove(&conn);
            if user_conns.is_empty() {
                self.users.remove(&entry.user_id);
                self.set_online(entry.user_id, false);
                bus.watch_user(entry.user_id, false);
                self.handle
                    .stats
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

    fn set_online(&self, user_id: UserId, online: bool) {
        let mut set = self
            .handle
            .online
            .write()
            .unwrap_or_else(|p| p.into_inner());
        if online {
            set.insert(user_id);
        } else {
            set.remove(&user_id);
        }
    }

    fn join_room_state(
        &mut self,
        room_id: RoomId,
        conn: ConnId,
        last_seq: Option<i64>,
        bus: &dyn EventBus,
    ) {
        let room = self.rooms.entry(room_id).or_insert_with(|| {
            bus.watch_room(room_id, true);
            RoomState::new(last_seq)
        });
        room.conns.insert(conn);
    }

    /// Remembers a membership change for connections still setting up, and makes it count.
    fn log_membership(
        &mut self,
        user_id: Option<UserId>,
        room_id: RoomId,
        joined: bool,
        frame: Frame,
    ) {
        let epoch = self
            .membership_log
            .back()
            .map_or(self.log_floor, |c| c.epoch)
            + 1;
        self.membership_log.push_back(MembershipChange {
            epoch,
            user_id,
            room_id,
            joined,
            frame,
        });
        while self.membership_log.len() > MEMBERSHIP_LOG {
            if let Some(old) = self.membership_log.pop_front() {
                self.log_floor = old.epoch;
            }
        }
        self.handle.membership_epoch.store(epoch, Ordering::Release);
    }

    fn leave_room_state(&mut self, room_id: RoomId, conn: ConnId, bus: &dyn EventBus) {
        if let Some(room) = self.rooms.get_mut(&room_id) {
            room.conns.remove(&conn);
            if room.conns.is_empty() {
                self.rooms.remove(&room_id);
                bus.watch_room(room_id, false);
            }
        }
    }

    /// Records the sessions as ended and closes their sockets here with 4401.
    fn end_sessions(&mut self, sessions: &[(UserId, String)]) {
        let now = chrono::Utc::now();
        self.revocations
            .record(sessions.iter().map(|(_, id)| (id.as_str(), now)));
        for (user_id, session_id) in sessions {
            let Some(conns) = self.users.get(user_id) else {
                continue;
            };
            for conn in conns {
                if let Some(entry) = self.conns.get(conn) {
                    if *entry.session_id == **session_id {
                        entry.kill.kill(protocol::CLOSE_UNAUTHENTICATED);
                    }
                }
            }
        }
    }

    /// After a bus outage, endings announced meanwhile were missed: read them from the
    /// database (they come back through [`HubHandle::deliver`]).
    fn reload_ended_sessions(&self, repo: &Arc<dyn Repository>) {
        let repo = repo.clone();
        let hub = self.handle.clone();
        let window = self.revocations.window();
        tokio::task::spawn_blocking(move || {
            let since = chrono::Utc::now()
                - chrono::Duration::from_std(window).unwrap_or_else(|_| chrono::Duration::hours(1));
            match repo.sessions_ended_since(since) {
                Ok(ended) if !ended.is_empty() => hub.deliver(BusEvent::SessionsEnded {
                    sessions: ended.into_iter().map(|e| (e.user_id, e.id)).collect(),
                }),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "could not reload ended sessions"),
            }
        });
    }

    fn deliver(&mut self, event: BusEvent, bus: &dyn EventBus) {
        match event {
            BusEvent::SessionsEnded { sessions } => self.end_sessions(&sessions),
            BusEvent::Domain(event) => self.deliver_domain(event, bus),
            BusEvent::Typing { room_id, user_id } => {
                let frame = protocol::typing_frame(room_id, user_id);
                let targets = self.room_conns(room_id, Some(user_id));
                self.send_to(&targets, |_| Outbound::Frame(frame.clone()), bus);
            }
            BusEvent::Presence {
                user_id,
                online,
                room_ids,
            } => {
                let frame = protocol::presence_frame(user_id, online);
                let mut targets: Vec<ConnId> = room_ids
                    .iter()
                    .flat_map(|r| self.room_conns(*r, Some(user_id)))
                    .collect();
                targets.sort_unstable();
                targets.dedup();
                self.send_to(&targets, |_| Outbound::Frame(frame.clone()), bus);
            }
        }
    }

    fn deliver_domain(&mut self, event: DomainEvent, bus: &dyn EventBus) {
        let room_id = event.room_id();
        match &event {
            DomainEvent::MessageCreated { message, .. } => {
                let Some(room) = self.rooms.get_mut(&room_id) else {
                    return;
                };
                let ready = room
                    .sequencer
                    .offer(message.seq, protocol::event_frame(&event));
                self.send_messages(room_id, ready);
                self.arm_gap_check(room_id);
            }
            DomainEvent::MemberJoined { member, .. } => {
                let user_conns: Vec<ConnId> = self
                    .users
                    .get(&member.user.id)
                    .map(|c| c.iter().copied().collect())
                    .unwrap_or_default();
                if !user_conns.is_empty() {
                    for c in &user_conns {
                        self.join_room_state(room_id, *c, None, bus);
                    }
                    for c in &user_conns {
                        if let Some(entry) = self.conns.get_mut(c) {
                            entry.rooms.insert(room_id);
                        }
                    }
                    self.send_to(&user_conns, |_| Outbound::RoomAdded(room_id), bus);
                }
                let frame = protocol::event_frame(&event);
                self.broadcast(room_id, frame.clone(), bus);
                self.log_membership(Some(member.user.id), room_id, true, frame);
            }
            DomainEvent::MemberLeft { user_id, .. } => {
                let frame = protocol::event_frame(&event);
                self.broadcast(room_id, frame.clone(), bus);
                self.log_membership(Some(*user_id), room_id, false, frame);
                let user_conns: Vec<ConnId> = self
                    .users
                    .get(user_id)
                    .map(|c| c.iter().copied().collect())
                    .unwrap_or_default();
                self.send_to(&user_conns, |_| Outbound::RoomRemoved(room_id), bus);
                for c in user_conns {
                    if let Some(entry) = self.conns.get_mut(&c) {
                        entry.rooms.remove(&room_id);
                    }
                    self.leave_room_state(room_id, c, bus);
                }
            }
            DomainEvent::RoomDeleted { .. } => {
                let frame = protocol::event_frame(&event);
                self.broadcast(room_id, frame.clone(), bus);
                self.log_membership(None, room_id, false, frame);
                let targets = self.room_conns(room_id, None);
                self.send_to(&targets, |_| Outbound::RoomRemoved(room_id), bus);
                for c in targets {
                    if let Some(entry) = self.conns.get_mut(&c) {
                        entry.rooms.remove(&room_id);
                    }
                }
                if self.rooms.remove(&room_id).is_some() {
                    bus.watch_room(room_id, false);
                }
            }
            DomainEvent::MessageUpdated {
                message: Message { seq, .. },
                ..
            }
            | DomainEvent::MessageDeleted { seq, .. } => {
                let seq = *seq;
                let frame = protocol::event_frame(&event);
                let targets = self.room_conns(room_id, None);
                self.send_to(
                    &targets,
                    |_| Outbound::MessageChange {
                        room_id,
                        seq,
                        frame: frame.clone(),
                    },
                    bus,
                );
            }
            DomainEvent::RoomUpdated { .. } => {
                self.broadcast(room_id, protocol::event_frame(&event), bus);
            }
        }
    }

    fn room_conns(&self, room_id: RoomId, except_user: Option<UserId>) -> Vec<ConnId> {
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

    fn broadcast(&mut self, room_id: RoomId, frame: Frame, bus: &dyn EventBus) {
        let targets = self.room_conns(room_id, None);
        self.send_to(&targets, |_| Outbound::Frame(frame.clone()), bus);
    }

    /// Stages a room's released messages for [`Hub::flush`].
    fn send_messages(&mut self, room_id: RoomId, ready: Vec<(i64, Frame)>) {
        if ready.is_empty() {
            return;
        }
        match self.staged.iter_mut().find(|(r, _)| *r == room_id) {
            Some((_, staged)) => staged.extend(ready),
            None => self.staged.push((room_id, ready)),
        }
    }

    /// Sends the staged messages: per room, all of them to each of its connections at once.
    pub(crate) fn flush(&mut self, bus: &dyn EventBus) {
        for (room_id, ready) in std::mem::take(&mut self.staged) {
            let started = std::time::Instant::now();
            let targets = self.room_conns(room_id, None);
            self.send_all_to(
                &targets,
                |_| {
                    ready.iter().map(|(seq, frame)| Outbound::Message {
                        room_id,
                        seq: *seq,
                        frame: frame.clone(),
                    })
                },
                bus,
            );
            let took = started.elapsed();
            for _ in &ready {
                huddle_metrics::record_broadcast(took);
            }
        }
    }

    /// Queues an item per target; cuts connections whose queue is full or gone.
    fn send_to(
        &mut self,
        targets: &[ConnId],
        item: impl Fn(ConnId) -> Outbound,
        bus: &dyn EventBus,
    ) {
        self.send_all_to(targets, |conn| std::iter::once(item(conn)), bus);
    }

    /// Queues items per target, each target's in one go; cuts connections whose queue has no
    /// room for them or is gone.
    fn send_all_to<I>(
        &mut self,
        targets: &[ConnId],
        items: impl Fn(ConnId) -> I,
        bus: &dyn EventBus,
    ) where
        I: IntoIterator<Item = Outbound>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut cut = Vec::new();
        let mut sent = 0;
        for conn in targets {
            let Some(entry) = self.conns.get(conn) else {
                continue;
            };
            let items = items(*conn).into_iter();
            let n = items.len() as u64;
            match entry.tx.try_send_all(items) {
                Ok(()) => sent += n,
                Err(TrySendError::Full) => {
                    self.handle
                        .stats
                        .queue_drops
                        .fetch_add(1, Ordering::Relaxed);
                    self.handle
                        .stats
                        .slow_consumer_closes
                        .fetch_add(1, Ordering::Relaxed);
                    tracing::info!(
                        conn,
                        user_id = entry.user_id,
                        "slow consumer: closing with 1013"
                    );
                    entry.kill.kill(protocol::CLOSE_TRY_AGAIN_LATER);
                    cut.push(*conn);
                }
                Err(TrySendError::Closed) => cut.push(*conn),
            }
        }
        self.handle
            .stats
            .deliveries
            .fetch_add(sent, Ordering::Relaxed);
        for conn in cut {
            self.unregister(conn, bus);
        }
    }

    fn arm_gap_check(&mut self, room_id: RoomId) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        if room.sequencer.gap().is_none() || room.gap_check_pending {
            return;
        }
        room.gap_check_pending = true;
        let handle = self.handle.clone();
        let wait = self.config.gap_wait;
        tokio::spawn(async move {
            tokio::time::sleep(wait).await;
            handle.send(HubCommand::GapCheck { room_id });
        });
    }

    fn check_gap(&mut self, room_id: RoomId, repo: &Arc<dyn Repository>) {
        let Some(room) = self.rooms.get_mut(&room_id) else {
            return;
        };
        let Some((after, before)) = room.sequencer.gap() else {
            room.gap_check_pending = false;
            return;
        };
        tracing::debug!(room_id, after, before, "filling a gap from the database");
        room.gap_check_pending = true;
        let limit = usize::try_from(before - after - 1).unwrap_or(1).max(1);
        self.fill(room_id, after, limit, Some(before - 1), repo);
    }

    /// Reads up to `limit` of a room's messages after `after` and feeds them in as GapFilled.
    fn fill(
        &self,
        room_id: RoomId,
        after: i64,
        limit: usize,
        missing_up_to: Option<i64>,
        repo: &Arc<dyn Repository>,
    ) {
        let repo = repo.clone();
        let handle = self.handle.clone();
        tokio::task::spawn_blocking(move || {
            let messages = match repo.history(room_id, HistoryWindow::After(after), limit) {
                Ok(m) => m,
                Err(e) => {
                    tracing::warn!(room_id, error = %e, "gap fill failed");
                    Vec::new()
                }
            };
            handle.send(HubCommand::GapFilled {
                room_id,
                messages,
                missing_up_to,
            });
        });
    }
}
