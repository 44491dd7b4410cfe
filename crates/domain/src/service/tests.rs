//! `ChatService`'s rules against the in-memory repository. The permission matrix is in
//! `tests/matrix.rs`; the rest of each use case's behaviour in `tests/rooms.rs` and
//! `tests/messages.rs`. This file holds the fixture they share: a room with one user of every
//! role, and an outsider who used to be a member.
mod direct;
mod event_log;
mod invites;
mod matrix;
mod messages;
mod people;
mod reactions;
mod reads;
mod rooms;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::memory::MemoryRepository;

/// Records what a service publishes.
#[derive(Default)]
pub(super) struct Recorder(Mutex<Vec<DomainEvent>>);

impl EventPublisher for Recorder {
    fn publish(&self, event: DomainEvent) {
        self.0.lock().unwrap().push(event);
    }
}

impl Recorder {
    /// The events published since the last call.
    pub(super) fn take(&self) -> Vec<DomainEvent> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

/// An event in a line, enough to tell which change it announces.
pub(super) fn brief(event: &DomainEvent) -> String {
    match event {
        DomainEvent::MessageCreated { message, .. } => format!(
            "message.created seq={} author={}",
            message.seq, message.author.id
        ),
        DomainEvent::MessageUpdated { message, .. } => format!("message.updated id={}", message.id),
        DomainEvent::MessageDeleted {
            message_id, seq, ..
        } => format!("message.deleted id={message_id} seq={seq}"),
        DomainEvent::MemberJoined { member, .. } => format!(
            "member.joined user={} role={}",
            member.user.id,
            member.role.as_str()
        ),
        DomainEvent::MemberLeft { user_id, .. } => format!("member.left user={user_id}"),
        DomainEvent::RoomUpdated { .. } => "room.updated".into(),
        DomainEvent::RoomDeleted { .. } => "room.deleted".into(),
        DomainEvent::ReadUpdated {
            user_id,
            last_read_seq,
            shared,
            ..
        } => format!("read.updated user={user_id} seq={last_read_seq} shared={shared}"),
        DomainEvent::ReactionAdded {
            message_id,
            emoji,
            user_id,
            ..
        } => format!("reaction.added id={message_id} {emoji} user={user_id}"),
        DomainEvent::ReactionRemoved {
            message_id,
            emoji,
            user_id,
            ..
        } => format!("reaction.removed id={message_id} {emoji} user={user_id}"),
    }
}

/// Who acts, by their relation to the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Actor {
    Owner,
    Admin,
    Member,
    /// Not a member now; was one, and wrote messages then.
    Outsider,
}

impl Actor {
    pub(super) const ALL: [Actor; 4] = [Actor::Owner, Actor::Admin, Actor::Member, Actor::Outsider];
}

/// A room (public or private) with an owner, two admins, two members and a former member, a
/// live and a deleted message by each of them but the second admin, and a public room
/// elsewhere with a message of a stranger who belongs to neither room.
pub(super) struct World {
    pub chat: ChatService,
    pub repo: Arc<MemoryRepository>,
    pub events: Arc<Recorder>,
    pub room: RoomId,
    pub elsewhere: RoomId,
    pub owner: UserId,
    pub admin: UserId,
    pub admin2: UserId,
    pub member: UserId,
    pub member2: UserId,
    pub outsider: UserId,
    pub stranger: UserId,
    /// Each writer's live message in `room`.
    pub live: HashMap<UserId, MessageId>,
    /// Each writer's deleted message in `room`.
    pub deleted: HashMap<UserId, MessageId>,
    pub elsewhere_message: MessageId,
    /// The room's last seq after the setup.
    pub last_seq: i64,
    /// The room's last event seq after the setup.
    pub last_event_seq: i64,
}

fn user(repo: &MemoryRepository, name: &str) -> UserId {
    repo.create_user(NewUser {
        username: name.into(),
        display_name: name.into(),
        password_hash: String::new(),
    })
    .unwrap()
    .id
}

fn store(repo: &MemoryRepository, room_id: RoomId, author_id: UserId, body: &str) -> MessageId {
    repo.store_message(NewMessage {
        room_id,
        author_id,
        body: body.into(),
        client_msg_id: None,
        reply_to: None,
        mentions: Default::default(),
        attachments: Vec::new(),
    })
    .unwrap()
    .into_message()
    .id
}

