//! The permission matrix: every action of `ChatService` on a room, by every kind of actor, in a
//! public and a private room. Each cell runs on a fresh `World` and checks the answer's class,
//! the events published (exactly those of the row on success, none on refusal) and that a
//! refusal, or a success that announces nothing, changed nothing.
use super::*;

type Act = fn(&World, UserId) -> DomainResult<()>;
type Events = fn(&World, UserId) -> Vec<String>;

struct Case {
    action: &'static str,
    act: Act,
    /// Owner, admin, member, outsider.
    public: [Want; 4],
    private: [Want; 4],
    /// What a success publishes.
    events: Events,
    /// A success that changes the room without announcing it.
    silent_write: bool,
}

const O: Want = Want::Ok;
const F: Want = Want::Forbidden;
/// A room the caller may not know about.
const NF: Want = Want::NotFound("room");
const C: Want = Want::Conflict(ErrorCode::Conflict);
const NO_USER: Want = Want::NotFound("user");
const NO_MEMBER: Want = Want::NotFound("member");
const NO_MESSAGE: Want = Want::NotFound("message");
const BAD_ROLE: Want = Want::Invalid("role");
const BAD_BODY: Want = Want::Invalid("body");

fn none(_: &World, _: UserId) -> Vec<String> {
    Vec::new()
}

fn case(
    action: &'static str,
    public: [Want; 4],
    private: [Want; 4],
    act: Act,
    events: Events,
) -> Case {
    Case {
        action,
        act,
        public,
        private,
        events,
        silent_write: false,
    }
}

fn silent(action: &'static str, public: [Want; 4], private: [Want; 4], act: Act) -> Case {
    Case {
        silent_write: true,
        ..case(action, public, private, act, none)
    }
}

fn room_input(description: &str) -> RoomInput {
    RoomInput {
        description: Some(description.into()),
        ..RoomInput::default()
    }
}

fn deleted_event(w: &World, id: MessageId) -> String {
    let seq = w.repo.message_by_id(w.room, id).unwrap().unwrap().seq;
    format!("message.deleted id={id} seq={seq}")
}

