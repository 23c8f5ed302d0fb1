//! Workflow on the stream: timers that fire once whatever the replicas, restarts and jumps of the
//! clock; intake's events redelivered and out of order; the land path split from the rest.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use motcua_domain::events::{DEADLINE, SUBMITTED, SUPPLEMENT_SUBMITTED, WITHDRAWAL_REQUESTED};
use motcua_platform::auth::Role;
use motcua_platform::config::Vars;
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

/// The deadline events of `code` once at least `n` are out and every timer due by the clock has
/// run and its event is published: what comes after that would be a timer that fired twice or
/// early, and is in the answer.
async fn wait_deadlines(app: &App, code: &str, n: usize) -> Vec<(DeadlineScope, DeadlineKind)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let got = deadlines(app, code).await;
        if got.len() >= n && settled(app).await {
            return deadlines(app, code).await;
        }
        assert!(tokio::time::Instant::now() < deadline, "only {got:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// No timer is due by the clock (a running one is deleted when its transaction commits) and
/// every event written is published.
async fn settled(app: &App) -> bool {
    let (due, unpublished): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM jobs WHERE run_at <= $1 AND failed_at IS NULL),
                (SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL)",
    )
    .bind(now(app))
    .fetch_one(&app.workflow_db)
    .await
    .unwrap();
    (due, unpublished) == (0, 0)
}

/// A workflow instance's settings: its connections carry `application_name = name`, so the
/// database can tell which instance did what.
fn instance(vars: &Vars, name: &str) -> Vars {
    let mut v = vars.clone();
    v.set(
        "MOTCUA_DATABASE_URL",
        format!("postgres://postgres@127.0.0.1:5432/?application_name={name}"),
    );
    v
}

/// The advisory lock the test holds to stop writers of deadline events at the gate.
const GATE: i64 = 4_242_002;

/// From now on each deadline event records the instance whose transaction wrote it, and waits at
/// the gate first while the test holds it (its timer stays taken meanwhile). In the test's own
/// database, not in workflow.
async fn watch_deadline_writers(app: &App) {
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE TABLE written_by (event_id uuid NOT NULL, instance text NOT NULL);
         CREATE FUNCTION deadline_written() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           PERFORM pg_advisory_xact_lock_shared({GATE});
           INSERT INTO written_by VALUES (NEW.id, current_setting('application_name'));
           RETURN NEW;
         END $$;
         CREATE TRIGGER deadline_written BEFORE INSERT ON outbox FOR EACH ROW
           WHEN (NEW.event_type = '{DEADLINE}') EXECUTE FUNCTION deadline_written();"
    )))
    .execute(&app.workflow_db)
    .await
    .unwrap();
}

/// The instances waiting at the gate, sorted.
async fn at_the_gate(app: &App) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT a.application_name::text FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
         WHERE l.locktype = 'advisory' AND NOT l.granted AND l.objid = $1::bigint::oid
           AND a.datname = current_database() ORDER BY 1",
    )
    .bind(GATE)
    .fetch_all(&app.workflow_db)
    .await
    .unwrap()
}

/// How many deadline events each instance wrote.
async fn written_by(app: &App) -> Vec<(String, i64)> {
    sqlx::query_as("SELECT instance, count(*) FROM written_by GROUP BY instance ORDER BY instance")
        .fetch_all(&app.workflow_db)
        .await
        .unwrap()
}

