//! Huddle makes PostgreSQL's search vectors and queries itself (`huddle_domain::lexemes`)
//! rather than have PostgreSQL run `to_tsvector` for every stored message. For text of words,
//! numbers and punctuation between them, its vector is the one `to_tsvector('english', …)`
//! makes, character for character, so messages stored before the change are found as before;
//! PostgreSQL reads every vector and query as written; and what a search finds through the
//! repository follows the stems, stop words, phrases and exclusions the contract promises.
//!
//! Where the two part by design (a hyphenated word, which PostgreSQL also indexes whole; a
//! decimal, an address or a URL, which its parser reads as one token), Huddle's vectors and
//! queries still agree with each other, which is what finding needs.
mod common;

use common::{repo, room, send, submit_all, user};
use diesel::sql_types::{Bool, Text};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl};
use huddle_domain::lexemes::tsvector;
use huddle_domain::repository::{MessageRepository, Stored};
use huddle_domain::search::{MessageSearch, SearchText};
use huddle_persistence::DatabaseConfig;
use huddle_test_support::{Backend, TestDb};

/// Sentences of a chat, with the suffixes Snowball's English stemmer handles, stop words,
/// numbers, apostrophes, capitals, repeats and letters beyond ASCII.
const TEXTS: &[&str] = &[
    "We deployed the servers yesterday; deploying again tomorrow.",
    "Running runs ran: the runner's running shoes",
    "Happiness, generalization, connection, connected, connecting, connections",
    "relational conditional rational valency hesitancy digitizer conformably radically",
    "differently vilely analogously predication operator feudalism decisiveness",
    "hopefulness callousness formality sensitivity sensibility triplicate formative",
    "formalize electricity electrical hopeful goodness revival allowance inference",
    "airliner gyroscopic adjustable defensible irritant replacement adjustment dependent",
    "adoption communism activate homologous effective bowdlerize skies dying lying tying",
    "news innings cannings succeed proceed exceed generously sky's the limit",
    "Don't panic! It's only the staging database, and it's back up now.",
    "THE RELEASE NOTES ARE READY FOR REVIEW",
    "Build 42 failed at step 7 of 12; v2 and b12 pass, 100% green",
    "Is anyone up for lunch at noon? Coffee after?",
    "ping ping ping pong ping",
    "café naïve résumé über straße",
    "Agreed. Let's merge it: tests pass, reviewers approved, nothing blocks.",
    "caresses ponies ties caress cats feed agreed disabled matting mating meeting milling",
    "messing meetings generous generously generate generated generates generating",
    "She said they'd have had it done by then if he hadn't been so slow",
    "invalidate the cache, then restart the workers and watch the queue drain",
    "Alerts firing: latency p99 over budget on 3 of 4 nodes",
    "the a an and or but",
    "",
];

#[derive(QueryableByName)]
struct Vector {
    #[diesel(sql_type = Text)]
    text: String,
}

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = Bool)]
    found: bool,
}

fn postgres() -> Option<(TestDb, PgConnection)> {
    if !Backend::Postgres.available() {
        return None;
    }
    let db = TestDb::create(Backend::Postgres);
    let config = DatabaseConfig::from_url(&db.url, 1);
    let c = PgConnection::establish(&config.target).expect("connect to PostgreSQL");
    Some((db, c))
}

fn text(c: &mut PgConnection, sql: &str, bind: &str) -> String {
    diesel::sql_query(sql)
        .bind::<Text, _>(bind)
        .get_result::<Vector>(c)
        .unwrap_or_else(|e| panic!("{sql} with {bind:?}: {e}"))
        .text
}

#[test]
fn vectors_are_the_ones_postgresql_made_and_read_as_written() {
    let Some((_db, mut c)) = postgres() else {
        return;
    };
    let mut differ = Vec::new();
    for body in TEXTS {
        let ours = tsvector(body);
        let theirs = text(
            &mut c,
            "SELECT to_tsvector('english', $1)::text AS text",
            body,
        );
        if ours != theirs {
            differ.push(format!("{body:?}: ours {ours}, PostgreSQL's {theirs}"));
        }
        let read_back = text(&mut c, "SELECT CAST($1 AS tsvector)::text AS text", &ours);
        assert_eq!(
            read_back, ours,
            "PostgreSQL reads {body:?}'s vector as written"
        );
    }
    assert!(differ.is_empty(), "vectors differ:\n{}", differ.join("\n"));
}

