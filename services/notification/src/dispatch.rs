//! The dispatcher of one channel: takes due deliveries (leased, so each goes to one replica),
//! sends each in its own task with a time limit, and records what came of it.
//!
//! Nothing waits on anything else: every attempt has MOTCUA_DELIVERY_TIMEOUT_SECS, at most
//! MOTCUA_DELIVERY_CONCURRENCY attempts of a channel run at once, and a slot is taken again as
//! soon as one frees up, so a webhook receiver that hangs holds one slot for one timeout, not the
//! queue. Channels have their own dispatchers: a stuck SMS gateway never delays e-mail. Retries
//! back off (doubling from MOTCUA_DELIVERY_BACKOFF_SECS, at most an hour) until
//! MOTCUA_DELIVERY_RETRY_HOURS after the delivery could first go, then the delivery fails with the
//! last error. Time is the service's clock: quiet hours and backoff follow it when it jumps.

use crate::deliveries::{self, Claimed, Outcome, RecipientKind};
use crate::providers::{Outgoing, Provider, SendError};
use crate::rules::Channel;
use crate::settings::QuietHours;
use crate::staff::Staff;
use crate::{contacts, subscriptions};
use chrono::{DateTime, Utc};
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use motcua_platform::SharedClock;
use sqlx::PgPool;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

