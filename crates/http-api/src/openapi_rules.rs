//! What the OpenAPI document adds to the handlers' own annotations so that it tells the whole
//! truth: the error answers every operation can give, and the input limits the domain enforces.
//! Both are derived from the code's own rules (the edge's error mapping, the domain's
//! validation constants), so the document cannot drift from the server.
use huddle_domain::validation as v;
use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::schema::{Object, Schema, Type};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, Number};

use crate::pagination::{
    HISTORY_PAGE_MAX, MEMBERS_PAGE_MAX, ROOMS_PAGE_MAX, SEARCH_PAGE_MAX, USERS_PAGE_MAX,
};

/// Adds to every operation the error statuses its inputs can cause, in the error shape:
/// 400 for anything it reads, 401 where a token is required, 404 where a path names a
/// resource, 413 and 415 where there is a body, 429 (with `Retry-After`) where a rate limit
/// applies, and 500 and 503, which any call can meet.
pub(crate) struct ErrorResponses;

/// Operations behind a rate limit: attempts per address, sends per user.
const RATE_LIMITED: [(&str, &str); 3] = [
    ("/api/v1/auth/register", "post"),
    ("/api/v1/auth/login", "post"),
    ("/api/v1/rooms/{id}/messages", "post"),
];

impl Modify for ErrorResponses {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            let ops = [
                ("get", &mut item.get),
                ("post", &mut item.post),
                ("put", &mut item.put),
                ("patch", &mut item.patch),
                ("delete", &mut item.delete),
            ];
            for (method, op) in ops {
                let Some(op) = op.as_mut() else { continue };
                // utoipa names operations after their functions, which repeat across modules
                // (`list`, `delete`); an OpenAPI document needs them unique.
                op.operation_id = Some(operation_id(method, path));
                // The socket's upgrade and the probes answer in their own ways.
                if path == "/api/v1/ws" || !path.starts_with("/api/") {
                    continue;
                }
                let rate_limited = RATE_LIMITED.contains(&(path.as_str(), method));
                add_errors(op, path.contains('{'), rate_limited);
            }
        }
    }
}

/// `get /api/v1/rooms/{id}/members` -> `get_rooms_id_members`.
fn operation_id(method: &str, path: &str) -> String {
    let words = path
        .trim_start_matches("/api/v1")
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty());
    std::iter::once(method)
        .chain(words)
        .collect::<Vec<_>>()
        .join("_")
}

fn add_errors(op: &mut Operation, names_resource: bool, rate_limited: bool) {
    let reads_input =
        op.request_body.is_some() || op.parameters.as_ref().is_some_and(|p| !p.is_empty());
    let secured = op.security.as_ref().is_some_and(|s| !s.is_empty());
    let has_body = op.request_body.is_some();
    let mut add = |status: &str, description: &str| {
        op.responses
            .responses
            .entry(status.to_owned())
            .or_insert_with(|| error_response(description, false));
    };
    if reads_input {
        add("400", "malformed_json or validation_failed (with `field`)");
    }
    if secured {
        add(
            "401",
            "unauthenticated or token_expired: a missing, bad or expired access token",
        );
    }
    if names_resource {
        add(
            "404",
            "not_found: no such resource, or one the caller may not see",
        );
    }
    if has_body {
        add(
            "413",
            "payload_too_large: the body is over the server's limit",
        );
        add(
            "415",
            "unsupported_media_type: the body is not application/json",
        );
    }
    add(
        "500",
        "internal: a fault on the server's side (details are only logged)",
    );
    add(
        "503",
        "unavailable: the database cannot be reached right now",
    );
    if rate_limited {
        // Replaces an annotation's plain 429 so the header is always described.
        op.responses.responses.insert(
            "429".to_owned(),
            error_response(
                "rate_limited: over a rate limit; retry after `Retry-After` seconds",
                true,
            ),
        );
    }
}

