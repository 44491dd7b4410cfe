//! The repository contract of `repository.rs` as one test suite, run against every
//! implementation: `MemoryRepository` here, SQLite and PostgreSQL in `huddle-persistence`'s
//! tests, so the in-memory repository other services test with cannot drift from the real ones.
//! Each test takes a fresh, empty repository; [`repository_conformance!`](crate::repository_conformance)
//! makes one `#[test]` of each.
//!
//! Users and rooms here, the user directory in `people`, invite links in `invites`, direct conversations in `direct`, message search in `search`, reactions in `reactions`, read state in `reads`, messages in `messages`, attachments in `files`, sessions and refresh tokens in `sessions`,
//! many threads writing at once in `concurrency`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

pub mod concurrency;
pub mod direct;
pub mod event_log;
pub mod files;
pub mod invites;
pub mod mentions;
pub mod messages;
pub mod people;
pub mod reactions;
pub mod reads;
pub mod search;
pub mod sessions;

use crate::entities::*;
use crate::error::{RepoError, SendRefusal};
use crate::repository::*;
use crate::Repository;

pub fn user(repo: &dyn Repository, name: &str) -> UserId {
    repo.create_user(NewUser {
        username: name.into(),
        display_name: name.to_uppercase(),
        password_hash: format!("hash of {name}"),
    })
    .unwrap()
    .id
}

pub fn room(repo: &dyn Repository, owner: UserId, name: &str, is_private: bool) -> RoomId {
    repo.create_room(NewRoom {
        name: name.into(),
        description: String::new(),
        is_private,
        owner_id: owner,
    })
    .unwrap()
    .id
}

pub fn send(
    repo: &dyn Repository,
    room: RoomId,
    author: UserId,
    body: &str,
    cmid: Option<&str>,
) -> RepoResult<Stored> {
    repo.store_message(NewMessage {
        room_id: room,
        author_id: author,
        body: body.into(),
        client_msg_id: cmid.map(Into::into),
        reply_to: None,
        mentions: Default::default(),
        attachments: Vec::new(),
    })
}

pub fn seqs(repo: &dyn Repository, room: RoomId) -> Vec<i64> {
    let all = repo.history(room, HistoryWindow::Latest, 1000).unwrap();
    all.iter().map(|m| m.seq).collect()
}

pub fn usernames_are_unique_case_insensitively(repo: &dyn Repository) {
    let ann = user(repo, "Ann");
    let again = repo.create_user(NewUser {
        username: "aNN".into(),
        display_name: "x".into(),
        password_hash: "h".into(),
    });
    assert_eq!(again, Err(RepoError::Conflict("username")));
    let creds = repo.credentials_by_username("ANN").unwrap().unwrap();
    assert_eq!((creds.user.id, creds.user.username.as_str()), (ann, "Ann"));
    assert_eq!(creds.password_hash, "hash of Ann");
    assert_eq!(
        repo.credentials_by_id(ann).unwrap().unwrap().user,
        creds.user
    );
    assert!(repo.credentials_by_username("bob").unwrap().is_none());
    assert!(repo.user_by_id(ann + 1).unwrap().is_none());
    let bob = user(repo, "bob");
    assert!(bob > ann, "ids count up");
}

pub fn profiles_change_only_what_the_patch_names(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let patch = ProfilePatch {
        display_name: None,
        bio: Some("hi".into()),
    };
    let u = repo.update_profile(ann, patch.clone()).unwrap();
    assert_eq!((u.display_name.as_str(), u.bio.as_str()), ("ANN", "hi"));
    assert_eq!(repo.user_by_id(ann).unwrap(), Some(u));
    assert_eq!(
        repo.update_profile(ann + 9, patch),
        Err(RepoError::NotFound)
    );
}

