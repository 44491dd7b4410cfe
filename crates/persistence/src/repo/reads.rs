use std::collections::HashMap;

use diesel::prelude::*;
use huddle_domain::repository::{ReadRepository, RepoResult};
use huddle_domain::{ReadMark, RepoError, RoomId, Unread, UserId};

use super::DieselRepository;
use crate::error::{db_err, map_err};
use crate::models::now_micros;
use crate::schema::{message_mentions, messages, room_members, room_reads, rooms, users};

diesel::define_sql_function!(fn coalesce(x: diesel::sql_types::Nullable<diesel::sql_types::BigInt>, y: diesel::sql_types::BigInt) -> diesel::sql_types::BigInt);

impl ReadRepository for DieselRepository {
    fn mark_read(&self, room_id: RoomId, user_id: UserId, seq: i64) -> RepoResult<Option<i64>> {
        let now = now_micros();
        let forward = |c: &mut _| {
            diesel::update(
                room_reads::table
                    .find((room_id, user_id))
                    .filter(room_reads::last_read_seq.lt(seq)),
            )
            .set((
                room_reads::last_read_seq.eq(seq),
                room_reads::updated_at.eq(now),
            ))
            .execute(c)
        };
        let mut conn = self.conn()?;
        // Forward an existing mark (a write first, for SQLite's lock); else make the first one.
        // Two first marks at once: one insert loses on the key, and moves the winner forward.
        let result = conn.transaction(|c| {
            if forward(c)? > 0 {
                return Ok(Some(seq));
            }
            let exists = room_reads::table
                .find((room_id, user_id))
                .count()
                .get_result::<i64>(c)?
                > 0;
            if exists {
                return Ok(None);
            }
            diesel::insert_into(room_reads::table)
                .values((
                    room_reads::room_id.eq(room_id),
                    room_reads::user_id.eq(user_id),
                    room_reads::last_read_seq.eq(seq),
                    room_reads::updated_at.eq(now),
                ))
                .execute(c)?;
            Ok(Some(seq))
        });
        match result {
            Err(diesel::result::Error::DatabaseError(
                diesel::result::DatabaseErrorKind::UniqueViolation,
                _,
            )) => conn
                .transaction(|c| forward(c))
                .map(|n| (n > 0).then_some(seq))
                .map_err(db_err),
            other => other.map_err(map_err("read")),
        }
    }

    fn shared_read_marks(&self, room_id: RoomId) -> RepoResult<Vec<ReadMark>> {
        room_reads::table
            .inner_join(users::table)
            .inner_join(
                room_members::table.on(room_members::room_id
                    .eq(room_reads::room_id)
                    .and(room_members::user_id.eq(room_reads::user_id))),
            )
            .filter(room_reads::room_id.eq(room_id))
            .filter(users::share_read_receipts.eq(true))
            .order(room_reads::user_id.asc())
            .select((room_reads::user_id, room_reads::last_read_seq))
            .load::<(i64, i64)>(&mut *self.conn()?)
            .map(|rows| {
                rows.into_iter()
                    .map(|(user_id, last_read_seq)| ReadMark {
                        user_id,
                        last_read_seq,
                    })
                    .collect()
            })
            .map_err(db_err)
    }

