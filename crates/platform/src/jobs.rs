//! Durable jobs and timers in the service's own PostgreSQL, driven by its [`Clock`].
//!
//! A job is written with [`schedule`] in the same transaction as the change that needs it (an SLA
//! timer with the transition that starts the clock; a retry with the delivery that failed), moved
//! by scheduling the same key again, and removed with [`cancel`] — so a timer can never outlive or
//! miss the state it belongs to. A [`JobRunner`] takes due jobs (`run_at <= clock.now()`) with
//! `FOR UPDATE SKIP LOCKED`, so each runs on exactly one replica, runs the handler in that
//! transaction, and deletes the job on success. A failed job is retried with backoff, and after its
//! last attempt is kept with `failed_at` and its error for an operator.
//!
//! Time comes from the clock: when a test or the simulator moves the clock forward by months,
//! every job that came due runs, in `run_at` order. New jobs wake the runner through
//! LISTEN/NOTIFY; a slow poll is the safety net.

use crate::clock::SharedClock;
use crate::outbox::OutboxWake;
use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool, Row};
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// The LISTEN/NOTIFY channel on which a job coming due within seconds wakes whoever waits for the
/// service's jobs (the trigger of migration 0003).
pub const WAKE: &str = "motcua_jobs";

/// Schedules (or moves) the job `key` of `queue` to run at `run_at`, in the caller's transaction.
/// Scheduling a key again replaces its time and payload and resets its attempts.
pub async fn schedule(
    conn: &mut PgConnection,
    queue: &str,
    key: &str,
    run_at: DateTime<Utc>,
    payload: &[u8],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    reschedule(
        conn,
        queue,
        &[(key.to_owned(), run_at, payload.to_vec())],
        &[],
        now,
    )
    .await
}

/// Schedules (or moves) several jobs of `queue` in one statement: `(key, run_at, payload)` each.
pub async fn schedule_many(
    conn: &mut PgConnection,
    queue: &str,
    jobs: &[(String, DateTime<Utc>, Vec<u8>)],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    reschedule(conn, queue, jobs, &[], now).await
}

/// Removes the jobs `cancel` of `queue`, then schedules (or moves) `schedule`, in one statement
/// (a change that moves a case's timers pays one round trip for all of them). The rule is the
/// platform's SQL function `motcua_jobs_reschedule` (migration 0005), which a service that writes a
/// change in one statement calls in that statement.
pub async fn reschedule(
    conn: &mut PgConnection,
    queue: &str,
    schedule: &[(String, DateTime<Utc>, Vec<u8>)],
    cancel: &[String],
    now: DateTime<Utc>,
) -> sqlx::Result<()> {
    if schedule.is_empty() && cancel.is_empty() {
        return Ok(());
    }
    let (keys, times, payloads) = columns(schedule);
    sqlx::query("SELECT motcua_jobs_reschedule($1, $2, $3, $4, $5, $6)")
        .bind(queue)
        .bind(cancel)
        .bind(&keys)
        .bind(&times)
        .bind(&payloads)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

/// `(key, run_at, payload)` jobs as the three arrays the SQL functions take.
fn columns(
    jobs: &[(String, DateTime<Utc>, Vec<u8>)],
) -> (Vec<&str>, Vec<DateTime<Utc>>, Vec<&[u8]>) {
    (
        jobs.iter().map(|j| j.0.as_str()).collect(),
        jobs.iter().map(|j| j.1).collect(),
        jobs.iter().map(|j| j.2.as_slice()).collect(),
    )
}

/// A job taken under a lease ([`lease`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Leased {
    pub key: String,
    pub payload: Vec<u8>,
    /// Attempts including this one.
    pub attempts: i32,
}