/// Whether the query matches the body's vector, both as Huddle makes them, and as PostgreSQL
/// made the vectors of messages stored before.
fn matches(c: &mut PgConnection, body: &str, q: &str) -> (bool, bool) {
    let query = SearchText::parse(q)
        .expect("a valid query")
        .to_tsquery()
        .expect("words to look for");
    let found = |c: &mut PgConnection, vector: &str| {
        diesel::sql_query(format!("SELECT {vector} @@ CAST($2 AS tsquery) AS found"))
            .bind::<Text, _>(body)
            .bind::<Text, _>(&query)
            .get_result::<Found>(c)
            .unwrap_or_else(|e| panic!("{query}: {e}"))
            .found
    };
    let ours = found(
        c,
        &format!("CAST('{}' AS tsvector)", tsvector(body).replace('\'', "''")),
    );
    let old = found(c, "to_tsvector('english', $1)");
    (ours, old)
}

#[test]
fn queries_find_by_stem_phrase_and_exclusion_in_new_and_old_vectors() {
    let Some((_db, mut c)) = postgres() else {
        return;
    };
    let cases = [
        (
            "We deployed the servers yesterday",
            "deploying server",
            true,
        ),
        (
            "We deployed the servers yesterday",
            "deploying database",
            false,
        ),
        (
            "the build is ready to deploy now",
            "\"ready to deploy\"",
            true,
        ),
        (
            "the build is ready, deploy now",
            "\"ready to deploy\"",
            false,
        ),
        ("deploy ready", "\"ready to deploy\"", false),
        ("release notes for friday", "release -friday", false),
        ("release notes for monday", "release -friday", true),
        (
            "release notes for monday",
            "release -\"notes for friday\"",
            true,
        ),
        (
            "release notes for friday",
            "release -\"notes for friday\"",
            false,
        ),
        ("Don't panic, it's staging", "staging panics", true),
        ("Build 42 failed", "42 failing", true),
        ("Build 42 failed", "43 failing", false),
    ];
    for (body, q, expected) in cases {
        assert_eq!(
            matches(&mut c, body, q),
            (expected, expected),
            "{q:?} in {body:?}"
        );
    }
}

/// Through the repository: what the writer stores (one statement, or the careful path for a
/// reply), an edit and a delete keep the vector in step with the body.
#[test]
fn stored_edited_and_deleted_messages_are_found_by_what_they_say_now() {
    let Some((db, _c)) = postgres() else {
        return;
    };
    let repo = repo(&db);
    let ann = user(&repo, "ann");
    let general = room(&repo, ann, "general", false);
    let stored = submit_all(
        &repo,
        vec![
            send(general, ann, "Deploying the servers tonight".into(), None),
            send(general, ann, "lunch at noon".into(), None),
        ],
    );
    let ids: Vec<i64> = stored
        .iter()
        .map(|s| match s {
            Ok(Stored::Created(m)) => m.id,
            other => panic!("stored: {other:?}"),
        })
        .collect();
    let mut reply = send(general, ann, "the deploy is done".into(), None);
    reply.reply_to = Some(ids[0]);
    let reply = match repo.store_message(reply) {
        Ok(Stored::Created(m)) => m.id,
        other => panic!("reply: {other:?}"),
    };
    let found = |q: &str| -> Vec<i64> {
        let mut ids: Vec<i64> = repo
            .search_messages(MessageSearch {
                viewer: ann,
                text: SearchText::parse(q).expect("query"),
                room_id: None,
                author_id: None,
                after: None,
                before: None,
                window: 1000,
                offset: 0,
                limit: 50,
            })
            .expect("search")
            .into_iter()
            .map(|h| h.message.id)
            .collect();
        ids.sort_unstable();
        ids
    };
    assert_eq!(found("deploy"), vec![ids[0], reply]);
    assert_eq!(found("\"deploying the servers\""), vec![ids[0]]);
    assert_eq!(
        found("the"),
        Vec::<i64>::new(),
        "stop words look for nothing"
    );

    repo.edit_message(general, ids[1], "coffee at noon")
        .unwrap();
    assert_eq!(found("lunch"), Vec::<i64>::new());
    assert_eq!(found("coffee"), vec![ids[1]]);

    repo.delete_message(general, ids[0]).unwrap();
    assert_eq!(found("deploy"), vec![reply]);
    let mut c =
        PgConnection::establish(&DatabaseConfig::from_url(&db.url, 1).target).expect("connect");
    let left = text(
        &mut c,
        "SELECT search::text AS text FROM messages WHERE id = CAST($1 AS bigint)",
        &ids[0].to_string(),
    );
    assert_eq!(left, "", "a deleted message leaves nothing in the index");
}
