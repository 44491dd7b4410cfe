//! The authorisation matrix: every room, member and message call, made by the room's owner,
//! an admin, a plain member and an outsider, on a public and on a private room.
//!
//! Visibility comes before permission: an outsider gets 404 for everything about a private room,
//! 403 for member-only and manager-only calls on a public one. Each attempt runs on a fresh room,
//! and a refused attempt must leave the room exactly as it was.
use huddle_test_support::{backend_tests, Backend, Session, TestApp};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

#[derive(Debug, Clone, Copy)]
enum Call {
    GetRoom,
    UpdateRoom,
    DeleteRoom,
    Join,
    Leave,
    ListMembers,
    AddMember,
    Kick,
    SetRole,
    History,
    Post,
    /// Edit the plain member's message.
    EditMembersMessage,
    /// Delete the victim's message.
    DeleteVictimsMessage,
}

/// Who calls, in the order of the expectation arrays.
const ACTORS: [&str; 4] = ["owner", "admin", "member", "outsider"];

/// Expected statuses for [owner, admin, member, outsider], on a public and on a private room.
const MATRIX: &[(Call, [u16; 4], [u16; 4])] = &[
    (Call::GetRoom, [200, 200, 200, 200], [200, 200, 200, 404]),
    (Call::UpdateRoom, [200, 200, 403, 403], [200, 200, 403, 404]),
    (Call::DeleteRoom, [204, 403, 403, 403], [204, 403, 403, 404]),
    (Call::Join, [200, 200, 200, 200], [200, 200, 200, 404]),
    (Call::Leave, [409, 204, 204, 403], [409, 204, 204, 404]),
    (
        Call::ListMembers,
        [200, 200, 200, 403],
        [200, 200, 200, 404],
    ),
    (Call::AddMember, [201, 201, 403, 403], [201, 201, 403, 404]),
    (Call::Kick, [204, 204, 403, 403], [204, 204, 403, 404]),
    (Call::SetRole, [200, 403, 403, 403], [200, 403, 403, 404]),
    (Call::History, [200, 200, 200, 403], [200, 200, 200, 404]),
    (Call::Post, [201, 201, 201, 403], [201, 201, 201, 404]),
    (
        Call::EditMembersMessage,
        [403, 403, 200, 403],
        [403, 403, 200, 404],
    ),
    (
        Call::DeleteVictimsMessage,
        [204, 204, 403, 403],
        [204, 204, 403, 404],
    ),
];

struct Users {
    owner: Session,
    admin: Session,
    member: Session,
    victim: Session,
    newcomer: Session,
    outsider: Session,
}

impl Users {
    fn actor(&self, name: &str) -> &Session {
        match name {
            "owner" => &self.owner,
            "admin" => &self.admin,
            "member" => &self.member,
            "outsider" => &self.outsider,
            other => panic!("no actor {other}"),
        }
    }
}

/// A room with an owner, an admin, a plain member and a victim (another plain member), and one
/// message each from the member and the victim.
struct Fixture {
    room_id: i64,
    members_message: i64,
    victims_message: i64,
}

async fn fixture(app: &TestApp, u: &Users, private: bool) -> Fixture {
    let room = app.create_room(&u.owner, "matrix", private).await;
    let room_id = room["id"].as_i64().unwrap();
    for s in [&u.admin, &u.member, &u.victim] {
        app.add_member(&u.owner, room_id, s.user_id).await;
    }
    app.set_role(&u.owner, room_id, u.admin.user_id, "admin")
        .await;
    let members_message = app.send(&u.member, room_id, "member's words").await["id"]
        .as_i64()
        .unwrap();
    let victims_message = app.send(&u.victim, room_id, "victim's words").await["id"]
        .as_i64()
        .unwrap();
    Fixture {
        room_id,
        members_message,
        victims_message,
    }
}

/// Everything about the room, as its owner sees it.
async fn snapshot(app: &TestApp, u: &Users, room_id: i64) -> Value {
    let token = &u.owner.access_token;
    let (s1, room) = app.get(&format!("/api/v1/rooms/{room_id}"), token).await;
    let (s2, members) = app
        .get(&format!("/api/v1/rooms/{room_id}/members?limit=100"), token)
        .await;
    let (s3, messages) = app
        .get(
            &format!("/api/v1/rooms/{room_id}/messages?limit=200"),
            token,
        )
        .await;
    assert_eq!(
        (s1, s2, s3),
        (StatusCode::OK, StatusCode::OK, StatusCode::OK)
    );
    json!({"room": room, "members": members, "messages": messages})
}

