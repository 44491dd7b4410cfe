//! Message search over the caller's rooms.
use actix_web::{web, HttpResponse};
use huddle_domain::service::SearchFilter;

use crate::dto::{ErrorBody, SearchQuery, SearchResults};
use crate::{blocking, pagination, ApiError, ApiQuery, ApiState, AuthUser};

const SEARCH: &str = "search";

#[utoipa::path(get, path = "/api/v1/search/messages", tag = "messages", security(("bearer" = [])),
    params(SearchQuery),
    responses((status = 200, description = "the newest 1,000 matches in the caller's rooms, best first, with highlighted snippets", body = SearchResults),
              (status = 400, body = ErrorBody), (status = 403, description = "room_id names a public room the caller is not in", body = ErrorBody),
              (status = 404, description = "room_id names no room the caller can see", body = ErrorBody)))]
pub async fn messages(
    user: AuthUser,
    state: web::Data<ApiState>,
    query: ApiQuery<SearchQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let limit = pagination::limit(
        q.limit,
        pagination::SEARCH_PAGE_DEFAULT,
        pagination::SEARCH_PAGE_MAX,
    )?;
    let offset = pagination::decode(SEARCH, q.cursor.as_deref())?.unwrap_or(0);
    let offset = usize::try_from(offset)
        .map_err(|_| ApiError::validation("cursor", "cursor is not valid for this list"))?;
    let filter = SearchFilter {
        room_id: q.room_id,
        author_id: q.author_id,
        after: q.after,
        before: q.before,
    };
    let chat = state.chat.clone();
    let page = blocking(move || chat.search_messages(user.id, &q.q, filter, offset, limit)).await?;
    Ok(HttpResponse::Ok().json(SearchResults {
        items: page.items,
        next_cursor: page
            .next_offset
            .map(|o| pagination::encode(SEARCH, i64::try_from(o).unwrap_or(i64::MAX))),
    }))
}
