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

mod worker;
use worker::{Flow, Worker};

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

    /// Whether [`Handler::handle_many`] does a batch in fewer statements than one event after
    /// another (then a batch gets one span, not one per event).
    fn handles_many(&self) -> bool {
        false
    }

    /// Applies a batch's fresh events (in stream order, each once) in one transaction, with the
    /// same effect as `handle` on each in turn. A handler whose every event costs several round
    /// trips (a row read, a template, a contact) does them once for the lot here.
    fn handle_many<'a>(
        &'a self,
        tx: &'a mut PgConnection,
        events: &'a [&'a Event],
    ) -> BoxFuture<'a, Result<(), HandleError>> {
        Box::pin(async move {
            for event in events {
                self.handle(tx, event).await?;
            }
            Ok(())
        })
    }
}

#[derive(Debug, Clone)]
pub struct ConsumerSpec {
    /// Durable name, unique per service and purpose, e.g. `<service>-dossiers`.
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
            // here added those 10 ms to every change's way to a read model.)
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
