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
    let again = motcua_platform::db::connect(&on(&f.database), 2, &NO_MIGRATIONS).await;
    assert!(again.is_ok(), "{:#}", again.err().unwrap());
    again.unwrap().close().await;

    sqlx::query("UPDATE _motcua_platform_migrations SET checksum = '\\x01' WHERE version = 1")
        .execute(&f.pool)
        .await
        .unwrap();
    let refused = motcua_platform::db::connect(&on(&f.database), 2, &NO_MIGRATIONS).await;
    let e = format!("{:#}", refused.expect_err("a changed migration is refused"));
    assert!(e.contains("applying platform migrations"), "{e}");
    f.cleanup().await;
}

/// A cluster's PostgreSQL is reached over TLS (`sslmode=require` or `verify-full` with the
/// cluster's CA): the build speaks TLS, and the connection it makes is encrypted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_database_url_that_requires_tls_gets_an_encrypted_connection() {
    let scratch = motcua_testkit::scratch::Scratch::new();
    let database = format!("{}_tls", scratch.database_prefix());
    let url = motcua_platform::config::ServerUrl::new(&format!("{PG}/?sslmode=require"));
    let target = motcua_platform::db::Target::on_server(&url, &database).unwrap();
    let pool = motcua_platform::db::connect(&target, 1, &NO_MIGRATIONS)
        .await
        .unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(encrypted, "the connection is not encrypted");
    pool.close().await;
}
