use diesel::prelude::*;
use huddle_domain::repository::{
    NewRefreshToken, NewSession, RepoResult, SessionFilter, TokenRepository,
};
use huddle_domain::{EndedSession, RefreshTokenRecord, SessionRecord, UserId};

use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::{
    now_micros, to_time, NewRefreshTokenRow, NewSessionRow, RefreshTokenRow, SessionRow,
};
use crate::schema::{refresh_tokens, sessions};

fn insert(c: &mut AnyConnection, new: &NewRefreshToken) -> QueryResult<usize> {
    diesel::insert_into(refresh_tokens::table)
        .values(NewRefreshTokenRow {
            user_id: new.user_id,
            family_id: &new.family_id,
            token_hash: &new.token_hash,
            created_at: now_micros(),
            expires_at: new.expires_at.timestamp_micros(),
        })
        .execute(c)
}

/// Ends the live sessions `which` names, with their refresh tokens, inside the caller's
/// transaction, and returns them. It writes first and reads after: on SQLite a transaction
/// that reads and then writes must upgrade its lock, which fails at once (not after the busy
/// timeout) while another connection writes, as concurrent refreshes of one token do.
pub(crate) fn end_sessions(
    c: &mut AnyConnection,
    which: SessionFilter<'_>,
) -> QueryResult<Vec<EndedSession>> {
    let now = now_micros();
    let live = sessions::table.filter(sessions::revoked_at.is_null());
    let set = sessions::revoked_at.eq(now);
    let changed = match which {
        SessionFilter::One { id, user_id: None } => {
            diesel::update(live.filter(sessions::id.eq(id)))
                .set(set)
                .execute(c)?
        }
        SessionFilter::One {
            id,
            user_id: Some(u),
        } => diesel::update(
            live.filter(sessions::id.eq(id))
                .filter(sessions::user_id.eq(u)),
        )
        .set(set)
        .execute(c)?,
        SessionFilter::AllOf {
            user_id,
            except: None,
        } => diesel::update(live.filter(sessions::user_id.eq(user_id)))
            .set(set)
            .execute(c)?,
        SessionFilter::AllOf {
            user_id,
            except: Some(keep),
        } => diesel::update(
            live.filter(sessions::user_id.eq(user_id))
                .filter(sessions::id.ne(keep)),
        )
        .set(set)
        .execute(c)?,
    };
    if changed == 0 {
        return Ok(Vec::new());
    }
    // What this statement ended: the rows it stamped.
    let stamped = sessions::table.filter(sessions::revoked_at.eq(now));
    let found: Vec<(String, i64)> = match which {
        SessionFilter::One { id, .. } => stamped
            .filter(sessions::id.eq(id))
            .select((sessions::id, sessions::user_id))
            .load(c)?,
        SessionFilter::AllOf { user_id, .. } => stamped
            .filter(sessions::user_id.eq(user_id))
            .select((sessions::id, sessions::user_id))
            .load(c)?,
    };
    let ids: Vec<&str> = found.iter().map(|(id, _)| id.as_str()).collect();
    diesel::update(
        refresh_tokens::table
            .filter(refresh_tokens::family_id.eq_any(&ids))
            .filter(refresh_tokens::revoked_at.is_null()),
    )
    .set(refresh_tokens::revoked_at.eq(now))
    .execute(c)?;
    Ok(found
        .into_iter()
        .map(|(id, user_id)| EndedSession {
            id,
            user_id,
            revoked_at: to_time(now),
        })
        .collect())
}

impl TokenRepository for DieselRepository {
    fn start_session(&self, new: NewSession) -> RepoResult<()> {
        let now = now_micros();
        let token = &new.first_token;
        self.conn()?
            .transaction(|c| {
                diesel::insert_into(sessions::table)
                    .values(NewSessionRow {
                        id: &token.family_id,
                        user_id: token.user_id,
                        user_agent: new.user_agent.as_deref(),
                        created_at: now,
                        last_used_at: now,
                        expires_at: token.expires_at.timestamp_micros(),
                    })
                    .execute(c)?;
                insert(c, token).map(drop)
            })
            .map_err(db_err)
    }

    fn refresh_token_by_hash(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>> {
        refresh_tokens::table
            .filter(refresh_tokens::token_hash.eq(token_hash))
            .select(RefreshTokenRow::as_select())
            .first(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(Into::into))
            .map_err(db_err)
    }

    fn rotate_refresh_token(&self, spent_id: i64, successor: NewRefreshToken) -> RepoResult<bool> {
        self.conn()?
            .transaction(|c| {
                // The session's row first, as `end_sessions` takes it: the same lock order, so
                // a rotation and an ending of one session never deadlock on PostgreSQL.
                diesel::update(sessions::table.find(&successor.family_id))
                    .set(sessions::last_used_at.eq(sessions::last_used_at))
                    .execute(c)?;
                // The conditional update decides: of two concurrent rotations of one token,
                // exactly one sees a row to update.
                let spent = diesel::update(
                    refresh_tokens::table
                        .find(spent_id)
                        .filter(refresh_tokens::spent_at.is_null())
                        .filter(refresh_tokens::revoked_at.is_null()),
                )
                .set(refresh_tokens::spent_at.eq(now_micros()))
                .execute(c)?;
                if spent == 0 {
                    return Ok(false);
                }
                insert(c, &successor)?;
                diesel::update(sessions::table.find(&successor.family_id))
                    .set((
                        sessions::last_used_at.eq(now_micros()),
                        sessions::expires_at.eq(successor.expires_at.timestamp_micros()),
                    ))
                    .execute(c)?;
                Ok(true)
            })
            .map_err(db_err)
    }

    fn end_sessions(&self, which: SessionFilter<'_>) -> RepoResult<Vec<EndedSession>> {
        self.conn()?
            .transaction(|c| end_sessions(c, which))
            .map_err(db_err)
    }

    fn live_sessions(&self, user_id: UserId) -> RepoResult<Vec<SessionRecord>> {
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::expires_at.gt(now_micros()))
            .order((sessions::created_at.desc(), sessions::id.desc()))
            .select(SessionRow::as_select())
            .load(&mut *self.conn()?)
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(db_err)
    }

    fn sessions_ended_since(
        &self,
        since: chrono::DateTime<chrono::Utc>,
    ) -> RepoResult<Vec<EndedSession>> {
        sessions::table
            .filter(sessions::revoked_at.ge(since.timestamp_micros()))
            .select((sessions::id, sessions::user_id, sessions::revoked_at))
            .load::<(String, i64, Option<i64>)>(&mut *self.conn()?)
            .map(|rows| {
                rows.into_iter()
                    .map(|(id, user_id, at)| EndedSession {
                        id,
                        user_id,
                        revoked_at: to_time(at.unwrap_or_default()),
                    })
                    .collect()
            })
            .map_err(db_err)
    }
}