/// Leases up to `limit` due jobs of `queue` until `until`, for work done outside a transaction
/// (sending a message): another replica skips them, and they come due again when the lease ends if
/// this one dies. Each lease counts an attempt; jobs whose payload is in `skip` are left. The
/// caller then reschedules or cancels each. The rule is the SQL function `motcua_jobs_lease`
/// (migration 0005), which a service calls inside its own statement to join the jobs to its rows;
/// a statement that records the work and moves the job locks the job first (`motcua_jobs_hold`,
/// migration 0007), as the lease does, so the two never deadlock.
pub async fn lease(
    pool: &PgPool,
    queue: &str,
    now: DateTime<Utc>,
    until: DateTime<Utc>,
    limit: i64,
    skip: &[Vec<u8>],
) -> sqlx::Result<Vec<Leased>> {
    let rows =
        sqlx::query("SELECT key, payload, attempts FROM motcua_jobs_lease($1, $2, $3, $4, $5)")
            .bind(queue)
            .bind(now)
            .bind(until)
            .bind(i32::try_from(limit).unwrap_or(i32::MAX))
            .bind(skip)
            .fetch_all(pool)
            .await?;
    Ok(rows
        .iter()
        .map(|r| Leased {
            key: r.get("key"),
            payload: r.get("payload"),
            attempts: r.get("attempts"),
        })
        .collect())
}

/// The earliest time a job of `queue` comes due, if any waits.
pub async fn next_due(pool: &PgPool, queue: &str) -> sqlx::Result<Option<DateTime<Utc>>> {
    sqlx::query_scalar("SELECT motcua_jobs_next_due($1)")
        .bind(queue)
        .fetch_one(pool)
        .await
}

/// Schedules those of `jobs` that are not in `queue` yet and leaves the others (leased or
/// waiting) alone; returns how many it scheduled. For a sweep that gives work a job it lost.
pub async fn ensure(
    conn: &mut PgConnection,
    queue: &str,
    jobs: &[(String, DateTime<Utc>, Vec<u8>)],
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let (keys, times, payloads) = columns(jobs);
    let added: i32 = sqlx::query_scalar("SELECT motcua_jobs_ensure($1, $2, $3, $4, $5)")
        .bind(queue)
        .bind(&keys)
        .bind(&times)
        .bind(&payloads)
        .bind(now)
        .fetch_one(conn)
        .await?;
    Ok(u64::try_from(added).unwrap_or(0))
}

/// Removes several jobs of `queue` in one statement; returns how many were there.
pub async fn cancel_many(
    conn: &mut PgConnection,
    queue: &str,
    keys: &[String],
) -> sqlx::Result<u64> {
    if keys.is_empty() {
        return Ok(0);
    }
    Ok(
        sqlx::query("DELETE FROM jobs WHERE queue = $1 AND key = ANY($2)")
            .bind(queue)
            .bind(keys)
            .execute(conn)
            .await?
            .rows_affected(),
    )
}

/// Removes the job `key` of `queue` if it is there; returns whether it was.
pub async fn cancel(conn: &mut PgConnection, queue: &str, key: &str) -> sqlx::Result<bool> {
    Ok(
        sqlx::query("DELETE FROM jobs WHERE queue = $1 AND key = $2")
            .bind(queue)
            .bind(key)
            .execute(conn)
            .await?
            .rows_affected()
            == 1,
    )
}

/// The gauge of a queue's due backlog (label `queue`), which autoscalers read.
pub const DUE_GAUGE: &str = "motcua_jobs_due";

/// Samples every queue of the service's jobs into gauges, per queue: `motcua_jobs_due` (due now and
/// not leased: the backlog, what an autoscaler of a service's work scales on),
/// `motcua_jobs_late_seconds` (how long the oldest due job has waited: timers that fire late) and
/// `motcua_jobs_failed` (given up, kept for an operator). `seen` holds the queues sampled before,
/// so a queue that emptied reads 0 instead of its last value.
pub async fn record_gauges(
    pool: &PgPool,
    now: DateTime<Utc>,
    seen: &mut std::collections::BTreeSet<String>,
) -> sqlx::Result<()> {
    let rows = sqlx::query(
        "SELECT queue,
                count(*) FILTER (WHERE failed_at IS NULL AND run_at <= $1) AS due,
                coalesce(extract(epoch FROM $1 - min(run_at) FILTER (WHERE failed_at IS NULL AND run_at <= $1)), 0)::float8 AS late,
                count(*) FILTER (WHERE failed_at IS NOT NULL) AS failed
         FROM jobs GROUP BY queue",
    )
    .bind(now)
    .fetch_all(pool)
    .await?;
    let mut now_seen = std::collections::BTreeSet::new();
    for row in &rows {
        let queue: String = row.get("queue");
        let (due, late, failed): (i64, f64, i64) =
            (row.get("due"), row.get("late"), row.get("failed"));
        metrics::gauge!(DUE_GAUGE, "queue" => queue.clone()).set(due as f64);
        metrics::gauge!("motcua_jobs_late_seconds", "queue" => queue.clone()).set(late.max(0.0));
        metrics::gauge!("motcua_jobs_failed", "queue" => queue.clone()).set(failed as f64);
        now_seen.insert(queue);
    }
    for gone in seen.difference(&now_seen) {
        for name in [DUE_GAUGE, "motcua_jobs_late_seconds", "motcua_jobs_failed"] {
            metrics::gauge!(name, "queue" => gone.clone()).set(0.0);
        }
    }
    seen.extend(now_seen);
    Ok(())
}

