//! The use cases, with their authorisation rules. REST handlers and the WebSocket gateway both
//! call these, so a rule lives in one place. All methods block (they call the repository): run
//! them off the async executor. The exception is [`ChatService::send_message`], which answers
//! through a callback and does not block when the repository queues the store.
//!
//! Visibility comes before permission: a private room the caller is not in answers `NotFound`
//! (its existence is not revealed), a visible room the caller may not change answers `Forbidden`.
use std::sync::Arc;

use crate::answer::{answer, Answer};
use crate::entities::*;
use crate::error::{DomainError, ErrorCode, RepoError};
use crate::event_log::Logged;
use crate::events::{DomainEvent, EventPublisher};
use crate::repository::*;
use crate::validation;

pub type DomainResult<T> = Result<T, DomainError>;

/// One page of a keyset-paginated list: the items, and the key to continue after.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next_after: Option<i64>,
}

impl<T> Page<T> {
    /// `items` was fetched with `limit + 1` rows; the extra row only says there is more.
    fn from_overfetch(mut items: Vec<T>, limit: usize, key: impl Fn(&T) -> i64) -> Self {
        let next_after = if items.len() > limit {
            items.truncate(limit);
            items.last().map(key)
        } else {
            None
        };
        Page { items, next_after }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct History {
    pub items: Vec<Message>,
    pub has_more: bool,
}

#[derive(Debug, Clone, Default)]
pub struct RoomInput {
    pub name: Option<String>,
    pub description: Option<String>,
    pub is_private: Option<bool>,
}

#[derive(Clone)]
pub struct ChatService {
    repo: Arc<dyn Repository>,
    events: Arc<dyn EventPublisher>,
}

/// A direct conversation's people are fixed and equal: nobody edits, deletes or manages it.
fn no_managers_in_direct(room: &Room) -> DomainResult<()> {
    if room.kind == RoomKind::Direct {
        return Err(DomainError::forbidden(
            "a direct conversation has no owner or admins",
        ));
    }
    Ok(())
}

impl ChatService {
    pub fn new(repo: Arc<dyn Repository>, events: Arc<dyn EventPublisher>) -> Self {
        Self { repo, events }
    }

    pub fn repository(&self) -> &Arc<dyn Repository> {
        &self.repo
    }

    // ---- users ----

    pub fn user(&self, id: UserId) -> DomainResult<User> {
        self.repo
            .user_by_id(id)?
            .ok_or(DomainError::NotFound("user"))
    }

    pub fn update_profile(
        &self,
        actor: UserId,
        display_name: Option<&str>,
        bio: Option<&str>,
    ) -> DomainResult<User> {
        let patch = ProfilePatch {
            display_name: display_name.map(validation::display_name).transpose()?,
            bio: bio.map(validation::bio).transpose()?,
        };
        Ok(self.repo.update_profile(actor, patch)?)
    }

    // ---- rooms ----

    /// The room and the caller's role in it, or `NotFound` if the caller may not see it.
    fn visible_room(&self, actor: UserId, room_id: RoomId) -> DomainResult<(Room, Option<Role>)> {
        let (room, role) = self
            .repo
            .room_with_role(room_id, actor)?
            .ok_or(DomainError::NotFound("room"))?;
        if room.is_private && role.is_none() {
            return Err(DomainError::NotFound("room"));
        }
        Ok((room, role))
    }

    /// The caller's role, requiring membership of a visible room.
    fn member_role(&self, actor: UserId, room_id: RoomId) -> DomainResult<(Room, Role)> {
        match self.visible_room(actor, room_id)? {
            (room, Some(role)) => Ok((room, role)),
            (_, None) => Err(DomainError::forbidden(crate::error::NOT_A_MEMBER)),
        }
    }

    fn manager_role(&self, actor: UserId, room_id: RoomId) -> DomainResult<(Room, Role)> {
        let (room, role) = self.member_role(actor, room_id)?;
        no_managers_in_direct(&room)?;
        if !role.can_manage() {
            return Err(DomainError::forbidden(
                "only the room's owner or admins may do this",
            ));
        }
        Ok((room, role))
    }

    pub fn create_room(&self, actor: UserId, input: RoomInput) -> DomainResult<Room> {
        let name = validation::room_name(input.name.as_deref().unwrap_or(""))?;
        let description = validation::room_description(input.description.as_deref().unwrap_or(""))?;
        let room = self.repo.create_room(NewRoom {
            name,
            description,
            is_private: input.is_private.unwrap_or(false),
            owner_id: actor,
        })?;
        // The owner's open sockets follow the new room from now on, like any joiner's. The
        // owner's joining is the first entry of the new room's log.
        if let Some(owner) = self.repo.member(room.id, actor)? {
            self.events.publish(DomainEvent::MemberJoined {
                room_id: room.id,
                member: owner,
                event_seq: crate::event_log::FIRST_EVENT_SEQ,
            });
        }
        Ok(room)
    }

    pub fn room(&self, actor: UserId, room_id: RoomId) -> DomainResult<Room> {
        Ok(self.visible_room(actor, room_id)?.0)
    }

    /// The user directory: anyone signed in may look people up by the start of their username
    /// or display name, to start a conversation or add them to a room.
    pub fn find_users(
        &self,
        prefix: Option<String>,
        after_id: Option<UserId>,
        limit: usize,
    ) -> DomainResult<Page<User>> {
        let rows = self.repo.search_users(UserQuery {
            prefix: validation::search_query(prefix)?,
            after_id,
            limit: limit + 1,
        })?;
        Ok(Page::from_overfetch(rows, limit, |u| u.id))
    }

    /// The user with this username (case-insensitively), as the directory shows them.
    pub fn user_by_username(&self, username: &str) -> DomainResult<User> {
        let username = validation::username(username)?;
        self.repo
            .credentials_by_username(&username)?
            .map(|c| c.user)
            .ok_or(DomainError::NotFound("user"))
    }

    pub fn list_rooms(
        &self,
        actor: UserId,
        name_contains: Option<String>,
        only_joined: bool,
        after_id: Option<RoomId>,
        limit: usize,
    ) -> DomainResult<Page<Room>> {
        self.list_rooms_of_kind(actor, name_contains, only_joined, None, after_id, limit)
    }

    /// [`list_rooms`](Self::list_rooms), of one kind only (`group` or `direct`) when given.
    pub fn list_rooms_of_kind(
        &self,
        actor: UserId,
        name_contains: Option<String>,
        only_joined: bool,
        kind: Option<RoomKind>,
        after_id: Option<RoomId>,
        limit: usize,
    ) -> DomainResult<Page<Room>> {
        let rows = self.repo.list_rooms(RoomQuery {
            viewer: actor,
            kind,
            name_contains: validation::search_query(name_contains)?,
            only_joined,
            after_id,
            limit: limit + 1,
        })?;
        Ok(Page::from_overfetch(rows, limit, |r| r.id))
    }

    pub fn update_room(
        &self,
        actor: UserId,
        room_id: RoomId,
        input: RoomInput,
    ) -> DomainResult<Room> {
        self.manager_role(actor, room_id)?;
        let patch = RoomPatch {
            name: input
                .name
                .as_deref()
                .map(validation::room_name)
                .transpose()?,
            description: input
                .description
                .as_deref()
                .map(validation::room_description)
                .transpose()?,
            is_private: input.is_private,
        };
        let Logged {
            value: room,
            event_seq,
        } = self.repo.update_room(room_id, patch)?;
        self.events.publish(DomainEvent::RoomUpdated {
            room: room.clone(),
            event_seq,
        });
        Ok(room)
    }

    pub fn delete_room(&self, actor: UserId, room_id: RoomId) -> DomainResult<()> {
        let (room, role) = self.member_role(actor, room_id)?;
        no_managers_in_direct(&room)?;
        if role != Role::Owner {
            return Err(DomainError::forbidden(
                "only the room's owner may delete it",
            ));
        }
        self.repo.delete_room(room_id)?;
        self.events.publish(DomainEvent::RoomDeleted { room_id });
        Ok(())
    }

    /// Joining a room one is already in answers the existing membership and announces nothing.
    pub fn join_room(&self, actor: UserId, room_id: RoomId) -> DomainResult<Member> {
        let (room, role) = self.visible_room(actor, room_id)?;
        if role.is_some() {
            return self
                .repo
                .member(room_id, actor)?
                .ok_or(DomainError::NotFound("member"));
        }
        if room.is_private {
            return Err(DomainError::NotFound("room"));
        }
        self.admit(room_id, actor, Role::Member)
    }

    fn admit(&self, room_id: RoomId, user_id: UserId, role: Role) -> DomainResult<Member> {
        let Logged {
            value: member,
            event_seq,
        } = self
            .repo
            .add_member(room_id, user_id, role)
            .map_err(|e| match e {
                crate::RepoError::Conflict(_) => {
                    DomainError::conflict(ErrorCode::Conflict, "the user is already a member")
                }
                other => other.into(),
            })?;
        self.events.publish(DomainEvent::MemberJoined {
            room_id,
            member: member.clone(),
            event_seq,
        });
        Ok(member)
    }

    pub fn leave_room(&self, actor: UserId, room_id: RoomId) -> DomainResult<()> {
        let (_, role) = self.member_role(actor, room_id)?;
        if role == Role::Owner {
            return Err(DomainError::conflict(
                ErrorCode::Conflict,
                "the owner cannot leave the room; delete it instead",
            ));
        }
        if let Some(event_seq) = self.repo.remove_member(room_id, actor)? {
            self.events.publish(DomainEvent::MemberLeft {
                room_id,
                user_id: actor,
                event_seq,
            });
        }
        Ok(())
    }

    pub fn list_members(
        &self,
        actor: UserId,
        room_id: RoomId,
        after_user: Option<UserId>,
        limit: usize,
    ) -> DomainResult<Page<Member>> {
        self.member_role(actor, room_id)?;
        let rows = self.repo.list_members(room_id, after_user, limit + 1)?;
        Ok(Page::from_overfetch(rows, limit, |m| m.user.id))
    }

    pub fn add_member(
        &self,
        actor: UserId,
        room_id: RoomId,
        user_id: UserId,
    ) -> DomainResult<Member> {
        self.manager_role(actor, room_id)?;
        self.repo
            .user_by_id(user_id)?
            .ok_or(DomainError::NotFound("user"))?;
        self.admit(room_id, user_id, Role::Member)
    }

    /// Owners may remove anyone but themselves; admins may remove plain members.
    pub fn kick_member(&self, actor: UserId, room_id: RoomId, user_id: UserId) -> DomainResult<()> {
        let (_, actor_role) = self.manager_role(actor, room_id)?;
        let target_role = self
            .repo
            .role_of(room_id, user_id)?
            .ok_or(DomainError::NotFound("member"))?;
        if target_role == Role::Owner {
            return Err(DomainError::forbidden("the owner cannot be removed"));
        }
        if actor_role == Role::Admin && target_role == Role::Admin {
            return Err(DomainError::forbidden("admins cannot remove other admins"));
        }
        if let Some(event_seq) = self.repo.remove_member(room_id, user_id)? {
            self.events.publish(DomainEvent::MemberLeft {
                room_id,
                user_id,
                event_seq,
            });
        }
        Ok(())
    }

    /// Promote to admin or demote to member. Ownership is not transferable this way.
    pub fn set_role(
        &self,
        actor: UserId,
        room_id: RoomId,
        user_id: UserId,
        role: &str,
    ) -> DomainResult<Member> {
        let (room, actor_role) = self.member_role(actor, room_id)?;
        no_managers_in_direct(&room)?;
        if actor_role != Role::Owner {
            return Err(DomainError::forbidden(
                "only the room's owner may change roles",
            ));
        }
        let role = match Role::parse(role) {
            Some(r @ (Role::Admin | Role::Member)) => r,
            _ => {
                return Err(DomainError::validation(
                    "role",
                    "role must be \"admin\" or \"member\"",
                ))
            }
        };
        let current = self
            .repo
            .role_of(room_id, user_id)?
            .ok_or(DomainError::NotFound("member"))?;
        if current == Role::Owner {
            return Err(DomainError::conflict(
                ErrorCode::Conflict,
                "the owner's role cannot be changed",
            ));
        }
        Ok(self.repo.set_role(room_id, user_id, role)?)
    }

    /// Every room the user is in, for a connecting client.
    pub fn rooms_of(&self, actor: UserId) -> DomainResult<Vec<RoomCursor>> {
        Ok(self.repo.rooms_of_user(actor)?)
    }

    // ---- messages ----

    /// Stores a message, blocking until it is stored (or refused). See [`Self::send_message`].
    pub fn post_message(
        &self,
        actor: UserId,
        room_id: RoomId,
        body: &str,
        client_msg_id: Option<&str>,
    ) -> DomainResult<Stored> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.send_message(
            actor,
            room_id,
            body,
            client_msg_id,
            None,
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        rx.recv().unwrap_or_else(|_| {
            Err(DomainError::Repository(crate::RepoError::Unavailable(
                "the send was dropped unanswered".into(),
            )))
        })
    }

    /// Validates and submits a message; `done` gets the outcome, after `message.created` is
    /// published for a new message. Does not block when the repository queues the store (it may
    /// call `done` before returning, e.g. for invalid input). The author's membership is checked
    /// by the repository in the store's transaction, with the same answers as
    /// `member_role`: a missing or hidden room is `NotFound`, a visible room the author
    /// is not in is `Forbidden`.
    pub fn send_message(
        &self,
        actor: UserId,
        room_id: RoomId,
        body: &str,
        client_msg_id: Option<&str>,
        reply_to: Option<MessageId>,
        done: Box<dyn FnOnce(DomainResult<Stored>) + Send>,
    ) {
        let checked = validation::message_body(body).and_then(|body| {
            let cmid = client_msg_id.map(validation::client_msg_id).transpose()?;
            Ok((body, cmid))
        });
        let (body, client_msg_id) = match checked {
            Ok(v) => v,
            Err(e) => return done(Err(e)),
        };
        self.submit(
            actor,
            room_id,
            body,
            client_msg_id,
            reply_to,
            Vec::new(),
            done,
        );
    }

    /// Stores a checked message (its mentions still to find) and publishes it once stored.
    #[allow(clippy::too_many_arguments)]
    fn submit(
        &self,
        actor: UserId,
        room_id: RoomId,
        body: String,
        client_msg_id: Option<String>,
        reply_to: Option<MessageId>,
        attachments: Vec<NewAttachment>,
        done: Box<dyn FnOnce(DomainResult<Stored>) + Send>,
    ) {
        let mentions = crate::mentions::parse(&body);
        if mentions.usernames.len() > crate::mentions::MENTIONS_MAX {
            return done(Err(DomainError::validation(
                "body",
                format!(
                    "a message may mention at most {} people",
                    crate::mentions::MENTIONS_MAX
                ),
            )));
        }
        let events = self.events.clone();
        self.repo.submit_message(
            NewMessage {
                room_id,
                author_id: actor,
                body,
                client_msg_id,
                reply_to,
                mentions,
                attachments,
            },
            Box::new(move |stored| {
                let stored = stored.map_err(DomainError::from);
                if let Ok(Stored::Created(m)) = &stored {
                    events.publish(DomainEvent::MessageCreated {
                        room_id,
                        event_seq: m.event_seq,
                        message: m.clone(),
                    });
                }
                done(stored);
            }),
        );
    }

    /// [`send_message`](Self::send_message) as a future: the one bridge the REST handler and
    /// the socket use to answer a send. If the repository drops the callback unanswered, the
    /// answer is `Unavailable`, never a hang.
    pub fn send(
        &self,
        actor: UserId,
        room_id: RoomId,
        body: &str,
        client_msg_id: Option<&str>,
        reply_to: Option<MessageId>,
    ) -> Answer<DomainResult<Stored>> {
        let dropped = Err(DomainError::Repository(RepoError::Unavailable(
            "the send was dropped unanswered".into(),
        )));
        let (reply, answer) = answer(dropped);
        self.send_message(
            actor,
            room_id,
            body,
            client_msg_id,
            reply_to,
            Box::new(move |stored| reply.send(stored)),
        );
        answer
    }

    pub fn history(
        &self,
        actor: UserId,
        room_id: RoomId,
        window: HistoryWindow,
        limit: usize,
    ) -> DomainResult<History> {
        self.member_role(actor, room_id)?;
        let mut items = self.repo.history(room_id, window, limit + 1)?;
        let has_more = items.len() > limit;
        if has_more {
            match window {
                // Ascending order: the extra row of a backwards window is the oldest.
                HistoryWindow::Latest | HistoryWindow::Before(_) => {
                    items.remove(0);
                }
                HistoryWindow::After(_) => items.truncate(limit),
            }
        }
        self.with_reactions(actor, &mut items)?;
        Ok(History { items, has_more })
    }

    fn own_message(
        &self,
        actor: UserId,
        room_id: RoomId,
        message_id: MessageId,
    ) -> DomainResult<(Role, Message)> {
        let (_, role) = self.member_role(actor, room_id)?;
        let message = self
            .repo
            .message_by_id(room_id, message_id)?
            .ok_or(DomainError::NotFound("message"))?;
        Ok((role, message))
    }

    pub fn edit_message(
        &self,
        actor: UserId,
        room_id: RoomId,
        message_id: MessageId,
        body: &str,
    ) -> DomainResult<Message> {
        let body = validation::message_body(body)?;
        let (_, message) = self.own_message(actor, room_id, message_id)?;
        if message.author.id != actor {
            return Err(DomainError::forbidden("only the author may edit a message"));
        }
        if message.deleted {
            return Err(DomainError::conflict(
                ErrorCode::Conflict,
                "a deleted message cannot be edited",
            ));
        }
        let Logged {
            value: message,
            event_seq,
        } = self.repo.edit_message(room_id, message_id, &body)?;
        self.events.publish(DomainEvent::MessageUpdated {
            room_id,
            message: message.clone(),
            event_seq,
        });
        Ok(message)
    }

    /// Deleting twice is harmless and announces once.
    pub fn delete_message(
        &self,
        actor: UserId,
        room_id: RoomId,
        message_id: MessageId,
    ) -> DomainResult<()> {
        let (role, message) = self.own_message(actor, room_id, message_id)?;
        if message.author.id != actor && !role.can_manage() {
            return Err(DomainError::forbidden(
                "only the author, an admin or the owner may delete a message",
            ));
        }
        if message.deleted {
            return Ok(());
        }
        let Logged {
            value: message,
            event_seq,
        } = self.repo.delete_message(room_id, message_id)?;
        self.events.publish(DomainEvent::MessageDeleted {
            room_id,
            message_id,
            seq: message.seq,
            event_seq,
        });
        Ok(())
    }
}

mod direct;
mod event_log;
mod files;
mod invites;
mod reactions;
mod reads;
mod search;
pub use invites::InviteInput;
pub use search::{SearchFilter, SearchPage, SEARCH_OFFSET_MAX, SEARCH_WINDOW};

#[cfg(test)]
mod tests;
