//! Sessions and refresh tokens: `TokenRepository` and `UserRepository::change_password`.
#![allow(clippy::unwrap_used, clippy::expect_used)]
use chrono::{DateTime, TimeDelta, Utc};

use super::user;
use crate::entities::*;
use crate::error::RepoError;
use crate::repository::*;
use crate::Repository;

fn token(user_id: UserId, session: &str, hash: &str, ttl: TimeDelta) -> NewRefreshToken {
    NewRefreshToken {
        user_id,
        family_id: session.into(),
        token_hash: hash.into(),
        expires_at: Utc::now() + ttl,
    }
}

fn start(repo: &dyn Repository, user_id: UserId, session: &str) {
    repo.start_session(NewSession {
        user_agent: Some(format!("agent of {session}")),
        first_token: token(
            user_id,
            session,
            &format!("{session}-0"),
            TimeDelta::days(1),
        ),
    })
    .unwrap();
}

fn record(repo: &dyn Repository, hash: &str) -> RefreshTokenRecord {
    repo.refresh_token_by_hash(hash).unwrap().unwrap()
}

fn live(repo: &dyn Repository, user_id: UserId) -> Vec<String> {
    let sessions = repo.live_sessions(user_id).unwrap();
    sessions.into_iter().map(|s| s.id).collect()
}

fn ended_ids(ended: &[EndedSession]) -> Vec<&str> {
    ended.iter().map(|e| e.id.as_str()).collect()
}

pub fn a_session_starts_with_its_first_token(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    start(repo, ann, "s1");
    let t = record(repo, "s1-0");
    assert_eq!((t.user_id, t.family_id.as_str()), (ann, "s1"));
    assert!(t.spent_at.is_none() && t.revoked_at.is_none());
    assert!(repo.refresh_token_by_hash("nope").unwrap().is_none());
    let [session] = repo.live_sessions(ann).unwrap().try_into().unwrap();
    assert_eq!(session.user_agent.as_deref(), Some("agent of s1"));
    assert_eq!(session.created_at, session.last_used_at);
    assert_eq!(session.expires_at, t.expires_at);
    assert_eq!(
        session.expires_at.timestamp_subsec_nanos() % 1000,
        0,
        "microseconds"
    );

    let again = |session: &str, hash: &str, user_id| {
        repo.start_session(NewSession {
            user_agent: None,
            first_token: token(user_id, session, hash, TimeDelta::days(1)),
        })
    };
    assert_eq!(
        again("s1", "other", ann),
        Err(RepoError::Conflict("record"))
    );
    assert_eq!(again("s2", "s1-0", ann), Err(RepoError::Conflict("record")));
    assert_eq!(again("s3", "h3", 999), Err(RepoError::NotFound));
    assert_eq!(live(repo, ann), vec!["s1"], "refusals stored nothing");
}

pub fn a_token_rotates_once(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    start(repo, ann, "s1");
    let first = record(repo, "s1-0");
    let before = repo.live_sessions(ann).unwrap().remove(0);
    let next = token(ann, "s1", "s1-1", TimeDelta::days(2));
    assert_eq!(repo.rotate_refresh_token(first.id, next.clone()), Ok(true));
    assert!(record(repo, "s1-0").spent_at.is_some());
    let second = record(repo, "s1-1");
    assert!(second.spent_at.is_none() && second.id != first.id);
    let after = repo.live_sessions(ann).unwrap().remove(0);
    assert!(after.last_used_at > before.last_used_at);
    assert_eq!(after.expires_at, second.expires_at);
    assert_eq!(after.created_at, before.created_at);

    // A spent token, an unknown one: false, nothing stored.
    let other = token(ann, "s1", "s1-x", TimeDelta::days(2));
    assert_eq!(
        repo.rotate_refresh_token(first.id, other.clone()),
        Ok(false)
    );
    assert_eq!(repo.rotate_refresh_token(999, other), Ok(false));
    assert!(repo.refresh_token_by_hash("s1-x").unwrap().is_none());
    // A successor with a hash in use: refused, the token stays unspent.
    assert_eq!(
        repo.rotate_refresh_token(second.id, next),
        Err(RepoError::Conflict("record"))
    );
    assert!(record(repo, "s1-1").spent_at.is_none());

    // A revoked token: false.
    repo.end_sessions(SessionFilter::One {
        id: "s1",
        user_id: None,
    })
    .unwrap();
    let late = token(ann, "s1", "s1-2", TimeDelta::days(2));
    assert_eq!(repo.rotate_refresh_token(second.id, late), Ok(false));
}

