//! Files shared in rooms: what a message's attachment is, the rules for its name, and the
//! one question the domain cannot answer itself, the link a client fetches it from.
//!
//! The bytes live in an object store (the `huddle-files` crate); the database keeps what is
//! needed to list and serve them. Links are made when a message leaves the service, so they
//! can expire and be re-made on every read.
use serde::{Deserialize, Serialize};

use crate::error::DomainError;
use crate::RoomId;

/// The longest file name kept, in characters.
pub const FILE_NAME_MAX: usize = 255;

/// The default largest upload: 25 MiB.
pub const DEFAULT_FILE_SIZE_MAX: u64 = 25 * 1024 * 1024;

/// A file attached to a message, as the wire shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Attachment {
    /// An opaque id (a UUID): guessing one gets nothing without a link or membership.
    pub id: String,
    /// The uploader's file name, without any path.
    pub name: String,
    /// Found from the bytes, not taken from the uploader.
    pub content_type: String,
    /// Bytes.
    pub size: i64,
    /// Pixels, for images whose size could be read: the client reserves the space before the
    /// image loads.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<i32>,
    /// A link that serves the file without an `Authorization` header (so `<img src>` works),
    /// valid for a limited time; reading the message again gives a fresh one.
    pub url: String,
}

impl Attachment {
    /// Images a browser may show inline: every other type is served as a download.
    pub fn is_inline_image(&self) -> bool {
        is_inline_image(&self.content_type)
    }
}

/// PNG, JPEG, GIF and WebP are shown inline. SVG is not: it can carry script.
pub fn is_inline_image(content_type: &str) -> bool {
    matches!(
        content_type,
        "image/png" | "image/jpeg" | "image/gif" | "image/webp"
    )
}

/// A stored file and where it belongs, for serving it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredFile {
    pub room_id: RoomId,
    pub attachment: Attachment,
}

/// Makes the links in [`Attachment::url`].
pub trait FileLinks: Send + Sync {
    fn url(&self, file_id: &str) -> String;
}

/// Links that need the bearer token: for tests and tools with no signing key.
pub struct PlainLinks;

impl FileLinks for PlainLinks {
    fn url(&self, file_id: &str) -> String {
        format!("/api/v1/files/{file_id}")
    }
}

/// A file's name as uploaded: refused when it tries to name a path or hides characters, so
/// what is shown and what is saved under `Content-Disposition` is what the uploader chose.
pub fn file_name(raw: &str) -> Result<String, DomainError> {
    let refuse = |why: &str| Err(DomainError::validation("file", format!("file name {why}")));
    let name = raw.trim();
    if name.is_empty() {
        return refuse("must not be blank");
    }
    if name.chars().count() > FILE_NAME_MAX {
        return refuse(&format!("must be at most {FILE_NAME_MAX} characters"));
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return refuse("must not contain a path");
    }
    if name.chars().any(|c| c.is_control() || is_invisible(c)) {
        return refuse("must not contain control or invisible characters");
    }
    Ok(name.to_owned())
}

/// Characters that change how a name reads without being seen, e.g. the right-to-left override
/// that makes `exe.png` of `gnp.exe`.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{FEFF}')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_keep_what_the_uploader_chose() {
        assert_eq!(file_name(" report 2026.pdf ").unwrap(), "report 2026.pdf");
        assert_eq!(file_name("ünïcödé 图.png").unwrap(), "ünïcödé 图.png");
        assert_eq!(file_name("..hidden").unwrap(), "..hidden");
    }

    #[test]
    fn names_that_try_paths_or_hide_characters_are_refused() {
        for bad in [
            "",
            "   ",
            "../../etc/passwd",
            "a/b.png",
            "C:\\x.png",
            "..",
            ".",
            "a\u{0}b",
            "line\nbreak",
            "evil\u{202E}gnp.exe",
        ] {
            let e = file_name(bad).unwrap_err();
            assert_eq!(e.code(), crate::ErrorCode::ValidationFailed, "{bad:?}");
        }
        assert!(file_name(&"x".repeat(FILE_NAME_MAX)).is_ok());
        assert!(file_name(&"x".repeat(FILE_NAME_MAX + 1)).is_err());
    }

    #[test]
    fn only_raster_images_are_inline() {
        for t in ["image/png", "image/jpeg", "image/gif", "image/webp"] {
            assert!(is_inline_image(t));
        }
        for t in [
            "image/svg+xml",
            "text/html",
            "application/pdf",
            "image/x-icon",
        ] {
            assert!(!is_inline_image(t));
        }
    }
}
