//! Each room's ordered, durable event log: what lets a client that was away get every change it
//! missed (edits, deletes, reactions, members, renames), not just the new messages, and in the
//! order they happened.
//!
//! Every change to a room takes the room's next `event_seq` in the transaction that makes it,
//! so the log and the data never disagree. A message's creation is logged by the message row
//! itself (it stores its `event_seq`), so the hot path of sends writes nothing more; every other
//! change is one [`LogEntry`], which names what changed rather than copying it: a replay shows
//! the thing as it is now (an edited message's latest body), followed by whatever changed it
//! since. Entries older than the retention are pruned; a client asking from before the prune
//! point is told to reload instead ([`LogPage::Reset`]).
use chrono::{DateTime, Utc};

use crate::entities::{MessageId, Role, UserId};
use crate::events::DomainEvent;

/// What a stored change returns: the change, and its place in the room's log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Logged<T> {
    pub value: T,
    pub event_seq: i64,
}

/// One logged change, by reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// Read back from the message row, never written as an entry.
    MessageCreated {
        message_id: MessageId,
    },
    MessageUpdated {
        message_id: MessageId,
    },
    MessageDeleted {
        message_id: MessageId,
    },
    ReactionAdded {
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
    },
    ReactionRemoved {
        message_id: MessageId,
        user_id: UserId,
        emoji: String,
    },
    MemberJoined {
        user_id: UserId,
        role: Role,
    },
    MemberLeft {
        user_id: UserId,
    },
    RoomUpdated,
}

/// A [`LogEntry`] as a row stores it: its kind's name and the references it has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogColumns<'a> {
    pub kind: &'static str,
    pub message_id: Option<MessageId>,
    pub user_id: Option<UserId>,
    pub emoji: Option<&'a str>,
    pub role: Option<Role>,
}

impl LogEntry {
    /// The message the change is about, if it is about one.
    pub fn message_id(&self) -> Option<MessageId> {
        self.columns().message_id
    }

    pub fn columns(&self) -> LogColumns<'_> {
        let mut c = LogColumns {
            kind: "",
            message_id: None,
            user_id: None,
            emoji: None,
            role: None,
        };
        match self {
            LogEntry::MessageCreated { message_id } => {
                c.kind = "message.created";
                c.message_id = Some(*message_id);
            }
            LogEntry::MessageUpdated { message_id } => {
                c.kind = "message.updated";
                c.message_id = Some(*message_id);
            }
            LogEntry::MessageDeleted { message_id } => {
                c.kind = "message.deleted";
                c.message_id = Some(*message_id);
            }
            LogEntry::ReactionAdded {
                message_id,
                user_id,
                emoji,
            }
            | LogEntry::ReactionRemoved {
                message_id,
                user_id,
                emoji,
            } => {
                c.kind = if matches!(self, LogEntry::ReactionAdded { .. }) {
                    "reaction.added"
                } else {
                    "reaction.removed"
                };
                c.message_id = Some(*message_id);
                c.user_id = Some(*user_id);
                c.emoji = Some(emoji);
            }
            LogEntry::MemberJoined { user_id, role } => {
                c.kind = "member.joined";
                c.user_id = Some(*user_id);
                c.role = Some(*role);
            }
            LogEntry::MemberLeft { user_id } => {
                c.kind = "member.left";
                c.user_id = Some(*user_id);
            }
            LogEntry::RoomUpdated => c.kind = "room.updated",
        }
        c
    }

    /// The entry a row holds; `None` for a row this version cannot read (an unknown kind or a
    /// missing reference), which a replay skips rather than fail the whole resume.
    pub fn from_columns(
        kind: &str,
        message_id: Option<MessageId>,
        user_id: Option<UserId>,
        emoji: Option<String>,
        role: Option<Role>,
    ) -> Option<Self> {
        Some(match kind {
            "message.created" => LogEntry::MessageCreated {
                message_id: message_id?,
            },
            "message.updated" => LogEntry::MessageUpdated {
                message_id: message_id?,
            },
            "message.deleted" => LogEntry::MessageDeleted {
                message_id: message_id?,
            },
            "reaction.added" => LogEntry::ReactionAdded {
                message_id: message_id?,
                user_id: user_id?,
                emoji: emoji?,
            },
            "reaction.removed" => LogEntry::ReactionRemoved {
                message_id: message_id?,
                user_id: user_id?,
                emoji: emoji?,
            },
            "member.joined" => LogEntry::MemberJoined {
                user_id: user_id?,
                role: role?,
            },
            "member.left" => LogEntry::MemberLeft { user_id: user_id? },
            "room.updated" => LogEntry::RoomUpdated,
            _ => return None,
        })
    }
}

/// A logged change with its place and time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoggedEntry {
    pub event_seq: i64,
    pub at: DateTime<Utc>,
    pub entry: LogEntry,
}

/// What a room's log holds after a point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogSlice<T> {
    /// The next entries, oldest first; `has_more` when the limit cut them short.
    Entries { items: Vec<T>, has_more: bool },
    /// The log was pruned past that point: the reader must reload the room instead.
    Reset,
}

/// A page of a room's events as a client gets them.
pub type LogPage = LogSlice<DomainEvent>;

/// The `event_seq` of a room's first entry: its creator joining, logged with the room.
pub const FIRST_EVENT_SEQ: i64 = 1;

/// How long logged changes are kept, by default: a week, so a laptop closed over a weekend
/// resumes without reloading.
pub const DEFAULT_RETENTION: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The most events a `sync` replays for one room; past that, reloading the room's history is
/// cheaper than replaying it, and the client is told to.
pub const REPLAY_MAX: usize = 5000;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_entry_survives_its_columns() {
        let entries = [
            LogEntry::MessageCreated { message_id: 1 },
            LogEntry::MessageUpdated { message_id: 2 },
            LogEntry::MessageDeleted { message_id: 3 },
            LogEntry::ReactionAdded {
                message_id: 4,
                user_id: 5,
                emoji: "👍".into(),
            },
            LogEntry::ReactionRemoved {
                message_id: 4,
                user_id: 5,
                emoji: "🎉".into(),
            },
            LogEntry::MemberJoined {
                user_id: 6,
                role: Role::Admin,
            },
            LogEntry::MemberLeft { user_id: 7 },
            LogEntry::RoomUpdated,
        ];
        for entry in entries {
            let c = entry.columns();
            let back = LogEntry::from_columns(
                c.kind,
                c.message_id,
                c.user_id,
                c.emoji.map(str::to_owned),
                c.role,
            );
            assert_eq!(back.as_ref(), Some(&entry), "{}", c.kind);
        }
    }

    #[test]
    fn unreadable_rows_are_skipped_not_guessed() {
        assert_eq!(
            LogEntry::from_columns("member.renamed", None, Some(1), None, None),
            None
        );
        assert_eq!(
            LogEntry::from_columns("reaction.added", Some(1), Some(2), None, None),
            None,
            "no emoji"
        );
    }
}
