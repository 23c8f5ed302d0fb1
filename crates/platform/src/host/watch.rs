//! Readiness: the watcher that prepares a host's dependencies (database, migrations, token keys)
//! and then checks them every second, and what it tells operators about connections.

use super::*;

/// The readiness watcher: prepares the dependencies, then checks them every second.
pub(super) struct Watch {
    pub(super) settings: Settings,
    pub(super) database: crate::db::Target,
    pub(super) name: &'static str,
    pub(super) migrator: &'static Migrator,
    pub(super) bus: Bus,
    pub(super) verifier: Verifier,
    pub(super) readiness: ReadinessSource,
    pub(super) reporter: HealthReporter,
    pub(super) shutdown: CancellationToken,
}

impl Watch {
    pub(super) async fn run(self) {
        // 1. Prepare: database, migrations, streams, token keys; retried until all answer.
        loop {
            let prepared = prepare(&self.database, self.migrator, &self.verifier);
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                r = prepared => match r {
                    Ok(()) => break,
                    Err(e) => {
                        tracing::warn!(service = self.name, error = format!("{e:#}"), "dependencies not ready; retrying");
                        tokio::select! {
                            _ = self.shutdown.cancelled() => return,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                        }
                    }
                }
            }
        }
        // 2. Watch: SERVING while the database answers and no part has failed. PostgreSQL is
        // pinged over a connection of the watcher's own, so a pool saturated by load is not
        // mistaken for a database that is down. NATS away is a health detail, not a problem: the
        // service goes on serving from its database (see the module comment).
        let mut probe: Option<PgConnection> = None;
        let mut serving = None;
        let mut streams_made = false;
        let mut connections = ConnectionWatch::default();
        loop {
            connections.check(&self).await;
            let mut problems = Vec::new();
            if !self.database_answers(&mut probe).await {
                problems.push("PostgreSQL is not answering".to_owned());
            }
            let connected = self.bus.is_connected();
            metrics::gauge!("motcua_nats_connected", "service" => self.name).set(if connected {
                1.0
            } else {
                0.0
            });
            if connected {
                self.readiness.unnote("nats");
            } else {
                self.readiness.note(
                    "nats",
                    "NATS is not connected: writes wait in the outbox, data read may be behind"
                        .into(),
                );
            }
            if connected && !streams_made {
                match self.bus.ensure_streams(&self.settings.retention).await {
                    Ok(()) => {
                        streams_made = true;
                        self.readiness.unnote("streams");
                    }
                    Err(e) => self
                        .readiness
                        .note("streams", format!("streams not made yet: {e:#}")),
                }
            }
            problems.extend(self.readiness.reported());
            let ok = problems.is_empty();
            self.readiness.set(problems.clone());
            if serving != Some(ok) {
                serving = Some(ok);
                let status = if ok {
                    ServingStatus::Serving
                } else {
                    ServingStatus::NotServing
                };
                self.reporter.set_service_status("", status).await;
                self.reporter
                    .set_service_status(
                        format!("motcua.{}.v1.{}Service", self.name, capitalise(self.name)),
                        status,
                    )
                    .await;
                tracing::info!(service = self.name, serving = ok, why = %problems.join("; "), "health changed");
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    async fn database_answers(&self, probe: &mut Option<PgConnection>) -> bool {
        if probe.is_none() {
            let options = self.database.options();
            *probe =
                tokio::time::timeout(Duration::from_secs(5), PgConnection::connect_with(&options))
                    .await
                    .ok()
                    .and_then(Result::ok);
        }
        let Some(conn) = probe.as_mut() else {
            return false;
        };
        let answered = tokio::time::timeout(Duration::from_secs(5), conn.ping())
            .await
            .is_ok_and(|r| r.is_ok());
        if !answered {
            *probe = None;
        }
        answered
    }
}

/// Tells an operator why calls found no database connection: when a pool of this process timed
/// out, one fresh connection is tried, and the health detail `postgres-connections` says whether
/// PostgreSQL refused it (too many clients: the server's max_connections or the role's limit) or
/// every pooled connection was busy. The detail goes a minute after the last timeout.
#[derive(Default)]
struct ConnectionWatch {
    timeouts_seen: u64,
    last: Option<tokio::time::Instant>,
}

impl ConnectionWatch {
    async fn check(&mut self, w: &Watch) {
        let now = crate::db::POOL_TIMEOUTS.load(std::sync::atomic::Ordering::Relaxed);
        if now > self.timeouts_seen {
            self.timeouts_seen = now;
            self.last = Some(tokio::time::Instant::now());
            let what = match crate::db::refusal(&w.database.options()).await {
                Some(why) => {
                    tracing::error!(service = w.name, refusal = %why, "PostgreSQL refuses new connections; calls wait for a pooled one and time out");
                    format!(
                        "PostgreSQL refuses new connections ({why}): raise the server's max_connections (or the role's limit), lower MOTCUA_DATABASE_MAX_CONNECTIONS ({}), or put a pooler in front",
                        w.settings.database_max_connections
                    )
                }
                None => format!(
                    "every pooled connection ({}) was busy longer than 5 s: the database is slow or the pool small",
                    w.settings.database_max_connections
                ),
            };
            w.readiness.note("postgres-connections", what);
        } else if self
            .last
            .is_some_and(|at| at.elapsed() > Duration::from_secs(60))
        {
            self.last = None;
            w.readiness.unnote("postgres-connections");
        }
    }
}

/// Creates the database, applies the migrations, and fetches token keys when they come from a
/// JWKS URL. Run until it succeeds: everything in it is idempotent.
async fn prepare(
    database: &crate::db::Target,
    migrator: &'static Migrator,
    verifier: &Verifier,
) -> anyhow::Result<()> {
    let prepared = crate::db::connect(database, 1, migrator).await?;
    prepared.close().await;
    // The streams are not waited for: NATS away must not keep a service from serving. The watcher
    // makes them once NATS answers; the relay remakes a missing one before it publishes.
    if verifier.needs_fetch() {
        verifier
            .fetch()
            .await
            .context("fetching token keys (MOTCUA_JWT_JWKS_URL)")?;
    }
    Ok(())
}

fn capitalise(name: &str) -> String {
    let mut c = name.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}
