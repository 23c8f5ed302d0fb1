//! The host's background work: tasks that end with it, supervised tasks restarted after a
//! panic, and what runs on them — the outbox relay and its stall watch, consumers, durable jobs,
//! retention pruning and the platform's own housekeeping.

use super::*;

/// How often the jobs' gauges are sampled: often enough for an autoscaler that looks every 30 s.
const JOB_GAUGES_EVERY: Duration = Duration::from_secs(15);

impl ServiceHost {
    /// Spawns a task that ends with the host (stopped after the gRPC server drains).
    pub fn spawn(&mut self, task: impl std::future::Future<Output = ()> + Send + 'static) {
        let token = self.background.clone();
        self.tasks.push(tokio::spawn(async move {
            tokio::select! {
                _ = token.cancelled() => {}
                _ = task => {}
            }
        }));
    }

    /// Spawns a long-running task that is restarted if it panics. A panic is logged as an error,
    /// counted in `motcua_task_panics_total`, and keeps the host NOT_SERVING until the restarted
    /// task has run for a few seconds: a task that keeps dying is an outage, not a footnote.
    pub fn spawn_supervised<F, Fut>(&mut self, task: &'static str, make: F)
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: std::future::Future<Output = ()> + Send + 'static,
    {
        let token = self.background.clone();
        let readiness = self.readiness.clone();
        let service = self.name;
        self.tasks.push(tokio::spawn(async move {
            loop {
                let mut run = tokio::spawn(make());
                let settled = async {
                    tokio::time::sleep(Duration::from_secs(5)).await;
                    readiness.clear(task);
                    futures::future::pending::<()>().await
                };
                let ended = tokio::select! {
                    // Shutting down: the task sees the same token and finishes its work (the relay
                    // flushes); the host bounds the wait by the grace period.
                    _ = token.cancelled() => { let _ = run.await; return }
                    ended = &mut run => ended,
                    _ = settled => unreachable!("settled never ends"),
                };
                match ended {
                    Ok(()) => return,
                    Err(e) if e.is_panic() => {
                        let why = e
                            .into_panic()
                            .downcast::<String>()
                            .map(|s| *s)
                            .or_else(|p| p.downcast::<&str>().map(|s| (*s).to_owned()))
                            .unwrap_or_else(|_| "(no message)".into());
                        tracing::error!(service, task, panic = %why, "background task panicked; restarting it");
                        metrics::counter!("motcua_task_panics_total", "service" => service, "task" => task)
                            .increment(1);
                        readiness.report(task, format!("panicked: {why}"));
                    }
                    Err(_) => return,
                }
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }));
    }

    /// Starts the outbox relay (supervised; its health counts in readiness).
    pub fn spawn_relay(&mut self) {
        let relay = Relay::new(self.pool.clone(), self.bus.clone())
            .with_streams(self.settings.retention.clone())
            .with_health(self.relay_health())
            .with_wake(self.outbox.clone());
        let token = self.background.clone();
        let ready = self.readiness();
        self.spawn_supervised("outbox-relay", move || {
            let (relay, token, ready) = (relay.clone(), token.clone(), ready.clone());
            async move {
                // The relay needs the outbox table: wait for the migrations.
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ready.wait() => {}
                }
                relay.run(token).await;
            }
        });
        self.watch_relay();
    }

    /// Turns a relay that has failed to publish for MOTCUA_RELAY_STALL_SECS into a health detail
    /// ("publishing is behind") and a metric, and back when it catches up. Not a readiness
    /// problem: the service serves from its database, and the events wait in the outbox.
    pub(super) fn watch_relay(&mut self) {
        let Some(health) = self.relay_health.clone() else {
            return;
        };
        let (readiness, stall, token) = (
            self.readiness.clone(),
            self.settings.relay_stall,
            self.background.clone(),
        );
        self.spawn(async move {
            loop {
                match health.failing() {
                    Some((for_how_long, why)) if for_how_long >= stall => {
                        metrics::gauge!("motcua_outbox_relay_stalled").set(1.0);
                        readiness.note(
                            "publishing-behind",
                            format!(
                                "events wait in the outbox: none published for {}s ({why})",
                                for_how_long.as_secs()
                            ),
                        );
                    }
                    _ => {
                        metrics::gauge!("motcua_outbox_relay_stalled").set(0.0);
                        readiness.unnote("publishing-behind");
                    }
                }
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                }
            }
        });
    }

