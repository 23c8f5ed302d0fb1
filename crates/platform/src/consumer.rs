//! Idempotent JetStream consumers with bounded redelivery and a dead-letter subject.
//!
//! For each message: open a transaction, record `(consumer, event id)` in `processed_events`; if it
//! was already there the event was handled before and is only acknowledged. Otherwise the handler
//! applies its effect in the same transaction, the transaction commits, and only then the message is
//! acknowledged. A failing message is redelivered with growing delays; after `max_tries` (or at once
//! for a message that can never succeed, such as an undecodable payload) it is published to
//! `deadletter.<consumer>` with the reason and terminated, so it never blocks the stream.

use crate::bus::{Bus, headers};
use anyhow::Context;
use async_nats::jetstream::message::PublishMessage;
use async_nats::jetstream::{AckKind, consumer::pull};
use bytes::Bytes;
use futures::StreamExt;
use futures::future::BoxFuture;
use sqlx::{PgConnection, PgPool};
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
}

#[derive(Debug, thiserror::Error)]
pub enum HandleError {
    /// May succeed later (a dependency was down, a conflict): redeliver with backoff.
    #[error("{0}")]
    Retry(String),
    /// Will never succeed (cannot decode, violates the contract): dead-letter now.
    #[error("{0}")]
    Poison(String),
}

impl From<sqlx::Error> for HandleError {
    fn from(e: sqlx::Error) -> Self {
        HandleError::Retry(format!("database: {e}"))
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
    /// Deliveries before a failing message is dead-lettered.
    pub max_tries: i64,
    /// First redelivery delay; doubles each try up to 30 s.
    pub backoff: Duration,
}

impl ConsumerSpec {
    pub fn new(name: &str, stream: &'static str, filter: &str) -> Self {
        Self {
            name: name.to_owned(),
            stream,
            filter: filter.to_owned(),
            max_tries: 5,
            backoff: Duration::from_millis(500),
        }
    }
}

/// Creates the durable consumer and processes messages until `shutdown`.
pub async fn run<H: Handler>(
    pool: PgPool,
    bus: Bus,
    spec: ConsumerSpec,
    handler: Arc<H>,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let stream = bus
        .js
        .get_stream(bus.stream_name(spec.stream))
        .await
        .context("opening stream")?;
    let consumer = stream
        .get_or_create_consumer(
            &spec.name,
            pull::Config {
                durable_name: Some(spec.name.clone()),
                filter_subject: bus.subject(&spec.filter),
                ack_wait: Duration::from_secs(30),
                // We dead-letter at max_tries ourselves; the server's limit is only a backstop.
                max_deliver: spec.max_tries + 2,
                ..Default::default()
            },
        )
        .await
        .with_context(|| format!("creating consumer {}", spec.name))?;
    let mut messages = consumer.messages().await.context("subscribing")?;
    loop {
        let next = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            next = messages.next() => next,
        };
        let Some(message) = next else { return Ok(()) };
        let message = match message {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(error = %e, consumer = %spec.name, "receiving message");
                continue;
            }
        };
        let span =
            tracing::info_span!("consume", consumer = %spec.name, subject = %message.subject);
        crate::telemetry::set_parent_from_nats(&span, message.headers.as_ref());
        process(&pool, &bus, &spec, handler.as_ref(), message)
            .instrument(span)
            .await;
    }
}

async fn process<H: Handler>(
    pool: &PgPool,
    bus: &Bus,
    spec: &ConsumerSpec,
    handler: &H,
    message: async_nats::jetstream::Message,
) {
    let delivered = message.info().map(|i| i.delivered).unwrap_or(1);
    let header = |name: &str| {
        message
            .headers
            .as_ref()
            .and_then(|h| h.get(name))
            .map(|v| v.as_str().to_owned())
    };
    // The event id header survives a republish under another message id; Nats-Msg-Id is the fallback.
    let id = header(headers::EVENT_ID)
        .or_else(|| header("Nats-Msg-Id"))
        .and_then(|s| Uuid::parse_str(&s).ok());
    let outcome = match id {
        None => Err(HandleError::Poison(
            "message has no event id (Nats-Msg-Id)".into(),
        )),
        Some(id) => {
            let event = Event {
                id,
                event_type: header(headers::EVENT_TYPE).unwrap_or_default(),
                subject: bus.strip(message.subject.as_str()).to_owned(),
                payload: message.payload.clone(),
            };
            apply(pool, &spec.name, handler, &event).await
        }
    };
    let result = match outcome {
        Ok(()) => message.ack().await.map_err(|e| anyhow::anyhow!(e)),
        Err(HandleError::Retry(reason)) if delivered < spec.max_tries => {
            let factor = 1u32 << (delivered.clamp(1, 16) - 1) as u32;
            let delay = (spec.backoff * factor).min(Duration::from_secs(30));
            tracing::warn!(%reason, delivered, ?delay, "event failed; will redeliver");
            metrics::counter!("motcua_consumer_retries_total", "consumer" => spec.name.clone())
                .increment(1);
            message
                .ack_with(AckKind::Nak(Some(delay)))
                .await
                .map_err(|e| anyhow::anyhow!(e))
        }
        Err(HandleError::Retry(reason) | HandleError::Poison(reason)) => {
            dead_letter(bus, spec, &message, id, &reason, delivered).await
        }
    };
    if let Err(e) = result {
        tracing::warn!(error = ?e, "acknowledging message; it will be redelivered");
    }
}

async fn apply<H: Handler>(
    pool: &PgPool,
    consumer: &str,
    handler: &H,
    event: &Event,
) -> Result<(), HandleError> {
    let mut tx = pool.begin().await?;
    let fresh = sqlx::query(
        "INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
    )
    .bind(consumer)
    .bind(event.id)
    .execute(&mut *tx)
    .await?
    .rows_affected()
        == 1;
    if !fresh {
        // Seen before: its effect is already committed.
        return Ok(());
    }
    handler.handle(&mut tx, event).await?;
    tx.commit().await?;
    Ok(())
}

async fn dead_letter(
    bus: &Bus,
    spec: &ConsumerSpec,
    message: &async_nats::jetstream::Message,
    id: Option<Uuid>,
    reason: &str,
    delivered: i64,
) -> anyhow::Result<()> {
    tracing::error!(%reason, delivered, consumer = %spec.name, "event dead-lettered");
    metrics::counter!("motcua_consumer_dead_letters_total", "consumer" => spec.name.clone())
        .increment(1);
    let mut h = message.headers.clone().unwrap_or_default();
    h.insert(headers::DEAD_REASON, reason);
    h.insert(headers::ORIGINAL_SUBJECT, message.subject.as_str());
    h.insert(headers::CONSUMER, spec.name.as_str());
    // A distinct message id: the original id is already in the dossier stream's window.
    let dead_id = format!(
        "{}:{}",
        spec.name,
        id.map(|i| i.to_string())
            .unwrap_or_else(|| Uuid::now_v7().to_string())
    );
    h.insert("Nats-Msg-Id", dead_id.as_str());
    let publish = PublishMessage::build()
        .payload(message.payload.clone())
        .headers(h);
    bus.js
        .send_publish(bus.subject(&format!("deadletter.{}", spec.name)), publish)
        .await?
        .await
        .context("publishing to the dead-letter subject")?;
    message
        .ack_with(AckKind::Term)
        .await
        .map_err(|e| anyhow::anyhow!(e))
}
