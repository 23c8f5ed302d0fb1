//! What reporting keeps, and how long: one registry of its tables (README "Reporting" prints
//! it), and the job that prunes what is kept no longer, by the service's clock.
//!
//! The statistics themselves are kept: Biểu 06 may be asked for any past period, and the fact
//! rows hold no personal data (DESIGN.md "Personal data"). What grows with use and is needed only
//! for a while goes.

use chrono::{DateTime, Utc};
use motcua_platform::SharedClock;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// A table of reporting and how long its rows stay.
#[derive(Debug, Clone, Copy)]
pub struct Kept {
    pub table: &'static str,
    pub kept: &'static str,
    /// Deletes the rows past their time (`$1` = now); None for tables kept for good or pruned
    /// by the platform.
    pub prune: Option<&'static str>,
}

pub const TABLES: &[Kept] = &[
    Kept {
        table: "dashboard_sessions",
        kept: "until the session ends (8 hours at most, never past the token's expiry)",
        prune: Some("DELETE FROM dashboard_sessions WHERE expires_at <= $1"),
    },
    Kept {
        table: "facts",
        kept: "for good: one row per dossier, what every period's Biểu 06 is counted from",
        prune: None,
    },
    Kept {
        table: "daily",
        kept: "for good: a few rows per agency, field and day",
        prune: None,
    },
    Kept {
        table: "steps",
        kept: "for good: one row per dossier version, for officers' figures of any period",
        prune: None,
    },
    Kept {
        table: "agencies",
        kept: "for good: one row per agency the catalog named",
        prune: None,
    },
    // The platform's tables in every service's database: their retention is the platform's.
    Kept {
        table: "processed_events",
        kept: "MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS (pruned by the platform's consumer)",
        prune: None,
    },
    Kept {
        table: "outbox",
        kept: "published rows MOTCUA_PUBLISHED_OUTBOX_RETENTION_DAYS (reporting publishes nothing)",
        prune: None,
    },
    Kept {
        table: "consumer_failures",
        kept: "the platform's (a row per event that failed, until it succeeds or is dead-lettered)",
        prune: None,
    },
    Kept {
        table: "projection_versions",
        kept: "the platform's (unused by reporting, whose facts carry their version)",
        prune: None,
    },
    Kept {
        table: "jobs",
        kept: "the platform's (unused by reporting)",
        prune: None,
    },
];

/// How often the job looks, by the service's clock.
const EVERY: chrono::Duration = chrono::Duration::hours(1);

/// Deletes every row past its time; how many.
pub async fn prune(pool: &PgPool, now: DateTime<Utc>) -> sqlx::Result<u64> {
    let mut gone = 0;
    for k in TABLES {
        let Some(sql) = k.prune else { continue };
        let n = sqlx::query(sql)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected();
        if n > 0 {
            tracing::info!(
                table = k.table,
                rows = n,
                "pruned rows past their retention"
            );
        }
        gone += n;
    }
    Ok(gone)
}

/// Prunes every hour of the clock until `stop`.
pub async fn prune_forever(pool: PgPool, clock: SharedClock, stop: CancellationToken) {
    loop {
        let now = clock.now();
        if let Err(e) = prune(&pool, now).await {
            tracing::warn!(error = %e, "pruning: cannot reach the database; will retry");
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = clock.sleep_until(now + EVERY) => {}
        }
    }
}
