//! What a file is, read from its first bytes. The uploader's `Content-Type` and file name are
//! only checked against it: a name ending `.png` on an HTML page is refused, not served as an
//! image, and whatever is stored is served with the type found here.
use crate::FileError;

/// How much of the start of a file is read to tell its type and an image's size. JPEG puts
/// its size after the EXIF block, which can hold a thumbnail: 256 KiB covers cameras' files.
pub const HEAD_BYTES: usize = 256 * 1024;

/// A file's type and, for images, its size in pixels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sniffed {
    pub content_type: String,
    pub width: Option<i32>,
    pub height: Option<i32>,
}

/// Reads the type from the magic bytes; text that is valid UTF-8 with no NUL is `text/plain`,
/// anything else unknown is `application/octet-stream` (served only as a download).
pub fn sniff(head: &[u8]) -> Sniffed {
    let content_type = match infer::get(head) {
        Some(t) => t.mime_type().to_owned(),
        None if looks_like_text(head) => "text/plain".to_owned(),
        None => "application/octet-stream".to_owned(),
    };
    let (width, height) = if content_type.starts_with("image/") {
        match imagesize::blob_size(head) {
            Ok(size) => (
                i32::try_from(size.width).ok(),
                i32::try_from(size.height).ok(),
            ),
            Err(_) => (None, None),
        }
    } else {
        (None, None)
    };
    Sniffed {
        content_type,
        width,
        height,
    }
}

/// UTF-8 (a character cut at the end of the head is fine) without NULs or other C0 controls
/// than tab, newline, carriage return and form feed.
fn looks_like_text(head: &[u8]) -> bool {
    let valid = match std::str::from_utf8(head) {
        Ok(s) => s,
        Err(e) if e.error_len().is_none() => {
            // Cut in the middle of a character at the end of the head: still text.
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return false,
    };
    !valid.is_empty()
        && !valid
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\n' | '\r' | '\u{c}'))
}

/// The type the uploader claims, from the part's `Content-Type` or else the file name's
/// extension; `None` when it claims nothing in particular.
pub fn declared(content_type: Option<&str>, name: &str) -> Result<Option<String>, FileError> {
    if let Some(ct) = content_type {
        let essence = ct
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        let Some((top, sub)) = essence.split_once('/') else {
            return Err(FileError::Mismatch {
                declared: ct.to_owned(),
                found: "not a media type".into(),
            });
        };
        if top.is_empty() || sub.is_empty() {
            return Err(FileError::Mismatch {
                declared: ct.to_owned(),
                found: "not a media type".into(),
            });
        }
        if essence != "application/octet-stream" {
            return Ok(Some(normalise(&essence)));
        }
    }
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    Ok(ext
        .as_deref()
        .and_then(type_of_extension)
        .map(str::to_owned))
}

fn normalise(essence: &str) -> String {
    match essence {
        "image/jpg" | "image/pjpeg" => "image/jpeg".into(),
        other => other.into(),
    }
}

/// The extensions whose type is checked: those a browser would render or play.
fn type_of_extension(ext: &str) -> Option<&'static str> {
    Some(match ext {
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "pdf" => "application/pdf",
        "mp4" => "video/mp4",
        "webm" => "video/webm",
        "mp3" => "audio/mpeg",
        "ogg" => "audio/ogg",
        _ => return None,
    })
}

/// Refuses a file whose bytes are not what it claims to be, where that matters: images, audio
/// and video must be of their kind, a PDF a PDF. Other claims (a `.docx`, a `.csv`) are not
/// compared: the file is served as a download with the sniffed type either way.
pub fn check(declared: Option<&str>, found: &Sniffed) -> Result<(), FileError> {
    let Some(declared) = declared else {
        return Ok(());
    };
    let top = |t: &str| t.split('/').next().unwrap_or_default().to_owned();
    let mismatch = match top(declared).as_str() {
        "image" | "video" | "audio" => top(declared) != top(&found.content_type),
        _ if declared == "application/pdf" => found.content_type != "application/pdf",
        _ => false,
    };
    if mismatch {
        return Err(FileError::Mismatch {
            declared: declared.to_owned(),
            found: found.content_type.clone(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 3x2 PNG, made by hand: signature, IHDR, IDAT, IEND.
    pub(crate) const PNG_3X2: &[u8] = &[
        0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44,
        0x52, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0x12,
        0x16, 0xF1, 0x4D, 0x00, 0x00, 0x00, 0x0A, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60,
        0x18, 0x05, 0x00, 0x00, 0x12, 0x00, 0x01, 0x8E, 0x61, 0x9A, 0x4B, 0x00, 0x00, 0x00, 0x00,
        0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
    ];

    #[test]
    fn images_are_known_with_their_size() {
        let s = sniff(PNG_3X2);
        assert_eq!(
            (s.content_type.as_str(), s.width, s.height),
            ("image/png", Some(3), Some(2))
        );
        let gif = b"GIF89a\x05\x00\x07\x00\x80\x00\x00";
        let s = sniff(gif);
        assert_eq!(
            (s.content_type.as_str(), s.width, s.height),
            ("image/gif", Some(5), Some(7))
        );
    }

    #[test]
    fn text_and_unknown_bytes() {
        assert_eq!(sniff(b"hello\nworld\t!").content_type, "text/plain");
        assert_eq!(sniff("grüße 图".as_bytes()).content_type, "text/plain");
        // Cut inside the last character: still text.
        assert_eq!(
            sniff(&"é".as_bytes()[..1]).content_type,
            "application/octet-stream"
        );
        assert_eq!(sniff(&"aé".as_bytes()[..2]).content_type, "text/plain");
        assert_eq!(sniff(b"a\0b").content_type, "application/octet-stream");
        assert_eq!(
            sniff(&[0xff, 0xfe, 0x00, 0x12]).content_type,
            "application/octet-stream"
        );
        assert_eq!(sniff(b"%PDF-1.7\n").content_type, "application/pdf");
        let s = sniff(b"<html><script>alert(1)</script>");
        assert!(s.width.is_none());
    }

    #[test]
    fn claims_come_from_the_header_or_the_name() {
        assert_eq!(
            declared(Some("image/PNG"), "x").unwrap().as_deref(),
            Some("image/png")
        );
        assert_eq!(
            declared(Some("image/jpg"), "x").unwrap().as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(
            declared(Some("application/octet-stream"), "cat.JPG")
                .unwrap()
                .as_deref(),
            Some("image/jpeg")
        );
        assert_eq!(declared(None, "notes.txt").unwrap(), None);
        assert_eq!(declared(None, "noext").unwrap(), None);
        for bad in ["nonsense", "/png", "image/", ""] {
            assert!(
                matches!(declared(Some(bad), "x"), Err(FileError::Mismatch { .. })),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_claimed_image_must_be_one() {
        let png = sniff(PNG_3X2);
        let html = sniff(b"<html><script>alert(1)</script></html>");
        assert!(check(Some("image/png"), &png).is_ok());
        assert!(
            check(Some("image/jpeg"), &png).is_ok(),
            "an image of another format is fine"
        );
        assert!(matches!(
            check(Some("image/png"), &html),
            Err(FileError::Mismatch { .. })
        ));
        assert!(matches!(
            check(Some("application/pdf"), &html),
            Err(FileError::Mismatch { .. })
        ));
        assert!(matches!(
            check(Some("video/mp4"), &png),
            Err(FileError::Mismatch { .. })
        ));
        assert!(
            check(Some("text/csv"), &html).is_ok(),
            "other claims are not compared"
        );
        assert!(check(None, &html).is_ok());
    }
}
