//! The served OpenAPI document agrees with the wire contract, `docs/API.md`: every call the
//! contract lists is documented with its method, path and success status, calls other than
//! `/auth/*` require the bearer token, and the objects have the contract's fields.
use std::path::Path;

use huddle_test_support::{backend_tests, Backend, TestApp};
use reqwest::StatusCode;
use serde_json::Value;

/// The contract is the repository's own document, so a clone with nothing beside it has it.
fn api_md() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/API.md");
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// A REST call of the contract: method, full path, and the status of its success answer where
/// the contract gives one (its tables do; its prose does not).
#[derive(Debug)]
struct Call {
    method: String,
    path: String,
    status: Option<u16>,
}

/// The REST calls of API.md: every `` `METHOD /path` `` before the real-time section. In a table
/// row the answer cell starts with the success status (200 when it only names the object).
fn contract_calls(md: &str) -> Vec<Call> {
    let rest = md.split("## Real time").next().unwrap();
    let mut calls: Vec<Call> = Vec::new();
    for line in rest.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let answer_status = if line.trim_start().starts_with('|') && cells.len() >= 3 {
            let answer = cells[cells.len() - 2];
            Some(
                answer
                    .get(..3)
                    .and_then(|s| s.parse::<u16>().ok())
                    .unwrap_or(200),
            )
        } else {
            None
        };
        // Code spans are the odd pieces between backticks.
        for span in line.split('`').skip(1).step_by(2) {
            let Some((method, path)) = span.split_once(' ') else {
                continue;
            };
            if !matches!(method, "GET" | "POST" | "PATCH" | "PUT" | "DELETE")
                || !path.starts_with('/')
            {
                continue;
            }
            let path = path.split('?').next().unwrap().trim();
            let path = if path.starts_with("/api/v1") {
                path.to_owned()
            } else {
                format!("/api/v1{path}")
            };
            calls.push(Call {
                method: method.to_lowercase(),
                path,
                status: answer_status,
            });
        }
    }
    calls
}

/// The objects of API.md's "Objects" section: `- name: `{field, field: type, ...}``.
fn contract_objects(md: &str) -> Vec<(String, Vec<String>)> {
    let section = md
        .split("## Objects")
        .nth(1)
        .unwrap()
        .split("\n## ")
        .next()
        .unwrap();
    let mut objects = Vec::new();
    for line in section.lines() {
        let Some(rest) = line.strip_prefix("- ") else {
            continue;
        };
        let Some((name, after)) = rest.split_once(": `{") else {
            continue;
        };
        let fields = after.split('}').next().unwrap();
        let fields = fields
            .split(',')
            .map(|f| f.split(':').next().unwrap().trim().to_owned())
            .filter(|f| !f.is_empty())
            .collect();
        objects.push((name.trim().to_owned(), fields));
    }
    objects
}

async fn openapi_lists_every_call_of_the_contract(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let resp = app
        .client
        .get(app.url("/api/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status(),
        StatusCode::OK,
        "served without authentication"
    );
    let doc: Value = resp.json().await.unwrap();
    assert!(
        doc["openapi"].as_str().unwrap().starts_with("3."),
        "{}",
        doc["openapi"]
    );
    assert!(
        doc["components"]["securitySchemes"]["bearer"].is_object(),
        "a bearer scheme"
    );

    let md = api_md();
    let calls = contract_calls(&md);
    // The contract lists 23 REST calls; fewer means the parser broke, not that the check passed.
    assert!(
        calls.len() >= 23,
        "parsed only {} calls from API.md: {calls:?}",
        calls.len()
    );

    let mut problems = Vec::new();
    for c in &calls {
        let op = &doc["paths"][&c.path][&c.method];
        if !op.is_object() {
            problems.push(format!(
                "{} {} is not in the OpenAPI document",
                c.method.to_uppercase(),
                c.path
            ));
            continue;
        }
        let responses: Vec<&String> = op["responses"]
            .as_object()
            .map(|r| r.keys().collect())
            .unwrap_or_default();
        let documented = match c.status {
            Some(status) => responses.iter().any(|r| **r == status.to_string()),
            None => responses.iter().any(|r| r.starts_with('2')),
        };
        if !documented {
            problems.push(format!(
                "{} {} does not document its {} answer (has {responses:?})",
                c.method.to_uppercase(),
                c.path,
                c.status.map_or("success".to_owned(), |s| s.to_string()),
            ));
        }
        let secured = op["security"]
            .as_array()
            .is_some_and(|s| s.iter().any(|req| req.get("bearer").is_some()));
        let public = c.path.starts_with("/api/v1/auth/");
        if secured == public {
            problems.push(format!(
                "{} {}: bearer security is {} but should be {}",
                c.method.to_uppercase(),
                c.path,
                secured,
                !public
            ));
        }
    }

    let objects = contract_objects(&md);
    let names: Vec<&str> = objects.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        ["user", "room", "member", "message"]
            .iter()
            .all(|n| names.contains(n)),
        "parsed objects {names:?}"
    );
    let mut checked = 0;
    for (name, fields) in &objects {
        let schema_name = format!("{}{}", name[..1].to_uppercase(), &name[1..]);
        let props = &doc["components"]["schemas"][&schema_name]["properties"];
        if !props.is_object() {
            problems.push(format!("no schema {schema_name} for the contract's {name}"));
            continue;
        }
        for f in fields {
            if !props[f].is_object() {
                problems.push(format!(
                    "schema {schema_name} lacks the contract's field {f}"
                ));
            }
        }
        checked += 1;
    }
    assert!(checked >= 4);
    let session = &doc["components"]["schemas"]["SessionResponse"]["properties"];
    for f in [
        "user",
        "access_token",
        "refresh_token",
        "token_type",
        "expires_in",
    ] {
        if !session[f].is_object() {
            problems.push(format!("SessionResponse lacks {f}"));
        }
    }
    assert!(
        problems.is_empty(),
        "OpenAPI and API.md disagree:\n{}",
        problems.join("\n")
    );

    // The browsable docs are there too.
    let resp = app
        .client
        .get(app.url("/api/v1/docs/"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
}

#[test]
fn the_contract_parser_reads_tables_and_prose() {
    let md = "## Objects\n- thing: `{id, name: string, owner: user}`\n## Auth\n\
              | call | body | answer |\n| --- | --- | --- |\n\
              | `POST /auth/register` | `{username}` | 201 session |\n\
              | `GET /rooms/{id}` | anyone | room |\n\
              `GET /users/me`, `PATCH /users/me` `{display_name?}`\n\
              ## Real time: `GET /api/v1/ws`\n| `POST /ignored` | x | 201 |\n";
    let calls = contract_calls(md);
    let got: Vec<(String, String, Option<u16>)> = calls
        .into_iter()
        .map(|c| (c.method, c.path, c.status))
        .collect();
    assert_eq!(
        got,
        [
            ("post".into(), "/api/v1/auth/register".into(), Some(201)),
            ("get".into(), "/api/v1/rooms/{id}".into(), Some(200)),
            ("get".into(), "/api/v1/users/me".into(), None),
            ("patch".into(), "/api/v1/users/me".into(), None),
        ]
    );
    assert_eq!(
        contract_objects(md),
        [(
            "thing".to_owned(),
            vec!["id".to_owned(), "name".to_owned(), "owner".to_owned()]
        )]
    );
}

backend_tests!(openapi_lists_every_call_of_the_contract);
