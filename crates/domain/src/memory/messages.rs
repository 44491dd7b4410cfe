use std::ops::Bound;
use std::rc::Rc;

use super::{next, MemoryRepository, MessageRow, State};
use crate::entities::*;
use crate::error::{RepoError, SendRefusal};
use crate::event_log::{LogEntry, Logged};
use crate::lexemes::match_form;
use crate::repository::{
    HistoryWindow, MessageRepository, NewMessage, RepoResult, StoreDone, Stored,
};
use crate::search::{each_word, MessageSearch, SearchHit, Term, MARK_END, MARK_START};

/// The message with this id if it is in this room.
fn in_room(s: &State, room_id: RoomId, id: MessageId) -> RepoResult<Option<Message>> {
    Ok(s.message(id)?.filter(|m| m.room_id == room_id))
}

impl MessageRepository for MemoryRepository {
    fn search_messages(&self, search: MessageSearch) -> RepoResult<Vec<SearchHit>> {
        self::search(&*self.lock()?, &search)
    }

    /// Checks in the database's order: the room, then the author's membership, then a retry,
    /// so a retry from an author who has left is refused, not answered.
    fn store_message(&self, new: NewMessage) -> RepoResult<Stored> {
        let mut s = self.lock()?;
        let Some(room) = s.rooms.get(&new.room_id) else {
            return Err(RepoError::Refused(SendRefusal::NoRoom));
        };
        if !s.members.contains_key(&(new.room_id, new.author_id)) {
            return Err(RepoError::Refused(if room.is_private {
                SendRefusal::PrivateRoom
            } else {
                SendRefusal::NotMember
            }));
        }
        let seq = room.last_seq + 1;
        let key = new
            .client_msg_id
            .clone()
            .map(|cmid| (new.room_id, new.author_id, cmid));
        if let Some(first) = key.as_ref().and_then(|k| s.by_client_id.get(k)) {
            let first = s.message(*first)?.ok_or(RepoError::NotFound)?;
            return Ok(Stored::Existing(first));
        }
        if let Some(quoted) = new.reply_to {
            if s.messages
                .get(&quoted)
                .is_none_or(|q| q.room_id != new.room_id)
            {
                return Err(RepoError::Refused(SendRefusal::BadReply));
            }
        }
        // Only the room's members are mentioned; `@room` only by an owner or admin.
        let mut mentions: Vec<UserId> = new
            .mentions
            .usernames
            .iter()
            .filter_map(|name| s.usernames.get(name).copied())
            .filter(|u| s.members.contains_key(&(new.room_id, *u)))
            .collect();
        mentions.sort_unstable();
        let mentions_room = new.mentions.room
            && s.members
                .get(&(new.room_id, new.author_id))
                .is_some_and(|m| m.role.can_manage());
        let created_at = s.now();
        let event_seq = seq + s.event_offsets.get(&new.room_id).copied().unwrap_or(0);
        let id = next(&mut s.last_ids.message);
        s.messages.insert(
            id,
            MessageRow {
                room_id: new.room_id,
                seq,
                author_id: new.author_id,
                body: new.body,
                client_msg_id: new.client_msg_id,
                created_at,
                edited_at: None,
                deleted: false,
                event_seq,
                reply_to: new.reply_to,
                mentions,
                mentions_room,
                attachments: new.attachments,
            },
        );
        s.by_seq.insert((new.room_id, seq), id);
        if let Some(key) = key {
            s.by_client_id.insert(key, id);
        }
        if let Some(room) = s.rooms.get_mut(&new.room_id) {
            room.last_seq = seq;
        }
        s.message(id)?
            .map(Stored::Created)
            .ok_or(RepoError::NotFound)
    }

    /// Stores on the caller's thread and answers before returning. The lock is released first,
    /// so `done` may call the repository.
    fn submit_message(&self, new: NewMessage, done: StoreDone) {
        let result = self.store_message(new);
        done(result);
    }

    fn message_by_id(&self, room_id: RoomId, id: MessageId) -> RepoResult<Option<Message>> {
        in_room(&*self.lock()?, room_id, id)
    }

    fn messages_by_ids(&self, room_id: RoomId, ids: &[MessageId]) -> RepoResult<Vec<Message>> {
        let s = self.lock()?;
        let mut found = Vec::new();
        for id in ids {
            found.extend(in_room(&s, room_id, *id)?);
        }
        found.sort_by_key(|m| m.seq);
        found.dedup_by_key(|m| m.id);
        Ok(found)
    }

    fn history(
        &self,
        room_id: RoomId,
        window: HistoryWindow,
        limit: usize,
    ) -> RepoResult<Vec<Message>> {
        let s = self.lock()?;
        let first = Bound::Included((room_id, i64::MIN));
        let last = Bound::Included((room_id, i64::MAX));
        let seqs = |from, to| s.by_seq.range((from, to)).map(|(_, id)| *id);
        let ids: Vec<MessageId> = match window {
            HistoryWindow::Latest => seqs(first, last).rev().take(limit).collect(),
            HistoryWindow::Before(seq) => seqs(first, Bound::Excluded((room_id, seq)))
                .rev()
                .take(limit)
                .collect(),
            HistoryWindow::After(seq) => seqs(Bound::Excluded((room_id, seq)), last)
                .take(limit)
                .collect(),
        };
        let mut messages = ids
            .into_iter()
            .map(|id| s.message(id)?.ok_or(RepoError::NotFound))
            .collect::<RepoResult<Vec<_>>>()?;
        messages.sort_by_key(|m| m.seq);
        Ok(messages)
    }

