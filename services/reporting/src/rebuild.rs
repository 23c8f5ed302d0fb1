//! The fact rows, daily counts and steps rebuilt from the DOSSIERS stream (`motcua reporting rebuild`),
//! through the same [`crate::consume::apply`] as the live consumer, so a rebuilt model gives the
//! same reports.
//!
//! - `--check` builds them in a schema of their own (`reporting_rebuild`, the live tables'
//!   shape) inside one transaction that is rolled back, and lists the rows that differ from the
//!   live ones (none expected).
//! - Otherwise the live tables are emptied and rebuilt in one transaction that holds off the live
//!   consumer (reports keep reading the old rows until it commits); events that arrive meanwhile
//!   wait on the stream and are applied after (apply-if-newer makes that harmless). A rebuilt model
//!   with fewer dossiers than the live one (a wrong prefix, events past the stream's retention)
//!   is refused unless forced.
//!
//! The stream keeps events for MOTCUA_DOSSIER_EVENTS_MAX_AGE_DAYS: older dossiers cannot be
//! rebuilt, and `--check` lists them.

use crate::consume;
use anyhow::Context;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use futures::StreamExt;
use motcua_domain::events::DossierEvent;
use motcua_platform::bus::{Bus, DOSSIERS, headers};
use sqlx::{Connection, PgConnection};
use std::time::Duration;

/// An ordered consumer that delivers nothing for this long has nothing more to deliver.
const QUIET: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Check,
    Replace { force: bool },
}

