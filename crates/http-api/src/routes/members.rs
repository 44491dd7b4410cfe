use actix_web::{web, HttpResponse};
use huddle_domain::Member;

use crate::dto::{AddMemberRequest, ErrorBody, MemberEntry, MemberList, PageQuery, SetRoleRequest};
use crate::{blocking, pagination, ApiError, ApiJson, ApiQuery, ApiState, AuthUser};

const MEMBERS: &str = "members";

#[utoipa::path(get, path = "/api/v1/rooms/{id}/members", tag = "members", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), PageQuery),
    responses((status = 200, body = MemberList), (status = 403, description = "not a member", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    query: ApiQuery<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(
        q.limit,
        pagination::PAGE_DEFAULT,
        pagination::MEMBERS_PAGE_MAX,
    )?;
    let after = pagination::decode(MEMBERS, q.cursor.as_deref())?;
    let chat = state.chat.clone();
    let id = path.into_inner();
    let page = blocking(move || chat.list_members(user.id, id, after, limit)).await?;
    let ids: Vec<i64> = page.items.iter().map(|m| m.user.id).collect();
    let online = state.presence.online_among(&ids).await;
    Ok(HttpResponse::Ok().json(MemberList {
        items: page
            .items
            .into_iter()
            .map(|member| MemberEntry {
                online: online.contains(&member.user.id),
                member,
            })
            .collect(),
        next_cursor: page.next_after.map(|k| pagination::encode(MEMBERS, k)),
    }))
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/members", tag = "members", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")), request_body = AddMemberRequest,
    responses((status = 201, description = "added; live member.joined", body = Member), (status = 403, body = ErrorBody),
              (status = 404, description = "no such room or user", body = ErrorBody), (status = 409, description = "already a member", body = ErrorBody)))]
pub async fn add(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    body: ApiJson<AddMemberRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let member = blocking(move || {
        let target = match (b.user_id, b.username) {
            (Some(target), None) => target,
            (None, Some(name)) => chat.user_by_username(&name)?.id,
            _ => {
                return Err(ApiError::validation(
                    "user_id",
                    "give exactly one of user_id and username",
                ))
            }
        };
        chat.add_member(user.id, id, target).map_err(ApiError::from)
    })
    .await?;
    Ok(HttpResponse::Created().json(member))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("user_id" = i64, Path, description = "member to remove")),
    responses((status = 204, description = "removed; live member.left"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn kick(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, i64)>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let (id, target) = path.into_inner();
    blocking(move || chat.kick_member(user.id, id, target)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(patch, path = "/api/v1/rooms/{id}/members/{user_id}", tag = "members", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id"), ("user_id" = i64, Path, description = "member")),
    request_body = SetRoleRequest,
    responses((status = 200, body = Member), (status = 400, body = ErrorBody), (status = 403, description = "not the owner", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "the owner's role cannot change", body = ErrorBody)))]
pub async fn set_role(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<(i64, i64)>,
    body: ApiJson<SetRoleRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let (id, target) = path.into_inner();
    let role = body.into_inner().role;
    let member = blocking(move || chat.set_role(user.id, id, target, &role)).await?;
    Ok(HttpResponse::Ok().json(member))
}
