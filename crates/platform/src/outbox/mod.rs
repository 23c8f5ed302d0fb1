//! The transactional outbox and its relay.
//!
//! A command writes its events with [`enqueue`] in the same transaction as its effect, and after
//! the commit tells its own process's relay with [`OutboxWake::wake`] (see there why not a NOTIFY
//! trigger). The relay wakes on that, on a NOTIFY from another process (`motcua outbox retry`), or
//! on a slow poll (rows a crashed replica left behind), takes a batch of unpublished rows,
//! publishes them to JetStream with message id = event id, waits for the acknowledgements and
//! only then marks them published. A relay killed mid-batch leaves rows
//! unmarked; the next run publishes them again and JetStream drops the duplicates by id (within
//! [`crate::bus::DUPLICATE_WINDOW`]; later duplicates are dropped by the consumers' event ids).
//!
//! Order: NOT guaranteed, not even for one dossier. Several relays (replicas) take batches with
//! SKIP LOCKED, `seq` is the order of inserts rather than of commits, and a row that failed waits
//! for its own retry while later rows go out. Consumers order a dossier's events by the state
//! version they carry (DESIGN.md §3), and wait for a missing prerequisite with
//! [`crate::consumer::HandleError::Wait`].
//!
//! Nothing stuck: each row is published, retried or set aside on its own. A transient failure
//! (timeout, NATS restarting, a full stream) delays that row with backoff (at most 30 s) while the
//! others go on; a stream of ours that has gone missing is created again. A row that can never be
//! published (larger than the server's or the stream's limit, a subject no stream covers) is
//! *parked*: kept with its reason, counted in `motcua_outbox_parked_total`, logged as an error, and
//! listed and republished by `motcua outbox parked|retry`. When the relay makes no progress at all
//! while events are due, [`RelayHealth`] says so, and the host reports NOT_SERVING after
//! MOTCUA_RELAY_STALL_SECS; one event failing while others go out is not a stall.
//!
//! Times here are bookkeeping in real time (PostgreSQL's `now()`, tokio's timers), not the rules'
//! clock: a simulated clock's jump must not make retries due or stale.

use crate::bus::{Bus, headers};
use crate::config::Retention;
use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{PublishError, PublishErrorKind};
use async_nats::jetstream::message::PublishMessage;
use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

mod relay;
pub use relay::{BatchOutcome, Relay};

/// An event to publish.
#[derive(Debug, Clone)]
pub struct OutboxEvent {
    pub id: Uuid,
    /// Subject without the bus prefix, e.g. `dossier.dat-dai.submitted`.
    pub subject: String,
    pub event_type: String,
    pub payload: Vec<u8>,
}

/// The largest event payload a service may store. NATS refuses messages over its `max_payload`
/// (1 MiB by default; the headers, a few hundred bytes, count too), and a stored event the bus
/// refuses is parked: the command that made it told the caller it worked while nobody heard of it.
/// Writers check [`OutboxEvent::fits`] before they store, and the relay warns at start when the
/// server's limit is below this one.
pub const MAX_EVENT_BYTES: usize = 1_000_000;

impl OutboxEvent {
    /// Refuses, with INVALID_ARGUMENT, an event the bus would not take: the caller's request made
    /// it too large (long lists or texts), and nothing is written.
    pub fn fits(&self) -> Result<(), crate::ServiceError> {
        if self.payload.len() <= MAX_EVENT_BYTES {
            return Ok(());
        }
        Err(crate::ServiceError::InvalidArgument(format!(
            "thay đổi này tạo sự kiện {} byte, vượt giới hạn {MAX_EVENT_BYTES} byte; rút gọn danh sách hoặc nội dung (the change would make an event of {} bytes, over the bus's limit of {MAX_EVENT_BYTES})",
            self.payload.len(),
            self.payload.len()
        )))
    }

    /// A protobuf message as a new event (see [`OutboxEvent::new`]).
    pub fn encoded(subject: String, event_type: &str, message: &impl prost::Message) -> Self {
        Self::new(subject, event_type, message.encode_to_vec())
    }

    /// A new event with a time-ordered id.
    pub fn new(subject: String, event_type: &str, payload: Vec<u8>) -> Self {
        Self {
            id: Uuid::now_v7(),
            subject,
            event_type: event_type.to_owned(),
            payload,
        }
    }
}

/// The headers an event is stored with: the current trace context. For a service that writes its
/// event in the same statement as its change (`SELECT motcua_outbox_append($id, $subject,
/// $event_type, $payload, $headers) FROM <the change>`, the platform's migration 0005), so that a
/// change costs one round trip.
pub fn trace_headers() -> sqlx::types::Json<HashMap<String, String>> {
    sqlx::types::Json(crate::telemetry::current_context_headers())
}

/// Writes an event in the caller's transaction, with the current trace context. An event over
/// [`MAX_EVENT_BYTES`] is refused (the transaction is not to commit): writers whose requests can
/// make large events check [`OutboxEvent::fits`] first, to answer the caller with why.
pub async fn enqueue(conn: &mut PgConnection, event: &OutboxEvent) -> sqlx::Result<()> {
    if let Err(e) = event.fits() {
        return Err(sqlx::Error::Protocol(e.to_string()));
    }
    sqlx::query("SELECT motcua_outbox_append($1, $2, $3, $4, $5)")
        .bind(event.id)
        .bind(&event.subject)
        .bind(&event.event_type)
        .bind(&event.payload)
        .bind(trace_headers())
        .execute(conn)
        .await?;
    Ok(())
}