/// How often (wall time) a dispatcher gives a job to queued deliveries that lack one
/// ([`deliveries::adopt`]).
/// Writes an outcome (`what` names it in the log) until it is written: a database outage is
/// waited out, doubling the wait up to ten seconds (the lease keeps other replicas off meanwhile).
/// Any other error is a bug to see in the log; the row comes due again when its lease ends (the
/// provider may then get the message a second time).
async fn written<F, Fut>(what: &str, mut write: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = sqlx::Result<()>>,
{
    let mut wait = Duration::from_millis(200);
    while let Err(e) = write().await {
        if !motcua_platform::db::is_unavailable(&e) {
            tracing::error!(outcome = what, error = %e, "cannot record an outcome");
            return;
        }
        tracing::warn!(outcome = what, error = %e, "cannot record an outcome; retrying");
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

/// Sent outcomes recorded in one statement at most.
const RECORD_BATCH: usize = 128;

/// Where attempts hand their sent outcomes to be recorded together.
#[derive(Clone)]
struct Recorder(
    tokio::sync::mpsc::Sender<(deliveries::SentRecord, tokio::sync::oneshot::Sender<()>)>,
);

/// How long a full dispatcher waits after a slot frees for others to free too, before it claims.
const CLAIM_GATHER: Duration = Duration::from_millis(3);

const SWEEP_EVERY: Duration = Duration::from_secs(60);

#[derive(Debug, Clone)]
pub struct Dispatcher {
    pub pool: PgPool,
    pub clock: SharedClock,
    pub channel: Channel,
    pub provider: Arc<dyn Provider>,
    pub limiter: Arc<DefaultDirectRateLimiter>,
    pub staff: Arc<Staff>,
    pub quiet_hours: Option<QuietHours>,
    pub backoff: chrono::Duration,
    pub send_timeout: Duration,
    pub concurrency: usize,
    /// Webhooks: attempts in flight per subscription on this replica. A receiver that hangs holds
    /// at most this many slots; the others' deliveries go on.
    pub per_recipient: usize,
    pub in_flight: Arc<std::sync::Mutex<std::collections::HashMap<String, usize>>>,
}

/// A provider's rate limit (per replica).
pub fn limiter(per_second: u32) -> Arc<DefaultDirectRateLimiter> {
    let n = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
    Arc::new(RateLimiter::direct(Quota::per_second(n)))
}

impl Dispatcher {
    /// How long a claimed delivery is kept from other replicas: longer than an attempt can take
    /// (the rate limiter's wait and the send are each bounded by the timeout), so a live attempt
    /// never loses its lease; a replica that dies mid-attempt gives the row back when it ends.
    fn lease(&self) -> chrono::Duration {
        chrono::Duration::from_std(self.send_timeout * 2).unwrap_or(chrono::Duration::seconds(60))
            + chrono::Duration::seconds(60)
    }

    /// Subscriptions with their share of slots in flight: the next claim leaves their rows.
    fn busy_recipients(&self) -> Vec<String> {
        if self.channel != Channel::Webhook {
            return Vec::new();
        }
        let map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        map.iter()
            .filter(|(_, n)| **n >= self.per_recipient.max(1))
            .map(|(k, _)| k.clone())
            .collect()
    }

    /// Takes a per-recipient slot for webhooks; false when the subscription has its share.
    fn enter(&self, c: &Claimed) -> bool {
        if self.channel != Channel::Webhook {
            return true;
        }
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = map.entry(c.recipient_ref.clone()).or_default();
        if *n >= self.per_recipient.max(1) {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, c: &Claimed) {
        if self.channel != Channel::Webhook {
            return;
        }
        let mut map = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = map.get_mut(&c.recipient_ref) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                map.remove(&c.recipient_ref);
            }
        }
    }

    /// Runs until `shutdown`; in-flight attempts finish (each within its timeout).
    pub async fn run(self, shutdown: CancellationToken) {
        let this = Arc::new(self);
        let slots = Arc::new(Semaphore::new(this.concurrency.max(1)));
        let recorder = this.clone().start_recorder();
        let freed = Arc::new(Notify::new());
        let mut listener = motcua_platform::db::listener(&this.pool, motcua_platform::jobs::WAKE)
            .await
            .ok();
        let mut swept: Option<std::time::Instant> = None;
        loop {
            if shutdown.is_cancelled() {
                break;
            }
            if swept.is_none_or(|at| at.elapsed() >= SWEEP_EVERY) {
                match deliveries::adopt(&this.pool, this.channel, this.clock.now()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(
                        channel = this.channel.as_str(),
                        deliveries = n,
                        "queued deliveries without a job were given one"
                    ),
                    Err(e) => tracing::warn!(
                        channel = this.channel.as_str(),
                        error = %e,
                        "cannot sweep queued deliveries; will retry"
                    ),
                }
                swept = Some(std::time::Instant::now());
            }
            let free = slots.available_permits();
            let mut full = false;
            let mut took_any = false;
            if free > 0 {
                let now = this.clock.now();
                let busy = this.busy_recipients();
                match deliveries::claim(
                    &this.pool,
                    this.channel,
                    now,
                    now + this.lease(),
                    free as i64,
                    &busy,
                )
                .await
                {
                    Ok(claimed) => {
                        full = claimed.len() == free;
                        took_any = !claimed.is_empty();
                        for c in claimed {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let (me, freed, recorder) =
                                (this.clone(), freed.clone(), recorder.clone());
                            tokio::spawn(async move {
                                me.attempt(c, &recorder).await;
                                drop(permit);
                                freed.notify_one();
                            });
                        }
                    }
                    Err(e) => {
                        tracing::warn!(channel = this.channel.as_str(), error = %e, "dispatch: cannot reach the database; will retry");
                        tokio::select! {
                            _ = shutdown.cancelled() => break,
                            _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        }
                    }
                }
            }
            if full {
                // More may be due: wait for a free slot, then a moment for the attempts finishing
                // beside it, so that one claim refills several slots: a claim per freed slot was a
                // second statement per delivery.
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = freed.notified() => tokio::time::sleep(CLAIM_GATHER).await,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
                continue;
            }
            let next = deliveries::next_due(&this.pool, this.channel)
                .await
                .ok()
                .flatten();
            let clock = this.clock.clone();
            let now = this.clock.now();
            let due = async move {
                match next {
                    // Due work that the claim left entirely (a receiver with its share in flight,
                    // another replica's lease not yet committed) is looked at again a moment
                    // later (wall time, whatever the clock), not at once in a loop; after a claim
                    // that took some, at once.
                    Some(at) if at <= now && !took_any => {
                        tokio::time::sleep(Duration::from_millis(200)).await
                    }
                    Some(at) => clock.sleep_until(at).await,
                    None => futures::future::pending().await,
                }
            };
            let woken = async {
                match listener.as_mut() {
                    Some(l) => {
                        if tokio::time::timeout(Duration::from_secs(5), l.recv())
                            .await
                            .is_ok()
                        {
                            // Commits come in bursts: gather them for a moment, look once.
                            tokio::time::sleep(Duration::from_millis(5)).await;
                            while l.next_buffered().is_some() {}
                        }
                    }
                    None => tokio::time::sleep(Duration::from_secs(1)).await,
                }
            };
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = due => {}
                _ = woken => {}
                _ = freed.notified() => {}
            }
        }
        // Let attempts in flight record their outcome.
        let _ = tokio::time::timeout(
            this.send_timeout + Duration::from_secs(5),
            slots.acquire_many(this.concurrency.max(1) as u32),
        )
        .await;
    }

    /// The task that records sent attempts in batches: each attempt hands its outcome over and
    /// waits for it to be written (its slot stays taken until then, as before), and the task
    /// writes whatever has gathered in one statement. It ends when the dispatcher and its
    /// attempts have let go of it.
    fn start_recorder(self: Arc<Self>) -> Recorder {
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(
            deliveries::SentRecord,
            tokio::sync::oneshot::Sender<()>,
        )>(1024);
        tokio::spawn(async move {
            while let Some(first) = rx.recv().await {
                let mut batch = vec![first];
                while batch.len() < RECORD_BATCH {
                    match rx.try_recv() {
                        Ok(next) => batch.push(next),
                        Err(_) => break,
                    }
                }
                let sent: Vec<_> = batch.iter().map(|(r, _)| r.clone()).collect();
                let what = format!("{} sent deliveries", sent.len());
                written(&what, || {
                    deliveries::record_sent_many(&self.pool, self.channel, &sent, self.clock.now())
                })
                .await;
                for (_, done) in batch {
                    let _ = done.send(());
                }
            }
        });
        Recorder(tx)
    }

    async fn attempt(&self, c: Claimed, recorder: &Recorder) {
        let outcome = if self.enter(&c) {
            let o = self.outcome(&c).await;
            self.leave(&c);
            o
        } else {
            // One claim took more of this subscription's rows than its share: give the rest back
            // as they were (due, no attempt counted); claims leave them while the share is busy.
            Outcome::Later {
                at: self.clock.now(),
                error: None,
                uncounted: true,
            }
        };
        let status = match &outcome {
            Outcome::Sent { .. } => "sent",
            Outcome::Later { .. } => "later",
            Outcome::Failed { .. } => "failed",
        };
        metrics::counter!("motcua_notification_attempts_total", "channel" => self.channel.as_str(), "outcome" => status)
            .increment(1);
        if let Outcome::Failed { error, .. } = &outcome {
            tracing::warn!(delivery = %c.id, channel = self.channel.as_str(), %error, "delivery failed");
        }
        if let Outcome::Sent {
            provider,
            provider_message_id,
            answer,
            delivered,
        } = outcome
        {
            let (done, recorded) = tokio::sync::oneshot::channel();
            let record = deliveries::SentRecord {
                id: c.id,
                attempt: c.attempts,
                provider,
                provider_message_id,
                answer,
                delivered,
            };
            if recorder.0.send((record, done)).await.is_ok() {
                let _ = recorded.await;
            }
            return;
        }
        let what = format!("delivery {}", c.id);
        written(&what, || {
            deliveries::record(
                &self.pool,
                c.id,
                self.channel,
                c.attempts,
                &outcome,
                self.clock.now(),
            )
        })
        .await;
    }

    async fn outcome(&self, c: &Claimed) -> Outcome {
        let now = self.clock.now();
        if c.quiet_hours
            && let Some(q) = self.quiet_hours
        {
            let release = q.release(now);
            if release > now {
                return Outcome::Later {
                    at: release,
                    error: None,
                    uncounted: true,
                };
            }
        }
        let message = match self.address(c, now).await {
            Ok(m) => m,
            Err(Err(e)) => {
                return Outcome::Later {
                    at: now + self.backoff,
                    error: Some(format!("database: {e}")),
                    uncounted: true,
                };
            }
            Err(Ok(why)) => {
                return Outcome::Failed {
                    provider: None,
                    error: why,
                };
            }
        };
        if tokio::time::timeout(self.send_timeout, self.limiter.until_ready())
            .await
            .is_err()
        {
            // The provider's rate is used up for longer than an attempt may take.
            return Outcome::Later {
                at: now + chrono::Duration::seconds(1),
                error: None,
                uncounted: true,
            };
        }
        let sent = tokio::time::timeout(self.send_timeout, self.provider.send(&message)).await;
        // A provider's words may quote the address (an SMTP server's "550 <x@y> unknown", a
        // gateway echoing the number): they are logged and kept, so they are masked first.
        let masked = crate::mask::address(&message.to);
        let clean = |e: String| crate::mask::scrub(&e.replace(&message.to, &masked));
        let error = match sent {
            Ok(Ok(a)) => {
                return Outcome::Sent {
                    provider: self.provider.name(),
                    provider_message_id: a.provider_message_id,
                    answer: clean(a.answer),
                    delivered: a.delivered,
                };
            }
            Ok(Err(SendError::Permanent(e))) => {
                return Outcome::Failed {
                    provider: Some(self.provider.name()),
                    error: clean(e),
                };
            }
            Ok(Err(SendError::Retry(e))) => clean(e),
            Err(_) => format!("no answer within {} s", self.send_timeout.as_secs()),
        };
        let now = self.clock.now();
        let at = now + backoff(self.backoff, c.attempts);
        if at <= c.give_up_at {
            Outcome::Later {
                at,
                error: Some(error),
                uncounted: false,
            }
        } else {
            Outcome::Failed {
                provider: Some(self.provider.name()),
                error: format!("gave up after {} attempts: {error}", c.attempts),
            }
        }
    }

    /// The message with its address. `Err(Ok(why))`: there is no address any more (erased,
    /// deleted); `Err(Err(e))`: the database did not answer.
    async fn address(
        &self,
        c: &Claimed,
        now: DateTime<Utc>,
    ) -> Result<Outgoing, Result<String, sqlx::Error>> {
        let mut secrets = Vec::new();
        let to = match c.kind {
            RecipientKind::Applicant => {
                let mut conn = self.pool.acquire().await.map_err(Err)?;
                let contact = contacts::get(&mut conn, &c.dossier_code)
                    .await
                    .map_err(Err)?;
                let address = contact.and_then(|k| match self.channel {
                    Channel::Sms => k.phone,
                    Channel::Email => k.email,
                    Channel::Webhook => None,
                });
                address.ok_or_else(|| Ok("the applicant's contact has been erased".to_owned()))?
            }
            RecipientKind::Staff => self
                .staff
                .by_subject(&c.recipient_ref)
                .map(|m| m.email.clone())
                .ok_or_else(|| {
                    Ok(format!(
                        "{} is no longer in the staff directory",
                        c.recipient_ref
                    ))
                })?,
            RecipientKind::Subscriber => {
                let id = uuid::Uuid::parse_str(&c.recipient_ref)
                    .map_err(|_| Ok("not a subscription id".to_owned()))?;
                let (url, s) = subscriptions::for_sending(&self.pool, id, now)
                    .await
                    .map_err(Err)?
                    .ok_or_else(|| Ok("the subscription was deleted".to_owned()))?;
                secrets = s;
                url
            }
            RecipientKind::Sender => c
                .reply_to
                .clone()
                .ok_or_else(|| Ok("the reply's address is gone".to_owned()))?,
        };
        Ok(Outgoing {
            id: c.id,
            to,
            subject: c.subject.clone(),
            body: c.body.clone(),
            html_body: c.html_body.clone(),
            secrets,
        })
    }
}

/// The delay before attempt `attempts + 1`: doubling from `first`, at most an hour.
pub fn backoff(first: chrono::Duration, attempts: i32) -> chrono::Duration {
    let factor = 1i32 << (attempts - 1).clamp(0, 16);
    (first * factor).min(chrono::Duration::hours(1))
}

/// Erases contacts past their retention, by the clock, until `shutdown`.
pub async fn erase_contacts(pool: PgPool, clock: SharedClock, shutdown: CancellationToken) {
    loop {
        if let Err(e) = contacts::erase_due(&pool, clock.now()).await {
            tracing::warn!(error = %e, "contact erasure: cannot reach the database; will retry");
        }
        let next: Option<DateTime<Utc>> =
            sqlx::query_scalar("SELECT min(erase_after) FROM contacts WHERE erased_at IS NULL")
                .fetch_one(&pool)
                .await
                .ok()
                .flatten();
        let c = clock.clone();
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = async move { match next { Some(at) => c.sleep_until(at).await, None => futures::future::pending().await } } => {}
            // New ends are written all the time; look again now and then.
            _ = tokio::time::sleep(Duration::from_secs(2)) => {}
        }
    }
}
