//! The transactional outbox and its relay.
//!
//! A command writes its events with [`enqueue`] in the same transaction as its effect. The relay
//! wakes when such a transaction commits (LISTEN/NOTIFY, with a slow poll as a safety net), takes a
//! batch of unpublished rows in order, publishes them to JetStream with message id = event id, waits
//! for every acknowledgement and only then marks them published. A relay killed mid-batch leaves
//! rows unmarked; the next run publishes them again and JetStream drops the duplicates by id.

use crate::bus::{Bus, headers};
use anyhow::Context;
use async_nats::jetstream::message::PublishMessage;
use sqlx::postgres::PgListener;
use sqlx::{PgConnection, PgPool, Row};
use std::collections::HashMap;
use std::time::Duration;
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

impl OutboxEvent {
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

/// Writes an event in the caller's transaction, with the current trace context.
pub async fn enqueue(conn: &mut PgConnection, event: &OutboxEvent) -> sqlx::Result<()> {
    let trace = crate::telemetry::current_context_headers();
    sqlx::query(
        "INSERT INTO outbox (id, subject, event_type, payload, headers) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(event.id)
    .bind(&event.subject)
    .bind(&event.event_type)
    .bind(&event.payload)
    .bind(sqlx::types::Json(trace))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone)]
pub struct Relay {
    pool: PgPool,
    bus: Bus,
    batch: i64,
    poll: Duration,
}

impl Relay {
    pub fn new(pool: PgPool, bus: Bus) -> Self {
        Self {
            pool,
            bus,
            batch: 512,
            poll: Duration::from_secs(2),
        }
    }

    pub fn with_batch(mut self, batch: i64) -> Self {
        self.batch = batch.max(1);
        self
    }

    /// Runs until `shutdown`, then publishes what is left (bounded by the caller's grace period).
    pub async fn run(self, shutdown: CancellationToken) {
        let mut listener = match PgListener::connect_with(&self.pool).await {
            Ok(mut l) => match l.listen("motcua_outbox").await {
                Ok(()) => Some(l),
                Err(e) => {
                    tracing::warn!(error = %e, "outbox relay: LISTEN failed, polling only");
                    None
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "outbox relay: no listener connection, polling only");
                None
            }
        };
        let mut last_cleanup = tokio::time::Instant::now();
        loop {
            match self.drain().await {
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = ?e, "outbox relay: publishing failed, will retry");
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                    }
                }
            }
            if last_cleanup.elapsed() > Duration::from_secs(3600) {
                last_cleanup = tokio::time::Instant::now();
                let _ = sqlx::query(
                    "DELETE FROM outbox WHERE published_at < now() - interval '7 days'",
                )
                .execute(&self.pool)
                .await;
            }
            let wait = async {
                match listener.as_mut() {
                    Some(l) => {
                        let _ = tokio::time::timeout(self.poll, l.recv()).await;
                    }
                    None => tokio::time::sleep(self.poll).await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = wait => {}
            }
        }
        // Flush: whatever was committed before shutdown is published before the process exits.
        if let Err(e) = self.drain().await {
            tracing::warn!(error = ?e, "outbox relay: final flush failed; the next start publishes the rest");
        }
    }

    /// Publishes every unpublished event, batch by batch; returns how many were published.
    pub async fn drain(&self) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let n = self.publish_batch().await?;
            total += n;
            if n < self.batch as usize {
                return Ok(total);
            }
        }
    }

    /// Publishes one batch; returns its size.
    pub async fn publish_batch(&self) -> anyhow::Result<usize> {
        let mut tx = self.pool.begin().await?;
        // SKIP LOCKED lets several relays (replicas) share the table without waiting on each other.
        let rows = sqlx::query(
            "SELECT id, subject, event_type, payload, headers FROM outbox
             WHERE published_at IS NULL ORDER BY seq LIMIT $1 FOR UPDATE SKIP LOCKED",
        )
        .bind(self.batch)
        .fetch_all(&mut *tx)
        .await?;
        if rows.is_empty() {
            return Ok(0);
        }
        let mut acks = Vec::with_capacity(rows.len());
        let mut ids = Vec::with_capacity(rows.len());
        for row in &rows {
            let id: Uuid = row.get("id");
            let subject: String = row.get("subject");
            let event_type: String = row.get("event_type");
            let payload: Vec<u8> = row.get("payload");
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
            let ack = self
                .bus
                .js
                .send_publish(self.bus.subject(&subject), publish)
                .await
                .with_context(|| format!("publishing event {id} to {subject}"))?;
            acks.push(ack);
            ids.push(id);
        }
        for ack in acks {
            ack.await.context("waiting for JetStream acknowledgement")?;
        }
        sqlx::query("UPDATE outbox SET published_at = now() WHERE id = ANY($1)")
            .bind(&ids)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        metrics::counter!("motcua_outbox_published_total").increment(ids.len() as u64);
        Ok(ids.len())
    }
}

/// Events committed but not yet published (for health and tests).
pub async fn pending(pool: &PgPool) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE published_at IS NULL")
        .fetch_one(pool)
        .await
}
