//! A chat with no server and no database: `ChatService` over `MemoryRepository`, printing what
//! happens, including what the rules refuse.
//!
//! ```text
//! cargo run -p huddle-domain --example in_memory --features memory
//! ```
use std::error::Error;
use std::sync::Arc;

use huddle_domain::memory::MemoryRepository;
use huddle_domain::repository::{HistoryWindow, NewUser, UserRepository};
use huddle_domain::service::{ChatService, RoomInput};
use huddle_domain::{DomainEvent, EventPublisher, User};

/// Prints every event, as the realtime gateway would send it to the room's sockets.
struct PrintEvents;

impl EventPublisher for PrintEvents {
    fn publish(&self, event: DomainEvent) {
        let line = match &event {
            DomainEvent::MessageCreated { message, .. } => format!(
                "message.created #{} by {}: {:?}",
                message.seq, message.author.username, message.body
            ),
            DomainEvent::MessageUpdated { message, .. } => {
                format!("message.updated #{}: {:?}", message.seq, message.body)
            }
            DomainEvent::MessageDeleted { seq, .. } => format!("message.deleted #{seq}"),
            DomainEvent::MemberJoined { member, .. } => format!(
                "member.joined {} as {}",
                member.user.username,
                member.role.as_str()
            ),
            DomainEvent::MemberLeft { user_id, .. } => format!("member.left user {user_id}"),
            DomainEvent::RoomUpdated { room, .. } => format!("room.updated {:?}", room.name),
            DomainEvent::RoomDeleted { .. } => "room.deleted".to_owned(),
            DomainEvent::ReadUpdated {
                user_id,
                last_read_seq,
                ..
            } => format!("read.updated user {user_id} at #{last_read_seq}"),
            DomainEvent::ReactionAdded { seq, emoji, .. } => {
                format!("reaction.added #{seq} {emoji}")
            }
            DomainEvent::ReactionRemoved { seq, emoji, .. } => {
                format!("reaction.removed #{seq} {emoji}")
            }
        };
        println!("    [room {}] {line}", event.room_id());
    }
}

/// Registration is the auth crate's (it hashes the password); here the user is stored as is.
fn user(
    repo: &MemoryRepository,
    username: &str,
    display_name: &str,
) -> Result<User, Box<dyn Error>> {
    let user = repo.create_user(NewUser {
        username: username.into(),
        display_name: display_name.into(),
        password_hash: "not a real hash".into(),
    })?;
    println!("registered {} (id {})", user.username, user.id);
    Ok(user)
}

fn main() -> Result<(), Box<dyn Error>> {
    let repo = Arc::new(MemoryRepository::new());
    let chat = ChatService::new(repo.clone(), Arc::new(PrintEvents));

    let ann = user(&repo, "ann", "Ann")?;
    let bob = user(&repo, "bob", "Bob")?;
    let eve = user(&repo, "eve", "Eve")?;
    match repo.create_user(NewUser {
        username: "ANN".into(),
        display_name: "Another Ann".into(),
        password_hash: String::new(),
    }) {
        Ok(_) => println!("registered ANN?!"),
        Err(e) => println!("registering ANN: {e} (usernames are unique in any case)"),
    }

    println!("\nann creates a public room and a private one");
    let general = chat.create_room(
        ann.id,
        RoomInput {
            name: Some("general".into()),
            description: Some("Anything goes".into()),
            is_private: None,
        },
    )?;
    let secret = chat.create_room(
        ann.id,
        RoomInput {
            name: Some("secret".into()),
            is_private: Some(true),
            ..RoomInput::default()
        },
    )?;

    println!("\nbob joins #general and they talk");
    chat.join_room(bob.id, general.id)?;
    chat.post_message(ann.id, general.id, "Hello, Bob!", Some("ann-1"))?;
    let hi = chat
        .post_message(bob.id, general.id, "Hi Ann :)", None)?
        .into_message();
    let retry = chat.post_message(ann.id, general.id, "Hello, Bob!", Some("ann-1"))?;
    println!(
        "ann's app resends with the same client_msg_id: answered seq {} again, nothing new stored",
        retry.message().seq
    );
    chat.edit_message(bob.id, general.id, hi.id, "Hi Ann!")?;

    println!("\nwhat the rules refuse");
    let refusals = [
        (
            "eve posts in #general without joining",
            chat.post_message(eve.id, general.id, "psst", None)
                .map(drop),
        ),
        ("eve reads #secret", chat.room(eve.id, secret.id).map(drop)),
        (
            "eve joins #secret",
            chat.join_room(eve.id, secret.id).map(drop),
        ),
        (
            "ann edits bob's message",
            chat.edit_message(ann.id, general.id, hi.id, "Hi!")
                .map(drop),
        ),
        (
            "bob renames #general",
            chat.update_room(
                bob.id,
                general.id,
                RoomInput {
                    name: Some("bob's".into()),
                    ..RoomInput::default()
                },
            )
            .map(drop),
        ),
        (
            "ann leaves her own room",
            chat.leave_room(ann.id, general.id),
        ),
        (
            "bob sends a blank message",
            chat.post_message(bob.id, general.id, "   ", None).map(drop),
        ),
    ];
    for (what, result) in refusals {
        match result {
            Ok(()) => println!("  {what}: allowed?!"),
            Err(e) => println!("  {what}: {} ({})", e.code(), e.public_message()),
        }
    }

    println!("\nann adds eve to #secret, the way into a private room");
    chat.add_member(ann.id, secret.id, eve.id)?;
    chat.post_message(eve.id, secret.id, "Thanks for the invite", None)?;

    println!("\nann deletes bob's message, as the owner may");
    chat.delete_message(ann.id, general.id, hi.id)?;

    println!("\n#general as bob reads it:");
    let history = chat.history(bob.id, general.id, HistoryWindow::Latest, 50)?;
    for m in &history.items {
        let body = if m.deleted {
            "(deleted)"
        } else {
            m.body.as_str()
        };
        let edited = if m.edited_at.is_some() {
            " (edited)"
        } else {
            ""
        };
        println!("  #{} {}: {body}{edited}", m.seq, m.author.display_name);
    }

    println!("\nrooms bob can see:");
    for room in chat.list_rooms(bob.id, None, false, None, 10)?.items {
        println!(
            "  {} ({} members, last seq {}{})",
            room.name,
            room.member_count,
            room.last_seq,
            if room.is_private { ", private" } else { "" }
        );
    }
    println!(
        "rooms eve is in, with where each ends: {:?}",
        chat.rooms_of(eve.id)?
    );
    Ok(())
}
