//! `AuthService`'s rules over the in-memory repository: no database, bcrypt at its lowest cost.
//! Registration, login and access tokens here; refresh tokens and sessions in `sessions`.
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use huddle_domain::memory::MemoryRepository;
use huddle_domain::repository::UserRepository;
use huddle_domain::{DomainError, UserId};
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

use super::{AuthConfig, AuthService, Session};
use crate::jwt::{AccessClaims, JwtKeys};
use crate::password::verify_password;
use crate::AuthError;

mod sessions;

const SECRET: &[u8] = b"unit-test secret, thirty-two b..";
const PASSWORD: &str = "correct horse";

/// Fast tests: bcrypt's minimum cost (4; a hash takes about a millisecond), tokens that live
/// long enough not to expire mid-test.
fn config() -> AuthConfig {
    AuthConfig {
        access_ttl: Duration::from_secs(900),
        refresh_ttl: Duration::from_secs(24 * 3600),
        bcrypt_cost: 4,
    }
}

/// One node: the service, its repository, and every (user, session) it told of ending.
struct Node {
    repo: Arc<MemoryRepository>,
    auth: AuthService,
    ended: Arc<Mutex<Vec<(UserId, String)>>>,
}

impl Node {
    fn new() -> Self {
        Self::with(Arc::new(MemoryRepository::new()), config())
    }

    fn with(repo: Arc<MemoryRepository>, config: AuthConfig) -> Self {
        let ended = Arc::new(Mutex::new(Vec::new()));
        let told = ended.clone();
        let auth = AuthService::new(repo.clone(), JwtKeys::new(SECRET), config)
            .unwrap()
            .on_sessions_ended(Arc::new(move |batch| {
                let mut told = told.lock().unwrap();
                told.extend(batch.iter().map(|e| (e.user_id, e.id.clone())));
            }));
        Self { repo, auth, ended }
    }

    fn register(&self, name: &str) -> Session {
        self.auth.register(name, PASSWORD, None, None).unwrap()
    }

    fn login(&self, name: &str) -> Session {
        self.auth.login(name, PASSWORD, None).unwrap()
    }

    /// The session (login) an access token belongs to.
    fn sid(&self, s: &Session) -> String {
        self.auth.verify_access(&s.access_token).unwrap().sid
    }

    /// What the listener was told since the last call, sorted.
    fn take_ended(&self) -> Vec<(UserId, String)> {
        let mut told = std::mem::take(&mut *self.ended.lock().unwrap());
        told.sort();
        told
    }
}

fn is_invalid_credentials(r: Result<Session, AuthError>) -> bool {
    matches!(r, Err(AuthError::InvalidCredentials))
}

fn claims(sub: &str, sid: &str, exp_in: i64, iss: &str) -> AccessClaims {
    let now = Utc::now().timestamp();
    AccessClaims {
        sub: sub.into(),
        sid: sid.into(),
        iat: now,
        exp: now + exp_in,
        iss: iss.into(),
    }
}

fn sign(claims: &AccessClaims, secret: &[u8]) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .unwrap()
}

#[test]
fn register_stores_a_bcrypt_hash_and_starts_a_session() {
    let node = Node::new();
    let s = node
        .auth
        .register("Ann", PASSWORD, Some("  Ann A. "), Some("curl/8"))
        .unwrap();
    assert_eq!(
        (s.user.username.as_str(), s.user.display_name.as_str()),
        ("Ann", "Ann A.")
    );
    assert_eq!(s.expires_in, 900);
    let creds = node.repo.credentials_by_id(s.user.id).unwrap().unwrap();
    assert!(creds.password_hash.starts_with("$2b$04$"), "bcrypt, cost 4");
    assert!(verify_password(PASSWORD, &creds.password_hash));
    assert!(!creds.password_hash.contains(PASSWORD));

    let claims = node.auth.verify_access(&s.access_token).unwrap();
    assert_eq!(claims.user_id().unwrap(), s.user.id);
    let [session] = node.auth.sessions(s.user.id).unwrap().try_into().unwrap();
    assert_eq!(session.id, claims.sid);
    assert_eq!(session.user_agent.as_deref(), Some("curl/8"));
    // The display name defaults to the username.
    let bob = node.register("bob");
    assert_eq!(bob.user.display_name, "bob");
    assert_ne!(node.sid(&bob), claims.sid);
}

#[test]
fn register_validates_its_input_and_stores_nothing_when_refused() {
    let node = Node::new();
    let field = |r: Result<Session, AuthError>| match r {
        Err(AuthError::Domain(DomainError::Validation { field, .. })) => field,
        other => panic!("{other:?}"),
    };
    let register = |name, password, display| node.auth.register(name, password, display, None);
    assert_eq!(field(register("an", PASSWORD, None)), Some("username"));
    assert_eq!(
        field(register("ann smith", PASSWORD, None)),
        Some("username")
    );
    assert_eq!(field(register("ann", "short", None)), Some("password"));
    assert_eq!(
        field(register("ann", PASSWORD, Some("   "))),
        Some("display_name")
    );
    assert!(node.repo.credentials_by_username("ann").unwrap().is_none());
    node.register("ann");
}