/// A job handed to its handler.
#[derive(Debug, Clone)]
pub struct Job {
    pub queue: String,
    pub key: String,
    pub payload: Vec<u8>,
    /// When it was due (the clock may be well past it after a jump).
    pub run_at: DateTime<Utc>,
    /// Attempts before this one.
    pub attempts: i32,
}

/// What a job does, inside the transaction that deletes it. An error rolls the effect back and
/// retries the job later.
pub trait JobHandler: Send + Sync + 'static {
    fn run<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        job: &'a Job,
    ) -> BoxFuture<'a, anyhow::Result<()>>;
}

#[derive(Debug, Clone)]
pub struct JobRunner {
    pool: PgPool,
    clock: SharedClock,
    queue: String,
    max_attempts: i32,
    backoff: chrono::Duration,
    poll: Duration,
    /// Told after each commit, for handlers that write events.
    wake: OutboxWake,
}

impl JobRunner {
    pub fn new(pool: PgPool, clock: SharedClock, queue: &str) -> Self {
        Self {
            pool,
            clock,
            queue: queue.to_owned(),
            max_attempts: 10,
            backoff: chrono::Duration::seconds(30),
            poll: Duration::from_secs(5),
            wake: OutboxWake::default(),
        }
    }

    /// The outbox relay to tell after a job's commit (the host sets its own).
    pub fn with_wake(mut self, wake: OutboxWake) -> Self {
        self.wake = wake;
        self
    }

    pub fn max_attempts(mut self, n: i32) -> Self {
        self.max_attempts = n.max(1);
        self
    }

    /// The first retry's delay (clock time); it doubles each attempt, up to a day.
    pub fn backoff(mut self, first: chrono::Duration) -> Self {
        self.backoff = first.max(chrono::Duration::seconds(1));
        self
    }