#[derive(Debug, Default)]
pub struct Report {
    pub events: u64,
    pub refused: u64,
    pub dossiers: i64,
    /// Rows that differ between the live and the rebuilt model: (table, count).
    pub differences: Vec<(&'static str, i64)>,
}

impl Report {
    pub fn equal(&self) -> bool {
        self.differences.iter().all(|(_, n)| *n == 0)
    }
}

/// Reads the whole DOSSIERS stream as it stands and applies each event in `conn`'s transaction.
async fn replay(conn: &mut PgConnection, bus: &Bus, report: &mut Report) -> anyhow::Result<()> {
    let name = bus.stream_name(DOSSIERS);
    let mut stream = bus
        .js
        .get_stream(&name)
        .await
        .with_context(|| format!("opening stream {name}"))?;
    let last = stream.info().await?.state.last_sequence;
    if stream.cached_info().state.messages == 0 {
        return Ok(());
    }
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject: bus.subject("dossier.>"),
            deliver_policy: DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .with_context(|| format!("reading stream {name}"))?;
    let mut messages = consumer.messages().await?;
    let mut reached = 0;
    while reached < last {
        let message = match tokio::time::timeout(QUIET, messages.next()).await {
            Ok(Some(m)) => m.with_context(|| format!("reading stream {name}"))?,
            Ok(None) | Err(_) => break,
        };
        let info = message
            .info()
            .map_err(|e| anyhow::anyhow!("message without stream position: {e}"))?;
        reached = info.stream_sequence;
        let pending = info.pending;
        let event_type = message
            .headers
            .as_ref()
            .and_then(|h| h.get(headers::EVENT_TYPE))
            .map(|v| v.as_str().to_owned())
            .unwrap_or_default();
        // One event the projection refuses is skipped and counted (the live consumer would
        // dead-letter it), without losing the others.
        sqlx::query("SAVEPOINT event").execute(&mut *conn).await?;
        let applied = match DossierEvent::decode(&event_type, &message.payload) {
            Ok(Some(e)) => consume::apply(conn, &e).await.map_err(|e| e.to_string()),
            Ok(None) => Ok(()),
            Err(e) => Err(e.to_string()),
        };
        match applied {
            Ok(()) => {
                sqlx::query("RELEASE SAVEPOINT event")
                    .execute(&mut *conn)
                    .await?;
                report.events += 1;
            }
            Err(e) => {
                tracing::warn!(sequence = reached, error = %e, "rebuild: event refused, skipped");
                sqlx::query("ROLLBACK TO SAVEPOINT event")
                    .execute(&mut *conn)
                    .await?;
                report.refused += 1;
            }
        }
        if pending == 0 {
            break;
        }
    }
    anyhow::ensure!(
        reached >= last,
        "the stream read stopped at event {reached} of {last}; nothing was changed"
    );
    Ok(())
}

/// Rows of `table` in one schema and not the other, both ways.
async fn differing(conn: &mut PgConnection, table: &'static str) -> sqlx::Result<i64> {
    // Names from this module's constants only.
    let sql = format!(
        "SELECT count(*) FROM ((SELECT * FROM public.{table} EXCEPT SELECT * FROM reporting_rebuild.{table})
             UNION ALL (SELECT * FROM reporting_rebuild.{table} EXCEPT SELECT * FROM public.{table})) d"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .fetch_one(conn)
        .await
}

pub async fn run(mut conn: PgConnection, bus: &Bus, mode: Mode) -> anyhow::Result<Report> {
    let mut report = Report::default();
    let mut tx = conn.begin().await?;
    match mode {
        Mode::Check => {
            for statement in [
                "CREATE SCHEMA IF NOT EXISTS reporting_rebuild",
                "DROP TABLE IF EXISTS reporting_rebuild.facts, reporting_rebuild.daily, reporting_rebuild.steps",
                "CREATE TABLE reporting_rebuild.facts (LIKE public.facts INCLUDING ALL)",
                "CREATE TABLE reporting_rebuild.daily (LIKE public.daily INCLUDING ALL)",
                "CREATE TABLE reporting_rebuild.steps (LIKE public.steps INCLUDING ALL)",
                "SET LOCAL search_path = reporting_rebuild, public",
            ] {
                sqlx::query(statement).execute(&mut *tx).await?;
            }
            replay(&mut tx, bus, &mut report).await?;
            // Zero rows of the counts are bookkeeping (a contribution moved away), not data.
            sqlx::query("DELETE FROM public.daily WHERE received_online = 0 AND received_other = 0 AND done = 0 AND early = 0 AND on_time = 0 AND late = 0 AND due = 0 AND due_and_done = 0 AND due_of_done = 0")
                .execute(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM reporting_rebuild.daily WHERE received_online = 0 AND received_other = 0 AND done = 0 AND early = 0 AND on_time = 0 AND late = 0 AND due = 0 AND due_and_done = 0 AND due_of_done = 0")
                .execute(&mut *tx)
                .await?;
            for table in ["facts", "daily", "steps"] {
                let n = differing(&mut tx, table).await?;
                report.differences.push((table, n));
            }
            report.dossiers = sqlx::query_scalar("SELECT count(*) FROM reporting_rebuild.facts")
                .fetch_one(&mut *tx)
                .await?;
            // Nothing of the check stays.
            tx.rollback().await?;
        }
        Mode::Replace { force } => {
            // Writers (the live consumer) wait; readers (reports) go on with the old rows.
            sqlx::query("LOCK TABLE facts, daily, steps IN SHARE ROW EXCLUSIVE MODE")
                .execute(&mut *tx)
                .await?;
            let before: i64 = sqlx::query_scalar("SELECT count(*) FROM facts")
                .fetch_one(&mut *tx)
                .await?;
            sqlx::query("DELETE FROM facts").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM daily").execute(&mut *tx).await?;
            sqlx::query("DELETE FROM steps").execute(&mut *tx).await?;
            replay(&mut tx, bus, &mut report).await?;
            report.dossiers = sqlx::query_scalar("SELECT count(*) FROM facts")
                .fetch_one(&mut *tx)
                .await?;
            if report.dossiers < before && !force {
                tx.rollback().await?;
                anyhow::bail!(
                    "the stream holds {} dossiers, the live model {before}: nothing was replaced (events past the stream's retention, or a wrong MOTCUA_BUS_PREFIX?); --force replaces anyway",
                    report.dossiers
                );
            }
            tx.commit().await?;
        }
    }
    Ok(report)
}
