//! Idempotent JetStream consumers: nothing lost, nothing stuck, outages waited out.
//!
//! For each event: open a transaction, record `(consumer, event id)` in `processed_events`; if it
//! was already there the event was handled before and is only acknowledged. Otherwise the handler
//! applies its effect in the same transaction, the transaction commits, and only then the message
//! is acknowledged. In batched mode ([`ConsumerSpec::batched`]) many events share one transaction
//! and are acknowledged after its commit; a batch that fails is redone event by event, so one bad
//! event neither blocks nor spoils the others.
//!
//! What a failure leads to depends on what the handler says it is ([`HandleError`]):
//! - `Unavailable` (PostgreSQL unreachable, restarting, failing over): never dead-lettered. The
//!   message is redelivered later and the consumer stops pulling until the database answers and
//!   the host is ready again.
//! - `Wait` (a prerequisite has not arrived yet, such as a supplement before its case): redelivered
//!   with backoff for up to [`ConsumerSpec::wait_limit`], then dead-lettered.
//! - `Retry` (an unexpected error): redelivered with backoff, dead-lettered after
//!   [`ConsumerSpec::max_tries`] failed handlings.
//! - `Poison` (cannot decode, breaks the contract): dead-lettered at once.
//!
//! Failed handlings are counted in `consumer_failures` (only possible when the database answers,
//! so an outage never counts), not by JetStream's delivery count. The server's `max_deliver` is
//! unlimited, and a message is terminated only after its copy is acknowledged on
//! `deadletter.<consumer>`: if that publish fails the message stays and comes back, so no copy is
//! ever lost. `motcua deadletters list|replay` shows and replays them.
//!
//! Processed ids are pruned after MOTCUA_PROCESSED_EVENTS_RETENTION_DAYS (45): JetStream redelivers
//! only unacknowledged messages (within seconds to minutes), the relay's late republishes come within
//! the outage that caused them, and a dead letter can be replayed only while it is kept
//! (MOTCUA_DEAD_LETTERS_MAX_AGE_DAYS, 30, which settings hold below the processed ids' retention),
//! so every consumer that handled a replayed event still recognises it. A replay from the stream's
//! start (rebuilding a projection) starts from an empty projection instead.

use crate::bus::{Bus, headers};
use crate::readiness::Readiness;
use anyhow::Context;
use async_nats::jetstream::consumer::{DeliverPolicy, pull};
use async_nats::jetstream::context::ConsumerInfoErrorKind;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, stream::Stream as JsStream};
use bytes::Bytes;
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt};
use sqlx::{PgConnection, PgPool};
use std::collections::HashSet;
use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

/// A delivered event.
#[derive(Debug, Clone)]
pub struct Event {
    pub id: Uuid,
    pub event_type: String,
    /// Subject without the bus prefix.
    pub subject: String,
    pub payload: Bytes,
    /// When the stream stored it (JetStream's timestamp, the NATS server's clock): how old the
    /// news is, whatever business time the payload names. A redelivery keeps the first time; a
    /// replayed dead letter has its replay's. None when the message carries no JetStream info.
    pub published: Option<chrono::DateTime<chrono::Utc>>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// A dependency is down: wait for it; never dead-letter.
    #[error("dependency unavailable: {0}")]
    Unavailable(String),
    /// A prerequisite has not arrived yet: redeliver with backoff for up to the spec's wait limit.
    #[error("waiting for {0}")]
    Wait(String),
    /// An unexpected failure: redeliver with backoff, dead-letter after the spec's max tries.
    #[error("{0}")]
    Retry(String),
    /// Will never succeed (cannot decode, violates the contract): dead-letter now.
    #[error("{0}")]
    Poison(String),
}

impl HandleError {
    /// "Not yet": `what` has not arrived (e.g. "the case of dossier X"). Bounded by the spec.
    pub fn wait_for(what: impl Display) -> Self {
        HandleError::Wait(what.to_string())
    }
}

