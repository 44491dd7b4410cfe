//! Entry points for the Criterion benchmarks in `crates/bench` into code that is otherwise
//! private to this crate: event serialisation, client frame parsing, and one hub fan-out. Not
//! an API; nothing else should use it.
use std::sync::Arc;

use chrono::{DateTime, Utc};
use huddle_domain::repository::*;
use huddle_domain::{
    DomainEvent, EndedSession, Invite, InviteRecord, Member, Message, MessageId,
    RefreshTokenRecord, RepoError, Role, Room, RoomCursor, RoomId, SessionRecord, User,
    UserCredentials, UserId,
};

use crate::bus::{BusEvent, EventBus};
use crate::hub::{Hub, HubCommand, Kill};
use crate::outbox::{outbox, OutboxReceiver};
use crate::protocol::Frame;
use crate::{protocol, RealtimeConfig};

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
    repo: Arc<dyn Repository>,
    message: Message,
}

impl FanoutRig {
    pub fn new(connections: usize, message: Message) -> Self {
        let (_handle, mut hub) = Hub::new(&RealtimeConfig::default());
        let bus = NullBus;
        let repo: Arc<dyn Repository> = Arc::new(NoRepository);
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
                    }],
                    since_epoch: 0,
                    tx,
                    kill: Arc::new(Kill::default()),
                    session_id: Arc::from(format!("s{id}")),
                },
                &bus,
                &repo,
            );
        }
        Self {
            hub,
            receivers,
            bus,
            repo,
            message,
        }
    }

    /// Delivers the next message of the room; returns how many connections received it.
    pub fn deliver(&mut self) -> usize {
        let message = self.message.clone();
        self.message.seq += 1;
        let event = DomainEvent::MessageCreated {
            room_id: message.room_id,
            message,
        };
        self.hub.handle_command(
            HubCommand::Deliver(BusEvent::Domain(event)),
            &self.bus,
            &self.repo,
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
struct NoRepository;

fn none<T>() -> RepoResult<T> {
    Err(RepoError::Unavailable("no database in benchmarks".into()))
}

impl UserRepository for NoRepository {
    fn create_user(&self, _: NewUser) -> RepoResult<User> {
        none()
    }
    fn user_by_id(&self, _: UserId) -> RepoResult<Option<User>> {
        none()
    }
    fn search_users(&self, _: UserQuery) -> RepoResult<Vec<User>> {
        none()
    }
    fn credentials_by_username(&self, _: &str) -> RepoResult<Option<UserCredentials>> {
        none()
    }
    fn credentials_by_id(&self, _: UserId) -> RepoResult<Option<UserCredentials>> {
        none()
    }
    fn update_profile(&self, _: UserId, _: ProfilePatch) -> RepoResult<User> {
        none()
    }
    fn change_password(
        &self,
        _: UserId,
        _: &str,
        _: Option<&str>,
    ) -> RepoResult<Vec<EndedSession>> {
        none()
    }
}

impl TokenRepository for NoRepository {
    fn start_session(&self, _: NewSession) -> RepoResult<()> {
        none()
    }
    fn refresh_token_by_hash(&self, _: &str) -> RepoResult<Option<RefreshTokenRecord>> {
        none()
    }
    fn rotate_refresh_token(&self, _: i64, _: NewRefreshToken) -> RepoResult<bool> {
        none()
    }
    fn end_sessions(&self, _: SessionFilter<'_>) -> RepoResult<Vec<EndedSession>> {
        none()
    }
    fn live_sessions(&self, _: UserId) -> RepoResult<Vec<SessionRecord>> {
        none()
    }
    fn sessions_ended_since(&self, _: DateTime<Utc>) -> RepoResult<Vec<EndedSession>> {
        none()
    }
}

impl RoomRepository for NoRepository {
    fn open_direct(&self, _: NewDirect) -> RepoResult<DirectOpened> {
        none()
    }
    fn create_room(&self, _: NewRoom) -> RepoResult<Room> {
        none()
    }
    fn room_by_id(&self, _: RoomId) -> RepoResult<Option<Room>> {
        none()
    }
    fn list_rooms(&self, _: RoomQuery) -> RepoResult<Vec<Room>> {
        none()
    }
    fn update_room(&self, _: RoomId, _: RoomPatch) -> RepoResult<Room> {
        none()
    }
    fn delete_room(&self, _: RoomId) -> RepoResult<()> {
        none()
    }
    fn role_of(&self, _: RoomId, _: UserId) -> RepoResult<Option<Role>> {
        none()
    }
    fn member(&self, _: RoomId, _: UserId) -> RepoResult<Option<Member>> {
        none()
    }
    fn add_member(&self, _: RoomId, _: UserId, _: Role) -> RepoResult<Member> {
        none()
    }
    fn remove_member(&self, _: RoomId, _: UserId) -> RepoResult<bool> {
        none()
    }
    fn set_role(&self, _: RoomId, _: UserId, _: Role) -> RepoResult<Member> {
        none()
    }
    fn list_members(&self, _: RoomId, _: Option<UserId>, _: usize) -> RepoResult<Vec<Member>> {
        none()
    }
    fn rooms_of_user(&self, _: UserId) -> RepoResult<Vec<RoomCursor>> {
        none()
    }
}

impl MessageRepository for NoRepository {
    fn search_messages(
        &self,
        _: huddle_domain::search::MessageSearch,
    ) -> RepoResult<Vec<huddle_domain::search::SearchHit>> {
        none()
    }
    fn store_message(&self, _: NewMessage) -> RepoResult<Stored> {
        none()
    }
    fn message_by_id(&self, _: RoomId, _: MessageId) -> RepoResult<Option<Message>> {
        none()
    }
    fn history(&self, _: RoomId, _: HistoryWindow, _: usize) -> RepoResult<Vec<Message>> {
        none()
    }
    fn edit_message(&self, _: RoomId, _: MessageId, _: &str) -> RepoResult<Message> {
        none()
    }
    fn delete_message(&self, _: RoomId, _: MessageId) -> RepoResult<Message> {
        none()
    }
}

impl InviteRepository for NoRepository {
    fn create_invite(&self, _: NewInvite) -> RepoResult<Invite> {
        none()
    }
    fn invite_by_code(&self, _: &str) -> RepoResult<Option<InviteRecord>> {
        none()
    }
    fn live_invites(&self, _: RoomId, _: DateTime<Utc>) -> RepoResult<Vec<Invite>> {
        none()
    }
    fn revoke_invite(&self, _: RoomId, _: &str) -> RepoResult<bool> {
        none()
    }
    fn redeem_invite(&self, _: &str, _: UserId, _: DateTime<Utc>) -> RepoResult<Option<Member>> {
        none()
    }
}

impl HealthCheck for NoRepository {
    fn ping(&self) -> RepoResult<()> {
        none()
    }
}
