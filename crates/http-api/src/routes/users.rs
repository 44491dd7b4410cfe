use actix_web::{web, HttpResponse};
use huddle_domain::User;

use crate::dto::{
    ChangePasswordRequest, ErrorBody, ListUsersQuery, Me, UpdateProfileRequest, UserList,
};
use crate::{blocking, pagination, ApiError, ApiJson, ApiQuery, ApiState, AuthUser};

const USERS: &str = "users";

#[utoipa::path(get, path = "/api/v1/users", tag = "users", security(("bearer" = [])),
    params(ListUsersQuery),
    responses((status = 200, description = "the directory: users whose username or display name starts with q, by id", body = UserList),
              (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list(
    _user: AuthUser,
    state: web::Data<ApiState>,
    query: ApiQuery<ListUsersQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(
        q.limit,
        pagination::PAGE_DEFAULT,
        pagination::USERS_PAGE_MAX,
    )?;
    let after = pagination::decode(USERS, q.cursor.as_deref())?;
    let chat = state.chat.clone();
    let page = blocking(move || chat.find_users(q.q, after, limit)).await?;
    Ok(HttpResponse::Ok().json(UserList {
        items: page.items,
        next_cursor: page.next_after.map(|k| pagination::encode(USERS, k)),
    }))
}

#[utoipa::path(get, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
pub async fn me(user: AuthUser, state: web::Data<ApiState>) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let me = blocking(move || me_of(&chat, user.id)).await?;
    Ok(HttpResponse::Ok().json(me))
}

fn me_of(chat: &huddle_domain::service::ChatService, id: i64) -> Result<Me, ApiError> {
    Ok(Me {
        user: chat.user(id)?,
        share_read_receipts: chat.shares_read_receipts(id)?,
    })
}

#[utoipa::path(patch, path = "/api/v1/users/me", tag = "users", security(("bearer" = [])),
    request_body = UpdateProfileRequest,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn update_me(
    user: AuthUser,
    state: web::Data<ApiState>,
    body: ApiJson<UpdateProfileRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let b = body.into_inner();
    let me = blocking(move || {
        if b.display_name.is_some() || b.bio.is_some() {
            chat.update_profile(user.id, b.display_name.as_deref(), b.bio.as_deref())?;
        }
        if let Some(share) = b.share_read_receipts {
            chat.set_shares_read_receipts(user.id, share)?;
        }
        me_of(&chat, user.id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(me))
}

#[utoipa::path(post, path = "/api/v1/users/me/password", tag = "users", security(("bearer" = [])),
    request_body = ChangePasswordRequest,
    responses((status = 204, description = "changed; every other login is ended"),
              (status = 400, body = ErrorBody), (status = 401, description = "wrong current password", body = ErrorBody)))]
pub async fn change_password(
    user: AuthUser,
    state: web::Data<ApiState>,
    body: ApiJson<ChangePasswordRequest>,
) -> Result<HttpResponse, ApiError> {
    let auth = state.auth.clone();
    let b = body.into_inner();
    blocking(move || {
        auth.change_password(
            user.id,
            &user.session_id,
            &b.current_password,
            &b.new_password,
        )
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/users/{id}", tag = "users", security(("bearer" = [])),
    params(("id" = i64, Path, description = "user id")),
    responses((status = 200, body = User), (status = 404, body = ErrorBody)))]
pub async fn get(
    _user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    let user = blocking(move || chat.user(id)).await?;
    Ok(HttpResponse::Ok().json(user))
}