pub fn rooms_start_with_their_owner_and_count_members(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let r = room(repo, ann, "general", false);
    let created = repo.room_by_id(r).unwrap().unwrap();
    assert_eq!(
        (created.member_count, created.last_seq, created.owner_id),
        (1, 0, ann)
    );
    assert_eq!(repo.role_of(r, ann).unwrap(), Some(Role::Owner));
    let bad_owner = repo.create_room(NewRoom {
        name: "x".into(),
        description: String::new(),
        is_private: false,
        owner_id: 999,
    });
    assert_eq!(bad_owner, Err(RepoError::NotFound));

    let m = repo.add_member(r, bob, Role::Member).unwrap().value;
    assert_eq!((m.user.id, m.role), (bob, Role::Member));
    assert_eq!(
        repo.add_member(r, bob, Role::Admin),
        Err(RepoError::Conflict("member"))
    );
    assert_eq!(
        repo.add_member(r, 999, Role::Member),
        Err(RepoError::NotFound)
    );
    assert_eq!(
        repo.add_member(999, bob, Role::Member),
        Err(RepoError::NotFound)
    );
    assert_eq!(repo.room_by_id(r).unwrap().unwrap().member_count, 2);

    assert_eq!(
        repo.set_role(r, bob, Role::Admin).unwrap().role,
        Role::Admin
    );
    assert_eq!(repo.member(r, bob).unwrap().unwrap().role, Role::Admin);
    assert_eq!(repo.set_role(r, 999, Role::Admin), Err(RepoError::NotFound));
    // The one-look-up form agrees with the two it replaces, for members and others alike.
    let carol = user(repo, "carol");
    let room_now = repo.room_by_id(r).unwrap().unwrap();
    for (who, role) in [
        (ann, Some(Role::Owner)),
        (bob, Some(Role::Admin)),
        (carol, None),
    ] {
        assert_eq!(
            repo.room_with_role(r, who).unwrap(),
            Some((room_now.clone(), role))
        );
    }
    assert_eq!(repo.room_with_role(999, ann).unwrap(), None);

    assert!(repo.remove_member(r, bob).unwrap().is_some());
    assert!(
        repo.remove_member(r, bob).unwrap().is_none(),
        "not a member any more"
    );
    assert_eq!(repo.room_by_id(r).unwrap().unwrap().member_count, 1);
    assert!(repo.member(r, bob).unwrap().is_none());
}

pub fn members_are_listed_by_user_id_after_a_key(repo: &dyn Repository) {
    let ids: Vec<UserId> = (0..5).map(|i| user(repo, &format!("user{i}"))).collect();
    let r = room(repo, ids[2], "r", true);
    let other = room(repo, ids[0], "other", false);
    for &id in [ids[4], ids[0], ids[3]].iter() {
        repo.add_member(r, id, Role::Member).unwrap();
    }
    let page = |after, limit| -> Vec<UserId> {
        let members = repo.list_members(r, after, limit).unwrap();
        members.iter().map(|m| m.user.id).collect()
    };
    assert_eq!(page(None, 10), vec![ids[0], ids[2], ids[3], ids[4]]);
    assert_eq!(page(None, 2), vec![ids[0], ids[2]]);
    assert_eq!(page(Some(ids[2]), 2), vec![ids[3], ids[4]]);
    assert_eq!(page(Some(ids[4]), 2), Vec::<UserId>::new());
    assert_eq!(page(Some(UserId::MAX), 2), Vec::<UserId>::new());
    assert_eq!(repo.list_members(other, None, 10).unwrap().len(), 1);
}

pub fn room_listings_show_public_rooms_and_the_viewers_own(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let general = room(repo, ann, "General", false);
    let secret = room(repo, ann, "Secret plans", true);
    let bobs = room(repo, bob, "Bob's general", true);
    let random = room(repo, ann, "Random 50%", false);
    let list = |viewer, q: Option<&str>, only_joined, after_id, limit| -> Vec<RoomId> {
        let rooms = repo
            .list_rooms(RoomQuery {
                viewer,
                kind: None,
                name_contains: q.map(Into::into),
                only_joined,
                after_id,
                limit,
            })
            .unwrap();
        rooms.iter().map(|r| r.id).collect()
    };
    assert_eq!(
        list(ann, None, false, None, 10),
        vec![general, secret, random]
    );
    assert_eq!(
        list(bob, None, false, None, 10),
        vec![general, bobs, random]
    );
    assert_eq!(list(bob, None, true, None, 10), vec![bobs]);
    assert_eq!(
        list(bob, Some("GENERAL"), false, None, 10),
        vec![general, bobs]
    );
    assert_eq!(list(bob, Some("0%"), false, None, 10), vec![random]);
    assert_eq!(
        list(bob, Some("plans"), false, None, 10),
        Vec::<RoomId>::new()
    );
    assert_eq!(list(bob, None, false, None, 2), vec![general, bobs]);
    assert_eq!(list(bob, None, false, Some(bobs), 2), vec![random]);
    repo.add_member(secret, bob, Role::Member).unwrap();
    assert_eq!(list(bob, None, true, None, 10), vec![secret, bobs]);
    let cursors = repo.rooms_of_user(bob).unwrap();
    assert_eq!(
        cursors.iter().map(|c| c.room_id).collect::<Vec<_>>(),
        vec![secret, bobs]
    );
}

