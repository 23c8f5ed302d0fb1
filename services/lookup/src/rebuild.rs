//! The read model rebuilt from the streams (`motcua lookup rebuild`): after a lost database, a
//! bug fixed in the projection, or to check that the live model is what the events say.
//!
//! The rebuild reads DOSSIERS and CATALOG from their first kept event, with an ordered consumer
//! (ephemeral: it disturbs no durable consumer), through the same functions as the live consumers
//! ([`crate::consume`]), into tables of a separate schema (`lookup_rebuild`) of the same database.
//! Lookups keep being answered from the live tables meanwhile. Then:
//!
//! - `--check` compares the two models row by row and reports the differences (none expected);
//! - otherwise, after the same comparison, the rebuilt tables replace the live ones in one
//!   transaction: the live tables are locked (live consumers wait), the events that arrived since
//!   the rebuild began are applied, the tables are swapped, the replicas' caches are told to drop
//!   what they kept, and the live consumers go on from where they were. Events they apply again
//!   are harmless (apply-if-newer, history kept once per version). A rebuilt model with fewer rows
//!   than the live one is not put in place without `--force`; a stream read that stops short of
//!   its last event fails the rebuild.
//!
//! What the rebuilt model can hold is what the streams still keep (DOSSIERS keeps events for a
//! bounded time, MOTCUA_DOSSIER_EVENTS_MAX_AGE_DAYS): a dossier whose events have all expired is
//! not in a rebuilt model, and `--check` lists it.

use crate::consume;
use anyhow::Context;
use async_nats::jetstream::consumer::DeliverPolicy;
use async_nats::jetstream::consumer::pull::OrderedConfig;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::future::BoxFuture;
use motcua_domain::events::{DossierEvent, PROCEDURE_PUBLISHED};
use motcua_platform::SharedClock;
use motcua_platform::bus::{Bus, CATALOG, DOSSIERS, headers};
use motcua_platform::consumer::HandleError;
use motcua_proto::events::ProcedurePublished;
use prost::Message;
use sqlx::{Connection, PgConnection};
use std::time::Duration;

const SCHEMA: &str = "lookup_rebuild";
const TABLES: [&str; 2] = ["dossiers", "procedures"];
/// Events per transaction while rebuilding.
const BATCH: usize = 500;
/// An ordered consumer that delivers nothing for this long has nothing more to deliver.
const QUIET: Duration = Duration::from_secs(5);

/// SQL built from this module's own constants (schema and table names), never from input.
fn sql(text: String) -> sqlx::AssertSqlSafe<String> {
    sqlx::AssertSqlSafe(text)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Build the model from the streams and compare it with the live one; change nothing live.
    Check,
    /// Build it and put it in place of the live one. Refused when the rebuilt model holds fewer
    /// dossiers or procedures than the live one (a wrong prefix, an emptied stream, events past
    /// their retention), unless `force`.
    Replace { force: bool },
}

#[derive(Debug, Default)]
pub struct Report {
    pub dossier_events: u64,
    pub catalog_events: u64,
    /// Events the projection refused (they would be dead letters live too).
    pub refused: u64,
    pub dossiers: i64,
    pub procedures: i64,
    /// Rows that differ between the rebuilt and the live model (Check mode), per table.
    pub differences: Vec<(String, i64)>,
}

impl Report {
    pub fn equal(&self) -> bool {
        self.differences.iter().all(|(_, n)| *n == 0)
    }
}

/// Where each stream had got to when the rebuild read it.
#[derive(Debug, Default, Clone, Copy)]
struct Positions {
    dossiers: u64,
    catalog: u64,
}

