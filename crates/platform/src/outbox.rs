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
/// event in the same statement as its change (`INSERT INTO outbox (id, subject, event_type,
/// payload, headers) SELECT …`), so that a change costs one round trip.
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
    sqlx::query(
        "INSERT INTO outbox (id, subject, event_type, payload, headers) VALUES ($1, $2, $3, $4, $5)",
    )
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

/// What one batch did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct BatchOutcome {
    /// Rows taken from the table.
    pub taken: usize,
    pub published: usize,
    /// Failed for now; each retries on its own schedule.
    pub delayed: usize,
    /// Can never be published: set aside.
    pub parked: usize,
}

#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    bus: Bus,
    /// When set, a stream of ours found missing is created again with this retention.
    streams: Option<Retention>,
    batch: i64,
    poll: Duration,
    health: RelayHealth,
    wake: OutboxWake,
    /// Whether some row may be waiting for a retry: only then is the table asked when the next
    /// one is due (a relay under load would otherwise ask after every drain).
    delayed: Arc<std::sync::atomic::AtomicBool>,
    room: Arc<tokio::sync::Mutex<StreamRoom>>,
}

/// Why one event was not published.
enum Failure {
    /// May work later: retry this row with backoff.
    Transient(String),
    /// Never will: park it.
    Permanent(String),
}

/// The longest a failing row waits between attempts.
const MAX_BACKOFF_SECS: f64 = 30.0;

impl Relay {
    pub fn new(pool: PgPool, bus: Bus) -> Self {
        Self {
            pool,
            bus,
            streams: None,
            batch: 512,
            poll: Duration::from_secs(2),
            health: RelayHealth::default(),
            wake: OutboxWake::default(),
            // A restart may find rows left delayed by the previous run.
            delayed: Arc::new(std::sync::atomic::AtomicBool::new(true)),
            room: Arc::default(),
        }
    }

    pub fn with_batch(mut self, batch: i64) -> Self {
        // A batch's acknowledgements are all collected after its sends, and the JetStream client
        // lets 5000 wait at most (past them a send waits for one): a larger batch would never end.
        self.batch = batch.clamp(1, 4096);
        self
    }

    /// The safety-net poll when nothing wakes the relay (tests set it long to prove the wake-ups).
    pub fn with_poll(mut self, poll: Duration) -> Self {
        self.poll = poll;
        self
    }

    /// Recreates a stream of ours that has gone missing (deleted by mistake), with this retention.
    pub fn with_streams(mut self, retention: Retention) -> Self {
        self.streams = Some(retention);
        self
    }

    pub fn with_health(mut self, health: RelayHealth) -> Self {
        self.health = health;
        self
    }

    /// The handle writers of this process call after their commits.
    pub fn with_wake(mut self, wake: OutboxWake) -> Self {
        self.wake = wake;
        self
    }

    pub fn health(&self) -> RelayHealth {
        self.health.clone()
    }

