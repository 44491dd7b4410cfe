use actix_web::{web, HttpResponse};
use huddle_domain::service::RoomInput;
use huddle_domain::{Member, Room, RoomKind, Unread};

use crate::dto::{
    CreateRoomRequest, ErrorBody, ListRoomsQuery, MarkReadRequest, OpenDirectRequest, ReadMarkList,
    RoomList, RoomListItem, UpdateRoomRequest,
};
use crate::{blocking, pagination, ApiError, ApiJson, ApiQuery, ApiState, AuthUser};

const ROOMS: &str = "rooms";

#[utoipa::path(post, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    request_body = CreateRoomRequest,
    responses((status = 201, description = "created; the caller is its owner", body = Room), (status = 400, body = ErrorBody)))]
pub async fn create(
    user: AuthUser,
    state: web::Data<ApiState>,
    body: ApiJson<CreateRoomRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let b = body.into_inner();
    let input = RoomInput {
        name: Some(b.name),
        description: b.description,
        is_private: b.is_private,
    };
    let room = blocking(move || chat.create_room(user.id, input)).await?;
    Ok(HttpResponse::Created().json(room))
}

#[utoipa::path(get, path = "/api/v1/rooms", tag = "rooms", security(("bearer" = [])),
    params(ListRoomsQuery),
    responses((status = 200, description = "public rooms and the caller's private ones", body = RoomList), (status = 400, body = ErrorBody)))]
pub async fn list(
    user: AuthUser,
    state: web::Data<ApiState>,
    query: ApiQuery<ListRoomsQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(
        q.limit,
        pagination::PAGE_DEFAULT,
        pagination::ROOMS_PAGE_MAX,
    )?;
    let after = pagination::decode(ROOMS, q.cursor.as_deref())?;
    let kind = match q.kind.as_deref() {
        None => None,
        Some(k) => Some(
            RoomKind::parse(k)
                .ok_or_else(|| ApiError::validation("kind", "kind must be group or direct"))?,
        ),
    };
    let chat = state.chat.clone();
    let mine = q.mine.unwrap_or(false);
    let (page, unread) = blocking(move || {
        let page = chat.list_rooms_of_kind(user.id, q.q, mine, kind, after, limit)?;
        let ids: Vec<i64> = page.items.iter().map(|r| r.id).collect();
        let unread = if mine {
            chat.unread_of(user.id, &ids)?
        } else {
            Vec::new()
        };
        Ok::<_, huddle_domain::DomainError>((page, unread))
    })
    .await?;
    let next_cursor = page.next_after.map(|k| pagination::encode(ROOMS, k));
    let items = page
        .items
        .into_iter()
        .map(|room| {
            let state = unread.iter().find(|u| u.room_id == room.id);
            RoomListItem {
                last_read_seq: state.map(|u| u.last_read_seq),
                unread_count: state.map(|u| u.unread_count),
                mention_count: state.map(|u| u.mention_count),
                room,
            }
        })
        .collect();
    Ok(HttpResponse::Ok().json(RoomList { items, next_cursor }))
}

#[utoipa::path(put, path = "/api/v1/rooms/{id}/read", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")), request_body = MarkReadRequest,
    responses((status = 200, description = "the caller's read state after it; live read.updated to the caller's sockets (and the room's, when shared)", body = Unread),
              (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn mark_read(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    body: ApiJson<MarkReadRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let room_id = path.into_inner();
    let seq = body.into_inner().seq;
    let unread = blocking(move || chat.mark_read(user.id, room_id, seq)).await?;
    Ok(HttpResponse::Ok().json(unread))
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}/reads", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 200, description = "read receipts: how far each member who shares them has read", body = ReadMarkList),
              (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn reads(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let room_id = path.into_inner();
    let items = blocking(move || chat.read_marks(user.id, room_id)).await?;
    Ok(HttpResponse::Ok().json(ReadMarkList {
        items,
        next_cursor: None,
    }))
}

#[utoipa::path(get, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 200, body = Room), (status = 404, description = "no such room, or private and the caller is not a member", body = ErrorBody)))]
pub async fn get(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    let room = blocking(move || chat.room(user.id, id)).await?;
    Ok(HttpResponse::Ok().json(room))
}

#[utoipa::path(patch, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")), request_body = UpdateRoomRequest,
    responses((status = 200, description = "updated; live room.updated", body = Room), (status = 400, body = ErrorBody),
              (status = 403, description = "not owner or admin", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
    body: ApiJson<UpdateRoomRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    let b = body.into_inner();
    let input = RoomInput {
        name: b.name,
        description: b.description,
        is_private: b.is_private,
    };
    let room = blocking(move || chat.update_room(user.id, id, input)).await?;
    Ok(HttpResponse::Ok().json(room))
}

#[utoipa::path(delete, path = "/api/v1/rooms/{id}", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 204, description = "deleted with its messages; live room.deleted"),
              (status = 403, description = "not the owner", body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    blocking(move || chat.delete_room(user.id, id)).await?;
    state.files.janitor.notify_one();
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/join", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 200, description = "the membership (also when already a member); live member.joined", body = Member),
              (status = 404, description = "no such room, or private", body = ErrorBody)))]
pub async fn join(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    let member = blocking(move || chat.join_room(user.id, id)).await?;
    Ok(HttpResponse::Ok().json(member))
}

#[utoipa::path(post, path = "/api/v1/rooms/{id}/leave", tag = "rooms", security(("bearer" = [])),
    params(("id" = i64, Path, description = "room id")),
    responses((status = 204, description = "left; live member.left"), (status = 403, description = "not a member", body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "the owner cannot leave", body = ErrorBody)))]
pub async fn leave(
    user: AuthUser,
    state: web::Data<ApiState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let id = path.into_inner();
    blocking(move || chat.leave_room(user.id, id)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(post, path = "/api/v1/dms", tag = "rooms", security(("bearer" = [])),
    request_body = OpenDirectRequest,
    responses((status = 201, description = "a new direct conversation; each member's sockets get member.joined", body = Room),
              (status = 200, description = "the existing conversation of exactly these people", body = Room),
              (status = 400, body = ErrorBody), (status = 404, description = "no user by one of the names", body = ErrorBody)))]
pub async fn open_direct(
    user: AuthUser,
    state: web::Data<ApiState>,
    body: ApiJson<OpenDirectRequest>,
) -> Result<HttpResponse, ApiError> {
    let chat = state.chat.clone();
    let names = body.into_inner().usernames;
    let (room, created) = blocking(move || chat.open_direct(user.id, &names)).await?;
    Ok(if created {
        HttpResponse::Created().json(room)
    } else {
        HttpResponse::Ok().json(room)
    })
}
