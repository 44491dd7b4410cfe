//! The OpenAPI 3 document, generated from the handlers' annotations so it cannot drift from
//! the code. Served at `/api/v1/openapi.json`, browsable at `/api/v1/docs/`.
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::dto::*;
use crate::routes as p;

#[derive(OpenApi)]
#[openapi(
    info(title = "Huddle API", version = "1", description = "Group chat: auth, users, rooms, members and messages. \
        Real-time events are on the WebSocket at /api/v1/ws (see the README)."),
    paths(
        p::auth::register, p::auth::login, p::auth::refresh, p::auth::logout,
        p::users::me, p::users::update_me, p::users::change_password, p::users::get,
        p::rooms::create, p::rooms::list, p::rooms::get, p::rooms::update, p::rooms::delete,
        p::rooms::join, p::rooms::leave,
        p::members::list, p::members::add, p::members::kick, p::members::set_role,
        p::messages::history, p::messages::post, p::messages::edit, p::messages::delete,
        p::health::healthz, p::health::readyz,
    ),
    components(schemas(
        huddle_domain::User, huddle_domain::Room, huddle_domain::Member, huddle_domain::Role,
        huddle_domain::Message, huddle_domain::RoomCursor,
        RegisterRequest, LoginRequest, RefreshRequest, SessionResponse, UpdateProfileRequest,
        ChangePasswordRequest, CreateRoomRequest, UpdateRoomRequest, AddMemberRequest,
        SetRoleRequest, PostMessageRequest, EditMessageRequest, RoomList, MemberList,
        MessageHistory, ErrorBody, ErrorDetail, Health,
    )),
    modifiers(&BearerAuth),
    tags((name = "auth"), (name = "users"), (name = "rooms"), (name = "members"), (name = "messages"), (name = "operations"))
)]
pub struct ApiDoc;

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
