//! `LIMIT n` written into a query's text instead of bound as a parameter.
//!
//! PostgreSQL plans a prepared statement afresh on every execution while its generic plan
//! looks worse than the custom ones, and with `LIMIT $n` it always does: not knowing the
//! limit, it costs the generic plan as if it read a tenth of the room. A history page then
//! spent more of PostgreSQL's CPU planning than running (`EXPLAIN ANALYZE EXECUTE`: 0.1-0.2 ms
//! planning against 0.07-0.4 ms running). With the number in the text the generic plan costs
//! what the custom ones do and PostgreSQL keeps it after five runs. Every paged read uses it:
//! history, the event log's two reads for a resume (0.26-0.28 ms a pair with the limit bound,
//! 0.19 ms written, `pgbench -M prepared`), the room list (0.194 ms against 0.168 ms, means of
//! five runs), members and the user directory.
//!
//! Each limit written is its own cached statement on every connection (Diesel keys a boxed
//! query's statement by its text, and never forgets one), so the limits written must be few
//! whatever callers ask: a page's (the API's at most 200, plus one) as they are, a larger one
//! (a gap fill asks for as many messages as the gap holds) rounded up to a power of two, the
//! extra rows dropped after the read.
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::query_dsl::methods::LoadQuery;
use diesel::{Connection, QueryResult, RunQueryDsl};

/// Limits up to this are written as asked; beyond it, rounded up to a power of two.
const EXACT_UP_TO: usize = 256;

/// `query LIMIT n`, `n` in the text. `query` must have no limit or offset of its own, and be
/// ordered: [`LiteralLimit::load_rows`] keeps the first `limit` rows.
#[derive(Debug, Clone)]
pub(super) struct LiteralLimit<Q> {
    query: Q,
    /// What the caller asked for.
    limit: usize,
    /// What the text says: `limit`, or the power of two above it.
    written: u64,
}

pub(super) fn literal_limit<Q>(query: Q, limit: usize) -> LiteralLimit<Q> {
    let written = if limit <= EXACT_UP_TO {
        limit
    } else {
        limit.checked_next_power_of_two().unwrap_or(usize::MAX)
    };
    LiteralLimit {
        query,
        limit,
        written: u64::try_from(written)
            .unwrap_or(u64::MAX)
            .min(i64::MAX as u64),
    }
}

impl<Q> LiteralLimit<Q> {
    /// The first `limit` rows, as the query orders them.
    pub(super) fn load_rows<'q, U, Conn>(self, conn: &mut Conn) -> QueryResult<Vec<U>>
    where
        Conn: Connection,
        Self: LoadQuery<'q, Conn, U>,
    {
        let limit = self.limit;
        let mut rows: Vec<U> = self.load(conn)?;
        rows.truncate(limit);
        Ok(rows)
    }
}

impl<Q: Query> Query for LiteralLimit<Q> {
    type SqlType = Q::SqlType;
}

/// Never a static id: two limits are two statements, so the cache must key them by their text.
impl<Q> QueryId for LiteralLimit<Q> {
    type QueryId = ();
    const HAS_STATIC_QUERY_ID: bool = false;
}

impl<Q: QueryFragment<DB>, DB: Backend> QueryFragment<DB> for LiteralLimit<Q> {
    fn walk_ast<'b>(&'b self, mut out: AstPass<'_, 'b, DB>) -> QueryResult<()> {
        self.query.walk_ast(out.reborrow())?;
        out.push_sql(&format!(" LIMIT {}", self.written));
        Ok(())
    }
}

impl<Q, Conn: Connection> RunQueryDsl<Conn> for LiteralLimit<Q> {}

#[cfg(test)]
mod tests {
    use diesel::connection::SimpleConnection;
    use diesel::pg::Pg;
    use diesel::prelude::*;
    use diesel::sqlite::Sqlite;

    use super::*;
    use crate::schema::messages;

    fn page(limit: usize) -> LiteralLimit<messages::BoxedQuery<'static, Pg>> {
        let query = messages::table
            .filter(messages::room_id.eq(7))
            .filter(messages::seq.lt(100))
            .order(messages::seq.desc())
            .into_boxed();
        literal_limit(query, limit)
    }

    #[test]
    fn the_limit_is_text_and_the_rest_stays_bound() {
        let sql = diesel::debug_query::<Pg, _>(&page(51)).to_string();
        assert!(
            sql.contains("ORDER BY \"messages\".\"seq\" DESC LIMIT 51 --"),
            "{sql}"
        );
        assert!(
            sql.contains("$1") && sql.contains("$2") && !sql.contains("$3"),
            "{sql}"
        );
        let huge = diesel::debug_query::<Pg, _>(&page(usize::MAX)).to_string();
        assert!(huge.contains(&format!("LIMIT {} --", i64::MAX)), "{huge}");
    }

    diesel::table! {
        numbers (n) {
            n -> Integer,
        }
    }

    #[test]
    fn a_rounded_limit_still_answers_what_was_asked() {
        let mut c = SqliteConnection::establish(":memory:").unwrap();
        c.batch_execute(
            "CREATE TABLE numbers (n INTEGER PRIMARY KEY); \
             WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < 1000) \
             INSERT INTO numbers SELECT n FROM s;",
        )
        .unwrap();
        let mut newest = |limit| {
            let q = numbers::table
                .select(numbers::n)
                .order(numbers::n.desc())
                .into_boxed();
            literal_limit(q, limit).load_rows::<i32, _>(&mut c).unwrap()
        };
        assert_eq!(newest(3), [1000, 999, 998]);
        let gap = newest(300);
        assert_eq!(gap.len(), 300, "512 read, 300 kept");
        assert_eq!((gap[0], gap[299]), (1000, 701));
        assert_eq!(newest(5000).len(), 1000);
    }

    #[test]
    fn only_page_sized_limits_are_written_as_asked() {
        let written = |limit| literal_limit((), limit).written;
        assert_eq!(written(0), 0);
        assert_eq!(written(51), 51);
        assert_eq!(written(201), 201);
        assert_eq!(written(EXACT_UP_TO), 256);
        assert_eq!(written(EXACT_UP_TO + 1), 512);
        assert_eq!(written(1000), 1024);
        assert_eq!(written(1024), 1024);
        // However large the gaps, few statements: 257..=2^20 write twelve limits (2^9..=2^20).
        let mut texts: Vec<u64> = (EXACT_UP_TO + 1..=1 << 20).map(written).collect();
        texts.dedup();
        assert_eq!(texts.len(), 12);
    }

    #[test]
    fn each_limit_is_a_statement_kept_by_its_text() {
        const { assert!(!<LiteralLimit<()> as QueryId>::HAS_STATIC_QUERY_ID) };
        assert!(page(51).is_safe_to_cache_prepared(&Pg).unwrap());
        let lite = literal_limit(
            messages::table.select(messages::id).into_boxed::<Sqlite>(),
            3,
        );
        assert!(lite.is_safe_to_cache_prepared(&Sqlite).unwrap());
    }
}
