use actix_web::{web, HttpResponse};
use huddle_domain::repository::{HistoryWindow, Stored};
use huddle_domain::Message;

use crate::dto::{EditMessageRequest, ErrorBody, HistoryQuery, MessageHistory, PostMessageRequest};
use crate::{blocking, pagination, ApiError, ApiJson, ApiQuery, ApiState, AuthUser};

fn window(q: &HistoryQuery) -> Result<HistoryWindow, ApiError> {
    match (q.before_seq, q.after_seq) {
        (Some(_), Some(_)) => Err(ApiError::validation(
            "before_seq",
            "give before_seq or after_seq, not both",
        )),
        (Some(b), None) if b < 1 => Err(ApiError::validation(
            "before_seq",
            "before_seq must be at least 1",
        )),
        (None, Some(a)) if a < 0 => Err(ApiError::validation(
            "after_seq",
            "after_seq must be at least 0",
        )),
        (Some(b), None) => Ok(HistoryWindow::Before(b)),
        (None, Some(a)) => Ok(HistoryWindow::After(a)),
        (None, None) => Ok(HistoryWindow::Latest),
    }
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), HistoryQuery),
    responses((status = 200, description = "ascending by seq", body = MessageHistory), (status = 400, body = ErrorBody),
              (status = 403, description = "not a member of this public room", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn history(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    query: ApiQuery<HistoryQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let window = window(&q)?;
    let limit = pagination::limit(
        q.limit,
        pagination::PAGE_DEFAULT,
        pagination::HISTORY_PAGE_MAX,
    )?;
    let chat = state.chat.clone();
    let id = path.into_inner();
    let h = blocking(move || chat.history(user.id, id, window, limit)).await?;
    Ok(HttpResponse::Ok().json(MessageHistory {
        items: h.items,
        has_more: h.has_more,
    }))
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/messages", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")), request_body = PostMessageRequest,
    responses((status = 201, description = "stored; live message.created", body = Message),
              (status = 200, description = "a retry: the message first stored with this client_msg_id", body = Message),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 429, description = "over the user's send budget, shared with the socket", body = ErrorBody)))]
pub async fn post(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    body: ApiJson<PostMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let id = path.into_inner();
    let b = body.into_inner();
    // The key the socket uses too: one budget per user, whichever way the sends come.
    let key = format!("send:{}", user.id);
    if let Err(wait) = state.send_limiter.hit(&key).await {
        return Err(ApiError::RateLimited {
            retry_after: wait.as_secs_f64().ceil().max(1.0) as u64,
        });
    }
    // Queued to the message writer, not run on the blocking pool: nothing waits on a thread.
    let started = std::time::Instant::now();
    let stored = state
        .chat
        .send(user.id, id, &b.body, b.client_msg_id.as_deref(), b.reply_to)
        .await?;
    huddle_metrics::record_store(started.elapsed(), matches!(stored, Stored::Created(_)));
    Ok(match stored {
        Stored::Created(m) => HttpResponse::Created().json(m),
        Stored::Existing(m) => HttpResponse::Ok().json(m),
    })
}

#[utoipa::path(patch, path = "/api/v1/rooms/{id}/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("message_id" = i64, Path, description = "message id")),
    request_body = EditMessageRequest,
    responses((status = 200, description = "edited; live message.updated", body = Message), (status = 400, body = ErrorBody),
              (status = 403, description = "not the author", body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "the message is deleted", body = ErrorBody)))]
pub async fn edit(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, i64)>,
    body: ApiJson<EditMessageRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let (id, message_id) = path.into_inner();
    let text = body.into_inner().body;
    let m = blocking(move || chat.edit_message(user.id, id, message_id, &text)).await?;
    Ok(HttpResponse::Ok().json(m))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/messages/{message_id}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("message_id" = i64, Path, description = "message id")),
    responses((status = 204, description = "deleted (body blanked, seq kept); live message.deleted"),
              (status = 403, description = "not the author, an admin or the owner", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let (id, message_id) = path.into_inner();
    blocking(move || chat.delete_message(user.id, id, message_id)).await?;
    // Its files went to the trash with it: delete them now rather than at the next sweep.
    state.files.janitor.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(put, path = "/api/v1/rooms/{id}/messages/{message_id}/reactions/{emoji}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("message_id" = i64, Path, description = "message id"),
           ("emoji" = String, Path, description = "one emoji, URL-encoded")),
    responses((status = 204, description = "the caller reacts (again: no change); live reaction.added"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "the message is deleted, or has 20 different emoji already", body = ErrorBody)))]
pub async fn react(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, i64, String)>,
) -> Result<HttpResponse, ApiError> {
    reaction(user, state, path.into_inner(), true).await
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/messages/{message_id}/reactions/{emoji}", tag = "messages", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("message_id" = i64, Path, description = "message id"),
           ("emoji" = String, Path, description = "one emoji, URL-encoded")),
    responses((status = 204, description = "the caller's reaction is gone (or never was); live reaction.removed"),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody),
              (status = 409, description = "the message is deleted", body = ErrorBody)))]
pub async fn unreact(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, i64, String)>,
) -> Result<HttpResponse, ApiError> {
    reaction(user, state, path.into_inner(), false).await
}

async fn reaction(
    user: AuthUser,
    state: web::Data<ApiState>,
    (room_id, message_id, emoji): (i64, i64, String),
    on: bool,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    blocking(move || chat.react(user.id, room_id, message_id, &emoji, on)).await?;
    Ok(HttpResponse::NoContent().finish())
}
