//! HS256 access tokens. They carry the user id and the login (`sid`, the refresh-token family)
//! they came from, so a password change can keep the current login and end the others.
use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{decode, encode, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::AuthError;

const ISSUER: &str = "huddle";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessClaims {
    /// The user id, as a string per RFC 7519.
    pub sub: String,
    /// The login (refresh-token family) this token belongs to.
    pub sid: String,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
}

impl AccessClaims {
    pub fn user_id(&self) -> Result<i64, AuthError> {
        self.sub
            .parse()
            .map_err(|_| AuthError::Unauthenticated("malformed access token"))
    }

    /// Seconds of validity left; 0 once expired.
    pub fn expires_in(&self) -> u64 {
        u64::try_from(self.exp - Utc::now().timestamp()).unwrap_or(0)
    }
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        // The server checks only tokens it signed itself, so no clock skew to allow for; a
        // leeway would keep expired tokens alive.
        validation.leeway = 0;
        validation.set_issuer(&[ISSUER]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(
        &self,
        user_id: i64,
        session_id: &str,
        ttl: Duration,
    ) -> Result<String, AuthError> {
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: user_id.to_string(),
            sid: session_id.to_owned(),
            iat: now,
            exp: now + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: ISSUER.to_owned(),
        };
        encode(&Header::new(Algorithm::HS256), &claims, &self.encoding).map_err(AuthError::Signing)
    }

    pub fn verify(&self, token: &str) -> Result<AccessClaims, AuthError> {
        match decode::<AccessClaims>(token, &self.decoding, &self.validation) {
            Ok(data) => Ok(data.claims),
            Err(e) if matches!(e.kind(), ErrorKind::ExpiredSignature) => {
                Err(AuthError::TokenExpired)
            }
            Err(_) => Err(AuthError::Unauthenticated("invalid access token")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn issued_tokens_verify() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = keys.issue(42, "fam", Duration::from_secs(60)).unwrap();
        let c = keys.verify(&t).unwrap();
        assert_eq!(c.user_id().unwrap(), 42);
        assert_eq!(c.sid, "fam");
        assert!(c.expires_in() > 50 && c.expires_in() <= 60);
    }

    #[test]
    fn other_secret_and_garbage_are_rejected() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let other = JwtKeys::new(b"another secret, quite different!");
        let t = other.issue(1, "f", Duration::from_secs(60)).unwrap();
        assert!(matches!(
            keys.verify(&t),
            Err(AuthError::Unauthenticated(_))
        ));
        assert!(matches!(
            keys.verify("abc.def.ghi"),
            Err(AuthError::Unauthenticated(_))
        ));
        assert!(matches!(
            keys.verify(""),
            Err(AuthError::Unauthenticated(_))
        ));
    }

    #[test]
    fn expired_tokens_say_so() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = Utc::now().timestamp();
        let claims = AccessClaims {
            sub: "1".into(),
            sid: "f".into(),
            iat: now - 120,
            exp: now - 60,
            iss: ISSUER.into(),
        };
        let t = encode(&Header::new(Algorithm::HS256), &claims, &keys.encoding).unwrap();
        assert!(matches!(keys.verify(&t), Err(AuthError::TokenExpired)));
    }

    #[test]
    fn tampered_payload_is_rejected() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let t = keys.issue(1, "f", Duration::from_secs(60)).unwrap();
        let parts: Vec<&str> = t.split('.').collect();
        let forged_claims = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            br#"{"sub":"2","sid":"f","iat":0,"exp":99999999999,"iss":"huddle"}"#,
        );
        let forged = format!("{}.{}.{}", parts[0], forged_claims, parts[2]);
        assert!(matches!(
            keys.verify(&forged),
            Err(AuthError::Unauthenticated(_))
        ));
    }
}
