//! What workflow keeps and for how long: every table is in the registry, and an idempotency key
//! goes after MOTCUA_IDEMPOTENCY_RETENTION_DAYS of the service's clock, the case and its history
//! stay.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::workflow::ClaimTaskRequest;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_table_has_a_retention_and_old_idempotency_keys_are_pruned() {
    let app = spawn().await;
    let (missing, extra) =
        motcua_platform::retention::unlisted(&app.workflow_db, motcua_workflow::retention::TABLES)
            .await
            .unwrap();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "{missing:?} {extra:?}"
    );
    let c = app.submit_land("keys-1").await;
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    desk.claim_task(ClaimTaskRequest {
        dossier_code: c.dossier_code.clone(),
        action: act_keyed(c.version, "claim-1", ""),
    })
    .await
    .unwrap();
    assert_eq!(app.count("SELECT count(*) FROM idempotency").await, 1);
    app.clock.advance(chrono::Duration::days(31));
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while app.count("SELECT count(*) FROM idempotency").await != 0 {
        assert!(tokio::time::Instant::now() < deadline, "the old key stayed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM history").await, 2);
    app.stop().await;
}
