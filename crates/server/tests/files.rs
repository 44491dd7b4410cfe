//! Files over REST and the socket, on both databases: an upload becomes a message that every
//! member receives live with a working link; the file is served to members and link holders
//! only, with safe headers; bad uploads get the contract's error shape and leave no object and
//! no message; deleting the message or the room deletes the object.
use std::time::Duration;

use huddle_files::SignedLinks;
use huddle_test_support::files::{Upload, PNG_3X2};
use huddle_test_support::{assert_error, backend_tests, Backend, Session, TestApp, WsClient};
use reqwest::header::{
    CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE, ETAG, IF_NONE_MATCH, X_CONTENT_TYPE_OPTIONS,
};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The secret `test_config` gives every test server.
const SECRET: &[u8] = b"test-secret-test-secret-test-secret!";

async fn room_of(app: &TestApp, owner: &Session, private: bool) -> i64 {
    app.create_room(owner, "files", private).await["id"]
        .as_i64()
        .unwrap()
}

async fn fetch(app: &TestApp, url: &str, token: Option<&str>) -> reqwest::Response {
    let mut req = app.client.get(app.url(url));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    req.send().await.unwrap()
}

fn header(resp: &reqwest::Response, name: reqwest::header::HeaderName) -> &str {
    resp.headers()
        .get(name)
        .map(|v| v.to_str().unwrap())
        .unwrap_or("")
}

