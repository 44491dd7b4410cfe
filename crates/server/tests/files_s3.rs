//! Files kept in a real S3-compatible bucket (Garage, started by `.ci/garage`) by two server
//! processes: a file uploaded through one node is served (and found by search) by the other, a
//! file larger than one multipart part comes back byte for byte, and deleting the message, then
//! the room, deletes the objects from the bucket. PostgreSQL and Redis as in the other cluster
//! tests.
use std::time::{Duration, Instant};

use huddle_files::FileStore;
use huddle_server::StoreConfig;
use huddle_test_support::cluster::{redis_url, ws_connect, NodeClient, TestCluster};
use huddle_test_support::files::{upload_to, Upload, PNG_3X2};
use huddle_test_support::s3::{s3_available, s3_config, s3_env};
use huddle_test_support::Session;
use reqwest::StatusCode;
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_huddle");

/// A cluster of `n` nodes sharing the test bucket; `None` when a service is missing (outside CI).
fn cluster(n: usize) -> Option<TestCluster> {
    if !s3_available() {
        return None;
    }
    let mut env = s3_env(&s3_config());
    // Deleted files go at once: the sweep also runs on a short timer, not only when woken.
    env.push(("HUDDLE_FILES_SWEEP_SECS", "1".into()));
    TestCluster::start(BIN, n, &redis_url(), &env)
}

fn bucket() -> FileStore {
    FileStore::open(&StoreConfig::S3(s3_config())).expect("the test bucket opens")
}

async fn upload(node: &NodeClient, who: &Session, room: i64, up: Upload) -> Value {
    let (status, m) = upload_to(&node.client, &node.base, &who.access_token, room, up).await;
    assert_eq!(status, StatusCode::CREATED, "{m}");
    m
}

async fn fetch(node: &NodeClient, url: &str, token: Option<&str>) -> (StatusCode, Vec<u8>) {
    let mut req = node.client.get(format!("{}{url}", node.base));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let resp = req.send().await.expect("GET sent");
    let status = resp.status();
    (status, resp.bytes().await.expect("body").to_vec())
}

async fn gone_from_bucket(store: &FileStore, id: &str, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if !store.exists(id).await.expect("the bucket answers") {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_serve_the_same_file_from_the_bucket() {
    let Some(cluster) = cluster(2) else {
        return;
    };
    let (n0, n1) = (cluster.client(0), cluster.client(1));
    let ann = n0.register("ann").await;
    let bob = n1.register("bob").await;
    let room = n0.create_room(&ann, "shared").await;
    n1.join(&bob, room).await;
    let mut bobs = ws_connect(&cluster.nodes[1].ws_url(), &bob.access_token).await;
    bobs.request(json!({"type": "sync", "since": {}}), "s")
        .await;

    // Uploaded through node 0: in the bucket, live on node 1, served by node 1.
    let m = upload(&n0, &ann, room, Upload::png().caption("pixels")).await;
    let id = m["attachments"][0]["id"].as_str().unwrap().to_owned();
    let url = m["attachments"][0]["url"].as_str().unwrap().to_owned();
    let store = bucket();
    assert!(store.exists(&id).await.unwrap(), "{id} is in the bucket");
    let live = bobs.expect("message.created").await;
    assert_eq!(live["message"]["attachments"][0]["id"], json!(id));
    assert_eq!(
        fetch(&n1, &url, None).await,
        (StatusCode::OK, PNG_3X2.to_vec())
    );
    let plain = format!("/api/v1/files/{id}");
    assert_eq!(
        fetch(&n1, &plain, Some(&bob.access_token)).await,
        (StatusCode::OK, PNG_3X2.to_vec())
    );
    // Found by search through the other node, with its attachment and a link that works there.
    let (status, found) = n1
        .get("/api/v1/search/messages?q=pixels", &bob.access_token)
        .await;
    assert_eq!(status, StatusCode::OK, "{found}");
    let hit = &found["items"][0]["message"];
    assert_eq!(
        (&hit["id"], &hit["attachments"][0]["id"]),
        (&m["id"], &json!(id)),
        "{found}"
    );
    let hit_url = hit["attachments"][0]["url"].as_str().unwrap();
    assert_eq!(
        fetch(&n1, hit_url, None).await,
        (StatusCode::OK, PNG_3X2.to_vec())
    );

    // Larger than one multipart part (5 MiB): written in parts, read back whole elsewhere.
    let big: Vec<u8> = (0..6 * 1024 * 1024 + 123)
        .map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    let m2 = upload(
        &n1,
        &bob,
        room,
        Upload::new("data.bin", Some("application/octet-stream"), &big),
    )
    .await;
    assert_eq!(m2["attachments"][0]["size"], json!(big.len()));
    let big_url = m2["attachments"][0]["url"].as_str().unwrap().to_owned();
    let (status, bytes) = fetch(&n0, &big_url, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(bytes == big, "the 6 MiB file came back changed");

    // Deleting the message through node 1 removes the object from the bucket; neither node
    // serves it any more.
    let mid = m["id"].as_i64().unwrap();
    let (status, _) = n1
        .delete(
            &format!("/api/v1/rooms/{room}/messages/{mid}"),
            &ann.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        gone_from_bucket(&store, &id, Duration::from_secs(15)).await,
        "{id} is still in the bucket"
    );
    for node in [&n0, &n1] {
        let (status, _) = fetch(node, &plain, Some(&ann.access_token)).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
    // The other file is untouched until its room goes, which takes it too.
    let big_id = m2["attachments"][0]["id"].as_str().unwrap();
    assert!(store.exists(big_id).await.unwrap());
    let (status, _) = n0
        .delete(&format!("/api/v1/rooms/{room}"), &ann.access_token)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    assert!(
        gone_from_bucket(&store, big_id, Duration::from_secs(15)).await,
        "{big_id} is still in the bucket"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_upload_to_the_bucket_is_a_clean_415() {
    let Some(cluster) = cluster(1) else {
        return;
    };
    let n0 = cluster.client(0);
    let ann = n0.register("ann").await;
    let room = n0.create_room(&ann, "refused").await;
    // Declared an image, is text: refused after the first bytes with the contract's error
    // (aborting the bucket's multipart upload is no 5xx), and no message is sent.
    let text = "not a picture ".repeat(500_000).into_bytes();
    let (status, e) = upload_to(
        &n0.client,
        &n0.base,
        &ann.access_token,
        room,
        Upload::new("fake.png", Some("image/png"), &text),
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{e}");
    let (_, history) = n0
        .get(&format!("/api/v1/rooms/{room}/messages"), &ann.access_token)
        .await;
    assert_eq!(history["items"], json!([]), "{history}");
}