async fn perform(
    app: &TestApp,
    u: &Users,
    fx: &Fixture,
    call: Call,
    actor: &Session,
) -> (StatusCode, Value) {
    let r = fx.room_id;
    let t = Some(actor.access_token.as_str());
    let (method, path, body) = match call {
        Call::GetRoom => (Method::GET, format!("/api/v1/rooms/{r}"), None),
        Call::UpdateRoom => (
            Method::PATCH,
            format!("/api/v1/rooms/{r}"),
            Some(json!({"description": "changed"})),
        ),
        Call::DeleteRoom => (Method::DELETE, format!("/api/v1/rooms/{r}"), None),
        Call::Join => (Method::POST, format!("/api/v1/rooms/{r}/join"), None),
        Call::Leave => (Method::POST, format!("/api/v1/rooms/{r}/leave"), None),
        Call::ListMembers => (Method::GET, format!("/api/v1/rooms/{r}/members"), None),
        Call::AddMember => (
            Method::POST,
            format!("/api/v1/rooms/{r}/members"),
            Some(json!({"user_id": u.newcomer.user_id})),
        ),
        Call::Kick => (
            Method::DELETE,
            format!("/api/v1/rooms/{r}/members/{}", u.victim.user_id),
            None,
        ),
        Call::SetRole => (
            Method::PATCH,
            format!("/api/v1/rooms/{r}/members/{}", u.victim.user_id),
            Some(json!({"role": "admin"})),
        ),
        Call::History => (Method::GET, format!("/api/v1/rooms/{r}/messages"), None),
        Call::Post => (
            Method::POST,
            format!("/api/v1/rooms/{r}/messages"),
            Some(json!({"body": "hello"})),
        ),
        Call::EditMembersMessage => (
            Method::PATCH,
            format!("/api/v1/rooms/{r}/messages/{}", fx.members_message),
            Some(json!({"body": "edited"})),
        ),
        Call::DeleteVictimsMessage => (
            Method::DELETE,
            format!("/api/v1/rooms/{r}/messages/{}", fx.victims_message),
            None,
        ),
    };
    // Bodiless POSTs still send `{}` as JSON, as a client would.
    let body = body.or_else(|| (method == Method::POST).then(|| json!({})));
    app.call(method, &path, t, body).await
}

/// What a successful call must have done.
async fn check_effect(
    app: &TestApp,
    u: &Users,
    fx: &Fixture,
    call: Call,
    actor: &Session,
    before: &Value,
    answer: &Value,
) {
    let r = fx.room_id;
    if let Call::DeleteRoom = call {
        let (status, _) = app
            .get(&format!("/api/v1/rooms/{r}"), &u.owner.access_token)
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND, "the room is gone");
        return;
    }
    let after = snapshot(app, u, r).await;
    let count = |v: &Value| v["room"]["member_count"].as_i64().unwrap();
    let member_ids = |v: &Value| -> Vec<i64> {
        v["members"]["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["user"]["id"].as_i64().unwrap())
            .collect()
    };
    match call {
        Call::GetRoom | Call::ListMembers | Call::History => {
            assert_eq!(&after, before, "reads change nothing");
            match call {
                Call::GetRoom => assert_eq!(answer["id"], r),
                Call::ListMembers => assert_eq!(answer["items"].as_array().unwrap().len(), 4),
                _ => assert_eq!(answer["items"].as_array().unwrap().len(), 2),
            }
        }
        Call::UpdateRoom => {
            assert_eq!(after["room"]["description"], "changed");
            assert_eq!(answer["description"], "changed");
        }
        Call::Join => {
            assert_eq!(answer["user"]["id"], actor.user_id);
            if member_ids(before).contains(&actor.user_id) {
                // Already a member: nothing changes, the existing membership is answered.
                assert_eq!(after["members"], before["members"]);
                assert_eq!(count(&after), count(before));
                let mut existing = before["members"]["items"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|m| m["user"]["id"] == actor.user_id)
                    .unwrap()
                    .clone();
                // Lists add whether the member is connected; the member object is the same.
                existing.as_object_mut().unwrap().remove("online");
                assert_eq!(answer, &existing);
            } else {
                // An outsider of a public room becomes a plain member.
                assert_eq!(answer["role"], "member");
                assert!(member_ids(&after).contains(&actor.user_id));
                assert_eq!(count(&after), count(before) + 1);
            }
        }
        Call::Leave => {
            assert!(!member_ids(&after).contains(&actor.user_id));
            assert_eq!(count(&after), count(before) - 1);
        }
        Call::AddMember => {
            assert_eq!(answer["user"]["id"], u.newcomer.user_id);
            assert_eq!(answer["role"], "member");
            assert!(member_ids(&after).contains(&u.newcomer.user_id));
            assert_eq!(count(&after), count(before) + 1);
        }
        Call::Kick => {
            assert!(!member_ids(&after).contains(&u.victim.user_id));
            assert_eq!(count(&after), count(before) - 1);
        }
        Call::SetRole => {
            assert_eq!(answer["role"], "admin");
            assert_eq!(answer["user"]["id"], u.victim.user_id);
        }
        Call::Post => {
            assert_eq!(answer["seq"], 3);
            assert_eq!(after["room"]["last_seq"], 3);
        }
        Call::EditMembersMessage => {
            assert_eq!(answer["body"], "edited");
            assert_eq!(after["messages"]["items"][0]["body"], "edited");
        }
        Call::DeleteVictimsMessage => {
            let m = &after["messages"]["items"][1];
            assert_eq!(
                (m["deleted"].as_bool(), m["body"].as_str()),
                (Some(true), Some(""))
            );
        }
        Call::DeleteRoom => unreachable!(),
    }
}