    /// Starts a consumer once the host is ready; it pauses while the host is not.
    pub fn spawn_consumer<H: Handler>(&mut self, spec: ConsumerSpec, handler: Arc<H>) {
        let ctx = ConsumerContext {
            pool: self.pool.clone(),
            bus: self.bus.clone(),
            readiness: self.readiness(),
            outbox: self.outbox.clone(),
        };
        let token = self.background.clone();
        let name = spec.name.clone();
        self.spawn_supervised("consumer", move || {
            let (ctx, spec, handler, token) =
                (ctx.clone(), spec.clone(), handler.clone(), token.clone());
            async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = ctx.readiness.wait() => {}
                    }
                    match consumer::run(ctx.clone(), spec.clone(), handler.clone(), token.clone()).await {
                        Ok(()) => return,
                        Err(e) => {
                            tracing::error!(consumer = %spec.name, error = format!("{e:#}"), "consumer stopped; starting it again");
                            tokio::select! {
                                _ = token.cancelled() => return,
                                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                            }
                        }
                    }
                }
            }
        });
        tracing::debug!(consumer = %name, "consumer scheduled");
    }

    /// Starts a runner of the durable jobs of `queue` once the host is ready.
    pub fn spawn_jobs<H: JobHandler>(&mut self, runner: JobRunner, handler: Arc<H>) {
        let runner = runner.with_wake(self.outbox.clone());
        let token = self.background.clone();
        let ready = self.readiness();
        self.spawn_supervised("jobs", move || {
            let (runner, handler, token, ready) = (
                runner.clone(),
                handler.clone(),
                token.clone(),
                ready.clone(),
            );
            async move {
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = ready.wait() => {}
                }
                runner.run(handler, token).await;
            }
        });
    }

    /// Prunes the service's own tables past their retention every hour of the service's clock
    /// (its registry, see [`crate::retention`]), once the migrations have run.
    pub fn spawn_retention(
        &mut self,
        tables: &'static [crate::retention::Kept],
        vars: &crate::config::Vars,
    ) {
        let (pool, clock, ready, vars) = (
            self.pool.clone(),
            self.clock.clone(),
            self.readiness(),
            vars.clone(),
        );
        let token = self.background.clone();
        self.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = ready.wait() => {}
            }
            crate::retention::prune_hourly(pool, clock, tables, vars, token).await;
        });
    }

    /// Samples the jobs' gauges every 15 seconds of real time ([`crate::jobs::record_gauges`]),
    /// at the service's clock, once the migrations have run.
    pub(super) fn spawn_job_gauges(&mut self) {
        let (pool, clock, ready, token) = (
            self.pool.clone(),
            self.clock.clone(),
            self.readiness(),
            self.background.clone(),
        );
        self.spawn(async move {
            tokio::select! {
                _ = token.cancelled() => return,
                _ = ready.wait() => {}
            }
            let mut seen = std::collections::BTreeSet::new();
            loop {
                if let Err(e) = crate::jobs::record_gauges(&pool, clock.now(), &mut seen).await {
                    tracing::debug!(error = %e, "cannot sample the jobs' gauges; next time");
                }
                tokio::select! {
                    _ = token.cancelled() => return,
                    _ = tokio::time::sleep(JOB_GAUGES_EVERY) => {}
                }
            }
        });
    }

    /// Prunes what is kept only for a while, every hour: see [`housekeep`].
    pub(super) fn spawn_housekeeping(&mut self) {
        let (pool, retention, limiter, ready, token) = (
            self.pool.clone(),
            self.settings.retention.clone(),
            self.limiter.clone(),
            self.readiness(),
            self.background.clone(),
        );
        self.spawn_supervised("housekeeping", move || {
            let (pool, retention, limiter, ready, token) = (
                pool.clone(),
                retention.clone(),
                limiter.clone(),
                ready.clone(),
                token.clone(),
            );
            async move {
                loop {
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = ready.wait() => {}
                    }
                    match housekeep(&pool, &retention).await {
                        Ok(rows) => tracing::debug!(rows, "housekeeping: pruned"),
                        Err(e) => {
                            tracing::warn!(error = %e, "housekeeping failed; next hour again")
                        }
                    }
                    limiter.forget_idle();
                    tokio::select! {
                        _ = token.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(3600)) => {}
                    }
                }
            }
        });
    }
}

/// Prunes the platform's tables ([`crate::retention::PLATFORM`]) past their retention, in real
/// time (PostgreSQL's clock: bookkeeping, not the rules' time): published outbox rows, processed
/// event ids, failures of events that never came back, and jobs that failed for good. Returns
/// how many rows went.
pub async fn housekeep(pool: &PgPool, retention: &crate::config::Retention) -> sqlx::Result<u64> {
    let outbox = crate::outbox::prune(pool, retention.published_outbox).await?;
    let processed = consumer::prune(pool, retention.processed_events).await?;
    let failures =
        sqlx::query("DELETE FROM consumer_failures WHERE last_failed_at < now() - $1::interval")
            .bind(retention.processed_events)
            .execute(pool)
            .await?
            .rows_affected();
    let jobs = sqlx::query("DELETE FROM jobs WHERE failed_at < now() - $1::interval")
        .bind(retention.failed_jobs)
        .execute(pool)
        .await?
        .rows_affected();
    Ok(outbox + processed + failures + jobs)
}