/// Rebuilds lookup's model in the database `conn` is connected to.
pub async fn run(
    mut conn: PgConnection,
    bus: &Bus,
    clock: &SharedClock,
    mode: Mode,
) -> anyhow::Result<Report> {
    let mut report = Report::default();
    sqlx::query(sql(format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")))
        .execute(&mut conn)
        .await?;
    sqlx::query(sql(format!("CREATE SCHEMA {SCHEMA}")))
        .execute(&mut conn)
        .await?;
    for table in TABLES {
        sqlx::query(sql(format!(
            "CREATE TABLE {SCHEMA}.{table} (LIKE public.{table} INCLUDING ALL)"
        )))
        .execute(&mut conn)
        .await?;
    }
    // The projection's SQL names its tables unqualified: this connection finds the rebuilt ones.
    sqlx::query(sql(format!("SET search_path TO {SCHEMA}, public")))
        .execute(&mut conn)
        .await?;
    let reached = replay(
        &mut conn,
        bus,
        clock,
        Positions::default(),
        Some(BATCH),
        &mut report,
    )
    .await?;
    for table in TABLES {
        let n = differences(&mut conn, table).await?;
        report.differences.push((table.to_owned(), n));
    }
    let result = match mode {
        Mode::Check => Ok(()),
        Mode::Replace { force } => {
            let fewer = fewer_rows(&mut conn).await?;
            if !fewer.is_empty() && !force {
                Err(anyhow::anyhow!(
                    "the rebuilt model holds fewer rows than the live one ({}): is the bus prefix \
                     right, and do the streams still keep these events? Nothing was replaced; \
                     --force replaces anyway",
                    fewer.join(", ")
                ))
            } else {
                replace(&mut conn, bus, clock, reached, &mut report).await
            }
        }
    };
    if result.is_err() || mode == Mode::Check {
        sqlx::query(sql(format!("DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")))
            .execute(&mut conn)
            .await?;
    }
    report.dossiers = sqlx::query_scalar("SELECT count(*) FROM public.dossiers")
        .fetch_one(&mut conn)
        .await?;
    report.procedures = sqlx::query_scalar("SELECT count(*) FROM public.procedures")
        .fetch_one(&mut conn)
        .await?;
    result.map(|()| report)
}

/// The tables whose rebuilt version holds fewer rows than the live one, with both counts.
async fn fewer_rows(conn: &mut PgConnection) -> anyhow::Result<Vec<String>> {
    let mut fewer = Vec::new();
    for table in TABLES {
        let (rebuilt, live): (i64, i64) = sqlx::query_as(sql(format!(
            "SELECT (SELECT count(*) FROM {SCHEMA}.{table}), (SELECT count(*) FROM public.{table})"
        )))
        .fetch_one(&mut *conn)
        .await?;
        if rebuilt < live {
            fewer.push(format!("{table}: {rebuilt} rebuilt, {live} live"));
        }
    }
    Ok(fewer)
}

/// Rows in one model and not in the other, both ways (bookkeeping columns aside).
async fn differences(conn: &mut PgConnection, table: &str) -> anyhow::Result<i64> {
    let columns = match table {
        "dossiers" => {
            "dossier_code, version, view, lookup_token_hmac, applicant_id_hmac, secret_key_id"
        }
        _ => "code, version, effective_from, field, name, folded_name, folded_keywords, record",
    };
    let n: i64 = sqlx::query_scalar(sql(format!(
        "SELECT (SELECT count(*) FROM (SELECT {columns} FROM {SCHEMA}.{table}
                                       EXCEPT SELECT {columns} FROM public.{table}) a)
              + (SELECT count(*) FROM (SELECT {columns} FROM public.{table}
                                       EXCEPT SELECT {columns} FROM {SCHEMA}.{table}) b)"
    )))
    .fetch_one(conn)
    .await?;
    Ok(n)
}

async fn replace(
    conn: &mut PgConnection,
    bus: &Bus,
    clock: &SharedClock,
    reached: Positions,
    report: &mut Report,
) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    // Live consumers wait from here until the swap commits; lookups read on meanwhile.
    sqlx::query("LOCK TABLE public.dossiers, public.procedures IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await?;
    // What arrived while the rebuild read the streams.
    replay(&mut tx, bus, clock, reached, None, report).await?;
    // Revisions go on from the live rows', so the replicas' caches see the rebuilt rows as newer;
    // and every replica drops what it kept (delivered at commit).
    sqlx::query(sql(format!(
        "UPDATE {SCHEMA}.dossiers r SET revision = l.revision + 1
         FROM public.dossiers l WHERE l.dossier_code = r.dossier_code"
    )))
    .execute(&mut *tx)
    .await?;
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(consume::CHANGED)
        .bind(crate::cache::RESET)
        .execute(&mut *tx)
        .await?;
    for table in TABLES {
        sqlx::query(sql(format!("DROP TABLE public.{table}")))
            .execute(&mut *tx)
            .await?;
        sqlx::query(sql(format!(
            "ALTER TABLE {SCHEMA}.{table} SET SCHEMA public"
        )))
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query(sql(format!("DROP SCHEMA {SCHEMA}")))
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

/// Applies every event after `from` in both streams; returns where they ended. `commit_every`:
/// commit in batches of this many events (None: the caller holds one transaction).
async fn replay(
    conn: &mut PgConnection,
    bus: &Bus,
    clock: &SharedClock,
    from: Positions,
    commit_every: Option<usize>,
    report: &mut Report,
) -> anyhow::Result<Positions> {
    let reader = Reader {
        bus,
        clock,
        commit_every,
    };
    let (dossiers, n) = reader
        .read(
            conn,
            DOSSIERS,
            "dossier.>",
            from.dossiers,
            dossier_event,
            report,
        )
        .await?;
    report.dossier_events += n;
    let (catalog, n) = reader
        .read(
            conn,
            CATALOG,
            "catalog.>",
            from.catalog,
            catalog_event,
            report,
        )
        .await?;
    report.catalog_events += n;
    Ok(Positions { dossiers, catalog })
}

fn dossier_event<'a>(
    tx: &'a mut PgConnection,
    event_type: &'a str,
    payload: &'a [u8],
    now: DateTime<Utc>,
) -> BoxFuture<'a, Result<(), HandleError>> {
    Box::pin(async move {
        match DossierEvent::decode(event_type, payload)
            .map_err(|e| HandleError::Poison(e.to_string()))?
        {
            Some(e) => consume::apply_dossier(tx, &e, now, consume::Announce::No).await,
            None => Ok(()),
        }
    })
}