pub fn room_updates_patch_and_stamp(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let r = room(repo, ann, "general", false);
    let before = repo.room_by_id(r).unwrap().unwrap();
    let patch = RoomPatch {
        description: Some("about".into()),
        is_private: Some(true),
        ..RoomPatch::default()
    };
    let after = repo.update_room(r, patch.clone()).unwrap().value;
    assert_eq!(
        (after.name.as_str(), after.description.as_str()),
        ("general", "about")
    );
    assert!(after.is_private);
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.created_at, before.created_at);
    assert_eq!(repo.update_room(r + 1, patch), Err(RepoError::NotFound));
}

pub fn deleting_a_room_takes_its_members_and_messages(repo: &dyn Repository) {
    let (ann, bob) = (user(repo, "ann"), user(repo, "bob"));
    let doomed = room(repo, ann, "doomed", false);
    let kept = room(repo, ann, "kept", false);
    repo.add_member(doomed, bob, Role::Member).unwrap();
    let gone = send(repo, doomed, bob, "bye", Some("c1"))
        .unwrap()
        .into_message();
    send(repo, kept, ann, "stays", Some("c1")).unwrap();
    repo.delete_room(doomed).unwrap();
    assert!(repo.room_by_id(doomed).unwrap().is_none());
    assert!(repo.member(doomed, bob).unwrap().is_none());
    assert!(repo.message_by_id(doomed, gone.id).unwrap().is_none());
    assert!(repo
        .history(doomed, HistoryWindow::Latest, 10)
        .unwrap()
        .is_empty());
    assert!(repo.rooms_of_user(bob).unwrap().is_empty());
    assert_eq!(repo.delete_room(doomed), Err(RepoError::NotFound));
    assert_eq!(
        send(repo, doomed, bob, "bye", Some("c1")),
        Err(RepoError::Refused(SendRefusal::NoRoom))
    );
    assert_eq!(seqs(repo, kept), vec![1]);
    assert_eq!(repo.list_members(kept, None, 10).unwrap().len(), 1);
}

