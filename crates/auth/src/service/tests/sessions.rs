//! Refresh tokens and sessions: rotation, reuse, expiry, logout, listing, and who is told.
use std::sync::{Arc, Barrier};
use std::time::Duration;

use huddle_domain::memory::MemoryRepository;
use huddle_domain::repository::TokenRepository;
use huddle_domain::{DomainError, UserId};

use super::{config, is_invalid_credentials, Node, PASSWORD};
use crate::service::{AuthConfig, Session, SESSION_ENDED};
use crate::tokens::hash_refresh_token;
use crate::AuthError;

const REUSED: &str = "refresh token already used; this login has been ended";
const ENDED: &str = "this login has been ended";

fn refused(node: &Node, refresh_token: &str, why: &str) {
    match node.auth.refresh(refresh_token) {
        Err(AuthError::Unauthenticated(text)) => assert_eq!(text, why),
        other => panic!("expected {why:?}, got {other:?}"),
    }
}

/// The user's live sessions, newest first.
fn live_ids(node: &Node, user: UserId) -> Vec<String> {
    let sessions = node.auth.sessions(user).unwrap();
    sessions.into_iter().map(|s| s.id).collect()
}

fn ended_access(node: &Node, s: &Session) -> bool {
    matches!(
        node.auth.verify_access(&s.access_token),
        Err(AuthError::Unauthenticated(SESSION_ENDED))
    )
}

#[test]
fn refresh_rotates_the_token_within_the_same_session() {
    let node = Node::new();
    let first = node.register("ann");
    let sid = node.sid(&first);
    let before = node.auth.sessions(first.user.id).unwrap();
    let second = node.auth.refresh(&first.refresh_token).unwrap();
    assert_eq!(second.user, first.user);
    assert_ne!(second.refresh_token, first.refresh_token);
    assert_eq!(node.sid(&second), sid, "the same login");
    let after = node.auth.sessions(first.user.id).unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(after[0].id, sid);
    assert!(after[0].last_used_at > before[0].last_used_at);
    // The new token works (and rotates again); the old one is spent.
    let third = node.auth.refresh(&second.refresh_token).unwrap();
    assert_eq!(node.sid(&third), sid);
    let spent = node
        .repo
        .refresh_token_by_hash(&hash_refresh_token(&second.refresh_token))
        .unwrap()
        .unwrap();
    assert!(spent.spent_at.is_some() && spent.revoked_at.is_none());
    refused(&node, "never issued", "unknown refresh token");
    assert!(node.take_ended().is_empty(), "rotation ends nothing");
}

#[test]
fn a_reused_refresh_token_ends_the_whole_login() {
    let node = Node::new();
    let stolen = node.register("ann");
    let other = node.login("ann");
    let sid = node.sid(&stolen);
    let next = node.auth.refresh(&stolen.refresh_token).unwrap();
    let latest = node.auth.refresh(&next.refresh_token).unwrap();

    // The thief (or the victim) presents a spent token: the login ends for everyone.
    refused(&node, &stolen.refresh_token, REUSED);
    assert_eq!(node.take_ended(), vec![(stolen.user.id, sid.clone())]);
    refused(&node, &latest.refresh_token, ENDED);
    for s in [&stolen, &next, &latest] {
        assert!(ended_access(&node, s), "every access token of the login");
    }
    // Presenting it again is refused as ended, and tells no one twice.
    refused(&node, &stolen.refresh_token, ENDED);
    assert!(node.take_ended().is_empty());
    // The user's other login is untouched.
    assert_eq!(live_ids(&node, stolen.user.id), vec![node.sid(&other)]);
    node.auth.refresh(&other.refresh_token).unwrap();
}

