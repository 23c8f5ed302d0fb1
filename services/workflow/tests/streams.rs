//! Workflow on the stream: timers that fire once whatever the replicas, restarts and jumps of the
//! clock; intake's events redelivered and out of order; the land path split from the rest.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::events::{DEADLINE, SUBMITTED, SUPPLEMENT_SUBMITTED, WITHDRAWAL_REQUESTED};
use motcua_platform::auth::Role;
use motcua_platform::bus::headers;
use motcua_proto::events::{
    DeadlineKind, DeadlineReached, DeadlineScope, DossierSubmitted, SupplementSubmitted,
    WithdrawalRequested,
};
use motcua_proto::intake::{GetProcedureRequest, SubmitDossierRequest, SubmittedDocument};
use prost::Message;
use std::time::Duration;

/// The deadline events of a dossier: (scope, kind) in the order they were published.
async fn deadlines(app: &App, code: &str) -> Vec<(DeadlineScope, DeadlineKind)> {
    app.events(DEADLINE)
        .await
        .iter()
        .map(|p| DeadlineReached::decode(p.as_slice()).unwrap())
        .filter(|d| d.dossier_code == code)
        .map(|d| {
            (
                DeadlineScope::try_from(d.scope).unwrap(),
                DeadlineKind::try_from(d.kind).unwrap(),
            )
        })
        .collect()
}