/// One `#[test]` per case of the suite, each run by `$run`: a function that takes the test's
/// body (`&dyn Fn(&dyn Repository)`) and calls it with a fresh repository.
#[macro_export]
macro_rules! repository_conformance {
    ($run:path) => {
        $crate::repository_conformance!(@cases $run;
            usernames_are_unique_case_insensitively => usernames_are_unique_case_insensitively,
            profiles_change_only_what_the_patch_names => profiles_change_only_what_the_patch_names,
            rooms_start_with_their_owner_and_count_members => rooms_start_with_their_owner_and_count_members,
            members_are_listed_by_user_id_after_a_key => members_are_listed_by_user_id_after_a_key,
            room_listings_show_public_rooms_and_the_viewers_own => room_listings_show_public_rooms_and_the_viewers_own,
            room_updates_patch_and_stamp => room_updates_patch_and_stamp,
            deleting_a_room_takes_its_members_and_messages => deleting_a_room_takes_its_members_and_messages,
            the_directory_matches_the_start_of_either_name_case_insensitively => people::the_directory_matches_the_start_of_either_name_case_insensitively,
            the_directory_pages_by_id => people::the_directory_pages_by_id,
            a_direct_conversation_is_found_again_and_readmits_who_left => direct::a_direct_conversation_is_found_again_and_readmits_who_left,
            concurrent_opens_make_one_conversation => direct::concurrent_opens_make_one_conversation,
            read_marks_move_forward_only => reads::read_marks_move_forward_only,
            unread_counts_skip_own_and_deleted_messages => reads::unread_counts_skip_own_and_deleted_messages,
            read_receipts_show_members_who_share => reads::read_receipts_show_members_who_share,
            reactions_are_counted_once_per_user_and_emoji => reactions::reactions_are_counted_once_per_user_and_emoji,
            a_message_takes_a_bounded_number_of_emoji => reactions::a_message_takes_a_bounded_number_of_emoji,
            concurrent_new_emoji_never_exceed_the_bound => reactions::concurrent_new_emoji_never_exceed_the_bound,
            search_finds_words_phrases_and_leaves_out_exclusions => search::search_finds_words_phrases_and_leaves_out_exclusions,
            search_matches_the_forms_of_a_word => search::search_matches_the_forms_of_a_word,
            search_sees_only_the_viewers_rooms_and_live_messages => search::search_sees_only_the_viewers_rooms_and_live_messages,
            search_narrows_by_room_author_and_time_and_pages => search::search_narrows_by_room_author_and_time_and_pages,
            search_ranks_the_newest_matches_after_the_filters => search::search_ranks_the_newest_matches_after_the_filters,
            invites_are_live_until_revoked_expired_or_used_up => invites::invites_are_live_until_revoked_expired_or_used_up,
            redeeming_as_a_member_spends_nothing => invites::redeeming_as_a_member_spends_nothing,
            deleting_a_room_takes_its_invites => invites::deleting_a_room_takes_its_invites,
            concurrent_redemptions_never_exceed_the_uses => invites::concurrent_redemptions_never_exceed_the_uses,
            seqs_are_per_room_gap_free_and_refusals_use_none => messages::seqs_are_per_room_gap_free_and_refusals_use_none,
            a_repeated_client_msg_id_answers_the_first_message => messages::a_repeated_client_msg_id_answers_the_first_message,
            history_windows_are_ascending => messages::history_windows_are_ascending,
            edits_and_deletes_keep_the_seq => messages::edits_and_deletes_keep_the_seq,
            replies_quote_a_message_of_the_same_room => messages::replies_quote_a_message_of_the_same_room,
            mentions_name_members_and_the_room_only_from_managers => mentions::mentions_name_members_and_the_room_only_from_managers,
            a_session_starts_with_its_first_token => sessions::a_session_starts_with_its_first_token,
            a_token_rotates_once => sessions::a_token_rotates_once,
            ending_sessions_reports_only_what_it_ended => sessions::ending_sessions_reports_only_what_it_ended,
            live_sessions_are_newest_first_without_ended_or_expired_ones => sessions::live_sessions_are_newest_first_without_ended_or_expired_ones,
            sessions_ended_since_a_time => sessions::sessions_ended_since_a_time,
            a_password_change_ends_every_other_session => sessions::a_password_change_ends_every_other_session,
            concurrent_sends_to_one_room_get_every_seq_once => concurrency::concurrent_sends_to_one_room_get_every_seq_once,
            concurrent_retries_of_one_send_store_it_once => concurrency::concurrent_retries_of_one_send_store_it_once,
            concurrent_joins_and_leaves_count_members_exactly => concurrency::concurrent_joins_and_leaves_count_members_exactly,
            concurrent_rotations_of_one_token_let_exactly_one_through => concurrency::concurrent_rotations_of_one_token_let_exactly_one_through,
            every_change_takes_the_rooms_next_event_seq => event_log::every_change_takes_the_rooms_next_event_seq,
            pruning_resets_readers_from_before_it => event_log::pruning_resets_readers_from_before_it,
            concurrent_changes_get_every_event_seq_once => event_log::concurrent_changes_get_every_event_seq_once,
            attachments_come_with_their_message_and_go_with_it => files::attachments_come_with_their_message_and_go_with_it,
            refused_sends_attach_nothing_and_rooms_take_their_files => files::refused_sends_attach_nothing_and_rooms_take_their_files,
        );
    };
    (@cases $run:path; $($name:ident => $($case:ident)::+,)*) => {
        $(
            #[test]
            fn $name() {
                $run(&$crate::conformance::$($case)::+);
            }
        )*
    };
}