    /// Runs due jobs until `shutdown`.
    pub async fn run<H: JobHandler>(self, handler: Arc<H>, shutdown: CancellationToken) {
        let mut listener = crate::db::listener(&self.pool, WAKE).await.ok();
        loop {
            match self.run_due(handler.as_ref()).await {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(queue = %self.queue, error = %e, "jobs: cannot reach the database; will retry");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            }
            let next = self.next_run_at().await.ok().flatten();
            let clock = self.clock.clone();
            let due = async move {
                match next {
                    Some(at) => clock.sleep_until(at).await,
                    None => futures::future::pending().await,
                }
            };
            let woken = async {
                match listener.as_mut() {
                    Some(l) => {
                        if tokio::time::timeout(self.poll, l.recv()).await.is_ok() {
                            // Every change that sets a timer notifies; under load they come by the
                            // hundred. Gather them for a moment, then look once: a timer may fire a
                            // tenth of a second late, the database is not asked a thousand times.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            while l.next_buffered().is_some() {}
                        }
                    }
                    None => tokio::time::sleep(self.poll).await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = due => {}
                _ = woken => {}
            }
        }
    }

    async fn next_run_at(&self) -> sqlx::Result<Option<DateTime<Utc>>> {
        sqlx::query_scalar("SELECT min(run_at) FROM jobs WHERE queue = $1 AND failed_at IS NULL")
            .bind(&self.queue)
            .fetch_one(&self.pool)
            .await
    }

    /// Runs every job due now, one transaction each; returns how many ran (succeeded or not).
    pub async fn run_due<H: JobHandler>(&self, handler: &H) -> sqlx::Result<usize> {
        let mut ran = 0;
        while self.run_one(handler).await? {
            ran += 1;
        }
        Ok(ran)
    }

    /// Takes the earliest due job, if any, and runs it. Returns whether there was one.
    async fn run_one<H: JobHandler>(&self, handler: &H) -> sqlx::Result<bool> {
        let now = self.clock.now();
        let mut tx = self.pool.begin().await?;
        let row = sqlx::query(
            "SELECT key, payload, run_at, attempts FROM jobs
             WHERE queue = $1 AND failed_at IS NULL AND run_at <= $2
             ORDER BY run_at, key LIMIT 1 FOR UPDATE SKIP LOCKED",
        )
        .bind(&self.queue)
        .bind(now)
        .fetch_optional(&mut *tx)
        .await?;
        let Some(row) = row else { return Ok(false) };
        let job = Job {
            queue: self.queue.clone(),
            key: row.get("key"),
            payload: row.get("payload"),
            run_at: row.get("run_at"),
            attempts: row.get("attempts"),
        };
        sqlx::query("SAVEPOINT job").execute(&mut *tx).await?;
        // A handler that panics fails this attempt like an error would; it does not take the
        // runner (and readiness) down every time the job comes due.
        let ran = {
            use futures::FutureExt;
            std::panic::AssertUnwindSafe(handler.run(&mut tx, &job))
                .catch_unwind()
                .await
                .unwrap_or_else(|panic| {
                    let why = panic
                        .downcast::<String>()
                        .map(|s| *s)
                        .or_else(|p| p.downcast::<&str>().map(|s| (*s).to_owned()))
                        .unwrap_or_else(|_| "(no message)".into());
                    Err(anyhow::anyhow!("the job handler panicked: {why}"))
                })
        };
        match ran {
            Ok(()) => {
                // The handler may have rescheduled its own key for later: delete only this run.
                sqlx::query("DELETE FROM jobs WHERE queue = $1 AND key = $2 AND run_at = $3")
                    .bind(&self.queue)
                    .bind(&job.key)
                    .bind(job.run_at)
                    .execute(&mut *tx)
                    .await?;
                metrics::counter!("motcua_jobs_done_total", "queue" => self.queue.clone())
                    .increment(1);
            }
            Err(e) => {
                // Undo the handler's effect, keep the lock, and record the failure.
                sqlx::query("ROLLBACK TO SAVEPOINT job")
                    .execute(&mut *tx)
                    .await?;
                let attempts = job.attempts + 1;
                let error = format!("{e:#}");
                if attempts >= self.max_attempts {
                    tracing::error!(queue = %self.queue, key = %job.key, attempts, %error, "job failed for good");
                    metrics::counter!("motcua_jobs_failed_total", "queue" => self.queue.clone())
                        .increment(1);
                    sqlx::query(
                        "UPDATE jobs SET attempts = $3, last_error = $4, failed_at = $5 WHERE queue = $1 AND key = $2",
                    )
                    .bind(&self.queue)
                    .bind(&job.key)
                    .bind(attempts)
                    .bind(&error)
                    .bind(now)
                    .execute(&mut *tx)
                    .await?;
                } else {
                    let factor = 1i32 << (attempts - 1).clamp(0, 20);
                    let delay = (self.backoff * factor).min(chrono::Duration::days(1));
                    tracing::warn!(queue = %self.queue, key = %job.key, attempts, %error, "job failed; will retry");
                    sqlx::query(
                        "UPDATE jobs SET attempts = $3, last_error = $4, run_at = $5 WHERE queue = $1 AND key = $2",
                    )
                    .bind(&self.queue)
                    .bind(&job.key)
                    .bind(attempts)
                    .bind(&error)
                    .bind(now + delay)
                    .execute(&mut *tx)
                    .await?;
                }
            }
        }
        self.wake.commit(tx).await?;
        Ok(true)
    }
}