/// Tells this process's relay that a transaction which wrote events has committed.
///
/// Why not a NOTIFY from a trigger on the outbox, as before: PostgreSQL serialises the commits of
/// all transactions that notify (a database-wide lock held through each commit's WAL flush, so no
/// group commit). With that trigger, writes that carry an event stopped at about 3,000 a second on
/// the 2-core development machine, where the same inserts without NOTIFY reached 14,000 (pgbench,
/// 32 clients). The writer's own relay is told in memory instead. A row another replica committed
/// is published by that replica's relay; one a crashed replica left is found by the poll.
///
/// A wake while the relay is draining is kept (one permit) and makes it drain once more, so a
/// commit is never missed; many wakes during one drain cost one more drain.
#[derive(Debug, Clone, Default)]
pub struct OutboxWake(Arc<tokio::sync::Notify>);

impl OutboxWake {
    /// Call after committing a transaction that wrote events.
    pub fn wake(&self) {
        self.0.notify_one();
    }

    /// Commits a transaction that wrote events, then wakes the relay (the usual pair: a writer
    /// that commits without waking leaves its events for the relay's slow poll).
    pub async fn commit(&self, tx: sqlx::Transaction<'_, sqlx::Postgres>) -> sqlx::Result<()> {
        tx.commit().await?;
        self.wake();
        Ok(())
    }

    async fn woken(&self) {
        self.0.notified().await;
    }
}

/// Whether the relay is keeping up; shared with the host's readiness.
#[derive(Debug, Clone, Default)]
pub struct RelayHealth(Arc<Mutex<RelayState>>);

#[derive(Debug, Default)]
struct RelayState {
    failing_since: Option<Instant>,
    last_error: Option<String>,
}

impl RelayHealth {
    /// How long the relay has been failing to publish what is due, with the last error.
    pub fn failing(&self) -> Option<(Duration, String)> {
        let s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.failing_since
            .map(|t| (t.elapsed(), s.last_error.clone().unwrap_or_default()))
    }

    fn failed(&self, error: String) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.failing_since.get_or_insert_with(Instant::now);
        s.last_error = Some(error);
    }

    /// Something was published while some failed: the relay is not stalled, so the stall window
    /// starts again from now.
    fn progressed(&self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if s.failing_since.is_some() {
            s.failing_since = Some(Instant::now());
        }
    }

    fn caught_up(&self) {
        let mut s = self.0.lock().unwrap_or_else(|p| p.into_inner());
        s.failing_since = None;
        s.last_error = None;
    }
}

/// Events committed but not yet published, parked ones excluded (for health and tests).
pub async fn pending(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT count(*) FROM outbox WHERE published_at IS NULL AND parked_at IS NULL",
    )
    .fetch_one(pool)
    .await
}

/// An event set aside because it could not be published.
#[derive(Debug, Clone)]
pub struct ParkedEvent {
    pub id: Uuid,
    pub subject: String,
    pub event_type: String,
    pub bytes: i64,
    pub attempts: i32,
    pub parked_at: DateTime<Utc>,
    pub reason: String,
}

/// The parked events, oldest first.
pub async fn parked(pool: &PgPool) -> sqlx::Result<Vec<ParkedEvent>> {
    let rows = sqlx::query(
        "SELECT id, subject, event_type, length(payload)::bigint AS bytes, attempts, parked_at, last_error
         FROM outbox WHERE published_at IS NULL AND parked_at IS NOT NULL ORDER BY seq",
    )
    .fetch_all(pool)
    .await?;
    Ok(rows
        .iter()
        .map(|r| ParkedEvent {
            id: r.get("id"),
            subject: r.get("subject"),
            event_type: r.get("event_type"),
            bytes: r.get("bytes"),
            attempts: r.get("attempts"),
            parked_at: r.get("parked_at"),
            reason: r.get::<Option<String>, _>("last_error").unwrap_or_default(),
        })
        .collect())
}

/// Puts parked events back in line (all of them, or the given ids), once the cause is mended
/// (a stream created, the server's limit raised). Returns how many.
pub async fn retry_parked(pool: &PgPool, ids: Option<&[Uuid]>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "UPDATE outbox SET parked_at = NULL, next_attempt_at = NULL
         WHERE published_at IS NULL AND parked_at IS NOT NULL AND ($1::uuid[] IS NULL OR id = ANY($1))",
    )
    .bind(ids)
    .execute(pool)
    .await?;
    // Wake the relays.
    sqlx::query("SELECT pg_notify('motcua_outbox', '')")
        .execute(pool)
        .await?;
    Ok(done.rows_affected())
}

/// Removes published rows older than `keep` (housekeeping).
pub async fn prune(pool: &PgPool, keep: Duration) -> sqlx::Result<u64> {
    Ok(sqlx::query(
        "DELETE FROM outbox WHERE published_at IS NOT NULL AND published_at < now() - $1::interval",
    )
    .bind(keep)
    .execute(pool)
    .await?
    .rows_affected())
}