impl From<sqlx::Error> for HandleError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            HandleError::Unavailable(format!("database: {e}"))
        } else {
            HandleError::Retry(format!("database: {e}"))
        }
    }
}

/// What a consumer does with an event, inside the transaction that records it.
pub trait Handler: Send + Sync + 'static {
    fn handle<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), HandleError>>;
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, unique per service and purpose, e.g. `lookup-dossiers`.
    pub name: String,
    /// Stream name without prefix (bus::DOSSIERS, …).
    pub stream: &'static str,
    /// Subject filter without prefix, e.g. `dossier.>` or `dossier.dat-dai.>`.
    pub filter: String,
    /// Failed handlings (`Retry`) before an event is dead-lettered.
    pub max_tries: u32,
    /// First redelivery delay; doubles each try up to 30 s.
    pub backoff: Duration,
    /// How long an event may wait for a prerequisite (`Wait`) before it is dead-lettered.
    pub wait_limit: Duration,
    /// Events per transaction (1: one each).
    pub batch: usize,
    /// The event types this consumer handles; others on its subjects are acknowledged without
    /// touching the database (empty: all).
    pub event_types: Vec<&'static str>,
}

impl ConsumerSpec {
    pub fn new(name: &str, stream: &'static str, filter: &str) -> Self {
        Self {
            name: name.to_owned(),
            stream,
            filter: filter.to_owned(),
            max_tries: 5,
            backoff: Duration::from_millis(500),
            wait_limit: Duration::from_secs(3600),
            batch: 1,
            event_types: Vec::new(),
        }
    }