    /// Runs until `shutdown`, then publishes what is left (bounded by the caller's grace period).
    pub async fn run(self, shutdown: CancellationToken) {
        let server_limit = self.bus.max_payload();
        if server_limit < MAX_EVENT_BYTES + 16 * 1024 {
            tracing::warn!(
                server_limit,
                writers_limit = MAX_EVENT_BYTES,
                "NATS max_payload is below what writers may store: raise the server's max_payload, or the largest events will be parked"
            );
        }
        let mut listener = match crate::db::listener(&self.pool, "motcua_outbox").await {
            Ok(l) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: LISTEN failed, polling only");
                None
            }
        };
        let mut last_gauges = Instant::now() - Duration::from_secs(3600);
        loop {
            if let Err(e) = self.drain().await {
                self.health.failed(format!("{e:#}"));
                tracing::warn!(
                    error = format!("{e:#}"),
                    "outbox relay: cannot reach the outbox; will retry"
                );
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
            if last_gauges.elapsed() > Duration::from_secs(10) {
                last_gauges = Instant::now();
                self.record_gauges().await;
            }
            // Sleep until a commit here, a NOTIFY from another process, the earliest delayed row,
            // or the poll.
            let next_retry = self.next_retry_in().await;
            let retry = async move {
                match next_retry {
                    Some(wait) => tokio::time::sleep(wait).await,
                    None => futures::future::pending().await,
                }
            };
            let wait = async {
                match listener.as_mut() {
                    Some(l) => {
                        let _ = tokio::time::timeout(self.poll, l.recv()).await;
                        // Many commits, one drain: the next drain publishes them all.
                        while l.next_buffered().is_some() {}
                    }
                    None => tokio::time::sleep(self.poll).await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.woken() => {}
                _ = wait => {}
                _ = retry => {}
            }
        }
        // Flush: whatever was committed before shutdown is published before the process exits.
        if let Err(e) = self.drain().await {
            tracing::warn!(error = ?e, "outbox relay: final flush failed; the next start publishes the rest");
        }
    }

    /// Publishes every event that is due, batch by batch; returns the sum of the batches.
    pub async fn drain(&self) -> anyhow::Result<BatchOutcome> {
        let mut total = BatchOutcome::default();
        loop {
            let b = self.publish_batch().await?;
            total.taken += b.taken;
            total.published += b.published;
            total.delayed += b.delayed;
            total.parked += b.parked;
            if b.taken < self.batch as usize {
                if total.delayed == 0 && self.next_retry_in().await.is_none() {
                    self.health.caught_up();
                } else if total.published > 0 {
                    self.health.progressed();
                }
                return Ok(total);
            }
        }
    }

    /// Publishes one batch of due rows.
    pub async fn publish_batch(&self) -> anyhow::Result<BatchOutcome> {
        // Disconnected, every publish would time out and count against its row: wait instead.
        anyhow::ensure!(self.bus.is_connected(), "NATS is not connected");
        let mut tx = self.pool.begin().await?;
        // SKIP LOCKED lets several relays (replicas) share the table without waiting on each other.
        let rows = sqlx::query(
            "SELECT id, subject, event_type, payload, headers, attempts FROM outbox
             WHERE published_at IS NULL AND parked_at IS NULL
               AND (next_attempt_at IS NULL OR next_attempt_at <= now())
             ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        let mut outcome = BatchOutcome {
            taken: rows.len(),
            ..Default::default()
        };
        if rows.is_empty() {
            return Ok(outcome);
        }
        let max_payload = self.bus.max_payload();
        let mut room = self.room.lock().await;
        room.refresh_if_older_than(Duration::from_secs(1));
        let mut sent = Vec::with_capacity(rows.len());
        let mut failures: Vec<(Uuid, i32, Failure)> = Vec::new();
        for row in &rows {
            let id: Uuid = row.get("id");
            let subject: String = row.get("subject");
            let attempts: i32 = row.get("attempts");
            let payload: Vec<u8> = row.get("payload");
            if let Some(why) = unpublishable_subject(&subject) {
                failures.push((id, attempts, Failure::Permanent(why)));
                continue;
            }
            if let Some(why) = room.take(&self.bus, &subject, payload.len()).await {
                failures.push((id, attempts, Failure::Transient(why)));
                continue;
            }
            if payload.len() > max_payload {
                failures.push((
                    id,
                    attempts,
                    Failure::Permanent(format!(
                        "event of {} bytes is larger than the server's limit of {max_payload} bytes",
                        payload.len()
                    )),
                ));
                continue;
            }
            let event_type: String = row.get("event_type");
            let trace: sqlx::types::Json<HashMap<String, String>> = row.get("headers");
            let mut h = async_nats::HeaderMap::new();
            h.insert(headers::EVENT_TYPE, event_type.as_str());
            h.insert(headers::EVENT_ID, id.to_string().as_str());
            for (k, v) in trace.0.iter() {
                h.insert(k.as_str(), v.as_str());
            }
            let publish = PublishMessage::build()
                .payload(payload.into())
                .headers(h)
                .message_id(id.to_string());
            let full = self.bus.subject(&subject);
            match self.bus.js.send_publish(full.clone(), publish).await {
                Ok(ack) => sent.push((id, attempts, full, ack)),
                Err(e) => failures.push((id, attempts, self.classify(&e, &full).await)),
            }
        }
        let mut published = Vec::with_capacity(sent.len());
        for (id, attempts, subject, ack) in sent {
            match ack.await {
                Ok(_) => published.push(id),
                Err(e) => failures.push((id, attempts, self.classify(&e, &subject).await)),
            }
        }
        if !published.is_empty() {
            sqlx::query(
                "UPDATE outbox SET published_at = now(), last_error = NULL WHERE id = ANY($1)",
            )
            .bind(&published)
            .execute(&mut *tx)
            .await?;
        }
        for (id, attempts, failure) in &failures {
            match failure {
                Failure::Permanent(reason) => {
                    tracing::error!(event = %id, %reason, "outbox relay: event can never be published; parked (motcua outbox parked lists it)");
                    metrics::counter!("motcua_outbox_parked_total").increment(1);
                    sqlx::query(
                        "UPDATE outbox SET parked_at = now(), last_error = $2, attempts = attempts + 1 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                    outcome.parked += 1;
                }
                Failure::Transient(reason) => {
                    let backoff = f64::from(1u32 << (*attempts).clamp(0, 9)).min(MAX_BACKOFF_SECS);
                    tracing::warn!(event = %id, %reason, attempts = attempts + 1, backoff, "outbox relay: publishing failed; will retry");
                    metrics::counter!("motcua_outbox_publish_failures_total").increment(1);
                    self.health.failed(reason.clone());
                    sqlx::query(
                        "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $2),
                                           last_error = $3 WHERE id = $1",
                    )
                    .bind(id)
                    .bind(backoff)
                    .bind(reason)
                    .execute(&mut *tx)
                    .await?;
                    outcome.delayed += 1;
                    self.delayed
                        .store(true, std::sync::atomic::Ordering::Relaxed);
                }
            }
        }
        tx.commit().await?;
        outcome.published = published.len();
        metrics::counter!("motcua_outbox_published_total").increment(published.len() as u64);
        Ok(outcome)
    }

    /// Whether a failed publish can ever succeed.
    async fn classify(&self, e: &PublishError, subject: &str) -> Failure {
        let text = match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        };
        let jetstream_code = std::error::Error::source(e)
            .and_then(|s| s.downcast_ref::<async_nats::jetstream::Error>())
            .map(|j| j.error_code());
        match e.kind() {
            PublishErrorKind::MaxPayloadExceeded => Failure::Permanent(text),
            // The stream's own size limit for one message: no retry will make it smaller.
            _ if jetstream_code == Some(ErrorCode::STREAM_MESSAGE_EXCEEDS_MAXIMUM) => {
                Failure::Permanent(text)
            }
            // No stream answered. One of ours missing (deleted by mistake, restarting, electing a
            // leader) is mended and retried; a subject outside every stream we keep never will be
            // covered.
            PublishErrorKind::StreamNotFound if self.bus.in_our_streams(subject) => {
                if let Some(retention) = &self.streams
                    && let Err(err) = self.bus.ensure_streams(retention).await
                {
                    tracing::warn!(
                        error = format!("{err:#}"),
                        "outbox relay: recreating the streams failed"
                    );
                }
                Failure::Transient(format!(
                    "{text} (the stream for {subject} is missing or not answering)"
                ))
            }
            PublishErrorKind::StreamNotFound => {
                Failure::Permanent(format!("no stream covers subject {subject}"))
            }
            _ => Failure::Transient(text),
        }
    }

    /// How long until the earliest delayed row is due again, if one is delayed.
    async fn next_retry_in(&self) -> Option<Duration> {
        use std::sync::atomic::Ordering;
        if !self.delayed.load(Ordering::Relaxed) {
            return None;
        }
        let secs: Option<f64> = sqlx::query_scalar(
            "SELECT extract(epoch FROM min(next_attempt_at) - now())::float8 FROM outbox
             WHERE published_at IS NULL AND parked_at IS NULL AND next_attempt_at IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await
        .ok()
        .flatten();
        if secs.is_none() {
            self.delayed.store(false, Ordering::Relaxed);
        }
        secs.map(|s| Duration::from_secs_f64(s.max(0.0)))
    }

    async fn record_gauges(&self) {
        let row = sqlx::query(
            "SELECT count(*) FILTER (WHERE parked_at IS NULL) AS pending,
                    count(*) FILTER (WHERE parked_at IS NOT NULL) AS parked,
                    extract(epoch FROM now() - min(created_at) FILTER (WHERE parked_at IS NULL))::float8 AS oldest
             FROM outbox WHERE published_at IS NULL",
        )
        .fetch_one(&self.pool)
        .await;
        if let Ok(row) = row {
            let oldest: Option<f64> = row.get("oldest");
            metrics::gauge!("motcua_outbox_pending").set(row.get::<i64, _>("pending") as f64);
            metrics::gauge!("motcua_outbox_parked").set(row.get::<i64, _>("parked") as f64);
            metrics::gauge!("motcua_outbox_oldest_pending_seconds")
                .set(oldest.unwrap_or(0.0).max(0.0));
        }
    }
}

/// What the relay leaves free in a stream: events wait in the outbox rather than fill a stream
/// past this share of its byte limit. The streams refuse new events when full (`DiscardPolicy::New`,
/// see [`crate::bus`]), but NATS servers before 2.10.5 undercount a message's headers and then
/// delete the stream's oldest events to make room, consumed or not (nats-server issues 4771 and
/// 4775); checking here keeps every event safe on any server.
const STREAM_FILL_LIMIT: f64 = 0.95;

/// Room left in each stream the relay publishes to: asked of the server at most once a second per
/// stream (not per batch: the relay of a busy service takes many small batches), and counted down
/// by what is published meanwhile.
#[derive(Debug, Default)]
struct StreamRoom(HashMap<String, Option<i64>>, Option<Instant>);

impl StreamRoom {
    fn refresh_if_older_than(&mut self, age: Duration) {
        if self.1.is_none_or(|at| at.elapsed() >= age) {
            self.0.clear();
            self.1 = Some(Instant::now());
        }
    }

    /// Takes room for an event of `payload` bytes on `subject` (headers counted generously);
    /// Some(why) when its stream is too full to take it now.
    async fn take(&mut self, bus: &Bus, subject: &str, payload: usize) -> Option<String> {
        let stream = bus.stream_of(subject)?;
        if !self.0.contains_key(stream) {
            let left = match bus.js.get_stream(bus.stream_name(stream)).await {
                Ok(mut s) => match s.info().await {
                    Ok(info) if info.config.max_bytes > 0 => Some(
                        (info.config.max_bytes as f64 * STREAM_FILL_LIMIT) as i64
                            - info.state.bytes as i64,
                    ),
                    _ => None,
                },
                // Not answering or missing: the publish will say so and be handled as before.
                Err(_) => None,
            };
            self.0.insert(stream.to_owned(), left);
        }
        let left = self.0.get_mut(stream)?.as_mut()?;
        let size = payload as i64 + 1024;
        if size > *left {
            metrics::counter!("motcua_outbox_stream_full_total", "stream" => stream).increment(1);
            return Some(format!(
                "stream {stream} is full ({STREAM_FILL_LIMIT} of its byte limit): the event waits; raise its _MAX_BYTES setting or let its events age out"
            ));
        }
        *left -= size;
        None
    }
}

/// Why a subject can never be published to, if it cannot.
fn unpublishable_subject(subject: &str) -> Option<String> {
    let bad = subject.is_empty()
        || subject.split('.').any(|t| {
            t.is_empty() || t.contains(|c: char| c.is_whitespace() || c == '*' || c == '>')
        });
    bad.then(|| format!("{subject:?} is not a valid subject"))
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
