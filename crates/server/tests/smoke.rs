//! The server starts on both backends and answers its probes and the documented calls.
use huddle_test_support::{backend_tests, Backend, TestApp};
use reqwest::StatusCode;

async fn probes_answer(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let resp = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert!(resp_has_request_id(&app).await);
}

async fn resp_has_request_id(app: &TestApp) -> bool {
    let resp = app.client.get(app.url("/healthz")).send().await.unwrap();
    resp.headers().get("x-request-id").is_some()
}

backend_tests!(probes_answer);
