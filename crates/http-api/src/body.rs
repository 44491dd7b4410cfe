//! Request bodies and query strings that name the field at fault.
//!
//! actix's `Json` and `Query` report a wrongly typed field as "invalid type: integer `42`,
//! expected a string" with no field name, but the contract puts the offending field in `field`.
//! These extractors deserialise through `serde_path_to_error`, which tracks where it was.
//! The body is first read as a `serde_json::Value` with actix's `Json` (size limit, content type,
//! syntax), so malformed JSON is told apart from well-formed JSON of the wrong shape.
use std::future::{ready, Future, Ready};
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::{web, FromRequest, HttpRequest};
use huddle_domain::ErrorCode;
use percent_encoding::percent_decode_str;
use serde::de::DeserializeOwned;

use crate::ApiError;

/// A JSON request body of type `T`.
#[derive(Debug)]
pub struct ApiJson<T>(pub T);

impl<T> ApiJson<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = actix_web::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Self::Error>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let value = web::Json::<serde_json::Value>::from_request(req, payload);
        Box::pin(async move {
            let web::Json(value) = value.await?;
            from_value(value).map(ApiJson).map_err(Into::into)
        })
    }
}

fn from_value<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    serde_path_to_error::deserialize(value).map_err(|e| invalid("body", &e))
}

/// The query string of type `T`.
#[derive(Debug)]
pub struct ApiQuery<T>(pub T);

impl<T> ApiQuery<T> {
    pub fn into_inner(self) -> T {
        self.0
    }
}

impl<T: DeserializeOwned> FromRequest for ApiQuery<T> {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(from_query(req.query_string()).map(ApiQuery))
    }
}

fn from_query<T: DeserializeOwned>(query: &str) -> Result<T, ApiError> {
    utf8_query(query)?;
    let de = serde_urlencoded::Deserializer::new(form_urlencoded::parse(query.as_bytes()));
    serde_path_to_error::deserialize(de).map_err(|e| invalid("query", &e))
}

/// Refuses percent-escapes that are not UTF-8, which the form decoder would silently turn into
/// replacement characters.
fn utf8_query(query: &str) -> Result<(), ApiError> {
    for pair in query.split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let key_text = percent_decode_str(key).decode_utf8();
        if key_text.is_err() || percent_decode_str(value).decode_utf8().is_err() {
            let field = key_text.ok().map(|k| k.into_owned());
            return Err(ApiError::BadRequest {
                code: ErrorCode::ValidationFailed,
                message: format!(
                    "query parameter {} is not valid UTF-8",
                    field.as_deref().unwrap_or("name")
                ),
                field,
            });
        }
    }
    Ok(())
}

/// A `validation_failed` naming the field where deserialisation stopped; at the top level (a
/// missing field, or a body that is not an object) the field comes from serde's message.
fn invalid<E: std::fmt::Display>(what: &str, e: &serde_path_to_error::Error<E>) -> ApiError {
    let inner = e.inner().to_string();
    let field = if e.path().iter().next().is_some() {
        Some(e.path().to_string())
    } else {
        crate::routes::missing_field(&inner)
    };
    let message = match &field {
        Some(f) if !inner.starts_with("missing field") => format!("{f}: {inner}"),
        _ => format!("invalid {what}: {inner}"),
    };
    ApiError::BadRequest {
        code: ErrorCode::ValidationFailed,
        message,
        field,
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::json;

    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Body {
        name: String,
        count: Option<i64>,
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Query {
        limit: Option<i64>,
        mine: Option<bool>,
    }

    fn field_of(e: ApiError) -> Option<String> {
        match e {
            ApiError::BadRequest { code, field, .. } => {
                assert_eq!(code, "validation_failed");
                field
            }
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn json_errors_name_the_field() {
        assert!(from_value::<Body>(json!({"name": "x", "count": 2})).is_ok());
        let field = |v| field_of(from_value::<Body>(v).unwrap_err());
        assert_eq!(field(json!({"name": 5})), Some("name".into()));
        assert_eq!(
            field(json!({"name": "x", "count": "2"})),
            Some("count".into())
        );
        assert_eq!(field(json!({"count": 2})), Some("name".into()));
        assert_eq!(field(json!([])), None);
        assert_eq!(field(json!(null)), None);
    }

    #[test]
    fn query_errors_name_the_parameter() {
        let q: Query = from_query("limit=5&mine=true&other=x").unwrap();
        assert_eq!((q.limit, q.mine), (Some(5), Some(true)));
        assert!(from_query::<Query>("").is_ok());
        assert_eq!(
            field_of(from_query::<Query>("limit=ten").unwrap_err()),
            Some("limit".into())
        );
        assert_eq!(
            field_of(from_query::<Query>("limit=1&mine=maybe").unwrap_err()),
            Some("mine".into())
        );
    }
}
