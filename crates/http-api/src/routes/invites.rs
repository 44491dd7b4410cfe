//! Invite links: made, listed and revoked by a room's owner and admins; previewed and accepted
//! by anyone signed in who holds the code.
use actix_web::{web, HttpResponse};
use huddle_domain::service::InviteInput;
use huddle_domain::{Invite, InvitePreview, Member};

use crate::dto::{CreateInviteRequest, ErrorBody, InviteList};
use crate::{blocking, ApiError, ApiJson, ApiState, AuthUser};

#[utoipa::path(post, path = "/api/v1/rooms/{id}/invites", tag = "invites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")), request_body = CreateInviteRequest,
    responses((status = 201, description = "created; share `/invite/{code}`", body = Invite),
              (status = 400, body = ErrorBody), (status = 403, description = "not an owner or admin", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "the room has the most live invites it may", body = ErrorBody)))]
pub async fn create(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    body: ApiJson<CreateInviteRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let room_id = path.into_inner();
    let b = body.into_inner();
    let input = InviteInput {
        expires_in_s: b.expires_in_s,
        max_uses: b.max_uses,
    };
    let code = huddle_auth::new_invite_code();
    let invite = blocking(move || chat.create_invite(user.id, room_id, input, code)).await?;
    Ok(HttpResponse::Created().json(invite))
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/invites", tag = "invites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 200, description = "the room's live invites, newest first", body = InviteList),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let room_id = path.into_inner();
    let items = blocking(move || chat.list_invites(user.id, room_id)).await?;
    Ok(HttpResponse::Ok().json(InviteList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/invites/{code}", tag = "invites", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("code" = String, Path, description = "the invite's code")),
    responses((status = 204, description = "revoked: the code now answers 404"),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let (room_id, code) = path.into_inner();
    blocking(move || chat.revoke_invite(user.id, room_id, &code)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/invites/{code}", tag = "invites", security(("bearer" = [])),
    params(("code" = String, Path, description = "the invite's code")),
    responses((status = 200, description = "the room it opens", body = InvitePreview),
              (status = 404, description = "unknown or revoked", body = ErrorBody),
              (status = 410, description = "invite_expired: expired or used up", body = ErrorBody)))]
pub async fn preview(
    _user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let code = path.into_inner();
    let preview = blocking(move || chat.preview_invite(&code)).await?;
    Ok(HttpResponse::Ok().json(preview))
}

#[utoipa::path(post, path = "/api/v1/invites/{code}/accept", tag = "invites", security(("bearer" = [])),
    params(("code" = String, Path, description = "the invite's code")),
    responses((status = 200, description = "the caller's membership (live member.joined when new)", body = Member),
              (status = 404, description = "unknown or revoked", body = ErrorBody),
              (status = 410, description = "invite_expired: expired or used up", body = ErrorBody)))]
pub async fn accept(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let code = path.into_inner();
    let member = blocking(move || chat.accept_invite(user.id, &code)).await?;
    Ok(HttpResponse::Ok().json(member))
}
