use diesel::prelude::*;
use huddle_domain::repository::{
    NewUser, ProfilePatch, RepoResult, SessionFilter, UserQuery, UserRepository,
};
use huddle_domain::{EndedSession, User, UserCredentials, UserId};

use super::literal_limit::literal_limit;
use super::DieselRepository;
use crate::connection::AnyConnection;
use crate::error::{db_err, map_err};
use crate::models::{now_micros, NewUserRow, UserChanges, UserRow};
use crate::schema::users;

fn credentials(row: (UserRow, String)) -> UserCredentials {
    UserCredentials {
        user: row.0.into(),
        password_hash: row.1,
    }
}

// Multi-backend connections cannot `RETURNING` a whole row, so writes return the id and the
// row is read back on the same connection.
fn load_user(c: &mut AnyConnection, id: UserId) -> RepoResult<User> {
    users::table
        .find(id)
        .select(UserRow::as_select())
        .first(c)
        .map(Into::into)
        .map_err(db_err)
}

impl UserRepository for DieselRepository {
    fn create_user(&self, new: NewUser) -> RepoResult<User> {
        let now = now_micros();
        let lower = new.username.to_lowercase();
        let row = NewUserRow {
            username: &new.username,
            username_lower: &lower,
            display_name: &new.display_name,
            bio: "",
            password_hash: &new.password_hash,
            created_at: now,
            updated_at: now,
        };
        let mut conn = self.conn()?;
        let id: i64 = diesel::insert_into(users::table)
            .values(&row)
            .returning(users::id)
            .get_result(&mut *conn)
            .map_err(map_err("username"))?;
        load_user(&mut conn, id)
    }

    fn user_by_id(&self, id: UserId) -> RepoResult<Option<User>> {
        users::table
            .find(id)
            .select(UserRow::as_select())
            .first(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(Into::into))
            .map_err(db_err)
    }

    fn search_users(&self, q: UserQuery) -> RepoResult<Vec<User>> {
        let mut query = users::table.select(UserRow::as_select()).into_boxed();
        if let Some(prefix) = &q.prefix {
            let pattern = super::rooms::like_prefix(prefix);
            query = query.filter(
                users::username_lower
                    .like(pattern.clone())
                    .escape('\\')
                    .or(super::lower(users::display_name).like(pattern).escape('\\')),
            );
        }
        if let Some(after) = q.after_id {
            query = query.filter(users::id.gt(after));
        }
        literal_limit(query.order(users::id.asc()), q.limit)
            .load_rows::<UserRow, _>(&mut *self.conn()?)
            .map(|rows| rows.into_iter().map(Into::into).collect())
            .map_err(db_err)
    }

    fn credentials_by_username(&self, username: &str) -> RepoResult<Option<UserCredentials>> {
        users::table
            .filter(users::username_lower.eq(username.to_lowercase()))
            .select((UserRow::as_select(), users::password_hash))
            .first(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(credentials))
            .map_err(db_err)
    }

    fn credentials_by_id(&self, id: UserId) -> RepoResult<Option<UserCredentials>> {
        users::table
            .find(id)
            .select((UserRow::as_select(), users::password_hash))
            .first(&mut *self.conn()?)
            .optional()
            .map(|r| r.map(credentials))
            .map_err(db_err)
    }

    fn update_profile(&self, id: UserId, patch: ProfilePatch) -> RepoResult<User> {
        let changes = UserChanges {
            display_name: patch.display_name,
            bio: patch.bio,
            updated_at: now_micros(),
        };
        let mut conn = self.conn()?;
        diesel::update(users::table.find(id))
            .set(&changes)
            .execute(&mut *conn)
            .map_err(db_err)?;
        load_user(&mut conn, id)
    }

    fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> RepoResult<Vec<EndedSession>> {
        let now = now_micros();
        self.conn()?
            .transaction(|c| {
                let n = diesel::update(users::table.find(id))
                    .set((
                        users::password_hash.eq(password_hash),
                        users::updated_at.eq(now),
                    ))
                    .execute(c)?;
                if n == 0 {
                    return Err(diesel::result::Error::NotFound);
                }
                super::tokens::end_sessions(
                    c,
                    SessionFilter::AllOf {
                        user_id: id,
                        except: keep_session,
                    },
                )
            })
            .map_err(db_err)
    }
}
