use super::{next, sessions, MemoryRepository, UserRow};
use crate::entities::*;
use crate::error::RepoError;
use crate::repository::{
    NewUser, ProfilePatch, RepoResult, SessionFilter, UserQuery, UserRepository,
};

fn credentials(row: &UserRow) -> UserCredentials {
    UserCredentials {
        user: row.user.clone(),
        password_hash: row.password_hash.clone(),
    }
}

impl UserRepository for MemoryRepository {
    fn create_user(&self, new: NewUser) -> RepoResult<User> {
        let mut s = self.lock()?;
        let lower = new.username.to_lowercase();
        if s.usernames.contains_key(&lower) {
            return Err(RepoError::Conflict("username"));
        }
        let created_at = s.now();
        let id = next(&mut s.last_ids.user);
        let user = User {
            id,
            username: new.username,
            display_name: new.display_name,
            bio: String::new(),
            created_at,
        };
        s.usernames.insert(lower, id);
        s.users.insert(
            id,
            UserRow {
                user: user.clone(),
                password_hash: new.password_hash,
            },
        );
        Ok(user)
    }

    fn user_by_id(&self, id: UserId) -> RepoResult<Option<User>> {
        Ok(self.lock()?.users.get(&id).map(|row| row.user.clone()))
    }

    fn search_users(&self, query: UserQuery) -> RepoResult<Vec<User>> {
        let s = self.lock()?;
        let prefix = query.prefix.as_deref().map(str::to_lowercase);
        let from = query
            .after_id
            .map_or(std::ops::Bound::Unbounded, std::ops::Bound::Excluded);
        Ok(s.users
            .range((from, std::ops::Bound::Unbounded))
            .map(|(_, row)| &row.user)
            .filter(|u| {
                prefix.as_deref().is_none_or(|p| {
                    u.username.to_lowercase().starts_with(p)
                        || u.display_name.to_lowercase().starts_with(p)
                })
            })
            .take(query.limit)
            .cloned()
            .collect())
    }

    fn credentials_by_username(&self, username: &str) -> RepoResult<Option<UserCredentials>> {
        let s = self.lock()?;
        Ok(s.usernames
            .get(&username.to_lowercase())
            .and_then(|id| s.users.get(id))
            .map(credentials))
    }

    fn credentials_by_id(&self, id: UserId) -> RepoResult<Option<UserCredentials>> {
        Ok(self.lock()?.users.get(&id).map(credentials))
    }

    fn update_profile(&self, id: UserId, patch: ProfilePatch) -> RepoResult<User> {
        let mut s = self.lock()?;
        let row = s.users.get_mut(&id).ok_or(RepoError::NotFound)?;
        if let Some(display_name) = patch.display_name {
            row.user.display_name = display_name;
        }
        if let Some(bio) = patch.bio {
            row.user.bio = bio;
        }
        Ok(row.user.clone())
    }

    fn change_password(
        &self,
        id: UserId,
        password_hash: &str,
        keep_session: Option<&str>,
    ) -> RepoResult<Vec<EndedSession>> {
        let mut s = self.lock()?;
        let now = s.now();
        let row = s.users.get_mut(&id).ok_or(RepoError::NotFound)?;
        password_hash.clone_into(&mut row.password_hash);
        Ok(sessions::end(
            &mut s,
            SessionFilter::AllOf {
                user_id: id,
                except: keep_session,
            },
            now,
        ))
    }
}
