//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift from
//! the code. Served at `/api/v1/openapi.json`, browsable at `/api/v1/docs/`.
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::*;
use crate::openapi_rules::{ErrorResponses, InputLimits};
use crate::routes as p;

#[derive(OpenApi)]
#[openapi(
    info(title = "Huddle API", version = "1", description = "Group chat: auth, users, rooms, members and messages. \
        Real-time events are on the WebSocket at /api/v1/ws (see the README)."),
    paths(
        p::auth::register, p::auth::login, p::auth::refresh, p::auth::logout, p::sessions::logout_all,
        p::users::list, p::users::me, p::users::update_me, p::users::change_password, p::users::get,
        p::sessions::list, p::sessions::end,
        p::rooms::create, p::rooms::list, p::rooms::get, p::rooms::update, p::rooms::delete,
        p::rooms::join, p::rooms::leave, p::rooms::open_direct, p::rooms::mark_read, p::rooms::reads,
        p::members::list, p::members::add, p::members::kick, p::members::set_role,
        p::messages::history, p::messages::post, p::messages::edit, p::messages::delete,
        p::messages::react, p::messages::unreact,
        p::search::messages, p::files::upload, p::files::download, p::invites::create, p::invites::list, p::invites::revoke, p::invites::preview, p::invites::accept,
        p::health::healthz, p::health::readyz, websocket,
    ),
    components(schemas(
        huddle_domain::User, huddle_domain::Room, huddle_domain::Member, huddle_domain::Role,
        huddle_domain::Message, huddle_domain::Reaction, huddle_domain::ReplyPreview, huddle_domain::files::Attachment, p::files::UploadForm, huddle_domain::RoomCursor, huddle_domain::Invite,
        huddle_domain::InvitePreview, huddle_domain::RoomPreview, CreateInviteRequest, InviteList,
        huddle_domain::RoomKind, OpenDirectRequest, huddle_domain::search::SearchHit, SearchResults,
        RegisterRequest, LoginRequest, RefreshRequest, SessionResponse, SessionInfo, UpdateProfileRequest,
        ChangePasswordRequest, CreateRoomRequest, UpdateRoomRequest, AddMemberRequest,
        SetRoleRequest, PostMessageRequest, EditMessageRequest, RoomList, RoomListItem, UserList, Me, MarkReadRequest, ReadMarkList, huddle_domain::ReadMark, huddle_domain::Unread, MemberList, MemberEntry,
        MessageHistory, ErrorBody, ErrorDetail, Health,
    )),
    modifiers(&BearerAuth, &ErrorResponses, &InputLimits),
    tags((name = "auth"), (name = "users"), (name = "rooms"), (name = "members"), (name = "messages"), (name = "invites"), (name = "files"), (name = "realtime"), (name = "operations"))
)]
pub struct ApiDoc;

/// Documents the WebSocket endpoint, which the realtime crate serves; OpenAPI can only say how
/// to open it. The frames are described in the README.
#[utoipa::path(get, path = "/api/v1/ws", tag = "realtime",
    params(("Authorization" = Option<String>, Header, description = "`Bearer <access_token>`; browsers send a first frame `{\"type\":\"auth\",\"token\"}` instead")),
    responses(
        (status = 101, description = "switching to the WebSocket protocol: JSON text frames (`ready`, `message.created`, ...); closes with 4401 for a missing, bad or expired token or an ended session, 4429 past the per-user socket cap, 1009 for frames over 16 KiB, 1013 for a client too slow to keep up, 1001 on shutdown"),
        (status = 400, description = "not a WebSocket upgrade request", body = ErrorBody),
        (status = 503, description = "the server is shutting down", body = ErrorBody),
    ))]
#[allow(dead_code)]
fn websocket() {}

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}
