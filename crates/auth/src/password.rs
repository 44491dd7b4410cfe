//! Passwords are pre-hashed with SHA-256 before bcrypt: bcrypt reads only 72 bytes, and the
//! contract allows 128 characters (up to 512 bytes), which would otherwise be cut silently.
use base64::engine::general_purpose::STANDARD_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

use crate::AuthError;

fn prehash(password: &str) -> String {
    STANDARD_NO_PAD.encode(Sha256::digest(password.as_bytes()))
}

pub fn hash_password(password: &str, cost: u32) -> Result<String, AuthError> {
    bcrypt::hash(prehash(password), cost).map_err(AuthError::Hashing)
}

/// A malformed stored hash counts as a mismatch, never as an error the caller could probe.
pub fn verify_password(password: &str, hash: &str) -> bool {
    bcrypt::verify(prehash(password), hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_mismatch() {
        let h = hash_password("correct horse", 4).unwrap();
        assert!(h.starts_with("$2b$04$"));
        assert!(verify_password("correct horse", &h));
        assert!(!verify_password("correct horsE", &h));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn long_passwords_differ_past_72_bytes() {
        let a = format!("{}{}", "x".repeat(100), "a");
        let b = format!("{}{}", "x".repeat(100), "b");
        let h = hash_password(&a, 4).unwrap();
        assert!(verify_password(&a, &h));
        assert!(!verify_password(&b, &h));
    }
}
