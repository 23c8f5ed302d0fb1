//! An applicant's dossiers as officers find them (by phone or a part of the name), and when an
//! applicant's dossier counts as ended: what the queue search and the contacts' erasure rely on.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_platform::auth::Role;
use motcua_proto::common::DossierStatus;
use motcua_proto::intake::*;

async fn found(app: &TestApp, applicant: &str, open_only: bool) -> Vec<String> {
    let mut desk = app.client(&[Role::Desk]).await;
    desk.list_dossiers(ListDossiersRequest {
        applicant: applicant.into(),
        open_only,
        ..Default::default()
    })
    .await
    .expect("list")
    .into_inner()
    .dossiers
    .into_iter()
    .map(|d| d.receipt.unwrap().dossier_code)
    .collect()
}

async fn ended(app: &TestApp, code: &str) -> bool {
    sqlx::query_scalar::<_, bool>("SELECT ended_at IS NOT NULL FROM dossiers WHERE code = $1")
        .bind(code)
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dossier_ends_when_its_result_is_returned_or_it_is_stopped_not_when_it_is_finished() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut codes = Vec::new();
    for key in ["a-1", "a-2", "a-3"] {
        let r = desk
            .submit_dossier(counter_submission(key))
            .await
            .unwrap()
            .into_inner();
        codes.push(r.receipt.unwrap().dossier_code);
    }
    // Finished: the result waits at the desk, and the applicant is still to be told.
    app.followed(&codes[0], 2, DossierStatus::Finished, "result-recorded")
        .await;
    assert!(!ended(&app, &codes[0]).await, "finished is not ended");
    app.followed(&codes[0], 3, DossierStatus::Returned, "result-returned")
        .await;
    assert!(ended(&app, &codes[0]).await, "returned ends it");
    app.followed(&codes[1], 2, DossierStatus::Stopped, "refused")
        .await;
    assert!(ended(&app, &codes[1]).await, "refused ends it");
    assert!(!ended(&app, &codes[2]).await);
    // The queue's search asks for open dossiers only; every dossier is found without it.
    assert_eq!(found(&app, "0912345678", true).await, codes[2..]);
    assert_eq!(found(&app, "nguyen van", true).await, codes[2..]);
    assert_eq!(found(&app, "+84 912 345 678", false).await, codes);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_written_before_the_fold_are_folded_at_start_and_then_found() {
    let app = spawn().await;
    let mut desk = app.client(&[Role::Desk]).await;
    let mut codes = Vec::new();
    for key in ["b-1", "b-2"] {
        let r = desk
            .submit_dossier(counter_submission(key))
            .await
            .unwrap()
            .into_inner();
        codes.push(r.receipt.unwrap().dossier_code);
    }
    // As migration 0003 left rows written before it: the name lower-cased, marks kept.
    sqlx::query("UPDATE dossiers SET applicant_name_folded = lower(applicant_name)")
        .execute(&app.pool)
        .await
        .unwrap();
    assert!(found(&app, "nguyen van", false).await.is_empty());
    assert_eq!(
        motcua_intake::backfill::fold_old_names(&app.pool)
            .await
            .unwrap(),
        2
    );
    assert_eq!(found(&app, "nguyen van", false).await, codes);
    assert_eq!(found(&app, "NGUYỄN văn an", false).await, codes);
    // Done once: nothing is left to fold.
    assert_eq!(
        motcua_intake::backfill::fold_old_names(&app.pool)
            .await
            .unwrap(),
        0
    );
    app.stop().await;
}