fn error_response(description: &str, retry_after: bool) -> RefOr<utoipa::openapi::Response> {
    let mut response = ResponseBuilder::new().description(description).content(
        "application/json",
        ContentBuilder::new()
            .schema(Some(Ref::from_schema_name("ErrorBody")))
            .build(),
    );
    if retry_after {
        response = response.header(
            "Retry-After",
            HeaderBuilder::new()
                .schema(Object::with_type(Type::Integer))
                .description(Some("seconds until a retry can succeed"))
                .build(),
        );
    }
    RefOr::T(response.build())
}

/// Puts the domain's input limits into the request schemas and query parameters.
pub(crate) struct InputLimits;

/// A string's rule: least and most characters, and the pattern it must match.
struct Text(Option<usize>, Option<usize>, &'static str);

fn text_rules() -> Vec<(&'static str, &'static str, Text)> {
    use v::{MULTI_LINE_PATTERN as MULTI, SINGLE_LINE_PATTERN as ONE};
    let username = || {
        Text(
            Some(v::USERNAME_MIN),
            Some(v::USERNAME_MAX),
            v::USERNAME_PATTERN,
        )
    };
    let password = || Text(Some(v::PASSWORD_MIN), Some(v::PASSWORD_MAX), ONE);
    let display_name = || Text(Some(1), Some(v::DISPLAY_NAME_MAX), ONE);
    let room_name = || Text(Some(1), Some(v::ROOM_NAME_MAX), ONE);
    let description = || Text(None, Some(v::ROOM_DESCRIPTION_MAX), MULTI);
    let body = || Text(Some(1), Some(v::MESSAGE_BODY_MAX), MULTI);
    vec![
        ("RegisterRequest", "username", username()),
        ("RegisterRequest", "password", password()),
        ("RegisterRequest", "display_name", display_name()),
        ("LoginRequest", "username", Text(None, None, ONE)),
        ("AddMemberRequest", "username", username()),
        ("UpdateProfileRequest", "display_name", display_name()),
        (
            "UpdateProfileRequest",
            "bio",
            Text(None, Some(v::BIO_MAX), MULTI),
        ),
        ("ChangePasswordRequest", "new_password", password()),
        ("CreateRoomRequest", "name", room_name()),
        ("CreateRoomRequest", "description", description()),
        ("UpdateRoomRequest", "name", room_name()),
        ("UpdateRoomRequest", "description", description()),
        ("PostMessageRequest", "body", body()),
        (
            "PostMessageRequest",
            "client_msg_id",
            Text(Some(1), Some(v::CLIENT_MSG_ID_MAX), ONE),
        ),
        ("EditMessageRequest", "body", body()),
    ]
}

/// Query parameters' ranges by path: (path, parameter, minimum, maximum).
fn query_ranges() -> Vec<(&'static str, &'static str, i64, Option<usize>)> {
    vec![
        ("/api/v1/rooms", "limit", 1, Some(ROOMS_PAGE_MAX)),
        ("/api/v1/users", "limit", 1, Some(USERS_PAGE_MAX)),
        ("/api/v1/search/messages", "limit", 1, Some(SEARCH_PAGE_MAX)),
        (
            "/api/v1/rooms/{id}/members",
            "limit",
            1,
            Some(MEMBERS_PAGE_MAX),
        ),
        (
            "/api/v1/rooms/{id}/messages",
            "limit",
            1,
            Some(HISTORY_PAGE_MAX),
        ),
        ("/api/v1/rooms/{id}/messages", "before_seq", 1, None),
        ("/api/v1/rooms/{id}/messages", "after_seq", 0, None),
    ]
}

impl Modify for InputLimits {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        if let Some(components) = openapi.components.as_mut() {
            for (schema, property, Text(min, max, pattern)) in text_rules() {
                if let Some(field) = property_of(&mut components.schemas, schema, property) {
                    field.min_length = min;
                    field.max_length = max;
                    field.pattern = Some(pattern.to_owned());
                }
            }
            let numbers = [
                (
                    "CreateInviteRequest",
                    "expires_in_s",
                    v::INVITE_TTL_MIN_S,
                    v::INVITE_TTL_MAX_S,
                ),
                ("CreateInviteRequest", "max_uses", 1, v::INVITE_USES_MAX),
            ];
            for (schema, property, minimum, maximum) in numbers {
                if let Some(field) = property_of(&mut components.schemas, schema, property) {
                    field.minimum = Some(Number::Int(minimum as isize));
                    field.maximum = Some(Number::Int(maximum as isize));
                }
            }
            if let Some(role) = property_of(&mut components.schemas, "SetRoleRequest", "role") {
                role.enum_values = Some(vec!["admin".into(), "member".into()]);
            }
        }
        for (path, name, minimum, maximum) in query_ranges() {
            let Some(op) = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|p| p.get.as_mut())
            else {
                continue;
            };
            let params = op.parameters.iter_mut().flatten();
            for param in params.filter(|p| p.name == name && p.parameter_in == ParameterIn::Query) {
                if let Some(RefOr::T(Schema::Object(o))) = param.schema.as_mut() {
                    o.minimum = Some(Number::Int(minimum as isize));
                    o.maximum = maximum.map(Number::UInt);
                }
            }
        }
        let kind = openapi
            .paths
            .paths
            .get_mut("/api/v1/rooms")
            .and_then(|p| p.get.as_mut())
            .and_then(|op| op.parameters.as_mut())
            .and_then(|ps| ps.iter_mut().find(|p| p.name == "kind"));
        if let Some(RefOr::T(Schema::Object(o))) = kind.and_then(|p| p.schema.as_mut()) {
            o.enum_values = Some(vec!["group".into(), "direct".into()]);
        }
        let search_q = openapi
            .paths
            .paths
            .get_mut("/api/v1/search/messages")
            .and_then(|p| p.get.as_mut())
            .and_then(|op| op.parameters.as_mut())
            .and_then(|ps| ps.iter_mut().find(|p| p.name == "q"));
        if let Some(RefOr::T(Schema::Object(o))) = search_q.and_then(|p| p.schema.as_mut()) {
            o.min_length = Some(1);
            o.max_length = Some(huddle_domain::search::SEARCH_TEXT_MAX);
            o.pattern = Some(v::SINGLE_LINE_PATTERN.to_owned());
        }
        for path in ["/api/v1/rooms", "/api/v1/users"] {
            let q = openapi
                .paths
                .paths
                .get_mut(path)
                .and_then(|p| p.get.as_mut())
                .and_then(|op| op.parameters.as_mut())
                .and_then(|ps| ps.iter_mut().find(|p| p.name == "q"));
            if let Some(RefOr::T(Schema::Object(o))) = q.and_then(|p| p.schema.as_mut()) {
                o.max_length = Some(v::SEARCH_QUERY_MAX);
                o.pattern = Some(v::SINGLE_LINE_PATTERN.to_owned());
            }
        }
    }
}