pub fn ending_sessions_reports_only_what_it_ended(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    for s in ["a1", "a2", "a3"] {
        start(repo, ann, s);
    }
    start(repo, bob, "b1");
    let one = |id, user_id| {
        repo.end_sessions(SessionFilter::One { id, user_id })
            .unwrap()
    };
    assert!(one("a1", Some(bob)).is_empty(), "not bob's session");
    let ended = one("a1", Some(ann));
    assert_eq!(ended_ids(&ended), vec!["a1"]);
    assert_eq!(ended[0].user_id, ann);
    assert!(one("a1", None).is_empty(), "already ended");
    assert!(record(repo, "a1-0").revoked_at.is_some());
    assert!(record(repo, "a2-0").revoked_at.is_none());

    let all = repo
        .end_sessions(SessionFilter::AllOf {
            user_id: ann,
            except: Some("a3"),
        })
        .unwrap();
    assert_eq!(ended_ids(&all), vec!["a2"]);
    assert_eq!(live(repo, ann), vec!["a3"]);
    assert_eq!(live(repo, bob), vec!["b1"]);
    let rest = repo
        .end_sessions(SessionFilter::AllOf {
            user_id: ann,
            except: None,
        })
        .unwrap();
    assert_eq!(ended_ids(&rest), vec!["a3"]);
    assert!(live(repo, ann).is_empty());
}

pub fn live_sessions_are_newest_first_without_ended_or_expired_ones(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    for s in ["s1", "s2", "s3", "s4"] {
        start(repo, ann, s);
    }
    repo.start_session(NewSession {
        user_agent: None,
        first_token: token(ann, "old", "old-0", TimeDelta::seconds(-1)),
    })
    .unwrap();
    repo.end_sessions(SessionFilter::One {
        id: "s2",
        user_id: None,
    })
    .unwrap();
    assert_eq!(live(repo, ann), vec!["s4", "s3", "s1"]);
    // The database ends any session not ended yet, expired or not.
    let expired = repo
        .end_sessions(SessionFilter::One {
            id: "old",
            user_id: None,
        })
        .unwrap();
    assert_eq!(ended_ids(&expired), vec!["old"]);
}

pub fn sessions_ended_since_a_time(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    for s in ["s1", "s2", "s3"] {
        start(repo, ann, s);
    }
    let first = repo
        .end_sessions(SessionFilter::One {
            id: "s1",
            user_id: None,
        })
        .unwrap();
    let at: DateTime<Utc> = first[0].revoked_at;
    let second = repo
        .end_sessions(SessionFilter::One {
            id: "s3",
            user_id: None,
        })
        .unwrap();
    assert!(second[0].revoked_at > at);
    let since = |t| repo.sessions_ended_since(t).unwrap();
    assert_eq!(
        since(at),
        [first.clone(), second.clone()].concat(),
        "at or after"
    );
    assert_eq!(since(at + TimeDelta::microseconds(1)), second);
    assert!(since(Utc::now() + TimeDelta::seconds(1)).is_empty());
}

pub fn a_password_change_ends_every_other_session(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    for s in ["a1", "a2", "a3"] {
        start(repo, ann, s);
    }
    start(repo, bob, "b1");
    repo.end_sessions(SessionFilter::One {
        id: "a1",
        user_id: None,
    })
    .unwrap();
    let ended = repo.change_password(ann, "new hash", Some("a2")).unwrap();
    assert_eq!(ended_ids(&ended), vec!["a3"], "a1 had ended before");
    assert_eq!(
        repo.credentials_by_id(ann).unwrap().unwrap().password_hash,
        "new hash"
    );
    assert_eq!(live(repo, ann), vec!["a2"]);
    assert_eq!(live(repo, bob), vec!["b1"]);
    let all = repo.change_password(ann, "newer", None).unwrap();
    assert_eq!(ended_ids(&all), vec!["a2"]);
    assert_eq!(
        repo.change_password(999, "h", None),
        Err(RepoError::NotFound)
    );
}