#[test]
fn usernames_are_taken_case_insensitively() {
    let node = Node::new();
    let ann = node.register("Ann");
    for name in ["Ann", "ann", "ANN"] {
        match node.auth.register(name, "another password", None, None) {
            Err(AuthError::Domain(e @ DomainError::Conflict { .. })) => {
                assert_eq!(e.to_string(), "that username is taken");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    // The first account is untouched: its password still works, the second one's does not.
    assert_eq!(node.login("aNN").user.id, ann.user.id);
    assert!(is_invalid_credentials(node.auth.login(
        "ann",
        "another password",
        None
    )));
}

#[test]
fn login_needs_the_right_password_and_starts_a_new_session() {
    let node = Node::new();
    let reg = node.register("ann");
    let s = node.auth.login("ann", PASSWORD, Some("phone")).unwrap();
    assert_eq!(s.user, reg.user);
    assert_ne!(
        node.sid(&s),
        node.sid(&reg),
        "each login is its own session"
    );
    assert_ne!(s.refresh_token, reg.refresh_token);
    assert_eq!(node.auth.sessions(reg.user.id).unwrap().len(), 2);
    for wrong in ["correct horsE", "correct horse ", "", "x"] {
        assert!(
            is_invalid_credentials(node.auth.login("ann", wrong, None)),
            "{wrong:?}"
        );
    }
    assert_eq!(
        node.auth.sessions(reg.user.id).unwrap().len(),
        2,
        "no session for failures"
    );
}

#[test]
fn an_unknown_user_gets_the_same_answer_as_a_wrong_password() {
    let node = Node::new();
    node.register("ann");
    let wrong = node.auth.login("ann", "wrong password", None).unwrap_err();
    let unknown = node.auth.login("nobody", PASSWORD, None).unwrap_err();
    let long = node
        .auth
        .login(&"n".repeat(500), PASSWORD, None)
        .unwrap_err();
    for e in [&wrong, &unknown, &long] {
        assert!(matches!(e, AuthError::InvalidCredentials), "{e:?}");
    }
    assert_eq!(wrong.to_string(), unknown.to_string());
    assert_eq!(wrong.to_string(), "invalid username or password");
}

#[test]
fn access_tokens_name_the_user_and_the_session() {
    let node = Node::new();
    let ann = node.register("ann");
    let claims = node.auth.verify_access(&ann.access_token).unwrap();
    assert_eq!(claims.sub, ann.user.id.to_string());
    assert_eq!(claims.iss, "huddle");
    assert_eq!(claims.exp - claims.iat, 900);
    assert!((899..=900).contains(&claims.expires_in()));
    // Another node with the same secret accepts it; one with another secret does not.
    let peer = Node::with(node.repo.clone(), config());
    assert_eq!(peer.auth.verify_access(&ann.access_token).unwrap(), claims);
    let stranger = AuthService::new(
        node.repo.clone(),
        JwtKeys::new(b"another secret, thirty-two bytes"),
        config(),
    )
    .unwrap();
    assert!(matches!(
        stranger.verify_access(&ann.access_token),
        Err(AuthError::Unauthenticated(_))
    ));
}

#[test]
fn expired_access_tokens_are_refused_as_expired() {
    let node = Node::new();
    let ann = node.register("ann");
    let sid = node.sid(&ann);
    let id = ann.user.id.to_string();
    let expired = sign(&claims(&id, &sid, -1, "huddle"), SECRET);
    assert!(matches!(
        node.auth.verify_access(&expired),
        Err(AuthError::TokenExpired)
    ));
    // No leeway: a second past its end is too late, the same token still in time is fine.
    let fresh = sign(&claims(&id, &sid, 2, "huddle"), SECRET);
    assert_eq!(node.auth.verify_access(&fresh).unwrap().sid, sid);
    // A zero lifetime issues tokens that are over within the second.
    let brief = Node::with(
        node.repo.clone(),
        AuthConfig {
            access_ttl: Duration::ZERO,
            ..config()
        },
    );
    let s = brief.login("ann");
    assert_eq!(s.expires_in, 0);
    match brief.auth.keys().verify(&s.access_token) {
        Err(AuthError::TokenExpired) => {}
        Ok(c) => assert_eq!((c.exp - c.iat, c.expires_in()), (0, 0)),
        Err(e) => panic!("{e:?}"),
    }
}

#[test]
fn forged_tokens_are_refused() {
    let node = Node::new();
    let ann = node.register("ann");
    let bob = node.register("bob");
    let sid = node.sid(&ann);
    let id = ann.user.id.to_string();
    let refused = |token: &str| {
        matches!(
            node.auth.verify_access(token),
            Err(AuthError::Unauthenticated("invalid access token"))
        )
    };
    // Valid claims of a live session, signed with another secret.
    assert!(refused(&sign(&claims(&id, &sid, 60, "huddle"), b"a guess")));
    // The right secret but another issuer.
    assert!(refused(&sign(&claims(&id, &sid, 60, "elsewhere"), SECRET)));
    // Ann's signature over claims edited to name bob.
    let parts: Vec<&str> = ann.access_token.split('.').collect();
    let bobs = sign(
        &claims(&bob.user.id.to_string(), &sid, 60, "huddle"),
        SECRET,
    );
    let bobs_payload = bobs.split('.').nth(1).unwrap();
    assert!(refused(&format!(
        "{}.{}.{}",
        parts[0], bobs_payload, parts[2]
    )));
    // Unsigned ("alg": "none"), truncated, and not a token at all.
    let none_header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    assert!(refused(&format!("{none_header}.{}.", parts[1])));
    assert!(refused(&format!("{}.{}.", parts[0], parts[1])));
    assert!(refused(&format!("{}.{}", parts[0], parts[1])));
    assert!(refused("garbage"));
    assert!(refused(""));
    // The genuine ones still pass.
    assert_eq!(node.sid(&ann), sid);
}
