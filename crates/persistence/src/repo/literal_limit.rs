//! `LIMIT n` written into a query's text instead of bound as a parameter.
//!
//! PostgreSQL plans a prepared statement afresh on every execution while its generic plan
//! looks worse than the custom ones, and with `LIMIT $n` it always does: not knowing the
//! limit, it costs the generic plan as if it read a tenth of the room. A history page then
//! spent more of PostgreSQL's CPU planning than running (`EXPLAIN ANALYZE EXECUTE`: 0.1-0.2 ms
//! planning against 0.07-0.4 ms running). With the number in the text the generic plan costs
//! what the custom ones do and PostgreSQL keeps it after five runs; each limit is its own
//! cached statement (Diesel keys a boxed query's statement by its text), and limits are few
//! (the API bounds them).
use diesel::backend::Backend;
use diesel::query_builder::{AstPass, Query, QueryFragment, QueryId};
use diesel::{Connection, QueryResult, RunQueryDsl};

/// `query LIMIT limit`, the limit in the text. `query` must have no limit or offset of its own.
#[derive(Debug, Clone)]
pub(super) struct LiteralLimit<Q> {
    query: Q,
    limit: u32,
}

/// A limit beyond `u32` is no limit at all for a page, so it is capped there.
pub(super) fn literal_limit<Q>(query: Q, limit: usize) -> LiteralLimit<Q> {
    LiteralLimit {
        query,
        limit: u32::try_from(limit).unwrap_or(u32::MAX),
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
        out.push_sql(&format!(" LIMIT {}", self.limit));
        Ok(())
    }
}

impl<Q, Conn: Connection> RunQueryDsl<Conn> for LiteralLimit<Q> {}

#[cfg(test)]
mod tests {
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
        assert!(huge.contains(&format!("LIMIT {} --", u32::MAX)), "{huge}");
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