    /// Handles only these event types (one filter per consumer on NATS 2.9 cannot say it).
    pub fn only(mut self, event_types: &[&'static str]) -> Self {
        self.event_types = event_types.to_vec();
        self
    }

    /// Many events per transaction, for projections that apply thousands a second.
    pub fn batched(mut self, events: usize) -> Self {
        self.batch = events.max(1);
        self
    }

    fn config(&self, bus: &Bus) -> pull::Config {
        pull::Config {
            durable_name: Some(self.name.clone()),
            filter_subject: bus.subject(&self.filter),
            ack_wait: Duration::from_secs(30),
            // Unlimited: the server never drops a message; we decide when it is dead.
            max_deliver: -1,
            ..Default::default()
        }
    }
}

/// What a consumer needs from its host.
///
/// No clock: processed ids, failure counts and the prerequisite wait are bookkeeping of what is in
/// flight in real time, so they use PostgreSQL's `now()`; a simulated clock that jumps a year must
/// not give up on an event that has waited a second.
#[derive(Debug, Clone)]
pub struct ConsumerContext {
    pub pool: PgPool,
    pub bus: Bus,
    /// The consumer pulls only while this says ready.
    pub readiness: Readiness,
    /// Told after each commit, for handlers that write events.
    pub outbox: crate::outbox::OutboxWake,
}

/// Creates or updates the durable consumer so that it has exactly the spec's configuration.
///
/// A changed filter (the land path split into its own deployment) or redelivery setting is applied
/// by the server where it can be; where the server refuses the change, the consumer is recreated
/// from the old one's acknowledged position (events after it are delivered again and dropped by
/// their ids), and the change is logged. If even that fails, the error says so: a configuration
/// change never silently does nothing. During a rolling deployment, a replica of the old version
/// that restarts puts its old configuration back until it is replaced: change consumer settings
/// with all replicas of a deployment on the same version.
pub async fn ensure(bus: &Bus, spec: &ConsumerSpec) -> anyhow::Result<pull::Stream> {
    let stream = bus
        .js
        .get_stream(bus.stream_name(spec.stream))
        .await
        .with_context(|| format!("opening stream {}", bus.stream_name(spec.stream)))?;
    let consumer = ensure_on(&stream, bus, spec).await?;
    consumer
        .stream()
        .max_messages_per_batch(spec.batch.clamp(16, 512))
        .messages()
        .await
        .with_context(|| format!("subscribing consumer {}", spec.name))
}

fn same(have: &async_nats::jetstream::consumer::Config, want: &pull::Config) -> bool {
    have.filter_subject == want.filter_subject
        && have.ack_wait == want.ack_wait
        && have.max_deliver == want.max_deliver
}

async fn ensure_on(
    stream: &JsStream,
    bus: &Bus,
    spec: &ConsumerSpec,
) -> anyhow::Result<async_nats::jetstream::consumer::PullConsumer> {
    let want = spec.config(bus);
    let existing = match stream.consumer_info(&spec.name).await {
        Ok(info) => Some(info),
        Err(e) if matches!(e.kind(), ConsumerInfoErrorKind::NotFound) => None,
        Err(e) => return Err(e).context(format!("reading consumer {}", spec.name)),
    };
    let Some(info) = existing else {
        return stream
            .create_consumer(want)
            .await
            .with_context(|| format!("creating consumer {}", spec.name));
    };
    let have = &info.config;
    if same(have, &want) {
        return stream
            .get_consumer(&spec.name)
            .await
            .map_err(|e| anyhow::anyhow!("opening consumer {}: {e}", spec.name));
    }
    tracing::warn!(consumer = %spec.name, from = %have.filter_subject, to = %want.filter_subject, "consumer configuration changed; applying");
    if let Ok(updated) = stream.create_consumer(want.clone()).await {
        let mut updated = updated;
        if let Ok(now) = updated.info().await
            && same(&now.config, &want)
        {
            return Ok(updated);
        }
    }
    // The server would not change it in place: recreate it where the old one had got to.
    let start = info.ack_floor.stream_sequence + 1;
    tracing::warn!(consumer = %spec.name, start, "recreating consumer from its acknowledged position");
    stream.delete_consumer(&spec.name).await.with_context(|| {
        format!(
            "consumer {}: configuration changed, and deleting it to recreate failed",
            spec.name
        )
    })?;
    let mut recreated = want;
    recreated.deliver_policy = DeliverPolicy::ByStartSequence {
        start_sequence: start,
    };
    stream.create_consumer(recreated).await.with_context(|| {
        format!(
            "consumer {}: configuration changed; recreating it from stream sequence {start} failed",
            spec.name
        )
    })
}

/// Processes messages until `shutdown`. Returns an error when the consumer cannot be set up (the
/// host logs it and starts again).
pub async fn run<H: Handler>(
    ctx: ConsumerContext,
    spec: ConsumerSpec,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let mut messages = ensure(&ctx.bus, &spec).await?;
    metrics::gauge!("motcua_consumer_up", "consumer" => spec.name.clone()).set(1.0);
    let lag = tokio::spawn(report_lag(
        ctx.bus.clone(),
        spec.clone(),
        shutdown.child_token(),
    ));
    let result = async {
        loop {
            // Pull only while ready: an outage is waited out, not turned into redeliveries.
            tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                _ = ctx.readiness.wait() => {}
            }
            let first = tokio::select! {
                _ = shutdown.cancelled() => return Ok(()),
                next = messages.next() => next,
            };
            let Some(first) = first else {
                anyhow::bail!("consumer {}: message stream ended", spec.name)
            };
            // Batched mode takes, beside the first, what has already arrived, without waiting for
            // more: under load events pile up while the previous batch commits, so batches fill by
            // themselves, and an event that comes alone is applied at once. (A linger of 10 ms
            // here added those 10 ms to every change's way to the citizen's lookup page.)
            let mut batch = vec![first];
            while batch.len() < spec.batch {
                match messages.next().now_or_never() {
                    Some(Some(m)) => batch.push(m),
                    _ => break,
                }
            }
            let batch: Vec<_> = batch
                .into_iter()
                .filter_map(|m| match m {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::warn!(error = %e, consumer = %spec.name, "receiving message");
                        None
                    }
                })
                .collect();
            let worker = Worker {
                ctx: &ctx,
                spec: &spec,
                handler: handler.as_ref(),
            };
            if worker.process(batch).await == Flow::DependencyDown {
                worker.wait_for_database(&shutdown).await;
            }
        }
    }
    .await;
    lag.abort();
    metrics::gauge!("motcua_consumer_up", "consumer" => spec.name.clone()).set(0.0);
    result
}

