//! Migrations across releases, against the real PostgreSQL: a rollback starts, a tampered
//! migration does not.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;

/// After a rollback the database carries a migration the running release does not know (the next
/// release ran it): the release starts on that schema instead of refusing, which left rolled-back
/// pods NOT_SERVING; a migration it knows whose checksum differs is still refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_release_starts_on_a_database_the_next_release_migrated_but_not_on_a_tampered_one() {
    let f = fixture().await;
    sqlx::query(
        "INSERT INTO _motcua_platform_migrations (version, description, success, checksum, execution_time)
         VALUES (99999, 'from the next release', true, '\\x00', 0)",
    )
    .execute(&f.pool)
    .await
    .unwrap();
    let again = motcua_platform::db::connect(&pg(), &f.database, 2, &NO_MIGRATIONS).await;
    assert!(again.is_ok(), "{:#}", again.err().unwrap());
    again.unwrap().close().await;

    sqlx::query("UPDATE _motcua_platform_migrations SET checksum = '\\x01' WHERE version = 1")
        .execute(&f.pool)
        .await
        .unwrap();
    let refused = motcua_platform::db::connect(&pg(), &f.database, 2, &NO_MIGRATIONS).await;
    let e = format!("{:#}", refused.expect_err("a changed migration is refused"));
    assert!(e.contains("applying platform migrations"), "{e}");
    f.cleanup().await;
}
