//! One consumer's work on a batch: decode, handle in one transaction (or one by one after a failed
//! batch), acknowledge after the commit, count failures, dead-letter, and wait out a database
//! that is down (see the parent module for what it promises).

use super::*;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Flow {
    Continue,
    DependencyDown,
}

pub(super) struct Worker<'a, H> {
    pub(super) ctx: &'a ConsumerContext,
    pub(super) spec: &'a ConsumerSpec,
    pub(super) handler: &'a H,
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

    pub(super) async fn process(&self, batch: Vec<Message>) -> Flow {
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
                        self.applied(events.len());
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
        // Seen before, or twice in this batch: its effect is (being) committed once.
        let new: Vec<&(Message, Event)> = events
            .iter()
            .filter(|(_, e)| fresh.contains(&e.id) && applied.insert(e.id))
            .collect();
        if self.handler.handles_many() {
            let all: Vec<&Event> = new.iter().map(|(_, e)| e).collect();
            let span =
                tracing::info_span!("consume", consumer = %self.spec.name, events = all.len());
            guarded(self.handler.handle_many(&mut tx, &all))
                .instrument(span)
                .await?;
        } else {
            for (message, event) in new {
                let span = tracing::info_span!("consume", consumer = %self.spec.name, subject = %message.subject, event = %event.id, trace_id = tracing::field::Empty);
                crate::telemetry::set_parent_from_nats(&span, message.headers.as_ref());
                guarded(self.handler.handle(&mut tx, event))
                    .instrument(span)
                    .await?;
            }
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
        let span = tracing::info_span!("consume", consumer = %self.spec.name, subject = %message.subject, event = %event.id, trace_id = tracing::field::Empty);
        crate::telemetry::set_parent_from_nats(&span, message.headers.as_ref());
        let outcome = self.apply_one(message, event).instrument(span).await;
        let failure = match outcome {
            Ok(()) => {
                self.applied(1);
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

    /// Counts events handled and committed by this replica (`motcua_consumer_applied_total`):
    /// replicas of a consumer share its stream, and this says which did the work.
    fn applied(&self, events: usize) {
        metrics::counter!("motcua_consumer_applied_total", "consumer" => self.spec.name.clone())
            .increment(events as u64);
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
    pub(super) async fn wait_for_database(&self, shutdown: &CancellationToken) {
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