async fn an_image_becomes_a_message_served_to_members_and_link_holders(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let carol = app.register("carol").await;
    let room = room_of(&app, &ann, false).await;
    app.join(&bob, room).await;
    let mut bobs = WsClient::connect(&app, &bob.access_token).await;
    bobs.request(json!({"type": "sync", "since": {}}), "s")
        .await;

    let (status, m) = app
        .upload(&ann.access_token, room, Upload::png().caption("the pixels"))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    assert_eq!(
        (m["body"].as_str(), m["seq"].as_i64()),
        (Some("the pixels"), Some(1))
    );
    let a = &m["attachments"][0];
    assert_eq!(
        (
            &a["name"],
            &a["content_type"],
            &a["size"],
            &a["width"],
            &a["height"]
        ),
        (
            &json!("pixels.png"),
            &json!("image/png"),
            &json!(PNG_3X2.len()),
            &json!(3),
            &json!(2)
        )
    );
    let id = a["id"].as_str().unwrap().to_owned();
    let url = a["url"].as_str().unwrap().to_owned();
    assert!(
        url.starts_with(&format!("/api/v1/files/{id}?exp=")),
        "{url}"
    );
    assert_eq!(app.stored_objects(), std::slice::from_ref(&id));

    // Live, with the same attachment.
    let live = bobs.expect("message.created").await;
    assert_eq!(live["message"]["attachments"][0]["id"], json!(id));

    // The link works without a token, with safe headers; the bytes are the upload's.
    let resp = fetch(&app, &url, None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(header(&resp, CONTENT_TYPE), "image/png");
    assert_eq!(header(&resp, X_CONTENT_TYPE_OPTIONS), "nosniff");
    assert!(header(&resp, CONTENT_DISPOSITION).starts_with("inline"));
    assert!(header(&resp, CONTENT_DISPOSITION).contains("pixels.png"));
    let cache = header(&resp, CACHE_CONTROL).to_owned();
    assert!(
        cache.contains("private") && cache.contains("immutable"),
        "{cache}"
    );
    let etag = header(&resp, ETAG).to_owned();
    assert_eq!(resp.bytes().await.unwrap().as_ref(), PNG_3X2);
    let again = app
        .client
        .get(app.url(&url))
        .header(IF_NONE_MATCH, &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);

    // History carries it; a member may fetch with the token instead of the link.
    let (_, history) = app
        .get(&format!("/api/v1/rooms/{room}/messages"), &bob.access_token)
        .await;
    assert_eq!(history["items"][0]["attachments"][0]["id"], json!(id));
    let (_, found) = app
        .get("/api/v1/search/messages?q=pixels", &bob.access_token)
        .await;
    assert_eq!(
        found["items"][0]["message"]["attachments"][0]["id"],
        json!(id),
        "{found}"
    );
    let plain = format!("/api/v1/files/{id}");
    let resp = fetch(&app, &plain, Some(&bob.access_token)).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(header(&resp, CACHE_CONTROL).contains("no-cache"));

    // Not to strangers, not without credentials, not with a changed or expired link.
    let status_of = |r: reqwest::Response| async move {
        let s = r.status();
        (s, r.json::<Value>().await.unwrap())
    };
    let stranger = status_of(fetch(&app, &plain, Some(&carol.access_token)).await).await;
    assert_error(&stranger, StatusCode::NOT_FOUND, "not_found", None);
    let nobody = status_of(fetch(&app, &plain, None).await).await;
    assert_error(&nobody, StatusCode::UNAUTHORIZED, "unauthenticated", None);
    let forged = url.replace("sig=", "sig=0");
    let forged = status_of(fetch(&app, &forged, None).await).await;
    assert_error(&forged, StatusCode::FORBIDDEN, "forbidden", None);
    let other_file = url.replace(&id, "0d6a1b4e-0000-4000-8000-000000000000");
    let other_file = status_of(fetch(&app, &other_file, None).await).await;
    assert_error(&other_file, StatusCode::FORBIDDEN, "forbidden", None);
    let links = SignedLinks::new(SECRET, Duration::from_secs(6 * 3600));
    let old = links.url_at(&id, 1_000_000);
    let expired = status_of(fetch(&app, &old, None).await).await;
    assert_error(&expired, StatusCode::FORBIDDEN, "forbidden", None);
    assert!(expired.1["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));
    let half = status_of(fetch(&app, &format!("{plain}?exp=5"), None).await).await;
    assert_error(
        &half,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("sig"),
    );
}

async fn other_files_download_as_attachments_with_their_sniffed_type(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = room_of(&app, &ann, false).await;
    let page = b"<!doctype html><html><script>alert(document.cookie)</script></html>";
    // Claimed as text, it is stored; served as a download, never rendered.
    let (status, m) = app
        .upload(
            &ann.access_token,
            room,
            Upload::new("notes – été.txt", Some("text/plain"), page),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    let a = &m["attachments"][0];
    assert_eq!(m["body"], "", "no caption: an empty body");
    assert!(a.get("width").is_none());
    let resp = fetch(&app, a["url"].as_str().unwrap(), None).await;
    assert_eq!(resp.status(), StatusCode::OK);
    // The type found in the bytes (HTML), but only ever as a download in a sandbox.
    assert_eq!(
        header(&resp, CONTENT_TYPE),
        a["content_type"].as_str().unwrap()
    );
    let disposition = header(&resp, CONTENT_DISPOSITION).to_owned();
    assert!(disposition.starts_with("attachment"), "{disposition}");
    assert!(
        disposition.contains("filename*=UTF-8''notes%20%E2%80%93%20%C3%A9t%C3%A9.txt"),
        "{disposition}"
    );
    assert_eq!(
        header(&resp, reqwest::header::CONTENT_SECURITY_POLICY),
        "default-src 'none'; sandbox"
    );
    assert_eq!(resp.bytes().await.unwrap().as_ref(), page);

    // Bytes with no known type are application/octet-stream.
    let (_, m) = app
        .upload(
            &ann.access_token,
            room,
            Upload::new("blob", None, &[0u8, 1, 2, 250, 251, 0]),
        )
        .await;
    assert_eq!(
        m["attachments"][0]["content_type"],
        "application/octet-stream"
    );
}

async fn bad_uploads_get_the_contract_shape_and_leave_nothing(backend: Backend) {
    let app = TestApp::spawn_with(backend, |c| c.files.max_bytes = 1000).await;
    let ann = app.register("ann").await;
    let bob = app.register("bob").await;
    let room = room_of(&app, &ann, false).await;
    let hidden = room_of(&app, &ann, true).await;
    let t = &ann.access_token;
    let up = |u: Upload| app.upload(t, room, u);

    let big = up(Upload::new("big.bin", None, &[7u8; 1001])).await;
    assert_error(
        &big,
        StatusCode::PAYLOAD_TOO_LARGE,
        "payload_too_large",
        Some("file"),
    );
    let empty = up(Upload::new("empty.txt", Some("text/plain"), b"")).await;
    assert_error(
        &empty,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("file"),
    );
    let liar = up(Upload::new(
        "cat.png",
        Some("image/png"),
        b"<html>no cat</html>",
    ))
    .await;
    assert_error(
        &liar,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        Some("file"),
    );
    let by_name = up(Upload::new("cat.jpg", None, b"MZ\x90\x00 not a jpeg")).await;
    assert_error(
        &by_name,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        Some("file"),
    );
    // A part type that is no media type at all (sent raw: the client library refuses it).
    let body = "--b\r\nContent-Disposition: form-data; name=\"file\"; filename=\"x.bin\"\r\n\
                Content-Type: nonsense\r\n\r\nabc\r\n--b--\r\n";
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/rooms/{room}/files")))
        .bearer_auth(t)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=b")
        .body(body)
        .send()
        .await
        .unwrap();
    let odd_type = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(
        &odd_type,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        Some("file"),
    );
    for name in ["../../etc/passwd", "a/b.txt", "..", "evil\u{202E}gnp.exe"] {
        let tricky = up(Upload::new(name, Some("text/plain"), b"abc")).await;
        assert_error(
            &tricky,
            StatusCode::BAD_REQUEST,
            "validation_failed",
            Some("file"),
        );
    }
    let long = up(Upload::png().caption(&"x".repeat(4001))).await;
    assert_error(
        &long,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("body"),
    );
    let bad_id = up(Upload::png().client_msg_id(&"x".repeat(65))).await;
    assert_error(
        &bad_id,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("client_msg_id"),
    );

    // Not a member; a private room is not even there; no token; not multipart.
    let stranger = app.upload(&bob.access_token, room, Upload::png()).await;
    assert_error(&stranger, StatusCode::FORBIDDEN, "forbidden", None);
    let private = app.upload(&bob.access_token, hidden, Upload::png()).await;
    assert_error(&private, StatusCode::NOT_FOUND, "not_found", None);
    let anonymous = app.upload("not-a-token", room, Upload::png()).await;
    assert_error(
        &anonymous,
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        None,
    );
    let json_body = app
        .post(
            &format!("/api/v1/rooms/{room}/files"),
            t,
            json!({"file": "x"}),
        )
        .await;
    assert_error(
        &json_body,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        None,
    );

    // A form without a file, or with a field nobody asked for.
    let form = reqwest::multipart::Form::new().text("caption", "hi");
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/rooms/{room}/files")))
        .bearer_auth(t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let no_file = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(
        &no_file,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("file"),
    );
    let form = reqwest::multipart::Form::new()
        .part(
            "file",
            reqwest::multipart::Part::bytes(PNG_3X2.to_vec()).file_name("a.png"),
        )
        .text("sneaky", "1");
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/rooms/{room}/files")))
        .bearer_auth(t)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let extra = (resp.status(), resp.json::<Value>().await.unwrap());
    assert_error(
        &extra,
        StatusCode::BAD_REQUEST,
        "validation_failed",
        Some("form"),
    );

    // A declared length over the limit is refused before the body is read.
    let resp = app
        .client
        .post(app.url(&format!("/api/v1/rooms/{room}/files")))
        .bearer_auth(t)
        .header(CONTENT_TYPE, "multipart/form-data; boundary=x")
        .body(vec![b'x'; 200 * 1024])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Nothing of any of it was kept: no object, no message, no seq used.
    assert!(
        app.stored_objects().is_empty(),
        "{:?}",
        app.stored_objects()
    );
    let (_, history) = app.get(&format!("/api/v1/rooms/{room}/messages"), t).await;
    assert_eq!(history["items"], json!([]));
    let (status, ok) = app.upload(t, room, Upload::png()).await;
    assert_eq!((status, ok["seq"].as_i64()), (StatusCode::CREATED, Some(1)));
}

/// Polls until the server's files directory holds exactly `want`.
async fn objects_become(app: &TestApp, want: &[String]) {
    for _ in 0..100 {
        if app.stored_objects() == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("objects {:?}, wanted {want:?}", app.stored_objects());
}

async fn deleting_the_message_or_the_room_deletes_the_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let t = &ann.access_token;
    let room = room_of(&app, &ann, false).await;
    let other = room_of(&app, &ann, false).await;
    let (_, m) = app.upload(t, room, Upload::png()).await;
    let (_, kept) = app.upload(t, other, Upload::png()).await;
    let (_, doomed) = app.upload(t, other, Upload::png()).await;
    let id = |m: &Value| m["attachments"][0]["id"].as_str().unwrap().to_owned();
    let url = m["attachments"][0]["url"].as_str().unwrap().to_owned();
    let mut all = vec![id(&m), id(&kept), id(&doomed)];
    all.sort();
    assert_eq!(app.stored_objects(), all);

    let (status, _) = app
        .delete(&format!("/api/v1/rooms/{room}/messages/{}", m["id"]), t)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert_eq!(
        fetch(&app, &url, None).await.status(),
        StatusCode::NOT_FOUND
    );
    let (_, history) = app.get(&format!("/api/v1/rooms/{room}/messages"), t).await;
    assert_eq!(history["items"][0]["attachments"], json!([]));
    let mut left = vec![id(&kept), id(&doomed)];
    left.sort();
    objects_become(&app, &left).await;

    let (status, _) = app
        .delete(
            &format!("/api/v1/rooms/{other}/messages/{}", doomed["id"]),
            t,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    objects_become(&app, &[id(&kept)]).await;
    let (status, _) = app.delete(&format!("/api/v1/rooms/{other}"), t).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    objects_become(&app, &[]).await;
}

async fn a_retried_upload_is_one_message_and_one_file(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let ann = app.register("ann").await;
    let room = room_of(&app, &ann, false).await;
    let up = || Upload::png().caption("once").client_msg_id("up-1");
    let (first, m1) = app.upload(&ann.access_token, room, up()).await;
    let (again, m2) = app.upload(&ann.access_token, room, up()).await;
    assert_eq!((first, again), (StatusCode::CREATED, StatusCode::OK));
    assert_eq!(m1, m2);
    assert_eq!(
        app.stored_objects(),
        [m1["attachments"][0]["id"].as_str().unwrap()]
    );
}

backend_tests!(
    an_image_becomes_a_message_served_to_members_and_link_holders,
    other_files_download_as_attachments_with_their_sniffed_type,
    bad_uploads_get_the_contract_shape_and_leave_nothing,
    deleting_the_message_or_the_room_deletes_the_file,
    a_retried_upload_is_one_message_and_one_file,
);
