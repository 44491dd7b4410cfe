use chrono::{DateTime, Utc};

use super::{next, stored_time, MemoryRepository, State, TokenRow};
use crate::entities::*;
use crate::error::RepoError;
use crate::repository::{NewRefreshToken, NewSession, RepoResult, SessionFilter, TokenRepository};

/// Checks that `token` can be stored: its user exists and its hash is new.
fn check_token(s: &State, token: &NewRefreshToken) -> RepoResult<()> {
    if !s.users.contains_key(&token.user_id) {
        return Err(RepoError::NotFound);
    }
    if s.tokens.iter().any(|t| t.token_hash == token.token_hash) {
        return Err(RepoError::Conflict("record"));
    }
    Ok(())
}

fn insert_token(s: &mut State, token: NewRefreshToken) {
    let id = next(&mut s.last_ids.token);
    s.tokens.push(TokenRow {
        id,
        user_id: token.user_id,
        family_id: token.family_id,
        token_hash: token.token_hash,
        expires_at: stored_time(token.expires_at),
        spent_at: None,
        revoked_at: None,
    });
}

/// Ends the sessions `which` names that were not ended yet, expired or not (as the database
/// does), with their refresh tokens; returns them in the order they were started.
pub(super) fn end(
    s: &mut State,
    which: SessionFilter<'_>,
    now: DateTime<Utc>,
) -> Vec<EndedSession> {
    let matches = |session: &SessionRecord| match which {
        SessionFilter::One { id, user_id } => {
            session.id == id && user_id.is_none_or(|u| session.user_id == u)
        }
        SessionFilter::AllOf { user_id, except } => {
            session.user_id == user_id && except.is_none_or(|keep| session.id != keep)
        }
    };
    let mut ended = Vec::new();
    for session in &mut s.sessions {
        if session.revoked_at.is_none() && matches(session) {
            session.revoked_at = Some(now);
            ended.push(EndedSession {
                id: session.id.clone(),
                user_id: session.user_id,
                revoked_at: now,
            });
        }
    }
    for token in &mut s.tokens {
        if token.revoked_at.is_none() && ended.iter().any(|e| e.id == token.family_id) {
            token.revoked_at = Some(now);
        }
    }
    ended
}

impl TokenRepository for MemoryRepository {
    fn start_session(&self, new: NewSession) -> RepoResult<()> {
        let mut s = self.lock()?;
        let token = new.first_token;
        check_token(&s, &token)?;
        if s.sessions.iter().any(|x| x.id == token.family_id) {
            return Err(RepoError::Conflict("record"));
        }
        let now = s.now();
        s.sessions.push(SessionRecord {
            id: token.family_id.clone(),
            user_id: token.user_id,
            user_agent: new.user_agent,
            created_at: now,
            last_used_at: now,
            expires_at: stored_time(token.expires_at),
            revoked_at: None,
        });
        insert_token(&mut s, token);
        Ok(())
    }

    fn refresh_token_by_hash(&self, token_hash: &str) -> RepoResult<Option<RefreshTokenRecord>> {
        let s = self.lock()?;
        Ok(s.tokens
            .iter()
            .find(|t| t.token_hash == token_hash)
            .map(|t| RefreshTokenRecord {
                id: t.id,
                user_id: t.user_id,
                family_id: t.family_id.clone(),
                expires_at: t.expires_at,
                spent_at: t.spent_at,
                revoked_at: t.revoked_at,
            }))
    }

    /// As in the database, expiry is the caller's to check, and the successor's family is not
    /// compared with the spent token's: the session touched is the successor's.
    fn rotate_refresh_token(&self, spent_id: i64, successor: NewRefreshToken) -> RepoResult<bool> {
        let mut s = self.lock()?;
        let Some(spent) = s
            .tokens
            .iter()
            .position(|t| t.id == spent_id && t.spent_at.is_none() && t.revoked_at.is_none())
        else {
            return Ok(false);
        };
        check_token(&s, &successor)?;
        let now = s.now();
        if let Some(token) = s.tokens.get_mut(spent) {
            token.spent_at = Some(now);
        }
        let expires_at = stored_time(successor.expires_at);
        if let Some(session) = s.sessions.iter_mut().find(|x| x.id == successor.family_id) {
            session.last_used_at = now;
            session.expires_at = expires_at;
        }
        insert_token(&mut s, successor);
        Ok(true)
    }

    fn end_sessions(&self, which: SessionFilter<'_>) -> RepoResult<Vec<EndedSession>> {
        let mut s = self.lock()?;
        let now = s.now();
        Ok(end(&mut s, which, now))
    }

    fn live_sessions(&self, user_id: UserId) -> RepoResult<Vec<SessionRecord>> {
        let s = self.lock()?;
        let now = Utc::now();
        let mut live: Vec<SessionRecord> = s
            .sessions
            .iter()
            .filter(|x| x.user_id == user_id && x.revoked_at.is_none() && x.expires_at > now)
            .cloned()
            .collect();
        live.sort_by(|a, b| (b.created_at, &b.id).cmp(&(a.created_at, &a.id)));
        Ok(live)
    }

    fn sessions_ended_since(&self, since: DateTime<Utc>) -> RepoResult<Vec<EndedSession>> {
        let s = self.lock()?;
        let since = stored_time(since);
        Ok(s.sessions
            .iter()
            .filter_map(|x| match x.revoked_at {
                Some(at) if at >= since => Some(EndedSession {
                    id: x.id.clone(),
                    user_id: x.user_id,
                    revoked_at: at,
                }),
                _ => None,
            })
            .collect())
    }
}
