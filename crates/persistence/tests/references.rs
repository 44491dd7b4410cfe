//! A message always belongs to an existing room and author, on both backends. SQLite keeps
//! them with foreign keys; PostgreSQL with checks once per statement (the per-row keys cost a
//! quarter of the batch writer's statement, BENCHMARKS.md). Either way: a message naming a
//! missing room or author is refused, whoever writes it; deleting a room deletes its messages;
//! deleting a user who wrote messages is refused.
mod common;

use common::{repo, room, send, submit_all, user};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use diesel::{Connection, PgConnection, QueryableByName, RunQueryDsl, SqliteConnection};
use huddle_domain::repository::{RoomRepository, Stored, UserRepository};
use huddle_domain::Role;
use huddle_persistence::{AnyConnection, Backend as DbBackend, DatabaseConfig};
use huddle_test_support::{Backend, TestDb};

/// A connection of its own, beside the repository's pool, for SQL no repository method runs.
fn raw(db: &TestDb) -> AnyConnection {
    let config = DatabaseConfig::from_url(&db.url, 1);
    match config.backend {
        DbBackend::Postgres => AnyConnection::Postgresql(
            PgConnection::establish(&config.target).expect("connect to PostgreSQL"),
        ),
        DbBackend::Sqlite => {
            let mut c = SqliteConnection::establish(&config.target).expect("open SQLite");
            diesel::sql_query("PRAGMA foreign_keys = ON")
                .execute(&mut c)
                .expect("foreign keys on");
            AnyConnection::Sqlite(c)
        }
    }
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

fn count(c: &mut AnyConnection, sql: &str) -> i64 {
    diesel::sql_query(sql)
        .get_result::<Count>(c)
        .expect("count")
        .n
}

fn assert_refused(result: Result<usize, DieselError>, what: &str) {
    match result {
        Err(DieselError::DatabaseError(DatabaseErrorKind::ForeignKeyViolation, _)) => {}
        other => panic!("{what}: expected a foreign key violation, got {other:?}"),
    }
}

fn messages_keep_their_room_and_author(backend: Backend) {
    let db = TestDb::create(backend);
    let repo = repo(&db);
    let ann = user(&repo, "ann");
    let bob = user(&repo, "bob");
    let doomed = room(&repo, ann, "doomed", false);
    let kept = room(&repo, ann, "kept", false);
    repo.add_member(doomed, bob, Role::Member).unwrap();
    let stored = submit_all(
        &repo,
        vec![
            send(doomed, ann, "a1".into(), None),
            send(doomed, bob, "b1".into(), None),
            send(kept, ann, "a2".into(), None),
        ],
    );
    assert!(
        stored.iter().all(|s| matches!(s, Ok(Stored::Created(_)))),
        "{stored:?}"
    );
    let mut c = raw(&db);
    let missing = kept + 1000;

    // Writes naming a missing room or author, in every shape, store nothing. PostgreSQL's rows
    // also need their search vector, or the row would be refused for lacking it.
    let (search, vector) = match backend {
        Backend::Postgres => (", search", ", ''"),
        Backend::Sqlite => ("", ""),
    };
    let insert = |room: i64, author: i64| {
        format!(
            "INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted, event_seq{search}) \
             VALUES ({room}, 99, {author}, 'stray', 0, FALSE, 99{vector})"
        )
    };
    assert_refused(
        diesel::sql_query(insert(missing, ann)).execute(&mut c),
        "a missing room",
    );
    assert_refused(
        diesel::sql_query(insert(kept, ann + 1000)).execute(&mut c),
        "a missing author",
    );
    assert_refused(
        diesel::sql_query(format!(
            "INSERT INTO messages (room_id, seq, author_id, body, created_at, deleted, event_seq{search}) \
             VALUES ({kept}, 98, {ann}, 'fine', 0, FALSE, 98{vector}), \
                    ({missing}, 99, {ann}, 'stray', 0, FALSE, 99{vector})"
        ))
        .execute(&mut c),
        "one missing room among several rows",
    );
    assert_refused(
        diesel::sql_query(format!(
            "UPDATE messages SET room_id = {missing} WHERE room_id = {kept}"
        ))
        .execute(&mut c),
        "a message moved to a missing room",
    );
    assert_refused(
        diesel::sql_query(format!(
            "UPDATE messages SET author_id = {} WHERE room_id = {kept}",
            ann + 1000
        ))
        .execute(&mut c),
        "a message given a missing author",
    );
    assert_eq!(count(&mut c, "SELECT count(*) AS n FROM messages"), 3);
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) AS n FROM messages WHERE room_id = {kept} AND author_id = {ann} AND seq = 1")
        ),
        1,
        "the refused updates changed nothing"
    );

    // An author of messages stays.
    assert_refused(
        diesel::sql_query(format!("DELETE FROM users WHERE id = {bob}")).execute(&mut c),
        "deleting an author",
    );
    assert!(repo.user_by_id(bob).unwrap().is_some());

    // A room's messages go with it, and only its own.
    repo.delete_room(doomed).unwrap();
    assert_eq!(
        count(
            &mut c,
            &format!("SELECT count(*) AS n FROM messages WHERE room_id = {doomed}")
        ),
        0
    );
    assert_eq!(count(&mut c, "SELECT count(*) AS n FROM messages"), 1);

    // Bob wrote only in the deleted room: nothing keeps him now.
    assert_eq!(
        diesel::sql_query(format!("DELETE FROM users WHERE id = {bob}")).execute(&mut c),
        Ok(1)
    );
}

huddle_test_support::blocking_backend_tests!(messages_keep_their_room_and_author);
