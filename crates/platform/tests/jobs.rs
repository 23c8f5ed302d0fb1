//! Durable jobs and timers, driven by a clock the test moves, against the real PostgreSQL; and
//! "apply if newer" for projections.

#![allow(clippy::unwrap_used)] // a test's panic is its failure message

mod common;

use common::*;
use futures::future::BoxFuture;
use motcua_platform::jobs::{self, Job, JobHandler, JobRunner};
use motcua_platform::{CancellationToken, Clock};
use sqlx::PgConnection;
use std::sync::Arc;
use std::time::Duration;

/// Writes each job it runs to `ran`; a payload of "fail" fails.
struct Writer;

impl JobHandler for Writer {
    fn run<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        job: &'a Job,
    ) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            sqlx::query("INSERT INTO ran (key) VALUES ($1)")
                .bind(&job.key)
                .execute(&mut *tx)
                .await?;
            anyhow::ensure!(job.payload != b"fail", "the gateway said no");
            assert!(job.payload != b"panic", "a template that cannot render");
            Ok(())
        })
    }
}

async fn ran(f: &Fixture) -> Vec<String> {
    sqlx::query_scalar("SELECT key FROM ran ORDER BY seq")
        .fetch_all(&f.pool)
        .await
        .unwrap()
}

async fn schedule(f: &Fixture, key: &str, after: chrono::Duration, payload: &[u8]) {
    let mut tx = f.pool.begin().await.unwrap();
    jobs::schedule(
        &mut tx,
        "sla",
        key,
        f.clock.now() + after,
        payload,
        f.clock.now(),
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

async fn setup(f: &Fixture) {
    sqlx::query("CREATE TABLE ran (seq bigserial, key text NOT NULL)")
        .execute(&f.pool)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timers_fire_when_the_clock_reaches_them_in_order_even_across_a_jump_of_months() {
    let f = fixture().await;
    setup(&f).await;
    let token = CancellationToken::new();
    let runner = JobRunner::new(f.pool.clone(), f.clock(), "sla");
    let task = tokio::spawn(runner.run(Arc::new(Writer), token.clone()));
    schedule(&f, "due-soon", chrono::Duration::hours(4), b"").await;
    schedule(&f, "overdue", chrono::Duration::days(10), b"").await;
    schedule(&f, "moved", chrono::Duration::days(1), b"").await;
    schedule(&f, "cancelled", chrono::Duration::days(2), b"").await;
    // Moved later and cancelled, each in its own transaction, as a state change would.
    schedule(&f, "moved", chrono::Duration::days(90), b"").await;
    let mut tx = f.pool.begin().await.unwrap();
    assert!(jobs::cancel(&mut tx, "sla", "cancelled").await.unwrap());
    tx.commit().await.unwrap();

    // A pass over the queue at the clock's time runs nothing (the clock is months behind the
    // machine's: a runner that read the machine's time would run all four).
    let pass = JobRunner::new(f.pool.clone(), f.clock(), "sla")
        .run_due(&Writer)
        .await
        .unwrap();
    assert_eq!(pass, 0, "nothing is due before the clock moves");
    assert!(ran(&f).await.is_empty());
    f.clock.advance(chrono::Duration::hours(5));
    eventually(Duration::from_secs(10), "the 4-hour timer", || async {
        ran(&f).await == vec!["due-soon".to_owned()]
    })
    .await;
    // Four months at once: every timer that came due runs, earliest first.
    f.clock.advance(chrono::Duration::days(120));
    eventually(Duration::from_secs(10), "the later timers", || async {
        ran(&f).await.len() == 3
    })
    .await;
    assert_eq!(ran(&f).await, vec!["due-soon", "overdue", "moved"]);
    assert_eq!(f.count("SELECT count(*) FROM jobs").await, 0);
    token.cancel();
    task.await.unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_with_backoff_then_kept_as_failed() {
    let f = fixture().await;
    setup(&f).await;
    schedule(&f, "sms-1", chrono::Duration::zero(), b"fail").await;
    let runner = JobRunner::new(f.pool.clone(), f.clock(), "sla")
        .max_attempts(3)
        .backoff(chrono::Duration::minutes(1));
    assert_eq!(runner.run_due(&Writer).await.unwrap(), 1);
    // Its effect was rolled back with the failure; it waits a minute on the clock.
    assert!(ran(&f).await.is_empty());
    assert_eq!(runner.run_due(&Writer).await.unwrap(), 0);
    f.clock.advance(chrono::Duration::minutes(1));
    assert_eq!(runner.run_due(&Writer).await.unwrap(), 1);
    f.clock.advance(chrono::Duration::minutes(2));
    assert_eq!(runner.run_due(&Writer).await.unwrap(), 1);
    f.clock.advance(chrono::Duration::days(1));
    assert_eq!(
        runner.run_due(&Writer).await.unwrap(),
        0,
        "given up after 3 attempts"
    );
    let (attempts, error, failed): (i32, String, bool) = sqlx::query_as(
        "SELECT attempts, last_error, failed_at IS NOT NULL FROM jobs WHERE key = 'sms-1'",
    )
    .fetch_one(&f.pool)
    .await
    .unwrap();
    assert_eq!((attempts, failed), (3, true));
    assert!(error.contains("the gateway said no"), "{error}");
    f.cleanup().await;
}

/// The advisory lock of two_runners_run_each_job_exactly_once's gate.
const RAN_GATE: i64 = 4_242_003;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runners_run_each_job_exactly_once() {
    let f = fixture().await;
    setup(&f).await;
    let mut tx = f.pool.begin().await.unwrap();
    for i in 0..300 {
        jobs::schedule(
            &mut tx,
            "sla",
            &format!("job-{i}"),
            f.clock.now(),
            b"",
            f.clock.now(),
        )
        .await
        .unwrap();
    }
    tx.commit().await.unwrap();
    // A gate in the test's database: a job's effect waits while the test holds the advisory
    // lock. Both runners are seen waiting there at once, each with a job of its own: each did
    // work, and neither waited for the job the other holds.
    sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
        "CREATE FUNCTION ran_gate() RETURNS trigger LANGUAGE plpgsql AS $$
         BEGIN PERFORM pg_advisory_xact_lock_shared({RAN_GATE}); RETURN NEW; END $$;
         CREATE TRIGGER ran_gate BEFORE INSERT ON ran FOR EACH ROW EXECUTE FUNCTION ran_gate();"
    )))
    .execute(&f.pool)
    .await
    .unwrap();
    let mut holder = f.pool.acquire().await.unwrap().detach();
    sqlx::query("SELECT pg_advisory_lock($1)")
        .bind(RAN_GATE)
        .execute(&mut holder)
        .await
        .unwrap();
    let a = JobRunner::new(f.pool.clone(), f.clock(), "sla");
    let b = a.clone();
    let a = tokio::spawn(async move { a.run_due(&Writer).await.unwrap() });
    let b = tokio::spawn(async move { b.run_due(&Writer).await.unwrap() });
    eventually(
        Duration::from_secs(10),
        "both runners waiting at the gate with a job each",
        || async {
            let waiting: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted
                   AND objid = $1::bigint::oid
                   AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            )
            .bind(RAN_GATE)
            .fetch_one(&f.pool)
            .await
            .unwrap();
            waiting == 2
        },
    )
    .await;
    sqlx::query("SELECT pg_advisory_unlock($1)")
        .bind(RAN_GATE)
        .execute(&mut holder)
        .await
        .unwrap();
    let (ra, rb) = (a.await.unwrap(), b.await.unwrap());
    assert!(ra > 0 && rb > 0, "both ran jobs: {ra} and {rb}");
    assert_eq!(ra + rb, 300);
    assert_eq!(f.count("SELECT count(DISTINCT key) FROM ran").await, 300);
    assert_eq!(f.count("SELECT count(*) FROM ran").await, 300);
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_projection_keeps_the_newest_version_whatever_the_order() {
    let f = fixture().await;
    let mut applied = Vec::new();
    for version in [3u64, 1, 2, 3, 5, 4] {
        let mut tx = f.pool.begin().await.unwrap();
        if motcua_platform::versions::claim(&mut tx, "lookup", "H56-260302-0001", version)
            .await
            .unwrap()
        {
            applied.push(version);
        }
        tx.commit().await.unwrap();
    }
    assert_eq!(
        applied,
        vec![3, 5],
        "only versions newer than what was held"
    );
    let mut tx = f.pool.begin().await.unwrap();
    assert_eq!(
        motcua_platform::versions::current(&mut tx, "lookup", "H56-260302-0001")
            .await
            .unwrap(),
        Some(5)
    );
    // Another projection keeps its own versions.
    assert!(
        motcua_platform::versions::claim(&mut tx, "reporting", "H56-260302-0001", 1)
            .await
            .unwrap()
    );
    tx.commit().await.unwrap();
    f.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_panics_fails_its_attempt_and_the_runner_goes_on() {
    let f = fixture().await;
    setup(&f).await;
    schedule(&f, "bad", chrono::Duration::zero(), b"panic").await;
    schedule(&f, "good", chrono::Duration::zero(), b"").await;
    let runner = JobRunner::new(f.pool.clone(), f.clock(), "sla").max_attempts(1);
    assert_eq!(runner.run_due(&Writer).await.unwrap(), 2);
    assert_eq!(ran(&f).await, vec!["good"]);
    let (error, failed): (String, bool) =
        sqlx::query_as("SELECT last_error, failed_at IS NOT NULL FROM jobs WHERE key = 'bad'")
            .fetch_one(&f.pool)
            .await
            .unwrap();
    assert!(failed);
    assert!(
        error.contains("panicked: a template that cannot render"),
        "{error}"
    );
    f.cleanup().await;
}

/// Work done outside a transaction (a message to a provider) leases its jobs: two replicas never
/// lease the same job, a lease counts an attempt, a job whose payload is skipped stays, a lease
/// that ends (its replica died) makes the job due again, and rescheduling or cancelling settles it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leased_jobs_go_to_one_replica_and_come_back_when_the_lease_ends() {
    let f = fixture().await;
    let now = f.clock.now();
    let mut tx = f.pool.begin().await.unwrap();
    let mut due: Vec<(String, chrono::DateTime<chrono::Utc>, Vec<u8>)> = (0..6)
        .map(|i| (format!("d-{i}"), now, b"receiver-a".to_vec()))
        .collect();
    due.push(("d-busy".into(), now, b"receiver-b".to_vec()));
    due.push((
        "d-later".into(),
        now + chrono::Duration::hours(1),
        b"receiver-a".to_vec(),
    ));
    jobs::reschedule(&mut tx, "send", &due, &[], now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(
        jobs::next_due(&f.pool, "send").await.unwrap(),
        Some(now),
        "the earliest job"
    );

    let until = now + chrono::Duration::minutes(2);
    let skip = vec![b"receiver-b".to_vec()];
    let (a, b) = tokio::join!(
        jobs::lease(&f.pool, "send", now, until, 4, &skip),
        jobs::lease(&f.pool, "send", now, until, 4, &skip),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    let mut keys: Vec<String> = a.iter().chain(&b).map(|l| l.key.clone()).collect();
    keys.sort();
    assert_eq!(
        keys,
        (0..6).map(|i| format!("d-{i}")).collect::<Vec<_>>(),
        "each due job leased once, the skipped receiver's and the later one left"
    );
    assert!(a.iter().chain(&b).all(|l| l.attempts == 1));
    assert!(
        jobs::lease(&f.pool, "send", now, until, 10, &skip)
            .await
            .unwrap()
            .is_empty(),
        "leased jobs are not due again before their lease ends"
    );

    // One was sent (cancelled), one is to be tried in ten minutes (rescheduled, attempts afresh);
    // the replica holding the others died: they come due when the lease ends, attempts counted.
    let mut tx = f.pool.begin().await.unwrap();
    jobs::reschedule(
        &mut tx,
        "send",
        &[(
            "d-1".into(),
            now + chrono::Duration::minutes(10),
            b"receiver-a".to_vec(),
        )],
        &["d-0".into()],
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let again = jobs::lease(&f.pool, "send", until, until, 10, &[])
        .await
        .unwrap();
    let mut again: Vec<(String, i32)> = again.into_iter().map(|l| (l.key, l.attempts)).collect();
    again.sort();
    assert_eq!(
        again,
        vec![
            ("d-2".into(), 2),
            ("d-3".into(), 2),
            ("d-4".into(), 2),
            ("d-5".into(), 2),
            ("d-busy".into(), 1),
        ]
    );
    assert_eq!(
        f.count("SELECT count(*) FROM jobs WHERE queue = 'send'")
            .await,
        7,
        "the sent one is gone"
    );

    // A sweep gives a job to work that lost one and leaves the jobs that are there alone.
    let mut tx = f.pool.begin().await.unwrap();
    let added = jobs::ensure(
        &mut tx,
        "send",
        &[
            ("d-2".into(), now, b"receiver-a".to_vec()),
            ("d-lost".into(), now, b"receiver-a".to_vec()),
        ],
        now,
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    assert_eq!(added, 1, "only the lost one");
    let leased_again = jobs::lease(&f.pool, "send", now, until, 10, &[])
        .await
        .unwrap();
    assert_eq!(
        leased_again
            .iter()
            .map(|l| l.key.as_str())
            .collect::<Vec<_>>(),
        vec!["d-lost"],
        "d-2 keeps its lease"
    );
    f.cleanup().await;
}

/// A gauge of one queue as `/metrics` shows it.
fn gauge(shown: &str, name: &str, queue: &str) -> f64 {
    motcua_platform::metrics::counter_value(shown, &format!("{name}{{queue=\"{queue}\"}}"))
}

/// The gauges an autoscaler and the alerts read: a queue's due backlog (leased jobs are not
/// backlog), how late its oldest due job is, how many failed; a queue that empties reads 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_jobs_gauges_show_the_backlog_its_lateness_and_an_emptied_queue_as_zero() {
    let f = fixture().await;
    motcua_platform::metrics::install();
    let now = f.clock.now();
    let queue = "gauged";
    let mut jobs_now: Vec<(String, chrono::DateTime<chrono::Utc>, Vec<u8>)> = (0..5)
        .map(|i| (format!("g-{i}"), now - chrono::Duration::minutes(i), vec![]))
        .collect();
    jobs_now.push(("g-later".into(), now + chrono::Duration::hours(1), vec![]));
    let mut tx = f.pool.begin().await.unwrap();
    jobs::reschedule(&mut tx, queue, &jobs_now, &[], now)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    // One replica holds a lease on one of them: it is being worked on, not waiting.
    let leased = jobs::lease(
        &f.pool,
        queue,
        now,
        now + chrono::Duration::minutes(2),
        1,
        &[],
    )
    .await
    .unwrap();
    assert_eq!(leased.len(), 1);

    let mut seen = std::collections::BTreeSet::new();
    jobs::record_gauges(&f.pool, now, &mut seen).await.unwrap();
    let shown = motcua_platform::metrics::render();
    let value = |name: &str| gauge(&shown, name, queue);
    assert_eq!(
        value("motcua_jobs_due"),
        4.0,
        "five due, one leased:\n{shown}"
    );
    assert!(
        (179.0..=241.0).contains(&value("motcua_jobs_late_seconds")),
        "the oldest waiting job came due three or four minutes ago:\n{shown}"
    );
    assert_eq!(value("motcua_jobs_failed"), 0.0);

    let keys: Vec<String> = jobs_now.iter().map(|j| j.0.clone()).collect();
    let mut tx = f.pool.begin().await.unwrap();
    jobs::cancel_many(&mut tx, queue, &keys).await.unwrap();
    tx.commit().await.unwrap();
    jobs::record_gauges(&f.pool, now, &mut seen).await.unwrap();
    let shown = motcua_platform::metrics::render();
    let value = |name: &str| gauge(&shown, name, queue);
    assert_eq!(
        value("motcua_jobs_due"),
        0.0,
        "an emptied queue reads 0:\n{shown}"
    );
    assert!(
        shown.contains(&format!("motcua_jobs_due{{queue=\"{queue}\"}} 0")),
        "and is still shown:\n{shown}"
    );
}
