//! Routes of `/api/v1`, one module per resource.
pub(crate) mod auth;
pub(crate) mod files;
pub(crate) mod health;
pub(crate) mod invites;
pub(crate) mod members;
pub(crate) mod messages;
pub(crate) mod rooms;
pub(crate) mod search;
pub(crate) mod sessions;
pub(crate) mod users;

use actix_web::dev::ServiceResponse;
use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::header::{self, HeaderValue};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{web, HttpRequest, HttpResponse};
use huddle_domain::ErrorCode;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::{error_body, ApiDoc, ApiError, ApiState};

/// A resource with its methods; any other method gets 405 with `Allow`. Resources rather than
/// `App::route`, whose method guard would turn a wrong method into 404 instead of 405.
macro_rules! resource {
    ($path:expr, $($method:ident => $handler:expr),+ $(,)?) => {
        web::resource($path)
            $(.route(web::$method().to($handler)))+
            .default_service(web::to(|| async {
                method_not_allowed(concat!($(resource!(@upper $method), ", "),+).trim_end_matches(", "))
            }))
    };
    (@upper get) => { "GET" };
    (@upper post) => { "POST" };
    (@upper patch) => { "PATCH" };
    (@upper put) => { "PUT" };
    (@upper delete) => { "DELETE" };
}

/// Mounts the API, its OpenAPI document (`/api/v1/openapi.json`) and docs page
/// (`/api/v1/docs/`), and the health probes. The caller provides `web::Data<ApiState>`.
pub fn configure(state: &ApiState) -> impl FnOnce(&mut web::ServiceConfig) + '_ {
    move |cfg| {
        cfg.app_data(json_config(state.limits.max_body_bytes))
            .app_data(web::QueryConfig::default().error_handler(query_error))
            .app_data(web::PathConfig::default().error_handler(path_error))
            .service(
                SwaggerUi::new("/api/v1/docs/{_:.*}")
                    .url("/api/v1/openapi.json", ApiDoc::openapi()),
            )
            .service(resource!("/healthz", get => health::healthz))
            .service(resource!("/readyz", get => health::readyz))
            .service(
                web::scope("/api/v1")
                    .service(resource!("/auth/register", post => auth::register))
                    .service(resource!("/auth/login", post => auth::login))
                    .service(resource!("/auth/refresh", post => auth::refresh))
                    .service(resource!("/auth/logout", post => auth::logout))
                    .service(resource!("/auth/logout-all", post => sessions::logout_all))
                    .service(
                        web::scope("/users")
                            .service(resource!("", get => users::list))
                            .service(resource!("/me", get => users::me, patch => users::update_me))
                            .service(resource!("/me/password", post => users::change_password))
                            .service(resource!("/me/sessions", get => sessions::list))
                            .service(resource!("/me/sessions/{id}", delete => sessions::end))
                            .service(resource!("/{id}", get => users::get)),
                    )
                    .service(resource!("/rooms", get => rooms::list, post => rooms::create))
                    .service(resource!("/dms", post => rooms::open_direct))
                    .service(room_scope())
                    .service(resource!("/files/{id}", get => files::download))
                    .service(resource!("/search/messages", get => search::messages))
                    .service(resource!("/invites/{code}", get => invites::preview))
                    .service(resource!("/invites/{code}/accept", post => invites::accept)),
            );
    }
}

/// Everything under `/rooms/{id}`. One scope, so that a request is matched against the room's
/// path pattern once and then against its static tails: actix-router matches every pattern
/// with a path parameter by running its regular expression, and as a flat list each request
/// ran one for every room route registered before its own: a tenth of the samples in Huddle's
/// own code during the history benchmark, 4% since (BENCHMARKS.md, "Routing").
fn room_scope() -> actix_web::Scope {
    web::scope("/rooms/{id}")
        .service(resource!("",
            get => rooms::get, patch => rooms::update, delete => rooms::delete))
        .service(resource!("/messages", get => messages::history, post => messages::post))
        .service(resource!("/read", put => rooms::mark_read))
        .service(resource!("/reads", get => rooms::reads))
        .service(resource!("/join", post => rooms::join))
        .service(resource!("/leave", post => rooms::leave))
        .service(resource!("/members", get => members::list, post => members::add))
        .service(resource!("/invites", get => invites::list, post => invites::create))
        .service(resource!("/files", post => files::upload))
        .service(resource!("/messages/{message_id}",
            patch => messages::edit, delete => messages::delete))
        .service(resource!("/messages/{message_id}/reactions/{emoji}",
            put => messages::react, delete => messages::unreact))
        .service(resource!("/members/{user_id}",
            patch => members::set_role, delete => members::kick))
        .service(resource!("/invites/{code}", delete => invites::revoke))
}