#[test]
fn concurrent_refreshes_of_one_token_let_one_through_and_end_the_login() {
    const THREADS: usize = 4;
    let node = Node::new();
    let ann = node.register("ann");
    let sid = node.sid(&ann);
    let start = Barrier::new(THREADS);
    let answers: Vec<Result<Session, AuthError>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|_| {
                s.spawn(|| {
                    start.wait();
                    node.auth.refresh(&ann.refresh_token)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let winners: Vec<&Session> = answers.iter().filter_map(|a| a.as_ref().ok()).collect();
    assert_eq!(winners.len(), 1, "{answers:?}");
    for a in answers.iter().filter_map(|a| a.as_ref().err()) {
        assert!(
            matches!(a, AuthError::Unauthenticated(t) if *t == REUSED || *t == ENDED),
            "{a:?}"
        );
    }
    // Whichever way the race went, the copy was seen and the login is over.
    assert_eq!(node.take_ended(), vec![(ann.user.id, sid)]);
    refused(&node, &winners[0].refresh_token, ENDED);
    assert!(ended_access(&node, winners[0]));
    assert!(node.auth.sessions(ann.user.id).unwrap().is_empty());
}

#[test]
fn an_expired_refresh_token_is_refused_and_not_counted_as_reuse() {
    let expiring = AuthConfig {
        refresh_ttl: Duration::ZERO,
        ..config()
    };
    let node = Node::with(Arc::new(MemoryRepository::new()), expiring);
    let ann = node.register("ann");
    for _ in 0..2 {
        assert!(matches!(
            node.auth.refresh(&ann.refresh_token),
            Err(AuthError::TokenExpired)
        ));
    }
    let record = node
        .repo
        .refresh_token_by_hash(&hash_refresh_token(&ann.refresh_token))
        .unwrap()
        .unwrap();
    assert!(record.spent_at.is_none() && record.revoked_at.is_none());
    assert!(node.take_ended().is_empty());
    assert!(
        node.auth.sessions(ann.user.id).unwrap().is_empty(),
        "expired is not live"
    );
    // The access token lives its own lifetime.
    assert_eq!(
        node.auth.verify_access(&ann.access_token).unwrap().sub,
        ann.user.id.to_string()
    );
}

#[test]
fn logout_ends_the_session_its_tokens_and_tells_once() {
    let node = Node::new();
    let ann = node.register("ann");
    let phone = node.login("ann");
    let sid = node.sid(&ann);
    node.auth.logout(&ann.refresh_token).unwrap();
    assert_eq!(node.take_ended(), vec![(ann.user.id, sid)]);
    assert!(ended_access(&node, &ann));
    refused(&node, &ann.refresh_token, ENDED);
    // Twice, or with a token never issued: nothing to do, not an error.
    node.auth.logout(&ann.refresh_token).unwrap();
    node.auth.logout("never issued").unwrap();
    assert!(node.take_ended().is_empty());
    // The other login goes on.
    assert_eq!(live_ids(&node, ann.user.id), vec![node.sid(&phone)]);
    node.auth.refresh(&phone.refresh_token).unwrap();
}

#[test]
fn logout_all_ends_every_session_of_the_user_only() {
    let node = Node::new();
    let ann = [node.register("ann"), node.login("ann"), node.login("ann")];
    let bob = node.register("bob");
    let ann_id = ann[0].user.id;
    let mut sids: Vec<_> = ann.iter().map(|s| (ann_id, node.sid(s))).collect();
    sids.sort();
    assert_eq!(node.auth.logout_all(ann_id).unwrap(), 3);
    assert_eq!(node.take_ended(), sids);
    for s in &ann {
        assert!(ended_access(&node, s));
        refused(&node, &s.refresh_token, ENDED);
    }
    assert!(node.auth.sessions(ann_id).unwrap().is_empty());
    assert_eq!(
        node.auth.logout_all(ann_id).unwrap(),
        0,
        "nothing left to end"
    );
    assert!(node.take_ended().is_empty());
    // Bob is untouched, and ann can sign in again.
    node.sid(&bob);
    node.auth.refresh(&bob.refresh_token).unwrap();
    let again = node.login("ann");
    node.sid(&again);
}

#[test]
fn ending_one_session_needs_it_to_be_the_users_own() {
    let node = Node::new();
    let (ann, laptop, bob) = (
        node.register("ann"),
        node.login("ann"),
        node.register("bob"),
    );
    let laptop_sid = node.sid(&laptop);
    let not_found = |r| matches!(r, Err(AuthError::Domain(DomainError::NotFound("session"))));
    assert!(not_found(node.auth.end_session(bob.user.id, &laptop_sid)));
    assert!(not_found(
        node.auth.end_session(ann.user.id, "no such session")
    ));
    assert!(node.take_ended().is_empty());
    node.sid(&laptop);

    node.auth.end_session(ann.user.id, &laptop_sid).unwrap();
    assert_eq!(node.take_ended(), vec![(ann.user.id, laptop_sid.clone())]);
    assert!(ended_access(&node, &laptop));
    refused(&node, &laptop.refresh_token, ENDED);
    node.sid(&ann);
    assert!(
        not_found(node.auth.end_session(ann.user.id, &laptop_sid)),
        "ended already"
    );
}

#[test]
fn sessions_are_listed_newest_first_with_their_user_agents() {
    let node = Node::new();
    let a = node
        .auth
        .register("ann", PASSWORD, None, Some("first"))
        .unwrap();
    let b = node
        .auth
        .login("ann", PASSWORD, Some(" \u{7}curl/8 \n"))
        .unwrap();
    let c = node.auth.login("ann", PASSWORD, None).unwrap();
    node.register("bob");
    let listed = node.auth.sessions(a.user.id).unwrap();
    let seen: Vec<(String, Option<&str>)> = listed
        .iter()
        .map(|s| (s.id.clone(), s.user_agent.as_deref()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (node.sid(&c), None),
            (node.sid(&b), Some("curl/8")),
            (node.sid(&a), Some("first")),
        ]
    );
    assert!(listed
        .iter()
        .all(|s| s.user_id == a.user.id && s.revoked_at.is_none()));
    // A refresh keeps the place in the list; a logout takes the session out.
    node.auth.refresh(&a.refresh_token).unwrap();
    node.auth.logout(&b.refresh_token).unwrap();
    assert_eq!(live_ids(&node, a.user.id), vec![node.sid(&c), node.sid(&a)]);
}

#[test]
fn a_password_change_keeps_the_current_login_and_ends_the_others() {
    let node = Node::new();
    let (here, there) = (node.register("ann"), node.login("ann"));
    let (user, here_sid, there_sid) = (here.user.id, node.sid(&here), node.sid(&there));
    let wrong = node
        .auth
        .change_password(user, &here_sid, "not it", "new password!");
    assert!(matches!(wrong, Err(AuthError::InvalidCredentials)));
    match node
        .auth
        .change_password(user, &here_sid, PASSWORD, "short")
    {
        Err(AuthError::Domain(DomainError::Validation { field, message })) => {
            assert_eq!(field, Some("new_password"));
            assert!(message.starts_with("new_password must be"), "{message}");
        }
        other => panic!("{other:?}"),
    }
    assert!(node.take_ended().is_empty(), "refusals end nothing");

    node.auth
        .change_password(user, &here_sid, PASSWORD, "new password!")
        .unwrap();
    assert_eq!(node.take_ended(), vec![(user, there_sid)]);
    assert!(ended_access(&node, &there));
    refused(&node, &there.refresh_token, ENDED);
    assert_eq!(node.sid(&here), here_sid);
    node.auth.refresh(&here.refresh_token).unwrap();
    assert!(is_invalid_credentials(
        node.auth.login("ann", PASSWORD, None)
    ));
    node.auth.login("ann", "new password!", None).unwrap();
}

#[test]
fn a_starting_node_refuses_sessions_ended_before_it_started() {
    let repo = Arc::new(MemoryRepository::new());
    let first = Node::with(repo.clone(), config());
    let ann = first.register("ann");
    let bob = first.register("bob");
    let peer = Node::with(repo.clone(), config());
    first.auth.logout(&ann.refresh_token).unwrap();
    // A running peer refuses only once told (over the bus, in the server).
    assert!(peer.auth.verify_access(&ann.access_token).is_ok());
    assert_eq!(peer.auth.load_revocations().unwrap(), 1);
    assert!(ended_access(&peer, &ann));
    // A node started afterwards reads the endings at start.
    let late = Node::with(repo, config());
    assert!(late.auth.verify_access(&ann.access_token).is_ok());
    assert_eq!(late.auth.load_revocations().unwrap(), 1);
    assert!(ended_access(&late, &ann));
    assert_eq!(late.sid(&bob), first.sid(&bob));
    assert_eq!(late.auth.revocations().len(), 1);
}
