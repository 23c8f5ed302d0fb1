//! What reporting keeps and for how long: every table it has is in the registry
//! (`retention::TABLES`), and what is kept no longer is pruned by the clock.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_reporting::retention::TABLES;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_has_a_retention_and_ended_sessions_are_pruned_by_the_clock() {
    let app = Reporting::start(vn("2026-04-10T09:00:00")).await;
    // The registry names every table of reporting's database, so a table added without a
    // retention fails here.
    let (missing, extra) = motcua_platform::retention::unlisted(&app.pool, TABLES)
        .await
        .unwrap();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{missing:?} {extra:?}"
    );

    // A leader's session lasts 8 hours of the service's clock (the token outlives it).
    let ld = app
        .sign_in(&motcua_testkit::token(&[Role::Leader], A, "", "ld-1"))
        .await;
    assert_eq!(app.get_with_session("/", &ld).await.status(), 200);
    let count = async || -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM dashboard_sessions")
            .fetch_one(&app.pool)
            .await
            .unwrap()
    };
    assert_eq!(count().await, 1);
    // An hour on: still open, still kept.
    app.clock.advance(chrono::Duration::hours(1));
    assert_eq!(app.get_with_session("/", &ld).await.status(), 200);
    assert_eq!(count().await, 1);
    // Past its end: refused, and its row goes at the next pruning (hourly by the clock).
    app.clock.advance(chrono::Duration::hours(8));
    assert_eq!(app.get_with_session("/", &ld).await.status(), 303);
    app.wait_db(
        "SELECT NOT EXISTS (SELECT 1 FROM dashboard_sessions)",
        "the ended session pruned",
    )
    .await;
    app.stop().await;
}
