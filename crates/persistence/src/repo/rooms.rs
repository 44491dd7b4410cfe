use diesel::prelude::*;
use huddle_domain::event_log::{LogEntry, Logged};
use huddle_domain::repository::{
    DirectOpened, NewDirect, NewRoom, RepoResult, RoomPatch, RoomQuery, RoomRepository,
};
use huddle_domain::{Member, Role, Room, RoomCursor, RoomId, RoomKind, UserId};

use super::event_log::{if_changed, log, next_event_seq, record, Unchanged};
use super::literal_limit::literal_limit;
use super::lower;
use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::{db_err, map_err};
use crate::models::*;
use crate::schema::{room_members, rooms, users};

pub(super) fn load_member(
    c: &mut AnyConnection,
    room_id: RoomId,
    user_id: UserId,
) -> QueryResult<Option<Member>> {
    room_members::table
        .inner_join(users::table)
        .filter(room_members::room_id.eq(room_id))
        .filter(room_members::user_id.eq(user_id))
        .select((MemberRow::as_select(), UserRow::as_select()))
        .first(c)
        .optional()
        .map(|r| r.map(to_member))
}

fn load_room(c: &mut AnyConnection, id: RoomId) -> QueryResult<Room> {
    rooms::table
        .find(id)
        .select(RoomRow::as_select())
        .first(c)
        .map(Into::into)
}

fn open_direct_in(c: &mut AnyConnection, new: &NewDirect) -> QueryResult<DirectOpened> {
    let now = now_micros();
    // Write first: SQLite then holds the write lock from the start, instead of failing to
    // upgrade a read lock when another opener got there between our read and our write.
    diesel::update(users::table.find(new.creator))
        .set(users::updated_at.eq(users::updated_at))
        .execute(c)?;
    let existing: Option<i64> = rooms::table
        .filter(rooms::direct_key.eq(&new.key))
        .select(rooms::id)
        .first(c)
        .optional()?;
    let (room_id, created) = match existing {
        Some(id) => (id, false),
        None => {
            let id: i64 = diesel::insert_into(rooms::table)
                .values(NewRoomRow {
                    name: &new.name,
                    description: "",
                    is_private: true,
                    owner_id: new.creator,
                    member_count: 0,
                    last_seq: 0,
                    created_at: now,
                    updated_at: now,
                    kind: RoomKind::Direct.as_str(),
                    direct_key: Some(&new.key),
                })
                .returning(rooms::id)
                .get_result(c)?;
            (id, true)
        }
    };
    let mut added = Vec::new();
    for &user_id in &new.members {
        if load_member(c, room_id, user_id)?.is_some() {
            continue;
        }
        diesel::insert_into(room_members::table)
            .values(NewMemberRow {
                room_id,
                user_id,
                role: Role::Member.as_str(),
                joined_at: now,
            })
            .execute(c)?;
        let joined = LogEntry::MemberJoined {
            user_id,
            role: Role::Member,
        };
        let event_seq = log(c, room_id, &joined, now)?;
        if let Some(value) = load_member(c, room_id, user_id)? {
            added.push(Logged { value, event_seq });
        }
    }
    if !added.is_empty() {
        let n = i64::try_from(added.len()).unwrap_or(i64::MAX);
        diesel::update(rooms::table.find(room_id))
            .set(rooms::member_count.eq(rooms::member_count + n))
            .execute(c)?;
    }
    Ok(DirectOpened {
        room: load_room(c, room_id)?,
        created,
        added,
    })
}

