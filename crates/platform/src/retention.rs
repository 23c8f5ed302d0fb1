//! What each service keeps, and how long: every table of a service's database is in one registry
//! (the service's `retention::TABLES` plus the platform's [`PLATFORM`]), each either kept for a
//! stated reason or pruned past a window by one hourly job. README "Operating → What is kept"
//! prints the registries; each service has a test that its registry names every table of its
//! database ([`unlisted`]) and that a row past its window goes.
//!
//! The service's own tables are pruned by the service's clock (simulated time moves them as it
//! moves deadlines); the platform's bookkeeping tables by real time, in [`crate::host::housekeep`].

use crate::clock::SharedClock;
use crate::config::{ConfigError, Vars};
use chrono::{DateTime, Utc};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// A table and how long its rows stay.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub table: &'static str,
    /// In words, for the README and an operator: how long, and why.
    pub kept: &'static str,
    /// How its old rows go; None for a table kept for good (the reason is in `kept`).
    pub prune: Option<Prune>,
}

/// Deletes rows past their time: `sql` takes `$1`, the cut-off instant (now minus the window).
#[derive(Debug, Clone, Copy)]
pub struct Prune {
    pub window: Window,
    pub sql: &'static str,
}

/// How far back the cut-off lies.
#[derive(Debug, Clone, Copy)]
pub enum Window {
    /// A setting in days: its default, and the least it may be (what still needs the rows says
    /// why); at most [`crate::config::MAX_DAYS`]. [`check`] holds the setting to them at start.
    Days {
        var: &'static str,
        default: i64,
        at_least: i64,
    },
    /// Now: rows that say when they stop being in force (`expires_at <= $1`).
    Expiry,
}

impl Window {
    fn days(self, vars: &Vars) -> Result<Option<i64>, ConfigError> {
        match self {
            Window::Days {
                var,
                default,
                at_least,
            } => vars.days_at_least(var, default, at_least).map(Some),
            Window::Expiry => Ok(None),
        }
    }

    fn cutoff(self, vars: &Vars, now: DateTime<Utc>) -> DateTime<Utc> {
        match self {
            // Checked at start (`check`); the default stands in only if it was not.
            Window::Days { default, .. } => {
                now - chrono::Duration::days(self.days(vars).ok().flatten().unwrap_or(default))
            }
            Window::Expiry => now,
        }
    }
}

/// Refuses a retention setting of `tables` that is not a whole number of days within its window's
/// bounds: a service's settings call this, so a bad value stops the start (exit 64) instead of
/// being pruned by a default no one chose.
pub fn check(tables: &[Kept], vars: &Vars) -> Result<(), ConfigError> {
    for k in tables {
        if let Some(p) = k.prune {
            p.window.days(vars)?;
        }
    }
    Ok(())
}

/// The platform's tables in every service's database, pruned by [`crate::host::housekeep`].
pub const PLATFORM: &[Kept] = &[
    Kept {
        table: "outbox",
        kept: "unpublished rows until published; published ones MOTCUA_PUBLISHED_OUTBOX_RETENTION_DAYS (7); parked ones until an operator retries them",
        prune: None,
    },
    Kept {
        table: "processed_events",
        kept: "MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS (45): longer than any redelivery or replay of a dead letter",
        prune: None,
    },
    Kept {
        table: "consumer_failures",
        kept: "while an event fails; a row whose event never came back MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS",
        prune: None,
    },
    Kept {
        table: "projection_versions",
        kept: "for good: one row per dossier a projection follows (the newest version applied)",
        prune: None,
    },
    Kept {
        table: "jobs",
        kept: "until done; a job that failed for good MOTCUA_FAILED_JOBS_RETENTION_DAYS (90), for an operator to look at",
        prune: None,
    },
];

/// Deletes every row past its time in `tables`, in order; how many.
pub async fn prune(
    pool: &PgPool,
    tables: &[Kept],
    vars: &Vars,
    now: DateTime<Utc>,
) -> sqlx::Result<u64> {
    let mut gone = 0;
    for k in tables {
        let Some(p) = k.prune else { continue };
        let n = sqlx::query(p.sql)
            .bind(p.window.cutoff(vars, now))
            .execute(pool)
            .await?
            .rows_affected();
        if n > 0 {
            tracing::info!(
                table = k.table,
                rows = n,
                "pruned rows past their retention"
            );
            metrics::counter!("motcua_pruned_rows_total", "table" => k.table).increment(n);
        }
        gone += n;
    }
    Ok(gone)
}

/// Prunes `tables` every hour of the service's clock until `stop`.
pub async fn prune_hourly(
    pool: PgPool,
    clock: SharedClock,
    tables: &'static [Kept],
    vars: Vars,
    stop: CancellationToken,
) {
    loop {
        let now = clock.now();
        if let Err(e) = prune(&pool, tables, &vars, now).await {
            tracing::warn!(error = %e, "pruning: cannot reach the database; will retry");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = clock.sleep_until(now + chrono::Duration::hours(1)) => {}
        }
    }
}

/// The tables of the database behind `pool` that neither `service` nor [`PLATFORM`] names, and
/// the names in `service` that are not tables there (empty both: the registry is whole).
pub async fn unlisted(pool: &PgPool, service: &[Kept]) -> sqlx::Result<(Vec<String>, Vec<String>)> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables
         WHERE table_schema = 'public' AND table_name NOT LIKE '\\_%' ORDER BY 1",
    )
    .fetch_all(pool)
    .await?;
    let named: Vec<&str> = service.iter().chain(PLATFORM).map(|k| k.table).collect();
    let missing = tables
        .iter()
        .filter(|t| !named.contains(&t.as_str()))
        .cloned()
        .collect();
    let extra = service
        .iter()
        .map(|k| k.table)
        .filter(|n| !tables.iter().any(|t| t == n))
        .map(str::to_owned)
        .collect();
    Ok((missing, extra))
}
