//! Uploading files as a browser does (multipart), and looking at what a server stored.
use reqwest::multipart::{Form, Part};
use reqwest::StatusCode;
use serde_json::Value;

use crate::TestApp;

/// A valid 3x2 PNG (red, green and blue pixels), small enough to read in a test.
pub const PNG_3X2: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00, 0x02, 0x08, 0x02, 0x00, 0x00, 0x00, 0x12, 0x16, 0xF1,
    0x4D, 0x00, 0x00, 0x00, 0x10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xC0,
    0x00, 0xC1, 0x70, 0x16, 0x00, 0x3B, 0xD8, 0x05, 0xFB, 0xDE, 0x10, 0x37, 0x65, 0x00, 0x00, 0x00,
    0x00, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// One upload: the file part and the optional fields.
#[derive(Debug, Clone, Default)]
pub struct Upload {
    pub name: String,
    /// The part's `Content-Type`; `None` sends none.
    pub content_type: Option<String>,
    pub bytes: Vec<u8>,
    pub caption: Option<String>,
    pub client_msg_id: Option<String>,
}

impl Upload {
    pub fn new(name: &str, content_type: Option<&str>, bytes: &[u8]) -> Self {
        Self {
            name: name.into(),
            content_type: content_type.map(Into::into),
            bytes: bytes.to_vec(),
            ..Self::default()
        }
    }

    pub fn png() -> Self {
        Self::new("pixels.png", Some("image/png"), PNG_3X2)
    }

    pub fn caption(mut self, caption: &str) -> Self {
        self.caption = Some(caption.into());
        self
    }

    pub fn client_msg_id(mut self, id: &str) -> Self {
        self.client_msg_id = Some(id.into());
        self
    }

    fn form(self) -> Form {
        let mut part = Part::bytes(self.bytes).file_name(self.name);
        if let Some(ct) = self.content_type {
            part = part.mime_str(&ct).expect("a media type");
        }
        let mut form = Form::new();
        if let Some(c) = self.caption {
            form = form.text("caption", c);
        }
        if let Some(id) = self.client_msg_id {
            form = form.text("client_msg_id", id);
        }
        form.part("file", part)
    }
}

/// Posts the upload to `base` (a server's address) as `token`.
pub async fn upload_to(
    client: &reqwest::Client,
    base: &str,
    token: &str,
    room: i64,
    upload: Upload,
) -> (StatusCode, Value) {
    let resp = client
        .post(format!("{base}/api/v1/rooms/{room}/files"))
        .bearer_auth(token)
        .multipart(upload.form())
        .send()
        .await
        .expect("upload sent");
    let status = resp.status();
    let body = resp.bytes().await.expect("body read");
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| panic!("non-JSON answer: {}", String::from_utf8_lossy(&body)));
    (status, value)
}

/// The objects in a local files directory (staged parts included).
pub fn stored_objects(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

impl TestApp {
    pub async fn upload(&self, token: &str, room: i64, upload: Upload) -> (StatusCode, Value) {
        upload_to(&self.client, &self.address, token, room, upload).await
    }

    /// The objects this server stored.
    pub fn stored_objects(&self) -> Vec<String> {
        stored_objects(&self.files_dir)
    }
}
