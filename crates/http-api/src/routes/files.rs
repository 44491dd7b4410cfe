//! Files: an upload becomes a message, and a stored file is served to its room's members or to
//! whoever holds a valid signed link.
//!
//! The upload is a stream from the first byte: the caller's membership is checked before any of
//! it is read, a `Content-Length` over the limit is refused before any of it is read, and the
//! file itself goes to the object store in parts (see `huddle_files::FileStore::receive`).
use actix_multipart::{Field, Multipart};
use actix_web::http::header::{
    self, CacheControl, CacheDirective, ContentDisposition, DispositionParam, DispositionType,
    ExtendedValue, HeaderValue,
};
use actix_web::{web, HttpRequest, HttpResponse};
use futures_util::StreamExt;
use huddle_domain::files::{file_name, is_inline_image, StoredFile};
use huddle_domain::repository::{NewAttachment, Stored};
use huddle_domain::{validation, ErrorCode};
use huddle_files::{sniff, FileError, LinkCheck};
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::dto::ErrorBody;
use crate::extract::authenticate;
use crate::{blocking, ApiError, ApiQuery, ApiState, AuthUser};

/// Room for the multipart framing and the small fields around the file.
const FORM_OVERHEAD: u64 = 64 * 1024;
/// A text field's largest size in bytes (a caption of 4000 characters fits).
const TEXT_FIELD_MAX: usize = 16 * 1024;

/// The upload form.
#[derive(ToSchema)]
#[allow(dead_code)]
pub struct UploadForm {
    /// The file. Its type is found from its bytes; a claimed image, audio, video or PDF type
    /// (by the part's `Content-Type` or the name's extension) must match them.
    #[schema(value_type = String, format = Binary)]
    file: Vec<u8>,
    /// The message's body, 0-4000 characters.
    caption: Option<String>,
    /// Makes a retried upload idempotent, as for other sends.
    client_msg_id: Option<String>,
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/files", tag = "files", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, description = "stored as a message with `attachments`; live message.created", body = huddle_domain::Message),
              (status = 200, description = "a retry: the message first stored with this client_msg_id", body = huddle_domain::Message),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 413, description = "over the size limit (25 MiB by default)", body = ErrorBody),
              (status = 415, description = "not multipart, or the file is not what it claims to be", body = ErrorBody),
              (status = 429, body = ErrorBody)))]
pub async fn upload(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let room_id = path.into_inner();
    let max = state.files.max_bytes;
    if let Some(length) = content_length(&req) {
        if length > max + FORM_OVERHEAD {
            return Err(FileError::TooLarge { max }.into());
        }
    }
    let key = format!("send:{}", user.id);
    if let Err(wait) = state.send_limiter.hit(&key).await {
        return Err(ApiError::RateLimited {
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    let chat = state.chat.clone();
    blocking(move || chat.may_send(user.id, room_id)).await?;

    let mut form = Multipart::new(req.headers(), payload);
    let mut caption = String::new();
    let mut client_msg_id: Option<String> = None;
    let mut file: Option<NewAttachment> = None;
    let outcome = async {
        while let Some(field) = form.next().await {
            let field = field.map_err(multipart_error)?;
            match field.name().unwrap_or_default() {
                "caption" => caption = text(field, "caption").await?,
                "client_msg_id" => client_msg_id = Some(text(field, "client_msg_id").await?),
                "file" if file.is_some() => {
                    return Err(ApiError::validation("file", "send one file per upload"))
                }
                "file" => file = Some(receive(&state, field).await?),
                other => {
                    return Err(ApiError::validation(
                        "form",
                        format!(
                            "unknown form field {other:?}; expected file, caption, client_msg_id"
                        ),
                    ))
                }
            }
        }
        Ok(())
    }
    .await;
    let Some(file) = file else {
        outcome?;
        return Err(ApiError::validation("file", "the form has no file field"));
    };
    if let Err(e) = outcome {
        discard(&state, &file.id).await;
        return Err(e);
    }
    let id = file.id.clone();
    let sent = state
        .chat
        .send_files(
            user.id,
            room_id,
            &caption,
            client_msg_id.as_deref(),
            vec![file],
        )
        .await;
    match sent {
        Ok(Stored::Created(m)) => Ok(HttpResponse::Created().json(m)),
        Ok(Stored::Existing(m)) => {
            // A retry: the first upload is the message's; this copy is not needed.
            discard(&state, &id).await;
            Ok(HttpResponse::Ok().json(m))
        }
        Err(e) => {
            discard(&state, &id).await;
            Err(e.into())
        }
    }
}

fn content_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

fn multipart_error(e: actix_multipart::MultipartError) -> ApiError {
    use actix_multipart::MultipartError as M;
    match e {
        M::ContentTypeMissing | M::ContentTypeParse | M::ContentTypeIncompatible => {
            ApiError::UnsupportedMediaType("the body must be multipart/form-data".into())
        }
        e => ApiError::BadRequest {
            code: ErrorCode::BadRequest,
            message: format!("the multipart body is malformed: {e}"),
            field: None,
        },
    }
}

/// A small text field, whole.
async fn text(mut field: Field, name: &'static str) -> Result<String, ApiError> {
    let mut bytes = Vec::new();
    while let Some(chunk) = field.next().await {
        let chunk = chunk.map_err(multipart_error)?;
        if bytes.len() + chunk.len() > TEXT_FIELD_MAX {
            return Err(ApiError::validation(name, format!("{name} is too long")));
        }
        bytes.extend_from_slice(&chunk);
    }
    let s = String::from_utf8(bytes)
        .map_err(|_| ApiError::validation(name, format!("{name} must be UTF-8 text")))?;
    if name == "client_msg_id" {
        return Ok(validation::client_msg_id(&s)?);
    }
    Ok(s)
}

/// Streams the file part to the store under a new id.
async fn receive(state: &ApiState, field: Field) -> Result<NewAttachment, ApiError> {
    let raw_name = field
        .content_disposition()
        .and_then(|cd| cd.get_filename())
        .unwrap_or_default()
        .to_owned();
    let name = file_name(&raw_name)?;
    // The raw header: a type the multipart parser could not read is refused, not ignored.
    let claimed = match field.headers().get(header::CONTENT_TYPE) {
        None => None,
        Some(v) => Some(v.to_str().map(str::to_owned).map_err(|_| {
            ApiError::from(FileError::Mismatch {
                declared: "a Content-Type that is not text".into(),
                found: "not a media type".into(),
            })
        })?),
    };
    let declared = sniff::declared(claimed.as_deref(), &name)?;
    let id = uuid::Uuid::new_v4().to_string();
    let got = state
        .files
        .store
        .receive(&id, field, state.files.max_bytes, declared.as_deref())
        .await?;
    Ok(NewAttachment {
        id,
        name,
        content_type: got.sniffed.content_type,
        size: i64::try_from(got.size).unwrap_or(i64::MAX),
        width: got.sniffed.width,
        height: got.sniffed.height,
    })
}

/// Deletes an object no message holds (a failed or repeated upload).
async fn discard(state: &ApiState, id: &str) {
    if let Err(e) = state.files.store.delete(id).await {
        tracing::warn!(error = %e, file = id, "an unused upload was not deleted");
    }
}

/// A signed link's parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LinkQuery {
    /// Expiry, in seconds since the epoch.
    exp: Option<u64>,
    /// The link's signature.
    sig: Option<String>,
}

#[utoipa::path(get, path = "/api/v1/files/{id}", tag = "files", security((), ("bearer" = [])),
    params(("id" = String, Path, description = "file id"), LinkQuery),
    responses((status = 200, description = "the file; images inline, everything else as a download",
               content_type = "application/octet-stream", body = Vec<u8>),
              (status = 304, description = "not modified (If-None-Match)"),
              (status = 400, body = ErrorBody), (status = 401, description = "no link and no token", body = ErrorBody),
              (status = 403, description = "a forged or expired link", body = ErrorBody),
              (status = 404, description = "no such file, or not in the caller's rooms", body = ErrorBody)))]
