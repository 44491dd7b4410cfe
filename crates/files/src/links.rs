//! Signed links to files: `/api/v1/files/{id}?exp=…&sig=…`. An `<img src>` cannot send an
//! `Authorization` header, so the link itself is the credential: an HMAC of the file id and an
//! expiry, under a key derived from the server's token secret (every node of a cluster shares
//! it, so a link made by one node works on all).
//!
//! Expiries are rounded up to whole periods: the same file gets the same link for a whole
//! period, so a browser's cache keeps working across reloads, and every link is valid for at
//! least one period and at most two.
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use huddle_domain::files::FileLinks;
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

/// The signature's length in hex digits: 128 bits.
const SIG_HEX: usize = 32;

/// Makes and checks signed links.
pub struct SignedLinks {
    key: [u8; 32],
    period: u64,
}

/// What a link's `exp` and `sig` say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCheck {
    /// Good for this many more seconds.
    Valid {
        seconds_left: u64,
    },
    Expired,
    /// Not made by this server for this file.
    Forged,
}

impl SignedLinks {
    /// Links valid for between `period` and twice that.
    pub fn new(secret: &[u8], period: Duration) -> Self {
        let mut h = Sha256::new();
        h.update(b"huddle file links\0");
        h.update(secret);
        Self {
            key: h.finalize().into(),
            period: period.as_secs().max(1),
        }
    }

    fn sign(&self, id: &str, exp: u64) -> String {
        // A key of any length is accepted by HMAC; this cannot fail.
        let mut mac = match HmacSha256::new_from_slice(&self.key) {
            Ok(m) => m,
            Err(_) => return String::new(),
        };
        mac.update(id.as_bytes());
        mac.update(b":");
        mac.update(exp.to_string().as_bytes());
        let full = mac.finalize().into_bytes();
        let mut hex = String::with_capacity(SIG_HEX);
        for b in &full[..SIG_HEX / 2] {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    }

    /// The link as made at `now` (seconds since the epoch).
    pub fn url_at(&self, id: &str, now: u64) -> String {
        let exp = (now / self.period + 2) * self.period;
        format!("/api/v1/files/{id}?exp={exp}&sig={}", self.sign(id, exp))
    }

    /// Checks a link's `exp` and `sig` for file `id` at `now`. The signature is compared in
    /// constant time.
    pub fn check_at(&self, id: &str, exp: u64, sig: &str, now: u64) -> LinkCheck {
        let want = self.sign(id, exp);
        let same = want.len() == sig.len()
            && want
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        if !same {
            return LinkCheck::Forged;
        }
        if exp <= now {
            return LinkCheck::Expired;
        }
        LinkCheck::Valid {
            seconds_left: exp - now,
        }
    }

    pub fn check(&self, id: &str, exp: u64, sig: &str) -> LinkCheck {
        self.check_at(id, exp, sig, now())
    }
}

impl FileLinks for SignedLinks {
    fn url(&self, file_id: &str) -> String {
        self.url_at(file_id, now())
    }
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(url: &str) -> (String, u64, String) {
        let (path, query) = url.split_once('?').unwrap();
        let id = path.rsplit('/').next().unwrap().to_owned();
        let mut exp = 0;
        let mut sig = String::new();
        for pair in query.split('&') {
            match pair.split_once('=').unwrap() {
                ("exp", v) => exp = v.parse().unwrap(),
                ("sig", v) => sig = v.to_owned(),
                _ => panic!("{pair}"),
            }
        }
        (id, exp, sig)
    }

    #[test]
    fn a_link_is_valid_for_one_to_two_periods_and_stable_within_one() {
        let links = SignedLinks::new(b"secret", Duration::from_secs(100));
        let url = links.url_at("f1", 1_050);
        assert!(url.starts_with("/api/v1/files/f1?exp=1200&sig="), "{url}");
        assert_eq!(links.url_at("f1", 1_099), url, "same period, same link");
        assert_ne!(links.url_at("f1", 1_100), url);
        let (id, exp, sig) = parts(&url);
        assert_eq!(sig.len(), SIG_HEX);
        assert_eq!(
            links.check_at(&id, exp, &sig, 1_050),
            LinkCheck::Valid { seconds_left: 150 }
        );
        assert_eq!(links.check_at(&id, exp, &sig, 1_200), LinkCheck::Expired);
    }

    #[test]
    fn changed_or_foreign_links_are_forged() {
        let links = SignedLinks::new(b"secret", Duration::from_secs(100));
        let (id, exp, sig) = parts(&links.url_at("f1", 1_000));
        assert_eq!(links.check_at("f2", exp, &sig, 1_000), LinkCheck::Forged);
        assert_eq!(
            links.check_at(&id, exp + 100, &sig, 1_000),
            LinkCheck::Forged
        );
        assert_eq!(
            links.check_at(&id, exp, &sig[1..], 1_000),
            LinkCheck::Forged
        );
        assert_eq!(links.check_at(&id, exp, "", 1_000), LinkCheck::Forged);
        let other = SignedLinks::new(b"another secret", Duration::from_secs(100));
        assert_eq!(other.check_at(&id, exp, &sig, 1_000), LinkCheck::Forged);
        // Another node with the same secret accepts it.
        let peer = SignedLinks::new(b"secret", Duration::from_secs(100));
        assert!(matches!(
            peer.check_at(&id, exp, &sig, 1_000),
            LinkCheck::Valid { .. }
        ));
    }
}