/// Every 10 s: how many events of the consumer's subjects it has not yet taken
/// (`motcua_consumer_pending`) or taken and not yet acknowledged (`motcua_consumer_ack_pending`),
/// and how full its stream is (`motcua_stream_used_ratio`, bytes over the stream's limit). The
/// operator's alerts (README "Operating"): pending above 10,000 for 15 minutes, the stream above
/// 0.8 of its limit.
async fn report_lag(bus: Bus, spec: ConsumerSpec, stop: CancellationToken) {
    loop {
        if let Ok(mut stream) = bus.js.get_stream(bus.stream_name(spec.stream)).await {
            if let Ok(info) = stream.info().await {
                let used = if info.config.max_bytes > 0 {
                    info.state.bytes as f64 / info.config.max_bytes as f64
                } else {
                    0.0
                };
                metrics::gauge!("motcua_stream_used_ratio", "stream" => spec.stream).set(used);
            }
            if let Ok(info) = stream.consumer_info(&spec.name).await {
                metrics::gauge!("motcua_consumer_pending", "consumer" => spec.name.clone())
                    .set(info.num_pending as f64);
                metrics::gauge!("motcua_consumer_ack_pending", "consumer" => spec.name.clone())
                    .set(info.num_ack_pending as f64);
            }
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(10)) => {}
        }
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    DependencyDown,
}

struct Worker<'a, H> {
    ctx: &'a ConsumerContext,
    spec: &'a ConsumerSpec,
    handler: &'a H,
}

type Message = async_nats::jetstream::Message;

fn header(message: &Message, name: &str) -> Option<String> {
    message
        .headers
        .as_ref()
        .and_then(|h| h.get(name))
        .map(|v| v.as_str().to_owned())
}