pub async fn download(
    req: HttpRequest,
    state: web::Data<ApiState>,
    path: web::Path<String>,
    query: ApiQuery<LinkQuery>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let q = query.into_inner();
    let (viewer, max_age) = match (q.exp, q.sig) {
        (Some(exp), Some(sig)) => match state.files.links.check(&id, exp, &sig) {
            LinkCheck::Valid { seconds_left } => (None, Some(seconds_left)),
            LinkCheck::Expired => {
                return Err(huddle_domain::DomainError::forbidden(
                    "this link has expired; read the message again for a fresh one",
                )
                .into())
            }
            LinkCheck::Forged => {
                return Err(huddle_domain::DomainError::forbidden("this link is not valid").into())
            }
        },
        (None, None) => (Some(authenticate(&req)?.id), None),
        _ => {
            return Err(ApiError::validation(
                "sig",
                "give both exp and sig, or neither",
            ))
        }
    };
    let chat = state.chat.clone();
    let file_id = id.clone();
    let file = blocking(move || chat.file(viewer, &file_id)).await?;
    let etag = format!("\"{id}\"");
    let unchanged = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .is_some_and(|v| v.as_bytes() == etag.as_bytes());
    let mut resp = if unchanged {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    resp.insert_header((header::ETAG, etag))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; sandbox",
        ))
        .insert_header(("cross-origin-resource-policy", "same-origin"))
        .insert_header(CacheControl(match max_age {
            // The bytes of an id never change: cache for as long as the link is valid.
            Some(age) => vec![
                CacheDirective::Private,
                CacheDirective::MaxAge(u32::try_from(age).unwrap_or(u32::MAX)),
                CacheDirective::Extension("immutable".into(), None),
            ],
            None => vec![CacheDirective::Private, CacheDirective::NoCache],
        }));
    if unchanged {
        return Ok(resp.finish());
    }
    let stored = state.files.store.read(&id).await?;
    resp.insert_header((header::CONTENT_TYPE, content_type(&file)))
        .insert_header(disposition(&file))
        .no_chunking(stored.size);
    Ok(resp.streaming(stored.body))
}

fn content_type(file: &StoredFile) -> HeaderValue {
    let ct = &file.attachment.content_type;
    let value = if ct == "text/plain" {
        "text/plain; charset=utf-8".to_owned()
    } else {
        ct.clone()
    };
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream"))
}

/// `inline` for images a browser may show, `attachment` for everything else; the name as
/// given (UTF-8) with an ASCII fallback for old clients.
fn disposition(file: &StoredFile) -> ContentDisposition {
    let name = &file.attachment.name;
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .filter(|c| *c != '"' && *c != '\\')
        .collect();
    ContentDisposition {
        disposition: if is_inline_image(&file.attachment.content_type) {
            DispositionType::Inline
        } else {
            DispositionType::Attachment
        },
        parameters: vec![
            DispositionParam::Filename(ascii),
            DispositionParam::FilenameExt(ExtendedValue {
                charset: header::Charset::Ext("UTF-8".into()),
                language_tag: None,
                value: name.as_bytes().to_vec(),
            }),
        ],
    }
}
