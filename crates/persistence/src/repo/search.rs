//! Message search, in each database's own full-text search: PostgreSQL's `tsvector` column
//! (a `tsquery` made by `huddle_domain::lexemes`, as the column's vectors are; `ts_rank`,
//! `ts_headline`) and SQLite's FTS5 table (`MATCH`, `bm25`, `snippet`). The two differ in
//! syntax only; both answer the ids of the best matches with a marked snippet, and the
//! messages are then read as everywhere else.
use std::collections::HashMap;

use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::{BoxedSqlQuery, SqlQuery};
use diesel::sql_types::{BigInt, Text};
use diesel::sqlite::Sqlite;
use huddle_domain::repository::RepoResult;
use huddle_domain::search::{MessageSearch, SearchHit, MARK_END, MARK_START};
use huddle_domain::Message;

use crate::connection::AnyConnection;
use crate::error::db_err;
use crate::models::{to_message, MessageRow, UserRow};
use crate::schema::{messages, users};

#[derive(QueryableByName)]
struct Found {
    #[diesel(sql_type = BigInt)]
    id: i64,
    #[diesel(sql_type = Text)]
    snippet: String,
}

/// The filters both dialects share, as SQL with numbered placeholders from `first`, and the
/// values to bind in order.
fn filters(
    s: &MessageSearch,
    placeholder: impl Fn(usize) -> String,
    first: usize,
) -> (String, Vec<i64>) {
    let mut sql = String::new();
    let mut values = Vec::new();
    let mut add = |cond: &str, v: i64| {
        values.push(v);
        sql.push_str(&format!(
            " AND {cond} {}",
            placeholder(first + values.len() - 1)
        ));
    };
    if let Some(room) = s.room_id {
        add("m.room_id =", room);
    }
    if let Some(author) = s.author_id {
        add("m.author_id =", author);
    }
    if let Some(after) = s.after {
        add("m.created_at >", after.timestamp_micros());
    }
    if let Some(before) = s.before {
        add("m.created_at <", before.timestamp_micros());
    }
    (sql, values)
}

/// Binds the placeholders both dialects have, in their order: the query text (a `tsquery`
/// for PostgreSQL, FTS5 syntax for SQLite), the viewer, the filters, then window, limit and offset.
fn bind<'a, DB>(
    query: BoxedSqlQuery<'a, DB, SqlQuery>,
    text: String,
    s: &MessageSearch,
    filters: Vec<i64>,
) -> BoxedSqlQuery<'a, DB, SqlQuery>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<BigInt>,
    String: diesel::serialize::ToSql<Text, DB>,
    i64: diesel::serialize::ToSql<BigInt, DB>,
{
    let mut query = query.bind::<Text, _>(text).bind::<BigInt, _>(s.viewer);
    for v in filters {
        query = query.bind::<BigInt, _>(v);
    }
    let big = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    query
        .bind::<BigInt, _>(big(s.window))
        .bind::<BigInt, _>(big(s.limit))
        .bind::<BigInt, _>(big(s.offset))
}

/// The newest `window` matches (walking the primary key backwards stops there, whatever the
/// number of matches), then ranked; `ts_headline` only for the page. A query of only stop
/// words looks for nothing, and finds it without asking.
fn postgres(c: &mut PgConnection, s: &MessageSearch) -> QueryResult<Vec<Found>> {
    let Some(query) = s.text.to_tsquery() else {
        return Ok(Vec::new());
    };
    let (conds, values) = filters(s, |i| format!("${i}"), 3);
    let w = 3 + values.len();
    let sql = format!(
        "SELECT r.id, ts_headline('english', r.body, q, \
             'StartSel={MARK_START}, StopSel={MARK_END}, MaxWords=30, MinWords=12, MaxFragments=2') AS snippet \
         FROM CAST($1 AS tsquery) q \
         CROSS JOIN LATERAL ( \
           SELECT m.id, m.body, m.search FROM messages m \
           WHERE m.search @@ q AND NOT m.deleted \
             AND m.room_id IN (SELECT room_id FROM room_members WHERE user_id = $2){conds} \
           ORDER BY m.id DESC LIMIT ${w}) r \
         ORDER BY ts_rank(r.search, q) DESC, r.id DESC LIMIT ${} OFFSET ${}",
        w + 1,
        w + 2
    );
    bind(diesel::sql_query(sql).into_boxed::<Pg>(), query, s, values).load(c)
}

/// As for PostgreSQL: the newest `window` matches, then ranked. The window walks the index's
/// matches newest first (`ORDER BY messages_fts.rowid DESC`, which FTS5 reads in that order)
/// and stops at `window`. `snippet` and `bm25` need the `MATCH` of their own query (`?1`
/// twice), which reads the matches from the window's oldest on; the `+` keeps SQLite from
/// instead looking each windowed id up in the index on its own, which re-read a common word's
/// whole list of matches per id (seconds per search at 300,000 messages; BENCHMARKS.md,
/// "SQLite").
fn sqlite(c: &mut SqliteConnection, s: &MessageSearch) -> QueryResult<Vec<Found>> {
    let (conds, values) = filters(s, |i| format!("?{i}"), 3);
    let w = 3 + values.len();
    let sql = format!(
        "WITH w AS MATERIALIZED ( \
           SELECT messages_fts.rowid AS id FROM messages_fts \
           JOIN messages m ON m.id = messages_fts.rowid \
           WHERE messages_fts MATCH ?1 AND NOT m.deleted \
             AND m.room_id IN (SELECT room_id FROM room_members WHERE user_id = ?2){conds} \
           ORDER BY messages_fts.rowid DESC LIMIT ?{w}) \
         SELECT messages_fts.rowid AS id, \
             snippet(messages_fts, 0, '{MARK_START}', '{MARK_END}', '…', 24) AS snippet \
         FROM messages_fts \
         WHERE messages_fts MATCH ?1 AND messages_fts.rowid >= (SELECT min(id) FROM w) \
           AND +messages_fts.rowid IN (SELECT id FROM w) \
         ORDER BY bm25(messages_fts), messages_fts.rowid DESC LIMIT ?{} OFFSET ?{}",
        w + 1,
        w + 2
    );
    bind(
        diesel::sql_query(sql).into_boxed::<Sqlite>(),
        s.text.to_fts5(),
        s,
        values,
    )
    .load(c)
}

pub(super) fn search(
    c: &mut AnyConnection,
    links: &dyn huddle_domain::files::FileLinks,
    s: &MessageSearch,
) -> RepoResult<Vec<SearchHit>> {
    let found = match c {
        AnyConnection::Postgresql(pg) => postgres(pg, s),
        AnyConnection::Sqlite(lite) => sqlite(lite, s),
    }
    .map_err(db_err)?;
    let ids: Vec<i64> = found.iter().map(|f| f.id).collect();
    let mut read: Vec<Message> = messages::table
        .inner_join(users::table)
        .filter(messages::id.eq_any(&ids))
        .select((MessageRow::as_select(), UserRow::as_select()))
        .load(c)
        .map_err(db_err)?
        .into_iter()
        .map(to_message)
        .collect();
    super::files::fill(c, links, &mut read).map_err(db_err)?;
    let mut by_id: HashMap<i64, Message> = read.into_iter().map(|m| (m.id, m)).collect();
    Ok(found
        .into_iter()
        .filter_map(|f| {
            let message = by_id.remove(&f.id)?;
            Some(SearchHit::from_marked(message, &f.snippet))
        })
        .collect())
}