    /// Seqs are gap-free, so a room holds `last_seq - mark` messages past the reader's mark;
    /// of those only the ones that do not count are read (the reader's own, others' deleted
    /// ones) and the mentions, each from an index of its own (migration `unread_indexes`). A
    /// count that read every unread message took 40 ms for 50 rooms of 1,000 (BENCHMARKS.md,
    /// "Room list").
    fn unread(&self, user_id: UserId, room_ids: &[RoomId]) -> RepoResult<Vec<Unread>> {
        let mut conn = self.conn()?;
        let marks: Vec<(i64, i64)> = room_reads::table
            .filter(room_reads::user_id.eq(user_id))
            .filter(room_reads::room_id.eq_any(room_ids))
            .select((room_reads::room_id, room_reads::last_read_seq))
            .load(&mut *conn)
            .map_err(db_err)?;
        let last_seqs: Vec<(i64, i64)> = rooms::table
            .filter(rooms::id.eq_any(room_ids))
            .select((rooms::id, rooms::last_seq))
            .load(&mut *conn)
            .map_err(db_err)?;
        let past_mark = room_reads::table.on(room_reads::room_id
            .eq(messages::room_id)
            .and(room_reads::user_id.eq(user_id)));
        let mark = coalesce(room_reads::last_read_seq.nullable(), 0);
        // What does not count: the reader's own messages, then others' deleted ones, as two
        // counts. One count of `own OR deleted` read every message of the rooms on SQLite,
        // which uses one index per table here (21 ms for 50 rooms of 2,000; BENCHMARKS.md,
        // "SQLite"). `.filter(messages::deleted)`, not `.eq(true)`: the
        // partial index's own predicate, which SQLite needs word for word to use it.
        let own: Vec<(i64, i64)> = messages::table
            .left_join(past_mark)
            .filter(messages::room_id.eq_any(room_ids))
            .filter(messages::author_id.eq(user_id))
            .filter(messages::seq.gt(mark))
            .group_by(messages::room_id)
            .select((messages::room_id, diesel::dsl::count_star()))
            .load(&mut *conn)
            .map_err(db_err)?;
        let deleted: Vec<(i64, i64)> = messages::table
            .left_join(past_mark)
            .filter(messages::room_id.eq_any(room_ids))
            .filter(messages::deleted)
            .filter(messages::author_id.ne(user_id))
            .filter(messages::seq.gt(mark))
            .group_by(messages::room_id)
            .select((messages::room_id, diesel::dsl::count_star()))
            .load(&mut *conn)
            .map_err(db_err)?;
        let not_unread = own.into_iter().chain(deleted).fold(
            HashMap::<i64, i64>::new(),
            |mut sums, (room_id, n)| {
                *sums.entry(room_id).or_default() += n;
                sums
            },
        );
        // Mentions of the whole room, then of the reader by name (not counted twice).
        let of_room: Vec<(i64, i64)> = messages::table
            .left_join(past_mark)
            .filter(messages::room_id.eq_any(room_ids))
            .filter(messages::mentions_room)
            .filter(messages::seq.gt(mark))
            .filter(messages::author_id.ne(user_id))
            .filter(messages::deleted.eq(false))
            .group_by(messages::room_id)
            .select((messages::room_id, diesel::dsl::count_star()))
            .load(&mut *conn)
            .map_err(db_err)?;
        let by_name: Vec<(i64, i64)> = message_mentions::table
            .inner_join(messages::table.on(messages::id.eq(message_mentions::message_id)))
            .left_join(
                room_reads::table.on(room_reads::room_id
                    .eq(message_mentions::room_id)
                    .and(room_reads::user_id.eq(user_id))),
            )
            .filter(message_mentions::user_id.eq(user_id))
            .filter(message_mentions::room_id.eq_any(room_ids))
            .filter(message_mentions::seq.gt(mark))
            .filter(messages::author_id.ne(user_id))
            .filter(messages::deleted.eq(false))
            .filter(messages::mentions_room.eq(false))
            .group_by(message_mentions::room_id)
            .select((message_mentions::room_id, diesel::dsl::count_star()))
            .load(&mut *conn)
            .map_err(db_err)?;
        let [marks, last_seqs, of_room, by_name]: [HashMap<i64, i64>; 4] =
            [marks, last_seqs, of_room, by_name].map(|rows| rows.into_iter().collect());
        let of = |rows: &HashMap<i64, i64>, room_id: i64| rows.get(&room_id).copied().unwrap_or(0);
        Ok(room_ids
            .iter()
            .map(|&room_id| {
                let last_read_seq = of(&marks, room_id);
                let past = (of(&last_seqs, room_id) - last_read_seq).max(0);
                Unread {
                    room_id,
                    last_read_seq,
                    unread_count: (past - of(&not_unread, room_id)).max(0),
                    mention_count: of(&of_room, room_id) + of(&by_name, room_id),
                }
            })
            .collect())
    }

    fn shares_read_receipts(&self, user_id: UserId) -> RepoResult<bool> {
        users::table
            .find(user_id)
            .select(users::share_read_receipts)
            .first(&mut *self.conn()?)
            .optional()
            .map_err(db_err)?
            .ok_or(RepoError::NotFound)
    }

    fn set_shares_read_receipts(&self, user_id: UserId, share: bool) -> RepoResult<()> {
        let n = diesel::update(users::table.find(user_id))
            .set(users::share_read_receipts.eq(share))
            .execute(&mut *self.conn()?)
            .map_err(db_err)?;
        if n == 0 {
            return Err(RepoError::NotFound);
        }
        Ok(())
    }
}
