//! Opaque cursors. Clients must not build them, so they are base64 of a tagged key; a cursor
//! of one list is refused by another.
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::ApiError;

pub(crate) fn encode(kind: &str, key: i64) -> String {
    URL_SAFE_NO_PAD.encode(format!("{kind}:{key}"))
}

pub(crate) fn decode(kind: &str, cursor: Option<&str>) -> Result<Option<i64>, ApiError> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok(None);
    };
    let bad = || ApiError::validation("cursor", "cursor is not valid for this list");
    let raw = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| bad())?;
    let text = String::from_utf8(raw).map_err(|_| bad())?;
    let key = text
        .strip_prefix(kind)
        .and_then(|rest| rest.strip_prefix(':'))
        .ok_or_else(bad)?;
    key.parse().map(Some).map_err(|_| bad())
}

/// Page sizes: the default and the largest `limit` each list takes. The OpenAPI document's
/// `maximum`s come from these too.
pub(crate) const PAGE_DEFAULT: usize = 50;
pub(crate) const ROOMS_PAGE_MAX: usize = 100;
pub(crate) const USERS_PAGE_MAX: usize = 100;
pub(crate) const MEMBERS_PAGE_MAX: usize = 100;
pub(crate) const HISTORY_PAGE_MAX: usize = 200;
pub(crate) const SEARCH_PAGE_DEFAULT: usize = 20;
pub(crate) const SEARCH_PAGE_MAX: usize = 50;

/// Checks a `limit` query parameter against its range, with a default when absent.
pub(crate) fn limit(value: Option<i64>, default: usize, max: usize) -> Result<usize, ApiError> {
    match value {
        None => Ok(default),
        Some(n) if n >= 1 && usize::try_from(n).is_ok_and(|n| n <= max) => Ok(n as usize),
        Some(_) => Err(ApiError::validation(
            "limit",
            format!("limit must be between 1 and {max}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let c = encode("rooms", 42);
        assert_eq!(decode("rooms", Some(&c)).unwrap(), Some(42));
        assert_eq!(decode("rooms", None).unwrap(), None);
        assert_eq!(decode("rooms", Some("")).unwrap(), None);
        assert!(decode("members", Some(&c)).is_err());
        assert!(decode("rooms", Some("!!!")).is_err());
        assert!(decode("rooms", Some(&URL_SAFE_NO_PAD.encode("rooms:x"))).is_err());
    }

    #[test]
    fn limits() {
        assert_eq!(limit(None, 50, 200).unwrap(), 50);
        assert_eq!(limit(Some(200), 50, 200).unwrap(), 200);
        assert!(limit(Some(0), 50, 200).is_err());
        assert!(limit(Some(201), 50, 200).is_err());
        assert!(limit(Some(-1), 50, 200).is_err());
    }
}
