use diesel::prelude::*;
use huddle_domain::repository::{NewRefreshToken, RepoResult, TokenRepository};
use huddle_domain::RefreshTokenRecord;

use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::{now_micros, NewRefreshTokenRow, RefreshTokenRow};
use crate::schema::refresh_tokens;

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

impl TokenRepository for DieselRepository {
    fn insert_refresh_token(&self, new: NewRefreshToken) -> RepoResult<()> {
        insert(&mut *self.conn()?, &new).map(drop).map_err(db_err)
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
                // The conditional update is the lock: of two concurrent rotations of one token,
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
                Ok(true)
            })
            .map_err(db_err)
    }

    fn revoke_family(&self, family_id: &str) -> RepoResult<()> {
        diesel::update(
            refresh_tokens::table
                .filter(refresh_tokens::family_id.eq(family_id))
                .filter(refresh_tokens::revoked_at.is_null()),
        )
        .set(refresh_tokens::revoked_at.eq(now_micros()))
        .execute(&mut *self.conn()?)
        .map(drop)
        .map_err(db_err)
    }
}