/// The matrix. Rows read: action, the answer to each actor in a public room, then in a
/// private room, how it is done, and what a success publishes.
#[rustfmt::skip]
fn cases() -> Vec<Case> {
    vec![
        //                                 -------- public room ------- -------- private room --------
        //                                  owner admin member outsider  owner admin member outsider
        case("read the room",              [O,    O,    O,     O],      [O,    O,    O,     NF],
            |w, a| w.chat.room(a, w.room).map(drop), none),
        case("list the members",           [O,    O,    O,     F],      [O,    O,    O,     NF],
            |w, a| w.chat.list_members(a, w.room, None, 50).map(drop), none),
        case("read the history",           [O,    O,    O,     F],      [O,    O,    O,     NF],
            |w, a| w.chat.history(a, w.room, HistoryWindow::Latest, 50).map(drop), none),
        case("update the room",            [O,    O,    F,     F],      [O,    O,    F,     NF],
            |w, a| w.chat.update_room(a, w.room, room_input("new")).map(drop),
            |_, _| vec!["room.updated".into()]),
        case("delete the room",            [O,    F,    F,     F],      [O,    F,    F,     NF],
            |w, a| w.chat.delete_room(a, w.room),
            |_, _| vec!["room.deleted".into()]),
        case("join",                       [O,    O,    O,     O],      [O,    O,    O,     NF],
            |w, a| w.chat.join_room(a, w.room).map(drop),
            // Members are already in: nothing to announce.
            |w, a| if a == w.outsider { vec![format!("member.joined user={a} role=member")] } else { vec![] }),
        case("leave",                      [C,    O,    O,     F],      [C,    O,    O,     NF],
            |w, a| w.chat.leave_room(a, w.room),
            |_, a| vec![format!("member.left user={a}")]),
        case("add a new user",             [O,    O,    F,     F],      [O,    O,    F,     NF],
            |w, a| w.chat.add_member(a, w.room, w.stranger).map(drop),
            |w, _| vec![format!("member.joined user={} role=member", w.stranger)]),
        case("add a member again",         [C,    C,    F,     F],      [C,    C,    F,     NF],
            |w, a| w.chat.add_member(a, w.room, w.member2).map(drop), none),
        case("add an unknown user",        [NO_USER, NO_USER, F, F],    [NO_USER, NO_USER, F, NF],
            |w, a| w.chat.add_member(a, w.room, 999).map(drop), none),
        case("kick a member",              [O,    O,    F,     F],      [O,    O,    F,     NF],
            |w, a| w.chat.kick_member(a, w.room, w.member2),
            |w, _| vec![format!("member.left user={}", w.member2)]),
        case("kick another admin",         [O,    F,    F,     F],      [O,    F,    F,     NF],
            |w, a| w.chat.kick_member(a, w.room, w.admin2),
            |w, _| vec![format!("member.left user={}", w.admin2)]),
        case("kick the owner",             [F,    F,    F,     F],      [F,    F,    F,     NF],
            |w, a| w.chat.kick_member(a, w.room, w.owner), none),
        case("kick oneself",               [F,    F,    F,     F],      [F,    F,    F,     NF],
            |w, a| w.chat.kick_member(a, w.room, a), none),
        case("kick a non-member",          [NO_MEMBER, NO_MEMBER, F, F], [NO_MEMBER, NO_MEMBER, F, NF],
            |w, a| w.chat.kick_member(a, w.room, w.stranger), none),
        silent("promote a member",         [O,    F,    F,     F],      [O,    F,    F,     NF],
            |w, a| w.chat.set_role(a, w.room, w.member2, "admin").map(drop)),
        silent("demote an admin",          [O,    F,    F,     F],      [O,    F,    F,     NF],
            |w, a| w.chat.set_role(a, w.room, w.admin2, "member").map(drop)),
        case("change the owner's role",    [C,    F,    F,     F],      [C,    F,    F,     NF],
            |w, a| w.chat.set_role(a, w.room, w.owner, "member").map(drop), none),
        case("make someone owner",         [BAD_ROLE, F, F,    F],      [BAD_ROLE, F, F,    NF],
            |w, a| w.chat.set_role(a, w.room, w.member2, "owner").map(drop), none),
        case("set a non-member's role",    [NO_MEMBER, F, F,   F],      [NO_MEMBER, F, F,   NF],
            |w, a| w.chat.set_role(a, w.room, w.stranger, "admin").map(drop), none),
        case("send a message",             [O,    O,    O,     F],      [O,    O,    O,     NF],
            |w, a| w.chat.post_message(a, w.room, "hi", Some("c1")).map(drop),
            |w, a| vec![format!("message.created seq={} author={a}", w.last_seq + 1)]),
        // Input is checked before the room: a blank body is refused even where one may not send.
        case("send a blank message",       [BAD_BODY; 4],                [BAD_BODY; 4],
            |w, a| w.chat.post_message(a, w.room, " ", None).map(drop), none),
        case("edit one's message",         [O,    O,    O,     F],      [O,    O,    O,     NF],
            |w, a| w.chat.edit_message(a, w.room, w.live[&a], "edited").map(drop),
            |w, a| vec![format!("message.updated id={}", w.live[&a])]),
        case("edit one's deleted message", [C,    C,    C,     F],      [C,    C,    C,     NF],
            |w, a| w.chat.edit_message(a, w.room, w.deleted[&a], "back").map(drop), none),
        case("edit a member's message",    [F,    F,    F,     F],      [F,    F,    F,     NF],
            |w, a| w.chat.edit_message(a, w.room, w.live[&w.member2], "x").map(drop), none),
        case("edit a message elsewhere",   [NO_MESSAGE, NO_MESSAGE, NO_MESSAGE, F], [NO_MESSAGE, NO_MESSAGE, NO_MESSAGE, NF],
            |w, a| w.chat.edit_message(a, w.room, w.elsewhere_message, "x").map(drop), none),
        case("delete one's message",       [O,    O,    O,     F],      [O,    O,    O,     NF],
            |w, a| w.chat.delete_message(a, w.room, w.live[&a]),
            |w, a| vec![deleted_event(w, w.live[&a])]),
        case("delete a member's message",  [O,    O,    F,     F],      [O,    O,    F,     NF],
            |w, a| w.chat.delete_message(a, w.room, w.live[&w.member2]),
            |w, _| vec![deleted_event(w, w.live[&w.member2])]),
        case("delete the owner's message", [O,    O,    F,     F],      [O,    O,    F,     NF],
            |w, a| w.chat.delete_message(a, w.room, w.live[&w.owner]),
            |w, _| vec![deleted_event(w, w.live[&w.owner])]),
        // Already deleted: harmless, and announced no second time.
        case("delete a deleted message",   [O,    O,    F,     F],      [O,    O,    F,     NF],
            |w, a| w.chat.delete_message(a, w.room, w.deleted[&w.member2]), none),
        case("delete a message elsewhere", [NO_MESSAGE, NO_MESSAGE, NO_MESSAGE, F], [NO_MESSAGE, NO_MESSAGE, NO_MESSAGE, NF],
            |w, a| w.chat.delete_message(a, w.room, w.elsewhere_message), none),
    ]
}

