//! The auth use cases. Blocking (bcrypt and the repository): run on a blocking pool.
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use huddle_domain::repository::{NewRefreshToken, NewSession, NewUser, SessionFilter};
use huddle_domain::{
    validation, DomainError, EndedSession, Repository, SessionRecord, User, UserId,
};

use crate::jwt::{AccessClaims, JwtKeys};
use crate::password::{hash_password, verify_password};
use crate::revocations::Revocations;
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

/// What a token of an ended session is told.
pub const SESSION_ENDED: &str = "this session has ended; sign in again";

/// Told of every session this node ends, to tell the other nodes (and close sockets).
pub type SessionsEnded = Arc<dyn Fn(&[EndedSession]) + Send + Sync>;

pub struct AuthService {
    repo: Arc<dyn Repository>,
    keys: JwtKeys,
    config: AuthConfig,
    revocations: Arc<Revocations>,
    on_ended: Option<SessionsEnded>,
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
            revocations: Arc::new(Revocations::new(config.access_ttl)),
            config,
            on_ended: None,
            dummy_hash,
        })
    }

    /// Calls `f` with every batch of sessions this node ends, after they are refused here.
    pub fn on_sessions_ended(mut self, f: SessionsEnded) -> Self {
        self.on_ended = Some(f);
        self
    }

    pub fn keys(&self) -> &JwtKeys {
        &self.keys
    }

    /// The sessions this node refuses; other nodes' endings are recorded here from the bus.
    pub fn revocations(&self) -> &Arc<Revocations> {
        &self.revocations
    }

    /// Cheap (one HMAC and a map lookup); fine to call on the async executor.
    pub fn verify_access(&self, token: &str) -> Result<AccessClaims, AuthError> {
        let claims = self.keys.verify(token)?;
        if self.revocations.is_ended(&claims.sid) {
            return Err(AuthError::Unauthenticated(SESSION_ENDED));
        }
        Ok(claims)
    }

    /// At start: the sessions ended within a token lifetime, so that their access tokens are
    /// refused here too. Returns how many.
    pub fn load_revocations(&self) -> Result<usize, AuthError> {
        let since = Utc::now()
            - chrono::Duration::from_std(self.revocations.window())
                .unwrap_or_else(|_| chrono::Duration::hours(1));
        let ended = self.repo.sessions_ended_since(since)?;
        self.revocations
            .record(ended.iter().map(|e| (e.id.as_str(), e.revoked_at)));
        Ok(ended.len())
    }

    pub fn register(
        &self,
        username: &str,
        password: &str,
        display_name: Option<&str>,
        user_agent: Option<&str>,
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
        self.start_session(user, user_agent)
    }

    pub fn login(
        &self,
        username: &str,
        password: &str,
        user_agent: Option<&str>,
    ) -> Result<Session, AuthError> {
        validation::login_username(username)?;
        match self.repo.credentials_by_username(username)? {
            Some(c) if verify_password(password, &c.password_hash) => {
                self.start_session(c.user, user_agent)
            }
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
            self.end_login(&record.family_id)?;
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
            self.end_login(&record.family_id)?;
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
            self.end_login(&record.family_id)?;
        }
        Ok(())
    }

    /// Ends every session of the user, the caller's own included.
    pub fn logout_all(&self, user_id: UserId) -> Result<usize, AuthError> {
        let ended = self.repo.end_sessions(SessionFilter::AllOf {
            user_id,
            except: None,
        })?;
        Ok(self.announce(ended))
    }

    /// Ends one of the user's sessions; `NotFound` when the user has no such live session.
    pub fn end_session(&self, user_id: UserId, session_id: &str) -> Result<(), AuthError> {
        let ended = self.repo.end_sessions(SessionFilter::One {
            id: session_id,
            user_id: Some(user_id),
        })?;
        if self.announce(ended) == 0 {
            return Err(DomainError::NotFound("session").into());
        }
        Ok(())
    }

    /// The user's live sessions, newest first.
    pub fn sessions(&self, user_id: UserId) -> Result<Vec<SessionRecord>, AuthError> {
        Ok(self.repo.live_sessions(user_id)?)
    }

    fn end_login(&self, session_id: &str) -> Result<(), AuthError> {
        let ended = self.repo.end_sessions(SessionFilter::One {
            id: session_id,
            user_id: None,
        })?;
        self.announce(ended);
        Ok(())
    }

    /// Refuses the sessions here at once, then tells the listener (the other nodes).
    fn announce(&self, ended: Vec<EndedSession>) -> usize {
        if ended.is_empty() {
            return 0;
        }
        self.revocations
            .record(ended.iter().map(|e| (e.id.as_str(), e.revoked_at)));
        if let Some(f) = &self.on_ended {
            f(&ended);
        }
        ended.len()
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
        let ended = self
            .repo
            .change_password(user_id, &hash, Some(session_id))?;
        self.announce(ended);
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

    fn start_session(&self, user: User, user_agent: Option<&str>) -> Result<Session, AuthError> {
        let family = new_family_id();
        let (token, record) = self.new_refresh(user.id, &family);
        self.repo.start_session(NewSession {
            user_agent: user_agent.and_then(validation::user_agent),
            first_token: record,
        })?;
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

#[cfg(test)]
mod tests;