async fn wait_deadlines(app: &App, code: &str, n: usize) -> Vec<(DeadlineScope, DeadlineKind)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = deadlines(app, code).await;
        if got.len() >= n {
            // Nothing more comes after the expected ones.
            tokio::time::sleep(Duration::from_millis(700)).await;
            return deadlines(app, code).await;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_once_across_replicas_after_a_restart_and_a_jump_of_a_month() {
    // Reminders two working hours before a due time.
    let mut app = spawn_with(|v| v.set("MOTCUA_WORKFLOW_DUE_SOON_HOURS", "2")).await;
    let second = app.vars.clone();
    app.start_workflow(second).await; // two replicas on one database
    let c = app.submit_land("timer-1").await;
    let code = c.dossier_code.clone();
    // Received Monday 09:00, the desk's 4-hour step is due at 15:00 (2.5 h before lunch, 1.5 h
    // after), its reminder at 11:00. At 12:00 the reminder has gone out, once, though two replicas
    // run timers.
    assert!(deadlines(&app, &code).await.is_empty());
    app.clock.advance(chrono::Duration::hours(3));
    let got = wait_deadlines(&app, &code, 1).await;
    assert_eq!(got, [(DeadlineScope::Step, DeadlineKind::DueSoon)]);
    // At 16:00 the step is overdue.
    app.clock.advance(chrono::Duration::hours(4));
    let got = wait_deadlines(&app, &code, 2).await;
    assert_eq!(got[1..], [(DeadlineScope::Step, DeadlineKind::Overdue)]);

    // Both replicas stop; a new one starts (the timers are in the database, not in memory).
    app.stop_workflow(1).await;
    app.stop_workflow(0).await;
    let again = app.vars.clone();
    app.start_workflow(again).await;
    // A month passes at once: the dossier's reminder and its overdue notice fire, in due order,
    // once each.
    app.clock.advance(chrono::Duration::days(31));
    let got = wait_deadlines(&app, &code, 4).await;
    assert_eq!(
        got,
        [
            (DeadlineScope::Step, DeadlineKind::DueSoon),
            (DeadlineScope::Step, DeadlineKind::Overdue),
            (DeadlineScope::Dossier, DeadlineKind::DueSoon),
            (DeadlineScope::Dossier, DeadlineKind::Overdue),
        ]
    );
    assert_eq!(
        app.count("SELECT count(*) FROM jobs").await,
        0,
        "nothing left to fire"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forward_moves_the_step_timers_and_a_pause_holds_them() {
    let app = spawn_with(|v| v.set("MOTCUA_WORKFLOW_DUE_SOON_HOURS", "2")).await;
    let c = app.submit_land("timer-2").await;
    let code = c.dossier_code.clone();
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    let mut specialist = app
        .officer(&[Role::Specialist], LAND_DEPARTMENT, "cv-1")
        .await;
    // Forwarded within its 4 hours: the desk step's timers go with it.
    let c = claim_and_forward(&mut desk, &code, 2).await;
    // Paused at once: no timer runs while the applicant has the dossier.
    let c = claim(&mut specialist, &code, c.version).await;
    specialist
        .request_supplement(motcua_proto::workflow::RequestSupplementRequest {
            dossier_code: code.clone(),
            action: act(c.version),
            missing: vec!["Bản vẽ".into()],
        })
        .await
        .unwrap();
    assert_eq!(
        app.count("SELECT count(*) FROM jobs").await,
        0,
        "no timer while paused"
    );
    app.clock.advance(chrono::Duration::days(40));
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        deadlines(&app, &code).await.is_empty(),
        "nothing fired while paused, and the desk step's timers were gone"
    );
    app.stop().await;
}

/// Publishes an event as intake's relay would, under a message id of its own.
async fn publish(
    app: &App,
    subject: &str,
    event_type: &str,
    event_id: uuid::Uuid,
    msg_id: &str,
    payload: Vec<u8>,
) {
    let mut h = async_nats::HeaderMap::new();
    h.insert(headers::EVENT_ID, event_id.to_string().as_str());
    h.insert(headers::EVENT_TYPE, event_type);
    let m = async_nats::jetstream::message::PublishMessage::build()
        .payload(payload.into())
        .headers(h)
        .message_id(msg_id);
    app.bus
        .js
        .send_publish(app.bus.subject(subject), m)
        .await
        .unwrap()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_reordered_intake_events_change_nothing() {
    let app = spawn().await;
    let c = app.submit_land("order-1").await;
    let code = c.dossier_code.clone();
    // Intake's own `submitted`, as it went out.
    let submitted = app.events(SUBMITTED).await.remove(0);
    let mut event = DossierSubmitted::decode(submitted.as_slice()).unwrap();
    // Delivered again under the same event id, and once more as if a relay republished it late.
    let subject = "dossier.dat-dai.submitted";
    publish(
        &app,
        subject,
        SUBMITTED,
        uuid::Uuid::now_v7(),
        "again-1",
        submitted.clone(),
    )
    .await;
    publish(
        &app,
        subject,
        SUBMITTED,
        uuid::Uuid::now_v7(),
        "again-2",
        submitted.clone(),
    )
    .await;

    // Another dossier whose withdrawal request comes before its `submitted`.
    let other = format!("{AGENCY}-260302-9001");
    let supplement = WithdrawalRequested {
        dossier_code: other.clone(),
        field: "dat-dai".into(),
        reason: "Người nộp đổi ý".into(),
        ..Default::default()
    };
    publish(
        &app,
        "dossier.dat-dai.withdrawal-requested",
        WITHDRAWAL_REQUESTED,
        uuid::Uuid::now_v7(),
        "early",
        supplement.encode_to_vec(),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    event.state.as_mut().unwrap().dossier_code = other.clone();
    publish(
        &app,
        subject,
        SUBMITTED,
        uuid::Uuid::now_v7(),
        "late-submitted",
        event.encode_to_vec(),
    )
    .await;

    // The request waited for its case, then applied: opened (2), withdrawal requested (3).
    let late = app.wait_case(&other, 3).await;
    assert_eq!(late.version, 3);
    assert!(late.withdrawal_requested);
    // The first dossier opened once, whatever came again.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first = app.wait_case(&code, 2).await;
    assert_eq!(first.version, 2);
    assert_eq!(app.count("SELECT count(*) FROM cases").await, 2);
    assert_eq!(app.count("SELECT count(*) FROM history").await, 3);
    assert_eq!(
        app.count("SELECT count(*) FROM consumer_failures").await,
        0,
        "the waiting request's tries are forgotten once applied"
    );
    app.stop().await;
}

/// A supplement nobody asked for (intake refuses it; one may still come from a request that
/// raced a change) is taken and recorded as processed, and changes nothing: the version stays,
/// so the officer's next action on the version they saw goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_supplement_nobody_asked_for_leaves_the_case_and_its_version_alone() {
    let app = spawn().await;
    let c = app.submit_land("unasked-1").await;
    let code = c.dossier_code.clone();
    let id = uuid::Uuid::now_v7();
    let supplement = SupplementSubmitted {
        dossier_code: code.clone(),
        field: "dat-dai".into(),
        document_keys: vec!["to-khai-thue".into()],
        ..Default::default()
    };
    publish(
        &app,
        "dossier.dat-dai.supplement-submitted",
        SUPPLEMENT_SUBMITTED,
        id,
        "unasked",
        supplement.encode_to_vec(),
    )
    .await;
    // The positive signal: the consumer recorded the event as handled.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let handled: i64 =
            sqlx::query_scalar("SELECT count(*) FROM processed_events WHERE event_id = $1")
                .bind(id)
                .fetch_one(&app.workflow_db)
                .await
                .unwrap();
        if handled == 1 {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "never handled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let after = app.wait_case(&code, 2).await;
    assert_eq!(after.version, 2, "no version spent on it");
    assert_eq!(
        app.count("SELECT count(*) FROM history WHERE kind = 'supplement-received'")
            .await,
        0
    );
    let mut desk = app
        .officer(&[Role::Desk], "bo-phan-mot-cua", "desk-1")
        .await;
    claim(&mut desk, &code, 2).await;
    app.stop().await;
}

/// A complete counter submission of any procedure of the catalog.
async fn submission(app: &App, procedure: &str, key: &str) -> SubmitDossierRequest {
    let p = app
        .intake_client(&[Role::Desk])
        .await
        .get_procedure(GetProcedureRequest {
            code: procedure.into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
        .procedure
        .unwrap();
    let mut req = land_submission(key);
    req.procedure_code = procedure.into();
    req.documents = p
        .documents
        .iter()
        .filter(|d| d.mandatory)
        .map(|d| SubmittedDocument {
            key: d.key.clone(),
            form: d.form,
            copies: 1,
            ..Default::default()
        })
        .collect();
    req
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_land_instance_and_one_for_the_rest_take_every_dossier_exactly_once() {
    let id = new_id();
    let clock = motcua_platform::ManualClock::new(start_time());
    let mut app = App::new(id.clone(), vars(&id), clock).await;
    app.start_intake().await;
    let mut land = app.vars.clone();
    land.set("MOTCUA_WORKFLOW_FIELDS", "dat-dai");
    let mut rest = app.vars.clone();
    rest.set("MOTCUA_WORKFLOW_FIELDS", "all-except:dat-dai");
    app.start_workflow(land).await;
    app.start_workflow(rest).await;
    let mut intake = app.intake_client(&[Role::Desk]).await;
    let mut codes = Vec::new();
    for (i, procedure) in [
        "1.013831",
        "tnn-dk-nuoc-duoi-dat",
        "1.012784",
        "mt-tham-dinh-dtm-nhom-2",
    ]
    .iter()
    .enumerate()
    {
        let req = submission(&app, procedure, &format!("split-{i}")).await;
        codes.push(
            intake
                .submit_dossier(req)
                .await
                .unwrap()
                .into_inner()
                .receipt
                .unwrap()
                .dossier_code,
        );
    }
    for code in &codes {
        app.wait_case(code, 2).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.count("SELECT count(*) FROM cases").await, 4);
    assert_eq!(
        app.count("SELECT count(*) FROM history").await,
        4,
        "each opened once"
    );
    // Each field's events went to that field's durable consumer, in the instance that holds it.
    let by_consumer: Vec<(String, i64)> = sqlx::query_as(
        "SELECT consumer, count(*) FROM processed_events GROUP BY consumer ORDER BY consumer",
    )
    .fetch_all(&app.workflow_db)
    .await
    .unwrap();
    assert_eq!(
        by_consumer,
        [
            ("workflow-dat-dai-submitted".to_owned(), 2),
            ("workflow-moi-truong-submitted".to_owned(), 1),
            ("workflow-tai-nguyen-nuoc-submitted".to_owned(), 1),
        ]
    );
    app.stop().await;
}