fn catalog_event<'a>(
    tx: &'a mut PgConnection,
    event_type: &'a str,
    payload: &'a [u8],
    _now: DateTime<Utc>,
) -> BoxFuture<'a, Result<(), HandleError>> {
    Box::pin(async move {
        if event_type != PROCEDURE_PUBLISHED {
            return Ok(());
        }
        let published =
            ProcedurePublished::decode(payload).map_err(|e| HandleError::Poison(e.to_string()))?;
        consume::apply_procedure(tx, &published).await
    })
}

type Apply = for<'a> fn(
    &'a mut PgConnection,
    &'a str,
    &'a [u8],
    DateTime<Utc>,
) -> BoxFuture<'a, Result<(), HandleError>>;

struct Reader<'r> {
    bus: &'r Bus,
    clock: &'r SharedClock,
    commit_every: Option<usize>,
}

/// Reads `stream` after sequence `after` up to its last event now, applying each; returns the
/// last sequence read and how many events were applied.
impl Reader<'_> {
    async fn read(
        &self,
        conn: &mut PgConnection,
        stream: &str,
        filter: &str,
        after: u64,
        apply: Apply,
        report: &mut Report,
    ) -> anyhow::Result<(u64, u64)> {
        let (bus, clock) = (self.bus, self.clock);
        let name = bus.stream_name(stream);
        let mut js_stream = bus
            .js
            .get_stream(&name)
            .await
            .with_context(|| format!("opening stream {name}"))?;
        let last = js_stream.info().await?.state.last_sequence;
        if last <= after || js_stream.cached_info().state.messages == 0 {
            return Ok((after.max(last), 0));
        }
        let consumer = js_stream
            .create_consumer(OrderedConfig {
                filter_subject: bus.subject(filter),
                deliver_policy: if after == 0 {
                    DeliverPolicy::All
                } else {
                    DeliverPolicy::ByStartSequence {
                        start_sequence: after + 1,
                    }
                },
                ..Default::default()
            })
            .await
            .with_context(|| format!("reading stream {name}"))?;
        let mut messages = consumer.messages().await?;
        let mut reached = after;
        let mut applied = 0u64;
        let mut in_tx = 0usize;
        if self.commit_every.is_some() {
            sqlx::query("BEGIN").execute(&mut *conn).await?;
        }
        while reached < last {
            let message = match tokio::time::timeout(QUIET, messages.next()).await {
                Ok(Some(m)) => m.with_context(|| format!("reading stream {name}"))?,
                Ok(None) | Err(_) => break,
            };
            let (sequence, pending) = message
                .info()
                .map(|i| (i.stream_sequence, i.pending))
                .map_err(|e| anyhow::anyhow!("message without stream position: {e}"))?;
            reached = sequence;
            let event_type = message
                .headers
                .as_ref()
                .and_then(|h| h.get(headers::EVENT_TYPE))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            // Each event in its own savepoint: one the projection refuses is skipped and counted,
            // as the live consumer would dead-letter it, without losing the batch.
            sqlx::query("SAVEPOINT event").execute(&mut *conn).await?;
            match apply(conn, &event_type, &message.payload, clock.now()).await {
                Ok(()) => {
                    sqlx::query("RELEASE SAVEPOINT event")
                        .execute(&mut *conn)
                        .await?;
                    applied += 1;
                }
                Err(e) => {
                    tracing::warn!(stream = %name, sequence, error = %e, "rebuild: event refused, skipped");
                    sqlx::query("ROLLBACK TO SAVEPOINT event")
                        .execute(&mut *conn)
                        .await?;
                    report.refused += 1;
                }
            }
            in_tx += 1;
            if self.commit_every.is_some_and(|n| in_tx >= n) {
                sqlx::query("COMMIT").execute(&mut *conn).await?;
                sqlx::query("BEGIN").execute(&mut *conn).await?;
                in_tx = 0;
            }
            if pending == 0 {
                break;
            }
        }
        if self.commit_every.is_some() {
            sqlx::query("COMMIT").execute(&mut *conn).await?;
        }
        Ok((reached.max(after), applied))
    }
}