async fn register_users(app: &TestApp) -> Users {
    Users {
        owner: app.register("owner").await,
        admin: app.register("admin").await,
        member: app.register("member").await,
        victim: app.register("victim").await,
        newcomer: app.register("newcomer").await,
        outsider: app.register("outsider").await,
    }
}

async fn every_call_by_every_role(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let u = register_users(&app).await;
    let mut failures = Vec::new();
    for &(call, public, private) in MATRIX {
        for (is_private, expected) in [(false, public), (true, private)] {
            for (i, actor_name) in ACTORS.iter().enumerate() {
                let fx = fixture(&app, &u, is_private).await;
                let before = snapshot(&app, &u, fx.room_id).await;
                let actor = u.actor(actor_name);
                let (status, answer) = perform(&app, &u, &fx, call, actor).await;
                let want = expected[i];
                let label = format!(
                    "{call:?} by {actor_name} on a {} room",
                    if is_private { "private" } else { "public" }
                );
                if status.as_u16() != want {
                    failures.push(format!("{label}: expected {want}, got {status}: {answer}"));
                    continue;
                }
                if status.is_success() {
                    check_effect(&app, &u, &fx, call, actor, &before, &answer).await;
                } else {
                    let code = match want {
                        403 => "forbidden",
                        404 => "not_found",
                        409 => "conflict",
                        _ => unreachable!(),
                    };
                    assert_eq!(answer["error"]["code"], code, "{label}: {answer}");
                    // A private room's existence is not leaked in the message either.
                    if want == 404 {
                        assert!(!answer.to_string().contains("matrix"), "{label}: {answer}");
                    }
                    let after = snapshot(&app, &u, fx.room_id).await;
                    assert_eq!(after, before, "{label}: a refused call changed the room");
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "authorisation matrix mismatches:\n{}",
        failures.join("\n")
    );
}

/// Calls on a room that does not exist answer 404 to everyone, and so do calls on a room that
/// was deleted.
async fn missing_rooms_are_not_found(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let u = register_users(&app).await;
    let fx = fixture(&app, &u, false).await;
    let gone = fixture(&app, &u, false).await;
    let (status, _) = app
        .delete(
            &format!("/api/v1/rooms/{}", gone.room_id),
            &u.owner.access_token,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    for room_id in [999_999, gone.room_id] {
        let ghost = Fixture {
            room_id,
            members_message: fx.members_message,
            victims_message: fx.victims_message,
        };
        for &(call, _, _) in MATRIX {
            for actor_name in ACTORS {
                let (status, answer) = perform(&app, &u, &ghost, call, u.actor(actor_name)).await;
                assert_eq!(
                    status,
                    StatusCode::NOT_FOUND,
                    "{call:?} by {actor_name} on room {room_id}: {answer}"
                );
                assert_eq!(answer["error"]["code"], "not_found");
            }
        }
    }
    // A message id of one room is not reachable through another room's path.
    let other = fixture(&app, &u, false).await;
    let path = format!(
        "/api/v1/rooms/{}/messages/{}",
        other.room_id, fx.members_message
    );
    let resp = app
        .patch(&path, &u.member.access_token, json!({"body": "x"}))
        .await;
    assert_eq!(resp.0, StatusCode::NOT_FOUND, "{}", resp.1);
    let resp = app.delete(&path, &u.owner.access_token).await;
    assert_eq!(resp.0, StatusCode::NOT_FOUND, "{}", resp.1);
    let (_, msgs) = app
        .get(
            &format!("/api/v1/rooms/{}/messages", fx.room_id),
            &u.owner.access_token,
        )
        .await;
    assert_eq!(msgs["items"][0]["body"], "member's words");
    assert_eq!(msgs["items"][0]["deleted"], false);
}

backend_tests!(every_call_by_every_role, missing_rooms_are_not_found);
