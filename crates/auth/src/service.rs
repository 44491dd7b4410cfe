//! The auth use cases. Blocking (bcrypt and the repository): run on a blocking pool.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use huddle_domain::repository::{NewRefreshToken, NewUser};
use huddle_domain::{validation, DomainError, Repository, User, UserId};

use crate::jwt::{AccessClaims, JwtKeys};
use crate::password::{hash_password, verify_password};
use crate::tokens::{hash_refresh_token, new_family_id, new_refresh_token};
use crate::AuthError;

#[derive(Debug, Clone)]
pub struct AuthConfig {
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub bcrypt_cost: u32,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            access_ttl: Duration::from_secs(15 * 60),
            refresh_ttl: Duration::from_secs(30 * 24 * 3600),
            bcrypt_cost: 12,
        }
    }
}

/// A login's tokens, as handed to the client.
#[derive(Debug, Clone)]
pub struct Session {
    pub user: User,
    pub access_token: String,
    pub refresh_token: String,
    /// Seconds until the access token expires.
    pub expires_in: u64,
}

pub struct AuthService {
    repo: Arc<dyn Repository>,
    keys: JwtKeys,
    config: AuthConfig,
    /// Checked against when the user does not exist, so that an unknown name costs as much time
    /// as a wrong password and login timing does not reveal which names exist.
    dummy_hash: String,
}

impl AuthService {
    pub fn new(
        repo: Arc<dyn Repository>,
        keys: JwtKeys,
        config: AuthConfig,
    ) -> Result<Self, AuthError> {
        let dummy_hash = hash_password("not a real password", config.bcrypt_cost)?;
        Ok(Self {
            repo,
            keys,
            config,
            dummy_hash,
        })
    }

    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// Cheap (one HMAC); fine to call on the async executor.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, AuthError> {
        self.keys.verify(token)
    }

    pub fn register(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
    ) -> Result<Session, AuthError> {
        let username = validation::username(username)?;
        validation::password(password)?;
        let display_name = match display_name {
            Some(d) => validation::display_name(d)?,
            None => username.clone(),
        };
        let password_hash = hash_password(password, self.config.bcrypt_cost)?;
        let user = self.repo.create_user(NewUser {
            username,
            display_name,
            password_hash,
        })?;
        self.start_session(user)
    }

    pub fn login(&self, username: &str, password: &str) -> Result<Session, AuthError> {
        validation::login_username(username)?;
        match self.repo.credentials_by_username(username)? {
            Some(c) if verify_password(password, &c.password_hash) => self.start_session(c.user),
            Some(_) => Err(AuthError::InvalidCredentials),
            None => {
                let _ = verify_password(password, &self.dummy_hash);
                Err(AuthError::InvalidCredentials)
            }
        }
    }

    /// Spends the refresh token and returns a new session of the same login. Presenting a
    /// spent token means it was copied: the whole login is revoked.
    pub fn refresh(&self, refresh_token: &str) -> Result<Session, AuthError> {
        let record = self
            .repo
            .refresh_token_by_hash(&hash_refresh_token(refresh_token))?
            .ok_or(AuthError::Unauthenticated("unknown refresh token"))?;
        if record.revoked_at.is_some() {
            return Err(AuthError::Unauthenticated("this login has been ended"));
        }
        if record.spent_at.is_some() {
            tracing::warn!(
                user_id = record.user_id,
                "refresh token reused; revoking its login"
            );
            self.repo.revoke_family(&record.family_id)?;
            return Err(AuthError::Unauthenticated(
                "refresh token already used; this login has been ended",
            ));
        }
        if record.expires_at <= Utc::now() {
            return Err(AuthError::TokenExpired);
        }
        let user = self
            .repo
            .user_by_id(record.user_id)?
            .ok_or(AuthError::Unauthenticated("unknown user"))?;
        let (refresh_token, successor) = self.new_refresh(user.id, &record.family_id);
        if !self.repo.rotate_refresh_token(record.id, successor)? {
            // Someone rotated it between our read and our write: a concurrent reuse.
            self.repo.revoke_family(&record.family_id)?;
            return Err(AuthError::Unauthenticated(
                "refresh token already used; this login has been ended",
            ));
        }
        self.session(user, &record.family_id, refresh_token)
    }

    /// Ends the login the token belongs to. Unknown tokens are ignored: logging out twice is
    /// not an error.
    pub fn logout(&self, refresh_token: &str) -> Result<(), AuthError> {
        if let Some(record) = self
            .repo
            .refresh_token_by_hash(&hash_refresh_token(refresh_token))?
        {
            self.repo.revoke_family(&record.family_id)?;
        }
        Ok(())
    }

    /// Keeps the caller's own login (`session_id`) and ends every other one.
    pub fn change_password(
        &self,
        user_id: UserId,
        session_id: &str,
        current: &str,
        new: &str,
    ) -> Result<(), AuthError> {
        let creds = self
            .repo
            .credentials_by_id(user_id)?
            .ok_or(DomainError::NotFound("user"))?;
        if !verify_password(current, &creds.password_hash) {
            return Err(AuthError::InvalidCredentials);
        }
        validation::password(new).map_err(|e| match e {
            DomainError::Validation { message, .. } => DomainError::Validation {
                field: Some("new_password"),
                message: message.replace("password", "new_password"),
            },
            other => other,
        })?;
        let hash = hash_password(new, self.config.bcrypt_cost)?;
        self.repo
            .change_password(user_id, &hash, Some(session_id))?;
        Ok(())
    }

    fn new_refresh(&self, user_id: UserId, family_id: &str) -> (String, NewRefreshToken) {
        let token = new_refresh_token();
        let expires_at = Utc::now()
            + chrono::Duration::from_std(self.config.refresh_ttl)
                .unwrap_or_else(|_| chrono::Duration::days(30));
        let record = NewRefreshToken {
            user_id,
            family_id: family_id.to_owned(),
            token_hash: hash_refresh_token(&token),
            expires_at,
        };
        (token, record)
    }

    fn start_session(&self, user: User) -> Result<Session, AuthError> {
        let family = new_family_id();
        let (token, record) = self.new_refresh(user.id, &family);
        self.repo.insert_refresh_token(record)?;
        self.session(user, &family, token)
    }

    fn session(
        &self,
        user: User,
        family: &str,
        refresh_token: String,
    ) -> Result<Session, AuthError> {
        let access_token = self.keys.issue(user.id, family, self.config.access_ttl)?;
        Ok(Session {
            user,
            access_token,
            refresh_token,
            expires_in: self.config.access_ttl.as_secs(),
        })
    }
}