/// Polls `check` for at most 20 s; the message says what never happened.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while !check().await {
        assert!(tokio::time::Instant::now() < deadline, "never: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_once_across_replicas_after_a_restart_and_a_jump_of_a_month() {
    // Reminders two working hours before a due time.
    let mut app = App::new(|v| v.set("MOTCUA_WORKFLOW_DUE_SOON_HOURS", "2")).await;
    app.start_intake().await;
    // Two replicas on one database.
    app.start_workflow(instance(&app.vars, "workflow-a")).await;
    app.start_workflow(instance(&app.vars, "workflow-b")).await;
    watch_deadline_writers(&app).await;
    let code = app.submit_land("timer-1").await.dossier_code;
    let other = app.submit_land("timer-2").await.dossier_code;
    // Received Monday 09:00, the desk's 4-hour step is due at 15:00 (2.5 h before lunch, 1.5 h
    // after), its reminder at 11:00. At 12:00 both dossiers' reminders are due at once. The test
    // holds every writer at the gate: each replica has taken one timer and waits there with it,
    // so each did work, and neither took the timer the other holds.
    assert!(deadlines(&app, &code).await.is_empty());
    let mut gate = app.workflow_db.acquire().await.unwrap().detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(GATE)
        .execute(&mut gate)
        .await
        .unwrap();
    app.clock.advance(chrono::Duration::hours(3));
    eventually(
        "each replica waiting at the gate with a reminder",
        || async { at_the_gate(&app).await == ["workflow-a", "workflow-b"] },
    )
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(GATE)
        .execute(&mut gate)
        .await
        .unwrap();
    let got = wait_deadlines(&app, &code, 1).await;
    assert_eq!(got, [(DeadlineScope::Step, DeadlineKind::DueSoon)]);
    let got = wait_deadlines(&app, &other, 1).await;
    assert_eq!(got, [(DeadlineScope::Step, DeadlineKind::DueSoon)]);
    assert_eq!(
        written_by(&app).await,
        [("workflow-a".to_owned(), 1), ("workflow-b".to_owned(), 1)],
        "one reminder each, written once"
    );

    // Replica a stops. At 16:00 the steps are overdue: b, alone now, fires both.
    app.stop_workflow(0).await;
    app.clock.advance(chrono::Duration::hours(4));
    let got = wait_deadlines(&app, &code, 2).await;
    assert_eq!(got[1..], [(DeadlineScope::Step, DeadlineKind::Overdue)]);
    assert_eq!(wait_deadlines(&app, &other, 2).await.len(), 2);
    assert_eq!(
        written_by(&app).await,
        [("workflow-a".to_owned(), 1), ("workflow-b".to_owned(), 3)]
    );

    // b stops too; a new one starts (the timers are in the database, not in memory).
    app.stop_workflow(0).await;
    app.start_workflow(instance(&app.vars, "workflow-c")).await;
    // A month passes at once: each dossier's reminder and its overdue notice fire, in due order,
    // once each.
    app.clock.advance(chrono::Duration::days(31));
    let whole = [
        (DeadlineScope::Step, DeadlineKind::DueSoon),
        (DeadlineScope::Step, DeadlineKind::Overdue),
        (DeadlineScope::Dossier, DeadlineKind::DueSoon),
        (DeadlineScope::Dossier, DeadlineKind::Overdue),
    ];
    assert_eq!(wait_deadlines(&app, &code, 4).await, whole);
    assert_eq!(wait_deadlines(&app, &other, 4).await, whole);
    assert_eq!(
        written_by(&app).await,
        [
            ("workflow-a".to_owned(), 1),
            ("workflow-b".to_owned(), 3),
            ("workflow-c".to_owned(), 4)
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
    let timers: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE key LIKE $1 || '|%'")
        .bind(&code)
        .fetch_one(&app.workflow_db)
        .await
        .unwrap();
    assert_eq!(timers, 0, "no timer while paused");
    // A dossier received at the same time and not paused: its four notices are the sign that
    // the timers of those 40 days have run.
    let marker = app.submit_land("timer-2-marker").await.dossier_code;
    app.clock.advance(chrono::Duration::days(40));
    assert_eq!(wait_deadlines(&app, &marker, 4).await.len(), 4);
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
    app.publish_copy(subject, event_type, event_id, msg_id, payload)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redelivered_and_reordered_intake_events_change_nothing() {
    let app = spawn().await;
    let c = app.submit_land("order-1").await;
    let code = c.dossier_code.clone();
    // Intake's own `submitted`, as it went out.
    let submitted = app.events(SUBMITTED).await.remove(0);
    let mut event = DossierSubmitted::decode(submitted.as_slice()).unwrap();
    // Delivered again under other event ids, as if a relay republished it late.
    let subject = "dossier.dat-dai.submitted";
    let again = [uuid::Uuid::now_v7(), uuid::Uuid::now_v7()];
    publish(
        &app,
        subject,
        SUBMITTED,
        again[0],
        "again-1",
        submitted.clone(),
    )
    .await;
    publish(
        &app,
        subject,
        SUBMITTED,
        again[1],
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
    let early = uuid::Uuid::now_v7();
    publish(
        &app,
        "dossier.dat-dai.withdrawal-requested",
        WITHDRAWAL_REQUESTED,
        early,
        "early",
        supplement.encode_to_vec(),
    )
    .await;
    // It was tried and waits for its case (one failed try counted), before its `submitted` comes.
    eventually("the early request tried and waiting", || async {
        let tries: i64 =
            sqlx::query_scalar("SELECT count(*) FROM consumer_failures WHERE event_id = $1")
                .bind(early)
                .fetch_one(&app.workflow_db)
                .await
                .unwrap();
        tries >= 1
    })
    .await;
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
    // The first dossier opened once, whatever came again: both copies were taken and recorded.
    eventually("the copies handled", || async {
        let handled: i64 = sqlx::query_scalar(
            "SELECT count(DISTINCT event_id) FROM processed_events WHERE event_id = ANY($1)",
        )
        .bind(&again[..])
        .fetch_one(&app.workflow_db)
        .await
        .unwrap();
        handled == 2
    })
    .await;
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

/// From now on each event a consumer takes records the consumer and the instance that took it.
async fn watch_consumers(app: &App) {
    sqlx::raw_sql(
        "CREATE TABLE processed_by (consumer text NOT NULL, instance text NOT NULL);
         CREATE FUNCTION processed_by() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN
           INSERT INTO processed_by VALUES (NEW.consumer, current_setting('application_name'));
           RETURN NEW;
         END $$;
         CREATE TRIGGER processed_by AFTER INSERT ON processed_events FOR EACH ROW
           EXECUTE FUNCTION processed_by();",
    )
    .execute(&app.workflow_db)
    .await
    .unwrap();
}

/// (consumer, instance, events) of what the consumers took.
async fn processed_by(app: &App) -> Vec<(String, String, i64)> {
    sqlx::query_as(
        "SELECT consumer, instance, count(*) FROM processed_by
         GROUP BY consumer, instance ORDER BY consumer, instance",
    )
    .fetch_all(&app.workflow_db)
    .await
    .unwrap()
}

async fn submit(app: &App, procedure: &str, key: &str) -> String {
    let req = submission(app, procedure, key).await;
    app.intake_client(&[Role::Desk])
        .await
        .submit_dossier(req)
        .await
        .unwrap()
        .into_inner()
        .receipt
        .unwrap()
        .dossier_code
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_land_instance_and_one_for_the_rest_take_every_dossier_exactly_once() {
    let mut app = App::new(|_| {}).await;
    app.start_intake().await;
    let mut land = instance(&app.vars, "workflow-land");
    land.set("MOTCUA_WORKFLOW_FIELDS", "dat-dai");
    let mut rest = instance(&app.vars, "workflow-rest");
    rest.set("MOTCUA_WORKFLOW_FIELDS", "all-except:dat-dai");
    app.start_workflow(land).await;
    app.start_workflow(rest.clone()).await;
    watch_consumers(&app).await;
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
        codes.push(submit(&app, procedure, &format!("split-{i}")).await);
    }
    for code in &codes {
        app.wait_case(code, 2).await;
    }
    assert_eq!(app.count("SELECT count(*) FROM cases").await, 4);
    assert_eq!(
        app.count("SELECT count(*) FROM history").await,
        4,
        "each opened once"
    );
    // Each field's events went to that field's durable consumer, in the instance that holds it.
    let took =
        |consumer: &str, instance: &str, n: i64| (consumer.to_owned(), instance.to_owned(), n);
    assert_eq!(
        processed_by(&app).await,
        [
            took("workflow-dat-dai-submitted", "workflow-land", 2),
            took("workflow-moi-truong-submitted", "workflow-rest", 1),
            took("workflow-tai-nguyen-nuoc-submitted", "workflow-rest", 1),
        ]
    );

    // The instance for the rest stops. A land dossier still opens (the land instance works on);
    // an environment dossier waits for an instance that holds its field, and opens once one
    // starts again: the land instance never took it.
    app.stop_workflow(1).await;
    let environment = submit(&app, "mt-tham-dinh-dtm-nhom-2", "split-late-env").await;
    let land_late = submit(&app, "1.013831", "split-late-land").await;
    app.wait_case(&land_late, 2).await;
    rest.set(
        "MOTCUA_DATABASE_URL",
        "postgres://postgres@127.0.0.1:5432/?application_name=workflow-rest-2",
    );
    app.start_workflow(rest).await;
    app.wait_case(&environment, 2).await;
    assert_eq!(
        processed_by(&app).await,
        [
            took("workflow-dat-dai-submitted", "workflow-land", 3),
            took("workflow-moi-truong-submitted", "workflow-rest", 1),
            took("workflow-moi-truong-submitted", "workflow-rest-2", 1),
            took("workflow-tai-nguyen-nuoc-submitted", "workflow-rest", 1),
        ]
    );
    app.stop().await;
}