/// Runs one cell; a description of what went wrong, if anything.
fn cell(case: &Case, world: &World, actor: UserId, want: Want) -> Option<String> {
    let before = world.snapshot();
    let result = (case.act)(world, actor);
    let got = Want::of(&result);
    let published = world.events.take();
    let after = world.snapshot();
    if got != want {
        return Some(format!("answered {got:?} ({result:?}), want {want:?}"));
    }
    if let Some(e) = published.iter().find(|e| e.room_id() != world.room) {
        return Some(format!("published {e:?} about another room"));
    }
    let published: Vec<String> = published.iter().map(brief).collect();
    let expected = if got == Want::Ok {
        (case.events)(world, actor)
    } else {
        Vec::new()
    };
    if published != expected {
        return Some(format!("published {published:?}, want {expected:?}"));
    }
    let should_change = got == Want::Ok && (case.silent_write || !expected.is_empty());
    if should_change == (before == after) {
        let what = if should_change {
            "changed nothing"
        } else {
            "changed the room"
        };
        return Some(what.to_owned());
    }
    None
}

#[test]
fn the_permission_matrix() {
    let mut failures = Vec::new();
    let mut cells = 0;
    for case in cases() {
        for private in [false, true] {
            let wants = if private { case.private } else { case.public };
            for (actor, want) in Actor::ALL.into_iter().zip(wants) {
                let world = World::new(private);
                let kind = if private { "private" } else { "public" };
                if let Some(failure) = cell(&case, &world, world.id(actor), want) {
                    failures.push(format!(
                        "{} by {actor:?} in a {kind} room: {failure}",
                        case.action
                    ));
                }
                cells += 1;
            }
        }
    }
    assert_eq!(cells, 31 * 8);
    assert!(
        failures.is_empty(),
        "{} cells failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A room that does not exist is `NotFound` for everyone, whatever the action (input is still
/// checked first), and nothing is published.
#[test]
fn every_action_on_a_missing_room_is_not_found() {
    let mut failures = Vec::new();
    for case in cases() {
        let validation_first = case.public.iter().all(|w| matches!(w, Want::Invalid(_)));
        for actor in Actor::ALL {
            let mut world = World::new(false);
            world.repo.delete_room(world.room).unwrap();
            world.room = 999;
            let want = if validation_first { case.public[0] } else { NF };
            let missing = Case {
                silent_write: false,
                events: none,
                ..case
            };
            if let Some(failure) = cell(&missing, &world, world.id(actor), want) {
                failures.push(format!("{} by {actor:?}: {failure}", case.action));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// What a successful cell did, beyond its event: the target's role or membership.
#[test]
fn successful_member_changes_take_effect() {
    let w = World::new(true);
    w.chat
        .set_role(w.owner, w.room, w.member2, "admin")
        .unwrap();
    assert_eq!(w.role(w.member2), Some(Role::Admin));
    w.chat
        .set_role(w.owner, w.room, w.admin2, "member")
        .unwrap();
    assert_eq!(w.role(w.admin2), Some(Role::Member));
    // The new admin manages; the demoted one no longer does.
    w.chat.kick_member(w.member2, w.room, w.member).unwrap();
    assert_eq!(w.role(w.member), None);
    let refused = w.chat.add_member(w.admin2, w.room, w.stranger);
    assert_eq!(Want::of(&refused), F);
    w.chat.add_member(w.admin, w.room, w.stranger).unwrap();
    assert_eq!(w.role(w.stranger), Some(Role::Member));
    // A kicked member of a private room no longer sees it.
    assert_eq!(Want::of(&w.chat.room(w.member, w.room)), NF);
}
