//! The relay: takes batches of unpublished outbox rows, publishes them to JetStream, and marks,
//! delays or parks each (see the parent module for what it promises).

use super::*;

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