fn property_of<'a>(
    schemas: &'a mut std::collections::BTreeMap<String, RefOr<Schema>>,
    schema: &str,
    property: &str,
) -> Option<&'a mut Object> {
    let Some(RefOr::T(Schema::Object(object))) = schemas.get_mut(schema) else {
        return None;
    };
    match object.properties.get_mut(property) {
        Some(RefOr::T(Schema::Object(field))) => Some(field),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;
    use utoipa::OpenApi;

    use crate::ApiDoc;

    fn doc() -> Value {
        serde_json::to_value(ApiDoc::openapi()).unwrap()
    }

    #[test]
    fn operation_ids_are_unique() {
        let doc = doc();
        let mut ids = std::collections::BTreeSet::new();
        for item in doc["paths"].as_object().unwrap().values() {
            for op in item.as_object().unwrap().values() {
                let id = op["operationId"].as_str().unwrap().to_owned();
                assert!(ids.insert(id.clone()), "{id} twice");
            }
        }
        assert!(ids.contains("get_rooms_id_members"), "{ids:?}");
    }

    /// Every rule of [`super::text_rules`] finds its property: a renamed field fails here.
    #[test]
    fn every_limit_finds_its_field() {
        let doc = doc();
        for (schema, property, super::Text(_, max, pattern)) in super::text_rules() {
            let field = &doc["components"]["schemas"][schema]["properties"][property];
            assert_eq!(field["pattern"], pattern, "{schema}.{property}");
            assert_eq!(
                field["maxLength"],
                serde_json::json!(max),
                "{schema}.{property}"
            );
        }
    }

    #[test]
    fn query_parameters_are_optional_and_in_the_query() {
        let doc = doc();
        for path in [
            "/api/v1/rooms",
            "/api/v1/rooms/{id}/members",
            "/api/v1/rooms/{id}/messages",
        ] {
            let params = doc["paths"][path]["get"]["parameters"].as_array().unwrap();
            for p in params.iter().filter(|p| p["name"] != "id") {
                assert_eq!(p["in"], "query", "{path} {}", p["name"]);
                assert_ne!(p["required"], true, "{path} {}", p["name"]);
            }
            let limit = params.iter().find(|p| p["name"] == "limit").unwrap();
            assert_eq!(limit["schema"]["minimum"], 1, "{path}");
            assert!(
                limit["schema"]["maximum"].as_u64().unwrap() >= 100,
                "{path}"
            );
        }
    }

    #[test]
    fn every_api_operation_lists_its_error_answers() {
        let doc = doc();
        for (path, item) in doc["paths"].as_object().unwrap() {
            if !path.starts_with("/api/v1/") || path == "/api/v1/ws" {
                continue;
            }
            for (method, op) in item.as_object().unwrap() {
                let responses = op["responses"].as_object().unwrap();
                for status in ["500", "503"] {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} lacks {status}"
                    );
                }
                if op["requestBody"].is_object() {
                    for status in ["400", "413", "415"] {
                        assert!(
                            responses.contains_key(status),
                            "{method} {path} lacks {status}"
                        );
                    }
                }
                if !path.starts_with("/api/v1/auth/") {
                    assert!(responses.contains_key("401"), "{method} {path} lacks 401");
                }
                for (status, r) in responses.iter().filter(|(s, _)| s.as_str() >= "400") {
                    assert_eq!(
                        r["content"]["application/json"]["schema"]["$ref"],
                        "#/components/schemas/ErrorBody",
                        "{method} {path} {status}"
                    );
                }
            }
        }
        let login = &doc["paths"]["/api/v1/auth/login"]["post"]["responses"]["429"];
        assert!(login["headers"]["Retry-After"].is_object(), "{login}");
    }

    #[test]
    fn schemas_carry_the_domain_limits() {
        use huddle_domain::validation as v;
        let doc = doc();
        let s = &doc["components"]["schemas"];
        let username = &s["RegisterRequest"]["properties"]["username"];
        assert_eq!(username["minLength"], v::USERNAME_MIN);
        assert_eq!(username["maxLength"], v::USERNAME_MAX);
        assert_eq!(username["pattern"], v::USERNAME_PATTERN);
        let body = &s["PostMessageRequest"]["properties"]["body"];
        assert_eq!(body["maxLength"], v::MESSAGE_BODY_MAX);
        assert_eq!(body["pattern"], v::MULTI_LINE_PATTERN);
        assert_eq!(
            s["CreateRoomRequest"]["properties"]["name"]["maxLength"],
            v::ROOM_NAME_MAX
        );
        assert_eq!(
            s["UpdateProfileRequest"]["properties"]["bio"]["maxLength"],
            v::BIO_MAX
        );
        assert_eq!(
            s["SetRoleRequest"]["properties"]["role"]["enum"],
            serde_json::json!(["admin", "member"])
        );
    }
}
