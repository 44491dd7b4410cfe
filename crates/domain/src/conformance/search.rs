//! Message search: what matches, whose messages can be found, and that the index follows edits
//! and deletes. Ranking differs between backends; only "every match, nothing else" and the
//! highlights are the contract. Every backend matches a word's common English forms alike
//! (PostgreSQL's Snowball stemmer, SQLite's porter tokenizer, the in-memory repository
//! stemming as PostgreSQL does); only PostgreSQL drops stop words, so the words here are none.
use chrono::{TimeDelta, Utc};

use super::*;
use crate::search::{MessageSearch, SearchText};

fn query(viewer: UserId, q: &str) -> MessageSearch {
    MessageSearch {
        viewer,
        text: SearchText::parse(q).unwrap(),
        room_id: None,
        author_id: None,
        after: None,
        before: None,
        window: 1000,
        offset: 0,
        limit: 50,
    }
}

fn bodies(repo: &dyn Repository, search: MessageSearch) -> Vec<String> {
    let mut found: Vec<String> = repo
        .search_messages(search)
        .unwrap()
        .into_iter()
        .map(|h| h.message.body)
        .collect();
    found.sort();
    found
}

fn stored(repo: &dyn Repository, room: RoomId, author: UserId, body: &str) -> Message {
    send(repo, room, author, body, None).unwrap().into_message()
}

pub fn search_finds_words_phrases_and_leaves_out_exclusions(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let room = room(repo, ann, "r", false);
    for body in [
        "zebra crossing at noon",
        "the crossing zebra",
        "zebra quokka falcon",
        "quokka alone",
    ] {
        stored(repo, room, ann, body);
    }
    assert_eq!(
        bodies(repo, query(ann, "zebra")),
        [
            "the crossing zebra",
            "zebra crossing at noon",
            "zebra quokka falcon"
        ]
    );
    assert_eq!(
        bodies(repo, query(ann, "ZEBRA quokka")),
        ["zebra quokka falcon"]
    );
    assert_eq!(
        bodies(repo, query(ann, "\"zebra crossing\"")),
        ["zebra crossing at noon"]
    );
    assert_eq!(
        bodies(repo, query(ann, "zebra -quokka")),
        ["the crossing zebra", "zebra crossing at noon"]
    );
    assert!(bodies(repo, query(ann, "walrus")).is_empty());
    // Highlights mark the query's words in the snippet.
    let hits = repo.search_messages(query(ann, "falcon")).unwrap();
    assert_eq!(hits.len(), 1);
    let chars: Vec<char> = hits[0].snippet.chars().collect();
    let marked: Vec<String> = hits[0]
        .highlights
        .iter()
        .map(|[a, b]| chars[*a..*b].iter().collect::<String>().to_lowercase())
        .collect();
    assert_eq!(marked, ["falcon"]);
    assert!(hits[0].snippet.contains("quokka"));
}

pub fn search_matches_the_forms_of_a_word(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let room = room(repo, ann, "r", false);
    for body in [
        "Deployed",
        "deploying the gateway",
        "she deploys gateways daily",
        "redeploy tomorrow",
    ] {
        stored(repo, room, ann, body);
    }
    let all = [
        "Deployed",
        "deploying the gateway",
        "she deploys gateways daily",
    ];
    assert_eq!(bodies(repo, query(ann, "deployed")), all);
    assert_eq!(bodies(repo, query(ann, "DEPLOYS")), all);
    // A phrase's words must follow each other, whatever their endings.
    assert_eq!(
        bodies(repo, query(ann, "\"deployed gateway\"")),
        ["she deploys gateways daily"]
    );
    assert_eq!(bodies(repo, query(ann, "deploy -gateway")), ["Deployed"]);
    // The form the message used is what is highlighted.
    let hits = repo
        .search_messages(query(ann, "gateway deploying"))
        .unwrap();
    let mut marked: Vec<String> = hits
        .iter()
        .flat_map(|h| {
            let chars: Vec<char> = h.snippet.chars().collect();
            h.highlights
                .iter()
                .map(|[a, b]| chars[*a..*b].iter().collect::<String>())
                .collect::<Vec<_>>()
        })
        .collect();
    marked.sort();
    assert_eq!(marked, ["deploying", "deploys", "gateway", "gateways"]);
}