/// Escapes LIKE's wildcards so a search for `50%` finds that text; lowered, to match `lower()`.
fn escaped(q: &str) -> String {
    let mut p = String::with_capacity(q.len() + 2);
    for ch in q.to_lowercase().chars() {
        if matches!(ch, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(ch);
    }
    p
}

/// A LIKE pattern for "contains `q`", case-insensitively.
fn like_pattern(q: &str) -> String {
    format!("%{}%", escaped(q))
}

/// A LIKE pattern for "starts with `q`", case-insensitively.
pub(super) fn like_prefix(q: &str) -> String {
    format!("{}%", escaped(q))
}

impl RoomRepository for DieselRepository {
    fn create_room(&self, new: NewRoom) -> RepoResult<Room> {
        let now = now_micros();
        self.conn()?
            .transaction(|c| {
                let room_id: i64 = diesel::insert_into(rooms::table)
                    .values(NewRoomRow {
                        name: &new.name,
                        description: &new.description,
                        is_private: new.is_private,
                        owner_id: new.owner_id,
                        member_count: 1,
                        last_seq: 0,
                        created_at: now,
                        updated_at: now,
                        kind: RoomKind::Group.as_str(),
                        direct_key: None,
                    })
                    .returning(rooms::id)
                    .get_result(c)?;
                diesel::insert_into(room_members::table)
                    .values(NewMemberRow {
                        room_id,
                        user_id: new.owner_id,
                        role: Role::Owner.as_str(),
                        joined_at: now,
                    })
                    .execute(c)?;
                let joined = LogEntry::MemberJoined {
                    user_id: new.owner_id,
                    role: Role::Owner,
                };
                log(c, room_id, &joined, now)?;
                load_room(c, room_id)
            })
            .map_err(db_err)
    }

    fn room_by_id(&self, id: RoomId) -> RepoResult<Option<Room>> {
        rooms::table
            .find(id)
            .select(RoomRow::as_select())
            .first(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(Into::into))
            .map_err(db_err)
    }

    fn open_direct(&self, new: NewDirect) -> RepoResult<DirectOpened> {
        let mut conn = self.conn()?;
        // People opening the same conversation at once: one insert wins a unique key (the
        // room's, or a member's) and the others fail; run again, they find what it made.
        let mut result = conn.transaction(|c| open_direct_in(c, &new));
        for _ in 0..3 {
            match result {
                Err(diesel::result::Error::DatabaseError(
                    diesel::result::DatabaseErrorKind::UniqueViolation,
                    _,
                )) => result = conn.transaction(|c| open_direct_in(c, &new)),
                _ => break,
            }
        }
        result.map_err(map_err("room"))
    }

    fn list_rooms(&self, q: RoomQuery) -> RepoResult<Vec<Room>> {
        let joined = room_members::table
            .filter(room_members::user_id.eq(q.viewer))
            .select(room_members::room_id);
        let mut query = rooms::table.select(RoomRow::as_select()).into_boxed();
        query = if q.only_joined {
            query.filter(rooms::id.eq_any(joined))
        } else {
            query.filter(rooms::is_private.eq(false).or(rooms::id.eq_any(joined)))
        };
        if let Some(text) = &q.name_contains {
            query = query.filter(lower(rooms::name).like(like_pattern(text)).escape('\\'));
        }
        if let Some(kind) = q.kind {
            query = query.filter(rooms::kind.eq(kind.as_str()));
        }
        if let Some(after) = q.after_id {
            query = query.filter(rooms::id.gt(after));
        }
        literal_limit(query.order(rooms::id.asc()), q.limit)
            .load_rows::<RoomRow, _>(&mut *self.conn()?)
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(db_err)
    }

    fn update_room(&self, id: RoomId, patch: RoomPatch) -> RepoResult<Logged<Room>> {
        let now = now_micros();
        let changes = RoomChanges {
            name: patch.name,
            description: patch.description,
            is_private: patch.is_private,
            updated_at: now,
        };
        self.conn()?
            .transaction(|c| {
                let event_seq = log(c, id, &LogEntry::RoomUpdated, now)?;
                diesel::update(rooms::table.find(id))
                    .set(&changes)
                    .execute(c)?;
                let value = load_room(c, id)?;
                Ok(Logged { value, event_seq })
            })
            .map_err(db_err)
    }

    fn delete_room(&self, id: RoomId) -> RepoResult<()> {
        // Members and messages go with it (ON DELETE CASCADE; on PostgreSQL a trigger for the
        // messages, see the migration `messages_statement_checks`).
        let n = diesel::delete(rooms::table.find(id))
            .execute(&mut *self.conn()?)
            .map_err(db_err)?;
        if n == 0 {
            return Err(huddle_domain::RepoError::NotFound);
        }
        Ok(())
    }

    fn role_of(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Role>> {
        room_members::table
            .find((room_id, user_id))
            .select(room_members::role)
            .first::<String>(&mut *self.conn()?)
            .optional()
            .map(|r| r.and_then(|s| Role::parse(&s)))
            .map_err(db_err)
    }

    fn room_with_role(
        &self,
        room_id: RoomId,
        user_id: UserId,
    ) -> RepoResult<Option<(Room, Option<Role>)>> {
        rooms::table
            .left_join(
                room_members::table.on(room_members::room_id
                    .eq(rooms::id)
                    .and(room_members::user_id.eq(user_id))),
            )
            .filter(rooms::id.eq(room_id))
            .select((RoomRow::as_select(), room_members::role.nullable()))
            .first::<(RoomRow, Option<String>)>(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(|(room, role)| (room.into(), role.and_then(|s| Role::parse(&s)))))
            .map_err(db_err)
    }

    fn member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<Member>> {
        load_member(&mut *self.conn()?, room_id, user_id).map_err(db_err)
    }

    fn add_member(
        &self,
        room_id: RoomId,
        user_id: UserId,
        role: Role,
    ) -> RepoResult<Logged<Member>> {
        let now = now_micros();
        self.conn()?
            .transaction(|c| {
                // The room first, as every writer of a room takes it.
                let event_seq =
                    next_event_seq(c, room_id)?.ok_or(diesel::result::Error::NotFound)?;
                diesel::insert_into(room_members::table)
                    .values(NewMemberRow {
                        room_id,
                        user_id,
                        role: role.as_str(),
                        joined_at: now,
                    })
                    .execute(c)?;
                diesel::update(rooms::table.find(room_id))
                    .set(rooms::member_count.eq(rooms::member_count + 1))
                    .execute(c)?;
                record(
                    c,
                    room_id,
                    event_seq,
                    &LogEntry::MemberJoined { user_id, role },
                    now,
                )?;
                let value =
                    load_member(c, room_id, user_id)?.ok_or(diesel::result::Error::NotFound)?;
                Ok(Logged { value, event_seq })
            })
            .map_err(map_err("member"))
    }

    fn remove_member(&self, room_id: RoomId, user_id: UserId) -> RepoResult<Option<i64>> {
        let result = self.conn()?.transaction(|c| {
            let Some(event_seq) = next_event_seq(c, room_id)? else {
                return Err(Unchanged::Nothing);
            };
            let n = diesel::delete(room_members::table.find((room_id, user_id))).execute(c)?;
            if n == 0 {
                return Err(Unchanged::Nothing);
            }
            diesel::update(rooms::table.find(room_id))
                .set(rooms::member_count.eq(rooms::member_count - 1))
                .execute(c)?;
            let left = LogEntry::MemberLeft { user_id };
            record(c, room_id, event_seq, &left, now_micros())?;
            Ok(event_seq)
        });
        if_changed(result).map_err(db_err)
    }

    fn set_role(&self, room_id: RoomId, user_id: UserId, role: Role) -> RepoResult<Member> {
        self.conn()?
            .transaction(|c| {
                diesel::update(room_members::table.find((room_id, user_id)))
                    .set(room_members::role.eq(role.as_str()))
                    .execute(c)?;
                load_member(c, room_id, user_id)?.ok_or(diesel::result::Error::NotFound)
            })
            .map_err(db_err)
    }

    fn list_members(
        &self,
        room_id: RoomId,
        after_user: Option<UserId>,
        limit: usize,
    ) -> RepoResult<Vec<Member>> {
        let page = room_members::table
            .inner_join(users::table)
            .filter(room_members::room_id.eq(room_id))
            .filter(room_members::user_id.gt(after_user.unwrap_or(i64::MIN)))
            .order(room_members::user_id.asc())
            .select((MemberRow::as_select(), UserRow::as_select()));
        literal_limit(page, limit)
            .load_rows::<(MemberRow, UserRow), _>(&mut *self.conn()?)
            .map(|rows| rows.into_iter().map(to_member).collect())
            .map_err(db_err)
    }

    fn rooms_of_user(&self, user_id: UserId) -> RepoResult<Vec<RoomCursor>> {
        room_members::table
            .inner_join(rooms::table)
            .filter(room_members::user_id.eq(user_id))
            .order(rooms::id.asc())
            .select((rooms::id, rooms::last_seq, rooms::event_offset))
            .load::<(i64, i64, i64)>(&mut *self.conn()?)
            .map(|rows| {
                rows.into_iter()
                    .map(|(room_id, last_seq, offset)| RoomCursor {
                        room_id,
                        last_seq,
                        last_event_seq: last_seq + offset,
                    })
                    .collect()
            })
            .map_err(db_err)
    }
}

#[cfg(test)]
mod tests {
    use super::like_pattern;

    #[test]
    fn like_wildcards_are_escaped() {
        assert_eq!(like_pattern("Gen"), "%gen%");
        assert_eq!(like_pattern("50%_off\\"), "%50\\%\\_off\\\\%");
    }
}