impl World {
    /// Built through the repository, so nothing is published.
    pub(super) fn new(private: bool) -> World {
        let repo = Arc::new(MemoryRepository::new());
        let events = Arc::new(Recorder::default());
        let chat = ChatService::new(repo.clone(), events.clone());
        let [owner, admin, admin2, member, member2, outsider, stranger] = [
            "owner", "admin", "admin2", "member", "member2", "outsider", "stranger",
        ]
        .map(|name| user(&repo, name));
        let new_room = |name: &str, owner_id, is_private| {
            let new = NewRoom {
                name: name.into(),
                description: String::new(),
                is_private,
                owner_id,
            };
            repo.create_room(new).unwrap().id
        };
        let room = new_room("room", owner, private);
        let elsewhere = new_room("elsewhere", stranger, false);
        for (id, role) in [
            (admin, Role::Admin),
            (admin2, Role::Admin),
            (member, Role::Member),
            (member2, Role::Member),
            (outsider, Role::Member),
        ] {
            repo.add_member(room, id, role).unwrap();
        }
        let (mut live, mut deleted) = (HashMap::new(), HashMap::new());
        for author in [owner, admin, member, member2, outsider] {
            live.insert(author, store(&repo, room, author, "live"));
            let doomed = store(&repo, room, author, "doomed");
            repo.delete_message(room, doomed).unwrap();
            deleted.insert(author, doomed);
        }
        repo.remove_member(room, outsider).unwrap();
        let elsewhere_message = store(&repo, elsewhere, stranger, "far away");
        let last_seq = repo.room_by_id(room).unwrap().unwrap().last_seq;
        let last_event_seq = repo
            .rooms_of_user(owner)
            .unwrap()
            .iter()
            .find(|c| c.room_id == room)
            .unwrap()
            .last_event_seq;
        World {
            chat,
            repo,
            events,
            room,
            elsewhere,
            owner,
            admin,
            admin2,
            member,
            member2,
            outsider,
            stranger,
            live,
            deleted,
            elsewhere_message,
            last_seq,
            last_event_seq,
        }
    }

    pub(super) fn id(&self, actor: Actor) -> UserId {
        match actor {
            Actor::Owner => self.owner,
            Actor::Admin => self.admin,
            Actor::Member => self.member,
            Actor::Outsider => self.outsider,
        }
    }

    /// Everything a room action could change, read through the repository.
    pub(super) fn snapshot(&self) -> Snapshot {
        let rooms = [self.room, self.elsewhere].map(|id| {
            (
                self.repo.room_by_id(id).unwrap(),
                self.repo.list_members(id, None, 100).unwrap(),
                self.repo.history(id, HistoryWindow::Latest, 100).unwrap(),
            )
        });
        let users = [self.stranger, self.outsider].map(|u| self.repo.rooms_of_user(u).unwrap());
        Snapshot { rooms, users }
    }

    pub(super) fn role(&self, user: UserId) -> Option<Role> {
        self.repo.role_of(self.room, user).unwrap()
    }
}

#[derive(Debug, PartialEq)]
pub(super) struct Snapshot {
    rooms: [(Option<Room>, Vec<Member>, Vec<Message>); 2],
    users: [Vec<RoomCursor>; 2],
}

/// The class of an answer, as the matrix states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Want {
    Ok,
    NotFound(&'static str),
    Forbidden,
    /// A `DomainError::Conflict` with this code.
    Conflict(ErrorCode),
    /// A `DomainError::Validation` of this field.
    Invalid(&'static str),
    /// Anything else (a storage error): never expected.
    Other,
}

impl Want {
    pub(super) fn of<T>(result: &DomainResult<T>) -> Want {
        match result {
            Ok(_) => Want::Ok,
            Err(DomainError::NotFound(what)) => Want::NotFound(what),
            Err(DomainError::Forbidden(_)) => Want::Forbidden,
            Err(DomainError::Conflict { code, .. }) => Want::Conflict(*code),
            Err(DomainError::Validation {
                field: Some(field), ..
            }) => Want::Invalid(field),
            Err(_) => Want::Other,
        }
    }
}
