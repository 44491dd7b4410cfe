//! Searching the messages of the caller's rooms.
use chrono::{DateTime, Utc};

use super::{ChatService, DomainResult};
use crate::entities::*;
use crate::error::DomainError;
use crate::search::{MessageSearch, SearchHit, SearchText};

/// The most results one search may skip: deep pages of a ranked search cost the database the
/// whole prefix, and nobody reads them.
pub const SEARCH_OFFSET_MAX: usize = 1000;

/// How many of the newest matches a search ranks. Ranking every match costs the database a read
/// of each one's row (40-60 ms for a word in 2.5% of a million messages, and growing with the
/// table); the newest thousand bound that cost by the page, are what people in a chat look
/// for, and are as deep as the cursor goes. Older matches are found by narrowing the search
/// (room, author, dates), which moves the window.
pub const SEARCH_WINDOW: usize = SEARCH_OFFSET_MAX;

/// What a search may be narrowed by.
#[derive(Debug, Clone, Default)]
pub struct SearchFilter {
    pub room_id: Option<RoomId>,
    pub author_id: Option<UserId>,
    pub after: Option<DateTime<Utc>>,
    pub before: Option<DateTime<Utc>>,
}

/// A page of results and where the next starts, if there is more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchPage {
    pub items: Vec<SearchHit>,
    pub next_offset: Option<usize>,
}

impl ChatService {
    /// Finds messages of rooms the caller is a member of, never others'. Narrowed to one room,
    /// that room answers as its history would: 404 hidden, 403 not a member.
    pub fn search_messages(
        &self,
        actor: UserId,
        q: &str,
        filter: SearchFilter,
        offset: usize,
        limit: usize,
    ) -> DomainResult<SearchPage> {
        let text = SearchText::parse(q)?;
        if offset > SEARCH_OFFSET_MAX {
            return Err(DomainError::validation(
                "cursor",
                "the search goes no deeper; narrow it instead",
            ));
        }
        if let Some(room_id) = filter.room_id {
            self.member_role(actor, room_id)?;
        }
        let mut items = self.repo.search_messages(MessageSearch {
            viewer: actor,
            text,
            room_id: filter.room_id,
            author_id: filter.author_id,
            after: filter.after,
            before: filter.before,
            window: SEARCH_WINDOW,
            offset,
            limit: limit + 1,
        })?;
        let next_offset = (items.len() > limit).then(|| {
            items.truncate(limit);
            offset + limit
        });
        Ok(SearchPage { items, next_offset })
    }
}