/// 405 with the `Allow` header the HTTP spec asks for, naming the resource's methods.
pub(crate) fn method_not_allowed(allow: &'static str) -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, allow))
        .json(error_body(
            ErrorCode::MethodNotAllowed,
            &format!("this method is not allowed here; allowed: {allow}"),
            None,
        ))
}

fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .error_handler(|err, _req| json_error(err).into())
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { limit, .. }
        | JsonPayloadError::Overflow { limit } => {
            ApiError::PayloadTooLarge(format!("the request body is larger than {limit} bytes"))
        }
        JsonPayloadError::ContentType => {
            ApiError::UnsupportedMediaType("the request body must be application/json".into())
        }
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::BadRequest {
            code: ErrorCode::ValidationFailed,
            field: missing_field(&e.to_string()),
            message: e.to_string(),
        },
        JsonPayloadError::Deserialize(e) => ApiError::BadRequest {
            code: ErrorCode::MalformedJson,
            message: format!("the request body is not valid JSON: {e}"),
            field: None,
        },
        other => ApiError::BadRequest {
            code: ErrorCode::MalformedJson,
            message: other.to_string(),
            field: None,
        },
    }
}

/// serde names a missing field as "missing field `name`"; the contract wants it in `field`.
pub(crate) fn missing_field(message: &str) -> Option<String> {
    let rest = message.strip_prefix("missing field `")?;
    rest.split('`').next().map(str::to_owned)
}

fn query_error(err: QueryPayloadError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::BadRequest {
        code: ErrorCode::ValidationFailed,
        message: format!("invalid query parameters: {err}"),
        field: None,
    }
    .into()
}

fn path_error(_err: PathError, _req: &HttpRequest) -> actix_web::Error {
    ApiError::NotFound("no such resource".into()).into()
}

/// Gives responses that actix produced itself (unknown route 404, wrong method 405, ...) the
/// contract's error shape; responses that already carry JSON pass through untouched.
pub fn json_error_handlers<B: 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|res: ServiceResponse<B>| {
        let is_json = res
            .response()
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
        }
        let status = res.status();
        let (code, message) = match status.as_u16() {
            404 => (ErrorCode::NotFound, "no such resource"),
            405 => (
                ErrorCode::MethodNotAllowed,
                "this method is not allowed here",
            ),
            413 => (ErrorCode::PayloadTooLarge, "the request body is too large"),
            415 => (
                ErrorCode::UnsupportedMediaType,
                "the request body must be application/json",
            ),
            400..=499 => (ErrorCode::BadRequest, "the request could not be understood"),
            _ => (ErrorCode::Internal, "something went wrong on our side"),
        };
        let (req, _) = res.into_parts();
        let mut resp = HttpResponse::build(status).json(error_body(code, message, None));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(req, resp).map_into_right_body(),
        ))
    })
}

/// The client's address for rate limiting: the peer, or the proxy's `Forwarded`/
/// `X-Forwarded-For` when the server is configured to trust its proxy.
pub(crate) fn client_key(req: &HttpRequest, state: &ApiState) -> String {
    if state.limits.trust_proxy_headers {
        if let Some(ip) = req.connection_info().realip_remote_addr() {
            return ip.to_owned();
        }
    }
    req.peer_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::missing_field;

    #[test]
    fn missing_field_names() {
        assert_eq!(
            missing_field("missing field `name` at line 1 column 2"),
            Some("name".into())
        );
        assert_eq!(missing_field("invalid type: integer"), None);
    }
}