pub fn search_sees_only_the_viewers_rooms_and_live_messages(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let shared = room(repo, ann, "shared", false);
    let secret = room(repo, bob, "secret", true);
    let public = room(repo, bob, "public", false);
    repo.add_member(shared, bob, Role::Member).unwrap();
    let m1 = stored(repo, shared, ann, "ocelot one");
    stored(repo, secret, bob, "ocelot two");
    stored(repo, public, bob, "ocelot three");
    // A public room one has not joined is not searched either.
    assert_eq!(bodies(repo, query(ann, "ocelot")), ["ocelot one"]);
    assert_eq!(bodies(repo, query(bob, "ocelot")).len(), 3);
    // Edits re-index; deletes un-index.
    repo.edit_message(shared, m1.id, "lynx one").unwrap();
    assert!(bodies(repo, query(ann, "ocelot")).is_empty());
    assert_eq!(bodies(repo, query(ann, "lynx")), ["lynx one"]);
    repo.delete_message(shared, m1.id).unwrap();
    assert!(bodies(repo, query(ann, "lynx")).is_empty());
    // Leaving a room, or its deletion, takes its messages out of one's results.
    repo.remove_member(shared, bob).unwrap();
    stored(repo, shared, ann, "ocelot four");
    assert_eq!(bodies(repo, query(bob, "ocelot")).len(), 2);
    repo.delete_room(public).unwrap();
    assert_eq!(bodies(repo, query(bob, "ocelot")), ["ocelot two"]);
}

pub fn search_narrows_by_room_author_and_time_and_pages(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let one = room(repo, ann, "one", false);
    let two = room(repo, ann, "two", false);
    repo.add_member(one, bob, Role::Member).unwrap();
    let first = stored(repo, one, ann, "heron first");
    stored(repo, one, bob, "heron second");
    stored(repo, two, ann, "heron third");
    let with = |f: &dyn Fn(&mut MessageSearch)| {
        let mut q = query(ann, "heron");
        f(&mut q);
        bodies(repo, q)
    };
    assert_eq!(
        with(&|q| q.room_id = Some(one)),
        ["heron first", "heron second"]
    );
    assert_eq!(with(&|q| q.author_id = Some(bob)), ["heron second"]);
    assert_eq!(
        with(&|q| q.after = Some(first.created_at)),
        ["heron second", "heron third"]
    );
    assert_eq!(
        with(&|q| q.before = Some(first.created_at + TimeDelta::microseconds(1))),
        ["heron first"]
    );
    assert!(with(&|q| q.after = Some(Utc::now() + TimeDelta::seconds(60))).is_empty());
    // Pages: every match exactly once.
    let mut seen = Vec::new();
    for offset in 0..4 {
        let mut q = query(ann, "heron");
        (q.offset, q.limit) = (offset, 1);
        seen.extend(
            repo.search_messages(q)
                .unwrap()
                .into_iter()
                .map(|h| h.message.id),
        );
    }
    seen.sort_unstable();
    seen.dedup();
    assert_eq!(seen.len(), 3);
}

pub fn search_ranks_the_newest_matches_after_the_filters(repo: &dyn Repository) {
    let ann = user(repo, "ann");
    let bob = user(repo, "bob");
    let one = room(repo, ann, "one", false);
    repo.add_member(one, bob, Role::Member).unwrap();
    // The oldest match says the word most often: it would rank first if it were in the window.
    stored(repo, one, bob, "egret egret egret oldest");
    stored(repo, one, bob, "egret older");
    for n in 1..=3 {
        stored(repo, one, ann, &format!("egret newer {n}"));
    }
    let with = |f: &dyn Fn(&mut MessageSearch)| {
        let mut q = query(ann, "egret");
        q.window = 3;
        f(&mut q);
        bodies(repo, q)
    };
    assert_eq!(
        with(&|_| {}),
        ["egret newer 1", "egret newer 2", "egret newer 3"]
    );
    // Pages stop at the window.
    assert_eq!(with(&|q| q.offset = 2).len(), 1);
    assert!(with(&|q| q.offset = 3).is_empty());
    // A filter moves the window: the older matches are found by narrowing.
    assert_eq!(
        with(&|q| q.author_id = Some(bob)),
        ["egret egret egret oldest", "egret older"]
    );
    // Within the window, ranked: the most matches first.
    let mut q = query(ann, "egret");
    q.window = 5;
    let hits = repo.search_messages(q).unwrap();
    assert_eq!(hits[0].message.body, "egret egret egret oldest");
}
