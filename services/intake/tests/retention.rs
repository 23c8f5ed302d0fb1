//! What intake keeps and for how long: every table is in the registry, and a day's dossier counter
//! goes a week after the day, by the service's clock.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::Clock;
use motcua_platform::auth::Role;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_has_a_retention_and_an_old_days_counter_is_pruned() {
    let app = spawn().await;
    let (missing, extra) =
        motcua_platform::retention::unlisted(&app.pool, motcua_intake::retention::TABLES)
            .await
            .unwrap();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{missing:?} {extra:?}"
    );
    let mut desk = app.client(&[Role::Desk]).await;
    desk.submit_dossier(counter_submission("day-1"))
        .await
        .unwrap();
    assert_eq!(app.count("SELECT count(*) FROM dossier_sequences").await, 1);
    // Nine days on, the counter stays (MOTCUA_SEQUENCES_RETENTION_DAYS is 10: an integration
    // may date a dossier 7 days back, and that day's counter goes on from where it was)...
    app.clock.advance(chrono::Duration::days(9));
    desk.submit_dossier(counter_submission("day-10"))
        .await
        .unwrap();
    assert_eq!(app.count("SELECT count(*) FROM dossier_sequences").await, 2);
    // ...eleven days on, the first day's goes at the next hourly pruning; the dossiers stay.
    app.clock
        .advance(chrono::Duration::days(2) + chrono::Duration::hours(2));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.count("SELECT count(*) FROM dossier_sequences").await != 1 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the old counter stayed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let kept: chrono::NaiveDate = sqlx::query_scalar("SELECT day FROM dossier_sequences")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        kept,
        motcua_domain::time::vietnam_day(app.clock.now() - chrono::Duration::days(2)),
        "the second day's counter is kept"
    );
    assert_eq!(app.count("SELECT count(*) FROM dossiers").await, 2);
    app.stop().await;
}