    /// Like the database's conditional update, a deleted message is `NotFound`.
    fn edit_message(
        &self,
        room_id: RoomId,
        id: MessageId,
        body: &str,
    ) -> RepoResult<Logged<Message>> {
        let mut s = self.lock()?;
        let now = s.now();
        match s.messages.get_mut(&id) {
            Some(row) if row.room_id == room_id && !row.deleted => {
                body.clone_into(&mut row.body);
                row.edited_at = Some(now);
            }
            _ => return Err(RepoError::NotFound),
        }
        let event_seq = s.log(room_id, LogEntry::MessageUpdated { message_id: id });
        let value = s.message(id)?.ok_or(RepoError::NotFound)?;
        Ok(Logged { value, event_seq })
    }

    /// Deleting a deleted message again succeeds, and is logged again.
    fn delete_message(&self, room_id: RoomId, id: MessageId) -> RepoResult<Logged<Message>> {
        let mut s = self.lock()?;
        match s.messages.get_mut(&id) {
            Some(row) if row.room_id == room_id => {
                row.body.clear();
                row.deleted = true;
                let gone = std::mem::take(&mut row.attachments);
                s.file_trash.extend(gone.into_iter().map(|a| a.id));
            }
            _ => return Err(RepoError::NotFound),
        }
        s.reactions.retain(|r| r.message_id != id);
        let event_seq = s.log(room_id, LogEntry::MessageDeleted { message_id: id });
        let value = s.message(id)?.ok_or(RepoError::NotFound)?;
        Ok(Logged { value, event_seq })
    }
}

/// Each word of a text as search matches it: stemmed (as "deploys" and "deploying" are both
/// "deploy"), so that this repository finds what the databases find.
fn forms(text: &str) -> Vec<Rc<str>> {
    each_word(text).map(|w| match_form(&w)).collect()
}

/// Whether `body` holds `phrase`'s words in a row.
fn holds(body: &[Rc<str>], phrase: &[Rc<str>]) -> bool {
    body.windows(phrase.len()).any(|w| w == phrase)
}

/// A plain reading of a search, stemmed but without stop words or ranking by rarity: every
/// word and phrase must be in the body as whole words, no exclusion may be; more matches rank
/// higher, then newer messages.
pub(super) fn search(s: &State, q: &MessageSearch) -> RepoResult<Vec<SearchHit>> {
    let terms: Vec<(bool, Vec<Rc<str>>)> = q
        .text
        .terms
        .iter()
        .map(|t| match t {
            Term::Word(w) | Term::Phrase(w) => (true, forms(w)),
            Term::Without(w) => (false, forms(w)),
        })
        .collect();
    let wanted: Vec<&Rc<str>> = terms
        .iter()
        .filter(|(wanted, _)| *wanted)
        .flat_map(|(_, words)| words)
        .collect();
    let mut found = Vec::new();
    for (&id, row) in s.messages.iter().rev() {
        let visible = s.members.contains_key(&(row.room_id, q.viewer))
            && !row.deleted
            && q.room_id.is_none_or(|r| r == row.room_id)
            && q.author_id.is_none_or(|a| a == row.author_id)
            && q.after.is_none_or(|t| row.created_at > t)
            && q.before.is_none_or(|t| row.created_at < t);
        if !visible {
            continue;
        }
        let body = forms(&row.body);
        let matches = terms
            .iter()
            .all(|(wanted, phrase)| holds(&body, phrase) == *wanted);
        if !matches {
            continue;
        }
        let hits = wanted
            .iter()
            .map(|w| body.iter().filter(|x| x == w).count())
            .sum::<usize>();
        found.push((hits, id));
    }
    // The newest `window` matches, ranked; stable, so equal scores keep newest first.
    found.truncate(q.window);
    found.sort_by_key(|&(hits, _)| std::cmp::Reverse(hits));
    let mut out = Vec::new();
    for (_, id) in found.into_iter().skip(q.offset).take(q.limit) {
        let Some(message) = s.message(id)? else {
            continue;
        };
        let marked = mark(&message.body, &wanted);
        out.push(SearchHit::from_marked(message, &marked));
    }
    Ok(out)
}

/// The body with each word of the query marked, as the databases mark their snippets.
fn mark(body: &str, wanted: &[&Rc<str>]) -> String {
    let mut out = String::with_capacity(body.len() + 8);
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        if word.is_empty() {
            return;
        }
        if wanted.contains(&&match_form(&word.to_lowercase())) {
            out.push(MARK_START);
            out.push_str(word);
            out.push(MARK_END);
        } else {
            out.push_str(word);
        }
        word.clear();
    };
    for c in body.chars() {
        if c.is_alphanumeric() {
            word.push(c);
        } else {
            flush(&mut word, &mut out);
            out.push(c);
        }
    }
    flush(&mut word, &mut out);
    out
}
