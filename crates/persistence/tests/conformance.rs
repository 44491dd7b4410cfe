//! The repository contract, the same suite the in-memory repository passes
//! (`huddle_domain::conformance`), on SQLite and on PostgreSQL: each test on a fresh database.
mod common;

use huddle_domain::Repository;
use huddle_test_support::{Backend, TestDb};

fn on(backend: Backend, test: &dyn Fn(&dyn Repository)) {
    if !backend.available() {
        return;
    }
    let db = TestDb::create(backend);
    let repo = common::repo(&db);
    test(&*repo);
}

mod sqlite {
    fn fresh(test: &dyn Fn(&dyn huddle_domain::Repository)) {
        super::on(huddle_test_support::Backend::Sqlite, test);
    }
    huddle_domain::repository_conformance!(fresh);
}

mod postgres {
    fn fresh(test: &dyn Fn(&dyn huddle_domain::Repository)) {
        super::on(huddle_test_support::Backend::Postgres, test);
    }
    huddle_domain::repository_conformance!(fresh);
}