impl<H: Handler> Worker<'_, H> {
    fn event(&self, message: &Message) -> Option<Event> {
        // The event id header survives a republish under another message id (a replayed dead
        // letter, a relay's late duplicate); Nats-Msg-Id is the fallback.
        let id = header(message, headers::EVENT_ID)
            .or_else(|| header(message, "Nats-Msg-Id"))
            .and_then(|s| Uuid::parse_str(&s).ok())?;
        Some(Event {
            id,
            event_type: header(message, headers::EVENT_TYPE).unwrap_or_default(),
            subject: self.ctx.bus.strip(message.subject.as_str()).to_owned(),
            payload: message.payload.clone(),
            published: message.info().ok().and_then(|i| {
                i64::try_from(i.published.unix_timestamp_nanos())
                    .ok()
                    .map(chrono::DateTime::from_timestamp_nanos)
            }),
        })
    }

    async fn process(&self, batch: Vec<Message>) -> Flow {
        let mut events = Vec::with_capacity(batch.len());
        for message in batch {
            if !self.spec.event_types.is_empty()
                && !header(&message, headers::EVENT_TYPE)
                    .is_some_and(|t| self.spec.event_types.contains(&t.as_str()))
            {
                // Not ours to handle: nothing to record.
                self.ack(&message).await;
                continue;
            }
            match self.event(&message) {
                Some(event) => events.push((message, event)),
                None => {
                    self.dead_letter(
                        &message,
                        None,
                        "message has no event id (Motcua-Event-Id or Nats-Msg-Id)",
                    )
                    .await
                }
            }
        }
        self.process_events(&events).await
    }

    /// Applies events together; a batch that fails is split in halves until the events that fail
    /// stand alone, so one bad event costs a few extra transactions, not one per event.
    fn process_events<'b>(&'b self, events: &'b [(Message, Event)]) -> BoxFuture<'b, Flow> {
        Box::pin(async move {
            match events {
                [] => Flow::Continue,
                [(message, event)] => self.process_one(message, event).await,
                _ => match self.apply_batch(events).await {
                    Ok(()) => {
                        for (message, _) in events {
                            self.ack(message).await;
                        }
                        Flow::Continue
                    }
                    Err(HandleError::Unavailable(reason)) => {
                        tracing::warn!(%reason, consumer = %self.spec.name, "dependency down; the batch waits");
                        for (message, _) in events {
                            let _ = message
                                .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                                .await;
                        }
                        Flow::DependencyDown
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, consumer = %self.spec.name, size = events.len(), "batch failed; splitting it");
                        let (left, right) = events.split_at(events.len() / 2);
                        if self.process_events(left).await == Flow::DependencyDown {
                            for (message, _) in right {
                                let _ = message
                                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                                    .await;
                            }
                            return Flow::DependencyDown;
                        }
                        self.process_events(right).await
                    }
                },
            }
        })
    }

    /// Applies several events in one transaction: all or nothing.
    async fn apply_batch(&self, events: &[(Message, Event)]) -> Result<(), HandleError> {
        let ids: Vec<Uuid> = events.iter().map(|(_, e)| e.id).collect();
        let mut tx = self.ctx.pool.begin().await?;
        let fresh: HashSet<Uuid> = sqlx::query_scalar(
            "INSERT INTO processed_events (consumer, event_id)
             SELECT $1, id FROM unnest($2::uuid[]) AS id ON CONFLICT DO NOTHING RETURNING event_id",
        )
        .bind(&self.spec.name)
        .bind(&ids)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        let mut applied = HashSet::new();
        for (message, event) in events {
            // Seen before, or twice in this batch: its effect is (being) committed once.
            if !fresh.contains(&event.id) || !applied.insert(event.id) {
                continue;
            }
            let span = tracing::info_span!("consume", consumer = %self.spec.name, subject = %message.subject, event = %event.id);
            crate::telemetry::set_parent_from_nats(&span, message.headers.as_ref());
            guarded(self.handler.handle(&mut tx, event))
                .instrument(span)
                .await?;
        }
        let redelivered: Vec<Uuid> = events
            .iter()
            .filter(|(m, _)| m.info().map(|i| i.delivered).unwrap_or(1) > 1)
            .map(|(_, e)| e.id)
            .collect();
        if !redelivered.is_empty() {
            clear_failures(&mut tx, &self.spec.name, &redelivered).await?;
        }
        self.ctx.outbox.commit(tx).await?;
        Ok(())
    }

    async fn apply_one(&self, message: &Message, event: &Event) -> Result<(), HandleError> {
        let mut tx = self.ctx.pool.begin().await?;
        let fresh = sqlx::query(
            "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&self.spec.name)
        .bind(event.id)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if fresh {
            guarded(self.handler.handle(&mut tx, event)).await?;
        }
        if message.info().map(|i| i.delivered).unwrap_or(1) > 1 {
            clear_failures(&mut tx, &self.spec.name, &[event.id]).await?;
        }
        self.ctx.outbox.commit(tx).await?;
        Ok(())
    }

    async fn process_one(&self, message: &Message, event: &Event) -> Flow {
        let span = tracing::info_span!("consume", consumer = %self.spec.name, subject = %message.subject, event = %event.id);
        crate::telemetry::set_parent_from_nats(&span, message.headers.as_ref());
        let outcome = self.apply_one(message, event).instrument(span).await;
        let failure = match outcome {
            Ok(()) => {
                self.ack(message).await;
                return Flow::Continue;
            }
            Err(e) => e,
        };
        match failure {
            HandleError::Unavailable(reason) => {
                tracing::warn!(%reason, consumer = %self.spec.name, event = %event.id, "dependency down; the event waits");
                metrics::counter!("motcua_consumer_outage_waits_total", "consumer" => self.spec.name.clone()).increment(1);
                let _ = message
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
                Flow::DependencyDown
            }
            HandleError::Poison(reason) => {
                self.dead_letter(message, Some(event.id), &reason).await;
                Flow::Continue
            }
            HandleError::Retry(ref reason) | HandleError::Wait(ref reason) => {
                let waiting = matches!(failure, HandleError::Wait(_));
                let counted = self.count_failure(event.id, reason).await;
                let Ok((tries, waited)) = counted else {
                    // The failure could not even be written down: the database is down.
                    let _ = message
                        .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                        .await;
                    return Flow::DependencyDown;
                };
                let dead = if waiting {
                    waited >= self.spec.wait_limit
                } else {
                    tries >= self.spec.max_tries as i32
                };
                if dead {
                    let why = if waiting {
                        format!("waited {waited:?} for {reason}")
                    } else {
                        format!("{reason} (after {tries} tries)")
                    };
                    self.dead_letter(message, Some(event.id), &why).await;
                } else {
                    let factor = 1u32 << (tries.clamp(1, 16) - 1) as u32;
                    let delay = (self.spec.backoff * factor).min(Duration::from_secs(30));
                    tracing::warn!(%reason, tries, ?delay, consumer = %self.spec.name, event = %event.id, "event not handled yet; will redeliver");
                    metrics::counter!("motcua_consumer_retries_total", "consumer" => self.spec.name.clone()).increment(1);
                    let _ = message.ack_with(AckKind::Nak(Some(delay))).await;
                }
                Flow::Continue
            }
        }
    }

    /// Counts a failed handling; returns the tries so far and how long since the first failed.
    async fn count_failure(&self, id: Uuid, reason: &str) -> sqlx::Result<(i32, Duration)> {
        let (tries, waited): (i32, f64) = sqlx::query_as(
            "INSERT INTO consumer_failures (consumer, event_id, tries, first_failed_at, last_failed_at, last_error)
             VALUES ($1, $2, 1, now(), now(), $3)
             ON CONFLICT (consumer, event_id) DO UPDATE
               SET tries = consumer_failures.tries + 1, last_failed_at = now(), last_error = $3
             RETURNING tries, extract(epoch FROM now() - first_failed_at)::float8",
        )
        .bind(&self.spec.name)
        .bind(id)
        .bind(reason)
        .fetch_one(&self.ctx.pool)
        .await?;
        Ok((tries, Duration::from_secs_f64(waited.max(0.0))))
    }

    async fn ack(&self, message: &Message) {
        if let Err(e) = message.ack().await {
            // Committed already: a redelivery is recognised by its id and only acknowledged.
            tracing::warn!(error = %e, consumer = %self.spec.name, "acknowledging; the message will come back and be skipped");
        }
    }

    /// Publishes a copy to `deadletter.<consumer>`, and terminates the message only once the copy
    /// is stored. If the copy cannot be stored the message is kept for a later try.
    async fn dead_letter(&self, message: &Message, id: Option<Uuid>, reason: &str) {
        let spec = self.spec;
        let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
        let mut h = message.headers.clone().unwrap_or_default();
        h.insert(
            headers::DEAD_REASON,
            crate::text::header_value(reason).as_str(),
        );
        h.insert(headers::ORIGINAL_SUBJECT, message.subject.as_str());
        h.insert(headers::CONSUMER, spec.name.as_str());
        // A message id of its own for this delivery of this stream message: unique to the attempt
        // (a replayed event that fails again is a new message, and its letter must be stored
        // again), yet the same if we crash between storing the letter and terminating the message.
        let stream_seq = message.info().map(|i| i.stream_sequence).unwrap_or(0);
        let dead_id = match id {
            Some(id) => format!("{}:{id}:{stream_seq}:{delivered}", spec.name),
            None => format!("{}:{}", spec.name, Uuid::now_v7()),
        };
        h.insert("Nats-Msg-Id", dead_id.as_str());
        let publish = PublishMessage::build()
            .payload(message.payload.clone())
            .headers(h);
        let subject = self.ctx.bus.subject(&format!("deadletter.{}", spec.name));
        let stored = match self.ctx.bus.js.send_publish(subject, publish).await {
            Ok(ack) => ack.await.map(|_| ()).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match stored {
            Ok(()) => {
                tracing::error!(%reason, delivered, consumer = %spec.name, "event dead-lettered");
                metrics::counter!("motcua_consumer_dead_letters_total", "consumer" => spec.name.clone())
                    .increment(1);
                if let Err(e) = message.ack_with(AckKind::Term).await {
                    tracing::warn!(error = %e, "terminating a dead-lettered message; it may come back and be dead-lettered again");
                }
                if let Some(id) = id {
                    let _ = sqlx::query(
                        "DELETE FROM consumer_failures WHERE consumer = $1 AND event_id = $2",
                    )
                    .bind(&spec.name)
                    .bind(id)
                    .execute(&self.ctx.pool)
                    .await;
                }
            }
            Err(e) => {
                tracing::error!(error = %e, %reason, consumer = %spec.name, "cannot store the dead letter; keeping the message to try again");
                metrics::counter!("motcua_consumer_dead_letter_failures_total", "consumer" => spec.name.clone())
                    .increment(1);
                let retry = (self.spec.backoff * 8).min(Duration::from_secs(30));
                let _ = message.ack_with(AckKind::Nak(Some(retry))).await;
            }
        }
    }

    /// Waits (with backoff) until the database answers and the host is ready again.
    async fn wait_for_database(&self, shutdown: &CancellationToken) {
        let mut delay = Duration::from_millis(250);
        loop {
            let up = tokio::time::timeout(
                Duration::from_secs(5),
                sqlx::query("SELECT 1").execute(&self.ctx.pool),
            )
            .await
            .is_ok_and(|r| r.is_ok());
            if up {
                return;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(Duration::from_secs(5));
        }
    }
}

async fn clear_failures(tx: &mut PgConnection, consumer: &str, ids: &[Uuid]) -> sqlx::Result<()> {
    sqlx::query("DELETE FROM consumer_failures WHERE consumer = $1 AND event_id = ANY($2)")
        .bind(consumer)
        .bind(ids)
        .execute(tx)
        .await?;
    Ok(())
}

/// Runs a handler's future, turning a panic into a failed try: a handler that panics on an event
/// must not take the consumer down (and readiness with it) every time the event comes back.
async fn guarded<T>(handling: BoxFuture<'_, Result<T, HandleError>>) -> Result<T, HandleError> {
    use futures::FutureExt;
    match std::panic::AssertUnwindSafe(handling).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => {
            let why = panic
                .downcast::<String>()
                .map(|s| *s)
                .or_else(|p| p.downcast::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|_| "(no message)".into());
            metrics::counter!("motcua_consumer_handler_panics_total").increment(1);
            Err(HandleError::Retry(format!("the handler panicked: {why}")))
        }
    }
}

/// Forgets processed ids older than `keep` (housekeeping; see the module comment for why it is
/// safe). Bookkeeping in real time: PostgreSQL's clock, not the rules' clock.
pub async fn prune(pool: &PgPool, keep: Duration) -> sqlx::Result<u64> {
    Ok(
        sqlx::query("DELETE FROM processed_events WHERE processed_at < now() - $1::interval")
            .bind(keep)
            .execute(pool)
            .await?
            .rows_affected(),
    )
}
